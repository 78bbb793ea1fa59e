/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * Adaptive per-destination throttling, part of qmgr. A destination (a
 * route key: "mx:example.org:25", "smtp:[192.0.2.1]:25") that refuses
 * connections or answers 421/451 with a text saying it is overloaded
 * ("too many connections", "rate limited", ... deliver_throttle_patterns)
 * gets its concurrency halved (at least 1) and a pause between
 * deliveries (deliver_throttle_delay, doubling up to
 * deliver_throttle_delay_max); each job that delivers halves the pause and
 * every deliver_throttle_recover delivered recipients raise the
 * concurrency by one, until it is back at deliver_dest_concurrency
 * without a pause. The state of
 * throttled destinations is kept in the queue index (table dest) so it
 * survives restarts. Never blocks; never talks to the network.
 */
#ifndef EST_THROTTLE_H
#define EST_THROTTLE_H

#include <stddef.h>

struct qidx;
struct relay_cfg;
struct throttle;

/* Loads the saved state from idx (which must outlive it). Never NULL. */
struct throttle *throttle_new(const struct relay_cfg *, struct qidx *);
void	throttle_free(struct throttle **);

/*
 * 1 when one more delivery to key may start now, with active deliveries
 * to it already running; 0 when its concurrency is used up or it is
 * paused: then, if paused, *wake_ms_r is lowered to when the pause ends.
 * Times are wall-clock milliseconds.
 */
int	throttle_allow(struct throttle *, const char *key, size_t active,
	    long long now_ms, long long *wake_ms_r);
/* A delivery to key has started (starts its pause, when it has one). */
void	throttle_started(struct throttle *, const char *key, long long now_ms);

/*
 * 1 when reply ("421 4.7.0 Too many connections ...") is a throttling
 * signal: code 421 or 451 and a text containing one of the patterns
 * (ASCII case-insensitive). Pure.
 */
int	throttle_reply_signals(const char *patterns, const char *reply);

/*
 * The outcome of one job to key at now_ms (wall-clock ms, the caller's
 * clock: the time of a change kept, which throttle_expire compares with
 * its now): signal non-NULL (the reply or reason that lowered it) lowers
 * the destination; otherwise delivered recipients count towards raising
 * it. Changes are written to the index (inside the caller's transaction)
 * and logged.
 */
void	throttle_result(struct throttle *, const char *key,
	    const char *signal, size_t delivered, long long now_ms);

/*
 * Forgets (restores) destinations whose throttling state has not changed
 * for deliver_throttle_forget: one that gets no more mail (its route
 * changed, its queue drained) must not stay throttled, nor listed, for
 * ever. now is unix time. Cheap: call it on every scheduler run.
 */
void	throttle_expire(struct throttle *, long long now);

/* The current concurrency limit of key (deliver_dest_concurrency when it
 * is not throttled) and its pause in ms (0: none). */
int	throttle_limit(const struct throttle *, const char *key,
	    long long *pace_ms_r);

#endif
