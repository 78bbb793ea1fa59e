#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""estafetactl reads the queue as run_user, never as root.

The queue index and SQLite's WAL index (-shm), which SQLite maps and
trusts, are writable by run_user: root must not parse them with its own
rights. Run as root, `queue list`, `summary` and `show` become run_user
first, so an index that only root can read is refused (as it would be for
run_user), while the normal index owned by run_user reads fine; an unknown
run_user is refused with a clear message instead of reading as root. As
another user nothing changes (the test then only checks the normal read).
"""
import os
import smtplib
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from estafeta_test import (ESTAFETACTL, Instance, TestFailure,  # noqa: E402
                           run, wait_for)


def main():
    inst = Instance()
    inst.start()
    with smtplib.SMTP("127.0.0.1", inst.port) as c:
        c.sendmail("alice@example.org", ["bob@example.test"],
                   b"Subject: ctl\r\n\r\nBody.\r\n")
    wait_for(lambda: len(inst.queue()) == 1, "the message in the index")
    for cmd in (["list"], ["summary"]):
        r = inst.ctl("queue", *cmd)
        if "bob@example.test" not in r.stdout and cmd == ["list"]:
            raise TestFailure(f"queue list lacks the message:\n{r.stdout}")
    qid = inst.queue()[0]["id"]
    inst.ctl("queue", "show", qid)
    inst.stop()
    if os.geteuid() != 0:
        print("not root: the privilege drop is not exercised")
        return

    # An index only root can read: reading as run_user must fail.
    db = os.path.join(inst.spool, "index.db")
    owner = os.stat(db)
    os.chown(db, 0, 0)
    os.chmod(db, 0o600)
    for cmd in (["list"], ["summary"], ["show", qid]):
        r = inst.ctl("queue", *cmd, check=False)
        if r.returncode == 0 or "cannot open the queue index" not in \
                r.stderr:
            raise TestFailure(f"queue {cmd[0]} read a root-only index as "
                              f"root: rc={r.returncode}\n{r.stdout}"
                              f"{r.stderr}")
    os.chown(db, owner.st_uid, owner.st_gid)
    os.chmod(db, owner.st_mode & 0o7777)
    r = inst.ctl("queue", "list")
    if "bob@example.test" not in r.stdout:
        raise TestFailure(f"queue list after restoring the owner:\n"
                          f"{r.stdout}")

    # run_user unknown: refused, not read as root.
    bad = os.path.join(inst.dir, "bad.conf")
    with open(inst.conf) as f, open(bad, "w") as g:
        for line in f:
            if not line.startswith("run_user"):
                g.write(line)
        g.write("run_user = no-such-user-e2e25\n")
    r = subprocess.run([ESTAFETACTL, "-c", bad, "queue", "list"],
                       capture_output=True, text=True, timeout=30)
    if r.returncode == 0 or "run_user 'no-such-user-e2e25' does not " \
            "exist" not in r.stderr:
        raise TestFailure(f"unknown run_user: rc={r.returncode}\n"
                          f"{r.stdout}{r.stderr}")


run(main)
