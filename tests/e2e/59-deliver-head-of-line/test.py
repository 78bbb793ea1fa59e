# SPDX-License-Identifier: ISC
"""The scheduler's due scan reads a page of due recipients per idle
worker (32 each); when the first rows all belong to a message already in
delivery, it reads the next page instead of leaving the mail behind them
waiting. Two workers: a message with 40 recipients goes to a next hop
that accepts the connection and never greets (one worker stays busy with
it); a later message to a working remote must still be delivered by the
other worker, long before the busy one gives up (smtp_reply_timeout 1h).
"""
import os
import smtplib
import socket
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from estafeta_test import Instance, free_port, run, wait_for  # noqa: E402

NBIG = 40


def send(port, rcpts, subject):
    with smtplib.SMTP("127.0.0.1", port) as c:
        c.ehlo("client.test")
        c.mail("alice@example.org")
        for r in rcpts:
            code, text = c.rcpt(r)
            assert code == 250, (r, code, text)
        code, text = c.data(f"Subject: {subject}\r\n\r\nBody.\r\n".encode())
        assert code == 250, (code, text)
        return text.decode().rsplit(" ", 1)[1]


def main():
    remote = Instance("remote", relay_domains="example.org").start()
    # A next hop that takes the connection and says nothing.
    mute = socket.socket()
    mute.bind(("127.0.0.1", 0))
    mute.listen(8)
    mute_port = mute.getsockname()[1]
    relay = Instance(
        "relay", relay_domains="", trusted_networks="127.0.0.0/8",
        deliver_workers=2, queue_retry_min="1h", delay_warning_time="0",
        smtp_reply_timeout="1h",
        transports=(f"example.org=smtp:[127.0.0.1]:{remote.port}, "
                    f"mute.example=smtp:[127.0.0.1]:{mute_port}"))
    relay.start()

    big = send(relay.port, [f"u{i}@mute.example" for i in range(NBIG)],
               "big")
    mute.settimeout(30)
    held, _ = mute.accept()     # one worker is now busy with it
    small = send(relay.port, ["bob@example.org"], "small")
    assert small > big, (small, big)    # behind it in the due order
    relay.wait_log(f"{small} qmgr removed")
    wait_for(lambda: any(q["sender"] == "alice@example.org"
                         for q in remote.queue()), "it at the remote")
    assert f"{big} qmgr delivered" not in relay.read_log()
    held.close()
    mute.close()


if __name__ == "__main__":
    run(main)
