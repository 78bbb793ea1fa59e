# SPDX-License-Identifier: ISC
"""kill -9 and buzond's durability:

  * a session killed in the middle of DATA leaves nothing behind: no file
    in new/, cur/ or tmp/, no index row; the message acknowledged before
    it in the same session is intact;
  * the whole daemon killed with SIGKILL (master and sessions) and
    restarted: every acknowledged message is there, the index is
    consistent (UIDs go on, never reused), and a delivery works at once.
"""
import os
import poplib
import smtplib
import socket
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from estafeta_test import Store, TestFailure, run, wait_for  # noqa: E402

USER = "alice@example.test"


def check(cond, what):
    if not cond:
        raise TestFailure(what)


def children(master):
    r = subprocess.run(["pgrep", "-P", str(master)], capture_output=True,
                       text=True)
    return [int(p) for p in r.stdout.split()]


def files(st, sub):
    d = os.path.join(st.maildir(USER), sub)
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


def deliver(st, subject):
    c = smtplib.LMTP("127.0.0.1", st.lmtp_port)
    c.ehlo()
    c.mail("s@example.org")
    c.rcpt(USER)
    code, text = c.data(f"Subject: {subject}\r\n\r\nbody\r\n".encode())
    c.quit()
    check(code == 250, f"LMTP {code} {text}")
    return int(text.split(b"UID ")[1])


def main():
    st = Store("crash", tls=False, auth_cleartext_networks="127.0.0.0/8")
    st.add_user(USER, "pw")
    st.start()
    master = st.proc.pid

    # One acknowledged message, then a second one cut by kill -9.
    s = socket.create_connection(("127.0.0.1", st.lmtp_port), 10)
    f = s.makefile("rb")
    check(f.readline().startswith(b"220"), "greeting")
    s.sendall(b"LHLO c\r\nMAIL FROM:<>\r\nRCPT TO:<alice@example.test>\r\n"
              b"DATA\r\n")
    replies = [f.readline() for _ in range(9)]
    check(replies[-1].startswith(b"354"), f"354: {replies}")
    s.sendall(b"Subject: kept\r\n\r\nkept\r\n.\r\n")
    r = f.readline()
    check(r.startswith(b"250 2.0.0"), f"first message: {r}")
    s.sendall(b"MAIL FROM:<>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n")
    for _ in range(3):
        f.readline()
    s.sendall(b"Subject: cut\r\n\r\n" + b"partial line\r\n" * 1000)
    pids = children(master)
    check(len(pids) == 1, f"one session child: {pids}")
    os.kill(pids[0], 9)
    wait_for(lambda: not children(master), "the killed session to go")
    s.close()
    check(len(files(st, "new")) + len(files(st, "cur")) == 1,
          "only the acknowledged message")
    check(files(st, "tmp") == [], f"tmp/ left over: {files(st, 'tmp')}")
    p = poplib.POP3("127.0.0.1", st.pop3_port, timeout=10)
    p.user(USER)
    p.pass_("pw")
    check(p.stat()[0] == 1, "POP3 count")
    check(b"Subject: kept" in b"\n".join(p.retr(1)[1]), "kept content")
    p.quit()

    # Kill everything with SIGKILL while sessions are open, restart.
    check(deliver(st, "two") == 2, "uid 2")
    hold = socket.create_connection(("127.0.0.1", st.lmtp_port), 10)
    hold.recv(100)
    st.stop(kill=True)
    hold.close()
    st.start()
    check(deliver(st, "three") == 3, "UIDs go on after SIGKILL")
    got = len(files(st, "new")) + len(files(st, "cur"))
    check(got == 3, f"{got} messages after the restart")
    check("killed by signal 9" in st.read_log(), "the master saw the kill")


run(main)
