-- Readers that wait for a separator (onsplitdata, readsplit, readline and
-- JSON-lines peers) against peers that send long lines, or never a
-- separator: a line longer than the limit (setMaxLineSize / maxLineSize,
-- 16 MiB by default) fails that connection with a clear error; anything
-- shorter arrives whole, however many reads it spans.
local async = require 'async'
local support = require 'spec.support'
local tcp = async.tcp

local run = support.run

-- A server on a port the OS picks whose clients get `on_client(client)`;
-- a client connects and gets `on_connected(peer)`. The peer reads (and
-- drops) what it is sent, so that it sees the server's end and closes.
local function pair(on_client, on_connected)
   local server = tcp.listen({host = '127.0.0.1', port = 0}, on_client)
   tcp.connect({host = '127.0.0.1', port = server.sockname.port}, function(peer)
      peer.ondata(function() end)
      on_connected(peer)
   end)
   return server
end

-- Writes `total` bytes of 'x' in 1 MiB pieces, then `tail`, without
-- waiting for the peer to read (the queue holds them).
local function flood(peer, total, tail)
   local piece = string.rep('x', 1024 * 1024)
   local sent = 0
   while sent + #piece <= total do
      peer.write(piece)
      sent = sent + #piece
   end
   peer.write(string.rep('x', total - sent) .. (tail or ''))
end

describe('line limits', function()
   it('fails an onsplitdata reader whose peer sends more than 16 MiB without a separator', function()
      local err, pieces
      run(10, function(done)
         local server; server = pair(function(client)
            pieces = 0
            client.onsplitdata('\n', function() pieces = pieces + 1 end)
            client.onerr(function(e) err = e end)
            client.onclose(function() server.close(done) end)
         end, function(peer)
            peer.onerr(function() end)
            peer.write('short\n')
            flood(peer, 17 * 1024 * 1024)
         end)
      end)
      assert.are.equal(1, pieces)
      assert.matches('line too long: more than 16777216 bytes', err, 1, true)
   end)

   it('takes a line up to the limit set by setMaxLineSize and refuses one byte more', function()
      local got, err = {}, nil
      run(5, function(done)
         local server; server = pair(function(client)
            client.setMaxLineSize(1000)
            client.onsplitdata('--', function(piece) got[#got + 1] = #piece end)
            client.onerr(function(e) err = e end)
            client.onclose(function() server.close(done) end)
         end, function(peer)
            peer.onerr(function() end)
            peer.write(string.rep('a', 1000) .. '--' .. string.rep('b', 10) .. '--')
            peer.write(string.rep('c', 1001) .. '--')
         end)
      end)
      assert.are.same({1000, 10}, got)
      assert.matches('line too long: more than 1000 bytes', err, 1, true)
   end)

   it('applies the limit to the leftover of a split function', function()
      local err
      run(5, function(done)
         local server; server = pair(function(client)
            client.setMaxLineSize(100)
            client.onsplitdata(function(data) return {}, data end, function() end)
            client.onerr(function(e) err = e end)
            client.onclose(function() server.close(done) end)
         end, function(peer)
            peer.onerr(function() end)
            peer.write(string.rep('z', 101))
         end)
      end)
      assert.matches('line too long: more than 100 bytes', err, 1, true)
   end)

   it('refuses a limit that is not a positive number', function()
      local message
      run(5, function(done)
         local server; server = pair(function(client)
            message = support.error_of('line_limits_spec.lua', function() client.setMaxLineSize(0) end)
            client.close()
         end, function(peer)
            peer.close(function() server.close(done) end)
         end)
      end)
      assert.matches("bad argument #1 to 'setMaxLineSize'", message, 1, true)
   end)

   it('gives fiber readline lines of 64 KiB and far more, read in many chunks', function()
      local lengths = {}
      run(10, function(done)
         local server; server = pair(function(client)
            client.sync()
            async.fiber(function()
               for i = 1, 4 do
                  local line = client.readline()
                  lengths[i] = line and #line
               end
               lengths[5] = client.readline() or 'end'
               server.close(done)
            end)
         end, function(peer)
            -- Sent before the fiber reads: the inbox fills past its mark.
            peer.write(string.rep('a', 64 * 1024) .. '\n')
            peer.write(string.rep('b', 70000) .. '\n')
            flood(peer, 3 * 1024 * 1024, '\n')
            peer.write('last\n')
            peer.close()
         end)
      end)
      assert.are.same({64 * 1024, 70000, 3 * 1024 * 1024, 4, 'end'}, lengths)
   end)

   it('ends a fiber readsplit with nil and the error when a piece exceeds the limit', function()
      local first, second, err
      run(5, function(done)
         local server; server = pair(function(client)
            client.sync()
            client.setMaxLineSize(200 * 1024)
            client.onerr(function() end)
            async.fiber(function()
               first = #client.readsplit('|')
               second, err = client.readsplit('|')
               server.close(done)
            end)
         end, function(peer)
            peer.onerr(function() end)
            peer.write(string.rep('a', 200 * 1024) .. '|')
            flood(peer, 300 * 1024)
         end)
      end)
      assert.are.equal(200 * 1024, first)
      assert.is_nil(second)
      assert.matches('line too long: more than 204800 bytes', err, 1, true)
   end)

   it('disconnects a JSON peer that sends more than maxLineSize without a newline, and no one else', function()
      local got, closed, errors = {}, 0, {}
      run(5, function(done)
         local server
         server = async.json.listen({host = '127.0.0.1', port = 0}, function(message, reply, client)
            got[#got + 1] = message.n
            client.onerr(function(e) errors[#errors + 1] = e end)
            reply({n = message.n})
         end, {maxLineSize = 4096})
         local function finish()
            closed = closed + 1
            if closed == 2 then server.close(done) end
         end
         local port = server.sockname.port
         local hostile; hostile = async.json.connect({host = '127.0.0.1', port = port}, function()
            hostile.onerr(function() end)
            hostile.onclose(finish)
            hostile.send({n = 1})
            hostile.write(string.rep(' ', 5000))
         end)
         local polite; polite = async.json.connect({host = '127.0.0.1', port = port}, function()
            polite.receive(function(answer)
               if answer.n == 3 then polite.close() end
            end)
            polite.onclose(finish)
            async.setTimeout(100, function()
               polite.send({n = 2})
               polite.send({n = 3})
            end)
         end)
      end)
      table.sort(got)
      assert.are.same({1, 2, 3}, got)
      assert.are.equal(1, #errors)
      assert.matches('line too long: more than 4096 bytes', errors[1], 1, true)
   end)

   it('disconnects a JSON peer at the 16 MiB default', function()
      local closed = false
      run(10, function(done)
         local server
         server = async.json.listen({host = '127.0.0.1', port = 0}, function() end)
         local hostile; hostile = async.json.connect({host = '127.0.0.1', port = server.sockname.port}, function()
            hostile.onerr(function() end)
            hostile.onclose(function() closed = true; server.close(done) end)
            flood(hostile, 17 * 1024 * 1024)
         end)
      end)
      assert.is_true(closed)
   end)

   it('refuses a maxLineSize that is not a positive number', function()
      local message = support.error_of('line_limits_spec.lua', function()
         async.json.listen({host = '127.0.0.1', port = 0}, function() end, {maxLineSize = 'big'})
      end)
      assert.matches('listen: maxLineSize must be a positive number, got string', message, 1, true)
   end)
end)
