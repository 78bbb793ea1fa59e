# SPDX-License-Identifier: ISC
"""IMAP FETCH of a part of a big message streams it from disk.

A message with a text part, a 30 MB base64 attachment and an attached
message/rfc822 is dropped into the Maildir (LF line ends, as another
program would). BODYSTRUCTURE (not cached yet: parsed from the file in
pieces), BODY.PEEK[2] (the attachment, whole and <partial>),
BODY.PEEK[2.MIME], BODY.PEEK[1], BODY.PEEK[3.HEADER], BODY.PEEK[3.TEXT]
and BODY.PEEK[3.HEADER.FIELDS (Subject)] must give exactly the CRLF
octets of the part (cut here from a reference), BODYSTRUCTURE the part
sizes and the inner envelope, and the session's peak resident size
(VmHWM) may grow by less than STREAM_MAX_GROWTH over all of them: before,
a part section or an uncached BODYSTRUCTURE read the whole message into
memory (VmHWM +30 MB and more).
"""
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from estafeta_test import Store, run  # noqa: E402
from bigmsg import ImapLit, check, literal_of, session_pid, vm_hwm  # noqa: E402

USER = "alice@example.test"
ATTACH = 30 * 1024 * 1024
STREAM_MAX_GROWTH = 8 * 1024 * 1024


def big_message(attach=ATTACH):
    line = (b"QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJz"
            b"dHV2d3h5ejAxMjM0\n")
    b64 = line * (attach // len(line))
    inner = (b"From: inner@example.org\nTo: b@example.org\n"
             b"Subject: inner\n\nthe inner body\n")
    head = (b"From: a@example.org\nTo: b@example.org\nSubject: big parts\n"
            b"MIME-Version: 1.0\n"
            b'Content-Type: multipart/mixed; boundary="XyZ"\n\n'
            b"preamble\n")
    part1 = b"Content-Type: text/plain\n\nhello\n.dot line\n"
    mime2 = (b'Content-Type: application/octet-stream; name="big.bin"\n'
             b"Content-Transfer-Encoding: base64\n\n")
    mime3 = b"Content-Type: message/rfc822\n\n"
    raw = (head + b"--XyZ\n" + part1 + b"\n--XyZ\n" + mime2 + b64 +
           b"\n--XyZ\n" + mime3 + inner + b"\n--XyZ--\n")
    return raw, part1, mime2, b64, inner


def crlf(b):
    return re.sub(rb"(?<!\r)\n", b"\r\n", b)


def main():
    st = Store("fetch-part-stream", tls=False,
               auth_cleartext_networks="127.0.0.0/8")
    st.add_user(USER, "pw")
    st.start()
    raw, part1, mime2, b64, inner = big_message()
    m = ImapLit(st, USER, "pw")     # the login makes the store
    with open(os.path.join(st.maildir(USER), "new", "1000.parts.host"),
              "wb") as f:
        f.write(raw)
    # Part bodies end before the CRLF of the next boundary line.
    want1 = crlf(part1.split(b"\n\n", 1)[1])
    want2 = crlf(b64)
    want2_mime = crlf(mime2)
    inner_hdr, inner_body = inner.split(b"\n\n", 1)
    want3_hdr = crlf(inner_hdr + b"\n\n")
    want3_text = crlf(inner_body)

    m.cmd("SELECT INBOX")
    pid = session_pid(st)
    before = vm_hwm(pid)

    r = m.cmd("FETCH 1 (BODYSTRUCTURE)")
    bs = r[0][0]
    check(b'("application" "octet-stream" ("name" "big.bin") NIL NIL '
          b'"base64" %d' % len(want2) in bs, f"BODYSTRUCTURE {bs[:400]!r}")
    check(b'"inner"' in bs and b'"mixed" ("boundary" "XyZ")' in bs,
          f"BODYSTRUCTURE {bs[:400]!r}")
    r = m.cmd("FETCH 1 (BODYSTRUCTURE)")
    check(r[0][0] == bs, "the cached BODYSTRUCTURE differs")

    r = m.cmd("FETCH 1 (BODY.PEEK[2])")
    got = literal_of(r[0], b"BODY[2]")
    check(len(got) == len(want2), f"BODY[2] {len(got)} octets, want "
          f"{len(want2)}")
    check(got == want2, "BODY[2] content differs")
    r = m.cmd("FETCH 1 (BODY.PEEK[2]<1000.70000> BODY.PEEK[2.MIME] "
              "BODY.PEEK[1])")
    check(literal_of(r[0], b"BODY[2]<1000>") == want2[1000:71000],
          "BODY[2]<1000.70000> differs")
    check(literal_of(r[0], b"BODY[2.MIME]") == want2_mime,
          f"BODY[2.MIME] {literal_of(r[0], b'BODY[2.MIME]')!r}")
    check(literal_of(r[0], b"BODY[1]") == want1,
          f"BODY[1] {literal_of(r[0], b'BODY[1]')!r}")
    r = m.cmd("FETCH 1 (BODY.PEEK[3.HEADER] BODY.PEEK[3.TEXT] "
              "BODY.PEEK[3.HEADER.FIELDS (Subject)] BODY.PEEK[9])")
    check(literal_of(r[0], b"BODY[3.HEADER]") == want3_hdr,
          "BODY[3.HEADER] differs")
    check(literal_of(r[0], b"BODY[3.TEXT]") == want3_text,
          "BODY[3.TEXT] differs")
    fields = [p for p in r[0] if p.startswith(b"Subject")]
    check(fields == [b"Subject: inner\r\n\r\n"], f"FIELDS {r[0]!r}")
    check(literal_of(r[0], b"BODY[9]") == b"",
          f"a missing part: {r[0][-1]!r}")
    r = m.cmd("FETCH 1 (BODY[2])")
    check(literal_of(r[0], b"BODY[2]") == want2, "BODY[2] (sets \\Seen)")
    check(b"\\Seen" in r[0][-1], f"FLAGS after BODY[2]: {r[0][-1]!r}")

    grown = vm_hwm(pid) - before
    # The same shape, small (parsed in memory): the same structure but
    # for the attachment's size.
    small = big_message(4000)
    with open(os.path.join(st.maildir(USER), "new", "1001.small.host"),
              "wb") as f:
        f.write(small[0])
    m.cmd("NOOP")
    r = m.cmd("FETCH 2 (BODYSTRUCTURE)")
    want_bs = bs.replace(b"* 1 FETCH", b"* 2 FETCH").replace(
        b'"base64" %d' % len(want2), b'"base64" %d' % len(crlf(small[3])))
    check(r[0][0] == want_bs, f"streamed BODYSTRUCTURE {bs!r}\n"
          f"in memory {r[0][0]!r}")
    print(f"session VmHWM {before // 1024} KiB before part FETCHes of a "
          f"{len(crlf(raw))}-octet message, +{grown // 1024} KiB after")
    check(grown < STREAM_MAX_GROWTH, f"the session grew by {grown} octets")
    m.cmd("LOGOUT")


run(main)
