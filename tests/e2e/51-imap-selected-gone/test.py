# SPDX-License-Identifier: ISC
"""A selected mailbox that goes away under its name, in buzond's IMAP:

  * A (imaplib) selects "Work"; B renames it to "Archive": A's next NOOP
    gets "* BYE" and the connection ends (imaplib raises abort with the
    BYE text); B finds A's messages, bodies and flags under "Archive";
  * A2 selects "Old"; B deletes it: A2's next NOOP gets the BYE;
  * A3 selects "Proj"; B renames it and creates a new "Proj" (another
    UIDVALIDITY): A3's next command gets the BYE, never the new mailbox's
    contents under the old numbering;
  * a message command (FETCH) on a mailbox renamed away is not run: the
    BYE comes first;
  * "Par.Kid" selected, "Par" renamed to "Dad": the child moved with it,
    so its session gets the BYE too and "Dad.Kid" has the messages;
  * a session in IDLE on a mailbox renamed elsewhere gets the BYE without
    sending anything (its inotify wake-up; waited for with a deadline);
  * another program removes a folder's Maildir directory: the session that
    has it selected gets the BYE at its next command;
  * buzond logs each case, and still serves B afterwards.
"""
import imaplib
import os
import shutil
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from estafeta_test import Store, TestFailure, run  # noqa: E402
from imapraw import ImapRaw, check  # noqa: E402

ALICE, PW = "alice@example.test", "alice-pw-51"
BYE_TEXT = "deleted or renamed"


def login(st, ctx):
    m = imaplib.IMAP4_SSL("127.0.0.1", st.imaps_port, ssl_context=ctx,
                          timeout=15)
    m.login(ALICE, PW)
    return m


def raw(st, ctx):
    c = ImapRaw(st.imaps_port, ctx=ctx, implicit=True, timeout=15)
    c.expect(f'l LOGIN {ALICE} "{PW}"', "OK")
    return c


def fill(m, box, n):
    typ, _ = m.create(box)
    check(typ == "OK", f"CREATE {box}")
    for i in range(n):
        typ, _ = m.append(box, "(\\Flagged)" if i == 0 else None, None,
                          f"Subject: {box} {i}\r\n\r\nbody {box} {i}\r\n"
                          .encode())
        check(typ == "OK", f"APPEND {box} {i}")


def expect_bye(m, what, call):
    """call() on imaplib session m must end with the BYE (abort)."""
    try:
        call()
    except imaplib.IMAP4.abort as e:
        check(BYE_TEXT in str(e), f"{what}: abort without the BYE: {e}")
        return
    raise TestFailure(f"{what}: no BYE; the session went on")


def bodies(m, box):
    typ, data = m.select(box)
    check(typ == "OK", f"SELECT {box}: {data}")
    n = int(data[0])
    typ, data = m.fetch(f"1:{n}", "(FLAGS BODY.PEEK[])") if n else \
        ("OK", [])
    check(typ == "OK", f"FETCH {box}")
    out = []
    for item in data:
        if isinstance(item, tuple):
            out.append((b"\\Flagged" in item[0], item[1]))
    m.unselect()
    return out


def main():
    st = Store("imap-gone")
    st.add_user(ALICE, PW)
    st.start()
    ctx = st.ca.client_context()
    b = login(st, ctx)
    fill(b, "Work", 3)
    fill(b, "Old", 1)
    fill(b, "Proj", 2)
    fill(b, "Idle", 2)
    fill(b, "Ext", 1)
    fill(b, "Fetch", 1)
    fill(b, "Par.Kid", 2)
    work_before = bodies(b, "Work")
    check(len(work_before) == 3 and work_before[0][0], work_before)

    # Rename of the selected mailbox.
    a = login(st, ctx)
    typ, data = a.select("Work")
    check(typ == "OK" and data == [b"3"], data)
    typ, _ = a.store("2", "+FLAGS", "(\\Seen)")
    check(typ == "OK", "STORE")
    typ, _ = b.rename("Work", "Archive")
    check(typ == "OK", "RENAME Work Archive")
    expect_bye(a, "NOOP after RENAME", a.noop)
    after = bodies(b, "Archive")
    check([x[1] for x in after] == [x[1] for x in work_before],
          "messages lost or changed by the rename")
    check(after[0][0], "\\Flagged lost")
    typ, data = b.status("Archive", "(MESSAGES UNSEEN)")
    check(typ == "OK" and b"MESSAGES 3" in data[0] and
          b"UNSEEN 2" in data[0], data)
    typ, data = b.select("Work")
    check(typ == "NO", f"Work still selectable: {data}")

    # Delete of the selected mailbox (another connection).
    a2 = login(st, ctx)
    typ, data = a2.select("Old")
    check(typ == "OK" and data == [b"1"], data)
    typ, _ = b.delete("Old")
    check(typ == "OK", "DELETE Old")
    expect_bye(a2, "NOOP after DELETE", a2.noop)

    # Renamed away and replaced by a new mailbox of the same name.
    a3 = login(st, ctx)
    typ, data = a3.select("Proj")
    check(typ == "OK" and data == [b"2"], data)
    typ, _ = b.rename("Proj", "Proj2")
    check(typ == "OK", "RENAME Proj Proj2")
    typ, _ = b.create("Proj")
    check(typ == "OK", "CREATE Proj")
    expect_bye(a3, "CHECK after RENAME+CREATE", a3.check)
    check(len(bodies(b, "Proj2")) == 2, "Proj2 lost messages")

    # A message command is not run on a mailbox renamed away.
    a4 = login(st, ctx)
    typ, data = a4.select("Fetch")
    check(typ == "OK", data)
    typ, _ = b.rename("Fetch", "Fetched")
    check(typ == "OK", "RENAME Fetch")
    expect_bye(a4, "FETCH after RENAME",
               lambda: a4.fetch("1", "(BODY.PEEK[])"))
    check(len(bodies(b, "Fetched")) == 1, "Fetched lost its message")

    # The parent renamed: the selected child moves with it.
    a5 = login(st, ctx)
    typ, data = a5.select("Par.Kid")
    check(typ == "OK" and data == [b"2"], data)
    typ, _ = b.rename("Par", "Dad")
    check(typ == "OK", "RENAME Par Dad")
    expect_bye(a5, "NOOP after the parent's RENAME", a5.noop)
    check(len(bodies(b, "Dad.Kid")) == 2, "Dad.Kid lost messages")

    # IDLE: told without sending anything.
    c = raw(st, ctx)
    c.expect("s SELECT Idle", "OK")
    c.send("i IDLE\r\n")
    check(c.line().startswith("+ "), "no IDLE continuation")
    typ, _ = b.rename("Idle", "Idled")
    check(typ == "OK", "RENAME Idle")
    while True:     # the socket timeout (15 s) is the deadline
        ln = c.line()
        check(not ln.startswith("i "), f"tagged reply instead of BYE: {ln}")
        if ln.startswith("* BYE"):
            check(BYE_TEXT in ln, ln)
            break
    check(c.closed(), "connection left open after the BYE in IDLE")
    check(len(bodies(b, "Idled")) == 2, "Idled lost messages")

    # Another program removes the Maildir directory.
    e = raw(st, ctx)
    e.expect("s SELECT Ext", "OK")
    shutil.rmtree(os.path.join(st.maildir(ALICE), ".Ext"))
    e.send("f FETCH 1 (FLAGS)\r\n")
    ln = e.line()
    check(ln.startswith("* BYE") and BYE_TEXT in ln, ln)
    check(e.closed(), "connection left open after the BYE")

    # B is still served; the log names each case.
    typ, data = b.list()
    check(typ == "OK", data)
    got = b"\n".join(data)
    for name in (b"Archive", b"Proj2", b"Fetched", b"Idled", b'"Proj"',
                 b"Dad.Kid"):
        check(name in got, f"{name} missing from LIST: {got}")
    for name in (b'"Work"', b'"Old"', b'"Ext"', b'"Idle"', b"Par.Kid"):
        check(name not in got, f"{name} still listed: {got}")
    b.logout()
    st.wait_log("imap selected mailbox gone", count=7)
    st.wait_log("outcome=mailbox_gone", count=7)


if __name__ == "__main__":
    run(main)
