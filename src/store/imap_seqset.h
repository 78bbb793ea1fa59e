/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * IMAP sequence sets (RFC 3501 9, "sequence-set"): "1,3:5,7:*". Used for
 * message sequence numbers (FETCH, STORE, COPY, MOVE, SEARCH) and for UID
 * sets (UID commands, the SEARCH UID key, UID EXPUNGE). Pure functions: no
 * I/O, no mailbox; the caller resolves "*" against its mailbox.
 *
 * A set is parsed once into ranges with "*" kept symbolic, then resolved
 * (lo <= hi, sorted, overlapping and adjacent ranges merged) against the
 * value "*" stands for. The number of ranges is bounded.
 */
#ifndef EST_IMAP_SEQSET_H
#define EST_IMAP_SEQSET_H

#include <stddef.h>
#include <stdint.h>

#define IMAP_SEQSET_STAR	0		/* "*" before resolving */
#define IMAP_SEQSET_MAX		10000		/* ranges in one set */

struct imap_seqrange {
	uint32_t	 lo;
	uint32_t	 hi;
};

struct imap_seqset {
	struct imap_seqrange	*r;
	size_t			 n;
	int			 has_star;
	int			 resolved;
};

/*
 * Parses s[0..len) (no surrounding spaces) into set (initialised by the
 * call; release with imap_seqset_free even on failure). Numbers are
 * nz-number (1..4294967295, no leading zero); "*" is kept as
 * IMAP_SEQSET_STAR until resolved. Returns 1, or -1 with *errstr_r
 * ("invalid sequence set", "too many ranges in sequence set").
 */
int	 imap_seqset_parse(const char *s, size_t len, struct imap_seqset *set,
	    const char **errstr_r);
void	 imap_seqset_free(struct imap_seqset *);

/*
 * Replaces "*" by star, orders each range, sorts and merges. For message
 * sequence numbers (uid 0), star is the message count and every number
 * must be <= star: -1 "invalid message sequence number" otherwise (also
 * when the mailbox is empty). For UIDs (uid 1), star is the highest UID
 * (or 0 in an empty mailbox, then "*" matches nothing) and numbers beyond
 * it are simply not present. Returns 1 or -1 with *errstr_r.
 */
int	 imap_seqset_resolve(struct imap_seqset *, int uid, uint32_t star,
	    const char **errstr_r);

/* 1 if v is in the resolved set, else 0 (binary search). */
int	 imap_seqset_contains(const struct imap_seqset *, uint32_t v);

/*
 * Appends the message sequence numbers the resolved set designates in a
 * mailbox of count messages, ascending and without duplicates, to
 * *seqs_r (malloc'd, caller frees; NULL when empty) and sets *n_r. For a
 * UID set, uid_at(arg, seq) returns the UID of seq (ascending in seq).
 */
void	 imap_seqset_seqs(const struct imap_seqset *, int uid,
	    uint32_t count, uint32_t (*uid_at)(void *arg, uint32_t seq),
	    void *arg, uint32_t **seqs_r, size_t *n_r);

/*
 * Appends the compact form of the sorted list v[0..n) ("1:3,7") to out,
 * for COPYUID and tests. -1 if out refused.
 */
struct buf;
int	 imap_seqset_format(const uint32_t *v, size_t n, struct buf *out);

#endif
