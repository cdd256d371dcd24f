//! System information: `hrtime`, `getTotalMemory`, `getFreeMemory`,
//! `cpuInfo` (also `getCpuInfo`), read from libuv.
//!
//! May touch: libuv's system queries (no loop, no handles).

use mlua::{Lua, Result, Table};

use crate::core::boundary::{self, fail};
use crate::core::errors::uv_message;
use libuv_sys2 as uv;

pub fn install(lua: &Lua, module: &Table) -> Result<()> {
    module.set(
        "hrtime",
        // SAFETY: uv_hrtime reads a monotonic clock; no state involved.
        boundary::function(lua, "hrtime", |_, _| Ok(unsafe { uv::uv_hrtime() } as f64 / 1e6))?,
    )?;
    module.set(
        "getTotalMemory",
        // SAFETY: a plain query of the OS.
        boundary::function(lua, "getTotalMemory", |_, _| Ok(unsafe { uv::uv_get_total_memory() } as f64))?,
    )?;
    module.set(
        "getFreeMemory",
        // SAFETY: a plain query of the OS.
        boundary::function(lua, "getFreeMemory", |_, _| Ok(unsafe { uv::uv_get_free_memory() } as f64))?,
    )?;
    let cpu_info = boundary::function(lua, "cpuInfo", |lua, _| cpu_info(lua))?;
    module.set("cpuInfo", &cpu_info)?;
    // The name the original's documentation gives (its code said cpuInfo).
    module.set("getCpuInfo", cpu_info)?;
    Ok(())
}

fn cpu_info(lua: &Lua) -> Result<Table> {
    let mut infos: *mut uv::uv_cpu_info_t = std::ptr::null_mut();
    let mut count: i32 = 0;
    // SAFETY: libuv allocates `count` entries at `infos`; they are read
    // below and released with uv_free_cpu_info before returning.
    let rc = unsafe { uv::uv_cpu_info(&mut infos, &mut count) };
    if rc != 0 {
        return fail(uv_message(rc, None));
    }
    // SAFETY: uv_cpu_info succeeded, so `infos` holds `count` entries
    // until uv_free_cpu_info below.
    let entries = unsafe { std::slice::from_raw_parts(infos, count.max(0) as usize) };
    let result = (|| {
        let list = lua.create_table()?;
        for info in entries {
            let cpu = lua.create_table()?;
            // SAFETY: libuv fills `model` with a NUL-terminated string.
            let model = unsafe { std::ffi::CStr::from_ptr(info.model) };
            cpu.set("model", lua.create_string(model.to_bytes())?)?;
            cpu.set("speed", info.speed)?;
            let t = info.cpu_times;
            let times = lua.create_table()?;
            times.set("user", t.user as f64)?;
            times.set("nice", t.nice as f64)?;
            times.set("sys", t.sys as f64)?;
            times.set("idle", t.idle as f64)?;
            times.set("irq", t.irq as f64)?;
            cpu.set("times", times)?;
            list.push(cpu)?;
        }
        Ok(list)
    })();
    // SAFETY: `infos` came from uv_cpu_info and is freed exactly once.
    unsafe { uv::uv_free_cpu_info(infos, count) };
    result
}
