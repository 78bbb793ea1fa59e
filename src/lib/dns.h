/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * The resolver: every DNS lookup of the relay goes through here (MX and
 * A/AAAA for delivery, TXT and A for SPF, DNSBL and DKIM keys, PTR), on
 * libunbound, so that all of them use the same servers: the system's
 * (/etc/resolv.conf) or the one the dns_server option names (tests point
 * it at a dnsmasq serving test zones, tests/e2e/lib/testdns.py).
 *
 * Calls block, each bounded by the timeout given to dns_open (a deadline
 * for the whole call: the two queries of dns_addrs run in parallel under
 * one deadline). libunbound resolves in a thread of its own, so a struct
 * dns must be opened in the process that uses it, after fork(), and used
 * from one thread at a time. Positive and negative answers are cached by
 * libunbound for their TTL; this module keeps no state of its own between
 * calls. libunbound's built-in answers for the reverse zones of loopback
 * and private networks and for test. are switched off (those names are
 * asked of the servers too); localhost., invalid. and onion. stay local.
 *
 * Names given to it are checked before anything is sent: ASCII letters,
 * digits, '-' and '_' in dot-separated labels of 1..63 bytes, 253 bytes in
 * all, one trailing dot allowed. Anything else, IDN U-labels included
 * (converting them to A-labels is the caller's job), is DNS_PERMFAIL
 * without a query. Names in answers are returned lowercased without the
 * trailing dot; a record whose name is not valid by the same rules is
 * left out.
 *
 * It never logs (libunbound's own logging is switched off too) and never
 * exits: errors are return values.
 */
#ifndef EST_DNS_H
#define EST_DNS_H

#include <sys/socket.h>
#include <netinet/in.h>

#include <stddef.h>

struct dns;

enum dns_status {
	DNS_OK = 0,
	DNS_NXDOMAIN,	/* the name does not exist */
	DNS_NODATA,	/* the name exists, without records of that type */
	DNS_TEMPFAIL,	/* SERVFAIL, timeout, refused, network: retry */
	DNS_PERMFAIL,	/* invalid input (name, literal, port): no query */
};

#define DNS_NAME_MAX		253	/* text, without trailing dot */
#define DNS_TIMEOUT_MAX_MS	600000LL

/* Flags of dns_open_flags. */
/* Reserved for DNSSEC/DANE: not supported yet, dns_open_flags fails. */
#define DNS_F_DNSSEC	0x1

/*
 * Opens a resolver. server: NULL or "" = the system's resolvers
 * (/etc/resolv.conf; 127.0.0.1 when it names none); otherwise one address
 * or several separated by spaces or commas, each "IP" or "IP@port"
 * ("127.0.0.1@5353", "::1@53"), to which every query is forwarded (they
 * must recurse). timeout_ms (1..DNS_TIMEOUT_MAX_MS) bounds each call.
 * Returns 1 with *dns_r set, or -1 with *errstr_r set (a static string).
 * Does not block: nothing is sent before the first lookup.
 */
int	 dns_open(const char *server, long long timeout_ms,
	    struct dns **dns_r, const char **errstr_r);
/* dns_open with flags (DNS_F_*); dns_open is flags = 0. */
int	 dns_open_flags(const char *server, long long timeout_ms, int flags,
	    struct dns **dns_r, const char **errstr_r);
/* Stops libunbound's thread, frees everything, sets *dns to NULL. NULL and
 * *dns == NULL are fine. Lookups still in flight are abandoned. */
void	 dns_close(struct dns **dns);

/*
 * All lookups below: on DNS_OK the out-parameters hold at least one
 * result (dns_mx: or *nullmx_r = 1); on any other status they are NULL/0.
 * They block for at most the timeout; a timeout is DNS_TEMPFAIL. A CNAME
 * is followed (the results are those of its target).
 */

struct dns_mx {
	unsigned	 pref;
	char		*host;	/* lowercased, no trailing dot */
};

/*
 * MX records of domain, sorted by preference; among equal preferences
 * the order is random on every call (RFC 5321 5.1). A null MX (RFC 7505:
 * the only MX has host ".") gives DNS_OK with *nullmx_r = 1, *mx_r = NULL
 * and *n_r = 0; otherwise *nullmx_r = 0. Records with host "." beside
 * others, with an IP address or an invalid name as host are left out;
 * if no usable record remains the result is DNS_TEMPFAIL (a broken zone
 * may be fixed: retry rather than bounce).
 * DNS_NODATA means no MX records (the caller then uses the domain's
 * address records, RFC 5321 5.1). The array and the hosts are the
 * caller's: dns_mx_free.
 */
enum dns_status dns_mx(struct dns *, const char *domain, struct dns_mx **mx_r,
	    size_t *n_r, int *nullmx_r);
/* Frees the n entries and the array; sets *mx to NULL. */
void	 dns_mx_free(struct dns_mx **mx, size_t n);

/*
 * Addresses of host (A and AAAA, both asked at once) as socket addresses
 * with the given port (0..65535), deduplicated, IPv6 first unless
 * prefer_v4 (each family in the order of the answer). One family failing
 * does not matter when the other has addresses. Without addresses: any
 * TEMPFAIL gives DNS_TEMPFAIL; NXDOMAIN for both, DNS_NXDOMAIN; else
 * DNS_NODATA. Literal addresses are returned without a query: "192.0.2.1",
 * "2001:db8::1", "[192.0.2.1]", "[2001:db8::1]" and "[IPv6:2001:db8::1]"
 * (the SMTP address literal; the tag is case-insensitive); a malformed
 * literal is DNS_PERMFAIL. *addrs_r is the caller's: free().
 */
enum dns_status dns_addrs(struct dns *, const char *host, int port,
	    int prefer_v4, struct sockaddr_storage **addrs_r, size_t *n_r);

/*
 * TXT records of name, one string per record: the record's strings
 * concatenated (as SPF and DKIM want them), NUL-terminated. A record
 * holding a NUL byte cannot be a C string and is left out (none left:
 * DNS_NODATA). *txt_r is the caller's: dns_strv_free.
 */
enum dns_status dns_txt(struct dns *, const char *name, char ***txt_r,
	    size_t *n_r);

/* A records of name, for DNSBL-style lookups ("2.0.0.127.zen.example").
 * *a_r is the caller's: free(). */
enum dns_status dns_a4(struct dns *, const char *name, struct in_addr **a_r,
	    size_t *n_r);

/*
 * PTR records of the address of sa (AF_INET or AF_INET6; an IPv4-mapped
 * IPv6 address is looked up as IPv4): the host names, lowercased, without
 * the trailing dot; names that are not valid host names are left out
 * (none left: DNS_NODATA). Another family is DNS_PERMFAIL. *names_r is
 * the caller's: dns_strv_free.
 */
enum dns_status dns_ptr(struct dns *, const struct sockaddr *sa,
	    char ***names_r, size_t *n_r);

/* Frees n strings and the array (from dns_txt, dns_ptr); sets *v NULL. */
void	 dns_strv_free(char ***v, size_t n);

/* "ok", "nxdomain", "nodata", "tempfail", "permfail" (for key=value logs);
 * "unknown" for anything else. */
const char *dns_status_str(enum dns_status);

#endif
