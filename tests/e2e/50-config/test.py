# SPDX-License-Identifier: ISC
"""Broken configurations are refused with a message naming file:line and
the problem; good ones are accepted and printed in canonical form.

  * every bad-*.conf in this directory: `estafetad -t -c FILE` exits 1
    and prints exactly the error lines listed for it in expected.txt
    (where, what); starting estafetad on one fails the same way;
  * good.conf (with an include and a continued list): -t exits 0;
  * -n prints every setting, defaults included, sizes and durations in
    canonical form; its output is itself a good configuration that
    prints the same;
  * -o key=value overrides the file; bad overrides are reported;
  * a listen port already in use: estafetad exits non-zero at start-up
    naming the address (-t does not bind: it must work beside the
    running daemon that holds the ports);
  * pid_file is written with mode 0644; a symbolic link in its place is
    not followed: estafetad refuses to start and the target is untouched.
"""
import os
import socket
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from estafeta_test import (ESTAFETAD, Instance, TestFailure, run,  # noqa
                           wait_for)

HERE = os.path.dirname(os.path.abspath(__file__))


def estafetad(*args):
    r = subprocess.run([ESTAFETAD] + list(args), cwd=HERE,
                       capture_output=True, text=True, timeout=20)
    return r.returncode, r.stdout + r.stderr


def expected():
    want = {}
    with open(os.path.join(HERE, "expected.txt")) as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            name, where, msg = (x.strip() for x in line.split(" | ", 2))
            want.setdefault(name, []).append((where, msg))
    return want


def check_errors(name, out, entries):
    lines = out.splitlines()
    if not lines or lines[0] != "estafetad: configuration errors:":
        raise TestFailure(f"{name}: no error header: {out!r}")
    errors = lines[1:]
    if len(errors) != len(entries):
        raise TestFailure(f"{name}: {len(errors)} error lines, expected "
                          f"{len(entries)}: {out!r}")
    for where, msg in entries:
        if not any(e.startswith(where + ": ") and msg in e for e in errors):
            raise TestFailure(f"{name}: no line '{where}: ...{msg}...' "
                              f"in {errors!r}")


def bad_configs():
    want = expected()
    files = sorted(f for f in os.listdir(HERE)
                   if f.startswith("bad-") and f.endswith(".conf"))
    if sorted(want) != files:
        raise TestFailure(f"expected.txt and bad-*.conf differ: {files} "
                          f"vs {sorted(want)}")
    for name in files:
        rc, out = estafetad("-t", "-c", name)
        if rc != 1:
            raise TestFailure(f"-t {name}: exit {rc}: {out!r}")
        check_errors(name, out, want[name])
    # Starting on a bad file fails the same way, before anything runs.
    rc, out = estafetad("-f", "-c", "bad-enum.conf")
    if rc != 1:
        raise TestFailure(f"start on bad-enum.conf: exit {rc}")
    check_errors("bad-enum.conf (start)", out, want["bad-enum.conf"])
    print(f"{len(files)} broken configurations refused as expected")


def print_config(*args):
    rc, out = estafetad("-n", *args)
    if rc != 0:
        raise TestFailure(f"-n {args}: exit {rc}: {out!r}")
    conf = {}
    for line in out.splitlines():
        key, eq, val = line.partition(" =")
        if not eq:
            raise TestFailure(f"-n printed a line that is not 'key = "
                              f"value': {line!r}")
        conf[key] = val.strip()
    return out, conf


def good_config():
    rc, out = estafetad("-t", "-c", "good.conf")
    if rc != 0 or "good.conf: configuration OK" not in out:
        raise TestFailure(f"-t good.conf: exit {rc}: {out!r}")
    text, conf = print_config("-c", "good.conf")
    want = {
        # From good.conf, in canonical form.
        "listen_mx": "127.0.0.1:2525, [::1]:2525",
        "message_size_limit": "10M",            # 10240k
        "smtpd_command_timeout": "90s",         # 90000ms
        "smtpd_data_timeout": "2h",             # 120m
        "smtpd_session_timeout": "1h",          # 3600 (seconds)
        "spool_sync": "fsync",                  # FSYNC
        "smtpd_banner": "ESMTP good config",
        # From inc/common.conf.
        "local_domains": "example.test, example.org",
        "smtpd_workers_min": "3",
        "smtpd_workers_max": "30",
        # Defaults.
        "run_user": "estafeta",
        "log_level": "info",
        "smtpd_recipient_limit": "1000",
        "smtpd_command_line_limit": "512",
        "hop_count_limit": "50",
        "listen_smtps": "",
        "relay_domains": "",
    }
    for k, v in want.items():
        if conf.get(k) != v:
            raise TestFailure(f"-n: {k} = {conf.get(k)!r}, want {v!r}")
    # The printed configuration is a configuration that prints the same.
    with tempfile.NamedTemporaryFile("w", suffix=".conf") as f:
        f.write(text)
        f.flush()
        rc, out = estafetad("-t", "-c", f.name)
        if rc != 0:
            raise TestFailure(f"-n output does not pass -t: {out!r}")
        again, _ = print_config("-c", f.name)
        if again != text:
            raise TestFailure(f"-n of -n output differs:\n{again}")
    print(f"-n printed {len(conf)} settings in canonical form")


def overrides():
    _, conf = print_config("-c", "good.conf", "-o",
                           "smtpd_banner=ESMTP overridden", "-o",
                           "message_size_limit = 1g", "-o",
                           "spool_sync=group", "-o", "smtpd_workers_max=40")
    for k, v in (("smtpd_banner", "ESMTP overridden"),
                 ("message_size_limit", "1G"), ("spool_sync", "group"),
                 ("smtpd_workers_max", "40"), ("smtpd_workers_min", "3")):
        if conf[k] != v:
            raise TestFailure(f"-o: {k} = {conf[k]!r}, want {v!r}")
    bad = [
        ("no_such_key=1", "unknown setting 'no_such_key'"),
        ("smtpd_workers_max", "-o smtpd_workers_max: expected key=value"),
        ("smtpd_workers_max=0", "smtpd_workers_max: 0 is below the "
         "minimum 1"),
        ("message_size_limit=big", "message_size_limit: bad size 'big'"),
        ("smtpd_workers_min=31", "-o smtpd_workers_min: smtpd_workers_min "
         "(31) exceeds smtpd_workers_max (30) (see also smtpd_workers_max "
         "at inc/common.conf:4)"),
        ("smtpd_workers_max=2", "-o smtpd_workers_max: smtpd_workers_min "
         "(3) exceeds smtpd_workers_max (2) (see also smtpd_workers_min at "
         "inc/common.conf:3)"),
        ("listen_mx=localhost:25", "listen_mx: 'localhost:25' is not a "
         "listen address"),
    ]
    for ov, msg in bad:
        rc, out = estafetad("-t", "-c", "good.conf", "-o", ov)
        if rc != 1 or msg not in out or "configuration OK" in out:
            raise TestFailure(f"-o {ov}: exit {rc}, output {out!r}")


def port_in_use():
    inst = Instance("config-busy")
    hog = socket.socket()
    hog.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    hog.bind(("127.0.0.1", inst.port))
    hog.listen(1)
    rc, out = estafetad("-t", "-c", inst.conf)
    if rc != 0:
        raise TestFailure(f"-t must not bind: exit {rc}: {out!r}")
    inst.start(wait=False)
    proc = inst.proc
    proc.wait(timeout=10)
    hog.close()
    want = f"cannot listen on 127.0.0.1:{inst.port}: Address already in use"
    if proc.returncode == 0 or want not in inst.read_log():
        raise TestFailure(f"port in use: exit {proc.returncode}, log "
                          f"{inst.read_log()!r}")
    wait_for(lambda: not inst.pids_alive(), "no estafetad left", 5)
    inst.stop()


def pid_file():
    """The pid file is written (as root) without following a symbolic
    link planted in its place: the daemon refuses to start instead."""
    inst = Instance("config-pid")
    pidf = os.path.join(inst.dir, "estafetad.pid")
    inst.settings["pid_file"] = pidf
    inst.write_config()
    inst.start()
    with open(pidf) as f:
        got = int(f.read())
    if got != inst.proc.pid:
        raise TestFailure(f"pid file has {got}, daemon is {inst.proc.pid}")
    assert os.stat(pidf).st_mode & 0o777 == 0o644, oct(os.stat(pidf).st_mode)
    inst.stop()
    if os.path.lexists(pidf):
        os.unlink(pidf)
    victim = os.path.join(inst.dir, "victim")
    with open(victim, "w") as f:
        f.write("secret\n")
    os.symlink(victim, pidf)
    inst.start(wait=False)
    inst.proc.wait(timeout=10)
    with open(victim) as f:
        kept = f.read()
    if inst.proc.returncode == 0 or kept != "secret\n" or \
            f"cannot write pid file {pidf}" not in inst.read_log():
        raise TestFailure(f"pid file symlink: exit {inst.proc.returncode}, "
                          f"victim {kept!r}, log {inst.read_log()!r}")
    wait_for(lambda: not inst.pids_alive(), "no estafetad left", 5)
    inst.stop()


def main():
    bad_configs()
    good_config()
    overrides()
    port_in_use()
    pid_file()


run(main)
