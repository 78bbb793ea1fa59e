#!/bin/bash
# SPDX-License-Identifier: ISC
# Copyright (c) 2026 The Estafeta developers
#
# Queue-control benchmark, run by `make bench-queue` as:
#   queue.sh SRCDIR BUILDDIR
#
# Fills a fresh queue index with BENCH_QUEUE_MESSAGES (default 100000)
# synthetic messages through the index code (tests/bench/qidxfill: 1-3
# recipients each over 1,000 domains, a third deferred, 1% held), then
# times estafetactl's read-only queue commands on it, each the best of
# BENCH_QUEUE_REPEAT (default 3) runs, and prints one line per command:
#
#   bench queue messages=N cmd="queue summary" wall_ms=.. cpu_ms=.. lines=..
#
# cpu_ms is estafetactl's user+system time (the wall time also counts
# waiting for a busy machine's CPUs).
# Target (issue #3): summary and filtered lists well under a second.
set -eu
src=$1
build=$2
n=${BENCH_QUEUE_MESSAGES:-100000}
repeat=${BENCH_QUEUE_REPEAT:-3}
ctl=$build/src/ctl/estafetactl
fill=$build/tests/bench/qidxfill
dir=$(mktemp -d /tmp/estafeta-bench-queue.XXXXXX)
trap 'rm -rf "$dir"' EXIT
mkdir -p "$dir/spool"
cat >"$dir/estafetad.conf" <<CONF
spool_dir = $dir/spool
listen_mx = 127.0.0.1:1
CONF
t0=$(date +%s%N)
"$fill" "$dir/spool/index.db" "$n"
t1=$(date +%s%N)
echo "bench queue fill messages=$n wall_ms=$(( (t1 - t0) / 1000000 ))" \
	"index_mib=$(( $(stat -c %s "$dir/spool/index.db") / 1048576 ))"
# A message in the middle, for show and the exact filters.
mid=$("$ctl" -c "$dir/estafetad.conf" queue list --sender \
	user250@sender.example | awk '/^[0-9a-f]/ { n++ }
	    n == 100 { print substr($1, 1, 20); exit }')
rcpt="r$(( n / 2 )).0@d$(( n / 2 % 1000 )).example"

run() {
	local best=0 bestcpu=0 t0 t1 ms cpu lines i
	for i in $(seq "$repeat"); do
		t0=$(date +%s%N)
		lines=$(/usr/bin/time -f "%U %S" -o "$dir/time" \
		    "$ctl" -c "$dir/estafetad.conf" "$@" | wc -l)
		t1=$(date +%s%N)
		ms=$(( (t1 - t0) / 1000000 ))
		cpu=$(awk '{ printf "%d", ($1 + $2) * 1000 }' "$dir/time")
		if [ "$best" = 0 ] || [ "$ms" -lt "$best" ]; then
			best=$ms
		fi
		if [ "$bestcpu" = 0 ] || [ "$cpu" -lt "$bestcpu" ]; then
			bestcpu=$cpu
		fi
	done
	echo "bench queue messages=$n cmd=\"$*\" wall_ms=$best" \
	    "cpu_ms=$bestcpu lines=$lines"
}

run queue summary
run queue summary --json
run queue list --domain d7.example
run queue list --rcpt "$rcpt"
run queue list --sender user250@sender.example
run queue list --sender user250@sender.example --state deferred
run queue list --state held
run queue list --reply "mailbox busy" --domain d7.example
run queue list --older-than 47h --domain d7.example
run queue show "$mid"
run queue show --json "$mid"
