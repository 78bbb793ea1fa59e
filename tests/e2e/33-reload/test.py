# SPDX-License-Identifier: ISC
"""SIGHUP reload under load drops no session.

While one client is parked in the middle of DATA, one is parked between
two transactions and four threads loop over transactions, the master gets
SIGHUP with a config whose smtpd_banner changed and which adds a second
listen_mx port. Asserted:
  * "reloaded generation=1" is logged;
  * every in-flight session completes: the mid-DATA message gets its 250
    and is queued, the idle session runs a whole new transaction, and the
    looping threads see no failure at all (and keep going after it);
  * new connections see the new banner, on the old port and the new one;
  * a reload with a broken config (bad value) and one whose new listener
    cannot be bound (port in use) both log an error and keep generation 1
    running on both ports;
  * a reload that removes the second port: it refuses new connections at
    once while a session already on it finishes normally.
"""
import os
import signal
import smtplib
import socket
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from estafeta_test import (Instance, Raw, TestFailure, free_port,  # noqa
                           run, wait_for)

OLD_BANNER = "ESMTP Estafeta before reload"
NEW_BANNER = "ESMTP Estafeta after reload"


def greeting(port):
    r = Raw(port)
    code, text = r.reply()
    r.cmd("QUIT")
    r.close()
    if code != 220:
        raise TestFailure(f"port {port}: greeting {text!r}")
    return text


class Loopers:
    """Threads doing sessions of 3 transactions each until stopped."""

    def __init__(self, port, n=4):
        self.port = port
        self.ok = 0
        self.failures = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self.loop, daemon=True)
                        for _ in range(n)]
        for t in self.threads:
            t.start()

    def count(self):
        with self.lock:
            return self.ok

    def loop(self):
        while not self.stopping.is_set():
            try:
                with smtplib.SMTP("127.0.0.1", self.port, timeout=20) as c:
                    c.ehlo("loop.remote.test")
                    for _ in range(3):
                        c.mail("loop@remote.test")
                        code, text = c.rcpt("alice@example.test")
                        if code != 250:
                            raise TestFailure(f"RCPT: {code} {text!r}")
                        code, text = c.data(b"Subject: loop\r\n\r\nx\r\n")
                        if code != 250:
                            raise TestFailure(f"DATA: {code} {text!r}")
                        with self.lock:
                            self.ok += 1
            except Exception as e:  # noqa: BLE001 - every failure counts
                with self.lock:
                    self.failures.append(repr(e))
                return

    def stop(self):
        self.stopping.set()
        for t in self.threads:
            t.join(timeout=30)


def park_in_data(port):
    r = Raw(port)
    r.expect(None, 220)
    r.expect("EHLO parked.remote.test", 250)
    r.expect("MAIL FROM:<parked@remote.test>", 250)
    r.expect("RCPT TO:<alice@example.test>", 250)
    r.expect("DATA", 354)
    r.send("Subject: parked across a reload\r\n\r\nfirst half\r\n")
    return r


def main():
    inst = Instance("reload", smtpd_banner=OLD_BANNER)
    inst.start()
    port2, busy_port = free_port(), free_port()
    if OLD_BANNER not in greeting(inst.port):
        raise TestFailure("old banner not in the greeting")

    loopers = Loopers(inst.port)
    try:
        parked = park_in_data(inst.port)
        idle = Raw(inst.port)
        idle.expect(None, 220)
        idle.expect("EHLO idle.remote.test", 250)
        wait_for(lambda: loopers.count() >= 20, "looping transactions")

        inst.settings["smtpd_banner"] = NEW_BANNER
        inst.settings["listen_mx"] = (f"127.0.0.1:{inst.port}, "
                                      f"127.0.0.1:{port2}")
        inst.write_config()
        before = loopers.count()
        inst.signal(signal.SIGHUP)
        inst.wait_log("master reloaded generation=1")

        # The new configuration serves new connections on both ports.
        for port in (inst.port, port2):
            text = greeting(port)
            if NEW_BANNER not in text:
                raise TestFailure(f"port {port} after reload: {text!r}")

        # Sessions from before the reload finish normally.
        parked.send("second half, after the reload\r\n.\r\n")
        text = parked.expect(None, 250)
        parked_id = text.rsplit(" ", 1)[1]
        parked.expect("QUIT", 221)
        idle.expect("MAIL FROM:<idle@remote.test>", 250)
        idle.expect("RCPT TO:<alice@example.test>", 250)
        idle.expect("DATA", 354)
        idle_id = idle.expect("Subject: idle\r\n\r\nx\r\n.", 250).rsplit(
            " ", 1)[1]
        idle.expect("QUIT", 221)
        wait_for(lambda: loopers.count() >= before + 30,
                 "looping transactions after the reload")
    finally:
        loopers.stop()
    if loopers.failures:
        raise TestFailure(f"sessions failed across the reload: "
                          f"{loopers.failures}")
    print(f"looping transactions: {before} before the reload, "
          f"{loopers.count()} in all, none failed")
    wait_for(lambda: {parked_id, idle_id} <= inst.queue_ids(),
             "the parked messages in the queue")
    content = inst.spooled_content(parked_id)
    if not content.endswith(b"first half\r\nsecond half, after the "
                            b"reload\r\n"):
        raise TestFailure(f"parked message content: {content!r}")

    # A broken config is refused; generation 1 keeps running.
    inst.write_config("smtpd_workers_max = lots\n")
    inst.signal(signal.SIGHUP)
    inst.wait_log("master reload failed, keeping the running configuration")
    if "smtpd_workers_max: bad integer 'lots'" not in inst.read_log():
        raise TestFailure("the reload error does not say what is wrong")
    # So is one whose new listener cannot be bound.
    hog = socket.socket()
    hog.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    hog.bind(("127.0.0.1", busy_port))
    hog.listen(1)
    inst.settings["listen_mx"] += f", 127.0.0.1:{busy_port}"
    inst.settings["smtpd_banner"] = "ESMTP must not be seen"
    inst.write_config()
    inst.signal(signal.SIGHUP)
    inst.wait_log("master reload failed", count=2)
    if f"cannot listen on 127.0.0.1:{busy_port}" not in inst.read_log():
        raise TestFailure("the reload error does not name the busy port")
    hog.close()
    if "generation=2" in inst.read_log():
        raise TestFailure("a broken config was applied")
    for port in (inst.port, port2):
        text = greeting(port)
        if NEW_BANNER not in text:
            raise TestFailure(f"port {port} after failed reloads: {text!r}")
    with smtplib.SMTP("127.0.0.1", port2, timeout=10) as c:
        # sendmail() raises unless the message is accepted.
        c.sendmail("a@remote.test", ["alice@example.test"],
                   b"Subject: still here\r\n\r\nx\r\n")

    # Removing a listener while a session on it goes on: the port refuses
    # new connections at once, the session finishes normally.
    on_port2 = Raw(port2)
    on_port2.expect(None, 220)
    inst.settings["listen_mx"] = f"127.0.0.1:{inst.port}"
    inst.settings["smtpd_banner"] = NEW_BANNER
    inst.write_config()
    inst.signal(signal.SIGHUP)
    inst.wait_log("master reloaded generation=2")
    try:
        socket.create_connection(("127.0.0.1", port2), timeout=5)
        raise TestFailure(f"removed port {port2} still accepts")
    except ConnectionRefusedError:
        pass
    on_port2.expect("EHLO late.remote.test", 250)
    on_port2.expect("QUIT", 221)
    if NEW_BANNER not in greeting(inst.port):
        raise TestFailure("old port not serving after removing port2")
    inst.stop()
    if "master stopped" not in inst.read_log():
        raise TestFailure("no 'master stopped' in the log")


run(main)
