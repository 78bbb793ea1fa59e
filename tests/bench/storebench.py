#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
# Copyright (c) 2026 The Estafeta developers
"""Load generator and data maker for tests/bench/store.sh.

  storebench.py gen-pop DIR COUNT SIZE      Maildir with COUNT messages of
                                            about SIZE octets (in new/)
  storebench.py gen-imap DIR COUNT          Maildir with COUNT small messages
                                            with varied headers (ENVELOPE)
  storebench.py pop3 PORT USER PASS         LIST, then RETR of every message
  storebench.py imap PORT USER PASS         SELECT INBOX, FETCH 1:* ENVELOPE
                                            twice (cold, then cached)
  storebench.py idle PORT USER PASS N       N logged-in IMAP sessions with
                                            INBOX selected; prints "ready",
                                            holds them until stdin closes
                                            (each first runs the command in
                                            STORE_IDLE_COMMAND when set, e.g.
                                            "UID FETCH 1:* (FLAGS)" as mail
                                            clients do after SELECT)

Results go to stdout as one line of key=value pairs. The clients read with
large recv() calls and look only for the end of each response, so that the
client is never what is measured; every response is still checked (octet
counts for RETR, one FETCH line per message, tagged OK).
"""
import os
import random
import socket
import sys
import time


def die(msg):
    print(f"storebench: {msg}", file=sys.stderr)
    sys.exit(1)


# ------------------------------------------------------------------ data

WORDS = ("alpha bravo charlie delta echo foxtrot golf hotel india juliet "
         "kilo lima mike november oscar papa quebec romeo sierra tango "
         "uniform victor whiskey xray yankee zulu").split()


def maildir(d):
    for sub in ("new", "cur", "tmp"):
        os.makedirs(os.path.join(d, sub), exist_ok=True)


def put(d, i, data):
    name = f"{1700000000 + i}.M{i}P1.bench"
    with open(os.path.join(d, "new", name), "wb") as f:
        f.write(data)


def gen_pop(d, count, size):
    maildir(d)
    rnd = random.Random(1)
    for i in range(count):
        hdr = (f"From: Sender {i} <sender{i}@example.org>\n"
               f"To: pop@example.test\n"
               f"Subject: pop bench message {i}\n"
               f"Date: Sun, 29 Nov 2026 10:00:00 +0000\n"
               f"Message-ID: <pop{i}@bench.example.org>\n\n")
        body = []
        n = len(hdr)
        while n < size:
            line = " ".join(rnd.choice(WORDS) for _ in range(11))
            if rnd.random() < 0.02:
                line = "." + line       # exercises dot-stuffing
            body.append(line)
            n += len(line) + 1
        put(d, i, (hdr + "\n".join(body) + "\n").encode())


def gen_imap(d, count):
    maildir(d)
    rnd = random.Random(2)
    for i in range(count):
        w = [rnd.choice(WORDS) for _ in range(6)]
        msg = (f"Return-Path: <list{i % 50}@lists.example.org>\n"
               f"Received: from mx.example.org by mx.example.test; "
               f"Sun, 29 Nov 2026 10:00:00 +0000\n"
               f"From: \"{w[0].title()} {w[1].title()}\" "
               f"<{w[0]}.{w[1]}@example.org>\n"
               f"Sender: list{i % 50}@lists.example.org\n"
               f"Reply-To: {w[2]}@example.net\n"
               f"To: imap@example.test, \"Other Person\" "
               f"<other@example.test>\n"
               f"Cc: {w[3]}@example.com\n"
               f"Subject: =?UTF-8?Q?Re=3A_{w[4]}_{w[5]}?= {i}\n"
               f"Date: Sun, 29 Nov 2026 10:{i % 60:02d}:00 +0000\n"
               f"Message-ID: <m{i}@bench.example.org>\n"
               f"In-Reply-To: <m{max(i - 1, 0)}@bench.example.org>\n"
               f"MIME-Version: 1.0\n"
               f"Content-Type: text/plain; charset=utf-8\n\n")
        msg += "\n".join(" ".join(rnd.choice(WORDS) for _ in range(10))
                         for _ in range(20)) + "\n"
        put(d, i, msg.encode())


# ------------------------------------------------------------------ I/O

class Conn:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=600)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()

    def send(self, line):
        self.s.sendall(line.encode() + b"\r\n")

    def fill(self):
        d = self.s.recv(1 << 20)
        if not d:
            die("connection closed")
        self.buf += d

    def line(self):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                ln = bytes(self.buf[:i])
                del self.buf[:i + 2]
                return ln
            self.fill()

    def until(self, end, start=0):
        """Bytes up to and including end (searched from start)."""
        while True:
            i = self.buf.find(end, max(start, 0))
            if i >= 0:
                out = bytes(self.buf[:i + len(end)])
                del self.buf[:i + len(end)]
                return out
            start = len(self.buf) - len(end)
            self.fill()


def pop3(port, user, pw):
    c = Conn(port)
    if not c.line().startswith(b"+OK"):
        die("no POP3 greeting")
    for cmd in (f"USER {user}", f"PASS {pw}"):
        c.send(cmd)
        r = c.line()
        if not r.startswith(b"+OK"):
            die(f"{cmd.split()[0]}: {r!r}")
    c.send("LIST")
    if not c.line().startswith(b"+OK"):
        die("LIST failed")
    sizes = [int(x.split()[1]) for x in
             c.until(b"\r\n.\r\n", 0)[:-5].split(b"\r\n") if x]
    if not sizes:
        die("empty maildrop")
    total = 0
    t0 = time.monotonic()
    for n in range(1, len(sizes) + 1):
        c.send(f"RETR {n}")
        st = c.line()
        if not st.startswith(b"+OK"):
            die(f"RETR {n}: {st!r}")
        body = c.until(b"\r\n.\r\n")
        got = len(body) - 3 - body.count(b"\r\n..")
        if got != sizes[n - 1]:
            die(f"RETR {n}: {got} octets, LIST said {sizes[n - 1]}")
        total += got
    wall = time.monotonic() - t0
    t0 = time.monotonic()
    c.send("QUIT")
    if not c.line().startswith(b"+OK"):
        die("QUIT failed")
    quit_s = time.monotonic() - t0
    print(f"pop3_retr messages={len(sizes)} octets={total} "
          f"wall_s={wall:.3f} msgs_per_sec={len(sizes) / wall:.1f} "
          f"mib_per_sec={total / wall / 1048576:.1f} quit_s={quit_s:.3f}")


class Imap(Conn):
    def __init__(self, port):
        super().__init__(port)
        self.tag = 0
        if not self.line().startswith(b"* OK"):
            die("no IMAP greeting")

    def cmd(self, text):
        """Runs a command; returns the untagged data (bytes)."""
        self.tag += 1
        t = f"b{self.tag} ".encode()
        self.send(f"b{self.tag} {text}")
        start = 0
        while True:
            if self.buf.startswith(t):
                i = 0
            else:
                j = self.buf.find(b"\r\n" + t, start)
                i = j + 2 if j >= 0 else -1
            if i >= 0:
                k = self.buf.find(b"\r\n", i)
                if k >= 0:
                    data = bytes(self.buf[:i])
                    status = bytes(self.buf[i + len(t):k])
                    del self.buf[:k + 2]
                    break
            else:
                start = max(len(self.buf) - len(t) - 2, 0)
            self.fill()
        if not status.startswith(b"OK"):
            die(f"{text.split()[0]}: {status!r}")
        return data


def imap_login(port, user, pw):
    c = Imap(port)
    c.cmd(f'LOGIN "{user}" "{pw}"')
    return c


def imap(port, user, pw):
    c = imap_login(port, user, pw)
    t0 = time.monotonic()
    data = c.cmd("SELECT INBOX")
    t_sel = time.monotonic() - t0
    exists = [ln for ln in data.split(b"\r\n") if ln.endswith(b" EXISTS")]
    if not exists:
        die("SELECT: no EXISTS")
    n = int(exists[0].split()[1])
    res = []
    for run in ("cold", "warm"):
        t0 = time.monotonic()
        data = c.cmd("FETCH 1:* ENVELOPE")
        wall = time.monotonic() - t0
        got = data.count(b" FETCH (ENVELOPE (")
        if got != n:
            die(f"FETCH {run}: {got} responses for {n} messages")
        res.append(f"fetch_{run}_s={wall:.3f} "
                   f"fetch_{run}_msgs_per_sec={n / wall:.0f}")
    c.send("b0 LOGOUT")
    print(f"imap_fetch_envelope messages={n} select_s={t_sel:.3f} "
          + " ".join(res))


def idle(port, user, pw, n):
    after = os.environ.get("STORE_IDLE_COMMAND", "")
    conns = []
    for _ in range(n):
        c = imap_login(port, user, pw)
        c.cmd("SELECT INBOX")
        if after:
            c.cmd(after)
        conns.append(c)
    print("ready", flush=True)
    sys.stdin.read()
    for c in conns:
        c.s.close()


def main():
    a = sys.argv[1:]
    if not a:
        die(__doc__)
    if a[0] == "gen-pop":
        gen_pop(a[1], int(a[2]), int(a[3]))
    elif a[0] == "gen-imap":
        gen_imap(a[1], int(a[2]))
    elif a[0] == "pop3":
        pop3(int(a[1]), a[2], a[3])
    elif a[0] == "imap":
        imap(int(a[1]), a[2], a[3])
    elif a[0] == "idle":
        idle(int(a[1]), a[2], a[3], int(a[4]))
    else:
        die(f"unknown command {a[0]}")


if __name__ == "__main__":
    main()
