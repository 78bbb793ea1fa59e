# SPDX-License-Identifier: ISC
"""A Maildir changed by another program is picked up by buzond: files
dropped into new/ and cur/ (with LF line ends, as Maildir writers do),
a file removed, a flag letter renamed. Observed through POP3 (each
check is a fresh session, as a mail client would open) and LMTP (the UIDs
go on from where the index left off, never reused).
"""
import os
import poplib
import smtplib
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from estafeta_test import Store, TestFailure, run  # noqa: E402

USER = "alice@example.test"
PW = "alice-pw"


def check(cond, what):
    if not cond:
        raise TestFailure(what)


def deliver(st, body):
    c = smtplib.LMTP("127.0.0.1", st.lmtp_port)
    c.ehlo()
    c.mail("s@example.org")
    c.rcpt(USER)
    code, text = c.data(f"Subject: {body}\r\n\r\n{body}\r\n".encode())
    c.quit()
    check(code == 250, f"LMTP {code} {text}")
    return int(text.split(b"UID ")[1])


def pop(st):
    p = poplib.POP3("127.0.0.1", st.pop3_port, timeout=10)
    p.user(USER)
    p.pass_(PW)
    return p


def contents(st):
    """Every message through POP3: (count, [bodies])."""
    p = pop(st)
    n, _ = p.stat()
    msgs = [b"\r\n".join(p.retr(i)[1]) for i in range(1, n + 1)]
    p.quit()
    return n, msgs


def main():
    st = Store("external", tls=False,
               auth_cleartext_networks="127.0.0.0/8")
    st.add_user(USER, PW)
    st.start()
    check(deliver(st, "first") == 1, "uid 1")
    check(deliver(st, "second") == 2, "uid 2")
    n, _ = contents(st)
    check(n == 2, f"POP3 sees {n}")

    md = st.maildir(USER)
    with open(os.path.join(md, "new", "1000000001.ext1.host"), "wb") as f:
        f.write(b"Subject: dropped\n\nby another program\n")
    with open(os.path.join(md, "cur", "1000000002.ext2.host:2,S"),
              "wb") as f:
        f.write(b"Subject: seen\n\nalready read\n")
    n, msgs = contents(st)
    check(n == 4, f"after drop: {n}")
    check(any(m == b"Subject: dropped\r\n\r\nby another program"
              for m in msgs), f"dropped message via POP3: {msgs}")

    # Remove the first LMTP delivery behind buzond's back.
    first = [x for x in os.listdir(os.path.join(md, "new")) +
             os.listdir(os.path.join(md, "cur"))
             if "ext" not in x]
    victim = None
    for sub in ("new", "cur"):
        for name in os.listdir(os.path.join(md, sub)):
            with open(os.path.join(md, sub, name), "rb") as f:
                if b"Subject: first" in f.read():
                    victim = os.path.join(md, sub, name)
    check(victim is not None and len(first) == 2, "find the first one")
    os.unlink(victim)
    # And mark the seen one unseen by renaming its flags away.
    os.rename(os.path.join(md, "cur", "1000000002.ext2.host:2,S"),
              os.path.join(md, "cur", "1000000002.ext2.host:2,"))
    n, msgs = contents(st)
    check(n == 3, f"after removal: {n}")
    check(not any(b"Subject: first" in m for m in msgs), "first vanished")

    # New UIDs continue after the externally added ones (3 and 4).
    check(deliver(st, "third") == 5, "UID after external changes")
    n, msgs = contents(st)
    check(n == 4 and b"Subject: third" in msgs[-1], f"order {msgs}")
    # The UIDL of a message stays the same across sessions.
    p = pop(st)
    u1 = p.uidl()[1]
    p.quit()
    p = pop(st)
    u2 = p.uidl()[1]
    p.quit()
    check(u1 == u2 and len(u1) == 4, f"UIDL stable: {u1} {u2}")


run(main)
