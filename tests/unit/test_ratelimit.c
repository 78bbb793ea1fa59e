/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * Unit tests for ratelimit: windows with a controlled clock (checked
 * against a brute-force model), namespaces, long keys, LRU eviction,
 * concurrency slots, the invariants that abort, and several processes
 * sharing one region, including processes killed while they hold the lock.
 * Built with -DRATELIMIT_TEST_HOOKS (see Makefile.am).
 */
#include "config.h"

#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/ratelimit.h"

#define MIN		60000LL
#define GRAN_MIN	4000LL		/* ceil(MIN / RATELIMIT_SUBWINDOWS) */
#define NCHILD		8
#define TEST_DEADLINE	120		/* s, against a deadlock */

/* ----------------------------------------------------------- helpers */

static void
check_ok(struct ratelimit *rl)
{
	const char *err = "(none)";
	int r = ratelimit_test_check(rl, &err);

	if (r != 1)
		fail_msg("ratelimit invariant broken: %s", err);
}

static struct ratelimit_stats
stats(struct ratelimit *rl)
{
	struct ratelimit_stats st;

	ratelimit_stats(rl, &st);
	return st;
}

static int
hit(struct ratelimit *rl, const char *ns, const char *key, long long limit,
    long long n, long long now, long long *count_r)
{
	return ratelimit_hit(rl, ns, key, MIN, limit, n, now, count_r);
}

static long long
peek(struct ratelimit *rl, const char *ns, const char *key, long long now)
{
	return ratelimit_peek(rl, ns, key, MIN, now);
}

static void *
shared_alloc(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	assert_true(p != MAP_FAILED);
	return p;
}

static uint64_t
xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* A child never outlives the test, even when the test dies. */
static void
child_init(void)
{
	(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
	(void)alarm(TEST_DEADLINE);
}

/* Blocks until the parent closes the write end (a start barrier). */
static void
barrier_wait(int p[2])
{
	char c;

	(void)close(p[1]);
	while (read(p[0], &c, 1) == -1 && errno == EINTR)
		;
	(void)close(p[0]);
}

static int
reap(pid_t pid)
{
	int status;

	while (waitpid(pid, &status, 0) == -1)
		assert_int_equal(errno, EINTR);
	return status;
}

static char *
long_key(size_t len, char fill, char last)
{
	char *k = malloc(len + 1);

	assert_non_null(k);
	memset(k, fill, len);
	k[len - 1] = last;
	k[len] = '\0';
	return k;
}

/* ----------------------------------------------------------- region */

static void
test_new_free(void **state)
{
	struct ratelimit *rl;

	(void)state;
	errno = 0;
	assert_null(ratelimit_new(0, 4));
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_null(ratelimit_new((size_t)1 << 31, 0));
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_null(ratelimit_new(1, SIZE_MAX));
	assert_int_equal(errno, EINVAL);
	rl = ratelimit_new(1, 0);
	assert_non_null(rl);
	assert_int_equal(stats(rl).keys_max, 1);
	assert_int_equal(stats(rl).keys_used, 0);
	assert_int_equal(stats(rl).slots_max, 0);
	check_ok(rl);
	ratelimit_free(&rl);
	assert_null(rl);
	ratelimit_free(&rl);
	ratelimit_free(NULL);
}

/* ----------------------------------------------------------- windows */

static void
test_limit_reached(void **state)
{
	struct ratelimit *rl = ratelimit_new(16, 0);
	long long c = -1;

	(void)state;
	assert_int_equal(hit(rl, "conn", "192.0.2.1", 3, 1, 1000, &c), 1);
	assert_int_equal(c, 1);
	assert_int_equal(hit(rl, "conn", "192.0.2.1", 3, 1, 1000, &c), 1);
	assert_int_equal(hit(rl, "conn", "192.0.2.1", 3, 1, 1000, &c), 1);
	assert_int_equal(c, 3);
	/* Refused: nothing counted. */
	assert_int_equal(hit(rl, "conn", "192.0.2.1", 3, 1, 1000, &c), 0);
	assert_int_equal(c, 3);
	assert_int_equal(hit(rl, "conn", "192.0.2.1", 3, 1, 1000, NULL), 0);
	assert_int_equal(peek(rl, "conn", "192.0.2.1", 1000), 3);
	/* Still inside the window, and inside the granule after it. */
	assert_int_equal(hit(rl, "conn", "192.0.2.1", 3, 1, 59999, &c), 0);
	assert_int_equal(hit(rl, "conn", "192.0.2.1", 3, 1, 1000 + MIN, &c),
	    0);
	assert_int_equal(hit(rl, "conn", "192.0.2.1", 3, 1,
	    (RATELIMIT_SUBWINDOWS + 1) * GRAN_MIN - 1, &c), 0);
	assert_int_equal(c, 3);
	/* Bucket 0 leaves the window: forgotten. */
	assert_int_equal(hit(rl, "conn", "192.0.2.1", 3, 1,
	    (RATELIMIT_SUBWINDOWS + 1) * GRAN_MIN, &c), 1);
	assert_int_equal(c, 1);
	check_ok(rl);
	ratelimit_free(&rl);
}

static void
test_window_slides(void **state)
{
	struct ratelimit *rl = ratelimit_new(16, 0);
	long long c;

	(void)state;
	assert_int_equal(hit(rl, "authfail", "a", 3, 2, 0, &c), 1);
	assert_int_equal(hit(rl, "authfail", "a", 3, 1, 30000, &c), 1);
	assert_int_equal(c, 3);
	assert_int_equal(hit(rl, "authfail", "a", 3, 1, 40000, &c), 0);
	/* The two events of t=0 (bucket 0) go at 16 granules. */
	assert_int_equal(peek(rl, "authfail", "a", 63999), 3);
	assert_int_equal(peek(rl, "authfail", "a", 64000), 1);
	assert_int_equal(hit(rl, "authfail", "a", 3, 2, 64000, &c), 1);
	assert_int_equal(c, 3);
	assert_int_equal(hit(rl, "authfail", "a", 3, 1, 64000, &c), 0);
	/* t=30000 is in bucket 7: forgotten at (7 + 16) granules. */
	assert_int_equal(peek(rl, "authfail", "a", 23 * GRAN_MIN - 1), 3);
	assert_int_equal(peek(rl, "authfail", "a", 23 * GRAN_MIN), 2);
	/* t=64000 is bucket 16: forgotten at 32 granules. */
	assert_int_equal(peek(rl, "authfail", "a", 32 * GRAN_MIN - 1), 2);
	assert_int_equal(peek(rl, "authfail", "a", 32 * GRAN_MIN), 0);
	/* Far later: the whole ring is stale. */
	assert_int_equal(hit(rl, "authfail", "a", 3, 3, 10 * MIN, &c), 1);
	assert_int_equal(c, 3);
	check_ok(rl);
	ratelimit_free(&rl);
}

static void
test_n_above_one(void **state)
{
	struct ratelimit *rl = ratelimit_new(16, 0);
	long long c;

	(void)state;
	assert_int_equal(hit(rl, "urcpt", "alice", 10, 4, 0, &c), 1);
	assert_int_equal(c, 4);
	assert_int_equal(hit(rl, "urcpt", "alice", 10, 4, 0, &c), 1);
	assert_int_equal(c, 8);
	/* 8 + 4 > 10: refused whole, nothing counted. */
	assert_int_equal(hit(rl, "urcpt", "alice", 10, 4, 0, &c), 0);
	assert_int_equal(c, 8);
	assert_int_equal(hit(rl, "urcpt", "alice", 10, 2, 0, &c), 1);
	assert_int_equal(c, 10);
	/* n = 0 only tests: at the limit is still within it. */
	assert_int_equal(hit(rl, "urcpt", "alice", 10, 0, 0, &c), 1);
	assert_int_equal(c, 10);
	/* A reload lowered the limit below the count. */
	assert_int_equal(hit(rl, "urcpt", "alice", 5, 0, 0, &c), 0);
	assert_int_equal(c, 10);
	/* A new key: n > limit or n = 0 stores nothing. */
	assert_int_equal(hit(rl, "urcpt", "bob", 10, 11, 0, &c), 0);
	assert_int_equal(c, 0);
	assert_int_equal(hit(rl, "urcpt", "carol", 10, 0, 0, &c), 1);
	assert_int_equal(c, 0);
	assert_int_equal(stats(rl).keys_used, 1);
	/* Limit 0 refuses everything but n = 0. */
	assert_int_equal(hit(rl, "urcpt", "dave", 0, 1, 0, &c), 0);
	assert_int_equal(hit(rl, "urcpt", "dave", 0, 0, 0, &c), 1);
	check_ok(rl);
	ratelimit_free(&rl);
}

/*
 * Random clock steps and n, checked against a brute-force model of
 * every accepted event: the count is exactly the events of the current
 * bucket and the RATELIMIT_SUBWINDOWS before it, never below the exact
 * sliding count, and no window_ms span ever holds more than limit.
 */
static void
test_model(void **state)
{
	enum { STEPS = 4000 };
	static long long ev_t[STEPS], ev_n[STEPS];
	const long long window = 10000, limit = 20;
	const long long g = (window + RATELIMIT_SUBWINDOWS - 1) /
	    RATELIMIT_SUBWINDOWS;
	struct ratelimit *rl = ratelimit_new(4, 0);
	uint64_t seed = 0x9e3779b97f4a7c15ULL;
	long long t = 0, n, c, before, exact, model, lo;
	size_t nev = 0, i, step;
	int ok;

	(void)state;
	for (step = 0; step < STEPS; step++) {
		t += (long long)(xorshift(&seed) % 400);
		n = 1 + (long long)(xorshift(&seed) % 3);
		ok = ratelimit_hit(rl, "conn", "m", window, limit, n, t, &c);
		before = c - (ok ? n : 0);
		lo = (t / g - RATELIMIT_SUBWINDOWS) * g;
		for (exact = model = 0, i = 0; i < nev; i++) {
			exact += ev_t[i] >= t - window ? ev_n[i] : 0;
			model += ev_t[i] >= lo ? ev_n[i] : 0;
		}
		assert_int_equal(before, model);
		assert_true(before >= exact);
		assert_int_equal(ok, before + n <= limit);
		assert_int_equal(ratelimit_peek(rl, "conn", "m", window, t),
		    c);
		if (ok) {
			ev_t[nev] = t;
			ev_n[nev++] = n;
			assert_true(exact + n <= limit);
		}
	}
	assert_true(nev > STEPS / 10);
	ratelimit_free(&rl);
}

static void
test_window_change(void **state)
{
	struct ratelimit *rl = ratelimit_new(4, 0);
	const long long g10 = (10000 + RATELIMIT_SUBWINDOWS - 1) /
	    RATELIMIT_SUBWINDOWS, b = 30000 / g10;
	long long c;

	(void)state;
	assert_int_equal(hit(rl, "umsg", "u", 3, 3, 0, &c), 1);
	/* Reload: window 1 min -> 10 s. The count moves into the current
	 * bucket of the new window: kept for a full new window. */
	assert_int_equal(ratelimit_hit(rl, "umsg", "u", 10000, 3, 1, 30000,
	    &c), 0);
	assert_int_equal(c, 3);
	assert_int_equal(ratelimit_peek(rl, "umsg", "u", 10000,
	    (b + RATELIMIT_SUBWINDOWS + 1) * g10 - 1), 3);
	assert_int_equal(ratelimit_peek(rl, "umsg", "u", 10000,
	    (b + RATELIMIT_SUBWINDOWS + 1) * g10), 0);
	assert_int_equal(ratelimit_hit(rl, "umsg", "u", 10000, 3, 3,
	    (b + RATELIMIT_SUBWINDOWS + 1) * g10, &c), 1);
	check_ok(rl);
	ratelimit_free(&rl);
}

static void
test_clock_behind(void **state)
{
	struct ratelimit *rl = ratelimit_new(4, 0);
	long long c;

	(void)state;
	assert_int_equal(hit(rl, "conn", "k", 2, 1, 100000, &c), 1);
	/* Another worker read the clock earlier but locked later: its event
	 * goes into the newest bucket (expires later, never earlier). */
	assert_int_equal(hit(rl, "conn", "k", 2, 1, 50000, &c), 1);
	assert_int_equal(c, 2);
	assert_int_equal(hit(rl, "conn", "k", 2, 1, 50000, &c), 0);
	assert_int_equal(peek(rl, "conn", "k", 100000), 2);
	assert_int_equal(peek(rl, "conn", "k", (25 + 16) * GRAN_MIN - 1), 2);
	assert_int_equal(peek(rl, "conn", "k", (25 + 16) * GRAN_MIN), 0);
	ratelimit_free(&rl);
}

/* ----------------------------------------------------------- keys */

static void
test_namespaces_and_keys(void **state)
{
	struct ratelimit *rl = ratelimit_new(64, 0);
	long long c;

	(void)state;
	assert_int_equal(hit(rl, "conn", "192.0.2.1", 1, 1, 0, &c), 1);
	assert_int_equal(hit(rl, "authfail", "192.0.2.1", 1, 1, 0, &c), 1);
	assert_int_equal(hit(rl, "conn", "192.0.2.10", 1, 1, 0, &c), 1);
	assert_int_equal(hit(rl, "conn", "192.0.2.", 1, 1, 0, &c), 1);
	assert_int_equal(hit(rl, "connx", "192.0.2.1", 1, 1, 0, &c), 1);
	assert_int_equal(hit(rl, "conn", "", 1, 1, 0, &c), 1);
	assert_int_equal(hit(rl, "123456789012345", "192.0.2.1", 1, 1, 0, &c),
	    1);
	assert_int_equal(hit(rl, "conn", "192.0.2.1", 1, 1, 0, &c), 0);
	assert_int_equal(hit(rl, "authfail", "192.0.2.1", 1, 1, 0, &c), 0);
	assert_int_equal(hit(rl, "conn", "", 1, 1, 0, &c), 0);
	assert_int_equal(peek(rl, "umsg", "192.0.2.1", 0), 0);
	assert_int_equal(peek(rl, "conn", "192.0.2.2", 0), 0);
	assert_int_equal(peek(rl, "conn", "192.0.2.10", 0), 1);
	assert_int_equal(stats(rl).keys_used, 7);
	check_ok(rl);
	ratelimit_free(&rl);
}

static void
test_long_keys(void **state)
{
	struct ratelimit *rl = ratelimit_new(64, 4);
	char *k255 = long_key(RATELIMIT_KEY_MAX, 'k', 'k');
	char *k256 = long_key(RATELIMIT_KEY_MAX + 1, 'k', 'k');
	char *a = long_key(300, 'u', 'a'), *a2 = long_key(300, 'u', 'a');
	char *b = long_key(300, 'u', 'b'), *huge = long_key(100000, 'h', 'z');
	long long c;

	(void)state;
	assert_int_equal(hit(rl, "umsg", k255, 1, 1, 0, &c), 1);
	assert_int_equal(hit(rl, "umsg", k256, 1, 1, 0, &c), 1);
	assert_int_equal(hit(rl, "umsg", k255, 1, 1, 0, &c), 0);
	assert_int_equal(hit(rl, "umsg", k256, 1, 1, 0, &c), 0);
	/* Digested keys: equal content shares, one byte apart does not. */
	assert_int_equal(hit(rl, "umsg", a, 2, 1, 0, &c), 1);
	assert_int_equal(hit(rl, "umsg", a2, 2, 1, 0, &c), 1);
	assert_int_equal(c, 2);
	assert_int_equal(hit(rl, "umsg", b, 2, 1, 0, &c), 1);
	assert_int_equal(c, 1);
	a2[0] = 'v';
	assert_int_equal(peek(rl, "umsg", a2, 0), 0);
	assert_int_equal(hit(rl, "umsg", huge, 1, 1, 0, &c), 1);
	assert_int_equal(hit(rl, "umsg", huge, 1, 1, 0, &c), 0);
	/* Same rules in slots. */
	assert_int_equal(ratelimit_enter(rl, 0, a, 1), 1);
	assert_int_equal(ratelimit_enter(rl, 1, b, 1), 1);
	assert_int_equal(ratelimit_enter(rl, 2, a, 1), 0);
	assert_int_equal(ratelimit_enter(rl, 2, a2, 1), 1);
	check_ok(rl);
	free(k255);
	free(k256);
	free(a);
	free(a2);
	free(b);
	free(huge);
	ratelimit_free(&rl);
}

/* ----------------------------------------------------------- eviction */

static void
test_eviction_lru(void **state)
{
	struct ratelimit *rl = ratelimit_new(4, 0);
	struct ratelimit_stats st;
	long long c;

	(void)state;
	assert_int_equal(hit(rl, "conn", "a", 10, 1, 0, &c), 1);
	assert_int_equal(hit(rl, "conn", "b", 10, 1, 0, &c), 1);
	assert_int_equal(hit(rl, "conn", "c", 10, 1, 0, &c), 1);
	assert_int_equal(hit(rl, "conn", "d", 10, 1, 0, &c), 1);
	assert_int_equal(hit(rl, "conn", "a", 10, 1, 0, &c), 1);
	/* peek is no use: b stays the oldest. */
	assert_int_equal(peek(rl, "conn", "b", 0), 1);
	/* A refused new key stores nothing, evicts nothing. */
	assert_int_equal(hit(rl, "conn", "x", 0, 1, 0, &c), 0);
	assert_int_equal(stats(rl).evictions, 0);
	/* Full: e takes the least recently used entry (b, still live). */
	assert_int_equal(hit(rl, "conn", "e", 10, 1, 0, &c), 1);
	st = stats(rl);
	assert_int_equal(st.keys_used, 4);
	assert_int_equal(st.evictions, 1);
	assert_int_equal(st.evictions_live, 1);
	assert_int_equal(peek(rl, "conn", "b", 0), 0);
	assert_int_equal(peek(rl, "conn", "a", 0), 2);
	/* A refused hit is a use: c (refused) outlives d. */
	assert_int_equal(hit(rl, "conn", "c", 1, 1, 0, &c), 0);
	assert_int_equal(hit(rl, "conn", "f", 10, 1, 0, &c), 1);
	assert_int_equal(peek(rl, "conn", "d", 0), 0);
	assert_int_equal(peek(rl, "conn", "c", 0), 1);
	assert_int_equal(stats(rl).evictions_live, 2);
	check_ok(rl);
	/* Much later the oldest (a) holds nothing: a silent eviction. */
	assert_int_equal(hit(rl, "conn", "g", 10, 1, 10 * MIN, &c), 1);
	st = stats(rl);
	assert_int_equal(st.evictions, 3);
	assert_int_equal(st.evictions_live, 2);
	assert_int_equal(peek(rl, "conn", "a", 10 * MIN), 0);
	assert_int_equal(peek(rl, "conn", "e", 0), 1);
	check_ok(rl);
	ratelimit_free(&rl);
}

static void
test_eviction_churn(void **state)
{
	struct ratelimit *rl = ratelimit_new(50, 0);
	uint64_t seed = 42;
	char key[32];
	long long c;
	int i;

	(void)state;
	for (i = 0; i < 20000; i++) {
		assert_true(snprintf(key, sizeof(key), "10.0.%d.%d",
		    (int)(xorshift(&seed) % 4), (int)(xorshift(&seed) % 40)) <
		    (int)sizeof(key));
		(void)hit(rl, "conn", key, 5, 1, i * 10LL, &c);
		/* Keep one key hot: it must never be evicted. */
		assert_int_equal(hit(rl, "authfail", "hot", 1000000, 1,
		    i * 10LL, &c), 1);
		assert_int_equal(c, i < 6000 ? i + 1 : c);
	}
	assert_int_equal(peek(rl, "authfail", "hot", 199990), 6000 + 400);
	assert_int_equal(stats(rl).keys_used, 50);
	assert_true(stats(rl).evictions > 1000);
	check_ok(rl);
	ratelimit_free(&rl);
}

/* ----------------------------------------------------------- slots */

static void
test_concurrency(void **state)
{
	struct ratelimit *rl = ratelimit_new(4, 4);

	(void)state;
	assert_int_equal(ratelimit_enter(rl, 0, "192.0.2.1", 2), 1);
	assert_int_equal(ratelimit_enter(rl, 1, "192.0.2.1", 2), 1);
	assert_int_equal(ratelimit_enter(rl, 2, "192.0.2.1", 2), 0);
	assert_int_equal(stats(rl).slots_used, 2);
	/* Refused: slot 2 stayed empty and can take another key. */
	assert_int_equal(ratelimit_enter(rl, 2, "192.0.2.10", 1), 1);
	ratelimit_leave(rl, 0);
	ratelimit_leave(rl, 0);	/* twice: fine */
	assert_int_equal(ratelimit_enter(rl, 3, "192.0.2.1", 2), 1);
	/* Limit 0: no limit. */
	assert_int_equal(ratelimit_enter(rl, 0, "192.0.2.1", 0), 1);
	assert_int_equal(stats(rl).slots_used, 4);
	/* Slots and counters do not mix. */
	assert_int_equal(peek(rl, "conn", "192.0.2.1", 0), 0);
	ratelimit_leave(rl, 0);
	ratelimit_leave(rl, 1);
	ratelimit_leave(rl, 2);
	ratelimit_leave(rl, 3);
	assert_int_equal(stats(rl).slots_used, 0);
	assert_int_equal(ratelimit_enter(rl, 1, "192.0.2.1", 1), 1);
	assert_int_equal(ratelimit_enter(rl, 2, "192.0.2.1", 1), 0);
	ratelimit_free(&rl);
}

static void
test_clear_slot(void **state)
{
	struct ratelimit *rl = ratelimit_new(4, 3);
	int p[2], status;
	pid_t pid;
	char c;

	(void)state;
	/* A worker that exits mid-session without leaving. */
	if ((pid = fork()) == 0) {
		child_init();
		_exit(ratelimit_enter(rl, 0, "192.0.2.7", 1) == 1 ? 0 : 1);
	}
	status = reap(pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_equal(ratelimit_enter(rl, 1, "192.0.2.7", 1), 0);
	ratelimit_clear_slot(rl, 0);
	assert_int_equal(ratelimit_enter(rl, 1, "192.0.2.7", 1), 1);
	ratelimit_leave(rl, 1);
	/* One killed mid-session. */
	assert_int_equal(pipe(p), 0);
	if ((pid = fork()) == 0) {
		child_init();
		(void)close(p[0]);
		if (ratelimit_enter(rl, 2, "192.0.2.7", 1) != 1)
			_exit(1);
		(void)!write(p[1], "x", 1);
		for (;;)
			pause();
	}
	(void)close(p[1]);
	assert_int_equal(read(p[0], &c, 1), 1);
	(void)close(p[0]);
	assert_int_equal(kill(pid, SIGKILL), 0);
	status = reap(pid);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	assert_int_equal(ratelimit_enter(rl, 0, "192.0.2.7", 1), 0);
	ratelimit_clear_slot(rl, 2);
	assert_int_equal(ratelimit_enter(rl, 0, "192.0.2.7", 1), 1);
	assert_int_equal(stats(rl).slots_used, 1);
	ratelimit_free(&rl);
}

/* ----------------------------------------------------------- aborts */

enum bug {
	BUG_NS_EMPTY, BUG_NS_LONG, BUG_WINDOW, BUG_LIMIT, BUG_N, BUG_NOW,
	BUG_PEEK_WINDOW, BUG_SLOT_RANGE, BUG_SLOT_BUSY, BUG_LEAVE_RANGE,
	BUG_ENTER_LIMIT, BUG_CLEAR_RANGE, BUG_MAX
};

static void
do_bug(struct ratelimit *rl, enum bug b)
{
	switch (b) {
	case BUG_NS_EMPTY:
		(void)ratelimit_hit(rl, "", "k", MIN, 1, 1, 0, NULL);
		break;
	case BUG_NS_LONG:
		(void)ratelimit_hit(rl, "1234567890123456", "k", MIN, 1, 1, 0,
		    NULL);
		break;
	case BUG_WINDOW:
		(void)ratelimit_hit(rl, "conn", "k", 0, 1, 1, 0, NULL);
		break;
	case BUG_LIMIT:
		(void)ratelimit_hit(rl, "conn", "k", MIN, -1, 1, 0, NULL);
		break;
	case BUG_N:
		(void)ratelimit_hit(rl, "conn", "k", MIN, 1, -1, 0, NULL);
		break;
	case BUG_NOW:
		(void)ratelimit_hit(rl, "conn", "k", MIN, 1, 1, -1, NULL);
		break;
	case BUG_PEEK_WINDOW:
		(void)ratelimit_peek(rl, "conn", "k", -5, 0);
		break;
	case BUG_SLOT_RANGE:
		(void)ratelimit_enter(rl, 2, "k", 1);
		break;
	case BUG_SLOT_BUSY:
		(void)ratelimit_enter(rl, 0, "k", 0);
		(void)ratelimit_enter(rl, 0, "other", 0);
		break;
	case BUG_LEAVE_RANGE:
		ratelimit_leave(rl, 2);
		break;
	case BUG_ENTER_LIMIT:
		(void)ratelimit_enter(rl, 0, "k", -1);
		break;
	case BUG_CLEAR_RANGE:
		ratelimit_clear_slot(rl, 99);
		break;
	case BUG_MAX:
		break;
	}
}

static void
test_invariants_abort(void **state)
{
	struct ratelimit *rl = ratelimit_new(4, 2);
	int b, status, fd;
	pid_t pid;

	(void)state;
	for (b = 0; b < BUG_MAX; b++) {
		if ((pid = fork()) == 0) {
			child_init();
			fd = open("/dev/null", O_WRONLY);
			(void)dup2(fd, 2);	/* the panic line is expected */
			do_bug(rl, (enum bug)b);
			_exit(0);
		}
		status = reap(pid);
		if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGABRT)
			fail_msg("bug %d: status %#x, expected SIGABRT", b,
			    status);
	}
	/* The panics released the lock first: the region still works. */
	assert_int_equal(stats(rl).recoveries, 0);
	ratelimit_clear_slot(rl, 0);	/* BUG_SLOT_BUSY's child held it */
	assert_int_equal(ratelimit_enter(rl, 0, "k", 0), 1);
	check_ok(rl);
	ratelimit_free(&rl);
}

/* ----------------------------------------------------------- processes */

struct hammer {
	long long	 ok[NCHILD];
	long long	 nsum[NCHILD];
};

static void
hammer_child(struct ratelimit *rl, struct hammer *h, int idx)
{
	long long n;
	int i;

	for (i = 0; i < 3000; i++) {
		if (ratelimit_hit(rl, "conn", "hot", MIN, 5000, 1, 1000, NULL))
			h->ok[idx]++;
		n = 1 + (i + idx) % 3;
		if (ratelimit_hit(rl, "urcpt", "mix", MIN, 7000, n, 1000,
		    NULL))
			h->nsum[idx] += n;
	}
}

static void
test_processes_share_counts(void **state)
{
	struct ratelimit *rl = ratelimit_new(64, 0);
	struct hammer *h = shared_alloc(sizeof(*h));
	long long ok = 0, nsum = 0;
	pid_t pids[NCHILD];
	int p[2], i, status;

	(void)state;
	(void)alarm(TEST_DEADLINE);
	assert_int_equal(pipe(p), 0);
	for (i = 0; i < NCHILD; i++)
		if ((pids[i] = fork()) == 0) {
			child_init();
			barrier_wait(p);
			hammer_child(rl, h, i);
			_exit(0);
		}
	(void)close(p[0]);
	(void)close(p[1]);	/* go */
	for (i = 0; i < NCHILD; i++) {
		status = reap(pids[i]);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
		ok += h->ok[i];
		nsum += h->nsum[i];
	}
	/* Never above the limit; exactly the accepted hits. */
	assert_int_equal(ok, 5000);
	assert_int_equal(peek(rl, "conn", "hot", 1000), 5000);
	assert_int_equal(nsum, 7000);
	assert_int_equal(peek(rl, "urcpt", "mix", 1000), 7000);
	assert_int_equal(stats(rl).recoveries, 0);
	check_ok(rl);
	(void)alarm(0);
	(void)munmap(h, sizeof(*h));
	ratelimit_free(&rl);
}

static void
test_processes_enter(void **state)
{
	struct ratelimit *rl = ratelimit_new(4, NCHILD);
	struct hammer *h = shared_alloc(sizeof(*h));
	pid_t pids[NCHILD];
	int go[2], done[2], i, status;
	long long ok = 0, tried;

	(void)state;
	(void)alarm(TEST_DEADLINE);
	assert_int_equal(pipe(go), 0);
	assert_int_equal(pipe(done), 0);
	for (i = 0; i < NCHILD; i++)
		if ((pids[i] = fork()) == 0) {
			child_init();
			barrier_wait(go);
			h->ok[i] = ratelimit_enter(rl, (size_t)i, "192.0.2.9",
			    3);
			h->nsum[i] = 1;		/* tried */
			barrier_wait(done);	/* hold the session */
			ratelimit_leave(rl, (size_t)i);
			_exit(0);
		}
	(void)close(go[0]);
	(void)close(go[1]);
	(void)close(done[0]);
	/* Every child tries while the winners hold their sessions. */
	for (;;) {
		for (tried = 0, i = 0; i < NCHILD; i++)
			tried += ((volatile long long *)h->nsum)[i];
		if (tried == NCHILD)
			break;
		(void)sched_yield();	/* bounded by the test deadline */
	}
	assert_int_equal(stats(rl).slots_used, 3);
	(void)close(done[1]);
	for (i = 0; i < NCHILD; i++) {
		status = reap(pids[i]);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
		ok += h->ok[i];
	}
	assert_int_equal(ok, 3);
	assert_int_equal(stats(rl).slots_used, 0);
	(void)alarm(0);
	(void)munmap(h, sizeof(*h));
	ratelimit_free(&rl);
}

/* ----------------------------------------------------------- killed */

static enum ratelimit_hook_point kill_at;

static void
kill_hook(enum ratelimit_hook_point p)
{
	if (p == kill_at)
		(void)raise(SIGKILL);
}

/* Runs fn in a child that dies by SIGKILL at hook point p. */
static void
die_at(struct ratelimit *rl, enum ratelimit_hook_point p,
    void (*fn)(struct ratelimit *))
{
	int status;
	pid_t pid;

	if ((pid = fork()) == 0) {
		child_init();
		kill_at = p;
		ratelimit_test_hook(kill_hook);
		fn(rl);
		_exit(0);
	}
	status = reap(pid);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
}

static void
hit_a(struct ratelimit *rl)
{
	(void)hit(rl, "conn", "a", 100, 1, 0, NULL);
}

static void
hit_c(struct ratelimit *rl)
{
	(void)hit(rl, "conn", "c", 100, 1, 0, NULL);
}

static void
hit_e(struct ratelimit *rl)
{
	(void)hit(rl, "conn", "e", 100, 1, 0, NULL);
}

static void
enter_k(struct ratelimit *rl)
{
	(void)ratelimit_enter(rl, 0, "k", 1);
}

static void
test_killed_holding_lock(void **state)
{
	struct ratelimit *rl = ratelimit_new(8, 2);
	long long c;

	(void)state;
	(void)alarm(TEST_DEADLINE);
	assert_int_equal(hit(rl, "conn", "a", 100, 2, 0, &c), 1);
	die_at(rl, RATELIMIT_HOOK_LOCKED, hit_a);
	/* Not deadlocked; the dead hit counted nothing. */
	assert_int_equal(hit(rl, "conn", "a", 100, 1, 0, &c), 1);
	assert_int_equal(c, 3);
	assert_int_equal(stats(rl).recoveries, 1);
	check_ok(rl);
	/* Dead between copying a slot key and using the slot. */
	die_at(rl, RATELIMIT_HOOK_ENTER, enter_k);
	assert_int_equal(ratelimit_enter(rl, 1, "k", 1), 1);
	ratelimit_clear_slot(rl, 0);
	assert_int_equal(ratelimit_enter(rl, 0, "k", 1), 0);
	assert_int_equal(stats(rl).recoveries, 2);
	check_ok(rl);
	(void)alarm(0);
	ratelimit_free(&rl);
}

/* Four keys a(2) b c d, table full, b the least recently used. */
static struct ratelimit *
full_table(void)
{
	struct ratelimit *rl = ratelimit_new(4, 0);

	assert_int_equal(hit(rl, "conn", "a", 100, 1, 0, NULL), 1);
	assert_int_equal(hit(rl, "conn", "b", 100, 1, 0, NULL), 1);
	assert_int_equal(hit(rl, "conn", "c", 100, 1, 0, NULL), 1);
	assert_int_equal(hit(rl, "conn", "d", 100, 1, 0, NULL), 1);
	assert_int_equal(hit(rl, "conn", "a", 100, 1, 0, NULL), 1);
	return rl;
}

static void
test_killed_mid_eviction(void **state)
{
	static const enum ratelimit_hook_point points[] = {
		RATELIMIT_HOOK_EVICT, RATELIMIT_HOOK_INSERT };
	struct ratelimit *rl;
	long long c;
	size_t i;

	(void)state;
	(void)alarm(TEST_DEADLINE);
	for (i = 0; i < sizeof(points) / sizeof(points[0]); i++) {
		rl = full_table();
		die_at(rl, points[i], hit_e);
		/* Repaired: b's entry (half rewritten) is invalid, the rest
		 * keep their counts. */
		check_ok(rl);
		assert_int_equal(stats(rl).recoveries, 1);
		assert_int_equal(peek(rl, "conn", "a", 0), 2);
		assert_int_equal(peek(rl, "conn", "b", 0), 0);
		assert_int_equal(peek(rl, "conn", "c", 0), 1);
		assert_int_equal(peek(rl, "conn", "d", 0), 1);
		assert_int_equal(peek(rl, "conn", "e", 0), 0);
		/* The invalid entry is the first to go, silently. */
		assert_int_equal(hit(rl, "conn", "e", 100, 1, 0, &c), 1);
		assert_int_equal(c, 1);
		assert_int_equal(stats(rl).evictions_live, 1);
		assert_int_equal(peek(rl, "conn", "a", 0), 2);
		assert_int_equal(peek(rl, "conn", "c", 0), 1);
		assert_int_equal(peek(rl, "conn", "d", 0), 1);
		/* LRU order survived the repair: c is the oldest now. */
		assert_int_equal(hit(rl, "conn", "f", 100, 1, 0, &c), 1);
		assert_int_equal(peek(rl, "conn", "c", 0), 0);
		assert_int_equal(peek(rl, "conn", "d", 0), 1);
		check_ok(rl);
		ratelimit_free(&rl);
	}
	/* Dead half way through adding to a table with room. */
	rl = ratelimit_new(8, 0);
	assert_int_equal(hit(rl, "conn", "a", 100, 1, 0, NULL), 1);
	die_at(rl, RATELIMIT_HOOK_INSERT, hit_e);
	check_ok(rl);
	assert_int_equal(stats(rl).keys_used, 1);
	assert_int_equal(peek(rl, "conn", "e", 0), 0);
	assert_int_equal(hit(rl, "conn", "e", 100, 1, 0, &c), 1);
	assert_int_equal(stats(rl).keys_used, 2);
	ratelimit_free(&rl);
	(void)alarm(0);
}

/* Dead with c out of the LRU list: the list is rebuilt by use order,
 * c (used last) the newest. Without the repair the list loses c. */
static void
test_killed_mid_lru_move(void **state)
{
	struct ratelimit *rl;

	(void)state;
	(void)alarm(TEST_DEADLINE);
	rl = full_table();
	die_at(rl, RATELIMIT_HOOK_TOUCH, hit_c);
	check_ok(rl);
	assert_int_equal(peek(rl, "conn", "c", 0), 1);	/* not counted */
	assert_int_equal(hit(rl, "conn", "e", 100, 1, 0, NULL), 1);
	assert_int_equal(hit(rl, "conn", "f", 100, 1, 0, NULL), 1);
	assert_int_equal(peek(rl, "conn", "b", 0), 0);
	assert_int_equal(peek(rl, "conn", "d", 0), 0);
	assert_int_equal(peek(rl, "conn", "a", 0), 2);
	assert_int_equal(peek(rl, "conn", "c", 0), 1);
	assert_int_equal(stats(rl).recoveries, 1);
	check_ok(rl);
	ratelimit_free(&rl);
	(void)alarm(0);
}

static void
hot_loop(struct ratelimit *rl, int idx, int ready)
{
	uint64_t seed = 0x1234567ULL + (uint64_t)idx;
	char key[32];
	long long i;

	for (i = 0;; i++) {
		if (snprintf(key, sizeof(key), "198.51.100.%d",
		    (int)(xorshift(&seed) % 100)) >= (int)sizeof(key))
			_exit(1);
		if (ratelimit_enter(rl, (size_t)idx, key, 0) != 1)
			_exit(1);
		(void)ratelimit_hit(rl, "conn", key, MIN, 1000000, 1, 1000 + i,
		    NULL);
		ratelimit_leave(rl, (size_t)idx);
		if (i == 100) {
			(void)!write(ready, "x", 1);
			(void)close(ready);
		}
	}
}

/*
 * The real thing, without hooks: workers in a hot loop (lookups, evictions
 * in a small table, slots) are killed at random points; whichever process
 * locks next repairs. Rounds go on until some kill landed inside the lock.
 */
static void
test_killed_in_hot_loop(void **state)
{
	struct ratelimit *rl = ratelimit_new(32, NCHILD);
	pid_t pids[NCHILD];
	int p[2], i, round, status;
	char c;

	(void)state;
	(void)alarm(TEST_DEADLINE);
	for (round = 0; round < 200 && stats(rl).recoveries < 3; round++) {
		assert_int_equal(pipe(p), 0);
		for (i = 0; i < NCHILD; i++)
			if ((pids[i] = fork()) == 0) {
				child_init();
				(void)close(p[0]);
				hot_loop(rl, i, p[1]);
			}
		(void)close(p[1]);
		for (i = 0; i < NCHILD; i++)
			assert_int_equal(read(p[0], &c, 1), 1);
		(void)close(p[0]);
		for (i = 0; i < NCHILD; i++)
			assert_int_equal(kill(pids[i], SIGKILL), 0);
		for (i = 0; i < NCHILD; i++) {
			status = reap(pids[i]);
			assert_true(WIFSIGNALED(status) &&
			    WTERMSIG(status) == SIGKILL);
			ratelimit_clear_slot(rl, (size_t)i);	/* the master */
		}
		check_ok(rl);
		assert_int_equal(stats(rl).slots_used, 0);
	}
	assert_true(stats(rl).recoveries >= 1);
	/* Still fully usable. */
	assert_int_equal(hit(rl, "authfail", "x", 1, 1, 0, NULL), 1);
	assert_int_equal(hit(rl, "authfail", "x", 1, 1, 0, NULL), 0);
	assert_int_equal(ratelimit_enter(rl, 0, "x", 1), 1);
	assert_int_equal(ratelimit_enter(rl, 1, "x", 1), 0);
	check_ok(rl);
	(void)alarm(0);
	ratelimit_free(&rl);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new_free),
		cmocka_unit_test(test_limit_reached),
		cmocka_unit_test(test_window_slides),
		cmocka_unit_test(test_n_above_one),
		cmocka_unit_test(test_model),
		cmocka_unit_test(test_window_change),
		cmocka_unit_test(test_clock_behind),
		cmocka_unit_test(test_namespaces_and_keys),
		cmocka_unit_test(test_long_keys),
		cmocka_unit_test(test_eviction_lru),
		cmocka_unit_test(test_eviction_churn),
		cmocka_unit_test(test_concurrency),
		cmocka_unit_test(test_clear_slot),
		cmocka_unit_test(test_invariants_abort),
		cmocka_unit_test(test_processes_share_counts),
		cmocka_unit_test(test_processes_enter),
		cmocka_unit_test(test_killed_holding_lock),
		cmocka_unit_test(test_killed_mid_eviction),
		cmocka_unit_test(test_killed_mid_lru_move),
		cmocka_unit_test(test_killed_in_hot_loop),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
