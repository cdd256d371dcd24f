rockspec_format = "3.0"
package = "async"
version = "scm-1"
source = {
   url = "git+file:///dev/null", -- built in place with `luarocks make`
}
description = {
   summary = "A libuv event loop for LuaJIT with a Node.js-like API",
   detailed = [[
      Timers, TCP, files, processes, DNS, HTTP, JSON messaging and fibers
      for LuaJIT, as a native module written in Rust over libuv.
   ]],
   license = "MIT",
}
dependencies = {
   "lua >= 5.1",
}
build = {
   -- Only runs commands: nothing is downloaded from a rocks server. cargo
   -- builds libuv from source (its bindings need libclang).
   type = "command",
   build_command = "cargo build --release",
   install_command = "mkdir -p '$(LIBDIR)' && cp target/release/libasync.so '$(LIBDIR)/async.so'",
}
