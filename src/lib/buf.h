/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * Length-counted, growable byte buffers with a hard maximum. The only way we
 * build strings. Every append either fits under the maximum or fails as a
 * whole and leaves the buffer unchanged; the data is always NUL-terminated
 * one past len so it can be passed to C string functions when it holds text.
 */
#ifndef EST_BUF_H
#define EST_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
	char	*data;		/* NUL-terminated at data[len], may be NULL */
	size_t	 len;
	size_t	 cap;
	size_t	 max;		/* hard limit on len; 0 = SIZE_MAX/2 */
	int	 wipe;		/* may hold secrets: never leave old copies */
};

#define BUF_INIT(m)	{ NULL, 0, 0, (m), 0 }

void	 buf_init(struct buf *, size_t max);
/* Releases the storage; the buffer can be reused (empty) afterwards. */
void	 buf_free(struct buf *);
/* buf_free, after overwriting the whole allocation with zeros. */
void	 buf_free_wipe(struct buf *);
/* Empties the buffer, keeping its storage. */
void	 buf_reset(struct buf *);
/* -1 if the result would exceed max (buffer unchanged), else 1. */
int	 buf_append(struct buf *, const void *, size_t);
int	 buf_appendc(struct buf *, char);
int	 buf_appends(struct buf *, const char *);
int	 buf_appendf(struct buf *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
int	 buf_vappendf(struct buf *, const char *, va_list)
	    __attribute__((format(printf, 2, 0)));
/* Drops the first n bytes (n <= len). */
void	 buf_consume(struct buf *, size_t n);
/* Returns the contents as a C string ("" for an empty buffer). */
const char *buf_cstr(const struct buf *);
/* Makes room for n more bytes; -1 if over max. Returns a write pointer. */
char	*buf_reserve(struct buf *, size_t n);
/* Releases the storage to the caller (malloc'd, NUL-terminated). */
char	*buf_steal(struct buf *);

#endif
