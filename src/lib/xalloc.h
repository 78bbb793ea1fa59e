/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * Allocation wrappers and overflow-checked size arithmetic. Running out of
 * memory is not recoverable in a mail daemon worker: the wrappers log and
 * exit, and the master restarts the process. Never returns NULL.
 */
#ifndef EST_XALLOC_H
#define EST_XALLOC_H

#include <stddef.h>

/* Each aborts the process (log_fatal) on allocation failure or overflow. */
void	*xmalloc(size_t);
void	*xcalloc(size_t, size_t);
void	*xrealloc(void *, size_t);
char	*xstrdup(const char *);
char	*xstrndup(const char *, size_t);

/* Overflow-checked arithmetic: returns 0 on overflow, 1 with *r set. */
int	 size_add(size_t, size_t, size_t *r);
int	 size_mul(size_t, size_t, size_t *r);

/* Wipe a secret; never optimised away. */
void	 xbzero(void *, size_t);

#endif
