/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * libFuzzer target for the POP3 command parser and message formatter
 * (pop3_cmd). Splits the input into keyword and argument, looks the
 * keyword up and runs the dispatcher's checks in every state, parses the
 * argument (and the whole input) as a message number, as TOP arguments and
 * as one and two generic arguments, makes a UIDL unique-id of the input as
 * a Maildir base name, and formats the input as a message for RETR and for
 * TOP with 0..2 lines. Checks the promises: an upper-case keyword and an
 * argument ending where the input ends, refusals that are "-ERR ..." lines,
 * numbers in range, a unique-id of 1..70 printable octets (the input itself
 * when it is one), and a multi-line form whose lines end with CRLF, never
 * start with a lone "." before the terminator, and whose unstuffed length
 * is what pop3_cmd_stuff reported. Any broken promise aborts.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "store/pop3_cmd.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
check(int cond)
{
	if (!cond)
		abort();
}

static void
args(const char *s, size_t len)
{
	const char *tok[2];
	size_t tlen[2], k;
	uint32_t n, l;

	if (pop3_cmd_msgnum(s, len, &n) == 1)
		check(n >= 1 && len <= POP3_ARG_MAX);
	if (pop3_cmd_top(s, len, &n, &l) == 1)
		check(n >= 1 && l <= INT32_MAX);
	for (k = 1; k <= 2; k++)
		if (pop3_cmd_args(s, len, k, tok, tlen) == 1) {
			check(tok[0] == s);
			check(tok[k - 1] + tlen[k - 1] == s + len);
			check(tlen[k - 1] >= 1 && tlen[k - 1] <= POP3_ARG_MAX);
			check(memchr(tok[0], ' ', tlen[0]) == NULL);
		}
}

/* The unique-id of a base name s: RFC 1939 7's 1..70 printable octets,
 * s itself when it already is one. */
static void
uidl(const char *s, size_t len)
{
	char out[POP3_UIDL_LEN + 1];
	size_t n, i;

	n = pop3_uidl(s, len, out);
	check(n >= 1 && n <= POP3_UIDL_LEN && strlen(out) == n);
	for (i = 0; i < n; i++)
		check(out[i] >= 0x21 && out[i] <= 0x7e);
	check(n == 64 || (n == len && memcmp(out, s, len) == 0));
}

/* The multi-line form: CRLF lines, stuffed, then ".\r\n". */
static void
check_stuffed(const struct buf *b, size_t octets)
{
	const char *p = b->data, *end = b->data + b->len, *nl;
	size_t unstuffed = 0;

	check(b->len >= 3 && memcmp(end - 3, ".\r\n", 3) == 0);
	end -= 3;
	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		check(nl != NULL && nl > p && nl[-1] == '\r');
		if (p[0] == '.') {
			check(nl - p >= 3 && p[1] == '.');
			p++;
		}
		check(memchr(p, '\n', (size_t)(nl - p)) == NULL);
		unstuffed += (size_t)(nl + 1 - p);
		p = nl + 1;
	}
	check(unstuffed == octets);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned states[] = { POP3_ST_AUTH, POP3_ST_TRANS,
	    POP3_ST_UPDATE };
	const char *s = (const char *)data, *arg, *refusal;
	const struct pop3_cmd_def *c;
	char verb[POP3_VERB_MAX];
	struct buf out = BUF_INIT(0), piece = BUF_INIT(0);
	struct pop3_stuff sf;
	size_t alen, i, octets, step, off, n;
	long long lines;

	if (pop3_cmd_split(s, size, verb, &arg, &alen) == 1) {
		check(strlen(verb) >= 1 && strlen(verb) < POP3_VERB_MAX);
		for (i = 0; verb[i] != '\0'; i++)
			check(verb[i] >= 'A' && verb[i] <= 'Z');
		check(arg >= s && arg + alen == s + size);
		if ((c = pop3_cmd_find(verb)) != NULL) {
			check(strcmp(c->verb, verb) == 0);
			for (i = 0; i < 3; i++) {
				refusal = pop3_cmd_check(c, states[i], 0);
				check(refusal == NULL ||
				    strncmp(refusal, "-ERR ", 5) == 0);
				refusal = pop3_cmd_check(c, states[i], 1);
				check(refusal == NULL ||
				    strncmp(refusal, "-ERR ", 5) == 0);
				check(states[i] != POP3_ST_UPDATE ||
				    refusal != NULL);
			}
		}
		args(arg, alen);
	}
	args(s, size);
	uidl(s, size);

	for (lines = -1; lines <= 2; lines++) {
		buf_reset(&out);
		check(pop3_cmd_stuff(s, size, lines, &out, &octets) == 1);
		check_stuffed(&out, octets);
		if (lines < 0)
			check(octets >= size);
		/* Streamed in pieces (RETR from disk): the same octets. */
		step = size > 0 ? (size_t)(unsigned char)s[0] % 7 + 1 : 1;
		buf_reset(&piece);
		pop3_stuff_init(&sf, lines);
		for (off = 0; off < size; off += n) {
			n = size - off < step ? size - off : step;
			check(pop3_stuff_feed(&sf, s + off, n, &piece) != -1);
		}
		check(pop3_stuff_end(&sf, &piece) == 1);
		check(piece.len == out.len && sf.octets == octets &&
		    memcmp(piece.data, out.data, out.len) == 0);
	}
	buf_free(&out);
	buf_free(&piece);
	return 0;
}
