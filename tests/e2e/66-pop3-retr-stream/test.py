# SPDX-License-Identifier: ISC
"""POP3 RETR and TOP of a big message stream it from disk.

A 50 MB message is dropped into the Maildir (as another program would),
with lines that start with "." (one, two, a lone "."), lines that already
end with CRLF, a CR inside a line, and a last line without its line end.
RETR and TOP must send exactly the CRLF, dot-stuffed form (compared byte
for byte with a reference made here), and the session must not hold the
message in memory: its peak resident size (VmHWM) may grow by less than
STREAM_MAX_GROWTH while it sends 50 MB. Before buzond streamed, RETR
read the message into memory and built the stuffed reply next to it (the
peak grew by about twice the message's size).
"""
import os
import smtplib
import socket
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from estafeta_test import Store, TestFailure, run  # noqa: E402
from bigmsg import check, session_pid, vm_hwm  # noqa: E402

USER = "alice@example.test"
SIZE = 50 * 1024 * 1024
STREAM_MAX_GROWTH = 8 * 1024 * 1024


def big_message():
    block = (b"Some text of a line in the body of the message, 0123456789\n"
             b".a line that starts with a dot\n"
             b"..two dots\n"
             b".\n"
             b"a line that already ends with CRLF\r\n"
             b"a CR\rinside a line\n"
             b"\n")
    head = (b"From: a@example.org\nSubject: big\nX-Dot: .\n\n"
            b".first body line\n")
    body = block * ((SIZE - len(head)) // len(block))
    return head + body + b"..the last line, without its line end"


def pop3_form(raw, lines=-1):
    """What RETR (lines < 0) or TOP sends for raw: CRLF line ends, a
    leading "." doubled, a last line completed, then ".\\r\\n"."""
    parts = raw.split(b"\n")
    out = []
    in_body = False
    body = 0
    for i, line in enumerate(parts):
        last = i == len(parts) - 1
        if last and line == b"":
            break
        if lines >= 0 and in_body and body >= lines:
            break
        empty = line in (b"", b"\r")
        if line.startswith(b"."):
            line = b"." + line
        if last:
            out.append(line + (b"\n" if line.endswith(b"\r") else b"\r\n"))
            break
        out.append(line + (b"\n" if line.endswith(b"\r") else b"\r\n"))
        if in_body:
            body += 1
        elif empty:
            in_body = True
    out.append(b".\r\n")
    return b"".join(out)


class Pop:
    def __init__(self, st):
        self.s = socket.create_connection(("127.0.0.1", st.pop3_port), 30)
        self.buf = b""
        self.line()
        self.cmd(f"USER {USER}")
        self.cmd("PASS pw")

    def line(self):
        while b"\r\n" not in self.buf:
            self.fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def fill(self):
        chunk = self.s.recv(1 << 20)
        if not chunk:
            raise TestFailure(f"connection closed; have {self.buf[-200:]!r}")
        self.buf += chunk

    def cmd(self, c):
        self.s.sendall(c.encode() + b"\r\n")
        r = self.line()
        check(r.startswith(b"+OK"), f"{c}: {r!r}")
        return r

    def multi(self, c):
        """The multi-line reply to c, its terminating ".\\r\\n" included."""
        first = self.cmd(c)
        parts = [self.buf]
        tail = self.buf[-5:]
        self.buf = b""
        while not (b"\r\n" + tail).endswith(b"\r\n.\r\n"):
            chunk = self.s.recv(1 << 20)
            if not chunk:
                raise TestFailure(f"{c}: connection closed")
            parts.append(chunk)
            tail = (tail + chunk)[-5:]
        return first, b"".join(parts)


def main():
    st = Store("retr-stream", tls=False,
               auth_cleartext_networks="127.0.0.0/8")
    st.add_user(USER, "pw")
    st.start()
    c = smtplib.LMTP("127.0.0.1", st.lmtp_port)
    c.ehlo()
    c.mail("s@example.org")
    c.rcpt(USER)
    code, _ = c.data(b"Subject: small\r\n\r\n.dot\r\nend\r\n")
    c.quit()
    check(code == 250, "LMTP")
    raw = big_message()
    with open(os.path.join(st.maildir(USER), "new", "1000.big.host"),
              "wb") as f:
        f.write(raw)

    p = Pop(st)
    pid = session_pid(st)
    before = vm_hwm(pid)
    want = pop3_form(raw)
    first, got = p.multi("RETR 2")
    grown = vm_hwm(pid) - before
    print(f"session VmHWM {before // 1024} KiB before RETR of "
          f"{len(raw)} octets, +{grown // 1024} KiB after")
    crlf_size = len(raw) + raw.count(b"\n") - raw.count(b"\r\n")
    check(first == b"+OK %d octets" % crlf_size, f"RETR first line "
          f"{first!r}, want {crlf_size}")
    check(len(got) == len(want), f"RETR sent {len(got)} octets, want "
          f"{len(want)}")
    check(got == want, "RETR content differs")
    check(grown < STREAM_MAX_GROWTH, f"the session grew by {grown} "
          f"octets sending {len(raw)}")
    for n in (0, 1, 3, 1000):
        _, got = p.multi(f"TOP 2 {n}")
        check(got == pop3_form(raw, n), f"TOP 2 {n}: {got[-300:]!r}")
    _, got = p.multi("RETR 1")
    check(got.endswith(b"\r\n\r\n..dot\r\nend\r\n.\r\n"), f"RETR 1 {got!r}")
    p.cmd("QUIT")


run(main)
