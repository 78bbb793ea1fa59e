# SPDX-License-Identifier: ISC
"""A POP3 session killed in its UPDATE state before the commit: the
maildrop is exactly as it was (RFC 1939 6: the marked messages are
removed, or, if the session ends any other way, nothing changes).

BUZOND_TEST_CRASH_COMMIT=N, a test-only knob, kills a session (SIGKILL)
right before the index COMMIT of its Nth transaction that removes message
files. POP3's UPDATE removes the marked messages by UID in one
transaction, and no file is renamed or unlinked before it commits:

  * alice has 4 messages (LMTP); a session RETRs 4, DELEs 1-3 and QUITs;
    the knob kills it before the commit. Without the knob: every file
    keeps its name (new/, no ":2," flags), IMAP (EXAMINE) shows 4
    messages with no \\Deleted and no \\Seen, and POP3 the same 4 UIDLs;
  * the same session again without the knob removes messages 1-3 and
    sets \\Seen on 4; its UIDL is the one from before;
  * an IMAP EXPUNGE killed the same way leaves its messages in place
    (still \\Deleted: the client set that flag, in a command of its own).

Before the fix UPDATE flagged the marked messages \\Deleted by renaming
their files (":2,T") inside the transaction: after the crash the index
rolled back, but the next session read the flag from the names and all 3
messages came back \\Deleted, visible to IMAP clients.
"""
import imaplib
import os
import poplib
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from estafeta_test import Store, TestFailure, run, wait_for  # noqa: E402
from storecrash import children_gone, restart  # noqa: E402
from poptest import check, lmtp_send  # noqa: E402

USER, PW = "alice@example.test", "crash-Pa55"
KNOB = "BUZOND_TEST_CRASH_COMMIT"


def files(st):
    md = st.maildir(USER)
    return sorted(os.path.join(d, f) for d in ("new", "cur")
                  for f in os.listdir(os.path.join(md, d)))




def pop3(st):
    p = poplib.POP3("127.0.0.1", st.pop3_port, timeout=20)
    p.user(USER)
    p.pass_(PW)
    return p


def imap_flags(st):
    """FLAGS of every INBOX message, read-only (EXAMINE)."""
    m = imaplib.IMAP4("127.0.0.1", st.imap_port)
    m.login(USER, PW)
    typ, data = m.select("INBOX", readonly=True)
    check(typ == "OK", f"EXAMINE {data}")
    n = int(data[0])
    flags = []
    if n:
        typ, data = m.fetch("1:*", "(FLAGS)")
        check(typ == "OK", f"FETCH {data}")
        flags = [d.decode() for d in data]
    m.logout()
    return n, flags


def killed_update(st, before):
    """RETR 4, DELE 1-3, QUIT: the session dies before its commit."""
    p = pop3(st)
    check(p.stat()[0] == 4, "4 messages")
    ids = [ln.split()[1] for ln in p.uidl()[1]]
    p.retr(4)
    for n in (1, 2, 3):
        p.dele(n)
    try:
        r = p.quit()
        raise TestFailure(f"QUIT answered {r!r}: the knob did not fire")
    except (poplib.error_proto, EOFError, ConnectionError):
        pass
    wait_for(lambda: children_gone(st), "the killed session to go")
    check("killed by signal 9" in st.read_log(), "session not killed")
    check(files(st) == before,
          f"files changed by an UPDATE that never committed:\n{before}\n"
          f"{files(st)}")
    return ids


def main():
    st = Store("pop3-update-crash", tls=False,
               auth_cleartext_networks="127.0.0.0/8")
    st.add_user(USER, PW)
    st.start()
    for n in range(1, 5):
        msg = f"Subject: m{n}\r\n\r\nbody {n}\r\n".encode()
        check(lmtp_send(st.lmtp_port, [USER], msg) == {}, f"LMTP {n}")
    before = files(st)
    check(len(before) == 4 and all(f.startswith("new/") for f in before),
          f"4 new files: {before}")

    restart(st, KNOB, 1)
    ids = killed_update(st, before)

    restart(st, KNOB, 0)
    check(files(st) == before, f"files after the restart: {files(st)}")
    n, flags = imap_flags(st)
    check(n == 4, f"IMAP EXISTS {n} after the crash")
    check(not any("\\Deleted" in f or "\\Seen" in f for f in flags),
          f"flags left by an UPDATE that never committed: {flags}")
    p = pop3(st)
    check([ln.split()[1] for ln in p.uidl()[1]] == ids, "UIDLs changed")
    # -- Again, committed this time.
    p.retr(4)
    for i in (1, 2, 3):
        p.dele(i)
    r = p.quit()
    check(r.startswith(b"+OK") and b"3 messages deleted" in r, f"QUIT {r!r}")
    left = files(st)
    check(len(left) == 1 and left[0].startswith("cur/") and
          left[0].endswith(":2,S"), f"files after the UPDATE: {left}")
    n, flags = imap_flags(st)
    check(n == 1 and "\\Seen" in flags[0] and "\\Deleted" not in flags[0],
          f"after the UPDATE: {n} {flags}")
    p = pop3(st)
    check([ln.split()[1] for ln in p.uidl()[1]] == [ids[3]],
          "UIDL of the kept message")
    p.quit()

    # -- IMAP EXPUNGE dies at the same point: the messages stay.
    for n in range(5, 7):
        msg = f"Subject: m{n}\r\n\r\nbody {n}\r\n".encode()
        check(lmtp_send(st.lmtp_port, [USER], msg) == {}, f"LMTP {n}")
    restart(st, KNOB, 1)
    m = imaplib.IMAP4("127.0.0.1", st.imap_port)
    m.login(USER, PW)
    m.select("INBOX")
    check(m.store("2:3", "+FLAGS", "(\\Deleted)")[0] == "OK", "STORE")
    try:
        r = m.expunge()
        raise TestFailure(f"EXPUNGE answered {r!r}: the knob did not fire")
    except (imaplib.IMAP4.abort, EOFError, ConnectionError):
        pass
    wait_for(lambda: children_gone(st), "the killed session to go")
    restart(st, KNOB, 0)
    n, flags = imap_flags(st)
    check(n == 3 and len(files(st)) == 3, f"after a killed EXPUNGE: {n} "
          f"{files(st)}")
    os.environ.pop(KNOB, None)


run(main)
