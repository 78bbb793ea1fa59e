# SPDX-License-Identifier: ISC
"""IMAP FETCH of a whole big message streams it from disk.

A 50 MB message is dropped into the Maildir (as another program would),
with dotted lines, lines that already end with CRLF, a CR inside a line
and a last line without its line end. BODY.PEEK[] (with UID, FLAGS,
RFC822.SIZE, ENVELOPE beside it), a partial BODY.PEEK[]<off.count>,
RFC822, BODY.PEEK[TEXT] (whole and partial) and RFC822.TEXT must send
exactly the CRLF form (compared byte for byte with a reference made
here), and the session's peak resident size (VmHWM) may grow by less
than STREAM_MAX_GROWTH meanwhile: before, FETCH read the whole message
into memory first. A part section (BODY.PEEK[1], streamed too since e2e
79) gives the right octets, and a small message is unaffected.
"""
import os
import re
import smtplib
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from estafeta_test import Store, TestFailure, run  # noqa: E402
from bigmsg import ImapLit, check, literal_of, session_pid, vm_hwm  # noqa: E402

USER = "alice@example.test"
SIZE = 50 * 1024 * 1024
STREAM_MAX_GROWTH = 8 * 1024 * 1024


def big_message():
    block = (b"Some text of a line in the body of the message, 0123456789\n"
             b".a line that starts with a dot\n"
             b"a line that already ends with CRLF\r\n"
             b"a CR\rinside a line\n"
             b"\n")
    head = (b"From: a@example.org\nTo: b@example.org\nSubject: big\n\n")
    body = block * ((SIZE - len(head)) // len(block))
    return head + body + b"the last line, without its line end"


def main():
    st = Store("fetch-stream", tls=False,
               auth_cleartext_networks="127.0.0.0/8")
    st.add_user(USER, "pw")
    st.start()
    c = smtplib.LMTP("127.0.0.1", st.lmtp_port)
    c.ehlo()
    c.mail("s@example.org")
    c.rcpt(USER)
    code, _ = c.data(b"Subject: small\r\n\r\n.dot\r\nend\r\n")
    c.quit()
    check(code == 250, "LMTP")
    raw = big_message()
    with open(os.path.join(st.maildir(USER), "new", "1000.big.host"),
              "wb") as f:
        f.write(raw)
    want = re.sub(rb"(?<!\r)\n", b"\r\n", raw)

    m = ImapLit(st, USER, "pw")
    m.cmd("SELECT INBOX")
    pid = session_pid(st)
    before = vm_hwm(pid)
    r = m.cmd("FETCH 2 (UID RFC822.SIZE FLAGS ENVELOPE BODY.PEEK[])")
    check(len(r) == 1, f"one response: {len(r)}")
    check(r[0][0].startswith(b"* 2 FETCH (UID 2 RFC822.SIZE %d FLAGS "
                             b"(\\Recent) ENVELOPE (" % len(want)),
          f"FETCH start {r[0][0][:200]!r}")
    check(b'"big"' in r[0][0], "ENVELOPE subject")
    got = literal_of(r[0], b"BODY[]")
    check(len(got) == len(want), f"BODY[] {len(got)} octets, want "
          f"{len(want)}")
    check(got == want, "BODY[] content differs")
    check(r[0][-1] == b")", f"FETCH end {r[0][-1]!r}")
    r = m.cmd("UID FETCH 2 (BODY.PEEK[]<1000.70000>)")
    got = literal_of(r[0], b"BODY[]<1000>")
    check(got == want[1000:71000], "partial BODY[]<1000.70000> differs")
    r = m.cmd("FETCH 2 (BODY.PEEK[]<%d.100>)" % (len(want) - 10))
    check(literal_of(r[0], b"BODY[]<%d>" % (len(want) - 10)) ==
          want[-10:], "partial at the end")
    r = m.cmd("FETCH 2 RFC822")
    check(literal_of(r[0], b"RFC822") == want, "RFC822 content differs")
    check(b"\\Seen" in b"".join(x for x in r[0] if len(x) < 300),
          f"RFC822 sets \\Seen: {r[0][-1][:200]!r}")
    hdr = want.index(b"\r\n\r\n") + 4
    r = m.cmd("FETCH 2 (BODY.PEEK[TEXT] RFC822.TEXT)")
    check(literal_of(r[0], b"BODY[TEXT]") == want[hdr:], "BODY[TEXT]")
    check(literal_of(r[0], b"RFC822.TEXT") == want[hdr:], "RFC822.TEXT")
    r = m.cmd("FETCH 2 (BODY.PEEK[TEXT]<100.70000>)")
    check(literal_of(r[0], b"BODY[TEXT]<100>") == want[hdr + 100:
                                                     hdr + 70100],
          "BODY[TEXT]<100.70000>")
    grown = vm_hwm(pid) - before
    print(f"session VmHWM {before // 1024} KiB before FETCH of "
          f"{len(want)} octets, +{grown // 1024} KiB after")
    check(grown < STREAM_MAX_GROWTH, f"the session grew by {grown} "
          f"octets sending {len(want)}")

    r = m.cmd("FETCH 1 (BODY.PEEK[])")
    check(literal_of(r[0], b"BODY[]").endswith(b"\r\n\r\n.dot\r\nend\r\n"),
          f"small message {r}")
    r = m.cmd("FETCH 2 (BODY.PEEK[1])")
    check(literal_of(r[0], b"BODY[1]") == want[hdr:], "BODY[1]")
    m.cmd("LOGOUT")

    # A file cut short in place after it was indexed cannot fill the
    # literal announced: the session ends in the middle of it.
    path = os.path.join(st.maildir(USER), "new", "1001.cut.host")
    cut = b"Subject: cut\n\n" + (b"x" * 70 + b"\n") * 2000
    with open(path, "wb") as f:
        f.write(cut)
    m = ImapLit(st, USER, "pw")
    m.cmd("SELECT INBOX")
    with open(path, "r+b") as f:
        f.truncate(100000)
    m.s.sendall(b"t9 FETCH 3 (BODY.PEEK[])\r\n")
    line = m.line()
    check(line.endswith(b"BODY[] {%d}" % (len(cut) + cut.count(b"\n"))),
          f"literal announced: {line!r}")
    try:
        m.take(200000)
        raise TestFailure("the literal was filled")
    except (TestFailure, ConnectionError) as e:
        check("filled" not in str(e), str(e))
    st.wait_log("outcome=store_error")
    check("shorter than its indexed size" in st.read_log(), "log line")


run(main)
