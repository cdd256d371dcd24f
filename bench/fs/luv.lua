-- File reading on luv (Debian package lua-luv), which has no readFile: the
-- usual open, fstat, read of the whole size, close, each a callback.
local measure = dofile((arg[0]:match('^(.*/)') or './') .. 'measure.lua')
local uv = require 'luv'

local function read_file(path, done)
  uv.fs_open(path, 'r', tonumber('644', 8), function(err, fd)
    assert(not err, err)
    uv.fs_fstat(fd, function(err, stat)
      assert(not err, err)
      uv.fs_read(fd, stat.size, 0, function(err, data)
        assert(not err, err)
        uv.fs_close(fd, function(err)
          assert(not err, err)
          done(data)
        end)
      end)
    end)
  end)
end

measure.run('luv', read_file, function() uv.run() end, function() return uv.hrtime() / 1e6 end)
