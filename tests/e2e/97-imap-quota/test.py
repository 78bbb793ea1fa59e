# SPDX-License-Identifier: ISC
"""The mailbox quota holds for IMAP APPEND and COPY, not only for LMTP.

A user's quota (estafetactl user quota, else default_quota) is the sum of
the sizes of every folder. APPEND or COPY that would take the store past
it answers NO [OVERQUOTA] (RFC 9208 4.3.1) and changes nothing: no message
in the mailbox, no file left in tmp/ or new/, a COPY of several messages
copies none. Within the quota both still work. MOVE is not checked (it
never changes the usage): a user near the quota can still move mail.
buzond does not implement the QUOTA extension's commands, so it must not
advertise QUOTA. Before the fix APPEND and COPY ignored the quota.
"""
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from estafeta_test import TestFailure, run  # noqa: E402
import imapmsgs as M  # noqa: E402

ALICE = "alice@example.test"	# own quota
BOB = "bob@example.test"	# default_quota
QUOTA = 4000
DEFAULT = 2500


def check(cond, what):
    if not cond:
        raise TestFailure(what)


def message(tag, size):
    head = f"Subject: {tag}\r\n\r\n"
    return (head + "x" * (size - len(head) - 2) + "\r\n").encode()


def count(c, mailbox):
    data = M.ok(c.status(mailbox, "(MESSAGES)"))[0].decode()
    return int(re.search(r"MESSAGES (\d+)", data).group(1))


def files(st, user, folder=""):
    """Names in tmp/, new/ and cur/ of a folder."""
    base = st.maildir(user)
    if folder:
        base = os.path.join(base, "." + folder)
    return {sub: sorted(os.listdir(os.path.join(base, sub)))
            for sub in ("tmp", "new", "cur")}


def refused(resp, what):
    typ, data = resp
    check(typ == "NO" and data[0].startswith(b"[OVERQUOTA]"),
          f"{what}: {typ} {data}")


def main():
    st = M.start_store(users=(), default_quota=DEFAULT)
    st.add_user(ALICE, M.PASSWORD, quota=QUOTA)
    st.add_user(BOB, M.PASSWORD)
    c = M.connect(st, ALICE)
    caps = " ".join(c.capabilities)
    check("QUOTA" not in caps, f"QUOTA advertised: {caps}")

    # APPEND within the quota, then one past it.
    for tag in ("a", "b"):
        typ, data = c.append("INBOX", None, None, message(tag, 1500))
        check(typ == "OK", f"APPEND {tag}: {typ} {data}")
    before = files(st, ALICE)
    refused(c.append("INBOX", None, None, message("c", 1500)),
            "APPEND past the quota")
    check(count(c, "INBOX") == 2, "the refused APPEND was stored")
    check(files(st, ALICE) == before,
          f"files changed: {before} -> {files(st, ALICE)}")
    typ, data = c.append("INBOX", None, None, message("small", 400))
    check(typ == "OK", f"APPEND within the quota: {typ} {data}")

    # COPY: all three (3400 more) do not fit: nothing copied; one does.
    M.ok(c.create("Archive"))
    M.ok(c.select("INBOX"))
    refused(c.copy("1:3", "Archive"), "COPY past the quota")
    check(count(c, "Archive") == 0, "the refused COPY copied something")
    check(files(st, ALICE, "Archive") ==
          {"tmp": [], "new": [], "cur": []},
          f"Archive files: {files(st, ALICE, 'Archive')}")
    refused(c._simple_command("UID", "COPY", "1:2", "Archive"),
            "UID COPY past the quota")
    typ, data = c.copy("3", "Archive")
    check(typ == "OK", f"COPY within the quota: {typ} {data}")
    check(count(c, "Archive") == 1, "COPY within the quota")
    # Now 3800 of 4000 are used: a 1500-octet message cannot be copied,
    # and still moves (the usage stays 3800).
    refused(c.copy("1", "Archive"), "COPY of a big one")
    typ, data = c._simple_command("MOVE", "1", "Archive")
    check(typ == "OK", f"MOVE near the quota: {typ} {data}")
    c.response("MOVE")
    check(count(c, "Archive") == 2, "MOVE near the quota")
    check(sum(len(m.replace(b"\n", b"\r\n"))
              for f in ("", "Archive") for m in st.messages(ALICE, f))
          <= QUOTA, "over the quota")
    c.logout()

    # default_quota holds for users without their own.
    b = M.connect(st, BOB)
    typ, data = b.append("INBOX", None, None, message("b1", 2000))
    check(typ == "OK", f"bob's APPEND: {typ} {data}")
    refused(b.append("INBOX", None, None, message("b2", 600)),
            "APPEND past default_quota")
    check(count(b, "INBOX") == 1, "bob's refused APPEND was stored")
    b.logout()
    st.wait_log(f"imap append refused user={ALICE} size=1500 quota=4000 "
                "rule=quota")
    st.wait_log(f"imap copy refused user={ALICE} size=3400")


run(main)
