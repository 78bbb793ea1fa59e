/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * Message header helpers (RFC 5322): find a header field in a header
 * section and extract the addresses of an address-list value (display
 * names, comments, quoted strings, angle addresses, groups). Pure
 * functions, no allocation beyond the caller's buffer; never read past the
 * given length. Used by smtpd to check the From: addresses an authenticated
 * user may use, later by DKIM/DMARC and DSNs.
 */
#ifndef EST_HDR_H
#define EST_HDR_H

#include <stddef.h>

struct buf;

/*
 * Appends to out the unfolded value of every field named name (case-
 * insensitive) in hdrs[0..len), which is read up to the first empty line
 * (the end of the header section). Values are separated by a NUL byte.
 * Returns the number of fields found, or -1 if out refused an append.
 */
int	hdr_field(const char *hdrs, size_t len, const char *name,
	    struct buf *out);

/*
 * Calls fn(arg, addr, addrlen) for each addr-spec ("local@domain", as
 * written, comments removed) in the address-list value[0..len); fn returns
 * -1 to stop. Returns the count found, or -1 when the value is malformed
 * (unbalanced quotes, comments or angle brackets, or an address without
 * '@').
 */
int	hdr_addresses(const char *value, size_t len,
	    int (*fn)(void *arg, const char *addr, size_t len), void *arg);

/* hdr_addresses with flags: HDR_ADDR_UNQUALIFIED also passes addresses
 * without '@' ("root", as local programs write them) to fn. */
#define HDR_ADDR_UNQUALIFIED	0x01
int	hdr_addresses_flags(const char *value, size_t len, unsigned flags,
	    int (*fn)(void *arg, const char *addr, size_t len), void *arg);

#endif
