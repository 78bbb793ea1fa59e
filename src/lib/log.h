/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * Logging. One event per line: first token the session or queue id, then
 * key=value pairs. Goes to stderr (foreground, tests) or syslog (mail
 * facility). Severities have one meaning each:
 *   log_panic  a bug: logs and aborts;
 *   log_fatal  the environment is broken: logs and exits 1 (the master
 *              restarts us with backoff);
 *   log_error  this session or message failed; log_warn, log_info, log_debug.
 * Client-supplied text must pass log_escape() first.
 */
#ifndef EST_LOG_H
#define EST_LOG_H

#include <stdarg.h>
#include <stddef.h>

enum log_level {
	LOG_LEVEL_ERROR = 0,
	LOG_LEVEL_WARN,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG,
};

enum log_target {
	LOG_TARGET_STDERR = 0,
	LOG_TARGET_SYSLOG,
};

/* ident is copied. Safe to call again (after fork, on reload). */
void	log_init(const char *ident, enum log_target, enum log_level);
void	log_set_level(enum log_level);
enum log_level log_get_level(void);
/* -1 for an unknown name. */
int	log_level_parse(const char *);

void	log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_error(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_fatal(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));
void	log_panic(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));

struct buf;
/*
 * Appends s[0..n) to b with anything but printable ASCII shown as \xHH and
 * quotes and backslashes escaped, truncated to max bytes of input (with
 * "..." appended). Returns b's C string for convenience.
 */
const char *log_escape(struct buf *b, const char *s, size_t n, size_t max);

/* Enabled in release builds too. */
#define ASSERT(e) do {							\
	if (!(e))							\
		log_panic("assertion failed: %s at %s:%d",		\
		    #e, __FILE__, __LINE__);				\
} while (0)

#endif
