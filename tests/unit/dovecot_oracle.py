#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""Asks Dovecot for the IMAP ENVELOPE, BODY and BODYSTRUCTURE of messages,
to make
the reference data of tests/unit/test_imap_body.c (not run by the tests).

usage: dovecot_oracle.py FILE... > tests/unit/data/dovecot-samples.txt

Each FILE (LF or CRLF) is stored with CRLF line ends in a scratch Maildir
that Debian's dovecot-imapd (/usr/lib/dovecot/imap, 2.3) opens as a
PREAUTH session on stdin/stdout: no daemon, no network, no system
configuration. Run as root; the session runs as the `estafeta` user.
Output: one line per message and item, "NAME BODY (...)",
"NAME BODYSTRUCTURE (...)" and "NAME ENVELOPE (...)", NAME being the
file's base name; an answer holding a literal (more than one line) is
left out.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

IMAP = "/usr/lib/dovecot/imap"
USER = "estafeta"


def main():
    files = sys.argv[1:]
    base = tempfile.mkdtemp(prefix="dovecot-oracle-")
    try:
        for d in ("Maildir/new", "Maildir/cur", "Maildir/tmp", "run",
                  "state"):
            os.makedirs(os.path.join(base, d))
        conf = os.path.join(base, "dovecot.conf")
        with open(conf, "w") as f:
            f.write(f"mail_location = maildir:{base}/Maildir\n"
                    f"base_dir = {base}/run\nstate_dir = {base}/state\n"
                    f"log_path = {base}/log\nssl = no\n"
                    f"mail_uid = {USER}\nmail_gid = {USER}\n")
        for i, name in enumerate(files):
            with open(name, "rb") as f:
                data = f.read().replace(b"\r\n", b"\n")
            path = os.path.join(base, "Maildir/cur", f"{1000 + i}.m{i}:2,")
            with open(path, "wb") as f:
                f.write(data.replace(b"\n", b"\r\n"))
        subprocess.run(["chown", "-R", f"{USER}:{USER}", base], check=True)
        cmds = (b"a SELECT INBOX\r\nb FETCH 1:* (BODY)\r\n"
                b"c FETCH 1:* (BODYSTRUCTURE)\r\n"
                b"d FETCH 1:* (ENVELOPE)\r\nz LOGOUT\r\n")
        out = subprocess.run([IMAP, "-c", conf], input=cmds,
                             capture_output=True, check=True,
                             env={"USER": USER, "HOME": base,
                                  "PATH": "/usr/bin:/bin"}).stdout
    finally:
        shutil.rmtree(base, ignore_errors=True)
    for m in re.finditer(rb"^\* (\d+) FETCH \((BODY|BODYSTRUCTURE|ENVELOPE) "
                         rb"(.*)\)\r$", out, re.M):
        name = os.path.basename(files[int(m.group(1)) - 1])
        sys.stdout.write(f"{name} {m.group(2).decode()} "
                         f"{m.group(3).decode('latin-1')}\n")


main()
