# SPDX-License-Identifier: ISC
"""A queue file that cannot be read when its queue_lifetime is over:
the failure notice is built from what the index knows, the file goes to
corrupt/, the message leaves the queue (before, the notice could never
be built and the recipients were deferred with "bounce notice not
queued, retrying" for ever, the sender never told).

Three messages are queued with delivery off, then damaged while
estafetad is stopped:
  A  content damaged (the end record's total): the envelope still reads,
     so the notice keeps ENVID, ORCPT and NOTIFY (NOTIFY=NEVER leaves a
     recipient out); two routes, so two jobs, one notice for both;
  B  envelope damaged (the magic): the notice has what the index knows
     only (no ENVID, no ORCPT);
  C  null sender: no notice, the file still goes to corrupt/.
Each notice is multipart/report with the text part and the delivery
status only (RET=FULL and RET=HDRS return nothing: there is nothing to
return), and says in words that the original could not be read.
Short durations drive time instead of sleeps.
"""
import datetime
import email
import email.policy
import os
import smtplib
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from estafeta_test import Instance, free_port, run, wait_for  # noqa: E402


def stamp(text):
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ"
                                      ).timestamp()


def send(port, sender, rcpts, mail_opts, subject):
    with smtplib.SMTP("127.0.0.1", port) as c:
        c.ehlo("client.test")
        code, text = c.mail(sender, mail_opts)
        assert code == 250, (code, text)
        for addr, opts in rcpts:
            code, text = c.rcpt(addr, opts)
            assert code == 250, (addr, code, text)
        code, text = c.data(f"Subject: {subject}\r\n\r\nbody\r\n".encode())
        assert code == 250, (code, text)
        return text.decode().rsplit(" ", 1)[1]


def notices(remote):
    out = {}
    for i in remote.queue_ids():
        msg = email.message_from_bytes(remote.spooled_content(i),
                                       policy=email.policy.compat32)
        out[msg["To"]] = msg
    return out


def blocks(report):
    """The delivery-status part: per-message fields, per-recipient
    blocks, each a dict."""
    assert report.get_content_type() == "message/delivery-status", \
        report.get_content_type()
    groups = report.get_payload()
    return ({k: v for k, v in groups[0].items()},
            [{k: v for k, v in g.items()} for g in groups[1:]])


def check_notice(msg, to, qid):
    assert msg["To"] == to, msg["To"]
    assert msg["Subject"] == "Undelivered Mail Returned to Sender"
    assert msg["From"].startswith("Mail Delivery System <MAILER-DAEMON@")
    assert msg["Auto-Submitted"] == "auto-replied"
    assert msg.get_content_type() == "multipart/report"
    assert msg.get_param("report-type") == "delivery-status"
    parts = msg.get_payload()
    # Nothing returned: no message/rfc822, no text/rfc822-headers.
    assert [p.get_content_type() for p in parts] == \
        ["text/plain", "message/delivery-status"], \
        [p.get_content_type() for p in parts]
    text = " ".join(parts[0].get_payload().split())
    assert "could not be read from the mail queue here: its queue file " \
        "was damaged, so it cannot be returned with this report" in text, \
        text
    assert f"Queue ID {qid}" in text, text
    assert "attached" not in text, text
    per_msg, rcpts = blocks(parts[1])
    assert per_msg["X-Estafeta-Queue-ID"] == qid, per_msg
    assert per_msg["Reporting-MTA"] == "dns; relay.example.test", per_msg
    assert "Arrival-Date" in per_msg, per_msg
    for r in rcpts:
        assert r["Action"] == "failed", r
        assert r["Status"] == "4.4.7", r
        assert "Last-Attempt-Date" in r, r
    return text, per_msg, {r["Final-Recipient"]: r for r in rcpts}


def main():
    remote = Instance("dmremote", relay_domains="example.org").start()
    relay = Instance(
        "dmrelay", hostname="relay.example.test", relay_domains="",
        trusted_networks="127.0.0.0/8", deliver_workers=0,
        queue_retry_min="1s", queue_retry_max="1s",
        delay_warning_time="0", queue_lifetime="3s",
        smtp_connect_timeout="1s",
        transports=(f"example.org=smtp:[127.0.0.1]:{remote.port}, "
                    f"far.example=smtp:[127.0.0.1]:{free_port()}, "
                    f"other.example=smtp:[127.0.0.1]:{free_port()}"))
    relay.start()
    a = send(relay.port, "alice@example.org",
             [("x@far.example",
               ["NOTIFY=FAILURE", "ORCPT=rfc822;orig-x@far.example"]),
              ("y@other.example", []),
              ("quiet@far.example", ["NOTIFY=NEVER"])],
             ["RET=FULL", "ENVID=env-a"], "damaged content")
    b = send(relay.port, "bob@example.org",
             [("z@far.example", ["ORCPT=rfc822;orig-z@far.example"])],
             ["RET=HDRS", "ENVID=env-b"], "damaged envelope")
    c = send(relay.port, "", [("w@far.example", [])], [], "null sender")
    relay.stop()

    for qid in (a, c):      # the end record's total, 1 GiB
        with open(relay.spool_file(qid), "r+b") as f:
            data = f.read()
            assert data[-13:-8] == b"Z\0\0\0\x08", data[-13:]
            f.seek(len(data) - 8)
            f.write((1 << 30).to_bytes(8, "big"))
    with open(relay.spool_file(b), "r+b") as f:
        assert f.read(9) == b"ESTAFETA-"
        f.seek(0)
        f.write(b"XXXXXXXX-")

    relay.settings.update(deliver_workers="1")
    relay.write_config()
    relay.start()
    done = "qmgr queue file damaged, queue_lifetime reached"
    for qid in (a, b, c):
        relay.wait_log(f"{qid} {done}", timeout=30)
    log = relay.read_log()
    assert f'{a} {done}: failed notice sent, file moved to corrupt/ ' \
        f'error="content length mismatch"' in log, log
    assert f'{b} {done}: failed notice sent, file moved to corrupt/ ' \
        f'error="bad magic or version"' in log, log
    assert f'{c} {done}: failed notice none (null sender), file moved ' \
        f'to corrupt/ error="content length mismatch"' in log, log
    assert "bounce notice not queued" not in log, log
    # Retried once a second (queue_retry_min), never in bursts (e2e 28).
    for qid in (a, b, c):
        tries = [line.split(" ", 1)[0] for line in log.splitlines()
                 if f" {qid} qmgr deferred rcpt_idx=0 " in line]
        if tries:
            span = stamp(tries[-1]) - stamp(tries[0])
            assert len(tries) <= span + 2, (qid, len(tries), span)
    for qid in (a, b, c):
        assert os.path.exists(os.path.join(relay.spool, "corrupt", qid))
        assert not os.path.exists(relay.spool_file(qid))
        relay.wait_log(f"{qid} qmgr removed")
    wait_for(lambda: relay.queue_ids() == set(), "an empty queue",
             timeout=30)

    got = wait_for(lambda: (lambda n: n if len(n) == 2 else None)(
        notices(remote)), "two notices at the sender's host", timeout=30)
    assert set(got) == {"<alice@example.org>", "<bob@example.org>"}, got

    # A: the envelope was readable and agreed with the index.
    _, per_msg, rcpts = check_notice(got["<alice@example.org>"],
                                     "<alice@example.org>", a)
    assert per_msg["Original-Envelope-Id"] == "env-a", per_msg
    assert set(rcpts) == {"rfc822; x@far.example",
                          "rfc822; y@other.example"}, rcpts
    x = rcpts["rfc822; x@far.example"]
    assert x["Original-Recipient"] == "rfc822;orig-x@far.example", x
    assert x["Diagnostic-Code"] == \
        "smtp; 4.3.0 queue file damaged: content length mismatch", x
    y = rcpts["rfc822; y@other.example"]
    assert "Original-Recipient" not in y, y
    assert "queue file damaged" in y["Diagnostic-Code"], y

    # B: the index alone.
    _, per_msg, rcpts = check_notice(got["<bob@example.org>"],
                                     "<bob@example.org>", b)
    assert "Original-Envelope-Id" not in per_msg, per_msg
    assert list(rcpts) == ["rfc822; z@far.example"], rcpts
    z = rcpts["rfc822; z@far.example"]
    assert "Original-Recipient" not in z, z
    assert z["Diagnostic-Code"].startswith(
        "smtp; 4.3.0 queue file damaged:"), z
    relay.stop()
    remote.stop()


run(main)
