/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * Framed, typed messages between estafeta processes over SOCK_SEQPACKET
 * unix sockets (one frame per packet). Every frame carries the protocol
 * version; a frame with the wrong version, an unknown type or a bad length
 * is malformed and the receiver drops the peer.
 */
#ifndef EST_IPC_H
#define EST_IPC_H

#include <stddef.h>
#include <stdint.h>

struct buf;

#define IPC_VERSION	1
#define IPC_MAX_PAYLOAD	65536

enum ipc_type {
	IPC_COMMIT = 1,		/* smtpd -> qmgr: make <id> durable, queue it */
	IPC_COMMIT_OK,		/* qmgr -> smtpd: <id> is durable */
	IPC_COMMIT_FAIL,	/* qmgr -> smtpd: "<id> <reason>" */
	IPC_NOTIFY,		/* smtpd -> qmgr: <id> already durable, index it */
	IPC_DELIVER_READY,	/* delivery worker -> qmgr: give me jobs */
	IPC_JOB,		/* qmgr -> worker: "id\ndomain\nidx idx ..." */
	IPC_JOB_DONE,		/* worker -> qmgr: "id\n" + one line per rcpt */
	IPC_CTL,		/* estafetactl -> qmgr: "flush [id]" */
	IPC_CTL_REPLY,		/* qmgr -> estafetactl: text */
	IPC_DELIVER_STOP,	/* worker -> qmgr: told to stop, exiting; the
				 * rest of its job is not done */
	IPC_TYPE_MAX,
};

/* Sends one frame. 1, or -1 with errno set. Blocks (local socket). */
int	ipc_send(int fd, enum ipc_type, const void *, size_t);
/*
 * Receives one frame into payload (reset first). 1 on a frame, 0 when the
 * peer closed, -1 on error (errno; EAGAIN on a non-blocking socket with
 * nothing to read; EPROTO for a malformed frame). timeout_ms < 0 waits
 * forever; 0 does not wait.
 */
int	ipc_recv(int fd, int timeout_ms, enum ipc_type *type_r,
	    struct buf *payload);

/* Connects a SEQPACKET socket to path; the fd, or -1 with errno. */
int	ipc_connect(const char *path);
/* Binds and listens at path (replacing a stale socket); fd or -1. */
int	ipc_listen(const char *path);

#endif
