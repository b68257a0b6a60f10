#!/usr/bin/env bash
# A local S3 server for the tests and benchmarks of the S3 destination: one OpenStack Swift node
# (Debian packages swift-proxy swift-object swift-container swift-account, which
# scripts/setup.sh installs) with its s3api middleware, on 127.0.0.1 only. It checks SigV4
# signatures, payload hashes, Content-MD5 and the multipart rules.
#
# Usage: scripts/s3-server.sh start|stop|status|env [DIR]
#   start   configure DIR (default: $HONE_S3_DIR or /tmp/hone-s3-server), start the four
#           servers and wait until they all answer (about 5 s); does nothing when running
#   stop    stop them (the data in DIR stays until the next start)
#   restart stop them and start them again with the data in DIR (an outage of the S3 server)
#   status  exit 0 when the proxy answers
#   env     print the HONE_TEST_S3_* variables the tests read (eval "$(scripts/s3-server.sh env)")
# Ports: $HONE_S3_PORT for S3 and the next three for the object, container and account servers;
# when it is not set, start takes four free consecutive ports and records them in DIR/port, which
# the other commands read (so two runs, each with its own DIR, share a machine).
# Credentials (tempauth): access key id "test:tester", secret "testing".
set -euo pipefail
cmd=${1:-start}
dir=${2:-${HONE_S3_DIR:-/tmp/hone-s3-server}}

# free_ports: the first of four consecutive free loopback ports.
free_ports() {
  python3 - <<'EOP'
import random, socket
for _ in range(200):
    base = random.randrange(20000, 60000)
    socks = []
    try:
        for p in range(base, base + 4):
            s = socket.socket()
            s.bind(("127.0.0.1", p))
            socks.append(s)
        print(base)
        break
    except OSError:
        pass
    finally:
        for s in socks:
            s.close()
EOP
}

if [ -n "${HONE_S3_PORT:-}" ]; then
  port=$HONE_S3_PORT
elif [ -s "$dir/port" ]; then
  port=$(cat "$dir/port")
else
  port=18080
fi
endpoint="http://127.0.0.1:$port"

healthy() { curl -fs --max-time 2 "$endpoint/healthcheck" 2>/dev/null | grep -q OK; }

# The proxy answers its health check before the object, container and account servers listen,
# and until they do it reports every bucket as missing (404 NoSuchBucket): wait for all four.
ready() {
  local p
  healthy || return 1
  for p in $((port + 1)) $((port + 2)) $((port + 3)); do
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || return 1
  done
}

stop() {
  local f pid
  for f in "$dir"/run/*.pid; do
    [ -f "$f" ] || continue
    pid=$(cat "$f")
    kill "$pid" 2>/dev/null || true
  done
  for f in "$dir"/run/*.pid; do
    [ -f "$f" ] || continue
    pid=$(cat "$f")
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$f"
  done
}

start() {
  # Running already: this DIR's proxy answers on its port (not another folder's server that took
  # the port since).
  if healthy && [ -s "$dir/run/proxy.pid" ] && kill -0 "$(cat "$dir/run/proxy.pid")" 2>/dev/null; then return 0; fi
  command -v swift-proxy-server >/dev/null ||
    { echo "s3-server: swift-proxy-server not found (scripts/setup.sh installs Swift)" >&2; return 1; }
  stop
  rm -rf "$dir"
  mkdir -p "$dir/node/d1" "$dir/run"
  if [ -z "${HONE_S3_PORT:-}" ]; then
    port=$(free_ports)
    [ -n "$port" ] || { echo "s3-server: no four free consecutive ports found" >&2; return 1; }
    endpoint="http://127.0.0.1:$port"
  fi
  echo "$port" >"$dir/port"
  local user n p
  user=$(id -un)
  local -A ports=([object]=$((port + 1)) [container]=$((port + 2)) [account]=$((port + 3)))
  for n in account container object; do
    p=${ports[$n]}
    cat >"$dir/$n-server.conf" <<EOC
[DEFAULT]
devices = $dir/node
mount_check = false
bind_ip = 127.0.0.1
bind_port = $p
workers = 1
user = $user
swift_dir = $dir
log_level = WARNING
[pipeline:main]
pipeline = $n-server
[app:$n-server]
use = egg:swift#$n
EOC
    (cd "$dir" && swift-ring-builder "$n.builder" create 8 1 1 >/dev/null &&
      swift-ring-builder "$n.builder" add "r1z1-127.0.0.1:$p/d1" 1 >/dev/null &&
      swift-ring-builder "$n.builder" rebalance >/dev/null) || true
  done
  cat >"$dir/swift.conf" <<EOC
[swift-hash]
swift_hash_path_suffix = hone-backup-tests
swift_hash_path_prefix = hone-backup-tests
EOC
  cat >"$dir/proxy-server.conf" <<EOC
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = $port
workers = 1
user = $user
swift_dir = $dir
log_level = WARNING
[pipeline:main]
pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats bulk s3api tempauth copy slo dlo proxy-logging proxy-server
[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true
[filter:s3api]
use = egg:swift#s3api
location = auto
[filter:tempauth]
use = egg:swift#tempauth
user_test_tester = testing .admin
[filter:catch_errors]
use = egg:swift#catch_errors
[filter:gatekeeper]
use = egg:swift#gatekeeper
[filter:healthcheck]
use = egg:swift#healthcheck
[filter:proxy-logging]
use = egg:swift#proxy_logging
[filter:cache]
use = egg:swift#memcache
[filter:listing_formats]
use = egg:swift#listing_formats
[filter:bulk]
use = egg:swift#bulk
[filter:copy]
use = egg:swift#copy
[filter:slo]
use = egg:swift#slo
[filter:dlo]
use = egg:swift#dlo
EOC
  launch
}

# Starts the four servers of the configuration in $dir, with the data it holds, and waits until
# they all answer.
launch() {
  local n
  mkdir -p "$dir/run"
  for n in account container object; do
    "swift-$n-server" "$dir/$n-server.conf" >>"$dir/run/$n.log" 2>&1 9>&- &
    echo $! >"$dir/run/$n.pid"
  done
  swift-proxy-server "$dir/proxy-server.conf" >>"$dir/run/proxy.log" 2>&1 9>&- &
  echo $! >"$dir/run/proxy.pid"
  for _ in $(seq 1 400); do
    if ready; then return 0; fi
    sleep 0.05
  done
  echo "s3-server: Swift did not answer on $endpoint within 20 s; logs in $dir/run/" >&2
  tail -5 "$dir"/run/*.log >&2 || true
  return 1
}

# start, stop and restart take a lock beside DIR, so that two of them at once (two test runs
# starting the server together) cannot remove each other's files or start it twice.
case "$cmd" in
  start | stop | restart)
    exec 9>"$dir.lock"
    flock 9
    ;;
esac

case "$cmd" in
  start)
    t0=$(date +%s%N)
    start
    echo "s3-server: Swift s3api on $endpoint (ready after $((($(date +%s%N) - t0) / 1000000)) ms)"
    ;;
  stop) stop ;;
  restart)
    [ -f "$dir/proxy-server.conf" ] || { echo "s3-server: nothing configured in $dir (use start)" >&2; exit 1; }
    stop
    launch
    echo "s3-server: Swift s3api on $endpoint again, with the data it had"
    ;;
  status) healthy ;;
  env)
    echo "export HONE_TEST_S3_ENDPOINT=$endpoint HONE_TEST_S3_ACCESS_KEY_ID=test:tester HONE_TEST_S3_SECRET=testing" \
      "HONE_TEST_S3_REGION=auto"
    ;;
  *) echo "usage: $0 start|stop|restart|status|env [DIR]" >&2; exit 2 ;;
esac
