/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * buzond's settings table: see buzond_cfg.h. Every limit has bounds here;
 * README's configuration reference lists the same keys.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/un.h>

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/cfg.h"
#include "lib/netaddr.h"
#include "lib/xalloc.h"
#include "store/buzond_cfg.h"

#define OFF(f)	offsetof(struct buzond_cfg, f)
#define SEC	1000LL
#define MIN	(60 * SEC)
#define HOUR	(60 * MIN)
#define DAY	(24 * HOUR)

static const char *const log_targets[] = { "stderr", "syslog", NULL };
static const char *const log_levels[] = {
	"error", "warn", "info", "debug", NULL
};
static const char *const tls_versions[] = { "TLSv1.2", "TLSv1.3", NULL };

const struct cfg_def buzond_cfg_defs[] = {
	{ "hostname", CFG_STR, "", 0, 0, OFF(hostname), NULL,
	  "name in the greetings (default: system name)" },
	{ "run_user", CFG_STR, "estafeta", 0, 0, OFF(run_user), NULL,
	  "user every session runs as when started as root; the same as "
	  "estafetad's so both can read the users database" },
	{ "store_root", CFG_STR, LOCALSTATEDIR "/lib/buzond", 0, 0,
	  OFF(store_root), NULL, "mail store: one directory per user, "
	  "store_root/domain/local/, a Maildir++ plus its index.db" },
	{ "users_db", CFG_STR, LOCALSTATEDIR "/spool/estafeta/users.db", 0,
	  0, OFF(users_db), NULL,
	  "SQLite users database shared with estafetad (read-only here)" },
	{ "pid_file", CFG_STR, "", 0, 0, OFF(pid_file), NULL,
	  "file the master writes its pid to (empty: none)" },
	{ "log_target", CFG_ENUM, "syslog", 0, 0, OFF(log_target), log_targets,
	  "stderr or syslog (mail facility); -f forces stderr" },
	{ "log_level", CFG_ENUM, "info", 0, 0, OFF(log_level), log_levels,
	  "error, warn, info or debug" },
	{ "listen_lmtp", CFG_STR, "/run/buzond/lmtp", 0, 0, OFF(listen_lmtp),
	  NULL, "unix socket for LMTP from estafetad (empty: none); owned by "
	  "run_user, mode 0600" },
	{ "listen_lmtp_tcp", CFG_LIST, "", 0, 0, OFF(listen_lmtp_tcp), NULL,
	  "TCP addresses for LMTP, e.g. 127.0.0.1:24 (LMTP has no "
	  "authentication: keep it on loopback)" },
	{ "listen_pop3", CFG_LIST, "", 0, 0, OFF(listen_pop3), NULL,
	  "addresses for POP3 with STLS (110)" },
	{ "listen_pop3s", CFG_LIST, "", 0, 0, OFF(listen_pop3s), NULL,
	  "addresses for POP3 over implicit TLS (995)" },
	{ "listen_imap", CFG_LIST, "", 0, 0, OFF(listen_imap), NULL,
	  "addresses for IMAP with STARTTLS (143)" },
	{ "listen_imaps", CFG_LIST, "", 0, 0, OFF(listen_imaps), NULL,
	  "addresses for IMAP over implicit TLS (993)" },
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
	{ "max_sessions", CFG_INT, "500", 1, 100000, OFF(max_sessions), NULL,
	  "most concurrent sessions (LMTP, POP3 and IMAP together)" },
	{ "max_sessions_per_ip", CFG_INT, "20", 1, 100000,
	  OFF(max_sessions_per_ip), NULL,
	  "most concurrent sessions from one client address (unix socket "
	  "clients are not counted)" },
	{ "max_message_size", CFG_SIZE, "50M", 1024, 2LL << 30,
	  OFF(max_message_size), NULL,
	  "largest message taken by LMTP (SIZE) or IMAP APPEND" },
	{ "default_quota", CFG_SIZE, "0", 0, 1LL << 50, OFF(default_quota),
	  NULL, "mailbox quota for users without their own (estafetactl user "
	  "quota); 0: none" },
	{ "lmtp_timeout", CFG_DURATION, "10m", 100, DAY, OFF(lmtp_timeout),
	  NULL, "LMTP: wait for the next command or block of data" },
	{ "lmtp_recipient_limit", CFG_INT, "1000", 1, 100000,
	  OFF(lmtp_recipient_limit), NULL, "LMTP: recipients per message" },
	{ "auth_cleartext_networks", CFG_LIST, "", 0, 0,
	  OFF(auth_cleartext_networks), NULL,
	  "client networks that may log in to POP3/IMAP without TLS (CIDR); "
	  "empty: credentials only over TLS" },
	{ "auth_fail_ip_limit", CFG_INT, "10", 1, 100000,
	  OFF(auth_fail_ip_limit), NULL,
	  "failed POP3 and IMAP logins from one client address, over all "
	  "its sessions, before its logins are refused for "
	  "auth_fail_ip_window" },
	{ "auth_fail_ip_window", CFG_DURATION, "10m", 1 * SEC, DAY,
	  OFF(auth_fail_ip_window), NULL,
	  "how long failed logins are remembered per client address" },
	{ "pop3_idle_timeout", CFG_DURATION, "10m", 1 * SEC, DAY,
	  OFF(pop3_idle_timeout), NULL,
	  "POP3: autologout after this long without a command (RFC 1939: "
	  ">= 10m)" },
	{ "pop3_error_limit", CFG_INT, "10", 1, 1000, OFF(pop3_error_limit),
	  NULL, "POP3: bad commands before the session is closed" },
	{ "pop3_auth_fail_limit", CFG_INT, "3", 1, 1000,
	  OFF(pop3_auth_fail_limit), NULL,
	  "POP3: failed logins per session before it is closed" },
	{ "pop3_command_line_limit", CFG_INT, "512", 255, 65536,
	  OFF(pop3_command_line_limit), NULL,
	  "POP3: longest command line in octets, CRLF included" },
	{ "imap_login_timeout", CFG_DURATION, "1m", 1 * SEC, HOUR,
	  OFF(imap_login_timeout), NULL,
	  "IMAP: time to log in after connecting" },
	{ "imap_idle_timeout", CFG_DURATION, "30m", 1 * SEC, DAY,
	  OFF(imap_idle_timeout), NULL,
	  "IMAP: autologout after this long without a command, IDLE "
	  "included (RFC 3501: >= 30m)" },
	{ "imap_error_limit", CFG_INT, "20", 1, 1000, OFF(imap_error_limit),
	  NULL, "IMAP: BAD replies before the session is closed" },
	{ "imap_auth_fail_limit", CFG_INT, "3", 1, 1000,
	  OFF(imap_auth_fail_limit), NULL,
	  "IMAP: failed logins per session before it is closed" },
	{ NULL, 0, NULL, 0, 0, 0, NULL, NULL },
};

static int
check_lists(const struct buzond_cfg *cfg, struct buf *err)
{
	const struct netaddr_cfg_list lists[] = {
		{ "auth_cleartext_networks", &cfg->auth_cleartext_networks,
		  1 },
		{ "listen_lmtp_tcp", &cfg->listen_lmtp_tcp, 0 },
		{ "listen_pop3", &cfg->listen_pop3, 0 },
		{ "listen_pop3s", &cfg->listen_pop3s, 0 },
		{ "listen_imap", &cfg->listen_imap, 0 },
		{ "listen_imaps", &cfg->listen_imaps, 0 },
	};

	return netaddr_check_lists(cfg->where, lists,
	    sizeof(lists) / sizeof(lists[0]), err) == 1;
}

static int
check_paths(const struct buzond_cfg *cfg, struct buf *err)
{
	struct sockaddr_un sun;
	int ok = 1;

	if (cfg->store_root[0] != '/') {
		cfg_where_error(cfg->where, err, CFG_KEYS("store_root"),
		    "store_root must be an absolute path");
		ok = 0;
	}
	if (cfg->users_db[0] != '/') {
		cfg_where_error(cfg->where, err, CFG_KEYS("users_db"),
		    "users_db must be an absolute path");
		ok = 0;
	}
	if (cfg->listen_lmtp[0] != '\0' && (cfg->listen_lmtp[0] != '/' ||
	    strlen(cfg->listen_lmtp) >= sizeof(sun.sun_path))) {
		cfg_where_error(cfg->where, err, CFG_KEYS("listen_lmtp"),
		    "listen_lmtp must be an absolute path shorter than %zu "
		    "octets", sizeof(sun.sun_path));
		ok = 0;
	}
	return ok;
}

static int
buzond_cfg_check(void *arg, struct buf *err)
{
	struct buzond_cfg *cfg = arg;
	int ok;

	cfg_hostname_default(&cfg->hostname);
	ok = check_lists(cfg, err) & check_paths(cfg, err);
	if (cfg->tls_cert_files.n != cfg->tls_key_files.n) {
		cfg_where_error(cfg->where, err, CFG_KEYS("tls_cert_files",
		    "tls_key_files"), "tls_cert_files has %zu entries but "
		    "tls_key_files %zu: give one key per certificate",
		    cfg->tls_cert_files.n, cfg->tls_key_files.n);
		ok = 0;
	}
	if (cfg->listen_pop3s.n + cfg->listen_imaps.n > 0 &&
	    cfg->tls_cert_files.n == 0) {
		cfg_where_error(cfg->where, err, CFG_KEYS("listen_pop3s",
		    "listen_imaps", "tls_cert_files"), "listen_pop3s and "
		    "listen_imaps need tls_cert_files and tls_key_files");
		ok = 0;
	}
	if (cfg->listen_lmtp[0] == '\0' && cfg->listen_lmtp_tcp.n +
	    cfg->listen_pop3.n + cfg->listen_pop3s.n + cfg->listen_imap.n +
	    cfg->listen_imaps.n == 0) {
		cfg_where_error(cfg->where, err, NULL, "no listen_* setting: "
		    "nothing to serve");
		ok = 0;
	}
	if (cfg->max_sessions_per_ip > cfg->max_sessions) {
		cfg_where_error(cfg->where, err, CFG_KEYS("max_sessions",
		    "max_sessions_per_ip"), "max_sessions_per_ip (%lld) exceeds "
		    "max_sessions (%lld)", cfg->max_sessions_per_ip,
		    cfg->max_sessions);
		ok = 0;
	}
	return ok ? 1 : -1;
}

int
buzond_cfg_load(struct buzond_cfg *cfg, const char *path,
    char *const *overrides, struct buf *err)
{
	return cfg_load_checked(buzond_cfg_defs, cfg, path, overrides,
	    &cfg->where, buzond_cfg_check, err);
}

void
buzond_cfg_free(struct buzond_cfg *cfg)
{
	cfg_where_free(&cfg->where);
	cfg_free(buzond_cfg_defs, cfg);
}
