/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * Shared-memory rate limits: see ratelimit.h for the window algorithm, the
 * eviction policy and the locking. Called by the master (new, clear_slot,
 * stats, free) and by smtpd workers (hit, peek, enter, leave). Must never
 * allocate after ratelimit_new(), block on anything but its own mutex, log
 * while holding it, or log a key.
 *
 * Layout of the region: struct ratelimit, then nkeys entries, nbuckets hash
 * chain heads, nkeys scratch indices (for the repair) and nslots slots.
 * Links are 32-bit indices; the pointers in the header are set once by
 * ratelimit_new() and valid in every child (fork keeps the address).
 *
 * Crash safety: a holder may die at any instruction. Entries below nused
 * are always in the LRU list's set; the repair rebuilds both lists from the
 * entries themselves (hash, ns, key, stamp), so only the entry being
 * rewritten can be inconsistent, and it carries ns[0] == '\0' while it is.
 * Compiler signal fences keep those stores in program order.
 */
#include "config.h"

#include <sys/mman.h>

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include <openssl/rand.h>

#include "lib/log.h"
#include "lib/ratelimit.h"
#include "lib/xalloc.h"

#define RL_NONE		UINT32_MAX
#define RL_RING		(RATELIMIT_SUBWINDOWS + 1)
#define RL_NS_SIZE	(RATELIMIT_NS_MAX + 1)
#define RL_MAX_KEYS	((size_t)1 << 30)
#define RL_TAG_PLAIN	1
#define RL_TAG_DIGEST	2
#define RL_DIGEST_LEN	16
#define RL_WARN_MS	60000
#define RL_ALIGN	64
/* Repair clamps counts so that a sum over the ring cannot overflow. */
#define RL_CNT_MAX	(LLONG_MAX / RL_RING)

#define RL_FENCE()	atomic_signal_fence(memory_order_seq_cst)

/* A key in canonical form: the caller's bytes or a long key's digest. */
struct rl_key {
	uint64_t	 hash;		/* of ns, tag, len and b */
	uint8_t		 tag;		/* RL_TAG_* */
	uint8_t		 len;
	unsigned char	 b[RATELIMIT_KEY_MAX];
};

struct rl_entry {
	struct rl_key	 k;
	char		 ns[RL_NS_SIZE];	/* "" while rewritten */
	uint32_t	 hnext;			/* hash chain */
	uint32_t	 lprev, lnext;		/* LRU list, head = newest */
	uint64_t	 stamp;			/* use order, for the repair */
	long long	 window_ms;
	long long	 gran_ms;		/* bucket width */
	long long	 last;			/* newest bucket index */
	long long	 cnt[RL_RING];		/* bucket b: cnt[b % RL_RING] */
};

struct rl_slot {
	struct rl_key	 k;
	uint8_t		 used;			/* written after k */
};

struct ratelimit {
	pthread_mutex_t		 mtx;
	size_t			 maplen;
	size_t			 nslots;
	uint32_t		 nkeys, nused, nbuckets;
	uint32_t		 lru_head, lru_tail;
	uint64_t		 clock;
	uint64_t		 seed[2];	/* table hash */
	uint64_t		 dseed[4];	/* long-key digest */
	unsigned long long	 evictions, evictions_live, recoveries;
	long long		 warn_at;	/* next eviction warning */
	struct rl_entry		*ents;
	uint32_t		*buckets;
	uint32_t		*order;
	struct rl_slot		*slots;
};

/* What to log once the lock is released. */
struct rl_after {
	int			 recovered;
	int			 warn_evict;
	unsigned long long	 recoveries, evictions_live;
	uint32_t		 nkeys;
};

#ifdef RATELIMIT_TEST_HOOKS
static void (*rl_hook)(enum ratelimit_hook_point);

void
ratelimit_test_hook(void (*fn)(enum ratelimit_hook_point))
{
	rl_hook = fn;
}
#define RL_HOOK(p) do {							\
	if (rl_hook != NULL)						\
		rl_hook(p);						\
} while (0)
#else
#define RL_HOOK(p) do { } while (0)
#endif

/* ----------------------------------------------------------- hashing */

#define RL_ROTL(x, b)	(uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define RL_SIPROUND do {						\
	v0 += v1; v1 = RL_ROTL(v1, 13); v1 ^= v0; v0 = RL_ROTL(v0, 32); \
	v2 += v3; v3 = RL_ROTL(v3, 16); v3 ^= v2;			\
	v0 += v3; v3 = RL_ROTL(v3, 21); v3 ^= v0;			\
	v2 += v1; v1 = RL_ROTL(v1, 17); v1 ^= v2; v2 = RL_ROTL(v2, 32); \
} while (0)

static uint64_t
rl_le64(const unsigned char *p, size_t n)
{
	uint64_t v = 0;
	size_t i;

	for (i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

/* SipHash-2-4 (Aumasson, Bernstein). */
static uint64_t
rl_siphash(const uint64_t k[2], const unsigned char *p, size_t len)
{
	uint64_t v0 = 0x736f6d6570736575ULL ^ k[0];
	uint64_t v1 = 0x646f72616e646f6dULL ^ k[1];
	uint64_t v2 = 0x6c7967656e657261ULL ^ k[0];
	uint64_t v3 = 0x7465646279746573ULL ^ k[1];
	uint64_t m;
	size_t off;

	for (off = 0; len - off >= 8; off += 8) {
		m = rl_le64(p + off, 8);
		v3 ^= m;
		RL_SIPROUND;
		RL_SIPROUND;
		v0 ^= m;
	}
	m = rl_le64(p + off, len - off) | (uint64_t)len << 56;
	v3 ^= m;
	RL_SIPROUND;
	RL_SIPROUND;
	v0 ^= m;
	v2 ^= 0xff;
	RL_SIPROUND;
	RL_SIPROUND;
	RL_SIPROUND;
	RL_SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

static uint64_t
rl_key_hash(const struct ratelimit *rl, const char ns[RL_NS_SIZE],
    const struct rl_key *k)
{
	unsigned char in[RL_NS_SIZE + 2 + RATELIMIT_KEY_MAX];

	memcpy(in, ns, RL_NS_SIZE);
	in[RL_NS_SIZE] = k->tag;
	in[RL_NS_SIZE + 1] = k->len;
	memcpy(in + RL_NS_SIZE + 2, k->b, k->len);
	return rl_siphash(rl->seed, in, RL_NS_SIZE + 2 + (size_t)k->len);
}

/*
 * Canonical forms of ns (zero-padded; "" for slots) and key. Long keys
 * become a 128-bit digest: two SipHash-2-4 under independent secret keys.
 */
static void
rl_canon(const struct ratelimit *rl, const char *ns, int slot,
    char cns[RL_NS_SIZE], const char *key, struct rl_key *k)
{
	size_t nslen, klen;
	uint64_t d;
	int i;

	ASSERT(rl != NULL && ns != NULL && key != NULL);
	nslen = strnlen(ns, RL_NS_SIZE);
	if (!slot && (nslen == 0 || nslen > RATELIMIT_NS_MAX))
		log_panic("ratelimit: namespace must be 1..%d bytes",
		    RATELIMIT_NS_MAX);
	memset(cns, 0, RL_NS_SIZE);
	memcpy(cns, ns, nslen);
	memset(k, 0, sizeof(*k));
	klen = strlen(key);
	if (klen <= RATELIMIT_KEY_MAX) {
		k->tag = RL_TAG_PLAIN;
		k->len = (uint8_t)klen;
		memcpy(k->b, key, klen);
	} else {
		k->tag = RL_TAG_DIGEST;
		k->len = RL_DIGEST_LEN;
		for (i = 0; i < 2; i++) {
			d = rl_siphash(rl->dseed + 2 * i,
			    (const unsigned char *)key, klen);
			memcpy(k->b + 8 * i, &d, 8);
		}
	}
	k->hash = rl_key_hash(rl, cns, k);
}

static int
rl_key_eq(const struct rl_key *a, const struct rl_key *b)
{
	return a->hash == b->hash && a->tag == b->tag && a->len == b->len &&
	    memcmp(a->b, b->b, a->len) == 0;
}

/* ----------------------------------------------------------- locking */

static void rl_repair(struct ratelimit *);

static void
rl_lock(struct ratelimit *rl, struct rl_after *after)
{
	int r;

	memset(after, 0, sizeof(*after));
	r = pthread_mutex_lock(&rl->mtx);
	if (r == EOWNERDEAD) {
		rl_repair(rl);
		rl->recoveries++;
		after->recovered = 1;
		after->recoveries = rl->recoveries;
		r = pthread_mutex_consistent(&rl->mtx);
	}
	if (r != 0)
		log_panic("ratelimit: mutex lock: %s", strerror(r));
	RL_HOOK(RATELIMIT_HOOK_LOCKED);
}

static void
rl_unlock(struct ratelimit *rl, const struct rl_after *after)
{
	int r;

	if ((r = pthread_mutex_unlock(&rl->mtx)) != 0)
		log_panic("ratelimit: mutex unlock: %s", strerror(r));
	if (after->recovered)
		log_warn("ratelimit lock holder died: tables repaired "
		    "recoveries=%llu", after->recoveries);
	if (after->warn_evict)
		log_warn("ratelimit table full: a key with live counts was "
		    "evicted and starts again from zero evictions_live=%llu "
		    "keys=%u", after->evictions_live, after->nkeys);
}

/* ----------------------------------------------------------- lists */

static void
rl_lru_unlink(struct ratelimit *rl, uint32_t i)
{
	struct rl_entry *e = &rl->ents[i];

	if (e->lprev != RL_NONE)
		rl->ents[e->lprev].lnext = e->lnext;
	else
		rl->lru_head = e->lnext;
	if (e->lnext != RL_NONE)
		rl->ents[e->lnext].lprev = e->lprev;
	else
		rl->lru_tail = e->lprev;
	e->lprev = e->lnext = RL_NONE;
}

static void
rl_lru_push(struct ratelimit *rl, uint32_t i)
{
	struct rl_entry *e = &rl->ents[i];

	e->lprev = RL_NONE;
	e->lnext = rl->lru_head;
	if (rl->lru_head != RL_NONE)
		rl->ents[rl->lru_head].lprev = i;
	else
		rl->lru_tail = i;
	rl->lru_head = i;
}

static void
rl_touch(struct ratelimit *rl, uint32_t i)
{
	rl->ents[i].stamp = ++rl->clock;
	if (rl->lru_head != i) {
		rl_lru_unlink(rl, i);
		RL_HOOK(RATELIMIT_HOOK_TOUCH);
		rl_lru_push(rl, i);
	}
}

static void
rl_hash_link(struct ratelimit *rl, uint32_t i)
{
	uint32_t *head = &rl->buckets[rl->ents[i].k.hash &
	    (rl->nbuckets - 1)];

	rl->ents[i].hnext = *head;
	RL_FENCE();
	*head = i;
}

/* Unlinks i from its chain; an entry on no chain is fine. */
static void
rl_hash_unlink(struct ratelimit *rl, uint32_t i)
{
	uint32_t *p = &rl->buckets[rl->ents[i].k.hash & (rl->nbuckets - 1)];

	while (*p != RL_NONE) {
		if (*p == i) {
			*p = rl->ents[i].hnext;
			break;
		}
		p = &rl->ents[*p].hnext;
	}
	rl->ents[i].hnext = RL_NONE;
}

static uint32_t
rl_find(const struct ratelimit *rl, const char cns[RL_NS_SIZE],
    const struct rl_key *k)
{
	const struct rl_entry *e;
	uint32_t i = rl->buckets[k->hash & (rl->nbuckets - 1)];
	uint32_t steps = 0;

	for (; i != RL_NONE; i = e->hnext) {
		ASSERT(i < rl->nused && steps++ < rl->nused);
		e = &rl->ents[i];
		if (rl_key_eq(&e->k, k) && memcmp(e->ns, cns, RL_NS_SIZE) == 0)
			return i;
	}
	return RL_NONE;
}

/* ----------------------------------------------------------- windows */

static long long
rl_gran(long long window_ms)
{
	return window_ms / RATELIMIT_SUBWINDOWS +
	    (window_ms % RATELIMIT_SUBWINDOWS != 0);
}

/* Count of the buckets that cover now_ms and the SUBWINDOWS before it. */
static long long
rl_sum(const struct rl_entry *e, long long now_ms)
{
	long long c = now_ms / e->gran_ms, b, s = 0;

	if (c < e->last)
		c = e->last;	/* an older clock: see ratelimit.h */
	b = c - RATELIMIT_SUBWINDOWS;
	if (b < 0)
		b = 0;
	for (; b <= e->last; b++)
		s += e->cnt[b % RL_RING];
	return s;
}

/* Moves the ring to now_ms; returns the bucket to count into. */
static long long
rl_advance(struct rl_entry *e, long long now_ms)
{
	long long c = now_ms / e->gran_ms, b;

	if (c <= e->last)
		return e->last;
	if (c - e->last >= RL_RING)
		memset(e->cnt, 0, sizeof(e->cnt));
	else
		for (b = e->last + 1; b <= c; b++)
			e->cnt[b % RL_RING] = 0;
	e->last = c;
	return c;
}

static void
rl_set_window(struct rl_entry *e, long long window_ms, long long now_ms,
    long long carry)
{
	e->window_ms = window_ms;
	e->gran_ms = rl_gran(window_ms);
	e->last = now_ms / e->gran_ms;
	memset(e->cnt, 0, sizeof(e->cnt));
	e->cnt[e->last % RL_RING] = carry;
}

/* ----------------------------------------------------------- entries */

/* Index of a fresh entry for (cns, k), taking the LRU one when full. */
static uint32_t
rl_insert(struct ratelimit *rl, const char cns[RL_NS_SIZE],
    const struct rl_key *k, long long window_ms, long long now_ms,
    struct rl_after *after)
{
	struct rl_entry *e;
	uint32_t i;
	int fresh = rl->nused < rl->nkeys;

	if (fresh)
		i = rl->nused;
	else {
		i = rl->lru_tail;
		ASSERT(i != RL_NONE);
		rl->evictions++;
		if (rl->ents[i].ns[0] != '\0' &&
		    rl_sum(&rl->ents[i], now_ms) > 0) {
			rl->evictions_live++;
			if (now_ms >= rl->warn_at) {
				rl->warn_at = now_ms + RL_WARN_MS;
				after->warn_evict = 1;
				after->evictions_live = rl->evictions_live;
				after->nkeys = rl->nkeys;
			}
		}
		rl_hash_unlink(rl, i);
		rl->ents[i].ns[0] = '\0';
		RL_FENCE();
		RL_HOOK(RATELIMIT_HOOK_EVICT);
	}
	e = &rl->ents[i];
	e->k = *k;
	rl_set_window(e, window_ms, now_ms, 0);
	memcpy(e->ns + 1, cns + 1, RL_NS_SIZE - 1);
	RL_FENCE();
	RL_HOOK(RATELIMIT_HOOK_INSERT);
	e->ns[0] = cns[0];
	RL_FENCE();
	if (fresh) {
		e->lprev = e->lnext = RL_NONE;
		rl->nused++;
		RL_FENCE();
		rl_lru_push(rl, i);
	}
	rl_hash_link(rl, i);
	rl_touch(rl, i);
	return i;
}

int
ratelimit_hit(struct ratelimit *rl, const char *ns, const char *key,
    long long window_ms, long long limit, long long n, long long now_ms,
    long long *count_r)
{
	struct rl_after after;
	struct rl_entry *e;
	struct rl_key k;
	char cns[RL_NS_SIZE];
	long long count = 0, b;
	uint32_t i;
	int ok;

	ASSERT(window_ms >= 1 && limit >= 0 && n >= 0 && now_ms >= 0);
	rl_canon(rl, ns, 0, cns, key, &k);
	rl_lock(rl, &after);
	if ((i = rl_find(rl, cns, &k)) == RL_NONE) {
		ok = n <= limit;
		if (n == 0 || !ok)
			goto out;	/* nothing to count: store nothing */
		i = rl_insert(rl, cns, &k, window_ms, now_ms, &after);
	} else
		rl_touch(rl, i);
	e = &rl->ents[i];
	if (e->window_ms != window_ms)
		rl_set_window(e, window_ms, now_ms, rl_sum(e, now_ms));
	b = rl_advance(e, now_ms);
	count = rl_sum(e, now_ms);
	/* count may exceed limit after a reload lowered it. */
	ok = count <= limit && n <= limit - count;
	if (ok) {
		e->cnt[b % RL_RING] += n;
		count += n;
	}
out:
	rl_unlock(rl, &after);
	if (count_r != NULL)
		*count_r = count;
	return ok;
}

long long
ratelimit_peek(struct ratelimit *rl, const char *ns, const char *key,
    long long window_ms, long long now_ms)
{
	struct rl_after after;
	struct rl_key k;
	char cns[RL_NS_SIZE];
	long long count = 0;
	uint32_t i;

	ASSERT(window_ms >= 1 && now_ms >= 0);
	rl_canon(rl, ns, 0, cns, key, &k);
	rl_lock(rl, &after);
	if ((i = rl_find(rl, cns, &k)) != RL_NONE)
		count = rl_sum(&rl->ents[i], now_ms);
	rl_unlock(rl, &after);
	return count;
}

/* ----------------------------------------------------------- slots */

int
ratelimit_enter(struct ratelimit *rl, size_t slot, const char *key,
    long long limit)
{
	struct rl_after after;
	struct rl_slot *s;
	struct rl_key k;
	char cns[RL_NS_SIZE];
	long long held = 0;
	size_t j;
	int ok = 1, busy;

	ASSERT(rl != NULL && slot < rl->nslots && limit >= 0);
	rl_canon(rl, "", 1, cns, key, &k);
	rl_lock(rl, &after);
	s = &rl->slots[slot];
	if (!(busy = s->used)) {
		for (j = 0; limit > 0 && j < rl->nslots && held < limit; j++)
			if (rl->slots[j].used && rl_key_eq(&rl->slots[j].k, &k))
				held++;
		if ((ok = limit == 0 || held < limit)) {
			s->k = k;
			RL_FENCE();
			RL_HOOK(RATELIMIT_HOOK_ENTER);
			s->used = 1;
		}
	}
	rl_unlock(rl, &after);
	if (busy)
		log_panic("ratelimit_enter: slot %zu is in use (session "
		    "ended without ratelimit_leave)", slot);
	return ok;
}

static void
rl_slot_clear(struct ratelimit *rl, size_t slot)
{
	struct rl_after after;

	ASSERT(rl != NULL && slot < rl->nslots);
	rl_lock(rl, &after);
	rl->slots[slot].used = 0;
	RL_FENCE();
	memset(&rl->slots[slot].k, 0, sizeof(rl->slots[slot].k));
	rl_unlock(rl, &after);
}

void
ratelimit_leave(struct ratelimit *rl, size_t slot)
{
	rl_slot_clear(rl, slot);
}

void
ratelimit_clear_slot(struct ratelimit *rl, size_t slot)
{
	rl_slot_clear(rl, slot);
}

void
ratelimit_stats(struct ratelimit *rl, struct ratelimit_stats *st_r)
{
	struct rl_after after;
	size_t j;

	ASSERT(rl != NULL && st_r != NULL);
	memset(st_r, 0, sizeof(*st_r));
	rl_lock(rl, &after);
	st_r->keys_used = rl->nused;
	st_r->keys_max = rl->nkeys;
	st_r->slots_max = rl->nslots;
	for (j = 0; j < rl->nslots; j++)
		st_r->slots_used += rl->slots[j].used != 0;
	st_r->evictions = rl->evictions;
	st_r->evictions_live = rl->evictions_live;
	st_r->recoveries = rl->recoveries;
	rl_unlock(rl, &after);
}

/* ----------------------------------------------------------- repair */

static void
rl_sift(struct ratelimit *rl, size_t i, size_t n)
{
	uint32_t *a = rl->order, t;
	size_t c, m;

	for (;;) {
		m = i;
		c = 2 * i + 1;
		if (c < n && rl->ents[a[c]].stamp > rl->ents[a[m]].stamp)
			m = c;
		if (c + 1 < n && rl->ents[a[c + 1]].stamp >
		    rl->ents[a[m]].stamp)
			m = c + 1;
		if (m == i)
			return;
		t = a[i];
		a[i] = a[m];
		a[m] = t;
		i = m;
	}
}

/* Heapsort of order[0..n) by ascending stamp: no allocation. */
static void
rl_sort_order(struct ratelimit *rl, size_t n)
{
	uint32_t t;
	size_t i;

	for (i = n / 2; i-- > 0;)
		rl_sift(rl, i, n);
	for (i = n; i-- > 1;) {
		t = rl->order[0];
		rl->order[0] = rl->order[i];
		rl->order[i] = t;
		rl_sift(rl, 0, i);
	}
}

/* Makes one entry usable whatever its writer left: bounded fields. */
static void
rl_repair_entry(struct ratelimit *rl, struct rl_entry *e)
{
	size_t b;

	e->ns[RL_NS_SIZE - 1] = '\0';
	if ((e->k.tag != RL_TAG_PLAIN && e->k.tag != RL_TAG_DIGEST) ||
	    (e->k.tag == RL_TAG_DIGEST && e->k.len != RL_DIGEST_LEN))
		e->ns[0] = '\0';
	if (e->window_ms < 1 || e->gran_ms != rl_gran(e->window_ms) ||
	    e->last < 0 || e->ns[0] == '\0')
		rl_set_window(e, 1, 0, 0);
	for (b = 0; b < RL_RING; b++)
		if (e->cnt[b] < 0 || e->cnt[b] > RL_CNT_MAX)
			e->cnt[b] = e->cnt[b] < 0 ? 0 : RL_CNT_MAX;
	if (e->ns[0] == '\0')
		e->stamp = 0;	/* invalid: evicted first */
	else
		e->k.hash = rl_key_hash(rl, e->ns, &e->k);
	if (e->stamp > rl->clock)
		rl->clock = e->stamp;
}

/* Under the lock taken with EOWNERDEAD: rebuilds chains and LRU list. */
static void
rl_repair(struct ratelimit *rl)
{
	uint32_t i;

	if (rl->nused > rl->nkeys)
		rl->nused = rl->nkeys;
	for (i = 0; i < rl->nbuckets; i++)
		rl->buckets[i] = RL_NONE;
	rl->lru_head = rl->lru_tail = RL_NONE;
	for (i = 0; i < rl->nused; i++) {
		rl_repair_entry(rl, &rl->ents[i]);
		rl->ents[i].hnext = RL_NONE;
		if (rl->ents[i].ns[0] != '\0')
			rl_hash_link(rl, i);
		rl->order[i] = i;
	}
	rl_sort_order(rl, rl->nused);
	for (i = 0; i < rl->nused; i++)
		rl_lru_push(rl, rl->order[i]);	/* oldest first */
}

/* ----------------------------------------------------------- region */

static int
rl_layout(size_t nkeys, size_t nslots, size_t nbuckets, size_t off_r[5])
{
	size_t o, t;

	o = (sizeof(struct ratelimit) + RL_ALIGN - 1) & ~(size_t)(RL_ALIGN - 1);
	off_r[0] = o;					/* entries */
	if (!size_mul(nkeys, sizeof(struct rl_entry), &t) ||
	    !size_add(o, t, &o))
		return -1;
	off_r[1] = o;					/* buckets */
	if (!size_mul(nbuckets, sizeof(uint32_t), &t) || !size_add(o, t, &o))
		return -1;
	off_r[2] = o;					/* order */
	if (!size_mul(nkeys, sizeof(uint32_t), &t) || !size_add(o, t, &o) ||
	    !size_add(o, RL_ALIGN - 1, &o))
		return -1;
	o &= ~(size_t)(RL_ALIGN - 1);
	off_r[3] = o;					/* slots */
	if (!size_mul(nslots, sizeof(struct rl_slot), &t) ||
	    !size_add(o, t, &o) || o > SIZE_MAX / 2)
		return -1;
	off_r[4] = o;					/* total */
	return 1;
}

static int
rl_mutex_init(pthread_mutex_t *m)
{
	pthread_mutexattr_t a;
	int r;

	if ((r = pthread_mutexattr_init(&a)) != 0)
		return r;
	if ((r = pthread_mutexattr_setpshared(&a,
	    PTHREAD_PROCESS_SHARED)) == 0 &&
	    (r = pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST)) == 0 &&
	    (r = pthread_mutexattr_settype(&a,
	    PTHREAD_MUTEX_ERRORCHECK)) == 0)
		r = pthread_mutex_init(m, &a);
	(void)pthread_mutexattr_destroy(&a);	/* cannot fail on Linux */
	return r;
}

struct ratelimit *
ratelimit_new(size_t nkeys, size_t nslots)
{
	struct ratelimit *rl;
	unsigned char *base;
	size_t off[5], len, nb = 1, i;
	int r;

	if (nkeys == 0 || nkeys > RL_MAX_KEYS || nslots > RL_MAX_KEYS) {
		errno = EINVAL;
		return NULL;
	}
	while (nb < nkeys)
		nb <<= 1;
	if (rl_layout(nkeys, nslots, nb, off) == -1) {
		errno = ENOMEM;
		return NULL;
	}
	len = off[4];
	base = mmap(NULL, len, PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (base == MAP_FAILED)
		return NULL;
	rl = (struct ratelimit *)base;	/* zero-filled by mmap */
	rl->maplen = len;
	rl->nkeys = (uint32_t)nkeys;
	rl->nslots = nslots;
	rl->nbuckets = (uint32_t)nb;
	rl->lru_head = rl->lru_tail = RL_NONE;
	rl->ents = (struct rl_entry *)(base + off[0]);
	rl->buckets = (uint32_t *)(base + off[1]);
	rl->order = (uint32_t *)(base + off[2]);
	rl->slots = (struct rl_slot *)(base + off[3]);
	for (i = 0; i < nb; i++)
		rl->buckets[i] = RL_NONE;
	if (RAND_bytes((unsigned char *)rl->seed, sizeof(rl->seed)) != 1 ||
	    RAND_bytes((unsigned char *)rl->dseed, sizeof(rl->dseed)) != 1) {
		(void)munmap(base, len);	/* errno is ours */
		errno = EIO;
		return NULL;
	}
	if ((r = rl_mutex_init(&rl->mtx)) != 0) {
		(void)munmap(base, len);	/* errno is ours */
		errno = r;
		return NULL;
	}
	return rl;
}

void
ratelimit_free(struct ratelimit **rlp)
{
	struct ratelimit *rl;

	if (rlp == NULL || (rl = *rlp) == NULL)
		return;
	*rlp = NULL;
	/* Children may still hold a mapping (and the lock): no destroy. */
	if (munmap(rl, rl->maplen) == -1)
		log_panic("ratelimit: munmap: %s", strerror(errno));
}

/* ----------------------------------------------------------- tests */

#ifdef RATELIMIT_TEST_HOOKS
static const char *
rl_check_lists(struct ratelimit *rl)
{
	uint32_t i, prev = RL_NONE, n = 0;
	uint64_t stamp = UINT64_MAX;

	for (i = rl->lru_head; i != RL_NONE; i = rl->ents[i].lnext) {
		if (i >= rl->nused || ++n > rl->nused)
			return "LRU list: bad index or cycle";
		if (rl->ents[i].lprev != prev)
			return "LRU list: bad back link";
		if (rl->ents[i].stamp > stamp)
			return "LRU list: stamps out of order";
		stamp = rl->ents[i].stamp;
		prev = i;
	}
	if (n != rl->nused || rl->lru_tail != prev)
		return "LRU list: does not hold every entry";
	for (n = 0, i = 0; i < rl->nbuckets; i++) {
		uint32_t j, steps = 0;

		for (j = rl->buckets[i]; j != RL_NONE; j = rl->ents[j].hnext) {
			if (j >= rl->nused || ++steps > rl->nused)
				return "hash chain: bad index or cycle";
			if ((rl->ents[j].k.hash & (rl->nbuckets - 1)) != i)
				return "hash chain: entry in the wrong bucket";
			if (rl->ents[j].ns[0] == '\0')
				return "hash chain: holds an invalid entry";
			n++;
		}
	}
	for (i = 0; i < rl->nused; i++)
		if (rl->ents[i].ns[0] != '\0') {
			if (rl_key_hash(rl, rl->ents[i].ns, &rl->ents[i].k) !=
			    rl->ents[i].k.hash)
				return "entry: stale hash";
			if (rl_find(rl, rl->ents[i].ns, &rl->ents[i].k) != i)
				return "entry: not found by its key";
			n--;
		}
	return n == 0 ? NULL : "hash chains: entry count differs";
}

int
ratelimit_test_check(struct ratelimit *rl, const char **errstr_r)
{
	struct rl_after after;
	const char *err;

	rl_lock(rl, &after);
	err = rl_check_lists(rl);
	rl_unlock(rl, &after);
	if (err != NULL && errstr_r != NULL)
		*errstr_r = err;
	return err == NULL ? 1 : -1;
}
#endif
