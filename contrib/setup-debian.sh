#!/bin/sh
# SPDX-License-Identifier: ISC
# Installs every Debian 12 package that building, running and testing
# Estafeta need. Idempotent and non-interactive; run as root (or via sudo).
set -eu

PKGS="build-essential autoconf automake libtool pkg-config
 libssl-dev libsqlite3-dev libspf2-dev libopendkim-dev libopendmarc-dev
 libmilter-dev libunbound-dev libevent-dev libcrypt-dev libcmocka-dev
 clang libclang-rt-14-dev
 openssl sqlite3 swaks libnet-ssleay-perl postfix dnsmasq curl procps iproute2 ca-certificates
 python3 libpython3.11-testsuite opendkim opendkim-tools"

SUDO=""
if [ "$(id -u)" != 0 ]; then
	SUDO="sudo"
fi

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
		missing="$missing $p"
	fi
done
# The unprivileged user estafetad's children run as when started as root.
ensure_user() {
	if ! getent passwd estafeta >/dev/null; then
		$SUDO useradd --system --home-dir /nonexistent --no-create-home \
			--shell /usr/sbin/nologin estafeta
		echo "setup: created system user estafeta"
	fi
}

if [ -z "$missing" ]; then
	ensure_user
	echo "setup: all packages present"
	exit 0
fi

# Postfix is only needed for smtp-source/smtp-sink: never let it configure
# or start a system MTA.
echo "postfix postfix/main_mailer_type select No configuration" |
	$SUDO debconf-set-selections
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
# shellcheck disable=SC2086
$SUDO apt-get install -y -q --no-install-recommends $missing
echo "setup: installed$missing"
ensure_user
