# SPDX-License-Identifier: ISC
"""Helpers for buzond's POP3 end-to-end tests (tests/e2e/75-77).

PopRaw is a byte-exact POP3 client (poplib hides the wire: it unstuffs and
splits lines), with STLS through the test CA's client context. lmtp_send
delivers with Python's smtplib.LMTP, maildir_drop puts a file straight into
a Maildir's new/ as another program would. stuffed() is the wire form of a
message that RETR must produce; uidl_of() and maildir_uidls() the UIDL
unique-ids buzond must give a Maildir's files.
"""
import hashlib
import os
import smtplib
import socket
import time

from estafeta_test import TestFailure


def check(cond, what):
    if not cond:
        raise TestFailure(what)


class PopRaw:
    """A raw POP3 session on 127.0.0.1:port (implicit TLS with ctx)."""

    def __init__(self, port, ctx=None, host="pop.example.test", timeout=20):
        self.s = socket.create_connection(("127.0.0.1", port),
                                          timeout=timeout)
        if ctx is not None:
            self.s = ctx.wrap_socket(self.s, server_hostname=host)
        self.buf = b""
        self.greeting = self.line()
        check(self.greeting.startswith(b"+OK"),
              f"greeting: {self.greeting!r}")

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.s.sendall(data)

    def _fill(self):
        chunk = self.s.recv(1 << 20)
        if not chunk:
            raise TestFailure(f"connection closed; pending {self.buf!r}")
        self.buf += chunk

    def line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        ln, self.buf = self.buf.split(b"\r\n", 1)
        return ln

    def multi(self):
        """The rest of a multi-line response, terminator included."""
        while b"\r\n.\r\n" not in b"\r\n" + self.buf:
            self._fill()
        if self.buf.startswith(b".\r\n"):
            self.buf = self.buf[3:]
            return b".\r\n"
        i = self.buf.index(b"\r\n.\r\n") + 5
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def cmd(self, line):
        """Sends line; returns the status line (bytes, no CRLF)."""
        self.send(line + "\r\n")
        return self.line()

    def ok(self, line):
        r = self.cmd(line)
        check(r.startswith(b"+OK"), f"{line.split()[0]}: {r!r}")
        return r

    def err(self, line, prefix=b"-ERR"):
        r = self.cmd(line)
        check(r.startswith(prefix), f"{line.split()[0]}: wanted "
              f"{prefix!r}, got {r!r}")
        return r

    def stls(self, ctx, host="pop.example.test"):
        self.ok("STLS")
        check(self.buf == b"", "data after STLS reply")
        self.s = ctx.wrap_socket(self.s, server_hostname=host)

    def login(self, user, pw):
        self.ok(f"USER {user}")
        return self.ok(f"PASS {pw}")

    def capa(self):
        self.ok("CAPA")
        return self.multi()[:-5].decode().split("\r\n")

    def closed(self, timeout=10):
        """True when the server closes; collects what came before."""
        self.s.settimeout(timeout)
        try:
            while True:
                chunk = self.s.recv(65536)
                if not chunk:
                    return True
                self.buf += chunk
        except (socket.timeout, OSError):
            return False

    def close(self):
        self.s.close()


def stuffed(msg):
    """RETR's wire form of msg (bytes, any line ends): CRLF lines, a "."
    doubled at a line start, then the terminator."""
    lines = msg.replace(b"\r\n", b"\n").split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    out = b"".join((b"." + ln if ln.startswith(b".") else ln) + b"\r\n"
                   for ln in lines)
    return out + b".\r\n"


def crlf(msg):
    return msg.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def lmtp_send(port, rcpts, msg, sender="sender@example.org"):
    """Delivers msg over LMTP (TCP) to rcpts; returns the per-recipient
    refusals dict of smtplib (empty when all accepted)."""
    with smtplib.LMTP("127.0.0.1", port, local_hostname="relay.test",
                      timeout=20) as c:
        return c.sendmail(sender, rcpts, msg)


def maildir_drop(maildir, msg, name=None):
    """Writes msg into maildir/new as another delivery program would
    (tmp/ first, then rename). Returns the file name."""
    name = name or f"{int(time.time())}.M{os.getpid()}P{time.monotonic_ns()}" \
        ".external"
    tmp = os.path.join(maildir, "tmp", name)
    with open(tmp, "wb") as f:
        f.write(msg)
    os.rename(tmp, os.path.join(maildir, "new", name))
    return name


def maildir_count(maildir):
    return sum(len([f for f in os.listdir(os.path.join(maildir, d))
                    if not f.startswith(".")]) for d in ("new", "cur"))


def uidl_of(base):
    """buzond's UIDL unique-id of a Maildir base name (bytes or str): the
    name itself when it is 1..70 octets of 0x21..0x7E (RFC 1939 7), else
    the hex SHA-256 of it."""
    if isinstance(base, str):
        base = base.encode("utf-8", "surrogateescape")
    if 1 <= len(base) <= 70 and all(0x21 <= c <= 0x7e for c in base):
        return base
    return hashlib.sha256(base).hexdigest().encode()


def maildir_uidls(maildir):
    """The set of unique-ids of the files in maildir's new/ and cur/ (a
    file's base name is its name without the ":2,FLAGS" info)."""
    return {uidl_of(f.split(":", 1)[0])
            for d in ("new", "cur")
            for f in os.listdir(os.path.join(maildir, d))
            if not f.startswith(".")}
