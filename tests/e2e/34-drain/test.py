# SPDX-License-Identifier: ISC
"""SIGTERM drains: sessions in progress may finish, a second SIGTERM ends
everything at once.

  1. Two clients are parked mid-transaction (one after RCPT, one in the
     middle of DATA) when the master gets SIGTERM (sessions without a
     transaction get 421 at once: 39-drain-idle). New connections are
     refused from then on (no client waits for a greeting that will never
     come), while both parked clients complete their
     message (250) and QUIT (221); only then does the master exit, with
     status 0 and "master stopped" in the log; both messages are in the
     queue (read from the index with estafetactl after the exit) and a
     restart lists them.
  2. A client parked mid-DATA, SIGTERM, then a second SIGTERM: the master
     kills its children at once (the client's connection drops) and exits
     well before the 30 s drain limit.
"""
import os
import signal
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from estafeta_test import Instance, Raw, TestFailure, run, wait_for  # noqa


def park(port, name, in_data):
    r = Raw(port)
    r.expect(None, 220)
    r.expect(f"EHLO {name}.remote.test", 250)
    r.expect(f"MAIL FROM:<{name}@remote.test>", 250)
    r.expect("RCPT TO:<alice@example.test>", 250)
    if in_data:
        r.expect("DATA", 354)
        r.send(f"Subject: {name}\r\n\r\nbegun before SIGTERM\r\n")
    return r


def finish(r, name, in_data):
    if not in_data:
        r.expect("DATA", 354)
        r.send(f"Subject: {name}\r\n\r\n")
    r.send("finished after SIGTERM\r\n.\r\n")
    qid = r.expect(None, 250).rsplit(" ", 1)[1]
    # Back in a command wait while draining: smtpd may say 421 (tested in
    # 39-drain-idle) before our QUIT arrives.
    code, text = r.cmd("QUIT")
    if code != 221 and not (code == 421 and " 4.3.2 " in text):
        raise TestFailure(f"{name}: QUIT after the message: {text!r}")
    if not r.closed():
        raise TestFailure(f"{name}: connection left open after QUIT")
    r.close()
    return qid


def main():
    inst = Instance("drain").start()
    rcpt = park(inst.port, "rcpt", False)
    data = park(inst.port, "data", True)
    proc = inst.proc
    inst.signal(signal.SIGTERM)
    inst.wait_log("master stopping")
    # Idle workers leave at once; the two busy ones, qmgr and the master
    # stay while the sessions go on.
    wait_for(lambda: len(inst.pids()) == 4, "only the busy workers left")
    if proc.poll() is not None:
        raise TestFailure("master exited with sessions in progress")
    # Stopped accepting: a new client is refused at once (and tries its
    # next MX) instead of waiting for a greeting that never comes.
    try:
        socket.create_connection(("127.0.0.1", inst.port), timeout=5)
        raise TestFailure("a new connection was accepted while draining")
    except ConnectionRefusedError:
        pass
    ids = [finish(rcpt, "rcpt", False), finish(data, "data", True)]
    proc.wait(timeout=15)
    if proc.returncode != 0:
        raise TestFailure(f"master exit status {proc.returncode}")
    log = inst.read_log()
    if "master stopped" not in log or "qmgr stopped" not in log:
        raise TestFailure("no 'master stopped'/'qmgr stopped' in the log")
    if not set(ids) <= inst.queue_ids():
        raise TestFailure(f"drained messages {ids} not in the index")
    inst.stop()
    for qid in ids:
        if not inst.spooled_content(qid).endswith(
                b"finished after SIGTERM\r\n"):
            raise TestFailure(f"{qid}: content incomplete")

    # A second SIGTERM does not wait for the session.
    inst.start()
    inst.wait_log("qmgr reconciled", count=2)
    if not set(ids) <= inst.queue_ids():
        raise TestFailure("drained messages lost after a restart")
    parked = park(inst.port, "parked", True)
    proc = inst.proc
    inst.signal(signal.SIGTERM)
    inst.wait_log("master stopping", count=2)
    wait_for(lambda: len(inst.pids()) == 3, "only the busy worker left")
    if proc.poll() is not None:
        raise TestFailure("master exited with a session in progress")
    t0 = time.monotonic()
    inst.signal(signal.SIGTERM)
    proc.wait(timeout=10)
    took = time.monotonic() - t0
    if proc.returncode != 0 or took > 5:
        raise TestFailure(f"second SIGTERM: exit {proc.returncode} after "
                          f"{took:.1f}s")
    inst.wait_log("master second stop signal")
    if not parked.closed():
        raise TestFailure("parked session survived the second SIGTERM")
    wait_for(lambda: not inst.pids_alive(), "every child to be gone", 5)
    inst.stop()
    print(f"drained {ids}; second SIGTERM exit after {took:.2f}s")


run(main)
