#!/bin/sh
# SPDX-License-Identifier: ISC
# Builds Estafeta out of tree: contrib/build.sh BUILDDIR [configure args].
# Creates ./configure when missing. Used by demo.sh, test.sh and CI.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
builddir=$1
shift
cd "$top"
if [ ! -x configure ] || [ configure.ac -nt configure ] ||
    [ Makefile.am -nt Makefile.in ]; then
	autoreconf -fi >/dev/null
fi
# An in-tree configure blocks out-of-tree builds: clean it away.
if [ -f config.status ]; then
	echo "build: cleaning the in-tree configuration (make distclean)"
	make distclean >/dev/null 2>&1 || rm -f config.status config.h
fi
mkdir -p "$builddir"
cd "$builddir"
if [ ! -f Makefile ] || [ "$top/configure" -nt Makefile ]; then
	"$top/configure" -q "$@"
fi
make -j"$(nproc)" >/dev/null
