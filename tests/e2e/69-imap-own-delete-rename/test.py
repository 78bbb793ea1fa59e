# SPDX-License-Identifier: ISC
"""Replies around a selected mailbox that is deleted or renamed, in
buzond's IMAP (imaplib sessions):

  * A's own DELETE of its selected "Work" fails (here a trigger in the
    index refuses to drop the folder's row, as any index error would):
    NO, and A is still in "Work" as before (FETCH, STORE and NOOP work,
    the messages and the folder are all there). Before the fix the
    session had left "Work" anyway and its FETCH got BAD. Once the DELETE
    succeeds, A gets "* OK [CLOSED]" and is out of the selected state.
"""
import imaplib
import os
import sqlite3
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from estafeta_test import Store, TestFailure, run  # noqa: E402
from imapraw import check  # noqa: E402

ALICE, PW = "alice@example.test", "alice-pw-69"


def login(st, cls=imaplib.IMAP4):
    m = cls("127.0.0.1", st.imap_port, timeout=30)
    m.login(ALICE, PW)
    return m


def fill(m, box, n, size=0):
    check(m.create(box)[0] == "OK", f"CREATE {box}")
    for i in range(n):
        body = (b"x" * 75 + b"\r\n") * (size // 77) if size else \
            f"body {box} {i}\r\n".encode()
        typ, _ = m.append(box, None, None,
                          f"Subject: {box} {i}\r\n\r\n".encode() + body)
        check(typ == "OK", f"APPEND {box} {i}")


def index(st):
    return sqlite3.connect(os.path.join(st.maildir(ALICE), "index.db"),
                           timeout=30, isolation_level=None)


def own_delete_fails(st):
    a = login(st)
    fill(a, "Work", 2)
    typ, data = a.select("Work")
    check(typ == "OK" and data == [b"2"], f"SELECT Work {data}")
    db = index(st)
    db.execute("CREATE TRIGGER keep_work BEFORE DELETE ON folders"
               " WHEN old.name = 'Work'"
               " BEGIN SELECT RAISE(ABORT, 'kept by the test'); END")
    typ, data = a.delete("Work")
    check(typ == "NO", f"DELETE Work with the trigger: {typ} {data}")
    # Still selected, as before the DELETE.
    try:
        typ, data = a.fetch("1:*", "(FLAGS BODY.PEEK[TEXT])")
    except imaplib.IMAP4.error as e:
        raise TestFailure(f"FETCH after a failed DELETE: {e}")
    bodies = [d[1] for d in data if isinstance(d, tuple)]
    check(typ == "OK" and bodies == [b"body Work 0\r\n", b"body Work 1\r\n"],
          f"FETCH after a failed DELETE: {typ} {data}")
    check(a.store("2", "+FLAGS", "(\\Flagged)")[0] == "OK", "STORE")
    check(a.noop()[0] == "OK", "NOOP")
    check(os.path.isdir(os.path.join(st.maildir(ALICE), ".Work", "cur")),
          "Work's directory after a failed DELETE")
    db.execute("DROP TRIGGER keep_work")
    db.close()
    typ, data = a.delete("Work")
    check(typ == "OK", f"DELETE Work: {typ} {data}")
    check(a.response("CLOSED")[1] != [None], "no [CLOSED] after DELETE")
    try:
        typ, data = a._simple_command("CHECK")
        raise TestFailure(f"CHECK after DELETE of the selected mailbox: "
                          f"{typ} {data}")
    except imaplib.IMAP4.error as e:
        check("select a mailbox first" in str(e), f"CHECK: {e}")
    check("Work" not in str(a.list()[1]), "Work still listed")
    a.logout()


def main():
    st = Store("imap-own-delete", tls=False,
               auth_cleartext_networks="127.0.0.0/8")
    st.add_user(ALICE, PW)
    st.start()
    own_delete_fails(st)


run(main)
