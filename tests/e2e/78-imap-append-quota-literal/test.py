# SPDX-License-Identifier: ISC
"""An APPEND whose message literal alone exceeds the room the quota leaves
is refused when its size is announced, not after it was sent.

For a synchronizing literal (`{N}`) buzond answers `tag NO [OVERQUOTA]`
instead of the `+` continuation (RFC 3501 7.5, RFC 9208 4.3.1): the
client sends nothing more for that command. A non-synchronizing literal
(`{N+}`, LITERAL+ of RFC 7888) is on its way anyway: its octets and the
rest of its line are read and dropped (never taken for commands), then
the same NO. The session stays usable after both, nothing is stored, a
literal within the room still gets its `+`, and a mailbox name given as a
literal is not taken for the message. Talks raw bytes over a socket.

Before the fix buzond sent `+ Ready for literal data` and read the whole
message before refusing it.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from estafeta_test import Store, TestFailure, run  # noqa: E402
from imapraw import ImapRaw  # noqa: E402

USER = "alice@example.test"
QUOTA = 20000


def check(cond, what):
    if not cond:
        raise TestFailure(what)


def message(tag, size):
    head = f"Subject: {tag}\r\n\r\n".encode()
    body = (b"x NOOP\r\n" * (size // 8 + 1))[:size - len(head) - 2]
    return head + body + b"\r\n"


def exists(c):
    lines = c.expect("s1 SELECT INBOX", "OK")
    n = [ln.split()[1] for ln in lines if ln.endswith(" EXISTS")]
    c.expect("s2 UNSELECT", "OK")
    return int(n[0])


def main():
    st = Store("append-quota-literal", tls=False,
               auth_cleartext_networks="127.0.0.0/8")
    st.add_user(USER, "pw", quota=QUOTA)
    st.start()
    c = ImapRaw(st.imap_port)
    check("LITERAL+" in c.greeting, f"greeting {c.greeting}")
    c.expect("l LOGIN alice@example.test pw", "OK")

    # Within the room: the continuation, then stored.
    m = message("first", 12000)
    c.send(f"a1 APPEND INBOX {{{len(m)}}}\r\n")
    ln = c.line()
    check(ln.startswith("+"), f"within the quota: {ln!r}")
    c.send(m + b"\r\n")
    typ, lines = c.until("a1")
    check(typ == "OK", f"APPEND within the quota: {lines}")
    check(exists(c) == 1, "one message")

    # {N} over the room: NO at once, no continuation, nothing sent.
    c.send("a2 APPEND INBOX (\\Seen) {9000}\r\n")
    ln = c.line()
    check(ln.startswith("a2 NO [OVERQUOTA]"),
          f"{{9000}} over the quota: {ln!r} (a continuation?)")
    c.expect("a3 NOOP", "OK")
    check(exists(c) == 1, "the refused APPEND stored something")

    # {N+} over the room: dropped octets, then NO; its lines (x NOOP)
    # are not run as commands.
    m = message("second", 9000)
    c.send(f"a4 APPEND INBOX {{{len(m)}+}}\r\n".encode() + m + b"\r\n")
    typ, lines = c.until("a4")
    check(typ == "NO" and "[OVERQUOTA]" in lines[-1] and len(lines) == 1,
          f"{{N+}} over the quota: {lines}")
    c.expect("a5 NOOP", "OK")
    check(exists(c) == 1, "the refused {N+} APPEND stored something")

    # A mailbox name as a literal is not the message.
    c.send("a6 APPEND {5}\r\n")
    ln = c.line()
    check(ln.startswith("+"), f"mailbox literal: {ln!r}")
    c.send("INBOX {9000}\r\n")
    ln = c.line()
    check(ln.startswith("a6 NO [OVERQUOTA]"), f"after a name literal: {ln}")

    # A small one still fits after the refusals.
    m = message("small", 300)
    c.send(f"a7 APPEND INBOX {{{len(m)}}}\r\n")
    check(c.line().startswith("+"), "small APPEND continuation")
    c.send(m + b"\r\n")
    typ, lines = c.until("a7")
    check(typ == "OK", f"small APPEND: {lines}")
    check(exists(c) == 2, "two messages")
    c.expect("z LOGOUT", "OK")
    c.close()
    log = st.read_log()
    check("rule=quota used=12000 literal=sync" in log and
          "rule=quota used=12000 literal=nonsync" in log,
          "refusals not logged")


run(main)
