rockspec_format = "3.0"
package = "async"
version = "0.1.0-1"
source = {
   url = "git+file:///dev/null", -- built in place with `luarocks make` (tag v0.1.0)
}
description = {
   summary = "A libuv event loop for LuaJIT with a Node.js-like API",
   detailed = [[
      Timers, TCP, files, processes, DNS, an HTTP server and client, JSON
      messaging, fibers, a local and a remote REPL and curl for LuaJIT, as
      a native module written in Rust over libuv. It runs programs written
      for the original async library unchanged. Penlight is loaded when it
      is installed, as the original did; it is not required.
   ]],
   license = "MIT",
   labels = { "libuv", "event-loop", "async", "http", "tcp", "luajit", "fibers" },
}
-- Only LuaJIT loads it (its C API, FFI buffers): Lua 5.1's ABI.
dependencies = {
   "lua == 5.1",
}
build = {
   -- Only runs commands: nothing is downloaded from a rocks server. cargo
   -- builds libuv from source (its bindings need libclang).
   type = "command",
   build_command = "cargo build --release",
   install_command = "mkdir -p '$(LIBDIR)' && cp target/release/libasync.so '$(LIBDIR)/async.so'",
   copy_directories = { "docs", "examples" },
}
-- `luarocks test` runs the whole suite as the README's test command does:
-- Rust unit tests, then busted against the fresh build. (The "busted"
-- test type would need busted as a rock; Debian's lua-busted is not one.)
test = {
   type = "command",
   command = "bash spec/run.sh",
}
