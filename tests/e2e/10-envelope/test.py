# SPDX-License-Identifier: ISC
"""Envelope edge cases, checked in the index and in the spool file's
envelope records (format: src/relay/spool.h).

  - the null sender MAIL FROM:<> is queued with sender "";
  - RCPT TO:<Postmaster> (no domain) is accepted; as a sender it is not;
  - SMTPUTF8 (RFC 6531): a UTF-8 sender and local-domain recipient with
    the SMTPUTF8 parameter are queued ('U' record, Received "with
    UTF8SMTP" and "for <用户@example.test>");
    without it 553 5.6.7; the parameter after HELO 555;
  - DSN (RFC 3461) through smtplib: RET=HDRS ENVID=abc+2Bdef, NOTIFY and
    ORCPT per recipient are stored decoded ('E' "abc+def", 'r', 'N'
    bits, 'O'); NOTIFY=NEVER with another keyword, bad xtext and repeated
    parameters get 501 5.5.4;
  - BODY=8BITMIME is stored ('B' record)."""
import os
import smtplib
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from estafeta_test import (  # noqa: E402
    Instance, Raw, TestFailure, run, wait_for)

SPOOL_RET_HDRS = b"2"
NOTIFY_NEVER, NOTIFY_SUCCESS, NOTIFY_FAILURE = 1, 2, 4


def records(inst, qid):
    """The spool file as [(type, data)], checked for structure."""
    with open(inst.spool_file(qid), "rb") as f:
        data = f.read()
    magic = b"ESTAFETA-SPOOL 1\n"
    if not data.startswith(magic):
        raise TestFailure(f"{qid}: bad magic")
    i, out = len(magic), []
    while i < len(data):
        if i + 5 > len(data):
            raise TestFailure(f"{qid}: truncated record header")
        t, n = chr(data[i]), int.from_bytes(data[i + 1:i + 5], "big")
        if i + 5 + n > len(data):
            raise TestFailure(f"{qid}: truncated record {t}")
        out.append((t, data[i + 5:i + 5 + n]))
        i += 5 + n
    if out[-1][0] != "Z":
        raise TestFailure(f"{qid}: no end record")
    return [r for r in out if r[0] not in "DZ"]


def rcpt_records(recs):
    """[(addr, {type: data})] for each 'R' and the 'N'/'O' after it."""
    out = []
    for t, d in recs:
        if t == "R":
            out.append((d.decode(), {}))
        elif t in "NO":
            out[-1][1][t] = d
    return out


def one(recs, t):
    v = [d for rt, d in recs if rt == t]
    return v[0] if len(v) == 1 else v or None


def expect(c, want):
    code, text = c.reply()
    if not text.startswith(want):
        raise TestFailure(f"expected {want!r}, got {text!r}")
    return text


def raw_message(inst, mail, rcpts, ehlo="EHLO client.test"):
    c = Raw(inst.port)
    expect(c, "220")
    c.send(ehlo + "\r\n")
    expect(c, "250")
    c.send(f"MAIL FROM:{mail}\r\n".encode())
    expect(c, "250 2.1.0")
    for r in rcpts:
        c.send(f"RCPT TO:{r}\r\n".encode())
        expect(c, "250 2.1.5")
    c.send("DATA\r\n")
    expect(c, "354")
    c.send("Subject: envelope\r\n\r\nbody\r\n.\r\nQUIT\r\n")
    qid = expect(c, "250 2.0.0 Ok: queued as ").rsplit(" ", 1)[1]
    expect(c, "221")
    c.close()
    return qid


def refusals(inst):
    c = Raw(inst.port)
    expect(c, "220")
    c.send("EHLO client.test\r\n")
    expect(c, "250")
    for line, want in [
            ("MAIL FROM:<Postmaster>", "501 5.1.7"),
            ("MAIL FROM:<用户@例子.test>", "553 5.6.7"),
            ("MAIL FROM:<a@b.test> RET=HDRS RET=FULL", "501 5.5.4"),
            ("MAIL FROM:<a@b.test> RET=NONE", "501 5.5.4"),
            ("MAIL FROM:<a@b.test> ENVID=abc+ZZ", "501 5.5.4"),
            ("MAIL FROM:<a@b.test> ENVID=a=b", "501 5.5.4"),
            ("MAIL FROM:<a@b.test>", "250 2.1.0"),
            ("RCPT TO:<用户@example.test>", "553 5.6.7"),
            ("RCPT TO:<a@example.test> NOTIFY=NEVER,SUCCESS", "501 5.5.4"),
            ("RCPT TO:<a@example.test> NOTIFY=", "501 5.5.4"),
            ("RCPT TO:<a@example.test> NOTIFY=SUCCESS,", "501 5.5.4"),
            ("RCPT TO:<a@example.test> NOTIFY=SOMETIMES", "501 5.5.4"),
            ("RCPT TO:<a@example.test> ORCPT=alice@example.test",
             "501 5.5.4"),
            ("RSET", "250"),
    ]:
        c.send(line.encode() + b"\r\n")
        expect(c, want)
    c.close()
    c = Raw(inst.port)
    expect(c, "220")
    c.send("HELO client.test\r\nMAIL FROM:<a@b.test> SMTPUTF8\r\n"
           "MAIL FROM:<用户@例子.test> SMTPUTF8\r\n")
    expect(c, "250")
    expect(c, "555 5.5.4")
    expect(c, "553 5.6.7")
    c.close()


def main():
    inst = Instance("envelope", smtpd_error_limit=50).start()
    refusals(inst)

    null = raw_message(inst, "<>", ["<alice@example.test>", "<Postmaster>"])
    utf8 = raw_message(inst, "<用户@例子.test> SMTPUTF8 BODY=8BITMIME",
                       ["<用户@example.test>"])

    with smtplib.SMTP("127.0.0.1", inst.port) as s:
        s.ehlo("dsn.client.test")
        if not s.has_extn("dsn"):
            raise TestFailure("no DSN extension")
        s.mail("bob@remote.test", ["RET=HDRS", "ENVID=abc+2Bdef"])
        code, text = s.rcpt("alice@example.test",
                            ["NOTIFY=SUCCESS,FAILURE",
                             "ORCPT=rfc822;alice@example.test"])
        if code != 250:
            raise TestFailure(f"RCPT with DSN: {code} {text!r}")
        s.rcpt("carol@example.test", ["NOTIFY=NEVER",
                                      "ORCPT=rfc822;c+2Bx@example.test"])
        s.rcpt("dave@example.test")
        code, text = s.data(b"Subject: dsn\r\n\r\nbody\r\n")
        if code != 250:
            raise TestFailure(f"DATA: {code} {text!r}")
        dsn = text.decode().rsplit(" ", 1)[1]

    wait_for(lambda: {null, utf8, dsn} <= inst.queue_ids(), "indexed")
    q = {m["id"]: m for m in inst.queue()}

    # Null sender and Postmaster.
    if q[null]["sender"] != "":
        raise TestFailure(f"null sender indexed as {q[null]['sender']!r}")
    rcpts = sorted(r["addr"] for r in q[null]["recipients"])
    if rcpts != ["Postmaster", "alice@example.test"]:
        raise TestFailure(f"null-sender recipients {rcpts}")
    recs = records(inst, null)
    if one(recs, "F") != b"" or one(recs, "U") or one(recs, "E"):
        raise TestFailure(f"null-sender envelope {recs}")

    # SMTPUTF8.
    if q[utf8]["sender"] != "用户@例子.test":
        raise TestFailure(f"UTF-8 sender indexed as {q[utf8]['sender']!r}")
    recs = records(inst, utf8)
    if one(recs, "U") != b"1" or one(recs, "B") != b"1":
        raise TestFailure(f"SMTPUTF8/8BITMIME not stored: {recs}")
    if one(recs, "F").decode() != "用户@例子.test" or \
            [a for a, _ in rcpt_records(recs)] != ["用户@example.test"]:
        raise TestFailure(f"UTF-8 envelope {recs}")
    # The Received header says UTF8SMTP and keeps the UTF-8 recipient
    # (RFC 6531 3.7.3, RFC 6532).
    hdr = inst.spooled_content(utf8)[:300]
    if b"with UTF8SMTP id " + utf8.encode() not in hdr or \
            "\tfor <用户@example.test>; ".encode() not in hdr:
        raise TestFailure(f"Received: {hdr!r}")

    # DSN.
    recs = records(inst, dsn)
    if one(recs, "E") != b"abc+def" or one(recs, "r") != SPOOL_RET_HDRS:
        raise TestFailure(f"ENVID/RET not stored: {recs}")
    got = rcpt_records(recs)
    want = [("alice@example.test",
             {"N": str(NOTIFY_SUCCESS | NOTIFY_FAILURE).encode(),
              "O": b"rfc822;alice@example.test"}),
            ("carol@example.test", {"N": str(NOTIFY_NEVER).encode(),
                                    "O": b"rfc822;c+x@example.test"}),
            ("dave@example.test", {})]
    if got != want:
        raise TestFailure(f"DSN recipients {got}, want {want}")
    show = inst.ctl("queue", "show", dsn).stdout
    if "envid abc+def" not in show:
        raise TestFailure(f"queue show: {show}")
    if inst.queue_ids() != {null, utf8, dsn}:
        raise TestFailure(f"unexpected queue {inst.queue()}")
    inst.stop()


run(main)
