/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * estafetad's settings: the declaration table and the parsed, immutable
 * struct every relay process reads. Loaded by the master (and estafetactl);
 * a reload parses into a fresh struct and swaps it whole.
 */
#ifndef EST_RELAY_CFG_H
#define EST_RELAY_CFG_H

#include "lib/cfg.h"

struct buf;

enum possibly_delivered_policy {
	POSSIBLY_RETRY = 0,	/* try again: at least once, maybe twice */
	POSSIBLY_DELIVERED,	/* count it delivered: at most once */
};

enum spool_sync_mode {
	SPOOL_SYNC_GROUP = 0,	/* qmgr covers many messages with one syncfs */
	SPOOL_SYNC_FSYNC,	/* each smtpd fsyncs file and directory itself */
};

struct relay_cfg {
	char		*hostname;
	char		*run_user;
	char		*spool_dir;
	char		*pid_file;
	int		 log_target;		/* enum log_target */
	int		 log_level;		/* enum log_level */
	long long	 shutdown_timeout;	/* ms */

	struct cfg_list	 listen_mx;
	struct cfg_list	 listen_submission;
	struct cfg_list	 listen_smtps;
	char		*listen_local;		/* unix socket path, or "" */
	char		*listen_local_group;	/* "" = every local user */
	char		*local_sender_domain;	/* "" = hostname */

	long long	 smtpd_workers_min;
	long long	 smtpd_workers_max;
	long long	 smtpd_sessions_per_worker;
	long long	 message_size_limit;
	long long	 smtpd_recipient_limit;
	long long	 smtpd_error_limit;
	long long	 smtpd_command_line_limit;
	long long	 smtpd_text_line_limit;
	long long	 smtpd_command_timeout;	/* ms */
	long long	 smtpd_data_timeout;	/* ms */
	long long	 smtpd_session_timeout;	/* ms */
	char		*smtpd_banner;

	struct cfg_list	 local_domains;
	struct cfg_list	 relay_domains;
	struct cfg_list	 trusted_networks;

	int		 spool_sync;		/* enum spool_sync_mode */
	long long	 hop_count_limit;

	/* TLS (server side). */
	struct cfg_list	 tls_cert_files;	/* PEM chains, first = default */
	struct cfg_list	 tls_key_files;		/* matching private keys */
	int		 tls_min_version;	/* enum tls_version */
	char		*tls_ciphers;		/* TLS 1.2 cipher list */
	char		*tls_ciphersuites;	/* TLS 1.3 suites */
	char		*tls_groups;

	/* AUTH and users. */
	char		*users_db;
	struct cfg_list	 smtpd_auth_cleartext_networks;
	long long	 smtpd_auth_fail_limit;
	long long	 smtpd_auth_fail_window;	/* ms */
	char		*postmaster_address;

	/* Recipient verification for relay_domains (backup MX). */
	char		*relay_recipients;	/* table file, or "" */
	char		*relay_verify_primary;	/* "ip:port" probe, or "" */
	long long	 relay_verify_timeout;		/* ms */
	long long	 relay_verify_positive_ttl;	/* ms */
	long long	 relay_verify_negative_ttl;	/* ms */

	/* Delivery: routing. */
	char		*transports;	/* "domain=transport, ..." */
	char		*local_transport;
	char		*default_transport;
	char		*relayhost;
	char		*relayhost_auth_file;
	int		 relayhost_tls;		/* enum route_tls */
	int		 smtp_tls;		/* enum route_tls */
	struct cfg_list	 smtp_tls_policies;	/* "domain=policy" */
	char		*smtp_tls_ca_file;
	char		*dns_server;
	long long	 dns_timeout;		/* ms */

	/* Delivery: scheduling. */
	long long	 deliver_workers;
	long long	 deliver_dest_concurrency;
	long long	 deliver_job_messages;	/* per job (connection) */
	long long	 deliver_job_size;	/* octets per job */
	long long	 queue_retry_min;	/* ms */
	long long	 queue_retry_max;	/* ms */
	long long	 queue_lifetime;	/* ms */
	long long	 delay_warning_time;	/* ms, 0 = off */
	int		 possibly_delivered;	/* enum possibly_delivered_policy */
	long long	 smtp_connect_timeout;	/* ms */
	long long	 smtp_reply_timeout;	/* ms */
	int		 smtp_chunking;	/* BDAT to CHUNKING peers */

	/* Delivery: adaptive per-destination throttling. */
	int		 deliver_throttle;
	char		*deliver_throttle_patterns;	/* "a, b, ..." */
	long long	 deliver_throttle_delay;	/* ms */
	long long	 deliver_throttle_delay_max;	/* ms */
	long long	 deliver_throttle_recover;	/* successes per step */
	long long	 deliver_throttle_forget;	/* ms */

	/* Rate limits (0 = off). */
	long long	 smtpd_conn_rate_limit;		/* per address/min */
	long long	 smtpd_conn_concurrency_limit;	/* per address */
	long long	 smtpd_user_message_limit;	/* per user/hour */
	long long	 smtpd_user_recipient_limit;	/* per user/hour */

	/* Not a setting: where each one was set, for the checks made
	 * after parsing (relay_cfg_load, master's listeners and TLS). */
	struct cfg_where *where;
};

/* sizeof(((struct sockaddr_un *)0)->sun_path) on Linux. */
#define RELAY_CFG_SUN_PATH_MAX	108

enum tls_version { TLS_VERSION_12 = 0, TLS_VERSION_13 };

extern const struct cfg_def relay_cfg_defs[];

/*
 * Parses path into *cfg (defaults, file, then fills derived values such as
 * the hostname). 1, or -1 with "file:line: message" lines in err and *cfg
 * zeroed; a check of several settings names the line of the one set last
 * (cfg_where_error). overrides: NULL-terminated "key=value" strings applied after the
 * file (estafetad -o). Never logs.
 */
int	relay_cfg_load(struct relay_cfg *cfg, const char *path,
	    char *const *overrides, struct buf *err);
void	relay_cfg_free(struct relay_cfg *cfg);

/* 1 when domain (ASCII, any case) is in the list. */
int	relay_cfg_domain_in(const struct cfg_list *, const char *domain);

#endif
