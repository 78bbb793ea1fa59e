# SPDX-License-Identifier: ISC
"""A queue file damaged after it was queued never makes a misleading
bounce: its end record (Z) is changed to state 1 GiB of content while
the next hop offers SIZE 1000000. The delivery worker finds the
mismatch before it connects: no connection, no 5.3.4 bounce; the
recipient is deferred with "4.3.0 queue file damaged: content length
mismatch", the log names the file, `queue show` shows the reason, and
the file stays queued. An undamaged message on the same route goes.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from estafeta_test import Instance, run  # noqa: E402
from smtppeer import SmtpPeer, submit as send  # noqa: E402


def main():
    srv = SmtpPeer(ehlo=["SIZE 1000000"])
    port = srv.port

    relay = Instance("relay", relay_domains="", trusted_networks="127.0.0.0/8",
                     transports=f"peer.test=smtp:[127.0.0.1]:{port}",
                     queue_retry_min="1h", delay_warning_time="0",
                     smtp_chunking="no")
    relay.start()
    bad = send(relay.port, "damaged")
    relay.stop()
    # Damage the queued file: the end record's total, 1 GiB.
    path = relay.spool_file(bad)
    with open(path, "r+b") as f:
        data = f.read()
        assert data[-13:-8] == b"Z\0\0\0\x08", data[-13:]
        f.seek(len(data) - 8)
        f.write((1 << 30).to_bytes(8, "big"))

    relay.settings.update(deliver_workers="1")
    relay.write_config()
    relay.start()
    relay.wait_log(f"{bad} qmgr deferred")
    log = relay.read_log()
    assert f'{bad} deliver queue file damaged since it was queued: ' \
        f'file={relay.spool}/queue/{bad} error="content length mismatch"' \
        in log, "no log line naming the file and the damage"
    assert "5.3.4" not in log and f"{bad} qmgr bounced" not in log, \
        "a damaged file bounced"
    with srv.lock:
        assert srv.cmds == [], srv.cmds     # no connection at all
    show = relay.ctl("queue", "show", bad).stdout
    assert "4.3.0 queue file damaged: content length mismatch" in show, show
    assert os.path.exists(path)
    # The route itself works.
    good = send(relay.port, "fine")
    relay.wait_log(f"{good} qmgr removed")
    with srv.lock:
        assert srv.got == ["fine"], srv.got
    assert relay.queue_ids() == {bad}
    relay.stop()
    srv.shutdown()


if __name__ == "__main__":
    run(main)
