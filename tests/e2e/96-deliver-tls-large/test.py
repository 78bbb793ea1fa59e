# SPDX-License-Identifier: ISC
"""Large messages over outbound TLS, byte for byte: delivery sends content
in spans straight from the queue file, and conn_write() hands pieces of
16 KiB and more to SSL_write() uncopied (3eb31df), so sizes around those
edges go from our relay to a second estafetad over STARTTLS (smtp_tls
may), with BDAT (the peer offers CHUNKING) and with DATA (smtp_chunking =
no, dot-stuffed):

  * bodies of 16383, 16384, 65537 and about 1 MiB octets, with lines that
    start with dots, lines of nearly 1000 octets and 8-bit text, arrive
    exactly as sent, each once, and the peer's Received field says ESMTPS.
"""
import os
import random
import smtplib
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from estafeta_test import Instance, TestFailure, run, wait_for  # noqa: E402
from testca import TestCA  # noqa: E402

SIZES = (16383, 16384, 65537, 1024 * 1024 + 3)


def check(cond, what):
    if not cond:
        raise TestFailure(what)


def body(n, seed):
    """n octets of CRLF lines: dotted starts, long lines, 8-bit text."""
    rnd = random.Random(seed)
    out = bytearray()
    while True:
        kind = rnd.randrange(5)
        if kind == 0:
            line = b"." * rnd.randrange(1, 3) + b"dot"
        elif kind == 1:
            line = b"x" * rnd.randrange(900, 990)
        elif kind == 2:
            line = "caf\u00e9 \u00fcber ".encode() * rnd.randrange(1, 20)
        else:
            line = bytes(rnd.choice(b"abcdefghij .:-") for _ in
                         range(rnd.randrange(0, 80)))
        if len(out) + len(line) + 2 > n - 3:
            break
        out += line + b"\r\n"
    out += b"y" * (n - len(out) - 2) + b"\r\n"
    assert len(out) == n
    return bytes(out)


def send(port, subject, payload):
    msg = (f"From: alice@example.org\r\nTo: bob@example.net\r\n"
           f"Subject: {subject}\r\nMIME-Version: 1.0\r\n"
           "Content-Type: text/plain; charset=utf-8\r\n"
           "Content-Transfer-Encoding: 8bit\r\n\r\n").encode() + payload
    with smtplib.SMTP("127.0.0.1", port) as c:
        c.ehlo("client.test")
        code, text = c.mail("alice@example.org", ["BODY=8BITMIME"])
        check(code == 250, f"MAIL: {code} {text!r}")
        check(c.rcpt("bob@example.net")[0] == 250, "RCPT refused")
        code, text = c.data(msg)
        check(code == 250, f"DATA: {code} {text!r}")
        return text.decode().rsplit(" ", 1)[1], msg


def main():
    remote = Instance("tlslargemx", relay_domains="example.net")
    ca = TestCA(remote.dir)
    cert, key = ca.issue("mx.example.net", dns=["mx.example.net"])
    remote.settings.update({"tls_cert_files": cert, "tls_key_files": key})
    remote.write_config()
    remote.start()
    route = f"example.net=smtp:[127.0.0.1]:{remote.port}"
    relays = [Instance("tlslargebdat", relay_domains="",
                       trusted_networks="127.0.0.0/8", deliver_workers=1,
                       transports=route, queue_retry_min="1h",
                       delay_warning_time="0"),
              Instance("tlslargedata", relay_domains="",
                       trusted_networks="127.0.0.0/8", deliver_workers=1,
                       transports=route, queue_retry_min="1h",
                       delay_warning_time="0", smtp_chunking="no")]
    for relay in relays:
        relay.start()
    sent = []
    for k, relay in enumerate(relays):
        for size in SIZES:
            subject = f"large-{k}-{size}"
            qid, msg = send(relay.port, subject, body(size, size + k))
            sent.append((relay, qid, subject, msg))
    for relay, qid, subject, msg in sent:
        relay.wait_log(f"{qid} qmgr removed")
        tag = f"Subject: {subject}\r\n".encode()
        got = wait_for(lambda: [c for c in (remote.spooled_content(i)
                                            for i in remote.queue_ids())
                                if tag in c] or None, f"{subject} there")
        check(len(got) == 1, f"{len(got)} copies of {subject}")
        i = got[0].find(b"From: alice@example.org\r\n")
        check(i > 0, f"{subject}: no header section")
        check(b"with ESMTPS" in got[0][:i], f"{subject}: not over TLS")
        if got[0][i:] != msg:
            a, b = got[0][i:], msg
            j = next((j for j in range(min(len(a), len(b)))
                      if a[j] != b[j]), min(len(a), len(b)))
            raise TestFailure(f"{subject}: content differs at {j} "
                              f"({len(a)} octets vs {len(b)})")


run(main)
