#!/usr/bin/env bash
# The busted specs under valgrind's memcheck, to catch memory errors in
# the Rust and libuv code: invalid reads and writes, use after free,
# double frees, jumps on uninitialised values, and leaks.
#
#   bash spec/valgrind.sh                      every spec file
#   bash spec/valgrind.sh spec/tcp_spec.lua    some of them
#
# Each spec file runs in its own valgrind process (a leak report per file,
# and an error is easy to place), with LuaJIT's JIT off. Tests tagged
# #novalgrind (too timing-sensitive or too slow at valgrind's speed) and
# #valgrind_bug (a known error, excluded until it is fixed) are left out.
# A child `luajit` that a spec starts by name (the soundness spec's
# hostile programs) runs under valgrind too, through a wrapper put first
# on PATH.
#
# The exit status is non-zero when a test fails or valgrind reports an
# error. Leaks: see VALGRIND_LEAK_ERRORS below.
#
# Settings (environment):
#   VALGRIND_TARGET_DIR   cargo target directory of the build with debug
#                         information (default target/valgrind, so that
#                         target/release is not rebuilt)
#   VALGRIND_LEAK_ERRORS  leak kinds that count as errors: none (default)
#                         or definite. Every definite leak is listed in the
#                         logs and counted in the summary either way. It is
#                         none because the module loses its libuv loop and
#                         its read buffer when the Lua state closes, on
#                         purpose (runtime.rs), and memcheck reports those
#                         as definitely lost in every process.
#   VALGRIND_TRACK_ORIGINS  yes to say where uninitialised values came
#                         from (slower); default no
#   VALGRIND_SPEC_TIMEOUT  seconds one spec file may take before it is
#                         stopped and counted as failed (default 900)
#   VALGRIND_LOGS         keep the valgrind logs in this directory
#                         (default: a temporary one, printed for failures
#                         and then removed)
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
started=$(date +%s)

# A release build with debug information, in its own target directory.
target=${VALGRIND_TARGET_DIR:-$repo/target/valgrind}
CARGO_PROFILE_RELEASE_DEBUG=true CARGO_TARGET_DIR=$target cargo build --release
built=$(date +%s)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
logs=${VALGRIND_LOGS:-$work/logs}
mkdir -p "$logs" "$work/module" "$work/bin"
ln -s "$target/release/libasync.so" "$work/module/async.so"
export LUA_CPATH="$work/module/?.so;;"
# The soundness spec holds 10,000 connections (20,000 descriptors); those
# tests are #novalgrind, but the rest of the suite wants many too.
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

luajit=$(command -v luajit)
# By absolute path: a spec may run its child with a PATH of its own.
memcheck=(
   "$(command -v valgrind)" --tool=memcheck
   --error-exitcode=99
   --suppressions="$repo/spec/valgrind.supp"
   --leak-check=full
   --show-leak-kinds=definite
   --errors-for-leak-kinds="${VALGRIND_LEAK_ERRORS:-none}"
   --track-origins="${VALGRIND_TRACK_ORIGINS:-no}"
   # The module is unloaded when the Lua state closes, before the leak
   # check: keep its symbols to name the leaks' stacks.
   --keep-debuginfo=yes
   --num-callers=40
   # A process that libuv forks and whose exec fails exits without exec:
   # its copy of the parent's heap is no news.
   --child-silent-after-fork=yes
)

# busted's own command, run by the luajit under valgrind rather than by
# whatever `lua` the busted script names.
printf '%s\n' "require 'busted.runner'({ standalone = false })" > "$work/busted.lua"

# Child luajit processes started by name run under valgrind too, each
# with its own log, named after the spec file that started it.
{
   printf '%s\n' '#!/bin/sh'
   printf 'exec'
   printf ' %q' "${memcheck[@]}"
   printf ' %s' "--log-file=$(printf %q "$logs")/\"\$ASYNC_VALGRIND_SPEC\".child.%p.log"
   printf ' %q' "$luajit" -joff
   printf ' "$@"\n'
} > "$work/bin/luajit"
chmod +x "$work/bin/luajit"
export PATH="$work/bin:$PATH"

if [ $# -gt 0 ]; then specs=("$@"); else specs=(spec/*_spec.lua); fi

passed=0 failed=0 pending=0 vg_errors=0 leaked=0 status=0
for spec in "${specs[@]}"; do
   name=$(basename "$spec" .lua)
   spec_start=$(date +%s)
   export ASYNC_VALGRIND_SPEC=$name
   set +e
   timeout --kill-after=30 "${VALGRIND_SPEC_TIMEOUT:-900}" \
      "${memcheck[@]}" --log-file="$logs/$name.%p.log" "$luajit" -joff "$work/busted.lua" \
      --ignore-lua --exclude-tags=novalgrind,valgrind_bug "$spec" 2>&1 | tee "$work/$name.out"
   rc=${PIPESTATUS[0]}
   set -e
   spec_end=$(date +%s)
   line=$(grep -E '^[0-9]+ successes? / [0-9]+ failures? / [0-9]+ errors? / [0-9]+ pending' "$work/$name.out" | tail -1 || true)
   if [ -n "$line" ]; then
      read -r s _ _ f _ _ e _ _ p _ <<< "$line"
   else
      s=0 f=0 e=1 p=0 # busted did not get to its summary
   fi
   # Errors and definite leaks of this spec's process and its children.
   errs=0 leaks=0
   for log in "$logs/$name".*.log; do
      [ -e "$log" ] || continue
      n=$(sed -nE 's/.*ERROR SUMMARY: ([0-9]+) errors.*/\1/p' "$log" | tail -1)
      errs=$(( errs + ${n:-0} ))
      n=$(sed -nE 's/.*definitely lost: ([0-9,]+) bytes.*/\1/p' "$log" | tail -1 | tr -d ,)
      leaks=$(( leaks + ${n:-0} ))
   done
   passed=$((passed + s)) failed=$((failed + f + e)) pending=$((pending + p))
   vg_errors=$((vg_errors + errs)) leaked=$((leaked + leaks))
   echo "== $name: $s passed, $((f + e)) failed, $errs valgrind errors, $leaks bytes definitely lost, $((spec_end - spec_start)) s"
   if [ "$rc" -ne 0 ] || [ "$errs" -ne 0 ]; then
      status=1
      if [ "$errs" -ne 0 ]; then
         grep -hv '^==[0-9]*== *$' "$logs/$name".*.log | head -400 || true
      fi
   fi
done

ended=$(date +%s)
echo
echo "valgrind summary: ${#specs[@]} spec files, $passed tests passed, $failed failed, $pending pending"
echo "valgrind summary: $vg_errors valgrind errors, $leaked bytes definitely lost (leak errors: ${VALGRIND_LEAK_ERRORS:-none})"
echo "valgrind summary: build $((built - started)) s, specs $((ended - built)) s, total $((ended - started)) s"
[ -n "${VALGRIND_LOGS:-}" ] && echo "valgrind logs: $logs"
echo "valgrind: $passed passed, $((failed + vg_errors)) failed"
exit "$status"
