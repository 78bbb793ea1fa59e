/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * RFC 5322 header helpers: see hdr.h.
 */
#include "config.h"

#include <string.h>
#include <strings.h>

#include "lib/buf.h"
#include "lib/hdr.h"

#define HDR_MAX_ADDR	1024	/* longest addr-spec we collect */

int
hdr_field(const char *hdrs, size_t len, const char *name, struct buf *out)
{
	size_t nl = strlen(name), i = 0, eol, v;
	int found = 0, in_field = 0;

	while (i < len) {
		const char *nlp = memchr(hdrs + i, '\n', len - i);

		eol = nlp ? (size_t)(nlp - hdrs) : len;
		/* The line is hdrs[i..eol), without CR. */
		v = eol;
		if (v > i && hdrs[v - 1] == '\r')
			v--;
		if (v == i)
			break;	/* empty line: end of the header section */
		if (hdrs[i] == ' ' || hdrs[i] == '\t') {
			/* Continuation: unfold by keeping the whitespace. */
			if (in_field && buf_append(out, hdrs + i, v - i) == -1)
				return -1;
		} else {
			in_field = v - i > nl && hdrs[i + nl] == ':' &&
			    strncasecmp(hdrs + i, name, nl) == 0;
			if (in_field) {
				if (found++ > 0 && buf_appendc(out, '\0') == -1)
					return -1;
				if (buf_append(out, hdrs + i + nl + 1,
				    v - i - nl - 1) == -1)
					return -1;
			}
		}
		i = eol + 1;
	}
	return found;
}

/* Skips a comment starting at s[*i] == '(' (nested, with quoted-pairs). */
static int
hdr_skip_comment(const char *s, size_t len, size_t *i)
{
	int depth = 0;

	for (; *i < len; (*i)++) {
		if (s[*i] == '\\') {
			(*i)++;
			continue;
		}
		if (s[*i] == '(')
			depth++;
		else if (s[*i] == ')' && --depth == 0) {
			(*i)++;
			return 1;
		}
	}
	return -1;
}

/* Skips a quoted string starting at s[*i] == '"'. */
static int
hdr_skip_quoted(const char *s, size_t len, size_t *i)
{
	for ((*i)++; *i < len; (*i)++) {
		if (s[*i] == '\\')
			(*i)++;
		else if (s[*i] == '"') {
			(*i)++;
			return 1;
		}
	}
	return -1;
}

/*
 * One mailbox (or group member) in s[a..b): the addr-spec is the content
 * of the last angle brackets, or else the whole text; comments are
 * removed, quoted local parts kept as written.
 */
static int
hdr_mailbox(const char *s, size_t a, size_t b, unsigned flags,
    int (*fn)(void *, const char *, size_t), void *arg, int *count)
{
	char addr[HDR_MAX_ADDR];
	size_t i, n = 0, lt = b, gt = b, q;
	int has_at = 0;

	for (i = a; i < b; i++) {
		if (s[i] == '"') {
			q = i;
			if (hdr_skip_quoted(s, b, &q) == -1)
				return -1;
			i = q - 1;
		} else if (s[i] == '(') {
			q = i;
			if (hdr_skip_comment(s, b, &q) == -1)
				return -1;
			i = q - 1;
		} else if (s[i] == '<')
			lt = i;
		else if (s[i] == '>') {
			if (lt == b)
				return -1;	/* '>' without '<' */
			gt = i;
		}
	}
	if (lt != b) {
		if (gt == b || gt < lt || gt == lt + 1)
			return -1;	/* unclosed, or "<>" */
		a = lt + 1;
		b = gt;
	}
	for (i = a; i < b; i++) {
		if (s[i] == '(') {
			q = i;
			if (hdr_skip_comment(s, b, &q) == -1)
				return -1;
			i = q - 1;
			continue;
		}
		if (s[i] == '"') {
			q = i;
			if (hdr_skip_quoted(s, b, &q) == -1)
				return -1;
			if (n + (q - i) >= sizeof(addr))
				return -1;
			memcpy(addr + n, s + i, q - i);
			n += q - i;
			i = q - 1;
			continue;
		}
		if (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' ||
		    s[i] == '\n')
			continue;
		if (n + 1 >= sizeof(addr))
			return -1;
		has_at |= s[i] == '@';
		addr[n++] = s[i];
	}
	if (n == 0)
		return 0;	/* empty member, e.g. "a@b, , c@d" */
	if (!has_at && !(flags & HDR_ADDR_UNQUALIFIED))
		return -1;
	addr[n] = '\0';
	(*count)++;
	return fn(arg, addr, n) == -1 ? -2 : 1;
}

int
hdr_addresses(const char *value, size_t len,
    int (*fn)(void *, const char *, size_t), void *arg)
{
	return hdr_addresses_flags(value, len, 0, fn, arg);
}

int
hdr_addresses_flags(const char *value, size_t len, unsigned flags,
    int (*fn)(void *, const char *, size_t), void *arg)
{
	size_t i, start = 0, q;
	int count = 0, angle = 0, r;

	for (i = 0; i <= len; i++) {
		char c = i < len ? value[i] : ',';

		if (c == '"') {
			q = i;
			if (hdr_skip_quoted(value, len, &q) == -1)
				return -1;
			i = q - 1;
			continue;
		}
		if (c == '(') {
			q = i;
			if (hdr_skip_comment(value, len, &q) == -1)
				return -1;
			i = q - 1;
			continue;
		}
		if (c == '[') {
			/* Domain literal: its colons are not a group. */
			const char *e = memchr(value + i, ']', len - i);

			if (e == NULL)
				return -1;
			i = (size_t)(e - value);
			continue;
		}
		if (c == '<')
			angle++;
		else if (c == '>' && angle > 0)
			angle--;
		else if (c == ':' && angle == 0)
			start = i + 1;	/* group name: members follow */
		else if ((c == ',' || c == ';') && angle == 0) {
			r = hdr_mailbox(value, start, i, flags, fn, arg,
			    &count);
			if (r == -1)
				return -1;
			if (r == -2)
				return count;
			start = i + 1;
		}
	}
	return angle == 0 ? count : -1;
}
