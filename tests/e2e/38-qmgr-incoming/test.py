# SPDX-License-Identifier: ISC
"""Complete files in incoming/ after a qmgr restart (spool_sync = group).

A session's smtpd holds an exclusive lock on its incoming/ file until the
file is queued. With qmgr stopped (SIGSTOP), a session's final dot leaves
a complete file in incoming/ while its smtpd waits for the COMMIT reply:
  * live: the smtpd is stopped too and qmgr gets SIGKILL; the new qmgr's
    reconciliation must leave the locked file alone; once the smtpd runs
    again it commits through the new qmgr and the client gets 250;
  * dead: the smtpd gets SIGKILL (the client never sees 250), then qmgr;
    the new qmgr queues and indexes the orphaned complete file, as the
    first start after a crash does, and incoming/ is empty again.
"""
import os
import signal
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from estafeta_test import Instance, Raw, TestFailure, run, wait_for  # noqa

MAGIC = b"ESTAFETA-SPOOL 1\n"


def qmgr_pid(inst):
    lines = [ln for ln in inst.read_log().splitlines()
             if "qmgr ready" in ln]
    return int(lines[-1].split("estafetad/qmgr[", 1)[1].split("]", 1)[0])


def complete(path):
    """True when the spool file at path ends with its 'Z' record."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return False
    if not data.startswith(MAGIC):
        return False
    i = len(MAGIC)
    while i + 5 <= len(data):
        t, n = data[i:i + 1], int.from_bytes(data[i + 1:i + 5], "big")
        i += 5 + n
        if t == b"Z":
            return i == len(data)
    return False


def incoming(inst):
    return os.listdir(os.path.join(inst.spool, "incoming"))


def holder(path):
    """The pid of the process that has path open (the writing smtpd)."""
    for pid in filter(str.isdigit, os.listdir("/proc")):
        fddir = f"/proc/{pid}/fd"
        try:
            for fd in os.listdir(fddir):
                if os.readlink(os.path.join(fddir, fd)) == path:
                    return int(pid)
        except OSError:
            continue
    return None


def send_until_dot(inst, tag):
    """A session up to its final dot; returns (client, incoming file)."""
    c = Raw(inst.port)
    c.expect(None, 220)
    c.cmd("EHLO client.remote.test")
    c.cmd(f"MAIL FROM:<{tag}@remote.test>")
    c.cmd("RCPT TO:<alice@example.test>")
    c.expect("DATA", 354)
    c.send(f"Subject: {tag}\r\n\r\nbody\r\n.\r\n".encode())
    box = {}

    def written():
        for name in incoming(inst):
            path = os.path.join(inst.spool, "incoming", name)
            if complete(path):
                box["path"] = path
                return True
        return False
    wait_for(written, f"{tag}: a complete file in incoming/")
    return c, box["path"]


def restart_qmgr(inst, nth):
    """SIGKILL to the (stopped) qmgr; waits for the nth replacement."""
    old = qmgr_pid(inst)
    os.kill(old, signal.SIGKILL)
    inst.wait_log(f"master qmgr pid={old} killed by signal 9")
    inst.wait_log("qmgr ready", count=nth + 1)


def main():
    inst = Instance("qmgr-incoming", spool_sync="group",
                    smtpd_workers_min=1, smtpd_workers_max=1).start()

    # A live session: its complete file is locked, not recovered.
    os.kill(qmgr_pid(inst), signal.SIGSTOP)
    c, path = send_until_dot(inst, "live")
    qid = os.path.basename(path)
    smtpd = holder(path)
    if smtpd is None:
        raise TestFailure("no process holds the incoming/ file open "
                          "while its session waits for the commit")
    os.kill(smtpd, signal.SIGSTOP)
    restart_qmgr(inst, 1)
    if f"{qid} qmgr recovered" in inst.read_log():
        raise TestFailure("qmgr took the file of a live session")
    if not os.path.exists(path):
        raise TestFailure("the live session's file left incoming/ "
                          "while its smtpd was stopped")
    os.kill(smtpd, signal.SIGCONT)
    code, text = c.reply()
    if code != 250 or qid not in text:
        raise TestFailure(f"live session: {code} {text!r}, want 250 {qid}")
    c.cmd("QUIT")
    c.close()
    wait_for(lambda: qid in inst.queue_ids(), "the live message indexed")

    # A dead session: its orphaned complete file is queued and indexed.
    os.kill(qmgr_pid(inst), signal.SIGSTOP)
    c, path = send_until_dot(inst, "dead")
    qid = os.path.basename(path)
    smtpd = holder(path)
    if smtpd is None:
        raise TestFailure("no process holds the second incoming/ file")
    os.kill(smtpd, signal.SIGKILL)
    if not c.closed():
        raise TestFailure("the killed session's connection stays open")
    restart_qmgr(inst, 2)
    inst.wait_log(f"{qid} qmgr recovered complete file from incoming/")
    wait_for(lambda: qid in inst.queue_ids(), "the orphaned message "
             "indexed")
    if not os.path.exists(inst.spool_file(qid)) or incoming(inst):
        raise TestFailure(f"after recovery: queue/{qid} missing or "
                          f"incoming/ holds {incoming(inst)}")
    if b"Subject: dead" not in inst.spooled_content(qid):
        raise TestFailure("the recovered message lost its content")
    inst.stop()
    print(f"live session committed after a qmgr restart; orphan {qid} "
          "recovered")


run(main)
