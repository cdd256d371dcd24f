#!/usr/bin/env bash
# The whole test suite: Rust unit tests, then the busted specs under LuaJIT
# against a fresh release build. Run from anywhere: bash spec/run.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release
cargo test --release --lib
module_dir=$(mktemp -d)
trap 'rm -rf "$module_dir"' EXIT
ln -s "$PWD/target/release/libasync.so" "$module_dir/async.so"
export LUA_CPATH="$module_dir/?.so;;"
# The TCP specs hold 2,000 sockets open at once.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
set +e
busted "$@" | tee "$module_dir/busted.log"
status=${PIPESTATUS[0]}
set -e
summary=$(grep -E '^[0-9]+ successes? / [0-9]+ failures? / [0-9]+ errors?' "$module_dir/busted.log" | tail -1)
passed=$(echo "$summary" | sed -E 's#^([0-9]+) success.*#\1#')
failures=$(echo "$summary" | sed -E 's#^[0-9]+ successes? / ([0-9]+) failures?.*#\1#')
errors=$(echo "$summary" | sed -E 's#.* / ([0-9]+) errors?.*#\1#')
failed=$(( ${failures:-1} + ${errors:-0} ))
echo "busted: ${passed:-0} passed, ${failed:-1} failed"
exit "$status"
