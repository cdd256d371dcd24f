#!/usr/bin/env bash
# fuzz/run.sh [seconds-per-target]
#
# Builds the fuzz targets and runs each in turn for the given seconds
# (default 20) over a copy of its seed corpus in a temporary folder, so
# that the checkout is left as it was (crash inputs, if any, are kept in
# fuzz/artifacts/, which git ignores). Prints the executions per target;
# exits 1 if a target crashed. Without a nightly toolchain, or without
# cargo-fuzz when it cannot be installed, it says so and exits 0.
#
# FUZZ_TARGETS="json url" runs only those; FUZZ_ARGS adds libFuzzer flags
# (FUZZ_ARGS=-runs=10000000 runs each target that many times instead);
# FUZZ_SANITIZER=none builds without AddressSanitizer (several times the
# executions per second; the parsers are safe Rust, JSON is not).
set -uo pipefail

seconds=${1:-20}
cd "$(dirname "$0")"

if ! cargo +nightly --version >/dev/null 2>&1; then
  echo "fuzz: no nightly toolchain (cargo +nightly); skipped"
  exit 0
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "fuzz: cargo-fuzz is missing; trying cargo install cargo-fuzz"
  if ! cargo install --locked cargo-fuzz >/dev/null 2>&1 || ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "fuzz: cargo-fuzz could not be installed; skipped"
    exit 0
  fi
fi

sanitizer=${FUZZ_SANITIZER:-address}
echo "fuzz: building the targets ($(cargo +nightly fuzz --version), sanitizer $sanitizer)"
if ! cargo +nightly fuzz build --sanitizer "$sanitizer"; then
  echo "fuzz: the targets do not build"
  exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
targets=${FUZZ_TARGETS:-$(cargo +nightly fuzz list)}
failed=()
printf '%-14s %12s %10s  %s\n' target executions 'execs/s' result
for target in $targets; do
  mkdir "$work/$target"
  cp corpus/"$target"/seed-* "$work/$target/"
  log="$work/$target.log"
  own=()
  # The JSON target keeps one Lua state across inputs, whose heap grows
  # and shrinks with LuaJIT's collector: LeakSanitizer would scan the
  # whole heap after every input and find nothing it can attribute.
  [ "$target" = json ] && own+=(-detect_leaks=0)
  # One process, one job: the machine is shared. -timeout catches a unit
  # that hangs; libFuzzer's own limits (4096-byte inputs, 2 GiB) stand.
  # shellcheck disable=SC2086
  if cargo +nightly fuzz run --sanitizer "$sanitizer" "$target" "$work/$target" -- \
    -max_total_time="$seconds" -timeout=30 -print_final_stats=1 "${own[@]}" ${FUZZ_ARGS:-} >"$log" 2>&1; then
    result=ok
  else
    result=FAILED
    failed+=("$target")
  fi
  executions=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  printf '%-14s %12s %10s  %s\n' "$target" "${executions:-?}" "${rate:-?}" "$result"
  if [ "$result" = FAILED ]; then
    echo "---- $target: the end of its log"
    tail -n 60 "$log"
    echo "----"
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: FAILED: ${failed[*]} (inputs in fuzz/artifacts/)"
  exit 1
fi
echo "fuzz: no crash in $(echo "$targets" | wc -w) targets"
