#!/usr/bin/python3
# SPDX-License-Identifier: ISC
# Copyright (c) 2026 The Estafeta developers
#
# Independent check of a delivery status notification built by dsn_build():
# reads the message from stdin, parses it with Python's email package
# (policy.default) and checks the RFC 3464 / 6522 / 6533 structure, then the
# values the caller expects, given as JSON in argv[1]:
#
#   subject, from, to     exact Subject, From and To addr-spec
#   utf8                  global types expected (RFC 6533); when false the
#                         message must be ASCII unless "eightbit" is true
#   eightbit              top-level Content-Transfer-Encoding: 8bit expected
#   per_message           {field: value}; value null = field must be absent
#   recipients            [{field: value}, ...], one per block, in order
#                         (when given: the number of blocks must match)
#   returned              type of part 3, or null when there must be none
#                         (when not given: part 3 is optional)
#   returned_has/_lacks   strings part 3 must / must not contain
#   text_has/_lacks       strings the text/plain part must / must not contain
#
# Prints what is wrong and exits 1; exits 0 when all is well. Used by
# tests/unit/test_dsn.c.
import email
import email.policy
import email.utils
import json
import re
import sys

ACTIONS = {"failed", "delayed", "delivered", "relayed", "expanded"}
STATUS = re.compile(r"^[245]\.[0-9]{1,3}\.[0-9]{1,3}$")
TYPED = re.compile(r"^[A-Za-z0-9-]+;\s*\S")
PER_MESSAGE = {"original-envelope-id", "reporting-mta", "dsn-gateway",
               "received-from-mta", "arrival-date"}
PER_RECIPIENT = {"original-recipient", "final-recipient", "action",
                 "status", "remote-mta", "diagnostic-code",
                 "last-attempt-date", "final-log-id", "will-retry-until"}
DATES = {"arrival-date", "last-attempt-date", "will-retry-until"}

errors = []


def err(msg):
    errors.append(msg)


def u(s):
    """A value parsed from bytes: undecoded octets (surrogates) as UTF-8."""
    return str(s).encode("utf-8", "surrogateescape").decode("utf-8",
                                                             "replace")


def check_lines(raw, allow_8bit):
    if not raw.endswith(b"\r\n"):
        err("message does not end with CRLF")
    lines = raw.split(b"\r\n")
    for i, line in enumerate(lines[:-1]):
        if b"\n" in line or b"\r" in line:
            err("line %d: bare CR or LF" % (i + 1))
        if len(line) > 998:
            err("line %d: %d octets" % (i + 1, len(line)))
        if b"\0" in line:
            err("line %d: NUL" % (i + 1))
        if not allow_8bit and any(c >= 0x80 for c in line):
            err("line %d: 8-bit data" % (i + 1))


def check_date(name, value):
    try:
        if email.utils.parsedate_to_datetime(str(value)) is None:
            raise ValueError
    except (TypeError, ValueError):
        err("%s: not an RFC 5322 date: %r" % (name, str(value)))


def status_blocks(part, utf8):
    """The field blocks of part 2 as lists of (name, value)."""
    payload = part.get_payload()
    if not utf8:
        return [list(b.items()) for b in payload]
    # message/global-delivery-status is parsed as one message: its header
    # is the per-message block, its body the per-recipient blocks.
    if len(payload) != 1:
        err("global-delivery-status parsed into %d messages" % len(payload))
        return []
    first = payload[0]
    blocks = [list(first.items())]
    body = first.get_payload(decode=True)   # the octets as they were
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
        for chunk in re.split(r"(?:\r?\n){2,}", body):
            if chunk.strip():
                m = email.message_from_string(chunk + "\n",
                                              policy=email.policy.default)
                if m.get_payload():
                    err("recipient block has a body: %r" % chunk)
                blocks.append(list(m.items()))
    return blocks


def check_block(kind, block, allowed):
    seen = set()
    for name, value in block:
        low = name.lower()
        if low in seen:
            err("%s block: %s twice" % (kind, name))
        seen.add(low)
        if low not in allowed and not low.startswith("x-"):
            err("%s block: unexpected field %s" % (kind, name))
        if low in DATES:
            check_date(name, value)
    return {n.lower(): u(v) for n, v in block}


def compare(kind, got, want):
    for name, value in want.items():
        have = got.get(name.lower())
        if value is None:
            if have is not None:
                err("%s: %s present (%r), expected absent" %
                    (kind, name, have))
        elif have != value:
            err("%s: %s is %r, expected %r" % (kind, name, have, value))


def check_status(part, exp, utf8):
    blocks = status_blocks(part, utf8)
    if not blocks:
        err("no per-message block")
        return
    pm = check_block("per-message", blocks[0], PER_MESSAGE)
    if not pm.get("reporting-mta", "").startswith("dns;"):
        err("Reporting-MTA missing or not dns: %r" % pm.get("reporting-mta"))
    compare("per-message", pm, exp.get("per_message", {}))
    rcpts = blocks[1:]
    want = exp.get("recipients")
    if not rcpts:
        err("no recipient block")
    if want is None:
        want = []
    elif len(rcpts) != len(want):
        err("%d recipient blocks, expected %d" % (len(rcpts), len(want)))
    for i, block in enumerate(rcpts):
        got = check_block("recipient %d" % i, block, PER_RECIPIENT)
        for need in ("final-recipient", "action", "status"):
            if need not in got:
                err("recipient %d: no %s" % (i, need))
        for name in ("final-recipient", "original-recipient", "remote-mta",
                     "diagnostic-code"):
            if name in got and not TYPED.match(got[name]):
                err("recipient %d: %s not type;value: %r" %
                    (i, name, got[name]))
        if got.get("action") not in ACTIONS:
            err("recipient %d: bad Action %r" % (i, got.get("action")))
        if not STATUS.match(got.get("status", "")):
            err("recipient %d: bad Status %r" % (i, got.get("status")))
        if "will-retry-until" in got and got.get("action") != "delayed":
            err("recipient %d: Will-Retry-Until without delayed" % i)
        if i < len(want):
            compare("recipient %d" % i, got, want[i])


def part_text(part):
    if part.get_content_maintype() == "message":
        sub = part.get_payload()
        if isinstance(sub, list):
            return "".join(s.as_string(policy=email.policy.SMTPUTF8)
                           for s in sub)
    return part.get_content()


def check_text(part, exp):
    if part.get_content_type() != "text/plain":
        err("part 1 is %s" % part.get_content_type())
        return
    # Paragraphs are wrapped: compare with runs of white space as one.
    text = " ".join(part.get_content().split())
    for s in exp.get("text_has", []):
        if s not in text:
            err("text part lacks %r" % s)
    for s in exp.get("text_lacks", []):
        if s in text:
            err("text part contains %r" % s)


def check_returned(parts, exp):
    if "returned" not in exp:
        if len(parts) not in (2, 3):
            err("%d parts" % len(parts))
        return
    want = exp["returned"]
    if want is None:
        if len(parts) != 2:
            err("%d parts, expected 2" % len(parts))
        return
    if len(parts) != 3:
        err("%d parts, expected 3" % len(parts))
        return
    part = parts[2]
    if part.get_content_type() != want:
        err("part 3 is %s, expected %s" % (part.get_content_type(), want))
    text = part_text(part)
    for s in exp.get("returned_has", []):
        if s not in text:
            err("part 3 lacks %r" % s)
    for s in exp.get("returned_lacks", []):
        if s in text:
            err("part 3 contains %r" % s)


def check_top(msg, raw, exp, utf8):
    for name in ("From", "To", "Subject", "Date", "Message-ID",
                 "MIME-Version", "Auto-Submitted", "Content-Type"):
        if len(msg.get_all(name, [])) != 1:
            err("%s: %d fields" % (name, len(msg.get_all(name, []))))
    if msg.get_all("Date"):
        check_date("Date", msg["Date"])
    if msg["MIME-Version"] != "1.0":
        err("MIME-Version %r" % msg["MIME-Version"])
    if msg["Auto-Submitted"] != "auto-replied":
        err("Auto-Submitted %r" % msg["Auto-Submitted"])
    if not re.match(r"^<[^<>@\s]+@[^<>@\s]+>$", str(msg["Message-ID"])):
        err("Message-ID %r" % str(msg["Message-ID"]))
    if "subject" in exp and msg["Subject"] != exp["subject"]:
        err("Subject %r, expected %r" % (msg["Subject"], exp["subject"]))
    for name in ("from", "to"):
        if name in exp:
            addrs = msg[name].addresses if msg[name] else ()
            got = [u(a.addr_spec) for a in addrs]
            if got != [exp[name]]:
                err("%s %r, expected %r" % (name, got, [exp[name]]))
    cte = msg.get("Content-Transfer-Encoding")
    if exp.get("eightbit", False) != (cte == "8bit"):
        err("top-level Content-Transfer-Encoding %r" % cte)
    if msg.get_content_type() != "multipart/report":
        err("top-level type %s" % msg.get_content_type())
        return None
    if msg.get_param("report-type") != "delivery-status":
        err("report-type %r" % msg.get_param("report-type"))
    boundary = msg.get_boundary()
    if not boundary:
        err("no boundary")
        return None
    b = boundary.encode()
    nparts = raw.count(b"\r\n--" + b + b"\r\n")
    if raw.count(b"--" + b + b"--") != 1 or \
            not raw.endswith(b"\r\n--" + b + b"--\r\n"):
        err("close delimiter missing or not at the end")
    if nparts != len(msg.get_payload()):
        err("%d delimiters for %d parts" % (nparts, len(msg.get_payload())))
    return boundary


def main():
    exp = json.loads(sys.argv[1])
    raw = sys.stdin.buffer.read()
    utf8 = exp.get("utf8", False)
    check_lines(raw, utf8 or exp.get("eightbit", False))
    if utf8:
        # RFC 6532: 8-bit header fields are UTF-8, well-formed.
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as e:
            err("not UTF-8: %s" % e)
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    if msg.defects:
        err("message defects: %r" % msg.defects)
    if check_top(msg, raw, exp, utf8) is not None:
        parts = msg.get_payload()
        for i, p in enumerate(parts):
            if p.defects:
                err("part %d defects: %r" % (i + 1, p.defects))
        if len(parts) < 2:
            err("%d parts" % len(parts))
        else:
            check_text(parts[0], exp)
            want2 = "message/global-delivery-status" if utf8 else \
                "message/delivery-status"
            if parts[1].get_content_type() != want2:
                err("part 2 is %s" % parts[1].get_content_type())
            else:
                check_status(parts[1], exp, utf8)
            check_returned(parts, exp)
    for e in errors:
        print("dsn_check: " + e, file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
