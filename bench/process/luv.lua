-- 2,000 exec('true'), 16 in flight, on luv (Debian package lua-luv): what
-- exec does, by hand: stdin /dev/null, stdout a pipe read to its end,
-- stderr inherited; done once the child exited and stdout ended.
local measure = dofile((arg[0]:match('^(.*/)') or './') .. 'measure.lua')
local uv = require 'luv'
local N, IN_FLIGHT = measure.N, measure.IN_FLIGHT

local started, count, finished, t_end = 0, 0, 0, nil
local function now_ms() return uv.hrtime() / 1e6 end -- uv.hrtime() is in ns

local one
local function exec(path, done)
  local stdout = uv.new_pipe(false)
  local chunks, code, signal, ended, exited = {}, nil, nil, false, false
  local function settle()
    if ended and exited then done(table.concat(chunks), code, signal) end
  end
  local proc
  proc = uv.spawn(path, {args = {}, stdio = {nil, stdout, 2}}, function(c, s)
    code, signal, exited = c, s, true
    proc:close()
    settle()
  end)
  stdout:read_start(function(err, chunk)
    if chunk then
      chunks[#chunks + 1] = chunk
    else
      stdout:close()
      ended = true
      settle()
    end
  end)
end

function one()
  started = started + 1
  exec('true', function(out, status, signal)
    if out == '' and status == 0 and signal == 0 then count = count + 1 end
    finished = finished + 1
    if finished == N then t_end = now_ms() end
    if started < N then one() end
  end)
end

local t0 = now_ms()
for _ = 1, math.min(IN_FLIGHT, N) do one() end
uv.run()
measure.report('luv', t0, t_end, count)
