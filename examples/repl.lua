-- async.repl: a Lua prompt inside the event loop. Run it in a terminal
-- (`luajit examples/repl.lua`) to type Lua while a timer counts and a
-- REPL server listens on 127.0.0.1; try `count`, `server.sockname.port`,
-- up/down for history, Ctrl-D to leave. With stdin not a terminal (CI, a
-- pipe) it shows the remote REPL instead: a client types two lines into
-- the server and prints what it answers, and the example ends by itself.
local async = require 'async'

count = 0 -- globals: what the prompt sees
server = async.repl.listen({host = '127.0.0.1', port = 0, prompt = 'remote> '})

if async.tty.guess(0) == 'tty' then
   async.setInterval(1000, function() count = count + 1 end)
   print('a REPL server listens on 127.0.0.1:' .. server.sockname.port .. ' (nc 127.0.0.1 ' .. server.sockname.port .. ')')
   async.repl({prompt = async.repl.colorize.Green('lua> ')})
else
   async.tcp.connect({host = '127.0.0.1', port = server.sockname.port}, function(client)
      local answers = ''
      client.ondata(function(chunk)
         answers = answers .. chunk
         local _, prompts = answers:gsub('remote> ', '')
         if prompts == 1 then
            client.write('count = count + 41\ncount + 1, type(server)\n')
         elseif prompts == 3 then
            print('the server answered:\n' .. answers)
            client.close()
            server.close()
         end
      end)
   end)
end

async.go()
