# SPDX-License-Identifier: ISC
"""The smtpd pool: growth up to smtpd_workers_max, the limit itself, and
replacement of workers that die.

  1. smtpd_workers_min=2, smtpd_workers_max=60: 50 sessions opened at the
     same time and held open all get their 220 greeting within a deadline.
  2. smtpd_workers_max=3: three sessions are greeted, a fourth connection
     gets no greeting within 1 s; when one of the three QUITs, the fourth
     is greeted.
  0. (first) smtpd workers killed with SIGKILL are logged and replaced
     (process count back up to the minimum) and mail is still accepted.
"""
import os
import signal
import smtplib
import socket
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from estafeta_test import Instance, Raw, TestFailure, run, wait_for  # noqa


def qmgr_pid(inst):
    """The pid in the last "estafetad/qmgr[PID]: qmgr ready" log line."""
    lines = [ln for ln in inst.read_log().splitlines()
             if "qmgr ready" in ln]
    return int(lines[-1].split("estafetad/qmgr[", 1)[1].split("]", 1)[0])


def smtpd_pids(inst):
    return [p for p in inst.pids()
            if p not in (inst.proc.pid, qmgr_pid(inst))]


def send_one(port, tag):
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as c:
        c.ehlo("client.remote.test")
        c.mail(f"{tag}@remote.test")
        code, text = c.rcpt("alice@example.test")
        if code != 250:
            raise TestFailure(f"RCPT: {code} {text!r}")
        code, text = c.data(f"Subject: {tag}\r\n\r\nx\r\n")
        if code != 250:
            raise TestFailure(f"DATA: {code} {text!r}")
        return text.decode().rsplit(" ", 1)[1]


def fifty_at_once(inst):
    socks = [socket.create_connection(("127.0.0.1", inst.port), timeout=20)
             for _ in range(50)]
    for i, s in enumerate(socks):
        s.settimeout(20)    # deadline for the pool to grow to 50+
        greeting = b""
        while not greeting.endswith(b"\r\n"):
            chunk = s.recv(512)
            if not chunk:
                raise TestFailure(f"session {i} closed before its greeting")
            greeting += chunk
        if not greeting.startswith(b"220 "):
            raise TestFailure(f"session {i}: {greeting!r}")
    # All 50 are held by a worker each (plus the idle ones kept ready).
    workers = len(smtpd_pids(inst))
    if not 50 <= workers <= 60:
        raise TestFailure(f"{workers} smtpd workers for 50 sessions")
    for s in socks:
        s.sendall(b"QUIT\r\n")
    for s in socks:
        if not s.recv(512).startswith(b"221"):
            raise TestFailure("QUIT not answered")
        s.close()
    print(f"50 concurrent sessions greeted by {workers} workers")


def kill_workers(inst):
    """SIGKILL to every smtpd worker: the pool is below its minimum and
    must be refilled with new processes."""
    # Right after start the master may still be filling the pool up to
    # smtpd_workers_min: wait for it rather than race it.
    victims = wait_for(lambda: (lambda p: p if len(p) >= 2 else None)(
        smtpd_pids(inst)), "the smtpd pool at its minimum of 2")
    for pid in victims:
        os.kill(pid, signal.SIGKILL)
    for pid in victims:
        inst.wait_log(f"master smtpd pid={pid} killed by signal 9")
    wait_for(lambda: len(set(smtpd_pids(inst)) - set(victims)) >= 2,
             "replacement workers")
    qid = send_one(inst.port, "after-kill")
    wait_for(lambda: qid in inst.queue_ids(), f"{qid} indexed")
    print(f"workers {victims} killed, replaced by "
          f"{sorted(set(smtpd_pids(inst)) - set(victims))}; {qid} accepted")


def pool_of_three():
    inst = Instance("pool3", smtpd_workers_min=2, smtpd_workers_max=3)
    inst.start()
    held = []
    for _ in range(3):
        r = Raw(inst.port)
        r.expect(None, 220)
        r.expect("EHLO held.remote.test", 250)
        held.append(r)
    fourth = socket.create_connection(("127.0.0.1", inst.port), timeout=10)
    fourth.settimeout(1.0)      # the assertion: no greeting for 1 s
    try:
        data = fourth.recv(512)
        raise TestFailure(f"4th connection served beyond the limit: {data!r}")
    except socket.timeout:
        pass
    if len(smtpd_pids(inst)) != 3:
        raise TestFailure(f"{len(smtpd_pids(inst))} workers, limit is 3")
    held[1].expect("QUIT", 221)
    fourth.settimeout(10)
    if not fourth.recv(512).startswith(b"220 "):
        raise TestFailure("4th connection not greeted after a QUIT")
    fourth.sendall(b"QUIT\r\n")
    fourth.close()
    for r in (held[0], held[2]):
        r.expect("QUIT", 221)
    inst.stop()


def main():
    inst = Instance("pool60", smtpd_workers_min=2, smtpd_workers_max=60)
    inst.start()
    kill_workers(inst)
    fifty_at_once(inst)
    inst.stop()
    pool_of_three()


run(main)
