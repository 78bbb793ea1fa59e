# SPDX-License-Identifier: ISC
"""Message content round trip and our Received header.

A message full of dot-stuffing traps (lines ".", "..", ". x", ".x",
"...", a final "." line), long lines (998 octets, and 998 octets starting
with a dot: 999 on the wire, within the limit because the stuffing dot
does not count, RFC 5321 4.5.3.1.6) and 8-bit text sent with
BODY=8BITMIME by smtplib (which dot-stuffs) and by swaks is stored byte
for byte after our Received header. The Received header is the first
field: HELO name, [127.0.0.1], "by mx.example.test", "with ESMTP"/"SMTP",
"id <qid>", "for <rcpt>" and a current RFC 5322 date; parentheses in the
HELO name (which would open a comment) are neutralised."""
import email.utils
import os
import re
import smtplib
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from estafeta_test import (  # noqa: E402
    Instance, Raw, TestFailure, run, wait_for)

LONG = b"L" * 998
LONG_DOT = b"." + b"d" * 997

MSG = (b"From: Bob <bob@remote.test>\r\n"
       b"To: alice@example.test\r\n"
       b"Subject: dots and bytes\r\n"
       b"MIME-Version: 1.0\r\n"
       b"Content-Type: text/plain; charset=utf-8\r\n"
       b"Content-Transfer-Encoding: 8bit\r\n"
       b"\r\n"
       b".\r\n"
       b"..\r\n"
       b". a dot and a space\r\n"
       b".leading dot\r\n"
       b"..two leading dots\r\n"
       b"...\r\n"
       b" .space then dot\r\n"
       b"\r\n"
       b"\r\n"
       b"trailing spaces   \r\n"
       b"\ttab\r\n"
       + "8-bit: ¡olé! Grüße, 日本語, ÿ\r\n".encode()
       + bytes(range(0x80, 0x100)) + b"\r\n"
       + LONG + b"\r\n"
       + LONG_DOT + b"\r\n"
       + b".\r\n")


def received(content):
    """The first header field, unfolded lines kept."""
    m = re.match(rb"Received: (.*?)\r\n(?![ \t])", content, re.S)
    if not m:
        raise TestFailure(f"no leading Received: {content[:300]!r}")
    return m.group(0).decode(), content[m.end():]


def check_received(hdr, helo, qid, proto, rcpt):
    want = [f"Received: from {helo} ([127.0.0.1])\r\n",
            "\tby mx.example.test (Estafeta) with "
            f"{proto} id {qid}\r\n", f"\tfor <{rcpt}>; "]
    pos = 0
    for w in want:
        i = hdr.find(w, pos)
        if i < 0:
            raise TestFailure(f"Received lacks {w!r}: {hdr!r}")
        pos = i + len(w)
    date = hdr[pos:].rstrip("\r\n")
    when = email.utils.parsedate_to_datetime(date)
    if when is None or abs(when.timestamp() - time.time()) > 300:
        raise TestFailure(f"bad Received date {date!r}")


def smtplib_round_trip(inst):
    with smtplib.SMTP("127.0.0.1", inst.port) as c:
        c.ehlo("client.remote.test")
        if not c.has_extn("8bitmime"):
            raise TestFailure("no 8BITMIME")
        code, text = c.mail("bob@remote.test", ["BODY=8BITMIME"])
        if code != 250:
            raise TestFailure(f"MAIL BODY=8BITMIME: {code} {text!r}")
        c.rcpt("alice@example.test")
        code, text = c.data(MSG)     # smtplib dot-stuffs
        if code != 250:
            raise TestFailure(f"DATA: {code} {text!r}")
    qid = text.decode().rsplit(" ", 1)[1]
    content = inst.spooled_content(qid)
    hdr, rest = received(content)
    check_received(hdr, "client.remote.test", qid, "ESMTP",
                   "alice@example.test")
    if rest != MSG:
        for i, (a, b) in enumerate(zip(rest.split(b"\r\n"),
                                       MSG.split(b"\r\n"))):
            if a != b:
                raise TestFailure(f"line {i} differs: {a!r} != {b!r}")
        raise TestFailure(f"content differs: {len(rest)} vs {len(MSG)}")
    return qid


def swaks_round_trip(inst):
    path = os.path.join(inst.dir, "msg.eml")
    # swaks drops a final "." line (it takes it for the end marker) and
    # has no BODY= option in this version; the rest is the same.
    body = MSG.replace(b"Subject: dots and bytes",
                       b"Subject: swaks")[:-len(b".\r\n")]
    with open(path, "wb") as f:
        f.write(body[:-2])    # swaks adds CRLF "." CRLF itself
    r = subprocess.run(
        ["/usr/bin/swaks", "--server", "127.0.0.1", "--port",
         str(inst.port), "--helo", "swaks.client.test", "--from",
         "carol@remote.test", "--to", "alice@example.test",
         "--data", "@" + path, "--pipeline"],
        capture_output=True, timeout=20)
    if r.returncode != 0:
        raise TestFailure(f"swaks failed: {r.stdout[-2000:]!r}")
    m = re.search(rb"<-  250 2\.0\.0 Ok: queued as (\w+)", r.stdout)
    if not m:
        raise TestFailure(f"swaks: no queue id: {r.stdout[-2000:]!r}")
    qid = m.group(1).decode()
    hdr, rest = received(inst.spooled_content(qid))
    check_received(hdr, "swaks.client.test", qid, "ESMTP",
                   "alice@example.test")
    if rest != body:
        raise TestFailure(f"swaks content differs: {rest!r}")
    return qid


def raw_received(inst):
    """HELO (not EHLO) gives "with SMTP"; "(" and ")" in the HELO name
    cannot open or close a comment in our header; two recipients: no
    "for" clause."""
    c = Raw(inst.port)
    c.expect(None, 220)
    c.expect("HELO evil(x)).test", 250)
    c.expect("MAIL FROM:<bob@remote.test>", 250)
    c.expect("RCPT TO:<alice@example.test>", 250)
    c.expect("RCPT TO:<carol@example.test>", 250)
    c.expect("DATA", 354)
    text = c.expect("Subject: parens\r\n\r\nx\r\n.", 250)
    c.expect("QUIT", 221)
    c.close()
    qid = text.rsplit(" ", 1)[1]
    hdr, rest = received(inst.spooled_content(qid))
    if not hdr.startswith("Received: from evil?x??.test ([127.0.0.1])\r\n"
                          f"\tby mx.example.test (Estafeta) with SMTP id "
                          f"{qid}; "):
        raise TestFailure(f"Received: {hdr!r}")
    if hdr.count("(") != 2 or hdr.count(")") != 2 or "for <" in hdr:
        raise TestFailure(f"Received: {hdr!r}")
    if rest != b"Subject: parens\r\n\r\nx\r\n":
        raise TestFailure(f"content {rest!r}")
    return qid


def main():
    inst = Instance("content").start()
    ids = {smtplib_round_trip(inst), swaks_round_trip(inst),
           raw_received(inst)}
    wait_for(lambda: ids <= inst.queue_ids(), "messages indexed")
    # The index knows each message's stored size (Received included).
    for m in inst.queue():
        size = len(inst.spooled_content(m["id"]))
        if m["size"] != size:
            raise TestFailure(f"{m['id']}: index size {m['size']} != {size}")
    inst.stop()


run(main)
