#!/usr/bin/env python3
"""net-anchor.py ARGV.json COMMAND... - the anchor of bench/net.

Runs the exact QEMU command line `grainvm up --dry-run --json` printed for a
user-mode VM, by hand (as bench/qemu-floor.py does): QEMU's built-in
-netdev user with no grainvm process anywhere.  Once the guest's agent
answers, runs COMMAND in the guest with guest-exec, waits for it to end,
kills QEMU.  Exit status: the command's.

QEMU gets its own session, as grainvm's supervisor gives it.  With the
kernel's autogroup scheduling (on here: /proc/sys/kernel/sched_autogroup_enabled)
a session is a scheduling group, and on this shared machine a QEMU in the
same session as the host-side receiver moved data about twice as fast under
load as one in its own session (20.8-22.7 against 9.6-13.4 MiB/s, three
pairs): a property of where the processes sit, not of the network path.
"""
import json, os, select, socket, subprocess, sys, tempfile, time

argv = [a for a in json.load(open(sys.argv[1])) if a != "-S"]
command = sys.argv[2:]
d = tempfile.mkdtemp(prefix="gv-anchor-")
socks = []
for i, name in enumerate(["qmp", "console", "agent", "qga"]):
    s = socket.socket(socket.AF_UNIX)
    s.bind(os.path.join(d, name))
    s.listen(4)
    socks.append(s)

def child():
    for i, s in enumerate(socks):
        os.dup2(s.fileno(), 3 + i)
    os.setsid()

q = subprocess.Popen(argv, preexec_fn=child, pass_fds=(3, 4, 5, 6),
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
c = socket.socket(socket.AF_UNIX)
c.connect(os.path.join(d, "agent"))
c.setblocking(False)
con = socket.socket(socket.AF_UNIX)
con.connect(os.path.join(d, "console"))
buf = b""

def drain(timeout):
    """Read what is there (the console is drained so the guest never stalls)."""
    global buf
    r, _, _ = select.select([c, con], [], [], timeout)
    if con in r:
        con.recv(65536)
    if c in r:
        data = c.recv(65536)
        if not data:
            sys.exit("QEMU closed the agent socket")
        buf += data

next_id = 100

def request(obj, timeout=60):
    """Send one command, return its reply's "return"; skip stale replies."""
    global buf, next_id
    next_id += 1
    obj["id"] = next_id
    c.setblocking(True)
    c.sendall(json.dumps(obj).encode())
    c.setblocking(False)
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            line = line.lstrip(b"\xff").strip()
            if line:
                msg = json.loads(line)
                if msg.get("id") != next_id:
                    continue
                if "error" in msg:
                    sys.exit(f"agent: {msg['error']}")
                return msg["return"]
        drain(0.05)
    sys.exit("the agent did not answer")

try:
    # The port drops bytes until the guest opens it: repeat the sync until answered.
    t0 = time.monotonic()
    while not buf and time.monotonic() - t0 < 120:
        try:
            c.send(b'\xff{"execute":"guest-sync-delimited","arguments":{"id":1}}')
        except BlockingIOError:
            pass
        drain(0.01)
    request({"execute": "guest-sync-delimited", "arguments": {"id": 2}})  # id: any
    pid = request({"execute": "guest-exec",
                   "arguments": {"path": command[0], "arg": command[1:]}})["pid"]
    while True:
        st = request({"execute": "guest-exec-status", "arguments": {"pid": pid}})
        if st.get("exited"):
            code = st.get("exitcode", 1)
            break
        time.sleep(1)  # the receiver times the transfer; polling must not cost the guest
finally:
    q.kill()
    q.wait()
    for n in ["qmp", "console", "agent", "qga"]:
        os.unlink(os.path.join(d, n))
    os.rmdir(d)
sys.exit(code)
