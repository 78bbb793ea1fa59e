# SPDX-License-Identifier: ISC
"""POP3 flows against buzond with Python's poplib and a raw client.

Mail for alice@example.test arrives two ways: over LMTP (smtplib.LMTP to
buzond's TCP listener; one message has lines starting with dots) and as a
file another program drops into her Maildir's new/. Then:

  * before STLS the CAPA list has STLS but neither USER nor SASL, and
    USER, PASS and AUTH are refused with -ERR [AUTH] (credentials only
    over TLS: auth_cleartext_networks is empty by default);
  * poplib over STLS: USER/PASS, STAT/LIST match the message sizes with
    CRLF line ends, UIDL gives the files' Maildir base names, TOP n, RETR returns each
    message exactly (poplib's unstuffed lines) and the raw wire form of
    the dotted message is byte-exact dot-stuffing;
  * DELE takes effect only at QUIT: a session that marks two messages and
    drops the connection removes nothing (same UIDLs afterwards), RSET
    unmarks, and after DELE + QUIT the files are gone from the Maildir and
    the next session's UIDLs are the old ones minus the deleted;
  * AUTH PLAIN (initial response and continuation) after STLS; a bad
    password gets -ERR [AUTH]; a second session while one holds the
    maildrop gets -ERR [IN-USE];
  * implicit TLS on the pop3s port with poplib.POP3_SSL (certificate
    verified against the test CA);
  * UIDLs are the same after buzond restarts;
  * the disconnect summary line names the user, the retrieved and deleted
    counts and the TLS version.
"""
import base64
import os
import poplib
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from estafeta_test import Store, run, wait_for  # noqa: E402
from poptest import (PopRaw, check, crlf, lmtp_send, maildir_count,  # noqa
                     maildir_drop, maildir_uidls, stuffed)

ALICE, ALICE_PW = "alice@example.test", "Alice's pop pass"
BOB, BOB_PW = "bob@example.test", "bob-Pa55"
HOST = "mail.example.test"

MSGS = [
    b"From: Sender <sender@example.org>\r\nTo: alice@example.test\r\n"
    b"Subject: first\r\n\r\nHello Alice.\r\nSecond line.\r\n",
    b"From: sender@example.org\r\nTo: alice@example.test\r\n"
    b"Subject: dots\r\n\r\n.one leading dot\r\n..two dots\r\n.\r\n"
    b"end.\r\n",
    b"From: sender@example.org\r\nTo: alice@example.test\r\n"
    b"Subject: lines\r\n\r\n" + b"".join(b"line %d\r\n" % i
                                         for i in range(1, 21)),
]
EXTERNAL = (b"From: other-program@example.org\nTo: alice@example.test\n"
            b"Subject: dropped into new/\n\n.body from outside\n")


def b64(s):
    return base64.b64encode(s.encode()).decode()


class POP3(poplib.POP3):
    """poplib.POP3 that connects to 127.0.0.1 but verifies HOST."""

    def __init__(self, port):
        super().__init__("127.0.0.1", port, timeout=20)
        self.host = HOST


def uidls(p):
    return [ln.split()[1] for ln in p.uidl()[1]]


def main():
    st = Store(name="pop3")
    st.add_user(ALICE, ALICE_PW)
    st.add_user(BOB, BOB_PW)
    st.start()
    ctx = st.ca.client_context()

    for m in MSGS:
        check(lmtp_send(st.lmtp_port, [ALICE], m) == {}, "LMTP refused")
    md = st.maildir(ALICE)
    wait_for(lambda: maildir_count(md) == 3, "3 messages in the Maildir")
    maildir_drop(md, EXTERNAL)
    allmsgs = [crlf(m) for m in MSGS] + [crlf(EXTERNAL)]

    # -- no credentials before TLS
    r = PopRaw(st.pop3_port)
    caps = r.capa()
    check("STLS" in caps and "USER" not in caps and "SASL PLAIN" not in
          caps, f"CAPA before TLS: {caps}")
    for c in ("UIDL", "TOP", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING"):
        check(c in caps, f"{c} missing from CAPA: {caps}")
    r.err(f"USER {ALICE}", b"-ERR [AUTH]")
    r.err(f"PASS {ALICE_PW}", b"-ERR [AUTH]")
    r.err(f"AUTH PLAIN {b64(chr(0) + ALICE + chr(0) + ALICE_PW)}",
          b"-ERR [AUTH]")
    r.err("STAT")
    r.stls(ctx, HOST)
    caps = r.capa()
    check("USER" in caps and "SASL PLAIN" in caps and "STLS" not in caps,
          f"CAPA after TLS: {caps}")
    r.ok("QUIT")
    r.close()

    # -- poplib over STLS: the whole maildrop
    p = POP3(st.pop3_port)
    p.stls(ctx)
    p.user(ALICE)
    p.pass_(ALICE_PW)
    # LMTP adds Return-Path and Received: each message ends with what
    # was sent; the file dropped into new/ is there as it was (CRLF).
    got = []
    for i in range(1, 5):
        lines = p.retr(i)[1]
        got.append(b"\r\n".join(lines) + b"\r\n")
    for i, (g, m) in enumerate(zip(got, allmsgs), 1):
        check(g.endswith(m), f"RETR {i}: {g!r}")
    check(got[3] == allmsgs[3], "the dropped file changed")
    count, octets = p.stat()
    check(count == 4, f"STAT count {count}")
    check(octets == sum(len(m) for m in got), f"STAT octets {octets}")
    sizes = [int(ln.split()[1]) for ln in p.list()[1]]
    check(sizes == [len(m) for m in got], f"LIST {sizes}")
    ids = uidls(p)
    check(len(set(ids)) == 4 and set(ids) == maildir_uidls(md),
          f"UIDL {ids}, files {os.listdir(md + '/new')}")
    top = p.top(3, 2)[1]
    hdr_lines = got[2].split(b"\r\n\r\n")[0].split(b"\r\n")
    check(top == hdr_lines + [b"", b"line 1", b"line 2"], f"TOP {top!r}")
    check(p.top(1, 0)[1] == got[0].split(b"\r\n\r\n")[0].split(
        b"\r\n") + [b""], "TOP 1 0")
    p.quit()

    # -- DELE then drop the connection: nothing is deleted
    r = PopRaw(st.pop3_port)
    r.stls(ctx, HOST)
    r.login(ALICE, ALICE_PW)
    # Byte-exact dot-stuffing on the wire.
    r.ok("RETR 2")
    wire = r.multi()
    check(wire == stuffed(got[1]) and wire.endswith(
          b"\r\n\r\n..one leading dot\r\n...two dots\r\n..\r\nend.\r\n"
          b".\r\n"), f"RETR 2 wire form: {wire!r}")
    r.ok("RETR 4")
    wire = r.multi()
    check(wire == stuffed(EXTERNAL), f"RETR 4 wire form: {wire!r}")
    r.ok("DELE 1")
    r.ok("DELE 4")
    r.err("RETR 1", b"-ERR Message 1 already deleted")
    check(r.cmd("STAT") == b"+OK 2 %d" % (len(got[1]) + len(got[2])),
          "STAT after DELE")
    r.close()
    st.wait_log("outcome=lost")
    check(maildir_count(md) == 4, "DELE without QUIT removed a file")
    p = POP3(st.pop3_port)
    p.stls(ctx)
    p.user(ALICE)
    p.pass_(ALICE_PW)
    check(uidls(p) == ids, "UIDLs changed after a dropped session")
    # RSET unmarks.
    p.dele(2)
    p.rset()
    check(p.stat()[0] == 4, "RSET did not unmark")
    # DELE + QUIT removes, and only the marked ones.
    p.dele(1)
    p.dele(3)
    check(maildir_count(md) == 4, "DELE removed before QUIT")
    p.quit()
    check(maildir_count(md) == 2, "QUIT did not remove 2 files")
    p = POP3(st.pop3_port)
    p.stls(ctx)
    p.user(ALICE)
    p.pass_(ALICE_PW)
    check(uidls(p) == [ids[1], ids[3]], "UIDLs after DELE + QUIT")
    check(b"\r\n".join(p.retr(1)[1]) + b"\r\n" == got[1],
          "message 2 is now message 1")

    # -- [IN-USE] while that session holds the maildrop
    r = PopRaw(st.pop3_port)
    r.stls(ctx, HOST)
    r.ok(f"USER {ALICE}")
    r.err(f"PASS {ALICE_PW}", b"-ERR [IN-USE]")
    # -- [AUTH] for a bad password; AUTH PLAIN works for another user
    r.ok(f"USER {BOB}")
    r.err("PASS wrong", b"-ERR [AUTH]")
    r.ok(f"AUTH PLAIN {b64(chr(0) + BOB + chr(0) + BOB_PW)}")
    check(r.cmd("STAT") == b"+OK 0 0", "bob's empty maildrop")
    r.ok("QUIT")
    r.close()
    p.quit()

    # -- AUTH PLAIN with a continuation
    r = PopRaw(st.pop3_port)
    r.stls(ctx, HOST)
    check(r.cmd("AUTH PLAIN") == b"+ ", "no continuation")
    r.ok(b64(chr(0) + ALICE + chr(0) + ALICE_PW))
    check(r.cmd("STAT").startswith(b"+OK 2 "), "STAT after AUTH PLAIN")
    r.ok("QUIT")
    r.close()

    # -- implicit TLS (pop3s)
    ps = POP3S(st.pop3s_port, ctx)
    check("USER" in ps.capa(), "USER not offered on pop3s")
    ps.user(ALICE)
    ps.pass_(ALICE_PW)
    check(ps.stat()[0] == 2, "pop3s STAT")
    check(b"\r\n".join(ps.retr(2)[1]) + b"\r\n" == allmsgs[3],
          "pop3s RETR")
    ps.quit()

    # -- UIDLs survive a restart of buzond (they are the base names).
    st.stop()
    st.start()
    p = POP3(st.pop3_port)
    p.stls(ctx)
    p.user(ALICE)
    p.pass_(ALICE_PW)
    check(uidls(p) == [ids[1], ids[3]], "UIDLs changed across a restart")
    p.quit()

    log = st.read_log()
    check(f"pop3 login client=[127.0.0.1] user=<{ALICE}> mech=PLAIN" in
          log, "no login line for AUTH PLAIN")
    check(f"user=<{ALICE}> commands=" in log and "deleted=2 " in log and
          "retrieved=" in log and "tls=TLSv1.3 outcome=quit" in log,
          "no summary line with deletions and TLS")
    check(ALICE_PW not in log and b64(chr(0) + ALICE + chr(0) +
          ALICE_PW) not in log, "a password in the log")


class POP3S(poplib.POP3_SSL):
    """POP3_SSL to 127.0.0.1 that verifies HOST."""

    def __init__(self, port, ctx):
        self._ctx = ctx
        super().__init__("127.0.0.1", port, context=ctx, timeout=20)

    def _create_socket(self, timeout):
        sock = poplib.POP3._create_socket(self, timeout)
        return self._ctx.wrap_socket(sock, server_hostname=HOST)


if __name__ == "__main__":
    run(main)
