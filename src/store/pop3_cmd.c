/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * POP3 command parsing, the command table and the multi-line message form.
 * See pop3_cmd.h; pure functions, used by pop3.c and the unit and fuzz
 * tests. Never logs, never touches the store or the network.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "lib/buf.h"
#include "store/pop3_cmd.h"

static const struct pop3_cmd_def pop3_cmds[] = {
	{ "USER", POP3_CMD_USER, POP3_ST_AUTH,
	  POP3_CMD_CREDS | POP3_CMD_COUNTS_ERR },
	{ "PASS", POP3_CMD_PASS, POP3_ST_AUTH,
	  POP3_CMD_CREDS | POP3_CMD_COUNTS_ERR | POP3_CMD_LONG },
	{ "AUTH", POP3_CMD_AUTH, POP3_ST_AUTH,
	  POP3_CMD_CREDS | POP3_CMD_COUNTS_ERR | POP3_CMD_LONG },
	{ "STLS", POP3_CMD_STLS, POP3_ST_AUTH, POP3_CMD_COUNTS_ERR },
	{ "CAPA", POP3_CMD_CAPA, POP3_ST_ANY, 0 },
	{ "QUIT", POP3_CMD_QUIT, POP3_ST_ANY, 0 },
	{ "NOOP", POP3_CMD_NOOP, POP3_ST_TRANS, 0 },
	{ "STAT", POP3_CMD_STAT, POP3_ST_TRANS, 0 },
	{ "LIST", POP3_CMD_LIST, POP3_ST_TRANS, POP3_CMD_COUNTS_ERR },
	{ "RETR", POP3_CMD_RETR, POP3_ST_TRANS, POP3_CMD_COUNTS_ERR },
	{ "DELE", POP3_CMD_DELE, POP3_ST_TRANS, POP3_CMD_COUNTS_ERR },
	{ "RSET", POP3_CMD_RSET, POP3_ST_TRANS, 0 },
	{ "TOP", POP3_CMD_TOP, POP3_ST_TRANS, POP3_CMD_COUNTS_ERR },
	{ "UIDL", POP3_CMD_UIDL, POP3_ST_TRANS, POP3_CMD_COUNTS_ERR },
	{ NULL, POP3_CMD_COUNT, 0, 0 },
};

const char *
pop3_state_name(enum pop3_state st)
{
	switch (st) {
	case POP3_ST_AUTH:
		return "authorization";
	case POP3_ST_TRANS:
		return "transaction";
	case POP3_ST_UPDATE:
		return "update";
	}
	return "?";
}

int
pop3_cmd_split(const char *line, size_t len, char verb[POP3_VERB_MAX],
    const char **arg_r, size_t *arglen_r)
{
	size_t i;
	char c;

	for (i = 0; i < len && line[i] != ' '; i++) {
		c = line[i];
		if (c >= 'a' && c <= 'z')
			c = (char)(c - 'a' + 'A');
		if (c < 'A' || c > 'Z' || i >= POP3_VERB_MAX - 1)
			return -1;
		verb[i] = c;
	}
	if (i == 0)
		return -1;
	verb[i] = '\0';
	if (i < len)
		i++;	/* the one space */
	*arg_r = line + i;
	*arglen_r = len - i;
	return 1;
}

const struct pop3_cmd_def *
pop3_cmd_find(const char *verb)
{
	const struct pop3_cmd_def *c;

	for (c = pop3_cmds; c->verb != NULL; c++)
		if (strcmp(c->verb, verb) == 0)
			return c;
	return NULL;
}

const char *
pop3_cmd_check(const struct pop3_cmd_def *c, unsigned state, int creds_ok)
{
	if (!(c->states & state)) {
		if (state == POP3_ST_AUTH)
			return "-ERR Not logged in yet";
		if (c->states == POP3_ST_AUTH)
			return "-ERR Already logged in";
		return "-ERR Command not valid in this state";
	}
	if ((c->flags & POP3_CMD_CREDS) && !creds_ok)
		return "-ERR [AUTH] Plaintext authentication disallowed on "
		    "non-secure connections: use STLS first";
	return NULL;
}

int
pop3_cmd_msgnum(const char *arg, size_t len, uint32_t *n_r)
{
	uint64_t n = 0;
	size_t i;

	if (len == 0 || len > POP3_ARG_MAX)
		return -1;
	for (i = 0; i < len; i++) {
		if (arg[i] < '0' || arg[i] > '9')
			return -1;
		n = n * 10 + (uint64_t)(arg[i] - '0');
		if (n > UINT32_MAX)
			return -1;
	}
	if (n == 0)
		return -1;
	*n_r = (uint32_t)n;
	return 1;
}

int
pop3_cmd_args(const char *arg, size_t len, size_t nargs, const char **tok,
    size_t *toklen)
{
	size_t i = 0, k, start;

	for (k = 0; k < nargs; k++) {
		if (k > 0) {
			if (i >= len || arg[i] != ' ')
				return -1;
			i++;
		}
		start = i;
		while (i < len && arg[i] != ' ')
			i++;
		if (i == start || i - start > POP3_ARG_MAX)
			return -1;
		tok[k] = arg + start;
		toklen[k] = i - start;
	}
	return i == len ? 1 : -1;
}

int
pop3_cmd_top(const char *arg, size_t len, uint32_t *msg_r, uint32_t *lines_r)
{
	const char *tok[2];
	size_t tlen[2], i;
	uint64_t n = 0;

	if (pop3_cmd_args(arg, len, 2, tok, tlen) == -1 ||
	    pop3_cmd_msgnum(tok[0], tlen[0], msg_r) == -1)
		return -1;
	for (i = 0; i < tlen[1]; i++) {
		if (tok[1][i] < '0' || tok[1][i] > '9')
			return -1;
		n = n * 10 + (uint64_t)(tok[1][i] - '0');
		if (n > INT32_MAX)
			return -1;
	}
	*lines_r = (uint32_t)n;
	return 1;
}

void
pop3_uidl(uint32_t uidvalidity, uint32_t uid, char out[POP3_UIDL_LEN + 1])
{
	(void)snprintf(out, POP3_UIDL_LEN + 1, "%08x%08x", uidvalidity, uid);
}

/*
 * The message goes out in spans copied as they are: a span ends only where
 * the output must differ from the input (a "." to double at a line start,
 * a bare LF to complete, a missing last line end) or where TOP stops. For
 * a CRLF message without dotted lines that is one copy.
 */
int
pop3_cmd_stuff(const char *msg, size_t len, long long lines,
    struct buf *out, size_t *octets_r)
{
	const char *p = msg, *end = msg + len, *span = msg, *nl;
	size_t before = out->len, dots = 0;
	int in_body = 0;
	long long body = 0;

	if (buf_reserve(out, (lines < 0 ? len : 0) + 8) == NULL)
		return -1;
	while (p < end) {
		if (in_body && lines >= 0 && body >= lines)
			break;
		if (*p == '.') {	/* p is at a line start */
			if (buf_append(out, span, (size_t)(p - span)) == -1 ||
			    buf_appendc(out, '.') == -1)
				return -1;
			dots++;
			span = p;
		}
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL) {	/* a last line without (all of) its end */
			if (buf_append(out, span, (size_t)(end - span)) == -1 ||
			    (end[-1] == '\r' ? buf_appendc(out, '\n') :
			    buf_append(out, "\r\n", 2)) == -1)
				return -1;
			span = p = end;
			break;
		}
		if (nl == p || nl[-1] != '\r') {	/* bare LF */
			if (buf_append(out, span, (size_t)(nl - span)) == -1 ||
			    buf_append(out, "\r\n", 2) == -1)
				return -1;
			span = nl + 1;
		}
		if (in_body)
			body++;
		else if (nl == p || (nl == p + 1 && *p == '\r'))
			in_body = 1;	/* the blank line */
		p = nl + 1;
	}
	if (buf_append(out, span, (size_t)(p - span)) == -1 ||
	    buf_append(out, ".\r\n", 3) == -1)
		return -1;
	if (octets_r != NULL)
		*octets_r = out->len - before - dots - 3;
	return 1;
}
