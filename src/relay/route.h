/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * Routing: which next hop a recipient domain's mail goes to. Transport
 * rules (exact domain, then ".parent" rules for subdomains), then
 * local_domains -> local_transport, then relayhost, then
 * default_transport. Pure: no DNS (MX lookups happen at delivery), no I/O.
 * qmgr uses it to group recipients by next hop; delivery workers to
 * connect.
 */
#ifndef EST_ROUTE_H
#define EST_ROUTE_H

struct relay_cfg;
struct buf;

enum route_kind {
	ROUTE_SMTP_MX = 1,	/* smtp: / smtp:host -> MX lookup of host */
	ROUTE_SMTP_HOST,	/* smtp:[host]:port -> no MX lookup */
	ROUTE_LMTP_UNIX,	/* lmtp:unix:/path */
	ROUTE_LMTP_INET,	/* lmtp:host:port */
	ROUTE_ERROR,		/* error:5.x.x text */
	ROUTE_DISCARD,		/* discard */
};

enum route_tls { ROUTE_TLS_NONE = 0, ROUTE_TLS_MAY, ROUTE_TLS_ENCRYPT,
	ROUTE_TLS_VERIFY };

struct route {
	enum route_kind	 kind;
	char		*host;		/* MX domain or host; NULL for "smtp:" */
	int		 port;		/* 25 (smtp), 24 (lmtp) by default */
	char		*path;		/* LMTP socket */
	char		 status[10];	/* ROUTE_ERROR: "5.1.1" (to 5.999.999) */
	char		*text;		/* ROUTE_ERROR: text */
	int		 tls;		/* enum route_tls */
	int		 relayhost;	/* via relayhost (AUTH may apply) */
	const char	*rule;		/* what chose it, for logs */
	const char	*tls_rule;	/* the setting that chose tls (NULL
					 * for error: and discard) */
};

/*
 * Parses a transport string. 1, or -1 with *errstr_r (static text).
 * Fills r (free with route_free).
 */
int	route_parse(const char *transport, struct route *r,
	    const char **errstr_r);

/*
 * The route for mail to domain under cfg. 1, or -1 with *errstr_r when a
 * configured transport is invalid (relay_cfg_load validates them first,
 * so this is a bug). For ROUTE_SMTP_MX with host NULL, the MX of domain
 * itself is meant.
 */
int	route_for(const struct relay_cfg *, const char *domain,
	    struct route *r, const char **errstr_r);

/* A stable key naming the next hop ("smtp:[h]:25", "mx:example.org"). */
void	route_key(const struct route *, const char *domain, struct buf *);
/* The key of domain's next hop under cfg, appended to key (nothing when
 * the domain has no valid route). */
void	route_key_for(const struct relay_cfg *, const char *domain,
	    struct buf *key);

void	route_free(struct route *);

/* Checks every transport-like setting of cfg; appends errors to err,
 * each naming where the setting is (cfg->where). */
int	route_check_cfg(const struct relay_cfg *, struct buf *err);

#endif
