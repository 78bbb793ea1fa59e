# SPDX-License-Identifier: ISC
"""estafeta-sendmail end to end: a message piped in by an unprivileged user
(nobody, via setpriv) with -t is relayed by the local submission path to a
second estafetad over a [127.0.0.1]:port transport; it arrives there with
the Bcc removed, the Received line naming the uid, and every recipient in
the envelope. Then the socket's life: it survives a reload, is removed by
a clean stop, and a socket file left by a killed daemon is replaced at the
next start (a live daemon's is not)."""
import os
import signal
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from estafeta_test import (BUILDDIR, ESTAFETAD, Instance,  # noqa: E402
                           TestFailure, run, wait_for)

SENDMAIL = os.path.join(BUILDDIR, "src", "ctl", "estafeta-sendmail")
NOBODY = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]


def sendmail(conf, args, data, as_nobody):
    cmd = [SENDMAIL, "-C", conf] + args
    if as_nobody:
        cmd = NOBODY + cmd
    return subprocess.run(cmd, input=data.encode(), capture_output=True,
                          timeout=30)


def contents(inst):
    return [inst.spooled_content(i) for i in inst.queue_ids()]


def main():
    root = os.geteuid() == 0
    remote = Instance("remote", relay_domains="example.org").start()
    relay = Instance(
        "relay", relay_domains="", deliver_workers=1,
        local_sender_domain="app.example", delay_warning_time="0",
        transports=f"example.org=smtp:[127.0.0.1]:{remote.port}")
    sock = os.path.join(relay.dir, "submit.sock")
    relay.settings["listen_local"] = sock
    relay.write_config()
    relay.start()

    r = sendmail(relay.conf, ["-t", "-i", "-F", "Nightly Job"], (
        "To: ops@example.org\nCc: Dev Team <dev@example.org>\n"
        "Bcc: audit@example.org\nSubject: nightly report\n\n"
        "All good.\n.\nstill the body\n"), as_nobody=root)
    assert r.returncode == 0, (r.returncode, r.stderr)
    got = wait_for(lambda: [c for c in contents(remote)
                            if b"Subject: nightly report" in c],
                   "the message at the remote")
    c = got[0].decode()
    who = "uid 65534 nobody" if root else f"uid {os.geteuid()}"
    assert f"Received: from local ({who}" in c, c
    assert "Bcc" not in c and "audit" not in c, c
    assert "\r\n.\r\nstill the body\r\n" in c, c
    login = "nobody" if root else None
    if login:
        assert "From: Nightly Job <nobody@app.example>" in c, c
    m = [q for q in remote.queue()
         if q["sender"].endswith("@app.example")][0]
    assert sorted(x["addr"] for x in m["recipients"]) == [
        "audit@example.org", "dev@example.org", "ops@example.org"], m
    relay.wait_log("qmgr removed")

    # A large message streams through (1 MiB, far past the command's
    # 64 KiB buffer), with lines past the SMTP limit broken, not refused:
    # a 3,000-octet header field (folded) and a 2,500-octet body line.
    long_subject = "S" * 3000
    body = "".join(f"{i:07d} " + "x" * 92 + "\n" for i in range(10000))
    r = sendmail(relay.conf, ["big@example.org"], (
        f"Subject: big {long_subject}\n\n" + "." + "y" * 2499 + "\n" + body),
        as_nobody=False)
    assert r.returncode == 0, (r.returncode, r.stderr)
    got = wait_for(lambda: [c for c in contents(remote)
                            if b"Subject: big" in c], "the big message")
    c = got[0].decode()
    head, got_body = c.split("\r\n\r\n", 1)
    assert all(len(ln) <= 998 for ln in c.split("\r\n")), "long line"
    subj = head[head.index("Subject: big "):].split("\r\n")
    unfolded = subj[0] + "".join(ln[1:] for ln in subj[1:]
                                  if ln.startswith(" "))
    assert unfolded == "Subject: big " + long_subject, unfolded[:80]
    first, rest = got_body.split("\r\n", 1)[0], got_body
    assert first.startswith(".y") and len(first) <= 998, first[:20]
    joined = rest.replace("\r\n", "")
    assert joined.startswith("." + "y" * 2499 + "0000000 ")
    assert joined.endswith(body.replace("\n", "")[-2000:]), joined[-50:]
    assert got_body.endswith(body.replace("\n", "\r\n")[-5000:]), \
        got_body[-100:]

    # Reload keeps the socket (same path): submissions go on.
    relay.signal(signal.SIGHUP)
    relay.wait_log("master reloaded")
    r = sendmail(relay.conf, ["after@example.org"], "Subject: after\n\nx\n",
                 as_nobody=False)
    assert r.returncode == 0, r.stderr
    wait_for(lambda: [c for c in contents(remote)
                      if b"Subject: after" in c], "the second message")

    # The socket path turned into a symbolic link (whoever can write its
    # directory could do it): a reload must not open up the target.
    victim = os.path.join(relay.dir, "victim")
    with open(victim, "w") as f:
        f.write("secret\n")
    os.chmod(victim, 0o600)
    os.rename(sock, sock + ".real")
    os.symlink(victim, sock)
    relay.signal(signal.SIGHUP)
    relay.wait_log("master reload failed")
    mode = os.stat(victim).st_mode & 0o777
    assert mode == 0o600, f"reload changed the link target to {mode:o}"
    os.unlink(sock)
    os.rename(sock + ".real", sock)
    relay.signal(signal.SIGHUP)
    relay.wait_log("master reloaded", count=2)

    # A second daemon with the same socket refuses to start.
    clash = Instance("clash", listen_local=sock)
    p = subprocess.run([ESTAFETAD, "-f", "-c", clash.conf],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode != 0 and "another daemon is listening" in \
        p.stdout + p.stderr, (p.returncode, p.stdout, p.stderr)
    assert os.path.exists(sock)

    # kill -9: the socket file stays; the next start replaces it.
    relay.stop(kill=True)
    assert os.path.exists(sock), "socket vanished with a killed daemon"
    r = sendmail(relay.conf, ["x@example.org"], "x\n", as_nobody=False)
    assert r.returncode == 75, (r.returncode, r.stderr)
    relay.start()
    r = sendmail(relay.conf, ["back@example.org"], "Subject: back\n\nx\n",
                 as_nobody=False)
    assert r.returncode == 0, r.stderr
    wait_for(lambda: [c for c in contents(remote)
                      if b"Subject: back" in c], "the message after restart")
    relay.stop()
    if os.path.exists(sock):
        raise TestFailure("a clean stop left the socket behind")


run(main)
