/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * Unit tests for dsn: notifications for one and three recipients, mixed
 * actions, with and without ENVID and ORCPT, RET=FULL and HDRS, originals
 * too big or unfit to return whole, delay notices and success reports,
 * SMTPUTF8 (global types) and its absence (ASCII only), hostile text in
 * every outside value, originals fed in chunks of every awkward size, and
 * the NOTIFY truth table. Each message is checked here (CRLF everywhere, no
 * line over 998 octets, boundaries, required fields as exact lines) and by
 * an independent parser: dsn_check.py, Python's email package.
 */
#include "config.h"

#include <sys/wait.h>

#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/buf.h"
#include "relay/dsn.h"
#include "relay/spool.h"

#define PYTHON		"/usr/bin/python3"
#define T_ARRIVAL	1767225600LL	/* Thu, 01 Jan 2026 00:00:00 +0000 */
#define T_ATTEMPT	1767225907LL	/* Thu, 01 Jan 2026 00:05:07 +0000 */
#define T_RETRY		1767616200LL	/* Mon, 05 Jan 2026 12:30:00 +0000 */
#define D_ARRIVAL	"Thu, 01 Jan 2026 00:00:00 +0000"
#define D_ATTEMPT	"Thu, 01 Jan 2026 00:05:07 +0000"
#define D_RETRY		"Mon, 05 Jan 2026 12:30:00 +0000"
#define QID		"0123456789abcdef0123"

static const char orig[] =
    "Received: from client.example.com (client.example.com [192.0.2.1])\r\n"
    "\tby mx.example.org with ESMTPS id " QID "\r\n"
    "\tfor <bob@example.net>; Thu, 1 Jan 2026 00:00:00 +0000\r\n"
    "From: Alice <alice@example.com>\r\n"
    "To: bob@example.net\r\n"
    "Subject: quarterly figures\r\n"
    "Message-ID: <orig.1@example.com>\r\n"
    "\r\n"
    "Hello Bob,\r\n"
    "the BODY-MARKER is here.\r\n"
    "\r\n"
    "-- \r\n"
    "Alice\r\n";

/* The original, handed out in chunks of exactly chunk bytes (heap copies
 * freed on the next call, so ASan sees any read past a chunk). */
struct src {
	const char	*data;
	size_t		 len, pos, chunk;
	size_t		 fail_at;	/* fail from this pos on; 0 = never */
	char		*copy;
};

static int
src_read(void *arg, const char **p, size_t *n)
{
	struct src *s = arg;
	size_t k;

	free(s->copy);
	s->copy = NULL;
	if (s->fail_at && s->pos >= s->fail_at)
		return -1;
	if (s->pos >= s->len)
		return 0;
	k = s->len - s->pos;
	if (s->chunk && k > s->chunk)
		k = s->chunk;
	s->copy = malloc(k);
	assert_non_null(s->copy);
	memcpy(s->copy, s->data + s->pos, k);
	s->pos += k;
	*p = s->copy;
	*n = k;
	return 1;
}

static void
params_init(struct dsn_params *p)
{
	memset(p, 0, sizeof(*p));
	p->reporting_mta = "mx.example.org";
	p->queue_id = QID;
	p->arrival = T_ARRIVAL;
	p->original_sender = "alice@example.com";
	p->postmaster = "MAILER-DAEMON@mx.example.org";
	p->max_original = 1000000;
}

static struct dsn_rcpt
rcpt_failed(void)
{
	struct dsn_rcpt r = {
		.addr = "bob@example.net",
		.action = DSN_FAILED,
		.status = "5.1.1",
		.diagnostic = "550 5.1.1 <bob@example.net>: unknown user",
		.remote_mta = "mx.example.net",
		.last_attempt = T_ATTEMPT,
	};

	return r;
}

/* Builds into out (reset first) from data in chunks of chunk bytes. */
static int
build(const struct dsn_params *p, const struct dsn_rcpt *r, size_t n,
    const char *data, size_t len, size_t chunk, struct buf *out)
{
	struct src s = { data, len, 0, chunk, 0, NULL };
	int ret;

	buf_reset(out);
	ret = dsn_build(p, r, n, data ? src_read : NULL, &s, out);
	free(s.copy);
	return ret;
}

/* ------------------------------------------------------------ checks */

/* 1 when the message holds exactly this line. */
static int
has_line(const struct buf *m, const char *line)
{
	const char *d = buf_cstr(m), *p = d;
	size_t n = strlen(line);

	while ((p = strstr(p, line)) != NULL) {
		if ((p == d || p[-1] == '\n') && p[n] == '\r' &&
		    p[n + 1] == '\n')
			return 1;
		p++;
	}
	return 0;
}

/* 1 when some line starts with prefix. */
static int
has_line_start(const struct buf *m, const char *prefix)
{
	const char *d = buf_cstr(m), *p = d;

	while ((p = strstr(p, prefix)) != NULL) {
		if (p == d || p[-1] == '\n')
			return 1;
		p++;
	}
	return 0;
}

static int
has_8bit(const struct buf *m)
{
	size_t i;

	for (i = 0; i < m->len; i++)
		if ((unsigned char)m->data[i] >= 0x80)
			return 1;
	return 0;
}

/* The boundary from the top-level Content-Type, into b. */
static void
boundary_of(const struct buf *m, char *b, size_t bsz)
{
	const char *hdr_end = strstr(buf_cstr(m), "\r\n\r\n");
	const char *p = strstr(buf_cstr(m), "boundary=\""), *q;

	assert_non_null(hdr_end);
	assert_non_null(p);
	assert_true(p < hdr_end);
	p += strlen("boundary=\"");
	q = strchr(p, '"');
	assert_non_null(q);
	assert_true(q > p && (size_t)(q - p) < bsz && q - p <= 70);
	memcpy(b, p, (size_t)(q - p));
	b[q - p] = '\0';
}

static size_t
count(const char *hay, const char *needle)
{
	size_t n = 0;

	while ((hay = strstr(hay, needle)) != NULL) {
		n++;
		hay++;
	}
	return n;
}

/*
 * Structure every notification must have: CRLF lines of at most 998
 * octets, no NUL, the required top-level fields, nparts delimiters and one
 * close delimiter at the very end.
 */
static void
check_structure(const struct buf *m, size_t nparts)
{
	static const char *const need[] = {
		"From: Mail Delivery System <", "To: <", "Subject: ", "Date: ",
		"Message-ID: <", "MIME-Version: 1.0",
		"Auto-Submitted: auto-replied",
		"Content-Type: multipart/report; report-type=delivery-status;",
	};
	char b[80], delim[96];
	size_t i, col = 0;
	const char *hdr_end;

	assert_true(m->len > 0);
	assert_int_equal(strlen(m->data), m->len);	/* no NUL */
	for (i = 0; i < m->len; i++) {
		if (m->data[i] == '\r') {
			assert_true(i + 1 < m->len && m->data[i + 1] == '\n');
			col = 0;
			i++;
			continue;
		}
		assert_true(m->data[i] != '\n');	/* bare LF */
		col++;
		assert_true(col <= 998);
	}
	assert_int_equal(col, 0);			/* ends with CRLF */
	hdr_end = strstr(m->data, "\r\n\r\n");
	assert_non_null(hdr_end);
	for (i = 0; i < sizeof(need) / sizeof(need[0]); i++) {
		const char *p = strstr(m->data, need[i]);

		assert_non_null(p);
		assert_true(p < hdr_end && (p == m->data || p[-1] == '\n'));
	}
	boundary_of(m, b, sizeof(b));
	(void)snprintf(delim, sizeof(delim), "\r\n--%s\r\n", b);
	assert_int_equal(count(m->data, delim), nparts);
	(void)snprintf(delim, sizeof(delim), "\r\n--%s--\r\n", b);
	assert_int_equal(count(m->data, delim), 1);
	assert_true(m->len >= strlen(delim));
	assert_string_equal(m->data + m->len - strlen(delim), delim);
	/* Nothing else in the message looks like a delimiter. */
	(void)snprintf(delim, sizeof(delim), "--%s", b);
	assert_int_equal(count(m->data, delim), nparts + 1);
}

static const char *
checker_path(char *path, size_t sz)
{
	const char *srcdir = getenv("SRCDIR");
	char exe[PATH_MAX], *slash;
	ssize_t n;

	if (srcdir && *srcdir) {
		assert_true((size_t)snprintf(path, sz,
		    "%s/tests/unit/dsn_check.py", srcdir) < sz);
		return path;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	assert_true(n > 0);
	exe[n] = '\0';
	slash = strrchr(exe, '/');
	assert_non_null(slash);
	*slash = '\0';
	assert_true((size_t)snprintf(path, sz, "%s/dsn_check.py", exe) < sz);
	return path;
}

/* Runs dsn_check.py on m with the expectations in json; asserts it passed. */
static void
pycheck(const struct buf *m, const char *json)
{
	char tmp[] = "/tmp/test_dsn.XXXXXX", script[PATH_MAX];
	int fd, status;
	pid_t pid;

	checker_path(script, sizeof(script));
	assert_int_equal(access(script, R_OK), 0);
	assert_int_equal(access(PYTHON, X_OK), 0);
	fd = mkstemp(tmp);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, m->data, m->len), (ssize_t)m->len);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	(void)unlink(tmp);	/* the open descriptor keeps it */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (dup2(fd, 0) == -1)
			_exit(127);
		execl(PYTHON, "python3", script, json, (char *)NULL);
		_exit(127);
	}
	(void)close(fd);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		(void)fwrite(m->data, 1, m->len, stderr);
		fail_msg("dsn_check.py failed (status %d) for %s", status,
		    json);
	}
}

/* Part 3's content: from after its empty line to the close delimiter. */
static char *
returned_part(const struct buf *m, const char *type)
{
	char b[80], tail[96], head[128];
	const char *p, *e;
	char *r;

	boundary_of(m, b, sizeof(b));
	(void)snprintf(head, sizeof(head), "Content-Type: %s\r\n", type);
	p = strstr(m->data, head);
	assert_non_null(p);
	p = strstr(p, "\r\n\r\n");
	assert_non_null(p);
	p += 4;
	(void)snprintf(tail, sizeof(tail), "\r\n--%s--\r\n", b);
	e = strstr(p, tail);
	assert_non_null(e);
	r = strndup(p, (size_t)(e - p));
	assert_non_null(r);
	return r;
}

/* ------------------------------------------------------------ tests */

/* A local decision about a server (no reply code) is not "said" by it. */
static void
test_bounce_local_decision(void **state)
{
	struct buf m = BUF_INIT(0);
	struct dsn_params p;
	struct dsn_rcpt r = rcpt_failed();

	(void)state;
	params_init(&p);
	r.status = "5.6.7";
	r.diagnostic = "5.6.7 SMTPUTF8 required but not offered by the "
	    "receiving server";
	assert_int_equal(build(&p, &r, 1, orig, strlen(orig), 0, &m), 1);
	check_structure(&m, 3);
	assert_null(strstr(m.data, "said:"));
	assert_non_null(strstr(m.data, "Our mail system, delivering to the "
	    "server mx.example.net, reports:"));
	assert_true(has_line(&m, "Status: 5.6.7"));
	assert_true(has_line(&m, "Remote-MTA: dns; mx.example.net"));
	buf_free(&m);
}

static void
test_bounce_one(void **state)
{
	struct buf m = BUF_INIT(0);
	struct dsn_params p;
	struct dsn_rcpt r = rcpt_failed();

	(void)state;
	params_init(&p);
	assert_int_equal(build(&p, &r, 1, orig, strlen(orig), 0, &m), 1);
	check_structure(&m, 3);
	assert_true(has_line(&m,
	    "Subject: Undelivered Mail Returned to Sender"));
	assert_true(has_line(&m,
	    "From: Mail Delivery System <MAILER-DAEMON@mx.example.org>"));
	assert_true(has_line(&m, "To: <alice@example.com>"));
	assert_true(has_line(&m, "Content-Type: text/plain; charset=us-ascii"));
	assert_true(has_line(&m, "Content-Type: message/delivery-status"));
	assert_true(has_line(&m, "Content-Type: text/rfc822-headers"));
	assert_true(has_line(&m, "Reporting-MTA: dns; mx.example.org"));
	assert_true(has_line(&m, "X-Estafeta-Queue-ID: " QID));
	assert_true(has_line(&m, "Arrival-Date: " D_ARRIVAL));
	assert_true(has_line(&m, "Final-Recipient: rfc822; bob@example.net"));
	assert_true(has_line(&m, "Action: failed"));
	assert_true(has_line(&m, "Status: 5.1.1"));
	assert_true(has_line(&m, "Remote-MTA: dns; mx.example.net"));
	assert_true(has_line(&m, "Diagnostic-Code: smtp; 550 5.1.1 "
	    "<bob@example.net>: unknown user"));
	assert_true(has_line(&m, "Last-Attempt-Date: " D_ATTEMPT));
	assert_non_null(strstr(m.data, "The server mx.example.net said:"));
	assert_false(has_line_start(&m, "Original-Envelope-Id:"));
	assert_false(has_line_start(&m, "Original-Recipient:"));
	assert_false(has_line_start(&m, "Will-Retry-Until:"));
	assert_false(has_line_start(&m, "Content-Transfer-Encoding:"));
	assert_true(has_line(&m, "Subject: quarterly figures"));
	assert_null(strstr(m.data, "BODY-MARKER"));
	assert_false(has_8bit(&m));
	/* Fields of the status part are in RFC 3464 order. */
	assert_true(strstr(m.data, "Reporting-MTA:") <
	    strstr(m.data, "Arrival-Date:"));
	assert_true(strstr(m.data, "Final-Recipient:") <
	    strstr(m.data, "Action:"));
	assert_true(strstr(m.data, "Action:") < strstr(m.data, "Status:"));
	assert_true(strstr(m.data, "Status:") < strstr(m.data, "Remote-MTA:"));
	pycheck(&m, "{\"subject\": \"Undelivered Mail Returned to Sender\","
	    " \"from\": \"MAILER-DAEMON@mx.example.org\","
	    " \"to\": \"alice@example.com\","
	    " \"per_message\": {\"Reporting-MTA\": \"dns; mx.example.org\","
	    "  \"X-Estafeta-Queue-ID\": \"" QID "\","
	    "  \"Arrival-Date\": \"" D_ARRIVAL "\","
	    "  \"Original-Envelope-Id\": null},"
	    " \"recipients\": [{"
	    "  \"Final-Recipient\": \"rfc822; bob@example.net\","
	    "  \"Original-Recipient\": null, \"Action\": \"failed\","
	    "  \"Status\": \"5.1.1\", \"Remote-MTA\": \"dns; mx.example.net\","
	    "  \"Diagnostic-Code\": \"smtp; 550 5.1.1 <bob@example.net>:"
	    " unknown user\", \"Last-Attempt-Date\": \"" D_ATTEMPT "\","
	    "  \"Will-Retry-Until\": null}],"
	    " \"returned\": \"text/rfc822-headers\","
	    " \"returned_has\": [\"Subject: quarterly figures\","
	    "  \"Message-ID: <orig.1@example.com>\"],"
	    " \"returned_lacks\": [\"BODY-MARKER\"],"
	    " \"text_has\": [\"<bob@example.net>\", \"unknown user\","
	    "  \"mx.example.net\", \"header section\", \"" QID "\"]}");
	buf_free(&m);
}

static void
test_bounce_three_mixed(void **state)
{
	struct buf m = BUF_INIT(0);
	struct dsn_params p;
	struct dsn_rcpt r[3];

	(void)state;
	params_init(&p);
	p.envid = "QQ314159";
	p.ret_full = 1;
	r[0] = rcpt_failed();
	r[0].orcpt = "rfc822;Bob@Example.NET";
	memset(&r[1], 0, sizeof(r[1]));
	r[1].addr = "carol@example.net";
	r[1].action = DSN_DELAYED;
	r[1].status = "4.4.1";
	r[1].diagnostic = "connect to mx2.example.net[192.0.2.7]:25: "
	    "Connection timed out";
	r[1].last_attempt = T_ATTEMPT;
	r[1].will_retry_until = T_RETRY;
	memset(&r[2], 0, sizeof(r[2]));
	r[2].addr = "dave@example.net";
	r[2].action = DSN_DELIVERED;
	r[2].status = "2.0.0";
	r[2].remote_mta = "[192.0.2.9]";
	r[2].diagnostic = "250 2.0.0 Ok: queued as 4XyZ";
	r[2].orcpt = "rfc822;dave@example.net";
	assert_int_equal(build(&p, r, 3, orig, strlen(orig), 0, &m), 1);
	check_structure(&m, 3);
	assert_true(has_line(&m,
	    "Subject: Undelivered Mail Returned to Sender"));
	assert_true(has_line(&m, "Original-Envelope-Id: QQ314159"));
	assert_true(has_line(&m, "Original-Recipient: rfc822;Bob@Example.NET"));
	assert_true(has_line(&m, "Content-Type: message/rfc822"));
	assert_true(has_line(&m, "Will-Retry-Until: " D_RETRY));
	assert_int_equal(count(m.data, "\r\nWill-Retry-Until:"), 1);
	assert_int_equal(count(m.data, "\r\nFinal-Recipient:"), 3);
	assert_non_null(strstr(m.data, "the BODY-MARKER is here.\r\n"));
	/* Per-message fields in RFC 3464 order, extensions last. */
	assert_true(strstr(m.data, "Original-Envelope-Id:") <
	    strstr(m.data, "Reporting-MTA:"));
	assert_true(strstr(m.data, "Arrival-Date:") <
	    strstr(m.data, "X-Estafeta-Queue-ID:"));
	pycheck(&m, "{\"subject\": \"Undelivered Mail Returned to Sender\","
	    " \"per_message\": {\"Original-Envelope-Id\": \"QQ314159\","
	    "  \"Reporting-MTA\": \"dns; mx.example.org\"},"
	    " \"recipients\": ["
	    "  {\"Original-Recipient\": \"rfc822;Bob@Example.NET\","
	    "   \"Final-Recipient\": \"rfc822; bob@example.net\","
	    "   \"Action\": \"failed\", \"Status\": \"5.1.1\","
	    "   \"Will-Retry-Until\": null},"
	    "  {\"Original-Recipient\": null,"
	    "   \"Final-Recipient\": \"rfc822; carol@example.net\","
	    "   \"Action\": \"delayed\", \"Status\": \"4.4.1\","
	    "   \"Remote-MTA\": null, \"Diagnostic-Code\": \"smtp; connect to"
	    " mx2.example.net[192.0.2.7]:25: Connection timed out\","
	    "   \"Will-Retry-Until\": \"" D_RETRY "\"},"
	    "  {\"Original-Recipient\": \"rfc822;dave@example.net\","
	    "   \"Final-Recipient\": \"rfc822; dave@example.net\","
	    "   \"Action\": \"delivered\", \"Status\": \"2.0.0\","
	    "   \"Remote-MTA\": \"dns; [192.0.2.9]\","
	    "   \"Last-Attempt-Date\": null,"
	    "   \"Will-Retry-Until\": null}],"
	    " \"returned\": \"message/rfc822\","
	    " \"returned_has\": [\"BODY-MARKER\", \"quarterly figures\"],"
	    " \"text_has\": [\"<bob@example.net>\", \"<carol@example.net>\","
	    "  \"<dave@example.net>\", \"could not be delivered\","
	    "  \"has not been delivered yet\", \"was delivered\","
	    "  \"" D_RETRY "\", \"Your message is attached.\"]}");
	buf_free(&m);
}

static void
test_ret_full_vs_hdrs(void **state)
{
	struct buf m = BUF_INIT(0);
	struct dsn_params p;
	struct dsn_rcpt r = rcpt_failed();
	char *part;

	(void)state;
	params_init(&p);
	/* RET=FULL: the whole message, byte for byte. */
	p.ret_full = 1;
	assert_int_equal(build(&p, &r, 1, orig, strlen(orig), 0, &m), 1);
	check_structure(&m, 3);
	part = returned_part(&m, "message/rfc822");
	assert_string_equal(part, orig);
	free(part);
	assert_true(has_line(&m, "Content-Description: Undelivered Message"));
	/* RET=HDRS (or not given): the header section only. */
	p.ret_full = 0;
	assert_int_equal(build(&p, &r, 1, orig, strlen(orig), 0, &m), 1);
	check_structure(&m, 3);
	part = returned_part(&m, "text/rfc822-headers");
	assert_int_equal(strlen(part), strstr(orig, "\r\n\r\n") + 2 - orig);
	assert_memory_equal(part, orig, strlen(part));
	free(part);
	/* RET=FULL applies to failures only: a delay notice has headers. */
	p.ret_full = 1;
	r.action = DSN_DELAYED;
	r.status = "4.2.2";
	assert_int_equal(build(&p, &r, 1, orig, strlen(orig), 0, &m), 1);
	check_structure(&m, 3);
	assert_true(has_line(&m, "Content-Type: text/rfc822-headers"));
	assert_null(strstr(m.data, "BODY-MARKER"));
	pycheck(&m, "{\"subject\": \"Delayed Mail (still being retried)\","
	    " \"recipients\": [{\"Action\": \"delayed\","
	    "  \"Status\": \"4.2.2\"}],"
	    " \"returned\": \"text/rfc822-headers\","
	    " \"returned_lacks\": [\"BODY-MARKER\"]}");
	buf_free(&m);
}

static void
test_too_big(void **state)
{
	struct buf m = BUF_INIT(0);
	struct dsn_params p;
	struct dsn_rcpt r = rcpt_failed();

	(void)state;
	params_init(&p);
	p.ret_full = 1;
	p.max_original = (long long)strlen(orig);	/* just fits */
	assert_int_equal(build(&p, &r, 1, orig, strlen(orig), 0, &m), 1);
	check_structure(&m, 3);
	assert_true(has_line(&m, "Content-Type: message/rfc822"));
	p.max_original--;				/* one byte over */
	assert_int_equal(build(&p, &r, 1, orig, strlen(orig), 0, &m), 1);
	check_structure(&m, 3);
	assert_true(has_line(&m, "Content-Type: text/rfc822-headers"));
	assert_null(strstr(m.data, "BODY-MARKER"));
	pycheck(&m, "{\"returned\": \"text/rfc822-headers\","
	    " \"returned_has\": [\"Subject: quarterly figures\"],"
	    " \"returned_lacks\": [\"BODY-MARKER\"],"
	    " \"text_has\": [\"too large\"]}");
	/* Smaller than the header section alone. */
	p.max_original = 10;
	assert_int_equal(build(&p, &r, 1, orig, strlen(orig), 0, &m), 1);
	check_structure(&m, 3);
	assert_true(has_line(&m, "Subject: quarterly figures"));
	assert_true(has_line(&m, "Content-Type: text/rfc822-headers"));
	p.max_original = 0;
	assert_int_equal(build(&p, &r, 1, orig, strlen(orig), 0, &m), 1);
	assert_true(has_line(&m, "Content-Type: text/rfc822-headers"));
	buf_free(&m);
}

static void
test_delay_notice(void **state)
{
	struct buf m = BUF_INIT(0);
	struct dsn_params p;
	struct dsn_rcpt r = rcpt_failed();

	(void)state;
	params_init(&p);
	r.action = DSN_DELAYED;
	r.status = "4.4.1";
	r.diagnostic = "421 4.4.1 mx.example.net: try again later";
	r.will_retry_until = T_RETRY;
	assert_int_equal(build(&p, &r, 1, orig, strlen(orig), 0, &m), 1);
	check_structure(&m, 3);
	assert_true(has_line(&m,
	    "Subject: Delayed Mail (still being retried)"));
	assert_true(has_line(&m, "Action: delayed"));
	assert_true(has_line(&m, "Will-Retry-Until: " D_RETRY));
	assert_true(has_line(&m,
	    "Content-Description: Original Message Headers"));
	pycheck(&m, "{\"subject\": \"Delayed Mail (still being retried)\","
	    " \"recipients\": [{\"Action\": \"delayed\", \"Status\": \"4.4.1\","
	    "  \"Will-Retry-Until\": \"" D_RETRY "\","
	    "  \"Last-Attempt-Date\": \"" D_ATTEMPT "\"}],"
	    " \"returned\": \"text/rfc822-headers\","
	    " \"text_has\": [\"keep trying\", \"do not need to send\","
	    "  \"We will keep trying until\", \"try again later\"],"
	    " \"text_lacks\": [\"could not be delivered\"]}");
	/* Without a limit there is no Will-Retry-Until. */
	r.will_retry_until = 0;
	assert_int_equal(build(&p, &r, 1, orig, strlen(orig), 0, &m), 1);
	assert_false(has_line_start(&m, "Will-Retry-Until:"));
	/* A failed recipient never gets one, whatever it is given. */
	r = rcpt_failed();
	r.will_retry_until = T_RETRY;
	assert_int_equal(build(&p, &r, 1, orig, strlen(orig), 0, &m), 1);
	assert_false(has_line_start(&m, "Will-Retry-Until:"));
	buf_free(&m);
}

static void
test_success_report(void **state)
{
	struct buf m = BUF_INIT(0);
	struct dsn_params p;
	struct dsn_rcpt r[3];

	(void)state;
	params_init(&p);
	p.ret_full = 1;
	memset(r, 0, sizeof(r));
	r[0].addr = "bob@example.net";
	r[0].action = DSN_DELIVERED;
	r[0].status = "2.0.0";
	r[0].remote_mta = "mx.example.net";
	r[0].diagnostic = "250 2.0.0 Ok";
	r[0].last_attempt = T_ATTEMPT;
	r[1].addr = "carol@example.net";
	r[1].action = DSN_RELAYED;
	r[1].status = "2.0.0";
	r[2].addr = "list@example.net";
	r[2].action = DSN_EXPANDED;
	r[2].status = "2.0.0";
	assert_int_equal(build(&p, r, 3, orig, strlen(orig), 0, &m), 1);
	check_structure(&m, 3);
	assert_true(has_line(&m, "Subject: Successful Mail Delivery Report"));
	assert_true(has_line(&m, "Action: delivered"));
	assert_true(has_line(&m, "Action: relayed"));
	assert_true(has_line(&m, "Action: expanded"));
	assert_null(strstr(m.data, "BODY-MARKER"));	/* RET=FULL: failures */
	pycheck(&m, "{\"subject\": \"Successful Mail Delivery Report\","
	    " \"recipients\": ["
	    "  {\"Action\": \"delivered\", \"Status\": \"2.0.0\","
	    "   \"Diagnostic-Code\": \"smtp; 250 2.0.0 Ok\"},"
	    "  {\"Action\": \"relayed\", \"Remote-MTA\": null,"
	    "   \"Diagnostic-Code\": null, \"Last-Attempt-Date\": null},"
	    "  {\"Action\": \"expanded\", \"Final-Recipient\":"
	    "   \"rfc822; list@example.net\"}],"
	    " \"returned\": \"text/rfc822-headers\","
	    " \"text_has\": [\"delivery report you asked for\","
	    "  \"does not send delivery reports\"],"
	    " \"text_lacks\": [\"could not be delivered\"]}");
	buf_free(&m);
}

/* A physical line of field name starting at the first "\r\nname:" ... */
static void
check_folded(const struct buf *m, const char *name, size_t maxcol,
    size_t min_lines)
{
	char want[64];
	const char *p, *e;
	size_t lines = 0;

	(void)snprintf(want, sizeof(want), "\r\n%s:", name);
	p = strstr(m->data, want);
	assert_non_null(p);
	p += 2;
	for (;;) {
		e = strstr(p, "\r\n");
		assert_non_null(e);
		assert_true((size_t)(e - p) <= maxcol);
		lines++;
		p = e + 2;
		if (*p != ' ' && *p != '\t')
			break;
	}
	assert_true(lines >= min_lines);
}

static void
test_fold_long_diagnostic(void **state)
{
	struct buf m = BUF_INIT(0), diag = BUF_INIT(0), json = BUF_INIT(0);
	struct dsn_params p;
	struct dsn_rcpt r = rcpt_failed();
	int i;

	(void)state;
	params_init(&p);
	(void)buf_appends(&diag, "550-5.7.1 [192.0.2.1] Our system has "
	    "detected that this message is likely unsolicited mail.");
	for (i = 0; i < 12; i++)
		assert_int_equal(buf_appendf(&diag, " To reduce the amount of "
		    "spam, this message has been blocked (%d).", i), 1);
	r.diagnostic = diag.data;
	assert_int_equal(build(&p, &r, 1, orig, strlen(orig), 0, &m), 1);
	check_structure(&m, 3);
	check_folded(&m, "Diagnostic-Code", 78, 8);
	assert_int_equal(buf_appendf(&json, "{\"recipients\": [{"
	    "\"Diagnostic-Code\": \"smtp; %s\"}]}", diag.data), 1);
	pycheck(&m, json.data);

	/* One word longer than any line: cut into lines of <= 998, and the
	 * whole value capped (with "..." at the end). */
	buf_reset(&diag);
	(void)buf_appends(&diag, "550 ");
	for (i = 0; i < 3000; i++)
		(void)buf_appendc(&diag, (char)('a' + i % 26));
	r.diagnostic = diag.data;
	assert_int_equal(build(&p, &r, 1, orig, strlen(orig), 0, &m), 1);
	check_structure(&m, 3);
	check_folded(&m, "Diagnostic-Code", 998, 3);
	assert_non_null(strstr(m.data, "...\r\n"));
	pycheck(&m, "{\"recipients\": [{\"Action\": \"failed\"}]}");

	/* A first word too long for the line stays on the field's line. */
	buf_reset(&diag);
	(void)buf_appends(&diag, "rfc822;");
	for (i = 0; i < 120; i++)
		(void)buf_appendc(&diag, (char)('a' + i % 26));
	(void)buf_appends(&diag, "@example.net");
	r = rcpt_failed();
	r.orcpt = diag.data;
	r.addr = diag.data + 7;
	assert_int_equal(build(&p, &r, 1, orig, strlen(orig), 0, &m), 1);
	check_structure(&m, 3);
	assert_true(has_line(&m, "Original-Recipient: rfc822;abcdefghijklmnop"
	    "qrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcd"
	    "efghijklmnopqrstuvwxyzabcdefghijklmnop@example.net"));
	assert_true(has_line(&m, "Final-Recipient: rfc822;"));
	buf_reset(&json);
	assert_int_equal(buf_appendf(&json, "{\"recipients\": [{"
	    "\"Original-Recipient\": \"%s\", \"Final-Recipient\": "
	    "\"rfc822; %s\"}]}", diag.data, diag.data + 7), 1);
	pycheck(&m, json.data);
	buf_free(&diag);
	buf_free(&json);
	buf_free(&m);
}

static void
test_injection(void **state)
{
	static const char *const bad[] = { "X-Injected", "Bcc:",
	    "Final-Recipient: rfc822; evil", "Action: delivered",
	    "Content-Type: text/html" };
	struct buf m = BUF_INIT(0);
	struct dsn_params p;
	struct dsn_rcpt r = rcpt_failed();
	size_t i;

	(void)state;
	params_init(&p);
	p.envid = "id1\r\nX-Injected-1: yes";
	p.original_sender = "alice@example.com\r\nBcc: victim@example.com";
	p.queue_id = QID "\nX-Injected-2: yes";
	p.reporting_mta = "mx.example.org\rX-Injected-3: yes";
	r.addr = "bob@example.net\r\nX-Injected-4: yes";
	r.orcpt = "rfc822;bob@example.net\r\nX-Injected-5: yes";
	r.remote_mta = "mx.example.net\r\n\r\nX-Injected-6: yes";
	r.diagnostic = "550 5.1.1 unknown\r\nX-Injected-7: yes\r\n\r\n"
	    "Final-Recipient: rfc822; evil@example.com\nAction: delivered\r\n"
	    "\r\n--boundary\r\nContent-Type: text/html\r\n\x01\x7f\t\x1b";
	assert_int_equal(build(&p, &r, 1, orig, strlen(orig), 0, &m), 1);
	check_structure(&m, 3);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_false(has_line_start(&m, bad[i]));
	assert_null(strchr(m.data, '\x01'));
	assert_null(strchr(m.data, '\x7f'));
	assert_null(strchr(m.data, '\x1b'));
	assert_int_equal(count(m.data, "\r\nFinal-Recipient:"), 1);
	assert_int_equal(count(m.data, "\r\nAction:"), 1);
	pycheck(&m, "{"
	    "\"per_message\": {\"Original-Envelope-Id\":"
	    "  \"id1 X-Injected-1: yes\", \"X-Injected-1\": null,"
	    "  \"X-Injected-2\": null, \"X-Injected-3\": null},"
	    " \"recipients\": [{\"Action\": \"failed\", \"Final-Recipient\":"
	    "  \"rfc822; bob@example.net X-Injected-4: yes\","
	    "  \"Original-Recipient\": \"rfc822;bob@example.net X-Injected-5:"
	    " yes\", \"X-Injected-4\": null, \"X-Injected-5\": null,"
	    "  \"X-Injected-6\": null, \"X-Injected-7\": null,"
	    "  \"Diagnostic-Code\": \"smtp; 550 5.1.1 unknown X-Injected-7:"
	    " yes Final-Recipient: rfc822; evil@example.com Action: delivered"
	    " --boundary Content-Type: text/html\"}]}");
	buf_free(&m);
}

static void
test_ascii_only(void **state)
{
	static const char orig8[] =
	    "From: J\xc3\xb8rgen <j@example.com>\r\n"
	    "Subject: caf\xc3\xa9 \xff\r\n"
	    "\r\n"
	    "body \xc3\xa9\r\n";
	struct buf m = BUF_INIT(0);
	struct dsn_params p;
	struct dsn_rcpt r = rcpt_failed();

	(void)state;
	params_init(&p);
	r.addr = "bj\xc3\xb8rn+x@example.net";
	r.orcpt = "rfc822;bj\xc3\xb8rn+x@example.net";
	r.diagnostic = "550 5.1.1 ukendt modtager \xc3\xa6\xc3\xb8\xc3\xa5 "
	    "\xe9t\xe9";
	assert_int_equal(build(&p, &r, 1, orig8, strlen(orig8), 0, &m), 1);
	check_structure(&m, 3);
	assert_false(has_8bit(&m));
	assert_true(has_line(&m,
	    "Final-Recipient: utf-8; bj\\x{F8}rn\\x{2B}x@example.net"));
	assert_true(has_line(&m,
	    "Original-Recipient: utf-8;bj\\x{F8}rn\\x{2B}x@example.net"));
	assert_true(has_line(&m,
	    "Diagnostic-Code: smtp; 550 5.1.1 ukendt modtager ??? ?t?"));
	assert_true(has_line(&m, "Subject: caf? ?"));
	pycheck(&m, "{\"recipients\": [{"
	    " \"Final-Recipient\":"
	    "  \"utf-8; bj\\\\x{F8}rn\\\\x{2B}x@example.net\","
	    " \"Diagnostic-Code\":"
	    "  \"smtp; 550 5.1.1 ukendt modtager ??? ?t?\"}],"
	    " \"returned\": \"text/rfc822-headers\","
	    " \"returned_has\": [\"Subject: caf? ?\"]}");
	buf_free(&m);
}

static void
test_smtputf8(void **state)
{
	static const char origu[] =
	    "From: J\xc3\xb8rgen <j\xc3\xb8rgen@example.com>\r\n"
	    "Subject: caf\xc3\xa9\r\n"
	    "\r\n"
	    "h\xc3\xa6j BODY-MARKER\r\n";
	struct buf m = BUF_INIT(0);
	struct dsn_params p;
	struct dsn_rcpt r = rcpt_failed();

	(void)state;
	params_init(&p);
	p.smtputf8 = 1;
	p.ret_full = 1;
	p.original_sender = "j\xc3\xb8rgen@example.com";
	r.addr = "bj\xc3\xb8rn@ex\xc3\xa4mple.net";
	r.orcpt = "utf-8;bj\xc3\xb8rn@ex\xc3\xa4mple.net";
	r.diagnostic = "550 5.1.1 ukendt modtager \xc3\xa6\xc3\xb8\xc3\xa5 "
	    "\xff";
	assert_int_equal(build(&p, &r, 1, origu, strlen(origu), 0, &m), 1);
	check_structure(&m, 3);
	assert_true(has_line(&m,
	    "Content-Type: message/global-delivery-status"));
	assert_true(has_line(&m, "Content-Type: message/global"));
	assert_true(has_line(&m, "Content-Type: text/plain; charset=utf-8"));
	assert_true(has_line(&m, "Content-Transfer-Encoding: 8bit"));
	assert_true(has_line(&m,
	    "Final-Recipient: utf-8; bj\xc3\xb8rn@ex\xc3\xa4mple.net"));
	assert_true(has_line(&m, "To: <j\xc3\xb8rgen@example.com>"));
	assert_true(has_line(&m, "Diagnostic-Code: smtp; 550 5.1.1 ukendt "
	    "modtager \xc3\xa6\xc3\xb8\xc3\xa5 ?"));
	pycheck(&m, "{\"utf8\": true, \"eightbit\": true,"
	    " \"to\": \"j\\u00f8rgen@example.com\","
	    " \"recipients\": [{\"Final-Recipient\":"
	    "  \"utf-8; bj\\u00f8rn@ex\\u00e4mple.net\","
	    "  \"Original-Recipient\": \"utf-8;bj\\u00f8rn@ex\\u00e4mple.net\","
	    "  \"Action\": \"failed\"}],"
	    " \"returned\": \"message/global\","
	    " \"returned_has\": [\"BODY-MARKER\"],"
	    " \"text_has\": [\"bj\\u00f8rn@ex\\u00e4mple.net\","
	    "  \"\\u00e6\\u00f8\\u00e5\"]}");
	/* Headers only: message/global-headers. */
	p.ret_full = 0;
	assert_int_equal(build(&p, &r, 1, origu, strlen(origu), 0, &m), 1);
	check_structure(&m, 3);
	assert_true(has_line(&m, "Content-Type: message/global-headers"));
	assert_true(has_line(&m, "Subject: caf\xc3\xa9"));
	pycheck(&m, "{\"utf8\": true, \"eightbit\": true,"
	    " \"recipients\": [{\"Action\": \"failed\"}],"
	    " \"returned\": \"message/global-headers\","
	    " \"returned_lacks\": [\"BODY-MARKER\"]}");
	buf_free(&m);
}

/* RFC 6533: Original-Recipient of the utf-8 type, 7-bit and global. */
static void
test_orcpt_utf8(void **state)
{
	static const char orig7[] = "Subject: x\r\n\r\nbody\r\n";
	struct buf m = BUF_INIT(0);
	struct dsn_params p;
	struct dsn_rcpt r = rcpt_failed();

	(void)state;
	params_init(&p);
	/* An ASCII address of the utf-8 type: its specials \x{}-encoded. */
	r.orcpt = "utf-8;a+b=c@example.net";
	assert_int_equal(build(&p, &r, 1, orig7, strlen(orig7), 0, &m), 1);
	assert_true(has_line(&m,
	    "Original-Recipient: utf-8;a\\x{2B}b\\x{3D}c@example.net"));
	/* Global: the utf-8-address form, also for a non-ASCII rfc822. */
	p.smtputf8 = 1;
	assert_int_equal(build(&p, &r, 1, orig7, strlen(orig7), 0, &m), 1);
	assert_true(has_line(&m, "Original-Recipient: utf-8;a+b=c@example.net"));
	r.orcpt = "rfc822;j\xc3\xb8rgen@example.net";
	assert_int_equal(build(&p, &r, 1, orig7, strlen(orig7), 0, &m), 1);
	assert_true(has_line(&m,
	    "Original-Recipient: utf-8;j\xc3\xb8rgen@example.net"));
	p.smtputf8 = 0;
	assert_int_equal(build(&p, &r, 1, orig7, strlen(orig7), 0, &m), 1);
	assert_true(has_line(&m,
	    "Original-Recipient: utf-8;j\\x{F8}rgen@example.net"));
	/* The encoded form older spool files hold: encoded once, and the
	 * address itself in a global DSN. */
	r.orcpt = "utf-8;j\\x{F6}rg\\x{2B}x@example.net";
	assert_int_equal(build(&p, &r, 1, orig7, strlen(orig7), 0, &m), 1);
	assert_true(has_line(&m,
	    "Original-Recipient: utf-8;j\\x{F6}rg\\x{2B}x@example.net"));
	p.smtputf8 = 1;
	assert_int_equal(build(&p, &r, 1, orig7, strlen(orig7), 0, &m), 1);
	assert_true(has_line(&m,
	    "Original-Recipient: utf-8;j\xc3\xb6rg+x@example.net"));
	/* No valid form (not UTF-8, a control): no field, never '?'. */
	for (p.smtputf8 = 0; p.smtputf8 < 2; p.smtputf8++) {
		r.orcpt = "rfc822;\xe9t\xe9@example.net";
		assert_int_equal(build(&p, &r, 1, orig7, strlen(orig7), 0,
		    &m), 1);
		check_structure(&m, 3);
		assert_false(has_line_start(&m, "Original-Recipient"));
		r.orcpt = "utf-8;a\x01b@example.net";
		assert_int_equal(build(&p, &r, 1, orig7, strlen(orig7), 0,
		    &m), 1);
		assert_false(has_line_start(&m, "Original-Recipient"));
		assert_true(has_line_start(&m, "Final-Recipient"));
	}
	buf_free(&m);
}

static void
test_8bit_body(void **state)
{
	static const char orig8[] =
	    "Subject: latin-1\r\n"
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: text/plain; charset=iso-8859-1\r\n"
	    "Content-Transfer-Encoding: 8bit\r\n"
	    "\r\n"
	    "\xe9t\xe9 BODY-MARKER\r\n";
	struct buf m = BUF_INIT(0);
	struct dsn_params p;
	struct dsn_rcpt r = rcpt_failed();
	char *part;

	(void)state;
	params_init(&p);
	p.ret_full = 1;
	assert_int_equal(build(&p, &r, 1, orig8, strlen(orig8), 0, &m), 1);
	check_structure(&m, 3);
	part = returned_part(&m, "message/rfc822\r\n"
	    "Content-Transfer-Encoding: 8bit");
	assert_string_equal(part, orig8);
	free(part);
	/* The top level says 8bit too (the third is the original's own);
	 * the text and status parts stay 7bit. */
	assert_int_equal(count(m.data, "\r\nContent-Transfer-Encoding: 8bit"),
	    3);
	assert_true(has_line(&m, "Content-Type: text/plain; charset=us-ascii"));
	pycheck(&m, "{\"eightbit\": true, \"returned\": \"message/rfc822\","
	    " \"returned_has\": [\"BODY-MARKER\"]}");
	buf_free(&m);
}

static void
test_unfit_original(void **state)
{
	struct buf o = BUF_INIT(0), m = BUF_INIT(0);
	struct dsn_params p;
	struct dsn_rcpt r = rcpt_failed();
	static const char *const bodies[] = { "NUL \0 here\r\n",
	    "bare \r CR\r\n", NULL };
	static const size_t blen[] = { 12, 12, 0 };
	size_t i;

	(void)state;
	params_init(&p);
	p.ret_full = 1;
	for (i = 0; i < 3; i++) {
		buf_reset(&o);
		(void)buf_appends(&o, "Subject: unfit\r\n\r\nBODY-MARKER\r\n");
		if (bodies[i])
			(void)buf_append(&o, bodies[i], blen[i]);
		else {
			size_t k;

			for (k = 0; k < 999; k++)
				(void)buf_appendc(&o, 'x');
			(void)buf_appends(&o, "\r\n");
		}
		assert_int_equal(build(&p, &r, 1, o.data, o.len, 0, &m), 1);
		check_structure(&m, 3);
		assert_true(has_line(&m, "Content-Type: text/rfc822-headers"));
		assert_true(has_line(&m, "Subject: unfit"));
		assert_null(strstr(m.data, "BODY-MARKER"));
		pycheck(&m, "{\"returned\": \"text/rfc822-headers\","
		    " \"text_has\": [\"could not be returned whole\"]}");
	}
	/* A line of exactly 998 octets is fine. */
	buf_reset(&o);
	(void)buf_appends(&o, "Subject: fit\r\n\r\nBODY-MARKER\r\n");
	for (i = 0; i < 998; i++)
		(void)buf_appendc(&o, 'y');
	(void)buf_appends(&o, "\r\n");
	assert_int_equal(build(&p, &r, 1, o.data, o.len, 0, &m), 1);
	check_structure(&m, 3);
	assert_true(has_line(&m, "Content-Type: message/rfc822"));
	assert_non_null(strstr(m.data, "BODY-MARKER"));
	buf_free(&o);
	buf_free(&m);
}

static void
test_long_header_line(void **state)
{
	struct buf o = BUF_INIT(0), m = BUF_INIT(0);
	struct dsn_params p;
	struct dsn_rcpt r = rcpt_failed();
	size_t i;

	(void)state;
	params_init(&p);
	(void)buf_appends(&o, "X-Long: ");
	for (i = 0; i < 2500; i++)
		(void)buf_appendc(&o, (char)('0' + i % 10));
	(void)buf_appends(&o, "\r\nX-Control: a\001b\033c\r\n"
	    "Subject: after\r\n\r\nbody\r\n");
	assert_int_equal(build(&p, &r, 1, o.data, o.len, 0, &m), 1);
	check_structure(&m, 3);
	assert_true(has_line(&m, "Subject: after"));
	assert_true(has_line(&m, "X-Control: a b c"));
	assert_null(strstr(m.data, "body\r\n"));
	pycheck(&m, "{\"returned\": \"text/rfc822-headers\","
	    " \"returned_has\": [\"Subject: after\", \"X-Long: 0123\"]}");
	/* Exactly 1000 octets then CRLF, with the CR and LF landing in
	 * separate chunks: no empty line appears from nowhere. */
	buf_reset(&o);
	(void)buf_appends(&o, "X-Pad: ");
	for (i = 0; i < 993; i++)
		(void)buf_appendc(&o, 'p');
	(void)buf_appends(&o, "\r\nSubject: still headers\r\n\r\nbody\r\n");
	for (i = 1; i <= 1003; i += 1)
		if (i < 8 || (i > 990 && i < 1003)) {
			assert_int_equal(build(&p, &r, 1, o.data, o.len, i, &m),
			    1);
			check_structure(&m, 3);
			assert_true(has_line(&m, "Subject: still headers"));
		}
	buf_free(&o);
	buf_free(&m);
}

static void
test_line_endings(void **state)
{
	static const char lf[] = "Subject: lf\nX-A: 1\n\nline one\nline two";
	struct buf m = BUF_INIT(0);
	struct dsn_params p;
	struct dsn_rcpt r = rcpt_failed();
	char *part;

	(void)state;
	params_init(&p);
	p.ret_full = 1;
	assert_int_equal(build(&p, &r, 1, lf, strlen(lf), 0, &m), 1);
	check_structure(&m, 3);
	part = returned_part(&m, "message/rfc822");
	assert_string_equal(part,
	    "Subject: lf\r\nX-A: 1\r\n\r\nline one\r\nline two\r\n");
	free(part);
	p.ret_full = 0;
	assert_int_equal(build(&p, &r, 1, lf, strlen(lf), 0, &m), 1);
	check_structure(&m, 3);
	part = returned_part(&m, "text/rfc822-headers");
	assert_string_equal(part, "Subject: lf\r\nX-A: 1\r\n");
	free(part);
	/* Headers without a body, no final line end. */
	assert_int_equal(build(&p, &r, 1, "Subject: x", 10, 0, &m), 1);
	part = returned_part(&m, "text/rfc822-headers");
	assert_string_equal(part, "Subject: x\r\n");
	free(part);
	buf_free(&m);
}

/* Any chunking of the original gives the same part 3. */
static void
test_chunks(void **state)
{
	static const size_t sizes[] = { 1, 2, 3, 5, 7, 64, 997, 998, 999,
	    1000, 1001, 4096, 0 };
	struct buf o = BUF_INIT(0), m = BUF_INIT(0);
	struct dsn_params p;
	struct dsn_rcpt r = rcpt_failed();
	char *want[2] = { NULL, NULL }, *part;
	size_t i, k;
	int full;

	(void)state;
	params_init(&p);
	(void)buf_appends(&o, orig);
	for (k = 0; k < 40; k++) {
		for (i = 0; i < k * 37 % 998; i++)
			(void)buf_appendc(&o, (char)('a' + (i + k) % 26));
		(void)buf_appends(&o, k % 3 ? "\r\n" : "\n");
	}
	for (full = 0; full < 2; full++) {
		p.ret_full = full;
		for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			assert_int_equal(build(&p, &r, 1, o.data, o.len,
			    sizes[i], &m), 1);
			check_structure(&m, 3);
			part = returned_part(&m, full ? "message/rfc822" :
			    "text/rfc822-headers");
			if (want[full] == NULL)
				want[full] = part;
			else {
				assert_string_equal(part, want[full]);
				free(part);
			}
		}
	}
	assert_non_null(strstr(want[1], "BODY-MARKER"));
	assert_null(strstr(want[0], "BODY-MARKER"));
	free(want[0]);
	free(want[1]);
	buf_free(&o);
	buf_free(&m);
}

/* Headers only: reading stops at the end of the header section. */
static void
test_reads_headers_only(void **state)
{
	struct buf o = BUF_INIT(0), m = BUF_INIT(0);
	struct dsn_params p;
	struct dsn_rcpt r = rcpt_failed();
	struct src s;
	size_t i;

	(void)state;
	params_init(&p);
	(void)buf_appends(&o, orig);
	for (i = 0; i < 100000; i++)
		(void)buf_appends(&o, "0123456789abcdef0123456789abcdef\r\n");
	memset(&s, 0, sizeof(s));
	s.data = o.data;
	s.len = o.len;
	s.chunk = 4096;
	assert_int_equal(dsn_build(&p, &r, 1, src_read, &s, &m), 1);
	free(s.copy);
	assert_true(s.pos <= 4096);
	check_structure(&m, 3);
	/* A header section over DSN_HEADERS_MAX is cut at a line. */
	buf_reset(&o);
	for (i = 0; i < DSN_HEADERS_MAX / 30 + 100; i++)
		assert_int_equal(buf_appendf(&o, "X-Pad: %020zu\r\n", i), 1);
	(void)buf_appends(&o, "Subject: lost\r\n\r\nbody\r\n");
	assert_int_equal(build(&p, &r, 1, o.data, o.len, 100, &m), 1);
	check_structure(&m, 3);
	assert_true(has_line(&m, "X-Pad: 00000000000000000000"));
	assert_false(has_line(&m, "Subject: lost"));
	pycheck(&m, "{\"returned\": \"text/rfc822-headers\","
	    " \"text_has\": [\"beginning of the header section\"]}");
	buf_free(&o);
	buf_free(&m);
}

static void
test_no_original(void **state)
{
	struct buf m = BUF_INIT(0);
	struct dsn_params p;
	struct dsn_rcpt r = rcpt_failed();

	(void)state;
	params_init(&p);
	assert_int_equal(build(&p, &r, 1, NULL, 0, 0, &m), 1);
	check_structure(&m, 2);
	pycheck(&m, "{\"returned\": null, \"text_lacks\": [\"attached\"]}");
	assert_int_equal(build(&p, &r, 1, "", 0, 0, &m), 1);
	check_structure(&m, 2);
	p.ret_full = 1;
	assert_int_equal(build(&p, &r, 1, "", 0, 0, &m), 1);
	check_structure(&m, 2);
	/* Optional fields left out. */
	p.queue_id = NULL;
	p.arrival = 0;
	r.remote_mta = NULL;
	r.diagnostic = NULL;
	r.last_attempt = 0;
	assert_int_equal(build(&p, &r, 1, NULL, 0, 0, &m), 1);
	check_structure(&m, 2);
	pycheck(&m, "{\"returned\": null, \"per_message\": {"
	    "\"Arrival-Date\": null, \"X-Estafeta-Queue-ID\": null},"
	    " \"recipients\": [{\"Remote-MTA\": null,"
	    " \"Diagnostic-Code\": null,"
	    " \"Last-Attempt-Date\": null, \"Status\": \"5.1.1\"}]}");
	/* A note of ours ends the text part (qmgr: a damaged queue file). */
	p.note = "The original could not be read from the queue.";
	assert_int_equal(build(&p, &r, 1, NULL, 0, 0, &m), 1);
	check_structure(&m, 2);
	pycheck(&m, "{\"returned\": null, \"text_has\": [\"The original "
	    "could not be read from the queue.\"], \"text_lacks\": "
	    "[\"attached\"]}");
	buf_free(&m);
}

static void
test_errors(void **state)
{
	static const char *const bad_status[] = { "5.1", "6.1.1", "5.1.1 ",
	    "5.1234.1", "5..1", "5.1.1.1", "", "x.1.1", "5.1.", "25.1.1" };
	struct buf m = BUF_INIT(0);
	struct dsn_params p;
	struct dsn_rcpt r = rcpt_failed(), r2;
	struct src s;
	size_t i;

	(void)state;
	params_init(&p);
	(void)buf_appends(&m, "keep");
	/* Read error half-way: -1, out as it was. */
	memset(&s, 0, sizeof(s));
	s.data = orig;
	s.len = strlen(orig);
	s.chunk = 10;
	s.fail_at = 50;
	assert_int_equal(dsn_build(&p, &r, 1, src_read, &s, &m), -1);
	free(s.copy);
	assert_string_equal(buf_cstr(&m), "keep");
	s.pos = 0, s.copy = NULL, s.fail_at = 0, s.chunk = 0;
	p.ret_full = 1;
	s.fail_at = 300;	/* in the body */
	s.chunk = 7;
	assert_int_equal(dsn_build(&p, &r, 1, src_read, &s, &m), -1);
	free(s.copy);
	assert_string_equal(buf_cstr(&m), "keep");
	/* Bad arguments. */
	assert_int_equal(dsn_build(&p, &r, 0, NULL, NULL, &m), -1);
	assert_int_equal(dsn_build(&p, NULL, 1, NULL, NULL, &m), -1);
	r2 = r;
	r2.addr = NULL;
	assert_int_equal(dsn_build(&p, &r2, 1, NULL, NULL, &m), -1);
	r2 = r;
	r2.action = (enum dsn_action)99;
	assert_int_equal(dsn_build(&p, &r2, 1, NULL, NULL, &m), -1);
	p.original_sender = NULL;
	assert_int_equal(dsn_build(&p, &r, 1, NULL, NULL, &m), -1);
	params_init(&p);
	p.postmaster = NULL;
	assert_int_equal(dsn_build(&p, &r, 1, NULL, NULL, &m), -1);
	params_init(&p);
	p.reporting_mta = NULL;
	assert_int_equal(dsn_build(&p, &r, 1, NULL, NULL, &m), -1);
	params_init(&p);
	p.arrival = 253402300800LL;	/* 10000-01-01: no RFC 5322 date */
	assert_int_equal(dsn_build(&p, &r, 1, NULL, NULL, &m), -1);
	params_init(&p);
	r2 = r;
	r2.action = DSN_DELAYED;
	r2.will_retry_until = 253402300800LL;
	assert_int_equal(dsn_build(&p, &r2, 1, NULL, NULL, &m), -1);
	r2.last_attempt = -5;		/* negative: "none", left out */
	r2.will_retry_until = 0;
	assert_int_equal(dsn_build(&p, &r2, 1, NULL, NULL, &m), 1);
	assert_false(has_line_start(&m, "Last-Attempt-Date:"));
	buf_reset(&m);
	(void)buf_appends(&m, "keep");
	assert_string_equal(buf_cstr(&m), "keep");
	/* Good statuses. */
	r2 = r;
	r2.status = "4.123.456";
	assert_int_equal(dsn_build(&p, &r2, 1, NULL, NULL, &m), 1);
	assert_true(has_line(&m, "Status: 4.123.456"));
	assert_memory_equal(m.data, "keep", 4);	/* appended after */
	/* Bad ones (from a remote reply, say) become the generic code of the
	 * action's class; the notification is not lost. */
	for (i = 0; i < sizeof(bad_status) / sizeof(bad_status[0]) + 1; i++) {
		static const struct {
			enum dsn_action	 a;
			const char	*line;
		} dflt[] = {
			{ DSN_FAILED, "Status: 5.0.0" },
			{ DSN_DELAYED, "Status: 4.0.0" },
			{ DSN_DELIVERED, "Status: 2.0.0" },
			{ DSN_RELAYED, "Status: 2.0.0" },
			{ DSN_EXPANDED, "Status: 2.0.0" },
		};
		size_t j = i % 5;

		r2 = r;
		r2.status = i < sizeof(bad_status) / sizeof(bad_status[0]) ?
		    bad_status[i] : NULL;
		r2.action = dflt[j].a;
		buf_reset(&m);
		assert_int_equal(dsn_build(&p, &r2, 1, NULL, NULL, &m), 1);
		check_structure(&m, 2);
		assert_true(has_line(&m, dflt[j].line));
		assert_int_equal(count(m.data, "\r\nStatus:"), 1);
	}
	pycheck(&m, "{\"recipients\": [{\"Status\": \"5.0.0\"}]}");
	buf_free(&m);
}

static void
test_out_limit(void **state)
{
	struct buf o = BUF_INIT(0), m = BUF_INIT(0), small = BUF_INIT(200);
	struct dsn_params p;
	struct dsn_rcpt r = rcpt_failed();
	size_t i, full_len;

	(void)state;
	params_init(&p);
	p.ret_full = 1;
	assert_int_equal(build(&p, &r, 1, orig, strlen(orig), 0, &small), -1);
	assert_int_equal(small.len, 0);
	(void)buf_appends(&o, orig);
	for (i = 0; i < 2000; i++)
		(void)buf_appends(&o, "0123456789abcdef0123456789abcdef\r\n");
	assert_int_equal(build(&p, &r, 1, o.data, o.len, 0, &m), 1);
	assert_true(has_line(&m, "Content-Type: message/rfc822"));
	full_len = m.len;
	buf_free(&m);
	/* Too small for the whole message: its headers instead. */
	buf_init(&m, full_len - 1);
	assert_int_equal(build(&p, &r, 1, o.data, o.len, 0, &m), 1);
	check_structure(&m, 3);
	assert_true(has_line(&m, "Content-Type: text/rfc822-headers"));
	buf_free(&m);
	buf_free(&small);
	buf_free(&o);
}

static void
test_wanted(void **state)
{
	static const struct {
		unsigned	notify;
		int		want[5];	/* failed delayed delivered
						 * relayed expanded */
	} t[] = {
		{ 0, { 1, 1, 0, 0, 0 } },
		{ SPOOL_NOTIFY_NEVER, { 0, 0, 0, 0, 0 } },
		{ SPOOL_NOTIFY_SUCCESS, { 0, 0, 1, 1, 1 } },
		{ SPOOL_NOTIFY_FAILURE, { 1, 0, 0, 0, 0 } },
		{ SPOOL_NOTIFY_DELAY, { 0, 1, 0, 0, 0 } },
		{ SPOOL_NOTIFY_SUCCESS | SPOOL_NOTIFY_FAILURE,
		    { 1, 0, 1, 1, 1 } },
		{ SPOOL_NOTIFY_FAILURE | SPOOL_NOTIFY_DELAY,
		    { 1, 1, 0, 0, 0 } },
		{ SPOOL_NOTIFY_SUCCESS | SPOOL_NOTIFY_DELAY,
		    { 0, 1, 1, 1, 1 } },
		{ SPOOL_NOTIFY_SUCCESS | SPOOL_NOTIFY_FAILURE |
		    SPOOL_NOTIFY_DELAY, { 1, 1, 1, 1, 1 } },
		/* NEVER with others is refused by smtpd; NEVER wins. */
		{ SPOOL_NOTIFY_NEVER | SPOOL_NOTIFY_FAILURE,
		    { 0, 0, 0, 0, 0 } },
	};
	static const enum dsn_action acts[5] = { DSN_FAILED, DSN_DELAYED,
	    DSN_DELIVERED, DSN_RELAYED, DSN_EXPANDED };
	size_t i, j;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		for (j = 0; j < 5; j++)
			if (dsn_wanted(t[i].notify, acts[j]) != t[i].want[j])
				fail_msg("notify %#x action %s: want %d",
				    t[i].notify, dsn_action_name(acts[j]),
				    t[i].want[j]);
	assert_string_equal(dsn_action_name(DSN_FAILED), "failed");
	assert_string_equal(dsn_action_name(DSN_DELAYED), "delayed");
	assert_string_equal(dsn_action_name(DSN_DELIVERED), "delivered");
	assert_string_equal(dsn_action_name(DSN_RELAYED), "relayed");
	assert_string_equal(dsn_action_name(DSN_EXPANDED), "expanded");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bounce_one),
		cmocka_unit_test(test_bounce_local_decision),
		cmocka_unit_test(test_bounce_three_mixed),
		cmocka_unit_test(test_ret_full_vs_hdrs),
		cmocka_unit_test(test_too_big),
		cmocka_unit_test(test_delay_notice),
		cmocka_unit_test(test_success_report),
		cmocka_unit_test(test_fold_long_diagnostic),
		cmocka_unit_test(test_injection),
		cmocka_unit_test(test_ascii_only),
		cmocka_unit_test(test_smtputf8),
		cmocka_unit_test(test_orcpt_utf8),
		cmocka_unit_test(test_8bit_body),
		cmocka_unit_test(test_unfit_original),
		cmocka_unit_test(test_long_header_line),
		cmocka_unit_test(test_line_endings),
		cmocka_unit_test(test_chunks),
		cmocka_unit_test(test_reads_headers_only),
		cmocka_unit_test(test_no_original),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_out_limit),
		cmocka_unit_test(test_wanted),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
