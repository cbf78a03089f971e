#!/usr/bin/env bash
# Two VMs at once, each with its own share; both ready, both listed, each down leaves nothing.
. "$(dirname "$0")/lib.sh"

a=$(new_project "$PREFIX-a")
b=$(new_project "$PREFIX-b")
# a forwards a host port (from its spec) to a TCP server started in its guest.
port=$((20000 + $$ % 20000))
printf '[net]\nforward=tcp:%d:7777\n' "$port" >>"$a/grainvm.conf"
echo "only in a" >"$a/which.txt"
echo "only in b" >"$b/which.txt"

(cd "$a" && "$GRAINVM" up -q) &
pa=$!
(cd "$b" && "$GRAINVM" up -q) &
pb=$!
wait $pa || fail "up of a failed"
wait $pb || fail "up of b failed"

[ "$(guest_read "$PREFIX-a" /mnt/workspace/which.txt)" = "only in a" ] || fail "a sees the wrong share"
[ "$(guest_read "$PREFIX-b" /mnt/workspace/which.txt)" = "only in b" ] || fail "b sees the wrong share"

if [ -x /bin/busybox ]; then
	"$GRAINVM" agent "$PREFIX-a" guest-exec \
		'{"path":"/bin/nc","arg":["-l","-p","7777","-e","/bin/echo","through-the-forward"]}' >/dev/null
	got=
	for _ in $(seq 1 50); do
		if exec 3<>"/dev/tcp/127.0.0.1/$port" 2>/dev/null; then
			read -r -t 5 got <&3 || true
			exec 3<&-
			[ -n "$got" ] && break
		fi
		sleep 0.2
	done
	[ "$got" = "through-the-forward" ] || fail "forward tcp:$port:7777 gave '$got'"
fi

expect_code 0 "$GRAINVM" list
echo "$OUT"
echo "$OUT" | grep -Eq "^$PREFIX-a +ready" || fail "a not listed ready"
echo "$OUT" | grep -Eq "^$PREFIX-b +ready" || fail "b not listed ready"

expect_code 0 "$GRAINVM" down "$PREFIX-a"
no_leftovers "$PREFIX-a"
expect_code 0 "$GRAINVM" status "$PREFIX-b"
echo "$OUT" | grep -q "^state    ready" || fail "b affected by a's down"
expect_code 0 "$GRAINVM" down --force "$PREFIX-b"
echo "$OUT" | grep -q "QEMU quit over QMP" || fail "--force should quit over QMP: $OUT"
no_leftovers "$PREFIX-b"
note "ok"
