# SPDX-License-Identifier: ISC
"""Retries, the delay notice and expiry (issue 3): a next hop that never
answers; after delay_warning_time the sender gets one RFC 3464 'delayed'
notice, and after queue_lifetime the recipient bounces with status 4.4.7
and the sender gets the 'failed' notice; the message leaves the queue.
Short durations drive time instead of sleeps.

The message has a second recipient at another dead next hop, so two
jobs of the same message run side by side (two workers), both read
before either sent a delay notice: still one notice for the message."""
import os
import smtplib
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from estafeta_test import Instance, free_port, run, wait_for  # noqa: E402


def dsns(remote, action):
    return [i for i in remote.queue_ids()
            if f"Action: {action}".encode() in remote.spooled_content(i)]


def main():
    remote = Instance("exremote", relay_domains="example.org").start()
    relay = Instance(
        "exrelay", relay_domains="", trusted_networks="127.0.0.0/8",
        deliver_workers=2, queue_retry_min="1s", queue_retry_max="1s",
        delay_warning_time="1s", queue_lifetime="4s",
        smtp_connect_timeout="1s",
        transports=(f"example.org=smtp:[127.0.0.1]:{remote.port}, "
                    f"never.example=smtp:[127.0.0.1]:{free_port()}, "
                    f"never2.example=smtp:[127.0.0.1]:{free_port()}"))
    relay.start()
    with smtplib.SMTP("127.0.0.1", relay.port) as c:
        c.ehlo("client.test")
        c.mail("alice@example.org", ["RET=HDRS", "ENVID=track1"])
        assert c.rcpt("x@never.example", ["NOTIFY=DELAY,FAILURE"])[0] == 250
        assert c.rcpt("y@never2.example", ["NOTIFY=DELAY,FAILURE"])[0] \
            == 250
        code, text = c.data(b"Subject: slow\r\n\r\nhi\r\n")
        assert code == 250, (code, text)
        qid = text.decode().rsplit(" ", 1)[1]

    delayed = wait_for(lambda: dsns(remote, "delayed"), "the delay notice",
                       timeout=30)
    assert len(delayed) == 1, delayed
    body = remote.spooled_content(delayed[0])
    assert b"Will-Retry-Until:" in body and b"Original-Envelope-Id: track1" \
        in body, body
    relay.wait_log(f"{qid} qmgr expired", count=2, timeout=30)
    failed = wait_for(lambda: dsns(remote, "failed"), "the failure notice",
                      timeout=30)
    assert b"Status: 4.4.7" in remote.spooled_content(failed[0])
    relay.wait_log(f"{qid} qmgr removed")
    # Exactly one delay notice, however many retries there were.
    assert len(dsns(remote, "delayed")) == 1


run(main)
