#!/usr/bin/env bash
# Builds and runs the benchmarks (benchmarks/bench-backup.cpp): the original Hone's backup
# pipeline against ours, on Hone-style databases (encrypted and plain) of about 20 and 250 MB,
# side by side in one run, several repetitions each, medians reported. Prints a markdown table
# and writes benchmarks/results/latest.json and latest.md (see benchmarks/README.md).
#
# Usage: scripts/bench.sh [--size MB[,MB...]] [--reps N] [--build-dir DIR] [--no-build] [--out DIR]
#                         [-- further hone-bench options]
#   --size 20,250   database sizes in MB (default both; 250 MB runs take ~10-15 minutes)
#   --reps N        repetitions of every operation (default: 5 below 100 MB, 3 from 100 MB)
#   --build-dir     where to build (default build-bench; Release)
#   --out DIR       where latest.json / latest.md go (default benchmarks/results)
# Generated databases are cached in scratch/bench/ (git-ignored) by size and kind, and made
# again when missing. The machine should be otherwise idle: timings on a loaded machine are
# noisy (the script prints the load average first and refuses nothing).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

sizes=20,250
reps=
build_dir="$root/build-bench"
build=1
out="$root/benchmarks/results"
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --size | --sizes) sizes=$2; shift 2 ;;
    --reps) reps=$2; shift 2 ;;
    --build-dir) build_dir=$2; shift 2 ;;
    --no-build) build=0; shift ;;
    --out) out=$2; shift 2 ;;
    -h | --help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    --) shift; extra=("$@"); break ;;
    *) echo "bench.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

if [ "$build" = 1 ]; then
  [ -f "$root/.cache/sqlcipher-4.14.0/sqlite3.c" ] || "$root/scripts/setup.sh"
  cmake -S "$root" -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DHONE_BACKUP_BUILD_BENCHMARKS=ON \
    -DHONE_BACKUP_BUILD_TESTS=OFF -DHONE_BACKUP_BUILD_EXAMPLES=OFF >/dev/null
  cmake --build "$build_dir" --target hone-bench -j"$(nproc 2>/dev/null || echo 2)"
fi

echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores (ratios within one run are what count)"
mkdir -p "$out" "$root/scratch/bench"
args=(--size "$sizes" --scratch "$root/scratch/bench" --json "$out/latest.json" --markdown "$out/latest.md")
[ -n "$reps" ] && args+=(--reps "$reps")
exec "$build_dir/benchmarks/hone-bench" --log_level=test_suite -- "${args[@]}" "${extra[@]}"
