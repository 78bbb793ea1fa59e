/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * DATA stream parser: see smtpd_data.h. A state machine over the octets
 * around line ends; runs of ordinary line bytes are skipped at once.
 */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "lib/buf.h"
#include "relay/smtpd_data.h"

enum {
	DS_BOL = 0,	/* at the beginning of a line (after CRLF) */
	DS_DOT,		/* "." at the beginning of a line */
	DS_DOTCR,	/* ".\r" at the beginning of a line */
	DS_MID,		/* inside a line */
	DS_CR,		/* "\r" inside a line */
	DS_CRHELD,	/* DS_CR, that "\r" not appended yet */
	DS_DONE,
};

static const char received[] = "received:";

void
data_init(struct data_parser *p, size_t line_limit,
    unsigned long long size_limit)
{
	memset(p, 0, sizeof(*p));
	p->state = DS_BOL;
	p->line_limit = line_limit;
	p->size_limit = size_limit;
	p->in_headers = 1;
	p->hdr_match = 1;
}

/* Header tracking: a line-start byte or a line byte. */
static void
data_hdr_byte(struct data_parser *p, unsigned char c)
{
	if (!p->in_headers || !p->hdr_match)
		return;
	if (p->hdr_pos < sizeof(received) - 1) {
		/* Fold letters only: 0x1A | 0x20 would match ':'. */
		if (c >= 'A' && c <= 'Z')
			c = (unsigned char)(c - 'A' + 'a');
		if (c == (unsigned char)received[p->hdr_pos])
			p->hdr_pos++;
		else
			p->hdr_match = 0;
		if (p->hdr_pos == sizeof(received) - 1)
			p->received++;
	}
}

static void
data_hdr_eol(struct data_parser *p)
{
	/* An empty line ends the header section. */
	if (p->in_headers && p->linelen == 0)
		p->in_headers = 0;
	p->hdr_pos = 0;
	p->hdr_match = 1;
}

/* A bare CR or LF inside a line: that line is no header field name. */
static void
data_hdr_bare(struct data_parser *p)
{
	p->hdr_match = 0;
}

/*
 * Appends content up to the size limit. Past it only the count goes on;
 * the part of s that still fits is copied, so that the output is the same
 * (the first size_limit octets) however the input was split.
 */
static int
data_emit(struct data_parser *p, const char *s, size_t n, struct buf *out)
{
	unsigned long long room;
	size_t take = n;

	if (p->flags & DATA_TOO_BIG) {
		p->size += n;
		return 1;
	}
	room = p->size_limit - p->size;
	if (n > room) {
		p->flags |= DATA_TOO_BIG;
		take = (size_t)room;
	}
	p->size += n;
	if (take == 0)
		return 1;
	return buf_append(out, s, take);
}

static void
data_linelen(struct data_parser *p, size_t n)
{
	p->linelen += n;
	/* The limit counts CRLF: content may be line_limit - 2 octets. */
	if (p->linelen + 2 > p->line_limit)
		p->flags |= DATA_LONG_LINE;
}

/* The first CR, LF or NUL in in[0..n), or n: eight octets at a time, a
 * word with an octet below 0x0e (any of the three) is looked at closely. */
static size_t
data_special(const char *in, size_t n)
{
	const uint64_t ones = 0x0101010101010101ULL;
	uint64_t x;
	size_t i = 0, k;

	for (; i + 8 <= n; i += 8) {
		memcpy(&x, in + i, 8);
		if (((x - ones * 0x0e) & ~x & ones * 0x80) == 0)
			continue;
		for (k = i; k < i + 8; k++)
			if (in[k] == '\r' || in[k] == '\n' || in[k] == '\0')
				return k;
	}
	for (; i < n; i++)
		if (in[i] == '\r' || in[i] == '\n' || in[i] == '\0')
			return i;
	return n;
}

/* The length of the run of line bytes at in[0]: up to the first CR or LF,
 * or n. Notes NUL octets, and header names while in the header section. */
static size_t
data_run(struct data_parser *p, const char *in, size_t n)
{
	size_t run;

	if (p->in_headers) {
		for (run = 0; run < n && in[run] != '\r' && in[run] != '\n';
		    run++) {
			if (in[run] == '\0')
				p->flags |= DATA_NUL;
			data_hdr_byte(p, (unsigned char)in[run]);
		}
		return run;
	}
	for (run = data_special(in, n); run < n && in[run] == '\0';
	    run += 1 + data_special(in + run + 1, n - run - 1))
		p->flags |= DATA_NUL;
	return run;
}

/*
 * The content is the input without the stuffing dots and the terminator,
 * so it is copied in spans of input: [span, i) is the part read but not
 * yet appended. A dot at the start of a line ends a span and is skipped;
 * so is the CR of ".\r", appended again if no LF follows.
 */
int
data_feed(struct data_parser *p, const char *in, size_t n, struct buf *out,
    size_t *used_r)
{
	size_t i = 0, span = 0, end, run;
	unsigned char c;

	if (p->state == DS_DONE) {
		*used_r = 0;
		return 1;
	}
	while (i < n) {
		c = (unsigned char)in[i];
		switch (p->state) {
		case DS_BOL:
			if (c == '.') {
				if (data_emit(p, in + span, i - span, out) ==
				    -1)
					return -1;
				span = ++i;
				p->state = DS_DOT;
				continue;
			}
			p->state = DS_MID;
			continue;	/* reprocess as a line byte */
		case DS_DOT:
			if (c == '\r') {
				span = ++i;	/* held back: maybe the end */
				p->state = DS_DOTCR;
				continue;
			}
			/* Dot-stuffed line: the leading dot is dropped. */
			p->state = DS_MID;
			continue;
		case DS_DOTCR:
			if (c == '\n') {
				p->state = DS_DONE;
				*used_r = i + 1;
				return 1;
			}
			/* ".\r" followed by something else: a bare CR, kept
			 * like any other (only the dot was stuffing). */
			p->flags |= DATA_BARE_CR;
			data_hdr_bare(p);
			if (data_emit(p, "\r", 1, out) == -1)
				return -1;
			data_linelen(p, 1);
			p->state = DS_MID;
			continue;
		case DS_MID:
			if (c == '\r') {
				p->state = DS_CR;
				i++;
				continue;
			}
			if (c == '\n') {
				/* Bare LF: not a line end, never BOL. */
				p->flags |= DATA_BARE_LF;
				data_hdr_bare(p);
				data_linelen(p, 1);
				i++;
				continue;
			}
			run = data_run(p, in + i, n - i);
			data_linelen(p, run);
			i += run;
			/* The common line end in the body, CRLF and a next
			 * line that starts with no dot: on to that line. */
			if (!p->in_headers && n - i > 2 && in[i] == '\r' &&
			    in[i + 1] == '\n' && in[i + 2] != '.') {
				p->linelen = 0;
				i += 2;
			}
			continue;
		case DS_CRHELD:
			/* The previous call held back its final "\r". */
			if (data_emit(p, "\r", 1, out) == -1)
				return -1;
			p->state = DS_CR;
			continue;
		case DS_CR:
			if (c == '\n') {
				data_hdr_eol(p);
				p->linelen = 0;
				p->state = DS_BOL;
				i++;
				continue;
			}
			/* Bare CR: keep it, stay inside the line. */
			p->flags |= DATA_BARE_CR;
			data_hdr_bare(p);
			data_linelen(p, 1);
			p->state = DS_MID;
			continue;
		default:
			*used_r = 0;
			return 1;
		}
	}
	/* A final "\r" waits for the octet after it, so that the content
	 * so far never depends on how the input was split. */
	end = n;
	if (p->state == DS_CR) {
		end--;
		p->state = DS_CRHELD;
	}
	if (data_emit(p, in + span, end - span, out) == -1)
		return -1;
	*used_r = n;
	return 0;
}

int
data_feed_raw(struct data_parser *p, const char *in, size_t n,
    struct buf *out)
{
	size_t i;

	/* Header tracking only; linelen weighs "\r" 1 and any other octet
	 * 2, so that a line is empty ("\n" or "\r\n") when it is <= 1. */
	for (i = 0; i < n && p->in_headers; i++) {
		if (in[i] == '\n') {
			if (p->linelen <= 1)
				p->in_headers = 0;
			p->hdr_pos = 0;
			p->hdr_match = 1;
			p->linelen = 0;
		} else {
			data_hdr_byte(p, (unsigned char)in[i]);
			p->linelen += in[i] == '\r' ? 1 : 2;
		}
	}
	return data_emit(p, in, n, out);
}
