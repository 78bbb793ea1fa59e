# SPDX-License-Identifier: ISC
"""Concurrent LMTP deliveries never overfill a mailbox together.

The quota check and the store of a message are one index transaction in
buzond (the index write lock serializes them). The test makes the race
certain instead of likely: it holds the write lock of the user's index.db
itself (BEGIN IMMEDIATE, as any writer of the store does), starts two
deliveries that fit the quota each but not together, waits until both
sessions have written their message to tmp/ (they are then waiting for the
lock), and lets go. Exactly one is stored (250); the other gets
"452 4.2.2 ... mailbox full" (RFC 2033 per-recipient reply, RFC 3463
X.2.2, persistent transient: the relay retries later), and the stored
octets never exceed the quota. Before the fix both passed the check, made
before the lock, and both were stored.
"""
import os
import smtplib
import sqlite3
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from estafeta_test import Store, TestFailure, run, wait_for  # noqa: E402

USER = "bob@example.test"
QUOTA = 6000


def check(cond, what):
    if not cond:
        raise TestFailure(what)


def message(tag, size):
    head = f"Subject: {tag}\r\n\r\n"
    return (head + "x" * (size - len(head) - 2) + "\r\n").encode()


def deliver(st, tag, size, out):
    try:
        c = smtplib.LMTP("127.0.0.1", st.lmtp_port)
        c.ehlo()
        c.mail("s@example.org")
        c.rcpt(USER)
        c.putcmd("data")
        code, text = c.getreply()
        if code != 354:
            out[tag] = (code, text)
            return
        c.send(message(tag, size) + b".\r\n")
        out[tag] = c.getreply()
        c.quit()
    except Exception as e:  # reported by the main thread
        out[tag] = (0, repr(e).encode())


def stored(st):
    return sum(len(m.replace(b"\n", b"\r\n")) for m in st.messages(USER))


def main():
    st = Store("quota-race", tls=False)
    st.add_user(USER, "pw", quota=QUOTA)
    st.start()

    # A first message creates the index (and its -wal/-shm, owned by the
    # session's user) and uses about a third of the quota.
    first = {}
    deliver(st, "first", 2000, first)
    check(first["first"][0] == 250, f"first delivery: {first}")
    used = stored(st)
    check(used < QUOTA // 2, f"usage {used}")

    # Each of the next two fits alone, not both: used + 2 * size > QUOTA.
    size = (QUOTA - used) * 2 // 3
    tmp = os.path.join(st.maildir(USER), "tmp")
    db = sqlite3.connect(os.path.join(st.maildir(USER), "index.db"),
                         isolation_level=None, timeout=10)
    db.execute("BEGIN IMMEDIATE")
    out = {}
    threads = [threading.Thread(target=deliver, args=(st, t, size, out))
               for t in ("one", "two")]
    for t in threads:
        t.start()
    try:
        wait_for(lambda: len(os.listdir(tmp)) == 2 or len(out) > 0,
                 "both sessions to write their message and wait for the "
                 "index lock")
        check(out == {}, f"a delivery ended while the index was locked: "
              f"{out}")
    finally:
        db.execute("ROLLBACK")
        db.close()
    for t in threads:
        t.join(30)
        check(not t.is_alive(), "a delivery hangs")

    codes = sorted(r[0] for r in out.values())
    check(codes == [250, 452], f"replies: {out}")
    refused = [r[1] for r in out.values() if r[0] == 452][0]
    check(refused.startswith(b"4.2.2 <bob@example.test>: mailbox full"),
          f"refusal text: {refused!r}")
    total = stored(st)
    check(total <= QUOTA, f"{total} octets stored, quota {QUOTA}")
    check(len(st.messages(USER)) == 2, "two messages stored")
    check(os.listdir(tmp) == [], f"tmp/ left over: {os.listdir(tmp)}")
    st.wait_log("lmtp defer rcpt=<bob@example.test> user=bob@example.test")
    check("rule=quota" in st.read_log(), "no rule=quota in the log")


run(main)
