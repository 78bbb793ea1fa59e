# SPDX-License-Identifier: ISC
"""Failed AUTH attempts are throttled per client address.

With smtpd_auth_fail_limit = 3 and smtpd_auth_fail_window = 1m:
  * every failure logs "smtp auth failed client=[127.0.0.1]" (the line
    fail2ban watches) with a running count;
  * each 535 comes after a growing delay: the first waits at least
    0.45 s, the third at least 1.45 s (lower bounds only: the delay is a
    feature, the machine may be slower, never faster);
  * after the third failure, AUTH from 127.0.0.1 gets 454 4.7.0, with the
    right password too, in the same session and in new connections, and
    the refusal is logged with rule=smtpd_auth_fail_limit;
  * another client address (127.0.0.2) is not affected;
  * with a short window (2s, limit 1) the address may try again once the
    window has passed.
AUTH is allowed without TLS from 127.0.0.0/8 here
(smtpd_auth_cleartext_networks), so that the test needs no certificates.
"""
import base64
import os
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from estafeta_test import Instance, Raw, TestFailure, run, wait_for  # noqa
from testca import add_user  # noqa: E402

ALICE, ALICE_PW = "alice@example.test", "right password 1"


class RawFrom(Raw):
    """Raw from a chosen loopback source address."""

    def __init__(self, port, src):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=20,
                                          source_address=(src, 0))
        self.buf = b""


def check(cond, what):
    if not cond:
        raise TestFailure(what)


def plain(user, pw):
    return base64.b64encode(f"\0{user}\0{pw}".encode()).decode()


def greeted(port, src="127.0.0.1"):
    r = RawFrom(port, src)
    r.expect(None, 220)
    r.expect("EHLO client.remote.test", 250)
    return r


def timed_auth(r, pw):
    t = time.monotonic()
    code, text = r.cmd("AUTH PLAIN " + plain(ALICE, pw))
    return code, text, time.monotonic() - t


def main():
    inst = Instance("throttle", local_domains="example.test",
                    relay_domains="",
                    smtpd_auth_cleartext_networks="127.0.0.0/8",
                    smtpd_auth_fail_limit=3, smtpd_auth_fail_window="1m")
    inst.start()
    add_user(inst, ALICE, ALICE_PW)

    # A good login first: the limit counts failures, not attempts.
    r = greeted(inst.port)
    check(r.cmd("AUTH PLAIN " + plain(ALICE, ALICE_PW))[0] == 235,
          "good password refused before any failure")
    r.close()

    r = greeted(inst.port)
    code, text, t1 = timed_auth(r, "guess 1")
    check(code == 535 and "5.7.8" in text, f"1st failure: {text!r}")
    code, text, t2 = timed_auth(r, "guess 2")
    check(code == 535, f"2nd failure: {text!r}")
    r.close()
    # The third failure in a new connection still counts.
    r = greeted(inst.port)
    code, text, t3 = timed_auth(r, "guess 3")
    check(code == 535, f"3rd failure: {text!r}")
    print(f"535 delays: {t1:.2f}s {t2:.2f}s {t3:.2f}s")
    check(t1 >= 0.45, f"1st failure answered after {t1:.3f}s, no delay")
    check(t3 >= 1.45, f"3rd failure answered after {t3:.3f}s: the delay "
          "does not grow")
    check(t3 > t1, f"delays do not grow: {t1:.3f}s then {t3:.3f}s")
    # Over the limit: refused before the password is even looked at.
    code, text = r.cmd("AUTH PLAIN " + plain(ALICE, ALICE_PW))
    check(code == 454 and "4.7.0" in text, f"4th attempt: {text!r}")
    r.close()
    for _ in range(2):
        r = greeted(inst.port)
        code, text = r.cmd("AUTH PLAIN " + plain(ALICE, ALICE_PW))
        check(code == 454 and "4.7.0" in text,
              f"new connection, right password: {text!r}")
        code, text = r.cmd("AUTH LOGIN")
        check(code == 454, f"AUTH LOGIN while throttled: {text!r}")
        r.cmd("QUIT")
        r.close()
    log = inst.read_log()
    for n in (1, 2, 3):
        check(f"smtp auth failed client=[127.0.0.1] user=<{ALICE}> "
              f"mech=PLAIN failures={n}" in log, f"failure {n} not logged")
    check("smtp auth failed client=[127.0.0.1]" in log and
          log.count("smtp auth failed client=") == 3,
          "throttled attempts were counted as failures")
    inst.wait_log("smtp reject rule=smtpd_auth_fail_limit "
                  "client=[127.0.0.1]", 5)

    # Another address is not throttled.
    r = greeted(inst.port, "127.0.0.2")
    code, text = r.cmd("AUTH PLAIN " + plain(ALICE, ALICE_PW))
    check(code == 235, f"127.0.0.2 throttled with 127.0.0.1: {text!r}")
    r.close()
    inst.stop()

    # The window passes: the address may try again.
    short = Instance("throttle2", local_domains="example.test",
                     relay_domains="",
                     smtpd_auth_cleartext_networks="127.0.0.0/8",
                     smtpd_auth_fail_limit=1, smtpd_auth_fail_window="2s")
    short.start()
    add_user(short, ALICE, ALICE_PW)
    t0 = time.monotonic()
    r = greeted(short.port)
    check(timed_auth(r, "wrong")[0] == 535, "failure with window 2s")
    check(r.cmd("AUTH PLAIN " + plain(ALICE, ALICE_PW))[0] == 454,
          "not throttled after the limit of 1")
    r.close()

    def accepted():
        c = greeted(short.port)
        try:
            return c.cmd("AUTH PLAIN " + plain(ALICE, ALICE_PW))[0] == 235
        finally:
            c.close()
    wait_for(accepted, "AUTH accepted again after the window", timeout=15,
             interval=0.2)
    check(time.monotonic() - t0 >= 1.5, "the 2s window passed too early")

run(main)
