# SPDX-License-Identifier: ISC
"""POP3 UIDLs survive a rebuilt index (RFC 1939 7: a unique-id persists
across sessions).

index.db is a cache of the Maildir: a damaged one is set aside and rebuilt
from the files with a new UIDVALIDITY, and a missing one is built anew.
UIDL is the file's Maildir base name (its SHA-256 in hex when the name is
not 1..70 octets of 0x21..0x7E), which no rebuild, restart or flag change
alters. Before, UIDL was UIDVALIDITY+UID and every client that leaves mail
on the server fetched everything again after a rebuild.

alice's INBOX gets mail every way a file lands there: LMTP deliveries (one
of them to two addresses of hers, so two copies of one message), a file
another program drops into new/, IMAP APPEND, COPY and MOVE from another
folder, and an IMAP flag change (the file is renamed to cur/NAME:2,S).
Then:
  * UIDL lists 10 distinct ids, exactly the files' base names, none with
    the ":2," info;
  * with buzond stopped, index.db (and -wal/-shm) is removed; after the
    restart IMAP shows a greater UIDVALIDITY (the index really was
    rebuilt, and even in the same second no earlier value is reused),
    and UIDL gives the same ids (in another order: the messages got new
    UIDs), each still naming the same message (RETR);
  * index.db is overwritten with garbage while buzond runs; the next
    session sets it aside (index.db.damaged), IMAP shows a greater
    UIDVALIDITY again, and UIDL is still the same;
  * DELE of two messages + QUIT: the next UIDL is the old one minus
    those two.
"""
import imaplib
import os
import poplib
import smtplib
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from estafeta_test import Store, run  # noqa: E402
from poptest import (check, lmtp_send, maildir_drop,  # noqa: E402
                     maildir_uidls)

ALICE, ALICE_PW = "alice@example.test", "uidl-Pa55"
ALIAS = "alice+lists@example.test"


def msg(n):
    return (f"From: s@example.org\r\nTo: {ALICE}\r\nSubject: m{n}\r\n"
            f"Message-ID: <m{n}@example.org>\r\n\r\nbody {n}\r\n").encode()


def pop3_state(st):
    """{uidl: message bytes} and the UIDL order, from a POP3 session."""
    p = poplib.POP3("127.0.0.1", st.pop3_port, timeout=20)
    p.user(ALICE)
    p.pass_(ALICE_PW)
    ids = [ln.split()[1] for ln in p.uidl()[1]]
    bodies = {}
    for i, u in enumerate(ids, 1):
        bodies[u] = b"\r\n".join(p.retr(i)[1])
    p.quit()
    return ids, bodies


def uidvalidity(st):
    m = imaplib.IMAP4("127.0.0.1", st.imap_port)
    m.login(ALICE, ALICE_PW)
    typ, data = m.status("INBOX", "(UIDVALIDITY MESSAGES)")
    m.logout()
    check(typ == "OK", f"STATUS {data}")
    words = data[0].decode().replace("(", " ").replace(")", " ").split()
    return int(words[words.index("UIDVALIDITY") + 1])


def fill(st, md):
    for n in range(1, 4):
        check(lmtp_send(st.lmtp_port, [ALICE], msg(n)) == {}, f"LMTP {n}")
    # LMTP answers DATA once per recipient (RFC 2033 4.2).
    with smtplib.LMTP("127.0.0.1", st.lmtp_port, timeout=20) as c:
        c.ehlo("relay.test")
        c.mail("s@example.org")
        c.rcpt(ALICE)
        c.rcpt(ALIAS)
        code, _ = c.data(msg(4))
        code2, _ = c.getreply()
        check(code == 250 and code2 == 250,
              f"LMTP to two of alice's addresses: {code} {code2}")
    maildir_drop(md, msg(5).replace(b"\r\n", b"\n"))
    m = imaplib.IMAP4("127.0.0.1", st.imap_port)
    m.login(ALICE, ALICE_PW)
    check(m.append("INBOX", None, None, msg(6))[0] == "OK", "APPEND")
    check(m.create("Work")[0] == "OK", "CREATE Work")
    for n in (7, 8):
        check(m.append("Work", None, None, msg(n))[0] == "OK", "APPEND")
    m.select("Work")
    check(m.copy("1", "INBOX")[0] == "OK", "COPY to INBOX")
    typ, data = m._simple_command("MOVE", "2", "INBOX")
    check(typ == "OK", f"MOVE to INBOX {data}")
    m.select("INBOX")
    check(m.store("1", "+FLAGS", "(\\Seen)")[0] == "OK", "STORE \\Seen")
    m.logout()
    flagged = [f for f in os.listdir(os.path.join(md, "cur"))
               if f.endswith(":2,S")]
    check(len(flagged) == 1, f"one file renamed with :2,S: {flagged}")


def main():
    st = Store("uidl-rebuild", tls=False,
               auth_cleartext_networks="127.0.0.0/8")
    st.add_user(ALICE, ALICE_PW)
    st.start()
    md = st.maildir(ALICE)
    check(lmtp_send(st.lmtp_port, [ALICE], msg(0)) == {}, "first LMTP")
    fill(st, md)

    ids, bodies = pop3_state(st)
    check(len(ids) == 10 and len(set(ids)) == 10,
          f"10 distinct UIDLs: {ids}")
    check(set(ids) == maildir_uidls(md), f"UIDLs {ids} are not the base "
          f"names of {os.listdir(md + '/new')} {os.listdir(md + '/cur')}")
    check(not any(b":" in u for u in ids), f"flag info in a UIDL: {ids}")
    check(all(1 <= len(u) <= 70 and all(0x21 <= c <= 0x7e for c in u)
              for u in ids), f"UIDLs outside RFC 1939 7: {ids}")
    v1 = uidvalidity(st)

    # -- The index removed while buzond is down: rebuilt from scratch.
    # UIDVALIDITY is the time in seconds, above the last one handed out
    # (kept in the "uidvalidity" file): greater even in the same second.
    st.stop()
    for ext in ("", "-wal", "-shm"):
        p = os.path.join(md, "index.db" + ext)
        if os.path.exists(p):
            os.unlink(p)
    st.start()
    v2 = uidvalidity(st)
    check(v2 > v1, f"UIDVALIDITY {v1} then {v2}: the index was not "
          "rebuilt, or reused an old value")
    ids2, bodies2 = pop3_state(st)
    # A rebuild numbers the messages anew (new UIDs); the ids are the same
    # and each still names the same message.
    check(sorted(ids2) == sorted(ids),
          f"UIDLs changed with a removed index:\n{ids}\n{ids2}")
    check(bodies2 == bodies, "a UIDL names another message after the "
          "rebuild")

    # -- The index damaged under a running buzond: set aside, rebuilt.
    with open(os.path.join(md, "index.db"), "r+b") as f:
        f.write(b"garbage, not SQLite, garbage, not SQLite" * 4)
    for ext in ("-wal", "-shm"):
        p = os.path.join(md, "index.db" + ext)
        if os.path.exists(p):
            os.unlink(p)
    ids3, bodies3 = pop3_state(st)
    check(os.path.exists(os.path.join(md, "index.db.damaged")),
          "the damaged index was not set aside")
    check("store index of" in st.read_log(), "no rebuild logged")
    check(sorted(ids3) == sorted(ids),
          f"UIDLs changed with a damaged index:\n{ids}\n{ids3}")
    check(bodies3 == bodies, "a UIDL names another message")
    v3 = uidvalidity(st)
    check(v3 > v2, f"UIDVALIDITY {v2} then {v3} after the damage")

    # -- Deletions still work by the same ids.
    p = poplib.POP3("127.0.0.1", st.pop3_port, timeout=20)
    p.user(ALICE)
    p.pass_(ALICE_PW)
    p.dele(2)
    p.dele(5)
    p.quit()
    ids4, _ = pop3_state(st)
    check(ids4 == [u for i, u in enumerate(ids3, 1) if i not in (2, 5)],
          f"UIDLs after DELE 2 5: {ids3} -> {ids4}")
    check(set(ids4) == maildir_uidls(md), "UIDLs and files disagree")


run(main)
