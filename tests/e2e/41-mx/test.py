# SPDX-License-Identifier: ISC
"""Delivery by MX through a real DNS server (dnsmasq with test zones):
the best MX (127.0.0.2) is down, so the message goes to the second
(127.0.0.3:25, a second estafetad); a null MX (RFC 7505) and a domain
that does not exist bounce at once with their own status codes, and a
SERVFAIL defers. No query leaves loopback."""
import os
import smtplib
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from estafeta_test import Instance, TestFailure, run, wait_for  # noqa: E402
from testdns import TestDNS  # noqa: E402


def send(port, rcpt, subject):
    with smtplib.SMTP("127.0.0.1", port) as c:
        c.ehlo("client.test")
        c.mail("alice@example.org")
        code, text = c.rcpt(rcpt)
        assert code == 250, (code, text)
        code, text = c.data(f"Subject: {subject}\r\n\r\nhi\r\n".encode())
        assert code == 250, (code, text)
        return text.decode().rsplit(" ", 1)[1]


def main():
    dns = TestDNS().start()
    remote = Instance("mx2", relay_domains="example.org")
    remote.settings["listen_mx"] = f"127.0.0.1:{remote.port}, 127.0.0.3:25"
    remote.write_config()
    remote.start()
    relay = Instance("mxrelay", relay_domains="",
                     trusted_networks="127.0.0.0/8", deliver_workers=2,
                     dns_server=dns.server, smtp_connect_timeout="2s",
                     queue_retry_min="1h", delay_warning_time="0")
    relay.start()

    qid = send(relay.port, "bob@example.org", "viamx")
    relay.wait_log(f"{qid} qmgr removed")
    log = relay.read_log()
    if "host=mx1.example.org failed" not in log:
        raise TestFailure("the best MX was not tried first:\n" + log[-3000:])
    assert f"{qid} qmgr delivered" in log
    wait_for(lambda: [i for i in remote.queue_ids()
                      if b"Subject: viamx" in remote.spooled_content(i)],
             "the message at the second MX")
    assert dns.queried("example.org", "MX")

    for rcpt, status in (("x@nullmx.example.org", "5.1.10"),
                         ("y@nxdomain.example.org", "5.1.2")):
        qid = send(relay.port, rcpt, "bounce")
        relay.wait_log(f"{qid} qmgr bounced")
        dsn = wait_for(lambda: [i for i in remote.queue_ids()
                                if f"Status: {status}".encode() in
                                remote.spooled_content(i)],
                       f"the {status} DSN to arrive at example.org's MX")
        assert dsn

    qid = send(relay.port, "z@tempfail.example.org", "later")
    relay.wait_log(f"{qid} qmgr deferred")
    q = {m["id"]: m for m in relay.queue()}[qid]
    assert q["recipients"][0]["state"] == "deferred", q
    assert "4.4.3" in q["recipients"][0]["last_reply"], q


run(main)
