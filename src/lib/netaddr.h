/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * IP addresses and CIDR networks: parsing listen addresses ("host:port",
 * "[v6]:port") and matching client addresses against network lists;
 * checking the daemons' configured lists of them, and binding a TCP
 * listener. No DNS: only numeric addresses are accepted.
 */
#ifndef EST_NETADDR_H
#define EST_NETADDR_H

#include <sys/socket.h>

#include <stddef.h>

struct buf;
struct cfg_list;
struct cfg_where;

struct netaddr {
	int		 family;	/* AF_INET or AF_INET6 */
	unsigned char	 a[16];
	int		 prefix;	/* CIDR prefix length */
};

/* Parses "1.2.3.4", "1.2.3.0/24", "::1", "2001:db8::/32". 1 or -1. */
int	 netaddr_parse_cidr(const char *, struct netaddr *);
/* Parses "host:port" / "[v6]:port" / "*:port" into a sockaddr. 1 or -1. */
int	 netaddr_parse_listen(const char *, struct sockaddr_storage *,
	    socklen_t *len_r);
/* 1 when the socket address lies in one of the networks of list (whose
 * entries were validated by netaddr_parse_cidr). IPv4-mapped IPv6 clients
 * match IPv4 networks. */
int	 netaddr_in_list(const struct sockaddr *, const struct cfg_list *);
/* A configured list to check: networks (cidr) or listen addresses. */
struct netaddr_cfg_list {
	const char		*name;	/* the setting */
	const struct cfg_list	*l;
	int			 cidr;
};
/* Checks every entry of the n lists, so that -t finds every mistake, not
 * the first bind(): each bad one gets an error line in err naming its
 * setting's file and line (cfg_where_error). 1, or -1. */
int	 netaddr_check_lists(const struct cfg_where *,
	    const struct netaddr_cfg_list *, size_t n, struct buf *err);
/* A non-blocking, close-on-exec TCP socket listening on addr (IPv6 only
 * for an IPv6 address, SO_REUSEADDR) with this backlog. The fd, or -1
 * with a line in err ("bad listen address ...", "cannot listen on ADDR:
 * REASON"). */
int	 netaddr_listen_tcp(const char *addr, int backlog, struct buf *err);
/* Formats the IP (no port) into out. */
void	 netaddr_ntop(const struct sockaddr *, char *out, size_t outlen,
	    int *port_r);

#endif
