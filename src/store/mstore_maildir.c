/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * Maildir files for the store (see mstore_priv.h): unique names
 * "<sec>.M<usec>P<pid>Q<n>R<rand>.<host>,S=<octets>,W=<crlf octets>", the
 * ":2,<letters>" flag suffix (D draft, F flagged, R answered, S seen,
 * T deleted; other letters are kept as found), LF <-> CRLF conversion and
 * durable delivery into tmp/. Nothing here touches the index.
 */
#include "config.h"

#include <sys/stat.h>
#include <sys/time.h>
#include <sys/uio.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "lib/buf.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "store/mstore.h"
#include "store/mstore_priv.h"

static const struct {
	char		 letter;
	uint32_t	 flag;
} md_letters[] = {
	{ 'D', MSG_DRAFT },
	{ 'F', MSG_FLAGGED },
	{ 'R', MSG_ANSWERED },
	{ 'S', MSG_SEEN },
	{ 'T', MSG_DELETED },
};
#define MD_NLETTERS	(sizeof(md_letters) / sizeof(md_letters[0]))

static uint32_t
md_letter_flag(char c)
{
	size_t i;

	for (i = 0; i < MD_NLETTERS; i++)
		if (md_letters[i].letter == c)
			return md_letters[i].flag;
	return 0;
}

size_t
md_base_len(const char *name)
{
	return strcspn(name, ":");
}

uint32_t
md_flags_of(const char *file)
{
	const char *info = strstr(file, ":2,");
	uint32_t f = 0;

	if (info == NULL)
		return 0;
	for (info += 3; *info != '\0'; info++)
		f |= md_letter_flag(*info);
	return f;
}

int
md_file_name(const char *base, const char *oldfile, uint32_t flags,
    char *out, size_t outsz)
{
	char letters[64];
	const char *info = oldfile ? strstr(oldfile, ":2,") : NULL;
	size_t n = 0, i;
	int c;

	/* Every letter, ours from flags and foreign ones kept, in order. */
	for (c = 33; c < 127; c++) {
		uint32_t f = md_letter_flag((char)c);
		int on = f != 0 ? (flags & f) != 0 :
		    info != NULL && strchr(info + 3, c) != NULL;

		if (on && n < sizeof(letters) - 1)
			letters[n++] = (char)c;
	}
	letters[n] = '\0';
	if (n == 0 && (oldfile == NULL || strncmp(oldfile, "new/", 4) == 0))
		i = (size_t)snprintf(out, outsz, "new/%s", base);
	else
		i = (size_t)snprintf(out, outsz, "cur/%s:2,%s", base, letters);
	return i < outsz ? 1 : -1;
}

/*
 * Both walk the lines with memchr (the hot path of RETR and FETCH BODY[]:
 * stored messages have LF line ends, so every line needs its CR). *cr
 * carries "the previous chunk ended with CR" across read() chunks.
 */
static size_t
crlf_count(const char *p, size_t n, int *cr)
{
	const char *q = p, *end = p + n, *nl;
	size_t out = n;

	while ((nl = memchr(q, '\n', (size_t)(end - q))) != NULL) {
		if (nl == p ? !*cr : nl[-1] != '\r')
			out++;
		q = nl + 1;
	}
	if (n > 0)
		*cr = end[-1] == '\r';
	return out;
}

int
md_crlf_append(struct buf *out, const char *p, size_t n, int *cr)
{
	const char *q = p, *end = p + n, *nl;
	size_t worst;
	char *w, *w0;
	int c0 = *cr;

	/* Room for the worst case (every octet a bare LF) when the buffer's
	 * limit allows, so one pass does it; else the exact size. */
	if (!size_add(n, n, &worst) || (w = buf_reserve(out, worst)) == NULL)
		if ((w = buf_reserve(out, crlf_count(p, n, &c0))) == NULL)
			return -1;
	w0 = w;
	while ((nl = memchr(q, '\n', (size_t)(end - q))) != NULL) {
		if (nl == p ? !*cr : nl[-1] != '\r') {
			memcpy(w, q, (size_t)(nl - q));
			w += nl - q;
			*w++ = '\r';
			q = nl;
		}
		memcpy(w, q, (size_t)(nl + 1 - q));
		w += nl + 1 - q;
		q = nl + 1;
	}
	memcpy(w, q, (size_t)(end - q));
	w += end - q;
	out->len += (size_t)(w - w0);
	out->data[out->len] = '\0';
	if (n > 0)
		*cr = end[-1] == '\r';
	return 1;
}

int
md_file_size(const char *path, uint64_t *size_r)
{
	char b[65536];
	ssize_t n;
	int fd, cr = 0;

	*size_r = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1)
		return -1;
	while ((n = read(fd, b, sizeof(b))) > 0)
		*size_r += crlf_count(b, (size_t)n, &cr);
	(void)close(fd);	/* read-only */
	return n == 0 ? 1 : -1;
}

static int
write_all(int fd, const char *p, size_t n)
{
	ssize_t w;

	while (n > 0) {
		if ((w = write(fd, p, n)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/*
 * The message is iov[0..iovcnt): pieces of one text (a CRLF may be split
 * between two). Both walks drop every CR that precedes an LF; a CR at a
 * piece's end waits for the next piece's first octet.
 */

/* Writes the text with every CR that precedes an LF removed. */
static int
write_lf(int fd, const struct iovec *iov, int iovcnt, size_t *stored_r)
{
	char b[65536];
	const char *d;
	size_t i, n = 0, len;
	int k, cr = 0;

	*stored_r = 0;
	for (k = 0; k < iovcnt; k++) {
		d = iov[k].iov_base;
		len = iov[k].iov_len;
		for (i = 0; i < len; i++) {
			if (cr && d[i] != '\n')
				b[n++] = '\r';	/* a CR kept after all */
			if (n == sizeof(b)) {
				if (write_all(fd, b, n) == -1)
					return -1;
				*stored_r += n;
				n = 0;
			}
			if ((cr = d[i] == '\r'))
				continue;
			b[n++] = d[i];
			if (n == sizeof(b)) {
				if (write_all(fd, b, n) == -1)
					return -1;
				*stored_r += n;
				n = 0;
			}
		}
	}
	if (cr)
		b[n++] = '\r';	/* room: n < sizeof(b) here */
	*stored_r += n;
	return write_all(fd, b, n);
}

/* One stored octet c, as md_crlf_append counts it after *last. */
static uint64_t
crlf_of(char c, char *last)
{
	uint64_t n = c == '\n' && *last != '\r' ? 2 : 1;

	*last = c;
	return n;
}

/* The size md_crlf_append gives for what write_lf stores. */
static uint64_t
lf_crlf_size(const struct iovec *iov, int iovcnt)
{
	const char *d;
	uint64_t n = 0;
	size_t i;
	int k, cr = 0;
	char last = '\0';

	for (k = 0; k < iovcnt; k++) {
		d = iov[k].iov_base;
		for (i = 0; i < iov[k].iov_len; i++) {
			if (cr && d[i] != '\n')
				n += crlf_of('\r', &last);
			if ((cr = d[i] == '\r'))
				continue;
			n += crlf_of(d[i], &last);
		}
	}
	return cr ? n + crlf_of('\r', &last) : n;
}

/* A new unique base name with S=stored and W=size, and its tmp/ path. */
static int
md_new_base(struct mstore *st, const char *dir, uint64_t stored,
    uint64_t size, char *base, size_t basesz, char *path, size_t pathsz)
{
	char host[64];
	struct timeval tv;
	uint32_t rnd = 0;
	size_t i;

	if (gethostname(host, sizeof(host)) == -1)
		(void)ms_strlcpy(host, "localhost", sizeof(host));
	host[sizeof(host) - 1] = '\0';
	for (i = 0; host[i] != '\0'; i++)
		if (host[i] == '/' || host[i] == ':' || host[i] == ',')
			host[i] = '_';
	(void)gettimeofday(&tv, NULL);
	if (RAND_bytes((unsigned char *)&rnd, sizeof(rnd)) != 1)
		rnd = (uint32_t)tv.tv_usec ^ (uint32_t)getpid();
	if ((size_t)snprintf(base, basesz, "%lld.M%06ldP%dQ%uR%08x.%s,S=%llu,"
	    "W=%llu", (long long)tv.tv_sec, (long)tv.tv_usec, (int)getpid(),
	    ++st->counter, rnd, host, (unsigned long long)stored,
	    (unsigned long long)size) >= basesz ||
	    (size_t)snprintf(path, pathsz, "%s/tmp/%s", dir, base) >= pathsz)
		return -1;
	return 0;
}

/* Copies in from off to its end into out; *end_r (may be NULL) gets the
 * offset reached. 0, or -1 with errno. */
static int
copy_range(int in, uint64_t off, int out, uint64_t *end_r)
{
	char b[65536];
	ssize_t n;

	while ((n = pread(in, b, sizeof(b), (off_t)off)) > 0) {
		if (write_all(out, b, (size_t)n) == -1)
			return -1;
		off += (uint64_t)n;
	}
	if (end_r != NULL)
		*end_r = off;
	return n == 0 ? 0 : -1;
}

/*
 * Creates path (0600; it must not exist), has fill(fd, arg) write it,
 * gives it the times ts and makes it durable. On any failure the file is
 * removed: 1, or -1 with *errstr_r.
 */
static int
md_write_new(struct mstore *st, const char *path, const struct timespec ts[2],
    int (*fill)(int, void *), void *arg, const char **errstr_r)
{
	int fd, e;

	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC |
	    O_NOFOLLOW, 0600)) == -1)
		return mstore_err(st, errstr_r, "create %s: %s", path,
		    strerror(errno));
	if (fill(fd, arg) == -1 || futimens(fd, ts) == -1 || fsync(fd) == -1) {
		e = errno;
		(void)close(fd);	/* failed anyway */
		(void)unlink(path);
		return mstore_err(st, errstr_r, "write %s: %s", path,
		    strerror(e));
	}
	if (close(fd) == -1) {
		(void)unlink(path);
		return mstore_err(st, errstr_r, "close: %s", strerror(errno));
	}
	return 1;
}

/* What md_deliver_tmp and md_spool_tmp write: the pieces with LF line
 * ends (stored gets their stored size), then the spool from off. */
struct md_fill {
	const struct iovec		*iov;
	int				 iovcnt;
	size_t				 stored;
	const struct mstore_spool	*sp;
	uint64_t			 off;
};

static int
md_fill(int fd, void *arg)
{
	struct md_fill *f = arg;
	uint64_t end;

	if (write_lf(fd, f->iov, f->iovcnt, &f->stored) == -1)
		return -1;
	if (f->sp == NULL)
		return 0;
	if (copy_range(f->sp->fd, f->off, fd, &end) == -1)
		return -1;
	if (end != f->sp->stored) {
		errno = EIO;	/* shorter than written */
		return -1;
	}
	return 0;
}

int
md_deliver_tmp(struct mstore *st, const char *dir, const struct iovec *iov,
    int iovcnt, time_t idate, char *base, size_t basesz, uint64_t *size_r,
    const char **errstr_r)
{
	char path[PATH_MAX];
	struct timespec ts[2];
	struct md_fill f = { iov, iovcnt, 0, NULL, 0 };
	uint64_t size;
	size_t stored, len = 0;
	int k;

	for (k = 0; k < iovcnt; k++)
		len += iov[k].iov_len;	/* pieces of one buffer's worth */
	size = lf_crlf_size(iov, iovcnt);
	if (md_new_base(st, dir, len, size, base, basesz, path,
	    sizeof(path)) == -1)
		return mstore_err(st, errstr_r, "store path too long");
	ts[0].tv_sec = ts[1].tv_sec = idate;
	ts[0].tv_nsec = ts[1].tv_nsec = 0;
	if (md_write_new(st, path, ts, md_fill, &f, errstr_r) == -1)
		return -1;
	stored = f.stored;
	/* S= is the stored size: fix the name if it differed from len. */
	if (stored != len) {
		char base2[NAME_MAX + 1], path2[PATH_MAX];

		if ((size_t)snprintf(base2, sizeof(base2), "%.*s,S=%zu,W=%llu",
		    (int)(strstr(base, ",S=") - base), base, stored,
		    (unsigned long long)size) >= sizeof(base2) ||
		    (size_t)snprintf(path2, sizeof(path2), "%s/tmp/%s", dir,
		    base2) >= sizeof(path2) || rename(path, path2) == -1) {
			(void)unlink(path);
			return mstore_err(st, errstr_r, "rename in tmp failed");
		}
		(void)ms_strlcpy(base, base2, basesz);
	}
	*size_r = size;
	return 1;
}

/* ------------------------------------------------------------ spool */

int
mstore_spool_open(struct mstore *st, struct mstore_spool **sp_r,
    const char **errstr_r)
{
	struct mstore_spool *sp;
	char base[NAME_MAX + 1];

	*sp_r = NULL;
	sp = xcalloc(1, sizeof(*sp));
	if (md_new_base(st, st->dir, 0, 0, base, sizeof(base), sp->path,
	    sizeof(sp->path)) == -1) {
		free(sp);
		return mstore_err(st, errstr_r, "store path too long");
	}
	/*
	 * A file without a name (O_TMPFILE) in the host's tmp/: a session
	 * that dies mid-DATA leaves nothing behind. It gets a name when it
	 * is linked into the host's folder. Where the file system has no
	 * O_TMPFILE, a named file in tmp/ (removed at the close).
	 */
	*strrchr(sp->path, '/') = '\0';	/* dir/tmp */
	sp->fd = open(sp->path, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	sp->path[strlen(sp->path)] = '/';
	if (sp->fd != -1)
		sp->anon = 1;
	else if ((sp->fd = open(sp->path, O_RDWR | O_CREAT | O_EXCL |
	    O_CLOEXEC | O_NOFOLLOW, 0600)) == -1) {
		free(sp);
		return mstore_err(st, errstr_r, "create spool: %s",
		    strerror(errno));
	}
	sp->buf = xmalloc(MSTORE_SPOOL_BUF);
	*sp_r = sp;
	return 1;
}

static int
spool_flush(struct mstore_spool *sp)
{
	if (write_all(sp->fd, sp->buf, sp->n) == -1)
		return -1;
	sp->n = 0;
	return 0;
}

/* One octet of the LF form, counted as md_crlf_append reads it back. */
static int
spool_put(struct mstore_spool *sp, char c)
{
	sp->buf[sp->n++] = c;
	sp->stored++;
	sp->size += crlf_of(c, &sp->last);
	return sp->n == MSTORE_SPOOL_BUF ? spool_flush(sp) : 0;
}

int
mstore_spool_write(struct mstore_spool *sp, const char *data, size_t len,
    const char **errstr_r)
{
	size_t i;

	/* As write_lf: a CR that precedes an LF is dropped. */
	for (i = 0; i < len; i++) {
		if (sp->cr && data[i] != '\n' && spool_put(sp, '\r') == -1)
			goto fail;
		if ((sp->cr = data[i] == '\r'))
			continue;
		if (spool_put(sp, data[i]) == -1)
			goto fail;
	}
	return 1;
fail:
	if (errstr_r != NULL)
		*errstr_r = strerror(errno);
	return -1;
}

void
mstore_spool_mark(struct mstore_spool *sp)
{
	ASSERT(!sp->cr);
	sp->mark_stored = sp->stored;
	sp->mark_size = sp->size;
}

int
mstore_spool_finish(struct mstore_spool *sp, const char **errstr_r)
{
	if ((sp->cr && spool_put(sp, '\r') == -1) || spool_flush(sp) == -1) {
		if (errstr_r != NULL)
			*errstr_r = strerror(errno);
		return -1;
	}
	sp->cr = 0;
	return 1;
}

void
mstore_spool_close(struct mstore_spool **spp)
{
	struct mstore_spool *sp = *spp;

	if (sp == NULL)
		return;
	*spp = NULL;
	(void)close(sp->fd);	/* nothing left to lose */
	if (!sp->anon)		/* copies are links or files of their own */
		(void)unlink(sp->path);
	free(sp->buf);
	free(sp);
}

/* Octets write_lf stores for the text. */
static size_t
lf_stored(const struct iovec *iov, int iovcnt)
{
	const char *d;
	size_t i, n = 0;
	int k, cr = 0;

	for (k = 0; k < iovcnt; k++) {
		d = iov[k].iov_base;
		for (i = 0; i < iov[k].iov_len; i++) {
			if (cr && d[i] != '\n')
				n++;
			if ((cr = d[i] == '\r'))
				continue;
			n++;
		}
	}
	return cr ? n + 1 : n;
}

/* Links the spool's file as dir/tmp/<new base>: 1, 0 when it cannot be
 * linked (another file system, no /proc...), -1. */
static int
spool_link(struct mstore *st, const char *dir, const struct mstore_spool *sp,
    char *base, size_t basesz, const char **errstr_r)
{
	char path[PATH_MAX], proc[64];
	int rc;

	if (md_new_base(st, dir, sp->stored, sp->size, base, basesz, path,
	    sizeof(path)) == -1)
		return mstore_err(st, errstr_r, "store path too long");
	if (sp->anon) {
		(void)snprintf(proc, sizeof(proc), "/proc/self/fd/%d", sp->fd);
		rc = linkat(AT_FDCWD, proc, AT_FDCWD, path,
		    AT_SYMLINK_FOLLOW);
	} else
		rc = link(sp->path, path);
	if (rc == -1)
		return 0;
	if (fsync(sp->fd) == -1) {
		(void)unlink(path);
		return mstore_err(st, errstr_r, "sync %s: %s", path,
		    strerror(errno));
	}
	return 1;
}

int
md_spool_tmp(struct mstore *st, const char *dir, const struct iovec *prefix,
    int n, const struct mstore_spool *sp, time_t idate, char *base,
    size_t basesz, uint64_t *size_r, const char **errstr_r)
{
	char path[PATH_MAX];
	struct timespec ts[2];
	uint64_t stored, size, off = sp->mark_stored;
	struct md_fill f;
	int rc;

	if (prefix == NULL) {
		/* The whole file: a link, else a copy of all of it. */
		*size_r = sp->size;
		if ((rc = spool_link(st, dir, sp, base, basesz,
		    errstr_r)) != 0)
			return rc;
		n = 0;
		off = 0;
		stored = sp->stored;
		size = sp->size;
	} else {
		stored = lf_stored(prefix, n) + (sp->stored -
		    sp->mark_stored);
		size = lf_crlf_size(prefix, n) + (sp->size - sp->mark_size);
	}
	if (md_new_base(st, dir, stored, size, base, basesz, path,
	    sizeof(path)) == -1)
		return mstore_err(st, errstr_r, "store path too long");
	ts[0].tv_sec = ts[1].tv_sec = idate;
	ts[0].tv_nsec = ts[1].tv_nsec = 0;
	f = (struct md_fill){ prefix, n, 0, sp, off };
	if (md_write_new(st, path, ts, md_fill, &f, errstr_r) == -1)
		return -1;
	*size_r = size;
	return 1;
}

/* Copies the file named by arg into fd (a hard link was not possible). */
static int
copy_into(int fd, void *arg)
{
	int in, r, e;

	if ((in = open(arg, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1)
		return -1;
	r = copy_range(in, 0, fd, NULL);
	e = errno;
	(void)close(in);	/* read-only */
	errno = e;
	return r;
}

int
md_link_tmp(struct mstore *st, const char *dir, const char *src,
    uint64_t size, char *base, size_t basesz, const char **errstr_r)
{
	char path[PATH_MAX];
	struct timespec ts[2];
	struct stat sb;
	int fd, e;

	if (stat(src, &sb) == -1) {
		if (errno == ENOENT)
			return 0;
		return mstore_err(st, errstr_r, "stat: %s", strerror(errno));
	}
	if (md_new_base(st, dir, (uint64_t)sb.st_size, size, base, basesz,
	    path, sizeof(path)) == -1)
		return mstore_err(st, errstr_r, "store path too long");
	if (link(src, path) == 0) {
		/* Durable as its source: sync it anyway (one that another
		 * program dropped in may not be yet; cheap when clean). */
		if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) ==
		    -1 || fsync(fd) == -1) {
			e = errno;
			if (fd != -1)
				(void)close(fd);	/* read-only */
			(void)unlink(path);
			return mstore_err(st, errstr_r, "sync %s: %s", path,
			    strerror(e));
		}
		(void)close(fd);	/* read-only */
		return 1;
	}
	if (errno == ENOENT)
		return 0;	/* renamed or removed meanwhile */
	/* EXDEV, EPERM, EMLINK...: a copy, written as a delivery is. */
	ts[0] = sb.st_atim;
	ts[1] = sb.st_mtim;	/* the internal date of an index rebuild */
	return md_write_new(st, path, ts, copy_into, (void *)src, errstr_r);
}

static int
find_in(const char *dir, const char *sub, const char *base, char *file_r,
    size_t filesz)
{
	char p[PATH_MAX];
	struct dirent *de;
	size_t bl = strlen(base);
	DIR *d;
	int found = 0;

	if ((size_t)snprintf(p, sizeof(p), "%s/%s", dir, sub) >= sizeof(p) ||
	    (d = opendir(p)) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		if (md_base_len(de->d_name) == bl &&
		    memcmp(de->d_name, base, bl) == 0 &&
		    (size_t)snprintf(file_r, filesz, "%s/%s", sub,
		    de->d_name) < filesz) {
			found = 1;
			break;
		}
	}
	(void)closedir(d);	/* read-only */
	return found;
}

int
md_find(const char *dir, const char *base, char *file_r, size_t filesz)
{
	/* cur/ after new/: a concurrent new->cur move is then not missed. */
	if (find_in(dir, "new", base, file_r, filesz))
		return 1;
	return find_in(dir, "cur", base, file_r, filesz);
}

static int
rmtree_at(int dfd)
{
	struct dirent *de;
	DIR *d;
	int rc = 0, fd;

	if ((d = fdopendir(dfd)) == NULL) {
		(void)close(dfd);
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (unlinkat(dirfd(d), de->d_name, 0) == 0) {
			md_test_unlinked();
			continue;
		}
		if (errno != EISDIR && errno != EPERM) {
			rc = -1;
			continue;
		}
		if ((fd = openat(dirfd(d), de->d_name, O_RDONLY |
		    O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) == -1 ||
		    rmtree_at(fd) == -1 ||
		    unlinkat(dirfd(d), de->d_name, AT_REMOVEDIR) == -1)
			rc = -1;
	}
	(void)closedir(d);	/* closes dfd */
	return rc;
}

/* A test-only crash point: SIGKILL at the Nth call, N from env var name
 * (read once into *left). */
static void
md_test_crash(const char *name, long *left)
{
	const char *e;

	if (*left == -1)
		*left = (e = getenv(name)) != NULL ? strtol(e, NULL, 10) : 0;
	if (*left > 0 && --*left == 0)
		(void)kill(getpid(), SIGKILL);
}

void
md_test_unlinked(void)
{
	static long left = -1;

	md_test_crash("BUZOND_TEST_CRASH_UNLINK", &left);
}

void
md_test_commit(void)
{
	static long left = -1;

	md_test_crash("BUZOND_TEST_CRASH_COMMIT", &left);
}

void
md_test_move(void)
{
	static long left = -1;

	md_test_crash("BUZOND_TEST_CRASH_MOVE", &left);
}

int
md_rmtree(const char *dir)
{
	int fd;

	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1)
		return errno == ENOENT ? 0 : -1;
	if (rmtree_at(fd) == -1)
		return -1;
	return rmdir(dir) == 0 || errno == ENOENT ? 0 : -1;
}

int
md_clean_tmp(const char *dir, time_t now)
{
	char path[PATH_MAX];
	struct dirent *de;
	struct stat sb;
	DIR *d;
	int fd, n = 0;

	if ((size_t)snprintf(path, sizeof(path), "%s/tmp", dir) >=
	    sizeof(path))
		return -1;
	if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1)
		return errno == ENOENT ? 0 : -1;
	if ((d = fdopendir(fd)) == NULL) {
		(void)close(fd);
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' || fstatat(fd, de->d_name, &sb,
		    AT_SYMLINK_NOFOLLOW) == -1 || !S_ISREG(sb.st_mode) ||
		    sb.st_mtime > now - MD_TMP_MAX_AGE)
			continue;
		if (unlinkat(fd, de->d_name, 0) == 0)
			n++;
	}
	(void)closedir(d);	/* closes fd */
	return n;
}
