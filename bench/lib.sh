# Shared by the benchmark runners (sourced, not run): make `require 'async'`
# work for luajit, and make sure a Lua module from Debian is loadable.
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
