# SPDX-License-Identifier: ISC
"""Delivery announces the message size (RFC 1870) and checks it against
the peer's SIZE limit before sending anything, with the content streamed
from the queue file (a regression test: the streaming reader left the size
0, so MAIL said SIZE=0 and an oversized message went out whole, refused
only after its last octet by the peer).

  * our relay delivers to a second estafetad with message_size_limit =
    20000: a 60 KiB message bounces at once with 5.3.4 "exceeds the
    peer's limit of 20000", naming its real size, and the peer never
    sees its content (no "rule=message_size_limit" reject there);
  * a 5 KiB message to the same peer arrives byte for byte.
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


def send(port, rcpt, subject, size):
    line = b"0123456789 abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTU\r\n"
    msg = (f"From: alice@example.org\r\nTo: {rcpt}\r\n"
           f"Subject: {subject}\r\n\r\n").encode()
    msg += line * (size // len(line) + 1)
    with smtplib.SMTP("127.0.0.1", port) as c:
        c.ehlo("client.test")
        check(c.mail("alice@example.org")[0] == 250, "MAIL refused")
        check(c.rcpt(rcpt)[0] == 250, "RCPT refused")
        code, text = c.data(msg)
        check(code == 250, f"DATA: {code} {text!r}")
        return text.decode().rsplit(" ", 1)[1], msg


def main():
    remote = Instance("sizeremote", relay_domains="example.net",
                      message_size_limit="20000")
    remote.start()
    relay = Instance("sizerelay", relay_domains="",
                     trusted_networks="127.0.0.0/8", deliver_workers=1,
                     transports=f"example.net=smtp:[127.0.0.1]:{remote.port}",
                     queue_retry_min="1h", delay_warning_time="0")
    relay.start()

    # 1. Over the peer's limit: refused before MAIL, from the size the
    #    queue file states.
    qid, msg = send(relay.port, "bob@example.net", "big", 60 * 1024)
    relay.wait_log(f"{qid} qmgr bounced")
    log = relay.read_log()
    m = re.search(rf"{qid} qmgr bounced .*message size (\d+) exceeds the "
                  r"peer's limit of 20000", log)
    check(m is not None, "not refused from the announced size:\n" +
          log[-3000:])
    check(int(m.group(1)) >= len(msg), f"size {m.group(1)} < {len(msg)}")
    check("rule=message_size_limit" not in remote.read_log(),
          "the peer got the content of an oversized message")

    # 2. Under it: delivered, byte for byte.
    qid, msg = send(relay.port, "carol@example.net", "small", 5 * 1024)
    relay.wait_log(f"{qid} qmgr removed")
    got = wait_for(lambda: [c for c in (remote.spooled_content(i)
                                        for i in remote.queue_ids())
                            if b"Subject: small\r\n" in c], "small there")
    i = got[0].find(b"From: alice@example.org\r\n")
    check(len(got) == 1 and i > 0 and got[0][i:] == msg,
          "small: content differs")


run(main)
