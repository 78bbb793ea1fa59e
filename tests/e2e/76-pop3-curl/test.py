# SPDX-License-Identifier: ISC
"""POP3 with curl against buzond: pop3:// with STLS required and
pop3s:// (implicit TLS), both verifying the server certificate with the
test CA (--cacert) under the name mail.example.test (--resolve).

  * the listing (LIST), a message by number (RETR, curl unstuffs the dots:
    the result equals the delivered message with CRLF line ends), UIDL
    (-X UIDL: the files' Maildir base names), TOP (-X "TOP 1 0"), DELE (-X DELE on a message URL, -I)
    which removes the file once curl's session QUITs;
  * curl logs in with AUTH PLAIN (the CAPA lists SASL PLAIN) with and
    without --sasl-ir;
  * without TLS curl cannot log in (exit 67, login denied), and with a
    wrong password neither (exit 67);
  * a message a program drops into the Maildir's new/ is listed and
    retrievable in the next session.
"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from estafeta_test import Store, TestFailure, run, wait_for  # noqa
from poptest import (check, crlf, lmtp_send, maildir_count,  # noqa: E402
                     maildir_drop, maildir_uidls)

ALICE, ALICE_PW = "alice@example.test", "curl-Pa55 word"
HOST = "mail.example.test"
MSG1 = (b"From: sender@example.org\r\nTo: alice@example.test\r\n"
        b"Subject: for curl\r\n\r\n.a dotted line\r\n..\r\nlast\r\n")
MSG2 = (b"From: sender@example.org\r\nTo: alice@example.test\r\n"
        b"Subject: second\r\n\r\nsecond body\r\n")
DROPPED = b"From: cron@example.test\nSubject: dropped\n\nfrom cron\n"


def curl(st, path, *args, scheme="pop3", port=None, want=0, pw=ALICE_PW):
    port = port or (st.pop3s_port if scheme == "pop3s" else st.pop3_port)
    cmd = ["curl", "-sS", "--max-time", "20", "--cacert", st.ca.cert,
           "--resolve", f"{HOST}:{port}:127.0.0.1", "-u", f"{ALICE}:{pw}",
           f"{scheme}://{HOST}:{port}/{path}"] + list(args)
    r = subprocess.run(cmd, capture_output=True, timeout=30)
    if r.returncode != want:
        raise TestFailure(f"{' '.join(cmd)}: exit {r.returncode}, "
                             f"wanted {want}: {r.stderr!r}")
    return r.stdout


def main():
    st = Store(name="pop3-curl")
    st.add_user(ALICE, ALICE_PW)
    st.start()
    md = st.maildir(ALICE)
    for m in (MSG1, MSG2):
        check(lmtp_send(st.lmtp_port, [ALICE], m) == {}, "LMTP refused")
    wait_for(lambda: maildir_count(md) == 2, "2 messages delivered")

    # No TLS: the server refuses the credentials, curl gives up.
    curl(st, "", want=67)
    # Wrong password over TLS.
    curl(st, "", "--ssl-reqd", want=67, pw="wrong")

    # LMTP put Return-Path and Received on top: each ends with what was
    # sent, and LIST gives the sizes of what RETR returns.
    m1 = curl(st, "1", "--ssl-reqd")
    m2 = curl(st, "2", scheme="pop3s")
    check(m1.endswith(MSG1) and m2.endswith(MSG2) and
          m1.startswith(b"Return-Path: <sender@example.org>\r\n"),
          f"RETR over STLS and pop3s: {m1!r} {m2!r}")
    listing = curl(st, "", "--ssl-reqd")
    check(listing == b"1 %d\r\n2 %d\r\n" % (len(m1), len(m2)),
          f"LIST over STLS: {listing!r}")
    check(curl(st, "1", "--sasl-ir", scheme="pop3s") == m1,
          "RETR 1 with --sasl-ir")
    uidl = curl(st, "", "-X", "UIDL", scheme="pop3s").split(b"\r\n")
    check(len(uidl) == 3 and uidl[2] == b"" and uidl[0].startswith(b"1 ")
          and uidl[1].startswith(b"2 ") and
          {uidl[0].split()[1], uidl[1].split()[1]} == maildir_uidls(md),
          f"UIDL: {uidl!r}")
    top = curl(st, "", "-X", "TOP 1 0", scheme="pop3s")
    check(top == m1.split(b"\r\n\r\n")[0] + b"\r\n\r\n",
          f"TOP 1 0: {top!r}")

    maildir_drop(md, DROPPED)
    listing = curl(st, "", scheme="pop3s")
    check(listing.count(b"\r\n") == 3, f"dropped file not listed: "
          f"{listing!r}")
    check(curl(st, "3", scheme="pop3s") == crlf(DROPPED),
          "RETR of the dropped file")

    # DELE message 1; curl QUITs at the end, so the file goes away.
    curl(st, "1", "-X", "DELE", "-I", scheme="pop3s")
    wait_for(lambda: maildir_count(md) == 2, "DELE + QUIT removed one file")
    listing = curl(st, "", scheme="pop3s")
    check(listing == b"1 %d\r\n2 %d\r\n" % (len(m2), len(crlf(DROPPED))),
          f"LIST after DELE: {listing!r}")
    log = st.read_log()
    check("mech=PLAIN" in log, "curl did not use AUTH PLAIN")
    check(ALICE_PW not in log, "the password is in the log")


if __name__ == "__main__":
    run(main)
