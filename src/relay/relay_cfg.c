/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * estafetad's settings table: see relay_cfg.h. Every limit has bounds here;
 * README's configuration reference lists the same keys.
 */
#include "config.h"

#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/cfg.h"
#include "lib/log.h"
#include "lib/netaddr.h"
#include "lib/xalloc.h"
#include "relay/relay_cfg.h"
#include "relay/route.h"

#define OFF(f)	offsetof(struct relay_cfg, f)
#define SEC	1000LL
#define MIN	(60 * SEC)
#define HOUR	(60 * MIN)
#define DAY	(24 * HOUR)

static const char *const log_targets[] = { "stderr", "syslog", NULL };
static const char *const log_levels[] = {
	"error", "warn", "info", "debug", NULL
};
static const char *const sync_modes[] = { "group", "fsync", NULL };
static const char *const possibly_modes[] = { "retry", "delivered", NULL };
static const char *const tls_versions[] = { "TLSv1.2", "TLSv1.3", NULL };
static const char *const tls_policies[] = { "none", "may", "encrypt",
	"verify", NULL };

const struct cfg_def relay_cfg_defs[] = {
	{ "hostname", CFG_STR, "", 0, 0, OFF(hostname), NULL,
	  "name in the greeting, EHLO and Received (default: system name)" },
	{ "run_user", CFG_STR, "estafeta", 0, 0, OFF(run_user), NULL,
	  "user the children run as when started as root" },
	{ "spool_dir", CFG_STR, LOCALSTATEDIR "/spool/estafeta", 0, 0,
	  OFF(spool_dir), NULL, "queue directory (incoming/, queue/, corrupt/, index.db)" },
	{ "pid_file", CFG_STR, "", 0, 0, OFF(pid_file), NULL,
	  "file the master writes its pid to (empty: none)" },
	{ "log_target", CFG_ENUM, "syslog", 0, 0, OFF(log_target), log_targets,
	  "stderr or syslog (mail facility); -f forces stderr" },
	{ "log_level", CFG_ENUM, "info", 0, 0, OFF(log_level), log_levels,
	  "error, warn, info or debug" },
	{ "shutdown_timeout", CFG_DURATION, "30s", 1 * SEC, HOUR,
	  OFF(shutdown_timeout), NULL,
	  "on SIGTERM, how long sessions and deliveries in progress may "
	  "go on before their workers are killed" },
	{ "listen_mx", CFG_LIST, "", 0, 0, OFF(listen_mx), NULL,
	  "addresses for inbound MX traffic, e.g. 0.0.0.0:25, [::]:25" },
	{ "listen_submission", CFG_LIST, "", 0, 0, OFF(listen_submission),
	  NULL, "addresses for submission with STARTTLS (587); mail only "
	  "after AUTH, so it needs tls_cert_files or "
	  "smtpd_auth_cleartext_networks" },
	{ "listen_smtps", CFG_LIST, "", 0, 0, OFF(listen_smtps), NULL,
	  "addresses for submission with implicit TLS (465)" },
	{ "listen_local", CFG_STR, "", 0, 0, OFF(listen_local), NULL,
	  "unix socket for local submission by estafeta-sendmail, e.g. "
	  "/run/estafeta/submit.sock (empty: none)" },
	{ "listen_local_group", CFG_STR, "", 0, 0, OFF(listen_local_group),
	  NULL, "group that may submit through listen_local (socket mode "
	  "0660); empty: every local user (mode 0666)" },
	{ "local_sender_domain", CFG_STR, "", 0, 0, OFF(local_sender_domain),
	  NULL, "domain estafeta-sendmail adds to unqualified addresses and to "
	  "the login for the default sender (empty: hostname)" },
	{ "smtpd_workers_min", CFG_INT, "4", 1, 1000, OFF(smtpd_workers_min),
	  NULL, "smtpd processes kept ready" },
	{ "smtpd_workers_max", CFG_INT, "100", 1, 10000,
	  OFF(smtpd_workers_max), NULL, "most concurrent SMTP sessions" },
	{ "smtpd_sessions_per_worker", CFG_INT, "100", 1, 1000000,
	  OFF(smtpd_sessions_per_worker), NULL,
	  "sessions an smtpd serves before it is replaced" },
	{ "message_size_limit", CFG_SIZE, "50M", 1024, 2LL << 30,
	  OFF(message_size_limit), NULL, "largest message accepted (SIZE)" },
	{ "smtpd_recipient_limit", CFG_INT, "1000", 100, 100000,
	  OFF(smtpd_recipient_limit), NULL, "recipients per message" },
	{ "smtpd_error_limit", CFG_INT, "10", 1, 1000,
	  OFF(smtpd_error_limit), NULL,
	  "errors in a session before it is closed with 421" },
	{ "smtpd_command_line_limit", CFG_INT, "512", 512, 65536,
	  OFF(smtpd_command_line_limit), NULL,
	  "longest command line in octets, CRLF included (RFC 5321: 512)" },
	{ "smtpd_text_line_limit", CFG_INT, "1000", 1000, 1048576,
	  OFF(smtpd_text_line_limit), NULL,
	  "longest message line in octets, CRLF included (RFC 5321: 1000)" },
	{ "smtpd_command_timeout", CFG_DURATION, "5m", 100, DAY,
	  OFF(smtpd_command_timeout), NULL, "wait for the next command" },
	{ "smtpd_data_timeout", CFG_DURATION, "10m", 100, DAY,
	  OFF(smtpd_data_timeout), NULL,
	  "wait for the next block of message data" },
	{ "smtpd_session_timeout", CFG_DURATION, "1h", 1 * SEC, 7 * DAY,
	  OFF(smtpd_session_timeout), NULL, "longest SMTP session" },
	{ "smtpd_banner", CFG_STR, "ESMTP Estafeta", 0, 0, OFF(smtpd_banner),
	  NULL, "text after the hostname in the 220 greeting" },
	{ "local_domains", CFG_LIST, "", 0, 0, OFF(local_domains), NULL,
	  "domains whose mail is delivered here (to the store)" },
	{ "relay_domains", CFG_LIST, "", 0, 0, OFF(relay_domains), NULL,
	  "domains we accept mail for and forward (backup MX)" },
	{ "trusted_networks", CFG_LIST, "", 0, 0, OFF(trusted_networks), NULL,
	  "client networks allowed to relay without AUTH (CIDR); empty: none" },
	{ "spool_sync", CFG_ENUM, "group", 0, 0, OFF(spool_sync), sync_modes,
	  "group: qmgr makes batches of messages durable with one syncfs;"
	  " fsync: each message is fsync'd on its own" },
	{ "hop_count_limit", CFG_INT, "50", 10, 500, OFF(hop_count_limit),
	  NULL, "Received headers after which a message is a loop" },
	{ "tls_cert_files", CFG_LIST, "", 0, 0, OFF(tls_cert_files), NULL,
	  "PEM certificate chains; the first is the default, the others are"
	  " chosen by SNI against their names" },
	{ "tls_key_files", CFG_LIST, "", 0, 0, OFF(tls_key_files), NULL,
	  "private keys, one per tls_cert_files entry, same order" },
	{ "tls_min_version", CFG_ENUM, "TLSv1.2", 0, 0, OFF(tls_min_version),
	  tls_versions, "oldest TLS version accepted" },
	{ "tls_ciphers", CFG_STR, "HIGH:!aNULL:!MD5:!RC4:!3DES", 0, 0,
	  OFF(tls_ciphers), NULL, "OpenSSL cipher list for TLS 1.2" },
	{ "tls_ciphersuites", CFG_STR, "", 0, 0, OFF(tls_ciphersuites), NULL,
	  "OpenSSL TLS 1.3 cipher suites (empty: OpenSSL's default)" },
	{ "tls_groups", CFG_STR, "", 0, 0, OFF(tls_groups), NULL,
	  "key exchange groups, e.g. X25519:P-256 (empty: OpenSSL's default)" },
	{ "users_db", CFG_STR, "", 0, 0, OFF(users_db), NULL,
	  "SQLite users database shared with the store (empty: "
	  "spool_dir/users.db)" },
	{ "smtpd_auth_cleartext_networks", CFG_LIST, "", 0, 0,
	  OFF(smtpd_auth_cleartext_networks), NULL,
	  "client networks that may AUTH without TLS (CIDR); empty: none" },
	{ "smtpd_auth_fail_limit", CFG_INT, "5", 1, 1000,
	  OFF(smtpd_auth_fail_limit), NULL,
	  "failed AUTH attempts per client address before it is refused "
	  "for smtpd_auth_fail_window" },
	{ "smtpd_auth_fail_window", CFG_DURATION, "10m", 1 * SEC, DAY,
	  OFF(smtpd_auth_fail_window), NULL,
	  "how long failed AUTH attempts are remembered" },
	{ "postmaster_address", CFG_STR, "", 0, 0, OFF(postmaster_address),
	  NULL, "where postmaster@ every local domain goes (empty: "
	  "postmaster@ the first local domain must be a user)" },
	{ "relay_recipients", CFG_STR, "", 0, 0, OFF(relay_recipients), NULL,
	  "file of valid relay_domains recipients, one address or @domain "
	  "per line (empty: no table)" },
	{ "relay_verify_primary", CFG_STR, "", 0, 0, OFF(relay_verify_primary),
	  NULL, "primary MX (ip:port) probed with RCPT to verify relay_domains"
	  " recipients (empty: no probe)" },
	{ "relay_verify_timeout", CFG_DURATION, "30s", 100, 10 * MIN,
	  OFF(relay_verify_timeout), NULL,
	  "longest recipient probe; on timeout the client is told to retry" },
	{ "relay_verify_positive_ttl", CFG_DURATION, "7d", 1 * SEC, 365 * DAY,
	  OFF(relay_verify_positive_ttl), NULL,
	  "how long a recipient the primary accepted is remembered" },
	{ "relay_verify_negative_ttl", CFG_DURATION, "1h", 1 * SEC, 30 * DAY,
	  OFF(relay_verify_negative_ttl), NULL,
	  "how long a recipient the primary refused is remembered" },
	{ "transports", CFG_STR, "", 0, 0, OFF(transports), NULL,
	  "per-domain next hops, comma-separated domain=transport (.domain "
	  "matches subdomains): smtp:, smtp:host, smtp:[host]:port, "
	  "lmtp:unix:/path, lmtp:host:port, error:5.x.x text, discard" },
	{ "local_transport", CFG_STR, "lmtp:unix:/run/buzond/lmtp", 0, 0,
	  OFF(local_transport), NULL, "next hop for local_domains (the store)" },
	{ "default_transport", CFG_STR, "smtp:", 0, 0, OFF(default_transport),
	  NULL, "next hop for every other domain (smtp: = MX lookup)" },
	{ "relayhost", CFG_STR, "", 0, 0, OFF(relayhost), NULL,
	  "smart host for all non-local mail: [host]:port (no MX lookup) or "
	  "host (its MX); empty: deliver directly" },
	{ "relayhost_auth_file", CFG_STR, "", 0, 0, OFF(relayhost_auth_file),
	  NULL, "file (mode 0600) with 'user password' for AUTH at the "
	  "relayhost; sent only over TLS" },
	{ "relayhost_tls", CFG_ENUM, "encrypt", 0, 0, OFF(relayhost_tls),
	  tls_policies, "TLS towards the relayhost: none, may, encrypt, verify" },
	{ "smtp_tls", CFG_ENUM, "may", 0, 0, OFF(smtp_tls), tls_policies,
	  "TLS towards MX hosts: none, may (opportunistic), encrypt, verify" },
	{ "smtp_tls_policies", CFG_LIST, "", 0, 0, OFF(smtp_tls_policies), NULL,
	  "per-domain TLS policy, domain=none|may|encrypt|verify" },
	{ "smtp_tls_ca_file", CFG_STR, "", 0, 0, OFF(smtp_tls_ca_file), NULL,
	  "CA bundle for verify (empty: the system's)" },
	{ "dns_server", CFG_STR, "", 0, 0, OFF(dns_server), NULL,
	  "resolver for MX/A/AAAA, e.g. 127.0.0.1@5353 (empty: "
	  "/etc/resolv.conf)" },
	{ "dns_timeout", CFG_DURATION, "30s", 100, 10 * MIN, OFF(dns_timeout),
	  NULL, "longest wait for one DNS resolution (MX, A/AAAA)" },
	{ "deliver_workers", CFG_INT, "20", 0, 1000, OFF(deliver_workers),
	  NULL, "delivery processes (global delivery concurrency); 0: "
	  "accept and queue only, deliver nothing" },
	{ "deliver_dest_concurrency", CFG_INT, "20", 1, 1000,
	  OFF(deliver_dest_concurrency), NULL,
	  "deliveries at once to one destination" },
	{ "deliver_job_messages", CFG_INT, "16", 1, 32,
	  OFF(deliver_job_messages), NULL,
	  "messages one delivery job may carry to one next hop, one after "
	  "the other over the same connection (1: one message per job)" },
	{ "deliver_job_size", CFG_SIZE, "2M", 1, 1LL << 30,
	  OFF(deliver_job_size), NULL,
	  "a job takes no further message once its messages add up to this "
	  "size (its first message may be larger)" },
	{ "queue_retry_min", CFG_DURATION, "5m", 1 * SEC, DAY,
	  OFF(queue_retry_min), NULL, "first retry delay (doubles each time)" },
	{ "queue_retry_max", CFG_DURATION, "1h", 1 * SEC, 7 * DAY,
	  OFF(queue_retry_max), NULL, "longest retry delay" },
	{ "queue_lifetime", CFG_DURATION, "5d", 1 * SEC, 100 * DAY,
	  OFF(queue_lifetime), NULL,
	  "how long a message may stay queued before it bounces" },
	{ "delay_warning_time", CFG_DURATION, "4h", 0, 100 * DAY,
	  OFF(delay_warning_time), NULL,
	  "send the sender one delay notice after this long (0: never)" },
	{ "possibly_delivered", CFG_ENUM, "retry", 0, 0,
	  OFF(possibly_delivered), possibly_modes,
	  "a recipient whose reply to the final dot never came: retry (it"
	  " may arrive twice) or delivered (not tried again: it may be lost)" },
	{ "smtp_connect_timeout", CFG_DURATION, "30s", 100, 10 * MIN,
	  OFF(smtp_connect_timeout), NULL, "outbound connection set-up" },
	{ "smtp_reply_timeout", CFG_DURATION, "5m", 100, HOUR,
	  OFF(smtp_reply_timeout), NULL,
	  "outbound wait for a reply (10 min after the final dot)" },
	{ "smtp_chunking", CFG_BOOL, "yes", 0, 0, OFF(smtp_chunking), NULL,
	  "send messages with BDAT (RFC 3030) to peers offering CHUNKING; "
	  "no: always DATA" },
	{ "deliver_throttle", CFG_BOOL, "yes", 0, 0, OFF(deliver_throttle),
	  NULL, "adapt each destination's concurrency and pace to its "
	  "connection failures and 421/451 replies matching "
	  "deliver_throttle_patterns" },
	{ "deliver_throttle_patterns", CFG_STR, "too many connections, "
	  "too many concurrent, too many sessions, rate limit, rate-limit, "
	  "ratelimit, throttl, too busy, try again later", 0, 0,
	  OFF(deliver_throttle_patterns), NULL,
	  "comma-separated texts (case-insensitive) that make a 421 or 451 "
	  "reply a throttling signal" },
	{ "deliver_throttle_delay", CFG_DURATION, "1s", 0, 10 * MIN,
	  OFF(deliver_throttle_delay), NULL,
	  "pause between deliveries to a destination after its first "
	  "throttling signal; doubles with each further signal" },
	{ "deliver_throttle_delay_max", CFG_DURATION, "1m", 0, HOUR,
	  OFF(deliver_throttle_delay_max), NULL,
	  "longest pause between deliveries to a throttled destination" },
	{ "deliver_throttle_recover", CFG_INT, "10", 1, 100000,
	  OFF(deliver_throttle_recover), NULL,
	  "delivered recipients that raise a throttled destination's "
	  "concurrency by one (each delivering job also halves its pause)" },
	{ "deliver_throttle_forget", CFG_DURATION, "1h", 1 * MIN, 7 * DAY,
	  OFF(deliver_throttle_forget), NULL,
	  "a throttled destination whose state did not change for this long "
	  "is restored (forgotten)" },
	{ "smtpd_conn_rate_limit", CFG_INT, "0", 0, 1000000,
	  OFF(smtpd_conn_rate_limit), NULL,
	  "connections per client address per minute (0: no limit)" },
	{ "smtpd_conn_concurrency_limit", CFG_INT, "0", 0, 100000,
	  OFF(smtpd_conn_concurrency_limit), NULL,
	  "simultaneous sessions per client address (0: no limit)" },
	{ "smtpd_user_message_limit", CFG_INT, "0", 0, 10000000,
	  OFF(smtpd_user_message_limit), NULL,
	  "messages per authenticated user per hour (0: no limit)" },
	{ "smtpd_user_recipient_limit", CFG_INT, "0", 0, 100000000,
	  OFF(smtpd_user_recipient_limit), NULL,
	  "recipients per authenticated user per hour (0: no limit)" },
	{ NULL, 0, NULL, 0, 0, 0, NULL, NULL },
};

/* Network lists and listen addresses are checked here so that -t finds
 * every mistake, not the first bind(). */
static int
relay_cfg_check_lists(const struct relay_cfg *cfg, struct buf *err)
{
	const struct netaddr_cfg_list lists[] = {
		{ "trusted_networks", &cfg->trusted_networks, 1 },
		{ "smtpd_auth_cleartext_networks",
		  &cfg->smtpd_auth_cleartext_networks, 1 },
		{ "listen_mx", &cfg->listen_mx, 0 },
		{ "listen_submission", &cfg->listen_submission, 0 },
		{ "listen_smtps", &cfg->listen_smtps, 0 },
	};

	return netaddr_check_lists(cfg->where, lists,
	    sizeof(lists) / sizeof(lists[0]), err);
}

/* Local submission: an absolute socket path that fits sun_path, a
 * domain without '@' or blanks. */
static int
relay_cfg_check_local(const struct relay_cfg *cfg, struct buf *err)
{
	const char *d = cfg->local_sender_domain;
	int ok = 1;

	if (cfg->listen_local[0] != '\0' && (cfg->listen_local[0] != '/' ||
	    strlen(cfg->listen_local) >= RELAY_CFG_SUN_PATH_MAX)) {
		cfg_where_error(cfg->where, err, CFG_KEYS("listen_local"),
		    "listen_local: '%s' is not an absolute path shorter than "
		    "%d octets", cfg->listen_local, RELAY_CFG_SUN_PATH_MAX);
		ok = 0;
	}
	if (d[0] != '\0' && (strpbrk(d, "@ \t<>()[],;:\\\"") != NULL ||
	    d[0] == '.' || d[strlen(d) - 1] == '.')) {
		cfg_where_error(cfg->where, err,
		    CFG_KEYS("local_sender_domain"), "local_sender_domain: "
		    "'%s' is not a domain name", d);
		ok = 0;
	}
	return ok ? 1 : -1;
}

static int
relay_cfg_check(void *arg, struct buf *err)
{
	struct relay_cfg *cfg = arg;
	int ok = 1;

	cfg_hostname_default(&cfg->hostname);
	if (cfg->smtpd_workers_min > cfg->smtpd_workers_max) {
		cfg_where_error(cfg->where, err, CFG_KEYS("smtpd_workers_min",
		    "smtpd_workers_max"), "smtpd_workers_min (%lld) exceeds "
		    "smtpd_workers_max (%lld)", cfg->smtpd_workers_min,
		    cfg->smtpd_workers_max);
		ok = 0;
	}
	if (cfg->spool_dir[0] != '/') {
		cfg_where_error(cfg->where, err, CFG_KEYS("spool_dir"),
		    "spool_dir must be an absolute path");
		ok = 0;
	}
	if (relay_cfg_check_lists(cfg, err) == -1)
		ok = 0;
	if (route_check_cfg(cfg, err) == -1)
		ok = 0;
	if (cfg->relay_verify_primary[0] != '\0') {
		struct sockaddr_storage ss;
		socklen_t len;

		if (netaddr_parse_listen(cfg->relay_verify_primary, &ss,
		    &len) == -1) {
			cfg_where_error(cfg->where, err,
			    CFG_KEYS("relay_verify_primary"),
			    "relay_verify_primary: '%s' is not ip:port or "
			    "[ipv6]:port", cfg->relay_verify_primary);
			ok = 0;
		}
	}
	if (cfg->tls_cert_files.n != cfg->tls_key_files.n) {
		cfg_where_error(cfg->where, err, CFG_KEYS("tls_cert_files",
		    "tls_key_files"), "tls_cert_files has %zu entries but "
		    "tls_key_files %zu: give one key per certificate",
		    cfg->tls_cert_files.n, cfg->tls_key_files.n);
		ok = 0;
	}
	if (cfg->deliver_throttle_delay_max < cfg->deliver_throttle_delay) {
		cfg_where_error(cfg->where, err,
		    CFG_KEYS("deliver_throttle_delay",
		    "deliver_throttle_delay_max"), "deliver_throttle_delay_max "
		    "is shorter than deliver_throttle_delay");
		ok = 0;
	}
	if (cfg->listen_smtps.n > 0 && cfg->tls_cert_files.n == 0) {
		cfg_where_error(cfg->where, err, CFG_KEYS("listen_smtps",
		    "tls_cert_files"), "listen_smtps needs tls_cert_files and "
		    "tls_key_files");
		ok = 0;
	}
	/* Submission takes mail only after AUTH, offered only over TLS or
	 * to smtpd_auth_cleartext_networks: without either it is useless. */
	if (cfg->listen_submission.n > 0 && cfg->tls_cert_files.n == 0 &&
	    cfg->smtpd_auth_cleartext_networks.n == 0) {
		cfg_where_error(cfg->where, err,
		    CFG_KEYS("listen_submission", "tls_cert_files",
		    "smtpd_auth_cleartext_networks"), "listen_submission could "
		    "never take mail: it requires AUTH, which needs TLS "
		    "(tls_cert_files and tls_key_files) or "
		    "smtpd_auth_cleartext_networks");
		ok = 0;
	}
	if (cfg->users_db[0] == '\0') {
		struct buf b = BUF_INIT(0);

		(void)buf_appendf(&b, "%s/users.db", cfg->spool_dir);
		free(cfg->users_db);
		cfg->users_db = buf_steal(&b);
	}
	if (relay_cfg_check_local(cfg, err) == -1)
		ok = 0;
	if (cfg->listen_mx.n + cfg->listen_submission.n +
	    cfg->listen_smtps.n == 0 && cfg->listen_local[0] == '\0') {
		cfg_where_error(cfg->where, err, NULL, "no listen_mx, "
		    "listen_submission, listen_smtps or listen_local address: "
		    "nothing to serve");
		ok = 0;
	}
	return ok ? 1 : -1;
}

int
relay_cfg_load(struct relay_cfg *cfg, const char *path,
    char *const *overrides, struct buf *err)
{
	return cfg_load_checked(relay_cfg_defs, cfg, path, overrides,
	    &cfg->where, relay_cfg_check, err);
}

void
relay_cfg_free(struct relay_cfg *cfg)
{
	cfg_where_free(&cfg->where);
	cfg_free(relay_cfg_defs, cfg);
}

int
relay_cfg_domain_in(const struct cfg_list *l, const char *domain)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (strcasecmp(l->v[i], domain) == 0)
			return 1;
	return 0;
}
