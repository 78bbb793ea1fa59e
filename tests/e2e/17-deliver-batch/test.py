# SPDX-License-Identifier: ISC
"""Several messages per delivery job (deliver_job_messages).

Ten messages wait in the queue of a relay that delivers nothing; it is
restarted with one delivery worker: qmgr gives that worker one job of
all ten (they share the next hop), and the worker delivers them one
after the other over one connection to a second estafetad, with a result
per message: the sixth one's recipient is refused there (554), so it
bounces (a DSN to the sender) while the others are delivered.

Then a next hop where nothing listens, with deliver_job_messages = 3 and
four messages: the first message of the first job finds no address
answering, the two others of that job are deferred without an attempt
("not attempted", in their `queue show` timelines), and the fourth
message, in a job of its own, gets its own attempt.

Then a job for two domains at one next hop where the second domain's
TLS policy is encrypt: its message is not sent over the first one's
clear-text connection. A bare RCPT TO:<postmaster> (no domain) goes
through the relayhost. Last, a peer (a small server written here) that
answers the first MAIL of a job with "421 4.7.0 Too many connections":
the rest of the job is deferred without another connection.
"""
import json
import os
import smtplib
import socketserver
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from estafeta_test import Instance, free_port, run, wait_for  # noqa: E402


def send(port, rcpt, subject):
    with smtplib.SMTP("127.0.0.1", port) as c:
        c.ehlo("client.test")
        c.mail("alice@example.org")
        code, text = c.rcpt(rcpt)
        assert code == 250, (rcpt, code, text)
        code, text = c.data(f"Subject: {subject}\r\n\r\nBody.\r\n".encode())
        assert code == 250, (code, text)
        return text.decode().rsplit(" ", 1)[1]


def show(inst, qid):
    r = json.loads(inst.ctl("queue", "show", "--json", qid).stdout)
    return r["recipients"][0]


def batch():
    remote = Instance("remote", relay_domains="example.org").start()
    hop = f"smtp:[127.0.0.1]:{remote.port}"
    relay = Instance("relay", relay_domains="", trusted_networks="127.0.0.0/8",
                     transports=f"example.org={hop}, nowhere.test={hop}",
                     queue_retry_min="1h", delay_warning_time="0")
    relay.start()
    rcpts = [f"u{i}@example.org" for i in range(10)]
    rcpts[5] = "x@nowhere.test"     # the remote relays nothing there
    ids = [send(relay.port, r, f"m{i}") for i, r in enumerate(rcpts)]
    relay.stop()
    before = remote.read_log().count(" smtp connect ")
    relay.settings.update(deliver_workers="1", log_level="debug")
    relay.write_config()
    relay.start()
    for qid in ids:
        relay.wait_log(f"{qid} qmgr removed")
    log = relay.read_log()
    assert "job_msg=10/10" in log, "not one job of ten"
    for i, qid in enumerate(ids):
        assert f"{qid} qmgr dispatch to=" in log, qid
        if i == 5:
            assert f"{qid} qmgr bounced rcpt_idx=0" in log, qid
        else:
            assert f"{qid} qmgr delivered rcpt_idx=0" in log, qid
    # In the job's order, one result each.
    done = [line.split()[2] for line in log.splitlines()
            if " qmgr delivered " in line or " qmgr bounced " in line]
    assert done[:10] == ids, (done, ids)
    # Nine messages and the DSN for the sixth, over one connection.
    got = wait_for(lambda: (lambda q: q if len(q) == 10 else None)(
        remote.queue()), "ten messages at the remote")
    senders = sorted(q["sender"] for q in got)
    assert senders == [""] + ["alice@example.org"] * 9, senders
    conns = remote.read_log().count(" smtp connect ") - before
    assert conns == 1, f"{conns} connections"
    relay.stop()
    remote.stop()


def dead_hop():
    dead = free_port()      # nothing listens there
    relay = Instance("dead", relay_domains="", trusted_networks="127.0.0.0/8",
                     transports=f"dead.example=smtp:[127.0.0.1]:{dead}",
                     queue_retry_min="1h", delay_warning_time="0",
                     deliver_throttle="no")
    relay.start()
    ids = [send(relay.port, "u@dead.example", f"d{i}") for i in range(4)]
    relay.stop()
    relay.settings.update(deliver_workers="1", deliver_job_messages="3",
                          log_level="debug")
    relay.write_config()
    relay.start()
    for qid in ids:
        relay.wait_log(f"{qid} qmgr deferred rcpt_idx=0")
    log = relay.read_log()
    assert f"{ids[2]} qmgr dispatch" in log and "job_msg=3/3" in log, log
    assert f"job_msg=4/" not in log, "a job of more than 3"
    for i, qid in enumerate(ids):
        r = show(relay, qid)
        assert r["state"] == "deferred" and r["attempts"] == 1, r
        t = r["timeline"][-1]
        if i in (1, 2):
            assert t["reply"].startswith("4.4.2 not attempted: the next hop "
                                         f"did not answer for {ids[0]}"), t
            assert t["tried"].startswith("none"), t
        else:
            assert "refused" in t["reply"], t
            assert t["tried"].startswith(f"127.0.0.1:{dead}: "), t
    relay.stop()


def tls_policy():
    """Two domains, one next hop, one job: the second domain requires
    TLS, which the hop does not offer; its message must not go over the
    clear-text connection the first one opened."""
    remote = Instance("remote2", relay_domains="a.example, b.example")
    remote.start()
    hop = f"smtp:[127.0.0.1]:{remote.port}"
    relay = Instance("tls", relay_domains="", trusted_networks="127.0.0.0/8",
                     transports=f"a.example={hop}, b.example={hop}",
                     smtp_tls_policies="b.example=encrypt",
                     queue_retry_min="1h", delay_warning_time="0")
    relay.start()
    a = send(relay.port, "u@a.example", "a")
    b = send(relay.port, "u@b.example", "b")
    relay.stop()
    relay.settings.update(deliver_workers="1", log_level="debug")
    relay.write_config()
    relay.start()
    relay.wait_log(f"{a} qmgr delivered rcpt_idx=0")
    relay.wait_log(f"{b} qmgr deferred rcpt_idx=0")
    assert "job_msg=2/2" in relay.read_log(), "not one job"
    r = show(relay, b)
    assert "TLS" in r["last_reply"], r
    assert r["timeline"][-1]["tried"] != "reused", r
    got = wait_for(lambda: [q["recipients"][0]["addr"]
                            for q in remote.queue()], "a at the remote")
    assert got == ["u@a.example"], got
    relay.stop()
    remote.stop()


def bare_postmaster():
    """RCPT TO:<postmaster> has no domain (RFC 5321 4.5.1): its job block
    has an empty domain line, which the worker used to refuse as a
    malformed job, exiting, again and again."""
    remote = Instance("remote3", relay_domains="example.org").start()
    relay = Instance("pm", relay_domains="", trusted_networks="127.0.0.0/8",
                     relayhost=f"[127.0.0.1]:{remote.port}",
                     relayhost_tls="none", deliver_workers="1",
                     queue_retry_min="1h", delay_warning_time="0")
    relay.start()
    qid = send(relay.port, "postmaster", "pm")
    relay.wait_log(f"{qid} qmgr delivered rcpt_idx=0")
    assert "malformed job" not in relay.read_log()
    got = wait_for(lambda: [q["recipients"][0]["addr"]
                            for q in remote.queue()], "it at the remote")
    assert [a.lower() for a in got] == ["postmaster"], got
    relay.stop()
    remote.stop()


class Busy(socketserver.StreamRequestHandler):
    """A peer that greets, then answers MAIL with a 421 saying it is
    overloaded (a throttling signal) and hangs up."""

    def handle(self):
        self.wfile.write(b"220 busy.test ESMTP\r\n")
        while True:
            line = self.rfile.readline()
            if not line:
                return
            if line[:4].upper() in (b"EHLO", b"HELO"):
                self.wfile.write(b"250 busy.test\r\n")
            elif line[:4].upper() == b"MAIL":
                self.server.mails += 1
                self.wfile.write(b"421 4.7.0 Too many connections, "
                                 b"try later\r\n")
                return
            else:
                self.wfile.write(b"250 ok\r\n")


def slow_down():
    """A throttling reply to the first message of a job: the others of
    the job are deferred unattempted, and the peer saw one MAIL."""
    srv = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Busy)
    srv.daemon_threads = True
    srv.mails = 0
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    hop = f"smtp:[127.0.0.1]:{srv.server_address[1]}"
    relay = Instance("busy", relay_domains="", trusted_networks="127.0.0.0/8",
                     transports=f"busy.example={hop}", queue_retry_min="1h",
                     delay_warning_time="0")
    relay.start()
    ids = [send(relay.port, "u@busy.example", f"b{i}") for i in range(3)]
    relay.stop()
    relay.settings.update(deliver_workers="1", log_level="debug")
    relay.write_config()
    relay.start()
    for qid in ids:
        relay.wait_log(f"{qid} qmgr deferred rcpt_idx=0")
    assert "job_msg=3/3" in relay.read_log(), "not one job"
    first = show(relay, ids[0])["timeline"][-1]
    assert first["reply"].startswith("421 4.7.0 Too many connections"), first
    for qid in ids[1:]:
        t = show(relay, qid)["timeline"][-1]
        assert t["reply"].startswith("4.4.2 not attempted: the next hop "
                                     f"asked to slow down for {ids[0]}"), t
    assert srv.mails == 1, srv.mails
    relay.stop()
    srv.shutdown()


def main():
    batch()
    dead_hop()
    tls_policy()
    bare_postmaster()
    slow_down()


if __name__ == "__main__":
    run(main)
