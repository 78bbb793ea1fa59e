# SPDX-License-Identifier: ISC
"""A delivery worker killed (SIGKILL) in the middle of a job of several
messages: the messages it had reported are never delivered again, the
rest of its job is delivered by the worker that replaces it.

The next hop is a small SMTP server written here (it records each
message's Subject): it takes the first three messages of the job, and
for the fourth it reads the content and then never answers the final
dot. The test kills the worker while it waits for that reply. Every
message must arrive; only the fourth may arrive twice (it was never
acknowledged: at-least-once), and none of the others does.
"""
import os
import signal
import smtplib
import socket
import socketserver
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from estafeta_test import Instance, run, wait_for  # noqa: E402

N = 10
HANG = "m3"


class Peer(socketserver.StreamRequestHandler):
    """Just enough SMTP (no PIPELINING) for the relay's client."""

    def reply(self, text):
        self.wfile.write(text.encode() + b"\r\n")
        self.wfile.flush()

    def handle(self):
        srv = self.server
        self.reply("220 peer.test ESMTP")
        while True:
            line = self.rfile.readline()
            if not line:
                return
            verb = line[:4].upper()
            if verb in (b"EHLO", b"HELO"):
                self.reply("250 peer.test")
            elif verb in (b"MAIL", b"RCPT", b"RSET", b"NOOP"):
                self.reply("250 2.0.0 ok")
            elif verb == b"QUIT":
                self.reply("221 2.0.0 bye")
                return
            elif verb == b"DATA":
                self.reply("354 go on")
                subject = None
                while True:
                    d = self.rfile.readline()
                    if not d:
                        return
                    if d == b".\r\n":
                        break
                    if d.startswith(b"Subject: "):
                        subject = d[9:].strip().decode()
                with srv.lock:
                    srv.got.append(subject)
                    hang = subject == HANG and not srv.hung
                    srv.hung = srv.hung or hang
                if hang:
                    # No reply, ever: wait for the client to go away.
                    while self.rfile.read(4096):
                        pass
                    return
                self.reply("250 2.0.0 queued")
            else:
                self.reply("502 5.5.2 what")


def send(port, subject):
    with smtplib.SMTP("127.0.0.1", port) as c:
        c.ehlo("client.test")
        c.mail("alice@example.org")
        code, text = c.rcpt("bob@peer.test")
        assert code == 250, (code, text)
        code, text = c.data(f"Subject: {subject}\r\n\r\nBody.\r\n".encode())
        assert code == 250, (code, text)
        return text.decode().rsplit(" ", 1)[1]


def main():
    socketserver.ThreadingTCPServer.allow_reuse_address = True
    srv = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Peer)
    srv.daemon_threads = True
    srv.got, srv.hung, srv.lock = [], False, threading.Lock()
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    port = srv.server_address[1]

    relay = Instance("relay", relay_domains="", trusted_networks="127.0.0.0/8",
                     transports=f"peer.test=smtp:[127.0.0.1]:{port}",
                     queue_retry_min="1h", delay_warning_time="0",
                     smtp_reply_timeout="1h")
    relay.start()
    ids = [send(relay.port, f"m{i}") for i in range(N)]
    relay.stop()
    relay.settings.update(deliver_workers="1", log_level="debug")
    relay.write_config()
    relay.start()
    wait_for(lambda: srv.hung, "the peer to hold the fourth message")
    log = relay.read_log()
    assert f"job_msg={N}/{N}" in log, "not one job"
    for qid in ids[:3]:
        relay.wait_log(f"{qid} qmgr removed")
    # The worker: the one that delivered the first message.
    line = next(x for x in log.splitlines()
                if f"{ids[0]} deliver to=" in x)
    pid = int(line.split("deliver[", 1)[1].split("]", 1)[0])
    os.kill(pid, signal.SIGKILL)
    relay.wait_log(f"{ids[3]} qmgr delivery worker lost during a job: "
                   f"{N - 3} messages of it will be retried")
    for qid in ids:
        relay.wait_log(f"{qid} qmgr removed")
    with srv.lock:
        got = sorted(srv.got, key=lambda s: int(s[1:]))
    want = sorted([f"m{i}" for i in range(N)] + [HANG],
                  key=lambda s: int(s[1:]))
    assert got == want, got
    assert relay.queue() == []
    relay.stop()
    srv.shutdown()


if __name__ == "__main__":
    run(main)
