/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * 8BITMIME downgrade: see downgrade.h. The message is parsed once
 * (lib/mime.c) and copied to the output in order; the tree walk, which
 * meets the parts in the order of their offsets, replaces ranges as it
 * goes: a Content-Transfer-Encoding field (or an insertion at the end of a
 * part's header fields) and a leaf body (by its quoted-printable form). A
 * cursor (pos) marks how far the input has been copied; edits never go
 * backwards. A final scan of the output proves it 7-bit, and a second
 * parse that it reads as the input did (same tree, same decoded bodies).
 */
#include "config.h"

#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "lib/buf.h"
#include "lib/mime.h"
#include "relay/downgrade.h"

struct dg {
	const char		*msg;
	uint64_t		 pos;	/* msg[0..pos) is in out */
	struct buf		*out;
	struct downgrade_info	*info;
	int			 err;	/* out refused an append */
};

void
downgrade_info_init(struct downgrade_info *info)
{
	memset(info, 0, sizeof(*info));
	buf_init(&info->parts, 4096);
}

void
downgrade_info_free(struct downgrade_info *info)
{
	buf_free(&info->parts);
	info->nparts = 0;
	info->why = NULL;
}

int
downgrade_has_8bit(const void *p, size_t n)
{
	const unsigned char *s = p;
	size_t i;

	for (i = 0; i < n; i++)
		if (s[i] & 0x80)
			return 1;
	return 0;
}

/* Copies the input up to off (never backwards). */
static void
dg_copy(struct dg *d, uint64_t off)
{
	if (off <= d->pos)
		return;
	if (buf_append(d->out, d->msg + d->pos, (size_t)(off - d->pos)) == -1)
		d->err = 1;
	d->pos = off;
}

static void
dg_put(struct dg *d, const char *s)
{
	if (buf_appends(d->out, s) == -1)
		d->err = 1;
}

/*
 * The next header field in msg[*at..end): [*fs, *fe) covers its first
 * line and its continuation lines, line ends included. 0 at the end.
 */
static int
dg_field(const char *msg, uint64_t *at, uint64_t end, uint64_t *fs,
    uint64_t *fe)
{
	const char *nl;

	if (*at >= end)
		return 0;
	*fs = *at;
	do {
		nl = memchr(msg + *at, '\n', (size_t)(end - *at));
		*at = nl != NULL ? (uint64_t)(nl - msg) + 1 : end;
	} while (*at < end && (msg[*at] == ' ' || msg[*at] == '\t'));
	*fe = *at;
	return 1;
}

/* 1 when the field f[0..n) is named name (case-insensitive). */
static int
dg_is_field(const char *f, size_t n, const char *name)
{
	size_t k = strlen(name);

	if (n <= k || strncasecmp(f, name, k) != 0)
		return 0;
	while (k < n && (f[k] == ' ' || f[k] == '\t'))
		k++;
	return k < n && f[k] == ':';
}

/*
 * Sets p's Content-Transfer-Encoding to cte: the first such field is
 * replaced, later ones dropped, one added at the end of the fields when
 * there is none. msg_root: p is a message's top part (the message or an
 * embedded one) whose body gets encoded: without MIME-Version it gets
 * one, and a Content-Type when it has none either. A header section that
 * was not ended by a blank line gets one.
 */
static void
dg_header(struct dg *d, const struct mime_part *p, const char *cte,
    int msg_root)
{
	uint64_t at = p->hdr_start, fs, fe;
	int done = 0, has_mv = 0, has_ct = 0;
	const char *f;

	while (dg_field(d->msg, &at, p->hdr_end, &fs, &fe)) {
		f = d->msg + fs;
		if (dg_is_field(f, (size_t)(fe - fs),
		    "content-transfer-encoding")) {
			dg_copy(d, fs);
			if (!done) {
				dg_put(d, "Content-Transfer-Encoding: ");
				dg_put(d, cte);
				dg_put(d, "\r\n");
			}
			done = 1;
			d->pos = fe;
		} else if (dg_is_field(f, (size_t)(fe - fs), "mime-version"))
			has_mv = 1;
		else if (dg_is_field(f, (size_t)(fe - fs), "content-type"))
			has_ct = 1;
	}
	dg_copy(d, p->hdr_end);
	if (msg_root && !has_mv) {
		dg_put(d, "MIME-Version: 1.0\r\n");
		if (!has_ct)
			dg_put(d, "Content-Type: text/plain; "
			    "charset=unknown-8bit\r\n");
	}
	if (!done) {
		dg_put(d, "Content-Transfer-Encoding: ");
		dg_put(d, cte);
		dg_put(d, "\r\n");
	}
	if (p->flags & MIME_F_NO_BLANK)
		dg_put(d, "\r\n");
}

/* The IMAP part number of the i-th (1-based) child under path. */
static void
dg_child_path(struct buf *b, const char *path, unsigned i)
{
	buf_reset(b);
	(void)buf_appendf(b, "%s%s%u", path, path[0] ? "." : "", i);
}

static enum downgrade_result dg_part(struct dg *, const struct mime_part *,
	    const char *path, int msg_root);

/* A composite part (multipart or message) holding 8-bit octets. */
static enum downgrade_result
dg_composite(struct dg *d, const struct mime_part *p, const char *path)
{
	const struct mime_part *c;
	enum downgrade_result r = DOWNGRADE_SAME, cr;
	struct buf cp = BUF_INIT(0);
	unsigned i = 0;

	/* RFC 2046 5.1/5.2.1: a composite's encoding is 7bit, 8bit or
	 * binary, and only 7bit is true once the inside is converted. */
	if (p->enc == MIME_ENC_8BIT || p->enc == MIME_ENC_BINARY)
		dg_header(d, p, "7bit", 0);
	else if (p->flags & MIME_F_NO_BLANK) {
		/* Fields added to an embedded message right after would
		 * join this header: end it first. */
		dg_copy(d, p->hdr_end);
		dg_put(d, "\r\n");
	}
	if ((p->flags & MIME_F_MESSAGE) && p->children != NULL) {
		(void)buf_appends(&cp, path[0] ? path : "1");
		r = dg_part(d, p->children, buf_cstr(&cp), 1);
	} else
		for (c = p->children; c != NULL && r != DOWNGRADE_CANNOT;
		    c = c->next) {
			dg_child_path(&cp, path, ++i);
			if ((cr = dg_part(d, c, buf_cstr(&cp), 0)) != r &&
			    cr != DOWNGRADE_SAME)
				r = cr;
		}
	buf_free(&cp);
	return r;
}

/* 1 when p[0..n) has an LF without a CR before it. */
static int
dg_bare_lf(const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i] == '\n' && (i == 0 || p[i - 1] != '\r'))
			return 1;
	return 0;
}

/*
 * A body declared quoted-printable that holds raw 8-bit octets (which
 * lenient decoders, ours included, take as themselves): decoded and
 * encoded again, so that it decodes to what it did and is valid QP. The
 * header fields stay as they are.
 */
static void
dg_requote(struct dg *d, const struct mime_part *p)
{
	struct buf dec = BUF_INIT(0);

	dg_copy(d, p->body_start);
	if (mime_decode_qp(d->msg + p->body_start, (size_t)(p->body_end -
	    p->body_start), &dec) == -1 || mime_encode_qp(buf_cstr(&dec),
	    dec.len, !dg_bare_lf(buf_cstr(&dec), dec.len), d->out) == -1)
		d->err = 1;
	buf_free(&dec);
}

/* Converts p and what it holds; path is its IMAP part number ("" for the
 * whole message). */
static enum downgrade_result
dg_part(struct dg *d, const struct mime_part *p, const char *path,
    int msg_root)
{
	struct buf lp = BUF_INIT(0);

	if (!(p->flags & MIME_F_BODY_8BIT))
		return DOWNGRADE_SAME;
	if ((p->flags & MIME_F_MULTIPART) || ((p->flags & MIME_F_MESSAGE) &&
	    p->children != NULL))
		return dg_composite(d, p, path);
	if ((p->flags & MIME_F_MESSAGE) || (p->type != NULL &&
	    (strcmp(p->type, "multipart") == 0 ||
	    strcmp(p->type, "message") == 0))) {
		d->info->why = "8-bit octets in a multipart or message part "
		    "left unparsed (a nesting or size limit was reached)";
		return DOWNGRADE_CANNOT;
	}
	if (p->enc == MIME_ENC_QP)
		dg_requote(d, p);
	else if (p->enc != MIME_ENC_7BIT && p->enc != MIME_ENC_8BIT &&
	    p->enc != MIME_ENC_BINARY) {
		d->info->why = "8-bit octets in a body already declared "
		    "base64 or another encoding";
		return DOWNGRADE_CANNOT;
	} else {
		dg_header(d, p, "quoted-printable", msg_root);
		dg_copy(d, p->body_start);
		/* Text line ends become hard line breaks; a body with bare
		 * LFs is encoded whole (=0D=0A, =0A) so that its octets
		 * survive. */
		if (mime_encode_qp(d->msg + p->body_start, (size_t)(
		    p->body_end - p->body_start), !(p->flags &
		    MIME_F_BARE_LF), d->out) == -1)
			d->err = 1;
	}
	d->pos = p->body_end;
	if (msg_root)
		(void)buf_appendf(&lp, "%s%s1", path, path[0] ? "." : "");
	else
		(void)buf_appends(&lp, path);
	(void)buf_appendf(&d->info->parts, "%s%s", d->info->nparts ? " " : "",
	    buf_cstr(&lp));
	d->info->nparts++;
	buf_free(&lp);
	return DOWNGRADE_DONE;
}

static int
dg_eq(const char *a, uint64_t as, uint64_t ae, const char *b, uint64_t bs,
    uint64_t be)
{
	return ae - as == be - bs && (ae == as ||
	    memcmp(a + as, b + bs, (size_t)(ae - as)) == 0);
}

/* 1 when the decoded bodies a (of in) and b (of out) are equal: a
 * converted body decodes to the original octets (or, declared QP
 * already, to what the original decodes to). */
static int
dg_same_body(const char *in, const struct mime_part *a, const char *out,
    const struct mime_part *b)
{
	struct buf da = BUF_INIT(0), db = BUF_INIT(0);
	int r;

	if (!(a->flags & MIME_F_BODY_8BIT))
		return dg_eq(in, a->body_start, a->body_end, out,
		    b->body_start, b->body_end);
	if (b->enc != MIME_ENC_QP)
		return 0;
	if (a->enc == MIME_ENC_QP)
		(void)mime_decode_qp(in + a->body_start, (size_t)(a->body_end -
		    a->body_start), &da);
	else
		(void)buf_append(&da, in + a->body_start, (size_t)(
		    a->body_end - a->body_start));
	(void)mime_decode_qp(out + b->body_start, (size_t)(b->body_end -
	    b->body_start), &db);
	r = da.len == db.len && (da.len == 0 || memcmp(da.data, db.data,
	    da.len) == 0);
	buf_free(&da);
	buf_free(&db);
	return r;
}

/*
 * The safety net: the output, parsed again, must have the input's tree
 * (the same types, nesting, preambles and epilogues) and bodies that
 * decode to the input's. Pathological input (a boundary holding a CR, a
 * header without its blank line) could otherwise be read differently
 * once converted.
 */
static int
dg_same_tree(const char *in, const struct mime_part *a, const char *out,
    const struct mime_part *b)
{
	const unsigned f = MIME_F_MULTIPART | MIME_F_MESSAGE;

	for (; a != NULL && b != NULL; a = a->next, b = b->next) {
		if ((a->flags & f) != (b->flags & f) ||
		    a->nchildren != b->nchildren ||
		    strcmp(a->type, b->type) != 0 ||
		    strcmp(a->subtype, b->subtype) != 0)
			return 0;
		if ((a->flags & MIME_F_MULTIPART) && (!dg_eq(in,
		    a->pre_start, a->pre_end, out, b->pre_start, b->pre_end) ||
		    !dg_eq(in, a->epi_start, a->epi_end, out, b->epi_start,
		    b->epi_end)))
			return 0;
		if (a->children != NULL ? !dg_same_tree(in, a->children, out,
		    b->children) : !dg_same_body(in, a, out, b))
			return 0;
	}
	return a == NULL && b == NULL;
}

/* 1 when a part of the tree has 8-bit octets in its header fields. */
static int
dg_hdr_8bit(const struct mime_part *p)
{
	const struct mime_part *c;

	if (p->flags & MIME_F_HDR_8BIT)
		return 1;
	for (c = p->children; c != NULL; c = c->next)
		if (dg_hdr_8bit(c))
			return 1;
	return 0;
}

enum downgrade_result
downgrade_8bit(const char *msg, size_t len, struct buf *out,
    struct downgrade_info *info)
{
	struct mime_parser *mp;
	const struct mime_part *root;
	struct dg d = { msg, 0, out, info, 0 };
	enum downgrade_result r;

	buf_reset(out);
	buf_reset(&info->parts);
	info->nparts = 0;
	info->why = NULL;
	if (!downgrade_has_8bit(msg, len))
		return DOWNGRADE_SAME;
	mp = mime_parse(msg, len, NULL);
	root = mime_parser_finish(mp);
	if (dg_hdr_8bit(root)) {
		info->why = "8-bit octets in header fields";
		r = DOWNGRADE_HDR_8BIT;
		goto out;
	}
	if ((r = dg_part(&d, root, "", 1)) == DOWNGRADE_CANNOT)
		goto out;
	dg_copy(&d, len);
	if (d.err) {
		info->why = "the converted message is too large";
		r = DOWNGRADE_CANNOT;
	} else if (downgrade_has_8bit(out->data, out->len)) {
		info->why = "8-bit octets outside the part bodies (in a "
		    "multipart preamble, epilogue or delimiter line)";
		r = DOWNGRADE_CANNOT;
	} else {
		struct mime_parser *op = mime_parse(out->data, out->len, NULL);

		r = dg_same_tree(msg, root, out->data,
		    mime_parser_finish(op)) ? DOWNGRADE_DONE :
		    DOWNGRADE_CANNOT;
		if (r == DOWNGRADE_CANNOT)
			info->why = "the converted message would not read as "
			    "the original (malformed MIME structure)";
		mime_parser_free(&op);
	}
out:
	if (r != DOWNGRADE_DONE) {
		buf_reset(out);
		buf_reset(&info->parts);
		info->nparts = 0;
	}
	mime_parser_free(&mp);
	return r;
}
