/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * libFuzzer target for the configuration parser. Parses the input with a
 * table holding every setting type, checks the error contract (nothing on
 * success; 1..20 newline-terminated messages on failure), checks that the
 * printed form parses back to the same printed form, feeds the input to
 * cfg_set as a value for every key, and frees. Inputs that mention
 * "include" are skipped so the fuzzer never opens files.
 */
#include "config.h"

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/cfg.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

struct fuzz_cfg {
	char		*str;
	char		*nullstr;
	long long	 i;
	int		 b;
	long long	 size;
	long long	 dur;
	struct cfg_list	 list;
	int		 e;
	long long	 wide;
	long long	 widesize;
	long long	 widedur;
};

static const char *const fuzz_choices[] = { "none", "may", "encrypt", NULL };

#define OFF(f)	offsetof(struct fuzz_cfg, f)

static const struct cfg_def fuzz_defs[] = {
	{ "myhostname", CFG_STR, "mx.example.test", 0, 0, OFF(str), NULL,
	    "string" },
	{ "smtpd_banner", CFG_STR, NULL, 0, 0, OFF(nullstr), NULL, "null" },
	{ "smtpd_port", CFG_INT, "25", 1, 65535, OFF(i), NULL, "int" },
	{ "smtpd_tls", CFG_BOOL, "no", 0, 0, OFF(b), NULL, "bool" },
	{ "message_size_limit", CFG_SIZE, "10M", 1024, 1LL << 40, OFF(size),
	    NULL, "size" },
	{ "smtpd_data_timeout", CFG_DURATION, "5m", 1000, 7 * 86400000LL,
	    OFF(dur), NULL, "duration" },
	{ "mynetworks", CFG_LIST, "127.0.0.1, [::1]", 0, 0, OFF(list), NULL,
	    "list" },
	{ "smtpd_tls_security_level", CFG_ENUM, "may", 0, 0, OFF(e),
	    fuzz_choices, "enum" },
	{ "big_number", CFG_INT, NULL, LLONG_MIN, LLONG_MAX, OFF(wide), NULL,
	    "wide int" },
	{ "big_size", CFG_SIZE, "0", LLONG_MIN, LLONG_MAX, OFF(widesize), NULL,
	    "wide size" },
	{ "big_time", CFG_DURATION, "0", LLONG_MIN, LLONG_MAX, OFF(widedur),
	    NULL, "wide duration" },
	{ NULL, 0, NULL, 0, 0, 0, NULL, NULL },
};

/* Prints c into a malloc'd string (all settings). */
static char *
fuzz_print(const struct fuzz_cfg *c, size_t *len_r)
{
	char *s = NULL;
	FILE *fp;

	if ((fp = open_memstream(&s, len_r)) == NULL)
		abort();
	if (cfg_print(fuzz_defs, c, 0, fp) != 1)
		abort();
	if (fclose(fp) != 0)
		abort();
	return s;
}

/* Success leaves err empty; failure leaves 1..20 full lines. */
static void
fuzz_check_err(int r, const struct buf *err)
{
	const char *p;
	size_t n = 0;

	if (r == 1) {
		if (err->len != 0)
			abort();
		return;
	}
	if (r != -1 || err->len == 0 || err->data[err->len - 1] != '\n')
		abort();
	for (p = err->data; (p = memchr(p, '\n',
	    err->len - (size_t)(p - err->data))) != NULL; p++)
		n++;
	if (n > 20)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf err = BUF_INIT(0);
	struct fuzz_cfg c, c2;
	const struct cfg_def *d;
	char *out, *out2, *value;
	size_t len, len2;
	int r;

	if (memmem(data, size, "include", 7) != NULL)
		return -1;	/* never open files */
	r = cfg_parse_string(fuzz_defs, &c, "fuzz", (const char *)data, size,
	    &err);
	fuzz_check_err(r, &err);
	out = fuzz_print(&c, &len);
	if (r == 1) {
		/* The canonical form is stable. */
		buf_reset(&err);
		if (cfg_parse_string(fuzz_defs, &c2, "print", out, len,
		    &err) != 1)
			abort();
		out2 = fuzz_print(&c2, &len2);
		if (len != len2 || memcmp(out, out2, len) != 0)
			abort();
		free(out2);
		cfg_free(fuzz_defs, &c2);
	}
	free(out);

	/* The input (up to a NUL) as a command-line value for every key. */
	if (r == 1) {
		value = strndup((const char *)data, size);
		if (value == NULL)
			abort();
		for (d = fuzz_defs; d->name != NULL; d++) {
			buf_reset(&err);
			r = cfg_set(fuzz_defs, &c, d->name, value, &err);
			if ((r == 1) != (err.len == 0))
				abort();
		}
		free(value);
		out = fuzz_print(&c, &len);
		free(out);
	}
	cfg_free(fuzz_defs, &c);
	cfg_free(fuzz_defs, &c);	/* safe twice */
	buf_free(&err);
	return 0;
}
