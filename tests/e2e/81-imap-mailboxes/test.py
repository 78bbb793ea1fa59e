# SPDX-License-Identifier: ISC
"""IMAP mailbox management in buzond, with imaplib over implicit TLS and a
raw socket, checked against the Maildir++ tree on disk:

  * CREATE (also "a.b.c" with its parents and a trailing delimiter),
    already existing names, INBOX in any case; DELETE of a leaf, of a
    parent (kept as \\Noselect, not selectable, its child intact), of
    INBOX (refused); RENAME of a folder with children, onto an existing
    name (refused), and of INBOX (its messages move, INBOX stays, empty);
  * LIST: "" for the delimiter, "*" and "%" patterns, a reference name,
    INBOX matched in any case, \\HasChildren/\\HasNoChildren,
    SPECIAL-USE attributes for Sent/Drafts/Trash/Junk/Archive; LSUB after
    SUBSCRIBE/UNSUBSCRIBE; STATUS items; NAMESPACE;
  * traversal and bad names refused with NO and nothing created outside
    the user's directory: ../x, /etc, a/../../b, .., .hidden, a..b,
    backslashes, bad modified UTF-7 (&, &AOk, &Jjo!), 8-bit octets, a
    300-octet name, a literal with a NUL; good modified UTF-7 accepted;
  * bob never sees alice's folders.
"""
import imaplib
import os
import smtplib
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from estafeta_test import Store, run  # noqa: E402
from imapraw import ImapRaw, check, has  # noqa: E402

ALICE, PW = "alice@example.test", "alice-pw-81"
BOB, BOB_PW = "bob@example.test", "bob-pw-81"


def names(lines, what="LIST"):
    out = {}
    for ln in lines:
        if ln.startswith(f"* {what} "):
            attrs = ln[len(what) + 4:ln.index(")")]
            out[ln.rsplit(" ", 1)[1].strip('"')] = attrs.split()
    return out


def main():
    st = Store("imap-mbox")
    st.add_user(ALICE, PW)
    st.add_user(BOB, BOB_PW)
    st.start()
    ctx = st.ca.client_context()
    # Two messages for INBOX over LMTP.
    with smtplib.LMTP("127.0.0.1", st.lmtp_port) as lm:
        for i in (1, 2):
            lm.sendmail("s@example.org", [ALICE],
                        f"Subject: m{i}\r\n\r\nbody {i}\r\n")

    c = ImapRaw(st.imaps_port, ctx=ctx, implicit=True)
    c.expect(f'l LOGIN {ALICE} "{PW}"', "OK")
    for n in ("Work", "Work.Projects.2026", "Sent", "Drafts", "Trash",
              "Junk", "Archive", "Caf&AOk-", "Tmp."):
        c.expect(f'c CREATE "{n}"', "OK")
    for n in ("Work", "INBOX", "inbox", "Work.Projects"):
        c.expect(f'c CREATE "{n}"', "NO")
    md = st.maildir(ALICE)
    for d in (".Work", ".Work.Projects", ".Work.Projects.2026", ".Tmp",
              ".Caf&AOk-"):
        check(os.path.isdir(os.path.join(md, d)), f"{d} missing on disk")

    _, lines = c.cmd('x LIST "" ""')
    check(has(lines, '* LIST (\\Noselect) "." ""'), lines)
    _, lines = c.cmd('x LIST "" *')
    ls = names(lines)
    check(set(ls) >= {"INBOX", "Work", "Work.Projects",
                      "Work.Projects.2026", "Sent", "Caf&AOk-", "Tmp"}, ls)
    check("\\HasChildren" in ls["Work"] and
          "\\HasNoChildren" in ls["Work.Projects.2026"], ls)
    for n, a in (("Sent", "\\Sent"), ("Drafts", "\\Drafts"),
                 ("Trash", "\\Trash"), ("Junk", "\\Junk"),
                 ("Archive", "\\Archive")):
        check(a in ls[n], f"{n}: {ls[n]}")
    check(not any(a in ls["Work"] for a in ("\\Sent", "\\Trash")), ls)
    _, lines = c.cmd('x LIST "" %')
    check("Work" in names(lines) and "Work.Projects" not in names(lines),
          lines)
    _, lines = c.cmd('x LIST "" Work.%')
    check(set(names(lines)) == {"Work.Projects"}, lines)
    _, lines = c.cmd('x LIST Work. *')
    check(set(names(lines)) == {"Work.Projects", "Work.Projects.2026"},
          lines)
    _, lines = c.cmd('x LIST "" iNbOx')
    check(set(names(lines)) == {"INBOX"}, lines)
    _, lines = c.cmd('x LIST "" *2026')
    check(set(names(lines)) == {"Work.Projects.2026"}, lines)
    _, lines = c.cmd("x NAMESPACE")
    check(has(lines, '* NAMESPACE (("" ".")) NIL NIL'), lines)

    # SUBSCRIBE / LSUB.
    c.expect("s SUBSCRIBE Work", "OK")
    c.expect("s SUBSCRIBE Sent", "OK")
    c.expect("s SUBSCRIBE NoSuch", "NO")
    _, lines = c.cmd('s LSUB "" *')
    check(set(names(lines, "LSUB")) == {"Work", "Sent"}, lines)
    c.expect("s UNSUBSCRIBE Sent", "OK")
    _, lines = c.cmd('s LSUB "" *')
    check(set(names(lines, "LSUB")) == {"Work"}, lines)

    # STATUS.
    _, lines = c.cmd("t STATUS INBOX (MESSAGES RECENT UIDNEXT UIDVALIDITY "
                     "UNSEEN)")
    st_line = [ln for ln in lines if ln.startswith("* STATUS")][0]
    check("MESSAGES 2" in st_line and "UNSEEN 2" in st_line and
          "UIDNEXT 3" in st_line, st_line)
    c.expect("t STATUS NoSuch (MESSAGES)", "NO")
    c.expect("t STATUS INBOX (FOO)", "BAD")

    # DELETE.
    c.expect("d DELETE Tmp", "OK")
    check(not os.path.exists(os.path.join(md, ".Tmp")), ".Tmp stays")
    c.expect("d DELETE Work.Projects", "OK")
    _, lines = c.cmd('d LIST "" Work*')
    ls = names(lines)
    check("\\Noselect" in ls["Work.Projects"] and
          "Work.Projects.2026" in ls, ls)
    c.expect("d SELECT Work.Projects", "NO")
    c.expect("d DELETE INBOX", "NO")
    c.expect("d DELETE NoSuch", "NO")

    # RENAME: a folder with children, onto an existing name, INBOX.
    c.expect("r RENAME Work Job", "OK")
    _, lines = c.cmd('r LIST "" *')
    ls = names(lines)
    check("Job.Projects.2026" in ls and "Work" not in ls, ls)
    c.expect("r RENAME Job Sent", "NO")
    c.expect("r RENAME INBOX Old", "OK")
    _, lines = c.cmd("r STATUS INBOX (MESSAGES)")
    check(has(lines, "(MESSAGES 0)"), lines)
    _, lines = c.cmd("r STATUS Old (MESSAGES)")
    check(has(lines, "(MESSAGES 2)"), lines)
    c.expect("r SELECT INBOX", "OK")

    # Traversal and bad names: NO, nothing created anywhere.
    before = sorted(os.listdir(st.store_root))
    bad = ["../x", "/etc", "a/../../b", "..", ".hidden", "a..b", "a\\\\b",
           "&", "&AOk", "&Jjo!", "x" * 300, "Work/../../../etc"]
    for n in bad:
        for cmd in ("CREATE", "SELECT", "DELETE", "SUBSCRIBE"):
            typ, lines = c.cmd(f'b {cmd} "{n}"')
            check(typ == "NO", f"{cmd} {n!r}: {lines}")
        typ, lines = c.cmd(f'b RENAME Old "{n}"')
        check(typ == "NO", f"RENAME to {n!r}: {lines}")
    typ, lines = c.cmd("b CREATE {5+}\r\na\0b/c")
    check(typ == "NO", lines)
    c.send(b"b CREATE caf\xc3\xa9\r\n")
    check(c.until("b")[0] in ("NO", "BAD"), "8-bit name accepted")
    check(sorted(os.listdir(st.store_root)) == before, "store root changed")
    for root, dirs, _ in os.walk(md):
        for d in dirs:
            check(".." not in d.strip(".") and "/" not in d, d)
    check(not os.path.exists(os.path.join(st.store_root, "x")), "escape")
    _, lines = c.cmd('z LIST "" *')
    check(not any("etc" in n or ".." in n for n in names(lines)), lines)
    c.expect("z LOGOUT", "OK")

    # Bob sees only his own INBOX.
    m = imaplib.IMAP4_SSL("127.0.0.1", st.imaps_port, ssl_context=ctx)
    m.login(BOB, BOB_PW)
    typ, data = m.list()
    check(typ == "OK" and len(data) == 1 and b"INBOX" in data[0], data)
    typ, data = m.select("Old")
    check(typ == "NO", data)
    m.logout()


run(main)
