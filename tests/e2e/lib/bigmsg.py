# SPDX-License-Identifier: ISC
"""Helpers of the big-message streaming tests (tests/e2e/66-68): the
session process of a Store, its peak resident size, and an IMAP client
that keeps literals as exact bytes, however large.

    m = ImapLit(st, "alice@example.test", "pw")   # logged in
    for resp in m.cmd("FETCH 1 BODY.PEEK[]"):    # untagged responses
        data = literal_of(resp, b"BODY[]")
    before = vm_hwm(session_pid(st))
"""
import re
import socket
import subprocess

from estafeta_test import TestFailure


def check(cond, what):
    if not cond:
        raise TestFailure(what)


def session_pid(st):
    """The pid of the Store's only session process (a child of buzond)."""
    r = subprocess.run(["pgrep", "-P", str(st.proc.pid)],
                       capture_output=True, text=True)
    pids = [int(p) for p in r.stdout.split()]
    check(len(pids) == 1, f"one session process: {pids}")
    return pids[0]


def vm_hwm(pid):
    """The process's peak resident size in octets (/proc VmHWM)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise TestFailure("no VmHWM")


class ImapLit:
    """A cleartext IMAP session on st.imap_port, logged in as user."""

    def __init__(self, st, user, password):
        self.s = socket.create_connection(("127.0.0.1", st.imap_port), 30)
        self.buf = b""
        self.n = 0
        check(self.line().startswith(b"* OK"), "greeting")
        self.cmd(f"LOGIN {user} {password}")

    def fill(self):
        chunk = self.s.recv(1 << 20)
        if not chunk:
            raise TestFailure(f"connection closed; have {self.buf[-200:]!r}")
        self.buf += chunk

    def line(self):
        while b"\r\n" not in self.buf:
            self.fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def take(self, n):
        parts = [self.buf[:n]]
        got = len(parts[0])
        self.buf = self.buf[n:]
        while got < n:
            chunk = self.s.recv(min(1 << 20, n - got))
            if not chunk:
                raise TestFailure("connection closed in a literal")
            parts.append(chunk)
            got += len(chunk)
        return b"".join(parts)

    def cmd(self, c):
        """Sends c tagged; the untagged responses, each a list of pieces
        (text lines and literals); TestFailure unless the tag says OK."""
        self.n += 1
        tag = f"t{self.n}".encode()
        self.s.sendall(tag + b" " + c.encode() + b"\r\n")
        out = []
        while True:
            line = self.line()
            if line.startswith(tag + b" "):
                check(line.startswith(tag + b" OK"), f"{c}: {line!r}")
                return out
            resp = []
            while True:
                m = re.search(rb"\{(\d+)\}$", line)
                if not m:
                    resp.append(line)
                    break
                resp.append(line)
                resp.append(self.take(int(m.group(1))))
                line = self.line()
            out.append(resp)


def literal_of(resp, name):
    """The literal following the item name in one FETCH response."""
    for i, piece in enumerate(resp[:-1]):
        if piece.endswith(name + b" {%d}" % len(resp[i + 1])):
            return resp[i + 1]
    raise TestFailure(f"no {name!r} literal in {[p[:80] for p in resp]}")
