#!/usr/bin/env bash
# The whole test suite: installs and starts what it needs, then runs pytest on SQLite
# (everything but the integration tests) and on PostgreSQL (every test that touches a database, and the
# integration tests with the real Asterisk, sipp and Chromium).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
# Compiled modules are cached: without them every pytest run and every spawned listener, worker and
# server recompiles the project (seconds each).
unset PYTHONDONTWRITEBYTECODE

need_apt=()
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
command -v sipp >/dev/null || need_apt+=(sip-tester)
command -v debootstrap >/dev/null || need_apt+=(debootstrap)
# deploy/asterisk/install.sh --wss generates the sandbox's self-signed certificate with it
command -v openssl >/dev/null || need_apt+=(openssl)
[ -x /usr/sbin/sshd ] || need_apt+=(openssh-server)
command -v redis-server >/dev/null || need_apt+=(redis-server)
command -v pg_ctlcluster >/dev/null || need_apt+=(postgresql)
command -v sox >/dev/null || need_apt+=(sox)
dpkg -s libsox-fmt-mp3 >/dev/null 2>&1 || need_apt+=(libsox-fmt-mp3)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "installing: ${need_apt[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

if ! pg_isready -q -h 127.0.0.1 -p 5432; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start
  for _ in $(seq 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 0.5; done
fi
if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  for _ in $(seq 30); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 0.2; done
fi
# restart, not start: a sandbox left running by an earlier checkout would keep that checkout's
# base configuration (transports, modules, install.sh's wiring); this run's must be the one tested.
if [ -x deploy/asterisk/sandbox ]; then
  deploy/asterisk/sandbox ensure
  deploy/asterisk/sandbox restart
fi
if [ -x deploy/freeswitch/sandbox ]; then
  deploy/freeswitch/sandbox ensure
  deploy/freeswitch/sandbox restart
fi

$BIN/ruff check .
$BIN/mypy  # control/, as pyproject.toml says

# Three streams at once, each on Redis databases and a temporary folder of its own (live channels
# name their database): the integration tests mostly wait on the PBXs, sipp and Chromium, the
# other two mostly compute.
logs=$(mktemp -d)
stream() {  # name, Redis databases (app, xml_curl, deploy), database kind, pytest arguments...
  local name=$1 app=$2 xml_curl=$3 deploy=$4 kind=$5
  shift 5
  REDIS_URL=redis://127.0.0.1:6379/$app \
  SWITCHBOARD_TEST_XML_CURL_REDIS=redis://127.0.0.1:6379/$xml_curl \
  SWITCHBOARD_TEST_DEPLOY_REDIS=redis://127.0.0.1:6379/$deploy \
  SWITCHBOARD_TEST_DB=$kind \
    $BIN/pytest -q -p no:cacheprovider --basetemp="$logs/$name" "$@"
}
stream sqlite 8 13 14 sqlite -m "not integration" "$@" >"$logs/sqlite.log" 2>&1 &
sqlite=$!
stream postgresql 7 10 15 postgresql -m "not integration" "$@" >"$logs/postgresql.log" 2>&1 &
postgresql=$!

status=0
echo "== PostgreSQL: the integration tests with the real Asterisk, FreeSWITCH, sipp and Chromium"
stream integration 9 11 12 postgresql -m integration "$@" || status=1
wait $sqlite || status=1
echo "== SQLite: unit, web and API tests"
cat "$logs/sqlite.log"
wait $postgresql || status=1
echo "== PostgreSQL: every other test that touches a database"
cat "$logs/postgresql.log"
rm -rf "$logs"
exit $status
