# SPDX-License-Identifier: ISC
"""A session killed while removing deleted mail: nothing comes back.

buzond removes message files only after the index transaction that drops
their rows has committed (POP3 UPDATE, IMAP EXPUNGE: the rows become
"doomed" rows in the same transaction; a deleted folder is first renamed
out of sight in it). BUZOND_TEST_CRASH_UNLINK=N, a test-only knob, makes
a session kill itself (SIGKILL) right after its Nth unlink of a message
file, that is in the middle of the removal:

  * POP3: DELE 1-3 of 4 messages, QUIT; the session dies after two
    unlinks. After a restart (without the knob) the mailbox holds only
    message 4 (the third file, left behind, is removed by the next sync
    instead of coming back as a new message), RETR and IMAP FETCH work,
    and UIDs go on.
  * IMAP DELETE of a folder with 3 messages: the session dies after two
    unlinks. The folder is gone for good (LIST, the directory); what the
    crash left in the trash goes at the next DELETE; a folder created
    again with the same name is empty.

Before the fix the files went before the commit: the third POP3 message
came back (flagged \\Deleted), and the folder came back with the messages
the crash had not reached.
"""
import imaplib
import os
import poplib
import smtplib
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from estafeta_test import Store, TestFailure, run, wait_for  # noqa: E402
from storecrash import children_gone, restart  # noqa: E402

USER = "alice@example.test"
KNOB = "BUZOND_TEST_CRASH_UNLINK"


def check(cond, what):
    if not cond:
        raise TestFailure(what)


def deliver(st, n):
    c = smtplib.LMTP("127.0.0.1", st.lmtp_port)
    c.ehlo()
    c.mail("s@example.org")
    c.rcpt(USER)
    code, text = c.data(f"Subject: m{n}\r\n\r\nbody {n}\r\n".encode())
    c.quit()
    check(code == 250, f"LMTP {code} {text}")


def files(st, folder=""):
    base = st.maildir(USER)
    if folder:
        base = os.path.join(base, "." + folder)
    out = []
    for sub in ("new", "cur"):
        d = os.path.join(base, sub)
        if os.path.isdir(d):
            out += [os.path.join(sub, f) for f in os.listdir(d)]
    return out


def trash(st):
    return [f for f in os.listdir(st.maildir(USER))
            if f.startswith("..deleted.")]




def imap(st):
    m = imaplib.IMAP4("127.0.0.1", st.imap_port)
    m.login(USER, "pw")
    return m


def pop3_update_crash(st):
    for n in range(1, 5):
        deliver(st, n)
    restart(st, KNOB, 2)
    p = poplib.POP3("127.0.0.1", st.pop3_port, timeout=10)
    p.user(USER)
    p.pass_("pw")
    check(p.stat()[0] == 4, "4 messages")
    for n in (1, 2, 3):
        p.dele(n)
    try:
        r = p.quit()
        raise TestFailure(f"QUIT answered {r!r}: the knob did not fire")
    except (poplib.error_proto, EOFError, ConnectionError):
        pass
    wait_for(lambda: children_gone(st), "the killed session to go")
    check("killed by signal 9" in st.read_log(), "session not killed")
    check(len(files(st)) == 2, f"files after the crash: {files(st)}")

    restart(st, KNOB, 0)
    p = poplib.POP3("127.0.0.1", st.pop3_port, timeout=10)
    p.user(USER)
    p.pass_("pw")
    count = p.stat()[0]
    check(count == 1, f"{count} messages after the crash, want 1")
    body = b"\n".join(p.retr(1)[1])
    check(b"Subject: m4" in body, f"the kept message: {body!r}")
    p.quit()
    check(len(files(st)) == 1, f"files left: {files(st)}")
    m = imap(st)
    typ, data = m.select("INBOX")
    check(data == [b"1"], f"IMAP EXISTS {data}")
    typ, data = m.fetch("1", "(UID BODY.PEEK[])")
    check(typ == "OK" and b"UID 4 " in data[0][0] and
          b"body 4" in data[0][1], f"FETCH {data}")
    m.logout()
    deliver(st, 5)
    m = imap(st)
    m.select("INBOX")
    typ, data = m.uid("SEARCH", "ALL")
    check(data == [b"4 5"], f"UIDs after the crash {data}")
    m.logout()


def folder_delete_crash(st):
    restart(st, KNOB, 2)
    m = imap(st)
    check(m.create("Work")[0] == "OK", "CREATE Work")
    for n in range(3):
        typ, _ = m.append("Work", None, None,
                          f"Subject: w{n}\r\n\r\nwork {n}\r\n".encode())
        check(typ == "OK", "APPEND")
    check(len(files(st, "Work")) == 3, "3 files in Work")
    try:
        r = m.delete("Work")
        raise TestFailure(f"DELETE answered {r!r}: the knob did not fire")
    except (imaplib.IMAP4.abort, EOFError, ConnectionError):
        pass
    wait_for(lambda: children_gone(st), "the killed session to go")

    restart(st, KNOB, 0)
    check(not os.path.exists(os.path.join(st.maildir(USER), ".Work")),
          "the folder's directory came back")
    m = imap(st)
    typ, data = m.list()
    check(not any(b"Work" in x for x in data), f"LIST {data}")
    check(m.select("Work")[0] == "NO", "SELECT of the deleted folder")
    # The trash a crash left goes at the next DELETE.
    check(m.create("Other")[0] == "OK", "CREATE Other")
    check(m.delete("Other")[0] == "OK", "DELETE Other")
    check(trash(st) == [], f"trash left: {trash(st)}")
    check(m.create("Work")[0] == "OK", "CREATE Work again")
    typ, data = m.select("Work")
    check(data == [b"0"], f"the new Work holds {data}")
    m.logout()


def main():
    st = Store("delete-crash", tls=False,
               auth_cleartext_networks="127.0.0.0/8")
    st.add_user(USER, "pw")
    st.start()
    pop3_update_crash(st)
    folder_delete_crash(st)
    os.environ.pop(KNOB, None)


run(main)
