# SPDX-License-Identifier: ISC
"""SMTP error paths with their exact reply codes (RFC 5321, RFC 3463
enhanced codes): unknown and out-of-sequence commands, address and
parameter syntax, ESMTP parameters after HELO, overlong and bare-LF
command lines (the session stays usable), the informational verbs, RSET,
EHLO resetting the transaction, QUIT, and the error limit
(smtpd_error_limit, default 10 and a configured 3: 421 4.7.0 and close)."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from estafeta_test import Instance, Raw, TestFailure, run  # noqa: E402


def check(c, line, want):
    """Sends line (None: just read) and wants a reply starting with want
    ("500 5.5.2" or "250"); returns the reply text."""
    code, text = c.cmd(line) if line is not None else c.reply()
    if not text.startswith(want):
        raise TestFailure(f"{line!r}: expected {want!r}, got {text!r}")
    return text


def session(inst, ehlo="EHLO client.test"):
    c = Raw(inst.port)
    check(c, None, "220 mx.example.test")
    if ehlo:
        check(c, ehlo, "250")
    return c


def sequence_errors(inst):
    c = session(inst, ehlo=None)
    check(c, "FOO bar", "500 5.5.2")
    check(c, "MAIL FROM:<bob@remote.test>", "503 5.5.1")
    check(c, "RCPT TO:<alice@example.test>", "503 5.5.1")
    check(c, "EHLO", "501 5.5.4")
    # A failed EHLO does not greet.
    check(c, "MAIL FROM:<bob@remote.test>", "503 5.5.1")
    check(c, "EHLO client.test", "250")
    check(c, "RCPT TO:<alice@example.test>", "503 5.5.1")
    check(c, "DATA", "503 5.5.1")
    check(c, "MAIL FROM:<bob@remote.test>", "250 2.1.0")
    check(c, "DATA", "503 5.5.1")
    check(c, "MAIL FROM:<bob@remote.test>", "503 5.5.1")
    check(c, "QUIT", "221 2.0.0")
    if not c.closed():
        raise TestFailure("connection not closed after QUIT")
    if c.buf:
        raise TestFailure(f"bytes after 221: {c.buf!r}")


def syntax_errors(inst):
    c = session(inst)
    check(c, "MAIL FROM:<bob remote.test>", "501 5.1.7")
    check(c, "MAIL FROM:bob@remote.test", "501 5.1.7")
    check(c, "MAIL FROM:<bob@remote.test> FOO=bar", "555 5.5.4")
    check(c, "MAIL FROM:<bob@remote.test> BODY=BINARYMIME", "555 5.5.4")
    check(c, "MAIL TO:<bob@remote.test>", "501 5.5.4")
    check(c, "QUIT", "221")
    c.close()
    c = session(inst)   # a fresh error count
    check(c, "MAIL FROM:<bob@remote.test>", "250 2.1.0")
    check(c, "RCPT TO:<alice@@example.test>", "501 5.1.3")
    check(c, "RCPT TO:<alice@example.test> FOO=bar", "555 5.5.4")
    check(c, "RCPT TO:<carol@elsewhere.test>", "554 5.7.1")
    check(c, "RCPT TO:<alice@example.test>", "250 2.1.5")
    check(c, "DATA now", "501 5.5.4")
    check(c, "EHLO ", "501 5.5.4")
    check(c, "RSET", "250 2.0.0")
    check(c, "QUIT", "221")
    c.close()


def helo_params(inst):
    """ESMTP parameters need EHLO (RFC 5321 4.1.1.11 / RFC 1869)."""
    c = session(inst, ehlo="HELO client.test")
    check(c, "MAIL FROM:<bob@remote.test> SIZE=100", "555 5.5.4")
    check(c, "MAIL FROM:<bob@remote.test> BODY=8BITMIME", "555 5.5.4")
    check(c, "MAIL FROM:<bob@remote.test> RET=HDRS", "555 5.5.4")
    check(c, "MAIL FROM:<bob@remote.test>", "250 2.1.0")
    check(c, "RCPT TO:<alice@example.test> NOTIFY=SUCCESS", "555 5.5.4")
    check(c, "RCPT TO:<alice@example.test> ORCPT=rfc822;a@example.test",
          "555 5.5.4")
    check(c, "RCPT TO:<alice@example.test>", "250 2.1.5")
    check(c, "RSET", "250")
    # A failed EHLO after HELO must not switch ESMTP on.
    check(c, "EHLO", "501 5.5.4")
    check(c, "MAIL FROM:<bob@remote.test> SIZE=100", "555 5.5.4")
    check(c, "QUIT", "221")
    c.close()


def line_errors(inst):
    c = session(inst)
    # 512 octets with CRLF is the RFC 5321 maximum: accepted.
    check(c, "NOOP " + "x" * 505, "250")
    check(c, "NOOP " + "x" * 506, "500 5.5.2 Error: line too long")
    check(c, "NOOP", "250 2.0.0")
    # Much longer than one read: one reply, then back in step.
    c.send("MAIL FROM:<" + "y" * 100000 + "@remote.test>\r\nNOOP\r\n")
    check(c, None, "500 5.5.2 Error: line too long")
    check(c, None, "250 2.0.0")
    # Bare LF and NUL inside a command line.
    c.send("NOOP\n")
    check(c, None, "500 5.5.2")
    c.send("NO\0OP\r\n")
    check(c, None, "500 5.5.2")
    check(c, "MAIL FROM:<bob@remote.test>", "250 2.1.0")
    check(c, "QUIT", "221")
    c.close()


def info_verbs(inst):
    c = session(inst)
    check(c, "VRFY alice@example.test", "252 2.5.2")
    check(c, "EXPN staff", "502 5.5.1")
    check(c, "HELP", "214")
    check(c, "NOOP", "250 2.0.0")
    check(c, "noop", "250 2.0.0")
    # RSET clears the transaction.
    check(c, "MAIL FROM:<bob@remote.test>", "250")
    check(c, "RCPT TO:<alice@example.test>", "250")
    check(c, "RSET", "250 2.0.0")
    check(c, "RCPT TO:<alice@example.test>", "503 5.5.1")
    check(c, "DATA", "503 5.5.1")
    check(c, "MAIL FROM:<bob@remote.test>", "250")
    # So does a new EHLO (RFC 5321 4.1.4).
    check(c, "RCPT TO:<alice@example.test>", "250")
    check(c, "EHLO again.client.test", "250")
    check(c, "RCPT TO:<alice@example.test>", "503 5.5.1")
    check(c, "QUIT", "221 2.0.0")
    if not c.closed():
        raise TestFailure("connection not closed after QUIT")
    c.close()


def error_limit(inst):
    """The default smtpd_error_limit is 10: the 10th error's reply is
    followed by 421 4.7.0 and the close; successes in between do not
    count."""
    c = session(inst)
    for i in range(9):
        check(c, f"BOGUS{i}", "500 5.5.2")
        check(c, "NOOP", "250")
    check(c, "RCPT TO:<alice@example.test>", "503 5.5.1")
    check(c, None, "421 4.7.0 mx.example.test")
    if not c.closed():
        raise TestFailure("connection not closed after 421")
    c.close()
    inst.wait_log("smtp too many errors client=[127.0.0.1] errors=10")
    # Errors are per session: a new one starts from zero.
    c = session(inst)
    for i in range(9):
        check(c, "BOGUS", "500 5.5.2")
    check(c, "QUIT", "221")
    c.close()


def main():
    inst = Instance("errors").start()
    sequence_errors(inst)
    syntax_errors(inst)
    helo_params(inst)
    line_errors(inst)
    info_verbs(inst)
    error_limit(inst)
    if inst.queue_ids():
        raise TestFailure(f"something was queued: {inst.queue()}")
    inst.stop()

    # A configured limit: the third error ends the session.
    low = Instance("errors-low", smtpd_error_limit=3).start()
    c = session(low)
    check(c, "MAIL FROM:<bad address>", "501 5.1.7")
    check(c, "DATA", "503 5.5.1")
    check(c, "EXPN x", "502 5.5.1")
    check(c, None, "421 4.7.0")
    if not c.closed():
        raise TestFailure("connection not closed after 421")
    c.close()
    low.wait_log("smtp too many errors client=[127.0.0.1] errors=3")
    low.stop()


run(main)
