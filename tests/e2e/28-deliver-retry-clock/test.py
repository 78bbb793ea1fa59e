# SPDX-License-Identifier: ISC
"""A recipient that fails at once is retried once per queue_retry_min,
not over and over at the start of a second. qmgr wakes for the rows due
at a second's start; a job that fails in a millisecond (here: damaged
queue files, no connection) used to have its next try computed from
time(NULL), which glibc reads from the coarse clock, a tick behind: the
second before, so next_try was the current second and the due scan took
the recipients again at once (e2e 26 saw 27 tries in 2 s).

With queue_retry_min = queue_retry_max = 1s, each try of a recipient is
decided in a later second than the one before, so n tries logged span
at least n - 2 seconds (a log line may come a moment after its
decision).
"""
import datetime
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from estafeta_test import Instance, free_port, run  # noqa: E402
from smtppeer import submit  # noqa: E402

N = 3
TRIES = 6


def stamp(line):
    return datetime.datetime.strptime(line.split(" ", 1)[0],
                                      "%Y-%m-%dT%H:%M:%S.%fZ").timestamp()


def main():
    relay = Instance("retryclock", relay_domains="",
                     trusted_networks="127.0.0.0/8",
                     queue_retry_min="1s", queue_retry_max="1s",
                     delay_warning_time="0", deliver_throttle="no",
                     transports=f"peer.test=smtp:[127.0.0.1]:{free_port()}")
    relay.start()
    ids = [submit(relay.port, f"m{i}") for i in range(N)]
    relay.stop()
    for qid in ids:     # the end record's total: fails before connecting
        with open(relay.spool_file(qid), "r+b") as f:
            data = f.read()
            f.seek(len(data) - 8)
            f.write((1 << 30).to_bytes(8, "big"))
    relay.settings.update(deliver_workers="1")
    relay.write_config()
    relay.start()
    for qid in ids:
        relay.wait_log(f"{qid} qmgr deferred", count=TRIES, timeout=30)
    relay.stop()
    log = relay.read_log().splitlines()
    for qid in ids:
        tries = [stamp(line) for line in log
                 if f" {qid} qmgr deferred rcpt_idx=0 " in line]
        span = tries[-1] - tries[0]
        assert len(tries) <= span + 2, \
            f"{qid}: {len(tries)} tries in {span:.3f} s"


if __name__ == "__main__":
    run(main)
