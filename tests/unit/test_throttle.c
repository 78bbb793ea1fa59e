/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * Unit tests for throttle: which replies are throttling signals, how a
 * destination is lowered (halved, floor 1, pause doubling to the
 * maximum), raised back step by step and forgotten once restored, pacing,
 * and that the state survives a restart through a real queue index.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/buf.h"
#include "lib/log.h"
#include "relay/qidx.h"
#include "relay/relay_cfg.h"
#include "relay/throttle.h"

#define PATTERNS	"too many connections, rate limit , try again later"
#define KEY		"smtp:[192.0.2.1]:25"

static void
test_signals(void **state)
{
	static const struct {
		const char *reply;
		int want;
	} c[] = {
		{ "421 4.7.0 Too many connections from your IP", 1 },
		{ "451 4.7.1 You are RATE LIMITED, slow down", 1 },
		{ "421 Service busy, try again later", 1 },
		{ "421-4.7.0 too many connections", 1 },
		{ "450 4.7.0 Too many connections", 0 },	/* not 421/451 */
		{ "550 5.7.1 rate limit exceeded", 0 },
		{ "421 4.4.2 connection timed out", 0 },	/* no pattern */
		{ "451 4.3.0 Error: queue file write error", 0 },
		{ "4210 too many connections", 0 },
		{ "421", 0 },
		{ "", 0 },
		{ "connect: Connection refused", 0 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(c) / sizeof(*c); i++) {
		if (throttle_reply_signals(PATTERNS, c[i].reply) != c[i].want)
			fail_msg("%s: expected %d", c[i].reply, c[i].want);
	}
	assert_int_equal(throttle_reply_signals("", "421 too many "
	    "connections"), 0);
	assert_int_equal(throttle_reply_signals(" , ,", "421 x"), 0);
}

struct env {
	char		 dir[64];
	char		 path[96];
	struct relay_cfg cfg;
	struct qidx	*idx;
};

static void
env_open(struct env *e)
{
	const char *errstr;

	assert_int_equal(qidx_open(e->path, 0, &e->idx, &errstr), 1);
}

static int
env_setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	struct buf err = BUF_INIT(0);
	char cfgpath[128];
	FILE *f;

	assert_non_null(e);
	(void)snprintf(e->dir, sizeof(e->dir), "/tmp/test_throttle.XXXXXX");
	assert_non_null(mkdtemp(e->dir));
	(void)snprintf(e->path, sizeof(e->path), "%s/index.db", e->dir);
	(void)snprintf(cfgpath, sizeof(cfgpath), "%s/e.conf", e->dir);
	assert_non_null(f = fopen(cfgpath, "w"));
	fprintf(f, "spool_dir = %s\nlisten_mx = 127.0.0.1:2525\n"
	    "deliver_dest_concurrency = 8\ndeliver_throttle_delay = 1s\n"
	    "deliver_throttle_delay_max = 3s\ndeliver_throttle_recover = 2\n"
	    "deliver_throttle_patterns = " PATTERNS "\n", e->dir);
	fclose(f);
	if (relay_cfg_load(&e->cfg, cfgpath, NULL, &err) != 1)
		fail_msg("%s", buf_cstr(&err));
	buf_free(&err);
	unlink(cfgpath);
	env_open(e);
	*state = e;
	return 0;
}

static int
env_teardown(void **state)
{
	struct env *e = *state;
	char p[128];

	qidx_close(&e->idx);
	relay_cfg_free(&e->cfg);
	(void)snprintf(p, sizeof(p), "rm -rf '%s'", e->dir);
	assert_int_equal(system(p), 0);
	free(e);
	return 0;
}

static int
count_dest(void *arg, const struct qidx_dest *d)
{
	int *n = arg;

	(void)d;
	(*n)++;
	return 1;
}

static void
test_lower_raise(void **state)
{
	struct env *e = *state;
	struct throttle *t = throttle_new(&e->cfg, e->idx);
	long long pace, wake = 0;
	int n = 0;

	/* Untouched destinations get the configured concurrency. */
	assert_int_equal(throttle_limit(t, KEY, &pace), 8);
	assert_int_equal(pace, 0);
	assert_int_equal(throttle_allow(t, KEY, 7, 1000, &wake), 1);
	assert_int_equal(throttle_allow(t, KEY, 8, 1000, &wake), 0);
	/* Successes of a destination that is not throttled change nothing. */
	throttle_result(t, KEY, NULL, 5, 1000);
	assert_int_equal(throttle_limit(t, KEY, &pace), 8);

	/* Signals: 8 -> 4 -> 2 -> 1 -> 1; pause 1s, 2s, 3s (max), 3s. */
	throttle_result(t, KEY, "421 4.7.0 too many connections", 0, 1000);
	assert_int_equal(throttle_limit(t, KEY, &pace), 4);
	assert_int_equal(pace, 1000);
	throttle_result(t, KEY, "421 too many connections", 0, 1000);
	assert_int_equal(throttle_limit(t, KEY, &pace), 2);
	assert_int_equal(pace, 2000);
	throttle_result(t, KEY, "421 too many connections", 0, 1000);
	throttle_result(t, KEY, "421 too many connections", 0, 1000);
	assert_int_equal(throttle_limit(t, KEY, &pace), 1);
	assert_int_equal(pace, 3000);
	assert_int_equal(qidx_foreach_dest(e->idx, count_dest, &n), 1);

	/* Pacing: one start, then nothing until the pause is over. */
	assert_int_equal(throttle_allow(t, KEY, 0, 10000, &wake), 1);
	throttle_started(t, KEY, 10000);
	assert_int_equal(throttle_allow(t, KEY, 0, 12999, &wake), 0);
	assert_int_equal(wake, 13000);
	assert_int_equal(throttle_allow(t, KEY, 0, 13000, &wake), 1);
	assert_int_equal(throttle_allow(t, KEY, 1, 13000, &wake), 0);

	/* Recovery: each delivering job halves the pause, every 2
	 * delivered recipients add one. */
	throttle_result(t, KEY, NULL, 1, 20000);
	assert_int_equal(throttle_limit(t, KEY, &pace), 1);
	assert_int_equal(pace, 1500);
	throttle_result(t, KEY, NULL, 1, 20000);
	assert_int_equal(throttle_limit(t, KEY, &pace), 2);
	assert_int_equal(pace, 750);
	throttle_result(t, KEY, NULL, 2, 20000);
	assert_int_equal(throttle_limit(t, KEY, &pace), 3);
	assert_int_equal(pace, 0);		/* below delay/2: no pause */
	throttle_result(t, KEY, NULL, 2, 20000);
	assert_int_equal(throttle_limit(t, KEY, &pace), 4);
	assert_int_equal(pace, 0);
	throttle_free(&t);

	/* A restart (new table, same index) finds it where it was. */
	qidx_close(&e->idx);
	env_open(e);
	t = throttle_new(&e->cfg, e->idx);
	assert_int_equal(throttle_limit(t, KEY, &pace), 4);
	assert_int_equal(pace, 0);
	for (n = 0; n < 4; n++)
		throttle_result(t, KEY, NULL, 2, 30000);
	assert_int_equal(throttle_limit(t, KEY, &pace), 8);
	/* Restored: gone from the index. */
	n = 0;
	assert_int_equal(qidx_foreach_dest(e->idx, count_dest, &n), 0);
	assert_int_equal(n, 0);
	throttle_free(&t);
}

static void
test_expire(void **state)
{
	struct env *e = *state;
	struct throttle *t = throttle_new(&e->cfg, e->idx);
	long long pace, now = (long long)time(NULL);
	int n = 0;

	throttle_result(t, KEY, "421 too many connections", 0, now * 1000);
	throttle_result(t, "mx:other.example:25", "421 too many connections",
	    0, now * 1000 + 999);
	throttle_expire(t, now + 3600 - 5);	/* default forget: 1h */
	assert_int_equal(throttle_limit(t, KEY, &pace), 4);
	assert_int_equal(qidx_foreach_dest(e->idx, count_dest, &n), 2);
	throttle_expire(t, now + 3600 + 5);
	assert_int_equal(throttle_limit(t, KEY, &pace), 8);
	assert_int_equal(pace, 0);
	assert_int_equal(throttle_limit(t, "mx:other.example:25", &pace), 8);
	n = 0;
	assert_int_equal(qidx_foreach_dest(e->idx, count_dest, &n), 0);
	throttle_free(&t);
}

/*
 * The time of a change is the caller's (qmgr's clock_gettime, the clock
 * of throttle_expire's now), never time(NULL), glibc's coarse clock a
 * tick behind: a change at 1000.999 s and one raised at 2000.5 s are
 * forgotten exactly deliver_throttle_forget later on that clock.
 */
static void
test_change_time(void **state)
{
	struct env *e = *state;
	struct throttle *t = throttle_new(&e->cfg, e->idx);
	long long pace;

	throttle_result(t, KEY, "421 too many connections", 0, 1000999);
	throttle_result(t, KEY, "421 too many connections", 0, 1000999);
	throttle_expire(t, 1000 + 3599);
	assert_int_equal(throttle_limit(t, KEY, &pace), 2);
	throttle_expire(t, 1000 + 3600);
	assert_int_equal(throttle_limit(t, KEY, &pace), 8);	/* forgotten */
	/* A raise is a change too. */
	throttle_result(t, KEY, "421 too many connections", 0, 1000000);
	throttle_result(t, KEY, NULL, 1, 2000500);	/* pace halved */
	throttle_expire(t, 2000 + 3599);
	assert_int_equal(throttle_limit(t, KEY, &pace), 4);
	throttle_expire(t, 2000 + 3600);
	assert_int_equal(throttle_limit(t, KEY, &pace), 8);
	throttle_free(&t);
}

static void
test_disabled(void **state)
{
	struct env *e = *state;
	struct throttle *t;
	long long pace;

	e->cfg.deliver_throttle = 0;
	t = throttle_new(&e->cfg, e->idx);
	throttle_result(t, KEY, "421 too many connections", 0, 1000);
	assert_int_equal(throttle_limit(t, KEY, &pace), 8);
	throttle_free(&t);
	e->cfg.deliver_throttle = 1;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_signals),
		cmocka_unit_test_setup_teardown(test_lower_raise, env_setup,
		    env_teardown),
		cmocka_unit_test_setup_teardown(test_change_time, env_setup,
		    env_teardown),
		cmocka_unit_test_setup_teardown(test_expire, env_setup,
		    env_teardown),
		cmocka_unit_test_setup_teardown(test_disabled, env_setup,
		    env_teardown),
	};

	log_init("test_throttle", LOG_TARGET_STDERR, LOG_LEVEL_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
