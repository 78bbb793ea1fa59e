/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * Unit tests for dns, against a real DNS server: the group set-up runs
 * tests/e2e/lib/testdns.py, which starts dnsmasq with the zones the e2e
 * tests use (DEFAULT_ZONES there) and prints its "127.0.0.1@PORT"; it
 * stops dnsmasq when our end of its stdin closes, also when we crash.
 * Without dnsmasq the set-up fails (the test fails, it is not skipped).
 * A UDP socket of ours that never answers stands for a dead server.
 *
 * Covered: MX sorting, null MX, order among equal preferences randomised,
 * unusable MX records, A/AAAA with both families and prefer_v4, literals
 * (no query), NXDOMAIN vs NODATA vs TEMPFAIL, TXT concatenation, DNSBL A,
 * PTR, CNAME, timeouts (dead server, name never answered) that do not
 * poison later lookups, invalid names (no query), dns_open errors, and
 * that neither we nor libunbound print anything.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/dns.h"

#ifndef TOP_SRCDIR
#define TOP_SRCDIR	"."
#endif
#ifndef PYTHON3
#define PYTHON3		"python3"
#endif

#define TIMEOUT_MS	5000	/* normal lookups: generous for ASan */
#define SHORT_MS	400	/* the timeout tests */
#define START_MS	30000	/* for testdns.py to print its server */

static char server[64];		/* "127.0.0.1@PORT" of dnsmasq */
static char deadsrv[64];	/* "127.0.0.1@PORT" that never answers */
static pid_t helper = -1;	/* testdns.py */
static int helper_in = -1;	/* its stdin: closing it stops it */
static int dead_fd = -1;
static struct dns *dns;		/* on server, TIMEOUT_MS */

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------ set-up */

/* Reads testdns.py's first line into server; 1, or -1 if it ended. */
static int
read_server(int fd)
{
	long long deadline = now_ms() + START_MS, left;
	struct pollfd pfd = { fd, POLLIN, 0 };
	size_t len = 0;
	ssize_t r;

	while (len < sizeof(server) - 1) {
		if ((left = deadline - now_ms()) <= 0 ||
		    poll(&pfd, 1, (int)left) <= 0)
			return -1;
		if ((r = read(fd, server + len, 1)) <= 0)
			return -1;
		if (server[len] == '\n') {
			server[len] = '\0';
			return strncmp(server, "127.0.0.1@", 10) == 0 ? 1 : -1;
		}
		len++;
	}
	return -1;
}

static int
start_testdns(void)
{
	const char *src = getenv("SRCDIR");
	char script[4096];
	int in[2], out[2], ok;

	if (src == NULL || *src == '\0')
		src = TOP_SRCDIR;
	if (snprintf(script, sizeof(script), "%s/tests/e2e/lib/testdns.py",
	    src) >= (int)sizeof(script) || pipe(in) == -1 || pipe(out) == -1)
		return -1;
	if ((helper = fork()) == -1)
		return -1;
	if (helper == 0) {
		(void)dup2(in[0], 0);
		(void)dup2(out[1], 1);
		close(in[0]);
		close(in[1]);
		close(out[0]);
		close(out[1]);
		execl(PYTHON3, "python3", script, (char *)NULL);
		fprintf(stderr, "test_dns: cannot run %s %s: %s\n", PYTHON3,
		    script, strerror(errno));
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	helper_in = in[1];
	(void)fcntl(helper_in, F_SETFD, FD_CLOEXEC);
	ok = read_server(out[0]);
	close(out[0]);
	if (ok == -1)
		fprintf(stderr, "test_dns: the test DNS server did not start "
		    "(see above): it needs dnsmasq, which "
		    "contrib/setup-debian.sh installs\n");
	return ok;
}

static void
stop_testdns(void)
{
	long long deadline = now_ms() + 10000;
	int status;

	if (helper_in != -1)
		close(helper_in);	/* EOF: it stops dnsmasq and exits */
	helper_in = -1;
	if (helper <= 0)
		return;
	while (waitpid(helper, &status, WNOHANG) == 0) {
		if (now_ms() > deadline) {
			(void)kill(helper, SIGTERM);
			(void)waitpid(helper, &status, 0);
			break;
		}
		(void)poll(NULL, 0, 20);
	}
	helper = -1;
}

/* A UDP socket on 127.0.0.1 that never reads: a server that is down. */
static int
start_dead_server(void)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((dead_fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1 ||
	    bind(dead_fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    getsockname(dead_fd, (struct sockaddr *)&sin, &len) == -1)
		return -1;
	snprintf(deadsrv, sizeof(deadsrv), "127.0.0.1@%u",
	    ntohs(sin.sin_port));
	return 1;
}

static int
group_setup(void **state)
{
	const char *errstr = NULL;

	(void)state;
	if (start_testdns() == -1 || start_dead_server() == -1)
		return -1;
	if (dns_open(server, TIMEOUT_MS, &dns, &errstr) != 1) {
		fprintf(stderr, "test_dns: dns_open(%s): %s\n", server,
		    errstr);
		return -1;
	}
	return 0;
}

static int
group_teardown(void **state)
{
	(void)state;
	dns_close(&dns);
	stop_testdns();
	if (dead_fd != -1)
		close(dead_fd);
	return 0;
}

/* ------------------------------------------------------------ helpers */

static struct dns *
open_or_fail(const char *srv, long long timeout_ms)
{
	struct dns *d = NULL;
	const char *errstr = NULL;

	if (dns_open(srv, timeout_ms, &d, &errstr) != 1)
		fail_msg("dns_open(%s): %s", srv, errstr);
	return d;
}

/* dns_mx that checks the out-parameters agree with the status. */
static enum dns_status
mx(struct dns *d, const char *domain, struct dns_mx **m, size_t *n,
    int *nullmx)
{
	enum dns_status st = dns_mx(d, domain, m, n, nullmx);

	if (st != DNS_OK) {
		assert_null(*m);
		assert_int_equal(*n, 0);
		assert_int_equal(*nullmx, 0);
	} else if (*nullmx) {
		assert_null(*m);
		assert_int_equal(*n, 0);
	} else {
		assert_non_null(*m);
		assert_true(*n > 0);
	}
	return st;
}

/* The i-th address as "ip port" text. */
static const char *
addr_str(const struct sockaddr_storage *ss)
{
	static char out[INET6_ADDRSTRLEN + 16];
	char ip[INET6_ADDRSTRLEN];
	unsigned port;

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const void *)ss;

		inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof(ip));
		port = ntohs(sin->sin_port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const void *)ss;

		inet_ntop(AF_INET6, &sin6->sin6_addr, ip, sizeof(ip));
		port = ntohs(sin6->sin6_port);
	} else
		return "bad family";
	snprintf(out, sizeof(out), "%s %u", ip, port);
	return out;
}

/* dns_addrs giving the addresses as "ip port,ip port" (or the status). */
static const char *
addrs(struct dns *d, const char *host, int port, int prefer_v4)
{
	static char out[1024];
	struct sockaddr_storage *a = (void *)1;
	enum dns_status st;
	size_t n = 99, i;

	st = dns_addrs(d, host, port, prefer_v4, &a, &n);
	if (st != DNS_OK) {
		assert_null(a);
		assert_int_equal(n, 0);
		return dns_status_str(st);
	}
	assert_non_null(a);
	out[0] = '\0';
	for (i = 0; i < n; i++) {
		if (i > 0)
			strncat(out, ",", sizeof(out) - strlen(out) - 1);
		strncat(out, addr_str(&a[i]), sizeof(out) - strlen(out) - 1);
	}
	free(a);
	return out;
}

/* dns_txt as the sorted strings joined by '|' (or the status). */
static const char *
txt(struct dns *d, const char *name)
{
	static char out[1024];
	char **v = (void *)1, *t;
	enum dns_status st;
	size_t n = 99, i, j;

	st = dns_txt(d, name, &v, &n);
	if (st != DNS_OK) {
		assert_null(v);
		assert_int_equal(n, 0);
		return dns_status_str(st);
	}
	for (i = 1; i < n; i++)		/* insertion sort: tiny */
		for (j = i; j > 0 && strcmp(v[j - 1], v[j]) > 0; j--) {
			t = v[j];
			v[j] = v[j - 1];
			v[j - 1] = t;
		}
	out[0] = '\0';
	for (i = 0; i < n; i++) {
		if (i > 0)
			strncat(out, "|", sizeof(out) - strlen(out) - 1);
		strncat(out, v[i], sizeof(out) - strlen(out) - 1);
	}
	dns_strv_free(&v, n);
	assert_null(v);
	return out;
}

/* ------------------------------------------------------------ open */

static void
test_open(void **state)
{
	struct dns *d = (void *)1;
	const char *errstr = NULL;

	(void)state;
	assert_int_equal(dns_open("not-an-address", 1000, &d, &errstr), -1);
	assert_null(d);
	assert_non_null(strstr(errstr, "invalid server"));
	errstr = NULL;
	assert_int_equal(dns_open("127.0.0.1@5353 bogus", 1000, &d, &errstr),
	    -1);
	assert_int_equal(dns_open("127.0.0.1:5353", 1000, &d, &errstr), -1);
	assert_int_equal(dns_open("mx1.example.org", 1000, &d, &errstr), -1);
	assert_non_null(errstr);
	assert_int_equal(dns_open(server, 0, &d, &errstr), -1);
	assert_non_null(strstr(errstr, "timeout"));
	assert_int_equal(dns_open(server, DNS_TIMEOUT_MAX_MS + 1, &d,
	    &errstr), -1);
	assert_int_equal(dns_open_flags(server, 1000, DNS_F_DNSSEC, &d,
	    &errstr), -1);
	assert_non_null(strstr(errstr, "DNSSEC"));
	assert_int_equal(dns_open_flags(server, 1000, 0x100, &d, &errstr), -1);
	assert_null(d);

	/* Lists, ports, IPv6 syntax; the system's resolvers. */
	d = open_or_fail("127.0.0.1@5353, ::1@5353 127.0.0.2", 1000);
	dns_close(&d);
	assert_null(d);
	d = open_or_fail(NULL, 1000);
	dns_close(&d);
	d = open_or_fail("", 1000);
	dns_close(&d);
	dns_close(&d);		/* twice: fine */
	dns_close(NULL);
}

static void
test_status_str(void **state)
{
	(void)state;
	assert_string_equal(dns_status_str(DNS_OK), "ok");
	assert_string_equal(dns_status_str(DNS_NXDOMAIN), "nxdomain");
	assert_string_equal(dns_status_str(DNS_NODATA), "nodata");
	assert_string_equal(dns_status_str(DNS_TEMPFAIL), "tempfail");
	assert_string_equal(dns_status_str(DNS_PERMFAIL), "permfail");
	assert_string_equal(dns_status_str((enum dns_status)42), "unknown");
}

/* ------------------------------------------------------------ MX */

static void
check_example_org(const char *domain)
{
	struct dns_mx *m = NULL;
	size_t n = 0;
	int nullmx = -1;

	assert_int_equal(mx(dns, domain, &m, &n, &nullmx), DNS_OK);
	assert_int_equal(nullmx, 0);
	assert_int_equal(n, 2);
	assert_int_equal(m[0].pref, 10);
	assert_string_equal(m[0].host, "mx1.example.org");
	assert_int_equal(m[1].pref, 20);
	assert_string_equal(m[1].host, "mx2.example.org");
	dns_mx_free(&m, n);
	assert_null(m);
}

static void
test_mx_sorted(void **state)
{
	int i;

	(void)state;
	for (i = 0; i < 20; i++)	/* whatever order the server uses */
		check_example_org("example.org");
	check_example_org("example.org.");
	check_example_org("EXAMPLE.Org");
	check_example_org("cname.example.org");	/* via the CNAME */
}

static void
test_mx_nullmx(void **state)
{
	struct dns_mx *m = (void *)1;
	size_t n = 99;
	int nullmx = -1;

	(void)state;
	assert_int_equal(mx(dns, "nullmx.example.org", &m, &n, &nullmx),
	    DNS_OK);
	assert_int_equal(nullmx, 1);

	/* "." beside a real host is no null MX: the "." is dropped. */
	assert_int_equal(mx(dns, "mixednull.example.org", &m, &n, &nullmx),
	    DNS_OK);
	assert_int_equal(nullmx, 0);
	assert_int_equal(n, 1);
	assert_string_equal(m[0].host, "mx1.example.org");
	assert_int_equal(m[0].pref, 10);
	dns_mx_free(&m, n);
}

static void
test_mx_equal_random(void **state)
{
	static const char *hosts[] = { "eq1.example.org", "eq2.example.org",
	    "eq3.example.org" };
	int first[3] = { 0, 0, 0 }, seen, i, j, k;
	struct dns_mx *m;
	size_t n;
	int nullmx;

	(void)state;
	for (i = 0; i < 200; i++) {
		assert_int_equal(mx(dns, "equal.example.org", &m, &n,
		    &nullmx), DNS_OK);
		assert_int_equal(n, 3);
		for (j = 0, seen = 0; j < 3; j++) {
			assert_int_equal(m[j].pref, 10);
			for (k = 0; k < 3; k++)
				if (strcmp(m[j].host, hosts[k]) == 0)
					seen |= 1 << k;
		}
		assert_int_equal(seen, 7);	/* each once */
		for (k = 0; k < 3; k++)
			if (strcmp(m[0].host, hosts[k]) == 0)
				first[k]++;
		dns_mx_free(&m, n);
	}
	/* P(a host never first in 200) = 3 * (2/3)^200: about 1e-35. */
	for (k = 0; k < 3; k++)
		if (first[k] == 0)
			fail_msg("%s never first in 200 lookups", hosts[k]);
}

static void
test_mx_unusable(void **state)
{
	struct dns_mx *m;
	size_t n;
	int nullmx;

	(void)state;
	/* "bad!host" and an IP address as host are left out. */
	assert_int_equal(mx(dns, "badhost.example.org", &m, &n, &nullmx),
	    DNS_OK);
	assert_int_equal(n, 1);
	assert_string_equal(m[0].host, "mx2.example.org");
	assert_int_equal(m[0].pref, 30);
	dns_mx_free(&m, n);
	/* Nothing usable: temporary (the zone may be fixed). */
	assert_int_equal(mx(dns, "allbad.example.org", &m, &n, &nullmx),
	    DNS_TEMPFAIL);
	/* A host that does not exist is still a host name. */
	assert_int_equal(mx(dns, "badmx.example.org", &m, &n, &nullmx),
	    DNS_OK);
	assert_int_equal(n, 2);
	assert_string_equal(m[0].host, "nxdomain.example.org");
	dns_mx_free(&m, n);
	dns_mx_free(&m, 0);	/* NULL: fine */
	dns_mx_free(NULL, 0);
}

static void
test_mx_failures(void **state)
{
	struct dns_mx *m = (void *)1;
	size_t n = 99;
	int nullmx = -1;

	(void)state;
	assert_int_equal(mx(dns, "nomx.example.org", &m, &n, &nullmx),
	    DNS_NODATA);
	m = (void *)1;
	assert_int_equal(mx(dns, "nxdomain.example.org", &m, &n, &nullmx),
	    DNS_NXDOMAIN);
	assert_int_equal(mx(dns, "nothing.example.net", &m, &n, &nullmx),
	    DNS_NXDOMAIN);
	assert_int_equal(mx(dns, "tempfail.example.org", &m, &n, &nullmx),
	    DNS_TEMPFAIL);
	assert_int_equal(mx(dns, "a.b.tempfail.example.org", &m, &n,
	    &nullmx), DNS_TEMPFAIL);
	/* A SERVFAIL does not make the server unusable for other names. */
	check_example_org("example.org");
	assert_int_equal(mx(dns, "tempfail.example.org", &m, &n, &nullmx),
	    DNS_TEMPFAIL);
	check_example_org("example.org");
}

/* ------------------------------------------------------------ A/AAAA */

static void
test_addrs(void **state)
{
	(void)state;
	assert_string_equal(addrs(dns, "mx1.example.org", 25, 0),
	    "127.0.0.2 25");
	assert_string_equal(addrs(dns, "MX2.example.org.", 2525, 1),
	    "127.0.0.3 2525");
	assert_string_equal(addrs(dns, "dual.example.org", 25, 0),
	    "::1 25,127.0.0.6 25");
	assert_string_equal(addrs(dns, "dual.example.org", 25, 1),
	    "127.0.0.6 25,::1 25");
	assert_string_equal(addrs(dns, "v6.example.org", 587, 1), "::1 587");
	assert_string_equal(addrs(dns, "cname.example.org", 25, 0),
	    "127.0.0.9 25");
	assert_string_equal(addrs(dns, "equal.example.org", 25, 0), "nodata");
	assert_string_equal(addrs(dns, "nxdomain.example.org", 25, 0),
	    "nxdomain");
	assert_string_equal(addrs(dns, "tempfail.example.org", 25, 0),
	    "tempfail");
	assert_string_equal(addrs(dns, "mx1.example.org", -1, 0), "permfail");
	assert_string_equal(addrs(dns, "mx1.example.org", 65536, 0),
	    "permfail");
	assert_string_equal(addrs(dns, "mx1.example.org", 0, 0),
	    "127.0.0.2 0");
	/* test. is asked of the server, not answered by libunbound. */
	assert_string_equal(addrs(dns, "dnstest.test", 25, 0),
	    "127.0.0.30 25");
}

/* Literals: answered without a query, so even a dead server will do. */
static void
test_addrs_literal(void **state)
{
	struct dns *d = open_or_fail(deadsrv, SHORT_MS);
	long long t0 = now_ms();

	(void)state;
	assert_string_equal(addrs(d, "192.0.2.1", 25, 0), "192.0.2.1 25");
	assert_string_equal(addrs(d, "[192.0.2.1]", 25, 0), "192.0.2.1 25");
	assert_string_equal(addrs(d, "2001:db8::1", 25, 1),
	    "2001:db8::1 25");
	assert_string_equal(addrs(d, "[2001:db8::1]", 26, 0),
	    "2001:db8::1 26");
	assert_string_equal(addrs(d, "[IPv6:2001:db8::1]", 25, 0),
	    "2001:db8::1 25");
	assert_string_equal(addrs(d, "[ipv6:::1]", 25, 0), "::1 25");
	assert_string_equal(addrs(d, "[IPv6:::ffff:192.0.2.1]", 25, 0),
	    "::ffff:192.0.2.1 25");
	/* Malformed literals. */
	assert_string_equal(addrs(d, "[192.0.2.1", 25, 0), "permfail");
	assert_string_equal(addrs(d, "[IPv6:192.0.2.1]", 25, 0), "permfail");
	assert_string_equal(addrs(d, "[]", 25, 0), "permfail");
	assert_string_equal(addrs(d, "[IPv6:]", 25, 0), "permfail");
	assert_string_equal(addrs(d, "[mx1.example.org]", 25, 0),
	    "permfail");
	assert_string_equal(addrs(d, "[tag:foo]", 25, 0), "permfail");
	assert_string_equal(addrs(d, "2001:db8::zz", 25, 0), "permfail");
	assert_string_equal(addrs(d, "[2001:db8::1]:25", 25, 0), "permfail");
	assert_true(now_ms() - t0 < SHORT_MS);	/* no query waited */
	dns_close(&d);
}

/* ------------------------------------------------------------ TXT, A, PTR */

static void
test_txt(void **state)
{
	(void)state;
	assert_string_equal(txt(dns, "txt.example.org"), "hello world|second");
	assert_string_equal(txt(dns, "example.org"),
	    "v=spf1 ip4:127.0.0.0/8 -all");
	assert_string_equal(txt(dns, "cname.example.org"),
	    "v=spf1 ip4:127.0.0.0/8 -all");
	assert_string_equal(txt(dns, "2.0.0.127.dnsbl.example.org"),
	    "listed: see example.org");
	/* "a\0b" cannot be a C string: left out. */
	assert_string_equal(txt(dns, "nul.example.org"), "ok");
	assert_string_equal(txt(dns, "mx1.example.org"), "nodata");
	assert_string_equal(txt(dns, "nxdomain.example.org"), "nxdomain");
	assert_string_equal(txt(dns, "tempfail.example.org"), "tempfail");
	assert_string_equal(txt(dns, "_dmarc.example.org"), "nxdomain");
}

static void
test_a4(void **state)
{
	struct in_addr *a = (void *)1;
	size_t n = 99;
	char ip[INET_ADDRSTRLEN];

	(void)state;
	assert_int_equal(dns_a4(dns, "2.0.0.127.dnsbl.example.org", &a, &n),
	    DNS_OK);
	assert_int_equal(n, 1);
	assert_string_equal(inet_ntop(AF_INET, &a[0], ip, sizeof(ip)),
	    "127.0.0.2");
	free(a);
	assert_int_equal(dns_a4(dns, "3.0.0.127.dnsbl.example.org", &a, &n),
	    DNS_NXDOMAIN);
	assert_null(a);
	assert_int_equal(n, 0);
	assert_int_equal(dns_a4(dns, "v6.example.org", &a, &n), DNS_NODATA);
	assert_int_equal(dns_a4(dns, "x.tempfail.example.org", &a, &n),
	    DNS_TEMPFAIL);
	assert_int_equal(dns_a4(dns, "bad name", &a, &n), DNS_PERMFAIL);
}

static enum dns_status
ptr(const char *ip, char ***v, size_t *n)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, ip, &sin->sin_addr) == 1)
		sin->sin_family = AF_INET;
	else if (inet_pton(AF_INET6, ip, &sin6->sin6_addr) == 1)
		sin6->sin6_family = AF_INET6;
	else
		fail_msg("bad test address %s", ip);
	return dns_ptr(dns, (struct sockaddr *)&ss, v, n);
}

static void
test_ptr(void **state)
{
	struct sockaddr_un su;
	char **v = (void *)1;
	size_t n = 99;

	(void)state;
	assert_int_equal(ptr("127.0.0.2", &v, &n), DNS_OK);
	assert_int_equal(n, 1);
	assert_string_equal(v[0], "mx1.example.org");
	dns_strv_free(&v, n);
	assert_null(v);
	assert_int_equal(ptr("::ffff:127.0.0.3", &v, &n), DNS_OK);
	assert_string_equal(v[0], "mx2.example.org");
	dns_strv_free(&v, n);
	assert_int_equal(ptr("::1", &v, &n), DNS_OK);
	assert_string_equal(v[0], "v6.example.org");
	dns_strv_free(&v, n);
	/* Private and loopback reverse zones are asked of the server. */
	assert_int_equal(ptr("192.168.0.1", &v, &n), DNS_OK);
	assert_string_equal(v[0], "lan.example.org");
	dns_strv_free(&v, n);
	assert_int_equal(ptr("127.0.0.30", &v, &n), DNS_OK);
	assert_string_equal(v[0], "dnstest.test");
	dns_strv_free(&v, n);
	assert_int_equal(ptr("127.0.0.200", &v, &n), DNS_NXDOMAIN);
	assert_null(v);
	assert_int_equal(n, 0);
	assert_int_equal(ptr("2001:db8::1", &v, &n), DNS_NXDOMAIN);
	memset(&su, 0, sizeof(su));
	su.sun_family = AF_UNIX;
	assert_int_equal(dns_ptr(dns, (struct sockaddr *)&su, &v, &n),
	    DNS_PERMFAIL);
	assert_int_equal(dns_ptr(dns, NULL, &v, &n), DNS_PERMFAIL);
	dns_strv_free(NULL, 0);
}

/* ------------------------------------------------------------ names */

static void
test_invalid_names(void **state)
{
	static const char *bad[] = {
		"", ".", "..", "a..b", ".example.org", "example.org..",
		"exa mple.org", "exämple.org", "b\xfc" "cher.de",
		"a\\.b.org", "a/b.org", "a*.org", "a@b.org", "a:b",
		"[1.2.3.4", "mx1.example.org\n", "\x01.org",
		/* 64-byte label */
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.org",
	};
	char longname[300], label63[64];
	struct dns *d = open_or_fail(deadsrv, SHORT_MS);
	struct dns_mx *m;
	struct sockaddr_storage *a;
	struct in_addr *a4;
	char **v;
	size_t i, n;
	int nullmx;
	long long t0 = now_ms();

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (dns_mx(d, bad[i], &m, &n, &nullmx) != DNS_PERMFAIL ||
		    dns_addrs(d, bad[i], 25, 0, &a, &n) != DNS_PERMFAIL ||
		    dns_txt(d, bad[i], &v, &n) != DNS_PERMFAIL ||
		    dns_a4(d, bad[i], &a4, &n) != DNS_PERMFAIL)
			fail_msg("name %zu \"%s\" not refused", i, bad[i]);
	}
	assert_int_equal(dns_mx(d, NULL, &m, &n, &nullmx), DNS_PERMFAIL);
	assert_int_equal(dns_addrs(d, NULL, 25, 0, &a, &n), DNS_PERMFAIL);
	assert_int_equal(dns_txt(d, NULL, &v, &n), DNS_PERMFAIL);
	assert_int_equal(dns_a4(d, NULL, &a4, &n), DNS_PERMFAIL);
	/* 254 bytes: too long, with or without the trailing dot. */
	memset(longname, 'a', sizeof(longname));
	for (i = 63; i < 254; i += 64)
		longname[i] = '.';
	longname[254] = '\0';
	assert_int_equal(dns_txt(d, longname, &v, &n), DNS_PERMFAIL);
	longname[254] = '.';
	longname[255] = '\0';
	assert_int_equal(dns_txt(d, longname, &v, &n), DNS_PERMFAIL);
	assert_true(now_ms() - t0 < SHORT_MS);	/* no query was sent */
	dns_close(&d);

	/* At the limits: valid, asked, and absent. */
	longname[253] = '\0';
	assert_int_equal(dns_txt(dns, longname, &v, &n), DNS_NXDOMAIN);
	longname[253] = '.';
	longname[254] = '\0';
	assert_int_equal(dns_txt(dns, longname, &v, &n), DNS_NXDOMAIN);
	memset(label63, 'b', 63);
	label63[63] = '\0';
	snprintf(longname, sizeof(longname), "%s.example.org", label63);
	assert_int_equal(dns_txt(dns, longname, &v, &n), DNS_NXDOMAIN);
	assert_int_equal(dns_txt(dns, "_x-y_.example.org", &v, &n),
	    DNS_NXDOMAIN);
	assert_int_equal(dns_txt(dns, "xn--bcher-kva.example.org", &v, &n),
	    DNS_NXDOMAIN);
}

/* ------------------------------------------------------------ timeouts */

static void
test_timeout_dead_server(void **state)
{
	struct dns *d = open_or_fail(deadsrv, SHORT_MS);
	struct sockaddr_storage *a;
	struct dns_mx *m;
	size_t n;
	int nullmx;
	long long t0, dt;

	(void)state;
	t0 = now_ms();
	assert_int_equal(dns_mx(d, "example.org", &m, &n, &nullmx),
	    DNS_TEMPFAIL);
	dt = now_ms() - t0;
	if (dt < SHORT_MS - 50 || dt > SHORT_MS + 1000)
		fail_msg("dead server: TEMPFAIL after %lld ms, want ~%d", dt,
		    SHORT_MS);
	t0 = now_ms();
	assert_int_equal(dns_addrs(d, "mx1.example.org", 25, 0, &a, &n),
	    DNS_TEMPFAIL);
	dt = now_ms() - t0;
	if (dt > SHORT_MS + 1000)	/* both families, one deadline */
		fail_msg("dead server: addrs took %lld ms", dt);
	/* Closing with abandoned queries in flight is quick and clean. */
	t0 = now_ms();
	dns_close(&d);
	assert_true(now_ms() - t0 < 5000);
}

/* A name the server never answers does not poison the other names. */
static void
test_timeout_one_name(void **state)
{
	struct dns *d = open_or_fail(server, SHORT_MS);
	struct sockaddr_storage *a;
	char **v;
	size_t n;
	long long t0, dt;
	int i;

	(void)state;
	for (i = 0; i < 3; i++) {
		t0 = now_ms();
		assert_int_equal(dns_txt(d, "timeout.example.org", &v, &n),
		    DNS_TEMPFAIL);
		dt = now_ms() - t0;
		if (dt > SHORT_MS + 1000)
			fail_msg("timeout.example.org took %lld ms", dt);
		assert_string_equal(addrs(d, "mx1.example.org", 25, 0),
		    "127.0.0.2 25");
		assert_string_equal(txt(d, "txt.example.org"),
		    "hello world|second");
	}
	assert_int_equal(dns_addrs(d, "x.timeout.example.org", 25, 1, &a, &n),
	    DNS_TEMPFAIL);
	dns_close(&d);
}

/* ------------------------------------------------------------ silence */

/* Neither we nor libunbound write anything, also when it has reasons to
 * complain (servers unreachable, bad answers, timeouts). */
static void
test_silent(void **state)
{
	char path[] = "/tmp/test_dns_stderr.XXXXXX";
	struct dns *d;
	struct dns_mx *m;
	char **v;
	size_t n;
	int fd, saved, nullmx;
	off_t size;

	(void)state;
	fflush(stderr);
	assert_true((fd = mkstemp(path)) != -1);
	unlink(path);
	saved = dup(2);
	assert_true(saved != -1 && dup2(fd, 2) == 2);

	/* Unreachable and unroutable forwarders, a dead one, a good one. */
	d = open_or_fail("192.0.2.1@53 2001:db8::1@53 0.0.0.0@1", SHORT_MS);
	(void)dns_mx(d, "example.org", &m, &n, &nullmx);
	dns_close(&d);
	d = open_or_fail(server, SHORT_MS);
	(void)dns_txt(d, "timeout.example.org", &v, &n);
	(void)dns_mx(d, "allbad.example.org", &m, &n, &nullmx);
	(void)dns_mx(d, "tempfail.example.org", &m, &n, &nullmx);
	dns_close(&d);

	fflush(stderr);
	assert_true(dup2(saved, 2) == 2);
	close(saved);
	size = lseek(fd, 0, SEEK_END);
	if (size != 0) {
		char buf[512];
		ssize_t r = pread(fd, buf, sizeof(buf) - 1, 0);

		buf[r > 0 ? r : 0] = '\0';
		close(fd);
		fail_msg("stderr got %lld bytes: %s", (long long)size, buf);
	}
	close(fd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_open),
		cmocka_unit_test(test_status_str),
		cmocka_unit_test(test_mx_sorted),
		cmocka_unit_test(test_mx_nullmx),
		cmocka_unit_test(test_mx_equal_random),
		cmocka_unit_test(test_mx_unusable),
		cmocka_unit_test(test_mx_failures),
		cmocka_unit_test(test_addrs),
		cmocka_unit_test(test_addrs_literal),
		cmocka_unit_test(test_txt),
		cmocka_unit_test(test_a4),
		cmocka_unit_test(test_ptr),
		cmocka_unit_test(test_invalid_names),
		cmocka_unit_test(test_timeout_dead_server),
		cmocka_unit_test(test_timeout_one_name),
		cmocka_unit_test(test_silent),
	};

	(void)signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
