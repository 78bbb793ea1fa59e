# SPDX-License-Identifier: ISC
"""buzond's IMAP server against malformed and hostile input, over raw
sockets:

  * a battery of malformed commands (bad tags, unknown commands, missing
    or extra arguments, unbalanced parentheses and brackets, bad literals,
    bad quoting, control and 8-bit octets, wrong states, a 100 KiB line,
    deep nesting): each gets BAD (tagged, or "* BAD" when there is no
    tag), never a crash, and the session goes on (a NOOP after each is
    answered OK); the same battery before and after login;
  * a bad literal in the middle of a line with a {n+} literal after it
    is skipped whole (its octets are not run as a command);
  * imap_error_limit: past it the session ends with BYE;
  * timeouts: a client that says nothing before logging in is
    disconnected with BYE after imap_login_timeout, an authenticated one
    after imap_idle_timeout (autologout), and buzond still serves others;
  * clear text sent to the implicit-TLS port: handshake failure, closed,
    logged (outcome=tls_failed), buzond unaffected;
  * no sanitizer report in the log (checked by the harness).
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from estafeta_test import Store, run  # noqa: E402
from imapraw import ImapRaw, check, has  # noqa: E402

ALICE, PW = "alice@example.test", "alice-pw-84"

BATTERY = [
    b"", b" ", b"*", b"a", b"+ NOOP", b"a\tNOOP", b"a NO\x01OP",
    b"a NOOP extra", b"a FOO", b"a UID", b"a UID NOOP", b"a UID FETCH",
    b"a LOGIN", b"a LOGIN a b c", b"a SELECT", b"a SELECT (INBOX)",
    b"a LIST", b'a LIST ""', b"a STATUS INBOX", b"a STATUS INBOX ()",
    b"a APPEND", b"a APPEND INBOX", b"a CREATE", b"a RENAME x",
    b"a ID", b'a ID ("a")', b"a NOOP (", b"a NOOP )", b"a NOOP ((a)",
    b'a NOOP "unterminated', b'a NOOP "bad\\escape"', b"a NOOP {x}",
    b"a NOOP {99999999999999999999}", b"a NOOP {-1}", b"a NOOP [",
    b"a FETCH 1 BODY[", b"a NOOP \xff\xfe", b"a NOOP \x00",
    b"a NOOP " + b"(" * 100 + b")" * 100,
    b"a NOOP " + b"x" * 100000,
    b"a NOOP " + b"y " * 20000,
    b"a STARTTLS extra", b"a AUTHENTICATE", b"a AUTHENTICATE PLAIN a b",
    b"a AUTHENTICATE PLAIN !!!", b"a ENABLE", b"a IDLE now",
]


def battery(c, when):
    for i, bad in enumerate(BATTERY):
        c.send(bad + b"\r\n")
        typ, lines = c.cmd(f"ok{i} NOOP")
        check(typ == "OK", f"{when}: session broken after {bad[:60]!r}: "
              f"{lines}")
        check(any(" BAD " in ln or ln.startswith("* BAD")
                  for ln in lines[:-1]) or
              any(ln.startswith("a BAD") for ln in lines),
              f"{when}: no BAD for {bad[:60]!r}: {lines}")


def main():
    st = Store("imap-robust", imap_error_limit=500,
               imap_login_timeout="2s", imap_idle_timeout="3s")
    st.add_user(ALICE, PW)
    st.start()
    ctx = st.ca.client_context()

    c = ImapRaw(st.imaps_port, ctx=ctx, implicit=True)
    battery(c, "before login")
    c.expect(f'l LOGIN {ALICE} "{PW}"', "OK")
    battery(c, "after login")
    c.expect("s SELECT INBOX", "OK")
    # A bad token, then a {n+} literal whose octets look like a command.
    c.send("b NOOP \x01 {15+}\r\nx CREATE Evil\r\n\r\n")
    typ, lines = c.until("b")
    check(typ == "BAD", lines)
    typ, lines = c.cmd('y LIST "" *')
    check(not has(lines, "Evil"), f"literal octets ran as a command: "
          f"{lines}")
    c.expect("z LOGOUT", "OK")

    # Error limit (the default: 20).
    st2 = Store("imap-robust2", tls=False,
                auth_cleartext_networks="127.0.0.0/8")
    st2.start()
    c = ImapRaw(st2.imap_port)
    c.send(b"".join(b"e%d BOGUS\r\n" % i for i in range(30)))
    bads = 0
    while True:
        ln = c.line()
        if ln.startswith("* BYE"):
            break
        if " BAD " in ln:
            bads += 1
    check(bads == 20, f"{bads} BADs before BYE")
    check(c.closed(), "open after BYE")

    # Timeouts: waited for by the socket's own deadline.
    c1 = ImapRaw(st.imaps_port, ctx=ctx, implicit=True, timeout=20)
    c2 = ImapRaw(st.imaps_port, ctx=ctx, implicit=True, timeout=20)
    c2.expect(f'l LOGIN {ALICE} "{PW}"', "OK")
    check(c1.line().startswith("* BYE"), "no BYE before login timeout")
    check(c1.closed(), "open after login timeout")
    check(c2.line().startswith("* BYE"), "no autologout")
    check(c2.closed(), "open after autologout")
    # Clear text on the implicit-TLS port: the handshake fails, the
    # connection closes, buzond goes on.
    import socket
    raw = socket.create_connection(("127.0.0.1", st.imaps_port), timeout=10)
    raw.sendall(b"a LOGIN alice pw\r\n" * 20)
    try:
        while raw.recv(4096):
            pass
    except ConnectionResetError:
        pass
    raw.close()
    c3 = ImapRaw(st.imaps_port, ctx=ctx, implicit=True)
    c3.expect(f'l LOGIN {ALICE} "{PW}"', "OK")
    c3.expect("z LOGOUT", "OK")
    log = st.read_log()
    check("outcome=timeout" in log, "no timeout outcome in the log")
    check("outcome=tls_failed" in log, "no tls_failed outcome in the log")


run(main)
