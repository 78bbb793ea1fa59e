#!/bin/sh
# SPDX-License-Identifier: ISC
# Sets everything up and runs the whole test suite twice: a normal build
# (build/) and an AddressSanitizer+UBSan build (build-san/). Ends with one
# line "N passed, M failed" and exits non-zero on any failure.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/contrib/setup-debian.sh" || exit 1

pass=0
fail=0
status=0
count() {
	log=$1/test-suite.log
	if [ ! -f "$log" ]; then
		fail=$((fail + 1))
		return
	fi
	p=$(sed -n 's/^# PASS: *//p' "$log" | head -1)
	f=$(sed -n 's/^# FAIL: *//p' "$log" | head -1)
	e=$(sed -n 's/^# ERROR: *//p' "$log" | head -1)
	pass=$((pass + ${p:-0}))
	fail=$((fail + ${f:-0} + ${e:-0}))
}

for variant in plain sanitizers; do
	if [ $variant = plain ]; then
		dir=$top/build
		args=""
	else
		dir=$top/build-san
		args="--enable-sanitizers"
	fi
	echo "== $variant build ($dir)"
	# shellcheck disable=SC2086
	if ! "$top/contrib/build.sh" "$dir" $args; then
		echo "== $variant build FAILED"
		fail=$((fail + 1))
		status=1
		continue
	fi
	rm -f "$dir/test-suite.log"
	if ! ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1} \
	    UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
	    E2E_SANITIZERS=$([ $variant = sanitizers ] && echo 1 || echo 0) \
	    make -C "$dir" -j2 check >"$dir/check.out" 2>&1; then
		status=1
		grep -E '^(FAIL|ERROR):' "$dir/check.out"
		for t in $(sed -n 's/^\(FAIL\|ERROR\): //p' "$dir/check.out"); do
			echo "---- $t.log (tail)"
			tail -40 "$dir/${t%.py}.log" 2>/dev/null
		done
	fi
	grep -E '^(PASS|FAIL|ERROR|SKIP|XFAIL|XPASS):' "$dir/check.out" |
		sed "s/^/[$variant] /"
	count "$dir"
done
echo "$pass passed, $fail failed"
[ $status = 0 ] && [ $fail = 0 ]
