# SPDX-License-Identifier: ISC
"""A delivery worker killed (SIGKILL) in the middle of a job of several
messages: the messages it had reported are never delivered again, the
rest of its job is delivered by the worker that replaces it.

The next hop is a small SMTP server (lib/smtppeer.py; it records each
message's Subject): it takes the first three messages of the job, and
for the fourth it reads the content and then never answers the final
dot. The test kills the worker while it waits for that reply. Every
message must arrive; only the fourth may arrive twice (it was never
acknowledged: at-least-once), and none of the others does.

The lost try of the fourth counts, as a connection lost after the dot
would: it is deferred (backoff), so a message that crashes the worker
every time is not retried at once for ever and expires in time. The
test then flushes it. The messages after it were not tried: they go at
once.
"""
import os
import signal
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from estafeta_test import Instance, run, wait_for  # noqa: E402
from smtppeer import SmtpPeer, submit as send  # noqa: E402

N = 10
HANG = "m3"


def main():
    hung = []

    def on_dot(conn, subject):
        """The fourth message, the first time: no reply, ever."""
        with srv.lock:
            if subject != HANG or hung:
                return True
            hung.append(subject)
        return conn.hold(lambda: False)     # until the client goes away

    srv = SmtpPeer(on_dot=on_dot)
    port = srv.port

    relay = Instance("relay", relay_domains="", trusted_networks="127.0.0.0/8",
                     transports=f"peer.test=smtp:[127.0.0.1]:{port}",
                     queue_retry_min="1h", delay_warning_time="0",
                     smtp_reply_timeout="1h")
    relay.start()
    ids = [send(relay.port, f"m{i}") for i in range(N)]
    relay.stop()
    relay.settings.update(deliver_workers="1", log_level="debug")
    relay.write_config()
    relay.start()
    wait_for(lambda: hung, "the peer to hold the fourth message")
    log = relay.read_log()
    assert f"job_msg={N}/{N}" in log, "not one job"
    for qid in ids[:3]:
        relay.wait_log(f"{qid} qmgr removed")
    # The worker: the one that delivered the first message.
    line = next(x for x in log.splitlines()
                if f"{ids[0]} deliver to=" in x)
    pid = int(line.split("deliver[", 1)[1].split("]", 1)[0])
    os.kill(pid, signal.SIGKILL)
    relay.wait_log(f"{ids[3]} qmgr delivery worker lost during a job: "
                   f"{N - 3} messages of it will be retried")
    relay.wait_log(f"{ids[3]} qmgr deferred rcpt_idx=0 attempts=1 "
                   "retry_in=3600s reply=\"4.3.0 delivery worker lost "
                   "during this message")
    for qid in ids[4:]:
        relay.wait_log(f"{qid} qmgr removed")
    relay.ctl("queue", "flush", ids[3])
    for qid in ids:
        relay.wait_log(f"{qid} qmgr removed")
    with srv.lock:
        got = sorted(srv.got, key=lambda s: int(s[1:]))
    want = sorted([f"m{i}" for i in range(N)] + [HANG],
                  key=lambda s: int(s[1:]))
    assert got == want, got
    assert relay.queue() == []
    relay.stop()
    srv.shutdown()


if __name__ == "__main__":
    run(main)
