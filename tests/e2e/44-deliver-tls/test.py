# SPDX-License-Identifier: ISC
"""Outbound TLS policy `verify` (issue 3): the MX of secure.test presents a
certificate from the test CA for its name, so mail goes over verified TLS;
wrong.test's MX is the same server, whose certificate does not carry that
name: the delivery is deferred with the verification error and never
falls back to clear text. `may` (the default) uses TLS when offered.
A relay whose TLS client cannot be made (a CA file that is not PEM)
defers `encrypt` routes instead of sending them in clear text."""
import json
import os
import smtplib
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from estafeta_test import Instance, TestFailure, run, wait_for  # noqa: E402
from smtppeer import SmtpPeer  # noqa: E402
from testca import TestCA  # noqa: E402
from testdns import DEFAULT_ZONES, TestDNS  # noqa: E402

MX_IP = "127.0.0.5"


def send(port, rcpt, subject):
    with smtplib.SMTP("127.0.0.1", port) as c:
        c.ehlo("client.test")
        c.mail("alice@example.org")
        assert c.rcpt(rcpt)[0] == 250
        code, text = c.data(f"Subject: {subject}\r\n\r\nhi\r\n".encode())
        assert code == 250, (code, text)
        return text.decode().rsplit(" ", 1)[1]


def main():
    dns = TestDNS({**DEFAULT_ZONES,
                   "secure.test": ["MX 10 mx.secure.test"],
                   "mx.secure.test": [f"A {MX_IP}"],
                   "wrong.test": ["MX 10 mx.wrong.test"],
                   "mx.wrong.test": [f"A {MX_IP}"],
                   "plain.test": ["MX 10 mx.plain.test"],
                   "mx.plain.test": [f"A {MX_IP}"]}).start()
    remote = Instance("tlsmx", relay_domains="secure.test, wrong.test, "
                      "plain.test")
    ca = TestCA(remote.dir)
    cert, key = ca.issue("mx.secure.test", dns=["mx.secure.test"])
    remote.settings.update({
        "listen_mx": f"127.0.0.1:{remote.port}, {MX_IP}:25",
        "tls_cert_files": cert, "tls_key_files": key})
    remote.write_config()
    remote.start()
    relay = Instance("tlsrelay", relay_domains="",
                     trusted_networks="127.0.0.0/8", deliver_workers=1,
                     dns_server=dns.server, queue_retry_min="1h",
                     delay_warning_time="0",
                     smtp_tls_policies="secure.test=verify, "
                                       "wrong.test=verify",
                     smtp_tls_ca_file=ca.cert)
    relay.start()

    qid = send(relay.port, "a@secure.test", "verified")
    relay.wait_log(f"{qid} qmgr removed")
    got = wait_for(lambda: [i for i in remote.queue_ids()
                            if b"Subject: verified" in
                            remote.spooled_content(i)], "it at the MX")
    if b"with ESMTPS" not in remote.spooled_content(got[0]):
        raise TestFailure("verified delivery did not use TLS")

    qid = send(relay.port, "b@wrong.test", "mismatch")
    relay.wait_log(f"{qid} qmgr deferred")
    q = {m["id"]: m for m in relay.queue()}[qid]
    reply = q["recipients"][0]["last_reply"]
    assert q["recipients"][0]["state"] == "deferred", q
    if "verif" not in reply.lower() and "mismatch" not in reply.lower():
        raise TestFailure(f"deferral does not name the TLS failure: {reply}")
    assert not [i for i in remote.queue_ids()
                if b"Subject: mismatch" in remote.spooled_content(i)]

    qid = send(relay.port, "c@plain.test", "opportunistic")
    relay.wait_log(f"{qid} qmgr removed")
    got = wait_for(lambda: [i for i in remote.queue_ids()
                            if b"Subject: opportunistic" in
                            remote.spooled_content(i)], "it at the MX")
    assert b"with ESMTPS" in remote.spooled_content(got[0])

    bad_ca = os.path.join(remote.dir, "not-a-ca.pem")
    with open(bad_ca, "w") as f:
        f.write("this is not a certificate\n")
    os.chmod(bad_ca, 0o644)
    broken = Instance("tlsbroken", relay_domains="",
                      trusted_networks="127.0.0.0/8", deliver_workers=1,
                      dns_server=dns.server, queue_retry_min="1h",
                      delay_warning_time="0",
                      smtp_tls_policies="secure.test=encrypt",
                      smtp_tls_ca_file=bad_ca)
    broken.start()
    qid = send(broken.port, "d@secure.test", "no clear text")
    broken.wait_log(f"{qid} qmgr deferred")
    q = {m["id"]: m for m in broken.queue()}[qid]
    reply = q["recipients"][0]["last_reply"]
    assert q["recipients"][0]["state"] == "deferred", q
    if "TLS required" not in reply:
        raise TestFailure(f"deferral does not say TLS is required: {reply}")
    assert not [i for i in remote.queue_ids()
                if b"Subject: no clear text" in remote.spooled_content(i)]

    # A required TLS that fails at a next hop is that domain's policy,
    # not the hop's health: one message for strict.test (verify) and
    # lax.test (may), both routed to the same peer, which offers STARTTLS
    # but refuses it. strict.test defers (never clear text); lax.test is
    # still delivered in clear text in the same job, and the next hop is
    # not throttled.
    peer = SmtpPeer(ehlo=["STARTTLS"])
    try:
        hop = f"smtp:[127.0.0.1]:{peer.port}"
        mixed = Instance("tlsmixed", relay_domains="",
                         trusted_networks="127.0.0.0/8", deliver_workers=1,
                         queue_retry_min="1h", delay_warning_time="0",
                         transports=f"strict.test={hop}, lax.test={hop}",
                         smtp_tls_policies="strict.test=verify")
        mixed.start()
        with smtplib.SMTP("127.0.0.1", mixed.port) as c:
            c.ehlo("client.test")
            c.mail("alice@example.org")
            assert c.rcpt("s@strict.test")[0] == 250
            assert c.rcpt("l@lax.test")[0] == 250
            code, text = c.data(b"Subject: mixed\r\n\r\nhi\r\n")
            assert code == 250, (code, text)
            qid = text.decode().rsplit(" ", 1)[1]
        mixed.wait_log(f"{qid} qmgr deferred")
        wait_for(lambda: peer.got == ["mixed"], "lax.test's copy")
        rc = {r["addr"]: r for r in mixed.queue()[0]["recipients"]}
        assert rc["l@lax.test"]["state"] == "delivered", rc
        assert rc["s@strict.test"]["state"] == "deferred", rc
        if "4.7.4 TLS required but STARTTLS refused" not in \
                rc["s@strict.test"]["last_reply"]:
            raise TestFailure(f"strict.test: {rc['s@strict.test']}")
        with peer.lock:
            mails = [ln for ln in peer.cmds if ln.startswith("MAIL")]
            rcpts = [ln for ln in peer.cmds if ln.startswith("RCPT")]
        assert len(mails) == 1 and rcpts == ["RCPT TO:<l@lax.test>"], \
            peer.cmds
        sm = json.loads(mixed.ctl("queue", "summary", "--json").stdout)
        assert sm["throttled"] == [], sm["throttled"]
    finally:
        peer.shutdown()


run(main)
