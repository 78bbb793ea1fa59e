# SPDX-License-Identifier: ISC
"""SIZE (RFC 1870) and message_size_limit: EHLO advertises the configured
limit; MAIL FROM with SIZE= above it gets 552 5.3.4 (at it: 250); a
message whose content exceeds the limit without a SIZE= declaration gets
552 5.3.4 after the final dot and nothing is queued; content of exactly
the limit is accepted. The size counts the content after dot-unstuffing,
CRLFs included, and not our own Received header."""
import os
import smtplib
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from estafeta_test import (  # noqa: E402
    Instance, Raw, TestFailure, run, wait_for)

LIMIT = 20000


def expect(c, want):
    code, text = c.reply()
    if not text.startswith(want):
        raise TestFailure(f"expected {want!r}, got {text!r}")
    return text


def message(size, tag):
    """Exactly size octets of content; half of its lines start with a
    dot (stuffed on the wire, not counted)."""
    head = f"Subject: {tag}\r\n\r\n".encode()
    line = b"0123456789" * 7 + b"\r\n"      # 72 octets
    body = b""
    i = 0
    while len(head) + len(body) + len(line) <= size - 3:
        body += (b"." + line[1:]) if i % 2 else line
        i += 1
    pad = size - len(head) - len(body)
    body += b"x" * (pad - 2) + b"\r\n"
    msg = head + body
    assert len(msg) == size and msg.count(b"\n.") > 50
    return msg


def stuff(msg):
    return msg.replace(b"\r\n.", b"\r\n..")


def raw_data(c, msg, sender, size_param=""):
    c.send(f"MAIL FROM:<{sender}>{size_param}\r\n"
           "RCPT TO:<alice@example.test>\r\nDATA\r\n")
    expect(c, "250 2.1.0")
    expect(c, "250 2.1.5")
    expect(c, "354")
    c.send(stuff(msg) + b".\r\n")
    return c.reply()


def main():
    inst = Instance("size", message_size_limit=LIMIT).start()
    c = Raw(inst.port)
    expect(c, "220")
    c.send("EHLO client.test\r\n")
    ehlo = expect(c, "250-mx.example.test")
    if f"250-SIZE {LIMIT}\n" not in ehlo + "\n":
        raise TestFailure(f"EHLO does not advertise SIZE {LIMIT}: {ehlo!r}")
    c.send(f"MAIL FROM:<bob@remote.test> SIZE={LIMIT + 1}\r\n")
    expect(c, "552 5.3.4")
    c.send("MAIL FROM:<bob@remote.test> SIZE=99999999999999999\r\n")
    expect(c, "552 5.3.4")
    c.send("MAIL FROM:<bob@remote.test> SIZE=12k\r\n")
    expect(c, "501 5.5.4")
    c.send(f"MAIL FROM:<bob@remote.test> SIZE={LIMIT}\r\nRSET\r\n")
    expect(c, "250 2.1.0")
    expect(c, "250 2.0.0")

    # Content over the limit without SIZE=: refused after the dot.
    code, text = raw_data(c, message(LIMIT + 1, "over"), "over@remote.test")
    if not text.startswith("552 5.3.4"):
        raise TestFailure(f"oversize DATA: {text!r}")
    # A lying SIZE= does not help either.
    code, text = raw_data(c, message(LIMIT + 1, "liar"), "liar@remote.test",
                          " SIZE=100")
    if not text.startswith("552 5.3.4"):
        raise TestFailure(f"oversize DATA with SIZE=100: {text!r}")
    # Much larger: still read to the end, session still in step.
    code, text = raw_data(c, message(LIMIT * 20, "huge"), "huge@remote.test")
    if not text.startswith("552 5.3.4"):
        raise TestFailure(f"huge DATA: {text!r}")
    c.send("NOOP\r\n")
    expect(c, "250 2.0.0")
    # Exactly at the limit (stuffing and our Received not counted).
    exact = message(LIMIT, "exact")
    code, text = raw_data(c, exact, "exact@remote.test", f" SIZE={LIMIT}")
    if not text.startswith("250 2.0.0 Ok: queued as "):
        raise TestFailure(f"exact-limit DATA: {text!r}")
    qid = text.rsplit(" ", 1)[1]
    c.send("QUIT\r\n")
    expect(c, "221")
    c.close()
    stored = inst.spooled_content(qid)
    if not stored.endswith(exact) or len(stored) <= LIMIT:
        raise TestFailure("exact-limit message not stored whole")

    # smtplib sends SIZE= by itself.
    with smtplib.SMTP("127.0.0.1", inst.port) as s:
        s.ehlo("smtplib.client.test")
        if s.esmtp_features.get("size") != str(LIMIT):
            raise TestFailure(f"smtplib sees SIZE {s.esmtp_features}")
        try:
            s.sendmail("lib-over@remote.test", ["alice@example.test"],
                       message(LIMIT + 1, "lib over"))
            raise TestFailure("smtplib: oversize message accepted")
        except smtplib.SMTPSenderRefused as e:
            if e.smtp_code != 552 or not e.smtp_error.startswith(b"5.3.4"):
                raise TestFailure(f"smtplib: {e!r}")
        refused = s.sendmail("lib-exact@remote.test", ["alice@example.test"],
                             message(LIMIT, "lib exact"))
        if refused:
            raise TestFailure(f"smtplib exact: {refused}")

    inst.wait_log("from=<lib-exact@remote.test>")
    inst.wait_log("smtp reject rule=message_size_limit", count=3)
    wait_for(lambda: len(inst.queue_ids()) >= 2, "two messages indexed")
    senders = sorted(m["sender"] for m in inst.queue())
    if senders != ["exact@remote.test", "lib-exact@remote.test"]:
        raise TestFailure(f"queue holds {senders}")
    if os.listdir(os.path.join(inst.spool, "incoming")):
        raise TestFailure("files left in incoming/")
    inst.stop()


run(main)
