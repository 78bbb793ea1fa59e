# SPDX-License-Identifier: ISC
"""IMAP APPEND into buzond, with imaplib and a raw socket:

  * a 6 MiB message with imaplib (a synchronizing literal: the client
    waits for "+"), stored byte for byte (LF line ends on disk, CRLF size
    reported by the OK [APPENDUID uidvalidity uid] and STATUS);
  * flags and date-time: \\Seen lands in the Maildir file name, keywords
    are accepted, \\Recent and a malformed date are BAD; a missing mailbox
    gets NO [TRYCREATE]; LITERAL+ ({n+}) needs no continuation;
  * max_message_size = 8 MiB: a literal announced larger is refused with
    NO [TOOBIG] before any of it is sent (no "+"), and the session goes
    on; a larger {n+} literal (already on its way) ends the session with
    BYE [TOOBIG]; nothing is stored for either;
  * curl -T uploads a message with APPEND;
  * the message appended to the selected mailbox shows up as EXISTS in
    that session and in another one at its next command.
"""
import imaplib
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from estafeta_test import Store, run  # noqa: E402
from imapraw import ImapRaw, check, has  # noqa: E402

ALICE, PW = "alice@example.test", "alice-pw-82"
MAX = 8 * 1024 * 1024


def big_message(size):
    head = b"From: a@example.org\r\nSubject: big\r\n\r\n"
    line = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVW\r\n"
    body = line * ((size - len(head)) // len(line))
    return head + body


def main():
    st = Store("imap-append", max_message_size=MAX)
    st.add_user(ALICE, PW)
    st.start()
    ctx = st.ca.client_context()
    md = st.maildir(ALICE)

    m = imaplib.IMAP4_SSL("127.0.0.1", st.imaps_port, ssl_context=ctx)
    m.login(ALICE, PW)
    msg = big_message(6 * 1024 * 1024)
    typ, data = m.append("INBOX", None, None, msg)
    check(typ == "OK" and b"[APPENDUID " in data[0], data)
    uid = int(data[0].split(b"]")[0].split()[-1])
    check(uid == 1, data)
    files = st.messages(ALICE)
    check(len(files) == 1 and files[0].endswith(
          msg.replace(b"\r\n", b"\n")), "stored message differs")
    typ, data = m.status("INBOX", "(MESSAGES UIDNEXT UNSEEN)")
    check(b"MESSAGES 1" in data[0] and b"UIDNEXT 2" in data[0], data)

    # Flags and date.
    small = b"Subject: s\r\n\r\nsmall\r\n"
    typ, data = m.append("INBOX", "(\\Seen $Label)",
                         imaplib.Time2Internaldate(time.time() - 86400),
                         small)
    check(typ == "OK", data)
    check(any(n.endswith(":2,S") for n in os.listdir(
          os.path.join(md, "cur"))), os.listdir(os.path.join(md, "cur")))
    typ, data = m.status("INBOX", "(MESSAGES UNSEEN)")
    check(b"MESSAGES 2" in data[0] and b"UNSEEN 1" in data[0], data)
    typ, data = m.append("NoSuch", None, None, small)
    check(typ == "NO" and b"[TRYCREATE]" in data[0], data)
    m.logout()

    c = ImapRaw(st.imaps_port, ctx=ctx, implicit=True)
    c.expect(f'l LOGIN {ALICE} "{PW}"', "OK")
    c.expect("s SELECT INBOX", "OK")
    c.expect("a APPEND INBOX (\\Recent) {3+}\r\nabc", "BAD")
    c.expect('a APPEND INBOX "31-Foo-2026 10:00:00 +0000" {3+}\r\nabc',
             "BAD")
    typ, lines = c.cmd("a APPEND INBOX {20+}\r\nSubject: p\r\n\r\nplus\r\n")
    check(typ == "OK" and has(lines, "APPENDUID"), lines)
    check(has(lines, "* 3 EXISTS"), f"no EXISTS after APPEND: {lines}")

    # Over the limit: refused before the literal is sent.
    c.send(f"t APPEND INBOX {{{MAX + 1}}}\r\n")
    typ, lines = c.until("t")
    check(typ == "NO" and "[TOOBIG]" in lines[-1], lines)
    check(not has(lines, "+ "), f"continuation sent: {lines}")
    c.expect("n NOOP", "OK")
    # Exactly the limit is a literal the server takes.
    c.send(f"e APPEND INBOX {{{MAX}}}\r\n")
    check(c.line().startswith("+ "), "no continuation for MAX")
    c.send(big_message(MAX).ljust(MAX, b"x") + b"\r\n")
    typ, lines = c.until("e")
    check(typ == "OK", lines)
    # A non-synchronizing one over the limit: BYE, connection closed.
    c.send(f"u APPEND INBOX {{{MAX + 1}+}}\r\n" + "x" * 1000)
    ln = c.line()
    check(ln.startswith("* BYE [TOOBIG]"), ln)
    check(c.closed(), "still open after BYE")
    check(len(st.messages(ALICE)) == 4, "wrong number of stored messages")

    m = imaplib.IMAP4_SSL("127.0.0.1", st.imaps_port, ssl_context=ctx)
    m.login(ALICE, PW)
    typ, data = m.select("INBOX")
    check(data == [b"4"], data)
    m.logout()

    # curl uploads with APPEND too.
    path = os.path.join(st.dir, "upload.eml")
    with open(path, "wb") as f:
        f.write(b"From: c@example.org\r\nSubject: curl\r\n\r\nvia curl\r\n")
    r = subprocess.run(["curl", "-sS", "--cacert", st.ca.cert, "--resolve",
                        f"mail.example.test:{st.imaps_port}:127.0.0.1",
                        "-u", f"{ALICE}:{PW}", "-T", path,
                        f"imaps://mail.example.test:{st.imaps_port}/INBOX"],
                       capture_output=True, text=True, timeout=30)
    check(r.returncode == 0, f"curl upload: {r.returncode} {r.stderr}")
    check(any(b"Subject: curl\n\nvia curl\n" in m for m in
              st.messages(ALICE)), "curl's message not stored")


run(main)
