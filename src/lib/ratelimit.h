/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * Rate limits shared by all smtpd worker processes: windowed event counters
 * per (namespace, key) (connections per address per minute, failed AUTH per
 * address, messages and recipients per user per hour) and concurrency
 * slots (sessions per address). The master creates one anonymous shared
 * mapping before it forks; every child inherits it at the same address.
 * No disk I/O, no helper process, no allocation after ratelimit_new().
 *
 * Window: each counter is a ring of RATELIMIT_SUBWINDOWS + 1 buckets of
 * g = ceil(window_ms / RATELIMIT_SUBWINDOWS) ms. The count at now_ms is the
 * sum of the bucket holding now_ms and the RATELIMIT_SUBWINDOWS before it,
 * i.e. every event of the last window_ms plus at most one granule g older.
 * The count is never lower than the exact sliding-window count, so no span
 * of window_ms ever holds more than limit accepted events (the limiter
 * never fails open); an event is forgotten between window_ms and
 * window_ms + g after it happened. This assumes callers pass a current
 * clock: a now_ms older than the newest bucket of a counter is counted in
 * that newest bucket (later expiry, never earlier).
 *
 * Keys: up to RATELIMIT_KEY_MAX bytes are stored verbatim. A longer key is
 * replaced by a 128-bit keyed digest (two SipHash-2-4 with independent
 * secret keys) marked so that it never equals a short key; two long keys
 * share a counter only on a digest collision, which a client cannot aim
 * for without the secret. The table hash (SipHash-2-4) is seeded with
 * RAND_bytes per region so clients cannot engineer bucket collisions.
 *
 * Full table: a new key takes the least recently used entry (any hit,
 * accepted or refused, is a use, so a client being refused stays on the
 * table). When that entry still held counts, its key starts again from
 * zero: the one way a limit can be forgotten. It is counted
 * (ratelimit_stats().evictions_live) and logged as a warning at most once
 * a minute; size nkeys well above the number of keys live in the longest
 * window.
 *
 * Locking: one process-shared robust mutex (PTHREAD_MUTEX_ROBUST). Nothing
 * slow runs under it (hashing happens before it is taken, logging after it
 * is released); the longest holds are ratelimit_enter() (a scan of the
 * nslots slots) and, once, the repair below. When a holder dies (SIGKILL,
 * crash) the next locker gets EOWNERDEAD, rebuilds the hash chains and the
 * LRU list from the entries (an entry being rewritten when its writer died
 * is marked invalid and becomes the first to be evicted), marks the mutex
 * consistent and goes on. A process stopped (SIGSTOP, debugger) while
 * holding the lock stalls every other caller until it continues.
 *
 * Must never: block on anything but the lock, allocate, or log a key.
 */
#ifndef EST_RATELIMIT_H
#define EST_RATELIMIT_H

#include <stddef.h>

#define RATELIMIT_NS_MAX	15	/* bytes in a namespace name */
#define RATELIMIT_KEY_MAX	255	/* longer keys are digested */
#define RATELIMIT_SUBWINDOWS	15	/* buckets per window */

struct ratelimit;

struct ratelimit_stats {
	size_t			 keys_used;	/* entries in use */
	size_t			 keys_max;	/* nkeys */
	size_t			 slots_used;
	size_t			 slots_max;	/* nslots */
	unsigned long long	 evictions;	/* entries reused for a key */
	unsigned long long	 evictions_live; /* ... that held live counts */
	unsigned long long	 recoveries;	/* lock holder died: repaired */
};

/*
 * Master, before forking: maps a region with room for nkeys counters
 * (nkeys >= 1, at most 2^30) and nslots concurrency slots (may be 0).
 * The region is shared with every child forked afterwards; nothing is
 * allocated after this call. Returns NULL with errno set: EINVAL (bad
 * sizes), ENOMEM, EIO (no random seed), or an error of pthread or mmap.
 */
struct ratelimit *ratelimit_new(size_t nkeys, size_t nslots);

/* Master at exit: unmaps the region from this process and NULLs *rl.
 * Children keep their own mapping. NULL and *rl == NULL are fine. */
void	ratelimit_free(struct ratelimit **rl);

/*
 * Counts n events for (ns, key) at now_ms when the windowed count (see
 * the top of this file) plus n stays <= limit and returns 1; otherwise
 * counts nothing and returns 0. *count_r (may be NULL) gets the count after
 * the call. n = 0 only tests (1 when count <= limit). A new key is stored
 * only when something is counted. A counter keeps the window it was made
 * with until a call passes another window_ms (a reload): its whole count
 * then moves into the current bucket of the new window, so nothing is
 * forgotten early.
 * ns: 1..RATELIMIT_NS_MAX bytes ("conn", "authfail", "umsg", "urcpt");
 * key: any C string. window_ms >= 1, limit >= 0, n >= 0, now_ms >= 0 (a
 * monotonic clock, e.g. conn_now_ms()); anything else is a bug and aborts.
 * Blocks only on the short lock.
 */
int	ratelimit_hit(struct ratelimit *rl, const char *ns, const char *key,
	    long long window_ms, long long limit, long long n,
	    long long now_ms, long long *count_r);

/* The count ratelimit_hit() with n = 0 would see; 0 for an unknown key.
 * Changes nothing (not even the LRU order). Same argument rules. */
long long ratelimit_peek(struct ratelimit *rl, const char *ns,
	    const char *key, long long window_ms, long long now_ms);

/*
 * Concurrency. Each worker owns one slot (0..nslots-1, given by the master
 * at fork) and holds a key in it for the duration of a session; the
 * concurrency of a key is the number of slots holding it. Keys follow the
 * rules of counter keys and are separate from every namespace.
 * ratelimit_enter: when limit is 0 (no limit) or fewer than limit slots
 * hold key, stores key in the slot and returns 1; else returns 0 and
 * leaves the slot empty. The slot must be empty (a missing leave is a bug
 * and aborts); slot >= nslots or limit < 0 abort too.
 * ratelimit_leave: the worker at session end; an empty slot is fine.
 * Both block only on the short lock.
 */
int	ratelimit_enter(struct ratelimit *rl, size_t slot, const char *key,
	    long long limit);
void	ratelimit_leave(struct ratelimit *rl, size_t slot);

/* Master, after reaping the worker that owned slot: empties it, so that a
 * crashed session never holds concurrency. Blocks only on the short lock. */
void	ratelimit_clear_slot(struct ratelimit *rl, size_t slot);

/* Fills *st_r (for the periodic log line / estafetactl). Short lock. */
void	ratelimit_stats(struct ratelimit *rl, struct ratelimit_stats *st_r);

#ifdef RATELIMIT_TEST_HOOKS
/* Unit tests only (built with -DRATELIMIT_TEST_HOOKS, never in the
 * daemon). The hook runs in the calling process at these points, with the
 * lock held, so that a test can kill the process there. */
enum ratelimit_hook_point {
	RATELIMIT_HOOK_LOCKED = 1,	/* just locked */
	RATELIMIT_HOOK_EVICT,		/* entry unlinked, half rewritten */
	RATELIMIT_HOOK_INSERT,		/* new entry half written */
	RATELIMIT_HOOK_ENTER,		/* slot key copied, not yet in use */
	RATELIMIT_HOOK_TOUCH,		/* entry out of the LRU list */
};
void	ratelimit_test_hook(void (*fn)(enum ratelimit_hook_point));
/* Verifies the internal invariants (chains, LRU list, hashes). 1, or -1
 * with *errstr_r naming the first broken one. */
int	ratelimit_test_check(struct ratelimit *rl, const char **errstr_r);
#endif

#endif
