# SPDX-License-Identifier: ISC
"""Loopback ports reserved for one test process.

A port found free by binding to port 0 and closing again comes from the
kernel's ephemeral range: before the daemon under test binds it, an
outgoing connection of any process, or a parallel test asking the same
way, can take it ("Address already in use", seen in CI). So ports here
are picked outside the ephemeral range, where the kernel never hands
out ports by itself, and each is locked with flock(2) on a file under
PORT_DIR for as long as the test process lives, so parallel tests and
parallel runs of the suite never pick the same one. tests/unit/test_smtpc.c
uses the same directory and range rule.
"""

import fcntl
import os
import random
import socket

PORT_DIR = "/tmp/estafeta-test-ports"

_held = []            # descriptors holding the locks until exit
_rng = random.Random()  # seeded from os.urandom


def port_range():
    """The range of ports to reserve from: below (or above) the
    kernel's ephemeral range, /proc/sys/net/ipv4/ip_local_port_range."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            lo, hi = (int(x) for x in f.read().split())
    except (OSError, ValueError):
        lo, hi = 32768, 60999
    if lo > 12000:
        return 10000, lo - 1
    return hi + 1, 65535


def _bindable(port, udp):
    kinds = (socket.SOCK_STREAM, socket.SOCK_DGRAM) if udp else \
        (socket.SOCK_STREAM,)
    for kind in kinds:
        s = socket.socket(socket.AF_INET, kind)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        finally:
            s.close()
    return True


def reserve(udp=False):
    """A port free on 127.0.0.1 for TCP (and UDP with udp=True), kept
    from every other test until this process exits."""
    os.makedirs(PORT_DIR, exist_ok=True)
    try:
        os.chmod(PORT_DIR, 0o1777)
    except OSError:
        pass  # another user's directory, already shared
    lo, hi = port_range()
    for _ in range(2000):
        port = _rng.randint(lo, hi)
        try:
            fd = os.open(os.path.join(PORT_DIR, str(port)),
                         os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue
        if _bindable(port, udp):
            _held.append(fd)
            return port
        os.close(fd)
    raise OSError(f"no free port on 127.0.0.1 in {lo}-{hi}")
