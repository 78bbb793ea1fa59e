# SPDX-License-Identifier: ISC
"""Per-message limits. smtpd_recipient_limit: RCPT number limit+1 gets
452 4.5.3 and the message goes out with its `limit` recipients, all of
them in the index; a pipelining client that overshoots by as many
recipients as the error limit is not disconnected (RFC 5321 4.5.3.1.10:
the client sends the rest in a later transaction), but that allowance
is bounded: a flood still meets the error limit. smtpd_text_line_limit
(default 1000, CRLF included): 998+CRLF accepted, 999+CRLF refused with
550 5.6.0 after the dot; a raised limit moves both edges. A raised
smtpd_command_line_limit does the same for command lines. hop_count_limit:
one Received: header field too many is refused as a loop (554 5.4.6)."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from estafeta_test import (  # noqa: E402
    Instance, Raw, TestFailure, run, wait_for)

RCPT_LIMIT = 100


def expect(c, want):
    code, text = c.reply()
    if not text.startswith(want):
        raise TestFailure(f"expected {want!r}, got {text!r}")
    return text


def session(inst):
    c = Raw(inst.port)
    expect(c, "220")
    c.send("EHLO client.test\r\n")
    expect(c, "250-mx.example.test")
    return c


def many_rcpts(inst, n, sender):
    """One pipelined group of n recipients; returns (qid, recipients)."""
    c = session(inst)
    rcpts = [f"user{i:03d}@example.test" for i in range(n)]
    c.send(f"MAIL FROM:<{sender}>\r\n" +
           "".join(f"RCPT TO:<{r}>\r\n" for r in rcpts) + "DATA\r\n")
    expect(c, "250 2.1.0")
    for i in range(n):
        if i < RCPT_LIMIT:
            expect(c, "250 2.1.5")
        else:
            expect(c, "452 4.5.3")
    expect(c, "354")
    c.send("Subject: many\r\n\r\nhi all\r\n.\r\n")
    qid = expect(c, "250 2.0.0 Ok: queued as ").rsplit(" ", 1)[1]
    c.send("QUIT\r\n")
    expect(c, "221")
    c.close()
    return qid, rcpts[:RCPT_LIMIT]


def recipient_limit(inst):
    ids = {}
    for n, sender in ((RCPT_LIMIT + 1, "plus1@remote.test"),
                      (RCPT_LIMIT + 10, "plus10@remote.test")):
        qid, want = many_rcpts(inst, n, sender)
        ids[qid] = want
    wait_for(lambda: set(ids) <= inst.queue_ids(), "messages indexed")
    q = {m["id"]: m for m in inst.queue()}
    for qid, want in ids.items():
        got = sorted(r["addr"] for r in q[qid]["recipients"])
        if got != want:
            raise TestFailure(f"{qid}: {len(got)} recipients indexed, "
                              f"want {len(want)}")
    return set(ids)


def overshoot_bound(inst):
    """The overshoot allowance is bounded (one more limit's worth): past
    it, each 452 counts and the error limit (default 10) ends the
    session."""
    c = session(inst)
    n = 2 * RCPT_LIMIT + 10
    c.send("MAIL FROM:<flood@remote.test>\r\n" +
           "".join(f"RCPT TO:<u{i}@example.test>\r\n" for i in range(n)))
    expect(c, "250 2.1.0")
    for i in range(n):
        expect(c, "250 2.1.5" if i < RCPT_LIMIT else "452 4.5.3")
    expect(c, "421 4.7.0")
    if not c.closed():
        raise TestFailure("flooding client not disconnected")
    c.close()


def data_line(inst, line, sender):
    c = session(inst)
    c.send(f"MAIL FROM:<{sender}>\r\nRCPT TO:<alice@example.test>\r\n"
           "DATA\r\n")
    expect(c, "250 2.1.0")
    expect(c, "250 2.1.5")
    expect(c, "354")
    c.send(b"Subject: long\r\n\r\n" + line + b"\r\nend\r\n.\r\n")
    code, text = c.reply()
    c.send("NOOP\r\n")
    expect(c, "250 2.0.0")
    c.close()
    return text


def text_line_limit(inst, limit):
    """limit-2 octets plus CRLF pass; one more is refused."""
    ok = data_line(inst, b"a" * (limit - 2), f"fits{limit}@remote.test")
    if not ok.startswith("250 2.0.0 Ok: queued as "):
        raise TestFailure(f"{limit - 2}+CRLF refused: {ok!r}")
    bad = data_line(inst, b"b" * (limit - 1), f"long{limit}@remote.test")
    if not bad.startswith("550 5.6.0"):
        raise TestFailure(f"{limit - 1}+CRLF: {bad!r}")
    return ok.rsplit(" ", 1)[1]


def hop_count(inst, limit):
    """hop_count_limit: more Received: header fields than the limit is a
    loop (554 5.4.6), for DATA and BDAT alike; exactly the limit passes;
    "Received:" in the body and our own header do not count."""
    def msg(n):
        return ("".join(f"Received: from hop{i}.test by hop{i + 1}.test; "
                        "Sun, 1 Nov 2026 00:00:00 +0000\r\n"
                        for i in range(n)) +
                "Subject: hops\r\n\r\nReceived: in the body\r\n"
                "received: again\r\n").encode()
    ids = []
    c = session(inst)
    for n, want in ((limit, "250 2.0.0"), (limit + 1, "554 5.4.6")):
        c.send(f"MAIL FROM:<hops{n}@remote.test>\r\n"
               "RCPT TO:<alice@example.test>\r\nDATA\r\n")
        expect(c, "250 2.1.0")
        expect(c, "250 2.1.5")
        expect(c, "354")
        c.send(msg(n) + b".\r\n")
        text = expect(c, want)
        if want.startswith("250"):
            ids.append(text.rsplit(" ", 1)[1])
        m = msg(n)
        c.send(f"MAIL FROM:<bdat-hops{n}@remote.test>\r\n"
               "RCPT TO:<alice@example.test>\r\n"
               f"BDAT {len(m)} LAST\r\n".encode() + m)
        expect(c, "250 2.1.0")
        expect(c, "250 2.1.5")
        text = expect(c, want)
        if want.startswith("250"):
            ids.append(text.rsplit(" ", 1)[1])
    c.close()
    inst.wait_log("smtp reject rule=hop_count_limit", count=2)
    return set(ids)


def command_line_limit(inst, limit):
    c = session(inst)
    c.send("NOOP " + "x" * (limit - 7) + "\r\n")
    expect(c, "250 2.0.0")
    c.send("NOOP " + "x" * (limit - 6) + "\r\n")
    expect(c, "500 5.5.2 Error: line too long")
    c.send("NOOP\r\n")
    expect(c, "250 2.0.0")
    c.close()


def main():
    inst = Instance("limits", smtpd_recipient_limit=RCPT_LIMIT,
                    hop_count_limit=10).start()
    ids = recipient_limit(inst)
    ids |= hop_count(inst, 10)
    overshoot_bound(inst)
    ids.add(text_line_limit(inst, 1000))
    inst.wait_log("smtp reject rule=text_line_limit")
    wait_for(lambda: ids <= inst.queue_ids(), "messages indexed")
    if inst.queue_ids() != ids:
        raise TestFailure(f"unexpected queue {inst.queue()}")
    inst.stop()

    big = Instance("limits-raised", smtpd_text_line_limit=4000,
                   smtpd_command_line_limit=2048).start()
    qid = text_line_limit(big, 4000)
    command_line_limit(big, 2048)
    wait_for(lambda: big.queue_ids() == {qid}, "only the fitting message")
    big.stop()


run(main)
