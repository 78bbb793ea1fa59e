# SPDX-License-Identifier: ISC
"""LMTP DATA goes into the store as it arrives, not into memory.

buzond writes the message of an LMTP transaction into a spool file in the
store of its first recipient while it reads it (64 KiB at a time,
dot-unstuffed), then gives each recipient its copy: the first one's is the
spool file itself (its trace fields were written first), hard-linked into
its INBOX; every other recipient's is its own trace fields followed by the
message, copied from the file in pieces. So a session's memory does not
grow with the message: a 30 MB delivery to three recipients raises the
session's peak resident size (VmHWM) by a few MiB at most (it held the
whole message before: about 35 MB). Per-recipient replies and the quota
are unchanged: a recipient over the quota gets its 452/552 while the others
get their copies, each with its own Delivered-To and Received "for", and
nothing is left in tmp/. A session that drops the connection mid-DATA
leaves nothing behind either (the spool file has no name until it is
linked).
"""
import os
import smtplib
import socket
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from estafeta_test import BUZOND, Store, TestFailure, run, wait_for  # noqa
from bigmsg import session_pid, vm_hwm  # noqa: E402

USERS = ("alice@example.test", "bob@example.test", "carol@example.test")
BOUND = 6 * 1024 * 1024


def check(cond, what):
    if not cond:
        raise TestFailure(what)


def asan_build():
    with open(BUZOND, "rb") as f:
        return b"__asan_init" in f.read()


def tmp_files(st):
    return {u: os.listdir(os.path.join(st.maildir(u), "tmp"))
            for u in USERS if os.path.isdir(st.maildir(u))}


def main():
    st = Store("lmtp-spool", tls=False, max_message_size="64M")
    for u in USERS:
        st.add_user(u, quota=1000 if u.startswith("carol") else None)
    st.start()
    # Lines that start with a dot (stuffed on the wire) and a CRLF on
    # every 64 KiB boundary and across them: the copies must be exact.
    line = b".a line of the big message, 0123456789 abcdefghijklmn\r\n"
    body = (b"Subject: big\r\nX-Tag: spool\r\n\r\n" +
            line * (30 * 1024 * 1024 // len(line)) + b"the end\r\n")
    c = smtplib.LMTP("127.0.0.1", st.lmtp_port, timeout=120)
    c.ehlo()
    pid = session_pid(st)
    before = vm_hwm(pid)
    c.mail("s@example.org")
    for u in USERS:
        c.rcpt(u)
    c.putcmd("data")
    code, _ = c.getreply()
    check(code == 354, f"DATA: {code}")
    stuffed = body.replace(b"\r\n.", b"\r\n..")
    c.send(stuffed + b".\r\n")
    replies = [c.getreply() for _ in USERS]
    after = vm_hwm(pid)
    grown = after - before
    print(f"LMTP session VmHWM {before // 1024} -> {after // 1024} KiB "
          f"for {len(body)} octets, {len(USERS)} recipients")
    check([r[0] for r in replies] == [250, 250, 552],
          f"per-recipient replies: {replies}")
    check(replies[2][1].startswith(b"5.2.2 <carol@example.test>"),
          f"carol: {replies[2]}")
    # ASan keeps freed blocks resident and pads every allocation: no
    # bound there (as e2e 70).
    check(grown < BOUND or asan_build(),
          f"the session grew by {grown} octets for {len(body)}")

    want = body.replace(b"\r\n", b"\n").split(b"\n\n", 1)
    for u in USERS[:2]:
        stored = st.messages(u)
        check(len(stored) == 1, f"{u}: {len(stored)} files")
        m = stored[0]
        head, rest = m.split(b"\n\n", 1)
        check(head.startswith(b"Return-Path: <s@example.org>\n"
                              b"Delivered-To: " + u.encode() + b"\n"),
              f"{u}: trace fields {head[:200]!r}")
        check(f"\tfor <{u}>;".encode() in head, f"{u}: Received for")
        check(head.endswith(b"\n" + want[0]), f"{u}: header differs")
        check(rest == want[1], f"{u}: body differs")
    check(st.messages(USERS[2]) == [], "carol got a copy")
    check(all(v == [] for v in tmp_files(st).values()),
          f"left in tmp/: {tmp_files(st)}")

    # A second message in the same session: ids go on, copies are right.
    c.mail("s@example.org")
    c.rcpt(USERS[1])
    c.rcpt(USERS[0])
    code, text = c.data(b"Subject: small\r\n\r\n.dot\r\n")
    check(code == 250, f"second message: {code} {text}")
    for u in USERS[:2]:
        got = [m for m in st.messages(u) if b"Subject: small" in m]
        check(len(got) == 1 and got[0].endswith(b"\n\n.dot\n") and
              b"Delivered-To: " + u.encode() + b"\n" in got[0],
              f"{u}: small copy {got!r}")
    c.quit()

    # A connection dropped mid-DATA stores nothing and leaves no file.
    s = socket.create_connection(("127.0.0.1", st.lmtp_port), 10)
    s.sendall(b"LHLO x\r\nMAIL FROM:<s@example.org>\r\n"
              b"RCPT TO:<alice@example.test>\r\nDATA\r\n")
    got = b""
    while b"354" not in got:
        got += s.recv(4096)
    s.sendall(b"Subject: cut\r\n\r\n" + line * 5000)
    s.close()
    st.wait_log("lmtp lost connection in DATA")
    check(all(v == [] for v in tmp_files(st).values()),
          f"left in tmp/ by a lost session: {tmp_files(st)}")
    check(not any(b"Subject: cut" in m for m in st.messages(USERS[0])),
          "the cut message was stored")


run(main)
