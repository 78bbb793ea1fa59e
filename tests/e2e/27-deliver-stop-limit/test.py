# SPDX-License-Identifier: ISC
"""A delivery worker that the master kills at the stop time limit
(shutdown_timeout) is no crash: estafetad stops (SIGTERM) while the only
worker waits for the next hop's reply to a final dot that never comes;
at the limit the master kills it and tells qmgr first, so qmgr notes the
job left at info level ("killed at the stop time limit", with the number
of messages to retry), never "delivery worker lost during a job", and
then stops cleanly itself. Every message is delivered after a restart.
A worker killed by a signal the master did not send still gets the
warning (e2e 20 checks it, and so does the end of this test).

The next hop is lib/smtppeer.py; it holds its reply to m0's final dot
until the client goes away. All messages go in one job.
"""
import os
import signal
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from estafeta_test import Instance, run, wait_for  # noqa: E402
from smtppeer import SmtpPeer, submit as send  # noqa: E402

N = 5
LOST = "qmgr delivery worker lost during a job"
KILLED = "qmgr delivery worker killed at the stop time limit during a job"


def main():
    def on_dot(conn, subject):
        with srv.lock:
            if subject not in srv.hold:
                return True
            srv.hold.discard(subject)
            srv.held.add(subject)
        return conn.hold(lambda: False)     # until the client goes away

    srv = SmtpPeer(on_dot=on_dot)
    srv.hold, srv.held = set(), set()

    relay = Instance("stoplimit", relay_domains="",
                     trusted_networks="127.0.0.0/8",
                     transports=f"peer.test=smtp:[127.0.0.1]:{srv.port}",
                     queue_retry_min="1h", delay_warning_time="0",
                     smtp_reply_timeout="1h", shutdown_timeout="2s")
    relay.start()
    ids = [send(relay.port, f"m{i}") for i in range(N)]
    relay.stop()
    relay.settings.update(deliver_workers="1")
    relay.write_config()

    srv.hold.add("m0")
    relay.start()
    wait_for(lambda: "m0" in srv.held, "the peer to hold m0")
    relay.signal(signal.SIGTERM)
    relay.proc.wait(timeout=30)
    relay.stop()
    log = relay.read_log()
    assert "master stopping: sessions may finish (up to 2 s)" in log, log
    assert "master stop time limit reached: killing 1 worker" in log, log
    assert f"{ids[0]} {KILLED}: {N} messages of it will be retried" \
        in log, log
    assert LOST not in log, "a kill at the stop time limit warned"
    assert "qmgr stopped" in log, "qmgr did not stop cleanly"
    assert "master stopped" in log, log
    for qid in ids:
        assert f"{qid} qmgr removed" not in log, qid

    # Restart: the job left is delivered, none is lost.
    relay.start()
    for qid in ids:
        relay.wait_log(f"{qid} qmgr removed")
    assert relay.queue() == []

    # A worker killed by a signal the master did not send still warns.
    srv.hold.add("late")
    late = send(relay.port, "late")
    wait_for(lambda: "late" in srv.held, "the peer to hold late")
    pids = wait_for(lambda: (lambda p: p if len(p) == 1 else None)(
        relay.child_pids("deliver")), "one delivery worker")
    os.kill(pids[0], signal.SIGKILL)
    relay.wait_log(f"{late} {LOST}: 1 message of it will be retried")
    relay.wait_log(f"{late} qmgr deferred")     # the try counts
    relay.ctl("queue", "flush", late)
    relay.wait_log(f"{late} qmgr removed")
    relay.stop()
    assert relay.read_log().count(KILLED) == 1
    with srv.lock:
        got = list(srv.got)
    assert sorted(set(got)) == sorted([f"m{i}" for i in range(N)] +
                                      ["late"]), got
    srv.shutdown()


if __name__ == "__main__":
    run(main)
