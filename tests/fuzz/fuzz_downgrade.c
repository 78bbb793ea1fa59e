/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * libFuzzer target for the relay's 8BITMIME downgrade
 * (src/relay/downgrade.c). Each input is converted; the result must agree
 * with the input: DOWNGRADE_SAME only for input without 8-bit octets,
 * DOWNGRADE_DONE only with an output that passes every invariant of
 * downgrade_check.h (7-bit, same MIME structure, preambles and epilogues
 * and 7-bit bodies identical, converted bodies valid quoted-printable
 * decoding to exactly the input's octets); a refusal leaves no output and
 * says why. Converting the output again must find nothing to do.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/mime.h"
#include "relay/downgrade.h"

#include "downgrade_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	struct buf out = BUF_INIT(0), again = BUF_INIT(0);
	struct downgrade_info info;
	enum downgrade_result r;

	if (size > 65536)
		return 0;
	downgrade_info_init(&info);
	r = downgrade_8bit(in, size, &out, &info);
	switch (r) {
	case DOWNGRADE_SAME:
		if (downgrade_has_8bit(in, size) || out.len != 0)
			abort();
		break;
	case DOWNGRADE_DONE:
		if (dg_check(in, size, out.data, out.len) != NULL ||
		    info.nparts == 0 || info.parts.len == 0)
			abort();
		if (downgrade_8bit(out.data, out.len, &again, &info) !=
		    DOWNGRADE_SAME)
			abort();
		break;
	case DOWNGRADE_HDR_8BIT:
	case DOWNGRADE_CANNOT:
		if (out.len != 0 || info.why == NULL ||
		    !downgrade_has_8bit(in, size))
			abort();
		break;
	default:
		abort();
	}
	downgrade_info_free(&info);
	buf_free(&out);
	buf_free(&again);
	return 0;
}
