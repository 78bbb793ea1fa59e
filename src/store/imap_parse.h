/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * The IMAP command parser (RFC 3501 section 9, LITERAL+ RFC 7888): an
 * incremental state machine fed with whatever bytes arrived, so one command
 * may come in any number of pieces (tested byte by byte and at every split
 * point). It turns "tag SP name [SP args] CRLF" into a tag, an upper-cased
 * command name and a tree of arguments; it knows nothing about the meaning
 * of any command (handlers check their own arguments). Called by the IMAP
 * session (imap.c), which writes "+ " continuations and replies: the parser
 * never does I/O and never logs.
 *
 * Tokens:
 *  - ATOM: 1*<CHAR except SP, CTL, "(", ")", "{", DQUOTE>; "\\", "*", "%"
 *    and "]" are accepted (flags, sequence sets, LIST patterns, astrings).
 *    An atom containing "[" extends to the matching "]" across spaces,
 *    parentheses and quoted strings, then continues with atom characters,
 *    so BODY.PEEK[HEADER.FIELDS (From To)]<0.100> is one ATOM.
 *  - STRING: quoted ("..." with \" and \\ escapes; no CR, LF or NUL) or a
 *    literal {n} / {n+} followed by CRLF and n octets (may hold NUL).
 *  - NIL: the atom NIL in any case (str still "NIL": an astring accepts it).
 *  - LIST: "(" [arg *(SP arg)] ")".
 * Arguments are separated by exactly one SP; the command ends with CRLF (a
 * bare LF is accepted). Every limit in struct imap_limits is enforced;
 * a literal larger than literal_max is refused before any of its octets
 * is read.
 */
#ifndef EST_IMAP_PARSE_H
#define EST_IMAP_PARSE_H

#include <stddef.h>

enum imap_arg_type {
	IMAP_ARG_ATOM = 1,
	IMAP_ARG_STRING,
	IMAP_ARG_NIL,
	IMAP_ARG_LIST,
};

struct imap_arg {
	enum imap_arg_type	 type;
	/* ATOM, STRING, NIL: the octets, NUL-terminated at str[len] (a
	 * literal may hold NUL before that: use len). LIST: NULL. */
	const char		*str;
	size_t			 len;
	int			 literal;	/* STRING came as a literal */
	/* LIST: the children (list[0..nlist)); otherwise NULL/0. */
	const struct imap_arg	*list;
	size_t			 nlist;
};

/* One parsed command; everything is owned by the parser and valid until
 * the next imap_parser_feed() after this command was returned. */
struct imap_cmd {
	const char		*tag;
	const char		*name;		/* upper-cased ASCII atom */
	const struct imap_arg	*args;		/* args[0..nargs) after name */
	size_t			 nargs;
	size_t			 bytes;		/* octets of the whole command */
};

struct imap_limits {
	size_t	line_max;	/* octets of command text outside literals */
	size_t	literal_max;	/* one literal */
	size_t	total_max;	/* all literals of one command together */
	size_t	depth_max;	/* parenthesis nesting */
	size_t	args_max;	/* arguments in all lists together */
	size_t	tag_max;	/* octets of the tag */
};

/* Defaults: 64 KiB line, 64 MiB literal and total, depth 32, 10000
 * arguments, tag 64. */
#define IMAP_LINE_MAX_DEFAULT		65536
#define IMAP_LITERAL_MAX_DEFAULT	(64u * 1024 * 1024)
#define IMAP_DEPTH_MAX_DEFAULT		32
#define IMAP_ARGS_MAX_DEFAULT		10000
#define IMAP_TAG_MAX_DEFAULT		64
void	 imap_limits_default(struct imap_limits *);

enum imap_parse_result {
	IMAP_PARSE_MORE = 0,	/* all input used; feed more */
	IMAP_PARSE_DONE,	/* a command is complete: *cmd_r */
	IMAP_PARSE_LITERAL,	/* a synchronizing literal {n} was accepted:
				 * send "+ ..." then keep feeding */
	IMAP_PARSE_ERROR,	/* syntax error or limit: reply BAD; the rest of
				 * the command is skipped by the next feeds */
	IMAP_PARSE_TOOBIG,	/* a literal over the limit: for {n} answer
				 * "tag NO [TOOBIG]" (the client sends nothing
				 * more for it); for {n+} the octets are
				 * already on their way: see imap_parse_err */
	IMAP_PARSE_REFUSED,	/* the literal check refused a literal: answer
				 * "tag NO ..." (err_r->tag). For {n} this
				 * comes instead of the continuation (the
				 * client sends nothing more for the command);
				 * for {n+} once its octets and the rest of
				 * its line were read and dropped (never held
				 * in memory) */
};

struct imap_parser;

/* A parser with the given limits (copied; NULL: defaults). */
struct imap_parser *imap_parser_new(const struct imap_limits *);
void	 imap_parser_free(struct imap_parser **);

/*
 * Parses up to len octets of data. *used_r gets how many were consumed
 * (the caller drops them from its input and calls again with the rest,
 * also after DONE, LITERAL, ERROR and TOOBIG: those stop early).
 *  - MORE: every octet was used; call again when more arrive.
 *  - DONE: *cmd_r is the command (valid until the next call).
 *  - LITERAL: the client waits for a continuation before sending n octets.
 *  - ERROR, TOOBIG: *err_r (see below) describes it. The parser then skips
 *    the rest of the failed command on later calls (up to the end of its
 *    line, also skipping the octets of any {n+} literal in it) and returns
 *    MORE until a new command starts.
 * Never blocks; never reads past data[len).
 */
struct imap_parse_err {
	const char	*tag;		/* the command's tag, or NULL (use "*") */
	const char	*text;		/* static English text */
	int		 nonsync;	/* TOOBIG: the literal was {n+} */
	int		 fatal;		/* no way to resync: say BYE, close */
};
enum imap_parse_result imap_parser_feed(struct imap_parser *,
	    const char *data, size_t len, size_t *used_r,
	    const struct imap_cmd **cmd_r, struct imap_parse_err *err_r);

/* Frees the command returned last (its literals may be big) now rather
 * than at the next feed; its pointers become invalid. */
void	 imap_parser_release(struct imap_parser *);

/* Changes literal_max and total_max from the next command on (e.g.
 * smaller before authentication). */
void	 imap_parser_literal_limit(struct imap_parser *, size_t max);

/*
 * A check of each literal when its size is known, before any of its
 * octets is read (and before the continuation of a {n}): fn(arg, name,
 * depth, nargs, size, nonsync) gets the command's name (upper case; NULL
 * while it has none), the list nesting at the literal (0: a top-level
 * argument), how many arguments of that level came before it, the size
 * and whether it is {n+}. Non-zero refuses it: IMAP_PARSE_REFUSED. Used
 * by the session to refuse an APPEND over the quota before its message
 * is sent (RFC 9208 4.3.1, RFC 3501 7.5). NULL: none (the default).
 */
typedef int (*imap_literal_check_fn)(void *arg, const char *name,
	    size_t depth, size_t nargs, size_t size, int nonsync);
void	 imap_parser_literal_check(struct imap_parser *,
	    imap_literal_check_fn fn, void *arg);

/* 1 while the parser is inside a command (partial input pending). */
int	 imap_parser_busy(const struct imap_parser *);

/* The literal announced by the last LITERAL/TOOBIG result. */
size_t	 imap_parser_literal_size(const struct imap_parser *);

/*
 * Helpers for handlers. imap_arg_astring: 1 when a is ATOM, STRING or NIL
 * (an astring; "NIL" is a valid mailbox name) with *s_r and *len_r set, else 0.
 * imap_arg_is: 1 when a is an ATOM equal to word, ignoring ASCII case.
 * imap_arg_cstr: 1 when a is an astring without NUL octets.
 */
int	 imap_arg_astring(const struct imap_arg *a, const char **s_r,
	    size_t *len_r);
int	 imap_arg_is(const struct imap_arg *a, const char *word);
int	 imap_arg_cstr(const struct imap_arg *a, const char **s_r);

#endif
