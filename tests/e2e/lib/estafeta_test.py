# SPDX-License-Identifier: ISC
"""Shared harness for Estafeta's end-to-end tests.

Each test is a directory tests/e2e/NN-name/ holding test.py (and any
config or expected-output files). A test builds an Instance: a temporary
directory with its own config, spool and free loopback ports, starts the
real estafetad from the build tree, and talks to it with real clients
(Python's smtplib, swaks, Postfix's smtp-source). Nothing is mocked.

Rules the harness enforces for every test:
  * no sleeps as synchronisation: wait_for() polls a condition with a
    deadline and fails the test with a message when it runs out;
  * ports on 127.0.0.1 are reserved outside the ephemeral range and
    locked (testports.py), so parallel tests and runs do not clash;
  * every process started is stopped at exit, even on failure.

Run a single test: python3 tests/e2e/NN-name/test.py (after `make`).
"""
import atexit
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import testports  # noqa: E402 - same directory

SRCDIR = os.environ.get("SRCDIR") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", "..", ".."))
BUILDDIR = os.environ.get("BUILDDIR") or SRCDIR
ESTAFETAD = os.path.join(BUILDDIR, "src", "relay", "estafetad")
ESTAFETACTL = os.path.join(BUILDDIR, "src", "ctl", "estafetactl")
BUZOND = os.path.join(BUILDDIR, "src", "store", "buzond")
DEFAULT_TIMEOUT = float(os.environ.get("E2E_TIMEOUT", "20"))


class TestFailure(Exception):
    pass


def wait_for(cond, what, timeout=DEFAULT_TIMEOUT, interval=0.02):
    """Polls cond() until it returns a true value (returned), or fails."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise TestFailure(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def free_port():
    """A TCP port free on 127.0.0.1, reserved for this test until it exits
    (testports.py: outside the ephemeral range, locked against parallel
    tests)."""
    return testports.reserve()


def port_open(port, host="127.0.0.1"):
    try:
        with socket.create_connection((host, port), timeout=0.5) as s:
            s.settimeout(2)
            return s.recv(512).startswith(b"220")
    except OSError:
        return False


_instances = []


def _cleanup():
    for inst in _instances:
        inst.stop(kill=True)
        inst.remove()


atexit.register(_cleanup)


class Instance:
    """One estafetad with a private directory, config and ports."""

    def __init__(self, name="e2e", **settings):
        self.dir = tempfile.mkdtemp(prefix=f"estafeta-{name}-")
        os.chmod(self.dir, 0o755)
        self.spool = os.path.join(self.dir, "spool")
        self.conf = os.path.join(self.dir, "estafetad.conf")
        self.log = os.path.join(self.dir, "estafetad.log")
        self.port = free_port()
        self.settings = {
            "hostname": "mx.example.test",
            "spool_dir": self.spool,
            "listen_mx": f"127.0.0.1:{self.port}",
            # Accept any recipient at example.test without checks; tests
            # of local users set local_domains and create users.
            "relay_domains": "example.test",
            "log_target": "stderr",
            "log_level": "info",
            "smtpd_workers_min": "2",
            # No delivery unless a test asks for it; and never a DNS query
            # off this machine (127.0.0.1:9 answers nothing).
            "deliver_workers": "0",
            "dns_server": "127.0.0.1@9",
        }
        if os.geteuid() == 0:
            self.settings["run_user"] = "estafeta"
        self.settings.update({k: str(v) for k, v in settings.items()})
        self.proc = None
        self.logf = None
        self.keep = bool(os.environ.get("E2E_KEEP"))
        _instances.append(self)
        self.write_config()

    def write_config(self, extra=""):
        with open(self.conf, "w") as f:
            for k, v in self.settings.items():
                f.write(f"{k} = {v}\n")
            f.write(extra)

    def start(self, wait=True):
        self.logf = open(self.log, "ab")
        self.proc = subprocess.Popen(
            [ESTAFETAD, "-f", "-c", self.conf], stdout=self.logf,
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self):
        def ready():
            if self.proc.poll() is not None:
                raise TestFailure(
                    f"estafetad exited with {self.proc.returncode}:\n"
                    + self.read_log())
            return port_open(self.port)
        wait_for(ready, f"estafetad to accept on port {self.port}")

    def pids(self):
        """Every estafetad process of this instance (master first)."""
        if self.proc is None:
            return []
        out = subprocess.run(["pgrep", "-s", str(self.proc.pid)],
                             capture_output=True, text=True).stdout
        return [int(p) for p in out.split()]

    def child_pids(self, role):
        """The pids of this instance's children of one role ("deliver",
        "smtpd", "qmgr": their /proc/PID/comm is est-ROLE)."""
        out = []
        for p in self.pids():
            try:
                with open(f"/proc/{p}/comm") as f:
                    if f.read().strip() == f"est-{role}":
                        out.append(p)
            except FileNotFoundError:
                pass
        return out

    def signal(self, sig):
        os.kill(self.proc.pid, sig)

    def stop(self, kill=False, timeout=DEFAULT_TIMEOUT):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            if kill:
                for p in self.pids():
                    try:
                        os.kill(p, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
            else:
                self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        # Children of a killed master: make sure none survive.
        if kill:
            wait_for(lambda: not self.pids_alive(), "children to exit")
        self.proc = None
        if self.logf:
            self.logf.close()
            self.logf = None

    def pids_alive(self):
        out = subprocess.run(["pgrep", "-f", self.conf],
                             capture_output=True, text=True).stdout
        return out.split()

    def remove(self):
        if not self.keep:
            shutil.rmtree(self.dir, ignore_errors=True)

    def read_log(self):
        try:
            with open(self.log, "r", errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def wait_log(self, text, count=1, timeout=DEFAULT_TIMEOUT):
        """Waits until text occurs count times in the log."""
        return wait_for(lambda: self.read_log().count(text) >= count,
                        f"{count}x {text!r} in the log", timeout)

    def ctl(self, *args, check=True):
        r = subprocess.run([ESTAFETACTL, "-c", self.conf] + list(args),
                           capture_output=True, text=True)
        if check and r.returncode != 0:
            raise TestFailure(f"estafetactl {' '.join(args)} failed: "
                              f"{r.returncode} {r.stderr}")
        return r

    def queue(self):
        """The queue as a list of dicts (estafetactl queue list --json)."""
        return json.loads(self.ctl("queue", "list", "--json").stdout)

    def queue_ids(self):
        return {m["id"] for m in self.queue()}

    def spool_file(self, qid):
        return os.path.join(self.spool, "queue", qid)

    def spooled_content(self, qid):
        """The message content of a queued spool file (records 'D')."""
        with open(self.spool_file(qid), "rb") as f:
            data = f.read()
        magic = b"ESTAFETA-SPOOL 1\n"
        assert data.startswith(magic), "bad spool magic"
        i, out = len(magic), []
        while i < len(data):
            t, n = data[i:i + 1], int.from_bytes(data[i + 1:i + 5], "big")
            if t == b"D":
                out.append(data[i + 5:i + 5 + n])
            i += 5 + n
        return b"".join(out)


class Store(Instance):
    """One buzond (the mail store) with a private directory: store_root,
    users database, LMTP on a unix socket and on a free TCP port, POP3,
    POP3S, IMAP, IMAPS on free ports, TLS from the test CA (tls=True).

        st = Store()                       # settings=... override keys
        st.add_user("alice@example.test", "pw")   # estafetactl user add
        st.start()
        smtplib.LMTP("127.0.0.1", st.lmtp_port)   # or st.lmtp_socket
        st.maildir("alice@example.test")  # .../store/example.test/alice

    users_db is read with estafetactl through st.ctl_conf (a relay
    configuration naming the same users_db; nothing listens there). When
    the tests run as root buzond's sessions run as "estafeta", and the
    master hands users_db to that user as estafetad does.
    """

    def __init__(self, name="store", tls=True, **settings):
        self.dir = tempfile.mkdtemp(prefix=f"estafeta-{name}-")
        os.chmod(self.dir, 0o755)
        self.conf = os.path.join(self.dir, "buzond.conf")
        self.ctl_conf = os.path.join(self.dir, "estafetactl.conf")
        self.log = os.path.join(self.dir, "buzond.log")
        self.store_root = os.path.join(self.dir, "store")
        self.users_db = os.path.join(self.dir, "users.db")
        self.lmtp_socket = os.path.join(self.dir, "lmtp.sock")
        self.lmtp_port = free_port()
        self.pop3_port = free_port()
        self.pop3s_port = free_port()
        self.imap_port = free_port()
        self.imaps_port = free_port()
        self.port = self.lmtp_port
        self.settings = {
            "hostname": "mail.example.test",
            "store_root": self.store_root,
            "users_db": self.users_db,
            "listen_lmtp": self.lmtp_socket,
            "listen_lmtp_tcp": f"127.0.0.1:{self.lmtp_port}",
            "listen_pop3": f"127.0.0.1:{self.pop3_port}",
            "listen_imap": f"127.0.0.1:{self.imap_port}",
            "log_target": "stderr",
            "log_level": "info",
        }
        self.ca = None
        if tls:
            import testca  # noqa: E402 - same directory, imports us
            self.ca = testca.TestCA(self.dir)
            cert, key = self.ca.issue("mail.example.test",
                                      ips=["127.0.0.1"])
            self.settings.update({
                "tls_cert_files": cert, "tls_key_files": key,
                "listen_pop3s": f"127.0.0.1:{self.pop3s_port}",
                "listen_imaps": f"127.0.0.1:{self.imaps_port}",
            })
        if os.geteuid() == 0:
            self.settings["run_user"] = "estafeta"
        self.settings.update({k: str(v) for k, v in settings.items()})
        with open(self.ctl_conf, "w") as f:
            f.write(f"spool_dir = {self.dir}/ctl-spool\n"
                    f"users_db = {self.users_db}\n"
                    f"listen_mx = 127.0.0.1:{free_port()}\n")
        self.proc = None
        self.logf = None
        self.keep = bool(os.environ.get("E2E_KEEP"))
        _instances.append(self)
        self.write_config()

    def start(self, wait=True):
        self.logf = open(self.log, "ab")
        self.proc = subprocess.Popen(
            [BUZOND, "-f", "-c", self.conf], stdout=self.logf,
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self):
        def ready():
            if self.proc.poll() is not None:
                raise TestFailure(
                    f"buzond exited with {self.proc.returncode}:\n"
                    + self.read_log())
            return port_open(self.lmtp_port)
        wait_for(ready, f"buzond to accept LMTP on {self.lmtp_port}")

    def ctl(self, *args, check=True, stdin=None):
        r = subprocess.run([ESTAFETACTL, "-c", self.ctl_conf] + list(args),
                           capture_output=True, text=True, input=stdin)
        if check and r.returncode != 0:
            raise TestFailure(f"estafetactl {' '.join(args)} failed: "
                              f"{r.returncode} {r.stderr}")
        return r

    def add_user(self, address, password="secret-pw", quota=None):
        self.ctl("user", "add", address, stdin=password + "\n")
        if quota is not None:
            self.ctl("user", "quota", address, str(quota))

    def maildir(self, user):
        local, domain = user.lower().rsplit("@", 1)
        return os.path.join(self.store_root, domain, local)

    def messages(self, user, folder=""):
        """Contents (bytes) of the files in new/ and cur/ of a folder
        ("" = INBOX), sorted by file name."""
        base = self.maildir(user)
        if folder:
            base = os.path.join(base, "." + folder)
        out = []
        for sub in ("new", "cur"):
            d = os.path.join(base, sub)
            if not os.path.isdir(d):
                continue
            for n in sorted(os.listdir(d)):
                with open(os.path.join(d, n), "rb") as f:
                    out.append(f.read())
        return out


class Raw:
    """A raw SMTP client socket for protocol tests (exact bytes)."""

    def __init__(self, port, host="127.0.0.1", timeout=10):
        self.s = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.s.sendall(data)

    def reply(self):
        """One complete (possibly multi-line) reply: (code, text)."""
        lines = []
        while True:
            while b"\r\n" not in self.buf:
                chunk = self.s.recv(65536)
                if not chunk:
                    raise TestFailure("connection closed; got "
                                      f"{self.buf!r} after {lines!r}")
                self.buf += chunk
            line, self.buf = self.buf.split(b"\r\n", 1)
            lines.append(line.decode(errors="replace"))
            if len(line) < 4 or line[3:4] != b"-":
                return int(lines[-1][:3]), "\n".join(lines)

    def cmd(self, line):
        self.send(line + "\r\n")
        return self.reply()

    def expect(self, line, code):
        got, text = self.cmd(line) if line is not None else self.reply()
        if got != code:
            raise TestFailure(f"{line!r}: expected {code}, got {text!r}")
        return text

    def closed(self, timeout=5):
        """True when the server has closed the connection. A server that
        closes with our last command unread (a 421 while draining, sent
        before the QUIT arrived) makes the kernel answer with a reset:
        closed all the same."""
        self.s.settimeout(timeout)
        try:
            while True:
                chunk = self.s.recv(65536)
                if not chunk:
                    return True
                self.buf += chunk
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False

    def close(self):
        self.s.close()


SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                   "runtime error:")


def check_sanitizers():
    """Fails when any daemon of this test printed a sanitizer report."""
    for inst in _instances:
        log = inst.read_log()
        for mark in SANITIZER_MARKS:
            if mark in log:
                raise TestFailure(f"sanitizer report in {inst.log}: {mark}")


def run(main):
    """Runs a test's main(); prints PASS/FAIL and exits 0/1 (automake)."""
    name = os.path.basename(os.path.dirname(os.path.abspath(
        sys.modules["__main__"].__file__)))
    try:
        main()
        for inst in _instances:
            inst.stop()
        check_sanitizers()
    except Exception as e:  # noqa: BLE001 - report any failure
        import traceback
        traceback.print_exc()
        for inst in _instances:
            print(f"--- log of {inst.dir} ---\n{inst.read_log()[-6000:]}")
        print(f"FAIL {name}: {e}")
        sys.exit(1)
    print(f"PASS {name}")
    sys.exit(0)
