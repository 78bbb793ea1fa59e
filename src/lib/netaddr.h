/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * IP addresses and CIDR networks: parsing listen addresses ("host:port",
 * "[v6]:port") and matching client addresses against network lists.
 * Pure, no DNS: only numeric addresses are accepted.
 */
#ifndef EST_NETADDR_H
#define EST_NETADDR_H

#include <sys/socket.h>

#include <stddef.h>

struct cfg_list;

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
/* Formats the IP (no port) into out. */
void	 netaddr_ntop(const struct sockaddr *, char *out, size_t outlen,
	    int *port_r);

#endif
