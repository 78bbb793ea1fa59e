# SPDX-License-Identifier: ISC
"""SIGTERM: sessions waiting for a command without a transaction are told
"421 4.3.2" at once instead of holding the drain for up to 30 s.

Four clients when the master gets SIGTERM:
  * "greeted": EHLO done, idle;
  * "connected": only the greeting read, no EHLO yet;
  * "tls": EHLO, STARTTLS, EHLO again, idle inside TLS;
  * "data": in the middle of DATA.
The three idle ones receive 421 4.3.2 and are disconnected; the one in
DATA finishes its message (250), and its next command wait gets 421 too
(or its QUIT 221). The master then exits with status 0, well within the
drain limit (waited for with a deadline below it), and the message is
queued. A second instance checks that a session between MAIL and DATA
keeps its transaction: its DATA still gets 354 after SIGTERM.
"""
import os
import signal
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from estafeta_test import Instance, Raw, TestFailure, run, wait_for  # noqa
from testca import TestCA  # noqa: E402

DRAIN_LIMIT = 30    # master's SHUTDOWN_TIMEOUT_MS, in seconds


def idle_client(inst, name, ehlo=True):
    r = Raw(inst.port)
    r.expect(None, 220)
    if ehlo:
        r.expect(f"EHLO {name}.remote.test", 250)
    return r


def tls_client(inst, ca):
    r = idle_client(inst, "tls")
    r.expect("STARTTLS", 220)
    r.s = ca.client_context().wrap_socket(
        r.s, server_hostname="mx.example.test")
    r.expect("EHLO tls.remote.test", 250)
    return r


def told_shutdown(r, name):
    code, text = r.reply()
    if code != 421 or " 4.3.2 " not in text:
        raise TestFailure(f"{name}: got {text!r}, want 421 4.3.2")
    if not r.closed():
        raise TestFailure(f"{name}: connection open after the 421")
    r.close()


def drain():
    inst = Instance("drain-idle", smtpd_workers_min=5, smtpd_workers_max=5)
    ca = TestCA(inst.dir)
    cert, key = ca.issue("mx.example.test")
    inst.settings["tls_cert_files"] = cert
    inst.settings["tls_key_files"] = key
    inst.write_config()
    inst.start()
    greeted = idle_client(inst, "greeted")
    connected = idle_client(inst, "connected", ehlo=False)
    tls = tls_client(inst, ca)
    data = idle_client(inst, "data")
    data.expect("MAIL FROM:<data@remote.test>", 250)
    data.expect("RCPT TO:<alice@example.test>", 250)
    data.expect("DATA", 354)
    data.send("Subject: drain\r\n\r\nbegun before SIGTERM\r\n")
    proc = inst.proc
    inst.signal(signal.SIGTERM)
    inst.wait_log("master stopping")
    for r, name in ((greeted, "greeted"), (connected, "connected"),
                    (tls, "tls")):
        told_shutdown(r, name)
    if proc.poll() is not None:
        raise TestFailure("master exited with a message in DATA")
    data.send("finished after SIGTERM\r\n.\r\n")
    qid = data.expect(None, 250).rsplit(" ", 1)[1]
    code, text = data.cmd("QUIT")
    if code not in (221, 421):
        raise TestFailure(f"data: QUIT after the message: {text!r}")
    data.close()
    wait_for(lambda: proc.poll() is not None, "the master to exit",
             DRAIN_LIMIT - 10)
    if proc.returncode != 0:
        raise TestFailure(f"master exit status {proc.returncode}")
    log = inst.read_log()
    if log.count("smtp shutdown after") < 3:
        raise TestFailure("the 421s are not logged")
    if qid not in inst.queue_ids():
        raise TestFailure(f"{qid} finished while draining is not queued")
    inst.stop()
    return qid


def mid_transaction():
    inst = Instance("drain-tx").start()
    r = idle_client(inst, "tx")
    r.expect("MAIL FROM:<tx@remote.test>", 250)
    r.expect("RCPT TO:<alice@example.test>", 250)
    proc = inst.proc
    inst.signal(signal.SIGTERM)
    inst.wait_log("master stopping")
    wait_for(lambda: len(inst.pids()) == 3, "only the busy worker left")
    r.expect("DATA", 354)
    r.send("Subject: tx\r\n\r\nafter SIGTERM\r\n.\r\n")
    qid = r.expect(None, 250).rsplit(" ", 1)[1]
    r.close()
    wait_for(lambda: proc.poll() is not None, "the master to exit",
             DRAIN_LIMIT - 10)
    if qid not in inst.queue_ids():
        raise TestFailure(f"{qid} not queued")
    inst.stop()


def main():
    qid = drain()
    mid_transaction()
    print(f"idle sessions got 421 4.3.2 at once; {qid} finished in DATA")


run(main)
