# SPDX-License-Identifier: ISC
"""`estafetactl queue show` explains a message: per recipient, a timeline
of every attempt (route, MX set, addresses tried, TLS policy and its
source, the reply, the next try and why). A first attempt fails (nothing
listens at the next hop), then, after `queue flush` once it listens, one
recipient is delivered while the other stays deferred; text and --json
agree. An index written before the timeline existed (schema 1) still
opens: estafetactl reads it without history, qmgr upgrades it."""
import json
import os
import smtplib
import sqlite3
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


def show(inst, qid):
    return json.loads(inst.ctl("queue", "show", "--json", qid).stdout)


def rcpt(m, addr):
    return [r for r in m["recipients"] if r["addr"] == addr][0]


def main():
    later_port, down_port = free_port(), free_port()
    relay = Instance(
        "relay", relay_domains="", trusted_networks="127.0.0.0/8",
        deliver_workers=1, queue_retry_min="1h", delay_warning_time="0",
        transports=(f"later.example=smtp:[127.0.0.1]:{later_port}, "
                    f"down.example=smtp:[127.0.0.1]:{down_port}"))
    relay.start()
    qid = send(relay.port, ["a@later.example", "b@down.example"])
    relay.wait_log(f"{qid} qmgr deferred", count=2)

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
    relay.wait_log(f"{qid} qmgr delivered")
    relay.wait_log(f"{qid} qmgr deferred", count=3)
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
    relay.wait_log(f"{qid} qmgr deferred", count=4)
    wait_for(lambda: len(rcpt(show(relay, qid), "b@down.example")
                         ["timeline"]) == 1, "a timeline row after upgrade")
    db = sqlite3.connect(os.path.join(relay.spool, "index.db"))
    v = db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
    db.close()
    assert v[0] == "2", v


run(main)
