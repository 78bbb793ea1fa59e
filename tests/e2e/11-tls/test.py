# SPDX-License-Identifier: ISC
"""TLS with a real test CA (made by openssl in the temporary directory):
STARTTLS on the MX port, implicit TLS on listen_smtps, SNI, TLS settings
refused at start-up and at reload.

  * STARTTLS verified by Python's ssl (chain against the test CA and host
    name mail.example.test) and by swaks (--tls-verify); a client trusting
    another CA fails the handshake; the version and cipher appear in the
    Received header ("(using TLSv1.3 with cipher ...)", "with ESMTPS") and
    in the log ("smtp tls ... version=");
  * after STARTTLS the session starts over: MAIL before a new EHLO gets
    503, the new EHLO no longer lists STARTTLS; STARTTLS again -> 503,
    STARTTLS with an argument -> 501;
  * "STARTTLS\\r\\nMAIL FROM:..." in one write (command injection): 554
    5.5.1, the connection closes, the injected commands are never answered
    and nothing is queued;
  * a TLS 1.2-only client is served by default (the Received header says
    TLSv1.2) and refused with tls_min_version = TLSv1.3;
  * implicit TLS (SMTP_SSL, verified); a plaintext client there gets no
    greeting and the failed handshake is logged;
  * SNI: with two certificates, server_hostname mx.other.test gets that
    one, an unknown name and no SNI the default;
  * `estafetad -t` exits 1 naming the file for a key that does not match
    its certificate, an unreadable and a missing key file, and different
    list lengths; a reload with a broken key keeps the old certificates
    serving; a good reload applies new ones.
"""
import os
import shutil
import signal
import smtplib
import socket
import ssl
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from estafeta_test import (ESTAFETAD, Instance, Raw, TestFailure,  # noqa
                           free_port, run, wait_for)
from testca import SMTP, SMTP_SSL, TestCA, new_key  # noqa: E402

MSG = (b"From: bob@remote.test\r\nTo: alice@example.test\r\n"
       b"Subject: over TLS\r\n\r\nHello.\r\n")


def check(cond, what):
    if not cond:
        raise TestFailure(what)


def peer_names(sock):
    """(subject CN, [SAN DNS names]) of the certificate the server sent."""
    cert = sock.getpeercert()
    cn = [v for rdn in cert["subject"] for k, v in rdn if k == "commonName"]
    dns = [v for k, v in cert.get("subjectAltName", ()) if k == "DNS"]
    return cn[0] if cn else None, dns


def queued_id(text):
    if isinstance(text, bytes):
        text = text.decode()
    return text.rsplit(" ", 1)[1]


def starttls_mx(inst, ca):
    """STARTTLS verified by Python's ssl; the session restarts after it."""
    with SMTP("mail.example.test", inst.port) as c:
        c.ehlo()
        check(c.has_extn("starttls"), "EHLO lacks STARTTLS before TLS")
        code, text = c.starttls(context=ca.client_context())
        check(code == 220, f"STARTTLS: {code} {text!r}")
        check(c.sock.version() == "TLSv1.3", c.sock.version())
        cn, dns = peer_names(c.sock)
        check(cn == "mail.example.test" and "mail.example.test" in dns,
              f"certificate {cn} {dns}")
        # RFC 3207 4.2: nothing from before TLS counts, not even EHLO.
        code, text = c.mail("bob@remote.test")
        check(code == 503, f"MAIL right after TLS: {code} {text!r}")
        c.ehlo()
        check(not c.has_extn("starttls"),
              f"EHLO still lists STARTTLS under TLS: {c.esmtp_features}")
        code, text = c.docmd("STARTTLS")
        check(code == 503, f"second STARTTLS: {code} {text!r}")
        c.mail("bob@remote.test")
        code, text = c.rcpt("alice@example.test")
        check(code == 250, f"RCPT: {code} {text!r}")
        code, text = c.data(MSG)
        check(code == 250, f"DATA: {code} {text!r}")
        qid = queued_id(text)
    wait_for(lambda: qid in inst.queue_ids(), f"{qid} in the queue")
    content = inst.spooled_content(qid)
    hdr = content.split(b"\r\n\r\n", 1)[0].decode()
    check("(using TLSv1.3 with cipher TLS_" in hdr and "bits))" in hdr,
          f"no TLS details in the Received header: {hdr!r}")
    check(f"with ESMTPS id {qid}" in hdr, f"not ESMTPS: {hdr!r}")
    check(content.endswith(MSG), "message content changed")
    inst.wait_log("smtp tls client=[127.0.0.1] version=TLSv1.3 cipher=TLS_")
    check("sni=mail.example.test" in inst.read_log(), "SNI not logged")

    # A client that trusts another CA refuses our certificate.
    other = TestCA(os.path.join(inst.dir, "other"), "Some Other CA")
    with SMTP("mail.example.test", inst.port) as c:
        c.ehlo()
        try:
            c.starttls(context=other.client_context())
            raise TestFailure("TLS verified against the wrong CA")
        except ssl.SSLCertVerificationError:
            pass
    # The host name is checked too: the default certificate is not valid
    # for a name it does not carry.
    with SMTP("unknown.example.test", inst.port) as c:
        c.ehlo()
        try:
            c.starttls(context=ca.client_context())
            raise TestFailure("certificate accepted for a foreign name")
        except ssl.SSLCertVerificationError as e:
            check("Hostname mismatch" in str(e), str(e))


def starttls_syntax(inst):
    r = Raw(inst.port)
    r.expect(None, 220)
    r.expect("EHLO client.remote.test", 250)
    text = r.expect("STARTTLS now", 501)
    check("5.5.4" in text, text)
    r.expect("QUIT", 221)
    r.close()


def swaks(*args):
    return subprocess.run(["swaks", "--server", "127.0.0.1"] + list(args),
                          capture_output=True, text=True, timeout=30)


def starttls_swaks(inst, ca):
    out = swaks("--port", str(inst.port), "-tls", "--tls-verify",
                "--tls-ca-path", ca.cert, "--tls-sni", "mail.example.test",
                "--ehlo", "swaks.remote.test", "--from", "bob@remote.test",
                "--to", "alice@example.test", "--header",
                "Subject: swaks over TLS")
    check(out.returncode == 0, f"swaks -tls failed: {out.stdout}{out.stderr}")
    check("TLS started with cipher TLSv1.3:" in out.stdout, out.stdout)
    qid = out.stdout.split("250 2.0.0 Ok: queued as ", 1)[1].split()[0]
    wait_for(lambda: qid in inst.queue_ids(), f"swaks' {qid} in the queue")
    check(b"(using TLSv1.3 with cipher" in inst.spooled_content(qid),
          "swaks message: no TLS in the Received header")
    # swaks trusting another CA cannot verify us.
    other = os.path.join(inst.dir, "other", "ca", "ca.pem")
    out = swaks("--port", str(inst.port), "-tls", "--tls-verify",
                "--tls-ca-path", other, "--from", "bob@remote.test",
                "--to", "alice@example.test", "--quit-after", "TLS")
    check(out.returncode != 0 and "250 2.0.0" not in out.stdout,
          f"swaks verified us against the wrong CA: {out.stdout}")


def tls12_client(inst, ca):
    ctx = ca.client_context(max_version=ssl.TLSVersion.TLSv1_2)
    with SMTP("mail.example.test", inst.port) as c:
        c.ehlo()
        c.starttls(context=ctx)
        check(c.sock.version() == "TLSv1.2", c.sock.version())
        cipher = c.sock.cipher()[0]
        c.ehlo()
        c.mail("bob@remote.test")
        c.rcpt("alice@example.test")
        code, text = c.data(MSG)
        check(code == 250, f"DATA over TLS 1.2: {code} {text!r}")
        qid = queued_id(text)
    wait_for(lambda: qid in inst.queue_ids(), f"{qid} in the queue")
    want = f"(using TLSv1.2 with cipher {cipher} ".encode()
    check(want in inst.spooled_content(qid), f"no {want!r} in Received")


def injection(inst):
    before = inst.queue_ids()
    r = Raw(inst.port)
    r.expect(None, 220)
    r.expect("EHLO client.remote.test", 250)
    r.send("STARTTLS\r\nMAIL FROM:<evil@x>\r\nRCPT TO:<alice@example.test>"
           "\r\nDATA\r\nSubject: injected\r\n\r\nx\r\n.\r\n")
    text = r.expect(None, 554)
    check("5.5.1" in text, text)
    check(r.closed(timeout=10), "connection left open after the injection")
    check(r.buf == b"", f"injected commands were answered: {r.buf!r}")
    r.close()
    inst.wait_log("smtp reject rule=starttls_injection client=[127.0.0.1]")
    # Synchronise on a later message: once it is indexed, anything the
    # injection had queued would be there too.
    with smtplib.SMTP("127.0.0.1", inst.port, "client.remote.test") as c:
        c.sendmail("ok@remote.test", ["alice@example.test"], MSG)
    wait_for(lambda: len(inst.queue_ids() - before) == 1,
             "the message after the injection in the queue")
    senders = [m["sender"] for m in inst.queue() if m["id"] not in before]
    check(senders == ["ok@remote.test"], f"queued after the injection: "
          f"{senders}")


def implicit_tls(inst, ca, smtps):
    with SMTP_SSL("mail.example.test", smtps,
                  context=ca.client_context()) as c:
        check(c.sock.version() == "TLSv1.3", c.sock.version())
        code, text = c.ehlo()
        check(code == 250, text)
        check(not c.has_extn("starttls"), "STARTTLS offered on smtps")
        check(c.has_extn("auth"), "AUTH not offered under implicit TLS")
        code, text = c.docmd("STARTTLS")
        check(code == 503, f"STARTTLS on smtps: {code} {text!r}")
    inst.wait_log(f"listener=127.0.0.1:{smtps}")
    # A plaintext client gets no 220: its EHLO is no TLS handshake.
    n = inst.read_log().count("smtp tls handshake failed client=[127.0.0.1]")
    got = b""
    with socket.create_connection(("127.0.0.1", smtps), 10) as s:
        s.sendall(b"EHLO plain.remote.test\r\n")
        try:
            while chunk := s.recv(4096):   # at most a TLS alert, then EOF
                got += chunk
        except ConnectionResetError:	# closed with our EHLO unread
            pass
    check(b"220" not in got and b"250" not in got,
          f"plaintext client on smtps was answered: {got!r}")
    inst.wait_log("smtp tls handshake failed client=[127.0.0.1]", n + 1)


def sni(inst, ca, smtps):
    loose = ca.client_context()
    loose.check_hostname = False	# still CERT_REQUIRED: chain verified
    cases = [("mx.other.test", "mx.other.test"),
             ("MX.Other.Test", "mx.other.test"),
             ("mail.example.test", "mail.example.test"),
             ("unknown.example.test", "mail.example.test"),
             (None, "mail.example.test")]
    for name, want in cases:
        with socket.create_connection(("127.0.0.1", smtps), 10) as raw:
            with loose.wrap_socket(raw, server_hostname=name) as s:
                cn, dns = peer_names(s)
                check(cn == want and dns == [want],
                      f"SNI {name}: got {cn} {dns}, wanted {want}")
    # And verified end to end for the second name, over STARTTLS.
    with SMTP("mx.other.test", inst.port) as c:
        c.ehlo()
        c.starttls(context=ca.client_context())
        check(peer_names(c.sock)[0] == "mx.other.test", "STARTTLS SNI")
    inst.wait_log("sni=mx.other.test")


def tls13_only(ca, c1, k1):
    inst = Instance("tls13", tls_cert_files=c1, tls_key_files=k1,
                    tls_min_version="TLSv1.3").start()
    with SMTP("mail.example.test", inst.port) as c:
        c.ehlo()
        try:
            c.starttls(context=ca.client_context(
                max_version=ssl.TLSVersion.TLSv1_2))
            raise TestFailure("TLS 1.2-only client accepted with "
                              "tls_min_version = TLSv1.3")
        except (ssl.SSLError, smtplib.SMTPServerDisconnected,
                ConnectionError):
            pass
    inst.wait_log("smtp tls handshake failed client=[127.0.0.1]")
    with SMTP("mail.example.test", inst.port) as c:
        c.ehlo()
        c.starttls(context=ca.client_context())
        check(c.sock.version() == "TLSv1.3", c.sock.version())
    inst.stop()


def estafetad_t(conf, as_user=None):
    cmd = [ESTAFETAD, "-t", "-c", conf]
    if as_user:
        cmd = ["setpriv", f"--reuid={as_user}", f"--regid={as_user}",
               "--clear-groups"] + cmd
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
    return r.returncode, r.stdout + r.stderr


def startup_errors(inst, ca, c1, k1, c2, k2):
    def conf(name, certs, keys):
        path = os.path.join(inst.dir, name)
        with open(path, "w") as f:
            for k, v in inst.settings.items():
                if k not in ("tls_cert_files", "tls_key_files"):
                    f.write(f"{k} = {v}\n")
            f.write(f"tls_cert_files = {certs}\ntls_key_files = {keys}\n")
        os.chmod(path, 0o644)
        return path

    rc, out = estafetad_t(conf("good.conf", c1, k1))
    check(rc == 0, f"good TLS config refused: {out}")
    # Key swapped with the other certificate's.
    rc, out = estafetad_t(conf("mismatch.conf", f"{c1}, {c2}",
                               f"{k2}, {k1}"))
    check(rc == 1, f"mismatched keys: exit {rc}")
    for cert, key in ((c1, k2), (c2, k1)):
        check(f"{key}: private key does not match the certificate in {cert}"
              in out, f"mismatch not reported for {key}: {out}")
    # A key file the daemon cannot read.
    locked = new_key(os.path.join(inst.dir, "locked.key"))
    os.chmod(locked, 0o000)
    user = None
    if os.geteuid() == 0:	# root reads anything: check as run_user
        user = inst.settings["run_user"]
        os.chmod(locked, 0o600)
    rc, out = estafetad_t(conf("unreadable.conf", c1, locked), user)
    if user and "failed to execute" in out:
        # The build tree is not reachable for run_user (e.g. under
        # /root): root itself can read any file, so this case is moot.
        print(f"unreadable key not checked: {user} cannot run {ESTAFETAD}")
    else:
        check(rc == 1 and f"{locked}: Permission denied" in out,
              f"unreadable key: exit {rc}: {out}")
    missing = os.path.join(inst.dir, "missing.key")
    rc, out = estafetad_t(conf("missing.conf", c1, missing))
    check(rc == 1 and f"{missing}: No such file or directory" in out,
          f"missing key: exit {rc}: {out}")
    # Not a key at all.
    rc, out = estafetad_t(conf("notkey.conf", c1, c2))
    check(rc == 1 and f"{c2}: no PEM private key in the file" in out,
          f"certificate as key: exit {rc}: {out}")
    rc, out = estafetad_t(conf("lengths.conf", f"{c1}, {c2}", k1))
    check(rc == 1 and "tls_cert_files has 2 entries but tls_key_files 1"
          in out, f"list lengths: exit {rc}: {out}")
    # Starting on it fails the same way, before serving anything.
    r = subprocess.run([ESTAFETAD, "-f", "-c", conf("start.conf", c1, k2)],
                       capture_output=True, text=True, timeout=20)
    check(r.returncode == 1 and "does not match" in r.stdout + r.stderr,
          f"start with a mismatched key: {r.returncode} {r.stderr}")


def reload_broken_key(inst, ca, c1, k1, c2, k2):
    ctx = ca.client_context()
    saved = k1 + ".good"
    shutil.copy2(k1, saved)
    new_key(k1)			# replaced key, certificate unchanged
    inst.signal(signal.SIGHUP)
    inst.wait_log("master reload failed, keeping the running configuration")
    check(f"{k1}: private key does not match the certificate in {c1}"
          in inst.read_log(), "the reload error does not name the key")
    # The old certificate and key still serve, verified, on both kinds.
    with SMTP("mail.example.test", inst.port) as c:
        c.ehlo()
        c.starttls(context=ctx)
        check(peer_names(c.sock)[0] == "mail.example.test", "after reload")
        c.ehlo()
        check(c.noop()[0] == 250, "session after failed reload")
    with SMTP_SSL("mail.example.test", inst.settings["listen_smtps"]
                  .rsplit(":", 1)[1], context=ctx) as c:
        check(c.ehlo()[0] == 250, "smtps after failed reload")
    # A good reload applies new certificates: the other one as default.
    shutil.copy2(saved, k1)
    inst.settings["tls_cert_files"] = f"{c2}, {c1}"
    inst.settings["tls_key_files"] = f"{k2}, {k1}"
    inst.write_config()
    inst.signal(signal.SIGHUP)
    inst.wait_log("master reloaded generation=1")

    def default_cert():
        loose = ca.client_context()
        loose.check_hostname = False
        with SMTP("127.0.0.1", inst.port) as c:
            c.ehlo()
            c.starttls(context=loose)
            return peer_names(c.sock)[0]
    # Old workers finish their sessions; new ones serve the new default.
    wait_for(lambda: default_cert() == "mx.other.test",
             "the new default certificate after the reload")


def main():
    smtps = free_port()
    inst = Instance("tls", listen_smtps=f"127.0.0.1:{smtps}")
    ca = TestCA(inst.dir)
    c1, k1 = ca.issue("mail.example.test", ips=["127.0.0.1"])
    c2, k2 = ca.issue("mx.other.test")
    inst.settings["tls_cert_files"] = f"{c1}, {c2}"
    inst.settings["tls_key_files"] = f"{k1}, {k2}"
    inst.write_config()
    inst.start()
    starttls_mx(inst, ca)
    starttls_syntax(inst)
    starttls_swaks(inst, ca)
    tls12_client(inst, ca)
    injection(inst)
    implicit_tls(inst, ca, smtps)
    sni(inst, ca, smtps)
    tls13_only(ca, c1, k1)
    startup_errors(inst, ca, c1, k1, c2, k2)
    reload_broken_key(inst, ca, c1, k1, c2, k2)
    log = inst.read_log()
    check("BEGIN" not in log and "PRIVATE KEY" not in log, "key material "
          "in the log")


run(main)
