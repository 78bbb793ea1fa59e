# SPDX-License-Identifier: ISC
"""buzond's privileges: the master binds and loads keys as root, every
session child runs as run_user with no supplementary groups before it
reads a byte (checked in /proc while LMTP, POP3 and IMAP sessions are
open), the store and the delivered files belong to run_user with private
modes, and the LMTP socket is not world-accessible. When the tests do not
run as root, the same checks hold with the current user (no drop).

Also the daemon's control: `buzond -t` reports every configuration error
as file:line (exit 1) and accepts the running one (exit 0); SIGHUP rereads
the configuration (a broken one is refused and the old one kept), and
sessions keep working. The pid file (written as root) is not writable by
others and a symbolic link in its place is not followed: buzond refuses
to start.
"""
import os
import poplib
import pwd
import smtplib
import socket
import stat
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from estafeta_test import (BUZOND, Store, TestFailure, run,  # noqa: E402
                           wait_for)


def check(cond, what):
    if not cond:
        raise TestFailure(what)


def ids(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("Uid", "Gid", "Groups"):
                out[k] = v.split()
    return out


def children(master):
    r = subprocess.run(["pgrep", "-P", str(master)], capture_output=True,
                       text=True)
    return [int(p) for p in r.stdout.split()]


def main():
    root = os.geteuid() == 0
    want = pwd.getpwnam("estafeta") if root else pwd.getpwuid(os.getuid())
    st = Store("privs", tls=True)
    st.add_user("alice@example.test")
    st.start()
    master = st.proc.pid
    check(ids(master)["Uid"][0] == str(os.geteuid()), "master uid")

    lmtp = socket.create_connection(("127.0.0.1", st.lmtp_port), 10)
    check(lmtp.recv(100).startswith(b"220 "), "LMTP greeting")
    pop = socket.create_connection(("127.0.0.1", st.pop3_port), 10)
    check(pop.recv(100).startswith(b"+OK"), "POP3 greeting")
    imap = socket.create_connection(("127.0.0.1", st.imap_port), 10)
    check(imap.recv(100).startswith(b"* OK"), "IMAP greeting")
    wait_for(lambda: len(children(master)) == 3, "three session children")
    for pid in children(master):
        i = ids(pid)
        check(i["Uid"] == [str(want.pw_uid)] * 4,
              f"session {pid} Uid {i['Uid']}")
        check(i["Gid"] == [str(want.pw_gid)] * 4,
              f"session {pid} Gid {i['Gid']}")
        if root:
            check(i["Groups"] == [], f"session {pid} groups {i['Groups']}")
    for s in (lmtp, pop, imap):
        s.close()

    c = smtplib.LMTP("127.0.0.1", st.lmtp_port)
    c.ehlo()
    c.mail("s@example.org")
    c.rcpt("alice@example.test")
    check(c.data(b"Subject: p\r\n\r\np\r\n")[0] == 250, "delivery")
    c.quit()
    md = st.maildir("alice@example.test")
    for path in (st.store_root, md, os.path.join(md, "new"),
                 os.path.join(md, "index.db")):
        sb = os.stat(path)
        check(sb.st_uid == want.pw_uid, f"{path} owner {sb.st_uid}")
        check(sb.st_mode & 0o077 == 0, f"{path} mode {oct(sb.st_mode)}")
    name = os.listdir(os.path.join(md, "new"))[0]
    sb = os.stat(os.path.join(md, "new", name))
    check(sb.st_uid == want.pw_uid and sb.st_mode & 0o077 == 0,
          f"message file {oct(sb.st_mode)} uid {sb.st_uid}")
    sb = os.stat(st.lmtp_socket)
    check(stat.S_ISSOCK(sb.st_mode) and sb.st_mode & 0o007 == 0,
          f"LMTP socket mode {oct(sb.st_mode)}")
    check(sb.st_uid == want.pw_uid, "LMTP socket owner")
    # Implicit TLS: the handshake happens in the child, after the drop
    # (the master loaded the key as root).
    p = poplib.POP3_SSL("127.0.0.1", st.pop3s_port,
                        context=st.ca.client_context(), timeout=10)
    check(p.getwelcome().startswith(b"+OK"), "POP3S greeting")
    wait_for(lambda: len(children(master)) == 1, "the POP3S child")
    i = ids(children(master)[0])
    check(i["Uid"] == [str(want.pw_uid)] * 4, f"POP3S child {i}")
    p.quit()

    # -t on the running configuration, then on a broken one.
    r = subprocess.run([BUZOND, "-t", "-c", st.conf], capture_output=True,
                       text=True)
    check(r.returncode == 0 and "configuration OK" in r.stdout, r.stdout)
    bad = os.path.join(st.dir, "bad.conf")
    with open(bad, "w") as f:
        f.write("store_root = relative/path\nmax_sessions = 0\n"
                "listen_imaps = 127.0.0.1:1\nno_such_key = 1\n")
    r = subprocess.run([BUZOND, "-t", "-c", bad], capture_output=True,
                       text=True)
    check(r.returncode == 1, f"bad config accepted: {r.stdout}")
    for text in ("bad.conf:2:", "bad.conf:4:", "no_such_key"):
        check(text in r.stderr, f"-t output lacks {text!r}: {r.stderr}")
    # SIGHUP: a good change is taken, a broken file is refused.
    st.settings["log_level"] = "debug"
    st.write_config()
    st.signal(1)
    st.wait_log("master reloaded")
    with open(st.conf, "a") as f:
        f.write("max_sessions = many\n")
    st.signal(1)
    st.wait_log("master reload failed")
    c = smtplib.LMTP("127.0.0.1", st.lmtp_port)
    check(c.ehlo()[0] == 250, "LMTP after reloads")
    c.quit()
    st.wait_log("lmtp connect from 127.0.0.1")   # debug level applied
    st.stop()
    pid_file()


def pid_file():
    st = Store("privs-pid", tls=False)
    pidf = os.path.join(st.dir, "buzond.pid")
    st.settings["pid_file"] = pidf
    st.write_config()
    st.start()
    with open(pidf) as f:
        check(int(f.read()) == st.proc.pid, "pid file holds the pid")
    # 0644 less buzond's umask 077: nobody else may write it
    check(stat.S_IMODE(os.stat(pidf).st_mode) == 0o600, "pid file mode")
    st.stop()
    if os.path.lexists(pidf):
        os.unlink(pidf)
    victim = os.path.join(st.dir, "victim")
    with open(victim, "w") as f:
        f.write("secret\n")
    os.symlink(victim, pidf)
    st.start(wait=False)
    st.proc.wait(timeout=10)
    with open(victim) as f:
        kept = f.read()
    check(st.proc.returncode != 0 and kept == "secret\n" and
          f"cannot write pid file {pidf}" in st.read_log(),
          f"pid file link: exit {st.proc.returncode}, victim {kept!r}")
    wait_for(lambda: not st.pids_alive(), "no buzond left", 5)
    st.stop()


run(main)
