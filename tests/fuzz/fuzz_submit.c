/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * libFuzzer target for ctl/submit (estafeta-sendmail's input handling):
 * arbitrary stdin through the line splitter into SMTP lines, the header
 * pass with -t extraction, the display name and the reply mapping.
 * Invariants: no piece is longer than an SMTP line allows, none holds CR
 * or LF, every SMTP line (dot-stuffed) fits in 1000 octets with CRLF, and
 * so does a continuation piece with its folding space; extracted
 * recipients contain '@'.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "ctl/submit.h"

static int
check_line(void *arg, const char *line, size_t len, int cont)
{
	struct buf *hdrs = arg;
	struct buf smtp = BUF_INIT(0);

	if (len > SUBMIT_LINE_MAX || memchr(line, '\r', len) ||
	    memchr(line, '\n', len))
		abort();
	/* A piece gets one more octet, never two: a dot in the body
	 * (dot-stuffing, counted in smtp.len) or a folding space before a
	 * header continuation (cont; it then starts with the space). */
	if (submit_smtp_line(&smtp, line, len) != 1 || smtp.len > 1000 ||
	    (cont && len + 1 + 2 > 1000))
		abort();
	buf_free(&smtp);
	(void)buf_append(hdrs, line, len);
	(void)buf_appendc(hdrs, '\n');
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct submit_lines sl;
	struct submit_rcpts rs;
	struct submit_hdrinfo info;
	struct buf hdrs = BUF_INIT(1 << 22), out = BUF_INIT(1 << 22);
	char *s;
	const char *errstr;
	size_t used, i;

	memset(&sl, 0, sizeof(sl));
	memset(&rs, 0, sizeof(rs));
	(void)submit_lines_feed(&sl, (const char *)data, size, check_line,
	    &hdrs, &used);
	if (used != size)
		abort();
	(void)submit_lines_finish(&sl, check_line, &hdrs);
	(void)submit_headers(hdrs.data ? hdrs.data : "", hdrs.len, &rs,
	    "h.example", &out, &info, &errstr);
	for (i = 0; i < rs.n; i++)
		if (strchr(rs.v[i], '@') == NULL)
			abort();
	submit_rcpts_free(&rs);
	s = malloc(size + 1);
	if (s != NULL) {
		memcpy(s, data, size);
		s[size] = '\0';
		buf_reset(&out);
		(void)submit_display_name(&out, s);
		if (memchr(out.data ? out.data : "", '\n', out.len))
			abort();
		(void)submit_reply_exit(s);
		free(s);
	}
	buf_free(&hdrs);
	buf_free(&out);
	return 0;
}
