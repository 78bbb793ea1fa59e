# SPDX-License-Identifier: ISC
"""An AUTH refused by the relayhost is an account or configuration
problem, not congestion: adaptive throttling must not lower the
destination for it.

A real next hop (SmtpPeer) offers STARTTLS and AUTH, and answers AUTH
with 535 5.7.8, later with 454 4.7.0. Each time the recipients are
deferred (never bounced) with "4.7.x authentication failed, the server
said: ..." in `queue list` and `queue show`, the log says so (pointing
at the credentials for the 535 only: a 454 is just retried), and the
destination stays unthrottled: no "qmgr throttle ... lowered" line and
no entry in `queue summary --json`'s "throttled". Then the peer goes
away: a real connection failure does lower it, which shows the check
above can fail. Time is driven with `queue flush`, never sleeps.
"""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from estafeta_test import Instance, TestFailure, run, wait_for  # noqa: E402
from smtppeer import SmtpPeer, submit  # noqa: E402
from testca import TestCA  # noqa: E402


def check(cond, what):
    if not cond:
        raise TestFailure(what)


def throttled(relay):
    return json.loads(relay.ctl("queue", "summary", "--json").stdout)[
        "throttled"]


def rcpt(relay, qid):
    return {m["id"]: m for m in relay.queue()}[qid]["recipients"][0]


def main():
    relay = Instance("relay", relay_domains="",
                     trusted_networks="127.0.0.0/8", deliver_workers=1,
                     queue_retry_min="1h", delay_warning_time="0")
    ca = TestCA(relay.dir)
    cert, key = ca.issue("peer.test", ips=["127.0.0.1"])
    peer = SmtpPeer(ehlo=["DSN", "ENHANCEDSTATUSCODES"], tls=(cert, key),
                    auth="535 5.7.8 Authentication credentials invalid")
    auth = os.path.join(relay.dir, "relay-auth")
    fd = os.open(auth, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("relay@peer.test secret-pass\n")
    relay.settings.update({
        "relayhost": f"[127.0.0.1]:{peer.port}", "relayhost_tls": "encrypt",
        "relayhost_auth_file": auth})
    relay.write_config()
    relay.start()

    # 1. 535: deferred with the server's reply, not throttled.
    m1 = submit(relay.port, "m1")
    m2 = submit(relay.port, "m2")
    for q in (m1, m2):
        relay.wait_log(f"{q} qmgr deferred")
    with peer.lock:
        check("AUTH PLAIN" in peer.cmds, f"no AUTH at the peer: {peer.cmds}")
        check(not any(c.startswith("MAIL") for c in peer.cmds), peer.cmds)
    r = rcpt(relay, m1)
    want = ("4.7.8 authentication failed, the server said: 535 5.7.8 "
            "Authentication credentials invalid")
    check(r["state"] == "deferred" and r["last_reply"].startswith(want), r)
    check(rcpt(relay, m2)["state"] == "deferred", rcpt(relay, m2))
    show = relay.ctl("queue", "show", m1).stdout
    check(want in show, "queue show lacks the reason:\n" + show)
    log = relay.read_log()
    check(f"smtpc auth failed peer=[127.0.0.1]:{peer.port}" in log,
          "no smtpc auth failed line")
    check("Authentication credentials invalid\" (temporary: mail waits "
          "until the credentials are fixed)" in log,
          "the 535's log line does not point at the credentials")
    check("qmgr throttle" not in log, "throttled for an AUTH failure:\n" +
          "\n".join(x for x in log.splitlines() if "throttle" in x))
    check(throttled(relay) == [], throttled(relay))
    check(f"{m1} qmgr bounced" not in log, "bounced")

    # 2. 454: the same, with its own code.
    peer.auth = "454 4.7.0 Temporary authentication failure"
    out = relay.ctl("queue", "flush").stdout
    check(out.startswith("ok: 2 recipient"), out)
    for q in (m1, m2):
        relay.wait_log(f"{q} qmgr deferred", count=2)
    want = ("4.7.0 authentication failed, the server said: 454 4.7.0 "
            "Temporary authentication failure")
    r = rcpt(relay, m1)
    check(r["state"] == "deferred" and r["last_reply"].startswith(want), r)
    log = relay.read_log()
    check("qmgr throttle" not in log, "throttled for a 454")
    # A 454 says nothing about the credentials (the log said they were
    # to be fixed).
    line = [x for x in log.splitlines() if "smtpc auth failed" in x and
            "454 4.7.0" in x]
    check(line and "(temporary: mail is retried later)" in line[0] and
          "credentials are fixed" not in line[0],
          f"the 454's log line: {line}")
    check(throttled(relay) == [], throttled(relay))

    # 3. A real connection failure does lower the destination.
    peer.shutdown()
    out = relay.ctl("queue", "flush").stdout
    check(out.startswith("ok: 2 recipient"), out)
    relay.wait_log("qmgr throttle dest=")
    th = wait_for(lambda: throttled(relay), "the destination throttled")
    check(th[0]["concurrency"] < 20, th)
    relay.stop()


if __name__ == "__main__":
    run(main)
