# SPDX-License-Identifier: ISC
"""Local submission with estafeta-sendmail over listen_local: messages piped
into the built command land in the spool with the right envelope (-f/-r,
default sender login@local_sender_domain, recipients from arguments or -t
with Bcc removed), -i and the lone dot, the From:/Date:/Message-ID: it adds,
and the Received line with the uid the daemon got from SO_PEERCRED -- also
for an unprivileged user (nobody, via setpriv). Error cases exit with the
sysexits.h codes: no recipients (64), bad address or data (65), unknown
local user (67, nothing queued: all or nothing), a user outside
listen_local_group (77), no listen_local (78), daemon down (75). -bs
speaks SMTP on stdin/stdout."""
import grp
import os
import pwd
import signal
import socket
import stat
import subprocess
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from estafeta_test import (BUILDDIR, ESTAFETAD, Instance,  # noqa: E402
                           TestFailure, run, wait_for)

SENDMAIL = os.path.join(BUILDDIR, "src", "ctl", "estafeta-sendmail")
NOBODY = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
EX_USAGE, EX_DATAERR, EX_NOUSER, EX_TEMPFAIL = 64, 65, 67, 75
EX_PROTOCOL, EX_NOPERM, EX_CONFIG = 76, 77, 78


def sendmail(inst, args, data=b"", as_nobody=False, conf=None):
    cmd = [SENDMAIL, "-C", conf or inst.conf] + list(args)
    if as_nobody:
        cmd = NOBODY + cmd
    if isinstance(data, str):
        data = data.encode()
    return subprocess.run(cmd, input=data, capture_output=True, timeout=30)


def records(inst, qid):
    """The spool file's records as (type, bytes) pairs."""
    with open(inst.spool_file(qid), "rb") as f:
        data = f.read()
    i, out = len(b"ESTAFETA-SPOOL 1\n"), []
    while i < len(data):
        t, n = data[i:i + 1], int.from_bytes(data[i + 1:i + 5], "big")
        out.append((t.decode(), data[i + 5:i + 5 + n]))
        i += 5 + n
    return out


def queued(inst):
    return set(os.listdir(os.path.join(inst.spool, "queue")))


def submit(inst, args, data, as_nobody=False):
    """Runs sendmail, expects success; returns (sender, rcpts, content)."""
    before = queued(inst)
    r = sendmail(inst, args, data, as_nobody)
    if r.returncode != 0:
        raise TestFailure(f"sendmail {args} exited {r.returncode}: "
                          f"{r.stderr.decode()}")
    new = queued(inst) - before
    assert len(new) == 1, new
    qid = new.pop()
    recs = records(inst, qid)
    sender = [v.decode() for t, v in recs if t == "F"][0]
    rcpts = [v.decode() for t, v in recs if t == "R"]
    return sender, rcpts, inst.spooled_content(qid).decode()


def header(content, name):
    head = content.split("\r\n\r\n", 1)[0]
    return [ln.split(":", 1)[1].strip() for ln in head.split("\r\n")
            if ln.lower().startswith(name.lower() + ":")]


def expect_fail(inst, args, data, code, text, as_nobody=False, conf=None):
    before = queued(inst)
    r = sendmail(inst, args, data, as_nobody, conf)
    err = r.stderr.decode()
    if r.returncode != code or text not in err:
        raise TestFailure(f"sendmail {args}: want exit {code} and {text!r}"
                          f", got {r.returncode}: {err!r}")
    assert queued(inst) == before, "a refused message was queued"


def main():
    me = pwd.getpwuid(os.geteuid())
    inst = Instance("sendmail", local_sender_domain="local.example",
                    local_domains="users.example", message_size_limit="20K")
    # The master creates a missing directory for the socket (/run/...).
    sock = os.path.join(inst.dir, "run", "submit.sock")
    inst.settings["listen_local"] = sock
    inst.write_config()
    inst.start()
    st = os.stat(sock)
    assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o666
    assert stat.S_IMODE(os.stat(os.path.dirname(sock)).st_mode) == 0o755

    # -t: recipients from To, Cc and Bcc; Bcc gone; From/Date/Message-ID
    # added; -F names the sender; the daemon's Received has our uid.
    sender, rcpts, c = submit(inst, ["-t", "-F", "Cron Daemon"], (
        "To: Alice <a@example.test>, b@example.test\n"
        "Cc: c@example.test\nBcc: hidden@example.test\n"
        "Subject: extract\n\nline one\n.\nafter the dot\n"))
    assert sender == f"{me.pw_name}@local.example", sender
    assert sorted(rcpts) == ["a@example.test", "b@example.test",
                             "c@example.test", "hidden@example.test"], rcpts
    assert "hidden" not in c and "Bcc" not in c, c
    assert header(c, "From") == [f"Cron Daemon <{me.pw_name}@local.example>"]
    assert len(header(c, "Date")) == 1 and len(header(c, "Message-ID")) == 1
    assert header(c, "Message-ID")[0].endswith("@mx.example.test>"), c
    assert c.startswith(f"Received: from local (uid {me.pw_uid} "
                        f"{me.pw_name})\r\n\tby mx.example.test"), c
    assert "line one\r\n" in c and "after the dot" not in c, c
    assert "\r\n\r\nline one\r\n" in c, c   # LF became CRLF
    inst.wait_log(f"smtp connect client=local uid={me.pw_uid}")

    # -i: a lone dot is text; dots are stuffed on the wire and come back;
    # -f sets the envelope sender, recipients are arguments (one bare,
    # qualified with local_sender_domain); the user's own fields stay.
    sender, rcpts, c = submit(inst, ["-oi", "-f", "ops@example.test", "--",
                                     "x@example.test", "bob"], (
        "From: Ops <ops@example.test>\r\nDate: Mon, 1 Jan 2024 00:00:00 "
        "+0000\r\nMessage-ID: <fixed@example.test>\r\nSubject: dots\r\n"
        "\r\n.\r\n..two\r\n.three\r\nend"))
    assert sender == "ops@example.test", sender
    assert rcpts == ["x@example.test", "bob@local.example"], rcpts
    assert header(c, "From") == ["Ops <ops@example.test>"], c
    assert header(c, "Message-ID") == ["<fixed@example.test>"], c
    assert len(header(c, "Date")) == 1, c
    assert c.endswith("\r\n\r\n.\r\n..two\r\n.three\r\nend\r\n"), c

    # -r, the null sender, a message without a header section.
    sender, _, c = submit(inst, ["-r", "<>", "y@example.test"],
                          "just a body line\n")
    assert sender == "", sender
    assert header(c, "From") == ["MAILER-DAEMON@local.example"], c
    assert "\r\n\r\njust a body line\r\n" in c, c

    # Without -B the message is declared 8BITMIME (its 8-bit octets are
    # never forwarded undeclared); -B 7BIT is kept.
    before = queued(inst)
    _, _, c = submit(inst, ["eight@example.test"],
                     "Subject: caf\u00e9\n\nd\u00e9j\u00e0 vu\n".encode())
    qid = (queued(inst) - before).pop()
    assert [v for t, v in records(inst, qid) if t == "B"] == [b"1"], \
        records(inst, qid)
    before = queued(inst)
    submit(inst, ["-B", "7BIT", "seven@example.test"], "Subject: s\n\nx\n")
    qid = (queued(inst) - before).pop()
    assert [v for t, v in records(inst, qid) if t == "B"] == [], \
        records(inst, qid)

    # NUL bytes are text like any other (header and body), not an end.
    _, _, c = submit(inst, ["nul@example.test"],
                     b"Subject: a\0b\nX-After: yes\n\nbo\0dy\n")
    assert "Subject: a\0b\r\nX-After: yes\r\n" in c, c
    assert "\r\n\r\nbo\0dy\r\n" in c, c

    # Unprivileged: nobody may submit; the uid is recorded.
    root = os.geteuid() == 0
    sender, rcpts, c = submit(inst, ["-t"], "To: z@example.test\n\nhi\n",
                              as_nobody=True) if root else ("nobody@local."
                              "example", [], "Received: from local (uid "
                              "65534 nobody)\r\nFrom: nobody <nobody@local."
                              "example>\r\n\r\n")
    assert sender == "nobody@local.example", sender
    assert "Received: from local (uid 65534 nobody)" in c, c
    assert header(c, "From") == ["nobody <nobody@local.example>"], c
    if root:
        inst.wait_log("smtp connect client=local uid=65534 user=nobody")
        inst.wait_log("smtp accept client=[local] uid:65534")
    else:
        print("not root: the unprivileged-user checks were skipped")

    # -bs: SMTP on stdin/stdout.
    before = queued(inst)
    r = sendmail(inst, ["-bs"], (
        "EHLO x\r\nMAIL FROM:<bs@example.test>\r\n"
        "RCPT TO:<bs@example.test>\r\nDATA\r\nSubject: bs\r\n\r\nbody\r\n"
        ".\r\nQUIT\r\n"))
    out = r.stdout.decode()
    assert r.returncode == 0 and "250 2.0.0 Ok: queued as" in out, (r, out)
    assert len(queued(inst) - before) == 1

    # Errors, each with its sysexits code and nothing queued.
    expect_fail(inst, [], "Subject: x\n\n", EX_USAGE, "no recipients")
    expect_fail(inst, ["-t"], "Subject: x\n\nbody\n", EX_DATAERR,
                "no recipients")
    expect_fail(inst, ["a@@example.test"], "x\n", EX_DATAERR,
                "bad recipient address")
    expect_fail(inst, ["-t"], "To: <unclosed@example.test\n\n", EX_DATAERR,
                "message header")
    expect_fail(inst, ["-f", "bad sender@", "a@example.test"], "x\n",
                EX_DATAERR, "bad sender address")
    expect_fail(inst, ["-Z", "a@example.test"], "x\n", EX_USAGE,
                "unknown option -Z")
    expect_fail(inst, ["-t"], "To: a@example.test\n" + "X-Pad: " + "p" * 900
                + "\n" * 1 + ("X-Pad: " + "p" * 900 + "\n") * 1200,
                EX_DATAERR, "header section too large")
    # All or nothing: one unknown local user and nobody gets it.
    expect_fail(inst, ["ok@example.test", "ghost@users.example"], "x\n",
                EX_NOUSER, "ghost@users.example: 550 5.1.1")
    expect_fail(inst, ["big@example.test"], "x" * 900 + "\n" + ("y" * 900 +
                "\n") * 30, EX_DATAERR, "552 5.3.4")
    other = os.path.join(inst.dir, "nolocal.conf")
    with open(other, "w") as f:
        f.write(open(inst.conf).read().replace(f"listen_local = {sock}",
                                               ""))
    expect_fail(inst, ["a@example.test"], "x\n", EX_CONFIG,
                "listen_local is not set", conf=other)

    # A reply that is no refusal but not the one expected (250 to DATA,
    # from a daemon stand-in) is EX_PROTOCOL, never 0: nothing was sent.
    fake_sock = os.path.join(inst.dir, "fake.sock")
    fake = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    fake.bind(fake_sock)
    fake.listen(1)

    def fake_daemon():
        conn, _ = fake.accept()
        with conn, conn.makefile("rwb") as f:
            f.write(b"220 fake ESMTP\r\n")
            f.flush()
            for line in f:
                verb = line[:4].upper()
                f.write(b"221 bye\r\n" if verb == b"QUIT" else
                        b"250 2.0.0 ok\r\n")
                f.flush()
                if verb == b"QUIT":
                    return

    t = threading.Thread(target=fake_daemon, daemon=True)
    t.start()
    fakeconf = os.path.join(inst.dir, "fake.conf")
    with open(fakeconf, "w") as f:
        f.write(open(inst.conf).read().replace(f"listen_local = {sock}",
                                               f"listen_local = {fake_sock}"))
    expect_fail(inst, ["a@example.test"], "x\n", EX_PROTOCOL,
                "DATA: 250 2.0.0 ok (unexpected)", conf=fakeconf)
    t.join(10)
    fake.close()

    # listen_local_group: mode 0660, others are refused (EX_NOPERM).
    inst.settings["listen_local_group"] = "estafeta"
    inst.write_config()
    inst.signal(signal.SIGHUP)  # the kept socket gets mode and group
    wait_for(lambda: stat.S_IMODE(os.stat(sock).st_mode) == 0o660,
             "the socket to become 0660")
    assert os.stat(sock).st_gid == grp.getgrnam("estafeta").gr_gid
    if root:
        expect_fail(inst, ["a@example.test"], "x\n", EX_NOPERM,
                    "may not submit", as_nobody=True)
    inst.wait_log("master reloaded")
    _, rcpts, _ = submit(inst, ["after-reload@example.test"], "x\n")
    assert rcpts == ["after-reload@example.test"], rcpts

    # Rate limits count per uid: root's third message in the hour is
    # deferred (EX_TEMPFAIL), nobody still may send.
    lim = Instance("ratelimit", smtpd_user_message_limit="2")
    lsock = os.path.join(lim.dir, "submit.sock")
    lim.settings["listen_local"] = lsock
    lim.write_config()
    lim.start()
    for i in range(2):
        submit(lim, [f"r{i}@example.test"], "x\n")
    expect_fail(lim, ["r3@example.test"], "x\n", EX_TEMPFAIL,
                f"451 4.7.1 Error: message rate limit exceeded for uid "
                f"{me.pw_uid}")
    if root and me.pw_uid != 65534:
        submit(lim, ["r4@example.test"], "x\n", as_nobody=True)
    lim.stop()

    # Bad settings are configuration errors (estafetad -t).
    for kv, msg in (("listen_local=rel/submit.sock", "listen_local: 'rel/"
                     "submit.sock' is not an absolute path"),
                    ("listen_local=/" + "x" * 120, "shorter than 108"),
                    ("local_sender_domain=a@b", "local_sender_domain: 'a@b'"
                     " is not a domain name")):
        p = subprocess.run([ESTAFETAD, "-t", "-c", inst.conf, "-o", kv],
                           capture_output=True, text=True)
        assert p.returncode == 1 and msg in p.stderr, (kv, p.stderr)

    # Daemon down: EX_TEMPFAIL, the socket is gone.
    inst.stop()
    assert not os.path.exists(sock), "socket left behind"
    expect_fail(inst, ["a@example.test"], "x\n", EX_TEMPFAIL,
                "cannot reach estafetad")


run(main)
