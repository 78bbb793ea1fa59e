# SPDX-License-Identifier: ISC
"""Two concurrent IMAP sessions on one mailbox of a real buzond (Python's
imaplib): a flag change made by one (STORE, and \\Seen set by FETCH
BODY[]) reaches the other as an untagged FETCH FLAGS at its next command;
an expunge reaches it as an untagged EXPUNGE at its next NOOP, but never
during FETCH, STORE or SEARCH (RFC 3501 7.4.1: its sequence numbers stay
valid until then), while a UID FETCH may carry it; a new delivery over
LMTP shows as EXISTS; MOVE by one session shows in the other's mailbox
and as an expunge in its own."""
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from estafeta_test import run, wait_for  # noqa: E402
import imapmsgs as M  # noqa: E402

USER = "alice@example.test"


def pending(c, name):
    """Untagged responses of kind name collected so far (popped)."""
    return [x for x in c.response(name)[1] if x is not None]


def main():
    st = M.start_store()
    for i in range(1, 6):
        M.deliver(st, USER, M.PLAIN.replace("short", f"message {i}"))
    a = M.connect(st)
    b = M.connect(st)
    M.ok(a.select("INBOX"))
    M.ok(b.select("INBOX"))
    pending(b, "FETCH")
    pending(b, "EXPUNGE")

    # a's STORE reaches b at b's next command, as FETCH FLAGS
    M.ok(a.store("1", "+FLAGS", "(\\Flagged $Shared)"))
    M.ok(b.noop())
    got = [x.decode() for x in pending(b, "FETCH")]
    assert len(got) == 1 and got[0].startswith("1 (") and \
        "\\Flagged" in got[0] and "$Shared" in got[0], got
    # \Seen set by a's FETCH BODY[] too
    M.fetch(a, "2", "BODY[]")
    M.ok(b.noop())
    got = [x.decode() for x in pending(b, "FETCH")]
    assert any(g.startswith("2 (") and "\\Seen" in g for g in got), got
    assert "\\Seen" in M.flags_of(b, 2)
    # and b's change reaches a
    M.ok(b.store("3", "+FLAGS.SILENT", "(\\Answered)"))
    M.ok(a.noop())
    got = [x.decode() for x in pending(a, "FETCH")]
    assert any(g.startswith("3 (") and "\\Answered" in g for g in got), got

    # a expunges message 2; b sees no EXPUNGE during FETCH/STORE/SEARCH
    M.ok(a.store("2", "+FLAGS.SILENT", "(\\Deleted)"))
    typ, data = a.expunge()
    assert data == [b"2"], data
    r = M.fetch(b, "1:5", "UID")
    assert len(r) in (4, 5) and not pending(b, "EXPUNGE"), r
    assert r[0].startswith("1 FETCH") and r[-1].startswith("5 FETCH"), r
    M.ok(b.store("5", "+FLAGS", "(\\Draft)"))
    assert not pending(b, "EXPUNGE")
    found = M.ok(b.search(None, "ALL"))[0].split()
    assert found[-1] == b"5" and not pending(b, "EXPUNGE"), found
    # the next NOOP brings it
    M.ok(b.noop())
    M.expect(pending(b, "EXPUNGE"), [b"2"], "EXPUNGE at NOOP")
    found = M.ok(b.search(None, "ALL"))[0].split()
    M.expect(found, [b"1", b"2", b"3", b"4"], "numbers after EXPUNGE")
    # a UID FETCH may carry an expunge (UID commands are exempt)
    M.ok(a.store("1", "+FLAGS.SILENT", "(\\Deleted)"))
    M.ok(a.expunge())
    M.ok(b.uid("FETCH", "1:*", "(FLAGS)"))
    if not pending(b, "EXPUNGE"):
        M.ok(b.noop())
        M.expect(pending(b, "EXPUNGE"), [b"1"], "EXPUNGE after UID FETCH")

    # a delivery shows as EXISTS in both
    M.deliver(st, USER, M.PLAIN.replace("short", "message 6"))

    def exists(c):
        M.ok(c.noop())
        e = pending(c, "EXISTS")
        return e and e[-1] == b"4"
    wait_for(lambda: exists(a), "EXISTS 4 in session a")
    wait_for(lambda: exists(b), "EXISTS 4 in session b")

    # MOVE by a: gone from INBOX in b, present in the target
    M.ok(a.create("Later"))
    typ, data = a._simple_command("MOVE", "1", "Later")
    assert typ == "OK", (typ, data)
    M.ok(b.noop())
    M.expect(pending(b, "EXPUNGE"), [b"1"], "MOVE seen by b")
    M.ok(b.select("Later", readonly=True))
    r = M.fetch(b, "1:*", "BODY.PEEK[TEXT]")
    assert len(r) == 1 and "message 3" in r[0], r
    assert re.search(r"\\Answered", M.fetch(b, "1", "FLAGS")[0])
    a.logout()
    b.logout()


run(main)
