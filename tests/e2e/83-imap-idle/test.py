# SPDX-License-Identifier: ISC
"""IMAP IDLE and untagged updates between sessions in buzond:

  * a session in IDLE (RFC 2177) on INBOX gets "* n EXISTS" when a message
    arrives over LMTP, without sending anything (waited for with a
    deadline), and again for a second delivery; DONE ends it with OK;
    anything else than DONE is BAD;
  * two sessions on the same INBOX: A's STORE +FLAGS shows up in B as an
    untagged FETCH (FLAGS ...) after B's next command, and while B idles;
    A's EXPUNGE shows up in B as "* n EXPUNGE", but not in the reply to
    B's STORE (RFC 3501 7.4.1: no EXPUNGE during FETCH, STORE, SEARCH),
    only at B's following NOOP, after which sequence numbers agree;
  * a message appended by A while B idles on the same mailbox wakes B.
"""
import os
import smtplib
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from estafeta_test import Store, run  # noqa: E402
from imapraw import ImapRaw, check, has  # noqa: E402

ALICE, PW = "alice@example.test", "alice-pw-83"


def deliver(st, n):
    with smtplib.LMTP("127.0.0.1", st.lmtp_port) as lm:
        lm.sendmail("s@example.org", [ALICE],
                    f"Subject: n{n}\r\n\r\nbody {n}\r\n")


def wait_line(c, prefix):
    """Lines until one starts with prefix (the socket timeout is the
    deadline); returns it."""
    while True:
        ln = c.line()
        if ln.startswith(prefix):
            return ln


def session(st, ctx):
    c = ImapRaw(st.imaps_port, ctx=ctx, implicit=True, timeout=15)
    c.expect(f'l LOGIN {ALICE} "{PW}"', "OK")
    return c


def main():
    st = Store("imap-idle")
    st.add_user(ALICE, PW)
    st.start()
    ctx = st.ca.client_context()
    deliver(st, 1)

    b = session(st, ctx)
    lines = b.expect("s SELECT INBOX", "OK")
    check(has(lines, "* 1 EXISTS"), lines)
    b.send("i IDLE\r\n")
    check(b.line().startswith("+ "), "no IDLE continuation")
    deliver(st, 2)
    wait_line(b, "* 2 EXISTS")
    deliver(st, 3)
    wait_line(b, "* 3 EXISTS")
    b.send("DONE\r\n")
    typ, lines = b.until("i")
    check(typ == "OK", lines)
    b.send("j IDLE\r\n")
    check(b.line().startswith("+ "), "no IDLE continuation")
    b.send("NOPE\r\n")
    typ, lines = b.until("j")
    check(typ == "BAD", lines)

    # Flag changes and expunges between two sessions.
    a = session(st, ctx)
    a.expect("s SELECT INBOX", "OK")
    lines = a.expect("f STORE 1 +FLAGS (\\Flagged)", "OK")
    lines = b.expect("n NOOP", "OK")
    check(any(ln.startswith("* 1 FETCH") and "\\Flagged" in ln
              for ln in lines), lines)
    b.send("i IDLE\r\n")
    check(b.line().startswith("+ "), "no IDLE continuation")
    a.expect("f STORE 2 +FLAGS (\\Seen)", "OK")
    ln = wait_line(b, "* 2 FETCH")
    check("\\Seen" in ln, ln)
    a.expect("p APPEND INBOX {19+}\r\nSubject: a\r\n\r\nabc\r\n", "OK")
    wait_line(b, "* 4 EXISTS")
    b.send("DONE\r\n")
    check(b.until("i")[0] == "OK", "IDLE did not end")

    lines = a.expect("d STORE 1 +FLAGS.SILENT (\\Deleted)", "OK")
    lines = a.expect("x EXPUNGE", "OK")
    check(has(lines, "* 1 EXPUNGE"), lines)
    # B: no EXPUNGE in the STORE reply (it still numbers 4 messages) ...
    lines = b.expect("t STORE 4 +FLAGS.SILENT (\\Answered)", "OK")
    check(not has(lines, "EXPUNGE"), f"EXPUNGE during STORE: {lines}")
    # ... then at NOOP.
    lines = b.expect("n NOOP", "OK")
    check(has(lines, "* 1 EXPUNGE"), lines)
    # Now both number the same 3 messages: A sees B's \Answered on 3.
    lines = a.expect("n NOOP", "OK")
    check(any(ln.startswith("* 3 FETCH") and "\\Answered" in ln
              for ln in lines), lines)
    _, lines = b.cmd("q STATUS INBOX (MESSAGES)")
    check(has(lines, "MESSAGES 3"), lines)
    for c in (a, b):
        c.expect("z LOGOUT", "OK")


run(main)
