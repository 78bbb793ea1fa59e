# SPDX-License-Identifier: ISC
"""IMAP MOVE killed at each of its commits: every message ends up in
exactly one of the two mailboxes, with its flags.

buzond moves a message (RFC 6851) in one index transaction: the target's
rows go in and the source's rows out together. The files are linked into
the target's tmp/ first, their names marked "doomed" in the target (a
commit of their own), renamed into new/ or cur/ inside the move's
transaction, and the originals unlinked after it commits. A crash before
the move's commit leaves files in the target that the next scan removes;
a crash after it, originals that the next scan of the source removes.

Test-only knobs make the session kill itself (SIGKILL):
  BUZOND_TEST_CRASH_MOVE=1    before the commit of the marks
  BUZOND_TEST_CRASH_MOVE=2    before the move's commit (files renamed in)
  BUZOND_TEST_CRASH_COMMIT=1  the same point, by the older knob (before
                              the first commit that removes files)
  BUZOND_TEST_CRASH_UNLINK=1  after the commit, at the first unlink

After a restart each moved message (\\Flagged and a keyword set) is found
once, in INBOX for the first three and in Dest for the last, never
flagged \\Deleted, and the files on disk agree. A MOVE without a crash
answers the untagged OK [COPYUID ...] before the EXPUNGEs.

Before the fix MOVE copied, set \\Deleted and expunged in separate
commits: killed before the expunge's commit the messages were in both
mailboxes (the originals flagged \\Deleted).
"""
import imaplib
import os
import re
import smtplib
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from estafeta_test import Store, TestFailure, run, wait_for  # noqa: E402
from storecrash import KNOBS, children_gone, restart  # noqa: E402

USER = "alice@example.test"


def check(cond, what):
    if not cond:
        raise TestFailure(what)


def deliver(st, tag):
    c = smtplib.LMTP("127.0.0.1", st.lmtp_port)
    c.ehlo()
    c.mail("s@example.org")
    c.rcpt(USER)
    code, text = c.data(f"Subject: {tag}\r\n\r\nbody of {tag}\r\n"
                        .encode())
    c.quit()
    check(code == 250, f"LMTP {code} {text}")




def imap(st):
    m = imaplib.IMAP4("127.0.0.1", st.imap_port)
    m.login(USER, "pw")
    return m


def found(m, mailbox, tag):
    """FLAGS of each message of mailbox whose Subject is tag."""
    typ, data = m.select(mailbox)
    check(typ == "OK", f"SELECT {mailbox}: {data}")
    typ, data = m.search(None, "HEADER", "Subject", tag)
    check(typ == "OK", f"SEARCH {data}")
    out = []
    for seq in data[0].split():
        typ, d = m.fetch(seq.decode(), "(FLAGS BODY.PEEK[TEXT])")
        check(typ == "OK", f"FETCH {d}")
        flags = re.search(rb"FLAGS \(([^)]*)\)", d[0][0]).group(1)
        check(d[0][1] == f"body of {tag}\r\n".encode(),
              f"{mailbox} {tag} body {d[0][1]!r}")
        out.append(flags.split())
    m.unselect()
    return out


def files_with(st, folder, tag):
    base = st.maildir(USER)
    if folder != "INBOX":
        base = os.path.join(base, "." + folder)
    n = 0
    for sub in ("new", "cur"):
        d = os.path.join(base, sub)
        for f in os.listdir(d):
            with open(os.path.join(d, f), "rb") as fh:
                text = fh.read()
            n += (f"Subject: {tag}\r\n".encode() in text or
                  f"Subject: {tag}\n".encode() in text)
    return n


def crash_case(st, knob, value, want):
    tags = [f"{knob[-6:].lower()}{value}-{i}" for i in (1, 2)]
    restart(st)
    for t in tags:
        deliver(st, t)
    restart(st, knob, value)
    m = imap(st)
    check(m.select("INBOX")[0] == "OK", "SELECT INBOX")
    seqs = []
    for t in tags:
        typ, data = m.search(None, "HEADER", "Subject", t)
        seqs += data[0].split()
    check(len(seqs) == 2, f"{tags} in INBOX: {seqs}")
    sset = b",".join(seqs).decode()
    check(m.store(sset, "+FLAGS", "(\\Flagged $Work)")[0] == "OK",
          "STORE")
    try:
        r = m._simple_command("MOVE", sset, "Dest")
        raise TestFailure(f"{knob}={value}: MOVE answered {r!r}, "
                          "the knob did not fire")
    except (imaplib.IMAP4.abort, EOFError, ConnectionError, OSError):
        pass
    wait_for(lambda: children_gone(st), "the killed session to go")
    check("killed by signal 9" in st.read_log(), "session not killed")

    restart(st)
    m = imap(st)
    for t in tags:
        where = {box: found(m, box, t) for box in ("INBOX", "Dest")}
        n = sum(len(v) for v in where.values())
        check(n == 1, f"{knob}={value}: {t} found {n} times: {where}")
        check(len(where[want]) == 1,
              f"{knob}={value}: {t} not in {want}: {where}")
        flags = where[want][0]
        check(b"\\Flagged" in flags and b"$Work" in flags and
              b"\\Deleted" not in flags,
              f"{knob}={value}: {t} flags {flags}")
        # Both folders were synced (SELECT): the disk agrees.
        on_disk = {box: files_with(st, box, t) for box in ("INBOX", "Dest")}
        check(on_disk == {"INBOX": int(want == "INBOX"),
                          "Dest": int(want == "Dest")},
              f"{knob}={value}: {t} files {on_disk}")
    m.logout()


def plain_move(st):
    restart(st)
    deliver(st, "plain-1")
    m = imap(st)
    m.select("INBOX")
    typ, data = m.search(None, "HEADER", "Subject", "plain-1")
    seq = data[0].split()[0].decode()
    typ, data = m._simple_command("MOVE", seq, "Dest")
    check(typ == "OK", f"MOVE {typ} {data}")
    oks = m.untagged_responses.get("OK", [])
    check(any(o.startswith(b"[COPYUID ") for o in oks), f"OKs {oks}")
    typ, data = m.response("EXPUNGE")
    check(data == [seq.encode()], f"EXPUNGE {data}")
    m.unselect()
    check(len(found(m, "Dest", "plain-1")) == 1, "plain move in Dest")
    check(found(m, "INBOX", "plain-1") == [], "plain move left in INBOX")
    # A MOVE within one mailbox: the same row is source and target.
    m.select("Dest")
    typ, data = m.uid("SEARCH", "HEADER", "Subject", "plain-1")
    uid = data[0].split()[0].decode()
    typ, data = m.uid("MOVE", uid, "Dest")
    check(typ == "OK", f"MOVE to itself {typ} {data}")
    m.unselect()
    check(len(found(m, "Dest", "plain-1")) == 1, "moved onto itself")
    check(files_with(st, "Dest", "plain-1") == 1, "files after self-move")
    m.logout()


def main():
    st = Store("move-crash", tls=False,
               auth_cleartext_networks="127.0.0.0/8")
    st.add_user(USER, "pw")
    st.start()
    m = imap(st)
    check(m.create("Dest")[0] == "OK", "CREATE Dest")
    m.logout()
    plain_move(st)
    crash_case(st, "BUZOND_TEST_CRASH_MOVE", 1, "INBOX")
    crash_case(st, "BUZOND_TEST_CRASH_MOVE", 2, "INBOX")
    crash_case(st, "BUZOND_TEST_CRASH_COMMIT", 1, "INBOX")
    crash_case(st, "BUZOND_TEST_CRASH_UNLINK", 1, "Dest")
    for k in KNOBS:
        os.environ.pop(k, None)


run(main)
