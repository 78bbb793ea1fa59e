#!/bin/bash
# SPDX-License-Identifier: ISC
# Copyright (c) 2026 The Estafeta developers
#
# Acceptance benchmark, run by `make bench` as: run.sh SRCDIR BUILDDIR
#
# For every run (sessions x messages x size) it starts the target SMTP
# server on a free loopback port, drives it with tests/bench/smtpbench,
# samples the CPU time and PSS of the target's whole process tree from
# /proc, stops the target and prints one line:
#
#   bench NAME sessions=S size=L messages=M msgs_per_sec=.. cpu_ms_per_msg=..
#     lat_p99_ms=.. pss_total_mib=.. pss_max_mib=.. failed=.. tool_cpu_pct=..
#     status=ok|FAIL
#
# cpu_ms_per_msg is the target tree's utime+stime (live processes plus the
# children they reaped) over the run divided by accepted messages;
# pss_total_mib is the summed Pss at the end of the run, pss_max_mib the
# largest sum seen while it ran; tool_cpu_pct is smtpbench's own CPU use in
# percent of one core, to show the load generator is not the bottleneck.
#
# Targets: estafetad (accepting into its queue), smtp-sink (the
# Postfix test server: a baseline for the tool itself) and, later, a
# Postfix relay for comparison (start_postfix_relay).
#
# Environment (all optional):
#   BENCH_TARGET       auto | estafetad | smtp-sink | postfix (default auto:
#                      estafetad if built and wired up, else smtp-sink)
#   BENCH_RUNS         "SESSIONS:MESSAGES:SIZE ..." (default: the project
#                      targets 10:10000:1024 50:10000:1024 10:2000:65536
#                      50:2000:65536)
#   BENCH_PORT         first loopback port to try (default 34625)
#   BENCH_PIPELINING   1 to pass -p to smtpbench (default 1)
#   BENCH_RATE         offered load in messages/s (smtpbench -q); default
#                      empty = as fast as the target accepts
#   BENCH_FROM, BENCH_RCPT   envelope addresses (bench@example.org,
#                      sink@example.com)
#   BENCH_IO_TIMEOUT   smtpbench -t, seconds per reply (default 30)
#   BENCH_RUN_TIMEOUT  smtpbench -T, seconds per run (default 600)
#   BENCH_SAMPLE_S     PSS sampling interval in seconds (default 0.2)
#   BENCH_LOG          results are appended here too
#                      (default BUILDDIR/bench-results.log)
#   BENCH_KEEP         1 keeps the work directory (logs, id lists)
#   SMTP_SINK          path of smtp-sink (default /usr/sbin/smtp-sink)
#   BENCH_ESTAFETAD    estafetad binary (default BUILDDIR/src/relay/estafetad;
#                      another build for A/B comparisons)
#   BENCH_SPOOL_SYNC   estafetad's spool_sync: group (default) or fsync
#   BENCH_WORKERS_MIN  estafetad's smtpd_workers_min (default 60)
#   BENCH_LOG_LEVEL    estafetad's log_level (default warn)
#   BENCH_LOOPFS       1 (default, root only): spool on a fresh journaled
#                      ext4 loop filesystem per run; 0: in the work dir
#   BENCH_SMTP_SOURCE  1 (default): also time Postfix's smtp-source, with a
#                      new connection per message and with reuse (-d)
#
#
# Delivery mode (BENCH_MODE=deliver, `make bench-deliver`): end-to-end
# relaying, smtp-source -> TARGET -> smtp-sink, for each target of
# BENCH_DELIVER_TARGETS in turn. The sink (not measured) counts the
# messages it receives (smtp-sink -c); one line per run:
#
#   bench-deliver NAME sessions=S size=L messages=M msgs_per_sec=..
#     accept_per_sec=.. cpu_ms_per_msg=.. pss_total_mib=.. pss_max_mib=..
#     drain_s=.. sink_cpu_ms_per_msg=.. source_cpu_ms_per_msg=..
#     machine_cpu_ms_per_msg=.. machine_busy_pct=.. status=ok|FAIL
#
# msgs_per_sec is M over the time from the first connection until the
# sink has counted all M; accept_per_sec M over smtp-source's own run;
# cpu_ms_per_msg the target tree's CPU from the start until its queue is
# empty again, over M. The sink's and smtp-source's CPU over M show what
# the two relays' runs share; machine_cpu_ms_per_msg is the CPU time of
# every process and kernel thread from the first connection until the
# sink has counted all M (over M), machine_busy_pct the part of both
# cores that was busy then: at ~100% the run is CPU-bound, and the rate
# is at most (cores x 1000 / machine_cpu_ms_per_msg). After each run
# spec the ratio estafetad/postfix of msgs_per_sec is printed
# ("bench-deliver ratio ..."). The Postfix relay
# is a private instance (its own config_directory and queue_directory
# under the work directory, loopback only, relayhost = the sink), started
# and stopped by this script; the system Postfix is never touched.
#   BENCH_DELIVER_TARGETS  default "estafetad postfix"
#   BENCH_DELIVER_RUNS     default "10:10000:1024 50:10000:1024
#                          10:2000:65536 50:2000:65536"
#   BENCH_SOURCE_OPTS      extra smtp-source options (e.g. -d to reuse
#                          connections; default: none, one per message)
#   BENCH_DELIVER_WORKERS  estafetad's deliver_workers (default 20)
#   BENCH_POSTFIX_PROCS    Postfix's default_process_limit (default 100)
#   BENCH_REPEAT           runs of each target per run spec, taken in
#                          turns (default 3); the ratio line then gives
#                          the quotient of the median rates and the range
#                          of the quotients of runs taken one after the
#                          other. Single runs on these 2-core machines
#                          vary by 10-20%.
#
# Drain mode (BENCH_MODE=drain, `make bench-drain`): delivery alone. For
# each SESSIONS:MESSAGES:SIZE of BENCH_DRAIN_RUNS (default "50:10000:1024
# 50:4000:65536") estafetad accepts the messages with deliver_workers = 0
# (smtp-source, SESSIONS sessions), stops, and starts again on the same
# spool with BENCH_DELIVER_WORKERS workers (default 20) relaying to a
# fresh smtp-sink; one line per run:
#
#   bench-drain estafetad workers=W size=L messages=M queued=Q
#     msgs_per_sec=.. cpu_ms_per_msg=.. status=ok|FAIL
#
# msgs_per_sec is M over the time from the restart until the sink has
# counted all M (startup included); cpu_ms_per_msg the relay's CPU from
# the restart until its queue is empty, over M.
#
# Exit status: 0 when every run accepted all its messages, 1 otherwise.

set -u

SRCDIR=${1:?usage: run.sh SRCDIR BUILDDIR}
BUILDDIR=${2:?usage: run.sh SRCDIR BUILDDIR}
SMTPBENCH=$BUILDDIR/tests/bench/smtpbench
ESTAFETAD=${BENCH_ESTAFETAD:-$BUILDDIR/src/relay/estafetad}

BENCH_TARGET=${BENCH_TARGET:-auto}
BENCH_RUNS=${BENCH_RUNS:-"10:10000:1024 50:10000:1024 \
10:2000:65536 50:2000:65536"}
BENCH_PORT=${BENCH_PORT:-34625}
BENCH_PIPELINING=${BENCH_PIPELINING:-1}
BENCH_RATE=${BENCH_RATE:-}
BENCH_FROM=${BENCH_FROM:-bench@example.org}
BENCH_RCPT=${BENCH_RCPT:-sink@example.com}
BENCH_IO_TIMEOUT=${BENCH_IO_TIMEOUT:-30}
BENCH_RUN_TIMEOUT=${BENCH_RUN_TIMEOUT:-600}
BENCH_SAMPLE_S=${BENCH_SAMPLE_S:-0.2}
BENCH_LOG=${BENCH_LOG:-$BUILDDIR/bench-results.log}
BENCH_KEEP=${BENCH_KEEP:-0}
SMTP_SINK=${SMTP_SINK:-/usr/sbin/smtp-sink}

CLK_TCK=$(getconf CLK_TCK)
TARGET_PID=		# root of the measured process tree
NEXTHOP_PID=		# helper servers, not measured
WORK=

log()
{
	echo "run.sh: $*" >&2
}

# ------------------------------------------------------------ processes

# Pids of ROOT and all its descendants, one per line.
proc_tree()
{
	cat /proc/[0-9]*/stat 2>/dev/null | awk -v root="$1" '
	{
		pid = $1; line = $0
		sub(/^.*\) /, "", line)	# comm may hold spaces
		split(line, f, " ")
		ppid[pid] = f[2]
	}
	END {
		if (!(root in ppid))
			exit
		tree[root] = 1
		for (changed = 1; changed && n < 64; n++) {
			changed = 0
			for (p in ppid)
				if (!(p in tree) && (ppid[p] in tree)) {
					tree[p] = 1
					changed = 1
				}
		}
		for (p in tree)
			print p
	}'
}

# "CPU_TICKS PSS_KB NPROCS" of ROOT's process tree.  CPU_TICKS counts
# utime+stime of the live processes plus cutime+cstime, i.e. the time of
# the children they have already reaped.
proc_sample()
{
	cat /proc/[0-9]*/stat 2>/dev/null | awk -v root="$1" '
	{
		pid = $1; line = $0
		sub(/^.*\) /, "", line)
		split(line, f, " ")
		ppid[pid] = f[2]
		cpu[pid] = f[12] + f[13] + f[14] + f[15]
	}
	END {
		if (!(root in ppid)) {
			print 0, 0, 0
			exit
		}
		tree[root] = 1
		for (changed = 1; changed && n < 64; n++) {
			changed = 0
			for (p in ppid)
				if (!(p in tree) && (ppid[p] in tree)) {
					tree[p] = 1
					changed = 1
				}
		}
		for (p in tree) {
			ticks += cpu[p]
			procs++
			file = "/proc/" p "/smaps_rollup"
			while ((getline l < file) > 0)
				if (l ~ /^Pss:/) {
					split(l, a, " ")
					pss += a[2]
				}
			close(file)
		}
		print ticks + 0, pss + 0, procs + 0
	}'
}

# Is something listening on 127.0.0.1/[::1]:PORT?  Reads /proc/net so the
# server does not see a probe connection.
port_listening()
{
	local hex f
	hex=$(printf '%04X' "$1")
	for f in /proc/net/tcp /proc/net/tcp6; do
		[ -r "$f" ] || continue
		awk -v p=":$hex" '$4 == "0A" &&
		    substr($2, length($2) - 4) == p { found = 1 }
		    END { exit !found }' "$f" && return 0
	done
	return 1
}

# Is 127.0.0.1/[::1]:PORT bound by any TCP socket (listening, connected
# or in TIME_WAIT)?  The default ports lie in the ephemeral range: after a
# run of thousands of connections one may be taken by a client socket,
# and bind(2) would fail.
port_in_use()
{
	local hex f
	hex=$(printf '%04X' "$1")
	for f in /proc/net/tcp /proc/net/tcp6; do
		[ -r "$f" ] || continue
		awk -v p=":$hex" 'substr($2, length($2) - 4) == p { found = 1 }
		    END { exit !found }' "$f" && return 0
	done
	return 1
}

# First port from $1 on that no socket uses (50 tries).
pick_port()
{
	local port=$1
	for _ in $(seq 50); do
		if ! port_in_use "$port"; then
			echo "$port"
			return 0
		fi
		port=$((port + 1))
	done
	log "no free port in $1..$port"
	return 1
}

# Wait up to 10 s for PID to listen on PORT.
wait_listen()
{
	local pid=$1 port=$2
	for _ in $(seq 200); do
		port_listening "$port" && return 0
		if ! kill -0 "$pid" 2>/dev/null; then
			log "process $pid exited before listening on port $port"
			return 1
		fi
		sleep 0.05
	done
	log "nothing listens on port $port after 10 s"
	return 1
}

# TERM PID (one we started) and wait up to 5 s for it; then KILL whatever
# is left of its process tree.
stop_tree()
{
	local pid=$1 tree p
	[ -n "$pid" ] || return 0
	tree=$(proc_tree "$pid")
	kill -TERM "$pid" 2>/dev/null
	for _ in $(seq 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	for p in $tree; do
		if kill -0 "$p" 2>/dev/null; then
			log "process $p outlived $pid: killing it"
			kill -KILL "$p" 2>/dev/null
		fi
	done
	wait "$pid" 2>/dev/null
	return 0
}

stop_target()
{
	stop_postfix_relay
	stop_tree "$TARGET_PID"
	TARGET_PID=
	stop_tree "$NEXTHOP_PID"
	NEXTHOP_PID=
}

# A fresh journaled ext4 filesystem (loop image) per run for the spool,
# when root: production-like sync costs, no interference from other
# dirty data on /, and no ext4 no-journal slowdowns after mass deletes
# (inode allocation skips recently deleted inodes). BENCH_LOOPFS=0 keeps
# the spool in the work directory instead.
SPOOLFS=
spoolfs_mount()
{
	local img=$WORK/spool.img
	[ -n "$SPOOLFS" ] && return 0	# mounted for this run already
	[ "${BENCH_LOOPFS:-1}" = 1 ] && [ "$(id -u)" = 0 ] || return 0
	mkdir -p "$WORK/spoolfs"
	if truncate -s 4G "$img" && mkfs.ext4 -q -F "$img" &&
	    mount -o loop "$img" "$WORK/spoolfs"; then
		SPOOLFS=$WORK/spoolfs
		chmod 755 "$SPOOLFS"
	else
		log "loop-mounted ext4 unavailable: spool on $(df --output=fstype "$WORK" | tail -1)"
	fi
}

spoolfs_umount()
{
	[ -n "$SPOOLFS" ] && umount "$SPOOLFS"
	SPOOLFS=
	rm -f "$WORK/spool.img"
}

cleanup()
{
	stop_target
	spoolfs_umount
	if [ -n "$WORK" ]; then
		if [ "$BENCH_KEEP" = 1 ]; then
			log "work directory kept: $WORK"
		else
			rm -rf "$WORK"
		fi
	fi
}

# The whole machine's busy and total CPU ticks so far (all CPUs, from
# /proc/stat: everything but idle and iowait is busy).
machine_busy()
{
	awk '/^cpu / { t = 0; for (i = 2; i <= NF; i++) t += $i
		print t - $5 - $6, t; exit }' /proc/stat
}

# The CPU seconds of the children in a file written by bash's "times".
times_children()
{
	awk 'NR == 2 { s = 0; for (i = 1; i <= 2; i++) {
		split($i, a, /[ms]/); s += a[1] * 60 + a[2] }
		printf "%.3f", s }' "$1" 2>/dev/null
}

# ------------------------------------------------------------ targets
# Each start_* function starts a server on 127.0.0.1:PORT in the
# background, sets TARGET_PID to the root of the process tree that is to
# be measured and returns once the port is listening.  Return 0 when
# running, 1 on failure, 2 when the target is not available (yet).

# smtp-sink itself (pid $1 of the started process in $2).
# spawn_smtp_sink PORT [OPTION...]
spawn_smtp_sink()
{
	local port=$1 uopt=
	shift
	if [ ! -x "$SMTP_SINK" ]; then
		log "$SMTP_SINK not found (Debian package postfix)"
		return 2
	fi
	# smtp-sink insists on -u when run as root, and fails with it otherwise.
	[ "$(id -u)" = 0 ] && uopt="-u $(id -un)"
	# -m: concurrent sessions it serves (default 256); backlog 1000.
	# shellcheck disable=SC2086
	"$SMTP_SINK" $uopt "$@" -m 1000 "127.0.0.1:$port" 1000 \
	    >"$WORK/smtp-sink.$port.log" 2>&1 &
	SPAWNED_PID=$!
	wait_listen "$SPAWNED_PID" "$port"
}

start_smtp_sink()
{
	local rc
	spawn_smtp_sink "$1"
	rc=$?
	TARGET_PID=$SPAWNED_PID
	return $rc
}

# A sink the relay under test delivers to; it is not part of the measured
# process tree.
start_nexthop_sink()
{
	local rc
	spawn_smtp_sink "$1" -c	# -c: counts messages (sink_count)
	rc=$?
	NEXTHOP_PID=$SPAWNED_PID
	return $rc
}

# start_estafetad PORT [SINKPORT]: accepting only, or (with SINKPORT)
# relaying everything to the sink on 127.0.0.1:SINKPORT.
start_estafetad()
{
	local port=$1 sinkport=${2:-} dir spool user="" deliver
	[ -x "$ESTAFETAD" ] || return 2
	dir=$WORK/estafetad.$port
	mkdir -p "$dir" || return 1
	chmod 755 "$WORK" "$dir"
	[ "$(id -u)" = 0 ] && user="run_user = estafeta"
	spoolfs_mount
	spool=${SPOOLFS:-$dir}/spool
	# Accept-only benchmark (issue: foundation): mail for BENCH_RCPT's
	# domain is accepted as relay_domains and stays queued. Enough
	# workers are kept ready for the largest session count.
	# Acceptance only: nothing is delivered, no DNS query leaves loopback.
	deliver="deliver_workers = 0"
	if [ -n "$sinkport" ]; then
		# Delivery benchmark: everything to the sink, no TLS (like
		# the Postfix relay it is compared with).
		deliver="deliver_workers = ${BENCH_DELIVER_WORKERS:-20}
relayhost = [127.0.0.1]:$sinkport
relayhost_tls = none
smtp_tls = none"
	fi
	cat >"$dir/estafetad.conf" <<CONF
hostname = bench.example.test
spool_dir = $spool
listen_mx = 127.0.0.1:$port
relay_domains = ${BENCH_RCPT#*@}
log_target = stderr
log_level = ${BENCH_LOG_LEVEL:-warn}
smtpd_workers_min = ${BENCH_WORKERS_MIN:-60}
smtpd_workers_max = 200
smtpd_sessions_per_worker = 100000
spool_sync = ${BENCH_SPOOL_SYNC:-group}
$deliver
dns_server = 127.0.0.1@9
$user
CONF
	"$ESTAFETAD" -f -c "$dir/estafetad.conf" >"$dir/stderr" 2>&1 &
	TARGET_PID=$!
	wait_listen "$TARGET_PID" "$port" || return 1
}

# ------------------------------------------------------------ postfix
# A private Postfix instance relaying everything to the sink: its own
# config_directory ($WORK/postfix.PORT) and queue_directory (on the
# loop filesystem, like estafetad's spool), listening on 127.0.0.1:PORT
# only, no local delivery. Needs root (Postfix drops to its own users).
# POSTFIX_DIR is its config directory while it runs.
POSTFIX_DIR=

# Is the system Postfix (default config directory) running?  The bench
# never starts or stops it; a running one would only distort the numbers.
system_postfix_running()
{
	local pid
	pid=$(tr -d " " 2>/dev/null </var/spool/postfix/pid/master.pid)
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

# start_postfix_relay PORT SINKPORT
start_postfix_relay()
{
	local port=$1 sinkport=${2:-} dir qdir pid
	if [ "$(id -u)" != 0 ] || [ ! -x /usr/sbin/postfix ]; then
		log "the Postfix relay needs root and /usr/sbin/postfix"
		return 2
	fi
	if [ -z "$sinkport" ]; then
		log "the Postfix relay is measured in BENCH_MODE=deliver only"
		return 2
	fi
	if system_postfix_running; then
		log "the system Postfix is running: stop it first (it would" \
		    "share the CPU); it is never touched by this script"
		return 1
	fi
	dir=$WORK/postfix.$port
	mkdir -p "$dir/etc" "$dir/data" && chown postfix "$dir/data" ||
	    return 1
	chmod 755 "$WORK" "$dir"
	spoolfs_mount
	qdir=${SPOOLFS:-$dir}/postfix
	mkdir -p "$qdir" && chmod 755 "$qdir" || return 1
	cp /etc/postfix/master.cf "$dir/etc/master.cf" &&
	    : >"$dir/etc/main.cf" || return 1
	# Relay only: every recipient goes to the sink; nothing is
	# delivered locally, nothing leaves loopback, no TLS, logs to
	# syslog as usual (discarded when there is no syslog daemon).
	postconf -c "$dir/etc" -e \
	    "compatibility_level = 3.6" \
	    "config_directory = $dir/etc" \
	    "queue_directory = $qdir" \
	    "data_directory = $dir/data" \
	    "mail_owner = postfix" \
	    "setgid_group = postdrop" \
	    "myhostname = postfix.bench.example.test" \
	    "mydomain = bench.example.test" \
	    "myorigin = \$myhostname" \
	    "mydestination =" \
	    "local_recipient_maps =" \
	    "local_transport = error:5.1.1 no local delivery" \
	    "alias_maps =" "alias_database =" \
	    "inet_interfaces = 127.0.0.1" \
	    "inet_protocols = ipv4" \
	    "mynetworks = 127.0.0.0/8" \
	    "relay_domains = ${BENCH_RCPT#*@}" \
	    "relayhost = [127.0.0.1]:$sinkport" \
	    "smtp_tls_security_level = none" \
	    "smtpd_tls_security_level = none" \
	    "smtp_dns_support_level = disabled" \
	    "default_process_limit = ${BENCH_POSTFIX_PROCS:-100}" \
	    "biff = no" || return 1
	# Only our SMTP listener, no chroot (no copies of /etc needed).
	postconf -c "$dir/etc" -M# smtp/inet submission/inet smtps/inet \
	    2>/dev/null
	postconf -c "$dir/etc" -M "127.0.0.1:$port/inet = 127.0.0.1:$port inet n - n - - smtpd" || return 1
	postconf -c "$dir/etc" -F '*/*/chroot = n' || return 1
	POSTFIX_DIR=$dir/etc
	if ! postfix -c "$dir/etc" start >"$dir/start.log" 2>&1; then
		log "postfix -c $dir/etc start failed (it logs to syslog;" \
		    "try 'postconf -c DIR -e maillog_file=/dev/stdout' and" \
		    "'postfix -c DIR start-fg' with BENCH_KEEP=1)"
		cat "$dir/start.log" >&2
		return 1
	fi
	for _ in $(seq 200); do
		pid=$(tr -d ' ' <"$qdir/pid/master.pid" 2>/dev/null)
		[ -n "$pid" ] && break
		sleep 0.05
	done
	if [ -z "$pid" ]; then
		log "no master.pid in $qdir/pid"
		return 1
	fi
	TARGET_PID=$pid
	wait_listen "$pid" "$port"
}

# Stops our Postfix (never the system one) and waits for its master.
stop_postfix_relay()
{
	local pid=$TARGET_PID
	[ -n "$POSTFIX_DIR" ] || return 0
	postfix -c "$POSTFIX_DIR" stop >/dev/null 2>&1
	for _ in $(seq 200); do
		if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then
			break
		fi
		sleep 0.05
	done
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		postfix -c "$POSTFIX_DIR" abort >/dev/null 2>&1
		stop_tree "$pid"	# not our child: kills what is left
	fi
	POSTFIX_DIR=
	TARGET_PID=
	if system_postfix_running; then
		log "warning: the system Postfix is running now"
	fi
}

# start_target NAME PORT [SINKPORT]
start_target()
{
	case $1 in
	estafetad)	start_estafetad "$2" "${3:-}" ;;
	smtp-sink)	start_smtp_sink "$2" ;;
	postfix)	start_postfix_relay "$2" "${3:-}" ;;
	*)		log "unknown target: $1"; return 1 ;;
	esac
}

# ------------------------------------------------------------ benchmark

# Value of KEY in smtpbench's key=value output file.
kv()
{
	sed -n "s/^$1=//p" "$2" | head -n 1
}

# bench_one NAME PORT SESSIONS MESSAGES SIZE: one smtpbench run against
# the target already listening on PORT, measuring TARGET_PID's tree.
bench_one()
{
	local name=$1 port=$2 sessions=$3 messages=$4 size=$5
	local tag=$name.$sessions.$messages.$size
	local out=$WORK/smtpbench.$tag.out ids=$WORK/ids.$tag
	local samples=$WORK/samples.$tag stop=$WORK/stop.$tag
	local popt="" qopt="" rc cpu0 cpu1 pss_end procs ok failed ids_n status
	local max_samples sampler line

	[ "$BENCH_PIPELINING" = 1 ] && popt=-p
	[ -n "$BENCH_RATE" ] && qopt="-q $BENCH_RATE"
	read -r cpu0 _ _ < <(proc_sample "$TARGET_PID")

	# PSS sampler, bounded in samples; stops when $stop appears.
	max_samples=$(awk -v t="$BENCH_RUN_TIMEOUT" -v i="$BENCH_SAMPLE_S" \
	    'BEGIN { printf "%d", (t + 60) / i }')
	: >"$samples"
	(
		n=0
		while [ ! -e "$stop" ] && [ "$n" -lt "$max_samples" ]; do
			proc_sample "$TARGET_PID" >>"$samples"
			sleep "$BENCH_SAMPLE_S"
			n=$((n + 1))
		done
	) &
	sampler=$!

	# shellcheck disable=SC2086
	"$SMTPBENCH" -s "$sessions" -m "$messages" -l "$size" $popt $qopt \
	    -t "$BENCH_IO_TIMEOUT" -T "$BENCH_RUN_TIMEOUT" \
	    -f "$BENCH_FROM" -r "$BENCH_RCPT" -o "$ids" \
	    "127.0.0.1:$port" >"$out" 2>"$out.err"
	rc=$?
	read -r cpu1 pss_end procs < <(proc_sample "$TARGET_PID")
	: >"$stop"
	wait "$sampler"
	echo "$cpu1 $pss_end $procs" >>"$samples"

	ok=$(kv messages_ok "$out")
	failed=$(kv messages_failed "$out")
	ids_n=$(wc -l <"$ids" 2>/dev/null || echo 0)
	status=ok
	if [ "$rc" != 0 ] || [ "${ok:-0}" != "$messages" ] ||
	    [ "$ids_n" != "${ok:-0}" ]; then
		status=FAIL
		log "$tag: smtpbench exit $rc, ok=${ok:-?} ids=$ids_n:"
		head -n 20 "$out.err" >&2
	fi
	line=$(awk -v name="$name" -v s="$sessions" -v l="$size" \
	    -v m="$messages" -v ok="${ok:-0}" -v failed="${failed:-0}" \
	    -v rate="$(kv msgs_per_sec "$out")" \
	    -v p99="$(kv lat_p99_ms "$out")" \
	    -v toolcpu="$(kv tool_cpu_pct "$out")" \
	    -v ticks=$((cpu1 - cpu0)) -v hz="$CLK_TCK" -v pss="$pss_end" \
	    -v status="$status" -v rate_limit="$BENCH_RATE" '
	    { if ($2 > max) max = $2 }
	    END {
		printf "bench %s sessions=%s size=%s messages=%s " \
		    "msgs_per_sec=%s cpu_ms_per_msg=%.3f lat_p99_ms=%s " \
		    "pss_total_mib=%.1f pss_max_mib=%.1f failed=%s " \
		    "tool_cpu_pct=%s status=%s", name, s, l, m,
		    (rate == "" ? "0" : rate),
		    (ok > 0 ? ticks * 1000 / hz / ok : 0),
		    (p99 == "" ? "0" : p99), pss / 1024, max / 1024, failed,
		    (toolcpu == "" ? "0" : toolcpu), status
		if (rate_limit != "")
			printf " rate_limit=%s", rate_limit
		printf "\n"
	    }' "$samples")
	echo "$line"
	echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) $line" >>"$BENCH_LOG" 2>/dev/null
	[ "$status" = ok ]
}

# Which target to measure, resolving "auto".
# bench_smtp_source NAME PORT SESSIONS MESSAGES SIZE: Postfix's
# smtp-source against the same target, once with a new connection per
# message (its default) and once reusing connections (-d). Throughput
# only: smtp-source reports no latencies.
bench_smtp_source()
{
	local name=$1 port=$2 sessions=$3 messages=$4 size=$5 d t0 t1 rate
	for d in "" -d; do
		t0=$(date +%s.%N)
		# shellcheck disable=SC2086
		if ! /usr/sbin/smtp-source $d -s "$sessions" -m "$messages" \
		    -l "$size" -f "$BENCH_FROM" -t "$BENCH_RCPT" \
		    "127.0.0.1:$port" >/dev/null 2>&1; then
			log "smtp-source $d failed"
			return 1
		fi
		t1=$(date +%s.%N)
		rate=$(awk -v n="$messages" -v a="$t0" -v b="$t1" \
		    'BEGIN { printf "%.1f", n / (b - a) }')
		echo "bench $name client=smtp-source${d:+ reuse=yes}" \
		    "sessions=$sessions size=$size messages=$messages" \
		    "msgs_per_sec=$rate" | tee -a "$BENCH_LOG"
	done
}

# ------------------------------------------------------------ delivery

# Messages the next-hop sink on PORT has received so far: smtp-sink -c
# rewrites "sess=N quit=N mesg=N" after every final dot.
sink_count()
{
	tail -c 200 "$WORK/smtp-sink.$1.log" 2>/dev/null | tr '\r' '\n' |
	    sed -n 's/.*mesg=\([0-9][0-9]*\).*/\1/p' | tail -n 1
}

# Files still queued by the target (spool or Postfix queue).
queued_files()
{
	local d
	case $1 in
	estafetad) d="${SPOOLFS:-$WORK/estafetad.$2}/spool/queue \
${SPOOLFS:-$WORK/estafetad.$2}/spool/incoming" ;;
	postfix) d="${SPOOLFS:-$WORK/postfix.$2}/postfix/incoming \
${SPOOLFS:-$WORK/postfix.$2}/postfix/active \
${SPOOLFS:-$WORK/postfix.$2}/postfix/deferred \
${SPOOLFS:-$WORK/postfix.$2}/postfix/maildrop" ;;
	*) echo 0; return ;;
	esac
	# shellcheck disable=SC2086
	find $d -type f 2>/dev/null | wc -l
}

# bench_deliver_one NAME SESSIONS MESSAGES SIZE: starts a sink and the
# target relaying to it, sends with smtp-source, waits until the sink has
# counted every message and the target's queue is empty. Prints the
# result line; sets DELIVER_RATE.
DELIVER_RATE=
bench_deliver_one()
{
	local name=$1 sessions=$2 messages=$3 size=$4
	local tag=deliver.$name.$sessions.$messages.$size
	local samples=$WORK/samples.$tag stop=$WORK/stop.$tag
	local sinkport port sampler max_samples cpu0 cpu1 pss_end procs
	local t0 t1 t2 t3 n status=ok line deadline sink0 sink1 mach0 mach1

	DELIVER_RATE=
	sinkport=$(pick_port "$BENCH_PORT") || return 1
	start_nexthop_sink "$sinkport" || return 1
	port=$(pick_port $((sinkport + 1))) || return 1
	if ! start_target "$name" "$port" "$sinkport"; then
		log "cannot start $name on port $port"
		return 1
	fi
	read -r cpu0 _ _ < <(proc_sample "$TARGET_PID")
	max_samples=$(awk -v t="$BENCH_RUN_TIMEOUT" -v i="$BENCH_SAMPLE_S" \
	    'BEGIN { printf "%d", (t + 60) / i }')
	: >"$samples"
	(
		n=0
		while [ ! -e "$stop" ] && [ "$n" -lt "$max_samples" ]; do
			proc_sample "$TARGET_PID" >>"$samples"
			sleep "$BENCH_SAMPLE_S"
			n=$((n + 1))
		done
	) &
	sampler=$!
	read -r sink0 _ _ < <(proc_sample "$NEXTHOP_PID")
	mach0=$(machine_busy)
	t0=$(date +%s.%N)
	# The subshell's "times" gives smtp-source's CPU (its children's).
	# shellcheck disable=SC2086
	if ! (/usr/sbin/smtp-source ${BENCH_SOURCE_OPTS:-} -s "$sessions" \
	    -m "$messages" -l "$size" -f "$BENCH_FROM" -t "$BENCH_RCPT" \
	    "127.0.0.1:$port" >"$WORK/smtp-source.$tag" 2>&1 && times) \
	    >"$WORK/times.$tag"; then
		log "$tag: smtp-source failed:"
		tail -n 5 "$WORK/smtp-source.$tag" >&2
		status=FAIL
	fi
	t1=$(date +%s.%N)
	deadline=$(( $(date +%s) + BENCH_RUN_TIMEOUT ))
	while :; do
		n=$(sink_count "$sinkport")
		[ "${n:-0}" -ge "$messages" ] && break
		if [ "$(date +%s)" -ge "$deadline" ]; then
			log "$tag: the sink counted ${n:-0} of $messages"
			status=FAIL
			break
		fi
		sleep 0.02
	done
	t2=$(date +%s.%N)
	mach1=$(machine_busy)
	read -r sink1 _ _ < <(proc_sample "$NEXTHOP_PID")
	# CPU until the target's queue is empty (removal is part of the work).
	while [ "$(queued_files "$name" "$port")" != 0 ] &&
	    [ "$(date +%s)" -lt "$deadline" ]; do
		sleep 0.05
	done
	t3=$(date +%s.%N)
	read -r cpu1 pss_end procs < <(proc_sample "$TARGET_PID")
	: >"$stop"
	wait "$sampler"
	echo "$cpu1 $pss_end $procs" >>"$samples"
	stop_target
	spoolfs_umount
	line=$(awk -v name="$name" -v s="$sessions" -v l="$size" \
	    -v m="$messages" -v t0="$t0" -v t1="$t1" -v t2="$t2" -v t3="$t3" \
	    -v ticks=$((cpu1 - cpu0)) -v hz="$CLK_TCK" -v pss="$pss_end" \
	    -v sink=$((sink1 - sink0)) -v src="$(times_children \
	    "$WORK/times.$tag")" -v mach="$mach0 $mach1" \
	    -v status="$status" -v opts="${BENCH_SOURCE_OPTS:-}" '
	    { if ($2 > max) max = $2 }
	    END {
		split(mach, b, " ")
		printf "bench-deliver %s sessions=%s size=%s messages=%s " \
		    "msgs_per_sec=%.1f accept_per_sec=%.1f cpu_ms_per_msg=%.3f " \
		    "pss_total_mib=%.1f pss_max_mib=%.1f drain_s=%.2f " \
		    "sink_cpu_ms_per_msg=%.3f source_cpu_ms_per_msg=%.3f " \
		    "machine_cpu_ms_per_msg=%.3f machine_busy_pct=%.0f " \
		    "status=%s", name, s, l, m, m / (t2 - t0), m / (t1 - t0),
		    ticks * 1000 / hz / m, pss / 1024, max / 1024, t3 - t2,
		    sink * 1000 / hz / m, src * 1000 / m,
		    (b[3] - b[1]) * 1000 / hz / m,
		    100 * (b[3] - b[1]) / (b[4] - b[2]), status
		if (opts != "")
			printf " source_opts=\"%s\"", opts
		printf "\n"
	    }' "$samples")
	echo "$line"
	echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) $line" >>"$BENCH_LOG" 2>/dev/null
	[ "$status" = ok ] || return 1
	DELIVER_RATE=$(echo "$line" | sed -n 's/.* msgs_per_sec=\([0-9.]*\).*/\1/p')
}

# deliver_ratio SESSIONS SIZE "EST_RATES" "PFX_RATES": the ratio line. With
# one run per target it is their quotient; with BENCH_REPEAT runs, the
# quotient of the medians, and the smallest and largest quotient of runs
# made one after the other (estafetad, then Postfix).
deliver_ratio()
{
	awk -v s="$1" -v l="$2" -v e="$3" -v p="$4" '
	function median(a, n,   i, j, t) {
		for (i = 2; i <= n; i++)
			for (j = i; j > 1 && a[j - 1] > a[j]; j--) {
				t = a[j]; a[j] = a[j - 1]; a[j - 1] = t
			}
		return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
	}
	BEGIN {
		ne = split(e, er, " "); np = split(p, pr, " ")
		lo = -1
		for (i = 1; i <= ne && i <= np; i++) {
			r = er[i] / pr[i]
			if (lo < 0 || r < lo) lo = r
			if (r > hi) hi = r
		}
		printf "bench-deliver ratio sessions=%s size=%s " \
		    "estafetad/postfix=%.2f", s, l, median(er, ne) / median(pr, np)
		if (ne > 1)
			printf " runs=%d median_msgs_per_sec=%.1f/%.1f " \
			    "pair_min=%.2f pair_max=%.2f", ne, median(er, ne),
			    median(pr, np), lo, hi
		printf "\n"
	}'
}

bench_deliver_main()
{
	local spec sessions messages size target fails=0 runs=0 rate
	local est pfx rep
	BENCH_REPEAT=${BENCH_REPEAT:-3}
	BENCH_DELIVER_TARGETS=${BENCH_DELIVER_TARGETS:-"estafetad postfix"}
	BENCH_DELIVER_RUNS=${BENCH_DELIVER_RUNS:-"10:10000:1024 \
50:10000:1024 10:2000:65536 50:2000:65536"}
	if [ ! -x /usr/sbin/smtp-source ] || [ ! -x "$SMTP_SINK" ]; then
		log "smtp-source and smtp-sink are needed (Debian: postfix)"
		return 1
	fi
	log "delivery benchmark: targets $BENCH_DELIVER_TARGETS; load:" \
	    "$(cut -d' ' -f1-3 /proc/loadavg)"
	for spec in $BENCH_DELIVER_RUNS; do
		IFS=: read -r sessions messages size <<<"$spec"
		est=''
		pfx=''
		for rep in $(seq 1 "$BENCH_REPEAT"); do
			for target in $BENCH_DELIVER_TARGETS; do
				runs=$((runs + 1))
				if bench_deliver_one "$target" "$sessions" \
				    "$messages" "$size"; then
					rate=$DELIVER_RATE
					[ "$target" = estafetad ] && est="$est $rate"
					[ "$target" = postfix ] && pfx="$pfx $rate"
				else
					fails=$((fails + 1))
					stop_target
					spoolfs_umount
				fi
			done
		done
		if [ -n "$est" ] && [ -n "$pfx" ]; then
			line=$(deliver_ratio "$sessions" "$size" "$est" "$pfx")
			echo "$line"
			echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) $line" \
			    >>"$BENCH_LOG" 2>/dev/null
		fi
	done
	log "$runs delivery runs, $fails failed; load now:" \
	    "$(cut -d' ' -f1-3 /proc/loadavg); results also in $BENCH_LOG"
	[ "$fails" = 0 ]
}

# ------------------------------------------------------------ drain

# bench_drain_one SESSIONS MESSAGES SIZE: delivery alone. estafetad
# accepts MESSAGES (smtp-source, SESSIONS sessions) with deliver_workers
# = 0, stops, and starts again on the same spool with delivery on, to a
# fresh sink; timed from that start until the sink has counted them all.
bench_drain_one()
{
	local sessions=$1 messages=$2 size=$3 sinkport port cpu0 cpu1
	local t0 t1 n status=ok deadline line queued
	local tag=drain.$sessions.$messages.$size

	sinkport=$(pick_port "$BENCH_PORT") || return 1
	port=$(pick_port $((sinkport + 1))) || return 1
	if ! start_estafetad "$port"; then
		log "$tag: cannot start estafetad"
		return 1
	fi
	if ! /usr/sbin/smtp-source -s "$sessions" -m "$messages" -l "$size" \
	    -f "$BENCH_FROM" -t "$BENCH_RCPT" "127.0.0.1:$port" \
	    >"$WORK/smtp-source.$tag" 2>&1; then
		log "$tag: smtp-source failed"
		return 1
	fi
	stop_target
	queued=$(queued_files estafetad "$port")
	start_nexthop_sink "$sinkport" || return 1
	t0=$(date +%s.%N)
	if ! start_estafetad "$port" "$sinkport"; then
		log "$tag: cannot restart estafetad"
		return 1
	fi
	read -r cpu0 _ _ < <(proc_sample "$TARGET_PID")
	deadline=$(( $(date +%s) + BENCH_RUN_TIMEOUT ))
	while :; do
		n=$(sink_count "$sinkport")
		[ "${n:-0}" -ge "$messages" ] && break
		if [ "$(date +%s)" -ge "$deadline" ]; then
			log "$tag: the sink counted ${n:-0} of $messages"
			status=FAIL
			break
		fi
		sleep 0.02
	done
	t1=$(date +%s.%N)
	while [ "$(queued_files estafetad "$port")" != 0 ] &&
	    [ "$(date +%s)" -lt "$deadline" ]; do
		sleep 0.05
	done
	read -r cpu1 _ _ < <(proc_sample "$TARGET_PID")
	stop_target
	spoolfs_umount
	line=$(awk -v s="$sessions" -v l="$size" -v m="$messages" \
	    -v q="$queued" -v w="${BENCH_DELIVER_WORKERS:-20}" -v t0="$t0" \
	    -v t1="$t1" -v ticks=$((cpu1 - cpu0)) -v hz="$CLK_TCK" \
	    -v status="$status" 'BEGIN {
		printf "bench-drain estafetad workers=%s size=%s messages=%s " \
		    "queued=%s msgs_per_sec=%.1f cpu_ms_per_msg=%.3f " \
		    "status=%s\n", w, l, m, q, m / (t1 - t0),
		    ticks * 1000 / hz / m, status }')
	echo "$line"
	echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) $line" >>"$BENCH_LOG" 2>/dev/null
	[ "$status" = ok ]
}

bench_drain_main()
{
	local spec sessions messages size fails=0 runs=0
	BENCH_DRAIN_RUNS=${BENCH_DRAIN_RUNS:-"50:10000:1024 50:4000:65536"}
	if [ ! -x /usr/sbin/smtp-source ] || [ ! -x "$SMTP_SINK" ]; then
		log "smtp-source and smtp-sink are needed (Debian: postfix)"
		return 1
	fi
	for spec in $BENCH_DRAIN_RUNS; do
		IFS=: read -r sessions messages size <<<"$spec"
		runs=$((runs + 1))
		if ! bench_drain_one "$sessions" "$messages" "$size"; then
			fails=$((fails + 1))
			stop_target
			spoolfs_umount
		fi
	done
	log "$runs drain runs, $fails failed; results also in $BENCH_LOG"
	[ "$fails" = 0 ]
}

choose_target()
{
	case $BENCH_TARGET in
	auto)
		if [ -x "$ESTAFETAD" ]; then
			echo estafetad
		else
			log "estafetad not built: measuring smtp-sink" \
			    "(baseline for the load generator)"
			echo smtp-sink
		fi
		;;
	*)
		echo "$BENCH_TARGET"
		;;
	esac
}

main()
{
	local target port spec sessions messages size rc fails=0 runs=0

	if [ "${BENCH_MODE:-accept}" = accept ] && [ ! -x "$SMTPBENCH" ]; then
		log "$SMTPBENCH missing: run 'make tests/bench/smtpbench'"
		exit 1
	fi
	WORK=$(mktemp -d "${TMPDIR:-/tmp}/estafeta-bench.XXXXXX") || exit 1
	trap cleanup EXIT
	trap 'exit 1' INT TERM
	mkdir -p "$(dirname "$BENCH_LOG")" 2>/dev/null
	if [ "${BENCH_MODE:-accept}" = deliver ]; then
		bench_deliver_main
		exit $?
	fi
	if [ "${BENCH_MODE:-accept}" = drain ]; then
		bench_drain_main
		exit $?
	fi
	target=$(choose_target)
	port=$BENCH_PORT
	log "srcdir=$SRCDIR builddir=$BUILDDIR target=$target" \
	    "$(nproc) cpus, $(uname -r)"

	for spec in $BENCH_RUNS; do
		IFS=: read -r sessions messages size <<<"$spec"
		port=$(pick_port "$port") || exit 1
		start_target "$target" "$port"
		rc=$?
		if [ "$rc" = 2 ] && [ "$BENCH_TARGET" = auto ] &&
		    [ "$target" = estafetad ]; then
			log "estafetad is built but start_estafetad is not" \
			    "wired up yet: measuring smtp-sink instead"
			stop_target
			target=smtp-sink
			start_target "$target" "$port"
			rc=$?
		fi
		if [ "$rc" != 0 ]; then
			log "cannot start $target on port $port"
			stop_target
			exit 1
		fi
		runs=$((runs + 1))
		bench_one "$target" "$port" "$sessions" "$messages" "$size" ||
		    fails=$((fails + 1))
		if [ "${BENCH_SMTP_SOURCE:-1}" = 1 ] && [ -x /usr/sbin/smtp-source ]
		then
			bench_smtp_source "$target" "$port" "$sessions" \
			    "$messages" "$size" || fails=$((fails + 1))
		fi
		stop_target
		spoolfs_umount
		port=$((port + 2))	# +1 may be the next hop
	done
	log "$runs runs, $fails failed; results also in $BENCH_LOG"
	[ "$fails" = 0 ]
}

main "$@"
