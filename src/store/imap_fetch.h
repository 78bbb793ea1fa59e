/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * IMAP FETCH items (RFC 3501 6.4.5, 7.4.2): parses the item list of a
 * FETCH or UID FETCH command (macros ALL, FAST, FULL; FLAGS, INTERNALDATE,
 * RFC822, RFC822.HEADER, RFC822.TEXT, RFC822.SIZE, ENVELOPE, BODY,
 * BODYSTRUCTURE, UID, BODY[section]<partial>, BODY.PEEK[...]) and renders
 * the untagged FETCH response of one message. ENVELOPE and BODYSTRUCTURE
 * come from imap_body.c and are cached per message through the caller.
 *
 * Pure: no I/O. The message text is asked for through a callback, only
 * when an item needs it and only the header when that is enough. Used by
 * the FETCH handler in imap_msgcmd.c, unit tests and the fuzz target.
 */
#ifndef EST_IMAP_FETCH_H
#define EST_IMAP_FETCH_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct buf;
struct imap_arg;

#define IMAP_PART_DEPTH_MAX	32	/* numbers in a section part path */
#define IMAP_FETCH_ITEMS_MAX	64	/* items in one FETCH */

enum imap_fetch_type {
	IMAP_FI_FLAGS = 1,
	IMAP_FI_INTERNALDATE,
	IMAP_FI_RFC822,		/* = BODY[], sets \Seen */
	IMAP_FI_RFC822_HEADER,	/* = BODY.PEEK[HEADER] */
	IMAP_FI_RFC822_TEXT,	/* = BODY[TEXT], sets \Seen */
	IMAP_FI_RFC822_SIZE,
	IMAP_FI_ENVELOPE,
	IMAP_FI_BODY,		/* BODYSTRUCTURE without extension data */
	IMAP_FI_BODYSTRUCTURE,
	IMAP_FI_UID,
	IMAP_FI_SECTION,	/* BODY[...] / BODY.PEEK[...] */
};

enum imap_section_spec {
	IMAP_SEC_ALL = 0,	/* BODY[] or BODY[1.2]: the part's content */
	IMAP_SEC_HEADER,
	IMAP_SEC_FIELDS,	/* HEADER.FIELDS (list) */
	IMAP_SEC_FIELDS_NOT,	/* HEADER.FIELDS.NOT (list) */
	IMAP_SEC_TEXT,
	IMAP_SEC_MIME,		/* only after a part number */
};

struct imap_section {
	uint32_t		 part[IMAP_PART_DEPTH_MAX];
	size_t			 npart;		/* 0: the whole message */
	enum imap_section_spec	 spec;
	char			**fields;	/* FIELDS, FIELDS_NOT */
	size_t			 nfields;
};

struct imap_fetch_item {
	enum imap_fetch_type	 type;
	int			 peek;		/* BODY.PEEK[...] */
	struct imap_section	 sec;
	int			 partial;	/* <off.count> given */
	uint64_t		 off, count;
	char			*name;		/* response name: "BODY[1.2]<0>" */
};

struct imap_fetch {
	struct imap_fetch_item	*items;
	size_t			 n;
	int			 sets_seen;	/* a non-PEEK body item */
	int			 literals;	/* an item sends message text */
	int			 needs;		/* 0 none, 1 header, 2 whole */
	int			 has_flags, has_uid;
};

/*
 * Parses the item argument of FETCH (an ATOM: one item or macro; or a
 * LIST of items). uid: a UID FETCH (UID is then always returned, first).
 * Returns 1 with *f (release with imap_fetch_free), or -1 with *errstr_r.
 */
int	 imap_fetch_parse(const struct imap_arg *, int uid, struct imap_fetch *f,
	    const char **errstr_r);
void	 imap_fetch_free(struct imap_fetch *);

/* One message as FETCH sees it. */
struct imap_fetch_msg {
	uint32_t	 seq;
	uint32_t	 uid;
	uint32_t	 flags;		/* MSG_* incl. MSG_RECENT */
	const char	*keywords;
	time_t		 internaldate;
	uint64_t	 size;
	int		 add_flags;	/* report FLAGS even if not asked
					 * (\Seen was just set) */
	/* As imap_search_msg's load (CRLF text, header or whole). */
	int		(*load)(void *arg, int whole, const char **data_r,
			    size_t *len_r);
	/* Cache of computed items ("env2", "bs2", "body2"; the digit is a
	 * format version): get appends and returns 1, or 0; either may be
	 * NULL. */
	int		(*cache_get)(void *arg, const char *key,
			    struct buf *out);
	void		(*cache_set)(void *arg, const char *key,
			    const char *data, size_t len);
	/*
	 * Optional: sends octets straight to the client. When set, a
	 * literal of IMAP_FETCH_STREAM_MIN octets or more is not copied into
	 * out: out so far, then the literal, go through emit (out is reset)
	 * and rendering goes on in out. The message text is then loaded
	 * before anything is emitted, so a vanished message still leaves
	 * nothing sent. Returns 1, or -1 (the render fails with -1).
	 */
	int		(*emit)(void *arg, const char *p, size_t n);
	/*
	 * Optional, with emit: for a message of IMAP_FETCH_STREAM_MIN octets
	 * or more whose items need the whole text only for the whole message
	 * (RFC822, BODY[] and BODY.PEEK[], <partial> or not), the text is not
	 * loaded: text_open is called before anything is emitted (1, or 0
	 * when the message vanished: nothing is sent), and text_emit(arg,
	 * off, n) sends octets [off, off + n) of its CRLF form (size octets
	 * in all) to the client, from disk. Returns 1, or -1 (the render
	 * fails with -1).
	 */
	int		(*text_open)(void *arg);
	int		(*text_emit)(void *arg, uint64_t off, uint64_t n);
	/*
	 * Optional, with text_emit: text_read(arg, off, n, out) appends
	 * octets [off, off + n) of the CRLF form to out; text_scan(arg, fn,
	 * fnarg) passes the whole CRLF form to fn in pieces. Both 1, or -1.
	 * With them a big message's part sections (BODY[1], BODY[2.MIME],
	 * ...) and uncached BODY/BODYSTRUCTURE stream as well: the MIME
	 * structure is parsed from the pieces, a part's octets go from the
	 * file, and only part headers (FIELDS, embedded envelopes) are read
	 * into memory.
	 */
	int		(*text_read)(void *arg, uint64_t off, uint64_t n,
			    struct buf *out);
	int		(*text_scan)(void *arg, void (*fn)(void *fnarg,
			    const char *p, size_t n), void *fnarg);
	void		*arg;
};

#define IMAP_FETCH_STREAM_MIN	(64u * 1024)

/*
 * Appends "* seq FETCH (...)" CRLF for m to out (see emit above for big
 * literals). Returns 1; 0 when the message text was needed and vanished
 * (nothing appended or emitted; the caller answers NO at the end); -1
 * when out refused an append or emit failed (after an emit, what was
 * sent cannot be taken back: the caller must end the session).
 */
int	 imap_fetch_render(const struct imap_fetch *, const struct imap_fetch_msg *m,
	    struct buf *out, struct buf *scratch);

/* "17-Jul-1996 02:44:25 -0700" in local time (INTERNALDATE). */
int	 imap_fetch_date(time_t t, struct buf *out);

#endif
