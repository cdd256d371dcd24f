local async = require 'async'
local json = async.json
local tcp = async.tcp

local support = require 'spec.support'
local run = support.run

-- A server that answers {n=} with {double=2n}.
local function doubler()
   return json.listen({host = '127.0.0.1', port = 0}, function(request, reply)
      reply({double = request.n * 2})
   end)
end

describe('json.listen / json.connect', function()
   it('sends, receives and replies, many messages in flight', function()
      local got = {}
      run(5, function(done)
         local server = doubler()
         json.connect({host = '127.0.0.1', port = server.sockname.port}, function(client)
            client.receive(function(message)
               got[#got + 1] = message.double
               if #got == 100 then client.close(function() server.close(done) end) end
            end)
            for i = 1, 100 do client.send({n = i}) end
         end)
      end)
      for i = 1, 100 do assert.are.equal(2 * i, got[i]) end
   end)

   it('reads many messages from one TCP write, and one message over many writes', function()
      local replies = ''
      run(5, function(done)
         local server = doubler()
         tcp.connect({host = '127.0.0.1', port = server.sockname.port}, function(client)
            client.ondata(function(chunk)
               replies = replies .. chunk
               if select(2, replies:gsub('\n', '')) == 4 then client.close(function() server.close(done) end) end
            end)
            client.write('{"n":1}\n{"n":2}\r\n\n{"n":3}\n')
            local slow = '{"n": 4}\n'
            local i = 0
            local function one()
               i = i + 1
               if i <= #slow then client.write(slow:sub(i, i)); async.setTimeout(1, one) end
            end
            one()
         end)
      end)
      assert.are.equal('{"double":2}\n{"double":4}\n{"double":6}\n{"double":8}\n', replies)
   end)

   it('disconnects a peer that sends bad JSON, and goes on serving the others', function()
      local closed, answer = false, nil
      run(5, function(done)
         local server = doubler()
         local port = server.sockname.port
         tcp.connect({host = '127.0.0.1', port = port}, function(bad)
            bad.ondata(function() end)
            bad.onclose(function()
               closed = true
               json.connect({host = '127.0.0.1', port = port}, function(good)
                  good.receive(function(message)
                     answer = message.double
                     good.close(function() server.close(done) end)
                  end)
                  good.send({n = 21})
               end)
            end)
            bad.write('{"n": oops}\n')
         end)
      end)
      assert.is_true(closed)
      assert.are.equal(42, answer)
   end)

   it('keeps messages that arrive before receive() is called, and writes compact JSON', function()
      local got, line = {}, nil
      run(5, function(done)
         local server; server = json.listen({host = '127.0.0.1', port = 0}, function(request, reply, client)
            assert.is_table(client)
            reply({1, 2, {a = 'b'}}); reply({second = true})
         end)
         json.connect('tcp://127.0.0.1:' .. server.sockname.port, function(client)
            client.send({hello = 'world'})
            async.setTimeout(50, function()
               client.receive(function(message)
                  got[#got + 1] = message
                  if #got == 2 then client.close(function() server.close(done) end) end
               end)
            end)
         end)
         line = json.encode({1, 2, {a = 'b'}})
      end)
      assert.are.same({{1, 2, {a = 'b'}}, {second = true}}, got)
      assert.are.equal('[1,2,{"a":"b"}]', line)
   end)
end)
