/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * Unit tests for lib/selfpipe: the four master signals arrive through the
 * pipe in order, as their numbers; SIGPIPE is ignored; the handler keeps
 * errno; blocked signals wait for the restore; a full pipe drops octets
 * without blocking.
 */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/selfpipe.h"

static int fds[2] = { -1, -1 };

static void
on_signal(int sig)
{
	selfpipe_write(fds[1], sig);
}

static void
test_signals(void **state)
{
	sigset_t old;

	(void)state;
	assert_int_equal(selfpipe_open(fds, on_signal), 1);
	assert_int_equal(selfpipe_next(fds[0]), 0);
	assert_int_equal(raise(SIGHUP), 0);
	assert_int_equal(raise(SIGTERM), 0);
	assert_int_equal(raise(SIGCHLD), 0);
	assert_int_equal(raise(SIGINT), 0);
	assert_int_equal(raise(SIGPIPE), 0);	/* ignored, or we die */
	assert_int_equal(selfpipe_next(fds[0]), SIGHUP);
	assert_int_equal(selfpipe_next(fds[0]), SIGTERM);
	assert_int_equal(selfpipe_next(fds[0]), SIGCHLD);
	assert_int_equal(selfpipe_next(fds[0]), SIGINT);
	assert_int_equal(selfpipe_next(fds[0]), 0);

	/* Blocked: nothing until the old mask is back. */
	selfpipe_block(&old);
	assert_int_equal(raise(SIGTERM), 0);
	assert_int_equal(selfpipe_next(fds[0]), 0);
	selfpipe_restore(&old);
	assert_int_equal(selfpipe_next(fds[0]), SIGTERM);
	assert_int_equal(selfpipe_next(fds[0]), 0);
}

static void
test_errno_full(void **state)
{
	size_t n = 0;

	(void)state;
	/* The handler keeps errno; a full pipe never blocks it. */
	errno = EDOM;
	selfpipe_write(fds[1], SIGHUP);
	assert_int_equal(errno, EDOM);
	while (write(fds[1], "x", 1) == 1)
		n++;
	assert_int_equal(errno, EAGAIN);
	errno = ERANGE;
	selfpipe_write(fds[1], SIGTERM);
	assert_int_equal(errno, ERANGE);
	assert_int_equal(selfpipe_next(fds[0]), SIGHUP);
	while (n-- > 0)
		assert_int_equal(selfpipe_next(fds[0]), 'x');
	/* The SIGTERM octet found the pipe full: dropped. */
	assert_int_equal(selfpipe_next(fds[0]), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_signals),
		cmocka_unit_test(test_errno_full),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
