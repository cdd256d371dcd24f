# Shared by the benchmark runners (sourced, not run): make `require 'async'`
# work for luajit, make sure a Lua module from Debian is loadable, and
# report the best of several interleaved rounds (tcp, udp).
# The runner sets BENCH (its name, for messages) and TMP (a scratch folder
# it removes on exit) before sourcing this.

die() { echo "bench/$BENCH: FAIL: $*" >&2; exit 1; }

# need_lua_module MODULE DEBIAN_PACKAGE: installs the package with apt-get
# (when running as root) if luajit cannot `require` the module.
need_lua_module() {
  local module=$1 package=$2
  luajit -e "require '$module'" >/dev/null 2>&1 && return
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "$module missing: installing $package" >&2
    { apt-get install -y "$package" || { apt-get update && apt-get install -y "$package"; }; } >&2
  fi
  luajit -e "require '$module'" >/dev/null 2>&1 \
    || die "$module not loadable from luajit (install Debian package $package)"
}

link_module() { # $1: path to the shared library
  [ -f "$1" ] || die "module not found: $1 (run 'cargo build --release' or set ASYNC_CPATH)"
  ln -s "$(cd "$(dirname "$1")" && pwd)/$(basename "$1")" "$TMP/async.so"
  export LUA_CPATH="$TMP/?.so;;"
  MODULE_FROM=$1
}

# find_async REPO: sets LUA_CPATH so that luajit finds `async`, and
# MODULE_FROM to say where it came from: ASYNC_CPATH if set (a cpath
# pattern, or the library itself), else an installed module, else
# REPO/target/release/libasync.so.
find_async() {
  local repo=$1 err
  if [ -n "${ASYNC_CPATH:-}" ]; then
    case $ASYNC_CPATH in
      *'?'*) export LUA_CPATH="$ASYNC_CPATH;;"; MODULE_FROM="ASYNC_CPATH=$ASYNC_CPATH" ;;
      *)     link_module "$ASYNC_CPATH" ;;
    esac
  elif luajit -e "require 'async'" >/dev/null 2>&1; then
    MODULE_FROM="installed ($(luajit -e "print((package.searchpath('async', package.cpath)))" 2>/dev/null || echo '?'))"
  else
    link_module "$repo/target/release/libasync.so"
  fi
  err=$(luajit -e "require 'async'" 2>&1) || die "cannot load async: $err"
}

# The rounds of a measurement: `vals["impl metric"]` holds the values of
# every round, space-separated (`add impl metric value`).
declare -A vals
add() { vals["$1 $2"]="${vals["$1 $2"]:-} $3"; }
field() { sed -nE "s/.* $1=([^ ]+).*/\1/p" <<<"$2"; } # $1=VALUE in a result line

best() { # $1: "impl metric", $2: max|min -> best value of the rounds, or nothing
  awk -v d="$2" '{ for (i = 1; i <= NF; i++) { v = $i + 0
      if (i == 1 || (d == "max" && v > b) || (d == "min" && v < b)) b = v }
    if (NF) print b }' <<<"${vals[$1]:-}"
}
spread() { # $1: "impl metric" -> (max - min) / best, as a percentage
  awk -v d="$2" '{ if (NF < 2) { print "-"; exit }
    lo = hi = $1 + 0; for (i = 2; i <= NF; i++) { v = $i + 0; if (v < lo) lo = v; if (v > hi) hi = v }
    b = d == "max" ? hi : lo
    if (b == 0) print "-"; else printf "%.0f%%\n", 100 * (hi - lo) / b }' <<<"${vals[$1]:-}"
}
fmt() { # $1: printf format, $2: value (empty: n/a)
  if [ -n "$2" ]; then awk -v f="$1" -v v="$2" 'BEGIN { printf f, v }'; else printf 'n/a'; fi
}
ratio() { # $1 / $2, or n/a
  if [ -n "$1" ] && [ -n "$2" ] && awk -v b="$2" 'BEGIN { exit !(b > 0) }'; then
    awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'
  else printf 'n/a'; fi
}
