# SPDX-License-Identifier: ISC
"""Restart with queued mail: the spool files are the truth, the index can
always be rebuilt from them.

  1. 20 messages queued; clean stop (SIGTERM, exit 0); restart: all listed.
  2. Stopped, index.db (and -wal/-shm) deleted; restart: the index is
     rebuilt from queue/ and lists all 20.
  3. Stopped: a garbage file named like a queue id is put in queue/, one
     real spool file is removed, a stray non-id file is added; restart:
     the garbage goes to corrupt/ with an error line naming it, the row of
     the vanished file is dropped with a warning, the stray file is left
     alone with a warning, and the other 19 are listed.
"""
import os
import smtplib
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from estafeta_test import Instance, TestFailure, run  # noqa: E402

N = 20
GARBAGE_ID = "0123456789abcdef0123"


def send(inst, n):
    ids = []
    with smtplib.SMTP("127.0.0.1", inst.port, timeout=10) as c:
        c.ehlo("client.remote.test")
        for i in range(n):
            c.mail(f"sender{i}@remote.test")
            code, text = c.rcpt(f"user{i}@example.test")
            assert code == 250, text
            code, text = c.data(f"Subject: queued {i}\r\n\r\nbody {i}\r\n")
            assert code == 250, text
            ids.append(text.decode().rsplit(" ", 1)[1])
            SENDER[ids[-1]] = f"sender{i}@remote.test"
    return ids


def clean_stop(inst):
    proc = inst.proc
    inst.stop()
    if proc.returncode != 0:
        raise TestFailure(f"estafetad exited {proc.returncode} on SIGTERM")


def restart(inst, nth):
    inst.start()
    inst.wait_log("qmgr reconciled", count=nth)


def expect_queue(inst, want, what):
    got = inst.queue_ids()
    if got != set(want):
        raise TestFailure(f"{what}: missing {sorted(set(want) - got)}, "
                          f"extra {sorted(got - set(want))}")
    for m in inst.queue():
        if m["sender"] != SENDER[m["id"]]:
            raise TestFailure(f"{what}: {m['id']} has sender {m['sender']}")


SENDER = {}     # queue id -> envelope sender it was sent with


def main():
    inst = Instance("restart").start()
    ids = send(inst, N)
    inst.wait_log("qmgr queued", count=N)
    expect_queue(inst, ids, "before the restart")

    # 1. Clean stop and restart.
    clean_stop(inst)
    if "master stopped" not in inst.read_log():
        raise TestFailure("no 'master stopped' in the log")
    restart(inst, 2)
    expect_queue(inst, ids, "after a clean restart")
    clean_stop(inst)

    # 2. The index is gone: rebuilt from the spool files.
    for suffix in ("", "-wal", "-shm"):
        p = os.path.join(inst.spool, "index.db" + suffix)
        if os.path.exists(p):
            os.unlink(p)
    restart(inst, 3)
    expect_queue(inst, ids, "after deleting index.db")
    if (f"qmgr reconciled files={N} indexed_before=0 added={N} failed=0 "
            "dropped=0") not in inst.read_log():
        raise TestFailure("reconciliation did not start from an empty index")
    clean_stop(inst)

    # 3. A garbage file, a vanished file and a stray file.
    qdir = os.path.join(inst.spool, "queue")
    garbage = os.path.join(qdir, GARBAGE_ID)
    with open(garbage, "wb") as f:
        f.write(b"this is not a spool file\n" * 10)
    stray = os.path.join(qdir, "README")
    with open(stray, "w") as f:
        f.write("not a queue file\n")
    st = os.stat(qdir)
    for p in (garbage, stray):
        os.chown(p, st.st_uid, st.st_gid)   # readable by qmgr's user
    vanished = ids[7]
    os.unlink(os.path.join(qdir, vanished))
    restart(inst, 4)
    rest = [i for i in ids if i != vanished]
    expect_queue(inst, rest, "after the garbage/vanished restart")
    if os.path.exists(garbage):
        raise TestFailure("garbage file still in queue/")
    moved = os.path.join(inst.spool, "corrupt", GARBAGE_ID)
    with open(moved, "rb") as f:
        if not f.read().startswith(b"this is not a spool file"):
            raise TestFailure("corrupt/ copy differs from the garbage")
    log = inst.read_log()
    line = [ln for ln in log.splitlines() if GARBAGE_ID in ln]
    if not line or "error:" not in line[0] or "corrupt" not in line[0]:
        raise TestFailure(f"no error line naming the corrupt file: {line}")
    if f"{vanished} qmgr index row without spool file: dropped" not in log:
        raise TestFailure(f"no warning about the vanished {vanished}")
    if "qmgr ignoring stray file queue/README" not in log:
        raise TestFailure("no warning about the stray file")
    # 19 good files and the garbage one were seen; 20 rows were indexed.
    if (f"qmgr reconciled files={N} indexed_before={N} added=0 failed=1 "
            "dropped=1") not in log:
        raise TestFailure("reconciliation summary does not count the "
                          "corrupt file and the dropped row")
    if not os.path.exists(stray):
        raise TestFailure("the stray file was removed")
    show = inst.ctl("queue", "show", vanished, check=False)
    if show.returncode == 0:
        raise TestFailure(f"{vanished} still shown: {show.stdout}")
    # The rebuilt queue keeps working: a new message joins it.
    more = send(inst, 1)
    inst.wait_log(f"{more[0]} qmgr queued")
    expect_queue(inst, rest + more, "after a new message")
    clean_stop(inst)


run(main)
