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

# Two streams at once: the integration tests mostly wait on the PBXs, sipp and Chromium, the rest
# mostly computes. Each stream has Redis databases and a temporary folder of its own (live
# channels name their database).
logs=$(mktemp -d)
(
  export REDIS_URL=redis://127.0.0.1:6379/8
  export SWITCHBOARD_TEST_XML_CURL_REDIS=redis://127.0.0.1:6379/13
  export SWITCHBOARD_TEST_DEPLOY_REDIS=redis://127.0.0.1:6379/14
  status=0
  echo "== SQLite: unit, web and API tests"
  SWITCHBOARD_TEST_DB=sqlite $BIN/pytest -q -p no:cacheprovider --basetemp="$logs/sqlite" -m "not integration" "$@" || status=1
  echo "== PostgreSQL: every other test that touches a database"
  SWITCHBOARD_TEST_DB=postgresql $BIN/pytest -q -p no:cacheprovider --basetemp="$logs/postgresql" -m "not integration" "$@" || status=1
  exit $status
) >"$logs/databases.log" 2>&1 &
databases=$!

echo "== PostgreSQL: the integration tests with the real Asterisk, FreeSWITCH, sipp and Chromium"
integration=0
SWITCHBOARD_TEST_DB=postgresql $BIN/pytest -q -p no:cacheprovider --basetemp="$logs/integration" -m integration "$@" || integration=1
rest=0
wait $databases || rest=1
cat "$logs/databases.log"
rm -rf "$logs"
exit $((integration | rest))
