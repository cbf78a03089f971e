#!/usr/bin/env python3
"""pty-drive.py - drive a grainvm command on a pseudo-terminal, as a person would.

Usage: pty-drive.py SCRIPT -- COMMAND [ARG]...

COMMAND runs with its stdin, stdout and stderr on a new pseudo-terminal of
24x80 (as a terminal emulator gives it).  SCRIPT is a file of steps, one a
line:

    send TEXT          type TEXT (\\r, \\x03 and friends are unescaped)
    expect REGEX       wait (30 s at most) until the screen output matches
    resize ROWS COLS   change the window size, as dragging the window does
    sleep S            wait S seconds
    exit N             wait for COMMAND to end and demand exit status N
    rtt N              type N single keys, each after the last one's echo,
                       and print the median round trip in milliseconds

Output is matched after the last match, so a step never sees what an
earlier step consumed.  On a failed step the output so far is printed.
"""
import fcntl
import os
import re
import select
import struct
import sys
import termios
import time
import pty

TIMEOUT = 30.0


def main():
    script_path = sys.argv[1]
    assert sys.argv[2] == "--"
    cmd = sys.argv[3:]
    pid, fd = pty.fork()
    if pid == 0:
        fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
        os.execvp(cmd[0], cmd)
    buf = b""
    pos = 0
    eof = False

    def pump(timeout):
        nonlocal buf, eof
        if eof:
            return False
        r, _, _ = select.select([fd], [], [], timeout)
        if not r:
            return False
        try:
            data = os.read(fd, 65536)
        except OSError:
            data = b""
        if not data:
            eof = True
            return False
        buf += data
        return True

    def fail(msg):
        sys.stderr.write(f"FAIL: {msg}\n---- output\n{buf.decode(errors='replace')}\n----\n")
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            pass
        sys.exit(1)

    for line in open(script_path):
        line = line.rstrip("\n")
        if not line or line.startswith("#"):
            continue
        op, _, arg = line.partition(" ")
        if op == "send":
            os.write(fd, arg.encode().decode("unicode_escape").encode("latin-1"))
        elif op == "expect":
            rx = re.compile(arg.encode())
            end = time.monotonic() + TIMEOUT
            while True:
                m = rx.search(buf, pos)
                if m:
                    pos = m.end()
                    break
                left = end - time.monotonic()
                if left <= 0 or (not pump(left) and eof):
                    fail(f"expected /{arg}/")
        elif op == "resize":
            rows, cols = map(int, arg.split())
            # The kernel sends SIGWINCH to the terminal's foreground group.
            fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        elif op == "sleep":
            end = time.monotonic() + float(arg)
            while time.monotonic() < end:
                pump(max(0.0, end - time.monotonic()))
        elif op == "exit":
            end = time.monotonic() + TIMEOUT
            while not eof and time.monotonic() < end:
                pump(end - time.monotonic())
            _, status = os.waitpid(pid, 0)
            code = os.waitstatus_to_exitcode(status)
            if code != int(arg):
                fail(f"exit status {code}, expected {arg}")
            print(f"# exit {code}")
        elif op == "rtt":
            times = []
            for i in range(int(arg)):
                key = b"abcdefghij"[i % 10:i % 10 + 1]
                start = len(buf)
                t0 = time.monotonic()
                os.write(fd, key)
                while key not in buf[start:]:
                    if not pump(TIMEOUT) and eof:
                        fail("no echo")
                    if time.monotonic() - t0 > TIMEOUT:
                        fail("no echo within 30 s")
                times.append((time.monotonic() - t0) * 1000)
            times.sort()
            print(f"# rtt median {times[len(times) // 2]:.1f} ms over {len(times)} keys")
            pos = len(buf)
        else:
            fail(f"bad step {line!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
