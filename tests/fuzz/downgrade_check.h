/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * The invariants of an 8BITMIME downgrade, shared by tests/unit/
 * test_downgrade.c and tests/fuzz/fuzz_downgrade.c: dg_check(in, out)
 * returns NULL when out is a faithful 7-bit form of in, else what is
 * wrong. Faithful: no octet >= 0x80; the same MIME structure; preambles
 * and epilogues identical; each leaf body either identical, or (when the
 * input's had 8-bit octets) declared quoted-printable, in valid QP lines
 * (at most 76 characters, '=' only before two upper-case hex digits or as
 * the soft break ending a line, no trailing whitespace), decoding to
 * exactly the input's octets (for a body that was declared QP already: to
 * what the input's decodes to).
 */
#ifndef EST_DOWNGRADE_CHECK_H
#define EST_DOWNGRADE_CHECK_H

#include <string.h>

#include "lib/buf.h"
#include "lib/mime.h"

static int
dg_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F');
}

/* NULL when p[0..n) is valid quoted-printable with CRLF line ends. */
static const char *
dg_check_qp(const char *p, size_t n)
{
	size_t i, col = 0;

	for (i = 0; i < n; i++) {
		if ((unsigned char)p[i] >= 0x80)
			return "8-bit octet in QP";
		if (p[i] == '\r') {
			if (i + 1 >= n || p[i + 1] != '\n')
				return "bare CR in QP";
			if (col > 0 && (p[i - 1] == ' ' || p[i - 1] == '\t'))
				return "trailing whitespace in QP";
			i++;
			col = 0;
			continue;
		}
		if (p[i] == '\n')
			return "bare LF in QP";
		if (p[i] == '=') {
			if (i + 2 < n && p[i + 1] == '\r' && p[i + 2] == '\n') {
				if (col + 1 > 76)
					return "QP line over 76";
				i += 2;
				col = 0;
				continue;
			}
			if (i + 2 >= n || !dg_hex(p[i + 1]) || !dg_hex(p[i + 2]))
				return "bad = escape in QP";
		} else if ((unsigned char)p[i] < 0x20 && p[i] != '\t')
			return "control character in QP";
		if (++col > 76)
			return "QP line over 76";
	}
	if (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
		return "trailing whitespace at the end of QP";
	return NULL;
}

static int
dg_range_eq(const char *a, uint64_t as, uint64_t ae, const char *b,
    uint64_t bs, uint64_t be)
{
	return ae - as == be - bs && memcmp(a + as, b + bs, ae - as) == 0;
}

static const char *
dg_check_part(const char *in, const struct mime_part *a, const char *out,
    const struct mime_part *b)
{
	const unsigned f = MIME_F_MULTIPART | MIME_F_MESSAGE;
	struct buf dec = BUF_INIT(0);
	const char *e = NULL;

	for (; a != NULL && b != NULL && e == NULL; a = a->next, b = b->next) {
		if ((a->flags & f) != (b->flags & f) ||
		    a->nchildren != b->nchildren)
			return "structure changed";
		if (a->flags & MIME_F_MULTIPART) {
			if (!dg_range_eq(in, a->pre_start, a->pre_end, out,
			    b->pre_start, b->pre_end) ||
			    !dg_range_eq(in, a->epi_start, a->epi_end, out,
			    b->epi_start, b->epi_end))
				return "preamble or epilogue changed";
		}
		if (a->children != NULL) {
			e = dg_check_part(in, a->children, out, b->children);
			continue;
		}
		if (!(a->flags & MIME_F_BODY_8BIT)) {
			if (!dg_range_eq(in, a->body_start, a->body_end, out,
			    b->body_start, b->body_end))
				return "a 7-bit body changed";
			continue;
		}
		if (b->enc != MIME_ENC_QP)
			return "converted body not declared quoted-printable";
		if ((e = dg_check_qp(out + b->body_start,
		    b->body_end - b->body_start)) != NULL)
			break;
		buf_reset(&dec);
		if (a->enc == MIME_ENC_QP) {
			/* Re-encoded: compare what both decode to. */
			struct buf orig = BUF_INIT(0);

			(void)mime_decode_qp(in + a->body_start,
			    a->body_end - a->body_start, &orig);
			(void)mime_decode_qp(out + b->body_start,
			    b->body_end - b->body_start, &dec);
			if (orig.len != dec.len || (orig.len > 0 &&
			    memcmp(orig.data, dec.data, orig.len) != 0))
				e = "requoted QP decodes differently";
			buf_free(&orig);
		} else if (mime_decode_qp(out + b->body_start, b->body_end -
		    b->body_start, &dec) != 1 || !dg_range_eq(in,
		    a->body_start, a->body_end, dec.data ? dec.data : "", 0,
		    dec.len))
			e = "QP does not decode to the original body";
	}
	buf_free(&dec);
	if (e == NULL && (a != NULL || b != NULL))
		e = "structure changed";
	return e;
}

static const char *
dg_check(const char *in, size_t inlen, const char *out, size_t outlen)
{
	struct mime_parser *pa, *pb;
	const char *e;
	size_t i;

	for (i = 0; i < outlen; i++)
		if ((unsigned char)out[i] >= 0x80)
			return "8-bit octet in the output";
	pa = mime_parse(in, inlen, NULL);
	pb = mime_parse(out, outlen, NULL);
	e = dg_check_part(in, mime_parser_finish(pa), out,
	    mime_parser_finish(pb));
	mime_parser_free(&pa);
	mime_parser_free(&pb);
	return e;
}

#endif
