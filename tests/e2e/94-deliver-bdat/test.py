# SPDX-License-Identifier: ISC
"""Outbound CHUNKING (RFC 3030): our relay delivers to a second estafetad,
which offers CHUNKING, with BDAT instead of DATA.

  * a 300 KiB 8-bit message whose lines start with dots (".", "..", a
    line that is only a dot, which DATA would have to stuff) arrives
    byte for byte, in several chunks (the relay logs "smtpc bdat
    chunks=N" at debug, N >= 2, and the octets it sent);
  * a small message goes as a single BDAT LAST in the same write as MAIL
    and RCPT (chunks=1 ... with MAIL), and two messages on one
    connection both arrive (the session is reused); one whose recipient
    the peer refuses bounces with the RCPT reply and the next message on
    the session arrives;
  * with smtp_chunking = no the same message goes with DATA (no bdat log
    line) and arrives the same.
"""
import os
import re
import smtplib
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from estafeta_test import Instance, TestFailure, run, wait_for  # noqa: E402


def check(cond, what):
    if not cond:
        raise TestFailure(what)


def body(n):
    lines = []
    i = 0
    while sum(len(x) for x in lines) < n:
        lead = (".", "..", "", "x")[i % 4]
        lines.append(f"{lead}line {i} caf\u00e9 \u00fcber\r\n".encode())
        if i % 97 == 0:
            lines.append(b".\r\n")
        i += 1
    return b"".join(lines)


def send(port, rcpt, subject, payload):
    msg = (f"From: alice@example.org\r\nTo: {rcpt}\r\n"
           f"Subject: {subject}\r\nMIME-Version: 1.0\r\n"
           "Content-Type: text/plain; charset=utf-8\r\n"
           "Content-Transfer-Encoding: 8bit\r\n\r\n").encode() + payload
    with smtplib.SMTP("127.0.0.1", port) as c:
        c.ehlo("client.test")
        code, text = c.mail("alice@example.org", ["BODY=8BITMIME"])
        check(code == 250, f"MAIL: {code} {text!r}")
        check(c.rcpt(rcpt)[0] == 250, "RCPT refused")
        code, text = c.data(msg)
        check(code == 250, f"DATA: {code} {text!r}")
        return text.decode().rsplit(" ", 1)[1], msg


def arrived(remote, subject):
    return [c for c in (remote.spooled_content(i)
                        for i in remote.queue_ids())
            if f"Subject: {subject}\r\n".encode() in c]


def check_same(remote, subject, msg):
    got = wait_for(lambda: arrived(remote, subject), f"{subject} there")
    check(len(got) == 1, f"{len(got)} copies of {subject}")
    # The remote and our relay each put a Received field on top.
    i = got[0].find(b"From: alice@example.org\r\n")
    check(i > 0 and got[0][i:] == msg,
          f"{subject}: content differs ({len(got[0]) - max(i, 0)} octets "
          f"vs {len(msg)})")


def bdat_line(relay, qid):
    """(chunks, octets, sent with MAIL and RCPT) from the debug line."""
    m = re.search(rf"{qid} smtpc bdat peer=\S+ chunks=(\d+) "
                  r"octets=(\d+)( with MAIL)?", relay.read_log())
    return ((int(m.group(1)), int(m.group(2)), bool(m.group(3)))
            if m else None)


def main():
    remote = Instance("bdatremote", relay_domains="example.net")
    remote.start()
    route = (f"example.net=smtp:[127.0.0.1]:{remote.port}, "
             f"sub.example.net=smtp:[127.0.0.1]:{remote.port}")
    relay = Instance("bdatrelay", relay_domains="",
                     trusted_networks="127.0.0.0/8", deliver_workers=1,
                     log_level="debug", transports=route,
                     queue_retry_min="1h", delay_warning_time="0")
    relay.start()

    # 1. Big, dotted, 8-bit: several chunks, byte for byte.
    qid, msg = send(relay.port, "bob@example.net", "big", body(300 * 1024))
    relay.wait_log(f"{qid} qmgr removed")
    check_same(remote, "big", msg)
    got = bdat_line(relay, qid)
    check(got is not None, "no smtpc bdat line:\n" + relay.read_log()[-3000:])
    check(got[0] >= 2 and not got[2], f"one chunk for 300 KiB: {got}")
    check(got[1] >= len(msg), f"octets sent {got[1]} < {len(msg)}")

    # 2. Two small ones: one BDAT LAST each.
    for s in ("small1", "small2"):
        qid, msg = send(relay.port, "carol@example.net", s, body(500))
        relay.wait_log(f"{qid} qmgr removed")
        check_same(remote, s, msg)
        got = bdat_line(relay, qid)
        check(got is not None and got[0] == 1 and got[2], f"{s}: {got}")

    # 2b. Its only recipient refused at RCPT (the remote does not relay
    #     for sub.example.net): the chunk sent with it is refused too and
    #     read over; the bounce carries the RCPT reply; the session stays
    #     in step for the next message.
    qid, _ = send(relay.port, "x@sub.example.net", "refused", body(500))
    relay.wait_log(f"{qid} qmgr bounced")
    log = relay.read_log()
    check(re.search(rf"{qid} qmgr bounced .*reply=\"554 5\.7\.1", log),
          "not bounced with the RCPT reply:\n" + log[-3000:])
    qid, msg = send(relay.port, "erin@example.net", "after", body(500))
    relay.wait_log(f"{qid} qmgr removed")
    check_same(remote, "after", msg)

    # 3. smtp_chunking = no: DATA, same content.
    relay2 = Instance("databrelay", relay_domains="",
                      trusted_networks="127.0.0.0/8", deliver_workers=1,
                      log_level="debug", transports=route,
                      smtp_chunking="no")
    relay2.start()
    qid, msg = send(relay2.port, "dave@example.net", "dotted-data",
                    body(100 * 1024))
    relay2.wait_log(f"{qid} qmgr removed")
    check_same(remote, "dotted-data", msg)
    check(bdat_line(relay2, qid) is None, "BDAT despite smtp_chunking=no")


run(main)
