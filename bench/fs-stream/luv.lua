-- File-to-socket server on luv, which has no file streams: the file is read
-- with fs_read, 64 KiB at a time, and written to the socket; the next read
-- waits while the socket's write queue holds 64 KiB or more (the same
-- backpressure as a pipe). Usage: luajit luv.lua FILE (prints "port=N").
local uv = require 'luv'

local path = assert(arg[1], 'usage: luajit luv.lua FILE')
local CHUNK, HIGH_WATER = 64 * 1024, 64 * 1024

local function send_file(client)
   local fd = assert(uv.fs_open(path, 'r', 0))
   local offset, reading = 0, false
   local read_next
   local function finish()
      uv.fs_close(fd)
      uv.shutdown(client, function() uv.close(client) end)
   end
   local function written()
      if not reading and client:get_write_queue_size() < HIGH_WATER then read_next() end
   end
   function read_next()
      reading = true
      uv.fs_read(fd, CHUNK, offset, function(err, data)
         reading = false
         assert(not err, err)
         if #data == 0 then return finish() end
         offset = offset + #data
         client:write(data, written)
         written()
      end)
   end
   read_next()
end

local server = uv.new_tcp()
server:bind('127.0.0.1', 0)
server:listen(128, function()
   local client = uv.new_tcp()
   server:accept(client)
   send_file(client)
end)
io.stdout:write('port=', server:getsockname().port, '\n')
io.stdout:flush()
uv.run()
