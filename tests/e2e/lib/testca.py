# SPDX-License-Identifier: ISC
"""A throw-away test CA for the TLS end-to-end tests, and the small
helpers those tests share: TLS client contexts that trust only the test
CA, smtplib classes that verify a host name while connecting to
127.0.0.1, and users made with estafetactl (password on stdin).

Everything is made with the real `openssl` command in a directory the
test owns (normally the Instance's temporary directory): no key is ever
checked in. Keys are ECDSA P-256 (fast to make) with mode 0600, as
estafetad wants them: the master loads them before it drops privileges.

    ca = TestCA(inst.dir)
    cert, key = ca.issue("mail.example.test", ips=["127.0.0.1"])
    ctx = ca.client_context()          # verifies chain and host name
    with SMTP("mail.example.test", inst.port) as c:   # to 127.0.0.1
        c.starttls(context=ctx)
"""
import os
import smtplib
import ssl
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from estafeta_test import ESTAFETACTL, TestFailure  # noqa: E402

OPENSSL = "openssl"


def _openssl(*args):
    r = subprocess.run([OPENSSL] + list(args), capture_output=True,
                       text=True, timeout=30)
    if r.returncode != 0:
        raise TestFailure(f"openssl {' '.join(args)}: {r.stderr}")
    return r.stdout


def new_key(path):
    """A fresh P-256 private key (PEM, PKCS#8, mode 0600) at path."""
    _openssl("genpkey", "-algorithm", "EC", "-pkeyopt",
             "ec_paramgen_curve:P-256", "-out", path)
    os.chmod(path, 0o600)
    return path


class TestCA:
    """A root CA in dir/ca/ that issues server certificates."""

    def __init__(self, directory, name="Estafeta Test CA"):
        self.dir = os.path.join(directory, "ca")
        os.makedirs(self.dir, exist_ok=True)
        self.key = new_key(os.path.join(self.dir, "ca.key"))
        self.cert = os.path.join(self.dir, "ca.pem")
        _openssl("req", "-x509", "-new", "-key", self.key, "-sha256",
                 "-days", "2", "-subj", f"/O=Estafeta tests/CN={name}",
                 "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign",
                 "-out", self.cert)
        self.serial = 1

    def issue(self, cn, dns=None, ips=(), key=None):
        """Certificate for cn (SAN DNS: dns or [cn], IP: ips), signed by
        the CA. Returns (cert_path, key_path); key: reuse that key."""
        dns = [cn] if dns is None else list(dns)
        base = os.path.join(self.dir, cn.replace("*", "_star"))
        key = key or new_key(base + ".key")
        csr, cert, ext = base + ".csr", base + ".pem", base + ".ext"
        san = ",".join([f"DNS:{d}" for d in dns] + [f"IP:{i}" for i in ips])
        with open(ext, "w") as f:
            f.write("basicConstraints=CA:FALSE\n"
                    "keyUsage=critical,digitalSignature,keyEncipherment\n"
                    "extendedKeyUsage=serverAuth\n")
            if san:
                f.write(f"subjectAltName={san}\n")
        _openssl("req", "-new", "-key", key, "-subj",
                 f"/O=Estafeta tests/CN={cn}", "-out", csr)
        self.serial += 1
        _openssl("x509", "-req", "-in", csr, "-CA", self.cert, "-CAkey",
                 self.key, "-set_serial", str(self.serial), "-days", "2",
                 "-sha256", "-extfile", ext, "-out", cert)
        return cert, key

    def client_context(self, min_version=None, max_version=None):
        """An ssl.SSLContext that trusts only this CA and checks the
        server's host name (ssl's defaults for a client)."""
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH,
                                         cafile=self.cert)
        assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname
        if min_version is not None:
            ctx.minimum_version = min_version
        if max_version is not None:
            ctx.maximum_version = max_version
        return ctx


class _Loopback:
    """Connects to 127.0.0.1 whatever host name it is given, so that the
    name is what TLS verifies and sends as SNI."""

    def __init__(self, *args, **kw):
        kw.setdefault("local_hostname", "client.remote.test")
        kw.setdefault("timeout", 20)
        super().__init__(*args, **kw)

    def _get_socket(self, host, port, timeout):
        return super()._get_socket("127.0.0.1", port, timeout)


class SMTP(_Loopback, smtplib.SMTP):
    """smtplib.SMTP("mail.example.test", port): starttls() checks that
    name (it is also the SNI) while the connection goes to 127.0.0.1."""


class SMTP_SSL(_Loopback, smtplib.SMTP_SSL):
    """smtplib.SMTP_SSL to 127.0.0.1 that verifies the given name."""


def ctl_input(inst, *args, stdin="", want=0):
    """estafetactl -c inst.conf args with stdin (not a tty); checks the
    exit code, returns the CompletedProcess."""
    r = subprocess.run([ESTAFETACTL, "-c", inst.conf] + list(args),
                       input=stdin, capture_output=True, text=True,
                       timeout=30)
    if r.returncode != want:
        raise TestFailure(f"estafetactl {' '.join(args)}: exit "
                          f"{r.returncode}, wanted {want}: {r.stderr}")
    return r


def add_user(inst, address, password):
    """`estafetactl user add address`, the password on stdin."""
    return ctl_input(inst, "user", "add", address, stdin=password + "\n")
