# SPDX-License-Identifier: ISC
"""SMTP AUTH (PLAIN, LOGIN) against the users database, submission rules
and sender identity. Users are made with `estafetactl user add` (password
on stdin) while the daemon runs.

  * before TLS, AUTH is neither advertised nor accepted (538 5.7.11);
    after STARTTLS it is advertised (PLAIN LOGIN);
  * 235 for PLAIN with an initial response, PLAIN without one (334, then
    the response), LOGIN (with and without the user name as initial
    response), smtplib's login() and swaks --auth over STARTTLS and over
    implicit TLS;
  * 535 5.7.8 for a bad password, an unknown user and a disabled user,
    with the very same reply; 501 when the client cancels ("*") and for
    invalid base64; AUTH after success -> 503; AUTH before EHLO -> 503;
  * smtpd_auth_cleartext_networks = 127.0.0.0/8 allows AUTH without TLS
    (the message says "with ESMTPA");
  * submission: MAIL without AUTH gets 530 5.7.0 (also under TLS); after
    AUTH, relaying to another domain gets 250 and the message carries
    "with ESMTPSA"; the same on the MX port;
  * sender identity: alice@example.test may use her own address and the
    null sender, not bob@example.test (553 5.7.1), and @example.net only
    after `estafetactl sender add alice@example.test @example.net`; the
    same when she logs in as ALICE@EXAMPLE.TEST (logged in lower case);
  * no password (plain or base64) ever appears in the log, at log_level
    debug.
"""
import base64
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from estafeta_test import (Instance, Raw, TestFailure, free_port,  # noqa
                           run, wait_for)
from testca import SMTP, SMTP_SSL, TestCA, add_user, ctl_input  # noqa

ALICE, ALICE_PW = "alice@example.test", "Corr3ct horse: battery staple"
BOB, BOB_PW = "bob@example.test", "bobs-own-Pa55"
CAROL, CAROL_PW = "carol@example.test", "carol disabled 99"
MSG = (b"From: alice@example.test\r\nTo: dave@elsewhere.test\r\n"
       b"Subject: submitted\r\n\r\nHi Dave.\r\n")


def check(cond, what):
    if not cond:
        raise TestFailure(what)


def b64(s):
    if isinstance(s, str):
        s = s.encode()
    return base64.b64encode(s).decode()


def plain(user, pw):
    return b64(f"\0{user}\0{pw}")


def session(port, ctx=None, host="mail.example.test"):
    """A Raw session after EHLO, after STARTTLS + EHLO when ctx is given.
    Returns (raw, the EHLO reply text)."""
    r = Raw(port)
    r.expect(None, 220)
    text = r.expect("EHLO client.remote.test", 250)
    if ctx is not None:
        check("STARTTLS" in text, f"no STARTTLS offered: {text!r}")
        r.expect("STARTTLS", 220)
        r.s = ctx.wrap_socket(r.s, server_hostname=host)
        text = r.expect("EHLO client.remote.test", 250)
    return r, text


def expect_code(r, line, code, enh=None):
    got, text = r.cmd(line)
    if got != code or (enh and f"{code} {enh}" not in text):
        raise TestFailure(f"{line[:40]!r}: expected {code} {enh or ''}, "
                          f"got {text!r}")
    return text


def before_tls(inst):
    r, text = session(inst.port)
    check("AUTH" not in text, f"AUTH advertised before TLS: {text!r}")
    expect_code(r, "AUTH PLAIN " + plain(ALICE, ALICE_PW), 538, "5.7.11")
    expect_code(r, "AUTH LOGIN", 538, "5.7.11")
    r.expect("QUIT", 221)
    r.close()
    # Before EHLO AUTH is out of sequence, whatever the transport.
    r = Raw(inst.port)
    r.expect(None, 220)
    expect_code(r, "AUTH PLAIN " + plain(ALICE, ALICE_PW), 503)
    r.close()


def good_auth(inst, ctx):
    # PLAIN with an initial response; then AUTH again is out of sequence.
    r, text = session(inst.port, ctx)
    check("250-AUTH PLAIN LOGIN" in text, f"AUTH not offered: {text!r}")
    expect_code(r, "AUTH PLAIN " + plain(ALICE, ALICE_PW), 235, "2.7.0")
    expect_code(r, "AUTH PLAIN " + plain(ALICE, ALICE_PW), 503, "5.5.1")
    # Authenticated, relaying from the MX port works too.
    expect_code(r, f"MAIL FROM:<{ALICE}>", 250)
    expect_code(r, "RCPT TO:<dave@elsewhere.test>", 250)
    r.expect("QUIT", 221)
    r.close()
    # PLAIN without: an empty 334 challenge, then the response.
    r, _ = session(inst.port, ctx)
    text = expect_code(r, "AUTH PLAIN", 334)
    check(text.rstrip() == "334", f"PLAIN challenge {text!r}")
    expect_code(r, plain(BOB, BOB_PW), 235, "2.7.0")
    r.close()
    # LOGIN: user name and password prompts (base64).
    r, _ = session(inst.port, ctx)
    text = expect_code(r, "AUTH LOGIN", 334)
    check(text == "334 " + b64("Username:"), text)
    text = expect_code(r, b64(ALICE), 334)
    check(text == "334 " + b64("Password:"), text)
    expect_code(r, b64(ALICE_PW), 235, "2.7.0")
    r.close()
    # LOGIN with the user name as initial response (what smtplib sends).
    r, _ = session(inst.port, ctx)
    expect_code(r, "AUTH login " + b64(BOB), 334)
    expect_code(r, b64(BOB_PW), 235)
    r.close()
    for mech in ("PLAIN", "LOGIN"):
        with SMTP("mail.example.test", inst.port) as c:
            c.starttls(context=ctx)
            c.ehlo()
            if mech == "LOGIN":
                c.user, c.password = ALICE, ALICE_PW
                code, text = c.auth("LOGIN", c.auth_login)
            else:
                code, text = c.login(ALICE, ALICE_PW)
            check(code == 235, f"smtplib {mech}: {code} {text!r}")


def bad_auth(inst, ctx):
    replies = {}
    for name, user, pw in (("bad password", ALICE, "wrong password"),
                           ("unknown user", "nobody@example.test", ALICE_PW),
                           ("disabled user", CAROL, CAROL_PW)):
        r, _ = session(inst.port, ctx)
        replies[name] = expect_code(r, "AUTH PLAIN " + plain(user, pw), 535,
                                    "5.7.8")
        # The session goes on; the client may try again (and succeed).
        expect_code(r, "AUTH PLAIN " + plain(BOB, BOB_PW), 235)
        r.close()
    check(len(set(replies.values())) == 1,
          f"failure replies differ (user enumeration): {replies}")
    # LOGIN with a bad password: the same 535.
    r, _ = session(inst.port, ctx)
    expect_code(r, "AUTH LOGIN", 334)
    expect_code(r, b64(ALICE), 334)
    text = expect_code(r, b64("not it"), 535, "5.7.8")
    check(text == replies["bad password"], text)
    # Cancelled and malformed exchanges: 501, and no authentication.
    expect_code(r, "AUTH LOGIN", 334)
    expect_code(r, "*", 501)
    expect_code(r, "AUTH PLAIN", 334)
    expect_code(r, "*", 501)
    expect_code(r, "AUTH PLAIN", 334)
    expect_code(r, "not base64!", 501, "5.5.2")
    expect_code(r, "AUTH PLAIN AGFsaWNl=QBw", 501, "5.5.2")
    expect_code(r, "AUTH LOGIN", 334)
    expect_code(r, b64(ALICE), 334)
    expect_code(r, "%%%", 501, "5.5.2")
    expect_code(r, "AUTH CRAM-MD5", 504)
    # Still unauthenticated: relaying is refused.
    expect_code(r, f"MAIL FROM:<{ALICE}>", 250)
    expect_code(r, "RCPT TO:<dave@elsewhere.test>", 554, "5.7.1")
    r.close()
    inst.wait_log("smtp auth failed client=[127.0.0.1] user=<"
                  "nobody@example.test> mech=PLAIN")


def submission(inst, ctx, sub, smtps):
    # No AUTH: 530 for MAIL, before and after TLS.
    r, text = session(sub)
    check("STARTTLS" in text and "AUTH" not in text, text)
    expect_code(r, f"MAIL FROM:<{ALICE}>", 530, "5.7.0")
    r.close()
    r, _ = session(sub, ctx)
    expect_code(r, f"MAIL FROM:<{ALICE}>", 530, "5.7.0")
    expect_code(r, "MAIL FROM:<>", 530, "5.7.0")
    # Authenticated: own address, the null sender, nobody else's.
    expect_code(r, "AUTH PLAIN " + plain(ALICE, ALICE_PW), 235)
    expect_code(r, f"MAIL FROM:<{BOB}>", 553, "5.7.1")
    expect_code(r, "MAIL FROM:<x@example.net>", 553, "5.7.1")
    expect_code(r, "MAIL FROM:<>", 250)
    expect_code(r, "RSET", 250)
    expect_code(r, f"MAIL FROM:<{ALICE}>", 250)
    expect_code(r, "RCPT TO:<dave@elsewhere.test>", 250)
    expect_code(r, "DATA", 354)
    qid = expect_code(r, MSG.decode() + ".", 250).rsplit(" ", 1)[1]
    ctl_input(inst, "sender", "add", ALICE, "@example.net")
    expect_code(r, "MAIL FROM:<x@example.net>", 250)
    expect_code(r, "RSET", 250)
    expect_code(r, f"MAIL FROM:<{BOB}>", 553, "5.7.1")
    r.close()
    inst.wait_log("smtp reject rule=sender_login")
    wait_for(lambda: qid in inst.queue_ids(), f"{qid} in the queue")
    hdr = inst.spooled_content(qid).split(b"\r\n\r\n")[0].decode()
    check(f"with ESMTPSA id {qid}" in hdr, f"not ESMTPSA: {hdr!r}")
    check("(using TLSv1.3 with cipher" in hdr, hdr)
    # The login in other letter case is the same user, with her senders.
    r, _ = session(sub, ctx)
    expect_code(r, "AUTH PLAIN " + plain(ALICE.upper(), ALICE_PW), 235)
    expect_code(r, f"MAIL FROM:<{ALICE}>", 250)
    expect_code(r, "RSET", 250)
    expect_code(r, "MAIL FROM:<y@example.net>", 250)
    expect_code(r, "RSET", 250)
    expect_code(r, f"MAIL FROM:<{BOB}>", 553, "5.7.1")
    r.close()
    inst.wait_log(f"smtp auth ok client=[127.0.0.1] user=<{ALICE}> "
                  "mech=PLAIN")
    # Implicit TLS with smtplib.
    with SMTP_SSL("mail.example.test", smtps, context=ctx) as c:
        c.ehlo()
        code, text = c.mail(ALICE)
        check(code == 530, f"smtps MAIL without AUTH: {code} {text!r}")
        c.rset()
        c.login(BOB, BOB_PW)
        refused = c.sendmail(BOB, ["erin@elsewhere.test"], MSG.replace(
            ALICE.encode(), BOB.encode()))
        check(refused == {}, refused)


def swaks_auth(inst, ca, sub, smtps):
    for mech, tls in (("LOGIN", ["-tls"]), ("PLAIN", ["-tls"]),
                      ("PLAIN", ["-tlsc"])):
        port = smtps if tls == ["-tlsc"] else sub
        out = subprocess.run(
            ["swaks", "--server", "127.0.0.1", "--port", str(port)] + tls +
            ["--tls-verify", "--tls-ca-path", ca.cert, "--auth", mech,
             "--auth-user", ALICE, "--auth-password", ALICE_PW,
             "--ehlo", "swaks.remote.test", "--from", ALICE,
             "--to", "frank@elsewhere.test"],
            capture_output=True, text=True, timeout=30)
        check(out.returncode == 0 and "235 2.7.0" in out.stdout and
              "250 2.0.0 Ok: queued as" in out.stdout,
              f"swaks {mech} {tls}: {out.stdout}{out.stderr}")


def cleartext_networks():
    inst = Instance("authclear", local_domains="example.test",
                    relay_domains="",
                    smtpd_auth_cleartext_networks="127.0.0.0/8")
    inst.start()
    add_user(inst, ALICE, ALICE_PW)
    r, text = session(inst.port)
    check("250-AUTH PLAIN LOGIN" in text, f"AUTH not offered: {text!r}")
    expect_code(r, "AUTH PLAIN " + plain(ALICE, ALICE_PW), 235)
    expect_code(r, f"MAIL FROM:<{ALICE}>", 250)
    expect_code(r, "RCPT TO:<dave@elsewhere.test>", 250)
    expect_code(r, "DATA", 354)
    qid = expect_code(r, MSG.decode() + ".", 250).rsplit(" ", 1)[1]
    r.close()
    wait_for(lambda: qid in inst.queue_ids(), f"{qid} in the queue")
    hdr = inst.spooled_content(qid).split(b"\r\n\r\n")[0].decode()
    check(f"with ESMTPA id {qid}" in hdr and "(using" not in hdr,
          f"AUTH without TLS: {hdr!r}")
    inst.stop()


def main():
    sub, smtps = free_port(), free_port()
    inst = Instance("auth", local_domains="example.test", relay_domains="",
                    listen_submission=f"127.0.0.1:{sub}",
                    listen_smtps=f"127.0.0.1:{smtps}", log_level="debug",
                    smtpd_auth_fail_limit=1000)
    ca = TestCA(inst.dir)
    cert, key = ca.issue("mail.example.test")
    inst.settings.update(tls_cert_files=cert, tls_key_files=key)
    inst.write_config()
    inst.start()
    # Users are added while the daemon runs: workers see them at once.
    for user, pw in ((ALICE, ALICE_PW), (BOB, BOB_PW), (CAROL, CAROL_PW)):
        add_user(inst, user, pw)
    ctl_input(inst, "user", "disable", CAROL)
    ctx = ca.client_context()
    before_tls(inst)
    good_auth(inst, ctx)
    bad_auth(inst, ctx)
    submission(inst, ctx, sub, smtps)
    swaks_auth(inst, ca, sub, smtps)
    cleartext_networks()
    inst.wait_log(f"smtp auth ok client=[127.0.0.1] user=<{ALICE}> "
                  "mech=LOGIN")
    log = inst.read_log()
    secrets = [ALICE_PW, BOB_PW, CAROL_PW, "wrong password", "not it"]
    secrets += [b64(p) for p in secrets]
    secrets += [plain(u, p) for u, p in ((ALICE, ALICE_PW), (BOB, BOB_PW),
                                          (CAROL, CAROL_PW))]
    for s in secrets:
        check(s not in log, f"secret {s!r} in the log")
    check("smtp state" in log, "log_level debug was not in effect")


run(main)
