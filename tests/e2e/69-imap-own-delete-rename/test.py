# SPDX-License-Identifier: ISC
"""Replies around a selected mailbox that is deleted or renamed, in
buzond's IMAP (imaplib sessions and a raw one):

  * A's own DELETE of its selected "Work" fails (here a trigger in the
    index refuses to drop the folder's row, as any index error would):
    NO, and A is still in "Work" as before (FETCH, STORE and NOOP work,
    the messages and the folder are all there). Before the fix the
    session had left "Work" anyway and its FETCH got BAD. Once the DELETE
    succeeds, A gets "* OK [CLOSED]" and is out of the selected state;
  * B renames "Big" while A's FETCH of its 12 MB message is running (A's
    receive buffer is small, so buzond is still writing the literal when
    B's RENAME completes): A's FETCH gets all its data and its tagged OK,
    and A's next command gets "* BYE". Before the fix the FETCH data was
    followed by the BYE and no tagged reply (imaplib: abort, no data);
  * B renames "Box" away while A2 (raw) has it selected and idles; A2's
    LIST gets "* BYE" before any LIST line (it got the LIST lines, then
    the BYE, with no tagged reply before the fix);
  * B deletes A's selected "Again" and creates "Again" anew: A's next
    NOOP gets "* BYE" (the new folder's index row may reuse the old one's
    id; before the fix A took it for its own mailbox and reported
    EXPUNGEs, under a UIDVALIDITY that had silently changed);
  * RFC 3501 7.1.5 / RFC 9051 7.1.5: a BYE may come at any time; what a
    client never gets is a command's data without its completion.
"""
import imaplib
import os
import socket
import sqlite3
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from estafeta_test import Store, TestFailure, run  # noqa: E402
from imapraw import ImapRaw, check  # noqa: E402

ALICE, PW = "alice@example.test", "alice-pw-69"
BYE_TEXT = "deleted or renamed"
BIG = 12 * 1024 * 1024


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


class SlowReader(imaplib.IMAP4):
    """imaplib with a small receive buffer, and a hook that runs when a
    big literal starts to come in (the server is still writing it)."""
    hook = None

    def _create_socket(self, timeout):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        s.settimeout(timeout)
        s.connect((self.host, self.port))
        return s

    def read(self, size):
        if size >= BIG and self.hook is not None:
            hook, self.hook = self.hook, None
            hook()
        return super().read(size)


def rename_during_fetch(st):
    b = login(st)
    fill(b, "Big", 1, BIG + 4096)
    a = login(st, SlowReader)
    typ, data = a.select("Big")
    check(typ == "OK" and data == [b"1"], f"SELECT Big {data}")
    renamed = []

    def rename():
        typ, data = b.rename("Big", "Big2")
        check(typ == "OK", f"RENAME during the FETCH: {data}")
        renamed.append(1)
    a.hook = rename
    try:
        typ, data = a.fetch("1", "(BODY.PEEK[])")
    except imaplib.IMAP4.abort as e:
        raise TestFailure(f"FETCH got no tagged reply: {e}")
    check(renamed == [1], "the RENAME did not run during the FETCH")
    check(typ == "OK" and len(data[0][1]) > BIG and
          data[0][1].startswith(b"Subject: Big 0\r\n"),
          f"FETCH: {typ} {data[0][0] if data else data}")
    try:
        a.noop()
    except imaplib.IMAP4.abort as e:
        check(BYE_TEXT in str(e), f"abort without the BYE: {e}")
    else:
        raise TestFailure("no BYE after the FETCH")
    typ, data = b.select("Big2")
    check(typ == "OK" and data == [b"1"], f"SELECT Big2 {data}")
    b.logout()


def list_after_rename(st):
    b = login(st)
    fill(b, "Box", 1)
    a2 = ImapRaw(st.imap_port, timeout=30)
    a2.expect(f'l LOGIN {ALICE} "{PW}"', "OK")
    a2.expect("s SELECT Box", "OK")
    check(b.rename("Box", "Box2")[0] == "OK", "RENAME Box")
    a2.send('x LIST "" "*"\r\n')
    ln = a2.line()
    check(ln.startswith("* BYE") and BYE_TEXT in ln,
          f"LIST in a renamed mailbox: first line {ln!r}")
    check(a2.closed(), "connection left open after the BYE")
    check(b"LIST" not in a2.buf and b"x OK" not in a2.buf,
          f"after the BYE: {a2.buf!r}")
    b.logout()


def delete_and_create(st):
    """B deletes A's selected mailbox and creates one of the same name: a
    new mailbox (new UIDVALIDITY) even when it gets the old one's id."""
    b = login(st)
    fill(b, "Again", 2)
    a = login(st)
    typ, data = a.select("Again")
    check(typ == "OK" and data == [b"2"], f"SELECT Again {data}")
    v1 = a.response("UIDVALIDITY")[1][0]
    check(b.delete("Again")[0] == "OK", "DELETE Again")
    fill(b, "Again", 1)
    typ, data = b.status("Again", "(UIDVALIDITY)")
    check(typ == "OK" and v1 not in data[0], f"new UIDVALIDITY {data}")
    try:
        typ, data = a.noop()
    except imaplib.IMAP4.abort as e:
        check(BYE_TEXT in str(e), f"abort without the BYE: {e}")
    else:
        raise TestFailure(f"NOOP in a replaced mailbox: {typ} {data}, "
                          f"{a.untagged_responses}")
    b.logout()


def main():
    st = Store("imap-own-delete", tls=False,
               auth_cleartext_networks="127.0.0.0/8")
    st.add_user(ALICE, PW)
    st.start()
    own_delete_fails(st)
    rename_during_fetch(st)
    list_after_rename(st)
    delete_and_create(st)
    log = st.read_log()
    check("imap selected mailbox gone during a command" in log,
          "the FETCH's gone mailbox not logged")


run(main)
