# SPDX-License-Identifier: ISC
"""Queue control: `estafetactl queue list` filters, `queue summary`, and
hold/release/delete/bounce on one ID or on a filter, with --dry-run and
the audit log. The relay has no delivery workers (deliver_workers=0), so
nothing moves by itself; a second instance with one worker and a dead next
hop gives a deferred recipient with a last reply for --reply/--state."""
import json
import os
import smtplib
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from estafeta_test import (Instance, TestFailure, free_port, run,  # noqa: E402
                           wait_for)
from smtppeer import SmtpPeer, submit  # noqa: E402


def send(port, sender, rcpts, subject):
    msg = (f"From: {sender or 'MAILER-DAEMON@x'}\r\nTo: {rcpts[0]}\r\n"
           f"Subject: {subject}\r\nMessage-ID: <{subject}@test>\r\n\r\n"
           f"Body of {subject}.\r\n").encode()
    with smtplib.SMTP("127.0.0.1", port) as c:
        c.ehlo("client.test")
        c.mail(sender)
        for r in rcpts:
            code, text = c.rcpt(r)
            assert code == 250, (r, code, text)
        code, text = c.data(msg)
        assert code == 250, (code, text)
        return text.decode().rsplit(" ", 1)[1]


def ids(inst, *filters):
    out = inst.ctl("queue", "list", "--json", *filters).stdout
    return {m["id"] for m in json.loads(out)}


def show(inst, qid):
    return json.loads(inst.ctl("queue", "show", "--json", qid).stdout)


def expect(cond, what):
    if not cond:
        raise TestFailure(what)


def ok(inst, *args):
    r = inst.ctl("queue", *args)
    expect(r.stdout.startswith("ok:"), f"queue {args}: {r.stdout!r}")
    return r.stdout


def fails(inst, *args):
    r = inst.ctl("queue", *args, check=False)
    expect(r.returncode == 1 and "error:" in r.stdout + r.stderr,
           f"queue {args} should fail: {r.returncode} {r.stdout!r} "
           f"{r.stderr!r}")
    return r.stdout + r.stderr


def audit(inst):
    try:
        with open(os.path.join(inst.spool, "audit.log")) as f:
            return f.read().splitlines()
    except FileNotFoundError:
        return []


def main():
    relay = Instance("relay", relay_domains="",
                     trusted_networks="127.0.0.0/8")
    relay.start()
    m1 = send(relay.port, "alice@example.org",
              ["bob@one.test", "carol@two.test"], "m1")
    m2 = send(relay.port, "bob@example.org", ["dave@one.test"], "m2")
    m3 = send(relay.port, "alice@example.org", ["erin@three.test"], "m3")
    m4 = send(relay.port, "", ["frank@two.test"], "m4")
    every = {m1, m2, m3, m4}
    wait_for(lambda: relay.queue_ids() == every, "four queued messages")

    # 1. list with each filter.
    expect(ids(relay, "--sender", "alice@example.org") == {m1, m3},
           "--sender")
    expect(ids(relay, "--sender", "<>") == {m4}, "--sender <>")
    expect(ids(relay, "--rcpt", "dave@one.test") == {m2}, "--rcpt")
    # The domain in any case, the local part exactly (README).
    expect(ids(relay, "--rcpt", "dave@ONE.Test") == {m2}, "--rcpt case")
    expect(ids(relay, "--rcpt", "Dave@one.test") == set(), "local part")
    expect(ids(relay, "--sender", "bob@EXAMPLE.org") == {m2}, "--sender")
    expect(ids(relay, "--domain", "ONE.test") == {m1, m2}, "--domain")
    expect(ids(relay, "--domain", "two.test",
               "--sender", "alice@example.org") == {m1}, "two filters")
    expect(ids(relay, "--state", "pending") == every, "--state pending")
    expect(ids(relay, "--state", "deferred") == set(), "--state deferred")
    expect(ids(relay, "--state", "held") == set(), "--state held")
    expect(ids(relay, "--older-than", "1h") == set(), "--older-than 1h")
    wait_for(lambda: ids(relay, "--older-than", "0s") == every,
             "--older-than 0s to match all")
    expect(ids(relay, "--reply", "anything") == set(), "--reply")
    # "--json" as a filter's value is the value, not the output option.
    expect(ids(relay, "--reply", "--json") == set(), "--reply --json")
    out = relay.ctl("queue", "list", "--sender", "--json").stdout
    expect("0 messages matching" in out, out)
    out = relay.ctl("queue", "list", "--domain", "three.test").stdout
    expect(m3 in out and "1 message matching" in out, out)
    # --next-hop: the key `queue show` prints as the destination, as the
    # running configuration routes each recipient (smtp: -> the MX).
    expect(ids(relay, "--next-hop", "mx:one.test:25") == {m1, m2},
           "--next-hop")
    expect(ids(relay, "--next-hop", "mx:one.test:25", "--rcpt",
               "carol@two.test") == set(), "--next-hop, same recipient")
    expect(ids(relay, "--next-hop", "smtp:[192.0.2.1]:25") == set(),
           "--next-hop miss")
    out = ok(relay, "hold", "--dry-run", "--next-hop", "mx:three.test:25")
    expect("would hold 1 message" in out and m3 in out, out)

    # 2. summary (queued recipients by domain and by age).
    sm = json.loads(relay.ctl("queue", "summary", "--json").stdout)
    expect(sm["messages"] == 4 and sm["recipients"] == 5, sm)
    doms = {d["domain"]: (d["messages"], d["recipients"])
            for d in sm["domains"]}
    expect(doms == {"one.test": (2, 2), "two.test": (2, 2),
                    "three.test": (1, 1)}, doms)
    expect(len(sm["ages"]) == 9 and sm["ages"][0]["age"] == "< 5m" and
           sm["ages"][0]["messages"] == 4 and
           sm["ages"][0]["recipients"] == 5 and
           sum(a["recipients"] for a in sm["ages"][1:]) == 0, sm["ages"])
    out = relay.ctl("queue", "summary").stdout
    expect("one.test" in out and "older" in out and "< 640m" in out, out)

    # 3. hold and release, by ID and by filter.
    ok(relay, "hold", m2)
    expect(show(relay, m2)["held"] is True, "m2 held")
    expect(ids(relay, "--state", "held") == {m2}, "list held")
    expect(any(" hold " in ln and m2 in ln for ln in audit(relay)),
           audit(relay))
    out = relay.ctl("queue", "list").stdout
    expect(f"{m2}!" in out, out)
    ok(relay, "release", m2)
    expect(show(relay, m2)["held"] is False, "m2 released")
    out = ok(relay, "hold", "--domain", "one.test")
    expect(m1 in out and m2 in out and m3 not in out, out)
    expect(ids(relay, "--state", "held") == {m1, m2}, "bulk hold")
    out = ok(relay, "release", "--state", "held")
    expect("2 messages" in out, out)
    expect(ids(relay, "--state", "held") == set(), "bulk release")

    # 4. --dry-run changes nothing (and writes no audit line).
    n_audit = len(audit(relay))
    out = ok(relay, "delete", "--dry-run", "--domain", "one.test")
    expect("would delete 2 messages" in out and m1 in out and m2 in out,
           out)
    out = ok(relay, "hold", "--dry-run", m3)
    expect("would hold 1 message" in out, out)
    out = ok(relay, "bounce", "--dry-run", "--sender", "alice@example.org")
    expect(m1 in out and m3 in out, out)
    expect(relay.queue_ids() == every, "dry run kept the queue")
    expect(ids(relay, "--state", "held") == set(), "dry run held none")
    expect(len(audit(relay)) == n_audit, "dry run wrote the audit log")

    # 5. delete: spool file and index rows gone, audit line written.
    expect(os.path.exists(relay.spool_file(m2)), "m2 spool file")
    ok(relay, "delete", m2)
    expect(not os.path.exists(relay.spool_file(m2)), "m2 file still there")
    expect(relay.queue_ids() == {m1, m3, m4}, "m2 still listed")
    r = relay.ctl("queue", "show", m2, check=False)
    expect(r.returncode == 1 and "not in the queue" in r.stderr, r.stderr)
    last = audit(relay)[-1]
    expect(" delete " in last and last.endswith(f"ids={m2}"), last)

    # 6. bounce: recipients bounced, DSN queued for the sender, original
    #    removed; a null-sender message gets no DSN.
    ok(relay, "bounce", m1)
    relay.wait_log(f"{m1} qmgr removed (bounced by the administrator)")
    expect(not os.path.exists(relay.spool_file(m1)), "m1 file")
    expect(relay.read_log().count(f"{m1} qmgr bounced rcpt_idx=") == 2,
           "both recipients bounced")
    q = relay.queue()
    dsn = [m for m in q if m["sender"] == ""
           and m["recipients"][0]["addr"] == "alice@example.org"]
    expect(len(dsn) == 1, q)
    content = relay.spooled_content(dsn[0]["id"])
    for want in (b"multipart/report", b"Action: failed", b"Status: 5.0.0",
                 b"bounced by the administrator",
                 b"Final-Recipient: rfc822; bob@one.test",
                 b"Final-Recipient: rfc822; carol@two.test"):
        expect(want in content, f"DSN lacks {want!r}")
    ok(relay, "bounce", "--sender", "<>", "--domain", "two.test")
    relay.wait_log(f"{m4} qmgr no failed notice: null sender")
    expect(relay.queue_ids() == {m3, dsn[0]["id"]}, relay.queue_ids())
    last = audit(relay)[-1]
    expect(" bounce " in last and "domain=two.test" in last and
           last.endswith(f"ids={m4}"), last)

    # 6b. a rotated audit log (moved away, as logrotate does) is
    #     followed: the next line goes to a new audit.log.
    path = os.path.join(relay.spool, "audit.log")
    os.rename(path, path + ".1")
    ok(relay, "hold", m3)
    expect(any(" hold " in ln and m3 in ln for ln in audit(relay)),
           audit(relay))
    with open(path + ".1") as f:
        expect(m3 not in f.read(), "the moved log got the new line")
    ok(relay, "release", m3)

    # 7. errors: bad id, unknown id, bad filters, nothing selected.
    fails(relay, "hold", "not-an-id")
    out = fails(relay, "delete", m2)
    expect("not in the queue" in out, out)
    fails(relay, "list", "--state", "bogus")
    fails(relay, "list", "--older-than", "5x")
    fails(relay, "list", "--colour", "blue")
    fails(relay, "list", "--domain")
    fails(relay, "delete")
    fails(relay, "release", m3, "--domain", "three.test")
    out = ok(relay, "hold", "--domain", "nowhere.test")
    expect("0 messages" in out, out)
    expect(relay.queue_ids() == {m3, dsn[0]["id"]}, "errors changed it")

    # 8. --state deferred and --reply, on an instance whose next hop is
    #    down (one worker; the retry is an hour away).
    dead = free_port()
    retry = Instance("retry", relay_domains="",
                     trusted_networks="127.0.0.0/8", deliver_workers=1,
                     queue_retry_min="1h", delay_warning_time="0",
                     transports=f"later.example=smtp:[127.0.0.1]:{dead},"
                     f"other.example=smtp:[127.0.0.1]:{dead}")
    retry.start()
    r1 = send(retry.port, "alice@example.org", ["z@later.example"], "r1")
    retry.wait_log(f"{r1} qmgr deferred")
    reply = retry.queue()[0]["recipients"][0]["last_reply"]
    expect(reply, "no last reply")
    expect(ids(retry, "--state", "deferred") == {r1}, "deferred")
    expect(ids(retry, "--reply", reply[2:12]) == {r1}, "--reply hit")
    expect(ids(retry, "--reply", "no such text") == set(), "--reply miss")
    hop = f"smtp:[127.0.0.1]:{dead}"
    expect(show(retry, r1)["recipients"][0]["destination"] == hop,
           show(retry, r1))
    expect(ids(retry, "--next-hop", hop) == {r1}, "--next-hop [host]")
    out = ok(retry, "hold", "--reply", reply[2:12], "--state", "deferred")
    expect(r1 in out, out)
    expect(show(retry, r1)["held"] is True, "r1 held")
    ok(retry, "release", r1)

    # 9. flush on a filter: --dry-run shows what it would touch and
    #    changes nothing; then exactly those are tried again at once (r2,
    #    deferred for another domain, keeps its next try), audited.
    r2 = send(retry.port, "alice@example.org", ["y@other.example"], "r2")
    retry.wait_log(f"{r2} qmgr deferred")

    def attempts(qid):
        return show(retry, qid)["recipients"][0]["attempts"]

    n1, n2 = attempts(r1), attempts(r2)
    n_audit = len(audit(retry))
    out = ok(retry, "flush", "--dry-run", "--domain", "later.example")
    expect("would flush 1 message" in out and r1 in out and r2 not in out,
           out)
    out = ok(retry, "flush", "--dry-run", r2)
    expect("would flush 1 message" in out and r2 in out, out)
    expect(len(audit(retry)) == n_audit, "dry run wrote the audit log")
    expect(attempts(r1) == n1, "dry run flushed")
    out = ok(retry, "flush", "--domain", "later.example")
    expect(r1 in out and r2 not in out, out)
    wait_for(lambda: attempts(r1) == n1 + 1, "r1 tried again")
    expect(attempts(r2) == n2, "flush touched r2")
    last = audit(retry)[-1]
    expect(" flush " in last and "domain=later.example" in last and
           last.endswith(f"ids={r1}"), last)
    out = fails(retry, "flush", m2)  # deleted above: an unknown id
    expect("not in the queue" in out, out)

    # 10. bounce --no-notice: the recipients bounce, the message goes,
    #     and the sender gets no DSN; audited with notice=0.
    fails(retry, "hold", "--no-notice", r2)
    out = ok(retry, "bounce", "--no-notice", "--dry-run", r2)
    expect("would bounce 1 message" in out, out)
    # A filter's value "--no-notice" is that value (it matches nothing).
    out = ok(retry, "bounce", "--dry-run", "--reply", "--no-notice")
    expect("would bounce 1" not in out, out)
    ok(retry, "bounce", "--no-notice", r2)
    retry.wait_log(f"{r2} qmgr removed (bounced by the administrator)")
    expect(f"{r2} qmgr no failed notice: bounced without notice" in
           retry.read_log(), "no-notice log line")
    expect(retry.queue_ids() == {r1}, retry.queue_ids())
    last = audit(retry)[-1]
    expect(" bounce " in last and "notice=0" in last and
           last.endswith(f"ids={r2}"), last)

    # 11. a message in delivery at that moment (the peer holds the reply
    #     to its final dot): delete, bounce and requeue leave it alone
    #     ("busy"), by ID (exit 1) or in a bulk action (listed apart, not
    #     audited); hold takes effect; the delivery then ends normally.
    go = threading.Event()
    peer = SmtpPeer(on_dot=lambda conn, subject: conn.hold(go.is_set))
    try:
        busy = Instance("busy", relay_domains="",
                        trusted_networks="127.0.0.0/8", deliver_workers=1,
                        queue_retry_min="1h", delay_warning_time="0",
                        transports=f"peer.test=smtp:[127.0.0.1]:"
                        f"{peer.port}")
        busy.start()
        b1 = submit(busy.port, "b1")
        wait_for(lambda: peer.got == ["b1"], "b1 at the peer's dot")
        for verb in ("delete", "bounce", "requeue"):
            out = fails(busy, verb, b1)
            expect(f"{b1}: busy, try again" in out, out)
        out = ok(busy, "delete", "--domain", "peer.test")
        expect("delete: 0 messages" in out and
               f"busy, try again:\n{b1}" in out, out)
        expect(audit(busy) == [], audit(busy))
        ok(busy, "hold", b1)
        expect(show(busy, b1)["held"] is True, "b1 held in delivery")
        go.set()
        busy.wait_log(f"{b1} qmgr removed")
        expect(busy.queue_ids() == set(), busy.queue_ids())
        expect(peer.got == ["b1"], peer.got)
    finally:
        go.set()
        peer.shutdown()


run(main)
