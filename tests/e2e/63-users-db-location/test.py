# SPDX-License-Identifier: ISC
"""The users database may live in a directory run_user cannot write
(e.g. root's /etc/estafeta): smtpd opens it read-only, which must not
need to create files beside it. Created by estafetactl before the daemon
starts, as contrib/demo.sh does. (Regression: in WAL mode readers had to
create users.db-shm and every local recipient got 451.)"""
import os
import smtplib
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from estafeta_test import ESTAFETACTL, Instance, TestFailure, run  # noqa: E402


def main():
    inst = Instance("usersdb", local_domains="example.test", relay_domains="",
                    smtpd_auth_cleartext_networks="127.0.0.0/8")
    etc = os.path.join(inst.dir, "etc")
    os.mkdir(etc, 0o755)  # owned by the test's user (root in CI)
    inst.settings["users_db"] = os.path.join(etc, "users.db")
    inst.write_config()
    r = subprocess.run([ESTAFETACTL, "-c", inst.conf, "user", "add",
                        "alice@example.test"], input="pw-alice\n",
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    inst.start()
    with smtplib.SMTP("127.0.0.1", inst.port) as c:
        c.ehlo("client.test")
        c.login("alice@example.test", "pw-alice")
        c.mail("alice@example.test")
        code, text = c.rcpt("alice@example.test")
        if code != 250:
            raise TestFailure(f"local user refused: {code} {text!r}\n"
                              + inst.read_log()[-2000:])
        assert c.rcpt("nobody@example.test")[0] == 550
    assert "users database" not in inst.read_log(), inst.read_log()


run(main)
