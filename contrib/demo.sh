#!/bin/sh
# SPDX-License-Identifier: ISC
# Sets everything up and runs Estafeta on loopback with the built-in demo
# configuration, in the foreground, logging to the terminal. Ctrl-C stops it.
#
#   MX/SMTP 127.0.0.1:2525   submission 127.0.0.1:2587   smtps 127.0.0.1:2465
#   local domain example.test, user alice@example.test / alice-demo-pw
#
# Everything lives in ./demo (config, spool, test CA); delete it to start
# afresh. DEMO_DIR overrides the location.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/contrib/setup-debian.sh"
"$top/contrib/build.sh" "$top/build"

demo=${DEMO_DIR:-$top/demo}
mkdir -p "$demo"
demo=$(cd "$demo" && pwd)
chmod 755 "$demo"

# A test CA and a server certificate for mail.example.test, for TLS.
if [ ! -f "$demo/server.crt" ]; then
	openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj \
		"/CN=Estafeta demo CA" -keyout "$demo/ca.key" \
		-out "$demo/ca.crt" 2>/dev/null
	openssl req -newkey rsa:2048 -nodes -subj "/CN=mail.example.test" \
		-keyout "$demo/server.key" -out "$demo/server.csr" 2>/dev/null
	printf "subjectAltName=DNS:mail.example.test,DNS:localhost,IP:127.0.0.1\n" \
		> "$demo/san.ext"
	openssl x509 -req -in "$demo/server.csr" -CA "$demo/ca.crt" \
		-CAkey "$demo/ca.key" -CAcreateserial -days 3650 \
		-extfile "$demo/san.ext" -out "$demo/server.crt" 2>/dev/null
	chmod 600 "$demo/ca.key" "$demo/server.key"
fi

user_line=""
if [ "$(id -u)" = 0 ]; then
	user_line="run_user = estafeta"
fi
cat > "$demo/estafetad.conf" <<CONF
# Estafeta demo configuration (written by contrib/demo.sh).
hostname = mail.example.test
spool_dir = $demo/spool
log_target = stderr
log_level = info
$user_line

listen_mx = 127.0.0.1:2525
listen_submission = 127.0.0.1:2587
listen_smtps = 127.0.0.1:2465
# Local submission: estafeta-sendmail -C $demo/estafetad.conf ...
listen_local = $demo/submit.sock
tls_cert_files = $demo/server.crt
tls_key_files = $demo/server.key
users_db = $demo/users.db

# This demo trusts no network: mail to other domains is relayed only for
# authenticated users, exactly as a public MX behaves.
local_domains = example.test
trusted_networks =

# Local mail goes to the store (buzond, LMTP on 127.0.0.1:2424) once it
# exists; until then it waits in the queue. The demo never queries DNS off
# this machine, so mail for other domains waits too (estafetactl queue
# list shows why); remove dns_server to deliver to the Internet.
local_transport = lmtp:127.0.0.1:2424
dns_server = 127.0.0.1@9
deliver_workers = 2
# Short waits keep Ctrl-C prompt: delivery workers finish the job in hand.
smtp_connect_timeout = 3s
dns_timeout = 2s

message_size_limit = 25M
smtpd_workers_min = 2
smtpd_workers_max = 20
CONF

# The demo user (AUTH now, the mailbox store later).
ctl="$top/build/src/ctl/estafetactl -c $demo/estafetad.conf"
if ! $ctl user list 2>/dev/null | grep -q '^alice@example.test'; then
	printf 'alice-demo-pw\n' | $ctl user add alice@example.test >/dev/null
fi

# The mail store: buzond takes example.test's mail from the relay over LMTP
# (127.0.0.1:2424, where local_transport points) and serves it over POP3 and
# IMAP, with the same test certificate. Clear-text logins are allowed from
# loopback so plain curl works: a demo convenience, not a production default.
cat > "$demo/buzond.conf" <<CONF
# buzond demo configuration (written by contrib/demo.sh).
hostname = mail.example.test
store_root = $demo/store
users_db = $demo/users.db
log_target = stderr
log_level = info
$user_line

listen_lmtp = $demo/lmtp.sock
listen_lmtp_tcp = 127.0.0.1:2424
listen_pop3 = 127.0.0.1:2110
listen_pop3s = 127.0.0.1:2995
listen_imap = 127.0.0.1:2143
listen_imaps = 127.0.0.1:2993
tls_cert_files = $demo/server.crt
tls_key_files = $demo/server.key
auth_cleartext_networks = 127.0.0.0/8, ::1
CONF

cat <<MSG
Estafeta demo: $demo
  MX/SMTP     127.0.0.1:2525  (STARTTLS)
  submission  127.0.0.1:2587  (STARTTLS, then AUTH)
  smtps       127.0.0.1:2465  (implicit TLS, then AUTH)
  local       $demo/submit.sock  (estafeta-sendmail)
  local domain example.test, user alice@example.test password alice-demo-pw
  LMTP        127.0.0.1:2424  (buzond, the store; relay -> store)
  POP3        127.0.0.1:2110 (STLS)   pop3s 127.0.0.1:2995
  IMAP        127.0.0.1:2143 (STARTTLS)   imaps 127.0.0.1:2993
  test CA     $demo/ca.crt
  try: swaks --server 127.0.0.1:2525 --to alice@example.test
       curl -u alice@example.test:alice-demo-pw 'imap://127.0.0.1:2143/INBOX;UID=1'
       curl -u alice@example.test:alice-demo-pw pop3://127.0.0.1:2110/1
       curl --cacert $demo/ca.crt -u alice@example.test:alice-demo-pw \\
             'imaps://localhost:2993/INBOX;UID=1'
       swaks --server 127.0.0.1:2587 -tls --auth-user alice@example.test \\
             --auth-password alice-demo-pw --from alice@example.test \\
             --to someone@example.org
       printf 'Subject: hi\\n\\nfrom cron\\n' | \\
         $top/build/src/ctl/estafeta-sendmail -C $demo/estafetad.conf \\
         alice@example.test
       $top/build/src/ctl/estafetactl -c $demo/estafetad.conf queue list
Ctrl-C stops both daemons.
MSG
# buzond in the background, estafetad in the foreground; when estafetad
# ends (Ctrl-C), buzond is stopped too.
"$top/build/src/store/buzond" -f -c "$demo/buzond.conf" &
buzond_pid=$!
trap 'kill -TERM $buzond_pid 2>/dev/null; wait $buzond_pid 2>/dev/null' EXIT
trap 'exit 130' INT TERM
"$top/build/src/relay/estafetad" -f -c "$demo/estafetad.conf" || true
