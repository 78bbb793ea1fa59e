/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * The users database: SQLite (WAL) holding mail users with yescrypt password
 * hashes (libcrypt), aliases and the sender addresses each login may use.
 * Shared by the relay (AUTH, RCPT lookups, sender authorization), buzond and
 * estafetactl, which is the only writer. It never logs and never keeps a
 * password: every copy it makes is wiped before release. Addresses are
 * validated with addr_parse_mailbox() (UTF-8 allowed) and stored in
 * canonical form (addr_format(): domain lowercased); lookups ignore ASCII
 * case. A database file must be a regular file that is neither group nor
 * world accessible (mode 0600), or users_open() refuses it.
 *
 * Return contract of every function unless said otherwise: 1 done, 0 not
 * found (with *errstr_r set where there is one), -1 error with *errstr_r
 * set to static text; only a database error's text ("database error: ...")
 * lives in the handle, valid until the next call on it. errstr_r may be
 * NULL. Every call may block on disk I/O and, for up to the busy timeout
 * (5 s), on another process's write transaction. A handle is for one
 * thread at a time.
 */
#ifndef EST_USERS_H
#define EST_USERS_H

#include <sys/types.h>

#include <stddef.h>

/* Password length in octets: 1..USERS_PASSWD_MAX (libxcrypt refuses more). */
#define USERS_PASSWD_MAX	511

struct users;

/*
 * Opens the database at path. writable: creates the file (mode 0600) when
 * missing and the schema when empty, and allows the write functions;
 * otherwise the file must exist with a schema, and the handle never writes
 * (the connection is read-only and query_only). Refuses a file that is not
 * a regular file, is a symbolic link, or is accessible by group or others.
 * On success *u_r is set (close with users_close). -1 with *errstr_r.
 */
int	 users_open(const char *path, int writable, struct users **u_r,
	    const char **errstr_r);
/* Closes *up and sets it to NULL; NULL is fine. */
void	 users_close(struct users **up);

/*
 * Gives the database at path (and its -wal and -shm files, when present)
 * to uid:gid, as a master running as root does for run_user. The
 * directory may be writable by run_user, so each file is opened without
 * following a symlink and changed through that descriptor only if it is
 * a regular file with a single link: a symlink or a hard link planted in
 * its place cannot make root hand over another file. 1, 0 when path does
 * not exist, -1 with *errstr_r (which file and why).
 */
int	 users_chown(const char *path, uid_t uid, gid_t gid,
	    const char **errstr_r);

/*
 * Checks login's password pw[0..pwlen) (not NUL-terminated; a NUL inside
 * never matches). 1 for good credentials of an enabled user; 0 when bad:
 * unknown login, disabled user, wrong or out-of-range password, all alike.
 * For an unknown login crypt_r still runs against a fixed dummy yescrypt
 * hash so the time taken does not reveal whether the user exists. -1 on a
 * database or libcrypt error. Slow by design (one yescrypt hash).
 */
int	 users_verify(struct users *, const char *login, const char *pw,
	    size_t pwlen);

/*
 * RCPT lookup. 1 when address is an enabled user, or an alias (followed up
 * to 8 levels) ending at an enabled user or at an address that is neither a
 * user nor an alias (an external forward); *target_r gets the final address
 * (malloc'd, canonical). A "local+detail@domain" unknown in full is tried as
 * "local@domain" at each step (then the target is that user or alias's
 * result, without the detail). 0 when unknown, when it ends at a disabled
 * user, or when address is not a valid mailbox. -1 on a database error or
 * an alias loop (errstr kept internal: this contract has no errstr_r).
 */
int	 users_lookup(struct users *, const char *address, char **target_r);

/*
 * 1 if login may use sender (envelope MAIL FROM or From: address): it is
 * login's own address, or a senders row for login has the pattern sender or
 * "@domain" with sender's domain. 0 otherwise (also for an invalid sender or
 * the null path: the caller decides about "<>"); -1 on a database error.
 */
int	 users_sender_ok(struct users *, const char *login,
	    const char *sender);

/*
 * Adds an enabled user with password pw[0..pwlen) (1..USERS_PASSWD_MAX
 * octets, no NUL), hashed with yescrypt. -1 "user exists", "alias exists"
 * (an alias has that address), "invalid address", "invalid password
 * length", "password contains NUL", or a database/libcrypt error.
 */
int	 users_add(struct users *, const char *address, const char *pw,
	    size_t pwlen, const char **errstr_r);
/*
 * Mailbox quota of an enabled user in octets (0: none set, the store's
 * default applies): 1 with *q_r, 0 when address is not an enabled user, -1
 * on a database error.
 */
int	 users_quota(struct users *, const char *address,
	    unsigned long long *q_r);
/* Sets it (0: none). 0 "no such user". */
int	 users_set_quota(struct users *, const char *address,
	    unsigned long long bytes, const char **errstr_r);
/* Replaces address's password. 0 "no such user". */
int	 users_passwd(struct users *, const char *address, const char *pw,
	    size_t pwlen, const char **errstr_r);
/* Enables (1) or disables (0) address. 0 "no such user". */
int	 users_set_enabled(struct users *, const char *address, int enabled,
	    const char **errstr_r);
/* Removes address and its senders rows. 0 "no such user". */
int	 users_del(struct users *, const char *address,
	    const char **errstr_r);

/*
 * Adds alias -> target (both mailboxes). -1 "alias exists", "user exists"
 * (a user has the alias's address), "alias points to itself",
 * "invalid address".
 */
int	 users_alias_add(struct users *, const char *alias,
	    const char *target, const char **errstr_r);
/* 0 "no such alias". */
int	 users_alias_del(struct users *, const char *alias,
	    const char **errstr_r);

/*
 * Lets login (an existing user) use pattern as sender: a mailbox or
 * "@domain". -1 "no such user", "sender exists", "invalid address",
 * "invalid domain".
 */
int	 users_sender_add(struct users *, const char *login,
	    const char *pattern, const char **errstr_r);
/* 0 "no such sender". */
int	 users_sender_del(struct users *, const char *login,
	    const char *pattern, const char **errstr_r);

/*
 * Calls fn for each row, ordered by the first column (case-insensitively).
 * The strings are valid only during the call. fn returning -1 stops the
 * walk. Returns the number of rows passed to fn, or -1 on a database
 * error.
 */
int	 users_foreach(struct users *,
	    int (*fn)(void *arg, const char *address, int enabled), void *arg);
int	 users_alias_foreach(struct users *,
	    int (*fn)(void *arg, const char *alias, const char *target),
	    void *arg);
int	 users_sender_foreach(struct users *,
	    int (*fn)(void *arg, const char *login, const char *pattern),
	    void *arg);

#endif
