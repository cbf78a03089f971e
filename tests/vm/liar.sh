#!/bin/sh
# SPDX-License-Identifier: MIT
#
# liar PORT - a guest agent that lies, for tests/vm/hostile-guest.sh
#
# Runs in the test guest (busybox sh) in place of grainvm-agent on PORT.
# It answers the handshake (0xFF, then guest-sync-delimited's id) like the
# real agent, so the host talks to it, and every other command as the word
# in /mnt/workspace/.liar (re-read per command) says:
#
#   honest  valid answers: ready, status, exec printing "hi" and exit 0
#   types   every member of every answer has the wrong type
#   b64     exec output events whose data-b64 is a number, null, an
#           object (the line that killed the supervisor), then a good one;
#           grain-exit's exitcode a string
#   huge    answers with arrays of 20000 objects
#   deep    answers nested 5000 deep
#   utf8    answers that are not UTF-8
#   ctrl    terminal escapes (retitle, clear) in every string: version,
#           hostname, mount tags, interface names and addresses, build
#           state and log, exec's error
#   stray   before each honest answer: replies to ids never sent, a reply
#           without an id, an error with escapes, an exit of no command
#   silent  no answer at all (the handshake still works)
#   flood   a 16 MB line of {} before each honest answer
#   bigstr  a 16 MB string as the answer (what a large file read returns)
#   shutdown: guest-shutdown powers off, whatever the mode.
exec 3<>"$1"
ws=/mnt/workspace
mounts='[{"tag":"workspace","mount-point":"/mnt/workspace","expected":true,"mounted":true,"writable":true}]'
status='{"agent":"grainvm-agent","version":"liar","uptime":1.5,"hostname":"liar","mounts":'"$mounts"'}'
ifaces='[{"name":"eth0","hardware-address":"52:54:00:12:34:56","ip-addresses":[{"ip-address-type":"ipv4","ip-address":"10.0.2.15","prefix":24}]}]'
# JSON escapes the host decodes to ESC ] 0 ; PWN BEL ESC [ 2 J (retitle, clear).
E='\u001b]0;PWN\u0007\u001b[2J'

yes '{},' | head -n 20000 | tr -d '\n' >/tmp/huge
deep=$(yes '[' | head -n 5000 | tr -d '\n')$(yes ']' | head -n 5000 | tr -d '\n')

ok() { printf '{"return":%s,"id":"%s"}\n' "$1" "$id" >&3; }
event() { printf '{"event":"%s","data":%s}\n' "$1" "$2" >&3; }

honest() {
	case $cmd in
	grain-status | grain-thaw) ok "$status" ;;
	grain-build-status) ok '{"state":"idle"}' ;;
	guest-network-get-interfaces) ok "$ifaces" ;;
	grain-exec-start)
		ok '{"handle":1,"pid":2}'
		event grain-output '{"handle":1,"stream":"stdout","seq":0,"data-b64":"aGkK"}'
		event grain-exit '{"handle":1,"pid":2,"exitcode":0}'
		;;
	*) printf '{"error":{"class":"CommandNotFound","desc":"liar"},"id":"%s"}\n' "$id" >&3 ;;
	esac
}

lie() {
	case $mode:$cmd in
	types:grain-status | types:grain-thaw)
		ok '{"agent":1,"version":[],"uptime":"x","hostname":{},"mounts":"x"}' ;;
	types:grain-build-status) ok '{"state":5,"log-tail":[],"exit-code":"x"}' ;;
	types:guest-network-get-interfaces)
		ok '[{"name":7,"hardware-address":[],"ip-addresses":"x"},5,"s",null]' ;;
	types:*) ok '{"handle":"1","pid":[]}' ;;
	b64:grain-exec-start)
		ok '{"handle":1,"pid":2}'
		event grain-output '{"handle":1,"stream":"stdout","seq":0,"data-b64":12}'
		event grain-output '{"handle":1,"stream":"stdout","seq":1,"data-b64":null}'
		event grain-output '{"handle":1,"stream":"stdout","seq":2,"data-b64":{}}'
		event grain-output '{"handle":"1","stream":7,"seq":"x","data-b64":"aGkK"}'
		event grain-output '{"handle":1,"stream":"stdout","seq":4,"data-b64":"aGkK"}'
		event grain-exit '{"handle":1,"pid":2,"exitcode":"zero"}'
		;;
	b64:*) honest ;;
	huge:*) printf '{"return":[%s{}],"id":"%s"}\n' "$(cat /tmp/huge)" "$id" >&3 ;;
	deep:*) ok "$deep" ;;
	utf8:*) printf '{"return":{"agent":"\303\050\377"},"id":"%s"}\n' "$id" >&3 ;;
	ctrl:grain-status)
		ok '{"agent":"grainvm-agent","version":"'"$E"'","uptime":1,"hostname":"'"$E"'","mounts":[{"tag":"workspace","mount-point":"/mnt/workspace","expected":true,"mounted":true,"writable":true},{"tag":"x'"$E"'","mount-point":"/m\u009b2J","mounted":true}]}' ;;
	ctrl:guest-network-get-interfaces)
		ok '[{"name":"'"$E"'","hardware-address":"52:54:00:12:34:56'"$E"'","ip-addresses":[{"ip-address-type":"ipv4","ip-address":"10.0.2.15'"$E"'","prefix":24}]}]' ;;
	ctrl:grain-build-status)
		ok '{"state":"exited'"$E"'","exit-code":0,"duration":1.0,"pid":5,"log-size":10,"log-tail":"one\n'"$E"'\ntwo\n"}' ;;
	ctrl:grain-exec-start)
		ok '{"handle":1,"pid":2}'
		event grain-exit '{"handle":1,"pid":2,"error":"cannot run'"$E"'"}'
		;;
	stray:*)
		printf '%s\n' '{"return":{},"id":"never-sent"}' \
			'{"error":{"class":"GenericError","desc":"'"$E"'"},"id":"nope"}' \
			'{"event":"grain-exit","data":{"handle":999,"error":"'"$E"'"}}' \
			'{"event":"grain-output","data":{"handle":999}}' >&3
		honest
		;;
	silent:*) ;;
	bigstr:*)
		# One string as long as the 16 MiB cap allows: a file read's shape.
		printf '{"return":"' >&3
		head -c 16000000 /dev/zero | tr '\0' A >&3
		printf '","id":"%s"}\n' "$id" >&3
		;;
	flood:*)
		yes '{},' | tr -d '\n' | head -c 16000000 >&3
		printf '{}\n' >&3
		honest
		;;
	*) honest ;;
	esac
}

while IFS= read -r line <&3; do
	case $line in
	*'"guest-sync-delimited"'*)
		n=$(printf '%s' "$line" | sed -n 's/.*"arguments":{"id":\([0-9]*\)}.*/\1/p')
		printf '\377{"return":%s}\n' "$n" >&3
		continue
		;;
	esac
	cmd=$(printf '%s' "$line" | sed -n 's/.*"execute":"\([^"]*\)".*/\1/p')
	id=$(printf '%s' "$line" | sed -n 's/.*"id":"\([^"]*\)"}$/\1/p')
	[ "$cmd" = guest-shutdown ] && poweroff -f
	mode=$(cat $ws/.liar 2>/dev/null || echo honest)
	lie
done
