# SPDX-License-Identifier: ISC
"""A small SMTP server for delivery tests, written here so that a test
can decide what happens after each message's final dot.

    peer = SmtpPeer(ehlo=["SIZE 1000000"], on_dot=None, tls=None,
                    auth=None, rcpt=None)
    transports=f"peer.test=smtp:[127.0.0.1]:{peer.port}"
    peer.got      # each message's Subject, at its final dot, in order
    peer.msgs     # each message as received (bytes, dot-stuffed), in order
    peer.cmds     # each command line, as text
    peer.lock     # guards both
    peer.shutdown()
    qid = submit(relay.port, "m1")   # a message for bob@peer.test


Just enough SMTP for the relay's client: EHLO (with the extra keywords
given, never PIPELINING or CHUNKING), MAIL, RCPT, RSET, NOOP, DATA, QUIT.
tls=(cert, key) offers STARTTLS (a server-side ssl context of those
files). auth="535 5.7.8 ..." offers AUTH PLAIN LOGIN and answers every
AUTH with that reply (peer.auth may be changed meanwhile); the AUTH
lines are recorded as "AUTH <mechanism>", never their credentials.
on_dot(conn, subject), when given, runs after the final dot, before the
reply: it returns True for "250 2.0.0 queued", False to close without a
reply. rcpt(line), when given, answers each RCPT command line (text)
with the reply it returns (None: "250 2.0.0 ok"). conn.hold(until) waits until until() is true (True) or the client
goes away (False), without a sleep. The port is reserved (free_port).
"""
import select
import smtplib
import socket
import socketserver
import ssl
import threading

from estafeta_test import free_port


class _Conn(socketserver.StreamRequestHandler):
    def reply(self, text):
        self.wfile.write(text.encode() + b"\r\n")
        self.wfile.flush()

    def hold(self, until):
        while not until():
            r, _, _ = select.select([self.connection], [], [], 0.02)
            if r and not self.connection.recv(1, socket.MSG_PEEK):
                return False
        return True

    def starttls(self):
        self.reply("220 2.0.0 go ahead")
        self.wfile.flush()
        self.connection = self.server.peer.ctx.wrap_socket(
            self.connection, server_side=True)
        self.rfile = self.connection.makefile("rb")
        self.wfile = self.connection.makefile("wb")

    def handle(self):
        peer = self.server.peer
        tls = False
        self.reply("220 peer.test ESMTP")
        while True:
            line = self.rfile.readline()
            if not line:
                return
            verb = line[:4].upper()
            text = line.strip().decode(errors="replace")
            if verb == b"AUTH":
                text = " ".join(text.split()[:2])   # no credentials
            with peer.lock:
                peer.cmds.append(text)
            if verb == b"STAR" and peer.ctx is not None and not tls:
                try:
                    self.starttls()
                except (OSError, ssl.SSLError):
                    return
                tls = True
            elif verb == b"AUTH" and peer.auth is not None:
                self.reply(peer.auth)
            elif verb in (b"EHLO", b"HELO"):
                extra = []
                if peer.ctx is not None and not tls:
                    extra.append("STARTTLS")
                if peer.auth is not None:
                    extra.append("AUTH PLAIN LOGIN")
                lines = ["peer.test"] + list(peer.ehlo) + extra
                for i, text in enumerate(lines):
                    sep = " " if i == len(lines) - 1 else "-"
                    self.reply(f"250{sep}{text}")
            elif verb == b"RCPT" and peer.rcpt is not None:
                self.reply(peer.rcpt(text) or "250 2.0.0 ok")
            elif verb in (b"MAIL", b"RCPT", b"RSET", b"NOOP"):
                self.reply("250 2.0.0 ok")
            elif verb == b"QUIT":
                self.reply("221 2.0.0 bye")
                return
            elif verb == b"DATA":
                self.reply("354 go on")
                subject, lines = None, []
                while True:
                    d = self.rfile.readline()
                    if not d:
                        return
                    if d == b".\r\n":
                        break
                    lines.append(d)
                    if d.startswith(b"Subject: ") and subject is None:
                        subject = d[9:].strip().decode()
                with peer.lock:
                    peer.got.append(subject)
                    peer.msgs.append(b"".join(lines))
                if peer.on_dot is not None and not peer.on_dot(self, subject):
                    return
                self.reply("250 2.0.0 queued")
            else:
                self.reply("502 5.5.2 what")


class SmtpPeer:
    def __init__(self, ehlo=(), on_dot=None, tls=None, auth=None,
                 rcpt=None):
        self.ehlo, self.on_dot, self.auth = tuple(ehlo), on_dot, auth
        self.rcpt = rcpt
        self.ctx = None
        if tls is not None:
            self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.ctx.load_cert_chain(*tls)
        self.got, self.cmds, self.lock = [], [], threading.Lock()
        self.msgs = []
        socketserver.ThreadingTCPServer.allow_reuse_address = True
        self.srv = socketserver.ThreadingTCPServer(
            ("127.0.0.1", free_port()), _Conn)
        self.srv.daemon_threads = True
        self.srv.peer = self
        self.port = self.srv.server_address[1]
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def shutdown(self):
        self.srv.shutdown()
        self.srv.server_close()


def submit(port, subject, rcpt="bob@peer.test"):
    """Submits a small message (alice@example.org to rcpt) to the
    estafetad on port; returns its queue id."""
    with smtplib.SMTP("127.0.0.1", port) as c:
        c.ehlo("client.test")
        c.mail("alice@example.org")
        code, text = c.rcpt(rcpt)
        assert code == 250, (code, text)
        code, text = c.data(f"Subject: {subject}\r\n\r\nBody.\r\n".encode())
        assert code == 250, (code, text)
        return text.decode().rsplit(" ", 1)[1]
