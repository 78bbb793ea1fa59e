# SPDX-License-Identifier: ISC
"""8BITMIME downgrade verified at the sink: estafetad relays to Postfix's
smtp-sink started with -8 (no 8BITMIME in its EHLO reply) and -d (one dump
file per transaction). A nested 8-bit message (multipart/mixed with an
8bit text part, an ASCII HTML part, a message/rfc822 holding an 8-bit
body, a base64 attachment, preamble and epilogue) must arrive 7-bit,
without BODY=8BITMIME, with quoted-printable exactly in the two 8-bit
parts, every part decoding to the original octets and the untouched
bytes identical; the relay logs the decision with the part numbers. A
7-bit message sent with BODY=8BITMIME arrives byte for byte. The same
8-bit message to a sink that offers 8BITMIME arrives unconverted."""
import atexit
import email
import email.policy
import glob
import os
import re
import shutil
import smtplib
import socket
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from estafeta_test import (Instance, TestFailure, free_port, run,  # noqa: E402
                           wait_for)

SINK = "/usr/sbin/smtp-sink"
sinks = []
dirs = []


def _cleanup():
    for p in sinks:
        if p.poll() is None:
            p.terminate()
            p.wait()
    if not os.environ.get("E2E_KEEP"):
        for d in dirs:
            shutil.rmtree(d, ignore_errors=True)


atexit.register(_cleanup)

TEXT = ("Grüße aus Köln — naïve café, trailing space \r\n"
        "From the start of a line\r\n.leading dot\r\n"
        + "é" * 60 + " long line\r\n").encode()
INNER = "Zürich, 10 €\r\n".encode()
BINARY = bytes(range(256))

MESSAGE = (
    b"From: alice@example.org\r\nTo: bob@sink.example\r\n"
    b"Subject: downgrade\r\nMessage-ID: <dg46@test>\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n"
    b"This is the preamble.\r\n"
    b"--outer\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: 8bit\r\n\r\n" + TEXT +
    b"--outer\r\n"
    b"Content-Type: text/html; charset=us-ascii\r\n\r\n"
    b"<p>plain ascii</p>\r\n"
    b"--outer\r\n"
    b"Content-Type: message/rfc822\r\n"
    b"Content-Transfer-Encoding: 8bit\r\n\r\n"
    b"Subject: inner\r\nMIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n\r\n" + INNER +
    b"--outer\r\n"
    b"Content-Type: application/octet-stream\r\n"
    b"Content-Transfer-Encoding: base64\r\n\r\n"
    + __import__("base64").encodebytes(BINARY).replace(b"\n", b"\r\n") +
    b"--outer--\r\n"
    b"The epilogue.\r\n")

PLAIN = (b"From: alice@example.org\r\nTo: bob@sink.example\r\n"
         b"Subject: ascii\r\nMessage-ID: <dg46b@test>\r\n\r\n"
         b"Only ASCII,  \r\nwith trailing blanks\t\r\n")


def listening(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def start_sink(port, dump, *flags):
    user = ["-u", "nobody"] if os.geteuid() == 0 else []
    p = subprocess.Popen([SINK] + user + list(flags) +
                         ["-d", os.path.join(dump, "msg."),
                          f"127.0.0.1:{port}", "16"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    sinks.append(p)
    wait_for(lambda: listening(port) or p.poll() is not None,
             "smtp-sink to listen")
    if p.poll() is not None:
        raise TestFailure(f"smtp-sink exited with {p.returncode}")
    return p


def send(port, rcpt, data):
    with smtplib.SMTP("127.0.0.1", port) as c:
        c.ehlo("client.test")
        code, text = c.mail("alice@example.org", ["BODY=8BITMIME"])
        assert code == 250, (code, text)
        code, text = c.rcpt(rcpt)
        assert code == 250, (code, text)
        code, text = c.data(data)
        assert code == 250, (code, text)
        return text.decode().rsplit(" ", 1)[1]


def dumped(dump, marker):
    """The dump files holding marker (smtp-sink writes LF lines)."""
    out = []
    for f in glob.glob(os.path.join(dump, "msg.*")):
        with open(f, "rb") as fh:
            d = fh.read()
        if marker in d:
            out.append(d)
    return out


def split_dump(d):
    """(smtp-sink's X- records, the message as received, CRLF lines)."""
    lines = d.split(b"\n")
    recs = [x for x in lines if x.startswith(b"X-")]
    # The message starts after smtp-sink's three-line Received header.
    i = next(k for k, x in enumerate(lines) if x.startswith(b"Received:"))
    i += 1
    while lines[i].startswith((b" ", b"\t")):
        i += 1
    msg = b"\r\n".join(lines[i:])
    assert msg.endswith(b"\r\n\r\n"), msg[-20:]
    return recs, msg[:-2]     # the dump adds an empty line


def check_downgraded(raw):
    bad = [i for i, b in enumerate(raw) if b >= 0x80]
    if bad:
        raise TestFailure(f"8-bit octet at {bad[0]}: {raw[bad[0]-20:]!r}")
    for line in raw.split(b"\r\n"):
        assert len(line) <= 998, line[:80]
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    parts = list(msg.iter_parts())
    assert [p.get_content_type() for p in parts] == [
        "text/plain", "text/html", "message/rfc822",
        "application/octet-stream"], [p.get_content_type() for p in parts]
    cte = [p.get("Content-Transfer-Encoding") for p in parts]
    assert cte == ["quoted-printable", None, "7bit", "base64"], cte
    # A body ends before the CRLF of the next delimiter (RFC 2046 5.1.1).
    assert parts[0].get_payload(decode=True) == TEXT[:-2]
    assert parts[1].get_payload(decode=True) == b"<p>plain ascii</p>"
    assert parts[3].get_payload(decode=True) == BINARY
    inner = parts[2].get_payload()[0]
    assert inner["Subject"] == "inner"
    assert inner.get("Content-Transfer-Encoding") == "quoted-printable"
    assert inner.get_payload(decode=True) == INNER[:-2]
    # QP lines within RFC 2045's 76 and no raw trailing blanks.
    body = raw.split(b"Content-Transfer-Encoding: quoted-printable\r\n\r\n",
                     1)[1].split(b"\r\n--outer", 1)[0]
    for line in body.split(b"\r\n"):
        assert len(line) <= 76 and not line.endswith((b" ", b"\t")), line
    assert b"=C3=BC" in body and b"=20\r\n" in body, body
    # Untouched bytes: preamble, epilogue, boundaries, the other parts.
    for piece in (b"\r\n\r\nThis is the preamble.\r\n--outer\r\n",
                  b"--outer\r\nContent-Type: text/html; charset=us-ascii"
                  b"\r\n\r\n<p>plain ascii</p>\r\n--outer\r\n",
                  b"--outer--\r\nThe epilogue.\r\n"):
        assert piece in raw, piece


def main():
    if not os.access(SINK, os.X_OK):
        raise TestFailure(f"{SINK} missing (contrib/setup-debian.sh)")
    dump7 = tempfile.mkdtemp(prefix="estafeta-sink7-")
    dump8 = tempfile.mkdtemp(prefix="estafeta-sink8-")
    for d in (dump7, dump8):
        os.chmod(d, 0o777)
        dirs.append(d)
    p7, p8 = free_port(), free_port()
    start_sink(p7, dump7, "-8")
    start_sink(p8, dump8)
    relay = Instance(
        "relay", relay_domains="", trusted_networks="127.0.0.0/8",
        deliver_workers=1,
        transports=(f"sink.example=smtp:[127.0.0.1]:{p7}, "
                    f"sink8.example=smtp:[127.0.0.1]:{p8}"))
    relay.start()

    # 1. 8-bit, nested, to the sink without 8BITMIME: converted.
    qid = send(relay.port, "bob@sink.example", MESSAGE)
    relay.wait_log(f"{qid} qmgr removed")
    got = wait_for(lambda: dumped(dump7, b"<dg46@test>"), "the dump")
    assert len(got) == 1, len(got)
    recs, raw = split_dump(got[0])
    mail = [r for r in recs if r.startswith(b"X-Mail-Args:")]
    assert mail and b"BODY=" not in mail[0], mail
    size = re.search(rb"SIZE=(\d+)", mail[0])
    check_downgraded(raw)
    log = relay.read_log()
    m = re.search(rf"{qid} smtpc downgrade peer=\S+ no 8BITMIME: "
                  r"8bit->quoted-printable parts=2 \(1 3\.1\) "
                  r"size=(\d+)->(\d+)", log)
    if m is None:
        raise TestFailure("no downgrade log line:\n" + log[-3000:])
    if size is not None:
        assert int(size.group(1)) == int(m.group(2)), (size, m.group(0))

    # 2. 7-bit content declared 8BITMIME: byte for byte, no BODY=.
    qid = send(relay.port, "bob@sink.example", PLAIN)
    relay.wait_log(f"{qid} qmgr removed")
    got = wait_for(lambda: dumped(dump7, b"<dg46b@test>"), "the dump")
    recs, raw = split_dump(got[0])
    assert raw.endswith(PLAIN.split(b"\r\n", 1)[1]), raw
    assert b"Content-Transfer-Encoding" not in raw, raw
    assert not any(b"BODY=" in r for r in recs), recs
    relay.wait_log(f"{qid} smtpc downgrade peer=")
    assert "content is 7-bit, sent as it is" in relay.read_log()

    # 3. The same 8-bit message to a sink offering 8BITMIME: unchanged.
    qid = send(relay.port, "bob@sink8.example",
               MESSAGE.replace(b"<dg46@test>", b"<dg46c@test>"))
    relay.wait_log(f"{qid} qmgr removed")
    got = wait_for(lambda: dumped(dump8, b"<dg46c@test>"), "the dump")
    recs, raw = split_dump(got[0])
    assert any(b"BODY=8BITMIME" in r for r in recs), recs
    assert TEXT in raw and INNER in raw, raw
    assert f"{qid} smtpc downgrade" not in relay.read_log()


run(main)
