# SPDX-License-Identifier: ISC
"""`estafetactl queue bounce` on a filter matching hundreds of messages:
every one gets its DSN and qmgr stays responsive. qmgr writes each DSN
through the spool; that writer must not also send NOTIFY frames to
qmgr's own socket, which qmgr does not read while it runs the command
(past about 280 of them the socket's queue is full and qmgr blocked in
sendmsg() for ever: estafetactl got "no answer from qmgr")."""
import os
import smtplib
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from estafeta_test import Instance, TestFailure, run, wait_for  # noqa: E402

N = 400


def main():
    relay = Instance("relay", relay_domains="", trusted_networks="127.0.0.0/8",
                     delay_warning_time="0")
    relay.start()
    with smtplib.SMTP("127.0.0.1", relay.port) as c:
        c.ehlo("client.test")
        for i in range(N):
            c.sendmail("alice@example.org", ["x@later.example"],
                       f"Subject: m{i}\r\n\r\nBody.\r\n".encode())
    wait_for(lambda: len(relay.queue()) == N, f"{N} messages queued",
             timeout=60)
    r = relay.ctl("queue", "bounce", "--domain", "later.example",
                  check=False)
    if r.returncode != 0 or not r.stdout.startswith(f"ok: bounce: {N} "):
        raise TestFailure(f"bounce failed: {r.returncode} {r.stdout!r} "
                          f"{r.stderr!r}")
    assert relay.read_log().count("qmgr notification") == N
    # Only the DSNs are left, each indexed once; qmgr still answers.
    q = wait_for(lambda: (lambda q: q if len(q) == N else None)(
        relay.queue()), f"{N} DSNs in the queue")
    assert all(m["sender"] == "" for m in q), q[:3]
    assert relay.ctl("queue", "flush").stdout.startswith("ok:")


if __name__ == "__main__":
    run(main)
