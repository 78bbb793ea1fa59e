# SPDX-License-Identifier: ISC
"""Delivery end to end, with a second estafetad as the remote server and
explicit [127.0.0.1]:port transports (no DNS): a message is relayed and
removed from the queue; a permanent failure sends an RFC 3464 DSN back to
the sender, which arrives at the remote too; the null sender gets none; a
temporary failure is retried after `estafetactl queue flush` once the
next hop is up."""
import email
import email.policy
import os
import smtplib
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from estafeta_test import (Instance, TestFailure, free_port, run,  # noqa: E402
                           wait_for)


def send(port, sender, rcpts, subject):
    msg = (f"From: {sender or 'MAILER-DAEMON@x'}\r\nTo: {rcpts[0]}\r\n"
           f"Subject: {subject}\r\nMessage-ID: <{subject}@test>\r\n\r\n"
           f"Body of {subject}.\r\n").encode()
    with smtplib.SMTP("127.0.0.1", port) as c:
        c.ehlo("client.test")
        c.mail(sender)
        for r in rcpts:
            code, text = c.rcpt(r)
            assert code == 250, (r, code, text)
        code, text = c.data(msg)
        assert code == 250, (code, text)
        return text.decode().rsplit(" ", 1)[1]


def contents(inst):
    return [inst.spooled_content(i) for i in inst.queue_ids()]


def main():
    remote = Instance("remote", relay_domains="example.org").start()
    later_port = free_port()
    relay = Instance(
        "relay", relay_domains="", trusted_networks="127.0.0.0/8",
        deliver_workers=2, queue_retry_min="1h", delay_warning_time="0",
        transports=(f"example.org=smtp:[127.0.0.1]:{remote.port}, "
                    "dead.example=error:5.1.2 no such domain here, "
                    f"later.example=smtp:[127.0.0.1]:{later_port}"))
    relay.start()

    # 1. Relayed, then gone from the queue; one connection for both
    #    recipients of the same domain.
    qid = send(relay.port, "alice@example.org",
               ["bob@example.org", "carol@example.org"], "hello")
    relay.wait_log(f"{qid} qmgr removed")
    got = wait_for(lambda: [c for c in contents(remote)
                            if b"Subject: hello" in c], "it at the remote")
    assert len(got) == 1, got
    relay.wait_log(f"{qid} qmgr removed")
    assert relay.read_log().count(f"{qid} qmgr delivered") == 2
    m = [q for q in remote.queue() if q["sender"] == "alice@example.org"]
    assert sorted(r["addr"] for r in m[0]["recipients"]) == [
        "bob@example.org", "carol@example.org"], m

    # 2. Permanent failure: DSN to the sender, delivered to the remote.
    qid = send(relay.port, "alice@example.org", ["x@dead.example"], "dead")
    relay.wait_log(f"{qid} qmgr bounced")
    dsn = wait_for(lambda: [c for c in contents(remote)
                            if b"multipart/report" in c], "the DSN")
    msg = email.message_from_bytes(dsn[0],
                                   policy=email.policy.default)
    assert msg.get_content_type() == "multipart/report", msg
    assert msg.get_param("report-type") == "delivery-status"
    parts = list(msg.iter_parts())
    assert parts[1].get_content_type() == "message/delivery-status"
    status = parts[1].as_string()
    for field in ("Final-Recipient: rfc822; x@dead.example",
                  "Action: failed", "Status: 5.1.2",
                  "Reporting-MTA: dns; mx.example.test"):
        if field not in status:
            raise TestFailure(f"DSN lacks {field!r}:\n{status}")
    assert "Subject: dead" in parts[2].as_string(), parts[2]
    dsn_senders = [q["sender"] for q in remote.queue()
                   if q["recipients"][0]["addr"] == "alice@example.org"]
    assert dsn_senders == [""], dsn_senders

    # 3. The null sender never gets a bounce.
    before = len(remote.queue_ids())
    qid = send(relay.port, "", ["y@dead.example"], "nullsender")
    relay.wait_log(f"{qid} qmgr no failed notice: null sender")
    relay.wait_log(f"{qid} qmgr removed")
    assert len(remote.queue_ids()) == before

    # 4. Temporary failure (nothing listens), then flush once it does.
    qid = send(relay.port, "alice@example.org", ["z@later.example"],
               "later")
    relay.wait_log(f"{qid} qmgr deferred")
    q = {m["id"]: m for m in relay.queue()}[qid]
    assert q["recipients"][0]["state"] == "deferred", q
    assert q["recipients"][0]["attempts"] == 1, q
    later = Instance("later", relay_domains="later.example")
    later.port = later_port
    later.settings["listen_mx"] = f"127.0.0.1:{later_port}"
    later.write_config()
    later.start()
    out = relay.ctl("queue", "flush").stdout
    assert out.startswith("ok: 1 recipient"), out
    relay.wait_log(f"{qid} qmgr removed")
    wait_for(lambda: [c for c in contents(later) if b"Subject: later" in c],
             "it at the later host")


run(main)
