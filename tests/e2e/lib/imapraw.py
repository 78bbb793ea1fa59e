# SPDX-License-Identifier: ISC
"""A raw IMAP client for protocol tests (exact bytes, any framing), plus
small helpers shared by the IMAP e2e tests (tests/e2e/80-84).

    c = ImapRaw(port)                       # cleartext, reads the greeting
    c = ImapRaw(port, ctx=ca.client_context(), implicit=True)   # 993
    typ, lines = c.cmd("a1 LOGIN alice pw")  # typ "OK"/"NO"/"BAD"
    c.starttls(ctx)
"""
import socket
import ssl

from estafeta_test import TestFailure


class ImapRaw:
    def __init__(self, port, host="127.0.0.1", ctx=None, implicit=False,
                 timeout=10):
        s = socket.create_connection((host, port), timeout=timeout)
        if implicit:
            s = ctx.wrap_socket(s, server_hostname="mail.example.test")
        self.s = s
        self.buf = b""
        self.greeting = self.line()

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.s.sendall(data)

    def line(self):
        """One line without CRLF (str); TestFailure on EOF."""
        while b"\r\n" not in self.buf:
            chunk = self.s.recv(65536)
            if not chunk:
                raise TestFailure(f"connection closed; have {self.buf!r}")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line.decode(errors="replace")

    def until(self, tag):
        """Lines up to the tagged reply: (status, [all lines])."""
        lines = []
        while True:
            ln = self.line()
            lines.append(ln)
            if ln.startswith(tag + " "):
                return ln.split(" ", 2)[1], lines

    def cmd(self, text):
        tag = text.split(" ", 1)[0]
        self.send(text + "\r\n")
        return self.until(tag)

    def expect(self, text, status):
        typ, lines = self.cmd(text)
        if typ != status:
            raise TestFailure(f"{text!r}: expected {status}, got {lines!r}")
        return lines

    def starttls(self, ctx):
        self.expect("tls STARTTLS", "OK")
        self.s = ctx.wrap_socket(self.s, server_hostname="mail.example.test")

    def closed(self, timeout=5):
        """True when the server closed the connection (EOF or reset)."""
        self.s.settimeout(timeout)
        try:
            while True:
                chunk = self.s.recv(65536)
                if not chunk:
                    return True
                self.buf += chunk
        except (ConnectionResetError, ssl.SSLError):
            return True
        except socket.timeout:
            return False

    def close(self):
        self.s.close()


def check(cond, what):
    if not cond:
        raise TestFailure(what)


def has(lines, text):
    return any(text in ln for ln in lines)
