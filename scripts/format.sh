#!/usr/bin/env bash
# Formats the C++ sources with clang-format and the repository's .clang-format.
# Usage: scripts/format.sh [--check] [PATH...]
#   (no option)  reformat the files in place
#   --check      change nothing; list the files that differ and exit 1 when there is any
# PATHs (files or folders) default to include/ tests/ examples/ benchmarks/; only *.hpp and
# *.cpp are considered. single_include/ is generated (scripts/amalgamate.py), never formatted.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

check=0
paths=()
for arg in "$@"; do
  case "$arg" in
    --check) check=1 ;;
    -h | --help) sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "format.sh: unknown option $arg" >&2; exit 2 ;;
    *) paths+=("$arg") ;;
  esac
done
[ ${#paths[@]} -gt 0 ] || paths=(include tests examples benchmarks)

clang_format=${CLANG_FORMAT:-}
if [ -z "$clang_format" ]; then
  for c in clang-format clang-format-14 clang-format-15 clang-format-16; do
    if command -v "$c" >/dev/null 2>&1; then clang_format=$c; break; fi
  done
fi
[ -n "$clang_format" ] || { echo "format.sh: clang-format not found (scripts/setup.sh installs it)" >&2; exit 2; }

existing=()
for p in "${paths[@]}"; do [ -e "$p" ] && existing+=("$p"); done
[ ${#existing[@]} -gt 0 ] || exit 0
mapfile -d '' files < <(find "${existing[@]}" -type f \( -name '*.hpp' -o -name '*.cpp' \) -print0 | sort -z)

differ=0
for f in "${files[@]}"; do
  if [ "$check" = 1 ]; then
    if ! "$clang_format" --style=file "$f" | cmp -s - "$f"; then
      echo "$f"
      differ=$((differ + 1))
    fi
  else
    "$clang_format" --style=file -i "$f"
  fi
done
if [ "$check" = 1 ]; then
  if [ "$differ" -gt 0 ]; then
    echo "format: $differ of ${#files[@]} files differ from .clang-format (run scripts/format.sh)" >&2
    exit 1
  fi
  echo "format: ${#files[@]} files match .clang-format"
fi
