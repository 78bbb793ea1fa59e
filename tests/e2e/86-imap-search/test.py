# SPDX-License-Identifier: ISC
"""IMAP SEARCH against a real buzond with Python's imaplib: every RFC 3501
search key on a small mailbox, each with a hit and a miss (flags and
keywords set with STORE, internal dates given with APPEND, sizes, Date:
header, header fields with RFC 2047 encoded-words, bodies in
quoted-printable, base64 and ISO-8859-1, a forwarded message/rfc822),
OR/NOT/groups, sequence sets, UID SEARCH, CHARSET (UTF-8 and US-ASCII
accepted, others NO [BADCHARSET]) and syntax errors (BAD)."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from estafeta_test import run  # noqa: E402
import imapmsgs as M  # noqa: E402

B64 = """\
From: carol@example.test
To: alice@example.test
Subject: encoded body
Date: Sat, 2 Mar 2024 10:00:00 +0000
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: base64

VGhlIHBhc3N3b3JkIGlzIHN3b3JkZmlzaC4K
"""


def search(c, *criteria, uid=False, charset=None):
    if uid:
        data = M.ok(c.uid("SEARCH", *criteria) if charset is None else
                    c.uid("SEARCH", "CHARSET", charset, *criteria))
    else:
        data = M.ok(c.search(charset, *criteria))
    return data[0].decode()


def check(c, want, *criteria, uid=False, charset=None, literal=None):
    """literal: the last argument, sent as a literal (UTF-8 text)."""
    if literal is not None:
        c.literal = literal.encode()
    got = search(c, *criteria, uid=uid, charset=charset)
    if got != want:
        raise AssertionError(f"SEARCH {criteria}: got {got!r} want {want!r}")


def main():
    st = M.start_store()
    c = M.connect(st)
    # 1 SIMPLE, 2 NESTED, 3 PLAIN, 4 B64; internal dates chosen here
    M.append(c, M.SIMPLE, date='"10-Jan-2024 12:00:00 +0000"')
    M.append(c, M.NESTED, date='"01-Feb-2024 08:00:00 +0000"')
    M.append(c, M.PLAIN, date='"05-Mar-2024 23:30:00 +0000"')
    M.append(c, B64, date='"06-Mar-2024 00:30:00 +0000"')
    M.ok(c.select("INBOX"))
    uids = [int(x) for x in search(c, "ALL", uid=True).split()]
    assert len(uids) == 4, uids
    M.ok(c.store("1", "+FLAGS", "(\\Seen \\Answered $Work)"))
    M.ok(c.store("2", "+FLAGS", "(\\Flagged)"))
    M.ok(c.store("3", "+FLAGS", "(\\Deleted \\Draft \\Seen $Junk $Work)"))

    # flags and keywords
    check(c, "1 2 3 4", "ALL")
    check(c, "1", "ANSWERED")
    check(c, "2 3 4", "UNANSWERED")
    check(c, "3", "DELETED")
    check(c, "1 2 4", "UNDELETED")
    check(c, "3", "DRAFT")
    check(c, "1 2 4", "UNDRAFT")
    check(c, "2", "FLAGGED")
    check(c, "1 3 4", "UNFLAGGED")
    check(c, "1 3", "SEEN")
    check(c, "2 4", "UNSEEN")
    check(c, "1 3", "KEYWORD", "$Work")
    check(c, "3", "KEYWORD", "$junk")
    check(c, "", "KEYWORD", "$None")
    check(c, "2 4", "UNKEYWORD", "$Work")
    # \Recent: this session selected first, so all four are recent
    check(c, "1 2 3 4", "RECENT")
    check(c, "", "OLD")
    check(c, "2 4", "NEW")
    # sizes: 269, 1280, 56 and the base64 one
    check(c, "2", "LARGER", "1000")
    check(c, "1 2 4", "LARGER", "56")
    check(c, "3", "SMALLER", "57")
    check(c, "", "SMALLER", "56")
    # internal dates (time and zone disregarded)
    check(c, "1", "BEFORE", "1-Feb-2024")
    check(c, "2", "ON", "1-Feb-2024")
    check(c, "", "ON", "2-Feb-2024")
    check(c, "3 4", "SINCE", "5-Mar-2024")
    check(c, "4", "SINCE", "6-Mar-2024")
    # Date: header
    check(c, "1", "SENTON", "10-Jan-2024")
    check(c, "1", "SENTBEFORE", "1-Feb-2024")
    check(c, "2 4", "SENTSINCE", "1-Feb-2024")
    check(c, "4", "SENTSINCE", "2-Mar-2024")
    check(c, "", "SENTON", "2-Feb-2024")
    # header fields, case-insensitive substrings, encoded-words decoded
    check(c, "1", "FROM", "alice")
    check(c, "1", "FROM", '"ALICE EXAMPLE"')
    check(c, "", "FROM", "nobody")
    check(c, "1", "TO", "bob")
    check(c, "2 4", "TO", "alice")
    check(c, "1", "CC", "dave")
    check(c, "", "CC", "alice")
    check(c, "2", "BCC", "hidden")
    check(c, "", "BCC", "bob")
    check(c, "1", "SUBJECT", "quarterly")
    check(c, "", "SUBJECT", "annual")
    check(c, "2", "FROM", charset="UTF-8", literal="J\u00f6rg M\u00fcller")
    check(c, "2", "SUBJECT", charset="UTF-8", literal="GR\u00fc\u00dfE")
    check(c, "", "SUBJECT", charset="UTF-8", literal="Gr\u00fcsse")
    check(c, "1", "HEADER", "X-Tracker", "alpha")
    check(c, "", "HEADER", "X-Tracker", "beta")
    check(c, "1", "HEADER", "X-Tracker", '""')
    check(c, "1 2 4", "HEADER", "Date", '""')
    check(c, "2", "HEADER", "In-Reply-To", "m1@example")
    # bodies: decoded text of text parts only; TEXT adds the header
    check(c, "1", "BODY", '"numbers are up"')
    check(c, "", "BODY", "quarterly")
    check(c, "1", "TEXT", "quarterly")
    check(c, "2", "BODY", '"secret word"')
    check(c, "2", "BODY", charset="UTF-8",
          literal="gr\u00fc\u00dfe aus K\u00f6ln")
    check(c, "2", "BODY", '"inner body text"')
    check(c, "2", "BODY", '"forwarded note"')
    check(c, "", "BODY", "hidden")          # application/pdf (base64)
    check(c, "", "BODY", "preamble")
    check(c, "4", "BODY", "swordfish")
    check(c, "", "BODY", "VGhlIHBh")
    check(c, "1 2 4", "TEXT", "alice@example.test")
    # sequence sets and UIDs
    check(c, "2 3", "2:3")
    check(c, "4", "*")
    check(c, "1 2 3 4", "4:1")
    check(c, "1 3", "1,3")
    check(c, "2", "UID", str(uids[1]))
    check(c, "3 4", "UID", f"{uids[2]}:*")
    check(c, "4", "UID", f"{uids[3] + 50}:*")
    check(c, "", "UID", str(uids[3] + 50))
    # combinations
    check(c, "1 2", "OR", "ANSWERED", "FLAGGED")
    check(c, "2 3", "OR", "(SEEN DELETED)", "FLAGGED")
    check(c, "2 4", "NOT", "SEEN")
    check(c, "1", "NOT", "NOT", "ANSWERED")
    check(c, "2", "UNSEEN", "OR", "FROM", "alice", "BODY", "secret")
    check(c, "1 3", "SEEN", "1:3")
    check(c, "3", "(DELETED)", "(SEEN KEYWORD $Junk)")
    check(c, "2 3 4", "NOT", "FROM", "alice")
    # UID SEARCH answers UIDs
    check(c, f"{uids[1]} {uids[3]}", "UNSEEN", uid=True)
    check(c, f"{uids[0]}", "1", uid=True)
    # charsets
    check(c, "1", "FROM", "alice", charset="US-ASCII")
    check(c, "1", "FROM", "alice", charset="utf-8")
    typ, data = c._simple_command("SEARCH", "CHARSET", "ISO-8859-1", "ALL")
    assert typ == "NO" and data[0].startswith(
        b"[BADCHARSET (UTF-8 US-ASCII)]"), (typ, data)
    # errors are BAD
    for crit in [("FOO",), ("FROM",), ("BEFORE", "32-Jan-2024"),
                 ("LARGER", "x"), ("UID", "x"), ("OR", "SEEN"), ("()",),
                 ("HEADER", "X-Tracker"), ("CHARSET",)]:
        try:
            typ, data = c.search(None, *crit)
        except c.error as e:
            assert "BAD" in str(e), (crit, e)
            continue
        raise AssertionError(f"SEARCH {crit} gave {typ} {data}")
    c.logout()


run(main)
