-- TCP echo server on luv (Debian package lua-luv). Usage: luajit luv.lua PORT
-- (or PATH, a Unix domain socket to listen at, for bench/pipe).
-- Like echo.c: each chunk is written back with try_write; what the socket
-- does not take at once goes to a write, and reading stops until it is done.

-- This file is named like the module: keep `require` from loading ./luv.lua.
package.path = package.path:gsub('%./%?%.lua;?', '')
local uv = require 'luv'
local where = assert(arg[1], 'usage: luajit luv.lua PORT|PATH')
local port = tonumber(where)
local new_socket = port and uv.new_tcp or function() return uv.new_pipe(false) end

local server = new_socket()
if port then assert(server:bind('127.0.0.1', port)) else assert(server:bind(where)) end
assert(server:listen(1024, function(err)
  if err then return end
  local client = new_socket()
  if not server:accept(client) then client:close() return end
  if port then client:nodelay(true) end

  local on_read
  local function on_written(err)
    if client:is_closing() then return end
    if err then client:close() else client:read_start(on_read) end
  end
  function on_read(err, chunk)
    if not chunk then -- EOF, or err
      if not client:is_closing() then client:close() end
      return
    end
    local n = client:try_write(chunk) or 0 -- nil, err when the socket buffer is full
    if n < #chunk then
      client:read_stop()
      client:write(n == 0 and chunk or chunk:sub(n + 1), on_written)
    end
  end
  client:read_start(on_read)
end))
uv.run()
