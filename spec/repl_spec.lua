-- async.repl: the local REPL fed from a pipe and a file, and typed into a
-- real terminal (tmux: keys sent, the pane captured); the remote REPL
-- server and its clients, each in a child luajit process.
local async = require 'async'

local support = require 'spec.support'
local run = support.run

local function which(program)
   local found = io.popen('command -v ' .. program .. ' 2>/dev/null'):read('*l')
   return found ~= nil and found ~= '' and found or nil
end

local function write_file(text)
   local path = os.tmpname()
   local f = assert(io.open(path, 'wb'))
   f:write(text)
   f:close()
   return path
end

local function read_all(command)
   local p = assert(io.popen(command))
   local out = p:read('*a')
   p:close()
   return out
end

-- Runs `script` in a child luajit with stdin from `input` (a file, or a
-- pipe with `how = 'pipe'`); returns its output and exit status.
local function run_child(script, input, how)
   local code = write_file(script)
   local data = write_file(input)
   local feed = how == 'pipe' and ('cat ' .. data .. ' | ') or ''
   local redirect = how == 'pipe' and '' or (' < ' .. data)
   local out = read_all(feed .. 'timeout 10 luajit ' .. code .. redirect .. ' 2>&1; echo "exit=$?"')
   os.remove(code)
   os.remove(data)
   return out
end

local LOCAL = [[
local async = require 'async'
async.repl()
async.go()
]]

describe('async.repl', function()
   it('evaluates lines from a pipe: expressions, statements, errors, multi-line chunks', function()
      local out = run_child(LOCAL, 'x = 41\nx + 1, "a", nil\nfor i = 1, 2 do\nprint(i * 10)\nend\nerror("boom", 0)\nreturn +\n', 'pipe')
      -- The prompt comes first and after each chunk; a statement prints
      -- an empty line as the original did; `>> ` continues a chunk.
      assert.matches('^> \n> 42\ta\tnil\n> >> >> 10\n20\n\n> boom\nstack traceback:', out)
      assert.matches('%[string "REPL"%]:1: unexpected symbol near', out)
      -- The end of the input ends the process with status 0.
      assert.matches('exit=0\n$', out)
   end)

   it('reports a result whose __tostring fails or yields as an error, and goes on', function()
      local out = run_child(LOCAL, 'setmetatable({}, {__tostring = function() error("bad text", 0) end})\n'
         .. 'setmetatable({}, {__tostring = coroutine.yield})\nprint("still here")\n', 'pipe')
      assert.matches('^> bad text\n', out)
      assert.matches('attempt to yield across C%-call boundary', out)
      assert.matches('> still here\n', out)
      assert.matches('exit=0\n$', out)
   end)

   it('drops a line over the line limit whole, none of it run, and goes on #novalgrind', function()
      local long = string.rep('x', 17 * 1024 * 1024) .. ' = 5 io.write("TAIL")\nprint("next")\n'
      local out = run_child(LOCAL, 'print("first")\n' .. long, 'file')
      assert.matches('^> first\n', out)
      assert.matches('line too long: more than 16777216 bytes', out)
      assert.is_nil(out:find('TAIL', 1, true))
      assert.matches('\nnext\n', out)
      assert.matches('exit=0\n$', out)
   end)

   it('reads stdin from a file too, and runs a last line without a newline', function()
      local out = run_child('local async = require "async"; async.repl("lua> "); async.go()', 'print(2 * 21)\nprint("last")', 'file')
      assert.matches('^lua> 42\n\nlua> last\n\nlua> ', out)
      assert.matches('exit=0\n$', out)
   end)

   it('does not block the loop: timers fire while it waits for input', function()
      local script = [[
         local async = require 'async'
         async.setTimeout(50, function() print('timer fired') end)
         async.repl()
         async.go()
      ]]
      local code = write_file(script)
      local out = read_all('(sleep 0.4; echo "print(\'typed\')") | timeout 10 luajit ' .. code .. ' 2>&1')
      os.remove(code)
      local fired, typed = out:find('timer fired', 1, true), out:find('typed', 1, true)
      assert.is_truthy(fired and typed and fired < typed, out)
   end)

   it('runs each line in a fiber with fiber = true', function()
      local code = write_file([[
         local async = require 'async'
         async.repl({prompt = 'f> ', fiber = true})
         async.go()
      ]])
      -- Input stays open while the fiber sleeps: its end would exit.
      local out = support.converse('timeout 60 luajit ' .. code, {
         {send = 'require("async").fiber.sleep(20); print("woke")\n'}, {wait = 'woke\n'},
      })
      os.remove(code)
      assert.matches('^f> f> woke\n', out)
   end)

   it('uses _PROMPT when no prompt is given', function()
      local out = run_child('_PROMPT = "P> "; local async = require "async"; async.repl(); async.go()', '1\n', 'pipe')
      assert.matches('^P> 1\nP> ', out)
   end)

   it('gives stdin, stdout and stderr as stream handles of the kind guessed', function()
      local out = run_child([[
         local async = require 'async'
         local r = async.repl
         print(tostring(r.stdin):match('^%w+'), tostring(r.stdout):match('^%w+'), async.tty.guess(0), async.tty.guess(1))
         io.stdout:flush() -- the stream writes to fd 1 itself, past C's buffer
         r.stdout.write('written by the stream\n', function() r.stdin.close() end)
         async.go()
      ]], '', 'file')
      assert.matches('^file\tpipe\tfile\tpipe\nwritten by the stream\nexit=0', out)
      out = run_child([[
         local async = require 'async'
         print(tostring(async.repl.stdin):match('^%w+'), async.repl.stdin == async.tty.open(0))
         async.repl.stdin.ondata(function(chunk) io.write('got ', chunk) end)
         async.go()
      ]], 'hello\n', 'pipe')
      assert.matches('^pipe\ttrue\ngot hello\nexit=0', out)
   end)

   it('keeps what the stdout stream wrote to a file when the process exits at once', function()
      local code = write_file([[
         local async = require 'async'
         async.repl.stdout.write(string.rep('A', 100000) .. '\n')
         async.go()
         print('after')
      ]])
      local out = os.tmpname()
      for _ = 1, 3 do
         os.execute('luajit ' .. code .. ' > ' .. out)
         local f = assert(io.open(out, 'rb'))
         local text = f:read('*a')
         f:close()
         assert.are.equal(string.rep('A', 100000) .. '\nafter\n', text)
      end
      os.remove(code)
      os.remove(out)
   end)

   it('has the original colors and colorize', function()
      assert.are.equal('\27[0;31m', async.repl.colors.red)
      assert.are.equal('\27[1;32mok\27[0m', async.repl.colorize.Green('ok'))
      assert.are.equal('\27[44m1\27[0m', async.repl.colorize._blue(1))
   end)
end)

describe('async.repl in a terminal #novalgrind', function()
   if not which('tmux') then
      it('needs tmux', function() pending('tmux is not installed') end)
      return
   end

   local session = 'async-repl-' .. tostring(os.time()) .. '-' .. tostring(math.random(1e6))
   local function tmux(args) return read_all('tmux ' .. args .. ' 2>&1') end
   local function pane()
      return (tmux('capture-pane -p -t ' .. session):gsub('\n+$', ''))
   end
   local function keys(...) tmux('send-keys -t ' .. session .. ' ' .. table.concat({...}, ' ')) end
   local function literal(text) tmux("send-keys -l -t " .. session .. " '" .. text:gsub("'", "'\\''") .. "'") end
   -- Waits until the pane matches `pattern` (up to 5 s); returns the pane.
   local function wait_for(pattern)
      local shown
      for _ = 1, 100 do
         shown = pane()
         if shown:find(pattern) then return shown end
         os.execute('sleep 0.05')
      end
      error('the pane never matched ' .. pattern .. ':\n' .. shown)
   end
   local script
   local function start(code)
      script = write_file(code)
      local cpath = os.getenv('LUA_CPATH') or ''
      tmux(string.format("new-session -d -s %s -x 120 -y 40 \"LUA_CPATH='%s' luajit %s; echo EXIT=\\$?; stty -a | grep -o -- '-icanon\\|icanon' | head -1; sleep 30\"",
         session, cpath, script))
   end
   after_each(function()
      tmux('kill-session -t ' .. session)
      if script then os.remove(script) end
   end)

   it('edits the line, keeps history, continues chunks, and restores the terminal on Ctrl-D', function()
      start('local async = require "async"; async.repl(); async.go()')
      wait_for('>$')
      literal('1 + 2')
      keys('Enter')
      wait_for('\n3\n>$')
      -- Cursor movement: the X goes between a and b.
      literal('"ac"')
      keys('Left', 'Left', 'b')
      keys('End', 'Enter')
      wait_for('\nabc\n>$')
      -- A chunk over three lines, on the continuation prompt.
      literal('for i = 1, 2 do'); keys('Enter')
      wait_for('>>$')
      literal('print(i * 10)'); keys('Enter')
      literal('end'); keys('Enter')
      wait_for('>> end\n10\n20\n')
      -- History: four up is the "ac" line with its b.
      keys('Up', 'Up', 'Up', 'Up')
      wait_for('> "abc"$')
      -- Ctrl-U kills the line; Ctrl-W a word; Home and Ctrl-K.
      keys('C-u')
      literal('local word = 12')
      keys('C-w', 'C-w')
      wait_for('> local word$')
      keys('C-a', 'Right', 'C-k')
      wait_for('> l$')
      keys('C-u')
      literal('error("oops", 0)'); keys('Enter')
      wait_for('oops\nstack traceback:')
      keys('C-d')
      local shown = wait_for('EXIT=0\nicanon')
      assert.matches('EXIT=0\nicanon', shown)
   end)

   it('keeps the line being typed whole while callbacks print', function()
      start([[
         local async = require 'async'
         n = 0 -- a global: the REPL reads it below
         async.setInterval(100, function() n = n + 1; print('tick ' .. n) end)
         async.repl()
         async.go()
      ]])
      wait_for('tick 1')
      literal('half typed')
      wait_for('tick 4')
      local shown = wait_for('tick %d+\n> half typed$')
      -- No tick was written into the line being edited.
      assert.is_nil(shown:find('> half typedtick'))
      assert.is_nil(shown:find('> tick'))
      keys('C-u')
      literal('n > 0'); keys('Enter')
      wait_for('\ntrue\n')
   end)

   it('clears the line on Ctrl-C and exits on a second one; restores the terminal after an error and os.exit', function()
      start('local async = require "async"; async.repl(); async.go()')
      wait_for('>$')
      literal('some text')
      keys('C-c')
      wait_for('some text%^C\n>$')
      keys('C-c')
      wait_for('press Ctrl%+C again')
      keys('C-c')
      wait_for('EXIT=0\nicanon')
      tmux('kill-session -t ' .. session)
      os.remove(script)
      start('local async = require "async"; async.repl(); async.setTimeout(300, function() error("late failure") end); async.go()')
      wait_for('EXIT=1\nicanon')
      assert.matches('late failure', pane())
      tmux('kill-session -t ' .. session)
      os.remove(script)
      start('local async = require "async"; async.repl(); async.go()')
      wait_for('>$')
      literal('os.exit(3)'); keys('Enter')
      wait_for('EXIT=3\nicanon')
   end)
end)

describe('repl.listen', function()
   -- Starts the server script; `with(port, stop)` when it listens.
   local function serving(extra, with)
      local stopfile
      local script = write_file(string.format([[
         local async = require 'async'
         local server = async.repl.listen({host = '127.0.0.1', port = 0 %s})
         print('port ' .. server.sockname.port)
         io.stdout:flush()
         async.setTimeout(8000, function() os.exit(1) end)
         local input = async.repl.stdin
         input.ondata(function() end)
         input.onend(function() os.exit(0) end)
         async.go()
      ]], extra or ''))
      local console = {}
      local proc = async.process.spawn('luajit', {script}, function() end)
      proc.stdout.ondata(function(chunk)
         console[#console + 1] = chunk
         local port = table.concat(console):match('port (%d+)\n')
         if port and not stopfile then
            stopfile = true
            with(tonumber(port), function() proc.stdin.close() end, console)
         end
      end)
      proc.stderr.ondata(function(chunk) console[#console + 1] = chunk end)
      return proc, script, console
   end

   it('answers each client with its own results and prompt, and mirrors io.write', function()
      local received, console_text = {}, nil
      local script
      run(8, function(done)
         local proc, console
         proc, script, console = serving(", prompt = 'remote> '", function(port, stop, console_)
            async.tcp.connect({host = '127.0.0.1', port = port}, function(client)
               local all = ''
               local step = 0
               client.ondata(function(chunk)
                  all = all .. chunk
                  if step == 0 and all:find('remote> $') then
                     step = 1
                     client.write('1 + 1\nfor i = 1, 2 do\n')
                  elseif step == 1 and all:find('>> $') then
                     step = 2
                     client.write('end\nio.write("to everyone\\n")\nerror("nope", 0)\n')
                  elseif step == 2 and all:find('nope.-remote> $') then
                     received.all = all
                     client.close()
                     stop()
                  end
               end)
            end)
            console_text = console_
         end)
         proc.onexit(function() done() end)
      end)
      os.remove(script)
      assert.matches('^remote> 2\nremote> >> \nremote> to everyone\n', received.all)
      assert.matches('nope\nstack traceback:', received.all)
      local console = table.concat(console_text)
      assert.matches('remote> remote client @ 127%.0%.0%.1:%d+\n', console)
      assert.matches('\n2\n', console)
   end)

   it('answers a client whose result cannot be shown with the error, and serves on', function()
      local all, script = '', nil
      run(8, function(done)
         local proc
         proc, script = serving('', function(port, stop)
            async.tcp.connect({host = '127.0.0.1', port = port}, function(client)
               local sent = false
               client.ondata(function(chunk)
                  all = all .. chunk
                  if not sent then
                     sent = true
                     client.write('setmetatable({}, {__tostring = function() error("bad text", 0) end})\n1 + 1\n')
                  elseif all:find('> 2\n') then
                     client.close()
                     stop()
                  end
               end)
            end)
         end)
         proc.onexit(function() done() end)
      end)
      os.remove(script)
      assert.matches('bad text\n.*> 2\n', all)
   end)

   -- Not under valgrind: 17 MiB through the Lua compiler, many times over.
   it('drops a client that sends an endless line or chunk, and serves the others #novalgrind', function()
      local out = run_child([[
         local async = require 'async'
         local server = async.repl.listen({host = '127.0.0.1', port = 0, prompt = 'p> '})
         local d = {host = '127.0.0.1', port = server.sockname.port}
         local left = 2
         local function finish() left = left - 1; if left == 0 then server.close() end end
         -- 17 MiB without a newline: past the 16 MiB line limit.
         async.tcp.connect(d, function(c)
            c.ondata(function() end)
            c.onclose(function() print('endless line: dropped'); finish() end)
            c.write(string.rep('x', 17 * 1024 * 1024))
         end)
         -- An unfinished chunk (a long string) that grows past the limit.
         async.tcp.connect(d, function(c)
            local got, told = '', false
            c.ondata(function(chunk)
               got = got .. chunk
               if not told and got:find('chunk too long') and got:find('p> $') then
                  told = true
                  print('endless chunk: told')
                  c.write('20 + 22\n')
               elseif told and got:find('p> 42\np> $') then
                  print('then answered')
                  c.close()
                  finish()
               end
            end)
            c.write('s = [[\n')
            local line = string.rep('y', 1024 * 1024) .. '\n'
            for _ = 1, 17 do c.write(line) end
         end)
         async.go()
      ]], '', 'file')
      assert.matches('endless line: dropped\n', out)
      assert.matches('endless chunk: told\n.-then answered\n', out)
      assert.matches('exit=0\n$', out)
   end)

   it('warns on stderr when it listens beyond the loopback', function()
      local out = run_child([[
         local async = require 'async'
         local server = async.repl.listen({host = '0.0.0.0', port = 0})
         server.close()
         async.go()
      ]], '', 'file')
      assert.matches('anyone who can connect can run code', out)
      out = run_child([[
         local async = require 'async'
         async.repl.listen({host = '127.0.0.1', port = 0}).close()
         async.go()
      ]], '', 'file')
      assert.is_nil(out:find('anyone who can connect', 1, true))
   end)
end)

describe('repl.connect and repl.connectn', function()
   it('forward stdin to the servers and show their answers', function()
      local server = write_file([[
         local async = require 'async'
         local s = async.repl.listen({host = '127.0.0.1', port = 0, prompt = 'srv> '})
         print(s.sockname.port)
         io.stdout:flush()
         async.go()
      ]])
      -- The server runs in the background until the test kills it.
      local p = assert(io.popen('timeout 120 stdbuf -oL luajit ' .. server .. ' > ' .. server .. '.out 2>&1 & echo $!'))
      local pid = p:read('*l')
      p:close()
      finally(function() os.execute('kill ' .. pid .. ' 2>/dev/null') end)
      local port
      for _ = 1, 600 do
         local f = io.open(server .. '.out')
         port = f and f:read('*l')
         if f then f:close() end
         if port and port:match('^%d+$') then break end
         os.execute('sleep 0.05')
      end
      assert.matches('^%d+$', port)
      local client = write_file(string.format([[
         local async = require 'async'
         async.repl.connect({host = '127.0.0.1', port = %s}, function() print('connected') end)
         async.go()
      ]], port))
      local out = support.converse('timeout 60 luajit ' .. client, {
         {wait = 'connected\n.-srv> '}, {send = 'x = 20\n'}, {wait = 'srv> \nsrv> '},
         {send = 'x + 1\n'}, {wait = 'srv> 21\nsrv> '},
      })
      assert.matches('connected', out)
      assert.matches('srv> \nsrv> 21\nsrv> ', out)
      assert.matches('exit=0\n$', out)
      local many = write_file(string.format([[
         local async = require 'async'
         local d = {host = '127.0.0.1', port = %s}
         async.repl.connectn({d, d}, function() print('both connected') end)
         async.go()
      ]], port))
      out = support.converse('timeout 60 luajit ' .. many, {
         {wait = 'both connected\n'}, {send = 'x * 2\n'}, {wait = '40\n.-40\n'},
      })
      assert.matches('both connected', out)
      local _, answers = out:gsub('\n40\n', '')
      assert.are.equal(2, answers, out)
      local muted = write_file(string.format([[
         local async = require 'async'
         async.repl.connectn({{host = '127.0.0.1', port = %s}}, {mute = true}, function() print('muted') end)
         async.go()
      ]], port))
      -- Muted: nothing of the server's comes back, though the line ran
      -- there (its print shows on the server's console).
      out = support.converse('timeout 60 luajit ' .. muted, {
         {wait = 'muted\n'}, {send = 'print(x * 3)\n'}, {wait = '60\n', file = server .. '.out'},
      })
      assert.matches('^muted\nexit=0\n$', out)
      for _, f in ipairs({server, server .. '.out', client, many, muted}) do os.remove(f) end
   end)
end)
