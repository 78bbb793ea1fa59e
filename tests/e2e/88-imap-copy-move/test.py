# SPDX-License-Identifier: ISC
"""IMAP COPY, MOVE and EXPUNGE against a real buzond with Python's imaplib:
COPY and UID COPY answer [COPYUID uidvalidity source-uids dest-uids] and
keep flags and internal date, a missing target gives NO [TRYCREATE]; MOVE
and UID MOVE (RFC 6851) send the COPYUID in an untagged OK, then the
EXPUNGEs; EXPUNGE reports sequence numbers as RFC 3501 7.4.1 wants (each
accounting for the previous ones); UID EXPUNGE (UIDPLUS) removes only the
given \\Deleted messages; a read-only mailbox refuses EXPUNGE and MOVE
but allows COPY; a COPY failing halfway leaves the target unchanged."""
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from estafeta_test import run  # noqa: E402
import imapmsgs as M  # noqa: E402

USER = "alice@example.test"


def bodies(c, mailbox):
    """The first text line of each message (selects mailbox read-only)."""
    n = int(M.ok(c.select(mailbox, readonly=True))[0])
    if n == 0:
        return []
    out = []
    for r in M.fetch(c, "1:*", "BODY.PEEK[TEXT]"):
        out.append(r.split("\r\n", 1)[1].split("\r\n")[0])
    return out


def archive_count(c):
    data = M.ok(c.status("Archive", "(MESSAGES)"))[0].decode()
    return int(re.search(r"MESSAGES (\d+)", data).group(1))


def uids(c):
    return [int(x) for x in M.ok(c.uid("SEARCH", "ALL"))[0].split()]


def copyuid(text):
    m = re.match(rb"\[COPYUID (\d+) ([0-9:,]+) ([0-9:,]+)\]", text)
    assert m, text
    return int(m.group(1)), m.group(2).decode(), m.group(3).decode()


def main():
    st = M.start_store()
    for i in range(1, 8):
        M.deliver(st, USER, M.PLAIN.replace("short", f"message {i}"))
    c = M.connect(st)
    M.ok(c.create("Archive"))
    M.ok(c.select("INBOX"))
    src = uids(c)
    assert len(src) == 7
    M.ok(c.store("2", "+FLAGS", "(\\Flagged $Keep)"))
    date2 = re.search(r'INTERNALDATE "([^"]+)"',
                      M.fetch(c, "2", "INTERNALDATE")[0]).group(1)

    # COPY: COPYUID with the source and the new UIDs, flags kept
    typ, data = c.copy("2:3", "Archive")
    assert typ == "OK", (typ, data)
    v, s, d = copyuid(data[0])
    assert s == f"{src[1]}:{src[2]}", (s, src)
    typ, data = c._simple_command("UID", "COPY", f"{src[4]},{src[6]}",
                                  "Archive")
    assert typ == "OK", (typ, data)
    v2, s2, d2 = copyuid(data[0])
    assert v2 == v and s2 == f"{src[4]},{src[6]}", data
    typ, data = c.copy("1", "NoSuchBox")
    assert typ == "NO" and data[0].startswith(b"[TRYCREATE]"), (typ, data)
    typ, data = c.copy("1", "..")
    assert typ == "NO", (typ, data)
    c2 = M.connect(st)
    M.ok(c2.select("Archive", readonly=True))
    auids = uids(c2)
    assert f"{auids[0]}:{auids[1]}" == d and \
        d2 in (f"{auids[2]}:{auids[3]}", f"{auids[2]},{auids[3]}"), \
        (auids, d, d2)
    assert M.flags_of(c2, 1) >= {"\\Flagged", "$Keep"}, M.flags_of(c2, 1)
    M.expect(re.search(r'INTERNALDATE "([^"]+)"',
                       M.fetch(c2, "1", "INTERNALDATE")[0]).group(1),
             date2, "copied INTERNALDATE")
    assert bodies(c2, "Archive") == ["message 2", "message 3", "message 5",
                                     "message 7"]
    c2.logout()
    assert bodies(c, "INBOX") == [f"message {i}" for i in range(1, 8)]
    M.ok(c.select("INBOX"))

    # MOVE: untagged OK [COPYUID ...], then EXPUNGE, then tagged OK
    typ, data = c._simple_command("MOVE", "4", "Archive")
    assert typ == "OK", (typ, data)
    oks = c.response("OK")[1]
    assert any(o.startswith(b"[COPYUID ") for o in oks), oks
    moved = [o for o in oks if o.startswith(b"[COPYUID ")][-1]
    assert copyuid(moved)[1] == str(src[3]), moved
    M.expect(c.response("EXPUNGE")[1], [b"4"], "MOVE expunge")
    typ, data = c._simple_command("UID", "MOVE", f"{src[5]}:{src[6]}",
                                  "Archive")
    assert typ == "OK", (typ, data)
    # after 4 went, UIDs src[5] and src[6] are messages 5 and 6
    # ascending (each accounting for the previous) or descending
    assert c.response("EXPUNGE")[1] in ([b"5", b"5"], [b"6", b"5"])
    typ, data = c._simple_command("MOVE", "1", "NoSuchBox")
    assert typ == "NO" and data[0].startswith(b"[TRYCREATE]"), (typ, data)
    assert bodies(c, "INBOX") == ["message 1", "message 2", "message 3",
                                  "message 5"]
    assert bodies(c, "Archive") == ["message 2", "message 3", "message 5",
                                    "message 7", "message 4", "message 6",
                                    "message 7"]

    # EXPUNGE numbering: 1 and 3 of 4 deleted -> "1 EXPUNGE", "2 EXPUNGE"
    M.ok(c.select("INBOX"))
    M.ok(c.store("1,3", "+FLAGS.SILENT", "(\\Deleted)"))
    typ, data = c.expunge()
    assert typ == "OK" and data in ([b"1", b"2"], [b"3", b"1"]), (typ, data)
    assert bodies(c, "INBOX") == ["message 2", "message 5"]
    M.ok(c.select("INBOX"))
    # UID EXPUNGE removes only the given \Deleted messages
    now = uids(c)
    M.ok(c.store("1:2", "+FLAGS.SILENT", "(\\Deleted)"))
    typ, data = c._simple_command("UID", "EXPUNGE", str(now[1]))
    assert typ == "OK", (typ, data)
    M.expect(c.response("EXPUNGE")[1], [b"2"], "UID EXPUNGE")
    assert uids(c) == [now[0]]
    assert "\\Deleted" in M.flags_of(c, 1)
    c.logout()

    # read-only: EXPUNGE and MOVE refused, COPY allowed
    c = M.connect(st)
    M.ok(c.select("INBOX", readonly=True))
    typ, data = c.expunge()
    assert typ == "NO", (typ, data)
    typ, data = c._simple_command("MOVE", "1", "Archive")
    assert typ == "NO", (typ, data)
    typ, data = c.copy("1", "Archive")
    assert typ == "OK", (typ, data)
    assert len(uids(c)) == 1
    c.logout()

    # a COPY that fails halfway (a message file removed by another
    # program) leaves the target as it was (RFC 3501 6.4.7)
    for i in (8, 9, 10):
        M.deliver(st, USER, M.PLAIN.replace("short", f"message {i}"))
    c = M.connect(st)
    M.ok(c.select("INBOX"))
    assert len(uids(c)) == 4
    before = archive_count(c)
    gone = 0
    for sub in ("new", "cur"):
        d = os.path.join(st.maildir(USER), sub)
        for n in os.listdir(d):
            with open(os.path.join(d, n), "rb") as f:
                if b"message 9" in f.read():
                    os.unlink(os.path.join(d, n))
                    gone += 1
    assert gone == 1
    typ, data = c.copy("2:4", "Archive")
    assert typ == "NO", (typ, data)
    assert archive_count(c) == before, (archive_count(c), before)
    c.logout()

    # a MOVE needs no rename in the source before its commit (the rows
    # move in one transaction, the originals' files go after it): with
    # INBOX's new/ and cur/ read-only for the session it still moves; the
    # files it cannot unlink stay "doomed" for a later scan to remove
    c = M.connect(st)
    M.ok(c.select("INBOX"))
    n_inbox, before = len(uids(c)), archive_count(c)
    dirs = [os.path.join(st.maildir(USER), sub) for sub in ("new", "cur")]
    modes = [os.stat(d).st_mode & 0o7777 for d in dirs]
    seq = M.ok(c.search(None, "UNDELETED"))[0].split()[0].decode()
    try:
        for d in dirs:
            os.chmod(d, 0o555)
        typ, data = c._simple_command("MOVE", seq, "Archive")
    finally:
        for d, m in zip(dirs, modes):
            os.chmod(d, m)
    assert typ == "OK", (typ, data)
    assert len(uids(c)) == n_inbox - 1, uids(c)
    assert archive_count(c) == before + 1, (archive_count(c), before)
    c.logout()

run(main)
