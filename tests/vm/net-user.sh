#!/usr/bin/env bash
# User-mode networking: a forward added at runtime reaches a guest TCP
# server from 127.0.0.1 and stops working after remove; auto-forward picks
# up a port the guest opens after boot and drops it when the guest closes
# it, but skips a privileged port and stops at auto-forward-max; malformed
# rules and ports in use are exit 2; status and ip show the guest's
# address.  All traffic is on the host's loopback.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/net-lib.sh"

vm=$PREFIX-user
p=$(new_project "$vm")
printf '[net]\nauto-forward=true\nauto-forward-max=2\n' >>"$p/grainvm.conf"
(cd "$p" && "$GRAINVM" up -q) || fail "up failed"

# An echo server in the guest, and a forward to it added at runtime.
spid=$(guest_bg "$vm" "exec nc -ll -p 5000 -e /bin/cat")
hp=$(free_port)
expect_code 0 "$GRAINVM" forward "$vm" add "$hp:5000"
note "$OUT"
wait_for 10 tcp_talk 127.0.0.1 "$hp" probe || fail "the runtime forward does not reach the guest"
[ "$(tcp_talk 127.0.0.1 "$hp" "ping from the host")" = "ping from the host" ] || fail "wrong echo"
expect_code 0 "$GRAINVM" forward "$vm" list
echo "$OUT" | grep -Eq "^tcp +127.0.0.1:$hp +5000 +runtime" || fail "list lacks the forward: $OUT"
expect_code 0 "$GRAINVM" status "$vm"
echo "$OUT" | grep -q "^forward  tcp 127.0.0.1:$hp -> guest 5000 (runtime)" || fail "status: $OUT"
echo "$OUT" | grep -q "^address  eth0 (.*): 10.0.2.15/24" || fail "status lacks the address: $OUT"
expect_code 0 "$GRAINVM" ip "$vm"
[ "$OUT" = 10.0.2.15 ] || fail "ip printed '$OUT'"

expect_code 0 "$GRAINVM" forward "$vm" remove "$hp:5000"
if tcp_talk 127.0.0.1 "$hp" after-remove 2>/dev/null; then fail "still forwarded after remove"; fi
expect_code 2 "$GRAINVM" forward "$vm" remove "$hp:5000"
echo "$OUT" | grep -q "is not forwarded" || fail "$OUT"

# Bad input: one line, exit 2, nothing changed.
expect_code 2 "$GRAINVM" forward "$vm" add "tcp:99999:22"
echo "$OUT" | grep -q 'ports must be numbers from 1 to 65535' || fail "$OUT"
expect_code 2 "$GRAINVM" forward "$vm" add "ssh"
echo "$OUT" | grep -q 'is not \[tcp|udp:\]\[HOSTADDR:\]HOSTPORT:GUESTPORT' || fail "$OUT"
expect_code 2 "$GRAINVM" forward "$vm" add "tcp:localhost:8080:80"
echo "$OUT" | grep -q 'is not an IPv4 address' || fail "$OUT"
busy=$(free_port)
python3 -c "import socket,time; s=socket.socket(); s.bind(('127.0.0.1',$busy)); s.listen(); time.sleep(60)" &
holder=$!
wait_for 5 python3 -c "import socket; socket.create_connection(('127.0.0.1',$busy))"
expect_code 2 "$GRAINVM" forward "$vm" add "$busy:5000"
kill $holder
echo "$OUT" | grep -q "host port tcp 127.0.0.1:$busy is in use" || fail "$OUT"
[ "$(echo "$OUT" | wc -l)" -eq 1 ] || fail "not one line: $OUT"
note "port in use: $OUT"

# auto-forward: a server started after boot is forwarded from the same port ...
ap=$(free_port)
gpid=$(guest_bg "$vm" "exec nc -ll -p $ap -e /bin/cat")
auto_listed() { "$GRAINVM" forward "$vm" list | grep -Eq "^tcp +127.0.0.1:$ap +$ap +auto"; }
auto_gone() { ! auto_listed; }
wait_for 15 auto_listed || fail "auto-forward did not pick up guest port $ap"
[ "$(tcp_talk 127.0.0.1 "$ap" "auto hello")" = "auto hello" ] || fail "the auto forward does not reach the guest"
# ... and dropped when the guest stops listening.
guest_sh "$vm" "kill $gpid" || fail "could not stop the guest server"
wait_for 15 auto_gone || fail "auto forward not removed"
if tcp_talk 127.0.0.1 "$ap" gone 2>/dev/null; then fail "port $ap still answers"; fi

# Not a privileged port: as root the host's 127.0.0.1:7 was the guest's for
# the asking.  status says which port it skipped and why.
gpid=$(guest_bg "$vm" "exec nc -ll -p 7 -e /bin/cat")
skipped() { "$GRAINVM" status "$vm" | grep -q "^note     auto-forward skipped guest port $1: $2"; }
wait_for 15 skipped 7 "below 1024" || fail "guest port 7: $("$GRAINVM" status "$vm")"
if "$GRAINVM" forward "$vm" list | grep -Eq "^tcp +127.0.0.1:7 "; then fail "guest port 7 forwarded"; fi
guest_sh "$vm" "kill $gpid" || fail "could not stop the guest server"

# At most auto-forward-max (2 here) at once: the lowest ports win.  The
# echo server on 5000 lost its runtime forward, so auto-forward took it:
# stop it first, so that the count starts from zero.
guest_sh "$vm" "kill $spid" || fail "could not stop the guest server on 5000"
gone5000() { ! "$GRAINVM" forward "$vm" list | grep -Eq "^tcp +127.0.0.1:[0-9]+ +5000 "; }
wait_for 15 gone5000 || fail "guest port 5000 still forwarded: $("$GRAINVM" forward "$vm" list)"
ports=()
while [ "${#ports[@]}" -lt 3 ]; do
	np=$(free_port)
	[[ " ${ports[*]} " == *" $np "* ]] || ports+=("$np")
done
mapfile -t ports < <(printf '%s\n' "${ports[@]}" | sort -n)
gpids=()
for port in "${ports[@]}"; do
	gpids+=("$(guest_bg "$vm" "exec nc -ll -p $port -e /bin/cat")")
done
wait_for 15 skipped "${ports[2]}" "the automatic forwards reached" ||
	fail "no cap: $("$GRAINVM" forward "$vm" list)"
listed() { "$GRAINVM" forward "$vm" list | grep -Eq "^tcp +127.0.0.1:$1 +$1 +auto"; }
for port in "${ports[0]}" "${ports[1]}"; do
	wait_for 15 listed "$port" || fail "port $port not forwarded: $("$GRAINVM" forward "$vm" list)"
done
sleep 2 # two more polls: the third must still be left out
expect_code 0 "$GRAINVM" forward "$vm" list
if echo "$OUT" | grep -Eq "^tcp +127.0.0.1:${ports[2]} "; then fail "forwarded beyond the cap: $OUT"; fi
guest_sh "$vm" "kill ${gpids[*]}" || fail "could not stop the guest servers"

expect_code 0 "$GRAINVM" down "$vm"
no_leftovers "$vm"
note "ok"
