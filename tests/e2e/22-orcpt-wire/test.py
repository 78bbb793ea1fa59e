# SPDX-License-Identifier: ISC
"""Every ORCPT the relay sends, and every Original-Recipient it writes,
is valid (RFC 3461 4.2, RFC 6533 3) and encoded once.

Two real next hops (SmtpPeer) record the RCPT lines: peer A offers DSN
only, peer B DSN and SMTPUTF8. Recipients come with ORCPT values holding
xtext specials ("+", "=", spaces) and UTF-8 ones; the exact wire form is
asserted. Two queue files are then made to look like files written before
bbdfe8d (the relay stopped, their ORCPT records rewritten): the utf-8
address kept in its encoded form must go out encoded once (not
"\\x{5C}x{F6}"), and a utf-8 one that is not UTF-8 goes without ORCPT
(never "utf-8;" with "+HH"), with a log line saying why. A failure DSN
to peer A carries the Original-Recipient lines, again encoded once.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from estafeta_test import Instance, Raw, TestFailure, run, wait_for  # noqa
from smtppeer import SmtpPeer  # noqa: E402

MAGIC = b"ESTAFETA-SPOOL 1\n"


def check(cond, what):
    if not cond:
        raise TestFailure(what)


def submit(port, rcpts, subject, smtputf8=False):
    """rcpts: RCPT argument strings; returns the queue id."""
    r = Raw(port)
    r.expect(None, 220)
    r.expect("EHLO client.test", 250)
    r.expect("MAIL FROM:<alice@a.test>" + (" SMTPUTF8" if smtputf8 else ""),
             250)
    for a in rcpts:
        r.expect("RCPT TO:" + a, 250)
    r.expect("DATA", 354)
    text = r.expect(f"Subject: {subject}\r\n\r\nhi\r\n.", 250)
    r.expect("QUIT", 221)
    r.close()
    return text.rsplit(" ", 1)[1]


def rewrite_orcpts(path, new):
    """Replaces the ORCPT ('O') records of the queue file at path, in
    order, by the byte strings in new (None keeps one)."""
    with open(path, "rb") as f:
        d = f.read()
    check(d.startswith(MAGIC), f"{path}: not a spool file")
    out, i, k = [MAGIC], len(MAGIC), 0
    while i < len(d):
        t, n = d[i:i + 1], int.from_bytes(d[i + 1:i + 5], "big")
        v = d[i + 5:i + 5 + n]
        if t == b"O" and k < len(new):
            if new[k] is not None:
                v = new[k]
            k += 1
        out.append(t + len(v).to_bytes(4, "big") + v)
        i += 5 + n
    check(k == len(new), f"{path}: {k} ORCPT records, wanted {len(new)}")
    with open(path, "wb") as f:
        f.write(b"".join(out))


def rcpt_lines(peer):
    with peer.lock:
        return [c for c in peer.cmds if c.startswith("RCPT")]


def main():
    a = SmtpPeer(ehlo=["DSN"])
    b = SmtpPeer(ehlo=["DSN", "SMTPUTF8", "8BITMIME"])
    relay = Instance(
        "relay", relay_domains="", trusted_networks="127.0.0.0/8",
        queue_retry_min="1h", delay_warning_time="0",
        transports=(f"a.test=smtp:[127.0.0.1]:{a.port}, "
                    f"b.test=smtp:[127.0.0.1]:{b.port}, "
                    "dead.example=error:5.1.2 no such domain here"))
    relay.start()
    m1 = submit(relay.port, [
        "<bob@a.test> ORCPT=rfc822;b+2Bx+3Dy+20z@a.test",
        "<carol@a.test> ORCPT=utf-8;c\\x{F6}\\x{2B}t\\x{3D}1\\x{20}x@a.test",
        "<dan@a.test> ORCPT=rfc822;d+C3+A9@a.test",
        "<fay@a.test> ORCPT=utf-8;fay@a.test",
        "<gil@a.test> ORCPT=utf-8;gil@a.test",
    ], "m1")
    m2 = submit(relay.port, [
        "<hal@b.test> ORCPT=utf-8;h\u00e4l\\x{2B}x@b.test",
        "<ivy@b.test> ORCPT=rfc822;i+2Bv+20y@b.test",
    ], "m2", smtputf8=True)
    m3 = submit(relay.port, [
        "<eve@dead.example> NOTIFY=FAILURE "
        "ORCPT=rfc822;e+2Bx+3Dy+20z@dead.example",
        "<fox@dead.example> NOTIFY=FAILURE ORCPT=utf-8;fox@dead.example",
    ], "m3")
    relay.stop()
    # As files written before bbdfe8d: the utf-8 address encoded (with a
    # "+" the client sent as "+2B", xtext-decoded then, or as "\x{2B}").
    rewrite_orcpts(relay.spool_file(m1), [
        None, None, None, b"utf-8;f\\x{F6}y+1@a.test",
        b"utf-8;g\xffl@a.test"])
    rewrite_orcpts(relay.spool_file(m3), [
        None, b"UTF-8;f\\x{F6}x\\x{2B}1@dead.example"])

    relay.settings.update(deliver_workers="1")
    relay.write_config()
    relay.start()
    for q in (m1, m2):
        relay.wait_log(f"{q} qmgr removed")
    relay.wait_log(f"{m3} qmgr bounced")

    got = [c for c in rcpt_lines(a) if "alice@" not in c]   # not the DSN
    want = [
        "RCPT TO:<bob@a.test> ORCPT=rfc822;b+2Bx+3Dy+20z@a.test",
        "RCPT TO:<carol@a.test> "
        "ORCPT=utf-8;c\\x{F6}\\x{2B}t\\x{3D}1\\x{20}x@a.test",
        "RCPT TO:<dan@a.test> ORCPT=utf-8;d\\x{E9}@a.test",
        "RCPT TO:<fay@a.test> ORCPT=utf-8;f\\x{F6}y\\x{2B}1@a.test",
        "RCPT TO:<gil@a.test>",
    ]
    check(got == want, f"RCPT lines at A:\n{got}\nwanted\n{want}")
    got = rcpt_lines(b)
    want = ["RCPT TO:<hal@b.test> ORCPT=utf-8;h\u00e4l\\x{2B}x@b.test",
            "RCPT TO:<ivy@b.test> ORCPT=rfc822;i+2Bv+20y@b.test"]
    check(got == want, f"RCPT lines at B:\n{got}\nwanted\n{want}")
    log = relay.read_log()
    check(f'{m1} smtpc orcpt left out rcpt=<gil@a.test> peer=' in log and
          'reason="the utf-8 address is not well-formed UTF-8 or holds '
          'a control character"' in log, "no log line for gil's ORCPT")

    # The failure DSN, delivered to alice@a.test at peer A.
    def dsn():
        with a.lock:
            return [m for m in a.msgs if b"multipart/report" in m and
                    b"Subject: m3" in m]
    msg = wait_for(dsn, "the failure DSN at peer A")[0]
    lines = msg.split(b"\r\n")
    for want in (b"Original-Recipient: rfc822;e+x=y z@dead.example",
                 b"Original-Recipient: utf-8;f\\x{F6}x\\x{2B}1@dead.example",
                 b"Final-Recipient: rfc822; fox@dead.example"):
        check(want in lines, f"no {want!r} line in the DSN:\n{msg!r}")
    check(b"x{5C}" not in msg, f"encoded twice:\n{msg!r}")
    with a.lock:
        check(a.got.count("m1") == 1, a.got)
    relay.stop()
    a.shutdown()
    b.shutdown()


if __name__ == "__main__":
    run(main)
