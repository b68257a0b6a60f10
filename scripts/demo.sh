#!/usr/bin/env bash
# The README's demo: sets up, builds the `hone` program, creates an encrypted demo database
# with the Hone tables in a scratch folder, backs it up, lists the backups and verifies one.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/scripts/setup.sh"

build="${HONE_BUILD_ROOT:-$root/build-test}/demo"
mkdir -p "$(dirname "$build")"
echo "demo: building the hone program in ${build#"$root"/}"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DHONE_BACKUP_BUILD_TESTS=OFF \
  -DHONE_BACKUP_BUILD_BENCHMARKS=OFF >"$build.configure.log" 2>&1 || { cat "$build.configure.log"; exit 1; }
cmake --build "$build" -j"$(nproc 2>/dev/null || echo 2)" --target hone >"$build.build.log" 2>&1 ||
  { tail -40 "$build.build.log"; exit 1; }
hone="$build/examples/hone/hone"

scratch="${HONE_DEMO_DIR:-$root/scratch/demo}"
rm -rf "$scratch"
mkdir -p "$scratch"
export HOME="$scratch/home"            # keep the demo away from the real data folders
export HONE_DB_PATH="$scratch/hone.db"
export HONE_BACKUP_DIR="$scratch/backups"
export HONE_DB_KEY="demo passphrase, not a secret"  # Argon2id-derived, exactly as the original does
mkdir -p "$HOME"

run() {
  echo
  echo "\$ hone $*"
  "$hone" "$@"
}
echo "demo: scratch folder ${scratch}"
run demo-db --accounts 5 --transactions 1234 --subscriptions 12
run dashboard
run backup create
run backup create --name before-upgrade
run backup list
name=$("$hone" backup list --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["name"])')
run backup verify "$name"
echo
echo "demo: done. Database $HONE_DB_PATH, backups in $HONE_BACKUP_DIR"
