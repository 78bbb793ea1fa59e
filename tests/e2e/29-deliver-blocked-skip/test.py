# SPDX-License-Identifier: ISC
"""A long queue for a destination at its connection limit does not hold
back other mail, and its rows are passed over cheaply: once the due scan
finds a destination that can take nothing more in a run (here
deliver_dest_concurrency = 1 and its one connection hangs: a next hop that
accepts and never greets), it leaves that domain's further rows out of
the pages it reads in that run (in SQL: not read, grouped nor routed;
debug line "qmgr scan rows=N ... skip_domains=M"). A later message to a working remote is still delivered.
"""
import os
import re
import smtplib
import socket
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from estafeta_test import Instance, free_port, run, wait_for  # noqa: E402

NMSG = 12       # messages to the limited destination
NRCPT = 50      # recipients each: 600 due rows


def send(c, rcpts, subject):
    c.mail("alice@example.org")
    for r in rcpts:
        code, text = c.rcpt(r)
        assert code == 250, (r, code, text)
    code, text = c.data(f"Subject: {subject}\r\n\r\nBody.\r\n".encode())
    assert code == 250, (code, text)
    return text.decode().rsplit(" ", 1)[1]


def main():
    remote = Instance("remote", relay_domains="example.org").start()
    mute_port = free_port()
    mute = socket.socket()
    mute.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    mute.bind(("127.0.0.1", mute_port))
    mute.listen(8)
    relay = Instance(
        "relay", relay_domains="", trusted_networks="127.0.0.0/8",
        deliver_workers=3, deliver_dest_concurrency=1,
        deliver_job_messages=1, queue_retry_min="1h",
        delay_warning_time="0", smtp_reply_timeout="1h", log_level="debug",
        transports=(f"example.org=smtp:[127.0.0.1]:{remote.port}, "
                    f"slow.example=smtp:[127.0.0.1]:{mute_port}"))
    relay.start()

    with smtplib.SMTP("127.0.0.1", relay.port) as c:
        c.ehlo("client.test")
        ids = [send(c, [f"u{i}.{k}@slow.example" for k in range(NRCPT)],
                    f"slow {i}") for i in range(NMSG)]
    mute.settimeout(30)
    held, _ = mute.accept()     # the destination's one connection
    with smtplib.SMTP("127.0.0.1", relay.port) as c:
        c.ehlo("client.test")
        small = send(c, ["bob@example.org"], "small")
    assert small > max(ids), (small, ids)   # behind them in the due order
    relay.wait_log(f"{small} qmgr removed")
    wait_for(lambda: any(q["sender"] == "alice@example.org"
                         for q in remote.queue()), "it at the remote")
    # Runs left the blocked domain's rows out after their first page:
    # fewer rows read than are due (skip_domains counts such domains).
    scans = [(int(r), int(k)) for r, k in
             re.findall(r"qmgr scan rows=(\d+) groups=\d+ skip_domains=(\d+)",
                        relay.read_log())]
    assert any(k >= 1 and r < NMSG * NRCPT for r, k in scans), scans[-5:]
    # Only one connection to it, ever: none of its messages delivered.
    mute.settimeout(0)
    try:
        extra, _ = mute.accept()
        extra.close()
        raise AssertionError("a second connection to slow.example")
    except BlockingIOError:
        pass
    for i in ids:
        assert f"{i} qmgr delivered" not in relay.read_log(), i
    held.close()
    mute.close()


if __name__ == "__main__":
    run(main)
