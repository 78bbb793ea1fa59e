/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * Unit tests for sasl: strict base64 (RFC 4648 section 10 vectors, every
 * way to be non-canonical or malformed, buffer limits, inputs longer than
 * one OpenSSL call), the PLAIN message (RFC 4616) with every error and
 * every case cut at each length, the AUTH argument and the exchange's
 * response lines. Inputs are copied into heap blocks of exactly their
 * length so that under ASan a read one byte too far is a crash.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/buf.h"
#include "lib/sasl.h"

/* A heap copy of s[0..n) with nothing after it. */
static char *
exact(const char *s, size_t n)
{
	char *p = malloc(n ? n : 1);

	assert_non_null(p);
	if (n)
		memcpy(p, s, n);
	return p;
}

static int
decode(const char *s, size_t n, struct buf *out)
{
	char *p = exact(s, n);
	int r = sasl_b64_decode(p, n, out);

	free(p);
	return r;
}

/* ----------------------------------------------------------- base64 */

static const struct {
	const char	*raw;
	const char	*enc;
} b64_vectors[] = {
	/* RFC 4648 section 10 */
	{ "", "" },
	{ "f", "Zg==" },
	{ "fo", "Zm8=" },
	{ "foo", "Zm9v" },
	{ "foob", "Zm9vYg==" },
	{ "fooba", "Zm9vYmE=" },
	{ "foobar", "Zm9vYmFy" },
	/* PLAIN as a client sends it */
	{ "\0alice\0secret", "AGFsaWNlAHNlY3JldA==" },
	{ "\xff\xfe\xfd", "//79" },
	{ "\xfb\xff", "+/8=" },
};

static void
test_b64_vectors(void **state)
{
	struct buf b = BUF_INIT(0);
	size_t i, rawlen;

	(void)state;
	for (i = 0; i < sizeof(b64_vectors) / sizeof(*b64_vectors); i++) {
		rawlen = i == 7 ? 13 : strlen(b64_vectors[i].raw);
		buf_reset(&b);
		assert_int_equal(decode(b64_vectors[i].enc,
		    strlen(b64_vectors[i].enc), &b), 1);
		assert_int_equal(b.len, rawlen);
		if (rawlen)
			assert_memory_equal(b.data, b64_vectors[i].raw,
			    rawlen);
		buf_reset(&b);
		assert_int_equal(sasl_b64_encode(b64_vectors[i].raw, rawlen,
		    &b), 1);
		assert_string_equal(buf_cstr(&b), b64_vectors[i].enc);
	}
	/* Appends. */
	buf_reset(&b);
	assert_int_equal(buf_appends(&b, "x:"), 1);
	assert_int_equal(decode("Zm9v", 4, &b), 1);
	assert_int_equal(sasl_b64_encode("fo", 2, &b), 1);
	assert_string_equal(b.data, "x:fooZm8=");
	buf_free(&b);
}

static const char *const b64_bad[] = {
	"Z", "Zg", "Zg=", "Zm9", "Zm9vY", "Zg===", "Z===", "====", "=",
	"==", "=Zg=", "Zg==Zg==", "Zm=v", "Zm9v=", "Zm9v====",
	/* whitespace and line breaks */
	" Zm9v", "Zm9v ", "Zm 9v", "Zm9v\r\n", "Zm9v\n", "\tZm9v", "Zm\n9v",
	"Zg== ", "Zg=\n=",
	/* outside the alphabet (base64url, punctuation, 8 bit) */
	"Zm-_", "Zm9*", "Zm9.", "Zm9\x80", "\xffZm9", "Zm9:",
	/* non-canonical: unused bits set */
	"Zh==", "Zv==", "Zm9=", "Zm+=", "AB==", "AAB=", "//8/8==",
};

static void
test_b64_bad(void **state)
{
	struct buf b = BUF_INIT(0);
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(b64_bad) / sizeof(*b64_bad); i++) {
		buf_reset(&b);
		assert_int_equal(buf_appends(&b, "keep"), 1);
		if (decode(b64_bad[i], strlen(b64_bad[i]), &b) != -1)
			fail_msg("accepted bad base64 #%zu \"%s\"", i,
			    b64_bad[i]);
		/* Unchanged, and what was tried is wiped. */
		assert_int_equal(b.len, 4);
		assert_string_equal(b.data, "keep");
	}
	/* A NUL is not base64 either, wherever it is. */
	assert_int_equal(decode("Zm9v\0\0\0\0", 8, &b), -1);
	assert_int_equal(decode("Zm\0v", 4, &b), -1);
	assert_int_equal(decode("Zg=\0", 4, &b), -1);
	/* The canonical neighbours are fine. */
	buf_reset(&b);
	assert_int_equal(decode("Zg==", 4, &b), 1);
	assert_int_equal(decode("Zm8=", 4, &b), 1);
	assert_int_equal(decode("AA==", 4, &b), 1);
	assert_int_equal(decode("AAA=", 4, &b), 1);
	assert_int_equal(b.len, 6);
	buf_free(&b);
}

static void
test_b64_limits(void **state)
{
	struct buf small = BUF_INIT(5);
	struct buf b = BUF_INIT(0), e = BUF_INIT(0);
	unsigned char *raw;
	size_t i, n = 200003;	/* several OpenSSL calls, ragged end */

	(void)state;
	/* Over the buffer's maximum: refused, unchanged. */
	assert_int_equal(buf_appends(&small, "ab"), 1);
	assert_int_equal(decode("Zm9vYg==", 8, &small), -1);	/* 2+4 */
	assert_int_equal(small.len, 2);
	assert_int_equal(decode("Zm9v", 4, &small), 1);		/* 2+3 */
	assert_string_equal(small.data, "abfoo");
	buf_reset(&small);
	assert_int_equal(sasl_b64_encode("foob", 4, &small), -1); /* 8 */
	assert_int_equal(small.len, 0);
	assert_int_equal(sasl_b64_encode("foo", 3, &small), 1);
	assert_string_equal(small.data, "Zm9v");
	buf_free(&small);

	/* Long round trip of every byte value. */
	raw = malloc(n);
	assert_non_null(raw);
	for (i = 0; i < n; i++)
		raw[i] = (unsigned char)(i * 7 + i / 256);
	assert_int_equal(sasl_b64_encode(raw, n, &e), 1);
	assert_int_equal(e.len, (n + 2) / 3 * 4);
	assert_int_equal(strlen(e.data), e.len);
	assert_int_equal(decode(e.data, e.len, &b), 1);
	assert_int_equal(b.len, n);
	assert_memory_equal(b.data, raw, n);
	/* One bad character deep inside a long input. */
	e.data[100001] = '.';
	buf_reset(&b);
	assert_int_equal(decode(e.data, e.len, &b), -1);
	assert_int_equal(b.len, 0);
	free(raw);
	buf_free(&b);
	buf_free(&e);
}

static void
test_b64_cut(void **state)
{
	struct buf b = BUF_INIT(0);
	size_t i, n, len;
	const char *enc;
	int r;

	(void)state;
	/* Every prefix: only whole groups can succeed, and then decode to
	 * the matching prefix of the vector. */
	for (i = 0; i < sizeof(b64_vectors) / sizeof(*b64_vectors); i++) {
		enc = b64_vectors[i].enc;
		len = strlen(enc);
		for (n = 0; n <= len; n++) {
			buf_reset(&b);
			r = decode(enc, n, &b);
			if (n % 4 != 0) {
				assert_int_equal(r, -1);
				assert_int_equal(b.len, 0);
				continue;
			}
			/* Padding is only ever in the last group. */
			assert_int_equal(r, 1);
			if (n < len)
				assert_int_equal(b.len, n / 4 * 3);
			assert_memory_equal(b.data, b64_vectors[i].raw,
			    b.len);
		}
	}
	buf_free(&b);
}

/* ------------------------------------------------------------- PLAIN */

struct plain_case {
	const char	*msg;
	size_t		 len;
	const char	*authzid;	/* NULL: absent */
	const char	*authcid;	/* NULL: parse must fail */
	const char	*passwd;
};

#define M(s)	s, sizeof(s) - 1

static const struct plain_case plain_cases[] = {
	{ M("\0alice\0secret"), NULL, "alice", "secret" },
	{ M("admin\0alice\0secret"), "admin", "alice", "secret" },
	{ M("alice@example.test\0alice@example.test\0p w"),
	    "alice@example.test", "alice@example.test", "p w" },
	{ M("\0a\0b"), NULL, "a", "b" },
	{ M("\0j\xc3\xb6rg\0p\xe2\x82\xac\xf0\x9f\x98\x80"), NULL,
	    "j\xc3\xb6rg", "p\xe2\x82\xac\xf0\x9f\x98\x80" },
	{ M("\0u\0\xef\xbf\xbd\xf4\x8f\xbf\xbf"), NULL, "u",
	    "\xef\xbf\xbd\xf4\x8f\xbf\xbf" },
	/* errors */
	{ M(""), NULL, NULL, NULL },
	{ M("\0"), NULL, NULL, NULL },
	{ M("\0\0"), NULL, NULL, NULL },
	{ M("\0\0secret"), NULL, NULL, NULL },
	{ M("admin\0\0secret"), NULL, NULL, NULL },
	{ M("\0alice\0"), NULL, NULL, NULL },
	{ M("alice\0secret"), NULL, NULL, NULL },
	{ M("alicesecret"), NULL, NULL, NULL },
	{ M("\0alice\0sec\0ret"), NULL, NULL, NULL },
	{ M("\0alice\0secret\0"), NULL, NULL, NULL },
	{ M("\0\0\0"), NULL, NULL, NULL },
	{ M("\0al\xffice\0secret"), NULL, NULL, NULL },
	{ M("\0alice\0se\xc3"), NULL, NULL, NULL },	/* cut sequence */
	{ M("\0alice\0\xc0\xaf"), NULL, NULL, NULL },	/* overlong */
	{ M("\0alice\0\xe0\x80\xaf"), NULL, NULL, NULL },
	{ M("\0alice\0\xf0\x80\x80\xaf"), NULL, NULL, NULL },
	{ M("\0alice\0\xed\xa0\x80"), NULL, NULL, NULL }, /* surrogate */
	{ M("\0alice\0\xf4\x90\x80\x80"), NULL, NULL, NULL }, /* >10FFFF */
	{ M("\0alice\0\xf8\x88\x80\x80\x80"), NULL, NULL, NULL },
	{ M("\0alice\0\x80"), NULL, NULL, NULL },	/* lone trail */
	{ M("\0alice\0\xc3\x28"), NULL, NULL, NULL },
	{ M("\xfe\0alice\0secret"), NULL, NULL, NULL },
};

/* r == 1: p holds exactly what msg[0..n) says. */
static void
check_plain_ok(const char *msg, size_t n, const struct sasl_plain *p)
{
	size_t zl, cl;

	assert_non_null(p->authcid);
	assert_non_null(p->passwd);
	zl = p->authzid ? strlen(p->authzid) : 0;
	cl = strlen(p->authcid);
	assert_true(p->authzid == NULL || zl > 0);
	assert_true(cl > 0 && cl <= SASL_PLAIN_PART_MAX);
	assert_true(p->passwd_len > 0 &&
	    p->passwd_len <= SASL_PLAIN_PART_MAX);
	assert_int_equal(strlen(p->passwd), p->passwd_len);
	assert_int_equal(zl + 1 + cl + 1 + p->passwd_len, n);
	if (zl)
		assert_memory_equal(msg, p->authzid, zl);
	assert_int_equal(msg[zl], '\0');
	assert_memory_equal(msg + zl + 1, p->authcid, cl);
	assert_int_equal(msg[zl + 1 + cl], '\0');
	assert_memory_equal(msg + zl + cl + 2, p->passwd, p->passwd_len);
}

static int
plain(const char *msg, size_t n, struct sasl_plain *p, const char **err)
{
	char *c = exact(msg, n);
	int r;

	memset(p, 0x5a, sizeof(*p));	/* must be overwritten */
	*err = NULL;
	r = sasl_plain_parse(c, n, p, err);
	if (r == 1)
		check_plain_ok(c, n, p);
	else {
		assert_int_equal(r, -1);
		assert_non_null(*err);
		assert_null(p->authzid);
		assert_null(p->authcid);
		assert_null(p->passwd);
		assert_int_equal(p->passwd_len, 0);
	}
	free(c);
	return r;
}

static void
test_plain(void **state)
{
	const struct plain_case *c;
	struct sasl_plain p;
	const char *err;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(plain_cases) / sizeof(*plain_cases); i++) {
		c = &plain_cases[i];
		if (plain(c->msg, c->len, &p, &err) != (c->authcid ? 1 : -1))
			fail_msg("PLAIN case #%zu: %s", i, err ? err : "ok");
		if (c->authcid == NULL)
			continue;
		if (c->authzid)
			assert_string_equal(p.authzid, c->authzid);
		else
			assert_null(p.authzid);
		assert_string_equal(p.authcid, c->authcid);
		assert_string_equal(p.passwd, c->passwd);
		sasl_plain_clear(&p);
		assert_null(p.passwd);
		assert_int_equal(p.passwd_len, 0);
		sasl_plain_clear(&p);	/* twice is fine */
	}
	/* The error texts never carry the input. */
	assert_int_equal(plain(M("\0alice\0"), &p, &err), -1);
	assert_string_equal(err, "empty password");
	assert_int_equal(plain(M("\0\0pw"), &p, &err), -1);
	assert_string_equal(err, "empty authentication identity");
	assert_int_equal(plain(M("alice\0pw"), &p, &err), -1);
	assert_string_equal(err, "PLAIN message lacks NUL separators");
	assert_int_equal(plain(M("\0a\0b\0c"), &p, &err), -1);
	assert_string_equal(err, "PLAIN message has more than two NULs");
	assert_int_equal(plain(M("\0a\0\xff"), &p, &err), -1);
	assert_string_equal(err, "invalid UTF-8 in PLAIN message");
}

static void
test_plain_cut(void **state)
{
	const struct plain_case *c;
	struct sasl_plain p;
	const char *err, *nul1, *nul2;
	size_t i, n, pwpos;
	int r;

	(void)state;
	for (i = 0; i < sizeof(plain_cases) / sizeof(*plain_cases); i++) {
		c = &plain_cases[i];
		for (n = 0; n <= c->len; n++) {
			r = plain(c->msg, n, &p, &err);
			sasl_plain_clear(&p);
			if (c->authcid == NULL || n == c->len)
				continue;
			/* A good message cut anywhere before the password's
			 * first octet fails; cut inside an ASCII password it
			 * is a good message with a shorter password. */
			nul1 = memchr(c->msg, '\0', c->len);
			nul2 = memchr(nul1 + 1, '\0',
			    c->len - (size_t)(nul1 + 1 - c->msg));
			pwpos = (size_t)(nul2 - c->msg) + 1;
			if (n <= pwpos)
				assert_int_equal(r, -1);
			else if ((unsigned char)c->msg[n - 1] < 0x80 &&
			    (unsigned char)c->msg[n] < 0x80)
				assert_int_equal(r, 1);
		}
	}
}

static void
test_plain_lengths(void **state)
{
	char msg[3 * 300];
	struct sasl_plain p;
	const char *err;
	size_t z, cl, pl, n;
	static const size_t lens[] = { 1, 254, 255, 256, 299 };
	size_t a, b, d;

	(void)state;
	for (a = 0; a < 5; a++)
		for (b = 0; b < 5; b++)
			for (d = 0; d < 5; d++) {
				z = lens[a] - 1;	/* 0..298 */
				cl = lens[b];
				pl = lens[d];
				memset(msg, 'z', z);
				msg[z] = '\0';
				memset(msg + z + 1, 'c', cl);
				msg[z + 1 + cl] = '\0';
				memset(msg + z + cl + 2, 'p', pl);
				n = z + cl + 2 + pl;
				assert_int_equal(plain(msg, n, &p, &err),
				    z <= 255 && cl <= 255 && pl <= 255 ?
				    1 : -1);
				if (z > 255 || cl > 255 || pl > 255)
					assert_non_null(strstr(err,
					    "too long"));
				sasl_plain_clear(&p);
			}
}

/* ------------------------------------------------------ AUTH argument */

#define R501	"501 5.5.2 Syntax error in AUTH parameters"
#define R504	"504 5.5.4 Unrecognized authentication type"

struct args_case {
	const char	*arg;
	int		 r;
	int		 mech;
	const char	*ir;		/* NULL: none; "" with "=" */
	const char	*reply;
};

static const struct args_case args_cases[] = {
	{ "PLAIN", 1, SASL_MECH_PLAIN, NULL, NULL },
	{ "plain", 1, SASL_MECH_PLAIN, NULL, NULL },
	{ "PlAiN", 1, SASL_MECH_PLAIN, NULL, NULL },
	{ "PLAIN AGFsaWNlAHNlY3JldA==", 1, SASL_MECH_PLAIN,
	    "AGFsaWNlAHNlY3JldA==", NULL },
	{ "PLAIN =", 1, SASL_MECH_PLAIN, "", NULL },
	{ "LOGIN", 1, SASL_MECH_LOGIN, NULL, NULL },
	{ "login", 1, SASL_MECH_LOGIN, NULL, NULL },
	{ "LOGIN YWxpY2U=", 1, SASL_MECH_LOGIN, "YWxpY2U=", NULL },
	/* The caller finds bad base64 in the initial response. */
	{ "PLAIN !!!", 1, SASL_MECH_PLAIN, "!!!", NULL },
	{ "PLAIN ==", 1, SASL_MECH_PLAIN, "==", NULL },
	/* Unknown, well-formed */
	{ "CRAM-MD5", -1, 0, NULL, R504 },
	{ "SCRAM-SHA-256 biws", -1, 0, NULL, R504 },
	{ "X", -1, 0, NULL, R504 },
	{ "PLAINX", -1, 0, NULL, R504 },
	{ "PLAI", -1, 0, NULL, R504 },
	{ "XOAUTH_2", -1, 0, NULL, R504 },
	{ "ABCDEFGHIJKLMNOPQRST", -1, 0, NULL, R504 },	/* 20 */
	/* Syntax */
	{ "ABCDEFGHIJKLMNOPQRSTU", -1, 0, NULL, R501 },	/* 21 */
	{ "", -1, 0, NULL, R501 },
	{ " ", -1, 0, NULL, R501 },
	{ " PLAIN", -1, 0, NULL, R501 },
	{ "PLAIN ", -1, 0, NULL, R501 },
	{ "PLAIN  AGFs", -1, 0, NULL, R501 },
	{ "PLAIN AGFs ", -1, 0, NULL, R501 },
	{ "PLAIN AGFs AGFs", -1, 0, NULL, R501 },
	{ "PLAIN = =", -1, 0, NULL, R501 },
	{ "LOGIN a b", -1, 0, NULL, R501 },
	{ "PL@IN", -1, 0, NULL, R501 },
	{ "PLAIN\tAGFs", -1, 0, NULL, R501 },
	{ "PLAIN:", -1, 0, NULL, R501 },
	{ "PL\xc3\x84IN", -1, 0, NULL, R501 },
};

static int
args(const char *s, size_t n, enum sasl_mech *mech, const char **ir,
    size_t *irlen, const char **reply, char **copy)
{
	int r;

	*copy = exact(s, n);
	*mech = 0;
	*ir = (const char *)1;
	*irlen = 99;
	*reply = NULL;
	r = sasl_auth_args(*copy, n, mech, ir, irlen, reply);
	if (r == 1) {
		assert_true(*mech == SASL_MECH_PLAIN ||
		    *mech == SASL_MECH_LOGIN);
		if (*ir != NULL)
			assert_true(*ir > *copy && *ir + *irlen <= *copy + n);
		else
			assert_int_equal(*irlen, 0);
	} else {
		assert_int_equal(r, -1);
		assert_non_null(*reply);
		assert_null(*ir);
	}
	return r;
}

static void
test_auth_args(void **state)
{
	const struct args_case *c;
	enum sasl_mech mech;
	const char *ir, *reply;
	size_t i, irlen;
	char *copy;

	(void)state;
	for (i = 0; i < sizeof(args_cases) / sizeof(*args_cases); i++) {
		c = &args_cases[i];
		if (args(c->arg, strlen(c->arg), &mech, &ir, &irlen, &reply,
		    &copy) != c->r)
			fail_msg("AUTH \"%s\": wrong result", c->arg);
		if (c->r == 1) {
			assert_int_equal(mech, c->mech);
			if (c->ir == NULL)
				assert_null(ir);
			else {
				assert_non_null(ir);
				assert_int_equal(irlen, strlen(c->ir));
				assert_memory_equal(ir, c->ir, irlen);
			}
		} else
			assert_string_equal(reply, c->reply);
		free(copy);
	}
	/* A NUL is no mechanism character. */
	assert_int_equal(args("PLAIN\0", 6, &mech, &ir, &irlen, &reply,
	    &copy), -1);
	assert_string_equal(reply, R501);
	free(copy);
	assert_int_equal(args("PLA\0N", 5, &mech, &ir, &irlen, &reply,
	    &copy), -1);
	free(copy);
	/* "=" in the initial response means empty: decodes to nothing. */
	{
		struct buf b = BUF_INIT(0);

		assert_int_equal(args("PLAIN =", 7, &mech, &ir, &irlen,
		    &reply, &copy), 1);
		assert_int_equal(sasl_b64_decode(ir, irlen, &b), 1);
		assert_int_equal(b.len, 0);
		free(copy);
		buf_free(&b);
	}
}

static void
test_auth_args_cut(void **state)
{
	enum sasl_mech mech;
	const char *ir, *reply;
	size_t i, n, len, irlen;
	char *copy;

	(void)state;
	for (i = 0; i < sizeof(args_cases) / sizeof(*args_cases); i++) {
		len = strlen(args_cases[i].arg);
		for (n = 0; n <= len; n++) {
			(void)args(args_cases[i].arg, n, &mech, &ir, &irlen,
			    &reply, &copy);	/* checked inside */
			free(copy);
		}
	}
}

/* ------------------------------------------------------------ response */

static void
test_response(void **state)
{
	struct buf b = BUF_INIT(0);
	char *c;

	(void)state;
	assert_int_equal(buf_appends(&b, "x"), 1);
	c = exact("*", 1);
	assert_int_equal(sasl_response(c, 1, &b), 0);
	free(c);
	assert_string_equal(b.data, "x");
	/* The empty line is the empty response. */
	assert_int_equal(sasl_response("", 0, &b), 1);
	assert_int_equal(b.len, 1);
	c = exact("YWxpY2U=", 8);
	assert_int_equal(sasl_response(c, 8, &b), 1);
	free(c);
	assert_string_equal(b.data, "xalice");
	c = exact("AGFsaWNlAHNlY3JldA==", 20);
	buf_reset(&b);
	assert_int_equal(sasl_response(c, 20, &b), 1);
	free(c);
	assert_int_equal(b.len, 13);
	assert_memory_equal(b.data, "\0alice\0secret", 13);
	/* Anything else. */
	buf_reset(&b);
	assert_int_equal(sasl_response("**", 2, &b), -1);
	assert_int_equal(sasl_response("* ", 2, &b), -1);
	assert_int_equal(sasl_response(" *", 2, &b), -1);
	assert_int_equal(sasl_response("=", 1, &b), -1);
	assert_int_equal(sasl_response("YWxpY2U", 7, &b), -1);
	assert_int_equal(sasl_response("YWxpY2U= ", 9, &b), -1);
	assert_int_equal(sasl_response("AUTH PLAIN", 10, &b), -1);
	/* This one is base64. */
	assert_int_equal(sasl_response("QUIT", 4, &b), 1);
	assert_int_equal(b.len, 3);
	buf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_b64_vectors),
		cmocka_unit_test(test_b64_bad),
		cmocka_unit_test(test_b64_limits),
		cmocka_unit_test(test_b64_cut),
		cmocka_unit_test(test_plain),
		cmocka_unit_test(test_plain_cut),
		cmocka_unit_test(test_plain_lengths),
		cmocka_unit_test(test_auth_args),
		cmocka_unit_test(test_auth_args_cut),
		cmocka_unit_test(test_response),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
