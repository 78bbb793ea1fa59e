# SPDX-License-Identifier: ISC
"""Basic acceptance: a message (over IPv4 and IPv6) is queued durably and
indexed; relaying to another domain is refused; the queue lists it;
`queue show` prints the client's HELO made safe for a terminal (a C1
control, octets that are not UTF-8 become '?')."""
import os
import smtplib
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from estafeta_test import Instance, TestFailure, run, wait_for  # noqa: E402


def main():
    inst = Instance("basic")
    # IPv4 and IPv6 listeners on the same port.
    inst.settings["listen_mx"] = f"127.0.0.1:{inst.port}, [::1]:{inst.port}"
    inst.write_config()
    inst.start()
    msg = (b"From: bob@remote.test\r\nTo: alice@example.test\r\n"
           b"Subject: hello\r\n\r\nHello Alice.\r\n")
    with smtplib.SMTP("127.0.0.1", inst.port) as c:
        code, banner = c.ehlo("client.remote.test")
        assert code == 250, banner
        for ext in ("pipelining", "size", "8bitmime", "enhancedstatuscodes",
                    "smtputf8", "chunking", "dsn"):
            assert c.has_extn(ext), f"EHLO lacks {ext}"
        c.mail("bob@remote.test")
        code, text = c.rcpt("alice@example.test")
        assert code == 250, text
        code, text = c.data(msg)
        assert code == 250, text
        qid = text.decode().rsplit(" ", 1)[1]
        # Relaying for an untrusted client is refused, user not revealed.
        c.mail("bob@remote.test")
        code, text = c.rcpt("carol@elsewhere.test")
        if code != 554 or b"5.7.1" not in text:
            raise TestFailure(f"relay not refused: {code} {text!r}")
    with smtplib.SMTP("::1", inst.port) as c:
        c.ehlo("v6.remote.test")
        c.mail("bob@remote.test")
        assert c.rcpt("alice@example.test")[0] == 250
        code, text = c.data(msg)
        assert code == 250, text
    # A HELO with a C1 control (CSI) and a stray octet: accepted (only
    # ASCII controls and spaces are refused), never printed raw.
    with smtplib.SMTP("127.0.0.1", inst.port) as c:
        c.command_encoding = "latin-1"     # the str's code points as octets
        assert c.ehlo("evil\xc2\x9b31m\xff.test")[0] == 250
        c.mail("bob@remote.test")
        assert c.rcpt("alice@example.test")[0] == 250
        code, text = c.data(msg)
        assert code == 250, text
        evil = text.decode().rsplit(" ", 1)[1]
    inst.wait_log("smtp connect client=[::1]")
    wait_for(lambda: qid in inst.queue_ids(), f"{qid} in the index")
    q = {m["id"]: m for m in inst.queue()}[qid]
    assert q["sender"] == "bob@remote.test", q
    assert [r["addr"] for r in q["recipients"]] == ["alice@example.test"], q
    content = inst.spooled_content(qid)
    assert content.startswith(b"Received: from client.remote.test"), content
    assert f"id {qid}".encode() in content
    assert content.endswith(msg), content
    show = inst.ctl("queue", "show", qid).stdout
    assert "alice@example.test" in show and "pending" in show, show
    wait_for(lambda: evil in inst.queue_ids(), f"{evil} in the index")
    show = inst.ctl("queue", "show", evil).stdout
    assert " helo evil??31m?.test\n" in show, show
    inst.wait_log(f"{qid} smtp accept")
    inst.stop()
    assert "master stopped" in inst.read_log()


run(main)
