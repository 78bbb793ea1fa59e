/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * libFuzzer target for smtpc's reply parser: parses the input as a stream
 * of SMTP replies (as an outbound client reads them), with and without
 * ENHANCEDSTATUSCODES, and checks the promises: a complete reply has a
 * valid code shared by all its lines, at most SMTPC_LINES_MAX lines, ends
 * at a LF, its text holds no control characters and stays within
 * SMTPC_TEXT_MAX (+ "..."), its lines within SMTPC_LINES_KEPT, and it is
 * marked truncated when a line was longer than SMTPC_LINE_MAX; an enhanced code is only reported when asked for, is well
 * formed and of the reply's class; the parse does not depend on how much
 * input follows the reply, and feeding the same lines one by one through
 * smtpc_reply_line() gives the same result. Any broken promise aborts.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "relay/smtpc.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
check(int cond)
{
	if (!cond)
		abort();
}

static int
digit(char c)
{
	return c >= '0' && c <= '9';
}

/* class "." 1*3digit "." 1*3digit, class of the code. */
static void
check_enhanced(const char *e, int code)
{
	size_t i = 2, k;
	int part;

	check(e[0] == '0' + code / 100 && (e[0] == '2' || e[0] == '4' ||
	    e[0] == '5') && e[1] == '.');
	for (part = 0; part < 2; part++) {
		for (k = 0; digit(e[i]); k++)
			i++;
		check(k >= 1 && k <= 3);
		if (part == 0)
			check(e[i++] == '.');
	}
	check(e[i] == '\0');
}

static void
check_reply(const struct smtpc_reply *r, const char *in, size_t used,
    int enhanced)
{
	size_t i, n = 0;

	check(r->done && used > 0 && in[used - 1] == '\n');
	check(r->code >= 200 && r->code <= 559 && r->code % 100 / 10 <= 5);
	check(r->nlines >= 1 && r->nlines <= SMTPC_LINES_MAX);
	check(used <= (size_t)SMTPC_LINE_MAX * r->nlines || r->truncated);
	for (i = 0; i < r->lines.len; i++)
		n += r->lines.data[i] == '\n';
	check(n == r->nlines || (n < r->nlines && r->truncated));
	check(r->lines.len <= SMTPC_LINES_KEPT);
	check(r->text.len <= SMTPC_TEXT_MAX + 3);
	check(strlen(buf_cstr(&r->text)) == r->text.len);
	for (i = 0; i < r->text.len; i++)
		check((unsigned char)r->text.data[i] >= ' ' &&
		    r->text.data[i] != 0x7f);
	if (r->enhanced[0] != '\0') {
		check(enhanced);
		check_enhanced(r->enhanced, r->code);
	}
	/* Every line starts with the code (the raw input says so too). */
	check(in[0] == '0' + r->code / 100);
}

/* The same reply fed line by line. */
static void
check_lines(const char *in, size_t used, int enhanced,
    const struct smtpc_reply *want)
{
	struct smtpc_reply r;
	const char *errstr = NULL, *nl;
	size_t off = 0;
	int rc = 0;

	smtpc_reply_init(&r);
	while (off < used) {
		nl = memchr(in + off, '\n', used - off);
		check(nl != NULL && rc == 0);
		rc = smtpc_reply_line(&r, in + off, (size_t)(nl - in) + 1 -
		    off, enhanced, &errstr);
		off = (size_t)(nl - in) + 1;
	}
	check(rc == 1 && r.code == want->code && r.nlines == want->nlines &&
	    strcmp(r.enhanced, want->enhanced) == 0 &&
	    strcmp(buf_cstr(&r.text), buf_cstr(&want->text)) == 0);
	smtpc_reply_free(&r);
}

static void
run(const char *in, size_t len, int enhanced)
{
	struct smtpc_reply r, again;
	const char *errstr;
	size_t used, used2;
	int rc, nreplies = 0;

	smtpc_reply_init(&r);
	smtpc_reply_init(&again);
	while (len > 0 && nreplies++ < 1000) {
		errstr = NULL;
		rc = smtpc_parse_reply(in, len, enhanced, &r, &used, &errstr);
		if (rc == -1) {
			check(errstr != NULL && used == 0);
			break;
		}
		if (rc == 0) {
			check(used == 0 && errstr == NULL);
			break;
		}
		check(rc == 1 && used <= len);
		check_reply(&r, in, used, enhanced);
		/* Nothing after the reply changes it. */
		check(smtpc_parse_reply(in, used, enhanced, &again, &used2,
		    &errstr) == 1 && used2 == used &&
		    again.code == r.code &&
		    strcmp(buf_cstr(&again.text), buf_cstr(&r.text)) == 0);
		/* One byte less is incomplete, never an error. */
		check(smtpc_parse_reply(in, used - 1, enhanced, &again,
		    &used2, &errstr) == 0);
		check_lines(in, used, enhanced, &r);
		in += used;
		len -= used;
	}
	smtpc_reply_free(&r);
	smtpc_reply_free(&again);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	run((const char *)data, size, 0);
	run((const char *)data, size, 1);
	return 0;
}
