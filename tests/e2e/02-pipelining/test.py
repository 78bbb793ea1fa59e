# SPDX-License-Identifier: ISC
"""PIPELINING (RFC 2920): a command group sent in one write gets its
replies in order, in one go, and held replies are sent before the server
waits for more input, even with half a command buffered; whole
transactions pipelined back to back (the end of data followed by the
next group) are all queued; five concurrent pipelining clients (200
messages over 5 sessions) and Postfix's smtp-source (200 more over 5
sessions; it does not pipeline) get every message queued and indexed."""
import os
import subprocess
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from estafeta_test import (  # noqa: E402
    Instance, Raw, TestFailure, run, wait_for)


def expect(c, want):
    code, text = c.reply()
    if not text.startswith(want):
        raise TestFailure(f"expected {want!r}, got {text!r}")
    return text


def qid_of(text):
    return text.rsplit(" ", 1)[1]


def one_group(inst):
    """MAIL/RCPT/RCPT/DATA in one write: four replies, in order."""
    c = Raw(inst.port)
    expect(c, "220")
    c.send("EHLO client.test\r\n")
    expect(c, "250-mx.example.test")
    c.send("MAIL FROM:<bob@remote.test>\r\n"
           "RCPT TO:<alice@example.test>\r\n"
           "RCPT TO:<nobody@elsewhere.test>\r\n"
           "RCPT TO:<carol@example.test>\r\n"
           "DATA\r\n")
    expect(c, "250 2.1.0")
    expect(c, "250 2.1.5")
    expect(c, "554 5.7.1 <nobody@elsewhere.test>")
    expect(c, "250 2.1.5")
    expect(c, "354")
    # The server answered the whole group before we sent anything else:
    # all five replies came without another request from us.
    c.send("Subject: group\r\n\r\nbody\r\n.\r\nQUIT\r\n")
    qid = qid_of(expect(c, "250 2.0.0 Ok: queued as "))
    expect(c, "221")
    if not c.closed():
        raise TestFailure("not closed after QUIT")
    wait_for(lambda: qid in inst.queue_ids(), f"{qid} indexed")
    q = {m["id"]: m for m in inst.queue()}[qid]
    rcpts = sorted(r["addr"] for r in q["recipients"])
    if rcpts != ["alice@example.test", "carol@example.test"]:
        raise TestFailure(f"recipients {rcpts}")
    return {qid}


def flush_before_blocking(inst):
    """Held replies go out when the server would block for input, even
    if a partial command is buffered (RFC 2920 3.2)."""
    c = Raw(inst.port, timeout=5)
    expect(c, "220")
    c.send("EHLO client.test\r\nMAIL FROM:<bob@remote.test>\r\n"
           "RCPT TO:<alice@example.test>\r\nRS")
    expect(c, "250-mx.example.test")
    expect(c, "250 2.1.0")
    expect(c, "250 2.1.5")
    c.send("ET\r\nQUIT\r\n")
    expect(c, "250 2.0.0")
    expect(c, "221")
    c.close()


def transactions(port, n, tag):
    """n transactions, RFC 2920 style: each group is the previous end of
    data plus MAIL/RCPT/DATA, one write per group. Returns the queue ids."""
    c = Raw(port)
    expect(c, "220")
    c.send(f"EHLO {tag}.client.test\r\n")
    expect(c, "250-mx.example.test")
    ids = []
    pending = ""
    for i in range(n):
        c.send(pending + f"MAIL FROM:<{tag}@remote.test>\r\n"
               f"RCPT TO:<alice@example.test>\r\n"
               f"RCPT TO:<bob@example.test>\r\nDATA\r\n")
        if pending:
            ids.append(qid_of(expect(c, "250 2.0.0 Ok: queued as ")))
        expect(c, "250 2.1.0")
        expect(c, "250 2.1.5")
        expect(c, "250 2.1.5")
        expect(c, "354")
        pending = (f"Subject: {tag} {i}\r\n\r\nmessage {tag} {i}\r\n"
                   ".\r\n")
    c.send(pending + "QUIT\r\n")
    ids.append(qid_of(expect(c, "250 2.0.0 Ok: queued as ")))
    expect(c, "221")
    c.close()
    return ids


def whole_transactions_one_write(inst):
    """Several complete transactions and QUIT in a single write (a client
    that does not wait for 354): every message is queued, replies in
    order."""
    c = Raw(inst.port)
    expect(c, "220")
    blob = "EHLO blob.client.test\r\n"
    for i in range(5):
        blob += (f"MAIL FROM:<blob{i}@remote.test>\r\n"
                 f"RCPT TO:<alice@example.test>\r\nDATA\r\n"
                 f"Subject: blob {i}\r\n\r\n.leading dot {i}\r\n.\r\n")
    blob += "RSET\r\nNOOP\r\nQUIT\r\n"
    c.send(blob)
    expect(c, "250-mx.example.test")
    ids = []
    for i in range(5):
        expect(c, "250 2.1.0")
        expect(c, "250 2.1.5")
        expect(c, "354")
        ids.append(qid_of(expect(c, "250 2.0.0 Ok: queued as ")))
    expect(c, "250 2.0.0")
    expect(c, "250 2.0.0")
    expect(c, "221")
    if not c.closed():
        raise TestFailure("not closed after QUIT")
    if len(set(ids)) != 5:
        raise TestFailure(f"queue ids not distinct: {ids}")
    for i, qid in enumerate(ids):
        content = inst.spooled_content(qid)
        # The stuffed leading dot is removed.
        if not content.endswith(f"\r\n\r\nleading dot {i}\r\n".encode()):
            raise TestFailure(f"{qid}: content {content!r}")
    return set(ids)


def concurrent_clients(inst, sessions=5, per=40):
    results, errors = {}, []

    def worker(k):
        try:
            results[k] = transactions(inst.port, per, f"c{k}")
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(f"client {k}: {e!r}")

    threads = [threading.Thread(target=worker, args=(k,))
               for k in range(sessions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    if errors or len(results) != sessions:
        raise TestFailure(f"pipelining clients failed: {errors}")
    ids = {q for v in results.values() for q in v}
    if len(ids) != sessions * per:
        raise TestFailure(f"{len(ids)} distinct ids, want {sessions * per}")
    return ids


def smtp_source(inst):
    """Postfix's smtp-source: 200 messages over 5 parallel sessions that
    stay connected (-d). (smtp-source itself does not pipeline.)"""
    r = subprocess.run(
        ["/usr/sbin/smtp-source", "-d", "-s", "5", "-m", "200", "-l", "2000",
         "-M", "source.client.test", "-f", "load@remote.test",
         "-t", "alice@example.test", f"127.0.0.1:{inst.port}"],
        capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise TestFailure(f"smtp-source failed {r.returncode}: {r.stderr}")

    def count():
        n = sum(1 for m in inst.queue()
                if m["sender"] == "load@remote.test")
        return n if n >= 200 else 0
    n = wait_for(count, "200 smtp-source messages indexed")
    if n != 200:
        raise TestFailure(f"{n} smtp-source messages queued, want 200")
    inst.wait_log("from=<load@remote.test>", count=200)


def main():
    inst = Instance("pipelining", smtpd_workers_min=6).start()
    ids = one_group(inst)
    flush_before_blocking(inst)
    ids |= whole_transactions_one_write(inst)
    ids |= set(transactions(inst.port, 10, "seq"))
    ids |= concurrent_clients(inst)
    wait_for(lambda: ids <= inst.queue_ids(), "every pipelined message "
             "indexed")
    smtp_source(inst)
    total = len(inst.queue_ids())
    if total != len(ids) + 200:
        raise TestFailure(f"queue holds {total}, want {len(ids) + 200}")
    on_disk = len(os.listdir(os.path.join(inst.spool, "queue")))
    if on_disk != total:
        raise TestFailure(f"{on_disk} spool files for {total} messages")
    inst.stop()


run(main)
