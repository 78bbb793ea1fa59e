/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * libFuzzer target for the SASL PLAIN path: the input is base64-decoded
 * with sasl_b64_decode() and, when that works, the result goes through
 * sasl_plain_parse(); the raw input is parsed as a PLAIN message too.
 * Promises checked (any broken one aborts): accepted base64 re-encodes to
 * exactly the input (only canonical base64 is accepted), a failed decode
 * leaves the buffer as it was, and an accepted PLAIN message is put back
 * together byte for byte from the parts, each within the limits; a
 * refused one leaves the struct zeroed with an error text. libFuzzer hands
 * us a heap block of exactly size bytes, so ASan catches any over-read.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/sasl.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
check(int cond)
{
	if (!cond)
		abort();
}

static void
check_plain(const char *msg, size_t len)
{
	struct sasl_plain p;
	struct buf b = BUF_INIT(0);
	const char *err = NULL;
	size_t zl, cl;

	if (sasl_plain_parse(msg, len, &p, &err) == 1) {
		check(p.authcid != NULL && p.passwd != NULL);
		zl = p.authzid ? strlen(p.authzid) : 0;
		cl = strlen(p.authcid);
		check(p.authzid == NULL || zl > 0);
		check(zl <= SASL_PLAIN_PART_MAX && cl > 0 &&
		    cl <= SASL_PLAIN_PART_MAX);
		check(p.passwd_len > 0 && p.passwd_len <= SASL_PLAIN_PART_MAX &&
		    strlen(p.passwd) == p.passwd_len);
		check(buf_append(&b, p.authzid ? p.authzid : "", zl) == 1 &&
		    buf_appendc(&b, '\0') == 1 &&
		    buf_append(&b, p.authcid, cl) == 1 &&
		    buf_appendc(&b, '\0') == 1 &&
		    buf_append(&b, p.passwd, p.passwd_len) == 1);
		check(b.len == len && memcmp(b.data, msg, len) == 0);
		buf_free(&b);
	} else
		check(err != NULL && p.authzid == NULL && p.authcid == NULL &&
		    p.passwd == NULL && p.passwd_len == 0);
	sasl_plain_clear(&p);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	struct buf dec = BUF_INIT(0), enc = BUF_INIT(0);

	check(buf_appends(&dec, "pre") == 1);
	if (sasl_b64_decode(s, size, &dec) == 1) {
		check(dec.len >= 3 && dec.len - 3 == size / 4 * 3 -
		    (size && s[size - 1] == '=') -
		    (size > 1 && s[size - 2] == '='));
		check(sasl_b64_encode(dec.data + 3, dec.len - 3, &enc) == 1);
		check(enc.len == size && (size == 0 ||
		    memcmp(enc.data, s, size) == 0));
		check_plain(dec.data + 3, dec.len - 3);
	} else
		check(dec.len == 3 && memcmp(dec.data, "pre", 4) == 0);
	check_plain(s, size);
	buf_free(&dec);
	buf_free(&enc);
	return 0;
}
