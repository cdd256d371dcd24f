//! The library is built in mlua's `module` mode, which leaves the Lua C
//! API unresolved for the `luajit` that loads it. A fuzz binary has no
//! such host, so it links the system LuaJIT (Debian's libluajit-5.1-dev).
fn main() {
    println!("cargo:rustc-link-lib=dylib=luajit-5.1");
}
