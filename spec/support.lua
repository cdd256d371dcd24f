-- Small helpers shared by the specs.
local luassert = require 'luassert'
local support = {}

-- The message of the error `f` raises, which must be a string positioned
-- at a line of the spec file named `file` (e.g. 'url_spec.lua'), with that
-- position taken off.
function support.error_of(file, f)
   local ok, message = pcall(f)
   luassert.is_false(ok)
   luassert.is_string(message)
   local position = '^.-' .. file:gsub('%p', '%%%0') .. ':%d+: '
   luassert.matches(position, message)
   return (message:gsub(position, ''))
end

local ffi = require 'ffi'
ffi.cdef [[
int malloc_trim(size_t pad);
struct mallinfo2 { size_t arena, ordblks, smblks, hblks, hblkhd, usmblks, fsmblks, uordblks, fordblks, keepcost; };
struct mallinfo2 mallinfo2(void);
]]

-- Bytes malloc has handed out and not had back, in KiB, after a full Lua
-- collection: the C and Rust side of this process (libuv handles, our
-- state, queues), without the allocators' retained pages that make RSS
-- jump with the garbage collector's timing.
function support.malloc_kib()
   support.heap_kib()
   local info = ffi.C.mallinfo2()
   return tonumber(info.uordblks + info.hblkhd) / 1024
end

-- Resident set size of this process in KiB, after malloc has handed its
-- free memory back to the system: what is left is memory in use, so a
-- leak shows and the allocator's fragmentation from earlier specs does
-- not.
function support.rss_kib()
   ffi.C.malloc_trim(0)
   local f = assert(io.open('/proc/self/statm'))
   local pages = f:read('*n'); pages = f:read('*n')
   f:close()
   return pages * 4
end

-- Lua heap in KiB after a full collection.
function support.heap_kib()
   collectgarbage('collect'); collectgarbage('collect')
   return collectgarbage('count')
end

-- A fresh folder under /tmp (for a spec's files: the checkout stays
-- clean), and its removal with everything in it.
function support.temp_folder(name)
   return io.popen('mktemp -d /tmp/async-' .. name .. '.XXXXXX'):read('*l')
end

function support.remove_folder(path)
   os.execute("rm -rf '" .. path .. "'")
end

-- The whole content of a file (which must exist).
function support.read_file(path)
   local f = assert(io.open(path, 'rb'))
   local content = f:read('*a')
   f:close()
   return content
end

-- Writes `content` to the file `name` in `folder`; returns its path.
function support.put(folder, name, content)
   local f = assert(io.open(folder .. '/' .. name, 'wb'))
   f:write(content)
   f:close()
   return folder .. '/' .. name
end

-- The keys of a table, sorted.
function support.sorted_keys(t)
   local keys = {}
   for k in pairs(t) do keys[#keys + 1] = k end
   table.sort(keys)
   return keys
end

-- Runs `body(done)` and then the loop, with a watchdog: a test that hangs
-- fails after `seconds` instead. `done()` disarms the watchdog.
function support.run(seconds, body)
   local async = require 'async'
   local watchdog = async.setTimeout(seconds * 1000, function() error('test timed out') end)
   local ok, err = pcall(body, function() watchdog.clear() end)
   if not ok then watchdog.clear(); error(err, 0) end
   async.go()
end

-- Runs the Lua program `source` in a child luajit, in a temporary folder
-- (an abort there must not take the test runner down), its address space
-- held to `kib` KiB (`ulimit -v`) when given. Returns everything it
-- printed (stdout and stderr) followed by "exit=STATUS\n": 134 for an
-- abort, 124 if it ran for more than a minute.
function support.child(source, kib)
   local dir = os.tmpname()
   os.remove(dir)
   assert(os.execute('mkdir -p ' .. dir) == 0)
   local f = assert(io.open(dir .. '/case.lua', 'w'))
   f:write(source)
   f:close()
   local limit = kib and ('ulimit -v ' .. kib .. '; ') or ''
   local command = 'cd ' .. dir .. ' && sh -c "' .. limit .. 'exec timeout 60 luajit case.lua" 2>&1; echo "exit=$?"'
   local pipe = assert(io.popen(command))
   local output = pipe:read('*a')
   pipe:close()
   os.execute('rm -rf ' .. dir)
   return output
end

ffi.cdef [[ int poll(void *fds, unsigned long nfds, int timeout); ]]

local function read_file(path)
   local f = io.open(path, 'rb')
   if not f then return '' end
   local text = f:read('*a')
   f:close()
   return text
end

-- Runs the program `command` (a command line, without shell syntax) with its stdin fed step by step: a step
-- `{send = text}` writes text, `{wait = pattern}` waits until everything
-- the command printed so far (stdout and stderr) matches the Lua pattern,
-- up to a minute in all; with `file = path` the wait is on that file
-- instead. The command runs in the folder `dir` when given. Returns the whole output followed
-- by "exit=STATUS\n". Stdin is closed after the last step.
--
-- Waiting on output instead of sleeping keeps the specs independent of
-- the machine's speed: the same steps pass on a loaded CI machine and
-- under valgrind, where a program runs some thirty times slower.
function support.converse(command, steps, dir)
   local out = os.tmpname()
   -- Line-buffered, as on a terminal: a program's stdout into a file is
   -- otherwise held in C's buffer until it exits, and a wait would not
   -- see what it printed.
   local cd = dir and ('cd ' .. dir .. ' && ') or ''
   local p = assert(io.popen('(' .. cd .. 'stdbuf -oL ' .. command .. ') > ' .. out .. ' 2>&1; echo "exit=$?" >> ' .. out, 'w'))
   local deadline = os.time() + 60
   for _, step in ipairs(steps) do
      if step.send then
         p:write(step.send)
         p:flush()
      else
         while not read_file(step.file or out):find(step.wait) and os.time() <= deadline do
            ffi.C.poll(nil, 0, 20)
         end
      end
   end
   p:close()
   local text = read_file(out)
   os.remove(out)
   return text
end

-- Runs the Python program `source` in the background while the loop
-- serves it (through `server`); once its output satisfies `finished`,
-- closes the server and returns that output.
function support.python_peer(server, source, finished)
   local async = require 'async'
   local script = os.tmpname()
   local f = io.open(script, 'w')
   f:write(source)
   f:close()
   os.execute('python3 ' .. script .. ' > ' .. script .. '.out 2>&1 &')
   local result
   support.run(10, function(done)
      local poll
      poll = async.setInterval(10, function()
         local r = io.open(script .. '.out')
         local text = r and r:read('*a')
         if r then r:close() end
         if text and finished(text) then
            result = text
            poll.clear()
            server.close(done)
         end
      end)
   end)
   os.remove(script); os.remove(script .. '.out')
   return result
end

-- A Python peer (for python_peer) that connects with the expression
-- `connect`, sends 'question', half-closes, and prints all it reads
-- until the server closes.
function support.python_half_close(connect)
   return 'import socket\ns = ' .. connect .. [[

s.sendall(b'question')
s.shutdown(socket.SHUT_WR)
data = b''
while True:
    more = s.recv(100)
    if not more:
        break
    data += more
s.close()
print(data.decode(), end='')
]]
end

return support
