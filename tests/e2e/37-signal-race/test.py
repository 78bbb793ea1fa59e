# SPDX-License-Identifier: ISC
"""Signals that race with the pool's forks.

Every new session makes the master fork a worker to keep idle ones ready;
a SIGHUP or SIGTERM that arrives just then reaches a child that has not
yet replaced the master's signal handling. Such a signal must neither be
taken by the master as its own (a reload turning into a shutdown) nor be
lost (an old-generation worker serving on with the old configuration).

  1. 25 times: open a session (the master forks), and at once SIGHUP with
     a config whose banner names the new generation. Every reload is
     logged, the master never starts stopping, and afterwards every new
     session (more than the pool holds) gets the last banner while no
     more workers run than the pool allows.
  2. 10 times: start, open a session, and at once SIGTERM: the master
     drains (the idle session is answered, with 421 4.3.2 once its worker
     has the stop) and the log never shows a second stop signal.
"""
import os
import signal
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from estafeta_test import Instance, Raw, TestFailure, run, wait_for  # noqa

RELOADS = 25
STOPS = 10


def banner(port):
    r = Raw(port)
    code, text = r.reply()
    r.expect("QUIT", 221)
    r.close()
    return text


def reloads():
    inst = Instance("hup-race", smtpd_banner="ESMTP gen 0",
                    smtpd_workers_min=2, smtpd_workers_max=20)
    inst.start()
    for gen in range(1, RELOADS + 1):
        inst.settings["smtpd_banner"] = f"ESMTP gen {gen}"
        inst.write_config()
        r = Raw(inst.port)
        r.expect(None, 220)     # a worker is busy: the master forks
        inst.signal(signal.SIGHUP)
        inst.wait_log(f"master reloaded generation={gen}")
        r.expect("QUIT", 221)
        r.close()
        if "master stopping" in inst.read_log():
            raise TestFailure(f"reload {gen} was taken for a stop signal")
    # Old workers must all be gone: none may greet with an old banner.
    wait_for(lambda: len(inst.pids()) <= 2 + 4, "old workers to exit")
    for i in range(30):
        text = banner(inst.port)
        if f"ESMTP gen {RELOADS}" not in text:
            raise TestFailure(f"session {i} served by an old worker: "
                              f"{text!r}")
    inst.stop()
    if inst.read_log().count("master stopping") != 1:
        raise TestFailure("more than one stop")


def stops():
    inst = Instance("term-race")
    for n in range(1, STOPS + 1):
        inst.start()
        r = Raw(inst.port)
        r.expect(None, 220)
        proc = inst.proc
        inst.signal(signal.SIGTERM)
        inst.wait_log("master stopping", count=n)
        # The EHLO may reach the worker before the master's stop does.
        code, text = r.cmd("EHLO race.remote.test")
        if code == 250:
            code, text = r.cmd("QUIT")
        if code not in (221, 421) or (code == 421 and " 4.3.2 " not in
                                      text):
            raise TestFailure(f"start {n}: session while stopping got "
                              f"{text!r}")
        r.close()
        proc.wait(timeout=15)
        if "second stop signal" in inst.read_log():
            raise TestFailure(f"start {n}: one SIGTERM taken for two")
        inst.stop()


def main():
    reloads()
    stops()


run(main)
