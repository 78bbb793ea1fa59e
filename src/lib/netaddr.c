/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * Numeric addresses and CIDR matching: see netaddr.h.
 */
#include "config.h"

#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/cfg.h"
#include "lib/netaddr.h"

static int
netaddr_parse_num(const char *s, long max, long *v)
{
	char *end;

	if (*s < '0' || *s > '9')
		return -1;
	*v = strtol(s, &end, 10);
	if (*end != '\0' || *v < 0 || *v > max)
		return -1;
	return 1;
}

int
netaddr_parse_cidr(const char *s, struct netaddr *n)
{
	char tmp[INET6_ADDRSTRLEN + 8];
	char *slash;
	long p;

	if (snprintf(tmp, sizeof(tmp), "%s", s) >= (int)sizeof(tmp))
		return -1;
	memset(n, 0, sizeof(*n));
	if ((slash = strchr(tmp, '/')) != NULL)
		*slash++ = '\0';
	if (inet_pton(AF_INET, tmp, n->a) == 1) {
		n->family = AF_INET;
		n->prefix = 32;
	} else if (inet_pton(AF_INET6, tmp, n->a) == 1) {
		n->family = AF_INET6;
		n->prefix = 128;
	} else
		return -1;
	if (slash != NULL) {
		if (netaddr_parse_num(slash, n->prefix, &p) == -1)
			return -1;
		n->prefix = (int)p;
	}
	return 1;
}

int
netaddr_parse_listen(const char *s, struct sockaddr_storage *ss,
    socklen_t *len_r)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
	char host[INET6_ADDRSTRLEN + 4];
	const char *colon, *h, *end;
	size_t hl;
	long port;

	memset(ss, 0, sizeof(*ss));
	if ((colon = strrchr(s, ':')) == NULL ||
	    netaddr_parse_num(colon + 1, 65535, &port) == -1)
		return -1;
	h = s;
	end = colon;
	if (*h == '[') {
		if (end - h < 2 || end[-1] != ']')
			return -1;
		h++;
		end--;
	}
	hl = (size_t)(end - h);
	if (hl >= sizeof(host))
		return -1;
	memcpy(host, h, hl);
	host[hl] = '\0';
	if (strcmp(host, "*") == 0 || strcmp(host, "") == 0)
		(void)snprintf(host, sizeof(host), "0.0.0.0");	/* fits */
	if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		if (*s == '[')
			return -1;
		sin->sin_family = AF_INET;
		sin->sin_port = htons((unsigned short)port);
		*len_r = sizeof(*sin);
		return 1;
	}
	if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((unsigned short)port);
		*len_r = sizeof(*sin6);
		return 1;
	}
	return -1;
}

static int
netaddr_match(const unsigned char *a, const struct netaddr *n)
{
	int full = n->prefix / 8, rest = n->prefix % 8;
	unsigned char mask;

	if (memcmp(a, n->a, (size_t)full) != 0)
		return 0;
	if (rest == 0)
		return 1;
	mask = (unsigned char)(0xff << (8 - rest));
	return (a[full] & mask) == (n->a[full] & mask);
}

int
netaddr_in_list(const struct sockaddr *sa, const struct cfg_list *l)
{
	static const unsigned char mapped[12] = {
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	const unsigned char *a;
	struct netaddr n;
	int family;
	size_t i;

	if (sa->sa_family == AF_INET) {
		family = AF_INET;
		a = (const unsigned char *)
		    &((const struct sockaddr_in *)sa)->sin_addr;
	} else if (sa->sa_family == AF_INET6) {
		a = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
		family = AF_INET6;
		if (memcmp(a, mapped, sizeof(mapped)) == 0) {
			family = AF_INET;
			a += 12;
		}
	} else
		return 0;
	for (i = 0; i < l->n; i++) {
		if (netaddr_parse_cidr(l->v[i], &n) == -1 || n.family != family)
			continue;
		if (netaddr_match(a, &n))
			return 1;
	}
	return 0;
}

void
netaddr_ntop(const struct sockaddr *sa, char *out, size_t outlen, int *port_r)
{
	const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;

	*port_r = 0;
	if (sa->sa_family == AF_INET) {
		(void)inet_ntop(AF_INET, &sin->sin_addr, out, (socklen_t)outlen);
		*port_r = ntohs(sin->sin_port);
	} else if (sa->sa_family == AF_INET6) {
		(void)inet_ntop(AF_INET6, &sin6->sin6_addr, out,
		    (socklen_t)outlen);
		*port_r = ntohs(sin6->sin6_port);
	} else
		(void)snprintf(out, outlen, "unknown");	/* truncation harmless */
}

int
netaddr_check_lists(const struct cfg_where *w,
    const struct netaddr_cfg_list *lists, size_t n, struct buf *err)
{
	struct sockaddr_storage ss;
	struct netaddr na;
	socklen_t len;
	size_t i, j;
	int ok = 1;

	for (i = 0; i < n; i++)
		for (j = 0; j < lists[i].l->n; j++) {
			const char *v = lists[i].l->v[j];

			if (lists[i].cidr ? netaddr_parse_cidr(v, &na) == 1 :
			    netaddr_parse_listen(v, &ss, &len) == 1)
				continue;
			cfg_where_error(w, err, CFG_KEYS(lists[i].name),
			    "%s: '%s' is not %s", lists[i].name, v,
			    lists[i].cidr ? "an address or CIDR network (e.g. "
			    "192.0.2.0/24)" : "a listen address (ip:port or "
			    "[ipv6]:port)");
			ok = 0;
		}
	return ok ? 1 : -1;
}

int
netaddr_listen_tcp(const char *addr, int backlog, struct buf *err)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, on = 1;

	if (netaddr_parse_listen(addr, &ss, &len) == -1) {
		(void)buf_appendf(err, "bad listen address '%s' (expected "
		    "ip:port or [ipv6]:port)", addr);
		return -1;
	}
	if ((fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0)) == -1)
		goto fail;
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	if (ss.ss_family == AF_INET6)
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on,
		    sizeof(on));
	if (bind(fd, (struct sockaddr *)&ss, len) == -1 ||
	    listen(fd, backlog) == -1)
		goto fail;
	return fd;
fail:
	(void)buf_appendf(err, "cannot listen on %s: %s", addr,
	    strerror(errno));
	if (fd != -1)
		(void)close(fd);
	return -1;
}
