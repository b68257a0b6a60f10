#!/usr/bin/env bash
# The container test (the `container` leg of scripts/test.sh): builds the image of Dockerfile and
# runs docker-compose.yml as docs/hone/Deployment.md does: a real encrypted database
# (`hone demo-db`) in the /data volume, a host folder as the NAS mount /backups (root's, mode 0777,
# as shares often are), the passphrase
# and the API token as secret files under /run/secrets. Each check fails the run:
#   the image's size (<= 150 MB) and non-root user; `docker exec ... /app/hone backup create
#   --dir /backups`; a backup of the built-in scheduler; the image's HEALTHCHECK (healthy, and
#   unhealthy while the database is missing); the REST API with the token from its file; a restore
#   (the database then holds the backup's bytes, the previous one is kept); `docker stop` within
#   10 s; every file in both volumes owned by the container's user; no secret in `docker inspect`.
# It installs Debian's docker.io, debootstrap and docker-compose when missing, starts dockerd in
# the background when none answers (log in the work folder; stopped by its pid at the end) and,
# when no image registry answers, makes the Debian 12 base images with debootstrap and
# `docker import` (the root file system is cached in .cache/docker/).
# Usage: scripts/container-test.sh [--prepare]   (as root; HONE_CONTAINER_WORK: the work folder)
#   --prepare  only install the packages and make the base image's root file system (no daemon):
#              scripts/test.sh runs it in the background while the other legs build
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work="${HONE_CONTAINER_WORK:-$root/build-test/container}"
image="${HONE_CONTAINER_IMAGE:-hone-backup:test}"
jobs="${HONE_CONTAINER_JOBS:-2}"
uid=10001 # the image's user (Dockerfile)
run_id="hone-ct-$$"
export DOCKER_BUILDKIT=0 # the classic builder: the same on every docker version, no plugin needed
passed=0
t_start=$SECONDS

say() { echo "container: $*"; }
check() { # check DESCRIPTION COMMAND...: one check; a failure ends the run.
  local what=$1
  shift
  if "$@"; then
    passed=$((passed + 1))
    say "ok   $what"
  else
    say "FAIL $what"
    exit 1
  fi
}

# --- Packages, client and daemon ---------------------------------------------------------------
apt_install() { # apt_install PACKAGE...: Debian's packages, waiting for another apt-get to finish
  say "installing $*"
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "$@" >/dev/null
}
need=()
command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
((${#need[@]} == 0)) || apt_install "${need[@]}"
# Debian's client (it matches Debian's daemon), else whichever is on the PATH; Compose as its
# plugin (`docker compose`) when there is one, else Debian's docker-compose.
docker_bin=/usr/bin/docker
[ -x "$docker_bin" ] || docker_bin=$(command -v docker)
docker() { timeout 600 "$docker_bin" "$@"; } # every call ends in bounded time (the build: below)
if docker compose version >/dev/null 2>&1; then
  compose_cmd=("$docker_bin" compose)
else
  command -v docker-compose >/dev/null 2>&1 || apt_install docker-compose
  compose_cmd=(docker-compose)
fi

# --- Base images: pulled where a registry answers, else made from Debian's packages -------------
debian_mirror() { # the Debian mirror apt uses here
  [ -n "${HONE_DEBIAN_MIRROR:-}" ] && { echo "$HONE_DEBIAN_MIRROR"; return; }
  { sed -n 's/^URIs: *\([^ ]*\).*/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null
    sed -n 's/^deb \(\[[^]]*\] \)\{0,1\}\([^ ]*\) .*/\2/p' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null
  } | grep -v -- '-security' | head -1 || true
}
make_rootfs_tar() { # make_rootfs_tar TAR: a minimal Debian 12, trimmed as the slim images are
  local tar=$1 rootfs="$work/rootfs" mirror
  mirror=$(debian_mirror)
  [ -n "$mirror" ] || { say "no Debian mirror found in apt's sources (set HONE_DEBIAN_MIRROR)"; return 1; }
  rm -rf "$rootfs"
  say "debootstrap --variant=minbase bookworm from the Debian mirror apt uses"
  timeout 1800 debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 ||
    { tail -20 "$work/debootstrap.log"; return 1; }
  printf '%s\n' 'path-exclude /usr/share/doc/*' 'path-include /usr/share/doc/*/copyright' \
    'path-exclude /usr/share/man/*' 'path-exclude /usr/share/info/*' 'path-exclude /usr/share/locale/*' \
    >"$rootfs/etc/dpkg/dpkg.cfg.d/slim"
  find "$rootfs/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
  rm -rf "$rootfs"/usr/share/{man,info,locale}/* "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  mkdir -p "$(dirname "$tar")"
  tar -C "$rootfs" -cf "$tar.tmp" . && mv "$tar.tmp" "$tar"
  rm -rf "$rootfs"
}
rootfs_tar_ready() { # rootfs_tar_ready TAR: TAR exists; one run at a time makes it (--prepare may be running)
  local tar=$1
  mkdir -p "$(dirname "$tar")"
  (
    flock 8
    [ -f "$tar" ] || make_rootfs_tar "$tar"
  ) 8>"$tar.lock"
}
mkdir -p "$work"
prepare_only=0
[ "${1:-}" = --prepare ] && prepare_only=1
dockerd_pid=
compose_used=0
cleanup() {
  local rc=$?
  if ((compose_used)) && docker info >/dev/null 2>&1; then
    compose down -v --remove-orphans >/dev/null 2>&1 || true
  fi
  docker rm -f "$run_id" "$run_id-nodb" >/dev/null 2>&1 || true
  docker volume rm "$run_id-empty" >/dev/null 2>&1 || true
  rm -rf "$work/backups" "$work/secrets"
  if [ -n "$dockerd_pid" ]; then
    kill "$dockerd_pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.2; done
  fi
  exit $rc
}
trap 'exit 143' TERM INT
if ((prepare_only)); then
  # The root file system of the base images, made once (a later run finds it in the cache).
  rootfs_tar_ready "$root/.cache/docker/debian-bookworm-minbase.tar"
  say "prepared in $((SECONDS - t_start)) s"
  exit 0
fi
trap cleanup EXIT
if ! docker info >/dev/null 2>&1; then
  dockerd >"$work/dockerd.log" 2>&1 &
  dockerd_pid=$!
  for _ in $(seq 1 150); do docker info >/dev/null 2>&1 && break; sleep 0.2; done
  docker info >/dev/null 2>&1 || { tail -20 "$work/dockerd.log"; say "dockerd did not start"; exit 1; }
  say "started dockerd (pid $dockerd_pid, log $work/dockerd.log)"
fi

ensure_base_images() {
  local name missing=()
  for name in debian:bookworm debian:bookworm-slim; do
    docker image inspect "$name" >/dev/null 2>&1 && continue
    timeout 300 "$docker_bin" pull -q "$name" >/dev/null 2>&1 || missing+=("$name")
  done
  ((${#missing[@]})) || return 0
  local tar="$root/.cache/docker/debian-bookworm-minbase.tar"
  rootfs_tar_ready "$tar"
  docker import "$tar" "${missing[0]}" >/dev/null
  for name in "${missing[@]:1}"; do docker tag "${missing[0]}" "$name"; done
  say "no registry: ${missing[*]} imported from ${tar#"$root"/} ($(du -m "$tar" | cut -f1) MB)"
}
t0=$SECONDS
ensure_base_images
say "base images ready in $((SECONDS - t0)) s"

# --- The image ------------------------------------------------------------------------------------
# The context: the working tree's files (tracked and new, not ignored) and the SQLCipher
# amalgamation, with symbolic links followed (.cache may be one).
t0=$SECONDS
context_files() {
  cd "$root"
  if git rev-parse --git-dir >/dev/null 2>&1; then
    git ls-files -co --exclude-standard | while IFS= read -r f; do [ -e "$f" ] && printf '%s\n' "$f"; done
  else
    find . -path ./.git -prune -o -path './build*' -prune -o -path ./.cache -prune -o -type f -print
  fi
  [ -f .cache/sqlcipher-4.14.0/sqlite3.c ] && find -L .cache/sqlcipher-4.14.0 -type f
}
context_files >"$work/context.txt"
if ! tar -C "$root" --dereference -cf - -T "$work/context.txt" |
  timeout 3600 "$docker_bin" build -t "$image" --build-arg JOBS="$jobs" -f Dockerfile - >"$work/build.log" 2>&1; then
  tail -40 "$work/build.log"
  say "image build failed (log: $work/build.log)"
  exit 1
fi
size_mb=$(($(docker image inspect -f '{{.Size}}' "$image") / 1000000))
say "image $image built in $((SECONDS - t0)) s: ${size_mb} MB"
check "image size ${size_mb} MB <= 150 MB" test "$size_mb" -le 150
check "the image runs as the non-root user $uid" test "$(docker run --rm --entrypoint /usr/bin/id "$image" -u)" = "$uid"

# --- The compose file, running ---------------------------------------------------------------------
# docker-compose.yml as a user runs it, with this run's folders, name and port: the demo database
# made by `compose run ... demo-db`, the service then started by `compose up`.
backups="$work/backups" secrets="$work/secrets"
rm -rf "$backups" "$secrets"
# The NAS share: owned by another user (root here) and writable by all, as NFS and SMB mounts
# often are; accepted because the database is encrypted.
install -d -m 0777 "$backups"
install -d -m 0700 "$secrets"
# Secret files as the compose file's comment makes them: owner-only, owned by the image's user.
passphrase="container test passphrase $$ $RANDOM"
(umask 077 && printf '%s\n' "$passphrase" >"$secrets/hone_db_key" && openssl rand -hex 32 >"$secrets/hone_api_token")
chown "$uid:$uid" "$secrets/hone_db_key" "$secrets/hone_api_token"
(umask 077 && printf 'Authorization: Bearer %s\n' "$(cat "$secrets/hone_api_token")" >"$secrets/auth-header")
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export HONE_IMAGE="$image" HONE_CONTAINER_NAME="$run_id" HONE_PORT="$port" HONE_NAS_DIR="$backups" \
  HONE_SECRETS_DIR="$secrets" HONE_BACKUP_SCHEDULE=0.0167 HONE_BACKUP_RETENTION=5
compose() { timeout 600 "${compose_cmd[@]}" -p "$run_id" -f "$root/docker-compose.yml" "$@"; }
compose_used=1

check "compose run ... demo-db makes an encrypted database in /data" \
  compose run --rm --no-deps hone demo-db
data_dir=$(docker volume inspect -f '{{.Mountpoint}}' "${run_id}_hone-data")
check "the database is encrypted" bash -c '! head -c 16 "$1" | grep -q "SQLite format 3"' _ "$data_dir/hone.db"
check "compose up" compose up -d --no-build
t_started=$SECONDS
# The same image without a database, checked every 2 s: its health check must say unhealthy.
docker volume create "$run_id-empty" >/dev/null
docker run -d --name "$run_id-nodb" -v "$run_id-empty:/data" -v "$secrets/hone_db_key:/run/secrets/hone_db_key:ro" \
  -e HONE_DB_KEY_FILE=/run/secrets/hone_db_key --health-interval 2s --health-retries 2 --health-start-period 0s \
  "$image" >/dev/null

health_is() { # health_is CONTAINER STATUS SECONDS: wait until the health status is STATUS
  local s
  for _ in $(seq 1 $(($3 * 2))); do
    s=$(docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{end}}' "$1" 2>/dev/null || true)
    [ "$s" = "$2" ] && return 0
    sleep 0.5
  done
  say "$1: health '$s', not '$2'; last checks:"
  docker inspect -f '{{range .State.Health.Log}}{{.ExitCode}} {{.Output}}{{end}}' "$1" | tail -5
  docker logs "$1" 2>&1 | tail -20
  return 1
}
owned_by_container() { # owned_by_container DIR [find options]: everything in DIR owned by the container's user, none open to others
  local bad dir=$1
  shift
  bad=$(find "$dir" "$@" \( -not -uid "$uid" -o -not -gid "$uid" -o -perm /o=rwx \) -printf '%u:%g %m %p\n')
  [ -z "$bad" ] || { say "not owned by $uid:$uid (or open to others):"; echo "$bad"; return 1; }
}
http_status() { # http_status PATH [curl options...]: the status of a GET on the published port
  local path=$1
  shift
  curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$@" "http://127.0.0.1:$port$path" || true
}
scheduled() { # the scheduler's first cycle (after 60 s): its log line, and the file it names
  local name
  for _ in $(seq 1 180); do
    name=$(docker logs "$run_id" 2>&1 | sed -n 's/.*scheduler: scheduled backup created: \([^ ]*\) .*/\1/p' | head -1)
    [ -n "$name" ] && break
    sleep 0.5
  done
  [ -n "$name" ] && [ -s "$backups/$name" ] && return 0
  docker logs "$run_id" 2>&1 | tail -20
  return 1
}
backup_run() { # `docker exec ... backup run`: exit 0, and the backup it names is in the share
  local out name
  out=$(docker exec "$run_id" /app/hone backup run 2>&1) || { echo "$out"; return 1; }
  name=$(echo "$out" | sed -n 's/.*backup created: \([^ ]*\) .*/\1/p' | head -1)
  [ -n "$name" ] && [ -s "$backups/$name" ] || { echo "$out"; return 1; }
}

check "the passphrase is not in docker inspect" bash -c '! "$1" inspect "$2" | grep -qF "$3"' _ "$docker_bin" "$run_id" "$passphrase"
check "docker exec ... /app/hone backup create --dir /backups" \
  docker exec "$run_id" /app/hone backup create --dir /backups --name manual
check "the backup is in the host's folder" test -s "$backups/manual.db.gz"
check "docker exec ... backup verify manual" docker exec "$run_id" /app/hone backup verify manual
check "health: unhealthy without a database" health_is "$run_id-nodb" unhealthy 60
docker rm -f "$run_id-nodb" >/dev/null
check "health: healthy (the image's check, every 30 s)" health_is "$run_id" healthy 60
check "the API on the published port with the token from the secret file: 200" \
  test "$(http_status /api/backup -H "@$secrets/auth-header")" = 200
check "the API without the token: 401" test "$(http_status /api/backup)" = 401

# A restore: the database holds the backup's bytes afterwards, and the previous one is kept.
wanted=$(gzip -dc "$backups/manual.db.gz" | sha256sum | cut -d' ' -f1)
check "the live database differs from the backup's bytes before the restore" \
  test "$(sha256sum <"$data_dir/hone.db" | cut -d' ' -f1)" != "$wanted"
check "docker exec ... backup restore manual --force" docker exec "$run_id" /app/hone backup restore manual --force
check "the database holds the backup's bytes" test "$(sha256sum <"$data_dir/hone.db" | cut -d' ' -f1)" = "$wanted"
check "the previous database is kept" bash -c 'ls "$1" | grep -q "^hone.db.pre-restore-"' _ "$data_dir"

check "a scheduled backup within 90 s of the start" scheduled
say "scheduled backup after $((SECONDS - t_started)) s"
check "health: still healthy after the scheduled cycle" health_is "$run_id" healthy 5
check "docker exec ... /app/hone backup run (one cycle, as the host's cron line runs it)" backup_run

t0=$SECONDS
docker stop -t 10 "$run_id" >/dev/null
stop_s=$((SECONDS - t0))
check "docker stop took ${stop_s} s (< 10 s)" test "$stop_s" -lt 10
check "hone serve exited 0 on SIGTERM" test "$(docker inspect -f '{{.State.ExitCode}}' "$run_id")" = 0
check "the files in /backups (the share) are the container user's" owned_by_container "$backups" -mindepth 1
check "the files in /data are the container user's" owned_by_container "$data_dir"

say "$passed checks passed in $((SECONDS - t_start)) s"
echo "$passed" >"$work/passed"
