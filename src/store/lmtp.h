/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * Pieces of the LMTP server (lmtp.c) exposed for unit tests. The session
 * itself is lmtp_serve (session.h).
 */
#ifndef EST_STORE_LMTP_H
#define EST_STORE_LMTP_H

/*
 * The "+detail" of orig ("user+detail@domain") when user
 * ("user@domain", what the users database resolved it to) is its plain
 * form: 1 with *detail_r malloc'd, else 0 and NULL.
 */
int	 lmtp_detail(const char *orig, const char *user, char **detail_r);

#endif
