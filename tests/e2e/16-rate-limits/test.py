# SPDX-License-Identifier: ISC
"""Connection and per-user rate limits (shared by every smtpd worker).

  * smtpd_conn_rate_limit = 5: five connections from 127.0.0.2 within the
    minute are greeted, the sixth gets "421 4.7.0" instead of a greeting
    and is closed; 127.0.0.3 is still greeted (the limit is per address);
  * smtpd_conn_concurrency_limit = 2: a third simultaneous session from
    one address gets 421 4.7.0; once one of the two has quit, a new one
    is accepted;
  * smtpd_user_message_limit = 2: the third MAIL of an authenticated
    user gets 451 4.7.1 (across sessions, also when the login is typed
    in other letter case), another user is unaffected;
  * smtpd_user_recipient_limit = 3: the fourth RCPT of a user gets
    451 4.7.1, the transaction keeps the three accepted and is queued.
Each refusal is logged with the rule that made it. The harness's own
readiness probe comes from 127.0.0.1, so the address-based checks use
other loopback addresses.
"""
import base64
import os
import socket
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from estafeta_test import Instance, Raw, TestFailure, run, wait_for  # noqa
from testca import add_user  # noqa: E402

USERS = {"alice@example.test": "alice pw 1", "bob@example.test": "bob pw 2"}


class RawFrom(Raw):
    def __init__(self, port, src):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=20,
                                          source_address=(src, 0))
        self.buf = b""


def check(cond, what):
    if not cond:
        raise TestFailure(what)


def greeting(port, src):
    r = RawFrom(port, src)
    return r, r.reply()


def conn_rate():
    inst = Instance("connrate", smtpd_conn_rate_limit=5).start()
    for i in range(5):
        r, (code, text) = greeting(inst.port, "127.0.0.2")
        check(code == 220, f"connection {i + 1}: {text!r}")
        r.expect("QUIT", 221)
        r.close()
    r, (code, text) = greeting(inst.port, "127.0.0.2")
    check(code == 421 and "4.7.0" in text, f"6th connection: {text!r}")
    check(r.closed(), "6th connection left open")
    r.close()
    r, (code, text) = greeting(inst.port, "127.0.0.3")
    check(code == 220, f"another address limited too: {text!r}")
    r.close()
    inst.wait_log("smtp reject rule=smtpd_conn_rate_limit "
                  "client=[127.0.0.2]")
    inst.stop()


def concurrency():
    inst = Instance("concurrency", smtpd_conn_concurrency_limit=2).start()
    held = []
    for i in range(2):
        r, (code, text) = greeting(inst.port, "127.0.0.2")
        check(code == 220, f"session {i + 1}: {text!r}")
        r.expect("EHLO held.remote.test", 250)
        held.append(r)
    r, (code, text) = greeting(inst.port, "127.0.0.2")
    check(code == 421 and "4.7.0" in text, f"3rd session: {text!r}")
    check(r.closed(), "3rd session left open")
    r.close()
    inst.wait_log("smtp reject rule=smtpd_conn_concurrency_limit "
                  "client=[127.0.0.2]")
    other, (code, text) = greeting(inst.port, "127.0.0.3")
    check(code == 220, f"another address limited too: {text!r}")
    # One quits: its slot is free once its session has ended.
    n = inst.read_log().count("smtp disconnect client=[127.0.0.2]")
    held[0].expect("QUIT", 221)
    held[0].close()
    inst.wait_log("smtp disconnect client=[127.0.0.2]", n + 1)
    r, (code, text) = greeting(inst.port, "127.0.0.2")
    check(code == 220, f"new session after one quit: {text!r}")
    # The survivors still work.
    held[1].expect("NOOP", 250)
    r.expect("EHLO again.remote.test", 250)
    for c in (r, held[1], other):
        c.close()
    inst.stop()


def login(port, user, as_typed=None):
    r = Raw(port)
    r.expect(None, 220)
    r.expect("EHLO client.remote.test", 250)
    ir = base64.b64encode(f"\0{as_typed or user}\0{USERS[user]}"
                          .encode()).decode()
    r.expect("AUTH PLAIN " + ir, 235)
    return r


def send(r, sender, rcpts, want_mail=250):
    code, text = r.cmd(f"MAIL FROM:<{sender}>")
    if code != want_mail:
        raise TestFailure(f"MAIL {sender}: {text!r}")
    if code != 250:
        return text
    for rc in rcpts:
        r.expect(f"RCPT TO:<{rc}>", 250)
    r.expect("DATA", 354)
    return r.expect(f"From: <{sender}>\r\nSubject: rate\r\n\r\nx\r\n.", 250)


def user_limits():
    inst = Instance("userrate", local_domains="example.test",
                    relay_domains="",
                    smtpd_auth_cleartext_networks="127.0.0.0/8",
                    smtpd_user_message_limit=2,
                    smtpd_user_recipient_limit=3).start()
    for user, pw in USERS.items():
        add_user(inst, user, pw)
    alice, bob = USERS
    r = login(inst.port, alice)
    send(r, alice, ["x1@elsewhere.test"])
    r.close()
    r = login(inst.port, alice)
    send(r, alice, ["x2@elsewhere.test"])
    text = send(r, alice, [], want_mail=451)
    check("4.7.1" in text, f"3rd message: {text!r}")
    r.close()
    # The same user under another spelling of the login: same counters.
    r = login(inst.port, alice, as_typed="ALICE@Example.Test")
    text = send(r, alice, [], want_mail=451)
    check("4.7.1" in text, f"3rd message, login in capitals: {text!r}")
    r.close()
    inst.wait_log("smtp reject rule=smtpd_user_message_limit "
                  f"client=[127.0.0.1] user={alice}")
    # bob has his own counters: 3 recipients, then 451 on the 4th.
    r = login(inst.port, bob)
    r.expect(f"MAIL FROM:<{bob}>", 250)
    for i in range(3):
        r.expect(f"RCPT TO:<r{i}@elsewhere.test>", 250)
    code, text = r.cmd("RCPT TO:<r3@elsewhere.test>")
    check(code == 451 and "4.7.1" in text, f"4th recipient: {text!r}")
    code, text = r.cmd("RCPT TO:<alice@example.test>")
    check(code == 451, f"5th (local) recipient: {text!r}")
    r.expect("DATA", 354)
    qid = r.expect(f"From: <{bob}>\r\n\r\nx\r\n.", 250).rsplit(" ", 1)[1]
    r.close()
    wait_for(lambda: qid in inst.queue_ids(), f"{qid} in the queue")
    q = {m["id"]: m for m in inst.queue()}[qid]
    got = sorted(rc["addr"] for rc in q["recipients"])
    check(got == [f"r{i}@elsewhere.test" for i in range(3)], got)
    inst.wait_log("smtp reject rule=smtpd_user_recipient_limit")
    inst.stop()


def main():
    conn_rate()
    concurrency()
    user_limits()


run(main)
