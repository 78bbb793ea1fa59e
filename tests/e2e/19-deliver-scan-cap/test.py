# SPDX-License-Identifier: ISC
"""The due scan reads at most a fixed number of rows per run (20,000 in
production; ESTAFETA_TEST_SCAN_RUN_MAX=40 here, a test-only knob). When
more rows than that are blocked in front (here the 100 recipients of a
message a worker is busy with: a next hop that accepts the connection
and never greets), the next run must go on reading behind them, not
start over at the top: a message behind them is delivered by the other
worker while the busy one still waits.

That message is queued after the big one while its own next hop is
down (deferred), then the hop comes up and `queue flush` makes it due
again: a flush starts a new sweep of the due list from its first row,
so the scan has to get past the 100 busy rows to reach it.
"""
import os
import smtplib
import socket
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from estafeta_test import Instance, free_port, run, wait_for  # noqa: E402

NBIG = 100      # one group (DELIVER_MAX_RCPTS): more rows than the cap


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
    os.environ["ESTAFETA_TEST_SCAN_RUN_MAX"] = "40"
    remote = Instance("remote", relay_domains="example.org")  # down yet
    mute = socket.socket()
    mute.bind(("127.0.0.1", 0))
    mute.listen(8)
    mute_port = mute.getsockname()[1]
    relay = Instance(
        "relay", relay_domains="", trusted_networks="127.0.0.0/8",
        deliver_workers=2, queue_retry_min="1h",
        delay_warning_time="0", smtp_reply_timeout="1h",
        deliver_throttle="no",
        transports=(f"example.org=smtp:[127.0.0.1]:{remote.port}, "
                    f"mute.example=smtp:[127.0.0.1]:{mute_port}"))
    relay.start()

    big = send(relay.port, [f"u{i}@mute.example" for i in range(NBIG)],
               "big")
    mute.settimeout(30)
    held, _ = mute.accept()     # one worker is now busy with it
    small = send(relay.port, ["bob@example.org"], "small")
    assert small > big, (small, big)    # behind its rows in the due order
    relay.wait_log(f"{small} qmgr deferred rcpt_idx=0")
    remote.start()
    relay.ctl("queue", "flush", small)
    relay.wait_log(f"{small} qmgr removed")
    wait_for(lambda: any(q["sender"] == "alice@example.org"
                         for q in remote.queue()), "it at the remote")
    assert f"{big} qmgr delivered" not in relay.read_log()
    held.close()
    mute.close()


if __name__ == "__main__":
    run(main)
