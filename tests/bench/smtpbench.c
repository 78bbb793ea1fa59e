/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * smtpbench: the SMTP load generator behind `make bench`
 * (tests/bench/run.sh).  One thread drives SESSIONS concurrent SMTP
 * sessions as state machines from a single event loop until MESSAGES
 * messages have been accepted, then prints throughput and the latency of
 * the reply to the final "." as key=value lines.  The loop uses epoll, not
 * poll(): measured against smtp-sink, re-registering every socket on each
 * poll() call cost about a third of the tool's CPU time.
 *
 * It is a standalone program (libc only, no project libraries) so that it
 * can be pointed at estafetad, Postfix or smtp-sink alike.  It must stay
 * cheap enough not to distort the measurement: the message is built once
 * (dot-stuffed) and shared by all sessions, each session only patches its
 * own copy of the header block, nothing is allocated per message, and no
 * socket call ever blocks.
 *
 * Accounting: a session claims a message when it sends MAIL.  A message
 * fails when any reply to MAIL, RCPT, DATA or the final "." is not 2xx/3xx
 * as expected, or when the connection drops or times out while it is in
 * flight; the session then sends RSET (or reconnects) and the message goes
 * back to the pool, so the run goes on until MESSAGES are accepted or
 * MAXFAIL attempts have failed.  Any failure makes the exit status 1.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define NS		1000000000ULL
#define TICK_NS		(100ULL * 1000000ULL)	/* timer scan interval */
#define RBUF		4096	/* reply bytes buffered per session */
#define RTEXT		512	/* reply text kept for the -o log */
#define HDRMAX		2048	/* header block of one message */
#define ADDRMAX		256	/* -f / -r address length */
#define SEQ_DIGITS	12	/* width of the Message-ID counter */
#define CONNECT_TRIES	5	/* consecutive failed connects per session */
#define ERRORS_SHOWN	20	/* errors printed before going quiet */
#define MAX_SESSIONS	10000
#define MAX_MESSAGES	10000000ULL
#define MAX_RCPTS	1000
#define MAX_SIZE	(256ULL * 1024 * 1024)
#define MAX_TIMEOUT	86400ULL
#define EHLO_NAME	"smtpbench.invalid"

enum sess_state {
	SS_IDLE,	/* not connected; reconnect at retry_at */
	SS_CONNECT,	/* non-blocking connect() in progress */
	SS_GREET,	/* waiting for the 220 greeting */
	SS_EHLO,	/* EHLO sent */
	SS_TX,		/* MAIL/RCPT/DATA replies outstanding */
	SS_BODY,	/* message sent or being sent, waiting for "." reply */
	SS_RSET,	/* RSET sent after a failed transaction */
	SS_PACE,	/* waiting for -q to allow the next message */
	SS_QUIT,	/* QUIT sent */
	SS_DONE,	/* finished normally */
	SS_DEAD,	/* gave up connecting */
	SS_NSTATES
};

static const char *const sess_state_names[SS_NSTATES] = {
	"idle", "connect", "greet", "ehlo", "tx", "body", "rset", "pace",
	"quit", "done", "dead",
};

struct sess {
	int		 fd;
	unsigned int	 id;
	enum sess_state	 state;
	unsigned int	 connfails;	/* consecutive, reset by EHLO ok */
	unsigned int	 step;		/* next reply in SS_TX: 0 = MAIL */
	int		 established;	/* EHLO accepted on this connection */
	int		 pipelining;	/* -p and server offers PIPELINING */
	int		 ehlo_pipelining;
	int		 txfail;	/* a reply in this transaction failed */
	int		 inflight;	/* holds a claimed message */
	int		 queued;	/* has an entry in B.paceq */
	int		 rtrunc;	/* rtext was truncated */
	uint32_t	 evmask;	/* registered epoll events, 0 = none */
	struct iovec	 out[2];	/* pending output, in stable buffers */
	unsigned int	 outidx;
	unsigned int	 outcnt;
	uint64_t	 deadline;	/* for the current wait, monotonic ns */
	uint64_t	 retry_at;	/* SS_IDLE: when to reconnect */
	uint64_t	 t_dot;		/* when the final "." was written */
	size_t		 inlen;
	size_t		 rlen;
	char		 in[RBUF];
	char		 rtext[RTEXT];
	char		 hdr[HDRMAX];	/* this session's header block */
};

struct bench_opts {
	unsigned int	 sessions;
	uint64_t	 messages;
	uint64_t	 size;
	int		 pipelining;
	uint64_t	 io_timeout;	/* seconds, per reply */
	uint64_t	 run_timeout;	/* seconds, whole run */
	const char	*from;
	const char	*rcpt;
	unsigned int	 rcpts;
	const char	*idlog_path;
	uint64_t	 maxfail;
	uint64_t	 rate;		/* -q msgs/s, 0 = unlimited */
	int		 verbose;
	const char	*target;
};

struct bench {
	struct bench_opts	 o;
	struct sockaddr_storage	 addr;
	socklen_t		 addrlen;
	char			*mail;		/* "MAIL FROM:<..>\r\n" */
	size_t			 maillen;
	char			**rcpt_cmd;	/* "RCPT TO:<..>\r\n" each */
	size_t			*rcpt_len;
	char			*group;		/* MAIL, RCPT.., DATA at once */
	size_t			 grouplen;
	char			 hdr_tmpl[HDRMAX];
	size_t			 hdrlen;
	size_t			 seq_off;	/* Message-ID counter offset */
	char			*body;		/* dot-stuffed body + ".\r\n" */
	size_t			 bodylen;
	uint64_t		 ok;
	uint64_t		 failed;
	uint64_t		 inflight;
	uint64_t		 seq;
	uint64_t		*lat;		/* ns, per accepted message */
	uint64_t		 t_start;
	uint64_t		 t_last;	/* last message finished */
	int			 stopping;
	FILE			*idlog;
	uint64_t		 errors;
	uint64_t		 connections;
	unsigned int		 dead;		/* sessions that gave up */
	char			 lastconn[RTEXT + 128]; /* why they did */
	unsigned int		 active;	/* sessions not done or dead */
	struct sess		**paceq;	/* FIFO of SS_PACE sessions */
	unsigned int		 pq_head;
	unsigned int		 pq_len;
	int			 epfd;
	/* Error text; truncation only shortens it. */
	char			 errbuf[RTEXT + 128];
};

static struct bench B;

static void die(const char *, ...)
	__attribute__((format(printf, 1, 2), noreturn));
static void bench_err(const char *, ...)
	__attribute__((format(printf, 1, 2)));
static int sess_next(struct sess *, uint64_t, const char **);
static void sess_connect(struct sess *, uint64_t);

static void
die(const char *fmt, ...)
{
	va_list ap;

	fputs("smtpbench: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/* A per-session or per-message error: shown up to ERRORS_SHOWN times. */
static void
bench_err(const char *fmt, ...)
{
	va_list ap;

	B.errors++;
	if (B.errors > ERRORS_SHOWN) {
		if (B.errors == ERRORS_SHOWN + 1)
			fputs("smtpbench: further errors not shown\n", stderr);
		return;
	}
	fputs("smtpbench: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void
usage(void)
{
	fputs("usage: smtpbench -s SESSIONS -m MESSAGES -l SIZE [-p] "
	    "[-t TIMEOUT_S]\n"
	    "\t[-T RUN_TIMEOUT_S] [-f from@x] [-r rcpt@domain] "
	    "[-R RCPTS_PER_MSG]\n"
	    "\t[-e MAXFAIL] [-q RATE] [-o idlog] [-v] host:port\n"
	    "  -s  concurrent sessions            -m  messages to deliver\n"
	    "  -l  message size in bytes (k/m suffix allowed)\n"
	    "  -p  pipeline MAIL+RCPT+DATA if the server offers PIPELINING\n"
	    "  -t  timeout per reply (default 30)\n"
	    "  -T  timeout for the whole run (default 600)\n"
	    "  -R  recipients per message; with R > 1 the recipients are\n"
	    "      rcpt@domain prefixed by 1..R, as smtp-source does\n"
	    "  -e  stop after this many failed messages (default MESSAGES)\n"
	    "  -o  write the reply to each accepted \".\" to this file\n"
	    "  -q  start at most RATE messages per second (default: no limit)\n"
	    "  -v  trace session state changes on stderr\n", stderr);
	exit(1);
}

static void *
xcalloc(size_t n, size_t size)
{
	void *p;

	if (n == 0 || size == 0)
		n = size = 1;
	if ((p = calloc(n, size)) == NULL)
		die("out of memory (%zu x %zu bytes)", n, size);
	return p;
}

static uint64_t
now_ns(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) == -1)
		die("clock_gettime: %s", strerror(errno));
	return (uint64_t)ts.tv_sec * NS + (uint64_t)ts.tv_nsec;
}

/* Parse a decimal number in [min, max]; with suffixes, k/m mean KiB/MiB. */
static uint64_t
parse_num(const char *arg, uint64_t min, uint64_t max, int suffix,
    const char *what)
{
	unsigned long long v, mult = 1;
	char *end;

	errno = 0;
	if (arg[0] < '0' || arg[0] > '9')
		die("%s: not a number: %s", what, arg);
	v = strtoull(arg, &end, 10);
	if (errno != 0)
		die("%s: out of range: %s", what, arg);
	if (suffix && (*end == 'k' || *end == 'K'))
		mult = 1024, end++;
	else if (suffix && (*end == 'm' || *end == 'M'))
		mult = 1024 * 1024, end++;
	if (*end != '\0')
		die("%s: trailing garbage: %s", what, arg);
	if (v > max / mult || v * mult < min || v * mult > max)
		die("%s: must be between %" PRIu64 " and %" PRIu64 ": %s",
		    what, min, max, arg);
	return v * mult;
}

/* Addresses go into commands verbatim, so keep them to one safe token. */
static const char *
check_addr(const char *addr, const char *what)
{
	size_t i, len = strlen(addr);

	if (len >= ADDRMAX)
		die("%s: address longer than %d bytes", what, ADDRMAX - 1);
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)addr[i];

		if (c <= ' ' || c >= 0x7f || c == '<' || c == '>')
			die("%s: bad character in address: %s", what, addr);
	}
	return addr;
}

static void
parse_opts(int argc, char **argv)
{
	struct bench_opts *o = &B.o;
	int ch, have_s = 0, have_m = 0, have_l = 0, have_e = 0;

	o->io_timeout = 30;
	o->run_timeout = 600;
	o->from = "bench@example.org";
	o->rcpt = "sink@example.com";
	o->rcpts = 1;
	while ((ch = getopt(argc, argv, "e:f:hl:m:o:pq:r:R:s:t:T:v")) != -1) {
		switch (ch) {
		case 'e':
			o->maxfail = parse_num(optarg, 1, MAX_MESSAGES * 10,
			    0, "-e");
			have_e = 1;
			break;
		case 'f':
			o->from = check_addr(optarg, "-f");
			break;
		case 'l':
			o->size = parse_num(optarg, 1, MAX_SIZE, 1, "-l");
			have_l = 1;
			break;
		case 'm':
			o->messages = parse_num(optarg, 1, MAX_MESSAGES, 0,
			    "-m");
			have_m = 1;
			break;
		case 'o':
			o->idlog_path = optarg;
			break;
		case 'p':
			o->pipelining = 1;
			break;
		case 'q':
			o->rate = parse_num(optarg, 1, 10000000, 0, "-q");
			break;
		case 'r':
			o->rcpt = check_addr(optarg, "-r");
			if (o->rcpt[0] == '\0')
				die("-r: empty recipient");
			break;
		case 'R':
			o->rcpts = (unsigned int)parse_num(optarg, 1,
			    MAX_RCPTS, 0, "-R");
			break;
		case 's':
			o->sessions = (unsigned int)parse_num(optarg, 1,
			    MAX_SESSIONS, 0, "-s");
			have_s = 1;
			break;
		case 't':
			o->io_timeout = parse_num(optarg, 1, MAX_TIMEOUT, 0,
			    "-t");
			break;
		case 'T':
			o->run_timeout = parse_num(optarg, 1, MAX_TIMEOUT, 0,
			    "-T");
			break;
		case 'v':
			o->verbose = 1;
			break;
		default:
			usage();
		}
	}
	if (!have_s || !have_m || !have_l || argc - optind != 1)
		usage();
	if (!have_e)
		o->maxfail = o->messages;
	o->target = argv[optind];
}

/* Resolve "host:port" or "[v6addr]:port"; the first address is used. */
static void
resolve_target(const char *target)
{
	struct addrinfo hints, *res;
	const char *hstart, *port, *p;
	char host[256];
	size_t hlen;
	int rc;

	if (target[0] == '[') {
		if ((p = strchr(target, ']')) == NULL || p[1] != ':')
			die("bad target (want [addr]:port): %s", target);
		hstart = target + 1;
		hlen = (size_t)(p - hstart);
		port = p + 2;
	} else {
		if ((p = strrchr(target, ':')) == NULL)
			die("bad target (want host:port): %s", target);
		hstart = target;
		hlen = (size_t)(p - target);
		port = p + 1;
	}
	if (hlen == 0 || *port == '\0')
		die("bad target (want host:port): %s", target);
	rc = snprintf(host, sizeof(host), "%.*s", (int)hlen, hstart);
	if (rc < 0 || (size_t)rc >= sizeof(host))
		die("host name too long: %s", target);
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	if ((rc = getaddrinfo(host, port, &hints, &res)) != 0)
		die("%s: %s", target, gai_strerror(rc));
	if (res->ai_addrlen > sizeof(B.addr))
		die("%s: address too long", target);
	memcpy(&B.addr, res->ai_addr, res->ai_addrlen);
	B.addrlen = res->ai_addrlen;
	freeaddrinfo(res);
}

/* snprintf into a heap buffer of known capacity, appending at *len. */
static void str_addf(char *, size_t, size_t *, const char *, ...)
	__attribute__((format(printf, 4, 5)));

static void
str_addf(char *dst, size_t cap, size_t *len, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(dst + *len, cap - *len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= cap - *len)
		die("internal error: command buffer too small");
	*len += (size_t)n;
}

/* MAIL, one RCPT per recipient, and the whole group for pipelining. */
static void
build_commands(void)
{
	const struct bench_opts *o = &B.o;
	size_t cap = ADDRMAX + 32, gcap, glen = 0;
	unsigned int i;

	B.mail = xcalloc(1, cap);
	str_addf(B.mail, cap, &B.maillen, "MAIL FROM:<%s>\r\n", o->from);
	B.rcpt_cmd = xcalloc(o->rcpts, sizeof(*B.rcpt_cmd));
	B.rcpt_len = xcalloc(o->rcpts, sizeof(*B.rcpt_len));
	for (i = 0; i < o->rcpts; i++) {
		B.rcpt_cmd[i] = xcalloc(1, cap);
		if (o->rcpts == 1)
			str_addf(B.rcpt_cmd[i], cap, &B.rcpt_len[i],
			    "RCPT TO:<%s>\r\n", o->rcpt);
		else
			str_addf(B.rcpt_cmd[i], cap, &B.rcpt_len[i],
			    "RCPT TO:<%u%s>\r\n", i + 1, o->rcpt);
	}
	gcap = cap * ((size_t)o->rcpts + 2);
	B.group = xcalloc(1, gcap);
	str_addf(B.group, gcap, &glen, "%s", B.mail);
	for (i = 0; i < o->rcpts; i++)
		str_addf(B.group, gcap, &glen, "%s", B.rcpt_cmd[i]);
	str_addf(B.group, gcap, &glen, "DATA\r\n");
	B.grouplen = glen;
}

/* From/To/Subject/Date/Message-ID and the empty line ending the header. */
static void
build_header(void)
{
	const struct bench_opts *o = &B.o;
	char date[64];
	struct tm tm;
	time_t t = time(NULL);
	size_t len = 0;

	if (localtime_r(&t, &tm) == NULL ||
	    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z",
	    &tm) == 0)
		die("cannot format the Date header");
	str_addf(B.hdr_tmpl, sizeof(B.hdr_tmpl), &len,
	    "From: %s\r\nTo: %s\r\nSubject: smtpbench test message\r\n"
	    "Date: %s\r\nMessage-ID: <%lld.%ld.",
	    o->from[0] != '\0' ? o->from : "bench@" EHLO_NAME, o->rcpt,
	    date, (long long)t, (long)getpid());
	B.seq_off = len;
	str_addf(B.hdr_tmpl, sizeof(B.hdr_tmpl), &len,
	    "%0*d@" EHLO_NAME ">\r\n\r\n", SEQ_DIGITS, 0);
	B.hdrlen = len;
}

/*
 * The body, dot-stuffed, followed by ".\r\n".  Lines are 76 characters
 * plus CRLF; line 1 is a lone ".", every 16th line starts with "." and
 * every 16th (offset 8) with "..", so dot-stuffing is exercised.  The
 * unstuffed message (header + body) is exactly SIZE bytes.
 */
static void
build_body(void)
{
	static const char chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789 -";
	size_t rem, n, j, cap, len = 0;
	uint32_t rng = 2463534242u;
	unsigned int i;

	if (B.o.size < B.hdrlen || B.o.size - B.hdrlen == 1)
		die("-l %" PRIu64 ": too small, the header alone is %zu bytes",
		    B.o.size, B.hdrlen);
	rem = (size_t)B.o.size - B.hdrlen;
	cap = rem + rem / 3 + 8;
	B.body = xcalloc(1, cap);
	for (i = 0; rem > 0; i++) {
		if (i == 1 && rem >= 3 + 80)
			n = 3;
		else if (rem == 78 || rem >= 80)
			n = 78;
		else if (rem == 79)
			n = 77;
		else
			n = rem;
		if (len + n + 1 > cap)
			die("internal error: body buffer too small");
		if (n == 3 && i == 1) {
			B.body[len++] = '.';	/* stuffed lone dot */
			B.body[len++] = '.';
		} else {
			for (j = 0; j < n - 2; j++) {
				rng ^= rng << 13;
				rng ^= rng >> 17;
				rng ^= rng << 5;
				B.body[len + j] =
				    chars[rng % (sizeof(chars) - 1)];
			}
			if (n - 2 >= 2 && i % 16 == 3)
				B.body[len] = '.';
			if (n - 2 >= 3 && i % 16 == 11)
				B.body[len] = B.body[len + 1] = '.';
			if (n - 2 >= 1 && B.body[len] == '.') {
				memmove(B.body + len + 1, B.body + len, n - 2);
				B.body[len] = '.';
				len++;
			}
			len += n - 2;
		}
		B.body[len++] = '\r';
		B.body[len++] = '\n';
		rem -= n;
	}
	if (len + 3 > cap)
		die("internal error: body buffer too small");
	memcpy(B.body + len, ".\r\n", 3);
	B.bodylen = len + 3;
}

static int
sess_finished(const struct sess *s)
{
	return s->state == SS_DONE || s->state == SS_DEAD;
}

static void
sess_set_state(struct sess *s, enum sess_state st)
{
	if (B.o.verbose)
		fprintf(stderr, "smtpbench: session %u: %s -> %s\n", s->id,
		    sess_state_names[s->state], sess_state_names[st]);
	if (!sess_finished(s) && (st == SS_DONE || st == SS_DEAD))
		B.active--;
	s->state = st;
}

/* Register interest in what the session waits for; no-op if unchanged. */
static void
sess_watch(struct sess *s)
{
	struct epoll_event ev;
	uint32_t want;

	if (s->fd < 0)
		return;
	if (s->state == SS_CONNECT)
		want = EPOLLOUT;
	else
		want = EPOLLIN | (s->outcnt > 0 ? EPOLLOUT : 0);
	if (want == s->evmask)
		return;
	memset(&ev, 0, sizeof(ev));
	ev.events = want;
	ev.data.ptr = s;
	if (epoll_ctl(B.epfd, s->evmask == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD,
	    s->fd, &ev) == -1)
		die("epoll_ctl: %s", strerror(errno));
	s->evmask = want;
}

static int
bench_has_work(void)
{
	return !B.stopping && B.ok + B.inflight < B.o.messages &&
	    B.failed < B.o.maxfail;
}

static void
msg_finish(struct sess *s, int ok, uint64_t now)
{
	if (!s->inflight)
		return;
	s->inflight = 0;
	B.inflight--;
	B.t_last = now;
	if (!ok) {
		B.failed++;
		return;
	}
	B.lat[B.ok++] = now > s->t_dot ? now - s->t_dot : 0;
	if (B.idlog != NULL)
		fprintf(B.idlog, "%.*s%s\n", (int)s->rlen, s->rtext,
		    s->rtrunc ? " [truncated]" : "");
}

static void
sess_close(struct sess *s)
{
	if (s->fd >= 0 && close(s->fd) == -1)
		bench_err("session %u: close: %s", s->id, strerror(errno));
	s->fd = -1;
	s->evmask = 0;	/* close() took it out of the epoll set */
	s->inlen = s->rlen = 0;
	s->rtrunc = 0;
	s->outcnt = 0;
}

/*
 * The connection failed, dropped, timed out or spoke nonsense: the message
 * in flight (if any) failed.  Reconnect at once if EHLO had been accepted,
 * otherwise back off and give up after CONNECT_TRIES attempts in a row.
 */
static void
sess_drop(struct sess *s, const char *why, uint64_t now)
{
	int established = s->established;

	if (s->state == SS_QUIT) {
		sess_close(s);
		sess_set_state(s, SS_DONE);
		return;
	}
	bench_err("session %u: %s: %s (in state %s)", s->id, B.o.target,
	    why, sess_state_names[s->state]);
	msg_finish(s, 0, now);
	sess_close(s);
	s->established = 0;
	s->connfails = established ? 0 : s->connfails + 1;
	if (!bench_has_work()) {
		sess_set_state(s, SS_DONE);
		return;
	}
	if (s->connfails >= CONNECT_TRIES) {
		bench_err("session %u: giving up after %u failed connection "
		    "attempts", s->id, s->connfails);
		snprintf(B.lastconn, sizeof(B.lastconn), "%s", why);
		B.dead++;
		sess_set_state(s, SS_DEAD);
		return;
	}
	sess_set_state(s, SS_IDLE);
	if (established) {
		sess_connect(s, now);	/* cannot recurse: not established */
		return;
	}
	s->retry_at = now + (TICK_NS << (s->connfails - 1));
}

static void
sess_connect(struct sess *s, uint64_t now)
{
	int one = 1;

	B.connections++;
	s->deadline = now + B.o.io_timeout * NS;
	s->fd = socket(B.addr.ss_family,
	    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->fd == -1) {
		sess_drop(s, strerror(errno), now);
		return;
	}
	/* Only latency suffers without it; not worth failing the run. */
	if (setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one,
	    sizeof(one)) == -1 && B.o.verbose)
		fprintf(stderr, "smtpbench: TCP_NODELAY: %s\n",
		    strerror(errno));
	if (connect(s->fd, (struct sockaddr *)&B.addr, B.addrlen) == 0) {
		sess_set_state(s, SS_GREET);
	} else if (errno == EINPROGRESS) {
		sess_set_state(s, SS_CONNECT);
	} else {
		snprintf(B.errbuf, sizeof(B.errbuf), "connect: %s",
		    strerror(errno));
		sess_drop(s, B.errbuf, now);
		return;
	}
	sess_watch(s);
}

static int
sess_connected(struct sess *s, uint64_t now, const char **errstr_r)
{
	socklen_t len = sizeof(int);
	int err = 0;

	if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
		err = errno;
	if (err != 0) {
		snprintf(B.errbuf, sizeof(B.errbuf), "connect: %s",
		    strerror(err));
		*errstr_r = B.errbuf;
		return -1;
	}
	s->deadline = now + B.o.io_timeout * NS;
	sess_set_state(s, SS_GREET);
	return 1;
}

/* Write what is pending; -1 on error, 1 otherwise (s->outcnt tells). */
static int
sess_flush(struct sess *s, const char **errstr_r)
{
	struct msghdr msg;
	ssize_t n;
	size_t done;

	while (s->outcnt > 0) {
		memset(&msg, 0, sizeof(msg));
		msg.msg_iov = s->out + s->outidx;
		msg.msg_iovlen = s->outcnt;
		n = sendmsg(s->fd, &msg, MSG_NOSIGNAL);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 1;
		if (n <= 0) {
			*errstr_r = n == 0 ? "short write" : strerror(errno);
			return -1;
		}
		done = (size_t)n;
		while (s->outcnt > 0 && done >= s->out[s->outidx].iov_len) {
			done -= s->out[s->outidx].iov_len;
			s->outidx++;
			s->outcnt--;
		}
		if (s->outcnt > 0) {
			s->out[s->outidx].iov_base =
			    (char *)s->out[s->outidx].iov_base + done;
			s->out[s->outidx].iov_len -= done;
		}
	}
	if (s->state == SS_BODY)
		s->t_dot = now_ns();
	return 1;
}

/* Queue one or two stable buffers and try to write them at once. */
static int
sess_send(struct sess *s, const void *p1, size_t l1, const void *p2,
    size_t l2, uint64_t now, const char **errstr_r)
{
	if (s->outcnt > 0) {
		*errstr_r = "reply arrived before our command was sent";
		return -1;
	}
	s->out[0].iov_base = (void *)(uintptr_t)p1;
	s->out[0].iov_len = l1;
	s->out[1].iov_base = (void *)(uintptr_t)p2;
	s->out[1].iov_len = l2;
	s->outidx = 0;
	s->outcnt = l2 > 0 ? 2 : 1;
	s->deadline = now + B.o.io_timeout * NS;
	return sess_flush(s, errstr_r);
}

static void
sess_set_seq(struct sess *s, uint64_t v)
{
	char *p = s->hdr + B.seq_off;
	unsigned int i;

	for (i = SEQ_DIGITS; i-- > 0; v /= 10)
		p[i] = (char)('0' + v % 10);
}

static int
sess_quit(struct sess *s, uint64_t now, const char **errstr_r)
{
	sess_set_state(s, SS_QUIT);
	return sess_send(s, "QUIT\r\n", 6, NULL, 0, now, errstr_r);
}

/* Claim a message and send MAIL (or MAIL, RCPT.., DATA when pipelining). */
static int
sess_start_tx(struct sess *s, uint64_t now, const char **errstr_r)
{
	B.inflight++;
	s->inflight = 1;
	sess_set_seq(s, ++B.seq);
	s->step = 0;
	s->txfail = 0;
	sess_set_state(s, SS_TX);
	if (s->pipelining)
		return sess_send(s, B.group, B.grouplen, NULL, 0, now,
		    errstr_r);
	return sess_send(s, B.mail, B.maillen, NULL, 0, now, errstr_r);
}

/* With -q: may message number B.seq + 1 start at time now? */
static int
pace_due(uint64_t now)
{
	double allowed = (double)(now - B.t_start) / 1e9 * (double)B.o.rate;

	return (double)B.seq < allowed + 1.0;
}

/* Milliseconds until pace_due() turns true, for the epoll timeout. */
static int
pace_wait_ms(uint64_t now)
{
	double due = (double)B.t_start + (double)B.seq * 1e9 /
	    (double)B.o.rate;

	if (due <= (double)now)
		return 0;
	return (int)((due - (double)now) / 1e6) + 1;
}

/* Park the session until pace_release() lets it send its next message. */
static void
pace_enqueue(struct sess *s)
{
	sess_set_state(s, SS_PACE);
	s->deadline = UINT64_MAX;
	if (s->queued)
		return;	/* a stale entry from before a reconnect serves */
	s->queued = 1;
	B.paceq[(B.pq_head + B.pq_len) % B.o.sessions] = s;
	B.pq_len++;
}

/* Start parked sessions, first come first served, as the rate allows. */
static void
pace_release(uint64_t now)
{
	const char *err = "unknown error";
	struct sess *s;
	int rc;

	while (B.pq_len > 0 && (!bench_has_work() || pace_due(now))) {
		s = B.paceq[B.pq_head];
		B.pq_head = (B.pq_head + 1) % B.o.sessions;
		B.pq_len--;
		s->queued = 0;
		if (s->state != SS_PACE)
			continue;	/* dropped while parked */
		if (bench_has_work())
			rc = sess_start_tx(s, now, &err);
		else
			rc = sess_quit(s, now, &err);
		if (rc < 0)
			sess_drop(s, err, now);
		else
			sess_watch(s);
	}
}

/* Start the next transaction, or QUIT when there is nothing left. */
static int
sess_next(struct sess *s, uint64_t now, const char **errstr_r)
{
	if (!bench_has_work())
		return sess_quit(s, now, errstr_r);
	if (B.o.rate > 0 && (B.pq_len > 0 || !pace_due(now))) {
		pace_enqueue(s);
		return 1;
	}
	return sess_start_tx(s, now, errstr_r);
}

/* The transaction failed: count it and RSET. */
static int
sess_reset(struct sess *s, uint64_t now, const char **errstr_r)
{
	msg_finish(s, 0, now);
	sess_set_state(s, SS_RSET);
	return sess_send(s, "RSET\r\n", 6, NULL, 0, now, errstr_r);
}

static void
sess_rejected(const struct sess *s, const char *what)
{
	bench_err("session %u: %s rejected: %.*s", s->id, what,
	    (int)s->rlen, s->rtext);
}

/* Replies to MAIL (step 0), RCPT (1..R) and DATA (R + 1). */
static int
sess_tx_reply(struct sess *s, int code, uint64_t now, const char **errstr_r)
{
	unsigned int data_step = B.o.rcpts + 1;

	if (s->step < data_step) {
		if (code / 100 != 2) {
			if (!s->txfail)
				sess_rejected(s, s->step == 0 ? "MAIL" :
				    "RCPT");
			s->txfail = 1;
		}
		s->step++;
		if (s->pipelining)
			return 1;
		if (s->txfail)
			return sess_reset(s, now, errstr_r);
		if (s->step < data_step)
			return sess_send(s, B.rcpt_cmd[s->step - 1],
			    B.rcpt_len[s->step - 1], NULL, 0, now, errstr_r);
		return sess_send(s, "DATA\r\n", 6, NULL, 0, now, errstr_r);
	}
	if (code / 100 == 3 && s->txfail) {
		/* Cannot take DATA back: drop the connection instead. */
		*errstr_r = "server accepted DATA after rejecting MAIL/RCPT";
		return -1;
	}
	if (code / 100 == 3) {
		sess_set_state(s, SS_BODY);
		return sess_send(s, s->hdr, B.hdrlen, B.body, B.bodylen, now,
		    errstr_r);
	}
	if (!s->txfail)
		sess_rejected(s, "DATA");
	return sess_reset(s, now, errstr_r);
}

static int
sess_reply(struct sess *s, int code, uint64_t now, const char **errstr_r)
{
	const char *what = "unexpected reply";

	switch (s->state) {
	case SS_GREET:
		what = "greeting";
		if (code / 100 != 2)
			break;
		s->ehlo_pipelining = 0;
		sess_set_state(s, SS_EHLO);
		return sess_send(s, "EHLO " EHLO_NAME "\r\n",
		    sizeof("EHLO " EHLO_NAME "\r\n") - 1, NULL, 0, now,
		    errstr_r);
	case SS_EHLO:
		what = "EHLO rejected";
		if (code / 100 != 2)
			break;
		s->established = 1;
		s->connfails = 0;
		s->pipelining = B.o.pipelining && s->ehlo_pipelining;
		return sess_next(s, now, errstr_r);
	case SS_TX:
		return sess_tx_reply(s, code, now, errstr_r);
	case SS_BODY:
		if (s->outcnt > 0) {
			*errstr_r = "reply arrived before the message was sent";
			return -1;
		}
		if (code / 100 != 2) {
			sess_rejected(s, "end of data");
			return sess_reset(s, now, errstr_r);
		}
		msg_finish(s, 1, now);
		return sess_next(s, now, errstr_r);
	case SS_RSET:
		what = "RSET rejected";
		if (code / 100 != 2)
			break;
		return sess_next(s, now, errstr_r);
	case SS_QUIT:
		sess_close(s);
		sess_set_state(s, SS_DONE);
		return 0;
	default:
		*errstr_r = "unexpected reply";
		return -1;
	}
	snprintf(B.errbuf, sizeof(B.errbuf), "%s: %.*s%s", what,
	    (int)s->rlen, s->rtext, s->rtrunc ? " [truncated]" : "");
	*errstr_r = B.errbuf;
	return -1;
}

/* Keep the reply text (lines joined by a space) for messages and -o. */
static void
sess_rtext_add(struct sess *s, const char *line, size_t len)
{
	size_t room;

	if (s->rlen > 0 && s->rlen < sizeof(s->rtext))
		s->rtext[s->rlen++] = ' ';
	room = sizeof(s->rtext) - s->rlen;
	if (len > room) {
		len = room;
		s->rtrunc = 1;
	}
	memcpy(s->rtext + s->rlen, line, len);
	s->rlen += len;
}

/* One reply line; acts on the last line of a reply.  -1 drop, 0 closed. */
static int
sess_line(struct sess *s, const char *line, size_t len, uint64_t now,
    const char **errstr_r)
{
	int rc, code;

	if (len < 3 || line[0] < '1' || line[0] > '5' ||
	    line[1] < '0' || line[1] > '9' || line[2] < '0' ||
	    line[2] > '9' || (len > 3 && line[3] != ' ' && line[3] != '-')) {
		snprintf(B.errbuf, sizeof(B.errbuf), "malformed reply: %.*s",
		    (int)(len < 80 ? len : 80), line);
		*errstr_r = B.errbuf;
		return -1;
	}
	code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + line[2] - '0';
	sess_rtext_add(s, line, len);
	if (s->state == SS_EHLO && len >= 14 &&
	    strncasecmp(line + 4, "PIPELINING", 10) == 0 &&
	    (len == 14 || line[14] == ' '))
		s->ehlo_pipelining = 1;
	if (len > 3 && line[3] == '-')
		return 1;
	rc = sess_reply(s, code, now, errstr_r);
	s->rlen = 0;
	s->rtrunc = 0;
	return rc;
}

/* Read what is there and act on every complete reply line. */
static int
sess_input(struct sess *s, uint64_t now, const char **errstr_r)
{
	size_t start = 0, len;
	const char *line, *nl;
	ssize_t n;
	int rc;

	n = read(s->fd, s->in + s->inlen, sizeof(s->in) - s->inlen);
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK ||
	    errno == EINTR))
		return 1;
	if (n <= 0) {
		*errstr_r = n == 0 ? "connection closed by server" :
		    strerror(errno);
		return -1;
	}
	s->inlen += (size_t)n;
	while ((nl = memchr(s->in + start, '\n', s->inlen - start)) != NULL) {
		line = s->in + start;
		len = (size_t)(nl - line);
		start += len + 1;
		if (len > 0 && line[len - 1] == '\r')
			len--;
		if ((rc = sess_line(s, line, len, now, errstr_r)) <= 0)
			return rc;
	}
	if (start == 0 && s->inlen == sizeof(s->in)) {
		*errstr_r = "reply line too long";
		return -1;
	}
	memmove(s->in, s->in + start, s->inlen - start);
	s->inlen -= start;
	return 1;
}

static void
sess_event(struct sess *s, uint32_t revents, uint64_t now)
{
	const char *err = "unknown error";
	int rc = 1;

	if (s->state == SS_CONNECT) {
		rc = sess_connected(s, now, &err);
	} else {
		if ((revents & EPOLLOUT) && s->outcnt > 0)
			rc = sess_flush(s, &err);
		if (rc > 0 && (revents & (EPOLLIN | EPOLLHUP | EPOLLERR)))
			rc = sess_input(s, now, &err);
	}
	if (rc < 0)
		sess_drop(s, err, now);
	else
		sess_watch(s);
}

/* Reconnect idle sessions when due and time out stalled ones. */
static void
bench_timers(struct sess *ss, unsigned int n, uint64_t now)
{
	char why_timeout[128];
	unsigned int i;

	snprintf(why_timeout, sizeof(why_timeout), "timed out after %" PRIu64
	    " s", B.o.io_timeout);
	for (i = 0; i < n; i++) {
		struct sess *s = &ss[i];

		switch (s->state) {
		case SS_IDLE:
			if (now < s->retry_at)
				break;
			if (bench_has_work())
				sess_connect(s, now);
			else
				sess_set_state(s, SS_DONE);
			break;
		case SS_CONNECT:
		case SS_GREET:
		case SS_EHLO:
			if (bench_has_work()) {
				if (now >= s->deadline)
					sess_drop(s, why_timeout, now);
				break;
			}
			/* Nothing left to send: do not wait for the server. */
			sess_close(s);
			sess_set_state(s, SS_DONE);
			break;
		case SS_DONE:
		case SS_DEAD:
		case SS_NSTATES:
			break;
		default:
			if (now >= s->deadline)
				sess_drop(s, why_timeout, now);
			break;
		}
	}
}

/* The run deadline passed: whatever is in flight has failed. */
static void
bench_abort(struct sess *ss, unsigned int n, uint64_t now)
{
	unsigned int i;

	fprintf(stderr, "smtpbench: run timeout after %" PRIu64 " s: %"
	    PRIu64 " of %" PRIu64 " messages accepted\n", B.o.run_timeout,
	    B.ok, B.o.messages);
	B.stopping = 1;
	for (i = 0; i < n; i++) {
		if (!sess_finished(&ss[i]))
			fprintf(stderr, "smtpbench: session %u still in state "
			    "%s\n", ss[i].id, sess_state_names[ss[i].state]);
		msg_finish(&ss[i], 0, now);
		sess_close(&ss[i]);
	}
}

#define MAX_EVENTS	256

static void
bench_loop(struct sess *ss, unsigned int n)
{
	struct epoll_event ev[MAX_EVENTS];
	uint64_t now = now_ns(), next_tick = now + TICK_NS;
	uint64_t run_deadline = now + B.o.run_timeout * NS;
	int i, nev, timeout;

	while (B.active > 0) {
		if (now >= run_deadline) {
			bench_abort(ss, n, now);
			break;
		}
		timeout = (int)(TICK_NS / 1000000);
		if (B.pq_len > 0 && pace_wait_ms(now) < timeout)
			timeout = pace_wait_ms(now);
		nev = epoll_wait(B.epfd, ev, MAX_EVENTS, timeout);
		if (nev == -1 && errno != EINTR)
			die("epoll_wait: %s", strerror(errno));
		now = now_ns();
		for (i = 0; i < nev; i++) {
			struct sess *s = ev[i].data.ptr;

			if (s->fd >= 0)
				sess_event(s, ev[i].events, now);
		}
		if (B.pq_len > 0)
			pace_release(now);
		if (now >= next_tick) {
			bench_timers(ss, n, now);
			next_tick = now + TICK_NS;
		}
	}
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of the sorted latencies, in milliseconds. */
static double
lat_pct(double pct)
{
	uint64_t rank;

	if (B.ok == 0)
		return 0.0;
	rank = (uint64_t)(pct / 100.0 * (double)B.ok + 0.999999);
	if (rank < 1)
		rank = 1;
	if (rank > B.ok)
		rank = B.ok;
	return (double)B.lat[rank - 1] / 1e6;
}

static void
bench_report(uint64_t t_end)
{
	struct rusage ru;
	double secs, cpu_ms = 0.0;
	uint64_t last = B.t_last != 0 ? B.t_last : t_end;

	qsort(B.lat, B.ok, sizeof(*B.lat), cmp_u64);
	secs = (double)(last - B.t_start) / 1e9;
	if (getrusage(RUSAGE_SELF, &ru) == 0)
		cpu_ms = (double)ru.ru_utime.tv_sec * 1e3 +
		    (double)ru.ru_utime.tv_usec / 1e3 +
		    (double)ru.ru_stime.tv_sec * 1e3 +
		    (double)ru.ru_stime.tv_usec / 1e3;
	printf("messages_ok=%" PRIu64 "\n", B.ok);
	printf("messages_failed=%" PRIu64 "\n", B.failed);
	printf("seconds=%.3f\n", secs);
	printf("msgs_per_sec=%.1f\n", secs > 0 ? (double)B.ok / secs : 0.0);
	printf("lat_p50_ms=%.3f\n", lat_pct(50));
	printf("lat_p99_ms=%.3f\n", lat_pct(99));
	printf("lat_max_ms=%.3f\n", B.ok ? (double)B.lat[B.ok - 1] / 1e6 : 0);
	printf("connections=%" PRIu64 "\n", B.connections);
	printf("errors=%" PRIu64 "\n", B.errors);
	printf("tool_cpu_ms=%.0f\n", cpu_ms);
	printf("tool_cpu_pct=%.1f\n",
	    t_end > B.t_start ? cpu_ms * 1e8 / (double)(t_end - B.t_start) :
	    0.0);
}

/* Enough descriptors for every session plus stdio and the log. */
static void
raise_nofile(unsigned int sessions)
{
	struct rlimit rl;
	rlim_t need = (rlim_t)sessions + 16;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		die("getrlimit: %s", strerror(errno));
	if (rl.rlim_cur >= need)
		return;
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need)
		die("-s %u needs %llu file descriptors, the limit is %llu",
		    sessions, (unsigned long long)need,
		    (unsigned long long)rl.rlim_max);
	rl.rlim_cur = need;
	if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
		die("setrlimit: %s", strerror(errno));
}

int
main(int argc, char **argv)
{
	struct sess *ss;
	unsigned int i;
	uint64_t t_end;
	int failed;

	parse_opts(argc, argv);
	raise_nofile(B.o.sessions);
	resolve_target(B.o.target);
	build_commands();
	build_header();
	build_body();
	B.lat = xcalloc((size_t)B.o.messages, sizeof(*B.lat));
	if (B.o.idlog_path != NULL) {
		if ((B.idlog = fopen(B.o.idlog_path, "w")) == NULL)
			die("%s: %s", B.o.idlog_path, strerror(errno));
		if (setvbuf(B.idlog, NULL, _IOFBF, 65536) != 0)
			die("%s: setvbuf failed", B.o.idlog_path);
	}
	if ((B.epfd = epoll_create1(EPOLL_CLOEXEC)) == -1)
		die("epoll_create1: %s", strerror(errno));
	ss = xcalloc(B.o.sessions, sizeof(*ss));
	B.paceq = xcalloc(B.o.sessions, sizeof(*B.paceq));
	B.active = B.o.sessions;
	B.t_start = now_ns();
	for (i = 0; i < B.o.sessions; i++) {
		ss[i].id = i;
		ss[i].fd = -1;
		memcpy(ss[i].hdr, B.hdr_tmpl, B.hdrlen);
		sess_connect(&ss[i], B.t_start);
	}
	bench_loop(ss, B.o.sessions);
	t_end = now_ns();
	if (B.dead > 0)
		fprintf(stderr, "smtpbench: %u of %u sessions could not "
		    "connect to %s: %s\n", B.dead, B.o.sessions, B.o.target,
		    B.lastconn);
	bench_report(t_end);
	failed = B.ok != B.o.messages || B.failed != 0;
	if (B.idlog != NULL && (ferror(B.idlog) || fclose(B.idlog) != 0)) {
		fprintf(stderr, "smtpbench: %s: write error\n",
		    B.o.idlog_path);
		failed = 1;
	}
	if (fflush(stdout) != 0 || ferror(stdout))
		failed = 1;
	free(ss);
	return failed ? 1 : 0;
}
