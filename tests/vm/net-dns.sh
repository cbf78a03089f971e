#!/usr/bin/env bash
# DNS for the guests: on a switch network and in user mode, a name the
# guest looks up through its resolver (the gateway's 10.0.2.3) is answered
# by the host's nameserver.  The host here is a network namespace whose
# resolv.conf (ip netns exec mounts /etc/netns/NS/resolv.conf over
# /etc/resolv.conf) names a tiny DNS server this test runs on the
# namespace's loopback: no query leaves the namespace.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/net-lib.sh"

[ "$(id -u)" -eq 0 ] || fail "this test needs root (network namespaces)"
NS=gvt-dns-$$
DNS_PID=
dns_down() { [ -z "$DNS_PID" ] || kill "$DNS_PID"; ip netns del "$NS"; rm -rf "/etc/netns/$NS"; }
on_cleanup dns_down
ip netns add "$NS"
in_ns() { ip netns exec "$NS" "$@"; }
in_ns ip link set lo up
mkdir -p "/etc/netns/$NS"
echo "nameserver 127.0.0.1" >"/etc/netns/$NS/resolv.conf"

# Answers every A query with 192.0.2.55 (TEST-NET-1) and logs the names.
ip netns exec "$NS" python3 - "$T/dns.log" <<'PY' &
import socket, struct, sys
log = open(sys.argv[1], "a", buffering=1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 53))
while True:
    q, addr = s.recvfrom(512)
    if len(q) < 12:
        continue
    # the question: labels up to the zero byte, then type and class
    end = q.index(b"\0", 12) + 5
    labels, i = [], 12
    while q[i]:
        labels.append(q[i + 1:i + 1 + q[i]].decode(errors="replace"))
        i += 1 + q[i]
    qtype = struct.unpack(">H", q[end - 4:end - 2])[0]
    log.write(".".join(labels) + f" {qtype}\n")
    flags = 0x8180                              # response, RD, RA, no error
    an = 1 if qtype == 1 else 0
    hdr = q[:2] + struct.pack(">HHHHH", flags, 1, an, 0, 0)
    ans = b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 60, 4) + bytes([192, 0, 2, 55]) if an else b""
    s.sendto(hdr + q[12:end] + ans, addr)
PY
DNS_PID=$!
for _ in $(seq 50); do in_ns ss -uln | grep -q "127.0.0.1:53 " && break; sleep 0.1; done
in_ns ss -uln | grep -q "127.0.0.1:53 " || fail "the test's DNS server did not start"

lookup() { # VM NAME: the guest's resolver asked for NAME
	guest_sh "$1" "nslookup $2 2>&1"
}

sw=$PREFIX-dsw
p=$(new_project "$sw")
printf '[net]\nmode=switch\nnetwork=%s\n' "$PREFIX-dnsnet" >>"$p/grainvm.conf"
us=$PREFIX-dus
q=$(new_project "$us")
(cd "$p" && in_ns "$GRAINVM" up -q) || fail "up $sw in the namespace"
(cd "$q" && in_ns "$GRAINVM" up -q) || fail "up $us in the namespace"

for vm in "$sw" "$us"; do
	out=$(lookup "$vm" "$vm.grainvm-dns.test") || true
	note "$vm: $out"
	echo "$out" | grep -q "192.0.2.55" || fail "$vm: the lookup did not come back with the answer"
	grep -q "^$vm.grainvm-dns.test 1$" "$T/dns.log" || fail "$vm: the query never reached the host's nameserver"
done

expect_code 0 "$GRAINVM" down -q "$sw"
expect_code 0 "$GRAINVM" down -q "$us"
no_leftovers "$sw"
no_leftovers "$us"
note "ok"
