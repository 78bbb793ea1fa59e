# SPDX-License-Identifier: ISC
"""A delivery worker stopped on purpose in the middle of a job is no
crash: neither a clean stop of estafetad (SIGTERM) nor a reload (SIGHUP,
the old generation retires) logs "delivery worker lost during a job";
qmgr notes the unfinished rest at info level. A worker killed by a
signal we did not send (SIGKILL) still gets the warning. In every case
the messages left are delivered later, none is lost.

The next hop is a small SMTP server (lib/smtppeer.py) that records each
message's Subject and, for a chosen message, holds its reply to the
final dot until the test releases it (or the client goes away). All the
messages go in one job (deliver_job_messages is 16).
"""
import os
import signal
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from estafeta_test import Instance, run, wait_for  # noqa: E402
from smtppeer import SmtpPeer, submit as send  # noqa: E402

N = 12
LOST = "qmgr delivery worker lost during a job"
STOPPED = "qmgr delivery worker stopped during a job"


def held(srv, subject):
    wait_for(lambda: subject in srv.held, f"the peer to hold {subject}")


def main():
    def on_dot(conn, subject):
        """A subject in srv.hold: its reply waits for srv.released."""
        with srv.lock:
            if subject not in srv.hold:
                return True
            srv.hold.discard(subject)
            srv.held.add(subject)
        return conn.hold(lambda: subject in srv.released)

    srv = SmtpPeer(on_dot=on_dot)
    # hold: subjects whose reply the peer is to hold (once); held: those
    # it holds or held; released: those it may answer now.
    srv.hold, srv.held, srv.released = set(), set(), set()
    port = srv.port

    relay = Instance("relay", relay_domains="", trusted_networks="127.0.0.0/8",
                     transports=f"peer.test=smtp:[127.0.0.1]:{port}",
                     queue_retry_min="1h", delay_warning_time="0",
                     smtp_reply_timeout="1h")
    relay.start()
    ids = [send(relay.port, f"m{i}") for i in range(N)]
    relay.stop()
    relay.settings.update(deliver_workers="1")
    relay.write_config()

    # 1. estafetad stops (SIGTERM) while the worker waits for the peer:
    # it finishes that message, then leaves the rest of the job.
    srv.hold.update(("m3", "m6", "m9"))
    relay.start()
    held(srv, "m3")
    relay.signal(signal.SIGTERM)
    relay.wait_log("master stopping", count=2)  # the first: queueing
    srv.released.add("m3")
    relay.proc.wait(timeout=20)
    relay.stop()
    log = relay.read_log()
    assert LOST not in log, "a clean stop logged a lost worker"
    assert f"{ids[4]} {STOPPED}: {N - 4} messages of it will be " \
        "retried" in log, "no note of the job left by the stop"
    for qid in ids[:4]:
        assert f"{qid} qmgr removed" in log, qid

    # 2. A reload retires the worker (and qmgr) while it waits.
    relay.start()
    held(srv, "m6")
    relay.signal(signal.SIGHUP)
    relay.wait_log("master reloaded generation=1")
    srv.released.add("m6")
    for qid in ids[4:7]:
        relay.wait_log(f"{qid} qmgr removed")
    assert LOST not in relay.read_log(), "a reload logged a lost worker"

    # 3. A worker killed by a signal we did not send: the warning, and
    # the rest of its job goes with the worker that replaces it; the
    # message it was on counts the try (deferred) until flushed.
    held(srv, "m9")
    pids = wait_for(lambda: (lambda p: p if len(p) == 1 else None)(
        relay.child_pids("deliver")), "one delivery worker")
    os.kill(pids[0], signal.SIGKILL)
    relay.wait_log(f"{ids[9]} {LOST}:")
    relay.wait_log(f"{ids[9]} qmgr deferred")
    relay.ctl("queue", "flush", ids[9])
    for qid in ids:
        relay.wait_log(f"{qid} qmgr removed")
    assert relay.queue() == []
    relay.stop()
    assert relay.read_log().count(LOST) == 1
    with srv.lock:
        got = list(srv.got)
    # Only a message whose reply was held may arrive twice (at least
    # once); m3's result reached qmgr before the stop.
    assert sorted(set(got)) == sorted(f"m{i}" for i in range(N)), got
    twice = {s for s in got if got.count(s) > 1}
    assert twice <= {"m6", "m9"}, got
    srv.shutdown()


if __name__ == "__main__":
    run(main)
