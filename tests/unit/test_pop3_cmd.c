/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * Unit tests for pop3_cmd: the keyword split, the command table's state and
 * TLS decisions (every command in every state, replies asserted verbatim),
 * message numbers, TOP arguments, the UIDL unique-id, and the dot-stuffed
 * multi-line form of messages (RETR and TOP), also checked by unstuffing
 * it again. Inputs live in heap blocks of exactly their length so that
 * ASan catches a read past the end; parsers also run on every prefix.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/buf.h"
#include "store/pop3_cmd.h"

static char *
exact_copy(const char *s, size_t n)
{
	char *p = malloc(n ? n : 1);

	assert_non_null(p);
	if (n)
		memcpy(p, s, n);
	return p;
}

/* ------------------------------------------------------------ split */

struct split_case {
	const char	*line;
	const char	*verb;		/* NULL: -1 */
	const char	*arg;
};

static const struct split_case split_cases[] = {
	{ "USER alice@example.test", "USER", "alice@example.test" },
	{ "user alice", "USER", "alice" },
	{ "QUIT", "QUIT", "" },
	{ "quit ", "QUIT", "" },
	{ "PASS  two spaces ", "PASS", " two spaces " },
	{ "TOP 1 10", "TOP", "1 10" },
	{ "ABCDEFGH", "ABCDEFGH", "" },		/* 8: the maximum */
	{ "ABCDEFGHI", NULL, NULL },
	{ "", NULL, NULL },
	{ " USER", NULL, NULL },
	{ "US3R x", NULL, NULL },
	{ "USER\tx", NULL, NULL },
	{ "R\xc3\xa9TR 1", NULL, NULL },
};

static void
test_split(void **state)
{
	char verb[POP3_VERB_MAX];
	const char *arg;
	size_t i, n, alen, cut;
	char *p;
	int r;

	(void)state;
	for (i = 0; i < sizeof(split_cases) / sizeof(split_cases[0]); i++) {
		const struct split_case *c = &split_cases[i];

		n = strlen(c->line);
		p = exact_copy(c->line, n);
		r = pop3_cmd_split(p, n, verb, &arg, &alen);
		if (c->verb == NULL)
			assert_int_equal(r, -1);
		else {
			assert_int_equal(r, 1);
			assert_string_equal(verb, c->verb);
			assert_int_equal(alen, strlen(c->arg));
			assert_memory_equal(arg, c->arg, alen);
			assert_ptr_equal(arg + alen, p + n);
		}
		for (cut = 0; cut < n; cut++)
			(void)pop3_cmd_split(p, cut, verb, &arg, &alen);
		free(p);
	}
}

/* ------------------------------------------------------------ table */

static void
test_table(void **state)
{
	static const char *const all[] = { "USER", "PASS", "AUTH", "STLS",
	    "CAPA", "QUIT", "NOOP", "STAT", "LIST", "RETR", "DELE", "RSET",
	    "TOP", "UIDL" };
	static const char *const auth_only[] = { "USER", "PASS", "AUTH",
	    "STLS" };
	static const char *const trans_only[] = { "NOOP", "STAT", "LIST",
	    "RETR", "DELE", "RSET", "TOP", "UIDL" };
	const struct pop3_cmd_def *c;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		c = pop3_cmd_find(all[i]);
		assert_non_null(c);
		assert_string_equal(c->verb, all[i]);
		assert_true(c->id < POP3_CMD_COUNT);
		/* Nothing runs in UPDATE: the session is ending. */
		assert_non_null(pop3_cmd_check(c, POP3_ST_UPDATE, 1));
	}
	assert_null(pop3_cmd_find("APOP"));
	assert_null(pop3_cmd_find("user"));	/* callers upper-case */
	assert_null(pop3_cmd_find(""));

	for (i = 0; i < sizeof(auth_only) / sizeof(auth_only[0]); i++) {
		c = pop3_cmd_find(auth_only[i]);
		assert_null(pop3_cmd_check(c, POP3_ST_AUTH, 1));
		assert_string_equal(pop3_cmd_check(c, POP3_ST_TRANS, 1),
		    "-ERR Already logged in");
	}
	for (i = 0; i < sizeof(trans_only) / sizeof(trans_only[0]); i++) {
		c = pop3_cmd_find(trans_only[i]);
		assert_null(pop3_cmd_check(c, POP3_ST_TRANS, 0));
		assert_string_equal(pop3_cmd_check(c, POP3_ST_AUTH, 1),
		    "-ERR Not logged in yet");
	}
	/* Credentials need TLS (or a cleartext network); STLS, CAPA and
	 * QUIT do not. */
	assert_string_equal(pop3_cmd_check(pop3_cmd_find("USER"),
	    POP3_ST_AUTH, 0), "-ERR [AUTH] Plaintext authentication "
	    "disallowed on non-secure connections: use STLS first");
	assert_non_null(pop3_cmd_check(pop3_cmd_find("PASS"), POP3_ST_AUTH,
	    0));
	assert_non_null(pop3_cmd_check(pop3_cmd_find("AUTH"), POP3_ST_AUTH,
	    0));
	assert_null(pop3_cmd_check(pop3_cmd_find("STLS"), POP3_ST_AUTH, 0));
	assert_null(pop3_cmd_check(pop3_cmd_find("CAPA"), POP3_ST_AUTH, 0));
	assert_null(pop3_cmd_check(pop3_cmd_find("QUIT"), POP3_ST_AUTH, 0));
	assert_null(pop3_cmd_check(pop3_cmd_find("CAPA"), POP3_ST_TRANS, 0));
	assert_null(pop3_cmd_check(pop3_cmd_find("QUIT"), POP3_ST_TRANS, 0));
	/* AUTH and PASS lines may be long (RFC 5034 4). */
	assert_true(pop3_cmd_find("AUTH")->flags & POP3_CMD_LONG);
	assert_false(pop3_cmd_find("RETR")->flags & POP3_CMD_LONG);

	assert_string_equal(pop3_state_name(POP3_ST_AUTH), "authorization");
	assert_string_equal(pop3_state_name(POP3_ST_TRANS), "transaction");
	assert_string_equal(pop3_state_name(POP3_ST_UPDATE), "update");
	assert_string_equal(pop3_state_name((enum pop3_state)0), "?");
}

/* ------------------------------------------------------------ numbers */

static int
msgnum(const char *s, uint32_t *n)
{
	size_t len = strlen(s), cut;
	char *p = exact_copy(s, len);
	uint32_t dummy;
	int r;

	r = pop3_cmd_msgnum(p, len, n);
	for (cut = 0; cut < len; cut++)
		(void)pop3_cmd_msgnum(p, cut, &dummy);
	free(p);
	return r;
}

static void
test_msgnum(void **state)
{
	uint32_t n;

	(void)state;
	assert_int_equal(msgnum("1", &n), 1);
	assert_int_equal(n, 1);
	assert_int_equal(msgnum("4294967295", &n), 1);
	assert_int_equal(n, 4294967295u);
	assert_int_equal(msgnum("007", &n), 1);
	assert_int_equal(n, 7);
	assert_int_equal(msgnum("4294967296", &n), -1);
	assert_int_equal(msgnum("99999999999999999999999", &n), -1);
	assert_int_equal(msgnum("0", &n), -1);
	assert_int_equal(msgnum("", &n), -1);
	assert_int_equal(msgnum("-1", &n), -1);
	assert_int_equal(msgnum("+1", &n), -1);
	assert_int_equal(msgnum("1 ", &n), -1);
	assert_int_equal(msgnum(" 1", &n), -1);
	assert_int_equal(msgnum("1a", &n), -1);
	/* 40 octets is the most an argument may have (RFC 1939 3). */
	assert_int_equal(msgnum("0000000000000000000000000000000000000001",
	    &n), 1);
	assert_int_equal(msgnum("00000000000000000000000000000000000000001",
	    &n), -1);
}

static void
test_args_top(void **state)
{
	const char *tok[2];
	size_t tlen[2];
	uint32_t m, l;

	(void)state;
	assert_int_equal(pop3_cmd_args("", 0, 0, tok, tlen), 1);
	assert_int_equal(pop3_cmd_args("x", 1, 0, tok, tlen), -1);
	assert_int_equal(pop3_cmd_args("a b", 3, 2, tok, tlen), 1);
	assert_int_equal(tlen[0], 1);
	assert_int_equal(tlen[1], 1);
	assert_int_equal(tok[1][0], 'b');
	assert_int_equal(pop3_cmd_args("a  b", 4, 2, tok, tlen), -1);
	assert_int_equal(pop3_cmd_args("a b ", 4, 2, tok, tlen), -1);
	assert_int_equal(pop3_cmd_args("a", 1, 2, tok, tlen), -1);

	assert_int_equal(pop3_cmd_top("3 0", 3, &m, &l), 1);
	assert_int_equal(m, 3);
	assert_int_equal(l, 0);
	assert_int_equal(pop3_cmd_top("1 2147483647", 12, &m, &l), 1);
	assert_int_equal(l, 2147483647u);
	assert_int_equal(pop3_cmd_top("1 2147483648", 12, &m, &l), -1);
	assert_int_equal(pop3_cmd_top("0 1", 3, &m, &l), -1);
	assert_int_equal(pop3_cmd_top("1", 1, &m, &l), -1);
	assert_int_equal(pop3_cmd_top("1 -1", 4, &m, &l), -1);
	assert_int_equal(pop3_cmd_top("1 1 1", 5, &m, &l), -1);
	assert_int_equal(pop3_cmd_top("a 1", 3, &m, &l), -1);
}

static void
test_uidl(void **state)
{
	static const char ours[] =
	    "1764442972.M123456P4242Q7R0a1b2c3d.mx,S=1234,W=1260";
	char out[POP3_UIDL_LEN + 1], name[POP3_UIDL_LEN + 2];
	size_t i;

	(void)state;
	/* A base name that fits RFC 1939 7 is the unique-id itself. */
	assert_int_equal(pop3_uidl(ours, strlen(ours), out), strlen(ours));
	assert_string_equal(out, ours);
	/* Only base[0..len) counts (the caller cut the ":2," info). */
	assert_int_equal(pop3_uidl("abc:2,S", 3, out), 3);
	assert_string_equal(out, "abc");
	memset(name, 'a', sizeof(name));
	assert_int_equal(pop3_uidl(name, POP3_UIDL_LEN, out), POP3_UIDL_LEN);
	assert_memory_equal(out, name, POP3_UIDL_LEN);
	/* Longer, or with octets outside 0x21..0x7E: SHA-256 in hex. */
	assert_int_equal(pop3_uidl(name, POP3_UIDL_LEN + 1, out), 64);
	assert_string_equal(out, "eefa4cfbea79400c2f4239e1f702e02e"
	    "bece761f78b6a35c9d2c167a79f9570c");
	assert_int_equal(pop3_uidl("with space", 10, out), 64);
	assert_string_equal(out, "b8b8f25a5fc711caea1cfebfe02359e3"
	    "ce2b9a8f9ce02d18fdcb1ba47ff095f1");
	assert_int_equal(pop3_uidl("caf\xc3\xa9", 5, out), 64);
	assert_int_equal(pop3_uidl("tab\there", 8, out), 64);
	assert_int_equal(pop3_uidl("del\x7f", 4, out), 64);
	assert_int_equal(pop3_uidl("", 0, out), 64);
	assert_int_equal(strlen(out), 64);
	for (i = 0; out[i] != '\0'; i++)
		assert_true((out[i] >= '0' && out[i] <= '9') ||
		    (out[i] >= 'a' && out[i] <= 'f'));
	/* Every printable octet but the space is kept. */
	for (i = 0; i < POP3_UIDL_LEN; i++)
		name[i] = (char)(0x21 + i);
	assert_int_equal(pop3_uidl(name, POP3_UIDL_LEN, out), POP3_UIDL_LEN);
	assert_memory_equal(out, name, POP3_UIDL_LEN);
	for (i = 0; i < POP3_UIDL_LEN; i++)
		name[i] = (char)(0x7e - i);
	assert_int_equal(pop3_uidl(name, POP3_UIDL_LEN, out), POP3_UIDL_LEN);
	assert_memory_equal(out, name, POP3_UIDL_LEN);
}

/* ------------------------------------------------------------ stuffing */

static char *
stuff(const char *msg, long long lines, size_t *octets)
{
	struct buf out = BUF_INIT(0);
	size_t len = strlen(msg);
	char *p = exact_copy(msg, len);

	assert_int_equal(pop3_cmd_stuff(p, len, lines, &out, octets), 1);
	free(p);
	return buf_steal(&out);
}

struct stuff_case {
	const char	*in;
	long long	 lines;
	const char	*out;
	size_t		 octets;
};

static const struct stuff_case stuff_cases[] = {
	{ "", -1, ".\r\n", 0 },
	{ "Subject: x\r\n\r\nbody\r\n", -1,
	  "Subject: x\r\n\r\nbody\r\n.\r\n", 20 },
	/* Lines starting with "." get one more; others are untouched. */
	{ "A: b\r\n\r\n.\r\n..\r\n.x\r\nx.\r\n", -1,
	  "A: b\r\n\r\n..\r\n...\r\n..x\r\nx.\r\n.\r\n", 23 },
	/* Bare LF and a missing last line end. */
	{ "A: b\n\nline1\nline2", -1,
	  "A: b\r\n\r\nline1\r\nline2\r\n.\r\n", 22 },
	{ "A: b\r\n\r\nno end", -1, "A: b\r\n\r\nno end\r\n.\r\n", 16 },
	/* TOP: the header, the blank line, then n body lines. */
	{ "A: b\r\nC: d\r\n\r\n1\r\n2\r\n3\r\n", 0,
	  "A: b\r\nC: d\r\n\r\n.\r\n", 14 },
	{ "A: b\r\nC: d\r\n\r\n1\r\n2\r\n3\r\n", 2,
	  "A: b\r\nC: d\r\n\r\n1\r\n2\r\n.\r\n", 20 },
	{ "A: b\r\n\r\n.1\r\n2\r\n", 1, "A: b\r\n\r\n..1\r\n.\r\n", 12 },
	{ "A: b\r\n\r\n1\r\n", 99, "A: b\r\n\r\n1\r\n.\r\n", 11 },
	/* No blank line: everything is header. */
	{ "A: b\r\n.C: d\r\n", 0, "A: b\r\n..C: d\r\n.\r\n", 13 },
	/* A lone CR inside a line stays; a CR ending the message is the
	 * start of its last line end. */
	{ "A: b\rc\r\n", -1, "A: b\rc\r\n.\r\n", 8 },
	{ "A: b\r\n\r\nx\r", -1, "A: b\r\n\r\nx\r\n.\r\n", 11 },
	{ "A: b\r\n\r\n.x\r\r\n", -1, "A: b\r\n\r\n..x\r\r\n.\r\n", 13 },
	/* Long runs of plain CRLF lines between dotted ones. */
	{ "A: b\r\n\r\n1\r\n2\r\n.3\r\n4\r\n5\n.6", -1,
	  "A: b\r\n\r\n1\r\n2\r\n..3\r\n4\r\n5\r\n..6\r\n.\r\n", 28 },
};

/* Undoes the stuffing: what a POP3 client reconstructs. */
static char *
unstuff(const char *s)
{
	struct buf out = BUF_INIT(0);
	const char *nl;

	for (;;) {
		nl = strstr(s, "\r\n");
		assert_non_null(nl);
		if (nl == s + 1 && s[0] == '.') {
			assert_string_equal(nl + 2, "");
			break;
		}
		if (s[0] == '.') {
			assert_int_equal(s[1], '.');
			s++;
		}
		assert_int_equal(buf_append(&out, s, (size_t)(nl + 2 - s)), 1);
		s = nl + 2;
	}
	return buf_steal(&out);
}

static void
test_stuff(void **state)
{
	size_t i, octets;
	char *out, *back;

	(void)state;
	for (i = 0; i < sizeof(stuff_cases) / sizeof(stuff_cases[0]); i++) {
		const struct stuff_case *c = &stuff_cases[i];

		out = stuff(c->in, c->lines, &octets);
		assert_string_equal(out, c->out);
		assert_int_equal(octets, c->octets);
		back = unstuff(out);
		assert_int_equal(strlen(back), octets);
		free(back);
		free(out);
	}
}

/* Every prefix of a message, whole and as TOP 0..3: well-formed output
 * whose unstuffed form is the CRLF form of (a prefix of) the input. */
static void
test_stuff_prefixes(void **state)
{
	static const char msg[] = "From: a\r\n.Dot: x\n\r\n.\r\n..\nbody.\r\n"
	    "\r\n.last";
	struct buf out = BUF_INIT(0);
	long long lines;
	size_t cut, octets;
	char *p, *back;

	(void)state;
	for (cut = 0; cut <= sizeof(msg) - 1; cut++) {
		p = exact_copy(msg, cut);
		for (lines = -1; lines <= 3; lines++) {
			buf_reset(&out);
			assert_int_equal(pop3_cmd_stuff(p, cut, lines, &out,
			    &octets), 1);
			back = unstuff(buf_cstr(&out));
			assert_int_equal(strlen(back), octets);
			assert_true(octets <= 2 * cut + 2);
			free(back);
		}
		free(p);
	}
	buf_free(&out);
}

/* pop3_stuff_feed in pieces of every size (1 octet up to the whole)
 * gives what pop3_cmd_stuff gives for the whole message, octets too. */
static void
pieces_match(const char *msg, size_t len, long long lines)
{
	struct buf whole = BUF_INIT(0), out = BUF_INIT(0);
	struct pop3_stuff sf;
	size_t step, off, n, octets;
	char *p;

	assert_int_equal(pop3_cmd_stuff(msg, len, lines, &whole, &octets), 1);
	for (step = 1; step <= len + 1; step++) {
		buf_reset(&out);
		pop3_stuff_init(&sf, lines);
		for (off = 0; off < len; off += n) {
			n = len - off < step ? len - off : step;
			p = exact_copy(msg + off, n);
			assert_int_not_equal(pop3_stuff_feed(&sf, p, n, &out),
			    -1);
			free(p);
		}
		assert_int_equal(pop3_stuff_end(&sf, &out), 1);
		assert_int_equal(out.len, whole.len);
		assert_memory_equal(out.data, whole.data, whole.len);
		assert_int_equal(sf.octets, octets);
	}
	buf_free(&whole);
	buf_free(&out);
}

static void
test_stuff_pieces(void **state)
{
	static const char msg[] = "From: a\r\n.Dot: x\n\r\n.\r\n..\nbody.\r\n"
	    "x\ry\r\r\n\n\r\n.last\r";
	size_t i, cut;
	long long lines;

	(void)state;
	for (i = 0; i < sizeof(stuff_cases) / sizeof(stuff_cases[0]); i++)
		pieces_match(stuff_cases[i].in, strlen(stuff_cases[i].in),
		    stuff_cases[i].lines);
	for (cut = 0; cut <= sizeof(msg) - 1; cut++)
		for (lines = -1; lines <= 4; lines++)
			pieces_match(msg, cut, lines);
}

static void
test_stuff_limit(void **state)
{
	struct buf out = BUF_INIT(8);

	(void)state;
	assert_int_equal(pop3_cmd_stuff("A: b\r\n\r\nlong body\r\n", 21, -1,
	    &out, NULL), -1);
	assert_int_equal(pop3_cmd_stuff("A: b\r\n\r\nlong body\r\n", 21, 0,
	    &out, NULL), -1);
	buf_free(&out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_split),
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_msgnum),
		cmocka_unit_test(test_args_top),
		cmocka_unit_test(test_uidl),
		cmocka_unit_test(test_stuff),
		cmocka_unit_test(test_stuff_prefixes),
		cmocka_unit_test(test_stuff_pieces),
		cmocka_unit_test(test_stuff_limit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
