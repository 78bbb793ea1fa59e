# SPDX-License-Identifier: ISC
"""Relay authorization and local recipients at RCPT.

An MX for example.test (local_domains) with no relay_domains and no
trusted_networks, the client at 127.0.0.1 unauthenticated:
  * open-relay battery: user%other.test@example.test, other.test!user@
    example.test, "user@other.test"@example.test, a source route
    <@example.test:user@other.test>, user@other.test., user@[192.0.2.1],
    user@[127.0.0.1], user@other.test and more: each refused (554 5.7.1,
    or 501 for syntax), never 250, and no message is queued when DATA
    follows;
  * no user enumeration: for another domain (also through the percent
    hack) the reply for a user that exists here is the reply for one that
    does not, but for the address;
  * local users: a user 250, an unknown one 550 5.1.1, an alias to a user
    250, user+detail 250, a disabled user 550, postmaster@example.test
    (any case) and <postmaster> 250 although no such user exists;
  * users_db missing or unreadable (mode 0644, refused): local recipients
    get 451 4.3.0, never 550; postmaster still 250; AUTH is not offered
    and gets 454 4.7.0; fixing the mode and reloading recovers;
  * trusted_networks = 127.0.0.0/8 on another MX: 127.0.0.1 may relay to
    any domain (250), but the open-relay forms are still refused; without
    certificates STARTTLS is neither offered nor accepted (454 4.7.0).
"""
import os
import signal
import smtplib
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from estafeta_test import Instance, Raw, TestFailure, run, wait_for  # noqa
from testca import add_user, ctl_input  # noqa: E402

# Forms that must never be relayed for an untrusted client.
BATTERY = [
    "user%other.test@example.test",
    "alice%other.test@example.test",
    "other.test!user@example.test",
    "other.test!alice@example.test",
    '"user@other.test"@example.test',
    '"user%other.test"@example.test',
    "@example.test:user@other.test",
    "@mx.example.test,@example.test:user@other.test",
    "user@other.test.",
    "user@[192.0.2.1]",
    "user@[127.0.0.1]",
    "alice@[127.0.0.1]",
    "user%other.test@[127.0.0.1]",
    "user@other.test",
    "USER@OTHER.TEST",
    "user@example.test.other.test",
    "user@other.test@example.test",
    "user@sub.example.test",
    '"user@other.test"',
    "user%other.test",
]


def check(cond, what):
    if not cond:
        raise TestFailure(what)


def greeted(port):
    r = Raw(port)
    r.expect(None, 220)
    r.expect("EHLO client.remote.test", 250)
    return r


def rcpt(r, addr):
    """RCPT in a fresh transaction: (code, text)."""
    r.expect("RSET", 250)
    r.expect("MAIL FROM:<bob@remote.test>", 250)
    return r.cmd(f"RCPT TO:<{addr}>")


def battery(inst):
    r = greeted(inst.port)
    before = inst.queue_ids()
    for addr in BATTERY:
        code, text = rcpt(r, addr)
        ok = (code == 554 and "5.7.1" in text) or code == 501
        check(ok, f"open relay: RCPT TO:<{addr}> -> {text!r}")
        print(f"  <{addr}>: {text}")
        # What an open relay would go on with: nothing must be queued.
        code, text = r.cmd("DATA")
        check(code == 503, f"DATA after a refused RCPT: {text!r}")
    r.close()
    # Several refusals in one pipelined group: still never a 250.
    r = greeted(inst.port)
    r.send("RSET\r\nMAIL FROM:<bob@remote.test>\r\n" + "".join(
        f"RCPT TO:<{a}>\r\n" for a in BATTERY[:6]) + "DATA\r\n")
    r.expect(None, 250)
    r.expect(None, 250)
    for a in BATTERY[:6]:
        code, text = r.reply()
        check(code in (554, 501), f"pipelined <{a}>: {text!r}")
    r.expect(None, 503)
    r.close()
    # Sync point: a legitimate message; nothing else may be queued.
    with smtplib.SMTP("127.0.0.1", inst.port, "client.remote.test") as c:
        c.sendmail("bob@remote.test", ["alice@example.test"],
                   b"Subject: legit\r\n\r\nx\r\n")
    wait_for(lambda: len(inst.queue_ids() - before) == 1,
             "the legitimate message in the queue")
    rcpts = [rc["addr"] for m in inst.queue() if m["id"] not in before
             for rc in m["recipients"]]
    check(rcpts == ["alice@example.test"], f"queued for {rcpts}")
    inst.wait_log("smtp reject rule=relay_access")
    for rule in ("percent_bang_path", "quoted_at", "source_route"):
        check(f"rule={rule}" in inst.read_log(), f"no rule={rule} logged")


def no_enumeration(inst):
    r = greeted(inst.port)
    pairs = [("alice@other.test", "zz-nobody@other.test"),
             ("alice%other.test@example.test",
              "zz-nobody%other.test@example.test"),
             ("alice@[192.0.2.1]", "zz-nobody@[192.0.2.1]")]
    for known, unknown in pairs:
        c1, t1 = rcpt(r, known)
        c2, t2 = rcpt(r, unknown)
        check(c1 == c2 and t1.replace(known, "X") == t2.replace(unknown, "X"),
              f"replies differ: {t1!r} / {t2!r}")
    r.close()


def local_users(inst):
    r = greeted(inst.port)
    cases = [("alice@example.test", 250, None),
             ("Alice@EXAMPLE.test", 250, None),
             ("sales@example.test", 250, None),	# alias -> alice
             ("alice+lists@example.test", 250, None),
             ("sales+x@example.test", 250, None),
             ("postmaster@example.test", 250, None),
             ("PostMaster@Example.Test", 250, None),
             ("postmaster", 250, None),
             ("nobody@example.test", 550, "5.1.1"),
             ("nobody+alice@example.test", 550, "5.1.1"),
             ("carol@example.test", 550, "5.1.1"),	# disabled
             ("carol+x@example.test", 550, "5.1.1")]
    for addr, want, enh in cases:
        code, text = rcpt(r, addr)
        check(code == want and (enh is None or enh in text),
              f"RCPT TO:<{addr}>: wanted {want} {enh or ''}, got {text!r}")
    # The accepted ones make a message together.
    r.expect("RSET", 250)
    r.expect("MAIL FROM:<bob@remote.test>", 250)
    for addr in ("alice@example.test", "sales@example.test",
                 "alice+lists@example.test", "postmaster@example.test"):
        r.expect(f"RCPT TO:<{addr}>", 250)
    r.expect("DATA", 354)
    r.expect("Subject: to locals\r\n\r\nx\r\n.", 250)
    r.close()
    inst.wait_log("smtp reject rule=unknown_user client=[127.0.0.1] "
                  "rcpt=nobody@example.test")


def broken_users_db(label, **settings):
    return Instance(label, local_domains="example.test", relay_domains="",
                    smtpd_auth_cleartext_networks="127.0.0.0/8", **settings)


def users_db_unavailable():
    missing = broken_users_db(
        "nousersdb", users_db="/nonexistent/estafeta/users.db").start()
    unreadable = broken_users_db("badusersdb")
    # In spool_dir (the default place), made before the daemon starts:
    # run_user must be able to create its -shm file beside it (WAL).
    os.mkdir(unreadable.spool, 0o700)
    path = os.path.join(unreadable.spool, "users.db")
    add_user(unreadable, "alice@example.test", "pw for alice")
    os.chmod(path, 0o644)		# users_open() refuses it
    unreadable.start()
    for inst in (missing, unreadable):
        inst.wait_log("users database")
        r = Raw(inst.port)
        r.expect(None, 220)
        text = r.expect("EHLO client.remote.test", 250)
        check("AUTH" not in text, f"AUTH offered without users: {text!r}")
        code, text = r.cmd("AUTH PLAIN AGFsaWNlQGV4YW1wbGUudGVzdABwdw==")
        check(code == 454 and "4.7.0" in text, f"AUTH without users: {text}")
        for addr in ("alice@example.test", "nobody@example.test"):
            code, text = rcpt(r, addr)
            check(code == 451 and "4.3.0" in text,
                  f"{inst.dir}: <{addr}>: {text!r}")
        code, text = rcpt(r, "postmaster@example.test")
        check(code == 250, f"postmaster without users: {text!r}")
        code, text = rcpt(r, "user@other.test")
        check(code == 554, f"relay without users: {text!r}")
        r.close()
        inst.wait_log("smtp reject rule=users_db_error")
    missing.stop()
    # Fixed and reloaded: the new workers open it.
    os.chmod(path, 0o600)
    unreadable.signal(signal.SIGHUP)
    unreadable.wait_log("master reloaded generation=1")

    def alice_ok():
        r = greeted(unreadable.port)
        try:
            return rcpt(r, "alice@example.test")[0] == 250
        finally:
            r.close()
    wait_for(alice_ok, "alice accepted once the users database is fixed")
    unreadable.stop()


def trusted():
    inst = Instance("trusted", local_domains="example.test",
                    relay_domains="", trusted_networks="127.0.0.0/8",
                    smtpd_error_limit=1000)
    inst.start()
    r = Raw(inst.port)
    r.expect(None, 220)
    text = r.expect("EHLO client.remote.test", 250)
    # No certificates here: no STARTTLS offered, and it is refused.
    check("STARTTLS" not in text, f"STARTTLS without certificates: {text}")
    text = r.expect("STARTTLS", 454)
    check("4.7.0" in text, text)
    for addr in ("user@other.test", "user@[192.0.2.1]", "USER@OTHER.TEST"):
        code, text = rcpt(r, addr)
        check(code == 250, f"trusted client, <{addr}>: {text!r}")
    for addr in BATTERY[:8]:
        code, text = rcpt(r, addr)
        check(code in (554, 501), f"trusted client, <{addr}>: {text!r}")
    r.expect("RSET", 250)
    r.expect("MAIL FROM:<bob@remote.test>", 250)
    r.expect("RCPT TO:<carol@elsewhere.test>", 250)
    r.expect("DATA", 354)
    qid = r.expect("Subject: relayed\r\n\r\nx\r\n.", 250).rsplit(" ", 1)[1]
    r.close()
    wait_for(lambda: qid in inst.queue_ids(), "the relayed message")
    check("trusted=yes" in inst.read_log(), "trusted client not logged")
    inst.stop()


def main():
    # Every refusal counts as an error: allow the whole battery in one
    # session.
    inst = Instance("policy", local_domains="example.test", relay_domains="",
                    trusted_networks="", smtpd_error_limit=1000)
    inst.start()
    add_user(inst, "alice@example.test", "alice's password")
    add_user(inst, "carol@example.test", "carol's password")
    ctl_input(inst, "user", "disable", "carol@example.test")
    ctl_input(inst, "alias", "add", "sales@example.test",
              "alice@example.test")
    battery(inst)
    no_enumeration(inst)
    local_users(inst)
    inst.stop()
    users_db_unavailable()
    trusted()


run(main)
