-- Fibers: coroutines that suspend while an asynchronous call completes.
-- This part is Lua because it yields: LuaJIT cannot yield across a C call,
-- so everything that suspends a fiber has to run as Lua code. It rests on
-- the Rust primitives it is given (setTimeout, and the module table in
-- which sync.NAME finds its functions).
local async = ...
local setTimeout = async.setTimeout
local create, resume, running, yield, status =
   coroutine.create, coroutine.resume, coroutine.running, coroutine.yield, coroutine.status
local traceback, select, unpack, error, type = debug.traceback, select, unpack, error, type

-- Fibers by coroutine; weak keys so that finished fibers are collected.
local fibers = setmetatable({}, {__mode = 'k'})


local fiber = {}

-- Makes a fiber of `fn` and starts it; returns the fiber followed by what
-- the first resume returned (`f, true, ...`).
function fiber.new(fn)
   if type(fn) ~= 'function' then
      error("bad argument #1 to 'fiber' (function expected, got " .. type(fn) .. ")", 2)
   end
   local co = create(fn)
   local f = {co = co}
   -- An error inside the fiber is raised to whoever resumed it, with the
   -- fiber's own traceback.
   local function finish(ok, ...)
      if not ok then
         local message = ...
         error(traceback(co, tostring(message)), 0)
      end
      return ok, ...
   end
   function f.resume(...)
      if status(co) ~= 'suspended' then
         error("cannot resume a fiber that is " .. status(co), 2)
      end
      return finish(resume(co, ...))
   end
   function f.yield(...)
      if running() ~= co then
         error("cannot yield a fiber from outside it", 2)
      end
      return yield(...)
   end
   fibers[co] = f
   return f, f.resume()
end

-- The running fiber, or nil outside any fiber.
function fiber.context()
   local co = running()
   return co and fibers[co] or nil
end

local function current(name)
   local f = fiber.context()
   if not f then
      error("'" .. name .. "' must be called inside a fiber (see async.fiber)", 3)
   end
   return f
end

local function identity(...) return ... end
local function pack(...) return {n = select('#', ...), ...} end

-- Calls each funcs[i](args[i]..., done) with at most `limit` in flight,
-- suspends the fiber until every `done` was called, and returns the
-- results, each passed through `cb`.
function fiber.wait(funcs, args, limit, cb)
   local f = current('wait')
   if type(limit) == 'function' then limit, cb = nil, limit end
   limit = limit or 64
   cb = cb or identity
   if type(funcs) == 'function' then funcs, args = {funcs}, {args} end
   if type(funcs) ~= 'table' then
      error("bad argument #1 to 'wait' (function or table expected, got " .. type(funcs) .. ")", 2)
   end
   if type(limit) ~= 'number' or limit < 1 then
      error("bad argument #3 to 'wait' (positive number expected)", 2)
   end
   args = args or {}
   local n = #funcs
   local results, done, started, waiting = {}, 0, 0, false
   local function launch(i)
      local given = args[i] or {}
      local call = {unpack(given, 1, given.n or #given)}
      local count = (given.n or #given) + 1
      call[count] = function(...)
         if results[i] then return end -- a second completion is ignored
         results[i] = pack(cb(...))
         done = done + 1
         if waiting then
            waiting = false
            f.resume()
         end
      end
      funcs[i](unpack(call, 1, count))
   end
   while done < n do
      if started < n and started - done < limit then
         started = started + 1
         launch(started)
      else
         waiting = true
         yield()
      end
   end
   if n == 1 then
      return unpack(results[1], 1, results[1].n)
   end
   for i = 1, n do results[i].n = nil end
   return results
end

-- Suspends the fiber for `ms` milliseconds.
function fiber.sleep(ms)
   local f = current('sleep')
   local co = f.co
   setTimeout(ms, function()
      if status(co) == 'suspended' then f.resume() end
   end)
   yield()
end

-- The fiber form of `fn`, an asynchronous function whose callback comes
-- last: it waits and returns what the callback was given.
local function synced(fn)
   return function(...)
      return fiber.wait(fn, pack(...))
   end
end

-- fiber.sync.NAME(...): wait on async.NAME, async.process.NAME,
-- async.fs.NAME, async.curl.NAME or async.http.NAME, whichever exists
-- first (sync.request is http.request). fiber.sync(fn)(...): wait on any
-- such function, a handle's method among them (`sync(sock.send)`): a
-- method's name alone would not say whose it is.
fiber.sync = setmetatable({}, {
   __index = function(sync, name)
      local fn = async[name]
      for _, place in ipairs({'process', 'fs', 'curl', 'http'}) do
         if type(fn) == 'function' then break end
         fn = type(async[place]) == 'table' and async[place][name] or nil
      end
      if type(fn) ~= 'function' then
         error("async.fiber.sync: no asynchronous function named '" .. tostring(name) .. "'", 2)
      end
      local form = synced(fn)
      rawset(sync, name, form)
      return form
   end,
   __call = function(_, fn)
      if type(fn) ~= 'function' then
         error("bad argument #1 to 'sync' (function expected, got " .. type(fn) .. ")", 2)
      end
      return synced(fn)
   end,
})

fiber.fibers = fibers

return setmetatable(fiber, {
   __call = function(_, fn) return fiber.new(fn) end,
})
