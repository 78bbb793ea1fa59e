/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * libFuzzer target for throttle_reply_signals(), which reads a peer's
 * reply (network input) against the configured pattern list. The input
 * is "PATTERNS\nREPLY" (no LF: the default patterns). Checks the promise
 * against a plain re-implementation: a signal only for a reply whose code
 * is 421 or 451 (then SP, '-' or the end), exactly when a trimmed,
 * non-empty comma-separated pattern occurs in the reply after the code,
 * ignoring ASCII case. Any broken promise aborts.
 */
#include "config.h"

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "relay/throttle.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define DEFAULT_PATTERNS "too many connections, rate limit, try again later"

/* Naive: is p[0..n) in s (case-insensitive)? */
static int
contains(const char *s, const char *p, size_t n)
{
	size_t i, k, sl = strlen(s);

	for (i = 0; i + n <= sl; i++) {
		for (k = 0; k < n; k++)
			if (tolower((unsigned char)s[i + k]) !=
			    tolower((unsigned char)p[k]))
				break;
		if (k == n)
			return 1;
	}
	return 0;
}

static int
expected(const char *pats, const char *reply)
{
	const char *p = pats, *e;
	size_t n;

	if (strlen(reply) < 3 || (memcmp(reply, "421", 3) != 0 &&
	    memcmp(reply, "451", 3) != 0) || (reply[3] != '\0' &&
	    reply[3] != ' ' && reply[3] != '-'))
		return 0;
	for (;;) {
		e = strchr(p, ',');
		n = e ? (size_t)(e - p) : strlen(p);
		while (n > 0 && isspace((unsigned char)*p)) {
			p++;
			n--;
		}
		while (n > 0 && isspace((unsigned char)p[n - 1]))
			n--;
		if (n > 0 && contains(reply + 3, p, n))
			return 1;
		if (e == NULL)
			return 0;
		p = e + 1;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 1), *nl;
	const char *pats = DEFAULT_PATTERNS, *reply;
	int got;

	if (buf == NULL)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	reply = buf;
	if ((nl = memchr(buf, '\n', size)) != NULL) {
		*nl = '\0';
		pats = buf;
		reply = nl + 1;
	}
	got = throttle_reply_signals(pats, reply);
	if (got != 0 && got != 1)
		abort();
	if (got != expected(pats, reply))
		abort();
	free(buf);
	return 0;
}
