/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * `make bench-mime`: speed of lib/mime and store/imap_body on synthetic
 * messages held in memory (no I/O): parsing a 1 MB multipart of 100 text
 * parts whole and in 4 KiB chunks (MB/s), its BODYSTRUCTURE (ms), and
 * ENVELOPE + BODYSTRUCTURE of a small message (microseconds). Built on
 * demand only; prints one line per measurement.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "lib/buf.h"
#include "lib/mime.h"
#include "store/imap_body.h"

static double
now(void)
{
	struct timespec t;

	(void)clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static const char small[] =
    "From: Alice <a@b.test>\r\nTo: Bob <b@c.test>, carol@d.test\r\n"
    "Cc: \"D, D\" <d@e.test>\r\nSubject: hello\r\n"
    "Date: Wed, 10 Jan 2024 11:22:33 +0100\r\nMessage-ID: <m1@x>\r\n"
    "\r\nbody\r\n";

int
main(void)
{
	struct buf m = BUF_INIT(0), o = BUF_INIT(0);
	struct mime_parser *p;
	const int rounds = 200, small_rounds = 100000;
	double t0, t1;
	size_t k, n;
	int i, j;

	(void)buf_appends(&m, "From: a@b\r\nSubject: x\r\nContent-Type: "
	    "multipart/mixed; boundary=zz\r\n\r\n");
	for (i = 0; i < 100; i++) {
		(void)buf_appends(&m, "--zz\r\nContent-Type: text/plain; "
		    "charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n");
		for (j = 0; j < 130; j++)
			(void)buf_appends(&m, "The quick brown fox jumps over "
			    "the lazy dog, caf\xc3\xa9 1234567890 abcdefghij\r\n");
	}
	(void)buf_appends(&m, "--zz--\r\n");

	t0 = now();
	for (i = 0; i < rounds; i++) {
		p = mime_parse(m.data, m.len, NULL);
		mime_parser_free(&p);
	}
	t1 = now();
	printf("mime parse whole: %.0f MB/s (%zu octets, 101 parts)\n",
	    (double)m.len * rounds / (t1 - t0) / 1e6, m.len);
	t0 = now();
	for (i = 0; i < rounds; i++) {
		p = mime_parser_new(NULL);
		for (k = 0; k < m.len; k += n) {
			n = m.len - k < 4096 ? m.len - k : 4096;
			mime_parser_feed(p, m.data + k, n);
		}
		(void)mime_parser_finish(p);
		mime_parser_free(&p);
	}
	t1 = now();
	printf("mime parse 4 KiB chunks: %.0f MB/s\n",
	    (double)m.len * rounds / (t1 - t0) / 1e6);
	t0 = now();
	for (i = 0; i < 20; i++) {
		buf_reset(&o);
		(void)imap_body_structure(m.data, m.len, 1, &o);
	}
	t1 = now();
	printf("BODYSTRUCTURE of it: %.2f ms\n", (t1 - t0) / 20 * 1e3);
	t0 = now();
	for (i = 0; i < small_rounds; i++) {
		buf_reset(&o);
		(void)imap_body_envelope(small, sizeof(small) - 1, &o);
		buf_reset(&o);
		(void)imap_body_structure(small, sizeof(small) - 1, 1, &o);
	}
	t1 = now();
	printf("small message ENVELOPE + BODYSTRUCTURE: %.1f us\n",
	    (t1 - t0) / small_rounds * 1e6);
	buf_free(&m);
	buf_free(&o);
	return 0;
}
