# SPDX-License-Identifier: ISC
"""CHUNKING (RFC 3030): BDAT chunks then LAST, BDAT 0 LAST, chunk bytes
stored verbatim (no dot-unstuffing, no end marker), pipelined chunks
(replies held for pipelining are sent while the server waits for the
rest of a chunk), BDAT out of sequence (503, and its octets are still
read so the session stays in step), DATA after BDAT (503; RSET
recovers), an oversize chunk sequence (552 5.3.4, nothing queued;
exactly the limit passes), and a BDAT size that is not a number (501,
the session is closed: the octet count is unknown)."""
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from estafeta_test import (  # noqa: E402
    Instance, Raw, TestFailure, run, wait_for)

LIMIT = 10000


def expect(c, want):
    code, text = c.reply()
    if not text.startswith(want):
        raise TestFailure(f"expected {want!r}, got {text!r}")
    return text


def bdat(chunk, last=False):
    if isinstance(chunk, str):
        chunk = chunk.encode()
    return (f"BDAT {len(chunk)}{' LAST' if last else ''}\r\n").encode() \
        + chunk


def session(inst):
    c = Raw(inst.port)
    expect(c, "220")
    c.send("EHLO client.test\r\n")
    text = expect(c, "250-mx.example.test")
    if "CHUNKING" not in text:
        raise TestFailure(f"EHLO lacks CHUNKING: {text!r}")
    return c


def envelope(c, sender="bob@remote.test"):
    c.send(f"MAIL FROM:<{sender}>\r\nRCPT TO:<alice@example.test>\r\n")
    expect(c, "250 2.1.0")
    expect(c, "250 2.1.5")


def body_of(inst, qid):
    """The stored content after our Received header (folded lines)."""
    content = inst.spooled_content(qid)
    m = re.match(rb"Received: .*?\r\n(?![ \t])", content, re.S)
    if not m:
        raise TestFailure(f"{qid}: no Received: {content[:100]!r}")
    return content[m.end():]


def chunks_then_last(inst):
    """Three chunks, one of them with lines that DATA would unstuff or end
    on, then an empty LAST chunk. One reply per BDAT, each after its
    octets."""
    parts = [b"Subject: chunks\r\n\r\n",
             b"..two dots\r\n.\r\n.one dot\r\n\r\n.\r\n",
             b"tail without CRLF"]
    c = session(inst)
    envelope(c)
    for p in parts:
        c.send(bdat(p))
        text = expect(c, "250 2.0.0")
        if f"{len(p)} octets" not in text:
            raise TestFailure(f"chunk reply {text!r}")
    c.send(bdat(b"", last=True))
    qid = expect(c, "250 2.0.0 Ok: queued as ").rsplit(" ", 1)[1]
    # Not in a transaction any more: another BDAT is out of sequence.
    c.send(bdat(b"QUIT\r\n", last=True))
    expect(c, "503 5.5.1")
    c.send("NOOP\r\n")
    expect(c, "250 2.0.0")
    c.close()
    got = body_of(inst, qid)
    if got != b"".join(parts):
        raise TestFailure(f"stored {got!r}")
    return qid


def empty_message(inst):
    c = session(inst)
    envelope(c, "empty@remote.test")
    c.send(bdat(b"", last=True))
    qid = expect(c, "250 2.0.0 Ok: queued as ").rsplit(" ", 1)[1]
    c.close()
    if body_of(inst, qid) != b"":
        raise TestFailure(f"BDAT 0 LAST stored {body_of(inst, qid)!r}")
    return qid


def pipelined(inst):
    """Everything in one write: two transactions of chunks, then QUIT."""
    c = session(inst)
    msgs = [[b"Subject: p1\r\n\r\n", b"line\r\n" * 300, b"end\r\n"],
            [b"Subject: p2\r\n\r\n.x\r\n"]]
    blob = b""
    for i, m in enumerate(msgs):
        blob += (f"MAIL FROM:<pipe{i}@remote.test>\r\n"
                 "RCPT TO:<alice@example.test>\r\n").encode()
        for j, p in enumerate(m):
            blob += bdat(p, last=j == len(m) - 1)
    c.send(blob + b"QUIT\r\n")
    ids = []
    for m in msgs:
        expect(c, "250 2.1.0")
        expect(c, "250 2.1.5")
        for p in m[:-1]:
            expect(c, f"250 2.0.0 Ok: {len(p)} octets")
        ids.append(expect(c, "250 2.0.0 Ok: queued as ").rsplit(" ", 1)[1])
    expect(c, "221")
    if not c.closed():
        raise TestFailure("not closed after QUIT")
    for qid, m in zip(ids, msgs):
        if body_of(inst, qid) != b"".join(m):
            raise TestFailure(f"{qid} stored {body_of(inst, qid)!r}")
    return set(ids)


def early_replies(inst):
    """Replies to MAIL, RCPT and earlier chunks are not held while the
    server waits for the rest of a chunk (RFC 2920 3.2): a client can
    see a refused recipient before it sends a large chunk."""
    c = session(inst)
    c.s.settimeout(5)
    c.send("MAIL FROM:<early@remote.test>\r\n"
           "RCPT TO:<nobody@elsewhere.test>\r\n"
           "RCPT TO:<alice@example.test>\r\n" + "BDAT 3\r\nabc" +
           "BDAT 40 LAST\r\nSubject: early\r\n")     # 16 of 40
    expect(c, "250 2.1.0")
    expect(c, "554 5.7.1")
    expect(c, "250 2.1.5")
    expect(c, "250 2.0.0 Ok: 3 octets")
    c.send("\r\n" + "x" * 22)
    qid = expect(c, "250 2.0.0 Ok: queued as ").rsplit(" ", 1)[1]
    c.close()
    if body_of(inst, qid) != b"abcSubject: early\r\n\r\n" + b"x" * 22:
        raise TestFailure(f"stored {body_of(inst, qid)!r}")
    return qid


def out_of_sequence(inst):
    """BDAT before RCPT: 503, and its octets (which look like commands)
    are read, not executed. DATA after BDAT: 503; RSET recovers."""
    c = session(inst)
    evil = b"MAIL FROM:<evil@x>\r\nRCPT TO:<victim@example.test>\r\nQUIT\r\n"
    c.send(bdat(evil))
    expect(c, "503 5.5.1")
    c.send("MAIL FROM:<bob@remote.test>\r\n")
    expect(c, "250 2.1.0")
    c.send(bdat(evil, last=True))
    expect(c, "503 5.5.1 Error: need RCPT")
    c.send("RCPT TO:<alice@example.test>\r\n")
    expect(c, "250 2.1.5")
    c.send(bdat("Subject: mixed\r\n\r\n"))
    expect(c, "250 2.0.0")
    c.send("DATA\r\n")
    expect(c, "503 5.5.1")
    c.send("RSET\r\n")
    expect(c, "250 2.0.0")
    c.send(bdat("x", last=True))
    expect(c, "503 5.5.1")
    # Still in step: a whole transaction goes through.
    envelope(c, "after@remote.test")
    c.send(bdat("Subject: after\r\n\r\nok\r\n", last=True))
    qid = expect(c, "250 2.0.0 Ok: queued as ").rsplit(" ", 1)[1]
    c.send("QUIT\r\n")
    expect(c, "221")
    c.close()
    return qid


def oversize(inst):
    """message_size_limit counts every chunk: the chunk that crosses it
    gets 552 5.3.4; the rest of the pipelined sequence is read and
    refused; nothing is queued; exactly at the limit is accepted."""
    c = session(inst)
    envelope(c, "big@remote.test")
    c.send(bdat(b"a" * 6000) + bdat(b"b" * 6000) +
           bdat(b"c" * 100, last=True) + b"NOOP\r\n")
    expect(c, "250 2.0.0 Ok: 6000 octets")
    expect(c, "552 5.3.4")
    expect(c, "503 5.5.1")
    expect(c, "250 2.0.0")
    envelope(c, "exact@remote.test")
    c.send(bdat(b"a" * 6000) + bdat(b"b" * (LIMIT - 6000), last=True))
    expect(c, "250 2.0.0 Ok: 6000 octets")
    qid = expect(c, "250 2.0.0 Ok: queued as ").rsplit(" ", 1)[1]
    c.close()
    inst.wait_log("smtp reject rule=message_size_limit")
    if len(body_of(inst, qid)) != LIMIT:
        raise TestFailure("exact-limit message not stored whole")
    return qid


def bad_size(inst):
    for arg in ("abc", "", "12x", "-5", "10 LAST now", "10  LAST"):
        c = session(inst)
        envelope(c)
        c.send(f"BDAT {arg}".rstrip() + "\r\nhello\r\n")
        expect(c, "501 5.5.4")
        if not c.closed():
            raise TestFailure(f"BDAT {arg!r}: session not closed")
        if c.buf:
            raise TestFailure(f"BDAT {arg!r}: more replies {c.buf!r}")
        c.close()


def main():
    inst = Instance("bdat", message_size_limit=LIMIT).start()
    ids = {chunks_then_last(inst), empty_message(inst), early_replies(inst),
           out_of_sequence(inst), oversize(inst)}
    ids |= pipelined(inst)
    bad_size(inst)
    wait_for(lambda: ids <= inst.queue_ids(), "BDAT messages indexed")
    if inst.queue_ids() != ids:
        raise TestFailure(f"unexpected queue: {inst.queue()}")
    senders = {m["sender"] for m in inst.queue()}
    for bad in ("evil@x", "big@remote.test"):
        if bad in senders:
            raise TestFailure(f"{bad} was queued")
    if os.listdir(os.path.join(inst.spool, "incoming")):
        raise TestFailure("files left in incoming/")
    inst.stop()


run(main)
