# SPDX-License-Identifier: ISC
"""Adaptive per-destination throttling against Postfix's smtp-sink: while
the sink greets with "421 4.7.0 Too many connections, try again later"
(smtp-sink -r CONNECT -b ...), each failed attempt halves the
destination's concurrency (4 -> 2 -> 1) and doubles its pause; the state
shows in `queue summary` (text and --json) and survives a restart; once
the sink accepts mail, successful deliveries raise it back step by step
until it is restored and leaves the summary. The sink's reply carries
octets that are not UTF-8: `--json` still parses (U+FFFD), text shows
'?'; and a quote meant to forge a log field: the throttle and deferral
log lines escape it (and the octets). Time is driven with `queue flush`,
never sleeps."""
import json
import os
import re
import smtplib
import socket
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from estafeta_test import (Instance, TestFailure, free_port, run,  # noqa: E402
                           wait_for)

SINK = "/usr/sbin/smtp-sink"
BUSY = "421 4.7.0 Too many connections, try again later"
# The sink's reply ends in Latin-1 octets (not UTF-8): --json output must
# still parse, with U+FFFD in their place.
# The quote would end reason="..."/reply="..." in the log and forge a
# field if it were logged raw.
BUSY_RAW = BUSY.encode() + b' (d\xe9j\xe0 vu)" forged="1'
BUSY_LOGGED = BUSY + r' (d\xe9j\xe0 vu)\" forged=\"1 (127.0.0.1)"'

sinks = []


def listening(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def start_sink(port, *flags):
    user = ["-u", "nobody"] if os.geteuid() == 0 else []
    p = subprocess.Popen([SINK] + user + list(flags) +  # str or bytes
                         [f"127.0.0.1:{port}", "64"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    sinks.append(p)
    wait_for(lambda: listening(port) or p.poll() is not None,
             "smtp-sink to listen")
    if p.poll() is not None:
        raise TestFailure(f"smtp-sink exited with {p.returncode}")
    return p


def stop_sink(p):
    p.terminate()
    p.wait()


def send(port, rcpt, subject):
    with smtplib.SMTP("127.0.0.1", port) as c:
        c.ehlo("client.test")
        c.mail("alice@example.org")
        code, _ = c.rcpt(rcpt)
        assert code == 250, code
        code, text = c.data(f"Subject: {subject}\r\n\r\nBody.\r\n".encode())
        assert code == 250, (code, text)
        return text.decode().rsplit(" ", 1)[1]


def summary(inst):
    return json.loads(inst.ctl("queue", "summary", "--json").stdout)


def throttled(inst, concurrency, delay_ms):
    """Waits for the index (qmgr logs before its transaction commits)."""
    return wait_for(lambda: [(t["concurrency"], t["delay_ms"]) for t in
                             summary(inst)["throttled"]] ==
                    [(concurrency, delay_ms)],
                    f"throttled to {concurrency} with {delay_ms} ms")


def main():
    if not os.access(SINK, os.X_OK):
        raise TestFailure(f"{SINK} missing (contrib/setup-debian.sh)")
    sport = free_port()
    dest = f"smtp:[127.0.0.1]:{sport}"
    relay = Instance(
        "relay", relay_domains="", trusted_networks="127.0.0.0/8",
        deliver_workers=4, deliver_dest_concurrency=4,
        deliver_throttle_delay="100ms", deliver_throttle_delay_max="1s",
        deliver_throttle_recover=1, queue_retry_min="1h",
        delay_warning_time="0",
        transports=f"busy.example=smtp:[127.0.0.1]:{sport}")
    relay.start()
    busy = start_sink(sport, "-r", "CONNECT", "-b", BUSY_RAW)

    # Two refused attempts: 4 -> 2 -> 1, pause 100 ms -> 200 ms.
    qid = send(relay.port, "x@busy.example", "first")
    relay.wait_log(f"{qid} qmgr deferred")
    relay.wait_log(f"qmgr throttle dest={dest} lowered concurrency=2 "
                   "delay=100ms")
    throttled(relay, 2, 100)
    # Peer text in the log is escaped: no forged field.
    relay.wait_log(f'lowered concurrency=2 delay=100ms reason="{BUSY_LOGGED}')
    relay.wait_log(f'qmgr deferred rcpt_idx=0 attempts=1 retry_in=3600s '
                   f'reply="{BUSY_LOGGED}\n')
    log = relay.read_log()
    assert ' forged="1' not in log, log
    assert "\ufffd" not in log, log       # octets shown as \xHH
    relay.ctl("queue", "flush")
    relay.wait_log(f"{qid} qmgr deferred", count=2)
    relay.wait_log(f"qmgr throttle dest={dest} lowered concurrency=1 "
                   "delay=200ms")
    throttled(relay, 1, 200)
    th = summary(relay)["throttled"]
    assert len(th) == 1, th
    assert th[0]["destination"] == dest, th
    assert th[0]["concurrency"] == 1 and th[0]["configured"] == 4, th
    assert th[0]["delay_ms"] == 200, th
    assert th[0]["reason"].startswith(BUSY + " (d\ufffdj\ufffd vu)"), th
    text = relay.ctl("queue", "summary").stdout   # '?' for the octets
    if not re.search(r"throttled destination.*\n" + re.escape(dest) +
                     r" +1/4 +0\.2s .*" + re.escape(BUSY + " (d?j? vu)"),
                     text):
        raise TestFailure(f"summary lacks the throttled line:\n{text}")
    text = relay.ctl("queue", "show", qid).stdout
    assert "throttled by: " + BUSY + " (d?j? vu)" in text, text
    # queue show says the recipient waits for a throttled destination.
    r = json.loads(relay.ctl("queue", "show", "--json", qid).stdout)[
        "recipients"][0]
    assert r["destination"] == dest and r["throttled"] is True, r
    assert f"; destination {dest} throttled since " in r["status"], r
    assert r["status"].endswith("concurrency 1/4, pause 0.2s"), r
    # The timeline names the 421 as the reply.
    m = json.loads(relay.ctl("queue", "show", "--json", qid).stdout)
    assert m["recipients"][0]["timeline"][1]["reply"].startswith(BUSY), m

    # A restart keeps the state.
    relay.stop()
    relay.start()
    relay.wait_log(f"qmgr throttle dest={dest} concurrency=1 delay=200ms "
                   "(restored from the index)")
    assert summary(relay)["throttled"][0]["concurrency"] == 1

    # The sink accepts now: each delivery raises it (recover = 1) until
    # it is restored: 2 (100 ms), 3 (50 ms), 4 without a pause.
    stop_sink(busy)
    start_sink(sport)
    relay.ctl("queue", "flush")
    relay.wait_log(f"{qid} qmgr delivered")
    relay.wait_log(f"qmgr throttle dest={dest} raised concurrency=2 "
                   "delay=100ms")
    throttled(relay, 2, 100)
    for i in range(2):
        q = send(relay.port, f"y{i}@busy.example", f"more{i}")
        relay.wait_log(f"{q} qmgr delivered")
    relay.wait_log(f"qmgr throttle dest={dest} raised concurrency=3 "
                   "delay=50ms")
    relay.wait_log(f"qmgr throttle dest={dest} restored concurrency=4 "
                   "delay=0ms")
    wait_for(lambda: summary(relay)["throttled"] == [], "restored")
    assert "throttled destination" not in relay.ctl("queue",
                                                    "summary").stdout


try:
    run(main)
finally:
    for p in sinks:
        if p.poll() is None:
            p.kill()
