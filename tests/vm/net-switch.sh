#!/usr/bin/env bash
# Switch networks: two VMs on one network exchange TCP data both ways; a
# third VM on another network cannot reach them (but reaches its own
# gateway); each network's switch process is started by its first VM and
# exits when its last VM goes down.  Traffic stays between the VMs, the
# switches and the host's loopback (libslirp's 10.0.2.2).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/net-lib.sh"

neta=$PREFIX-a
netb=$PREFIX-b
switch_pid() { pgrep -f -- "__switch $1 $GRAINVM_HOME/" || true; }

for vm_net in "a1:$neta" "a2:$neta" "b1:$netb"; do
	p=$(new_project "$PREFIX-${vm_net%%:*}")
	printf '[net]\nmode=switch\nnetwork=%s\n' "${vm_net#*:}" >>"$p/grainvm.conf"
done
# a1 first and alone, so it is the one that starts network a's switch.
(cd "$T/$PREFIX-a1" && "$GRAINVM" up -q) || fail "up a1"
sa=$(switch_pid "$neta")
[ -n "$sa" ] || fail "no switch for $neta after the first VM"
(cd "$T/$PREFIX-a2" && "$GRAINVM" up -q) &
pa2=$!
(cd "$T/$PREFIX-b1" && "$GRAINVM" up -q) &
pb1=$!
wait $pa2 || fail "up a2"
wait $pb1 || fail "up b1"
[ "$(switch_pid "$neta")" = "$sa" ] || fail "the second VM on $neta started another switch"
sb=$(switch_pid "$netb")
if [ -z "$sb" ] || [ "$sb" = "$sa" ]; then fail "network $netb has no switch of its own"; fi

expect_code 0 "$GRAINVM" ip "$PREFIX-a1"
ip1=$OUT
expect_code 0 "$GRAINVM" ip "$PREFIX-a2"
ip2=$OUT
note "a1 $ip1, a2 $ip2"
[ "$ip1" != "$ip2" ] || fail "both VMs have $ip1"
expect_code 0 "$GRAINVM" status "$PREFIX-a2"
echo "$OUT" | grep -q "^net      switch network $neta, mac .*, guest $ip2/24" || fail "status: $OUT"

# Both ways: each VM runs an echo server, the other connects and gets its bytes back.
guest_bg "$PREFIX-a1" "exec nc -ll -p 6000 -e /bin/cat" >/dev/null
guest_bg "$PREFIX-a2" "exec nc -ll -p 6000 -e /bin/cat" >/dev/null
a2_answers() { [ "$(guest_sh "$PREFIX-a1" "echo hello-from-a1 | nc $ip2 6000")" = hello-from-a1 ]; }
a1_answers() { [ "$(guest_sh "$PREFIX-a2" "echo hello-from-a2 | nc $ip1 6000")" = hello-from-a2 ]; }
wait_for 15 a2_answers || fail "a1 -> a2 over the switch"
a1_answers || fail "a2 -> a1 over the switch"
# Switch networks run jumbo frames (net/switch-net.h, GV_SWITCH_MTU).
[ "$(guest_sh "$PREFIX-a1" "cat /sys/class/net/eth0/mtu")" = 65520 ] || fail "a1's MTU is not 65520"
# A bigger transfer, to be sure it is not just one frame: 2 MiB a1 -> a2 and back.
out=$(guest_sh "$PREFIX-a1" "dd if=/dev/zero bs=64k count=32 2>/dev/null | nc $ip2 6000 | wc -c") ||
	fail "bulk transfer failed"
[ "$(echo "$out" | tr -d ' ')" = 2097152 ] || fail "bulk transfer returned $out bytes"

# The gateway is libslirp: a VM reaches the host's loopback at 10.0.2.2.
hp=$(free_port)
python3 -c "
import socket; s=socket.socket(); s.bind(('127.0.0.1',$hp)); s.listen(); s.settimeout(30)
c,_=s.accept(); c.sendall(b'host-here'); c.close()" &
host=$!
wait_listening "$hp" || fail "the host's server did not start"
[ "$(guest_sh "$PREFIX-b1" "nc 10.0.2.2 $hp </dev/null")" = host-here ] || fail "b1 cannot reach its gateway"
wait $host

# Isolation: from network b, a2's address is nobody (on b it is unleased).
guest_bg "$PREFIX-a2" "exec nc -l -p 6001 > /tmp/iso" >/dev/null
if guest_sh "$PREFIX-b1" "echo leak | nc -w 3 $ip2 6001"; then fail "b1 reached a2 across networks"; fi
if guest_sh "$PREFIX-b1" "echo leak | nc -w 3 $ip2 6000"; then fail "b1 reached a2's echo server"; fi
[ -z "$(guest_sh "$PREFIX-a2" "cat /tmp/iso")" ] || fail "a2 received data from network b"

# The switch goes with the last VM of its network, not before.
expect_code 0 "$GRAINVM" down "$PREFIX-a1"
sleep 1
[ "$(switch_pid "$neta")" = "$sa" ] || fail "switch $neta ended while a2 was still on it"
expect_code 0 "$GRAINVM" down "$PREFIX-a2"
switch_gone() { [ -z "$(switch_pid "$1")" ]; }
wait_for 10 switch_gone "$neta" || fail "switch $neta still runs after its last VM"
[ ! -e "$GRAINVM_HOME/run/.networks/$neta/switch.sock" ] || fail "switch socket left"
[ -n "$(switch_pid "$netb")" ] || fail "switch $netb ended with network a"
expect_code 0 "$GRAINVM" down "$PREFIX-b1"
wait_for 10 switch_gone "$netb" || fail "switch $netb still runs after its last VM"
for v in a1 a2 b1; do no_leftovers "$PREFIX-$v"; done

# Leases are kept: a1 comes back with the same address.
grep -q "^$PREFIX-a1 $ip1\$" "$GRAINVM_HOME/state/.networks/$neta/leases" || fail "lease not kept"
note "ok"
