#!/usr/bin/env bash
# Sets up, builds and runs every test suite; this is the README's test command and what CI runs.
# Usage: scripts/test.sh [LEG...]   (default: every leg)
#   default    bundled SQLCipher 4.14.0, headers from include/
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
"$root/scripts/setup.sh"

jobs=$(nproc 2>/dev/null || echo 2)
build_root="${HONE_BUILD_ROOT:-$root/build-test}"

# run_leg NAME [cmake options...]: configure, build and ctest in its own build folder.
run_leg() {
  local name=$1
  shift
  local dir="$build_root/$name"
  echo
  echo "=== test leg: $name ==="
  local t0=$SECONDS
  cmake -S "$root" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >"$dir.configure.log" 2>&1 ||
    { cat "$dir.configure.log"; return 1; }
  if ! cmake --build "$dir" -j"$jobs" >"$dir.build.log" 2>&1; then
    grep -E "error|Error" "$dir.build.log" | head -40
    echo "build failed: $name (full log: $dir.build.log)"
    return 1
  fi
  echo "build: $(grep -c 'warning:' "$dir.build.log" || true) compiler warnings"
  ctest --test-dir "$dir" --output-on-failure -LE benchmark -j"$jobs"
  echo "=== leg $name took $((SECONDS - t0)) s ==="
}

mkdir -p "$build_root"
legs=("$@")
[ ${#legs[@]} -gt 0 ] || legs=(default)
for leg in "${legs[@]}"; do
  case "$leg" in
    default) run_leg default ;;
    *) echo "unknown leg: $leg" >&2; exit 2 ;;
  esac
done
