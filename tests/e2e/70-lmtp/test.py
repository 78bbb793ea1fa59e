# SPDX-License-Identifier: ISC
"""buzond's LMTP server (RFC 2033) with Python's smtplib.LMTP and a raw
socket, against real users made with estafetactl:

  * one transaction with mixed per-recipient results: a known user, an
    unknown one (550 5.1.1 at RCPT), "user+detail" (delivered to user, the
    detail kept in Delivered-To), a user whose quota the message alone
    exceeds (552 5.2.2) and one whose mailbox it would overfill (452
    4.2.2): after the dot, one reply per accepted recipient, in order;
  * the stored files: in new/ of the user's Maildir, LF line ends,
    Return-Path, Delivered-To and Received on top, dot-stuffing undone;
  * a full mailbox is refused already at RCPT (452 4.2.2);
  * max_message_size: SIZE= over it is refused at MAIL (552 5.3.4), a
    bigger message gets 552 5.3.4 for each recipient and is not stored;
  * PIPELINING: every command of a transaction in one write, the replies
    in order; the unix socket (listen_lmtp) works like the TCP port;
  * refusals: HELO/EHLO (this is LMTP), VRFY, commands out of order, a
    bare LF in a command line, a bare LF in the data (550 5.5.2);
  * buzond's limits: max_sessions_per_ip (TCP clients; the unix socket is
    not counted) and max_sessions refuse with 421 4.3.2, lmtp_timeout
    closes an idle session with 421 4.4.2;
  * a 12 MB message: the session holds it once (the trace fields and the
    message go to the file as two pieces; its peak resident size grows by
    less than 1.5 times the message, it grew by twice before), stored
    exactly.
"""
import os
import smtplib
import socket
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from estafeta_test import Store, TestFailure, run, wait_for  # noqa: E402


def check(cond, what):
    if not cond:
        raise TestFailure(what)


def msg(subject, body, pad=0):
    return (f"From: s@example.org\r\nTo: alice@example.test\r\n"
            f"Subject: {subject}\r\n\r\n{body}\r\n" + "x" * pad +
            "\r\n").encode()


def data_replies(c, n, data):
    """DATA, then one reply per accepted recipient (smtplib reads one)."""
    replies = [c.data(data)]
    for _ in range(n - 1):
        replies.append(c.getreply())
    return replies


def raw(port_or_path, payload, nreplies):
    if isinstance(port_or_path, int):
        s = socket.create_connection(("127.0.0.1", port_or_path), 10)
    else:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(10)
        s.connect(port_or_path)
    f = s.makefile("rb")
    greeting = f.readline()
    check(greeting.startswith(b"220 "), f"greeting {greeting!r}")
    s.sendall(payload)
    out = []
    while len(out) < nreplies:
        line = f.readline()
        if not line:
            break
        out.append(line.decode().rstrip("\r\n"))
    s.close()
    return out


def main():
    st = Store("lmtp", tls=False, max_message_size="20k")
    st.add_user("alice@example.test")
    st.add_user("bob@example.test", quota=3000)
    st.add_user("carol@example.test", quota=500)
    st.add_user("dave@example.test", quota=100)
    st.start()

    # Fill bob's mailbox to about 2,000 of 3,000 octets.
    c = smtplib.LMTP("127.0.0.1", st.lmtp_port)
    c.ehlo_or_helo_if_needed()
    c.mail("s@example.org")
    c.rcpt("bob@example.test")
    r = data_replies(c, 1, msg("fill", "fill", 1800))
    check(r[0][0] == 250, f"fill bob: {r}")
    c.quit()

    # The mixed transaction.
    c = smtplib.LMTP("127.0.0.1", st.lmtp_port)
    code, text = c.ehlo()
    check(code == 250, f"LHLO {code} {text}")
    for ext in (b"PIPELINING", b"ENHANCEDSTATUSCODES", b"8BITMIME",
                b"SIZE 20480"):
        check(ext in text, f"LHLO lacks {ext}: {text}")
    check(c.mail("s@example.org")[0] == 250, "MAIL")
    accepted = []
    for rcpt, want in (("alice@example.test", 250),
                       ("nobody@example.test", 550),
                       ("Alice+News@example.test", 250),
                       ("carol@example.test", 250),
                       ("bob@example.test", 250)):
        code, text = c.rcpt(rcpt)
        check(code == want, f"RCPT {rcpt}: {code} {text}")
        if code == 250:
            accepted.append(rcpt)
        else:
            check(text.startswith(b"5.1.1"), f"unknown user: {text}")
    body = "line one\r\n.hidden starts with a dot\r\n..two dots"
    r = data_replies(c, len(accepted), msg("mixed", body, 1000))
    codes = [x[0] for x in r]
    check(codes == [250, 250, 552, 452], f"per-recipient replies {r}")
    check(r[2][1].startswith(b"5.2.2"), f"carol: {r[2]}")
    check(r[3][1].startswith(b"4.2.2"), f"bob: {r[3]}")
    check(b"stored as UID 1" in r[0][1] and b"UID 2" in r[1][1],
          f"UIDs in replies {r}")
    c.quit()

    files = st.messages("alice@example.test")
    check(len(files) == 2, f"alice has {len(files)} files")
    check(os.listdir(os.path.join(st.maildir("alice@example.test"),
                                  "new")), "not in new/")
    for f in files:
        check(b"\r" not in f, "CR stored on disk")
        check(f.startswith(b"Return-Path: <s@example.org>\n"
                           b"Delivered-To: "), f"top of file {f[:80]!r}")
        check(b"\nReceived: from " in f and b"with LMTP id" in f,
              "Received header")
        check(b"\n.hidden starts with a dot\n..two dots\n" in f,
              f"dot-stuffing not undone: {f!r}")
    check(b"Delivered-To: alice@example.test\n" in files[0] or
          b"Delivered-To: alice@example.test\n" in files[1], "plain rcpt")
    check(any(b"Delivered-To: Alice+News@example.test\n" in f
              for f in files), "detail kept in Delivered-To")
    check(st.messages("carol@example.test") == [], "carol got mail")
    check(len(st.messages("bob@example.test")) == 1, "bob over quota")
    st.wait_log("detail=News")

    # A full mailbox is refused at RCPT; dave's quota is below usage
    # once he has one message (delivered without a quota check first).
    st.ctl("user", "quota", "dave@example.test", "0")
    c = smtplib.LMTP("127.0.0.1", st.lmtp_port)
    c.ehlo()
    c.mail("s@example.org")
    c.rcpt("dave@example.test")
    check(data_replies(c, 1, msg("d", "d", 200))[0][0] == 250, "dave")
    c.quit()
    st.ctl("user", "quota", "dave@example.test", "100")
    c = smtplib.LMTP("127.0.0.1", st.lmtp_port)
    c.ehlo()
    c.mail("s@example.org")
    code, text = c.rcpt("dave@example.test")
    check(code == 452 and text.startswith(b"4.2.2"),
          f"full mailbox at RCPT: {code} {text}")
    # Size: at MAIL from SIZE=, and after the dot.
    c.rset()
    code, text = c.mail("s@example.org", ["SIZE=30000"])
    check(code == 552 and text.startswith(b"5.3.4"), f"SIZE: {code} {text}")
    c.mail("s@example.org")
    c.rcpt("alice@example.test")
    c.rcpt("bob@example.test")
    r = data_replies(c, 2, msg("big", "big", 25000))
    check([x[0] for x in r] == [552, 552] and
          r[0][1].startswith(b"5.3.4"), f"too big: {r}")
    c.quit()
    check(len(st.messages("alice@example.test")) == 2, "big one stored")

    # PIPELINING on TCP and on the unix socket.
    for where in (st.lmtp_port, st.lmtp_socket):
        out = raw(where, b"LHLO client.example\r\n"
                  b"MAIL FROM:<>\r\n"
                  b"RCPT TO:<alice@example.test>\r\n"
                  b"RCPT TO:<ghost@example.test>\r\n"
                  b"RCPT TO:<alice+x@example.test>\r\n"
                  b"DATA\r\n"
                  b"Subject: piped\r\n\r\nhello\r\n.\r\n"
                  b"QUIT\r\n", 14)
        codes = [x[:3] for x in out if x[3:4] == " "]
        check(codes == ["250", "250", "250", "550", "250", "354", "250",
                        "250", "221"], f"pipelined replies {out}")
    files = st.messages("alice@example.test")
    check(len(files) == 6, f"alice has {len(files)} files")
    check(any(b"Return-Path: <>\n" in f for f in files), "null sender")

    # Refusals.
    out = raw(st.lmtp_port, b"EHLO x\r\nHELO x\r\nMAIL FROM:<>\r\n"
              b"LHLO x\r\nVRFY alice\r\nRCPT TO:<alice@example.test>\r\n"
              b"DATA\r\nNOOP\nRSET\r\nBDAT 1 LAST\r\nQUIT\r\n", 17)
    firsts = [x for x in out if x[3:4] == " "]
    check([x[:9] for x in firsts] == [
        "500 5.5.1", "500 5.5.1", "503 5.5.1", "250 SIZE ", "502 5.5.1",
        "503 5.5.1", "503 5.5.1", "500 5.5.2", "250 2.0.0", "500 5.5.2",
        "221 2.0.0"], f"refusals {firsts}")
    out = raw(st.lmtp_port, b"LHLO x\r\nMAIL FROM:<>\r\n"
              b"RCPT TO:<alice@example.test>\r\nDATA\r\n"
              b"Subject: bare\r\n\r\nbare\nlf\r\n.\r\nQUIT\r\n", 12)
    check(any(x.startswith("550 5.5.2 <alice@example.test>: bare <LF>")
              for x in out), f"bare LF in data {out}")
    check(len(st.messages("alice@example.test")) == 6, "bare LF stored")
    log = st.read_log()
    check(log.count("lmtp delivered") == 8, "delivery log lines")
    # A detail is client text: escaped in the log like the rest.
    out = raw(st.lmtp_port, "LHLO x\r\nMAIL FROM:<> SMTPUTF8\r\n"
              "RCPT TO:<alice+\u00fc\u2028x@example.test>\r\nDATA\r\n"
              "Subject: utf8\r\n\r\nhi\r\n.\r\nQUIT\r\n"
              .encode(), 11)
    check([x[:3] for x in out if x[3:4] == " "] ==
          ["250", "250", "250", "354", "250", "221"], f"utf8 detail {out}")
    st.wait_log("detail=\\xc3\\xbc\\xe2\\x80\\xa8x ")

    # Session limits and the idle timeout, on a second store.
    lim = Store("lmtp-limits", tls=False, max_sessions="3",
                max_sessions_per_ip="2", lmtp_timeout="1s")
    lim.start()
    # start() checked the LMTP port with a session of its own: it counts
    # for 127.0.0.1 until the master has reaped it.
    wait_for(lambda: subprocess.run(["pgrep", "-P", str(lim.proc.pid)],
                                    capture_output=True).returncode == 1,
             "the readiness probe's session to be reaped")

    def connect(where):
        if isinstance(where, int):
            s = socket.create_connection(("127.0.0.1", where), 10)
        else:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(10)
            s.connect(where)
        return s, s.makefile("rb").readline()

    a, ga = connect(lim.lmtp_port)
    b, gb = connect(lim.lmtp_port)
    c3, gc = connect(lim.lmtp_port)
    check(ga.startswith(b"220 ") and gb.startswith(b"220 "), "2 sessions")
    check(gc.startswith(b"421 4.3.2"), f"per-IP limit: {gc!r}")
    u, gu = connect(lim.lmtp_socket)
    check(gu.startswith(b"220 "), f"unix socket not per-IP: {gu!r}")
    v, gv = connect(lim.lmtp_socket)
    check(gv.startswith(b"421 4.3.2"), f"max_sessions: {gv!r}")
    # The idle ones time out (lmtp_timeout = 1s) with 421 4.4.2.
    for s in (a, b, u):
        s.settimeout(10)
        line = s.makefile("rb").readline()
        check(line.startswith(b"421 4.4.2"), f"timeout reply {line!r}")
    for s in (a, b, c3, u, v):
        s.close()
    lim.wait_log("rule=max_sessions_per_ip")
    lim.wait_log("rule=max_sessions\n")

    big_delivery()


def vm_hwm(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise TestFailure("no VmHWM")


def asan_build():
    from estafeta_test import BUZOND
    with open(BUZOND, "rb") as f:
        return b"__asan_init" in f.read()


def big_delivery():
    st = Store("lmtp-big", tls=False, max_message_size="64M")
    st.add_user("alice@example.test")
    st.start()
    body = (b"Subject: big\r\n\r\n" + b".a line of the big message, "
            b"0123456789 abcdefghijklmn\r\n" * (12 * 1024 * 1024 // 56))
    c = smtplib.LMTP("127.0.0.1", st.lmtp_port)
    c.ehlo()
    r = subprocess.run(["pgrep", "-P", str(st.proc.pid)],
                       capture_output=True, text=True)
    pids = r.stdout.split()
    check(len(pids) == 1, f"one session: {pids}")
    before = vm_hwm(int(pids[0]))
    c.mail("s@example.org")
    c.rcpt("alice@example.test")
    code, text = c.data(body)
    check(code == 250, f"big delivery: {code} {text}")
    grown = vm_hwm(int(pids[0])) - before
    print(f"LMTP session VmHWM +{grown // 1024} KiB for {len(body)} octets")
    # ASan's allocator copies a growing buffer (glibc remaps it) and
    # keeps freed blocks resident a while: no bound there.
    check(grown < len(body) * 3 // 2 or asan_build(), f"the session grew "
          f"by {grown} octets for {len(body)}")
    c.quit()
    stored = st.messages("alice@example.test")
    check(len(stored) == 1, "one file")
    want = body.replace(b"\r\n", b"\n")
    check(stored[0].startswith(b"Return-Path: <s@example.org>\n") and
          stored[0].endswith(b"\n\n" + want.split(b"\n\n", 1)[1]) and
          b"\nSubject: big\n\n" in stored[0], "the stored copy differs")


run(main)
