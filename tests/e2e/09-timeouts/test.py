# SPDX-License-Identifier: ISC
"""Timeouts are deadlines on the connection; each ends the session with
"421 4.4.2" and a close, and leaves nothing behind.

  smtpd_command_timeout=1s: an idle client (before EHLO, and in the
    middle of a transaction) gets 421 after about a second;
  smtpd_data_timeout=1s: a client stalling in DATA or in a BDAT chunk
    gets 421, nothing is queued and no file is left in spool/incoming;
    data arriving in time keeps the transfer alive past the timeout;
  smtpd_session_timeout=2s: a client that keeps the command timer busy
    with a NOOP every 0.3 s is still cut off at about two seconds, and so
    is one trickling DATA lines every 0.3 s.

A client that disconnects in the middle of DATA or BDAT leaves nothing
behind either.

The test never sleeps to synchronise: it waits on the socket with a
deadline, and an early reply while it paces NOOPs or data is a failure."""
import os
import select
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from estafeta_test import (  # noqa: E402
    Instance, Raw, TestFailure, run, wait_for)


def expect(c, want):
    code, text = c.reply()
    if not text.startswith(want):
        raise TestFailure(f"expected {want!r}, got {text!r}")
    return text


def quiet_for(c, secs):
    """Fails if the server says anything within secs (pacing, asserted)."""
    r, _, _ = select.select([c.s], [], [], secs)
    if r or c.buf:
        raise TestFailure(f"server spoke early: {c.s.recv(4096)!r}")


def wait_timeout_reply(c, low, high):
    """Waits (deadline: high) for 421 4.4.2 then the close; returns the
    elapsed time, which must be at least low."""
    t0 = time.monotonic()
    c.s.settimeout(high)
    expect(c, "421 4.4.2 mx.example.test")
    elapsed = time.monotonic() - t0
    if not c.closed(timeout=high):
        raise TestFailure("connection not closed after 421")
    if elapsed < low:
        raise TestFailure(f"421 after {elapsed:.2f}s, expected >= {low}s")
    return elapsed


def session(inst, ehlo=True):
    c = Raw(inst.port)
    expect(c, "220")
    if ehlo:
        c.send("EHLO client.test\r\n")
        expect(c, "250-mx.example.test")
    return c


def command_timeout(inst):
    c = session(inst, ehlo=False)
    wait_timeout_reply(c, 0.9, 5)
    c.close()
    inst.wait_log("smtp timeout after CONNECT client=[127.0.0.1] "
                  "limit=smtpd_command_timeout")
    c = session(inst)
    c.send("MAIL FROM:<idle@remote.test>\r\nRCPT TO:<alice@example.test>\r\n")
    expect(c, "250 2.1.0")
    expect(c, "250 2.1.5")
    wait_timeout_reply(c, 0.9, 5)
    c.close()
    inst.wait_log("smtp timeout after command client=[127.0.0.1] "
                  "limit=smtpd_command_timeout")


def start_data(c, sender):
    c.send(f"MAIL FROM:<{sender}>\r\nRCPT TO:<alice@example.test>\r\n"
           "DATA\r\n")
    expect(c, "250 2.1.0")
    expect(c, "250 2.1.5")
    expect(c, "354")


def data_timeout(inst):
    c = session(inst)
    start_data(c, "stall@remote.test")
    c.send("Subject: stalled\r\n\r\nfirst line\r\nhalf a li")
    # The partial message exists in incoming/ while the client stalls.
    incoming = os.path.join(inst.spool, "incoming")
    wait_for(lambda: os.listdir(incoming), "spool file in incoming/")
    wait_timeout_reply(c, 0.9, 5)
    c.close()
    inst.wait_log("smtp timeout after DATA client=[127.0.0.1] "
                  "limit=smtpd_data_timeout")
    wait_for(lambda: not os.listdir(incoming), "incoming/ to be empty")

    # The same for a BDAT chunk that stops short.
    c = session(inst)
    c.send("MAIL FROM:<bdat-stall@remote.test>\r\n"
           "RCPT TO:<alice@example.test>\r\n")
    expect(c, "250 2.1.0")
    expect(c, "250 2.1.5")
    c.send("BDAT 100 LAST\r\nonly ten..")
    wait_timeout_reply(c, 0.9, 5)
    c.close()
    inst.wait_log("smtp timeout after BDAT client=[127.0.0.1] "
                  "limit=smtpd_data_timeout")
    wait_for(lambda: not os.listdir(incoming), "incoming/ to be empty")

    # Data trickling in every 0.4 s for 2 s keeps the transfer alive.
    c = session(inst)
    start_data(c, "slow@remote.test")
    c.send("Subject: slow\r\n\r\n")
    for i in range(5):
        quiet_for(c, 0.4)
        c.send(f"line {i}\r\n")
    c.send(".\r\n")
    qid = expect(c, "250 2.0.0 Ok: queued as ").rsplit(" ", 1)[1]
    c.close()
    return qid


def lost_connection(inst):
    """A client that disconnects mid-DATA or mid-BDAT leaves nothing."""
    incoming = os.path.join(inst.spool, "incoming")
    for verb, start in (("DATA", "DATA\r\n"), ("BDAT", "BDAT 500\r\n")):
        c = session(inst)
        c.send(f"MAIL FROM:<gone-{verb}@remote.test>\r\n"
               "RCPT TO:<alice@example.test>\r\n" + start)
        expect(c, "250 2.1.0")
        expect(c, "250 2.1.5")
        if verb == "DATA":
            expect(c, "354")
        c.send("Subject: gone\r\n\r\npartial")
        wait_for(lambda: os.listdir(incoming), "spool file in incoming/")
        c.close()
        inst.wait_log(f"smtp lost connection after {verb} client=[127.0.0.1]")
        wait_for(lambda: not os.listdir(incoming), "incoming/ to be empty")


def session_timeout(inst):
    c = session(inst)
    t0 = time.monotonic()
    noops = 0
    while True:
        if time.monotonic() - t0 > 6:
            raise TestFailure("no session timeout within 6s")
        c.send("NOOP\r\n")
        code, text = c.reply()
        if code == 421:
            break
        if not text.startswith("250"):
            raise TestFailure(f"NOOP: {text!r}")
        noops += 1
        r, _, _ = select.select([c.s], [], [], 0.3)
        if r:
            expect(c, "421 4.4.2 mx.example.test")
            break
    elapsed = time.monotonic() - t0
    if not c.closed(timeout=5):
        raise TestFailure("connection not closed after 421")
    c.close()
    if not 1.8 <= elapsed <= 4:
        raise TestFailure(f"session timeout after {elapsed:.2f}s, want ~2s")
    if noops < 5:
        raise TestFailure(f"only {noops} NOOPs answered")
    inst.wait_log("limit=smtpd_session_timeout")


def session_timeout_data(inst):
    """The session limit also bounds a DATA transfer that trickles in
    just fast enough for smtpd_data_timeout."""
    c = session(inst)
    start_data(c, "trickle@remote.test")
    t0 = time.monotonic()
    c.send("Subject: trickle\r\n\r\n")
    while True:
        if time.monotonic() - t0 > 6:
            raise TestFailure("DATA outlived the session limit by far")
        r, _, _ = select.select([c.s], [], [], 0.3)
        if r:
            break
        c.send("more\r\n")
    wait_timeout_reply(c, 0, 5)
    elapsed = time.monotonic() - t0
    if not 1.5 <= elapsed <= 4:
        raise TestFailure(f"DATA cut off after {elapsed:.2f}s, want ~2s")
    c.close()
    inst.wait_log("smtp timeout after DATA client=[127.0.0.1] "
                  "limit=smtpd_session_timeout")
    wait_for(lambda: not os.listdir(os.path.join(inst.spool, "incoming")),
             "incoming/ to be empty")


def main():
    inst = Instance("timeouts", smtpd_command_timeout="1s",
                    smtpd_data_timeout="1s").start()
    command_timeout(inst)
    qid = data_timeout(inst)
    lost_connection(inst)
    wait_for(lambda: qid in inst.queue_ids(), "the slow message indexed")
    if inst.queue_ids() != {qid}:
        raise TestFailure(f"unexpected queue {inst.queue()}")
    inst.stop()

    inst = Instance("session-timeout", smtpd_command_timeout="1s",
                    smtpd_session_timeout="2s").start()
    session_timeout(inst)
    session_timeout_data(inst)
    if inst.queue_ids():
        raise TestFailure(f"unexpected queue {inst.queue()}")
    inst.stop()


run(main)
