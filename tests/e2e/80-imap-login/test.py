# SPDX-License-Identifier: ISC
"""IMAP login rules of buzond, with Python's imaplib, curl and a raw
socket, against users made with estafetactl:

  * port 143 before STARTTLS: the greeting's capabilities have STARTTLS
    and LOGINDISABLED and no AUTH=; LOGIN and AUTHENTICATE PLAIN get
    NO [PRIVACYREQUIRED] (a password literal is refused before it is
    sent: no "+" continuation); commands of the authenticated state get
    BAD;
  * after STARTTLS (imaplib.starttls with the test CA): AUTH=PLAIN,
    LOGINDISABLED gone; LOGIN works; STARTTLS again is refused; a command
    pipelined behind STARTTLS in the same packet is dropped, not run
    inside TLS (injection);
  * port 993 (implicit TLS): LOGIN and AUTHENTICATE PLAIN (imaplib,
    without initial response, and with SASL-IR on a raw socket); a bad
    password, an unknown user and a wrong authzid get NO with the same
    [AUTHENTICATIONFAILED] text; after auth_fail_limit failures the
    session ends with BYE;
  * auth_cleartext_networks = 127.0.0.0/8: LOGIN without TLS works;
  * curl imaps:// and imap:// with --ssl-reqd list the mailboxes;
  * the password never appears in the log; one summary line per session.
"""
import base64
import imaplib
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from estafeta_test import Store, TestFailure, run, wait_for  # noqa: E402
from imapraw import ImapRaw, check, has  # noqa: E402

ALICE, PW = "alice@example.test", "Al1ce imap pw"
BOB, BOB_PW = "bob@example.test", "bob-pw-77"


def plain(authz, user, pw):
    return base64.b64encode(f"{authz}\0{user}\0{pw}".encode()).decode()


def main():
    st = Store("imap-login", imap_auth_fail_limit=3)
    st.add_user(ALICE, PW)
    st.add_user(BOB, BOB_PW)
    st.start()
    ctx = st.ca.client_context()

    # -- 143, cleartext: no logins.
    c = ImapRaw(st.imap_port)
    g = c.greeting
    check(g.startswith("* OK [CAPABILITY IMAP4rev1"), g)
    for cap in ("STARTTLS", "LOGINDISABLED", "LITERAL+", "IDLE",
                "UIDPLUS", "MOVE", "NAMESPACE", "SPECIAL-USE"):
        check(cap in g.replace("]", " ").split(), f"{cap} missing in {g}")
    check("AUTH=PLAIN" not in g, g)
    typ, lines = c.cmd(f'a LOGIN {ALICE} "{PW}"')
    check(typ == "NO" and "[PRIVACYREQUIRED]" in lines[-1], lines)
    typ, lines = c.cmd("b AUTHENTICATE PLAIN " + plain("", ALICE, PW))
    check(typ == "NO" and "[PRIVACYREQUIRED]" in lines[-1], lines)
    # A password literal is refused before the client sends it.
    c.send(f"p LOGIN {ALICE} {{{len(PW)}}}\r\n")
    typ, lines = c.until("p")
    check(typ == "NO" and "[PRIVACYREQUIRED]" in lines[-1] and
          not has(lines, "+ "), lines)
    c.expect("c SELECT INBOX", "BAD")
    c.expect("d LIST \"\" *", "BAD")
    # STARTTLS with a command pipelined behind it: dropped.
    c.send("e STARTTLS\r\nf CAPABILITY\r\n")
    typ, lines = c.until("e")
    check(typ == "OK", lines)
    c.s = ctx.wrap_socket(c.s, server_hostname="mail.example.test")
    c.buf = b""
    typ, lines = c.cmd("g CAPABILITY")
    check(not has(lines, "f "), f"pipelined command ran: {lines}")
    check(has(lines, "AUTH=PLAIN") and not has(lines, "LOGINDISABLED") and
          not has(lines, "STARTTLS"), lines)
    c.expect("h STARTTLS", "BAD")
    typ, lines = c.cmd(f'i LOGIN {ALICE} "{PW}"')
    check(typ == "OK" and "[CAPABILITY" in lines[-1], lines)
    c.expect("j LOGOUT", "OK")
    c.close()

    # imaplib over STARTTLS.
    m = imaplib.IMAP4("127.0.0.1", st.imap_port)
    check("LOGINDISABLED" in m.capabilities, m.capabilities)
    try:
        m.login(ALICE, PW)
        raise TestFailure("LOGIN accepted before STARTTLS")
    except imaplib.IMAP4.error as e:
        check("PRIVACYREQUIRED" in str(e), str(e))
    m.starttls(ssl_context=ctx)
    typ, _ = m.login(ALICE, PW)
    check(typ == "OK", typ)
    typ, data = m.list()
    check(typ == "OK" and any(b'"INBOX"' in d for d in data), data)
    m.logout()

    # -- 993: implicit TLS.
    m = imaplib.IMAP4_SSL("127.0.0.1", st.imaps_port, ssl_context=ctx)
    check("AUTH=PLAIN" in m.capabilities and
          "LOGINDISABLED" not in m.capabilities, m.capabilities)
    m.authenticate("PLAIN", lambda _: f"\0{BOB}\0{BOB_PW}".encode())
    check(m.state == "AUTH", m.state)
    m.logout()
    c = ImapRaw(st.imaps_port, ctx=ctx, implicit=True)
    c.expect("a AUTHENTICATE PLAIN " + plain("", ALICE, PW), "OK")
    c.expect("b LOGOUT", "OK")
    c.close()
    # Failures: same text for each; BYE after the limit (3).
    c = ImapRaw(st.imaps_port, ctx=ctx, implicit=True)
    fails = []
    for i, line in enumerate([f'a LOGIN {ALICE} "wrong"',
                              f'b LOGIN nobody@example.test "{PW}"',
                              "c AUTHENTICATE PLAIN " +
                              plain(BOB, ALICE, PW)]):
        typ, lines = c.cmd(line)
        check(typ == "NO", lines)
        fails.append(lines[-1].split(" ", 1)[1])
    check(fails[0] == fails[1], fails)
    check("[AUTHORIZATIONFAILED]" in fails[2] or fails[2] == fails[0],
          fails)
    c.send(f'd LOGIN {ALICE} "{PW}"\r\n')
    check(c.line().startswith("* BYE"), "no BYE after the failure limit")
    check(c.closed(), "still open after BYE")

    # -- curl.
    r = subprocess.run(["curl", "-sS", "--cacert", st.ca.cert,
                        "--resolve",
                        f"mail.example.test:{st.imaps_port}:127.0.0.1",
                        "-u", f"{ALICE}:{PW}",
                        f"imaps://mail.example.test:{st.imaps_port}/"],
                       capture_output=True, text=True, timeout=30)
    check(r.returncode == 0 and "INBOX" in r.stdout,
          f"curl imaps: {r.returncode} {r.stdout} {r.stderr}")
    r = subprocess.run(["curl", "-sS", "--ssl-reqd", "--cacert",
                        st.ca.cert, "--resolve",
                        f"mail.example.test:{st.imap_port}:127.0.0.1",
                        "-u", f"{ALICE}:{PW}",
                        f"imap://mail.example.test:{st.imap_port}/"],
                       capture_output=True, text=True, timeout=30)
    check(r.returncode == 0 and "INBOX" in r.stdout,
          f"curl imap --ssl-reqd: {r.returncode} {r.stdout} {r.stderr}")

    # -- cleartext allowed from loopback.
    st2 = Store("imap-login2", tls=False,
                auth_cleartext_networks="127.0.0.0/8")
    st2.add_user(ALICE, PW)
    st2.start()
    m = imaplib.IMAP4("127.0.0.1", st2.imap_port)
    check("LOGINDISABLED" not in m.capabilities and
          "STARTTLS" not in m.capabilities, m.capabilities)
    typ, _ = m.login(ALICE, PW)
    check(typ == "OK", typ)
    m.logout()

    # Logs: never the password; a summary line per session.
    def summaries():
        return st.read_log().count(" imap disconnect ")
    wait_for(lambda: summaries() >= 7, "session summary lines")
    for inst in (st, st2):
        log = inst.read_log()
        for secret in (PW, BOB_PW, plain("", ALICE, PW)):
            check(secret not in log, f"password in {inst.log}")
    check("imap auth failed client=[127.0.0.1]" in st.read_log(),
          "no fail2ban line")


run(main)
