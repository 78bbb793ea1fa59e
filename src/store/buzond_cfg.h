/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * buzond's settings: a table for lib/cfg (types, defaults, bounds, help
 * text that README's configuration reference is generated from) and the
 * cross-key checks. The master loads it; sessions read it, never change it.
 */
#ifndef EST_BUZOND_CFG_H
#define EST_BUZOND_CFG_H

#include "lib/cfg.h"

struct buf;

struct buzond_cfg {
	char		*hostname;
	char		*run_user;
	char		*store_root;
	char		*users_db;
	char		*pid_file;
	int		 log_target;		/* enum log_target */
	int		 log_level;		/* enum log_level */

	char		*listen_lmtp;		/* unix socket path, "" none */
	struct cfg_list	 listen_lmtp_tcp;
	struct cfg_list	 listen_pop3;
	struct cfg_list	 listen_pop3s;
	struct cfg_list	 listen_imap;
	struct cfg_list	 listen_imaps;

	struct cfg_list	 tls_cert_files;
	struct cfg_list	 tls_key_files;
	int		 tls_min_version;
	char		*tls_ciphers;
	char		*tls_ciphersuites;
	char		*tls_groups;

	long long	 max_sessions;
	long long	 max_sessions_per_ip;
	long long	 max_message_size;
	long long	 default_quota;

	long long	 lmtp_timeout;		/* ms */
	long long	 lmtp_recipient_limit;

	struct cfg_list	 auth_cleartext_networks;
	long long	 auth_fail_ip_limit;
	long long	 auth_fail_ip_window;	/* ms */
	long long	 pop3_idle_timeout;	/* ms */
	long long	 pop3_error_limit;
	long long	 pop3_auth_fail_limit;
	long long	 pop3_command_line_limit;
	long long	 imap_login_timeout;	/* ms */
	long long	 imap_idle_timeout;	/* ms */
	long long	 imap_error_limit;
	long long	 imap_auth_fail_limit;

	/* Not a setting: where each one was set (cfg_where_error). */
	struct cfg_where *where;
};

extern const struct cfg_def buzond_cfg_defs[];

/*
 * Parses path, applies "key=value" overrides (NULL-terminated, may be
 * NULL) and checks the result. 1, or -1 with every problem in err (then
 * cfg holds nothing to free).
 */
int	 buzond_cfg_load(struct buzond_cfg *, const char *path,
	    char *const *overrides, struct buf *err);
void	 buzond_cfg_free(struct buzond_cfg *);

#endif
