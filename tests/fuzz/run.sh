#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
#
# Builds and runs libFuzzer targets; `make fuzz` calls it from the build
# directory (the one holding config.h).
#
#   usage: run.sh SRCDIR CC SECONDS target...
#
# Target T is SRCDIR/tests/fuzz/fuzz_T.c, linked with every SRCDIR/src/lib/*.c
# plus the sources listed one per line (relative to SRCDIR, '#' comments) in
# SRCDIR/tests/fuzz/fuzz_T.srcs when that file exists. It is built with CC
# and ASan/UBSan into ./tests/fuzz/fuzz_T and runs for SECONDS with
# SRCDIR/tests/fuzz/fuzz_T.dict (if any) on a scratch copy of the seed corpus
# SRCDIR/tests/fuzz/corpus/T/ (if any), so the source tree is never written.
# Extra link flags: FUZZ_LIBS. Exits non-zero if a build fails or a target
# crashes; the scratch directory with the log and the crasher is kept then.
set -u

if [ $# -lt 3 ]; then
	echo "usage: $0 SRCDIR CC SECONDS target..." >&2
	exit 2
fi
srcdir=$(cd "$1" && pwd) || exit 2
cc=$2
secs=$3
shift 3
if [ $# -eq 0 ]; then
	echo "run.sh: no targets given (FUZZ_TARGETS is empty)" >&2
	exit 2
fi
case $secs in
''|*[!0-9]*) echo "run.sh: SECONDS must be a number: $secs" >&2; exit 2 ;;
esac
if [ ! -f config.h ]; then
	echo "run.sh: no config.h here: run from the build directory" >&2
	exit 2
fi

cflags=(-g -O1 -std=gnu11
	-fno-sanitize-recover=undefined -fno-omit-frame-pointer
	"-I$srcdir/src" -I.
	'-DSYSCONFDIR="/etc/estafeta"' '-DLOCALSTATEDIR="/var"')
# make fuzz passes the configured libraries in FUZZ_LIBS; by hand, ask
# pkg-config for everything src/lib links against.
libs=$(pkg-config --libs openssl sqlite3 libcrypt libunbound 2>/dev/null) ||
	libs="-lssl -lcrypto -lsqlite3 -lcrypt -lunbound"
# shellcheck disable=SC2054,SC2206  # one flag; splitting the rest is intended
libs=(-Wl,--as-needed $libs ${FUZZ_LIBS:-})

work=$(mktemp -d "${TMPDIR:-/tmp}/estafeta-fuzz.XXXXXX") || exit 2
mkdir -p tests/fuzz "$work/lib" || exit 2

# The library once, instrumented the same way but without libFuzzer's main.
libobjs=()
for src in "$srcdir"/src/lib/*.c; do
	obj="$work/lib/$(basename "$src" .c).o"
	if ! "$cc" "${cflags[@]}" -fsanitize=fuzzer-no-link,address,undefined \
	    -c "$src" -o "$obj"; then
		echo "run.sh: cannot build $src (scratch: $work)" >&2
		exit 1
	fi
	libobjs+=("$obj")
done

failed=0
for t in "$@"; do
	main="$srcdir/tests/fuzz/fuzz_$t.c"
	bin="tests/fuzz/fuzz_$t"
	dir="$work/$t"
	mkdir -p "$dir/corpus"
	if [ ! -f "$main" ]; then
		echo "fuzz_$t: FAIL: no $main" >&2
		failed=1
		continue
	fi
	extra=()
	if [ -f "$srcdir/tests/fuzz/fuzz_$t.srcs" ]; then
		while read -r line; do
			line=${line%%#*}
			line=${line//[[:space:]]/}
			[ -n "$line" ] && extra+=("$srcdir/$line")
		done < "$srcdir/tests/fuzz/fuzz_$t.srcs"
	fi
	if ! "$cc" "${cflags[@]}" -fsanitize=fuzzer,address,undefined \
	    -o "$bin" "$main" ${extra[@]+"${extra[@]}"} \
	    "${libobjs[@]}" "${libs[@]}"; then
		echo "fuzz_$t: FAIL: build" >&2
		failed=1
		continue
	fi
	if [ -d "$srcdir/tests/fuzz/corpus/$t" ]; then
		cp -R "$srcdir/tests/fuzz/corpus/$t/." "$dir/corpus/"
	fi
	args=("-max_total_time=$secs" -timeout=10 -print_final_stats=1
	    "-artifact_prefix=$dir/")
	if [ -f "$srcdir/tests/fuzz/fuzz_$t.dict" ]; then
		args+=("-dict=$srcdir/tests/fuzz/fuzz_$t.dict")
	fi
	echo "fuzz_$t: running for ${secs}s"
	if "./$bin" "${args[@]}" "$dir/corpus" > "$dir/log" 2>&1; then
		runs=$(sed -n 's/^stat::number_of_executed_units: *//p' \
		    "$dir/log")
		echo "fuzz_$t: ok, ${runs:-?} runs," \
		    "corpus $(find "$dir/corpus" -type f | wc -l) inputs"
	else
		echo "fuzz_$t: FAIL: crash, see $dir/log" >&2
		tail -n 40 "$dir/log" >&2
		ls "$dir"/crash-* "$dir"/leak-* "$dir"/timeout-* \
		    "$dir"/oom-* 2>/dev/null >&2
		failed=1
	fi
done

if [ "$failed" -ne 0 ]; then
	echo "run.sh: failures; scratch kept in $work" >&2
	exit 1
fi
rm -rf "$work"
exit 0
