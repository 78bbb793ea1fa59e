# SPDX-License-Identifier: ISC
"""The durability contract under kill -9, shared by 30-crash (group
commit) and 31-crash-fsync (spool_sync = fsync).

Three times in a row: 20 smtplib threads and an smtp-source run load the
instance; each thread records the queue id of every "250 2.0.0 Ok: queued
as ID" it receives. Once enough messages were accepted, every estafetad
process of the instance gets SIGKILL at once (one kill of the process
group), none may survive, and estafetad starts again on the same spool.
After qmgr's start-up reconciliation:
  * every id that got a 250 is in `estafetactl queue list --json`;
  * the index and queue/ agree file for file;
  * corrupt/ is empty;
  * incoming/ holds no complete file (a complete one may have been
    acknowledged, so it must have been queued).
"""
import os
import signal
import smtplib
import subprocess
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from estafeta_test import Instance, TestFailure, wait_for  # noqa: E402

THREADS = 20
PER_SESSION = 10           # transactions per SMTP session
CYCLES = 3
MIN_ACCEPTED = (300, 450, 600)   # accepted before each kill
MAGIC = b"ESTAFETA-SPOOL 1\n"
MSG = (b"From: load@remote.test\r\nTo: alice@example.test\r\n"
       b"Subject: crash test\r\n\r\n" + b"Durable, please.\r\n" * 40)


def spool_complete(path):
    """True when path is a whole version-1 spool file: magic, records,
    'Z' with the content length, nothing after it."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return False
    if not data.startswith(MAGIC):
        return False
    i, total = len(MAGIC), 0
    while i + 5 <= len(data):
        t, n = data[i:i + 1], int.from_bytes(data[i + 1:i + 5], "big")
        if i + 5 + n > len(data):
            return False
        if t == b"Z":
            return (n == 8 and i + 5 + n == len(data) and
                    int.from_bytes(data[i + 5:i + 13], "big") == total)
        if t == b"D":
            total += n
        i += 5 + n
    return False


class Load:
    """THREADS smtplib clients plus one smtp-source, until stop()."""

    def __init__(self, port):
        self.port = port
        self.ids = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self.client, daemon=True)
                        for _ in range(THREADS)]
        for t in self.threads:
            t.start()
        self.source = subprocess.Popen(
            ["/usr/sbin/smtp-source", "-s", "5", "-m", "1000000", "-l",
             "2000", "-d", "-M", "source.remote.test", "-f",
             "source@remote.test", "-t", "bob@example.test",
             f"127.0.0.1:{port}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def accepted(self):
        with self.lock:
            return len(self.ids)

    def client(self):
        while not self.stopping.is_set():
            try:
                with smtplib.SMTP("127.0.0.1", self.port, timeout=15) as c:
                    c.ehlo("load.remote.test")
                    for _ in range(PER_SESSION):
                        if self.stopping.is_set():
                            break
                        self.transaction(c)
            except (smtplib.SMTPException, OSError):
                pass    # the server was killed under us: expected

    def transaction(self, c):
        code, text = c.mail("load@remote.test")
        if code != 250:
            raise TestFailure(f"MAIL refused: {code} {text!r}")
        code, text = c.rcpt("alice@example.test")
        if code != 250:
            raise TestFailure(f"RCPT refused: {code} {text!r}")
        code, text = c.data(MSG)
        text = text.decode()
        if code == 250:
            if not text.startswith("2.0.0 Ok: queued as "):
                raise TestFailure(f"odd 250 reply to DATA: {text!r}")
            with self.lock:
                self.ids.append(text.rsplit(" ", 1)[1])

    def stop(self):
        self.stopping.set()
        for t in self.threads:
            t.join(timeout=30)
            if t.is_alive():
                raise TestFailure("a load thread did not finish")
        self.source.kill()
        self.source.wait()


def kill_all(inst):
    """SIGKILL to every process of the instance at the same moment, then
    checks that none survived."""
    pids = inst.pids()
    master = inst.proc.pid
    if master not in pids or len(pids) < 3:
        raise TestFailure(f"expected master, qmgr and smtpd, got {pids}")
    os.killpg(master, signal.SIGKILL)   # the master leads the group
    inst.proc.wait(timeout=10)
    if inst.proc.returncode != -signal.SIGKILL:
        raise TestFailure(f"master exit {inst.proc.returncode}")

    def gone(pid):
        try:
            with open(f"/proc/{pid}/stat") as f:
                return f.read().split(") ", 1)[1][0] == "Z"
        except FileNotFoundError:
            return True
    wait_for(lambda: all(gone(p) for p in pids), f"{pids} to die", 10)
    left = [p for p in inst.pids() if not gone(p)]
    if left or inst.pids_alive():
        raise TestFailure(f"estafetad processes survived: {left}")
    inst.proc = None
    inst.logf.close()
    inst.logf = None
    return len(pids)


def check_spool(inst, accepted):
    ids = inst.queue_ids()
    missing = set(accepted) - ids
    if missing:
        raise TestFailure(f"{len(missing)} of {len(accepted)} acknowledged "
                          f"messages lost, e.g. {sorted(missing)[:5]}")
    files = set(os.listdir(os.path.join(inst.spool, "queue")))
    if files != ids:
        raise TestFailure(f"queue/ and index differ: only files "
                          f"{sorted(files - ids)[:5]}, only index "
                          f"{sorted(ids - files)[:5]}")
    corrupt = os.listdir(os.path.join(inst.spool, "corrupt"))
    if corrupt:
        raise TestFailure(f"files in corrupt/: {corrupt}")
    inc = os.path.join(inst.spool, "incoming")
    complete = [n for n in os.listdir(inc)
                if spool_complete(os.path.join(inc, n))]
    if complete:
        raise TestFailure(f"complete files left in incoming/: {complete}")
    return len(ids), len(os.listdir(inc))


def main(sync):
    inst = Instance(f"crash-{sync}", spool_sync=sync,
                    smtpd_workers_max=40).start()
    accepted = []
    for cycle in range(CYCLES):
        load = Load(inst.port)
        try:
            wait_for(lambda: load.accepted() >= MIN_ACCEPTED[cycle],
                     f"{MIN_ACCEPTED[cycle]} accepted messages", 25)
            nproc = kill_all(inst)
        finally:
            load.stop()
        accepted += load.ids
        inst.start()
        inst.wait_log("qmgr reconciled", count=cycle + 2)
        queued, partial = check_spool(inst, accepted)
        recovered = inst.read_log().count("recovered complete file")
        print(f"cycle {cycle + 1}: accepted {len(load.ids)} "
              f"(total {len(accepted)}), killed {nproc} processes; after "
              f"restart {queued} queued, all acknowledged ones present; "
              f"{partial} incomplete left in incoming/, {recovered} "
              f"recovered from incoming/ so far")
    inst.stop()
    if "master stopped" not in inst.read_log():
        raise TestFailure("no 'master stopped' after the last cycle")
