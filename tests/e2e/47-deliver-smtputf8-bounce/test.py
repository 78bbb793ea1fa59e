# SPDX-License-Identifier: ISC
"""SMTPUTF8 towards a peer that lacks it (RFC 6531): estafetad relays to
Postfix's smtp-sink, whose EHLO reply has no SMTPUTF8 (and, started with
-8, no 8BITMIME either). A message sent with SMTPUTF8 to a non-ASCII
recipient, and a message whose header fields hold raw UTF-8 (no SMTPUTF8,
BODY=8BITMIME) going to the sink without 8BITMIME, both bounce at once: a
DSN comes back to the sender (at a second estafetad) whose delivery-status
part has Status: 5.6.7 and a Diagnostic-Code that says why; the sink never
sees a transaction. The positive control: the same SMTPUTF8 message to the
second estafetad (which offers SMTPUTF8) is delivered.

A message that came with SMTPUTF8 but needs none of it (ASCII addresses
and header fields, 8-bit body) goes to the sink with 8BITMIME without
SMTPUTF8 (RFC 6531 3.2), and one whose Subject is raw UTF-8 bounces there
with 5.6.7 (8-bit header fields). The first used to bounce too."""
import atexit
import os
import re
import smtplib
import socket
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from estafeta_test import (Instance, TestFailure, free_port, run,  # noqa: E402
                           wait_for)

SINK = "/usr/sbin/smtp-sink"
sinks = []


def _cleanup():
    for p in sinks:
        if p.poll() is None:
            p.terminate()
            p.wait()


atexit.register(_cleanup)


def listening(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def start_sink(port, *flags):
    user = ["-u", "nobody"] if os.geteuid() == 0 else []
    p = subprocess.Popen([SINK] + user + list(flags) +
                         [f"127.0.0.1:{port}", "16"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    sinks.append(p)
    wait_for(lambda: listening(port) or p.poll() is not None,
             "smtp-sink to listen")
    if p.poll() is not None:
        raise TestFailure(f"smtp-sink exited with {p.returncode}")
    return p


def send(port, rcpt, data, options):
    with smtplib.SMTP("127.0.0.1", port) as c:
        c.ehlo("client.test")
        code, text = c.mail("alice@example.org", options)
        assert code == 250, (code, text)
        code, text = c.rcpt(rcpt)
        assert code == 250, (code, text)
        code, text = c.data(data)
        assert code == 250, (code, text)
        return text.decode().rsplit(" ", 1)[1]


def message(mid, subject):
    return (f"From: alice@example.org\r\nTo: someone\r\n"
            f"Subject: {subject}\r\nMessage-ID: <{mid}@test>\r\n"
            f"MIME-Version: 1.0\r\n"
            f"Content-Type: text/plain; charset=utf-8\r\n"
            f"Content-Transfer-Encoding: 8bit\r\n\r\n"
            f"Grüße.\r\n").encode()


def dsn_for(remote, mid):
    """The DSN at the remote that quotes Message-ID mid, unfolded."""
    for qid in remote.queue_ids():
        c = remote.spooled_content(qid)
        if b"multipart/report" in c and f"<{mid}@test>".encode() in c:
            return re.sub(rb"\r\n[ \t]+", b" ", c).decode("utf-8")
    return None


def check_dsn(dsn, rcpt, why):
    for field in ("Content-Type: message/", "Action: failed",
                  "Status: 5.6.7", "Final-Recipient: ",
                  "Diagnostic-Code: smtp; 5.6.7 SMTPUTF8 required but not "
                  "offered by the receiving server: " + why):
        if field not in dsn:
            raise TestFailure(f"DSN lacks {field!r}:\n{dsn}")
    if rcpt not in dsn:
        raise TestFailure(f"DSN does not name {rcpt}:\n{dsn}")
    # Our decision, not the sink's words, in the human-readable part.
    if "Our mail system, delivering to the server" not in dsn or \
            " said:" in dsn:
        raise TestFailure(f"DSN text misattributes the reason:\n{dsn}")


def main():
    if not os.access(SINK, os.X_OK):
        raise TestFailure(f"{SINK} missing (contrib/setup-debian.sh)")
    remote = Instance("remote", relay_domains="example.org, utf8.example")
    remote.start()
    p7, p8 = free_port(), free_port()
    sink7 = start_sink(p7, "-8")
    sink8 = start_sink(p8)
    relay = Instance(
        "relay", relay_domains="", trusted_networks="127.0.0.0/8",
        deliver_workers=1,
        transports=(f"sink.example=smtp:[127.0.0.1]:{p8}, "
                    f"sink7.example=smtp:[127.0.0.1]:{p7}, "
                    f"example.org=smtp:[127.0.0.1]:{remote.port}, "
                    f"utf8.example=smtp:[127.0.0.1]:{remote.port}"))
    relay.start()

    # 1. SMTPUTF8 to a non-ASCII recipient at a peer without SMTPUTF8.
    qa = qid = send(relay.port, "josé@sink.example",
                    message("u47a", "Grüße"), ["SMTPUTF8", "BODY=8BITMIME"])
    relay.wait_log(f"{qid} qmgr bounced")
    dsn = wait_for(lambda: dsn_for(remote, "u47a"), "the DSN")
    check_dsn(dsn, "josé@sink.example", "the recipient address is not "
              "ASCII")

    # 2. Raw UTF-8 in a header field, no SMTPUTF8, to a peer that has
    #    neither SMTPUTF8 nor 8BITMIME: no 7-bit form exists.
    qb = qid = send(relay.port, "bob@sink7.example",
                    message("u47b", "Grüße"), ["BODY=8BITMIME"])
    relay.wait_log(f"{qid} qmgr bounced")
    relay.wait_log(f"{qid} smtpc downgrade peer=")
    dsn = wait_for(lambda: dsn_for(remote, "u47b"), "the DSN")
    check_dsn(dsn, "bob@sink7.example", "the message has 8-bit header "
              "fields")

    # Both failed for good at the first attempt, before any MAIL.
    log = relay.read_log()
    for q in (qa, qb):
        states = re.findall(rf"{q} deliver to=<[^>]*> route=\S+ "
                            r"next_hop=\S+ state=(\w) remote=\S+ "
                            r"reply=\"5\.6\.7 ", log)
        assert states == ["p"], (q, states, log[-3000:])

    # 3. Control: the same SMTPUTF8 message to a peer offering SMTPUTF8.
    qid = send(relay.port, "josé@utf8.example",
               message("u47c", "Grüße"), ["SMTPUTF8", "BODY=8BITMIME"])
    relay.wait_log(f"{qid} qmgr removed")
    assert f"{qid} qmgr delivered" in relay.read_log()
    got = wait_for(lambda: [i for i in remote.queue_ids() if
                            b"<u47c@test>" in remote.spooled_content(i)],
                   "it at the remote")
    assert len(got) == 1, got

    # 4. SMTPUTF8 that nothing needs, to the sink with 8BITMIME: sent
    #    without it. With a UTF-8 Subject: 5.6.7 there.
    qid = send(relay.port, "bob@sink.example", message("u47d", "Hello"),
               ["SMTPUTF8", "BODY=8BITMIME"])
    relay.wait_log(f"{qid} qmgr removed")
    log = relay.read_log()
    assert f"{qid} qmgr delivered" in log, log[-3000:]
    assert f"{qid} smtpc peer=" in log and "sent without SMTPUTF8" in log
    qe = send(relay.port, "bob@sink.example", message("u47e", "Grüße"),
              ["SMTPUTF8", "BODY=8BITMIME"])
    relay.wait_log(f"{qe} qmgr bounced")
    dsn = wait_for(lambda: dsn_for(remote, "u47e"), "the DSN")
    check_dsn(dsn, "bob@sink.example", "the message has 8-bit header "
              "fields")
    for p in (sink7, sink8):
        assert p.poll() is None, "smtp-sink died"


run(main)
