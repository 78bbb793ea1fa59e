/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * POP3 command-line parsing and message formatting (RFC 1939, RFC 2449,
 * RFC 5034): splitting a command into keyword and arguments, the command
 * table (which keyword is valid in which state, which needs TLS), message
 * numbers, the TOP and AUTH arguments, the UIDL unique-id and the
 * dot-stuffed multi-line form of a message. Pure functions on memory: no
 * I/O, no logging, no store access, so pop3.c's dispatcher decisions can be
 * unit-tested and fuzzed. Input need not be NUL-terminated and is never
 * read past the given length.
 */
#ifndef EST_POP3_CMD_H
#define EST_POP3_CMD_H

#include <stddef.h>
#include <stdint.h>

struct buf;

/* RFC 1939 3: keywords are 3 or 4 characters; we accept up to 8 so that a
 * longer unknown keyword still gets "-ERR Unknown command". */
#define POP3_VERB_MAX		9	/* with the NUL */
#define POP3_ARG_MAX		40	/* RFC 1939 3: octets per argument */
#define POP3_UIDL_LEN		70	/* RFC 1939 7: the longest unique-id */

/* Session states (RFC 1939 3), a bit each so the table can hold masks. */
enum pop3_state {
	POP3_ST_AUTH = 0x01,	/* AUTHORIZATION */
	POP3_ST_TRANS = 0x02,	/* TRANSACTION: mailbox locked and open */
	POP3_ST_UPDATE = 0x04,	/* UPDATE: after QUIT, deleting */
};
#define POP3_ST_ANY	(POP3_ST_AUTH | POP3_ST_TRANS)

/* "authorization", "transaction", "update" ("?" for anything else). */
const char *pop3_state_name(enum pop3_state);

enum pop3_cmd_id {
	POP3_CMD_USER = 0, POP3_CMD_PASS, POP3_CMD_AUTH, POP3_CMD_STLS,
	POP3_CMD_CAPA, POP3_CMD_QUIT, POP3_CMD_NOOP, POP3_CMD_STAT,
	POP3_CMD_LIST, POP3_CMD_RETR, POP3_CMD_DELE, POP3_CMD_RSET,
	POP3_CMD_TOP, POP3_CMD_UIDL,
	POP3_CMD_COUNT
};

/* Flags of a command. */
#define POP3_CMD_CREDS		0x01	/* carries credentials: TLS needed
					   unless cleartext is allowed */
#define POP3_CMD_COUNTS_ERR	0x02	/* a -ERR counts toward the limit */
#define POP3_CMD_LONG		0x04	/* may exceed the command line limit
					   (AUTH initial response) */

struct pop3_cmd_def {
	const char	*verb;
	enum pop3_cmd_id id;
	unsigned	 states;	/* mask of enum pop3_state */
	unsigned	 flags;		/* POP3_CMD_* */
};

/*
 * Splits line[0..len) (without CRLF) into an upper-cased keyword and the
 * argument text after exactly one space (*arg_r points into line, may be
 * empty). 1; -1 when the keyword is empty, longer than POP3_VERB_MAX-1,
 * not alphabetic, or followed by anything but a space or the end.
 */
int	 pop3_cmd_split(const char *line, size_t len,
	    char verb[POP3_VERB_MAX], const char **arg_r, size_t *arglen_r);

/* The table entry for an upper-cased keyword, or NULL. */
const struct pop3_cmd_def *pop3_cmd_find(const char *verb);

/*
 * The dispatcher's checks for command c in state: NULL when it may run,
 * else the complete -ERR reply (static text, no CRLF): wrong state, or
 * credentials without TLS when creds_ok is 0 (RFC 2595 / RFC 3206 [AUTH]).
 */
const char *pop3_cmd_check(const struct pop3_cmd_def *c, unsigned state,
	    int creds_ok);

/*
 * A message number argument: decimal digits only (no sign; leading zeros
 * allowed), at most POP3_ARG_MAX octets, value 1..2^32-1. 1 with *n_r, or
 * -1.
 */
int	 pop3_cmd_msgnum(const char *arg, size_t len, uint32_t *n_r);

/*
 * Arguments: exactly nargs space-separated tokens (one space between, none
 * leading or trailing), each 1..POP3_ARG_MAX octets. Fills tok/toklen and
 * returns 1, or -1. nargs 0: arg must be empty.
 */
int	 pop3_cmd_args(const char *arg, size_t len, size_t nargs,
	    const char **tok, size_t *toklen);

/* TOP "msg n": message number and a line count 0..2^31-1. 1 or -1. */
int	 pop3_cmd_top(const char *arg, size_t len, uint32_t *msg_r,
	    uint32_t *lines_r);

/*
 * The unique-id of a message (RFC 1939 7, UIDL) from its Maildir base name
 * base[0..len) (the file name without "new/"/"cur/" and without the
 * ":2,FLAGS" info, which a flag change alters): the base name itself when
 * it is 1..70 octets of 0x21..0x7E (every name buzond makes with a host
 * name up to about 20 octets), else the 64 lower-case hex digits of its
 * SHA-256. A base name is unique within a folder and never changes, so the
 * unique-id survives flag changes, restarts and an index rebuilt from the
 * Maildir; a copy or a move into INBOX is a new file with a new base name.
 * out gets 1..POP3_UIDL_LEN octets and a NUL; returns its length.
 */
size_t	 pop3_uidl(const char *base, size_t len,
	    char out[POP3_UIDL_LEN + 1]);

/*
 * Appends the multi-line form of message msg[0..len) to out: every line
 * ended by CRLF (a bare LF becomes CRLF, a last line without one gets
 * one), a line starting with "." gets another one before it, then the
 * terminating ".\r\n". lines < 0: the whole message; lines >= 0 (TOP): the
 * header section, the blank line after it, and at most that many body
 * lines. *octets_r (may be NULL) gets the number of message octets written
 * before stuffing (what the client receives once unstuffed). 1, or -1 when
 * out's maximum would be exceeded (out then holds a partial copy).
 */
int	 pop3_cmd_stuff(const char *msg, size_t len, long long lines,
	    struct buf *out, size_t *octets_r);

/*
 * The same, in pieces, for a message streamed from disk: init, then feed
 * the message in chunks of any size (state carries across: a line start,
 * a CR at a chunk's end, TOP's line count), then end (completes a last
 * line, appends ".\r\n"). Feeding whole or byte by byte gives the same
 * output. feed returns 1, or 0 once TOP has all its lines (the rest may be
 * skipped), or -1 when out's maximum leaves no room for the worst case of
 * a piece (twice its size; pieces are at most 64 KiB of input). octets
 * counts what pop3_cmd_stuff's *octets_r does, as it goes.
 */
struct pop3_stuff {
	long long	 lines;		/* TOP's body lines, < 0: all */
	long long	 body;		/* body lines passed */
	size_t		 linelen;	/* octets of the current line so far */
	size_t		 octets;	/* message octets written, unstuffed */
	int		 in_body;
	int		 bol;		/* at a line start */
	int		 cr;		/* the line so far ends with CR */
	int		 done;		/* TOP: nothing more to send */
};

void	 pop3_stuff_init(struct pop3_stuff *, long long lines);
int	 pop3_stuff_feed(struct pop3_stuff *, const char *p, size_t n,
	    struct buf *out);
int	 pop3_stuff_end(struct pop3_stuff *, struct buf *out);

#endif
