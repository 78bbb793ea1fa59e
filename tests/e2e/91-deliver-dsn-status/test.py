# SPDX-License-Identifier: ISC
"""The Status of each recipient in a failure DSN (RFC 3464 2.3.4) is the
enhanced status code the peer's reply starts with (RFC 3463), and only
one of the failure's class; a reply without one gives the generic 5.0.0.
A dotted number further on in the reply's text is no status code: a
'550 ... 2.0.1 ...' once gave 'Action: failed' with 'Status: 2.0.1'.

A real next hop (SmtpPeer, without ENHANCEDSTATUSCODES, as many are)
refuses four recipients of one message with different replies; the
DSN comes back to the sender at the same peer.

NOTIFY=SUCCESS (RFC 3461 5.2.2): a recipient delivered to a peer that
does not offer DSN gets the sender a 'relayed' notice from us (status
2.0.0); to a peer that offers DSN, NOTIFY goes on and we send nothing;
a recipient that did not ask gets nothing. Success notices were never
sent at all before.

A bounce that itself fails goes to postmaster_address once (a double
bounce); that one failing in turn gives nothing more. The bounce's own
recipient had NOTIFY=NEVER, which used to stop the double bounce too.

MX (testdns): the best MX is down (connection refused), the backup MX
greets with 554. That defers the mail (the best MX may take it later);
only failures that are all permanent bounce. The last host tried used
to decide alone: the 554 bounced it."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from estafeta_test import Instance, TestFailure, run, wait_for  # noqa
from smtppeer import SmtpPeer  # noqa: E402
from testdns import TestDNS  # noqa: E402
import smtplib  # noqa: E402
import socketserver  # noqa: E402
import threading  # noqa: E402

REPLIES = {
    "bob": "550 no such user here (policy 2.0.1 applied)",
    "carl": "550 4.1.1 mailbox unknown",
    "dan": "550 5.1.1 mailbox unknown",
    "eve": "550 user unknown, see 5.7.1 of our terms",
}
WANT = {"bob": "5.0.0", "carl": "5.0.0", "dan": "5.1.1", "eve": "5.0.0"}


def rcpt(line):
    for user, reply in REPLIES.items():
        if f"<{user}@p.test>" in line:
            return reply
    return None


class Refuser(socketserver.StreamRequestHandler):
    """An MX that wants no mail: 554 at the greeting, then QUIT."""
    def handle(self):
        self.wfile.write(b"554 5.7.1 no SMTP service here\r\n")
        self.wfile.flush()
        while True:
            line = self.rfile.readline()
            if not line or line[:4].upper() == b"QUIT":
                if line:
                    self.wfile.write(b"221 2.0.0 bye\r\n")
                return
            self.wfile.write(b"503 5.5.1 no\r\n")
            self.wfile.flush()


def mx_greeting_554():
    dns = TestDNS({"grey.test": ["MX 10 mx1.grey.test",
                                 "MX 20 mx2.grey.test"],
                   "mx1.grey.test": ["A 127.0.91.1"],
                   "mx2.grey.test": ["A 127.0.91.2"]}).start()
    socketserver.ThreadingTCPServer.allow_reuse_address = True
    srv = socketserver.ThreadingTCPServer(("127.0.91.2", 25), Refuser)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    relay = Instance(
        "mxrelay", relay_domains="", trusted_networks="127.0.0.0/8",
        queue_retry_min="1h", delay_warning_time="0", deliver_workers="1",
        dns_server=dns.server)
    relay.start()
    with smtplib.SMTP("127.0.0.1", relay.port) as c:
        c.ehlo("client.test")
        c.mail("ann@client.test")
        assert c.rcpt("bob@grey.test")[0] == 250
        code, text = c.data(b"Subject: m4\r\n\r\nhi\r\n")
        assert code == 250, (code, text)
        qid = text.decode().rsplit(" ", 1)[1]
    relay.wait_log("host=mx2.grey.test failed")
    line = wait_for(lambda: [x for x in relay.read_log().splitlines()
                             if f"{qid} qmgr deferred" in x or
                             f"{qid} qmgr bounced" in x],
                    "the outcome of the MX attempt")[0]
    if "deferred" not in line or "554" not in line:
        raise TestFailure(f"not deferred: {line}")
    relay.stop()
    srv.shutdown()
    srv.server_close()
    dns.stop()


def main():
    mx_greeting_554()
    peer = SmtpPeer(rcpt=rcpt)
    relay = Instance(
        "relay", relay_domains="", trusted_networks="127.0.0.0/8",
        queue_retry_min="1h", delay_warning_time="0", deliver_workers="1",
        transports=f"p.test=smtp:[127.0.0.1]:{peer.port}")
    relay.start()
    with smtplib.SMTP("127.0.0.1", relay.port) as c:
        c.ehlo("client.test")
        c.mail("alice@p.test")
        for user in REPLIES:
            assert c.rcpt(f"{user}@p.test")[0] == 250
        code, text = c.data(b"Subject: m1\r\n\r\nhi\r\n")
        assert code == 250, (code, text)
        qid = text.decode().rsplit(" ", 1)[1]
    relay.wait_log(f"{qid} qmgr removed")

    def dsn():
        with peer.lock:
            return [m for m in peer.msgs if b"multipart/report" in m]
    msg = wait_for(dsn, "the failure DSN at the peer")[0]
    blocks = msg.split(b"\r\n\r\n")
    got = {}
    for b in blocks:
        fields = dict(line.split(b": ", 1) for line in b.split(b"\r\n")
                      if b": " in line and not line.startswith(b" "))
        fr = fields.get(b"Final-Recipient", b"").decode()
        if fr.startswith("rfc822; "):
            user = fr[8:].split("@")[0]
            if fields.get(b"Action") != b"failed":
                raise TestFailure(f"{user}: {fields!r}")
            got[user] = fields.get(b"Status", b"").decode()
    if got != WANT:
        raise TestFailure(f"statuses {got}, wanted {WANT}:\n{msg!r}")

    # NOTIFY=SUCCESS: zed at the peer without DSN, carol at one with it.
    dsnpeer = SmtpPeer(ehlo=["DSN"])
    relay.stop()
    relay.settings.update(
        transports=(f"p.test=smtp:[127.0.0.1]:{peer.port}, "
                    f"q.test=smtp:[127.0.0.1]:{dsnpeer.port}"))
    relay.write_config()
    relay.start()
    with smtplib.SMTP("127.0.0.1", relay.port) as c:
        c.ehlo("client.test")
        c.mail("alice@p.test", ["ENVID=m2track"])
        assert c.rcpt("zed@p.test", ["NOTIFY=SUCCESS"])[0] == 250
        assert c.rcpt("yan@p.test")[0] == 250
        assert c.rcpt("carol@q.test", ["NOTIFY=SUCCESS,FAILURE"])[0] == 250
        code, text = c.data(b"Subject: m2\r\n\r\nhi\r\n")
        assert code == 250, (code, text)
        qid = text.decode().rsplit(" ", 1)[1]
    relay.wait_log(f"{qid} qmgr removed")

    def relayed():
        with peer.lock:
            return [m for m in peer.msgs if b"Action: relayed" in m]
    msg = wait_for(relayed, "the 'relayed' DSN at the peer")[0]
    lines = msg.split(b"\r\n")
    for want in (b"Final-Recipient: rfc822; zed@p.test", b"Status: 2.0.0",
                 b"Original-Envelope-Id: m2track"):
        if want not in lines:
            raise TestFailure(f"no {want!r} in the DSN:\n{msg!r}")
    if b"yan@" in msg or b"carol@" in msg or len(relayed()) != 1:
        raise TestFailure(f"notice for the wrong recipients:\n{msg!r}")
    with dsnpeer.lock:
        rcpts = [x for x in dsnpeer.cmds if x.startswith("RCPT")]
        reports = [m for m in dsnpeer.msgs if b"multipart/report" in m]
    if rcpts != ["RCPT TO:<carol@q.test> NOTIFY=SUCCESS,FAILURE"] or \
            reports:
        raise TestFailure(f"at the DSN peer: {rcpts} {reports}")

    # A double bounce: the sender's domain refuses the bounce.
    relay.stop()
    relay.settings.update(
        postmaster_address="pm@p.test",
        transports=(f"p.test=smtp:[127.0.0.1]:{peer.port}, "
                    "gone.test=error:5.1.1 no such user, "
                    "dead.test=error:5.1.2 no such domain"))
    relay.write_config()
    relay.start()
    with smtplib.SMTP("127.0.0.1", relay.port) as c:
        c.ehlo("client.test")
        c.mail("ann@dead.test")
        assert c.rcpt("bob@gone.test")[0] == 250
        code, text = c.data(b"Subject: m3\r\n\r\nhi\r\n")
        assert code == 250, (code, text)
        qid = text.decode().rsplit(" ", 1)[1]
    relay.wait_log(f"{qid} qmgr removed")

    def double():
        with peer.lock:
            return [m for m in peer.msgs if b"To: <pm@p.test>" in m]
    msg = wait_for(double, "the double bounce at postmaster")[0]
    for want in (b"Final-Recipient: rfc822; ann@dead.test",
                 b"Action: failed", b"Status: 5.1.2"):
        if want not in msg.split(b"\r\n"):
            raise TestFailure(f"no {want!r} in the double bounce:\n{msg!r}")
    relay.stop()
    peer.shutdown()
    dsnpeer.shutdown()


if __name__ == "__main__":
    run(main)
