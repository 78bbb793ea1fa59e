/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * Logging to stderr or syslog: see log.h. Never allocates on the error path
 * (a fixed line buffer is used), so it is safe to call when out of memory.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/log.h"

static char		 log_ident[32] = "estafeta";
static enum log_target	 log_target = LOG_TARGET_STDERR;
static enum log_level	 log_level = LOG_LEVEL_INFO;

static const char *const log_level_names[] = {
	"error", "warn", "info", "debug",
};

void
log_init(const char *ident, enum log_target target, enum log_level level)
{
	if (log_target == LOG_TARGET_SYSLOG)
		closelog();
	(void)snprintf(log_ident, sizeof(log_ident), "%s", ident);	/* truncation harmless */
	log_target = target;
	log_level = level;
	if (target == LOG_TARGET_SYSLOG)
		openlog(log_ident, LOG_PID | LOG_NDELAY, LOG_MAIL);
}

void
log_set_level(enum log_level level)
{
	log_level = level;
}

enum log_level
log_get_level(void)
{
	return log_level;
}

int
log_level_parse(const char *s)
{
	size_t i;

	for (i = 0; i < sizeof(log_level_names) / sizeof(*log_level_names); i++)
		if (strcmp(s, log_level_names[i]) == 0)
			return (int)i;
	return -1;
}

static void
log_vemit(int prio, const char *tag, const char *fmt, va_list ap)
{
	char line[4096];
	struct timespec ts;
	struct tm tm;
	int n;

	if (log_target == LOG_TARGET_SYSLOG) {
		vsyslog(prio, fmt, ap);
		return;
	}
	(void)clock_gettime(CLOCK_REALTIME, &ts);	/* cannot fail */
	(void)gmtime_r(&ts.tv_sec, &tm);
	n = snprintf(line, sizeof(line),
	    "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s[%ld]: %s",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, log_ident,
	    (long)getpid(), tag);
	if (n < 0 || (size_t)n >= sizeof(line))
		n = 0;
	n += vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	if (n < 0 || (size_t)n >= sizeof(line) - 1)
		n = sizeof(line) - 2;	/* truncated: keep the line whole */
	line[n++] = '\n';
	/* One write per line keeps lines of concurrent processes apart. */
	(void)!write(STDERR_FILENO, line, (size_t)n);
}

#define LOG_FN(name, lvl, prio, tag)					\
void									\
name(const char *fmt, ...)						\
{									\
	va_list ap;							\
									\
	if (log_level < (lvl))						\
		return;							\
	va_start(ap, fmt);						\
	log_vemit((prio), (tag), fmt, ap);				\
	va_end(ap);							\
}

LOG_FN(log_debug, LOG_LEVEL_DEBUG, LOG_DEBUG, "debug: ")
LOG_FN(log_info, LOG_LEVEL_INFO, LOG_INFO, "")
LOG_FN(log_warn, LOG_LEVEL_WARN, LOG_WARNING, "warning: ")
LOG_FN(log_error, LOG_LEVEL_ERROR, LOG_ERR, "error: ")

void
log_fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vemit(LOG_CRIT, "fatal: ", fmt, ap);
	va_end(ap);
	exit(1);
}

void
log_panic(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vemit(LOG_CRIT, "panic: ", fmt, ap);
	va_end(ap);
	abort();
}

const char *
log_escape(struct buf *b, const char *s, size_t n, size_t max)
{
	size_t i, lim = n < max ? n : max;
	unsigned char c;
	int r = 1;

	for (i = 0; i < lim && r == 1; i++) {
		c = (unsigned char)s[i];
		if (c == '"' || c == '\\')
			r = buf_appendf(b, "\\%c", c);
		else if (c >= 0x20 && c < 0x7f)
			r = buf_appendc(b, (char)c);
		else
			r = buf_appendf(b, "\\x%02x", c);
	}
	if (lim < n)
		(void)buf_appends(b, "...");	/* best effort at the limit */
	return buf_cstr(b);
}
