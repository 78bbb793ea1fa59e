#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""Prints the MIME part tree of CPython's sample e-mails as Python's email
package (compat32, BytesParser) sees it, in the format test_mime.c renders
for lib/mime's tree, so the C test can compare the two line by line.

usage: mime_tree.py            every msg_*.txt of test.test_email/data
       mime_tree.py FILE...    the given files

Output per file: "== PATH" then one line per part, pre-order, indented two
spaces per level:
  TYPE/SUBTYPE cte=TOKEN|- [name=value;...] disp=TYPE|- [name=value;...] X
where X is "n=N" for a multipart or message/rfc822 (N children), "-" for
other message/* types (Python keeps no raw body for them) and otherwise
"body=LEN:MD5" of the raw (undecoded) body bytes. Values are shown with
bytes outside printable ASCII as \\xHH.

Where lib/mime deliberately differs from Python, this script renders what
mail readers (and IMAP servers) do instead; each case is marked RULE below.
"""
import email
import email.policy
import glob
import hashlib
import os
import re
import sys


def esc(b):
    out = []
    for c in b:
        if 0x20 < c < 0x7f and c not in b';[]=\\':
            out.append(chr(c))
        else:
            out.append('\\x%02x' % c)
    return ''.join(out)


def raw(s):
    if isinstance(s, bytes):
        return s
    try:
        return s.encode('ascii', 'surrogateescape')
    except UnicodeEncodeError:
        return s.encode('utf-8', 'surrogateescape')


def params(msg, header):
    ps = msg.get_params(header=header)
    if not ps:
        return []
    out = []
    seen = set()
    for name, value in ps[1:]:
        name = name.lower()
        if name in seen:
            continue  # RULE: the first of duplicate parameters wins
        seen.add(name)
        if value == '' and not re.search(re.escape(name) + r'\s*\*?\d*\*?=',
                                         str(msg.get(header)), re.I):
            continue  # RULE: a parameter without '=' is dropped
        if isinstance(value, tuple):
            value = value[2].encode('latin-1')
        else:
            value = raw(email.utils.unquote(value))
        out.append('%s=%s' % (esc(raw(name)), esc(value)))
    return out


# RULE: a multipart whose only boundary line is its close delimiter has no
# parts; like any multipart without parts it is an opaque body holding
# all its bytes (the delimiter included); Python empties that body.
CLOSE_ONLY = {'msg_42.txt': b'--BBB--\n'}
current = None


def render(msg, depth, lines, parent_digest=False):
    ctype = msg.get_content_type()
    has_ct = msg.get('content-type') is not None
    ps = params(msg, 'content-type')
    if not has_ct or ctype == 'text/plain' and '/' not in \
            msg.get('content-type', '').split(';')[0]:
        # RULE: a missing or unparsable type gets charset=us-ascii.
        if ctype == 'text/plain' and not any(
                p.startswith('charset=') for p in ps):
            ps = ['charset=us-ascii']
    cte = msg.get('content-transfer-encoding')
    cte = cte.split()[0].lower() if cte and cte.split() else '-'
    disp = msg.get_content_disposition() or '-'
    dps = params(msg, 'content-disposition') if disp != '-' else []
    payload = msg.get_payload()
    if ctype.startswith('multipart/') and not isinstance(payload, list):
        # RULE: a multipart that cannot be split is an opaque body.
        ctype = 'application/octet-stream'
    line = '%s%s cte=%s [%s] disp=%s [%s] ' % (
        '  ' * depth, ctype, cte, ';'.join(ps), disp, ';'.join(dps))
    if ctype.startswith('message/') and ctype not in ('message/rfc822',
                                                      'message/global'):
        # RULE: only message/rfc822 and message/global are embedded
        # messages (RFC 3501 body-type-msg); Python also parses e.g.
        # message/external-body and keeps no raw body, hence "-".
        lines.append(line + '-')
        return
    if isinstance(payload, list):
        lines.append(line + 'n=%d' % len(payload))
        for sub in payload:
            render(sub, depth + 1, lines)
        return
    body = raw(payload)
    if ctype == 'application/octet-stream' and body == b'' and \
            msg.get_param('boundary') and current in CLOSE_ONLY:
        body = CLOSE_ONLY[current]
    lines.append(line + 'body=%d:%s' % (len(body),
                                        hashlib.md5(body).hexdigest()))


# RULE: a multipart nested in one with the same boundary (msg_15.txt, as
# Outlook Express wrote it; msg_39.txt, exmh) is split at its own boundary, innermost first,
# as Dovecot does; Python lets the outer boundary win and loses the
# structure. Emulated by giving Python a distinct inner boundary (same
# length) and showing the original name.
SAME_BOUNDARY = {
    'msg_15.txt': (b'MS_Mac_OE_3071477847_720252_MIME_Part', range(15, 40)),
    'msg_39.txt': (b'----- =_aaaaaaaaaa1', [8, 11, 19, 27, 30, 33, 41, 49,
                                           52, 55, 63, 71]),
}


# RULE: two adjacent boundary lines enclose an empty part (RFC 2046: its
# header and body may both be empty; Dovecot counts it too); Python skips
# it. Emulated by giving Python that part's (empty) header section.
ADJACENT_BOUNDARIES = {'msg_37.txt'}


def load(f):
    with open(f, 'rb') as fp:
        data = fp.read()
    if os.path.basename(f) in ADJACENT_BOUNDARIES:
        ls = data.split(b'\n')
        out = []
        for i, l in enumerate(ls):
            out.append(l)
            if l.startswith(b'--') and not l.endswith(b'--') and \
                    i + 1 < len(ls) and ls[i + 1].startswith(b'--'):
                out.append(b'')
        data = b'\n'.join(out)
    fix = SAME_BOUNDARY.get(os.path.basename(f))
    if fix is None:
        return data, None
    b, lines = fix
    new = b[:-1] + b'T'
    ls = data.split(b'\n')
    for i in lines:
        ls[i] = ls[i].replace(b, new)
    return b'\n'.join(ls), (new, b)


def main():
    files = sys.argv[1:]
    if not files:
        import test.test_email
        d = os.path.join(os.path.dirname(test.test_email.__file__), 'data')
        files = sorted(glob.glob(os.path.join(d, 'msg_*.txt')))
    for f in files:
        global current
        current = os.path.basename(f)
        data, fix = load(f)
        msg = email.message_from_bytes(data)
        lines = []
        render(msg, 0, lines)
        print('== ' + f)
        for l in lines:
            if fix:
                l = l.replace(esc(fix[0]), esc(fix[1]))
            print(l)


main()
