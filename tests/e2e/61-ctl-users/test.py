# SPDX-License-Identifier: ISC
"""estafetactl's user, alias and sender commands on an instance's users
database (users_db, by default spool_dir/users.db):

  * the database has mode 0600 and, when run as root, belongs to run_user
    (estafetad makes it at start; `user add` creates it where it is
    missing); it holds yescrypt hashes that libcrypt verifies, and the
    password shows up nowhere: not in argv (an extra argument is a usage
    error), not in the output, not in the database files;
  * before spool_dir exists, a missing database and directory are
    explained;
  * passwords come from the first line of stdin, or from a terminal without
    echo, asked twice (a mismatch is refused);
  * duplicates, unknown users, bad addresses and bad passwords fail with
    exit code 1 and a message; usage errors exit 2;
  * list --json output of users, aliases and senders; disable/enable, del;
  * a database readable by group or others is refused;
  * the queue commands still work beside them.
"""
import ctypes
import ctypes.util
import json
import os
import pty
import pwd
import select
import sqlite3
import subprocess
import sys
import termios
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from estafeta_test import (ESTAFETACTL, Instance, TestFailure,  # noqa: E402
                           run)

_libcrypt = ctypes.CDLL(ctypes.util.find_library("crypt"), use_errno=True)
_libcrypt.crypt.restype = ctypes.c_char_p
_libcrypt.crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]


def crypt_ok(pw, stored):
    """True when libcrypt says stored is a hash of pw."""
    out = _libcrypt.crypt(pw.encode(), stored.encode())
    return out is not None and out.decode() == stored


class Ctl:
    def __init__(self, inst):
        self.inst = inst

    def __call__(self, *args, stdin="", want=0, err=None):
        """Runs estafetactl; checks the exit code (and stderr text)."""
        r = subprocess.run([ESTAFETACTL, "-c", self.inst.conf] + list(args),
                           input=stdin, capture_output=True, text=True,
                           timeout=30)
        if "Sanitizer" in r.stderr or "runtime error:" in r.stderr:
            raise TestFailure(f"estafetactl {' '.join(args)}: sanitizer "
                              f"report: {r.stderr}")
        if r.returncode != want:
            raise TestFailure(f"estafetactl {' '.join(args)}: exit "
                              f"{r.returncode}, wanted {want}: "
                              f"{r.stdout!r} {r.stderr!r}")
        if err is not None and err not in r.stderr:
            raise TestFailure(f"estafetactl {' '.join(args)}: no {err!r} "
                              f"in {r.stderr!r}")
        return r

    def json(self, *args):
        return json.loads(self(*args, "--json").stdout)


def db_rows(path, sql):
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def hash_of(path, address):
    rows = db_rows(path, "SELECT hash FROM users WHERE address = '"
                   + address + "' COLLATE NOCASE")
    if len(rows) != 1:
        raise TestFailure(f"{address}: {len(rows)} rows in users")
    return rows[0][0]


def files_contain(path, secret):
    for suffix in ("", "-wal", "-shm"):
        try:
            with open(path + suffix, "rb") as f:
                if secret.encode() in f.read():
                    return True
        except FileNotFoundError:
            pass
    return False


class Tty:
    """estafetactl with a pseudo-terminal as stdin and stderr."""

    def __init__(self, inst, *args):
        self.master, slave = pty.openpty()
        self.proc = subprocess.Popen(
            [ESTAFETACTL, "-c", inst.conf] + list(args), stdin=slave,
            stdout=subprocess.PIPE, stderr=slave, start_new_session=True)
        self.slave = slave    # kept: finish() checks its echo flag
        self.seen = b""

    def expect(self, text, timeout=20):
        deadline = time.monotonic() + timeout
        while text.encode() not in self.seen:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TestFailure(f"tty: no {text!r} in {self.seen!r}")
            ready, _, _ = select.select([self.master], [], [], left)
            if ready:
                try:
                    chunk = os.read(self.master, 1024)
                except OSError:    # EIO: the child closed the terminal
                    chunk = b""
                if not chunk:
                    raise TestFailure(f"tty closed; got {self.seen!r}")
                self.seen += chunk

    def send(self, line):
        os.write(self.master, line.encode() + b"\n")

    def finish(self):
        out, _ = self.proc.communicate(timeout=30)
        # Whatever is left on the terminal.
        while True:
            ready, _, _ = select.select([self.master], [], [], 0.2)
            if not ready:
                break
            try:
                chunk = os.read(self.master, 1024)
            except OSError:
                break
            if not chunk:
                break
            self.seen += chunk
        echo = termios.tcgetattr(self.slave)[3] & termios.ECHO
        os.close(self.slave)
        os.close(self.master)
        if not echo:
            raise TestFailure(f"terminal left without echo: {self.seen!r}")
        return self.proc.returncode, out.decode()


def check_file(inst, db):
    """Mode 0600, and owned by run_user when we run as root."""
    st = os.stat(db)
    if st.st_mode & 0o7777 != 0o600:
        raise TestFailure(f"{db} has mode {st.st_mode & 0o7777:o}")
    if os.geteuid() == 0:
        owner = pwd.getpwnam(inst.settings["run_user"]).pw_uid
        if st.st_uid != owner:
            raise TestFailure(f"{db} owned by {st.st_uid}, not run_user")


def check_users(ctl, db):
    # add: the first line of stdin is the password.
    r = ctl("user", "add", "alice@Example.TEST", stdin="s3cret-alice\n")
    assert "s3cret" not in r.stdout + r.stderr, r
    check_file(ctl.inst, db)
    h = hash_of(db, "alice@example.test")
    assert h.startswith("$y$"), h
    assert crypt_ok("s3cret-alice", h) and not crypt_ok("s3cret-alic", h)
    # Only the first line; no trailing newline in the password.
    ctl("user", "add", "bob@example.test", stdin="pw-bob\nsecond line\n")
    assert crypt_ok("pw-bob", hash_of(db, "bob@example.test"))
    # Never from argv: an extra argument is a usage error, nothing added.
    r = ctl("user", "add", "carol@example.test", "pw-in-argv", want=2,
            err="never from the command line")
    ctl("user", "passwd", "bob@example.test", "pw-in-argv", want=2)
    # Errors.
    ctl("user", "add", "ALICE@example.test", stdin="x\n", want=1,
        err="already a user")
    ctl("user", "add", "not-an-address", stdin="x\n", want=1,
        err="invalid address")
    ctl("user", "add", "carol@example.test", stdin="", want=1,
        err="no password")
    ctl("user", "add", "carol@example.test", stdin="\n", want=1,
        err="empty password")
    ctl("user", "add", "carol@example.test", stdin="x" * 512 + "\n",
        want=1, err="password too long")
    ctl("user", "passwd", "nobody@example.test", stdin="x\n", want=1,
        err="no such user")
    ctl("user", "del", "nobody@example.test", want=1, err="no such user")
    ctl("user", "disable", "nobody@example.test", want=1,
        err="no such user")
    ctl("user", "frobnicate", "alice@example.test", want=2)
    ctl("user", "del", "alice@example.test", "--json", want=2)
    # The longest password works.
    ctl("user", "add", "carol@example.test", stdin="c" * 511 + "\n")
    assert crypt_ok("c" * 511, hash_of(db, "carol@example.test"))
    # passwd
    old = hash_of(db, "bob@example.test")
    ctl("user", "passwd", "BOB@example.test", stdin="pw-bob-2\n")
    new = hash_of(db, "bob@example.test")
    assert new != old and crypt_ok("pw-bob-2", new), new
    # disable, enable, list
    ctl("user", "disable", "carol@example.test")
    assert ctl.json("user", "list") == [
        {"address": "alice@example.test", "enabled": True},
        {"address": "bob@example.test", "enabled": True},
        {"address": "carol@example.test", "enabled": False},
    ], ctl("user", "list", "--json").stdout
    text = ctl("user", "list").stdout
    assert "carol@example.test" in text and "disabled" in text, text
    assert text.endswith("-- 3 users\n"), text
    ctl("user", "enable", "carol@example.test")
    assert all(u["enabled"] for u in ctl.json("user", "list"))
    ctl("user", "del", "carol@example.test")
    assert [u["address"] for u in ctl.json("user", "list")] == [
        "alice@example.test", "bob@example.test"]
    for pw in ("s3cret-alice", "pw-bob", "pw-bob-2", "c" * 511):
        if files_contain(db, pw):
            raise TestFailure(f"a password is in the clear in {db}")


def check_tty(inst, db):
    t = Tty(inst, "user", "passwd", "alice@example.test")
    t.expect("New password for alice@example.test: ")
    t.send("tty-pass-1")
    t.expect("Retype new password: ")
    t.send("tty-pass-1")
    rc, out = t.finish()
    if rc != 0 or "tty-pass-1" in t.seen.decode(errors="replace"):
        raise TestFailure(f"tty passwd: rc={rc} out={out!r} "
                          f"tty={t.seen!r}")
    assert crypt_ok("tty-pass-1", hash_of(db, "alice@example.test"))
    # A mismatch changes nothing.
    t = Tty(inst, "user", "passwd", "alice@example.test")
    t.expect("New password for")
    t.send("tty-pass-2")
    t.expect("Retype new password: ")
    t.send("tty-pass-3")
    rc, out = t.finish()
    if rc != 1 or "passwords do not match" not in t.seen.decode():
        raise TestFailure(f"tty mismatch: rc={rc} tty={t.seen!r}")
    assert "tty-pass" not in t.seen.decode(), t.seen
    assert crypt_ok("tty-pass-1", hash_of(db, "alice@example.test"))
    # ^C at the prompt: nothing added, and the terminal echoes again.
    t = Tty(inst, "user", "add", "dave@example.test")
    t.expect("New password for")
    t.proc.send_signal(2)
    rc, _ = t.finish()
    if rc == 0:
        raise TestFailure("user add survived SIGINT at the prompt")
    assert "dave@example.test" not in [
        u["address"] for u in Ctl(inst).json("user", "list")]


def check_aliases(ctl):
    ctl("alias", "add", "postmaster@example.test", "alice@example.test")
    ctl("alias", "add", "Sales@Example.test", "bob@example.test")
    ctl("alias", "add", "fwd@example.test", "someone@remote.example")
    ctl("alias", "add", "postmaster@EXAMPLE.test", "bob@example.test",
        want=1, err="alias exists")
    ctl("alias", "add", "alice@example.test", "bob@example.test", want=1,
        err="user exists")
    ctl("alias", "add", "loop@example.test", "loop@example.test", want=1,
        err="alias points to itself")
    ctl("alias", "add", "bad", "bob@example.test", want=1,
        err="invalid alias")
    ctl("alias", "add", "x@example.test", "bad", want=1,
        err="invalid target")
    ctl("user", "add", "sales@example.test", stdin="x\n", want=1,
        err="already a user or an alias")
    assert ctl.json("alias", "list") == [
        {"alias": "fwd@example.test", "target": "someone@remote.example"},
        {"alias": "postmaster@example.test", "target": "alice@example.test"},
        {"alias": "Sales@example.test", "target": "bob@example.test"},
    ], ctl("alias", "list", "--json").stdout
    ctl("alias", "del", "FWD@example.test")
    ctl("alias", "del", "fwd@example.test", want=1, err="no such alias")
    assert len(ctl.json("alias", "list")) == 2
    text = ctl("alias", "list").stdout
    assert text.endswith("-- 2 aliases\n"), text
    assert "postmaster@example.test" in text, text


def check_senders(ctl):
    ctl("sender", "add", "alice@example.test", "@Example.ORG")
    ctl("sender", "add", "alice@example.test", "sales@example.test")
    ctl("sender", "add", "BOB@example.test", "bob@other.example")
    ctl("sender", "add", "alice@example.test", "@example.org", want=1,
        err="sender exists")
    ctl("sender", "add", "nobody@example.test", "@example.org", want=1,
        err="no such user")
    ctl("sender", "add", "alice@example.test", "@", want=1,
        err="invalid domain")
    ctl("sender", "add", "alice@example.test", want=2)
    assert ctl.json("sender", "list") == [
        {"login": "alice@example.test", "pattern": "@example.org"},
        {"login": "alice@example.test", "pattern": "sales@example.test"},
        {"login": "bob@example.test", "pattern": "bob@other.example"},
    ], ctl("sender", "list", "--json").stdout
    ctl("sender", "del", "alice@example.test", "@example.org")
    ctl("sender", "del", "alice@example.test", "@example.org", want=1,
        err="no such sender")
    # Deleting a user takes its sender rights along.
    ctl("user", "del", "bob@example.test")
    assert ctl.json("sender", "list") == [
        {"login": "alice@example.test", "pattern": "sales@example.test"}]


def main():
    inst = Instance("users")
    ctl = Ctl(inst)
    db = os.path.join(inst.spool, "users.db")
    # Before estafetad ever ran there is no spool_dir: both explained.
    ctl("user", "list", want=1, err="no users database")
    ctl("user", "add", "alice@example.test", stdin="x\n", want=1,
        err="create its directory first")
    inst.start()
    check_users(ctl, db)
    check_tty(inst, db)
    check_aliases(ctl)
    check_senders(ctl)
    # A database others can read is refused, reads and writes alike.
    os.chmod(db, 0o640)
    ctl("user", "list", want=1, err="chmod 600")
    ctl("user", "add", "eve@example.test", stdin="x\n", want=1,
        err="chmod 600")
    os.chmod(db, 0o600)
    ctl("user", "list")
    # users_db from the configuration; a missing directory is explained.
    other = os.path.join(inst.dir, "nodir", "users.db")
    inst.write_config(f"users_db = {other}\n")
    ctl("user", "add", "eve@example.test", stdin="x\n", want=1,
        err="create its directory first")
    os.mkdir(os.path.join(inst.dir, "nodir"), 0o700)
    ctl("user", "list", want=1, err="no users database")
    ctl("user", "add", "eve@example.test", stdin="x\n")
    check_file(inst, other)
    assert [u["address"] for u in ctl.json("user", "list")] == [
        "eve@example.test"]
    inst.write_config()
    # The queue commands are unchanged.
    assert inst.queue() == []
    inst.stop()


run(main)
