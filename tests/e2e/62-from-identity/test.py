# SPDX-License-Identifier: ISC
"""Sender identity on submission: an authenticated user may put only its
own address (or those mapped to it with `estafetactl sender add`) in the
message's From: header, through DATA and BDAT alike; the MAIL parameter
AUTH= (RFC 4954 5) is accepted. Unauthenticated MX mail is not checked."""
import base64
import os
import smtplib
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from estafeta_test import (ESTAFETACTL, Instance, Raw, TestFailure,  # noqa: E402
                           free_port, run, wait_for)

PW = "s3cret-Alice"


def msg(from_hdr, extra=""):
    return (f"From: {from_hdr}\r\nTo: bob@example.org\r\n{extra}"
            f"Subject: identity\r\n\r\nHello.\r\n").encode()


def send(port, from_hdr, extra="", mail_opts=()):
    with smtplib.SMTP("127.0.0.1", port) as c:
        c.ehlo("client.test")
        c.login("alice@example.test", PW)
        code, text = c.mail("alice@example.test", list(mail_opts))
        if code != 250:
            return code, text
        code, text = c.rcpt("bob@example.org")
        assert code == 250, (code, text)
        return c.data(msg(from_hdr, extra))


def main():
    sub = free_port()
    inst = Instance("from", local_domains="example.test", relay_domains="",
                    listen_submission=f"127.0.0.1:{sub}",
                    smtpd_auth_cleartext_networks="127.0.0.0/8")
    inst.start()
    # Added while the daemon runs: workers see it at once.
    r = subprocess.run([ESTAFETACTL, "-c", inst.conf, "user", "add",
                        "alice@example.test"], input=PW + "\n",
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr

    # Own address, display name, comment, folding: accepted.
    for hdr in ("alice@example.test", "Alice <alice@example.test>",
                "\"Smith, Alice\" <ALICE@Example.TEST> (work)"):
        code, text = send(sub, hdr)
        if code != 250:
            raise TestFailure(f"From: {hdr!r} refused: {code} {text!r}")
    code, text = send(sub, "\r\n Alice <alice@example.test>")
    assert code == 250, (code, text)

    # Someone else's address, anywhere in the field: 553 5.7.1.
    for hdr in ("ceo@example.test", "Alice <alice@example.test>, "
                "evil@example.net", "\"alice@example.test\" <ceo@example.test>",
                "Alice\r\n <ceo@example.test>", "<broken"):
        code, text = send(sub, hdr)
        if code != 553 or b"5.7.1" not in text:
            raise TestFailure(f"From: {hdr!r} accepted: {code} {text!r}")
    # A second From: field is checked too.
    code, text = send(sub, "alice@example.test", "From: ceo@example.test\r\n")
    assert code == 553, (code, text)
    inst.wait_log("rule=from_login")

    # Mapped with estafetactl: now allowed, for the whole domain.
    inst.ctl("sender", "add", "alice@example.test", "@example.net")
    code, text = send(sub, "Sales <x@example.net>")
    assert code == 250, (code, text)

    # AUTH= on MAIL (RFC 4954): <> and an xtext mailbox.
    code, text = send(sub, "alice@example.test", mail_opts=["AUTH=<>"])
    assert code == 250, (code, text)
    code, text = send(sub, "alice@example.test",
                      mail_opts=["AUTH=alice+40example.test"])
    assert code == 250, (code, text)
    code, text = send(sub, "alice@example.test", mail_opts=["AUTH=a+4"])
    assert code == 501, (code, text)

    # AUTH lines may be 12288 octets (RFC 4954 4): a long one is read
    # and judged on its content; other commands keep the 512 limit.
    c = Raw(sub)
    c.expect(None, 220)
    c.expect("EHLO client.test", 250)
    long_ir = base64.b64encode(b"x" * 520).decode()
    code, text = c.cmd("AUTH PLAIN " + long_ir)
    assert code == 501 and "too long" not in text, text
    code, text = c.cmd("MAIL FROM:<" + "a" * 600 + "@example.test>")
    assert code == 500 and "too long" in text, text
    c.expect("QUIT", 221)

    # BDAT carries the same check.
    c = Raw(sub)
    c.expect(None, 220)
    c.expect("EHLO client.test", 250)
    cred = base64.b64encode(b"\0alice@example.test\0" + PW.encode()).decode()
    c.expect("AUTH PLAIN " + cred, 235)
    c.expect("MAIL FROM:<alice@example.test>", 250)
    c.expect("RCPT TO:<bob@example.org>", 250)
    body = msg("ceo@example.test")
    c.send(f"BDAT {len(body)} LAST\r\n".encode() + body)
    code, text = c.reply()
    assert code == 553 and "5.7.1" in text, text
    c.expect("QUIT", 221)

    # Not authenticated (MX port, local recipient): From is not ours to
    # police there (DMARC will be).
    with smtplib.SMTP("127.0.0.1", inst.port) as mx:
        mx.ehlo("remote.test")
        mx.mail("someone@remote.test")
        assert mx.rcpt("alice@example.test")[0] == 250
        code, text = mx.data(msg("ceo@example.test"))
        assert code == 250, (code, text)
    # 4 own-address, 1 mapped domain, 2 AUTH=, 1 MX: nothing refused.
    want = 8
    wait_for(lambda: len(inst.queue_ids()) == want,
             f"{want} messages queued (refused ones must not be)")


run(main)
