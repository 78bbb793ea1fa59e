# SPDX-License-Identifier: ISC
"""`estafetactl queue show` explains a message: per recipient, a timeline
of every attempt (route, MX set, addresses tried, TLS policy and its
source, the reply, the next try and why). A first attempt fails (nothing
listens at the next hop), then, after `queue flush` once it listens, one
recipient is delivered while the other stays deferred; text and --json
agree. An index written before the timeline existed (schema 1) still
opens: estafetactl reads it without history, qmgr upgrades it.

Mixed per-recipient results in one transaction: a peer (a second
estafetad, backup MX for mixed.example verifying recipients at a primary
that is Postfix's smtp-sink) answers RCPT with 250, 450 and 550 in one
transaction; the relay delivers the first, retries the second and sends
the sender a DSN for the third only.

Possibly delivered: a peer (smtp-sink -q .) that drops the connection
after the final dot without a reply leaves the recipient deferred as
"possibly delivered", and the timeline says the retry policy decided;
with possibly_delivered = delivered, a second relay counts the same
outcome as delivered, removes the message and says why in its log."""
import email
import email.policy
import json
import os
import smtplib
import socket
import sqlite3
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from estafeta_test import (Instance, TestFailure, free_port, run,  # noqa: E402
                           wait_for)


def send(port, rcpts):
    with smtplib.SMTP("127.0.0.1", port) as c:
        c.ehlo("client.test")
        c.mail("alice@example.org")
        for r in rcpts:
            code, _ = c.rcpt(r)
            assert code == 250, (r, code)
        code, text = c.data(b"Subject: timeline\r\n\r\nBody.\r\n")
        assert code == 250, (code, text)
        return text.decode().rsplit(" ", 1)[1]


SINK = "/usr/sbin/smtp-sink"


def listening(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def sink(port, *flags):
    """Postfix's smtp-sink as the primary MX the peer verifies at."""
    user = ["-u", "nobody"] if os.geteuid() == 0 else []
    p = subprocess.Popen([SINK] + user + list(flags) +
                         [f"127.0.0.1:{port}", "16"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(lambda: listening(port), "smtp-sink to listen")
    return p


def rcpt_reply(port, addr):
    with smtplib.SMTP("127.0.0.1", port) as c:
        c.ehlo("client.test")
        c.mail("probe@example.org")
        return c.rcpt(addr)[0]


def mixed(relay, peer, home, pport):
    """250, 450 and 550 from one peer in one transaction."""
    # Seed the peer's verification cache: ok@ valid, bad@ invalid, then
    # the primary goes away, so tmp@ cannot be verified (450).
    p = sink(pport)
    assert rcpt_reply(peer.port, "ok@mixed.example") == 250
    p.terminate()
    p.wait()
    p = sink(pport, "-f", "RCPT")
    assert rcpt_reply(peer.port, "bad@mixed.example") == 550
    p.terminate()
    p.wait()
    assert rcpt_reply(peer.port, "tmp@mixed.example") == 450

    rcpts = ["ok@mixed.example", "tmp@mixed.example", "bad@mixed.example"]
    qid = send(relay.port, rcpts)
    rows(relay, qid, [1, 1, 1])
    m = show(relay, qid)
    st = {r["addr"]: r for r in m["recipients"]}
    assert st["ok@mixed.example"]["state"] == "delivered", st
    assert st["tmp@mixed.example"]["state"] == "deferred", st
    assert st["bad@mixed.example"]["state"] == "bounced", st
    replies = {a: st[a]["timeline"][0]["reply"][:3] for a in rcpts}
    assert replies == {"ok@mixed.example": "250", "tmp@mixed.example": "450",
                       "bad@mixed.example": "550"}, replies
    tried = {st[a]["timeline"][0]["tried"] for a in rcpts}
    assert tried == {f"127.0.0.1:{peer.port}: connected"}, tried
    # One message at the peer, for ok@ only.
    got = wait_for(lambda: [q for q in peer.queue()
                            if q["sender"] == "alice@example.org"],
                   "the message at the peer")
    assert [[r["addr"] for r in q["recipients"]] for q in got] == [
        ["ok@mixed.example"]], got
    # The DSN (at the sender's MX, "home") names bad@ alone.
    dsn = wait_for(lambda: [home.spooled_content(i) for i in home.queue_ids()
                            if b"multipart/report" in
                            home.spooled_content(i)], "the DSN at home")
    assert len(dsn) == 1, dsn
    msg = email.message_from_bytes(dsn[0], policy=email.policy.default)
    status = list(msg.iter_parts())[1].as_string()
    assert "Final-Recipient: rfc822; bad@mixed.example" in status, status
    assert "Status: 5.1.1" in status and "Action: failed" in status, status
    # Remote-MTA names the host that answered (RFC 3464 2.3.5), not
    # the route.
    assert "Remote-MTA: dns; 127.0.0.1\n" in status, status
    assert "tmp@mixed.example" not in status, status
    assert "ok@mixed.example" not in status, status
    # tmp@ is retried (flush): a second attempt, still 450.
    relay.ctl("queue", "flush", qid)
    wait_for(lambda: rcpt(show(relay, qid), "tmp@mixed.example")
             ["attempts"] == 2, "the second attempt of tmp@")
    t = rcpt(show(relay, qid), "tmp@mixed.example")["timeline"]
    assert [x["reply"][:3] for x in t] == ["450", "450"], t
    assert len(home.queue_ids()) == 1     # still one DSN


def unsure(relay, sport):
    p = sink(sport, "-q", ".")
    try:
        qid = send(relay.port, ["u@unsure.example"])
        rows(relay, qid, [1])
        r = show(relay, qid)["recipients"][0]
        assert r["state"] == "deferred", r
        assert r["last_reply"].startswith("possibly delivered"), r
        t = r["timeline"][0]
        assert t["why"].startswith("possibly delivered, policy retry: "
                                   "backoff step 1"), t
        assert t["tried"] == f"127.0.0.1:{sport}: connected", t
        text = relay.ctl("queue", "show", qid).stdout
        assert "reply:  possibly delivered (connection lost after the " \
            "final dot)" in text, text
        once = Instance("once", relay_domains="",
                        trusted_networks="127.0.0.0/8", deliver_workers=1,
                        possibly_delivered="delivered",
                        transports=f"unsure.example=smtp:[127.0.0.1]:{sport}")
        once.start()
        try:
            qid = send(once.port, ["u@unsure.example"])
            once.wait_log(f"{qid} qmgr delivered rcpt_idx=0 attempts=1")
            log = once.read_log()
            assert "not retried (possibly_delivered = delivered)" in log, log
            wait_for(lambda: qid not in once.queue_ids(),
                     f"{qid} removed from the queue")
        finally:
            once.stop()
    finally:
        p.terminate()
        p.wait()


def show(inst, qid):
    return json.loads(inst.ctl("queue", "show", "--json", qid).stdout)


def rows(inst, qid, want):
    """Waits until the recipients' timelines have want rows each (qmgr
    indexes new mail in batches and logs a result before the index
    transaction holding it commits)."""
    def have():
        r = inst.ctl("queue", "show", "--json", qid, check=False)
        if r.returncode != 0:
            return None
        return [len(x["timeline"]) for x in json.loads(r.stdout)
                ["recipients"]] == want
    return wait_for(have, f"timelines of {qid} with {want} rows")


def rcpt(m, addr):
    return [r for r in m["recipients"] if r["addr"] == addr][0]


def main():
    later_port, down_port, pport = free_port(), free_port(), free_port()
    uport = free_port()
    home = Instance("home", relay_domains="example.org").start()
    peer = Instance("peer", relay_domains="mixed.example",
                    relay_verify_primary=f"127.0.0.1:{pport}").start()
    relay = Instance(
        "relay", relay_domains="", trusted_networks="127.0.0.0/8",
        deliver_workers=1, queue_retry_min="1h", delay_warning_time="0",
        transports=(f"later.example=smtp:[127.0.0.1]:{later_port}, "
                    f"down.example=smtp:[127.0.0.1]:{down_port}, "
                    f"mixed.example=smtp:[127.0.0.1]:{peer.port}, "
                    f"example.org=smtp:[127.0.0.1]:{home.port}, "
                    f"unsure.example=smtp:[127.0.0.1]:{uport}"))
    relay.start()
    mixed(relay, peer, home, pport)
    unsure(relay, uport)
    qid = send(relay.port, ["a@later.example", "b@down.example"])
    rows(relay, qid, [1, 1])

    # After the first attempt: one row each, deferred, with the facts.
    m = show(relay, qid)
    a = rcpt(m, "a@later.example")
    assert a["state"] == "deferred" and a["attempts"] == 1, a
    assert a["status"].startswith("next try "), a
    t = a["timeline"]
    assert len(t) == 1, t
    assert t[0]["kind"] == "attempt" and t[0]["attempt"] == 1, t
    assert t[0]["state"] == "deferred", t
    assert t[0]["route"] == (f"transports: smtp:[127.0.0.1]:{later_port}"), t
    assert t[0]["mx"] == "none ([host]: no MX lookup)", t
    assert t[0]["tried"].startswith(f"127.0.0.1:{later_port}: "), t
    assert "connect" in t[0]["tried"], t
    assert t[0]["tls"].startswith("may (smtp_tls)"), t
    assert "backoff step 1: 3600s" in t[0]["why"], t
    assert t[0]["next_try"] == a["next_try"], (t, a)
    text = relay.ctl("queue", "show", qid).stdout
    for want in ("timeline:", "#1 ", "attempt 1 -> deferred",
                 f"route:  transports: smtp:[127.0.0.1]:{later_port}",
                 f"tried:  127.0.0.1:{later_port}: 4.4.1 connect:",
                 "tls:    may (smtp_tls)", "backoff step 1"):
        if want not in text:
            raise TestFailure(f"queue show lacks {want!r}:\n{text}")

    # The next hop comes up; flush: a is delivered, b deferred again.
    later = Instance("later", relay_domains="later.example")
    later.port = later_port
    later.settings["listen_mx"] = f"127.0.0.1:{later_port}"
    later.write_config()
    later.start()
    relay.ctl("queue", "flush")
    rows(relay, qid, [2, 2])
    m = show(relay, qid)
    t = rcpt(m, "a@later.example")["timeline"]
    assert [x["state"] for x in t] == ["deferred", "delivered"], t
    assert t[1]["tried"] == f"127.0.0.1:{later_port}: connected", t
    assert "clear text (STARTTLS not offered)" in t[1]["tls"], t
    assert t[1]["reply"].startswith("250 "), t
    assert t[1]["next_try"] == "" and "no more tries" in t[1]["why"], t
    b = rcpt(m, "b@down.example")
    assert [x["attempt"] for x in b["timeline"]] == [1, 2], b
    assert "backoff step 2: 3600s" in b["timeline"][1]["why"], b
    text = relay.ctl("queue", "show", qid).stdout
    assert "attempt 2 -> delivered" in text, text

    # Held: the status says so.
    relay.ctl("queue", "hold", qid)
    st = rcpt(show(relay, qid), "b@down.example")["status"]
    assert st.startswith("on hold"), st
    relay.ctl("queue", "release", qid)

    # An index of schema 1 (no timeline tables) opens: read-only without
    # history, then qmgr upgrades it on start.
    relay.stop()
    db = sqlite3.connect(os.path.join(relay.spool, "index.db"))
    db.execute("DROP TABLE attempt")
    db.execute("DROP TABLE dest")
    db.execute("UPDATE meta SET value = '1' WHERE key = 'schema'")
    db.commit()
    db.close()
    m = show(relay, qid)
    assert rcpt(m, "b@down.example")["timeline"] == [], m
    assert "(no attempt yet)" in relay.ctl("queue", "show", qid).stdout
    relay.start()
    relay.ctl("queue", "flush")
    rows(relay, qid, [0, 1])
    db = sqlite3.connect(os.path.join(relay.spool, "index.db"))
    v = db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
    db.close()
    assert v[0] == "2", v


run(main)
