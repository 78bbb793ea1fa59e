/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * Unit tests for route: transport syntax, the order of routing rules,
 * TLS policies and configuration checks (through relay_cfg_load).
 */
#include "config.h"

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
#include "relay/relay_cfg.h"
#include "relay/route.h"

static void
test_parse(void **state)
{
	static const struct {
		const char *t;
		enum route_kind kind;
		const char *host;
		int port;
	} ok[] = {
		{ "smtp:", ROUTE_SMTP_MX, NULL, 25 },
		{ "smtp:mail.example.org", ROUTE_SMTP_MX, "mail.example.org", 25 },
		{ "smtp:mail.example.org:2525", ROUTE_SMTP_MX, "mail.example.org",
		  2525 },
		{ "smtp:[10.0.0.1]", ROUTE_SMTP_HOST, "10.0.0.1", 25 },
		{ "smtp:[relay.example.org]:587", ROUTE_SMTP_HOST,
		  "relay.example.org", 587 },
		{ "smtp:[2001:db8::1]:25", ROUTE_SMTP_HOST, "2001:db8::1", 25 },
		{ "lmtp:127.0.0.1:2424", ROUTE_LMTP_INET, "127.0.0.1", 2424 },
		{ "lmtp:[::1]:24", ROUTE_LMTP_INET, "::1", 24 },
	};
	static const char *const bad[] = {
		"", "smtp", "smtp:[]", "smtp:[h", "smtp:h:0", "smtp:h:70000",
		"smtp:h:x", "smtp:2001:db8::1", "lmtp:", "lmtp:unix:relative",
		"error:", "error:6.1.1 no", "error:5.1", "uucp:x", "discard:x",
		"error:5.... dots", "error:5.1.1.1 four", "error:5.1111 one",
		"error:5..11 empty", "error:5.1.1234 long", "error:5.1. no",
		"error:5.1.1x text",
	};
	struct route r;
	const char *errstr;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		assert_int_equal(route_parse(ok[i].t, &r, &errstr), 1);
		assert_int_equal(r.kind, ok[i].kind);
		if (ok[i].host)
			assert_string_equal(r.host, ok[i].host);
		else
			assert_null(r.host);
		assert_int_equal(r.port, ok[i].port);
		route_free(&r);
	}
	assert_int_equal(route_parse("lmtp:unix:/run/b/lmtp", &r, &errstr), 1);
	assert_int_equal(r.kind, ROUTE_LMTP_UNIX);
	assert_string_equal(r.path, "/run/b/lmtp");
	route_free(&r);
	assert_int_equal(route_parse("error:5.1.1 No such domain here", &r,
	    &errstr), 1);
	assert_int_equal(r.kind, ROUTE_ERROR);
	assert_string_equal(r.status, "5.1.1");
	assert_string_equal(r.text, "No such domain here");
	route_free(&r);
	assert_int_equal(route_parse("error:5.123.456 three digits", &r,
	    &errstr), 1);
	assert_string_equal(r.status, "5.123.456");
	route_free(&r);
	assert_int_equal(route_parse("discard", &r, &errstr), 1);
	assert_int_equal(r.kind, ROUTE_DISCARD);
	route_free(&r);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		errstr = NULL;
		assert_int_equal(route_parse(bad[i], &r, &errstr), -1);
		assert_non_null(errstr);
	}
}

static int
load(struct relay_cfg *cfg, const char *text, struct buf *err)
{
	char path[] = "/tmp/test_route.XXXXXX";
	int fd = mkstemp(path), r;

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	memset(cfg, 0, sizeof(*cfg));
	r = relay_cfg_load(cfg, path, NULL, err);
	unlink(path);
	return r;
}

static void
check_route(const struct relay_cfg *cfg, const char *domain,
    const char *key, const char *rule, int tls)
{
	struct route r;
	struct buf b = BUF_INIT(0);
	const char *errstr;

	assert_int_equal(route_for(cfg, domain, &r, &errstr), 1);
	route_key(&r, domain, &b);
	assert_string_equal(buf_cstr(&b), key);
	assert_string_equal(r.rule, rule);
	if (tls >= 0)
		assert_int_equal(r.tls, tls);
	route_free(&r);
	buf_free(&b);
}

/* Where the TLS policy came from (queue show's timeline names it). */
static void
check_tls_rule(const struct relay_cfg *cfg, const char *domain,
    const char *tls_rule)
{
	struct route r;
	const char *errstr;

	assert_int_equal(route_for(cfg, domain, &r, &errstr), 1);
	assert_non_null(r.tls_rule);
	assert_string_equal(r.tls_rule, tls_rule);
	route_free(&r);
}

static void
test_order(void **state)
{
	struct relay_cfg cfg;
	struct buf err = BUF_INIT(0);

	(void)state;
	assert_int_equal(load(&cfg,
	    "spool_dir = /tmp/x\nlisten_mx = 127.0.0.1:2525\n"
	    "local_domains = example.test\n"
	    "local_transport = lmtp:127.0.0.1:2424\n"
	    "transports = special.example.org=smtp:[10.0.0.9]:2525,"
	    " .corp.example=lmtp:unix:/run/corp, dead.example=error:5.1.2 gone,"
	    " a.corp.example=discard\n"
	    "smtp_tls_policies = secure.example=verify, .lax.example=none\n",
	    &err), 1);
	check_route(&cfg, "example.test", "lmtp:127.0.0.1:2424",
	    "local_transport", -1);
	check_route(&cfg, "special.example.org", "smtp:[10.0.0.9]:2525",
	    "transports", ROUTE_TLS_MAY);
	check_route(&cfg, "x.corp.example", "lmtp:unix:/run/corp",
	    "transports", -1);
	check_route(&cfg, "a.corp.example", "discard", "transports", -1);
	check_route(&cfg, "dead.example", "error:5.1.2", "transports", -1);
	/* ".corp.example" does not match corp.example itself. */
	check_route(&cfg, "corp.example", "mx:corp.example:25",
	    "default_transport", ROUTE_TLS_MAY);
	check_route(&cfg, "secure.example", "mx:secure.example:25",
	    "default_transport", ROUTE_TLS_VERIFY);
	check_route(&cfg, "b.lax.example", "mx:b.lax.example:25",
	    "default_transport", ROUTE_TLS_NONE);
	check_tls_rule(&cfg, "secure.example", "smtp_tls_policies");
	check_tls_rule(&cfg, "b.lax.example", "smtp_tls_policies");
	check_tls_rule(&cfg, "corp.example", "smtp_tls");
	check_tls_rule(&cfg, "special.example.org", "smtp_tls");
	check_tls_rule(&cfg, "x.corp.example", "no TLS over LMTP");
	check_tls_rule(&cfg, "example.test", "no TLS over LMTP");
	relay_cfg_free(&cfg);

	/* relayhost takes everything that is not local or ruled. */
	assert_int_equal(load(&cfg,
	    "spool_dir = /tmp/x\nlisten_mx = 127.0.0.1:2525\n"
	    "local_domains = example.test\nrelayhost = [smart.example]:587\n"
	    "transports = direct.example=smtp:\n", &err), 1);
	check_route(&cfg, "gmail.example", "smtp:[smart.example]:587",
	    "relayhost", ROUTE_TLS_ENCRYPT);
	check_route(&cfg, "direct.example", "mx:direct.example:25",
	    "transports", -1);
	check_tls_rule(&cfg, "gmail.example", "relayhost_tls");
	check_tls_rule(&cfg, "direct.example", "smtp_tls");
	relay_cfg_free(&cfg);
	buf_free(&err);
}

static void
test_bad_config(void **state)
{
	struct relay_cfg cfg;
	struct buf err = BUF_INIT(0);

	(void)state;
	assert_int_equal(load(&cfg,
	    "spool_dir = /tmp/x\nlisten_mx = 127.0.0.1:2525\n"
	    "transports = nodest, x.example=uucp:foo\n"
	    "local_transport = lmtp:unix:rel\nrelayhost = [bad\n"
	    "smtp_tls_policies = y.example=sometimes\n", &err), -1);
	assert_non_null(strstr(buf_cstr(&err),
	    "every item must be domain=transport"));
	assert_non_null(strstr(buf_cstr(&err), "x.example=uucp:foo"));
	assert_non_null(strstr(buf_cstr(&err), "local_transport:"));
	assert_non_null(strstr(buf_cstr(&err), "relayhost:"));
	assert_non_null(strstr(buf_cstr(&err), "y.example=sometimes"));
	buf_free(&err);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_order),
		cmocka_unit_test(test_bad_config),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
