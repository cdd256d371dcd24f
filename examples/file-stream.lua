-- File streams: write a file piece by piece with a write stream, read it
-- back line by line in a fiber, watch its folder, and send it to a TCP
-- client with pipe (backpressure: memory stays flat for any file size).
-- Run: luajit examples/file-stream.lua (with async.so on LUA_CPATH).
local async = require 'async'
local fs = async.fs

local folder = os.tmpname()
os.remove(folder)
assert(os.execute('mkdir ' .. folder) == 0)
local path = folder .. '/numbers.txt'

-- Watch the folder: the file's creation is a 'rename' event.
local watcher
watcher = fs.watch(folder, function(event, filename, err)
   assert(not err, err)
   print(('watch: %s %s'):format(event, filename))
   watcher.close()
end)

-- Write 10,000 lines; write() says false once 64 KiB wait, ondrain says
-- when to go on.
local out = fs.createWriteStream(path)
local n = 0
local function fill()
   while n < 10000 do
      n = n + 1
      if not out.write(('line %05d\n'):format(n)) then return end
   end
   out.close(function() print('written: ' .. n .. ' lines') end)
end
out.ondrain(fill)
fill()
async.go()

-- Read a range of it line by line (end is inclusive: bytes 0 to 32).
async.run(function()
   local input = fs.createReadStream(path, {['end'] = 32})
   while true do
      local line = input.readline()
      if not line then break end
      print('read: ' .. line)
   end
end)
async.go()

-- Serve it: each client gets the whole file, piped.
local server
server = async.tcp.listen({host = '127.0.0.1', port = 0}, function(client)
   fs.createReadStream(path).pipe(client)
end)
async.tcp.connect({host = '127.0.0.1', port = server.sockname.port}, function(client)
   local received = 0
   client.ondata(function(data) received = received + #data end)
   client.onend(function()
      print(('client received %d bytes'):format(received))
      server.close()
   end)
end)
async.go()

os.remove(path)
os.remove(folder)
