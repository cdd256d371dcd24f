local async = require 'async'
local tcp = async.tcp

-- Both ends of many connections do unkind things at random moments:
-- destroy at once, close inside ondata, write after close, write buffers
-- and arrays, pause and resume, read from fibers, close twice. Whatever
-- happens to one connection, the process goes on, every callback runs on
-- a live handle, and nothing is left open.
local function chaos(seed, connections)
   math.randomseed(seed)
   local all = {}
   local server = tcp.listen({host = '127.0.0.1', port = 0}, function(c)
      all[#all + 1] = c
      c.onerr(function() end)
      local r = math.random(8)
      if r == 1 then c.destroy()
      elseif r == 2 then c.ondata(function(d) c.write(d); c.close(); c.write('late') end)
      elseif r == 3 then c.ondata(function(d) c.write(d, function() c.destroy() end) end)
      elseif r == 4 then
         c.sync()
         async.fiber(function() local d = c.read(); c.write(d or 'end'); c.close(); c.close() end)
      elseif r == 5 then
         c.onsplitdata('\n', function(line) c.write(line); if math.random(2) == 1 then c.destroy() end end)
      elseif r == 6 then
         c.onrawdata(function(b) c.write(b); c.write({b, 'x', b}) end)
         c.setTimeout(5, function() c.close() end)
      elseif r == 7 then
         c.pause()
         async.setTimeout(3, function() c.resume(); c.ondata(function() end) end)
      else
         c.onclose(function() c.close(function() end) end)
         c.ondata(function() c.destroy() end)
      end
   end)
   for _ = 1, connections do
      local client = tcp.connect({host = '127.0.0.1', port = server.sockname.port}, function(c)
         local r = math.random(6)
         if r == 1 then c.destroy()
         elseif r == 2 then c.write(string.rep('a\n', math.random(1, 50000))); c.close()
         elseif r == 3 then c.write('hello\n'); c.ondata(function() c.destroy() end)
         elseif r == 4 then c.write('x'); async.setTimeout(math.random(0, 5), function() c.destroy() end)
         elseif r == 5 then c.sync(); async.fiber(function() c.write('q\n'); c.read(); c.close() end)
         else c.ondata(function() end); c.write({'a', 'b\n'}, function() c.close() end) end
      end)
      client.onerr(function() end)
      all[#all + 1] = client
      if math.random(20) == 1 then client.close() end
      if math.random(30) == 1 then client.destroy() end
   end
   -- Some pairs wait on each other for ever (a paused reader, a fiber that
   -- reads what never comes): end them all after a while.
   async.setTimeout(1500, function()
      server.close()
      for _, c in ipairs(all) do c.destroy() end
   end)
   async.go()
end

describe('a storm of misbehaving connections', function()
   for _, seed in ipairs({1, 2, 3}) do
      it('leaves the process running and nothing open (seed ' .. seed .. ')', function()
         chaos(seed, 600)
         assert.is_nil(next(async.handles()))
      end)
   end
end)
