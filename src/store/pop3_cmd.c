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

#include <openssl/sha.h>

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

size_t
pop3_uidl(const char *base, size_t len, char out[POP3_UIDL_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[SHA256_DIGEST_LENGTH];
	size_t i;

	for (i = 0; i < len && len <= POP3_UIDL_LEN; i++)
		if ((unsigned char)base[i] < 0x21 ||
		    (unsigned char)base[i] > 0x7e)
			break;
	if (len >= 1 && len <= POP3_UIDL_LEN && i == len) {
		memcpy(out, base, len);
		out[len] = '\0';
		return len;
	}
	(void)SHA256((const unsigned char *)base, len, md);
	for (i = 0; i < sizeof(md); i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[2 * sizeof(md)] = '\0';
	return 2 * sizeof(md);
}

void
pop3_stuff_init(struct pop3_stuff *sf, long long lines)
{
	memset(sf, 0, sizeof(*sf));
	sf->lines = lines;
	sf->bol = 1;
}

/* Appends p[0..n) to out, counting it as message octets. */
static int
stuff_put(struct pop3_stuff *sf, struct buf *out, const char *p, size_t n)
{
	sf->octets += n;
	return buf_append(out, p, n);
}

/*
 * One piece of at most STUFF_PIECE octets, written straight into out:
 * no octet gives more than two (a "." at a line start, an LF that needs
 * its CR), so twice the piece is reserved once. Lines are found with
 * memchr and copied whole: the hot path of RETR (stored messages have LF
 * line ends, so every line needs its CR).
 */
#define STUFF_PIECE	65536

static int
stuff_piece(struct pop3_stuff *sf, const char *p, size_t n,
    struct buf *out)
{
	const char *end = p + n, *nl;
	size_t len, dots = 0;
	char *w, *w0;
	int empty;

	if ((w = buf_reserve(out, 2 * n)) == NULL)
		return -1;
	w0 = w;
	while (p < end) {
		if (sf->bol) {
			if (sf->in_body && sf->lines >= 0 &&
			    sf->body >= sf->lines) {
				sf->done = 1;
				break;
			}
			sf->bol = 0;
			if (*p == '.') {
				*w++ = '.';	/* not a message octet */
				dots++;
			}
		}
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL) {
			memcpy(w, p, (size_t)(end - p));
			w += end - p;
			sf->linelen += (size_t)(end - p);
			sf->cr = end[-1] == '\r';
			break;
		}
		len = sf->linelen + (size_t)(nl - p);	/* without the LF */
		empty = len == 0 || (len == 1 && (nl == p ? sf->cr :
		    *p == '\r'));
		memcpy(w, p, (size_t)(nl - p));
		w += nl - p;
		if (nl == p ? !sf->cr : nl[-1] != '\r')
			*w++ = '\r';	/* a bare LF */
		*w++ = '\n';
		if (sf->in_body)
			sf->body++;
		else if (empty)
			sf->in_body = 1;	/* the blank line */
		sf->bol = 1;
		sf->linelen = 0;
		sf->cr = 0;
		p = nl + 1;
	}
	out->len += (size_t)(w - w0);
	out->data[out->len] = '\0';
	sf->octets += (size_t)(w - w0) - dots;
	return 1;
}

int
pop3_stuff_feed(struct pop3_stuff *sf, const char *p, size_t n,
    struct buf *out)
{
	size_t k;

	while (n > 0 && !sf->done) {
		k = n < STUFF_PIECE ? n : STUFF_PIECE;
		if (stuff_piece(sf, p, k, out) == -1)
			return -1;
		p += k;
		n -= k;
	}
	return sf->done ? 0 : 1;
}

int
pop3_stuff_end(struct pop3_stuff *sf, struct buf *out)
{
	/* A last line without (all of) its end gets it. */
	if (!sf->done && !sf->bol && (sf->cr ? stuff_put(sf, out, "\n", 1) :
	    stuff_put(sf, out, "\r\n", 2)) == -1)
		return -1;
	return buf_append(out, ".\r\n", 3);
}

int
pop3_cmd_stuff(const char *msg, size_t len, long long lines,
    struct buf *out, size_t *octets_r)
{
	struct pop3_stuff sf;

	if (buf_reserve(out, (lines < 0 ? len : 0) + 8) == NULL)
		return -1;
	pop3_stuff_init(&sf, lines);
	if (pop3_stuff_feed(&sf, msg, len, out) == -1 ||
	    pop3_stuff_end(&sf, out) == -1)
		return -1;
	if (octets_r != NULL)
		*octets_r = sf.octets;
	return 1;
}
