/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * smtpd's STARTTLS and AUTH commands (smtpd_auth.c). Internal to smtpd.
 */
#ifndef EST_SMTPD_AUTH_H
#define EST_SMTPD_AUTH_H

#include <stddef.h>

struct smtpd_session;

/* Command handlers (smtpd's command table). */
void	smtpd_starttls(struct smtpd_session *, const char *, size_t);
void	smtpd_auth(struct smtpd_session *, const char *, size_t);
/* Server side of the TLS handshake (STARTTLS, implicit TLS). 1 or -1. */
int	smtpd_tls_handshake(struct smtpd_session *);
/* 1 when EHLO should advertise AUTH now. */
int	smtpd_auth_offered(const struct smtpd_session *);

#endif
