# SPDX-License-Identifier: ISC
"""ORCPT of the utf-8 address type (RFC 6533) through a real relay.

Our relay takes mail from a raw client and delivers it to Postfix's
smtp-sink (DSN, no SMTPUTF8; its -d dump shows each RCPT's parameters) and
to a second estafetad (DSN and SMTPUTF8):

  * ORCPT=utf-8;j\\x{F6}rg\\x{2B}tag@b\\x{FC}ro.example (utf-8-addr-xtext)
    reaches the sink exactly so, and the older form
    ORCPT=rfc822;j+C3+B6rg@example.org (xtext octets of UTF-8) reaches it
    as ORCPT=utf-8;j\\x{F6}rg@example.org;
  * a non-canonical \\x{} form, raw UTF-8 outside SMTPUTF8, and a raw "+"
    get 501 5.5.4;
  * in an SMTPUTF8 transaction the utf-8-addr-unitext form (raw UTF-8)
    is accepted, and reaches the second estafetad (sent as unitext) which
    stores the same decoded address;
  * a bounce's Original-Recipient: utf-8;\\x{4E2D}\\x{2B}x@example.org in
    the message/delivery-status of a plain message, the address as it is
    in the message/global-delivery-status of an SMTPUTF8 one.
"""
import atexit
import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from estafeta_test import (Instance, Raw, TestFailure, free_port,  # noqa
                           run, wait_for)

SINK = "/usr/sbin/smtp-sink"
procs, dirs = [], []


def _cleanup():
    for p in procs:
        if p.poll() is None:
            p.terminate()
            p.wait()
    if not os.environ.get("E2E_KEEP"):
        for d in dirs:
            shutil.rmtree(d, ignore_errors=True)


atexit.register(_cleanup)


def check(cond, what):
    if not cond:
        raise TestFailure(what)


def listening(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def start_sink(port, dump):
    user = ["-u", "nobody"] if os.geteuid() == 0 else []
    p = subprocess.Popen([SINK] + user + ["-d", os.path.join(dump, "msg."),
                                          f"127.0.0.1:{port}", "16"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs.append(p)
    wait_for(lambda: listening(port) or p.poll() is not None,
             "smtp-sink to listen")
    check(p.poll() is None, f"smtp-sink exited with {p.returncode}")


def dumped(dump, marker):
    out = []
    for f in glob.glob(os.path.join(dump, "msg.*")):
        with open(f, "rb") as fh:
            d = fh.read()
        if marker in d:
            out.append(d)
    return out


def session(port, smtputf8=False):
    r = Raw(port)
    r.expect(None, 220)
    r.expect("EHLO client.test", 250)
    r.expect("MAIL FROM:<alice@example.org>" +
             (" SMTPUTF8" if smtputf8 else ""), 250)
    return r


def rcpt(r, line, code):
    r.send(line.encode() + b"\r\n")
    got, text = r.reply()
    check(got == code, f"{line!r}: wanted {code}, got {text!r}")
    return text


def data(r, subject):
    r.expect("DATA", 354)
    text = r.expect(f"Subject: {subject}\r\n\r\nhi\r\n.", 250)
    r.expect("QUIT", 221)
    r.close()
    return text.rsplit(" ", 1)[1]


def remote_file_with(remote, marker):
    """The remote's spool files holding marker (raw bytes)."""
    out = []
    for qid in remote.queue_ids():
        with open(remote.spool_file(qid), "rb") as f:
            d = f.read()
        if marker in d:
            out.append(d)
    return out


def main():
    if not os.access(SINK, os.X_OK):
        raise TestFailure(f"{SINK} missing (contrib/setup-debian.sh)")
    dump = tempfile.mkdtemp(prefix="estafeta-sink93-")
    os.chmod(dump, 0o777)
    dirs.append(dump)
    sinkport = free_port()
    start_sink(sinkport, dump)
    remote = Instance("orcptremote",
                      relay_domains="remote.example, example.org")
    remote.start()
    relay = Instance(
        "orcptrelay", relay_domains="", trusted_networks="127.0.0.0/8",
        deliver_workers=1, queue_retry_min="1h", delay_warning_time="0",
        transports=(f"sink.example=smtp:[127.0.0.1]:{sinkport}, "
                    f"remote.example=smtp:[127.0.0.1]:{remote.port}, "
                    f"example.org=smtp:[127.0.0.1]:{remote.port}, "
                    "dead.example=error:5.1.2 no such domain here"))
    relay.start()

    # 1. utf-8-addr-xtext as is; rfc822 with UTF-8 octets becomes utf-8.
    r = session(relay.port)
    rcpt(r, "RCPT TO:<bob@sink.example> "
            "ORCPT=utf-8;j\\x{F6}rg\\x{2B}tag@b\\x{FC}ro.example", 250)
    rcpt(r, "RCPT TO:<carol@sink.example> ORCPT=rfc822;j+C3+B6rg@"
            "example.org", 250)
    # 2. Malformed: 501, the transaction goes on.
    for bad in ("utf-8;j\\x{f6}rg@x", "utf-8;j\\x{0F6}rg@x",
                "utf-8;j\\x{6F}rg@x", "utf-8;a+b@x",
                "utf-8;j\u00f6rg@x"):
        text = rcpt(r, f"RCPT TO:<x@sink.example> ORCPT={bad}", 501)
        check("5.5.4" in text, text)
    qid = data(r, "orcpt-xtext")
    relay.wait_log(f"{qid} qmgr removed")
    got = wait_for(lambda: dumped(dump, b"Subject: orcpt-xtext"),
                   "the message at the sink")
    args = [x for x in got[0].split(b"\n") if x.startswith(b"X-Rcpt-Args")]
    check(any(b"ORCPT=utf-8;j\\x{F6}rg\\x{2B}tag@b\\x{FC}ro.example" in a
              for a in args), f"no utf-8-addr-xtext ORCPT: {args}")
    check(any(b"ORCPT=utf-8;j\\x{F6}rg@example.org" in a for a in args),
          f"rfc822 UTF-8 ORCPT not made utf-8: {args}")

    # 3. SMTPUTF8: unitext in, unitext out to an SMTPUTF8 peer.
    r = session(relay.port, smtputf8=True)
    rcpt(r, "RCPT TO:<dave@remote.example> "
            "ORCPT=utf-8;j\u00f6rg\\x{2B}x@b\u00fcro.example", 250)
    qid = data(r, "orcpt-unitext")
    relay.wait_log(f"{qid} qmgr removed")
    want = "utf-8;j\u00f6rg+x@b\u00fcro.example".encode()
    wait_for(lambda: remote_file_with(remote, b"Subject: orcpt-unitext"),
             "the message at the remote")
    check(remote_file_with(remote, want),
          "the remote did not store the decoded utf-8 ORCPT")
    check(f"{qid} qmgr delivered" in relay.read_log(), "not delivered")

    # 4. Bounces: Original-Recipient in both kinds of DSN.
    for utf8, subject, want in (
            (False, "dsn-plain",
             b"Original-Recipient: utf-8;\\x{4E2D}\\x{2B}x@example.org"),
            (True, "dsn-global",
             "Original-Recipient: utf-8;\u4e2d+x@example.org".encode())):
        r = session(relay.port, smtputf8=utf8)
        rcpt(r, "RCPT TO:<eve@dead.example> NOTIFY=FAILURE "
                "ORCPT=utf-8;\\x{4E2D}\\x{2B}x@example.org", 250)
        qid = data(r, subject)
        relay.wait_log(f"{qid} qmgr bounced")
        dsn = wait_for(lambda: [c for c in (remote.spooled_content(i)
                                            for i in remote.queue_ids())
                                if f"Subject: {subject}".encode() in c and
                                b"multipart/report" in c], "the DSN")
        kind = (b"message/global-delivery-status" if utf8 else
                b"message/delivery-status")
        check(kind in dsn[0], f"not {kind}: {dsn[0][:600]!r}")
        check(want in dsn[0].split(b"\r\n"),
              f"no {want!r} line in the DSN:\n{dsn[0]!r}")


run(main)
