# SPDX-License-Identifier: ISC
"""IMAP FETCH against a real buzond with Python's imaplib: three messages
added with APPEND (a plain one, a nested multipart with a
multipart/alternative, a message/rfc822 holding a multipart, and a base64
attachment; one without Date:), then every FETCH item compared with the
exact expected response (ENVELOPE, BODY, BODYSTRUCTURE, RFC822.*, body
sections with part paths, HEADER.FIELDS[.NOT], MIME, TEXT and <partial>),
the macros, UID FETCH, \\Seen set by BODY[] and RFC822 but not by
BODY.PEEK[] nor in an EXAMINEd mailbox, errors, and that a second FETCH
ENVELOPE comes from the cache and not from the message file; a message
file removed behind the server's back gives NO [EXPUNGEISSUED]."""
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from estafeta_test import run  # noqa: E402
import imapmsgs as M  # noqa: E402

USER = "alice@example.test"

ENVELOPE = [
    '1 FETCH (ENVELOPE ("Wed, 10 Jan 2024 11:22:33 +0100" "Quarterly report" '
    '(("Alice Example" NIL "alice" "example.test")) '
    '(("Alice Example" NIL "alice" "example.test")) '
    '(("Alice Example" NIL "alice" "example.test")) '
    '(("Bob" NIL "bob" "example.test")(NIL NIL "carol" "example.test")) '
    '(("Dave, D." NIL "dave" "example.test")) NIL NIL "<m1@example.test>"))',
    '2 FETCH (ENVELOPE ("Thu, 1 Feb 2024 07:00:00 -0800" '
    '"=?UTF-8?B?R3LDvMOfZQ==?=" '
    '(("=?ISO-8859-1?Q?J=F6rg_M=FCller?=" NIL "joerg" "example.test")) '
    '(("=?ISO-8859-1?Q?J=F6rg_M=FCller?=" NIL "joerg" "example.test")) '
    '(("=?ISO-8859-1?Q?J=F6rg_M=FCller?=" NIL "joerg" "example.test")) '
    '((NIL NIL "alice" "example.test")) NIL '
    '((NIL NIL "hidden" "example.test")) "<m1@example.test>" '
    '"<m2@example.test>"))',
    '3 FETCH (ENVELOPE (NIL "no date here" ((NIL NIL "bob" "example.test")) '
    '((NIL NIL "bob" "example.test")) ((NIL NIL "bob" "example.test")) '
    'NIL NIL NIL NIL NIL))',
]

INNER_ENV = (
    '("Mon, 1 Jan 2024 00:00:00 +0000" "forwarded note" '
    '((NIL NIL "inner" "example.test")) ((NIL NIL "inner" "example.test")) '
    '((NIL NIL "inner" "example.test")) ((NIL NIL "alice" "example.test")) '
    'NIL NIL NIL NIL)')

BODYSTRUCTURE = [
    '1 FETCH (BODYSTRUCTURE ("text" "plain" ("charset" "us-ascii") NIL NIL '
    '"7bit" 26 2 NIL NIL NIL NIL))',
    '2 FETCH (BODYSTRUCTURE ((("text" "plain" ("charset" "iso-8859-1") NIL '
    'NIL "quoted-printable" 20 0 NIL NIL NIL NIL)("text" "html" '
    '("charset" "utf-8") NIL NIL "7bit" 18 0 NIL NIL NIL NIL) "alternative" '
    '("boundary" "inner") NIL NIL NIL)("message" "rfc822" NIL NIL NIL "7bit" '
    '415 ' + INNER_ENV + ' (("text" "plain" ("charset" "us-ascii") NIL NIL '
    '"7bit" 15 0 NIL NIL NIL NIL)("application" "octet-stream" '
    '("name" "data.bin") NIL NIL "base64" 16 NIL ("attachment" '
    '("filename" "data.bin")) NIL NIL) "mixed" ("boundary" "fwd") NIL NIL '
    'NIL) 18 NIL NIL NIL NIL)("application" "pdf" ("name" "report.pdf") NIL '
    'NIL "base64" 24 NIL ("attachment" ("filename" "report.pdf")) NIL NIL) '
    '"mixed" ("boundary" "outer") NIL NIL NIL))',
    '3 FETCH (BODYSTRUCTURE ("text" "plain" ("charset" "us-ascii") NIL NIL '
    '"7bit" 7 1 NIL NIL NIL NIL))',
]

BODY = [
    '1 FETCH (BODY ("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" '
    '26 2))',
    '2 FETCH (BODY ((("text" "plain" ("charset" "iso-8859-1") NIL NIL '
    '"quoted-printable" 20 0)("text" "html" ("charset" "utf-8") NIL NIL '
    '"7bit" 18 0) "alternative")("message" "rfc822" NIL NIL NIL "7bit" 415 '
    + INNER_ENV + ' (("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" '
    '15 0)("application" "octet-stream" ("name" "data.bin") NIL NIL '
    '"base64" 16) "mixed") 18)("application" "pdf" ("name" "report.pdf") '
    'NIL NIL "base64" 24) "mixed"))',
    '3 FETCH (BODY ("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" '
    '7 1))',
]

FWD = ('From: inner@example.test\r\nTo: alice@example.test\r\n'
       'Subject: forwarded note\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\n'
       'MIME-Version: 1.0\r\n'
       'Content-Type: multipart/mixed; boundary="fwd"\r\n\r\n')
FWD_TEXT = ('--fwd\r\nContent-Type: text/plain\r\n\r\ninner body text\r\n'
            '--fwd\r\nContent-Type: application/octet-stream; '
            'name="data.bin"\r\nContent-Disposition: attachment; '
            'filename="data.bin"\r\nContent-Transfer-Encoding: base64\r\n'
            '\r\nAAECAwQFBgcICQ==\r\n--fwd--\r\n')


def lit(s):
    return "{%d}\r\n%s" % (len(s.encode("latin-1")), s)


# (items, expected response of message 2 and of messages 1 and 3)
SECTIONS = [
    ("BODY.PEEK[1.2]<0.10>", "BODY[1.2]<0> " + lit("<p>Secret "),
     "BODY[1.2]<0> {0}\r\n", "BODY[1.2]<0> {0}\r\n"),
    ("BODY.PEEK[2.HEADER]", "BODY[2.HEADER] " + lit(FWD),
     "BODY[2.HEADER] {0}\r\n", "BODY[2.HEADER] {0}\r\n"),
    ("BODY.PEEK[2.1]", "BODY[2.1] " + lit("inner body text"),
     "BODY[2.1] {0}\r\n", "BODY[2.1] {0}\r\n"),
    ("BODY.PEEK[2]", "BODY[2] " + lit(FWD + FWD_TEXT),
     "BODY[2] {0}\r\n", "BODY[2] {0}\r\n"),
    ("BODY.PEEK[2.TEXT]", "BODY[2.TEXT] " + lit(FWD_TEXT),
     "BODY[2.TEXT] {0}\r\n", "BODY[2.TEXT] {0}\r\n"),
    ("BODY.PEEK[1.MIME]", "BODY[1.MIME] " + lit(
        'Content-Type: multipart/alternative; boundary="inner"\r\n\r\n'),
     "BODY[1.MIME] " + lit(
         'From: Alice Example <alice@example.test>\r\n'
         'To: Bob <bob@example.test>, carol@example.test\r\n'
         'Cc: "Dave, D." <dave@example.test>\r\n'
         'Subject: Quarterly report\r\n'
         'Date: Wed, 10 Jan 2024 11:22:33 +0100\r\n'
         'Message-ID: <m1@example.test>\r\nX-Tracker: alpha\r\n\r\n'),
     "BODY[1.MIME] " + lit("From: bob@example.test\r\n"
                           "Subject: no date here\r\n\r\n")),
    ("BODY.PEEK[3.MIME]", "BODY[3.MIME] " + lit(
        'Content-Type: application/pdf; name="report.pdf"\r\n'
        'Content-Disposition: attachment; filename="report.pdf"\r\n'
        'Content-Transfer-Encoding: base64\r\n\r\n'),
     "BODY[3.MIME] {0}\r\n", "BODY[3.MIME] {0}\r\n"),
    ("BODY.PEEK[9]", "BODY[9] {0}\r\n", "BODY[9] {0}\r\n",
     "BODY[9] {0}\r\n"),
    ("BODY.PEEK[1.1]", "BODY[1.1] " + lit("Gr=FC=DFe aus K=F6ln"),
     "BODY[1.1] {0}\r\n", "BODY[1.1] {0}\r\n"),
    # below a leaf there is nothing (Dovecot returns the leaf for 1.1.1)
    ("BODY.PEEK[1.1.1]", "BODY[1.1.1] {0}\r\n", "BODY[1.1.1] {0}\r\n",
     "BODY[1.1.1] {0}\r\n"),
    ("BODY.PEEK[2.2]", "BODY[2.2] " + lit("AAECAwQFBgcICQ=="),
     "BODY[2.2] {0}\r\n", "BODY[2.2] {0}\r\n"),
    ("BODY.PEEK[1]", "BODY[1] " + lit(
        "--inner\r\nContent-Type: text/plain; charset=iso-8859-1\r\n"
        "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
        "Gr=FC=DFe aus K=F6ln\r\n--inner\r\n"
        "Content-Type: text/html; charset=utf-8\r\n\r\n"
        "<p>Secret WORD</p>\r\n--inner--\r\n"),
     "BODY[1] " + lit("Numbers are up.\r\nRegards\r\n"),
     "BODY[1] " + lit("short\r\n")),
    ("BODY.PEEK[HEADER.FIELDS (From Subject)]",
     "BODY[HEADER.FIELDS (FROM SUBJECT)] " + lit(
         "From: =?ISO-8859-1?Q?J=F6rg_M=FCller?= <joerg@example.test>\r\n"
         "Subject: =?UTF-8?B?R3LDvMOfZQ==?=\r\n\r\n"),
     "BODY[HEADER.FIELDS (FROM SUBJECT)] " + lit(
         "From: Alice Example <alice@example.test>\r\n"
         "Subject: Quarterly report\r\n\r\n"),
     "BODY[HEADER.FIELDS (FROM SUBJECT)] " + lit(
         "From: bob@example.test\r\nSubject: no date here\r\n\r\n")),
    ("BODY.PEEK[HEADER.FIELDS.NOT (From To Cc Date Message-ID Bcc "
     "In-Reply-To MIME-Version)]",
     "BODY[HEADER.FIELDS.NOT (FROM TO CC DATE MESSAGE-ID BCC IN-REPLY-TO "
     "MIME-VERSION)] " + lit("Subject: =?UTF-8?B?R3LDvMOfZQ==?=\r\n"
                             "Content-Type: multipart/mixed; "
                             "boundary=\"outer\"\r\n\r\n"),
     "BODY[HEADER.FIELDS.NOT (FROM TO CC DATE MESSAGE-ID BCC IN-REPLY-TO "
     "MIME-VERSION)] " + lit("Subject: Quarterly report\r\n"
                             "X-Tracker: alpha\r\n\r\n"),
     "BODY[HEADER.FIELDS.NOT (FROM TO CC DATE MESSAGE-ID BCC IN-REPLY-TO "
     "MIME-VERSION)] " + lit("Subject: no date here\r\n\r\n")),
]

TEXTS = [M.SIMPLE, M.NESTED, M.PLAIN]


def check_items(c):
    M.expect(M.fetch(c, "1:3", "ENVELOPE"), ENVELOPE, "ENVELOPE")
    M.expect(M.fetch(c, "1:3", "BODYSTRUCTURE"), BODYSTRUCTURE,
             "BODYSTRUCTURE")
    M.expect(M.fetch(c, "1:3", "BODY"), BODY, "BODY")
    sizes = [len(M.crlf(t)) for t in TEXTS]
    M.expect(M.fetch(c, "1:3", "RFC822.SIZE"),
             [f"{i + 1} FETCH (RFC822.SIZE {n})" for i, n in
              enumerate(sizes)], "RFC822.SIZE")
    assert sizes == [269, 1280, 56], sizes
    for items, two, one, three in SECTIONS:
        M.expect(M.fetch(c, "1:3", items),
                 [f"1 FETCH ({one})", f"2 FETCH ({two})",
                  f"3 FETCH ({three})"], items)
    # RFC822.* are the message, its header and its text, CRLF line ends
    for i, t in enumerate(TEXTS):
        raw = M.crlf(t).decode("latin-1")
        hdr, _, text = raw.partition("\r\n\r\n")
        hdr += "\r\n\r\n"
        M.expect(M.fetch(c, str(i + 1), "(RFC822.HEADER RFC822.SIZE)"),
                 [f"{i + 1} FETCH (RFC822.HEADER {lit(hdr)} "
                  f"RFC822.SIZE {len(raw)})"], "RFC822.HEADER")
        M.expect(M.fetch(c, str(i + 1), "BODY.PEEK[TEXT]<2.5>"),
                 [f"{i + 1} FETCH (BODY[TEXT]<2> {lit(text[2:7])})"],
                 "TEXT partial")
        M.expect(M.fetch(c, str(i + 1), "BODY.PEEK[]"),
                 [f"{i + 1} FETCH (BODY[] {lit(raw)})"], "BODY[]")
        M.expect(M.fetch(c, str(i + 1), "BODY.PEEK[]<1000000.10>"),
                 [f"{i + 1} FETCH (BODY[]<1000000> {{0}}\r\n)"],
                 "partial beyond the end")


def check_macros_and_uid(c):
    fast = M.fetch(c, "1", "FAST")[0]
    assert re.fullmatch(
        r'1 FETCH \(FLAGS \((\\Recent)?\) INTERNALDATE '
        r'"\d\d-[A-Z][a-z]{2}-\d{4} \d\d:\d\d:\d\d [+-]\d{4}" '
        r'RFC822.SIZE 269\)', fast), fast
    full = M.fetch(c, "3", "FULL")[0]
    assert full.startswith("3 FETCH (FLAGS (") and \
        full.endswith("RFC822.SIZE 56 " + ENVELOPE[2][9:-1] + " " +
                      BODY[2][9:]), full
    allm = M.fetch(c, "2", "ALL")[0]
    assert "INTERNALDATE" in allm and allm.endswith(ENVELOPE[1][9:]), allm
    uids = M.fetch(c, "1:*", "UID")
    nums = [int(re.search(r"UID (\d+)", u).group(1)) for u in uids]
    assert len(nums) == 3 and nums == sorted(nums), uids
    # UID FETCH always returns UID, first; "*" is the highest UID even
    # when the range starts above it
    M.expect(M.fetch(c, f"{nums[1]}", "RFC822.SIZE", uid=True),
             [f"2 FETCH (UID {nums[1]} RFC822.SIZE 1280)"], "UID FETCH")
    M.expect(M.fetch(c, f"{nums[2] + 100}:*", "(UID)", uid=True),
             [f"3 FETCH (UID {nums[2]})"], "UID FETCH n:*")
    M.expect(M.fetch(c, f"{nums[2] + 100}", "FLAGS", uid=True), [],
             "UID FETCH of a missing UID")
    M.expect(M.fetch(c, f"{nums[0]},{nums[2]}", "UID", uid=True),
             [f"1 FETCH (UID {nums[0]})", f"3 FETCH (UID {nums[2]})"],
             "UID FETCH list")
    M.expect(M.fetch(c, "3:2", "UID"),
             [f"2 FETCH (UID {nums[1]})", f"3 FETCH (UID {nums[2]})"],
             "reversed range")


def check_errors(c):
    for args in [("4", "FLAGS"), ("0", "FLAGS"), ("1", "FOO"),
                 ("1", "BODY[1.]"), ("1", "BODY[]<1>"), ("x", "FLAGS"),
                 ("1", "(FLAGS")]:
        try:
            typ, data = c.fetch(*args)
        except c.error as e:
            assert "BAD" in str(e) or "unexpected" in str(e), (args, e)
            continue
        raise AssertionError(f"FETCH {args} gave {typ} {data}")


def check_seen(st):
    c = M.connect(st)
    M.ok(c.select("INBOX"))
    for n in ("1", "2", "3"):
        assert "\\Seen" not in M.flags_of(c, n), n
    M.fetch(c, "1", "BODY.PEEK[]")
    M.fetch(c, "1", "BODY.PEEK[TEXT]")
    M.fetch(c, "1", "(RFC822.HEADER RFC822.SIZE ENVELOPE)")
    assert "\\Seen" not in M.flags_of(c, "1")
    # BODY[] sets \Seen and reports the new flags in the same response
    r = M.fetch(c, "1", "BODY[]")[0]
    assert re.search(r"FLAGS \([^)]*\\Seen", r), r
    assert "\\Seen" in M.flags_of(c, "1")
    # already seen: no FLAGS added
    r = M.fetch(c, "1", "BODY[HEADER]")[0]
    assert "FLAGS" not in r, r
    r = M.fetch(c, "2", "RFC822.TEXT")[0]
    assert "\\Seen" in r, r
    r = M.fetch(c, "3", "(FLAGS BODY[1])")[0]
    assert r.count("FLAGS") == 1 and "\\Seen" in r, r
    M.ok(c.store("1:3", "-FLAGS", "(\\Seen)"))
    c.logout()
    # EXAMINE: read-only, nothing changes
    c = M.connect(st)
    M.ok(c.select("INBOX", readonly=True))
    r = M.fetch(c, "1", "(BODY[] RFC822)")[0]
    assert "\\Seen" not in r, r
    c.logout()
    c = M.connect(st)
    M.ok(c.select("INBOX"))
    assert "\\Seen" not in M.flags_of(c, "1")
    c.logout()


def check_cache(st, c):
    """ENVELOPE is cached: after the file changed on disk (same size, as
    no real program would do), FETCH ENVELOPE still answers from the
    cache while a body section reads the file."""
    first = M.fetch(c, "1", "ENVELOPE")
    d = os.path.join(st.maildir(USER), "cur")
    names = [n for n in os.listdir(d)] + [
        os.path.join("..", "new", n) for n in
        os.listdir(os.path.join(st.maildir(USER), "new"))]
    changed = 0
    for n in names:
        p = os.path.join(d, n)
        with open(p, "rb") as f:
            data = f.read()
        if b"Quarterly report" in data:
            with open(p, "r+b") as f:
                f.write(data.replace(b"Quarterly report",
                                     b"Quarterly REPORT"))
            changed += 1
    assert changed == 1, names
    M.expect(M.fetch(c, "1", "ENVELOPE"), first, "cached ENVELOPE")
    r = M.fetch(c, "1", "BODY.PEEK[HEADER.FIELDS (SUBJECT)]")[0]
    assert "Quarterly REPORT" in r, r


def check_big(c):
    """A 400 KB message: its literals are streamed by the server, and
    come back exactly, whole and partial, next to other items."""
    body = "".join(f"line {i:05d} of a big message\n" for i in range(14000))
    text = "From: big@example.test\nSubject: big\n\n" + body
    M.append(c, text)
    n = int(M.ok(c.select("INBOX"))[0])
    raw = M.crlf(text).decode()
    M.expect(M.fetch(c, str(n), "BODY.PEEK[]"),
             [f"{n} FETCH (BODY[] {lit(raw)})"], "big BODY[]")
    r = M.fetch(c, str(n), "(FLAGS BODY.PEEK[TEXT]<5.100000> RFC822.SIZE)")
    hdr_len = raw.index("\r\n\r\n") + 4
    want = raw[hdr_len + 5:hdr_len + 100005]
    assert r[0].startswith(f"{n} FETCH (FLAGS (") and r[0].endswith(
        f"BODY[TEXT]<5> {lit(want)} RFC822.SIZE {len(raw)})"), r[0][:200]


def check_vanished(st, c):
    """A message file removed by another program: FETCH of its text
    answers NO [EXPUNGEISSUED] (the others are still sent), FLAGS still
    work until the next NOOP expunges it."""
    gone = 0
    for sub in ("new", "cur"):
        d = os.path.join(st.maildir(USER), sub)
        for n in os.listdir(d):
            with open(os.path.join(d, n), "rb") as f:
                if b"no date here" in f.read():
                    os.unlink(os.path.join(d, n))
                    gone += 1
    assert gone == 1
    M.untagged(c, "FETCH")
    typ, data = c._simple_command("FETCH", "2:3", "(BODY.PEEK[HEADER])")
    assert typ == "NO" and data[0].startswith(b"[EXPUNGEISSUED]"), \
        (typ, data)
    got = M.flat(M.untagged(c, "FETCH"))
    assert len(got) == 1 and got[0].startswith(b"2 (BODY[HEADER]"), got
    M.fetch(c, "3", "FLAGS")
    M.ok(c.noop())
    assert M.untagged(c, "EXPUNGE") == [b"3"]


def main():
    st = M.start_store()
    c = M.connect(st)
    # APPEND stores the exact octets (LMTP would add trace fields)
    for t in TEXTS:
        M.append(c, t)
    M.ok(c.select("INBOX"))
    check_items(c)
    check_macros_and_uid(c)
    check_errors(c)
    c.logout()
    check_seen(st)
    c = M.connect(st)
    M.ok(c.select("INBOX"))
    check_cache(st, c)
    check_big(c)
    check_vanished(st, c)
    c.logout()


run(main)
