#!/usr/bin/env python3
"""qemu-floor.py ARGV.json - the floor for bench/up-to-ready.

Runs the exact QEMU command line `grainvm up --dry-run --json` printed, but
by hand: the four listening sockets on fds 3-6 are made here, "-S" is
dropped (nobody needs to send "cont"), and the clock stops when the guest's
first byte reaches the agent socket.  Bytes sent to a virtio-serial port
the guest has not opened are dropped, so a guest-sync-delimited request is
repeated every 10 ms until the agent answers.  Prints seconds, kills QEMU.
"""
import json, os, select, socket, subprocess, sys, tempfile, time

argv = [a for a in json.load(open(sys.argv[1])) if a != "-S"]
d = tempfile.mkdtemp(prefix="gv-floor-")
socks = []
for i, name in enumerate(["qmp", "console", "agent", "qga"]):
    s = socket.socket(socket.AF_UNIX)
    s.bind(os.path.join(d, name))
    s.listen(4)
    socks.append(s)

def child():
    for i, s in enumerate(socks):
        os.dup2(s.fileno(), 3 + i)

t0 = time.monotonic()
q = subprocess.Popen(argv, preexec_fn=child, pass_fds=(3, 4, 5, 6),
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
c = socket.socket(socket.AF_UNIX)
c.connect(os.path.join(d, "agent"))
# Non-blocking: while the port is closed QEMU stops reading the socket, and a
# blocking send would stall the loop once the socket buffer is full.
c.setblocking(False)
# The console must be drained, as grainvm does, or the guest's output could stall.
con = socket.socket(socket.AF_UNIX)
con.connect(os.path.join(d, "console"))
req = b'\xff{"execute":"guest-sync-delimited","arguments":{"id":1}}'
elapsed = None
while elapsed is None and time.monotonic() - t0 < 120:
    try:
        c.send(req)
    except BlockingIOError:
        pass
    r, _, _ = select.select([c, con], [], [], 0.01)
    if con in r:
        con.recv(65536)
    if c in r:
        if not c.recv(1):
            sys.exit("QEMU closed the agent socket")
        elapsed = time.monotonic() - t0
q.kill()
q.wait()
for n in ["qmp", "console", "agent", "qga"]:
    os.unlink(os.path.join(d, n))
os.rmdir(d)
if elapsed is None:
    sys.exit("the guest never answered")
print(f"{elapsed:.3f}")
