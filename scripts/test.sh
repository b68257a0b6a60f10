#!/usr/bin/env bash
# Sets up, builds and runs every test suite; this is the README's test command and what CI runs.
# Usage: scripts/test.sh [LEG...]   (default: every leg)
# Every leg runs even when an earlier one failed; the end says how many tests passed, failed and
# were skipped (a skipped test is printed with its reason and never counted as passed), and the
# exit status is 0 only when every leg passed.
#   default        bundled SQLCipher 4.14.0, headers from include/; a local S3 server
#                  (scripts/s3-server.sh: Swift's s3api) runs meanwhile for the S3 tests
#   sqlcipher3     the system's SQLCipher through pkg-config (Debian 12: 3.4.1, SQLite 3.15.2);
#                  tests of SQLCipher 4-only features skip with the reason printed
#   amalgamation   single_include/hone/backup.hpp is what scripts/amalgamate.py makes of include/
#   single-header  the unit, header and compile-failure tests against single_include/ alone
#   sqlcipher3-single-header
#                  the whole suite but the reliability, compile-failure and plumbing tests against the system SQLCipher and
#                  single_include/ together, with an S3 server of its own as in the default leg
#   consumers      install to a temp prefix; build and run tests/cmake_*/ (find_package,
#                  add_subdirectory, FetchContent) and a program built with hone-backup.pc
#   format         scripts/format.sh --check: sources match .clang-format; scripts/check-docs.py:
#                  every relative link of the documentation resolves and every page is linked
#   fuzz           clang 14: the libFuzzer targets of tests/fuzz/ (names, gzip reader, age reader,
#                  S3 answers, REST API), each for ${HONE_FUZZ_SECONDS:-20} s on a copy of its corpus; a crash fails
#   asan           clang 14: the unit tests (ctest -L unit) under AddressSanitizer (with
#                  LeakSanitizer) and UndefinedBehaviorSanitizer
#   container      scripts/container-test.sh: Debian's docker.io builds the image of Dockerfile
#                  and runs docker-compose.yml (exec backup create, a scheduled backup, health,
#                  the API's token, restore, docker stop, volume owners); needs root (or sudo)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
"$root/scripts/setup.sh"

jobs=$(nproc 2>/dev/null || echo 2)
# The legs' builds: -O2 as RelWithDebInfo, without its debug information, which costs a third of
# the compile time (52 s against 36 s for server.cpp); the sanitizer build keeps line tables.
build_type=(-DCMAKE_BUILD_TYPE=Release "-DCMAKE_C_FLAGS_RELEASE=-O2 -DNDEBUG" "-DCMAKE_CXX_FLAGS_RELEASE=-O2 -DNDEBUG")
build_root="${HONE_BUILD_ROOT:-$root/build-test}"
# The S3 server of this run: its own folder and free ports, so two runs can share a machine.
export HONE_S3_DIR="$build_root/s3-server"

# The local S3 server of the S3 integration tests: started in the background while the default
# leg builds (it takes about 5 s), stopped when the script ends.
s3_server_log="$build_root/s3-server.log"
s3_server_pid=
start_s3_server() {
  "$root/scripts/s3-server.sh" start >"$s3_server_log" 2>&1 &
  s3_server_pid=$!
}
use_s3_server() {
  [ -n "$s3_server_pid" ] || return 0
  if wait "$s3_server_pid"; then
    eval "$("$root/scripts/s3-server.sh" env)"
    cat "$s3_server_log"
  else
    echo "S3 server did not start; the S3 integration tests will be skipped:"
    cat "$s3_server_log"
  fi
  s3_server_pid=
}
stop_s3_server() {
  [ -z "$s3_server_pid" ] || wait "$s3_server_pid" 2>/dev/null || true
  s3_server_pid=
  "$root/scripts/s3-server.sh" stop >/dev/null 2>&1 || true
  unset HONE_TEST_S3_ENDPOINT
}

# count_ctest CONSOLE_LOG LAST_TEST_LOG: prints the skipped tests with their reasons and adds the
# leg's tests to the totals (scripts/ctest-summary.py: a skipped test is never counted as passed).
count_ctest() {
  local summary counts
  summary=$(python3 "$root/scripts/ctest-summary.py" "$1" "$2") || return 0
  grep -v '^counts: ' <<<"$summary" || true
  read -r -a counts <<<"$(sed -n 's/^counts: //p' <<<"$summary")"
  add_counts "${counts[0]:-0}" "${counts[1]:-0}" "${counts[2]:-0}" "${counts[3]:-0}"
}

# add_counts PASSED FAILED SKIPPED [CASES_SKIPPED]
add_counts() {
  total_passed=$((total_passed + $1))
  total_failed=$((total_failed + $2))
  total_skipped=$((total_skipped + $3))
  total_cases_skipped=$((total_cases_skipped + ${4:-0}))
}

# run_leg NAME [cmake options...]: configure, build and ctest in its own build folder.
run_leg() {
  local name=$1
  shift
  local dir="$build_root/$name"
  echo
  echo "=== test leg: $name ==="
  local t0=$SECONDS
  cmake -S "$root" -B "$dir" "${build_type[@]}" "$@" >"$dir.configure.log" 2>&1 ||
    { cat "$dir.configure.log"; return 1; }
  if ! cmake --build "$dir" -j"$jobs" >"$dir.build.log" 2>&1; then
    grep -E "error|Error" "$dir.build.log" | head -40
    echo "build failed: $name (full log: $dir.build.log)"
    return 1
  fi
  echo "build: $(grep -c 'warning:' "$dir.build.log" || true) compiler warnings"
  use_s3_server
  local rc=0
  ctest --test-dir "$dir" --output-on-failure -LE "${leg_exclude:-benchmark}" -j"$jobs" 2>&1 | tee "$dir.ctest.log" ||
    rc=$?
  # The figures of the reliability tests (trials, failures, seed, corpus counts, times), which
  # ctest shows only for a failing test.
  grep -h '^reliability: ' "$dir"/Testing/Temporary/LastTest.log 2>/dev/null || true
  count_ctest "$dir.ctest.log" "$dir/Testing/Temporary/LastTest.log"
  echo "=== leg $name took $((SECONDS - t0)) s ==="
  return $rc
}

# consumer NAME SOURCE_DIR [cmake options...]: configure, build and run one consumer project;
# its outcome goes to $dir/NAME.status (so that consumers can run in the background).
consumer() {
  local name=$1 src=$2 dir="$build_root/consumers"
  shift 2
  local t0=$SECONDS log="$dir/$name.log" status="failed"
  if cmake -S "$src" -B "$dir/$name" "${build_type[@]}" "$@" >"$log" 2>&1 &&
    cmake --build "$dir/$name" -j"$jobs" >>"$log" 2>&1 && "$dir/$name/consumer" >>"$log" 2>&1; then
    status="passed"
    # The host project uses no Hone add-on: the core must not pull libargon2 (or libcurl) in.
    if ldd "$dir/$name/consumer" | grep -E 'libargon2|libcurl' >>"$log"; then
      echo "the consumer links an add-on's library it does not use" >>"$log"
      status="failed"
    fi
  fi
  echo "$status" >"$dir/$name.status"
  echo "consumer $name: $status in $((SECONDS - t0)) s, $(grep -c 'warning:' "$log" || true) compiler warnings (log: $log)"
}

# pc_consumer NAME PACKAGE SOURCE: a program built with nothing but `pkg-config --cflags --libs
# PACKAGE` of the installed tree (in $dir/prefix), then run; its outcome goes to $dir/NAME.status.
pc_consumer() {
  local name=$1 package=$2 src=$3 dir="$build_root/consumers" t1=$SECONDS status=failed cxx=${CXX:-c++} pc flags
  local log="$dir/$name.log"
  pc=$(find "$dir/prefix" -name "$package.pc" | head -1)
  mkdir -p "$dir/$name"
  # flags is a list of words, split on purpose.
  if [ -n "$pc" ] && flags=$(PKG_CONFIG_PATH="$(dirname "$pc")" pkg-config --cflags --libs "$package" 2>"$log") &&
    echo "$cxx -std=c++20 -Wall -Wextra $src $flags" >>"$log" &&
    $cxx -std=c++20 -Wall -Wextra "$src" -o "$dir/$name/consumer" $flags >>"$log" 2>&1 &&
    "$dir/$name/consumer" >>"$log" 2>&1; then
    status=passed
  fi
  echo "$status" >"$dir/$name.status"
  echo "consumer $name: $status in $((SECONDS - t1)) s, $(grep -c 'warning:' "$log" || true)" \
    "compiler warnings (log: $log)"
}

# version_check LIBRARY_BUILD_DIR: the installed CMake package accepts exactly the versions the README says.
version_check() {
  local lib=$1
  local dir="$build_root/consumers" status=failed
  if cmake -S "$root/tests/cmake_version" -B "$dir/version" -DCMAKE_PREFIX_PATH="$dir/prefix" \
    -DHONE_INSTALLED_VERSION="$(sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' "$lib/CMakeCache.txt")" \
    >"$dir/version.log" 2>&1; then
    status=passed
  fi
  echo "$status" >"$dir/version.status"
  echo "consumer version: $status ($(grep -c 'as it should be' "$dir/version.log") version requests checked;" \
    "log: $dir/version.log)"
}

# The library as other projects use it. find_package reuses the SQLCipher compiled by the
# default leg (when it ran) through the installed static library; add_subdirectory and
# FetchContent compile the amalgamation themselves, so they build side by side.
run_consumers() {
  echo
  echo "=== test leg: consumers ==="
  local t0=$SECONDS dir="$build_root/consumers" lib="$build_root/default"
  rm -rf "$dir"
  mkdir -p "$dir"
  if [ ! -f "$lib/CMakeCache.txt" ]; then
    lib="$dir/library"
    cmake -S "$root" -B "$lib" "${build_type[@]}" -DHONE_BACKUP_BUILD_TESTS=OFF \
      -DHONE_BACKUP_BUILD_EXAMPLES=OFF -DHONE_BACKUP_BUILD_BENCHMARKS=OFF >"$dir/install.log" 2>&1 ||
      { cat "$dir/install.log"; return 1; }
  fi
  if ! { cmake --build "$lib" --target hone_sqlcipher -j"$jobs" && cmake --install "$lib" --prefix "$dir/prefix"; } \
    >>"$dir/install.log" 2>&1; then
    tail -30 "$dir/install.log"
    echo "install failed (full log: $dir/install.log)"
    return 1
  fi
  echo "installed into $dir/prefix"

  consumer add_subdirectory "$root/tests/cmake_add_subdirectory" &
  consumer fetchcontent "$root/tests/cmake_fetchcontent" &
  consumer find_package "$root/tests/cmake_find_package" -DCMAKE_PREFIX_PATH="$dir/prefix"
  pc_consumer pkg-config hone-backup "$root/tests/consumer/main.cpp"
  pc_consumer pkg-config-argon2 hone-backup-argon2 "$root/tests/consumer/key_main.cpp"
  version_check "$lib"
  wait

  local passed=0 failed=0 name
  for name in find_package pkg-config pkg-config-argon2 version add_subdirectory fetchcontent; do
    if [ "$(cat "$dir/$name.status" 2>/dev/null)" = passed ]; then
      passed=$((passed + 1))
    else
      failed=$((failed + 1))
      echo "--- consumer $name failed; end of $dir/$name.log:"
      tail -25 "$dir/$name.log" 2>/dev/null || true
    fi
  done
  echo "consumers: $passed passed, $failed failed"
  add_counts "$passed" "$failed" 0
  echo "=== leg consumers took $((SECONDS - t0)) s ==="
  [ "$failed" -eq 0 ]
}

# run_check NAME COMMAND...: a leg that is one command.
run_check() {
  local name=$1
  shift
  echo
  echo "=== test leg: $name ==="
  local t0=$SECONDS rc=0
  "$@" || rc=$?
  echo "=== leg $name took $((SECONDS - t0)) s ==="
  return $rc
}

# The clang 14 build the fuzz and asan legs share: the project's C++ code with AddressSanitizer
# and UndefinedBehaviorSanitizer (any undefined behaviour aborts), the fuzz targets besides
# with libFuzzer. SQLCipher's C code (third party) is compiled once, uninstrumented.
sanitize_dir="$build_root/sanitize"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

# sanitize_build LOG TARGET...: configure the shared build (when needed) and build the targets.
sanitize_build() {
  local log=$1 flags="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined"
  shift
  # -gline-tables-only: the reports' stacks keep file and line, at a fraction of -g's cost.
  CC=clang-14 CXX=clang++-14 cmake -S "$root" -B "$sanitize_dir" -DCMAKE_BUILD_TYPE=Release \
    "-DCMAKE_C_FLAGS_RELEASE=-O2 -DNDEBUG" "-DCMAKE_CXX_FLAGS_RELEASE=-O2 -gline-tables-only -DNDEBUG" \
    -DHONE_BACKUP_FUZZ=ON -DHONE_BACKUP_BUILD_EXAMPLES=OFF -DHONE_BACKUP_BUILD_BENCHMARKS=OFF \
    -DHONE_BACKUP_INSTALL=OFF "-DCMAKE_CXX_FLAGS=$flags" "-DCMAKE_EXE_LINKER_FLAGS=$flags" \
    >"$sanitize_dir.configure.log" 2>&1 || { cat "$sanitize_dir.configure.log"; return 1; }
  if ! cmake --build "$sanitize_dir" -j"$jobs" --target "$@" >"$log" 2>&1; then
    grep -E "error|Error" "$log" | head -40
    echo "build failed (full log: $log)"
    return 1
  fi
  echo "build: $(grep -c 'warning:' "$log" || true) compiler warnings"
}

# The fuzz targets, each for HONE_FUZZ_SECONDS on a copy of its seed corpus (the corpus in the
# repository is left as it is). A crashing input is kept in $sanitize_dir/fuzz/TARGET-crashes/.
run_fuzz() {
  echo
  echo "=== test leg: fuzz ==="
  local t0=$SECONDS secs=${HONE_FUZZ_SECONDS:-20} out="$sanitize_dir/fuzz" failed=0 passed=0 target
  sanitize_build "$sanitize_dir.build-fuzz.log" fuzz_names fuzz_gzip fuzz_age fuzz_s3 fuzz_api || return 1
  rm -rf "$out"
  mkdir -p "$out/scratch"
  # fuzz_api's database and backups: on a tmpfs when there is one (every create and restore
  # fsyncs), else in the build folder.
  local scratch="$out/scratch"
  [ -d /dev/shm ] && [ -w /dev/shm ] && scratch=/dev/shm
  for target in names gzip age s3 api; do
    local corpus="$out/$target-corpus" crashes="$out/$target-crashes" log="$out/$target.log" rc=0 t1=$SECONDS
    cp -r "$root/tests/fuzz/corpus/$target" "$corpus"
    mkdir -p "$crashes"
    HONE_FUZZ_SCRATCH="$scratch" "$sanitize_dir/tests/fuzz/fuzz_$target" -max_total_time="$secs" -timeout=60 \
      -print_final_stats=1 -artifact_prefix="$crashes/" "$corpus" >"$log" 2>&1 || rc=$?
    local runs
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    if [ "$rc" -eq 0 ] && [ -z "$(ls -A "$crashes")" ]; then
      passed=$((passed + 1))
      echo "fuzz_$target: passed, ${runs:-?} executions in $((SECONDS - t1)) s," \
        "corpus $(find "$root/tests/fuzz/corpus/$target" -type f | wc -l) -> $(find "$corpus" -type f | wc -l) inputs"
    else
      failed=$((failed + 1))
      echo "fuzz_$target: FAILED (exit $rc) after ${runs:-?} executions in $((SECONDS - t1)) s; log: $log"
      grep -E -A40 "ERROR|runtime error|invariant failed|fuzz_api:" "$log" | head -60 || tail -40 "$log"
      echo "crashing input(s), kept:"
      ls -l "$crashes"
    fi
  done
  add_counts "$passed" "$failed" 0
  echo "fuzz: $passed passed, $failed failed"
  echo "=== leg fuzz took $((SECONDS - t0)) s ==="
  [ "$failed" -eq 0 ]
}

# The unit tests (ctest -L unit) built and run with the sanitizers; only their executables
# are built.
run_asan() {
  echo
  echo "=== test leg: asan ==="
  local t0=$SECONDS rc=0 targets
  mapfile -t targets < <(find "$root/tests" -name 'unit-*.cpp' -printf '%f\n' | sed 's/\.cpp$//' | sort)
  sanitize_build "$sanitize_dir.build-asan.log" "${targets[@]}" || return 1
  ctest --test-dir "$sanitize_dir" -L unit --output-on-failure -j"$jobs" 2>&1 | tee "$sanitize_dir.ctest.log" || rc=$?
  count_ctest "$sanitize_dir.ctest.log" "$sanitize_dir/Testing/Temporary/LastTest.log"
  echo "=== leg asan took $((SECONDS - t0)) s ==="
  return $rc
}

# The container leg: its checks are counted as tests. Its slow first part (Docker's packages
# and, where no registry answers, the base image's root file system from Debian's packages) runs
# in the background from the start (container_prepare), while the other legs build.
container_sudo=()
[ "$(id -u)" -eq 0 ] || container_sudo=(sudo --preserve-env=HONE_CONTAINER_WORK)
container_prepare_pid=
container_prepare() {
  mkdir -p "$build_root/container"
  HONE_CONTAINER_WORK="$build_root/container" "${container_sudo[@]}" "$root/scripts/container-test.sh" --prepare \
    >"$build_root/container-prepare.log" 2>&1 &
  container_prepare_pid=$!
}
run_container() {
  if [ -n "$container_prepare_pid" ]; then
    wait "$container_prepare_pid" || true # a failed preparation is redone (and reported) by the leg
    container_prepare_pid=
    cat "$build_root/container-prepare.log"
  fi
  rm -f "$build_root/container/passed"
  if HONE_CONTAINER_WORK="$build_root/container" run_check container "${container_sudo[@]}" \
    "$root/scripts/container-test.sh"; then
    add_counts "$(cat "$build_root/container/passed")" 0 0
  else
    add_counts "$(cat "$build_root/container/passed" 2>/dev/null || echo 0)" 1 0
    return 1
  fi
}

mkdir -p "$build_root"
total_passed=0 total_failed=0 total_skipped=0 total_cases_skipped=0
failed_legs=()
legs=("$@")
# The second full run combines two requirements to keep CI short: Debian's SQLCipher 3.4.1
# (instead of the bundled 4.14.0) and the generated single header (instead of include/).
[ ${#legs[@]} -gt 0 ] || legs=(amalgamation format default sqlcipher3-single-header consumers container asan fuzz)
trap stop_s3_server EXIT
for leg in "${legs[@]}"; do [ "$leg" = container ] && container_prepare; done
# run_named_leg LEG: one leg by name; every leg runs even when an earlier one failed.
run_named_leg() {
  case "$1" in
    default)
      start_s3_server
      run_leg default
      ;;
    sqlcipher3) run_leg sqlcipher3 -DHONE_BACKUP_SYSTEM_SQLCIPHER=ON ;;
    amalgamation) run_check amalgamation python3 "$root/scripts/amalgamate.py" --check ;;
    single-header)
      run_leg single-header -DHONE_BACKUP_SINGLE_HEADER=ON -DHONE_BACKUP_BUILD_EXAMPLES=OFF \
        -DHONE_BACKUP_BUILD_BENCHMARKS=OFF ;;
    sqlcipher3-single-header)
      start_s3_server
      # The reliability tests (kill -9 and injected faults at every system call of create,
      # restore and prune: 5 minutes), the compile-failure tests (11 compilations) and the
      # program's plumbing tests (label plumbing: server load and shutdown, conventions,
      # deployment, ...: 6 minutes) run in the default leg only: the first and the last exercise
      # the program's own code, the same in both legs, the second the concepts' messages, the
      # same text in both (the amalgamation leg checks that single_include/ is include/).
      leg_exclude="benchmark|reliability|compile_fail|plumbing" run_leg sqlcipher3-single-header -DHONE_BACKUP_SYSTEM_SQLCIPHER=ON -DHONE_BACKUP_SINGLE_HEADER=ON \
        -DHONE_BACKUP_BUILD_BENCHMARKS=OFF ;;
    consumers) run_consumers ;;
    fuzz) run_fuzz ;;
    asan) run_asan ;;
    container) run_container ;;
    format) run_check format bash -c '"$1/scripts/format.sh" --check include tests examples benchmarks &&
      python3 "$1/scripts/check-docs.py" "$1"' format "$root" ;;
    *) echo "unknown leg: $1" >&2; exit 2 ;;
  esac
}
for leg in "${legs[@]}"; do
  rc=0
  run_named_leg "$leg" || rc=$?
  stop_s3_server
  if [ "$rc" -ne 0 ]; then
    failed_legs+=("$leg")
    case "$leg" in amalgamation | format) total_failed=$((total_failed + 1)) ;; esac
  else
    case "$leg" in amalgamation | format) total_passed=$((total_passed + 1)) ;; esac
  fi
done
echo
echo "legs: ${legs[*]}"
[ ${#failed_legs[@]} -eq 0 ] || echo "failed legs: ${failed_legs[*]}"
echo "all legs: ${total_passed} passed, ${total_failed} failed, ${total_skipped} skipped" \
  "(and ${total_cases_skipped} test cases skipped inside tests that passed)"
[ ${#failed_legs[@]} -eq 0 ]
