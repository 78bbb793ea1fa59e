/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * Unit tests for cfg: defaults, every value syntax and unit, bounds,
 * unknown keys, line syntax (comments, continuations, CRLF, long lines),
 * includes and their depth limit, error collection with line numbers,
 * canonical printing, cfg_set, table bugs, and truncated input.
 */
#include "config.h"

#include <sys/stat.h>

#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/buf.h"
#include "lib/cfg.h"
#include "lib/netaddr.h"

struct sample {
	char		*myhostname;
	char		*banner;
	long long	 port;
	long long	 offset;
	int		 tls;
	long long	 size_limit;
	long long	 data_timeout;
	struct cfg_list	 mynetworks;
	int		 level;
	long long	 big;
	long long	 bigsize;
	long long	 bigtime;
};

static const char *const levels[] = { "none", "may", "encrypt", NULL };

#define OFF(f)	offsetof(struct sample, f)

static const struct cfg_def sample_defs[] = {
	{ "myhostname", CFG_STR, "mx.example.test", 0, 0, OFF(myhostname),
	    NULL, "host name" },
	{ "smtpd_banner", CFG_STR, NULL, 0, 0, OFF(banner), NULL, "banner" },
	{ "smtpd_port", CFG_INT, "25", 1, 65535, OFF(port), NULL, "port" },
	{ "clock_offset", CFG_INT, "-5", -100, 100, OFF(offset), NULL, "off" },
	{ "smtpd_tls", CFG_BOOL, "no", 0, 0, OFF(tls), NULL, "tls" },
	{ "message_size_limit", CFG_SIZE, "10M", 1024, 1024LL * 1024 * 1024,
	    OFF(size_limit), NULL, "size" },
	{ "smtpd_data_timeout", CFG_DURATION, "5m", 1000, 7 * 86400000LL,
	    OFF(data_timeout), NULL, "timeout" },
	{ "mynetworks", CFG_LIST, "127.0.0.1, [::1]", 0, 0, OFF(mynetworks),
	    NULL, "nets" },
	{ "smtpd_tls_security_level", CFG_ENUM, "may", 0, 0, OFF(level),
	    levels, "level" },
	{ "big_number", CFG_INT, NULL, LLONG_MIN, LLONG_MAX, OFF(big), NULL,
	    "big" },
	{ "big_size", CFG_SIZE, "0", 0, LLONG_MAX, OFF(bigsize), NULL, "bs" },
	{ "big_time", CFG_DURATION, "0", 0, LLONG_MAX, OFF(bigtime), NULL,
	    "bt" },
	{ NULL, 0, NULL, 0, 0, 0, NULL, NULL },
};

static const char default_print[] =
    "myhostname = mx.example.test\n"
    "smtpd_banner =\n"
    "smtpd_port = 25\n"
    "clock_offset = -5\n"
    "smtpd_tls = no\n"
    "message_size_limit = 10M\n"
    "smtpd_data_timeout = 5m\n"
    "mynetworks = 127.0.0.1, [::1]\n"
    "smtpd_tls_security_level = may\n"
    "big_number = 0\n"
    "big_size = 0\n"
    "big_time = 0s\n";

/* ------------------------------------------------------------ helpers */

static int
parse(struct sample *c, const char *text, struct buf *err)
{
	buf_reset(err);
	return cfg_parse_string(sample_defs, c, "t.conf", text, strlen(text),
	    err);
}

/* Parses one "key = value" line and expects success. */
static void
parse_ok(struct sample *c, const char *key, const char *value)
{
	struct buf text = BUF_INIT(0), err = BUF_INIT(0);

	assert_int_equal(buf_appendf(&text, "%s = %s\n", key, value), 1);
	if (parse(c, text.data, &err) != 1)
		fail_msg("%s = %s: %s", key, value, buf_cstr(&err));
	buf_free(&text);
	buf_free(&err);
}

/* Parses one "key = value" line and expects exactly message msg. */
static void
parse_bad(const char *key, const char *value, const char *msg)
{
	struct buf text = BUF_INIT(0), err = BUF_INIT(0), want = BUF_INIT(0);
	struct sample c;

	assert_int_equal(buf_appendf(&text, "%s = %s\n", key, value), 1);
	assert_int_equal(buf_appendf(&want, "t.conf:1: %s\n", msg), 1);
	assert_int_equal(parse(&c, text.data, &err), -1);
	assert_string_equal(buf_cstr(&err), want.data);
	/* On failure the target is freed and zeroed. */
	assert_null(c.myhostname);
	assert_null(c.mynetworks.v);
	assert_int_equal(c.port, 0);
	buf_free(&text);
	buf_free(&err);
	buf_free(&want);
}

static char *
print_cfg(const struct sample *c, int nondefault)
{
	char *s = NULL;
	size_t n = 0;
	FILE *fp;

	assert_non_null(fp = open_memstream(&s, &n));
	assert_int_equal(cfg_print(sample_defs, c, nondefault, fp), 1);
	assert_int_equal(fclose(fp), 0);
	return s;
}

static void
write_file(const char *dir, const char *rel, const char *text)
{
	struct buf path = BUF_INIT(0);
	FILE *fp;

	assert_int_equal(buf_appendf(&path, "%s/%s", dir, rel), 1);
	assert_non_null(fp = fopen(path.data, "w"));
	assert_int_equal(fwrite(text, 1, strlen(text), fp), strlen(text));
	assert_int_equal(fclose(fp), 0);
	buf_free(&path);
}

static char *
make_dir(void)
{
	char tmpl[] = "/tmp/test_cfg.XXXXXX";

	assert_non_null(mkdtemp(tmpl));
	return strdup(tmpl);
}

static void
remove_tree(const char *dir)
{
	struct buf cmd = BUF_INIT(0);

	/* Only ever a mkdtemp() directory of ours. */
	assert_int_equal(buf_appendf(&cmd, "rm -rf '%s'", dir), 1);
	assert_int_equal(system(cmd.data), 0);
	buf_free(&cmd);
}

/* ------------------------------------------------------------ values */

static void
test_defaults(void **state)
{
	struct buf err = BUF_INIT(0);
	struct sample c;
	char *out;

	(void)state;
	memset(&c, 0xa5, sizeof(c));
	assert_int_equal(cfg_defaults(sample_defs, &c, &err), 1);
	assert_string_equal(buf_cstr(&err), "");
	assert_string_equal(c.myhostname, "mx.example.test");
	assert_null(c.banner);
	assert_int_equal(c.port, 25);
	assert_int_equal(c.offset, -5);
	assert_int_equal(c.tls, 0);
	assert_int_equal(c.size_limit, 10 * 1024 * 1024);
	assert_int_equal(c.data_timeout, 300000);
	assert_int_equal(c.mynetworks.n, 2);
	assert_string_equal(c.mynetworks.v[0], "127.0.0.1");
	assert_string_equal(c.mynetworks.v[1], "[::1]");
	assert_int_equal(c.level, 1);
	assert_int_equal(c.big, 0);
	out = print_cfg(&c, 0);
	assert_string_equal(out, default_print);
	free(out);
	out = print_cfg(&c, 1);
	assert_string_equal(out, "");
	free(out);
	cfg_free(sample_defs, &c);

	/* An empty text gives the defaults too. */
	assert_int_equal(cfg_parse_string(sample_defs, &c, "e", NULL, 0, &err),
	    1);
	assert_int_equal(c.port, 25);
	cfg_free(sample_defs, &c);
	buf_free(&err);
}

static void
test_int(void **state)
{
	struct sample c;

	(void)state;
	parse_ok(&c, "smtpd_port", "587");
	assert_int_equal(c.port, 587);
	cfg_free(sample_defs, &c);
	parse_ok(&c, "smtpd_port", "00025");
	assert_int_equal(c.port, 25);
	cfg_free(sample_defs, &c);
	parse_ok(&c, "clock_offset", "-100");
	assert_int_equal(c.offset, -100);
	cfg_free(sample_defs, &c);
	parse_ok(&c, "big_number", "9223372036854775807");
	assert_true(c.big == LLONG_MAX);
	cfg_free(sample_defs, &c);
	parse_ok(&c, "big_number", "-9223372036854775808");
	assert_true(c.big == LLONG_MIN);
	cfg_free(sample_defs, &c);

	parse_bad("smtpd_port", "0",
	    "smtpd_port: 0 is below the minimum 1");
	parse_bad("smtpd_port", "65536",
	    "smtpd_port: 65536 is above the maximum 65535");
	parse_bad("clock_offset", "-101",
	    "clock_offset: -101 is below the minimum -100");
	parse_bad("smtpd_port", "abc", "smtpd_port: bad integer 'abc'");
	parse_bad("smtpd_port", "+25", "smtpd_port: bad integer '+25'");
	parse_bad("smtpd_port", "25x", "smtpd_port: bad integer '25x'");
	parse_bad("smtpd_port", "2 5", "smtpd_port: bad integer '2 5'");
	parse_bad("smtpd_port", "-", "smtpd_port: bad integer '-'");
	parse_bad("smtpd_port", "", "smtpd_port: bad integer ''");
	parse_bad("smtpd_port", "25k", "smtpd_port: bad integer '25k'");
	parse_bad("big_number", "9223372036854775808",
	    "big_number: '9223372036854775808' is out of range");
	parse_bad("big_number", "-9223372036854775809",
	    "big_number: '-9223372036854775809' is out of range");
	parse_bad("big_number", "99999999999999999999999999",
	    "big_number: '99999999999999999999999999' is out of range");
}

static void
test_size(void **state)
{
	static const struct {
		const char	*text;
		long long	 bytes;
	} ok[] = {
		{ "1024", 1024 },
		{ "2048B", 2048 },
		{ "2048b", 2048 },
		{ "10k", 10240 },
		{ "10K", 10240 },
		{ "10KB", 10240 },
		{ "10kb", 10240 },
		{ "10m", 10485760 },
		{ "50M", 52428800 },
		{ "50Mb", 52428800 },
		{ "1G", 1073741824 },
		{ "1gB", 1073741824 },
	};
	struct sample c;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		parse_ok(&c, "message_size_limit", ok[i].text);
		assert_true(c.size_limit == ok[i].bytes);
		cfg_free(sample_defs, &c);
	}
	parse_ok(&c, "big_size", "8589934591G");
	assert_true(c.bigsize == 8589934591LL * 1073741824LL);
	cfg_free(sample_defs, &c);

	parse_bad("message_size_limit", "1023",
	    "message_size_limit: 1023 is below the minimum 1K");
	parse_bad("message_size_limit", "1025M",
	    "message_size_limit: 1025M is above the maximum 1G");
	parse_bad("message_size_limit", "1073741825",
	    "message_size_limit: 1073741825 is above the maximum 1G");
	parse_bad("message_size_limit", "10T",
	    "message_size_limit: bad size '10T' (expected a number with "
	    "optional unit K, M or G)");
	parse_bad("message_size_limit", "10 M",
	    "message_size_limit: bad size '10 M' (expected a number with "
	    "optional unit K, M or G)");
	parse_bad("message_size_limit", "M",
	    "message_size_limit: bad size 'M' (expected a number with "
	    "optional unit K, M or G)");
	parse_bad("message_size_limit", "10BB",
	    "message_size_limit: bad size '10BB' (expected a number with "
	    "optional unit K, M or G)");
	parse_bad("big_size", "8589934592G",
	    "big_size: '8589934592G' is out of range");
	parse_bad("big_size", "-1", "big_size: -1 is below the minimum 0");
}

static void
test_duration(void **state)
{
	static const struct {
		const char	*text;
		long long	 ms;
	} ok[] = {
		{ "30", 30000 },
		{ "30s", 30000 },
		{ "1500ms", 1500 },
		{ "10m", 600000 },
		{ "2h", 7200000 },
		{ "5d", 432000000 },
		{ "1w", 604800000 },
		{ "1000ms", 1000 },
	};
	struct sample c;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		parse_ok(&c, "smtpd_data_timeout", ok[i].text);
		assert_true(c.data_timeout == ok[i].ms);
		cfg_free(sample_defs, &c);
	}
	parse_bad("smtpd_data_timeout", "0",
	    "smtpd_data_timeout: 0s is below the minimum 1s");
	parse_bad("smtpd_data_timeout", "0s",
	    "smtpd_data_timeout: 0s is below the minimum 1s");
	parse_bad("smtpd_data_timeout", "999ms",
	    "smtpd_data_timeout: 999ms is below the minimum 1s");
	parse_bad("smtpd_data_timeout", "8d",
	    "smtpd_data_timeout: 8d is above the maximum 1w");
	parse_bad("smtpd_data_timeout", "10M",
	    "smtpd_data_timeout: bad duration '10M' (expected a number with "
	    "optional unit ms, s, m, h, d or w)");
	parse_bad("smtpd_data_timeout", "5y",
	    "smtpd_data_timeout: bad duration '5y' (expected a number with "
	    "optional unit ms, s, m, h, d or w)");
	parse_bad("smtpd_data_timeout", "1m30s",
	    "smtpd_data_timeout: bad duration '1m30s' (expected a number "
	    "with optional unit ms, s, m, h, d or w)");
	parse_bad("big_time", "15250284453w",
	    "big_time: '15250284453w' is out of range");
	parse_bad("big_time", "9223372036854775807s",
	    "big_time: '9223372036854775807s' is out of range");
	parse_ok(&c, "big_time", "15250284452w");
	assert_true(c.bigtime == 15250284452LL * 604800000LL);
	cfg_free(sample_defs, &c);
}

static void
test_bool(void **state)
{
	static const char *const yes[] = { "yes", "YES", "true", "On", "1" };
	static const char *const no[] = { "no", "No", "false", "OFF", "0" };
	struct sample c;
	size_t i;

	(void)state;
	for (i = 0; i < 5; i++) {
		parse_ok(&c, "smtpd_tls", yes[i]);
		assert_int_equal(c.tls, 1);
		cfg_free(sample_defs, &c);
		parse_ok(&c, "smtpd_tls", no[i]);
		assert_int_equal(c.tls, 0);
		cfg_free(sample_defs, &c);
	}
	parse_bad("smtpd_tls", "maybe",
	    "smtpd_tls: bad boolean 'maybe' (expected yes or no)");
	parse_bad("smtpd_tls", "2",
	    "smtpd_tls: bad boolean '2' (expected yes or no)");
}

static void
test_enum(void **state)
{
	struct sample c;

	(void)state;
	parse_ok(&c, "smtpd_tls_security_level", "encrypt");
	assert_int_equal(c.level, 2);
	cfg_free(sample_defs, &c);
	parse_ok(&c, "smtpd_tls_security_level", "NONE");
	assert_int_equal(c.level, 0);
	cfg_free(sample_defs, &c);
	parse_bad("smtpd_tls_security_level", "dane",
	    "smtpd_tls_security_level: bad value 'dane' (expected one of: "
	    "none, may, encrypt)");
}

static void
test_list(void **state)
{
	struct sample c;
	char *out;

	(void)state;
	parse_ok(&c, "mynetworks", "10.0.0.0/8,192.0.2.0/24  ,, \t[::1]/128 ");
	assert_int_equal(c.mynetworks.n, 3);
	assert_string_equal(c.mynetworks.v[0], "10.0.0.0/8");
	assert_string_equal(c.mynetworks.v[1], "192.0.2.0/24");
	assert_string_equal(c.mynetworks.v[2], "[::1]/128");
	out = print_cfg(&c, 1);
	assert_string_equal(out,
	    "mynetworks = 10.0.0.0/8, 192.0.2.0/24, [::1]/128\n");
	free(out);
	cfg_free(sample_defs, &c);

	parse_ok(&c, "mynetworks", "");
	assert_int_equal(c.mynetworks.n, 0);
	cfg_free(sample_defs, &c);
	parse_ok(&c, "mynetworks", " , ,,");
	assert_int_equal(c.mynetworks.n, 0);
	out = print_cfg(&c, 1);
	assert_string_equal(out, "mynetworks =\n");
	free(out);
	cfg_free(sample_defs, &c);
	parse_ok(&c, "mynetworks", "one");
	assert_int_equal(c.mynetworks.n, 1);
	assert_string_equal(c.mynetworks.v[0], "one");
	cfg_free(sample_defs, &c);
}

static void
test_string(void **state)
{
	struct sample c;

	(void)state;
	parse_ok(&c, "smtpd_banner", "  $myhostname ESMTP  \t");
	assert_string_equal(c.banner, "$myhostname ESMTP");
	cfg_free(sample_defs, &c);
	parse_ok(&c, "myhostname", "");
	assert_non_null(c.myhostname);
	assert_string_equal(c.myhostname, "");
	assert_null(c.banner);
	cfg_free(sample_defs, &c);
	/* '=' in a value and '#' after text are part of the value. */
	parse_ok(&c, "smtpd_banner", "a=b # c");
	assert_string_equal(c.banner, "a=b # c");
	cfg_free(sample_defs, &c);
}

/* ------------------------------------------------------------ syntax */

static void
test_unknown_key(void **state)
{
	(void)state;
	parse_bad("smtpd_prot", "25",
	    "unknown setting 'smtpd_prot'; did you mean 'smtpd_port'?");
	parse_bad("smtpd_tsl", "yes",
	    "unknown setting 'smtpd_tsl'; did you mean 'smtpd_tls'?");
	parse_bad("MYHOSTNAME", "x", "unknown setting 'MYHOSTNAME'");
	parse_bad("relayhost", "x", "unknown setting 'relayhost'");
	parse_bad("a", "x", "unknown setting 'a'");
	parse_bad("smtpd \"port\"", "x",
	    "unknown setting 'smtpd \\\"port\\\"'");
}

static void
test_missing_eq(void **state)
{
	struct buf err = BUF_INIT(0);
	struct sample c;

	(void)state;
	assert_int_equal(parse(&c, "smtpd_port 25\n", &err), -1);
	assert_string_equal(buf_cstr(&err), "t.conf:1: missing '='\n");
	assert_int_equal(parse(&c, "= 25\nx", &err), -1);
	assert_string_equal(buf_cstr(&err),
	    "t.conf:1: missing setting name before '='\n"
	    "t.conf:2: missing '='\n");
	buf_free(&err);
}

static void
test_continuation(void **state)
{
	struct buf err = BUF_INIT(0);
	struct sample c;

	(void)state;
	assert_int_equal(parse(&c,
	    "mynetworks = a,\n"
	    "  b\n"
	    "\tc,\n"
	    "\n"
	    "   # a comment inside the value\n"
	    "  d\n"
	    "smtpd_banner = one   \n"
	    "     two\t\n"
	    "\t three\n", &err), 1);
	assert_int_equal(c.mynetworks.n, 4);
	assert_string_equal(c.mynetworks.v[3], "d");
	assert_string_equal(c.banner, "one two three");
	cfg_free(sample_defs, &c);

	/* The value may start on the continuation line. */
	assert_int_equal(parse(&c, "smtpd_port =\n  587\n", &err), 1);
	assert_int_equal(c.port, 587);
	cfg_free(sample_defs, &c);

	/* Errors name the line where the logical line started. */
	assert_int_equal(parse(&c,
	    "# header\n"
	    "smtpd_port =\n"
	    "   99999\n"
	    "\n"
	    "smtpd_tls = yes\n"
	    "smtpd_banner\n"
	    "  more\n", &err), -1);
	assert_string_equal(buf_cstr(&err),
	    "t.conf:2: smtpd_port: 99999 is above the maximum 65535\n"
	    "t.conf:6: missing '='\n");

	/* A continuation with nothing to continue. */
	assert_int_equal(parse(&c, "\n  smtpd_port = 25\nsmtpd_tls = 1\n",
	    &err), -1);
	assert_string_equal(buf_cstr(&err),
	    "t.conf:2: continuation line without a setting before it\n");
	buf_free(&err);
}

static void
test_comments_crlf(void **state)
{
	struct buf err = BUF_INIT(0);
	struct sample c;

	(void)state;
	assert_int_equal(parse(&c,
	    "# comment = not a setting\n"
	    "#\n"
	    "   #indented comment\n"
	    "\t\n"
	    "smtpd_port=2525\r\n"
	    "\r\n"
	    "smtpd_banner   =hello \r\n"
	    "   world\r\n"
	    "smtpd_tls\t=\tyes", &err), 1);
	assert_int_equal(c.port, 2525);
	assert_string_equal(c.banner, "hello world");
	assert_int_equal(c.tls, 1);
	cfg_free(sample_defs, &c);
	buf_free(&err);
}

static void
test_last_wins(void **state)
{
	struct buf err = BUF_INIT(0);
	struct sample c;

	(void)state;
	assert_int_equal(parse(&c,
	    "smtpd_banner = one\n"
	    "mynetworks = a b c\n"
	    "smtpd_port = 1\n"
	    "smtpd_banner = two\n"
	    "mynetworks = d\n"
	    "smtpd_port = 2\n", &err), 1);
	assert_string_equal(c.banner, "two");
	assert_int_equal(c.mynetworks.n, 1);
	assert_string_equal(c.mynetworks.v[0], "d");
	assert_int_equal(c.port, 2);
	cfg_free(sample_defs, &c);
	buf_free(&err);
}

static void
test_many_errors(void **state)
{
	struct buf err = BUF_INIT(0), text = BUF_INIT(0);
	struct sample c;
	const char *p;
	int i, n;

	(void)state;
	assert_int_equal(parse(&c,
	    "smtpd_port = 25\n"
	    "smtpd_port = x\n"
	    "\n"
	    "nosuch = 1\n"
	    "smtpd_tls = perhaps\n"
	    "garbage\n"
	    "message_size_limit = 1\n"
	    "myhostname = fine\n", &err), -1);
	assert_string_equal(buf_cstr(&err),
	    "t.conf:2: smtpd_port: bad integer 'x'\n"
	    "t.conf:4: unknown setting 'nosuch'\n"
	    "t.conf:5: smtpd_tls: bad boolean 'perhaps' (expected yes or no)\n"
	    "t.conf:6: missing '='\n"
	    "t.conf:7: message_size_limit: 1 is below the minimum 1K\n");
	assert_null(c.myhostname);

	/* 30 bad lines: 20 messages, then the parser gives up. */
	for (i = 1; i <= 30; i++)
		assert_int_equal(buf_appendf(&text, "bad%d\n", i), 1);
	assert_int_equal(parse(&c, text.data, &err), -1);
	for (n = 0, p = buf_cstr(&err); (p = strchr(p, '\n')) != NULL; p++)
		n++;
	assert_int_equal(n, 20);
	assert_non_null(strstr(buf_cstr(&err), "t.conf:20: missing '='\n"));
	assert_null(strstr(buf_cstr(&err), "t.conf:21:"));

	/* A tiny error buffer loses text but not the failure. */
	buf_free(&err);
	buf_init(&err, 10);
	assert_int_equal(cfg_parse_string(sample_defs, &c, "t.conf", "x\n",
	    2, &err), -1);
	assert_int_equal(err.len, 0);
	buf_free(&err);
	buf_free(&text);
}

static void
test_long_line(void **state)
{
	struct buf err = BUF_INIT(0), text = BUF_INIT(0);
	struct sample c;
	size_t fill;

	(void)state;
	/* Exactly 64 KiB in the logical line is fine. */
	assert_int_equal(buf_appends(&text, "smtpd_banner = "), 1);
	fill = 65536 - text.len;
	assert_non_null(memset(buf_reserve(&text, fill), 'x', fill));
	text.len += fill;
	assert_int_equal(buf_appends(&text, "\nsmtpd_port = 26\n"), 1);
	assert_int_equal(parse(&c, text.data, &err), 1);
	assert_int_equal(strlen(c.banner), fill);
	assert_int_equal(c.port, 26);
	cfg_free(sample_defs, &c);

	/* Going past it on a continuation line is not. */
	buf_reset(&text);
	assert_int_equal(buf_appends(&text, "\nsmtpd_banner = "), 1);
	fill = 65536 - (text.len - 1) - 2;
	assert_non_null(memset(buf_reserve(&text, fill), 'x', fill));
	text.len += fill;
	assert_int_equal(buf_appends(&text, "\n\ty\n\tz\nsmtpd_port=0\n"), 1);
	assert_int_equal(parse(&c, text.data, &err), -1);
	assert_string_equal(buf_cstr(&err),
	    "t.conf:2: line longer than 65536 bytes\n"
	    "t.conf:5: smtpd_port: 0 is below the minimum 1\n");

	/* A huge single line (no newline at all) costs one error. */
	buf_reset(&text);
	fill = 1000000;
	assert_non_null(memset(buf_reserve(&text, fill), 'k', fill));
	text.len += fill;
	text.data[text.len] = '\0';
	assert_int_equal(parse(&c, text.data, &err), -1);
	assert_string_equal(buf_cstr(&err),
	    "t.conf:1: line longer than 65536 bytes\n");
	buf_free(&err);
	buf_free(&text);
}

static void
test_nul_byte(void **state)
{
	static const char text[] = "smtpd_port = 2\0005\nsmtpd_tls = yes\n";
	struct buf err = BUF_INIT(0);
	struct sample c;

	(void)state;
	assert_int_equal(cfg_parse_string(sample_defs, &c, "t.conf", text,
	    sizeof(text) - 1, &err), -1);
	assert_string_equal(buf_cstr(&err), "t.conf:1: NUL byte in line\n");
	buf_free(&err);
}

/* ------------------------------------------------------------ files */

static void
test_include(void **state)
{
	struct buf err = BUF_INIT(0), path = BUF_INIT(0), want = BUF_INIT(0);
	struct sample c;
	char *dir;

	(void)state;
	dir = make_dir();
	assert_int_equal(buf_appendf(&path, "%s/sub", dir), 1);
	assert_int_equal(mkdir(path.data, 0700), 0);
	write_file(dir, "main.conf",
	    "smtpd_port = 1\n"
	    "include = sub/a.conf\n"
	    "smtpd_banner = after\n");
	/* Relative to sub/, the folder of a.conf. */
	write_file(dir, "sub/a.conf",
	    "smtpd_port = 2\n"
	    "smtpd_banner = inner\n"
	    "include = b.conf\n");
	write_file(dir, "sub/b.conf", "smtpd_tls = yes\n");
	buf_reset(&path);
	assert_int_equal(buf_appendf(&path, "%s/main.conf", dir), 1);
	assert_int_equal(cfg_parse_file(sample_defs, &c, path.data, &err), 1);
	assert_string_equal(buf_cstr(&err), "");
	assert_int_equal(c.port, 2);
	assert_int_equal(c.tls, 1);
	assert_string_equal(c.banner, "after");
	cfg_free(sample_defs, &c);

	/* Errors name the included file; a missing one the include line. */
	write_file(dir, "sub/b.conf", "\nsmtpd_tls = bad\n");
	write_file(dir, "sub/a.conf", "include = b.conf\ninclude = none.conf\n"
	    "include =\n");
	assert_int_equal(cfg_parse_file(sample_defs, &c, path.data, &err), -1);
	assert_int_equal(buf_appendf(&want,
	    "%s/sub/b.conf:2: smtpd_tls: bad boolean 'bad' (expected yes or "
	    "no)\n"
	    "%s/sub/a.conf:2: include: cannot read '%s/sub/none.conf': No "
	    "such file or directory\n"
	    "%s/sub/a.conf:3: include: missing file name\n",
	    dir, dir, dir, dir), 1);
	assert_string_equal(buf_cstr(&err), want.data);
	assert_null(c.myhostname);

	/* An absolute include. */
	buf_reset(&err);
	buf_reset(&want);
	assert_int_equal(buf_appendf(&want, "include = %s/sub/c.conf\n", dir),
	    1);
	write_file(dir, "main.conf", want.data);
	write_file(dir, "sub/c.conf", "smtpd_port = 3\n");
	assert_int_equal(cfg_parse_file(sample_defs, &c, path.data, &err), 1);
	assert_int_equal(c.port, 3);
	cfg_free(sample_defs, &c);

	/* A directory is not a config file. */
	buf_reset(&want);
	assert_int_equal(buf_appendf(&want, "%s/sub: cannot read: not a "
	    "regular file\n", dir), 1);
	buf_reset(&path);
	assert_int_equal(buf_appendf(&path, "%s/sub", dir), 1);
	assert_int_equal(cfg_parse_file(sample_defs, &c, path.data, &err), -1);
	assert_string_equal(buf_cstr(&err), want.data);

	buf_reset(&err);
	assert_int_equal(cfg_parse_file(sample_defs, &c, "/nonexistent/x.conf",
	    &err), -1);
	assert_string_equal(buf_cstr(&err), "/nonexistent/x.conf: cannot read: "
	    "No such file or directory\n");

	remove_tree(dir);
	free(dir);
	buf_free(&err);
	buf_free(&path);
	buf_free(&want);
}

/* cfg_load records where each setting was set; cfg_where_error names
 * the line of the setting at fault, for a pair the one set last. */
static void
test_where(void **state)
{
	struct buf err = BUF_INIT(0), path = BUF_INIT(0), want = BUF_INIT(0);
	struct cfg_where *w = NULL;
	struct sample c;
	char *ov[] = { "smtpd_tls = yes", NULL }, *bad[] = { "x=1", NULL };
	char *dir;

	(void)state;
	dir = make_dir();
	assert_int_equal(buf_appendf(&path, "%s/sub", dir), 1);
	assert_int_equal(mkdir(path.data, 0700), 0);
	write_file(dir, "main.conf",
	    "# a comment\n"
	    "smtpd_port = 1\n"
	    "include = sub/a.conf\n"
	    "smtpd_data_timeout = 10s\n"
	    "mynetworks = 10.0.0.0/8,\n"
	    "    192.0.2.0/24\n"
	    "smtpd_port = 2\n");
	write_file(dir, "sub/a.conf", "\nmessage_size_limit = 2M\n");
	buf_reset(&path);
	assert_int_equal(buf_appendf(&path, "%s/main.conf", dir), 1);
	assert_int_equal(cfg_load(sample_defs, &c, path.data, ov, &w, &err), 1);
	assert_string_equal(buf_cstr(&err), "");
	assert_non_null(w);
	assert_int_equal(c.tls, 1);

	/* One setting: its line (the last assignment of a key given twice;
	 * the first line of a continued one). */
	cfg_where_error(w, &err, CFG_KEYS("smtpd_port"), "port %d", 2);
	cfg_where_error(w, &err, CFG_KEYS("mynetworks"), "nets");
	/* A pair: the line of the later one, the other named after. */
	cfg_where_error(w, &err, CFG_KEYS("smtpd_data_timeout",
	    "message_size_limit"), "pair");
	cfg_where_error(w, &err, CFG_KEYS("message_size_limit",
	    "smtpd_data_timeout"), "pair, other order");
	/* With a default: the one set. */
	cfg_where_error(w, &err, CFG_KEYS("myhostname", "message_size_limit"),
	    "with a default");
	/* An override is later than any line. */
	cfg_where_error(w, &err, CFG_KEYS("smtpd_tls", "smtpd_port"), "ov");
	/* Defaults only, or no setting: the main file. */
	cfg_where_error(w, &err, CFG_KEYS("myhostname", "smtpd_banner"), "dd");
	cfg_where_error(w, &err, NULL, "whole");
	assert_int_equal(buf_appendf(&want,
	    "%s/main.conf:7: port 2\n"
	    "%s/main.conf:5: nets\n"
	    "%s/main.conf:4: pair (see also message_size_limit at "
	    "%s/sub/a.conf:2)\n"
	    "%s/main.conf:4: pair, other order (see also message_size_limit "
	    "at %s/sub/a.conf:2)\n"
	    "%s/sub/a.conf:2: with a default\n"
	    "-o smtpd_tls: ov (see also smtpd_port at %s/main.conf:7)\n"
	    "%s/main.conf: dd\n"
	    "%s/main.conf: whole\n",
	    dir, dir, dir, dir, dir, dir, dir, dir, dir, dir), 1);
	assert_string_equal(buf_cstr(&err), want.data);
	cfg_where_free(&w);
	assert_null(w);
	cfg_free(sample_defs, &c);

	/* Failures leave nothing to free. */
	buf_reset(&err);
	assert_int_equal(cfg_load(sample_defs, &c, path.data, bad, &w, &err),
	    -1);
	assert_null(w);
	assert_null(c.myhostname);
	write_file(dir, "main.conf", "smtpd_port = 0\n");
	assert_int_equal(cfg_load(sample_defs, &c, path.data, NULL, &w, &err),
	    -1);
	assert_null(w);
	assert_non_null(strstr(buf_cstr(&err), "main.conf:1: smtpd_port"));
	remove_tree(dir);
	free(dir);
	buf_free(&err);
	buf_free(&path);
	buf_free(&want);
}

/* The checks after parsing, as a daemon's: mynetworks must be networks. */
static struct cfg_where *checked_where;
static int checked_calls;

static int
sample_check(void *arg, struct buf *err)
{
	struct sample *c = arg;
	const struct netaddr_cfg_list lists[] = {
		{ "mynetworks", &c->mynetworks, 1 },
	};

	checked_calls++;
	assert_non_null(checked_where);		/* set before the check */
	return netaddr_check_lists(checked_where, lists, 1, err);
}

static void
test_load_checked(void **state)
{
	struct buf err = BUF_INIT(0), path = BUF_INIT(0), want = BUF_INIT(0);
	struct sample c;
	char *dir;

	(void)state;
	dir = make_dir();
	assert_int_equal(buf_appendf(&path, "%s/main.conf", dir), 1);
	write_file(dir, "main.conf", "smtpd_port = 2\n"
	    "mynetworks = 10.0.0.0/8, 192.0.2.1\n");
	assert_int_equal(cfg_load_checked(sample_defs, &c, path.data, NULL,
	    &checked_where, sample_check, &err), 1);
	assert_int_equal(checked_calls, 1);
	assert_string_equal(buf_cstr(&err), "");
	assert_non_null(checked_where);
	assert_int_equal(c.port, 2);
	cfg_where_free(&checked_where);
	cfg_free(sample_defs, &c);

	/* A check that fails: every bad entry named at its line, nothing
	 * left to free. */
	write_file(dir, "main.conf", "smtpd_port = 2\n"
	    "mynetworks = 10.0.0.0/8, bogus,\n"
	    "    10.0.0.0/99\n");
	assert_int_equal(cfg_load_checked(sample_defs, &c, path.data, NULL,
	    &checked_where, sample_check, &err), -1);
	assert_int_equal(checked_calls, 2);
	assert_null(checked_where);
	assert_null(c.myhostname);
	assert_int_equal(buf_appendf(&want,
	    "%s/main.conf:2: mynetworks: 'bogus' is not an address or CIDR "
	    "network (e.g. 192.0.2.0/24)\n"
	    "%s/main.conf:2: mynetworks: '10.0.0.0/99' is not an address or "
	    "CIDR network (e.g. 192.0.2.0/24)\n", dir, dir), 1);
	assert_string_equal(buf_cstr(&err), want.data);

	/* A parse error: the check never runs. */
	buf_reset(&err);
	write_file(dir, "main.conf", "smtpd_port = 0\n");
	assert_int_equal(cfg_load_checked(sample_defs, &c, path.data, NULL,
	    &checked_where, sample_check, &err), -1);
	assert_int_equal(checked_calls, 2);
	assert_null(checked_where);
	remove_tree(dir);
	free(dir);
	buf_free(&err);
	buf_free(&path);
	buf_free(&want);
}

static void
test_include_depth(void **state)
{
	struct buf err = BUF_INIT(0), name = BUF_INIT(0), text = BUF_INIT(0);
	struct buf want = BUF_INIT(0);
	struct sample c;
	char *dir;
	int i;

	(void)state;
	dir = make_dir();
	/* f0 -> f1 -> ... -> f8: eight levels of nesting are allowed. */
	for (i = 0; i <= 9; i++) {
		buf_reset(&name);
		buf_reset(&text);
		assert_int_equal(buf_appendf(&name, "f%d.conf", i), 1);
		assert_int_equal(buf_appendf(&text, "smtpd_port = %d\n", i + 1),
		    1);
		if (i < 9)
			assert_int_equal(buf_appendf(&text,
			    "include = f%d.conf\n", i + 1), 1);
		write_file(dir, name.data, text.data);
	}
	write_file(dir, "f8.conf", "smtpd_port = 9\n");
	buf_reset(&name);
	assert_int_equal(buf_appendf(&name, "%s/f0.conf", dir), 1);
	assert_int_equal(cfg_parse_file(sample_defs, &c, name.data, &err), 1);
	assert_int_equal(c.port, 9);
	cfg_free(sample_defs, &c);

	/* Nine levels are too many. */
	write_file(dir, "f8.conf", "smtpd_port = 9\ninclude = f9.conf\n");
	assert_int_equal(cfg_parse_file(sample_defs, &c, name.data, &err), -1);
	assert_int_equal(buf_appendf(&want, "%s/f8.conf:2: include: nested "
	    "more than 8 levels deep (include cycle?)\n", dir), 1);
	assert_string_equal(buf_cstr(&err), want.data);

	/* A cycle is caught by the same limit, with a single message. */
	buf_reset(&err);
	buf_reset(&want);
	write_file(dir, "loop.conf", "smtpd_tls = yes\ninclude = loop.conf\n");
	buf_reset(&name);
	assert_int_equal(buf_appendf(&name, "%s/loop.conf", dir), 1);
	assert_int_equal(cfg_parse_file(sample_defs, &c, name.data, &err), -1);
	assert_int_equal(buf_appendf(&want, "%s/loop.conf:2: include: nested "
	    "more than 8 levels deep (include cycle?)\n", dir), 1);
	assert_string_equal(buf_cstr(&err), want.data);

	remove_tree(dir);
	free(dir);
	buf_free(&err);
	buf_free(&name);
	buf_free(&text);
	buf_free(&want);
}

/* Include paths in a string are relative to the current directory. */
static void
test_include_string(void **state)
{
	struct buf err = BUF_INIT(0);
	struct sample c;
	char *dir, cwd[4096];

	(void)state;
	dir = make_dir();
	write_file(dir, "x.conf", "smtpd_port = 42\n");
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(dir), 0);
	assert_int_equal(parse(&c, "include = x.conf\n", &err), 1);
	assert_int_equal(c.port, 42);
	cfg_free(sample_defs, &c);
	/* Include paths are quoted in messages. */
	assert_int_equal(parse(&c, "include = no\001such\n", &err), -1);
	assert_string_equal(buf_cstr(&err), "t.conf:1: include: cannot read "
	    "'no\\x01such': No such file or directory\n");
	assert_int_equal(chdir(cwd), 0);
	remove_tree(dir);
	free(dir);
	buf_free(&err);
}

/*
 * Files are read in 8 KiB chunks. Shift a sample across the chunk
 * boundary one byte at a time so every position of it is split once.
 */
static void
test_chunk_boundaries(void **state)
{
	static const char sample[] =
	    "smtpd_banner = a\r\n"
	    "  b\n"
	    "# c\n"
	    "\n"
	    "mynetworks = x,\n"
	    "\ty\n"
	    "smtpd_port = 587\n";
	struct buf err = BUF_INIT(0), text = BUF_INIT(0), path = BUF_INIT(0);
	struct sample c;
	size_t shift, pad;
	char *dir;

	(void)state;
	dir = make_dir();
	assert_int_equal(buf_appendf(&path, "%s/c.conf", dir), 1);
	for (shift = 0; shift <= sizeof(sample); shift++) {
		buf_reset(&text);
		pad = 8192 - shift;
		/* A comment line of pad bytes, newline included. */
		assert_int_equal(buf_appendc(&text, '#'), 1);
		while (text.len < pad - 1)
			assert_int_equal(buf_appendc(&text, '-'), 1);
		assert_int_equal(buf_appends(&text, "\n"), 1);
		assert_int_equal(buf_appends(&text, sample), 1);
		write_file(dir, "c.conf", text.data);
		buf_reset(&err);
		if (cfg_parse_file(sample_defs, &c, path.data, &err) != 1)
			fail_msg("shift %zu: %s", shift, buf_cstr(&err));
		assert_string_equal(c.banner, "a b");
		assert_int_equal(c.mynetworks.n, 2);
		assert_string_equal(c.mynetworks.v[1], "y");
		assert_int_equal(c.port, 587);
		cfg_free(sample_defs, &c);
	}
	remove_tree(dir);
	free(dir);
	buf_free(&err);
	buf_free(&text);
	buf_free(&path);
}

/* ------------------------------------------------------------ print, set */

static void
test_print(void **state)
{
	struct buf err = BUF_INIT(0);
	struct sample c;
	char *out;

	(void)state;
	assert_int_equal(parse(&c,
	    "myhostname = mx.example.test\n"	/* same as default */
	    "smtpd_data_timeout = 300s\n"	/* same, other spelling */
	    "message_size_limit = 52428800\n"
	    "big_time = 1500ms\n"
	    "big_size = 1536\n"
	    "big_number = -7\n"
	    "smtpd_tls = on\n"
	    "smtpd_tls_security_level = ENCRYPT\n"
	    "smtpd_banner = hi there\n", &err), 1);
	out = print_cfg(&c, 1);
	assert_string_equal(out,
	    "smtpd_banner = hi there\n"
	    "smtpd_tls = yes\n"
	    "message_size_limit = 50M\n"
	    "smtpd_tls_security_level = encrypt\n"
	    "big_number = -7\n"
	    "big_size = 1536\n"
	    "big_time = 1500ms\n");
	free(out);
	cfg_free(sample_defs, &c);

	assert_int_equal(parse(&c,
	    "big_time = 172800\n"
	    "big_size = 3072M\n"
	    "smtpd_data_timeout = 7200000ms\n", &err), 1);
	out = print_cfg(&c, 1);
	assert_string_equal(out,
	    "smtpd_data_timeout = 2h\n"
	    "big_size = 3G\n"
	    "big_time = 2d\n");
	free(out);
	cfg_free(sample_defs, &c);
	buf_free(&err);
}

/* Printed output parses back to the same values. */
static void
test_print_roundtrip(void **state)
{
	struct buf err = BUF_INIT(0);
	struct sample c;
	char *out1, *out2;

	(void)state;
	assert_int_equal(parse(&c,
	    "smtpd_banner = a  b\n"
	    "mynetworks = ,x,, y z\n"
	    "big_time = 90s\n"
	    "big_size = 1025K\n"
	    "big_number = -9223372036854775808\n"
	    "smtpd_tls = TRUE\n", &err), 1);
	out1 = print_cfg(&c, 0);
	cfg_free(sample_defs, &c);
	assert_int_equal(parse(&c, out1, &err), 1);
	out2 = print_cfg(&c, 0);
	assert_string_equal(out1, out2);
	assert_non_null(strstr(out1, "big_time = 90s\n"));
	assert_non_null(strstr(out1, "mynetworks = x, y, z\n"));
	free(out1);
	free(out2);
	cfg_free(sample_defs, &c);
	buf_free(&err);
}

static void
test_set(void **state)
{
	struct buf err = BUF_INIT(0);
	struct sample c;

	(void)state;
	assert_int_equal(cfg_defaults(sample_defs, &c, &err), 1);
	assert_int_equal(cfg_set(sample_defs, &c, "smtpd_port", " 465 ", &err),
	    1);
	assert_int_equal(c.port, 465);
	assert_int_equal(cfg_set(sample_defs, &c, "myhostname", "a.test", &err),
	    1);
	assert_string_equal(c.myhostname, "a.test");
	assert_int_equal(cfg_set(sample_defs, &c, "mynetworks", "", &err), 1);
	assert_int_equal(c.mynetworks.n, 0);
	assert_int_equal(cfg_set(sample_defs, &c, " smtpd_data_timeout ", "1h",
	    &err), 1);
	assert_int_equal(c.data_timeout, 3600000);
	assert_string_equal(buf_cstr(&err), "");

	/* A bad value leaves the field alone. */
	assert_int_equal(cfg_set(sample_defs, &c, "smtpd_port", "0", &err), -1);
	assert_int_equal(c.port, 465);
	assert_int_equal(cfg_set(sample_defs, &c, "smtpd_prot", "1", &err), -1);
	assert_int_equal(cfg_set(sample_defs, &c, "include", "/etc/passwd",
	    &err), -1);
	assert_int_equal(cfg_set(sample_defs, &c, "smtpd_banner", "a\nb",
	    &err), -1);
	assert_null(c.banner);
	assert_string_equal(buf_cstr(&err),
	    "smtpd_port: 0 is below the minimum 1\n"
	    "unknown setting 'smtpd_prot'; did you mean 'smtpd_port'?\n"
	    "unknown setting 'include'\n"
	    "smtpd_banner: newline in value\n");
	cfg_free(sample_defs, &c);
	/* cfg_free is safe twice and leaves zeroes. */
	cfg_free(sample_defs, &c);
	assert_null(c.myhostname);
	assert_null(c.mynetworks.v);
	assert_int_equal(c.mynetworks.n, 0);
	assert_int_equal(c.port, 0);
	buf_free(&err);
}

/* Every table bug is reported by cfg_defaults, and nothing leaks. */
static void
test_bad_table(void **state)
{
	static const char *const nochoice[] = { NULL };
	const struct cfg_def bad[] = {
		{ "a", CFG_STR, "kept", 0, 0, OFF(myhostname), NULL, NULL },
		{ "b", CFG_DURATION, "0", 1000, 2000, OFF(data_timeout), NULL,
		    NULL },
		{ "c", CFG_INT, "1", 5, 4, OFF(port), NULL, NULL },
		{ "d", CFG_ENUM, NULL, 0, 0, OFF(level), NULL, NULL },
		{ "e", CFG_ENUM, NULL, 0, 0, OFF(level), nochoice, NULL },
		{ "a", CFG_BOOL, "yes", 0, 0, OFF(tls), NULL, NULL },
		{ "include", CFG_STR, NULL, 0, 0, OFF(banner), NULL, NULL },
		{ "f", CFG_LIST, "x y", 0, 0, OFF(mynetworks), NULL, NULL },
		{ "g", CFG_BOOL, "sometimes", 0, 0, OFF(tls), NULL, NULL },
		{ "h", (enum cfg_type)99, NULL, 0, 0, OFF(big), NULL, NULL },
		{ NULL, 0, NULL, 0, 0, 0, NULL, NULL },
	};
	struct buf err = BUF_INIT(0);
	struct sample c;

	(void)state;
	assert_int_equal(cfg_defaults(bad, &c, &err), -1);
	assert_string_equal(buf_cstr(&err),
	    "default: b: 0s is below the minimum 1s\n"
	    "default: c: minimum above maximum\n"
	    "default: d: enum without choices\n"
	    "default: e: enum without choices\n"
	    "default: a: declared twice\n"
	    "default: reserved setting name 'include'\n"
	    "default: g: bad boolean 'sometimes' (expected yes or no)\n"
	    "default: h: unknown type 99\n");
	assert_null(c.myhostname);
	assert_null(c.mynetworks.v);
	buf_reset(&err);
	assert_int_equal(cfg_parse_string(bad, &c, "x", "a = 1\n", 6, &err),
	    -1);
	assert_non_null(strstr(buf_cstr(&err), "default: b:"));
	buf_free(&err);
}

/*
 * A valid text cut at every length: each prefix parses or fails cleanly,
 * prints, and frees (ASan/LSan catch the rest).
 */
static void
test_truncated(void **state)
{
	static const char text[] =
	    "# sample\n"
	    "myhostname = mx.example.test\n"
	    "smtpd_banner = $myhostname\n"
	    "   ESMTP\r\n"
	    "smtpd_port=587\n"
	    "clock_offset = -99\n"
	    "smtpd_tls = yes\n"
	    "message_size_limit = 50MB\n"
	    "smtpd_data_timeout = 1500ms\n"
	    "mynetworks = 10.0.0.0/8, [::1]/128\n"
	    "\t192.0.2.0/24\n"
	    "smtpd_tls_security_level = encrypt\n"
	    "big_number = -9223372036854775808\n"
	    "big_size = 8589934591G\n"
	    "big_time = 2w\n";
	struct buf err = BUF_INIT(0);
	struct sample c;
	size_t len;
	char *out, *copy;
	int r;

	(void)state;
	for (len = 0; len <= sizeof(text) - 1; len++) {
		/* An exact-size copy, so reading past len is caught. */
		copy = malloc(len ? len : 1);
		assert_non_null(copy);
		memcpy(copy, text, len);
		buf_reset(&err);
		r = cfg_parse_string(sample_defs, &c, "t", copy, len, &err);
		assert_true(r == 1 || r == -1);
		if (r == 1)
			assert_string_equal(buf_cstr(&err), "");
		else
			assert_true(err.len > 0);
		out = print_cfg(&c, len % 2);
		free(out);
		cfg_free(sample_defs, &c);
		free(copy);
	}
	buf_free(&err);
}

/* Crashers found by fuzz_cfg go here. */

/* An empty hostname becomes the system's; a set one stays. */
static void
test_hostname_default(void **state)
{
	char host[256], *h;

	(void)state;
	assert_int_equal(gethostname(host, sizeof(host)), 0);
	host[sizeof(host) - 1] = '\0';
	h = strdup("");
	assert_non_null(h);
	cfg_hostname_default(&h);
	assert_string_equal(h, host);
	free(h);
	h = strdup("mx.example");
	assert_non_null(h);
	cfg_hostname_default(&h);
	assert_string_equal(h, "mx.example");
	free(h);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_hostname_default),
		cmocka_unit_test(test_int),
		cmocka_unit_test(test_size),
		cmocka_unit_test(test_duration),
		cmocka_unit_test(test_bool),
		cmocka_unit_test(test_enum),
		cmocka_unit_test(test_list),
		cmocka_unit_test(test_string),
		cmocka_unit_test(test_unknown_key),
		cmocka_unit_test(test_missing_eq),
		cmocka_unit_test(test_continuation),
		cmocka_unit_test(test_comments_crlf),
		cmocka_unit_test(test_last_wins),
		cmocka_unit_test(test_many_errors),
		cmocka_unit_test(test_long_line),
		cmocka_unit_test(test_nul_byte),
		cmocka_unit_test(test_include),
		cmocka_unit_test(test_include_depth),
		cmocka_unit_test(test_where),
		cmocka_unit_test(test_load_checked),
		cmocka_unit_test(test_include_string),
		cmocka_unit_test(test_chunk_boundaries),
		cmocka_unit_test(test_print),
		cmocka_unit_test(test_print_roundtrip),
		cmocka_unit_test(test_set),
		cmocka_unit_test(test_bad_table),
		cmocka_unit_test(test_truncated),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
