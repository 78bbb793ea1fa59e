/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * SMTP command-line parsing (RFC 5321 4.1.1, 4.1.2 and the ESMTP
 * parameters of RFC 1870, 6152, 6531, 3461). Pure functions on a line
 * without its CRLF; they decide syntax only, never policy. Each failure
 * comes with the reply smtpd must send ("501 5.5.4 ..." etc.).
 */
#ifndef EST_SMTPD_CMD_H
#define EST_SMTPD_CMD_H

#include <stddef.h>

struct addr;

#define SMTP_VERB_MAX	16

/* Parsed MAIL FROM / RCPT TO. Strings point into a struct buf owned by
 * the caller (see smtpd_cmd_path). */
struct smtp_path_cmd {
	struct addr	*addr;
	/* MAIL */
	long long	 size;		/* SIZE=, -1 if absent */
	int		 body;		/* enum spool_body, -1 if absent */
	int		 smtputf8;
	int		 ret;		/* enum spool_ret */
	char		*envid;		/* decoded xtext, malloc'd */
	char		*auth;		/* AUTH= value as given, malloc'd */
	/* RCPT */
	unsigned	 notify;	/* SPOOL_NOTIFY_* */
	char		*orcpt;		/* "rfc822;addr" xtext-decoded;
					 * "utf-8;addr" RFC 6533-decoded
					 * (UTF-8) */
};

/*
 * Splits line[0..len) into an upper-cased verb (at most SMTP_VERB_MAX-1
 * characters) and the argument after one space. 1 on success; -1 when the
 * line has no verb (empty, starts with a blank, or verb too long or not
 * alphabetic).
 */
int	smtpd_cmd_split(const char *line, size_t len,
	    char verb[SMTP_VERB_MAX], const char **arg_r, size_t *arglen_r);

/*
 * Parses the argument of MAIL ("FROM:<path> [params]", is_mail = 1) or
 * RCPT ("TO:<path> [params]"). utf8_ok: SMTPUTF8 is on for this
 * transaction (RCPT) or allowed to be requested (MAIL). On success returns
 * 1 and fills *c (free with smtpd_cmd_path_free). On failure returns -1 with
 * *reply_r a full reply line without CRLF (static text).
 */
int	smtpd_cmd_path(const char *arg, size_t len, int is_mail, int utf8_ok,
	    struct smtp_path_cmd *c, const char **reply_r);
void	smtpd_cmd_path_free(struct smtp_path_cmd *);

/* Decodes RFC 3461 xtext into a new string; NULL when malformed. */
char	*smtpd_xtext_decode(const char *, size_t);

#endif
