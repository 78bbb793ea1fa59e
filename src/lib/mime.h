/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * Streaming MIME parser (RFC 2045-2049, RFC 2231 parameters, RFC 6532
 * message/global). Feed it a message in chunks of any size; it builds a
 * tree of parts with absolute byte offsets into the message as fed
 * (header start, end of the header fields, body start, body end), the
 * Content-* fields parsed, and body statistics (line count, 8-bit octets,
 * NULs, longest line). Multiparts are split at their boundaries (ancestor
 * boundaries close inner parts, a missing final boundary is tolerated) and
 * message/rfc822 and message/global bodies are parsed as embedded
 * messages.
 *
 * Robust on hostile input: nesting depth, number of parts, kept header
 * bytes and stored strings are bounded (struct mime_limits); past a bound
 * the rest is treated as opaque body, never an error. A part whose
 * Content-Type cannot be parsed degrades to text/plain; us-ascii, a
 * multipart without a usable boundary to application/octet-stream, as mail
 * readers do. Memory is allocated with xmalloc (exits on exhaustion).
 * No I/O, no global state. Used by buzond (IMAP BODYSTRUCTURE, BODY[]
 * sections, SEARCH) and by the relay's 8BITMIME downgrade.
 *
 * Also here: quoted-printable and base64 (OpenSSL EVP) body decoders, a
 * quoted-printable encoder, and RFC 2047 encoded-word decoding to raw
 * bytes plus charset name.
 */
#ifndef EST_MIME_H
#define EST_MIME_H

#include <stddef.h>
#include <stdint.h>

struct buf;

enum mime_enc {
	MIME_ENC_7BIT = 0,	/* also the default when absent */
	MIME_ENC_8BIT,
	MIME_ENC_BINARY,
	MIME_ENC_QP,
	MIME_ENC_BASE64,
	MIME_ENC_OTHER		/* unknown token (e.g. x-uuencode) */
};

/* One Content-Type or Content-Disposition parameter, RFC 2231 merged. */
struct mime_param {
	struct mime_param *next;
	char	*name;		/* lower case, without '*' or section */
	char	*value;		/* decoded octets (NUL-terminated) */
	size_t	 value_len;
	char	*charset;	/* RFC 2231 charset or NULL */
	char	*lang;		/* RFC 2231 language or NULL */
	int	 extended;	/* value came (partly) in name*=... form */
};

/* Part flags. */
#define MIME_F_MULTIPART	0x0001	/* has children split by boundary */
#define MIME_F_MESSAGE		0x0002	/* body is one embedded message */
#define MIME_F_DEFAULT_TYPE	0x0004	/* no (usable) Content-Type */
#define MIME_F_BROKEN_TYPE	0x0008	/* Content-Type unparsable/degraded */
#define MIME_F_BODY_8BIT	0x0010	/* body has octets >= 0x80 */
#define MIME_F_BODY_NUL		0x0020	/* body has NUL octets */
#define MIME_F_HDR_8BIT		0x0040	/* header fields have octets >= 0x80 */
#define MIME_F_NO_BLANK		0x0080	/* header section not ended by a
					 * blank line */
#define MIME_F_NO_END		0x0100	/* multipart lacks its final boundary */
#define MIME_F_TRUNCATED	0x0200	/* a limit was hit inside this part */
#define MIME_F_LONG_LINE	0x0400	/* body has a line > 998 octets */
#define MIME_F_BARE_CR		0x0800	/* body has a CR not before LF */
#define MIME_F_BARE_LF		0x1000	/* body has an LF without CR */

struct mime_part {
	struct mime_part *parent;
	struct mime_part *children;	/* first child */
	struct mime_part *next;		/* next sibling */
	unsigned	 depth;		/* 0 for the whole message */
	unsigned	 nchildren;
	unsigned	 flags;		/* MIME_F_* */

	/* Absolute offsets into the message as fed. */
	uint64_t	 hdr_start;	/* first header octet */
	uint64_t	 hdr_end;	/* end of the last field (before blank) */
	uint64_t	 body_start;	/* after the blank line */
	uint64_t	 body_end;	/* excludes the CRLF before a boundary */
	uint64_t	 lines;		/* LF count in the body */
	uint64_t	 hdr_lines;	/* LF count in [hdr_start, body_start) */
	uint64_t	 max_line;	/* longest body line, without CRLF */
	/* Multipart only: preamble and epilogue ranges (may be empty). */
	uint64_t	 pre_start, pre_end, epi_start, epi_end;

	char		*type;		/* lower case, e.g. "text" */
	char		*subtype;	/* lower case, e.g. "plain" */
	struct mime_param *params;
	char		*boundary;	/* multipart boundary, or NULL */
	enum mime_enc	 enc;
	char		*cte;		/* lower-case token as written, or NULL */
	char		*id;		/* raw field values (unfolded, trimmed) */
	char		*description;
	char		*md5;
	char		*language;	/* raw value of Content-Language */
	char		*location;
	char		*disposition;	/* lower-case type, or NULL */
	struct mime_param *disp_params;
};

struct mime_limits {
	unsigned	 max_depth;	/* nesting levels (default 50) */
	unsigned	 max_parts;	/* parts in total (default 5000) */
	size_t		 max_field;	/* kept bytes of one header field
					 * (default 16384) */
	size_t		 max_strings;	/* stored string bytes in total
					 * (default 4 MiB) */
};

struct mime_parser;

/* Creates a parser; limits NULL = defaults. Never fails (xmalloc). */
struct mime_parser *mime_parser_new(const struct mime_limits *limits);

/* Feeds the next len octets. Never fails; any input is accepted. */
void	 mime_parser_feed(struct mime_parser *, const void *data, size_t len);

/*
 * Ends the input and returns the root part (the whole message). The tree
 * stays owned by the parser. Calling feed after finish is a bug.
 */
struct mime_part *mime_parser_finish(struct mime_parser *);

/* Number of parts in the tree so far. */
unsigned mime_parser_nparts(const struct mime_parser *);

/* Frees the parser and its tree; NULLs *pp. */
void	 mime_parser_free(struct mime_parser **pp);

/* Convenience: parses data[0..len) whole. */
struct mime_parser *mime_parse(const void *data, size_t len,
	    const struct mime_limits *limits);

/* The parameter named name (lower case) or NULL. */
const struct mime_param *mime_param_get(const struct mime_param *list,
	    const char *name);

/*
 * Parses a Content-Type-like value "type/subtype; params" (or, with
 * want_subtype 0, a Content-Disposition "type; params"). On success sets
 * *type_r (and *subtype_r), *params_r (caller frees with
 * mime_params_free and free()) and returns 1; -1 when the type is
 * unparsable (nothing is returned then).
 */
int	 mime_parse_ctype(const char *value, size_t len, int want_subtype,
	    char **type_r, char **subtype_r, struct mime_param **params_r);
void	 mime_params_free(struct mime_param **);

/*
 * Decoders: append the decoded octets of in[0..len) to out. QP decoding
 * is lenient (an invalid '=' sequence is kept literally, soft line breaks
 * removed, trailing whitespace before line ends dropped); base64 ignores
 * characters outside the alphabet and stops at '=' padding. Return 1, or
 * -1 when out refused an append.
 */
int	 mime_decode_qp(const char *in, size_t len, struct buf *out);
int	 mime_decode_base64(const char *in, size_t len, struct buf *out);

/*
 * Encodes in[0..len) as quoted-printable text (RFC 2045 6.7) with CRLF line
 * ends: input line ends (CRLF or bare LF) become CRLF hard breaks when
 * text is set, and are encoded (=0D=0A) otherwise; lines stay under 76
 * characters with soft breaks; trailing whitespace and a '.' or "From "
 * at the start of a line are encoded, and so is a '-' starting a line that
 * a soft break made (it could form a multipart boundary delimiter line).
 * Returns 1, or -1 when out refused.
 */
int	 mime_encode_qp(const char *in, size_t len, int text, struct buf *out);

/*
 * RFC 2047: decodes every encoded-word in in[0..len) (whitespace between
 * adjacent encoded-words dropped) and appends the result to out. Each
 * decoded word's octets are passed through conv(arg, charset, octets,
 * n, out) when conv is set (to convert to UTF-8), or appended as they are.
 * Text outside encoded-words is appended unchanged. Returns 1 or -1.
 */
int	 mime_decode_words(const char *in, size_t len, struct buf *out,
	    int (*conv)(void *arg, const char *charset, const char *s,
	    size_t n, struct buf *out), void *arg);

#endif
