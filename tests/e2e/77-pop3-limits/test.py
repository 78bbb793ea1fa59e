# SPDX-License-Identifier: ISC
"""POP3 limits and hostile clients against buzond, with small limits:
pop3_error_limit = 3, pop3_auth_fail_limit = 2,
pop3_command_line_limit = 300, and auth_cleartext_networks = 127.0.0.0/8
(so that credentials are allowed without TLS from loopback, as the
setting documents).

  * cleartext network: CAPA lists USER and SASL PLAIN before TLS and
    USER/PASS works without STLS;
  * a 400-octet command gets -ERR Line too long and the session stays in
    sync; a long AUTH PLAIN initial response (above the line limit, within
    12288) still works;
  * three bad commands end the session with -ERR Too many errors;
  * two failed logins end it with -ERR [AUTH] ... closing; an unknown user
    and a wrong password get the same reply; with auth_fail_ip_limit = 3
    a third failure in another session uses up the address's allowance
    and even the right password is refused, over IMAP too (NO
    [UNAVAILABLE]: the counters are shared);
  * an idle session is closed with -ERR Disconnected for inactivity and
    what it marked with DELE stays;
  * STLS with a command pipelined behind it in clear text: the command is
    discarded (never answered after the handshake), and logged;
  * the maildrop is a snapshot: a message delivered over LMTP during a
    session shows up in the next one;
  * pipelined commands are answered in order in one flight.
"""
import base64
import imaplib
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from estafeta_test import Store, TestFailure, run, wait_for  # noqa: E402
from poptest import PopRaw, check, lmtp_send, maildir_count  # noqa: E402

ALICE, ALICE_PW = "alice@example.test", "limits-Pa55"
LONG_PW = "p" * 250   # SASL PLAIN parts: at most 255 octets
CAROL = "carol@example.test"
HOST = "mail.example.test"
MSG = (b"From: sender@example.org\r\nTo: alice@example.test\r\n"
       b"Subject: limits\r\n\r\nbody\r\n")


def b64(s):
    return base64.b64encode(s.encode()).decode()


def closed_with(r, text):
    check(r.closed(), "the server did not close the session")
    check(r.buf.endswith(text.encode() + b"\r\n"),
          f"expected {text!r} before the close, got {r.buf!r}")


def main():
    st = Store(name="pop3-limits", pop3_error_limit=3, pop3_auth_fail_limit=2,
               pop3_command_line_limit=300, auth_fail_ip_limit=3,
               auth_cleartext_networks="127.0.0.0/8")
    st.add_user(ALICE, ALICE_PW)
    st.add_user(CAROL, LONG_PW)
    st.start()
    md = st.maildir(ALICE)
    check(lmtp_send(st.lmtp_port, [ALICE], MSG) == {}, "LMTP refused")
    wait_for(lambda: maildir_count(md) == 1, "1 message delivered")

    # Cleartext network: credentials without TLS.
    r = PopRaw(st.pop3_port)
    caps = r.capa()
    check("USER" in caps and "SASL PLAIN" in caps and "STLS" in caps,
          f"CAPA from a cleartext network: {caps}")
    r.login(ALICE, ALICE_PW)
    # Line limit: refused, still in sync.
    r.err("LIST " + "1" * 400, b"-ERR Line too long")
    stat = r.cmd("STAT")
    check(stat.startswith(b"+OK 1 "), f"STAT after a long line: {stat!r}")
    size = int(stat.split()[2])
    # Pipelining: one flight, answers in order.
    r.send("STAT\r\nLIST 1\r\nUIDL 1\r\nNOOP\r\n")
    got = [r.line() for _ in range(4)]
    check(got[0] == stat and got[1] == b"+OK 1 %d" % size and got[2].startswith(b"+OK 1 ") and got[3] == b"+OK",
          f"pipelined replies: {got!r}")
    # Snapshot: a delivery during the session is not in it.
    check(lmtp_send(st.lmtp_port, [ALICE], MSG) == {}, "LMTP refused")
    wait_for(lambda: maildir_count(md) == 2, "2nd message delivered")
    check(r.cmd("STAT").startswith(b"+OK 1 "), "maildrop changed")
    r.ok("QUIT")
    r.close()
    r = PopRaw(st.pop3_port)
    r.login(ALICE, ALICE_PW)
    check(r.cmd("STAT").startswith(b"+OK 2 "), "new mail not seen")
    r.ok("QUIT")
    r.close()

    # A long AUTH initial response (RFC 5034) is not a long line.
    r = PopRaw(st.pop3_port)
    r.ok(f"AUTH PLAIN {b64(chr(0) + CAROL + chr(0) + LONG_PW)}")
    r.ok("QUIT")
    r.close()

    # Error limit.
    r = PopRaw(st.pop3_port)
    r.err("FOO")
    r.err("STAT", b"-ERR Not logged in yet")
    r.send("RETR 1\r\n")
    closed_with(r, "-ERR Too many errors, closing")
    r.close()
    st.wait_log("outcome=errors")

    # Failed logins: same reply for unknown user and bad password; the
    # second failure ends the session.
    r = PopRaw(st.pop3_port)
    r.ok("USER nobody@example.test")
    a = r.err("PASS whatever", b"-ERR [AUTH]")
    r.ok(f"USER {ALICE}")
    r.send("PASS wrong\r\n")
    closed_with(r, "-ERR [AUTH] Authentication failed; too many failures, "
                "closing")
    check(a == b"-ERR [AUTH] Authentication failed", f"reply {a!r}")
    r.close()
    st.wait_log("outcome=auth_limit")
    # One line per failure, for fail2ban; the password never.
    log = st.read_log()
    check("pop3 auth failed client=[127.0.0.1] user=<nobody@example.test>"
          in log and f"pop3 auth failed client=[127.0.0.1] user=<{ALICE}>"
          in log, "no auth failure lines")
    check("PASS wrong" not in log and "whatever" not in log,
          "a password in the log")
    # The third failure from this address, in a new session, uses up
    # auth_fail_ip_limit: then not even the right password is checked.
    r = PopRaw(st.pop3_port)
    r.ok(f"USER {ALICE}")
    r.err("PASS third-guess", b"-ERR [AUTH] Authentication failed")
    r.ok(f"USER {ALICE}")
    r.err(f"PASS {ALICE_PW}", b"-ERR [SYS/TEMP] Too many failed logins from "
          b"your address")
    r.ok("QUIT")
    r.close()
    st.wait_log("rule=auth_fail_ip_limit")
    # IMAP shares the counters: the address is refused there too, without
    # its credentials being checked.
    m = imaplib.IMAP4("127.0.0.1", st.imap_port)
    try:
        m.login(ALICE, ALICE_PW)
        raise TestFailure("IMAP LOGIN accepted past auth_fail_ip_limit")
    except imaplib.IMAP4.error as e:
        check("[UNAVAILABLE] Too many failed logins" in str(e),
              f"IMAP LOGIN past the limit: {e}")
    m.logout()
    st.wait_log("imap reject rule=auth_fail_ip_limit client=[127.0.0.1]")

    # STLS with a pipelined command behind it.
    r = PopRaw(st.pop3_port)
    r.send("STLS\r\nCAPA\r\n")
    check(r.line() == b"+OK Begin TLS negotiation", "STLS reply")
    ctx = st.ca.client_context()
    r.s = ctx.wrap_socket(r.s, server_hostname=HOST)
    r.s.settimeout(20)
    r.ok("CAPA")
    r.multi()
    r.send("QUIT\r\n")
    check(r.line() == b"+OK Bye", "QUIT after STLS")
    check(r.closed() and r.buf == b"", f"extra data: {r.buf!r}")
    r.close()
    st.wait_log("stls discarded pipelined input")

    # Idle timeout (another buzond: 1 s would hurry every test above),
    # after login (DELE is forgotten) and before.
    st2 = Store(name="pop3-idle", tls=False, pop3_idle_timeout="1s",
                auth_cleartext_networks="127.0.0.0/8")
    st2.add_user(ALICE, ALICE_PW)
    st2.start()
    md2 = st2.maildir(ALICE)
    check(lmtp_send(st2.lmtp_port, [ALICE], MSG) == {}, "LMTP refused")
    wait_for(lambda: maildir_count(md2) == 1, "1 message delivered")
    r = PopRaw(st2.pop3_port)
    r.login(ALICE, ALICE_PW)
    r.ok("DELE 1")
    closed_with(r, "-ERR Disconnected for inactivity")
    r.close()
    st2.wait_log("outcome=timeout")
    check(maildir_count(md2) == 1, "the idle session deleted mail")
    r = PopRaw(st2.pop3_port)
    closed_with(r, "-ERR Disconnected for inactivity")
    r.close()
    st2.wait_log("outcome=timeout", count=2)

if __name__ == "__main__":
    run(main)
