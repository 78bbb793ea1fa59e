/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * libFuzzer target for IMAP SEARCH programs and FETCH items. The input is
 * "program LF message": the program goes through the real command parser
 * as "t SEARCH program" and, when it parses, is evaluated on the message
 * (CRLF line ends made from the input), loading header or whole text on
 * demand; the same arguments are also tried as a FETCH item list and
 * rendered. Must never crash, leak or read out of bounds.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "store/imap_fetch.h"
#include "store/imap_parse.h"
#include "store/imap_search.h"
#include "store/mstore.h"

struct msg {
	struct buf	 text;
	size_t		 hdrlen;
	unsigned	 sum;
};

static int
load(void *arg, int whole, const char **data_r, size_t *len_r)
{
	struct msg *m = arg;

	*data_r = m->text.data != NULL ? m->text.data : "";
	*len_r = whole ? m->text.len : m->hdrlen;
	return 1;
}

static int
emit(void *arg, const char *p, size_t n)
{
	struct msg *m = arg;

	/* Touch every octet so ASan checks the range. */
	while (n-- > 0)
		m->sum += (unsigned char)*p++;
	return 1;
}

static void
run_fetch(const struct imap_cmd *cmd, struct msg *m, int stream)
{
	struct imap_fetch f;
	struct imap_fetch_msg fm;
	struct buf out = BUF_INIT(1 << 24), scratch = BUF_INIT(1 << 24);
	const char *err;

	if (cmd->nargs == 0 ||
	    imap_fetch_parse(&cmd->args[0], 1, &f, &err) != 1)
		return;
	memset(&fm, 0, sizeof(fm));
	fm.seq = 1;
	fm.uid = 7;
	fm.flags = MSG_SEEN;
	fm.keywords = "$x";
	fm.size = m->text.len;
	fm.load = load;
	fm.emit = stream ? emit : NULL;
	fm.arg = m;
	(void)imap_fetch_render(&f, &fm, &out, &scratch);
	buf_free(&out);
	buf_free(&scratch);
	imap_fetch_free(&f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data, *nl, *p;
	struct imap_parser *parser;
	struct imap_search *s;
	struct imap_search_msg sm;
	struct imap_parse_err perr;
	const struct imap_cmd *cmd = NULL;
	struct buf line = BUF_INIT(0);
	struct msg m;
	enum imap_parse_result r;
	size_t plen, used, off = 0, i;
	const char *err;

	nl = memchr(in, '\n', size);
	plen = nl != NULL ? (size_t)(nl - in) : size;
	memset(&m, 0, sizeof(m));
	buf_init(&m.text, 0);
	for (i = plen + (nl != NULL); i < size; i++) {
		if (in[i] == '\n')
			(void)buf_appendc(&m.text, '\r');
		(void)buf_appendc(&m.text, in[i]);
	}
	p = m.text.data != NULL ? memmem(m.text.data, m.text.len,
	    "\r\n\r\n", 4) : NULL;
	m.hdrlen = p != NULL ? (size_t)(p - m.text.data) + 4 : m.text.len;

	(void)buf_appends(&line, "t SEARCH ");
	(void)buf_append(&line, in, plen);
	(void)buf_appends(&line, "\r\n");
	parser = imap_parser_new(NULL);
	do {
		r = imap_parser_feed(parser, line.data + off, line.len - off,
		    &used, &cmd, &perr);
		off += used;
	} while ((r == IMAP_PARSE_LITERAL || r == IMAP_PARSE_MORE) &&
	    off < line.len);
	if (r == IMAP_PARSE_DONE) {
		if (imap_search_parse(cmd->args, cmd->nargs, &s, &err) == 1) {
			imap_search_prepare(s, 3, 9);
			memset(&sm, 0, sizeof(sm));
			sm.seq = 2;
			sm.uid = 7;
			sm.flags = MSG_SEEN | MSG_RECENT;
			sm.keywords = "$a $b";
			sm.internaldate = 1700000000;
			sm.size = m.text.len;
			sm.load = load;
			sm.arg = &m;
			(void)imap_search_match(s, &sm);
			imap_search_free(&s);
		}
		run_fetch(cmd, &m, 0);
		run_fetch(cmd, &m, 1);
	}
	imap_parser_free(&parser);
	buf_free(&line);
	buf_free(&m.text);
	return 0;
}
