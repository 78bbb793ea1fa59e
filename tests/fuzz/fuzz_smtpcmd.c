/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * libFuzzer target for the SMTP command parser (smtpd_cmd). Splits the
 * input into verb and argument, then parses the argument (and, so that the
 * fuzzer need not find "MAIL " first, the whole input) as MAIL and as RCPT
 * with SMTPUTF8 off and on, and decodes the input as xtext. Checks the
 * promises: a failure always carries an "NNN N.N.N text" reply and leaves
 * nothing allocated, a success has an address, SMTPUTF8 only when allowed,
 * and turning SMTPUTF8 on never rejects or changes what was accepted
 * without it. Any broken promise aborts; everything is freed.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/addr.h"
#include "relay/smtpd_cmd.h"
#include "relay/spool.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
check(int cond)
{
	if (!cond)
		abort();
}

static int
streq(const char *x, const char *y)
{
	if (x == NULL || y == NULL)
		return x == y;
	return strcmp(x, y) == 0;
}

static int
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* "NNN N.N.N text": a permanent error with an enhanced status code. */
static void
check_reply(const char *r)
{
	check(r != NULL && strlen(r) > 10);
	check((r[0] == '5') && is_digit(r[1]) && is_digit(r[2]) &&
	    r[3] == ' ' && r[4] == '5' && r[5] == '.' && is_digit(r[6]) &&
	    r[7] == '.' && is_digit(r[8]) && r[9] == ' ');
}

static void
check_xtext(const char *s)
{
	for (; s != NULL && *s != '\0'; s++)
		check((unsigned char)*s >= ' ' && *s != 0x7f);
}

static void
check_cmd(const struct smtp_path_cmd *c, int is_mail, int utf8_ok)
{
	check(c->addr != NULL && c->addr->local != NULL);
	check(c->auth == NULL || is_mail);	/* MAIL's AUTH= (RFC 4954) */
	check_xtext(c->auth);
	check_xtext(c->envid);
	check_xtext(c->orcpt);
	if (is_mail) {
		check(c->notify == 0 && c->orcpt == NULL);
		check(c->size >= -1);
		check(c->body >= -1 && c->body <= SPOOL_BODY_8BITMIME);
		check(c->ret >= SPOOL_RET_NONE && c->ret <= SPOOL_RET_HDRS);
		check(!c->smtputf8 || utf8_ok);
		if (c->addr->flags & ADDR_UTF8)
			check(c->smtputf8);
		check(c->envid == NULL || strlen(c->envid) <= 100);
	} else {
		check(c->size == -1 && c->body == -1 && !c->smtputf8 &&
		    c->ret == 0 && c->envid == NULL);
		check(!(c->addr->flags & ADDR_NULL));
		check(c->notify <= 15);
		if (c->notify & SPOOL_NOTIFY_NEVER)
			check(c->notify == SPOOL_NOTIFY_NEVER);
		check(c->orcpt == NULL || strchr(c->orcpt, ';') != NULL);
		if (c->addr->flags & ADDR_UTF8)
			check(utf8_ok);
	}
}

static int
same(const struct smtp_path_cmd *x, const struct smtp_path_cmd *y)
{
	return streq(x->addr->local, y->addr->local) &&
	    streq(x->addr->domain, y->addr->domain) &&
	    x->addr->flags == y->addr->flags && x->size == y->size &&
	    x->body == y->body && x->smtputf8 == y->smtputf8 &&
	    x->ret == y->ret && streq(x->envid, y->envid) &&
	    streq(x->auth, y->auth) &&
	    x->notify == y->notify && streq(x->orcpt, y->orcpt);
}

static void
path_all(const char *arg, size_t len)
{
	struct smtp_path_cmd c[2];
	const char *reply;
	int is_mail, utf8, r[2];

	for (is_mail = 0; is_mail <= 1; is_mail++) {
		for (utf8 = 0; utf8 <= 1; utf8++) {
			reply = NULL;
			r[utf8] = smtpd_cmd_path(arg, len, is_mail, utf8,
			    &c[utf8], &reply);
			if (r[utf8] == 1)
				check_cmd(&c[utf8], is_mail, utf8);
			else {
				check(r[utf8] == -1);
				check_reply(reply);
				check(c[utf8].addr == NULL &&
				    c[utf8].envid == NULL &&
				    c[utf8].auth == NULL &&
				    c[utf8].orcpt == NULL);
			}
		}
		if (r[0] == 1)
			check(r[1] == 1 && same(&c[0], &c[1]));
		for (utf8 = 0; utf8 <= 1; utf8++)
			if (r[utf8] == 1) {
				smtpd_cmd_path_free(&c[utf8]);
				check(c[utf8].addr == NULL);
			}
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data, *arg;
	char verb[SMTP_VERB_MAX], *x;
	size_t alen, i;

	if (smtpd_cmd_split(s, size, verb, &arg, &alen) == 1) {
		check(strlen(verb) >= 1 && strlen(verb) < SMTP_VERB_MAX);
		for (i = 0; verb[i] != '\0'; i++)
			check(verb[i] >= 'A' && verb[i] <= 'Z');
		check(arg >= s && arg + alen == s + size);
		path_all(arg, alen);
	} else {
		/* Only for a missing, overlong or non-alphabetic verb. */
		int bad = 0;

		for (i = 0; i < size && s[i] != ' '; i++)
			if (!((s[i] >= 'a' && s[i] <= 'z') ||
			    (s[i] >= 'A' && s[i] <= 'Z')))
				bad = 1;
		check(i == 0 || i >= SMTP_VERB_MAX || bad);
	}
	path_all(s, size);

	if ((x = smtpd_xtext_decode(s, size)) != NULL) {
		check(strlen(x) <= size);
		check_xtext(x);
		free(x);
	}
	return 0;
}
