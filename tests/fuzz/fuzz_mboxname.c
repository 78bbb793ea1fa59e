/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * libFuzzer target for the store's name checks (mstore): folder names as
 * IMAP clients send them (modified UTF-7, hierarchy, traversal attempts),
 * Maildir file names (base and flag letters) and the address -> directory
 * escaping. Checks the promises: an accepted name never builds a path
 * that leaves the user directory (no "/", no "..", no leading ".", no
 * control octet), its canonical form is as long and still accepted; a
 * refusal says "invalid mailbox name"; an escaped address is one path
 * component of [a-z0-9._+%-] not starting with "."; flag parsing and file
 * renaming keep the base name. Any broken promise aborts.
 */
#include "config.h"

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "store/mstore.h"
#include "store/mstore_priv.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
check(int cond)
{
	if (!cond)
		abort();
}

static void
names(const char *s, size_t len)
{
	char canon[MSTORE_NAME_MAX + 1];
	const char *err = NULL;
	size_t i;

	if (!mstore_name_ok(s, &err)) {
		check(err != NULL && strncmp(err, "invalid mailbox name", 20)
		    == 0);
		return;
	}
	check(len > 0 && len <= MSTORE_NAME_MAX);
	mstore_name_canon(s, canon, sizeof(canon));
	check(strlen(canon) == len && mstore_name_ok(canon, NULL));
	if (mstore_is_inbox(s))
		return;
	check(s[0] != '.' && s[len - 1] != '.' && strstr(s, "..") == NULL);
	for (i = 0; i < len; i++)
		check((unsigned char)s[i] >= 0x20 && (unsigned char)s[i] < 0x7f
		    && s[i] != '/' && s[i] != '\\');
}

static void
files(const char *s)
{
	char out[NAME_MAX + 64], base[NAME_MAX + 1];
	uint32_t f = md_flags_of(s), g;
	size_t bl = md_base_len(s);

	check((f & ~MD_FLAGS) == 0 && bl <= strlen(s));
	if (bl >= NAME_MAX)
		return;
	memcpy(base, s, bl);
	base[bl] = '\0';
	if (md_file_name(base, NULL, f, out, sizeof(out)) != 1)
		return;
	g = md_flags_of(out);
	check(g == f && md_base_len(out + 4) == bl &&
	    memcmp(out + 4, base, bl) == 0);
}

static void
address(const char *s, size_t len)
{
	struct buf b = BUF_INIT(4096);
	size_t i;

	if (mstore_addr_escape(s, len, &b) == 1) {
		check(b.len > 0 && b.data[0] != '.');
		for (i = 0; i < b.len; i++) {
			char c = b.data[i];

			check((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
			    c == '.' || c == '_' || c == '+' || c == '-' ||
			    c == '%');
		}
		check(strcmp(b.data, "..") != 0);
	} else
		check(len == 0 || b.max != 0);
	buf_free(&b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s;

	if (size > 1024)
		return 0;
	s = malloc(size + 1);
	if (s == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	names(s, strlen(s));
	files(s);
	address(s, size);
	free(s);
	return 0;
}
