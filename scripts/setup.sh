#!/usr/bin/env bash
# Installs what hone-backup needs to build and test, and fetches the SQLCipher 4.14.0
# amalgamation into .cache/. Safe to run any number of times: it only does what is missing.
# Usage: scripts/setup.sh [--program] [--packages-only]
#   --program        only what building the `hone` program needs (the image's build stage)
#   --packages-only  the Debian packages only, not the amalgamation
set -euo pipefail
program_only=0
packages_only=0
for arg in "$@"; do
  case "$arg" in
    --program) program_only=1 ;;
    --packages-only) packages_only=1 ;;
    *) echo "setup: unknown option: $arg" >&2; exit 2 ;;
  esac
done

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache="$root/.cache"
sqlcipher_pkg="@journeyapps/sqlcipher@6.0.0"
sqlcipher_integrity="sha512-YmWSQIR4cnv+5L38lYJoS/dIF/+bEZBaACATbeTyq4XKjMHcxdIlFnElBLiIqa9rwseOIimIYjudgOOCovud3Q=="
amalgamation="$cache/sqlcipher-4.14.0"

packages=(
  build-essential cmake pkg-config ca-certificates
  libssl-dev zlib1g-dev libdeflate-dev
  nlohmann-json3-dev libboost-dev libboost-test-dev libcli11-dev
  libargon2-dev argon2
  libsqlcipher-dev sqlcipher
  clang-format clang-14 libclang-rt-14-dev python3 nodejs npm strace help2man zsh time sqlite3
  libcurl4-openssl-dev libexpat1-dev python3-botocore curl systemd swift-proxy swift-object swift-container swift-account
  age prometheus python3-yaml
)
if ((program_only)); then
  packages=(
    build-essential cmake pkg-config ca-certificates openssl
    libssl-dev zlib1g-dev libdeflate-dev
    nlohmann-json3-dev libboost-dev libcli11-dev libargon2-dev libcurl4-openssl-dev libexpat1-dev
  )
  # npm only to fetch the amalgamation when it is not there yet.
  if ((!packages_only)) && [ ! -f "$amalgamation/sqlite3.c" ]; then packages+=(nodejs npm); fi
fi

missing=()
for p in "${packages[@]}"; do
  # nodejs/npm may come from elsewhere than Debian; a working command is enough.
  case "$p" in
    nodejs) command -v node >/dev/null 2>&1 && continue ;;
    npm) command -v npm >/dev/null 2>&1 && continue ;;
    python3) command -v python3 >/dev/null 2>&1 && continue ;;
  esac
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=()
  if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
    --no-install-recommends "${missing[@]}" >/dev/null
fi
((packages_only)) && { echo "setup: packages ready"; exit 0; }

if [ ! -f "$amalgamation/sqlite3.c" ] || [ ! -f "$amalgamation/sqlite3.h" ]; then
  echo "setup: fetching the SQLCipher 4.14.0 amalgamation ($sqlcipher_pkg)"
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  (cd "$work" && npm pack "$sqlcipher_pkg" --silent >/dev/null)
  tarball=$(ls "$work"/*.tgz)
  actual="sha512-$(openssl dgst -sha512 -binary "$tarball" | base64 -w0)"
  if [ "$actual" != "$sqlcipher_integrity" ]; then
    echo "setup: integrity check failed for $sqlcipher_pkg" >&2
    echo "  expected $sqlcipher_integrity" >&2
    echo "  got      $actual" >&2
    exit 1
  fi
  tar -xzf "$tarball" -C "$work" package/deps/sqlcipher-amalgamation
  mkdir -p "$amalgamation.tmp"
  cp "$work"/package/deps/sqlcipher-amalgamation/{sqlite3.c,sqlite3.h,sqlite3ext.h,VERSION.txt} "$amalgamation.tmp/"
  rm -rf "$amalgamation"
  mv "$amalgamation.tmp" "$amalgamation"
fi
echo "setup: ready (SQLCipher amalgamation in ${amalgamation#"$root"/})"
