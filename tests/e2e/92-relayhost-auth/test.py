# SPDX-License-Identifier: ISC
"""Relayhost AUTH (issue 3): a second estafetad is the smart host; it takes
mail only from authenticated clients, over STARTTLS. Our relay sends to it
with the credentials of relayhost_auth_file.

  * a wrong password (535 5.7.8 at the relayhost) defers the mail instead
    of bouncing it: the recipient stays queued, deferred, its last reply
    is "4.7.8 authentication failed, the server said: 535 5.7.8 ..." (the
    server's text kept), the log says so (smtpc auth failed ... and the
    deliver line), and no DSN is made;
  * after the file is fixed and estafetad reloaded, `queue flush` delivers
    it: it arrives at the relayhost "with ESMTPSA", and the relayhost
    logged our login.
"""
import os
import signal
import smtplib
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from estafeta_test import Instance, TestFailure, run, wait_for  # noqa: E402
from testca import TestCA, add_user, ctl_input  # noqa: E402

USER, GOOD_PW, BAD_PW = "relay@example.test", "Right-pass 42", "wrong-pass"


def check(cond, what):
    if not cond:
        raise TestFailure(what)


def send(port, rcpt, subject):
    with smtplib.SMTP("127.0.0.1", port) as c:
        c.ehlo("client.test")
        c.mail("alice@example.org")
        check(c.rcpt(rcpt)[0] == 250, "RCPT refused")
        code, text = c.data(f"Subject: {subject}\r\n\r\nhi\r\n".encode())
        check(code == 250, f"DATA: {code} {text!r}")
        return text.decode().rsplit(" ", 1)[1]


def write_auth(path, pw):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(f"{USER} {pw}\n")


def main():
    upstream = Instance("smarthost", relay_domains="example.test")
    ca = TestCA(upstream.dir)
    cert, key = ca.issue("smarthost.example.test",
                         dns=["smarthost.example.test"], ips=["127.0.0.1"])
    upstream.settings.update({"tls_cert_files": cert, "tls_key_files": key})
    upstream.write_config()
    upstream.start()
    add_user(upstream, USER, GOOD_PW)
    ctl_input(upstream, "sender", "add", USER, "@example.org")

    relay = Instance("authrelay", relay_domains="",
                     trusted_networks="127.0.0.0/8", deliver_workers=1,
                     queue_retry_min="1h", delay_warning_time="0")
    auth = os.path.join(relay.dir, "relay-auth")
    write_auth(auth, BAD_PW)
    relay.settings.update({
        "relayhost": f"[127.0.0.1]:{upstream.port}",
        "relayhost_tls": "verify", "smtp_tls_ca_file": ca.cert,
        "relayhost_auth_file": auth})
    relay.write_config()
    relay.start()

    # 1. Wrong password: deferred, never bounced.
    qid = send(relay.port, "dave@elsewhere.test", "soft")
    relay.wait_log(f"{qid} qmgr deferred")
    log = relay.read_log()
    check("smtpc auth failed peer=[127.0.0.1]" in log and
          "535 5.7.8" in log, "no smtpc auth failed line:\n" + log)
    check(f"{qid} qmgr bounced" not in log, "bounced:\n" + log)
    q = {m["id"]: m for m in relay.queue()}[qid]
    r = q["recipients"][0]
    check(r["state"] == "deferred", q)
    check(r["last_reply"].startswith("4.7.8 authentication failed, the "
                                     "server said: 535 5.7.8 "), r)
    upstream.wait_log("smtp auth failed client=[127.0.0.1] "
                      f"user=<{USER}> mech=PLAIN")
    show = relay.ctl("queue", "show", qid).stdout
    check("535 5.7.8" in show, "queue show lacks the reply:\n" + show)
    check(not any(m["sender"] == "" for m in relay.queue()),
          "a DSN was made")

    # 2. Fixed credentials, reload, flush: delivered with AUTH.
    write_auth(auth, GOOD_PW)
    relay.signal(signal.SIGHUP)
    relay.wait_log("master reloaded generation=")
    relay.wait_log(" qmgr ready ", count=2)  # restarted by the reload
    out = relay.ctl("queue", "flush").stdout
    check(out.startswith("ok: 1 recipient"), out)
    relay.wait_log(f"{qid} qmgr removed")
    upstream.wait_log(f"smtp auth ok client=[127.0.0.1] user=<{USER}>")
    got = wait_for(lambda: [c for c in (upstream.spooled_content(i)
                                        for i in upstream.queue_ids())
                            if b"Subject: soft" in c], "it at the relayhost")
    check(b"with ESMTPSA" in got[0], got[0])


run(main)
