# SPDX-License-Identifier: ISC
"""SMTP smuggling: inside DATA, only <CRLF>.<CRLF> ends the data. For
each lookalike end-of-data sequence (<LF>.<LF>, <LF>.<CRLF>, <CR>.<CR>,
<CRLF>.<LF>, <CR>.<CRLF>, <CRLF>.<CR>, <CR><LF>.<CR><CR><LF>) followed by a
second, smuggled transaction, the server keeps reading to the real end,
answers exactly one reply (550 5.5.2: bare CR or LF), queues nothing, and
the session is still in step: a following legitimate transaction is
queued. Each case is sent in one write and again with the fake end split
over several segments."""
import os
import socket
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from estafeta_test import (  # noqa: E402
    Instance, Raw, TestFailure, run, wait_for)

FAKE_ENDS = [b"\n.\n", b"\n.\r\n", b"\r.\r", b"\r\n.\n", b"\r.\r\n",
             b"\r\n.\r", b"\r\n.\r\r\n", b"\n..\n"]
SMUGGLED = (b"MAIL FROM:<evil@x>\r\n"
            b"RCPT TO:<victim@example.test>\r\n"
            b"DATA\r\n"
            b"From: ceo@example.test\r\n"
            b"Subject: smuggled\r\n\r\nwire money\r\n")


def expect(c, want):
    code, text = c.reply()
    if not text.startswith(want):
        raise TestFailure(f"expected {want!r}, got {text!r}")
    return text


def start_data(c, sender):
    c.send(f"MAIL FROM:<{sender}>\r\nRCPT TO:<alice@example.test>\r\n"
           "DATA\r\n")
    expect(c, "250 2.1.0")
    expect(c, "250 2.1.5")
    expect(c, "354")


def legit(c, i):
    start_data(c, f"legit{i}@remote.test")
    c.send(f"Subject: legit {i}\r\n\r\nfine\r\n.\r\n")
    return expect(c, "250 2.0.0 Ok: queued as ").rsplit(" ", 1)[1]


def main():
    inst = Instance("smuggling").start()
    ids = set()
    cases = [(f, False) for f in FAKE_ENDS] + [(f, True) for f in FAKE_ENDS]
    for i, (fake, split) in enumerate(cases):
        c = Raw(inst.port)
        c.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        expect(c, "220")
        c.send("EHLO client.test\r\n")
        expect(c, "250-mx.example.test")
        start_data(c, "attacker@remote.test")
        if split:
            # The fake end split over several segments (parser state
            # carried across reads).
            c.send(b"Subject: innocent\r\n\r\nhello")
            for b in fake:
                c.send(bytes([b]))
            c.send(SMUGGLED + b"\r\n.\r\n")
        else:
            c.send(b"Subject: innocent\r\n\r\nhello" + fake + SMUGGLED +
                   b"\r\n.\r\n")
        text = expect(c, "550 5.5.2")
        bare = "CR" if fake in (b"\r.\r", b"\r.\r\n", b"\r\n.\r",
                                b"\r\n.\r\r\n") else "LF"
        if f"bare <{bare}>" not in text:
            raise TestFailure(f"{fake!r}: reply {text!r}")
        # Exactly one reply: the next one answers our NOOP.
        c.send("NOOP\r\n")
        expect(c, "250 2.0.0 Ok")
        if c.buf:
            raise TestFailure(f"{fake!r}: extra replies {c.buf!r}")
        ids.add(legit(c, i))
        c.send("QUIT\r\n")
        expect(c, "221")
        if not c.closed():
            raise TestFailure("not closed after QUIT")
        if c.buf:
            raise TestFailure(f"{fake!r}: extra replies {c.buf!r}")
        c.close()
    inst.wait_log("smtp reject rule=bare_newline", count=len(cases))
    wait_for(lambda: ids <= inst.queue_ids(), "legitimate mail indexed")
    queue = inst.queue()
    if {m["id"] for m in queue} != ids:
        raise TestFailure(f"unexpected messages queued: {queue}")
    for m in queue:
        if m["sender"] in ("evil@x", "attacker@remote.test"):
            raise TestFailure(f"smuggled or refused mail queued: {m}")
        if b"wire money" in inst.spooled_content(m["id"]):
            raise TestFailure(f"{m['id']} carries smuggled content")
    if len(os.listdir(os.path.join(inst.spool, "queue"))) != len(ids):
        raise TestFailure("spool holds more files than the index")
    inst.stop()


run(main)
