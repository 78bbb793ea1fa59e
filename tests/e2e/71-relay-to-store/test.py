# SPDX-License-Identifier: ISC
"""The whole local path: swaks -> estafetad (MX, local_domains) -> its
delivery worker -> LMTP -> buzond -> a file in the user's Maildir.

  * over TCP (local_transport = lmtp:127.0.0.1:PORT) and over the unix
    socket (lmtp:unix:PATH), one estafetad each, one users database
    shared by both daemons;
  * the stored file carries the message as sent (body, Subject) plus
    Return-Path with the envelope sender and Delivered-To; the relay
    logs the delivery with buzond's reply, and buzond one line per
    delivery with the UID;
  * an unknown local user is refused by the relay at RCPT already;
  * NOTIFY=SUCCESS to a local user (buzond's LMTP offers no DSN): the
    sender, a local user too, gets a 'delivered' DSN (RFC 3461 6.2.1).
"""
import os
import smtplib
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from estafeta_test import Instance, Store, TestFailure, run, wait_for  # noqa: E402


def check(cond, what):
    if not cond:
        raise TestFailure(what)


def swaks(port, to, body, sender="sender@example.org", want=0):
    r = subprocess.run(
        ["swaks", "--server", f"127.0.0.1:{port}", "--from", sender,
         "--to", to, "--header", f"Subject: to {to}", "--body", body],
        capture_output=True, text=True, timeout=60)
    if r.returncode != want:
        raise TestFailure(f"swaks to {to}: exit {r.returncode}\n{r.stdout}")
    return r.stdout


def main():
    st = Store("relay2store", tls=False)
    st.add_user("alice@example.test")
    st.add_user("bob@example.test")
    st.add_user("carol@example.test")
    st.start()
    common = {"relay_domains": "", "local_domains": "example.test",
              "users_db": st.users_db, "deliver_workers": "1"}
    tcp = Instance("tcp", local_transport=f"lmtp:127.0.0.1:{st.lmtp_port}",
                   **common).start()
    unix = Instance("unix", local_transport=f"lmtp:unix:{st.lmtp_socket}",
                    **common).start()

    swaks(tcp.port, "alice@example.test", "over TCP LMTP")
    swaks(unix.port, "Bob+lists@example.test", "over the unix socket")
    out = swaks(tcp.port, "nobody@example.test", "x", want=24)
    check("550 5.1.1" in out, f"unknown local user: {out}")

    for user, body, rcpt in (
            ("alice@example.test", b"over TCP LMTP", b"alice@example.test"),
            ("bob@example.test", b"over the unix socket",
             b"Bob+lists@example.test")):
        wait_for(lambda: st.messages(user), f"a message for {user}")
        files = st.messages(user)
        check(len(files) == 1, f"{user}: {len(files)} files")
        f = files[0]
        check(f.startswith(b"Return-Path: <sender@example.org>\n"
                           b"Delivered-To: " + rcpt + b"\n"),
              f"{user}: top {f[:120]!r}")
        check(body in f and b"Subject: to " in f, f"{user}: content {f!r}")
        check(b"\r\n" not in f, "CRLF on disk")
    tcp.wait_log("route=local_transport next_hop=lmtp:127.0.0.1:")
    tcp.wait_log("state=d remote=127.0.0.1 ")
    unix.wait_log(f"next_hop=lmtp:unix:{st.lmtp_socket} state=d remote=- ")
    tcp.wait_log("stored as UID 1")
    st.wait_log("lmtp delivered", count=2)
    log = st.read_log()
    check("user=bob@example.test detail=lists uid=1" in log,
          "buzond's delivery line for bob")
    wait_for(lambda: not tcp.queue() and not unix.queue(),
             "both queues to empty")

    with smtplib.SMTP("127.0.0.1", tcp.port) as c:
        c.ehlo("client.test")
        c.mail("carol@example.test")
        code, text = c.rcpt("alice@example.test", ["NOTIFY=SUCCESS"])
        check(code == 250, f"RCPT: {code} {text}")
        code, text = c.data(b"Subject: tell me\r\n\r\nhi\r\n")
        check(code == 250, f"DATA: {code} {text}")
    dsn = wait_for(lambda: [m for m in st.messages("carol@example.test")
                            if b"Action: delivered" in m],
                   "the 'delivered' DSN in carol's mailbox")[0]
    check(b"Final-Recipient: rfc822; alice@example.test" in dsn and
          b"Status: 2.0.0" in dsn, f"the DSN: {dsn!r}")


run(main)
