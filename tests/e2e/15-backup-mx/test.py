# SPDX-License-Identifier: ISC
"""Backup-MX recipient verification: relay_domains recipients are checked
at RCPT time, against the primary MX (a probe, cached) or a table.

A second estafetad is the primary for example.org (local_domains, user
bob@example.org); the backup has relay_domains = example.org and
relay_verify_primary = 127.0.0.1:<primary port>:
  * bob@example.org -> 250, nobody@example.org -> 550 5.1.1 carrying the
    primary's reply; each probe is logged (result=valid/invalid);
  * asked again, both are answered from the cache ("cached=yes"), also
    once the primary is stopped (still 250 and 550); six workers opening
    the new cache together all manage to;
  * with the primary down, an address not in the cache -> 450 4.1.1, not
    cached (asked again: probed again);
  * a primary that accepts the connection but never answers: 450 4.1.1
    within relay_verify_timeout, the reply saying so (a refused
    connection says "Connection refused");
  * a verification cache that cannot be opened: recipients are still
    probed (refused ones get 550), never let through unverified;
  * relay_recipients = a table file with one address and an @domain line:
    listed address 250, others of that domain 550 5.1.1, any address of
    the @domain 250; edits are picked up without a reload; a missing
    table -> 451 4.3.0.
"""
import os
import signal
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from estafeta_test import (Instance, Raw, TestFailure, run,  # noqa: E402
                           wait_for)
from testca import add_user  # noqa: E402


def check(cond, what):
    if not cond:
        raise TestFailure(what)


def rcpt_replies(port, addrs):
    """{addr: (code, text)} for RCPTs in one session."""
    r = Raw(port)
    r.expect(None, 220)
    r.expect("EHLO backup-client.remote.test", 250)
    out = {}
    for a in addrs:
        r.expect("RSET", 250)
        r.expect("MAIL FROM:<sender@remote.test>", 250)
        out[a] = r.cmd(f"RCPT TO:<{a}>")
    r.expect("QUIT", 221)
    r.close()
    return out


def expect(port, addr, code, enh=None, inside=None):
    got, text = rcpt_replies(port, [addr])[addr]
    if got != code or (enh and enh not in text) or (inside and inside not in
                                                     text):
        raise TestFailure(f"<{addr}>: wanted {code} {enh or ''} "
                          f"{inside or ''}, got {text!r}")
    return text


def verify_lines(inst, addr):
    return [line for line in inst.read_log().splitlines()
            if f"smtp verify rcpt=<{addr}>" in line]


def probe(primary, backup):
    p = primary.port
    text = expect(backup.port, "bob@example.org", 250)
    lines = verify_lines(backup, "bob@example.org")
    check(len(lines) == 1 and "result=valid" in lines[0] and
          "cached=yes" not in lines[0], f"probe log: {lines}")
    text = expect(backup.port, "nobody@example.org", 550, "5.1.1",
                  "User unknown in local recipient table")
    print(f"  refused: {text}")
    lines = verify_lines(backup, "nobody@example.org")
    check(len(lines) == 1 and "result=invalid" in lines[0] and
          f"primary=127.0.0.1:{p}" in lines[0], f"probe log: {lines}")
    # The primary saw the probes: MAIL FROM:<>, never DATA.
    primary.wait_log("smtp reject rule=unknown_user client=[127.0.0.1] "
                     "rcpt=nobody@example.org")
    check("smtp accept" not in primary.read_log(), "the probe sent DATA")

    # Again: from the cache.
    expect(backup.port, "bob@example.org", 250)
    expect(backup.port, "NOBODY@example.org", 550, "5.1.1")
    for a in ("bob@example.org", "NOBODY@example.org"):
        lines = verify_lines(backup, a)
        check(lines and "cached=yes" in lines[-1], f"not cached: {lines}")
    # Primary down: the cache still answers; an unknown address cannot be
    # verified and is deferred, and not cached.
    primary.stop()
    expect(backup.port, "bob@example.org", 250)
    expect(backup.port, "nobody@example.org", 550, "5.1.1")
    for _ in range(2):
        expect(backup.port, "carol@example.org", 450, "4.1.1",
               f"cannot connect to 127.0.0.1:{p}: Connection refused")
    lines = verify_lines(backup, "carol@example.org")
    check(len(lines) == 2 and all("result=unknown" in x and "cached=yes"
                                  not in x for x in lines),
          f"unverifiable address cached: {lines}")
    # Another domain is still not relayed.
    expect(backup.port, "bob@example.com", 554, "5.7.1")


def silent_primary(backup):
    """A primary that accepts and says nothing: the probe times out."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    held = []

    def accept():
        while True:
            try:
                held.append(srv.accept()[0])
            except OSError:
                return
    threading.Thread(target=accept, daemon=True).start()
    backup.settings["relay_verify_primary"] = \
        f"127.0.0.1:{srv.getsockname()[1]}"
    backup.settings["relay_verify_timeout"] = "1s"
    backup.write_config()
    backup.signal(signal.SIGHUP)
    backup.wait_log("master reloaded generation=1")
    port = srv.getsockname()[1]

    def attempt():
        # Until a worker of the new generation answers (old ones exit
        # after their session), each probe of the new primary logged.
        n = len(verify_lines(backup, "dave@example.org"))
        t = time.monotonic()
        got = rcpt_replies(backup.port, ["dave@example.org"])[
            "dave@example.org"]
        lines = verify_lines(backup, "dave@example.org")[n:]
        if lines and f"primary=127.0.0.1:{port}" in lines[-1]:
            return got, time.monotonic() - t
        return None
    (code, text), elapsed = wait_for(attempt, "a probe of the new primary")
    check(code == 450 and "4.1.1" in text and f"probe of 127.0.0.1:{port} "
          "failed: timeout" in text, f"silent primary: {text!r}")
    check(0.9 <= elapsed < 10, f"probe answered after {elapsed:.1f}s "
          "(relay_verify_timeout 1s)")
    srv.close()
    for c in held:
        c.close()


def broken_cache(primary_port):
    inst = Instance("backup-nocache", relay_domains="example.org",
                    relay_verify_primary=f"127.0.0.1:{primary_port}")
    # A directory where the cache database should be: it cannot open.
    os.makedirs(os.path.join(inst.spool, "verify.db"))
    inst.start()
    inst.wait_log("verify.db")
    expect(inst.port, "nobody@example.org", 550, "5.1.1")
    expect(inst.port, "bob@example.org", 250)
    inst.stop()


def table():
    inst = Instance("backup-table", relay_domains="example.org, example.net")
    path = os.path.join(inst.dir, "relay_recipients")
    with open(path, "w") as f:
        f.write("# valid recipients\nbob@example.org\n  @example.net  \n")
    inst.settings["relay_recipients"] = path
    inst.write_config()
    inst.start()
    expect(inst.port, "bob@example.org", 250)
    expect(inst.port, "BOB@Example.Org", 250)
    expect(inst.port, "alice@example.org", 550, "5.1.1")
    expect(inst.port, "anyone@example.net", 250)
    expect(inst.port, "bob@example.com", 554, "5.7.1")
    inst.wait_log("smtp reject rule=relay_recipients")
    with open(path, "a") as f:
        f.write("alice@example.org  # added later\n")
    expect(inst.port, "alice@example.org", 250)
    os.unlink(path)
    expect(inst.port, "alice@example.org", 451, "4.3.0")
    inst.stop()


def main():
    primary = Instance("primary", local_domains="example.org",
                       relay_domains="")
    primary.start()
    add_user(primary, "bob@example.org", "bob's password")
    # Several workers open the new cache at once (they used to race).
    backup = Instance("backup", relay_domains="example.org",
                      relay_verify_primary=f"127.0.0.1:{primary.port}",
                      smtpd_workers_min=6)
    backup.start()
    probe(primary, backup)
    check("cannot open the verification cache" not in backup.read_log(),
          "a worker could not open the verification cache")
    silent_primary(backup)
    backup.stop()
    primary.start()
    broken_cache(primary.port)
    table()


run(main)
