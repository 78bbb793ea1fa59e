# SPDX-License-Identifier: ISC
"""IMAP STORE against a real buzond with Python's imaplib: FLAGS, +FLAGS
and -FLAGS with and without .SILENT (the untagged FETCH FLAGS answers, or
none), keywords (kept once, case-insensitively), UID STORE (UID in the
answers), \\Recent kept by the server, the flags surviving a new session
and reflected in the Maildir file names (":2,..." letters), refusal in an
EXAMINEd mailbox (NO) and syntax errors (BAD)."""
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from estafeta_test import run  # noqa: E402
import imapmsgs as M  # noqa: E402

USER = "alice@example.test"


def store(c, seqs, item, flags, uid=False):
    if uid:
        return [x.decode() for x in M.ok(c.uid("STORE", seqs, item, flags))
                if x is not None]
    return [x.decode() for x in M.ok(c.store(seqs, item, flags))
            if x is not None]


def maildir_flags(st):
    """The flag letters of every message file, sorted."""
    out = []
    for sub in ("new", "cur"):
        d = os.path.join(st.maildir(USER), sub)
        for n in os.listdir(d):
            m = re.search(r":2,([A-Za-z]*)$", n)
            out.append(m.group(1) if m else "")
    return sorted(out)


def main():
    st = M.start_store()
    for i in range(4):
        M.deliver(st, USER, M.PLAIN.replace("short", f"message {i}"))
    c = M.connect(st)
    M.ok(c.select("INBOX"))
    # replace
    M.expect(store(c, "1", "FLAGS", "(\\Seen \\Flagged)"),
             ["1 (FLAGS (\\Seen \\Flagged \\Recent))"], "FLAGS")
    # add, with keywords; each once
    M.expect(store(c, "1:2", "+FLAGS", "(\\Answered $Work $work)"),
             ["1 (FLAGS (\\Seen \\Answered \\Flagged \\Recent $Work))",
              "2 (FLAGS (\\Answered \\Recent $Work))"], "+FLAGS")
    M.expect(store(c, "2", "+FLAGS", "($Work \\Draft)"),
             ["2 (FLAGS (\\Answered \\Draft \\Recent $Work))"],
             "+FLAGS again")
    # remove
    M.expect(store(c, "1:2", "-FLAGS", "(\\Answered $WORK)"),
             ["1 (FLAGS (\\Seen \\Flagged \\Recent))",
              "2 (FLAGS (\\Draft \\Recent))"], "-FLAGS")
    # removing what is not there changes nothing
    M.expect(store(c, "3", "-FLAGS", "(\\Deleted)"),
             ["3 (FLAGS (\\Recent))"], "-FLAGS no-op")
    # .SILENT: no untagged FETCH
    M.expect(store(c, "3:4", "+FLAGS.SILENT", "(\\Deleted $Junk)"), [],
             "+FLAGS.SILENT")
    M.expect(store(c, "4", "FLAGS.SILENT", "(\\Seen)"), [], "FLAGS.SILENT")
    M.expect(store(c, "4", "-FLAGS.SILENT", "(\\Seen)"), [],
             "-FLAGS.SILENT")
    assert M.flags_of(c, 3) == {"\\Deleted", "\\Recent", "$Junk"}
    assert M.flags_of(c, 4) == {"\\Recent"}
    # a flag list without parentheses (one flag) works too
    M.expect(store(c, "4", "+FLAGS", "\\Flagged"),
             ["4 (FLAGS (\\Flagged \\Recent))"], "bare flag")
    # UID STORE: the answers carry the UID
    uid3 = int(re.search(r"UID (\d+)", M.fetch(c, "3", "UID")[0]).group(1))
    M.expect(store(c, str(uid3), "FLAGS", "(\\Seen)", uid=True),
             [f"3 (UID {uid3} FLAGS (\\Seen \\Recent))"], "UID STORE")
    M.expect(store(c, f"{uid3 + 100}:{uid3 + 200}", "FLAGS", "(\\Seen)",
                   uid=True), [], "UID STORE of missing UIDs")
    # the flags are in the Maildir file names
    assert maildir_flags(st) == ["D", "F", "FS", "S"], maildir_flags(st)
    # errors
    for args in [("1", "FLAGS", "(\\Recent)"), ("1", "FLAGS", "(\\Bogus)"),
                 ("1", "FOO", "(\\Seen)"), ("9", "FLAGS", "(\\Seen)"),
                 ("1", "+FLAGS", "((\\Seen))"), ("x", "FLAGS", "(\\Seen)")]:
        try:
            typ, data = c.store(*args)
        except c.error as e:
            assert "BAD" in str(e), (args, e)
            continue
        raise AssertionError(f"STORE {args} gave {typ} {data}")
    # keywords are capped (1024 octets per message): NO [LIMIT], and the
    # message keeps what it had
    # (one flag list takes at most 64 keywords: several, until it is full)
    for n in range(10):
        kws = "(" + " ".join(f"$kw{n}x{i:04d}" for i in range(40)) + ")"
        typ, data = c.store("1", "+FLAGS.SILENT", kws)
        if typ != "OK":
            break
    assert typ == "NO" and b"[LIMIT]" in data[0] and 2 <= n <= 5, \
        (n, typ, data)
    got = M.flags_of(c, 1)
    assert f"$kw{n}x0000" not in got and "$kw0x0000" in got, got
    assert len(" ".join(k for k in got if k.startswith("$"))) <= 1024
    M.ok(c.store("1", "FLAGS.SILENT", "(\\Seen \\Flagged)"))
    c.logout()
    # a new session sees the flags (\Recent was claimed by the first one)
    c = M.connect(st)
    M.ok(c.select("INBOX"))
    got = [M.flags_of(c, i) for i in range(1, 5)]
    assert got == [{"\\Seen", "\\Flagged"}, {"\\Draft"}, {"\\Seen"},
                   {"\\Flagged"}], got
    c.logout()
    # EXAMINE: STORE is refused, nothing changes
    c = M.connect(st)
    M.ok(c.select("INBOX", readonly=True))
    typ, data = c.store("1", "+FLAGS", "(\\Deleted)")
    assert typ == "NO", (typ, data)
    assert "\\Deleted" not in M.flags_of(c, 1)
    c.logout()


run(main)
