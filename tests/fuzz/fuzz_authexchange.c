/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * libFuzzer target for an SMTP AUTH exchange as smtpd will run it. The
 * input is lines ("\n"-separated, a "\r" before it dropped): the first is
 * the AUTH argument for sasl_auth_args(), the rest are the client's
 * responses for sasl_response(). PLAIN takes the initial response or one
 * response line and parses it with sasl_plain_parse(); LOGIN takes the
 * user name and the password (from the initial response or lines).
 * Checked: results are within their contracts (the initial response lies
 * inside the argument, "=" gives an empty one, errors come with an SMTP
 * reply, "*" and only "*" cancels, a refused response leaves the buffer
 * alone). Each line is copied to a heap block of its exact length so ASan
 * catches over-reads.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/sasl.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define RESPONSE_MAX	12288	/* RFC 4954 section 4 line length */

static void
check(int cond)
{
	if (!cond)
		abort();
}

/* The next line of in[*pos..size) as a heap copy; NULL at the end. */
static char *
next_line(const uint8_t *in, size_t size, size_t *pos, size_t *len_r)
{
	const uint8_t *nl;
	size_t len;
	char *line;

	if (*pos >= size)
		return NULL;
	nl = memchr(in + *pos, '\n', size - *pos);
	len = nl ? (size_t)(nl - (in + *pos)) : size - *pos;
	line = malloc(len ? len : 1);
	check(line != NULL);
	memcpy(line, in + *pos, len);
	*pos += len + (nl != NULL);
	if (len && line[len - 1] == '\r')
		len--;
	*len_r = len;
	return line;
}

/* One step: 1 decoded into out, 0 cancelled, -1 bad or no line. */
static int
step(const uint8_t *in, size_t size, size_t *pos, struct buf *out)
{
	size_t len, before = out->len;
	char *line;
	int r;

	if ((line = next_line(in, size, pos, &len)) == NULL)
		return -1;
	r = sasl_response(line, len, out);
	check(r == 1 || r == 0 || r == -1);
	check((r == 0) == (len == 1 && line[0] == '*'));
	if (r != 1)
		check(out->len == before);
	free(line);
	return r;
}

static void
plain(const char *msg, size_t len)
{
	struct sasl_plain p;
	const char *err = NULL;

	if (sasl_plain_parse(msg, len, &p, &err) == 1)
		check(p.authcid != NULL && p.authcid[0] != '\0' &&
		    p.passwd_len > 0);
	else
		check(err != NULL && p.passwd == NULL);
	sasl_plain_clear(&p);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf a = BUF_INIT(RESPONSE_MAX), b = BUF_INIT(RESPONSE_MAX);
	enum sasl_mech mech = 0;
	const char *ir = NULL, *reply = NULL;
	size_t pos = 0, len, irlen = 0;
	char *arg;
	int r;

	if ((arg = next_line(data, size, &pos, &len)) == NULL)
		return 0;
	r = sasl_auth_args(arg, len, &mech, &ir, &irlen, &reply);
	if (r == -1) {
		check(reply != NULL && ir == NULL &&
		    (strncmp(reply, "501 5.5.2 ", 10) == 0 ||
		    strncmp(reply, "504 5.5.4 ", 10) == 0));
		goto out;
	}
	check(r == 1 && (mech == SASL_MECH_PLAIN || mech == SASL_MECH_LOGIN));
	if (ir != NULL) {
		check(ir > arg && ir + irlen <= arg + len && ir[-1] == ' ');
		check(irlen > 0 || (ir[0] == '=' && ir + 1 == arg + len));
		r = sasl_b64_decode(ir, irlen, &a);
	} else
		r = step(data, size, &pos, &a);
	if (r != 1)
		goto out;
	if (mech == SASL_MECH_PLAIN)
		plain(a.data ? a.data : "", a.len);
	else if (step(data, size, &pos, &b) == 1)
		check(b.len <= RESPONSE_MAX);
	/* Anything after the exchange is more responses: must not crash. */
	while (step(data, size, &pos, &b) != -1 || pos < size)
		;
out:
	free(arg);
	buf_free(&a);
	buf_free(&b);
	return 0;
}
