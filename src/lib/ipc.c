/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * Framed IPC: see ipc.h. Frame = header (version, type, length) + payload,
 * in a single SEQPACKET datagram so frames never split or merge.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/ipc.h"

struct ipc_hdr {
	uint32_t	version;
	uint32_t	type;
	uint32_t	len;
};

int
ipc_send(int fd, enum ipc_type type, const void *p, size_t n)
{
	struct ipc_hdr h = { IPC_VERSION, (uint32_t)type, (uint32_t)n };
	struct iovec iov[2] = {
		{ &h, sizeof(h) }, { (void *)(uintptr_t)p, n },
	};
	struct msghdr msg = { .msg_iov = iov, .msg_iovlen = 2 };
	ssize_t r;

	if (n > IPC_MAX_PAYLOAD) {
		errno = EMSGSIZE;
		return -1;
	}
	do {
		r = sendmsg(fd, &msg, MSG_NOSIGNAL);
	} while (r == -1 && errno == EINTR);
	if (r == -1)
		return -1;
	if ((size_t)r != sizeof(h) + n) {
		errno = EPROTO;
		return -1;
	}
	return 1;
}

int
ipc_recv(int fd, int timeout_ms, enum ipc_type *type_r, struct buf *payload)
{
	unsigned char frame[sizeof(struct ipc_hdr) + IPC_MAX_PAYLOAD];
	struct pollfd pfd = { fd, POLLIN, 0 };
	struct ipc_hdr h;
	ssize_t r;

	buf_reset(payload);
	if (timeout_ms >= 0) {
		do {
			r = poll(&pfd, 1, timeout_ms);
		} while (r == -1 && errno == EINTR);
		if (r == -1)
			return -1;
		if (r == 0) {
			errno = timeout_ms ? ETIMEDOUT : EAGAIN;
			return -1;
		}
	}
	do {
		r = recv(fd, frame, sizeof(frame), MSG_TRUNC |
		    (timeout_ms >= 0 ? MSG_DONTWAIT : 0));
	} while (r == -1 && errno == EINTR);
	if (r == -1)
		return -1;
	if (r == 0)
		return 0;
	if ((size_t)r < sizeof(h) || (size_t)r > sizeof(frame))
		goto malformed;
	memcpy(&h, frame, sizeof(h));
	if (h.version != IPC_VERSION || h.type == 0 || h.type >= IPC_TYPE_MAX ||
	    h.len != (size_t)r - sizeof(h))
		goto malformed;
	if (buf_append(payload, frame + sizeof(h), h.len) == -1)
		goto malformed;
	*type_r = (enum ipc_type)h.type;
	return 1;
malformed:
	errno = EPROTO;
	return -1;
}

static int
ipc_addr(const char *path, struct sockaddr_un *sun)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if (snprintf(sun->sun_path, sizeof(sun->sun_path), "%s", path) >=
	    (int)sizeof(sun->sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 1;
}

int
ipc_connect(const char *path)
{
	struct sockaddr_un sun;
	int fd;

	if (ipc_addr(path, &sun) == -1)
		return -1;
	if ((fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		int e = errno;

		(void)close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

int
ipc_listen(const char *path)
{
	struct sockaddr_un sun;
	int fd;

	if (ipc_addr(path, &sun) == -1)
		return -1;
	if ((fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC |
	    SOCK_NONBLOCK, 0)) == -1)
		return -1;
	(void)unlink(path);	/* a stale socket from a previous run */
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1 ||
	    listen(fd, 128) == -1) {
		int e = errno;

		(void)close(fd);
		errno = e;
		return -1;
	}
	return fd;
}
