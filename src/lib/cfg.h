/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * Table-driven configuration parser. Each daemon declares its settings in a
 * table (name, type, default, bounds, offset in its config struct); this
 * module fills a fresh struct from defaults plus a file. It never changes a
 * live configuration: callers parse into a new struct and swap on success.
 *
 * File syntax (Postfix-like):
 *   # comment                    (a line whose first non-blank is '#')
 *   key = value
 *     continued value            (a line starting with blank continues the
 *                                 previous one, joined with one space)
 *   include = other.conf         (relative to the including file's folder;
 *                                 nesting limited to 8 levels)
 * Values: strings as written (leading/trailing blanks trimmed); integers;
 * booleans yes/no/true/false/on/off/1/0; sizes with optional unit
 * K/M/G (x1024, case-insensitive, optional trailing B: 10m, 50M, 1GB); durations
 * with unit ms/s/m/h/d/w (bare number = seconds: 30s, 10m, 5d); lists
 * separated by commas and/or blanks; enums from a fixed set of names.
 * A key given twice: the last one wins. Unknown keys, bad values, values out
 * of bounds are errors reported as "file:line: message".
 */
#ifndef EST_CFG_H
#define EST_CFG_H

#include <stddef.h>
#include <stdio.h>

struct buf;

enum cfg_type {
	CFG_STR,	/* char *  (NULL if default is NULL and not set) */
	CFG_INT,	/* long long, within [min, max] */
	CFG_BOOL,	/* int, 0 or 1 */
	CFG_SIZE,	/* long long bytes, within [min, max] */
	CFG_DURATION,	/* long long milliseconds, within [min, max] */
	CFG_LIST,	/* struct cfg_list */
	CFG_ENUM,	/* int: index into choices */
};

struct cfg_list {
	size_t	  n;
	char	**v;
};

struct cfg_def {
	const char		 *name;
	enum cfg_type		  type;
	const char		 *def;	/* default, in file syntax; NULL = unset */
	long long		  min;	/* INT/SIZE/DURATION bounds (ms for DURATION) */
	long long		  max;
	size_t			  offset;	/* offsetof(struct x, field) */
	const char *const	 *choices;	/* CFG_ENUM: NULL-terminated */
	const char		 *help;	/* one line, for the README and -n */
};

/* The table ends with an entry whose name is NULL. */

/*
 * Sets every field of target to its default. Returns 1, or -1 with a
 * message in err if a default is itself invalid (a bug in the table).
 */
int	 cfg_defaults(const struct cfg_def *, void *target, struct buf *err);

/*
 * Applies defaults, then the file at path. Returns 1 on success; -1 when any
 * line is bad, with one "file:line: message\n" per error appended to err
 * (at most 20). On failure target is freed (cfg_free) and left zeroed.
 */
int	 cfg_parse_file(const struct cfg_def *, void *target, const char *path,
	    struct buf *err);

/* Same, on text in memory; name is used in messages. Includes are resolved
 * relative to the current directory. */
int	 cfg_parse_string(const struct cfg_def *, void *target,
	    const char *name, const char *text, size_t len, struct buf *err);

/* Sets one key from text "value" on an already-initialised target (for
 * command-line overrides); 1 or -1 with a message in err. */
int	 cfg_set(const struct cfg_def *, void *target, const char *key,
	    const char *value, struct buf *err);

/*
 * Applies command-line overrides ("key=value" strings, NULL-terminated
 * array; NULL is none) with cfg_set. 1, or -1 with a message in err.
 */
int	 cfg_set_overrides(const struct cfg_def *, void *target,
	    char *const *overrides, struct buf *err);

/* Prints "key = value" lines in table order (all, or only those differing
 * from the default), values in canonical form (sizes in bytes with the
 * largest exact unit, durations likewise, lists comma-separated). */
int	 cfg_print(const struct cfg_def *, const void *target, int nondefault,
	    FILE *);

/*
 * Where each setting got its value, for the checks a daemon makes after
 * parsing (a value that needs another, two that conflict, a list item
 * it cannot use): their messages name the file and line too.
 */
struct cfg_where;

/*
 * cfg_parse_file(path), then cfg_set_overrides(overrides), recording in
 * *where_r (freed with cfg_where_free) the file and line of the last
 * assignment of each setting. 1, or -1 with messages in err (target
 * freed and zeroed, *where_r NULL).
 */
int	 cfg_load(const struct cfg_def *, void *target, const char *path,
	    char *const *overrides, struct cfg_where **where_r,
	    struct buf *err);
void	 cfg_where_free(struct cfg_where **);
/*
 * A daemon's whole load: cfg_load into target and *where_r (which
 * usually lies in target), then check(target, err), the checks after
 * parsing (they may use *where_r). 1, or -1 with messages in err
 * (target freed and zeroed, *where_r NULL).
 */
int	 cfg_load_checked(const struct cfg_def *, void *target,
	    const char *path, char *const *overrides,
	    struct cfg_where **where_r,
	    int (*check)(void *target, struct buf *err), struct buf *err);

/*
 * Appends one error line "WHERE: message\n" to err about the settings
 * keys (NULL-terminated names of the table, or NULL for the file as a
 * whole). WHERE is where the one of them assigned last was set:
 * "file:line", "-o key" for an override, or the main file's name when
 * every one has its default. The others that were set are named at the
 * end: " (see also key at file:line)". CFG_KEYS("a", "b") makes keys.
 */
void	 cfg_where_error(const struct cfg_where *, struct buf *err,
	    const char *const *keys, const char *fmt, ...)
	    __attribute__((format(printf, 4, 5)));
#define CFG_KEYS(...)	((const char *const[]){ __VA_ARGS__, NULL })

/* Sets an empty *hostname (a daemon's "hostname" setting) to the
 * system's host name, or "localhost" when there is none. */
void	 cfg_hostname_default(char **hostname);

/* Frees strings and lists inside target; leaves it zeroed. */
void	 cfg_free(const struct cfg_def *, void *target);

/* Lookup helpers for callers and tests. */
const struct cfg_def *cfg_find(const struct cfg_def *, const char *name);

#endif
