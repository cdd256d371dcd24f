-- Files: write one, read it back, look at it, remove it.
-- Run: luajit examples/files.lua (with async.so on LUA_CPATH).
local async = require 'async'
local fs = async.fs

local path = os.tmpname()

fs.writeFile(path, 'hello\0world', function(err)
   assert(not err, err)
   fs.readFile(path, function(content, err)
      assert(content, err)
      print(('read %d bytes, a zero among them: %s'):format(#content, tostring(content:find('\0', 1, true) ~= nil)))
      fs.stat(path, function(stats, err)
         assert(stats, err)
         print(('size %d, mode %o, file? %s'):format(stats.size, stats.mode, tostring(stats.is_file)))
         fs.unlink(path, function(err)
            assert(not err, err)
            fs.exists(path, function(there) print('still there? ' .. tostring(there)) end)
         end)
      end)
   end)
end)

async.go()

-- The same, top to bottom, in a fiber.
async.run(function()
   local sync = async.fiber.sync
   assert(not sync.writeFile(path, 'again'))
   print('read back: ' .. sync.readFile(path))
   sync.unlink(path)
   local _, err = sync.readFile(path)
   print('after unlink: ' .. err)
end)
