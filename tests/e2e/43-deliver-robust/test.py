# SPDX-License-Identifier: ISC
"""Delivery robustness with a second estafetad as the remote: messages to
one next hop share connections (a delivery worker keeps its connection
for the next job); and kill -9 of every relay process in the middle of
deliveries loses nothing: after a restart every message reaches the
remote at least once (duplicates are allowed: at-least-once) and the
relay's queue drains."""
import os
import re
import signal
import smtplib
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from estafeta_test import Instance, TestFailure, run, wait_for  # noqa: E402


def send_many(port, tag, n):
    with smtplib.SMTP("127.0.0.1", port) as c:
        c.ehlo("client.test")
        for i in range(n):
            c.mail("alice@example.org")
            assert c.rcpt("bob@example.org")[0] == 250
            code, text = c.data(f"Message-ID: <{tag}-{i}@test>\r\n"
                                f"Subject: {tag} {i}\r\n\r\nbody\r\n"
                                .encode())
            assert code == 250, (code, text)


def arrived(remote, tag):
    ids = set()
    for qid in remote.queue_ids():
        m = re.search(rb"Message-ID: <(" + tag.encode() + rb"-\d+)@test>",
                      remote.spooled_content(qid))
        if m:
            ids.add(m.group(1).decode())
    return ids


def connections(inst):
    return inst.read_log().count(" smtp connect ")


def main():
    remote = Instance("rremote", relay_domains="example.org").start()
    relay = Instance("rrelay", relay_domains="",
                     trusted_networks="127.0.0.0/8", deliver_workers=1,
                     queue_retry_min="1s", delay_warning_time="0",
                     transports=f"example.org=smtp:[127.0.0.1]:"
                                f"{remote.port}")
    relay.start()

    # 1. Connection reuse: 20 messages, one worker, a handful of
    #    connections at most (not 20).
    before = connections(remote)
    send_many(relay.port, "reuse", 20)
    wait_for(lambda: len(arrived(remote, "reuse")) == 20,
             "20 messages at the remote", timeout=60)
    used = connections(remote) - before
    if used > 5:
        raise TestFailure(f"20 messages took {used} connections")

    # 2. kill -9 everything mid-delivery, three times, then let it drain.
    relay.stop()
    relay.settings["deliver_workers"] = "4"
    relay.write_config()
    relay.start()
    send_many(relay.port, "crash", 60)
    for _ in range(3):
        # Kill only once this run has delivered something new.
        seen = relay.read_log().count(" qmgr delivered ")
        wait_for(lambda: relay.read_log().count(" qmgr delivered ") > seen
                 or len(arrived(remote, "crash")) == 60,
                 "a new delivery (or all of them)")
        for pid in relay.pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        relay.stop(kill=True)
        relay.start()
    # Deferred ones retry after 1 s; flush to not wait for the backoff.
    wait_for(lambda: relay.ctl("queue", "flush", check=False) and
             len(arrived(remote, "crash")) == 60,
             "all 60 messages at the remote", timeout=90, interval=0.5)
    wait_for(lambda: not relay.queue_ids(), "the relay queue to drain",
             timeout=60)
    assert not os.listdir(os.path.join(relay.spool, "corrupt"))


run(main)
