# SPDX-License-Identifier: ISC
"""IMAP COPY and MOVE of a big message never read it into memory.

The copy in the destination folder is a hard link to the stored file (a
Maildir file never changes; only its name does), under a new name and
with its own index row. A 50 MB message dropped into INBOX is copied to
one folder and moved to another: the session's peak resident size
(VmHWM) may grow by less than STREAM_MAX_GROWTH (before, COPY read the
whole file into memory and wrote it out again; where no link can be
made, here the dropped file is root's and the session runs as run_user,
it is copied in pieces), the copies have the
original's octets, flags and internal date, and each survives the
expunge of the others.
"""
import os
import re
import smtplib
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from estafeta_test import Store, run  # noqa: E402
from bigmsg import ImapLit, check, literal_of, session_pid, vm_hwm  # noqa: E402

USER = "alice@example.test"
SIZE = 50 * 1024 * 1024
STREAM_MAX_GROWTH = 8 * 1024 * 1024


def folder_files(st, folder):
    base = os.path.join(st.maildir(USER), "." + folder if folder else "")
    return [os.path.join(base, sub, f) for sub in ("new", "cur")
            for f in os.listdir(os.path.join(base, sub))]


def main():
    st = Store("copy-big", tls=False,
               auth_cleartext_networks="127.0.0.0/8")
    st.add_user(USER, "pw")
    st.start()
    c = smtplib.LMTP("127.0.0.1", st.lmtp_port)
    c.ehlo()
    c.mail("s@example.org")
    c.rcpt(USER)
    code, _ = c.data(b"Subject: small\r\n\r\nsmall\r\n")
    c.quit()
    check(code == 250, "LMTP")
    raw = (b"Subject: big\n\n" +
           b"a line of the big message, 0123456789 abcdefghij\n" *
           (SIZE // 50))
    with open(os.path.join(st.maildir(USER), "new", "1000.big.host"),
              "wb") as f:
        f.write(raw)
    want = raw.replace(b"\n", b"\r\n")

    m = ImapLit(st, USER, "pw")
    m.cmd("CREATE Copies")
    m.cmd("CREATE Moved")
    m.cmd("SELECT INBOX")
    m.cmd("STORE 2 +FLAGS (\\Flagged $Big)")
    r = m.cmd("FETCH 2 (INTERNALDATE)")
    idate = re.search(rb'INTERNALDATE "[^"]+"', r[0][0]).group(0)
    pid = session_pid(st)
    before = vm_hwm(pid)
    m.cmd("COPY 1:2 Copies")
    m.cmd("UID MOVE 2 Moved")
    grown = vm_hwm(pid) - before
    print(f"session VmHWM {before // 1024} KiB before COPY and MOVE of "
          f"{len(raw)} octets, +{grown // 1024} KiB after")
    check(grown < STREAM_MAX_GROWTH, f"the session grew by {grown} "
          f"octets copying {len(raw)}")
    check(len(folder_files(st, "")) == 1, "INBOX keeps the small one")
    small = [p for p in folder_files(st, "Copies")
             if os.path.getsize(p) != len(raw)]
    check(len(small) == 1 and os.stat(small[0]).st_ino ==
          os.stat(folder_files(st, "")[0]).st_ino,
          "the small message's copy is not a hard link")
    # Run as root, the dropped file is root's: with protected_hardlinks
    # the session (run_user) may not link it and copies it in pieces.
    with open("/proc/sys/fs/protected_hardlinks") as f:
        protected = f.read().strip() == "1"
    if os.geteuid() == 0 and protected:
        for folder in ("Copies", "Moved"):
            check(all(os.stat(p).st_nlink == 1
                      for p in folder_files(st, folder)
                      if os.path.getsize(p) == len(raw)),
                  f"{folder}: the big one should be a copy")
    for folder in ("Copies", "Moved"):
        big = [p for p in folder_files(st, folder)
               if os.path.getsize(p) == len(raw)]
        check(len(big) == 1, f"{folder}: {folder_files(st, folder)}")
        with open(big[0], "rb") as f:
            check(f.read() == raw, f"{folder}: the file differs")
    for folder, seq in (("Copies", 2), ("Moved", 1)):
        m.cmd(f"SELECT {folder}")
        r = m.cmd(f"FETCH {seq} (FLAGS INTERNALDATE BODY.PEEK[])")
        check(b"\\Flagged" in r[0][0] and b"$Big" in r[0][0] and
              idate in r[0][0], f"{folder}: {r[0][0][:200]!r}")
        check(literal_of(r[0], b"BODY[]") == want, f"{folder}: BODY[]")
    # Each copy lives on when another is expunged.
    m.cmd("SELECT Moved")
    m.cmd("STORE 1 +FLAGS (\\Deleted)")
    m.cmd("EXPUNGE")
    m.cmd("SELECT Copies")
    r = m.cmd("FETCH 2 (BODY.PEEK[])")
    check(literal_of(r[0], b"BODY[]") == want, "the copy after the expunge")
    m.cmd("LOGOUT")


run(main)
