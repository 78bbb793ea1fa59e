# SPDX-License-Identifier: ISC
"""An IMAP APPEND and an LMTP delivery never overfill a mailbox together.

IMAP APPEND is held to the quota under the same index write lock as LMTP
delivery (the check and the add are one transaction). As e2e 64 does for
two deliveries, the test makes the race certain: it holds the write lock
of the user's index.db itself (BEGIN IMMEDIATE), starts an APPEND and a
delivery that fit the quota each but not together, waits until both have
written their message into tmp/ (they then wait for the lock), and lets
go. Exactly one is stored; the other is refused, with NO [OVERQUOTA] (IMAP)
or "452 4.2.2 ... mailbox full" (LMTP), and the stored octets never exceed
the quota. Before IMAP knew the quota, both were stored.
"""
import os
import smtplib
import sqlite3
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from estafeta_test import TestFailure, run, wait_for  # noqa: E402
import imapmsgs as M  # noqa: E402

USER = "bob@example.test"
QUOTA = 6000


def check(cond, what):
    if not cond:
        raise TestFailure(what)


def message(tag, size):
    head = f"Subject: {tag}\r\n\r\n"
    return (head + "x" * (size - len(head) - 2) + "\r\n").encode()


def deliver(st, size, out):
    try:
        c = smtplib.LMTP("127.0.0.1", st.lmtp_port, timeout=30)
        c.ehlo()
        c.mail("s@example.org")
        c.rcpt(USER)
        c.putcmd("data")
        code, text = c.getreply()
        if code != 354:
            out["lmtp"] = (code, text)
            return
        c.send(message("lmtp", size) + b".\r\n")
        out["lmtp"] = c.getreply()
        c.quit()
    except Exception as e:  # reported by the main thread
        out["lmtp"] = (0, repr(e).encode())


def append(c, size, out):
    try:
        out["imap"] = c.append("INBOX", None, None, message("imap", size))
    except Exception as e:  # reported by the main thread
        out["imap"] = ("ERR", [repr(e).encode()])


def stored(st):
    return sum(len(m.replace(b"\n", b"\r\n")) for m in st.messages(USER))


def main():
    st = M.start_store(users=())
    st.add_user(USER, M.PASSWORD, quota=QUOTA)
    c = M.connect(st, USER)
    typ, data = c.append("INBOX", None, None, message("first", 2000))
    check(typ == "OK", f"first APPEND: {typ} {data}")
    used = stored(st)
    # Each fits alone, not both: used + 2 * size > QUOTA.
    size = (QUOTA - used) * 2 // 3
    tmp = os.path.join(st.maildir(USER), "tmp")
    db = sqlite3.connect(os.path.join(st.maildir(USER), "index.db"),
                         isolation_level=None, timeout=10)
    db.execute("BEGIN IMMEDIATE")
    out = {}
    threads = [threading.Thread(target=deliver, args=(st, size, out)),
               threading.Thread(target=append, args=(c, size, out))]
    for t in threads:
        t.start()
    try:
        wait_for(lambda: len(os.listdir(tmp)) == 2 or len(out) > 0,
                 "the APPEND and the delivery to wait for the index lock")
        check(out == {}, f"one ended while the index was locked: {out}")
    finally:
        db.execute("ROLLBACK")
        db.close()
    for t in threads:
        t.join(30)
        check(not t.is_alive(), "a session hangs")

    lmtp_ok = out["lmtp"][0] == 250
    imap_ok = out["imap"][0] == "OK"
    check(lmtp_ok != imap_ok, f"exactly one must be stored: {out}")
    if lmtp_ok:
        check(out["imap"][0] == "NO" and
              out["imap"][1][0].startswith(b"[OVERQUOTA]"),
              f"IMAP refusal: {out}")
    else:
        check(out["lmtp"][0] == 452 and
              out["lmtp"][1].startswith(b"4.2.2 <bob@example.test>: "
                                        b"mailbox full"),
              f"LMTP refusal: {out}")
    check(stored(st) <= QUOTA, f"{stored(st)} octets stored, quota {QUOTA}")
    check(len(st.messages(USER)) == 2, "two messages stored")
    check(os.listdir(tmp) == [], f"tmp/ left over: {os.listdir(tmp)}")
    c.logout()


run(main)
