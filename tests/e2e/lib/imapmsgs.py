# SPDX-License-Identifier: ISC
# Copyright (c) 2026 The Estafeta developers
"""Messages and helpers shared by the IMAP message-command tests (85-89).

MESSAGES are written with LF line ends here; crlf() gives what a client
APPENDs or LMTP carries. The expected FETCH strings in the tests were
worked out from RFC 3501 7.4.2 by hand and checked against Dovecot 2.3.
"""

import imaplib
import re


def crlf(text):
    return text.replace("\n", "\r\n").encode()


SIMPLE = """\
From: Alice Example <alice@example.test>
To: Bob <bob@example.test>, carol@example.test
Cc: "Dave, D." <dave@example.test>
Subject: Quarterly report
Date: Wed, 10 Jan 2024 11:22:33 +0100
Message-ID: <m1@example.test>
X-Tracker: alpha

Numbers are up.
Regards
"""

NESTED = """\
From: =?ISO-8859-1?Q?J=F6rg_M=FCller?= <joerg@example.test>
To: alice@example.test
Bcc: hidden@example.test
Subject: =?UTF-8?B?R3LDvMOfZQ==?=
Date: Thu, 1 Feb 2024 07:00:00 -0800
Message-ID: <m2@example.test>
In-Reply-To: <m1@example.test>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="outer"

This is a multi-part message in MIME format.
--outer
Content-Type: multipart/alternative; boundary="inner"

--inner
Content-Type: text/plain; charset=iso-8859-1
Content-Transfer-Encoding: quoted-printable

Gr=FC=DFe aus K=F6ln
--inner
Content-Type: text/html; charset=utf-8

<p>Secret WORD</p>
--inner--
--outer
Content-Type: message/rfc822

From: inner@example.test
To: alice@example.test
Subject: forwarded note
Date: Mon, 1 Jan 2024 00:00:00 +0000
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="fwd"

--fwd
Content-Type: text/plain

inner body text
--fwd
Content-Type: application/octet-stream; name="data.bin"
Content-Disposition: attachment; filename="data.bin"
Content-Transfer-Encoding: base64

AAECAwQFBgcICQ==
--fwd--
--outer
Content-Type: application/pdf; name="report.pdf"
Content-Disposition: attachment; filename="report.pdf"
Content-Transfer-Encoding: base64

JVBERi0xLjQKaGlkZGVuCg==
--outer--
"""

PLAIN = """\
From: bob@example.test
Subject: no date here

short
"""

PASSWORD = "imap-test-pw"


def start_store(users=("alice@example.test",), **settings):
    """A buzond (estafeta_test.Store) with users, started."""
    from estafeta_test import Store
    st = Store(**settings)
    for u in users:
        st.add_user(u, PASSWORD)
    st.start()
    return st


def connect(st, user="alice@example.test"):
    """imaplib over implicit TLS (the test CA), logged in as user."""
    c = imaplib.IMAP4_SSL("127.0.0.1", st.imaps_port,
                          ssl_context=st.ca.client_context(), timeout=20)
    typ, _ = c.login(user, PASSWORD)
    assert typ == "OK"
    return c


def deliver(st, rcpt, text, sender="sender@example.org"):
    """One message over LMTP (smtplib.LMTP on the TCP listener)."""
    import smtplib
    with smtplib.LMTP("127.0.0.1", st.lmtp_port, timeout=20) as c:
        c.ehlo_or_helo_if_needed()
        refused = c.sendmail(sender, [rcpt], crlf(text))
        assert not refused, refused


def append(c, text, flags=None, date=None, mailbox="INBOX"):
    typ, data = c.append(mailbox, flags, date, crlf(text))
    assert typ == "OK", (typ, data)
    return data


def ok(resp):
    typ, data = resp
    assert typ == "OK", resp
    return data


def flat(data):
    """imaplib's untagged data as the raw response text of each message
    (without "* " and the final CRLF): a literal's octets are put back
    after its "{n}" CRLF."""
    out = []
    cur = b""
    for d in data:
        if isinstance(d, tuple):
            cur += d[0] + b"\r\n" + d[1]
        elif d is not None:
            cur += d
            out.append(cur)
            cur = b""
    if cur:
        out.append(cur)
    return out


def fetch(c, seqs, items, uid=False):
    """FETCH (or UID FETCH): the flattened responses as str (latin-1),
    "N FETCH (...)" as on the wire (imaplib drops the word FETCH)."""
    if uid:
        data = ok(c.uid("FETCH", seqs, items))
    else:
        data = ok(c.fetch(seqs, items))
    return [re.sub(r"^(\d+) ", r"\1 FETCH ", x.decode("latin-1"))
            for x in flat(data)]


def expect(got, want, what):
    if got != want:
        raise AssertionError(f"{what}:\n got  {got!r}\n want {want!r}")


def flags_of(c, seq):
    """The flags of one message as a set of str."""
    r = fetch(c, str(seq), "(FLAGS)")
    m = re.search(r"FLAGS \(([^)]*)\)", r[0])
    return set(m.group(1).split())


def untagged(c, name):
    """Pops imaplib's collected untagged responses of a kind."""
    return [x for x in c.response(name)[1] if x is not None]

