# SPDX-License-Identifier: ISC
"""qmgr killed with SIGKILL: the master restarts it (with a backoff), mail
keeps being accepted durably meanwhile and ends up indexed.

For spool_sync = group and = fsync, with a pool fixed at three workers
that have all talked to the first qmgr:
  * qmgr gets SIGKILL; the master logs its death and "restarting qmgr";
  * messages sent while no qmgr runs still get 250 (smtpd falls back to
    its own fsync): their files are in queue/ before qmgr is back;
  * the new qmgr indexes them;
  * afterwards every worker (each still holding a connection to the dead
    qmgr) commits a message, and all of them get indexed promptly.
Then the restart backoff: two deaths in a row are restarted after 1 s and
2 s; after the qmgr ran 10 s, a death is restarted after 1 s again.

Last, the master itself gets SIGKILL: every child (qmgr, smtpd, delivery
workers) ends too (parent death signal). A qmgr left running used to
keep scheduling the queue beside the next master's qmgr.
"""
import os
import signal
import smtplib
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from estafeta_test import Instance, TestFailure, run, wait_for  # noqa: E402

WORKERS = 3


def qmgr_pid(inst):
    """The pid in the last "estafetad/qmgr[PID]: qmgr ready" log line."""
    lines = [ln for ln in inst.read_log().splitlines()
             if "qmgr ready" in ln]
    return int(lines[-1].split("estafetad/qmgr[", 1)[1].split("]", 1)[0])


def transaction(c, tag):
    c.mail(f"{tag}@remote.test")
    code, text = c.rcpt("alice@example.test")
    if code != 250:
        raise TestFailure(f"RCPT: {code} {text!r}")
    code, text = c.data(f"Subject: {tag}\r\n\r\nx\r\n")
    if code != 250:
        raise TestFailure(f"DATA: {code} {text!r}")
    return text.decode().rsplit(" ", 1)[1]


def on_every_worker(inst, tag):
    """One message through each worker: WORKERS sessions open at once."""
    sessions = [smtplib.SMTP("127.0.0.1", inst.port, timeout=10)
                for _ in range(WORKERS)]
    ids = []
    for i, c in enumerate(sessions):
        c.ehlo("client.remote.test")
        ids.append(transaction(c, f"{tag}{i}"))
    for c in sessions:
        c.quit()
    return ids


def scenario(sync):
    inst = Instance(f"qmgr-{sync}", spool_sync=sync,
                    smtpd_workers_min=WORKERS, smtpd_workers_max=WORKERS)
    inst.start()
    before = on_every_worker(inst, "before")
    wait_for(lambda: set(before) <= inst.queue_ids(), "first messages")

    old = qmgr_pid(inst)
    os.kill(old, signal.SIGKILL)
    inst.wait_log(f"master qmgr pid={old} killed by signal 9")
    inst.wait_log("master restarting qmgr in")
    during = []
    with smtplib.SMTP("127.0.0.1", inst.port, timeout=10) as c:
        c.ehlo("client.remote.test")
        while len(during) < 5:
            qid = transaction(c, "during")
            if inst.read_log().count("qmgr ready") > 1:
                break       # qmgr came back already: stop counting
            during.append(qid)
            if not os.path.exists(inst.spool_file(qid)):
                raise TestFailure(f"{qid} got 250 but is not in queue/")
    if len(during) < 3:
        raise TestFailure(f"only {len(during)} messages sent while qmgr "
                          "was down (the backoff is 1 s)")
    inst.wait_log("qmgr ready", count=2)
    if qmgr_pid(inst) == old:
        raise TestFailure("qmgr not replaced")
    wait_for(lambda: set(during) <= inst.queue_ids(),
             "messages sent while qmgr was down to be indexed", 10)

    after = on_every_worker(inst, "after")
    wait_for(lambda: set(after) <= inst.queue_ids(),
             "messages sent after the restart to be indexed", 10)
    ids = inst.queue_ids()
    if not set(before + during + after) <= ids:
        raise TestFailure("messages missing from the index")
    inst.stop()
    print(f"{sync}: {len(during)} accepted while qmgr was down, "
          f"{len(ids)} queued in all")


def kill_qmgr(inst, nth):
    """SIGKILL to the running qmgr; returns the restart delay logged."""
    old = qmgr_pid(inst)
    os.kill(old, signal.SIGKILL)
    inst.wait_log(f"master qmgr pid={old} killed by signal 9")
    inst.wait_log("master restarting qmgr in", count=nth)
    line = [ln for ln in inst.read_log().splitlines()
            if "master restarting qmgr in" in ln][nth - 1]
    inst.wait_log("qmgr ready", count=nth + 1)
    return int(line.rsplit(" in ", 1)[1].split()[0])


def backoff():
    """Deaths in a row double the delay; a qmgr that ran for a while
    (10 s) was healthy, and its death starts again from 1 s."""
    inst = Instance("qmgr-backoff").start()
    delays = [kill_qmgr(inst, 1), kill_qmgr(inst, 2)]
    ready = time.monotonic()
    wait_for(lambda: time.monotonic() - ready > 10.5,
             "the qmgr to have run 10 s", 15, interval=0.5)
    delays.append(kill_qmgr(inst, 3))
    if delays != [1000, 2000, 1000]:
        raise TestFailure(f"restart delays {delays}, want 1000, 2000, "
                          "1000 ms")
    send = on_every_worker(inst, "backoff")
    wait_for(lambda: set(send) <= inst.queue_ids(), "indexing")
    inst.stop()
    print(f"qmgr restart delays: {delays} ms")


def master_killed():
    inst = Instance("masterkill", relay_domains="",
                    trusted_networks="127.0.0.0/8", deliver_workers=2)
    inst.start()
    wait_for(lambda: len(inst.child_pids("deliver")) == 2 and
             inst.child_pids("qmgr"), "qmgr and two delivery workers")
    master = inst.proc.pid
    os.kill(master, signal.SIGKILL)
    inst.proc.wait()
    wait_for(lambda: not inst.pids_alive(), "every child of the killed "
             "master to end")
    inst.stop()


def main():
    master_killed()
    scenario("group")
    scenario("fsync")
    backoff()


run(main)
