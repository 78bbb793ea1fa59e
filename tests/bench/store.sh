#!/bin/bash
# SPDX-License-Identifier: ISC
# Copyright (c) 2026 The Estafeta developers
#
# Mail store benchmark, run by `make bench-store` as: store.sh SRCDIR BUILDDIR
#
# Makes two Maildirs once (STORE_POP_COUNT messages of STORE_POP_SIZE
# octets for pop@example.test; STORE_IMAP_COUNT small messages with full
# headers for imap@example.test), gives each server its own copy of them
# (both start from unindexed files in new/), and for each target (buzond,
# then Dovecot) starts the server on free loopback ports and measures with
# tests/bench/storebench.py:
#
#   pop3   LIST, then RETR of every message over one session: wall time,
#          messages/s (each reply's octet count is checked) and the CPU
#          time of the server's whole process tree per message (login and
#          LIST included; sessions are reaped, so their time counts);
#   imap   SELECT INBOX (indexes the new files), then FETCH 1:* ENVELOPE
#          twice: cold (envelopes parsed from the files) and warm (cached),
#          and CPU per message as for pop3 (over both FETCHes);
#   idle   STORE_IDLE_SESSIONS logged-in IMAP sessions with INBOX selected:
#          (PSS of the server's process tree with them - PSS before) / N,
#          the memory one more idle session costs.
#
# One line per target and measurement, then the Estafeta/Dovecot ratios
# (> 1: buzond faster; for memory, Dovecot's per-session PSS over buzond's,
# > 1: buzond smaller):
#
#   store buzond pop3_retr messages=1000 octets=.. wall_s=.. msgs_per_sec=..
#   store dovecot imap_fetch_envelope messages=10000 select_s=.. ...
#   store ratio pop3_retr=.. imap_fetch_cold=.. imap_fetch_warm=.. idle_pss=..
#
# Dovecot is Debian's dovecot-imapd + dovecot-pop3d (installed here when
# missing, as root, with services never started: policy-rc.d answers 101),
# run with its own configuration directory under the work directory,
# listening on 127.0.0.1 only, passwd-file authentication with the same
# yescrypt hashes as buzond's users database (a login costs both the
# same), mail_location pointing at its copy of the data. The system's Dovecot is never started
# (the script refuses to run when one is running, and checks after).
#
# Environment (all optional):
#   STORE_TARGETS          "buzond dovecot" (default; either alone works)
#   STORE_TESTS            "pop3 imap idle" (default; any subset)
#   STORE_POP_COUNT        1000        STORE_POP_SIZE   65536
#   STORE_IMAP_COUNT       10000       STORE_IDLE_SESSIONS 50
#   STORE_IDLE_COMMAND     run by each idle session after its SELECT,
#                          e.g. "UID FETCH 1:* (FLAGS)" (default: none)
#   STORE_PORT             first loopback port to try (default 36143)
#   STORE_KEEP             1 keeps the work directory
#   BENCH_LOG              results are appended here too
#                          (default BUILDDIR/bench-results.log)
#
# Exit status: 0 when every measurement completed, 1 otherwise.

set -u

SRCDIR=${1:?usage: store.sh SRCDIR BUILDDIR}
BUILDDIR=${2:?usage: store.sh SRCDIR BUILDDIR}
SRCDIR=$(cd "$SRCDIR" && pwd)
BUILDDIR=$(cd "$BUILDDIR" && pwd)
CLIENT="python3 $SRCDIR/tests/bench/storebench.py"
BUZOND=$BUILDDIR/src/store/buzond
ESTAFETACTL=$BUILDDIR/src/ctl/estafetactl

STORE_TARGETS=${STORE_TARGETS:-"buzond dovecot"}
STORE_TESTS=${STORE_TESTS:-"pop3 imap idle"}
STORE_POP_COUNT=${STORE_POP_COUNT:-1000}
STORE_POP_SIZE=${STORE_POP_SIZE:-65536}
STORE_IMAP_COUNT=${STORE_IMAP_COUNT:-10000}
STORE_IDLE_SESSIONS=${STORE_IDLE_SESSIONS:-50}
STORE_PORT=${STORE_PORT:-36143}
STORE_KEEP=${STORE_KEEP:-0}
BENCH_LOG=${BENCH_LOG:-$BUILDDIR/bench-results.log}
PASSWORD=bench-Pa55word
RUN_USER=estafeta
CLK_TCK=$(getconf CLK_TCK)

WORK=
SERVER_PID=
FAILED=0
declare -A RESULT

log()
{
	echo "store.sh: $*" >&2
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

# CPU ticks (utime+stime, plus cutime+cstime: children already reaped,
# such as finished sessions) of ROOT's process tree.
tree_cpu()
{
	local p sum=0 t
	for p in $(proc_tree "$1"); do
		t=$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null |
		    awk '{ print $12 + $13 + $14 + $15 }')
		sum=$((sum + ${t:-0}))
	done
	echo "$sum"
}

# Summed PSS in KiB of ROOT's process tree.
tree_pss()
{
	local p sum=0 kb
	for p in $(proc_tree "$1"); do
		kb=$(awk '/^Pss:/ { print $2 }' "/proc/$p/smaps_rollup" \
		    2>/dev/null)
		sum=$((sum + ${kb:-0}))
	done
	echo "$sum"
}

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

# PICKED = a port from $STORE_PORT on that nobody listens on; advances
# STORE_PORT past it (no subshell: the next call gets another port).
PICKED=
pick_port()
{
	local port=$STORE_PORT
	for _ in $(seq 50); do
		if ! port_listening "$port"; then
			STORE_PORT=$((port + 1))
			PICKED=$port
			return 0
		fi
		port=$((port + 1))
	done
	log "no free port near $STORE_PORT"
	return 1
}

wait_listen()
{
	local pid=$1 port=$2
	for _ in $(seq 400); do
		port_listening "$port" && return 0
		if ! kill -0 "$pid" 2>/dev/null; then
			log "process $pid exited before listening on $port"
			return 1
		fi
		sleep 0.05
	done
	log "nothing listens on port $port after 20 s"
	return 1
}

# TERM the server we started, wait up to 10 s, then KILL what is left.
stop_server()
{
	local tree p
	[ -n "$SERVER_PID" ] || return 0
	tree=$(proc_tree "$SERVER_PID")
	kill -TERM "$SERVER_PID" 2>/dev/null
	for _ in $(seq 200); do
		kill -0 "$SERVER_PID" 2>/dev/null || break
		sleep 0.05
	done
	for p in $tree; do
		kill -0 "$p" 2>/dev/null && kill -KILL "$p" 2>/dev/null
	done
	wait "$SERVER_PID" 2>/dev/null
	SERVER_PID=
}

cleanup()
{
	stop_server
	if [ -n "$WORK" ]; then
		if [ "$STORE_KEEP" = 1 ] || [ "$FAILED" != 0 ]; then
			log "work directory kept: $WORK"
		else
			rm -rf "$WORK"
		fi
	fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# ------------------------------------------------------------ data

make_data()
{
	log "making $STORE_POP_COUNT x $STORE_POP_SIZE and $STORE_IMAP_COUNT" \
	    "messages"
	$CLIENT gen-pop "$WORK/data/pop" "$STORE_POP_COUNT" \
	    "$STORE_POP_SIZE" || return 1
	$CLIENT gen-imap "$WORK/data/imap" "$STORE_IMAP_COUNT" || return 1
}

# The users database both servers authenticate against (buzond reads it,
# Dovecot gets its hashes in a passwd-file).
make_users()
{
	local u
	# estafetactl reads the relay's configuration for users_db.
	printf 'users_db = %s\nlisten_mx = 127.0.0.1:9\nspool_dir = %s\n' \
	    "$WORK/users.db" "$WORK/ctl-spool" >"$WORK/ctl.conf"
	for u in pop@example.test imap@example.test; do
		printf '%s\n' "$PASSWORD" | "$ESTAFETACTL" -c "$WORK/ctl.conf" \
		    user add "$u" >/dev/null || { log "user add $u failed";
		    return 1; }
	done
}

# Copies the data as user's maildirs under ROOT/example.test/.
copy_data()
{
	mkdir -p "$1/example.test" || return 1
	cp -a "$WORK/data/pop" "$1/example.test/pop" &&
	cp -a "$WORK/data/imap" "$1/example.test/imap" || return 1
	[ "$(id -u)" = 0 ] && chown -R "$RUN_USER:" "$1"
	return 0
}

# ------------------------------------------------------------ measures

# Is measurement $1 in STORE_TESTS?
want()
{
	case " $STORE_TESTS " in
	*" $1 "*) return 0 ;;
	esac
	return 1
}

record()
{
	local target=$1 line=$2
	echo "store $target $line" | tee -a "$BENCH_LOG"
}

# kv LINE KEY: the value of KEY=... in LINE.
kv()
{
	echo "$1" | tr ' ' '\n' | awk -F= -v k="$2" '$1 == k { print $2 }'
}

# "cpu_ms_per_msg=X": the server tree's CPU since T0 ticks over N messages
# (robust on a loaded machine, where wall time is not).
cpu_per_msg()
{
	local t1
	t1=$(tree_cpu "$SERVER_PID")
	awk -v a="$1" -v b="$t1" -v n="$2" -v hz="$CLK_TCK" \
	    'BEGIN { printf "cpu_ms_per_msg=%.3f", (b - a) * 1000 / hz / n }'
}

measure()
{
	local target=$1 pop_port=$2 imap_port=$3 out base pss fifo idle_pid t0
	if want pop3; then
		t0=$(tree_cpu "$SERVER_PID")
		if out=$($CLIENT pop3 "$pop_port" pop@example.test \
		    "$PASSWORD"); then
			sleep 0.2	# let the session's process be reaped
			out="$out $(cpu_per_msg "$t0" "$STORE_POP_COUNT")"
			record "$target" "$out"
			RESULT[$target.pop3]=$(kv "$out" msgs_per_sec)
		else
			FAILED=1
		fi
	fi
	t0=$(tree_cpu "$SERVER_PID")
	if want imap && out=$($CLIENT imap "$imap_port" imap@example.test \
	    "$PASSWORD"); then
		sleep 0.2	# let the session's process be reaped
		out="$out $(cpu_per_msg "$t0" "$((STORE_IMAP_COUNT * 2))")"
		record "$target" "$out"
		RESULT[$target.cold]=$(kv "$out" fetch_cold_msgs_per_sec)
		RESULT[$target.warm]=$(kv "$out" fetch_warm_msgs_per_sec)
	elif want imap; then
		FAILED=1
	fi
	want idle || return 0
	# Idle sessions: the PSS they add, per session.
	base=$(tree_pss "$SERVER_PID")
	fifo=$WORK/idle.fifo
	rm -f "$fifo" && mkfifo "$fifo" || return 1
	$CLIENT idle "$imap_port" imap@example.test "$PASSWORD" \
	    "$STORE_IDLE_SESSIONS" <"$fifo" >"$WORK/idle.out" &
	idle_pid=$!
	exec 9>"$fifo"
	for _ in $(seq 1200); do
		grep -q ready "$WORK/idle.out" 2>/dev/null && break
		kill -0 "$idle_pid" 2>/dev/null || break
		sleep 0.05
	done
	if grep -q ready "$WORK/idle.out" 2>/dev/null; then
		pss=$(tree_pss "$SERVER_PID")
		out="imap_idle sessions=$STORE_IDLE_SESSIONS"
		out="$out pss_before_kib=$base pss_with_kib=$pss"
		out="$out pss_per_session_kib=$(( (pss - base) /
		    STORE_IDLE_SESSIONS ))"
		record "$target" "$out"
		RESULT[$target.idle]=$(( (pss - base) / STORE_IDLE_SESSIONS ))
	else
		log "$target: idle sessions did not log in"
		FAILED=1
	fi
	exec 9>&-
	wait "$idle_pid" 2>/dev/null
}

# ------------------------------------------------------------ buzond

run_buzond()
{
	local dir=$WORK/buzond pop_port imap_port conf u
	if [ ! -x "$BUZOND" ]; then
		log "buzond: $BUZOND not built: skipped"
		FAILED=1
		return
	fi
	mkdir -p "$dir" && copy_data "$dir/store" || { FAILED=1; return; }
	pick_port && pop_port=$PICKED && pick_port && imap_port=$PICKED ||
	    { FAILED=1; return; }
	conf=$dir/buzond.conf
	cat >"$conf" <<EOF
hostname = store.example.test
store_root = $dir/store
users_db = $dir/users.db
listen_lmtp = $dir/lmtp.sock
listen_pop3 = 127.0.0.1:$pop_port
listen_imap = 127.0.0.1:$imap_port
auth_cleartext_networks = 127.0.0.0/8
max_sessions_per_ip = 400
log_target = stderr
log_level = warn
EOF
	[ "$(id -u)" = 0 ] && echo "run_user = $RUN_USER" >>"$conf"
	cp -p "$WORK/users.db" "$dir/users.db" || { FAILED=1; return; }
	"$BUZOND" -f -c "$conf" >"$dir/buzond.log" 2>&1 &
	SERVER_PID=$!
	if ! wait_listen "$SERVER_PID" "$pop_port" ||
	    ! wait_listen "$SERVER_PID" "$imap_port"; then
		cat "$dir/buzond.log" >&2
		FAILED=1
		stop_server
		return
	fi
	measure buzond "$pop_port" "$imap_port"
	stop_server
}

# ------------------------------------------------------------ Dovecot

dovecot_running()
{
	pgrep -x dovecot >/dev/null 2>&1
}

# Installs Debian's dovecot-imapd and dovecot-pop3d when missing, never
# starting the system service.
dovecot_install()
{
	local made_policy=0
	[ -x /usr/sbin/dovecot ] && [ -x /usr/lib/dovecot/imap ] &&
	    [ -x /usr/lib/dovecot/pop3 ] && return 0
	if [ "$(id -u)" != 0 ]; then
		log "dovecot: not installed and not root: skipped"
		return 1
	fi
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod 755 /usr/sbin/policy-rc.d
		made_policy=1
	fi
	log "dovecot: installing dovecot-imapd dovecot-pop3d"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
	    --no-install-recommends dovecot-imapd dovecot-pop3d >&2
	[ "$made_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d
	[ -x /usr/lib/dovecot/imap ]
}

run_dovecot()
{
	local dir=$WORK/dovecot pop_port imap_port conf uid gid
	dovecot_install || { FAILED=1; return; }
	if dovecot_running; then
		log "dovecot: a Dovecot is already running: skipped"
		FAILED=1
		return
	fi
	mkdir -p "$dir/run" "$dir/state" "$dir/home" &&
	    copy_data "$dir/mail" || { FAILED=1; return; }
	pick_port && pop_port=$PICKED && pick_port && imap_port=$PICKED ||
	    { FAILED=1; return; }
	uid=$(id -u "$RUN_USER" 2>/dev/null || id -u)
	gid=$(id -g "$RUN_USER" 2>/dev/null || id -g)
	[ "$(id -u)" = 0 ] && chown "$RUN_USER:" "$dir/home"
	conf=$dir/dovecot.conf
	# The very hashes buzond checks (yescrypt): logins cost the same.
	python3 -c 'import sqlite3, sys
for a, h in sqlite3.connect(sys.argv[1]).execute(
        "SELECT address, hash FROM users"):
    print(f"{a}:{{CRYPT}}{h}::::::")' "$WORK/users.db" >"$dir/passwd" ||
	    { FAILED=1; return; }
	cat >"$conf" <<EOF
# Generated by tests/bench/store.sh: a private Dovecot for the benchmark.
base_dir = $dir/run
state_dir = $dir/state
log_path = $dir/dovecot.log
protocols = imap pop3
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
first_valid_uid = 1
mail_location = maildir:$dir/mail/%d/%n
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $dir/passwd
}
userdb {
  driver = static
  args = uid=$uid gid=$gid home=$dir/home/%d/%n
}
protocol imap {
  mail_max_userip_connections = 1000
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $imap_port
  }
  inet_listener imaps {
    port = 0
  }
}
service pop3-login {
  inet_listener pop3 {
    address = 127.0.0.1
    port = $pop_port
  }
  inet_listener pop3s {
    port = 0
  }
}
service submission-login {
  inet_listener submission {
    port = 0
  }
}
service lmtp {
  unix_listener lmtp {
    mode = 0600
  }
}
EOF
	/usr/sbin/dovecot -F -c "$conf" >"$dir/dovecot.out" 2>&1 &
	SERVER_PID=$!
	if ! wait_listen "$SERVER_PID" "$pop_port" ||
	    ! wait_listen "$SERVER_PID" "$imap_port"; then
		cat "$dir/dovecot.out" "$dir/dovecot.log" >&2 2>/dev/null
		FAILED=1
		stop_server
		return
	fi
	measure dovecot "$pop_port" "$imap_port"
	stop_server
	if dovecot_running; then
		log "dovecot: still running after the benchmark"
		FAILED=1
	fi
}

# ------------------------------------------------------------ main

ratio()
{
	local a=${RESULT[$1]:-} b=${RESULT[$2]:-}
	if [ -z "$a" ] || [ -z "$b" ] || [ "$b" = 0 ] || [ "$a" = 0 ]; then
		echo "-"
		return
	fi
	awk -v a="$a" -v b="$b" 'BEGIN { printf "%.2f", a / b }'
}

main()
{
	local t
	WORK=$(mktemp -d "${TMPDIR:-/tmp}/estafeta-store-bench.XXXXXX") ||
	    exit 1
	chmod 755 "$WORK"
	make_data && make_users || exit 1
	for t in $STORE_TARGETS; do
		case $t in
		buzond) run_buzond ;;
		dovecot) run_dovecot ;;
		*) log "unknown target $t"; FAILED=1 ;;
		esac
	done
	record ratio "pop3_retr=$(ratio buzond.pop3 dovecot.pop3)"`
	    `" imap_fetch_cold=$(ratio buzond.cold dovecot.cold)"`
	    `" imap_fetch_warm=$(ratio buzond.warm dovecot.warm)"`
	    `" idle_pss=$(ratio dovecot.idle buzond.idle)"
	exit "$FAILED"
}

main
