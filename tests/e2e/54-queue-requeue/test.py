# SPDX-License-Identifier: ISC
"""`estafetactl queue requeue` after a configuration change: a message
waits (1 h backoff) for a next hop that is down; the transport is changed
to a live host and estafetad reloaded (SIGHUP); `requeue --dry-run` lists
the message without touching it; `requeue --domain` makes it due now,
notes the new route in the timeline and in the audit log, and the mail
arrives at the new next hop."""
import json
import os
import signal
import smtplib
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
        code, text = c.data(b"Subject: requeue\r\n\r\nBody.\r\n")
        assert code == 250, (code, text)
        return text.decode().rsplit(" ", 1)[1]


def show(inst, qid):
    r = inst.ctl("queue", "show", "--json", qid, check=False)
    if r.returncode != 0:   # not indexed yet (qmgr indexes in batches)
        return {"recipients": [{"attempts": 0, "timeline": [],
                                "addr": "", "state": ""}]}
    return json.loads(r.stdout)


def rcpt(m, addr):
    return [r for r in m["recipients"] if r["addr"] == addr][0]


def main():
    new = Instance("new", relay_domains="moved.example").start()
    old_port, down_port = free_port(), free_port()
    relay = Instance(
        "relay", relay_domains="", trusted_networks="127.0.0.0/8",
        deliver_workers=1, queue_retry_min="1h", delay_warning_time="0",
        transports=(f"moved.example=smtp:[127.0.0.1]:{old_port}, "
                    f"down.example=smtp:[127.0.0.1]:{down_port}"))
    relay.start()
    qid = send(relay.port, ["a@moved.example", "b@down.example"])
    other = send(relay.port, ["c@down.example"])
    # (qmgr logs a result before the transaction holding it commits:
    # wait for the index, not the log)
    wait_for(lambda: [r["attempts"] for r in show(relay, qid)["recipients"]]
             == [1, 1], "the first attempts")
    wait_for(lambda: show(relay, other)["recipients"][0]["attempts"] == 1,
             "the first attempt of the other message")
    before = rcpt(show(relay, qid), "a@moved.example")
    assert before["state"] == "deferred", before

    # Route moved.example to the live host; reload.
    relay.settings["transports"] = (
        f"moved.example=smtp:[127.0.0.1]:{new.port}, "
        f"down.example=smtp:[127.0.0.1]:{down_port}")
    relay.write_config()
    relay.signal(signal.SIGHUP)
    relay.wait_log("master reloaded generation=")
    relay.wait_log("qmgr ready", count=2)   # the new qmgr answers

    # Dry run: lists it, changes nothing, writes no audit line.
    out = relay.ctl("queue", "requeue", "--dry-run", "--domain",
                    "moved.example").stdout
    assert out.startswith("ok: dry run: would requeue 1 message"), out
    assert qid in out and other not in out, out
    now = rcpt(show(relay, qid), "a@moved.example")
    assert now["next_try"] == before["next_try"], (now, before)
    assert len(now["timeline"]) == 1, now
    audit = os.path.join(relay.spool, "audit.log")
    assert not os.path.exists(audit) or "requeue" not in open(audit).read()

    # The real thing: due now, delivered to the new next hop.
    out = relay.ctl("queue", "requeue", "--domain", "moved.example").stdout
    assert out.startswith("ok: requeue: 1 message"), out
    wait_for(lambda: rcpt(show(relay, qid), "a@moved.example")["state"] ==
             "delivered" and len(rcpt(show(relay, qid), "b@down.example")
                                 ["timeline"]) == 3, "the new attempts")
    wait_for(lambda: [m for m in new.queue()
                      if m["recipients"][0]["addr"] == "a@moved.example"],
             "the message at the new next hop")
    t = rcpt(show(relay, qid), "a@moved.example")["timeline"]
    assert [x["kind"] for x in t] == ["attempt", "requeue", "attempt"], t
    assert t[0]["route"] == f"transports: smtp:[127.0.0.1]:{old_port}", t
    assert t[1]["route"] == f"transports: smtp:[127.0.0.1]:{new.port}", t
    assert "requeued by the administrator" in t[1]["why"], t
    text = relay.ctl("queue", "show", qid).stdout
    assert "requeue 1 -> deferred" not in text, text   # no attempt number
    assert "next:   now (requeued by the administrator" in text, text
    assert t[2]["state"] == "delivered", t
    assert t[2]["route"] == f"transports: smtp:[127.0.0.1]:{new.port}", t
    # The other recipient of that message was made due too (and failed
    # again); the message not selected was left alone.
    b = rcpt(show(relay, qid), "b@down.example")["timeline"]
    assert [x["kind"] for x in b] == ["attempt", "requeue", "attempt"], b
    c = show(relay, other)["recipients"][0]
    assert c["attempts"] == 1 and len(c["timeline"]) == 1, c
    lines = [ln for ln in open(audit).read().splitlines() if " requeue " in ln]
    if len(lines) != 1 or f"ids={qid}" not in lines[0] or \
            '"domain=moved.example"' not in lines[0]:
        raise TestFailure(f"audit log: {lines!r}")

    # By ID; an unknown ID is an error.
    out = relay.ctl("queue", "requeue", other).stdout
    assert out.startswith("ok: requeue: 1 message"), out
    wait_for(lambda: show(relay, other)["recipients"][0]["attempts"] == 2,
             "the second attempt of the other message")
    r = relay.ctl("queue", "requeue", "0" * 20, check=False)
    # qmgr's refusal goes to standard error, like estafetactl's own.
    assert r.returncode == 1 and "not in the queue" in r.stderr, r
    assert r.stdout == "", r


run(main)
