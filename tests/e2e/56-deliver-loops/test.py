# SPDX-License-Identifier: ISC
"""Mail loops end in a bounce (status 5.4.6), never in endless traffic.

1. Hop count (RFC 5321 6.3): two estafetad instances route loop.example
   to each other ([127.0.0.1]:port transports). The message goes back and
   forth, gaining a Received header at each hop, until the receiving side
   refuses it (554 5.4.6 too many hops, hop_count_limit = 10); the sending
   side bounces it to the sender and both queues empty.
2. By address: the best MX of a domain resolves (test DNS, dnsmasq) to
   our own listening address -> bounce 5.4.6; when only a worse MX is
   ours, the better one gets the mail; a [host]:port transport pointing
   at our own listener bounces 5.4.6 at once. And when both MX hosts of
   a domain are down, queue show lists the MX set in preference order and
   each address tried with its failure."""
import email
import email.policy
import json
import os
import re
import signal
import smtplib
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from estafeta_test import Instance, TestFailure, run, wait_for  # noqa: E402
from testdns import TestDNS  # noqa: E402


def send(port, rcpt, subject):
    msg = (f"From: alice@example.org\r\nTo: {rcpt}\r\nSubject: {subject}"
           f"\r\nMessage-ID: <{subject}@test>\r\n\r\nBody.\r\n").encode()
    with smtplib.SMTP("127.0.0.1", port) as c:
        c.ehlo("client.test")
        c.mail("alice@example.org")
        code, _ = c.rcpt(rcpt)
        assert code == 250, code
        code, text = c.data(msg)
        assert code == 250, (code, text)
        return text.decode().rsplit(" ", 1)[1]


def dsn_for(home, subject):
    """The one DSN at home whose returned headers carry subject."""
    def find():
        got = []
        for i in home.queue_ids():
            c = home.spooled_content(i)
            if b"multipart/report" in c and \
                    f"Subject: {subject}".encode() in c:
                got.append(c)
        return got
    got = wait_for(find, f"the DSN for {subject!r}")
    if len(got) != 1:
        raise TestFailure(f"{len(got)} DSNs for {subject!r}")
    msg = email.message_from_bytes(got[0], policy=email.policy.default)
    # Unfolded: long Diagnostic-Code fields are folded.
    return re.sub(r"\r?\n[ \t]+", " ", list(msg.iter_parts())[1].as_string())


def main():
    home = Instance("home", relay_domains="example.org").start()
    mine = Instance("mine", trusted_networks="127.0.0.0/8", relay_domains="")
    port = mine.port
    dns = TestDNS({
        "selfmx.example": ["MX 10 mx.selfmx.example"],
        "mx.selfmx.example": ["A 127.0.0.1"],
        "backup.example": ["MX 10 primary.backup.example",
                           "MX 20 me.backup.example"],
        "primary.backup.example": ["A 127.0.0.5"],
        "me.backup.example": ["A 127.0.0.1"],
        "down.example": ["MX 20 b.down.example", "MX 10 a.down.example"],
        "a.down.example": ["A 127.0.0.6"],
        "b.down.example": ["A 127.0.0.7"],
    }).start()
    primary = Instance("primary", relay_domains="backup.example",
                       listen_mx=f"127.0.0.5:{port}")
    primary.port = port
    other = Instance("other", relay_domains="loop.example",
                     deliver_workers=1, hop_count_limit=10,
                     queue_retry_min="1h", delay_warning_time="0",
                     transports=(f"loop.example=smtp:[127.0.0.1]:{port}, "
                                 f"example.org=smtp:[127.0.0.1]:{home.port}"))
    mine.settings.update({
        "deliver_workers": "1", "hop_count_limit": "10",
        "queue_retry_min": "1h", "delay_warning_time": "0",
        "dns_server": dns.server, "smtp_connect_timeout": "2s",
        "transports": (f"loop.example=smtp:[127.0.0.1]:{other.port}, "
                       f"selfmx.example=smtp:selfmx.example:{port}, "
                       f"backup.example=smtp:backup.example:{port}, "
                       f"self.example=smtp:[127.0.0.1]:{port}, "
                       f"down.example=smtp:down.example:{port}, "
                       f"example.org=smtp:[127.0.0.1]:{home.port}")})
    mine.write_config()
    mine.start()
    other.start()
    # primary listens on 127.0.0.5 only: wait on its log, not on 127.0.0.1
    primary.start(wait=False)
    primary.wait_log("qmgr ready")

    # 1. Hop count.
    qid = send(port, "x@loop.example", "hops")
    status = dsn_for(home, "hops")
    for want in ("Final-Recipient: rfc822; x@loop.example",
                 "Action: failed", "Status: 5.4.6", "too many hops"):
        if want not in status:
            raise TestFailure(f"loop DSN lacks {want!r}:\n{status}")
    # Both queues drain: no more traffic.
    wait_for(lambda: not mine.queue_ids() and not other.queue_ids(),
             "both queues to empty")
    hops = (mine.read_log().count("smtp accept") +
            other.read_log().count("smtp accept"))
    refused = (mine.read_log() + other.read_log()).count(
        "smtp reject rule=hop_count_limit")
    assert refused == 1, refused
    assert 9 <= hops <= 11, hops     # about hop_count_limit hops, once
    assert qid

    # 2a. Our address is the best MX: bounce, nothing sent anywhere.
    send(port, "y@selfmx.example", "selfmx")
    status = dsn_for(home, "selfmx")
    for want in ("Status: 5.4.6", "loops back to myself",
                 "our listening address"):
        if want not in status:
            raise TestFailure(f"self-MX DSN lacks {want!r}:\n{status}")

    # 2b. We are only the backup (MX 20): the primary (MX 10) gets it.
    qid = send(port, "z@backup.example", "backup")
    wait_for(lambda: [m for m in primary.queue()
                      if m["recipients"][0]["addr"] == "z@backup.example"],
             "the message at the primary MX")
    mine.wait_log(f"{qid} qmgr removed")
    line = [ln for ln in mine.read_log().splitlines()
            if f"{qid} deliver to=<z@backup.example>" in ln][0]
    assert "state=d" in line, line

    # 2d. Both MX hosts down: the timeline lists the MX set in preference
    #     order and each address tried with its failure.
    qid = send(port, "v@down.example", "downmx")

    def timeline():
        r = mine.ctl("queue", "show", "--json", qid, check=False)
        return r.returncode == 0 and json.loads(r.stdout)["recipients"][0][
            "timeline"]
    t = wait_for(timeline, "the timeline of the MX attempt")[0]
    assert t["route"] == f"transports: mx:down.example:{port}", t
    assert t["mx"] == "a.down.example(10) b.down.example(20)", t
    if not re.fullmatch(
            rf"127\.0\.0\.6:{port} \(a\.down\.example\): 4\.4\.1 connect: "
            rf"[^,]+, 127\.0\.0\.7:{port} \(b\.down\.example\): 4\.4\.1 "
            r"connect: .+", t["tried"]):
        raise TestFailure(f"tried: {t['tried']!r}")
    assert t["state"] == "deferred", t

    # 2c. A [host]:port transport pointing at our own listener.
    send(port, "w@self.example", "selfhost")
    status = dsn_for(home, "selfhost")
    for want in ("Status: 5.4.6", "loops back to myself",
                 "next hop 127.0.0.1 is our listening address"):
        if want not in status:
            raise TestFailure(f"self-host DSN lacks {want!r}:\n{status}")
    assert "selfhost" not in "".join(
        m["recipients"][0]["addr"] for m in primary.queue())
    # Stop all at once: each one's delivery workers keep idle connections
    # to the others open (reuse) until they exit, and a draining
    # estafetad waits for its sessions.
    for inst in (mine, other, primary, home):
        inst.signal(signal.SIGTERM)
    for inst in (mine, other, primary, home):
        inst.stop()


run(main)
