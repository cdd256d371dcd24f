-- fs.watch (inotify through libuv) and fs.watchFile (stat polling),
-- through the public API: the events, the stats tables, errors for a
-- missing path, close, and wrong arguments.
local async = require 'async'
local support = require 'spec.support'
local fs = async.fs
local run = support.run

local dir
before_each(function() dir = support.temp_folder('fs-watch-spec') end)
after_each(function() support.remove_folder(dir) end)

local function put(name, content) return support.put(dir, name, content) end
local keys = support.sorted_keys

describe('fs.watch', function()
   it('reports a new entry of a folder as rename, with its name, and a changed file as change', function()
      local path = put('watched.txt', 'a')
      local folder_events, file_events = {}, {}
      run(5, function(done)
         local folder, file
         folder = fs.watch(dir, function(event, filename, err)
            assert.is_nil(err)
            folder_events[#folder_events + 1] = event .. ' ' .. filename
            if filename == 'new.txt' then folder.close() end
         end)
         assert.matches('^fs.watcher: ', tostring(folder))
         file = fs.watch(path, function(event, filename)
            file_events[#file_events + 1] = event .. ' ' .. filename
            file.close(done)
         end)
         async.setTimeout(20, function()
            put('new.txt', 'x')
            local f = assert(io.open(path, 'ab'))
            f:write('more')
            f:close()
         end)
      end)
      assert.are.equal('rename new.txt', folder_events[1])
      assert.are.equal('change watched.txt', file_events[1])
      assert.are.equal(1, #file_events)
   end)

   it('gives a missing path to the callback on the next turn, as the fs functions word it, and closes', function()
      local path = dir .. '/missing'
      local got, returned = {}, false
      run(5, function(done)
         local watcher = fs.watch(path, function(event, filename, err)
            assert.is_true(returned)
            got = {event, filename, err}
         end)
         returned = true
         watcher.onclose(done)
      end)
      assert.are.same({nil, nil, 'ENOENT: no such file or directory "' .. path .. '"'}, got)
   end)

   it('calls nothing back once closed; close(cb) and a second close are harmless', function()
      local calls, closes = 0, 0
      run(5, function(done)
         local watcher = fs.watch(dir, function() calls = calls + 1 end)
         watcher.close(function() closes = closes + 1 end)
         watcher.close(function() closes = closes + 1 end)
         put('after-close.txt', 'x')
         async.setTimeout(50, function()
            watcher.close(function()
               closes = closes + 1
               done()
            end)
         end)
      end)
      assert.are.equal(0, calls)
      assert.are.equal(3, closes)
   end)

   it('raises for wrong arguments, and refuses recursive (Linux watches one folder)', function()
      local e = support.error_of('fs_watch_spec.lua', function() fs.watch(42 > 1, function() end) end)
      assert.are.equal("bad argument #1 to 'watch' (string expected, got boolean)", e)
      e = support.error_of('fs_watch_spec.lua', function() fs.watch(dir) end)
      assert.are.equal("bad argument #2 to 'watch' (function expected, got no value)", e)
      e = support.error_of('fs_watch_spec.lua', function() fs.watch(dir, {recursive = true}, function() end) end)
      assert.matches('^watch: recursive is not supported on Linux', e)
      e = support.error_of('fs_watch_spec.lua', function() fs.watch(dir, {recursive = 'yes'}, function() end) end)
      assert.are.equal('watch: recursive must be a boolean, got string', e)
   end)
end)

describe('fs.watchFile', function()
   it('calls back with the current and previous stats, shaped as fs.stat gives them', function()
      local path = put('polled.txt', 'abc')
      local curr, prev, stat_keys
      run(5, function(done)
         fs.stat(path, function(stats) stat_keys = keys(stats) end)
         local watcher
         watcher = fs.watchFile(path, 10, function(c, p, err)
            assert.is_nil(err)
            curr, prev = c, p
            watcher.close(done)
         end)
         async.setTimeout(30, function()
            local f = assert(io.open(path, 'ab'))
            f:write('defg')
            f:close()
         end)
      end)
      assert.are.equal(7, curr.size)
      assert.are.equal(3, prev.size)
      assert.is_true(curr.is_file)
      assert.are.same(stat_keys, keys(curr))
      assert.are.same(stat_keys, keys(prev))
   end)

   it('reports a missing file once, with zeroed stats, then its creation', function()
      local path = dir .. '/later.txt'
      local calls = {}
      run(5, function(done)
         local watcher
         watcher = fs.watchFile(path, {interval = 10}, function(c, p, err)
            calls[#calls + 1] = {c.size, c.is_file, p.size, err}
            if err then
               async.setTimeout(30, function() put('later.txt', 'hello') end)
            else
               watcher.close(done)
            end
         end)
      end)
      assert.are.same({
         {0, false, 0, 'ENOENT: no such file or directory "' .. path .. '"'},
         {5, true, 0, nil},
      }, calls)
   end)

   it('raises for wrong arguments', function()
      local e = support.error_of('fs_watch_spec.lua', function() fs.watchFile(dir, -1, function() end) end)
      assert.are.equal("bad argument #2 to 'watchFile' (positive number expected, got number)", e)
      e = support.error_of('fs_watch_spec.lua', function() fs.watchFile(dir, {interval = 'soon'}, function() end) end)
      assert.are.equal('watchFile: interval must be a positive number, got string', e)
      e = support.error_of('fs_watch_spec.lua', function() fs.watchFile(dir, 100) end)
      assert.are.equal("bad argument #3 to 'watchFile' (function expected, got no value)", e)
   end)
end)
