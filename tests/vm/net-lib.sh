# shellcheck shell=bash
# net-lib.sh - helpers for the network VM tests, sourced after lib.sh:
# commands in the guest through the agent, a TCP client and free ports on
# the host.  Guest servers are busybox nc; the host side is python3.

# guest_bg VM SCRIPT: start `sh -c SCRIPT` in the guest, leave it running;
# prints the guest pid.  SCRIPT must not contain " or \.
guest_bg() {
	local vm=$1 script=$2
	case $script in *'"'* | *\\*) fail "guest_bg: no quotes in $script" ;; esac
	"$GRAINVM" agent "$vm" guest-exec "{\"path\":\"/bin/sh\",\"arg\":[\"-c\",\"$script\"]}" |
		grep -o '[0-9]\+'
}

# guest_sh VM SCRIPT: run `sh -c SCRIPT` in the guest to its end (at most
# 30 s), print its stdout; the exit status is the script's.
guest_sh() {
	local vm=$1 script=$2 pid r
	case $script in *'"'* | *\\*) fail "guest_sh: no quotes in $script" ;; esac
	pid=$("$GRAINVM" agent "$vm" guest-exec \
		"{\"path\":\"/bin/sh\",\"arg\":[\"-c\",\"$script\"],\"capture-output\":true}" |
		grep -o '[0-9]\+')
	for _ in $(seq 150); do
		r=$("$GRAINVM" agent "$vm" guest-exec-status "{\"pid\":$pid}")
		if echo "$r" | grep -q '"exited" : true'; then
			echo "$r" | sed -n 's/.*"out-data" : "\(.*\)".*/\1/p' | base64 -d
			echo "$r" | grep -q '"exitcode" : 0'
			return
		fi
		sleep 0.2
	done
	fail "guest command did not end in 30 s: $script"
}

# tcp_talk HOST PORT MESSAGE: connect, send MESSAGE, half-close, print what
# comes back until EOF.  Exit 1 when the connection fails or stalls (5 s).
tcp_talk() {
	python3 - "$@" <<'PY'
import socket, sys
host, port, msg = sys.argv[1], int(sys.argv[2]), sys.argv[3]
try:
    s = socket.create_connection((host, port), timeout=5)
    s.sendall(msg.encode())
    s.shutdown(socket.SHUT_WR)
    data = b""
    while True:
        b = s.recv(65536)
        if not b:
            break
        data += b
except OSError as e:
    print(f"tcp_talk {host}:{port}: {e}", file=sys.stderr)
    sys.exit(1)
# An echo over a forward whose guest side is gone is an empty answer.
if not data:
    print(f"tcp_talk {host}:{port}: no answer", file=sys.stderr)
    sys.exit(1)
sys.stdout.write(data.decode())
PY
}

# wait_listening PORT [CMD...]: until something listens on TCP PORT (in the
# namespace CMD runs in, e.g. "ip netns exec NS"), 10 s at most: a server
# started with & may take seconds to bind under load.
wait_listening() {
	local port=$1
	shift
	for _ in $(seq 100); do
		"$@" ss -ltnH "sport = :$port" | grep -q . && return 0
		sleep 0.1
	done
	return 1
}

# free_port: a TCP port on 127.0.0.1 nobody listens on right now.
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_for SECONDS CMD...: retry CMD every 0.2 s until it succeeds.
wait_for() {
	local tries=$(($1 * 5))
	shift
	for _ in $(seq "$tries"); do
		if "$@" >/dev/null 2>&1; then return 0; fi
		sleep 0.2
	done
	return 1
}
