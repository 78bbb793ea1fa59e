# SPDX-License-Identifier: ISC
"""Test DNS: a real dnsmasq serving test zones on 127.0.0.1:<free port>.

Estafeta does all DNS through src/lib/dns.c (libunbound); its config option
dns_server = 127.0.0.1@PORT forwards every query to this server. The zones
are Python data: a dict from owner name to a list of records written as in
a zone file ("MX 10 mx1.example.org", "A 127.0.0.2", 'TXT "a" "b"'), plus
two pseudo-records for failure tests:

    SERVFAIL  the name and everything below it fail (dnsmasq answers
              REFUSED, which the resolver reports as SERVFAIL: TEMPFAIL);
    TIMEOUT   queries for the name and below are never answered (dnsmasq
              forwards them to a socket of ours that never replies).

and "RAW <type> <hex RDATA>" for anything else (broken records). A and
AAAA records also publish the PTR record of their address (dnsmasq's
host-record): list the name that should own an address's PTR first. A
name with RAW records only answers NXDOMAIN for the other types.

Every other name answers NXDOMAIN (the server is authoritative for all
names: dnsmasq's local=/#/), names with records of other types NODATA.
TTLs are 0, so the resolver does not cache positive answers and a changed
zone (set_zones) is seen on the next lookup, except that libunbound keeps
negative answers (NXDOMAIN/NODATA, which carry no SOA here) for about 5
seconds: a name that was absent shows up that much later.

Usage in an e2e test:

    from testdns import TestDNS
    dns = TestDNS().start()                  # DEFAULT_ZONES
    inst = Instance(dns_server=dns.server)   # "127.0.0.1@PORT"
    dns.query("example.org", "MX")  # -> (rcode, [(type, value), ...])

or with zones of its own: TestDNS({"a.test": ["MX 10 mx.a.test"], ...}),
or DEFAULT_ZONES plus more: TestDNS({**DEFAULT_ZONES, "b.test": [...]}).
MX delivery goes to port 25 of the MX hosts' addresses: listen on
127.0.0.2:25 (mx1.example.org) etc. (tests run as root), or use
transports with explicit ports where DNS is not the point.
Processes are stopped at exit (atexit), even when the test fails.

From C (tests/unit/test_dns.c) or a shell: `python3 testdns.py` starts the
default zones, prints "127.0.0.1@PORT" on a line once the server answers,
and stops it when its standard input reaches end-of-file (the parent
exited or closed the pipe) or on SIGTERM. If dnsmasq is missing it prints
the reason to stderr and exits 1.
"""
import atexit
import os
import random
import shlex
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import testports  # noqa: E402 - same directory

DNSMASQ = os.environ.get("DNSMASQ") or shutil.which(
    "dnsmasq", path="/usr/sbin:/sbin:/usr/bin:/bin:" + os.environ.get(
        "PATH", ""))
START_TIMEOUT = float(os.environ.get("E2E_TIMEOUT", "20"))

# The zones the delivery tests share. Addresses are on loopback so that a
# test can listen on them (127.0.0.0/8 is all local on Linux; ::1 only).
DEFAULT_ZONES = {
    # Two MX hosts with different preferences, and an A record for the
    # domain itself that must NOT be used while MX records exist.
    "example.org": ["MX 20 mx2.example.org", "MX 10 mx1.example.org",
                    "A 127.0.0.9",
                    'TXT "v=spf1 ip4:127.0.0.0/8 " "-all"'],
    "mx1.example.org": ["A 127.0.0.2"],
    "mx2.example.org": ["A 127.0.0.3"],
    # No MX: delivery falls back to the address records (implicit MX).
    "nomx.example.org": ["A 127.0.0.4"],
    # RFC 7505 null MX: the domain accepts no mail (its A is a decoy).
    "nullmx.example.org": ["MX 0 .", "A 127.0.0.5"],
    # Three MX of equal preference: clients must randomise the order.
    "equal.example.org": ["MX 10 eq1.example.org", "MX 10 eq2.example.org",
                          "MX 10 eq3.example.org"],
    "eq1.example.org": ["A 127.0.0.11"],
    "eq2.example.org": ["A 127.0.0.12"],
    "eq3.example.org": ["A 127.0.0.13"],
    # IPv6 only, and both families.
    "v6.example.org": ["AAAA ::1"],
    "dual.example.org": ["A 127.0.0.6", "AAAA ::1"],
    # A domain whose only MX host has an IPv6 address only.
    "mxv6.example.org": ["MX 10 v6.example.org"],
    # An alias of example.org (its MX, A and TXT through the CNAME).
    "cname.example.org": ["CNAME example.org"],
    # The best MX host does not exist (NXDOMAIN), the second one works.
    "badmx.example.org": ["MX 10 nxdomain.example.org",
                          "MX 20 mx1.example.org"],
    # Several TXT records, one made of several strings.
    "txt.example.org": ['TXT "hello " "world"', 'TXT "second"'],
    # DNSBL-style: 127.0.0.2 listed in dnsbl.example.org. RAW, not A:
    # an A record would also publish 127.0.0.2 -> this name as PTR.
    "2.0.0.127.dnsbl.example.org": ["RAW 1 7f000002",
                                    'TXT "listed: see example.org"'],
    # Broken MX sets: "." beside a real host (not a null MX), hosts that
    # are no host names (an address, a '!'), and nothing usable at all.
    "mixednull.example.org": ["MX 0 .", "MX 10 mx1.example.org"],
    "badhost.example.org": ["MX 10 bad!host.example.org",
                            "MX 20 192.0.2.1", "MX 30 mx2.example.org"],
    "allbad.example.org": ["MX 10 bad!host.example.org"],
    # A TXT record holding a NUL byte ("a\0b", raw RDATA) beside a
    # normal one.
    "nul.example.org": ["RAW 16 03610062", 'TXT "ok"'],
    # Names a stock libunbound would answer itself (test., private
    # reverse zones): dns.c asks the server for them.
    "dnstest.test": ["A 127.0.0.30"],
    "1.0.168.192.in-addr.arpa": ["PTR lan.example.org"],
    # Failures: SERVFAIL (fast) and no answer at all (slow, timeout).
    "tempfail.example.org": ["SERVFAIL"],
    "timeout.example.org": ["TIMEOUT"],
    # nxdomain.example.org: deliberately absent (NXDOMAIN).
}
# A/AAAA records also publish PTR: 127.0.0.2 -> mx1.example.org, ::1 ->
# v6.example.org (the first name with that address).

TYPES = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "PTR": 12, "MX": 15,
         "TXT": 16, "AAAA": 28, "SRV": 33, "ANY": 255}
TYPE_NAMES = {v: k for k, v in TYPES.items()}
RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN",
          4: "NOTIMP", 5: "REFUSED"}


class DNSFailure(Exception):
    pass


def _wire_name(name):
    """A domain name in DNS wire format (no compression)."""
    out = b""
    for label in name.rstrip(".").split("."):
        if not label:
            continue
        b = label.encode("ascii")
        if len(b) > 63:
            raise DNSFailure(f"label too long in {name!r}")
        out += bytes([len(b)]) + b
    return out + b"\0"


def _read_name(msg, i):
    """(name, offset after it) at msg[i], following compression."""
    labels, end, hops = [], None, 0
    while True:
        n = msg[i]
        if n & 0xC0 == 0xC0:
            if end is None:
                end = i + 2
            i = ((n & 0x3F) << 8) | msg[i + 1]
            hops += 1
            if hops > 64:
                raise DNSFailure("compression loop")
            continue
        if n == 0:
            return ".".join(labels), (end if end is not None else i + 1)
        labels.append(msg[i + 1:i + 1 + n].decode("ascii", "replace"))
        i += 1 + n


def _rdata_text(msg, t, off, rdlen):
    rd = msg[off:off + rdlen]
    if t == 1:
        return socket.inet_ntop(socket.AF_INET, rd)
    if t == 28:
        return socket.inet_ntop(socket.AF_INET6, rd)
    if t == 15:
        return f"{struct.unpack('>H', rd[:2])[0]} " + \
            (_read_name(msg, off + 2)[0] or ".")
    if t in (2, 5, 12):
        return _read_name(msg, off)[0] or "."
    if t == 16:
        parts, j = [], 0
        while j < len(rd):
            parts.append(rd[j + 1:j + 1 + rd[j]].decode("ascii", "replace"))
            j += 1 + rd[j]
        return "".join(parts)
    return rd.hex()


def dns_query(port, name, qtype="A", host="127.0.0.1", timeout=2.0):
    """One UDP query. Returns (rcode name, [(type, value), ...]) or raises
    DNSFailure when nothing (matching) came back within timeout."""
    qid = random.randrange(65536)
    t = TYPES[qtype] if isinstance(qtype, str) else qtype
    pkt = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0) + \
        _wire_name(name) + struct.pack(">HH", t, 1)
    deadline = time.monotonic() + timeout
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(pkt, (host, port))
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise DNSFailure(f"no answer for {name} {qtype}")
            s.settimeout(left)
            try:
                msg = s.recv(65535)
            except socket.timeout:
                continue
            except ConnectionRefusedError:
                raise DNSFailure(f"port {port} refused") from None
            if len(msg) >= 12 and struct.unpack(">H", msg[:2])[0] == qid:
                break
    _, flags, qd, an, _, _ = struct.unpack(">HHHHHH", msg[:12])
    i = 12
    for _ in range(qd):
        i = _read_name(msg, i)[1] + 4
    answers = []
    for _ in range(an):
        _, i = _read_name(msg, i)
        rt, _, _, rdlen = struct.unpack(">HHIH", msg[i:i + 10])
        i += 10
        answers.append((TYPE_NAMES.get(rt, str(rt)),
                        _rdata_text(msg, rt, i, rdlen)))
        i += rdlen
    return RCODES.get(flags & 0xF, str(flags & 0xF)), answers


def _free_port():
    """A port free for UDP and TCP on 127.0.0.1, reserved (testports.py)."""
    try:
        return testports.reserve(udp=True)
    except OSError as e:
        raise DNSFailure(str(e)) from e


def _dnsmasq_user():
    """--user/--group when we are root: dnsmasq drops to them after it has
    bound its socket and written its pid file (both as root)."""
    if os.geteuid() != 0:
        return []
    import grp
    import pwd
    for user, group in (("nobody", "nogroup"), ("nobody", "nobody")):
        try:
            pwd.getpwnam(user)
            grp.getgrnam(group)
            return [f"--user={user}", f"--group={group}"]
        except KeyError:
            continue
    return ["--user=root"]


_servers = []


def _cleanup():
    for d in list(_servers):
        d.stop()
        d.remove()


atexit.register(_cleanup)


class TestDNS:
    """One dnsmasq on 127.0.0.1:port serving zones, in a private dir."""

    def __init__(self, zones=None, directory=None, log_queries=True):
        self.zones = dict(DEFAULT_ZONES if zones is None else zones)
        self.own_dir = directory is None
        self.dir = directory or tempfile.mkdtemp(prefix="estafeta-dns-")
        os.makedirs(self.dir, exist_ok=True)
        self.conf = os.path.join(self.dir, "dnsmasq.conf")
        self.pidfile = os.path.join(self.dir, "dnsmasq.pid")
        self.log = os.path.join(self.dir, "dnsmasq.log")
        self.log_queries = log_queries
        self.port = None
        self.proc = None
        self.blackhole = None       # the socket TIMEOUT names go to
        self.keep = bool(os.environ.get("E2E_KEEP"))
        _servers.append(self)

    @property
    def server(self):
        """The value for estafetad's dns_server option."""
        return f"127.0.0.1@{self.port}"

    # ---------------------------------------------------- configuration
    def _records(self, name, records):
        """dnsmasq lines for one owner name."""
        out = []
        name = name.rstrip(".").lower()
        for rec in records:
            f = shlex.split(rec) if rec.startswith("TXT") else rec.split()
            t = f[0].upper()
            if t in ("A", "AAAA"):
                out.append(f"host-record={name},{f[1]}")
            elif t == "MX":
                # mx-host takes any target ("MX 0 ." is the null MX) and,
                # unlike dns-rr, makes the name exist for other types.
                if "," in f[2] or not 0 <= int(f[1]) <= 65535:
                    raise DNSFailure(f"bad MX {rec!r} for {name}")
                out.append(f"mx-host={name},{f[2].rstrip('.') or '.'},"
                           f"{int(f[1])}")
            elif t == "TXT":
                for s in f[1:]:
                    if '"' in s or "," in s or len(s.encode()) > 255:
                        raise DNSFailure(f"TXT string unsupported: {s!r}")
                out.append(f"txt-record={name}," +
                           ",".join(f'"{s}"' for s in f[1:]))
            elif t == "CNAME":
                out.append(f"cname={name},{f[1].rstrip('.')}")
            elif t == "PTR":
                out.append(f"ptr-record={name},{f[1].rstrip('.')}")
            elif t == "RAW":
                # "RAW <type number> <RDATA in hex>": anything else.
                bytes.fromhex(f[2])
                out.append(f"dns-rr={name},{int(f[1])},{f[2]}")
            elif t == "SERVFAIL":
                # "#" = the default upstream servers, and there are none
                # (no-resolv): dnsmasq answers REFUSED, the resolver
                # turns that into SERVFAIL.
                out.append(f"server=/{name}/#")
            elif t == "TIMEOUT":
                out.append(f"server=/{name}/127.0.0.1#"
                           f"{self._blackhole_port()}")
            else:
                raise DNSFailure(f"unsupported record {rec!r} for {name}")
        return out

    def _blackhole_port(self):
        if self.blackhole is None:
            self.blackhole = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.blackhole.bind(("127.0.0.1", 0))
        return self.blackhole.getsockname()[1]

    def write_config(self):
        lines = [
            "# generated by tests/e2e/lib/testdns.py",
            "no-resolv", "no-hosts", "no-poll", "bind-interfaces",
            "listen-address=127.0.0.1", f"port={self.port}",
            "no-dhcp-interface=lo", "local-ttl=0",
            # Authoritative for every name: unknown names are NXDOMAIN
            # (more specific server= lines below win for their names).
            "local=/#/",
            f"log-facility={self.log}",
        ]
        if self.log_queries:
            lines.append("log-queries")
        for name, records in self.zones.items():
            lines.extend(self._records(name, records))
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")

    # ---------------------------------------------------- process
    def start(self, timeout=START_TIMEOUT):
        """Starts dnsmasq and waits until it answers. Returns self."""
        if not DNSMASQ or not os.access(DNSMASQ, os.X_OK):
            raise DNSFailure("dnsmasq not found: install the Debian package "
                             "dnsmasq (contrib/setup-debian.sh)")
        keep_port = self.port is not None
        for _ in range(1 if keep_port else 5):
            if not keep_port:
                self.port = _free_port()
            self.write_config()
            if self._spawn(timeout):
                return self
        raise DNSFailure(f"dnsmasq did not start:\n{self.read_log()}")

    def _spawn(self, timeout):
        """True once it answers; False when it exited (port taken)."""
        with open(self.log, "a") as f:
            f.write(f"--- starting on port {self.port}\n")
        errf = open(os.path.join(self.dir, "dnsmasq.stderr"), "wb")
        self.proc = subprocess.Popen(
            [DNSMASQ, "--keep-in-foreground", f"--conf-file={self.conf}",
             f"--pid-file={self.pidfile}"] + _dnsmasq_user(),
            stdin=subprocess.DEVNULL, stdout=errf, stderr=errf,
            start_new_session=True)
        errf.close()
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                err = self.read_stderr()
                self.proc = None
                if "in use" in err:
                    return False
                raise DNSFailure(f"dnsmasq exited: {err}\n{self.read_log()}")
            try:
                # Any answer will do (NXDOMAIN here): it is serving.
                dns_query(self.port, "probe.invalid", "A", timeout=0.2)
                return True
            except DNSFailure:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise DNSFailure(f"dnsmasq on port {self.port} did not "
                                 f"answer within {timeout}s:\n"
                                 + self.read_log())

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def set_zones(self, zones):
        """Replaces the zones and restarts dnsmasq on the same port."""
        self.stop()
        self.zones = dict(zones)
        self.start()

    def remove(self):
        if self.blackhole is not None:
            self.blackhole.close()
            self.blackhole = None
        if self.own_dir and not self.keep:
            shutil.rmtree(self.dir, ignore_errors=True)
        if self in _servers:
            _servers.remove(self)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        self.remove()

    # ---------------------------------------------------- inspection
    def query(self, name, qtype="A", timeout=2.0):
        """Asks this server directly: (rcode, [(type, value), ...])."""
        return dns_query(self.port, name, qtype, timeout=timeout)

    def read_log(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def read_stderr(self):
        try:
            with open(os.path.join(self.dir, "dnsmasq.stderr"),
                      errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def queried(self, name, qtype=None):
        """How many queries for name (of qtype) this server has seen."""
        tag = f"query[{qtype}] " if qtype else "query["
        return sum(1 for line in self.read_log().splitlines()
                   if tag in line and f" {name} from " in line)


def main():
    """Serves DEFAULT_ZONES until stdin closes (for the C unit tests)."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        dns = TestDNS().start()
    except DNSFailure as e:
        print(f"testdns: {e}", file=sys.stderr)
        return 1
    print(dns.server, flush=True)
    try:
        while sys.stdin.buffer.read(4096):
            pass
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
