-- HTTP client for bench/http-client/run, async.http: REQUESTS (100000)
-- GETs of http://127.0.0.1:PORT/ with `http.request({url=, method='GET'},
-- cb)`, IN_FLIGHT (32) at a time (each callback starts the next), over
-- the client's keep-alive pool. Every answer must be 200 'Hello, World!'.
-- Prints `result impl=async ms=WALL cpu_ms=CPU count=OK`: wall and CPU
-- time (os.clock: the process's, all threads) from before the first
-- request to the last callback, and the number of good answers.
local async = require 'async'
local http = async.http
local url = 'http://127.0.0.1:' .. assert(os.getenv('PORT'), 'PORT not set') .. '/'
local total = tonumber(os.getenv('REQUESTS') or '100000')
local in_flight = tonumber(os.getenv('IN_FLIGHT') or '32')

local started, finished, ok = 0, 0, 0
local wall0, cpu0

local function done()
   local ms = async.hrtime() - wall0
   local cpu_ms = (os.clock() - cpu0) * 1e3
   http.closeIdleConnections()
   print(('result impl=async ms=%.1f cpu_ms=%.1f count=%d'):format(ms, cpu_ms, ok))
end

local function get()
   started = started + 1
   http.request({url = url, method = 'GET'}, function(res, err)
      finished = finished + 1
      if res and res.status == 200 and res.body == 'Hello, World!' then
         ok = ok + 1
      elseif finished - ok <= 5 then
         io.stderr:write('bad answer: ', res and (res.status .. ' ' .. res.body) or err, '\n')
      end
      if started < total then get() elseif finished == total then done() end
   end)
end

wall0, cpu0 = async.hrtime(), os.clock()
for _ = 1, math.min(in_flight, total) do get() end
async.go()
