/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * The pure parts of estafeta-sendmail (src/ctl/sendmail.c): its command
 * line, the line splitter that turns stdin into SMTP text lines, the
 * header section pass (recipients for -t, Bcc removal, which fields are
 * missing), recipient lists, the display name of an added From: and the
 * mapping of SMTP replies to sysexits.h codes. No I/O, no global state
 * (getopt's aside), so every piece is unit-tested and fuzzed. Nothing here
 * may trust its input: stdin and argv come from any local user.
 */
#ifndef EST_SUBMIT_H
#define EST_SUBMIT_H

#include <stddef.h>

struct buf;

/* Text octets per SMTP line (RFC 5321 4.5.3.1.6: 1000 with CRLF). */
#define SUBMIT_LINE_MAX		998
/* Largest header section read before the message is refused. */
#define SUBMIT_HDR_MAX		(1024 * 1024)
/* Most distinct recipients one invocation takes. */
#define SUBMIT_RCPT_MAX		10000

enum submit_mode {
	SUBMIT_DELIVER = 0,	/* -bm: read a message, submit it (default) */
	SUBMIT_SMTP,		/* -bs: SMTP on stdin/stdout */
	SUBMIT_NEWALIASES,	/* -bi, -I, "newaliases": nothing to do */
	SUBMIT_MAILQ,		/* -bp, "mailq": estafetactl queue list */
	SUBMIT_FLUSH,		/* -q: estafetactl queue flush */
	SUBMIT_NOTHING,		/* -q<interval>: no daemon mode; exit 0 */
};

struct submit_opts {
	enum submit_mode mode;
	int		 extract;	/* -t */
	int		 ignore_dots;	/* -i, -oi */
	int		 verbose;	/* -v: dialogue on stderr */
	const char	*sender;	/* -f, -r; NULL: login@domain */
	const char	*fullname;	/* -F */
	const char	*config;	/* -C; NULL: the default */
	char		 notify[32];	/* -N as NOTIFY= value, or "" */
	const char	*ret;		/* -R: "HDRS", "FULL" or NULL */
	const char	*envid;		/* -V, or NULL */
	const char	*body;		/* -B: "7BIT", "8BITMIME" or NULL */
	char *const	*rcpts;		/* the operands (into argv) */
	size_t		 nrcpt;
};

/*
 * Parses a sendmail command line (argv[0]'s base name "mailq" or
 * "newaliases" selects those modes). Options Estafeta has no use for
 * (-oem, -odi, -v, -m, -n, -U, -L x, -X x, -h n, -O x, ...) are accepted
 * and ignored. 1, or -1 with a message in err (a usage error). Uses
 * getopt(3): resets it first, permutes argv.
 */
int	submit_parse_args(int argc, char *argv[], struct submit_opts *o,
	    struct buf *err);

/*
 * Line splitter. Every CR is dropped (CR LF is a line end; a lone CR
 * cannot travel in SMTP), LF ends a line, and a line longer than an SMTP
 * line is broken (the later pieces have cont = 1). A piece that will get
 * one more octet (dot-stuffing, folding: it starts with '.' or is a
 * continuation) is broken one octet earlier.
 */
struct submit_lines {
	char		 line[SUBMIT_LINE_MAX];
	size_t		 len;
	int		 cont;		/* the line in progress continues one */
};

/* Gets each line (without its end) or piece; returns 1 to go on, 0 to
 * stop after this line, -1 on error. */
typedef int (*submit_line_fn)(void *arg, const char *line, size_t len,
    int cont);

/*
 * Feeds p[0..n); *used_r is how much was consumed (all of it, unless fn
 * stopped: then up to the end of that line). Returns fn's last 0 or -1,
 * or 1 when all was consumed.
 */
int	submit_lines_feed(struct submit_lines *, const char *p, size_t n,
	    submit_line_fn fn, void *arg, size_t *used_r);
/* At end of input: a last line without LF goes to fn. fn's result, or 1. */
int	submit_lines_finish(struct submit_lines *, submit_line_fn fn,
	    void *arg);

/* Appends one SMTP text line: dot-stuffed, CRLF added. -1 if out is full. */
int	submit_smtp_line(struct buf *out, const char *line, size_t len);

/* A header field name followed by ':' opens line[0..len). */
int	submit_is_field(const char *line, size_t len);

/* Distinct, qualified, canonical recipient addresses. */
struct submit_rcpts {
	char		**v;
	size_t		 n;
	int		 utf8;		/* one of them needs SMTPUTF8 */
};

/*
 * Adds the address a[0..n) (an addr-spec as in a header; without '@' it
 * gets "@domain"), parsed and in canonical form, unless already there.
 * 1, or -1 with *errstr_r (malformed address, too many recipients).
 */
int	submit_rcpts_add(struct submit_rcpts *, const char *a, size_t n,
	    const char *domain, const char **errstr_r);
/* Adds every address of an address-list text ("a, B <b@x>"); same. */
int	submit_rcpts_add_list(struct submit_rcpts *, const char *list,
	    size_t n, const char *domain, const char **errstr_r);
void	submit_rcpts_free(struct submit_rcpts *);

/*
 * The envelope sender of "-f text": "" for the null sender (-f "" or
 * -f "<>"), else the canonical, qualified address (angle brackets
 * allowed). 1, or -1 with *errstr_r.
 */
int	submit_sender(const char *text, const char *domain, struct buf *out,
	    int *utf8_r, const char **errstr_r);

/* What the header pass found. */
struct submit_hdrinfo {
	int		 from, date, msgid;	/* fields present */
	int		 resent;	/* Resent-To/-Cc/-Bcc present */
	size_t		 bcc_removed;	/* Bcc/Resent-Bcc fields dropped */
};

/*
 * The header pass over hdrs[0..len) (lines ending in LF, no CR, as the
 * splitter made them): copies every field but Bcc and Resent-Bcc to out
 * (same form), fills *info and, when rcpts is not NULL (-t), adds the
 * addresses of To, Cc and Bcc -- or of Resent-To, -Cc and -Bcc only, when
 * any of those is present (a resent message). 1, or -1 with *errstr_r (a
 * malformed address list; out and rcpts then hold part of the work).
 */
int	submit_headers(const char *hdrs, size_t len, struct submit_rcpts *rcpts,
	    const char *domain, struct buf *out, struct submit_hdrinfo *info,
	    const char **errstr_r);

/*
 * Appends the display name for "From: name <addr>": control characters
 * dropped, blanks trimmed; as written when only atext and spaces, else a
 * quoted string, or RFC 2047 encoded words (UTF-8, base64) when it holds
 * non-ASCII. Nothing for an empty name. -1 if out is full.
 */
int	submit_display_name(struct buf *out, const char *name);

/* The sysexits.h code for an SMTP reply ("250 ...", "550 5.1.1 ..."):
 * EX_OK for 2xx/3xx, EX_TEMPFAIL for 4xx, by enhanced status for 5xx. */
int	submit_reply_exit(const char *reply);

#endif
