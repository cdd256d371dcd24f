-- File reading on `async`: fs.readFile, for one big file or many small ones.
local measure = dofile((arg[0]:match('^(.*/)') or './') .. 'measure.lua')
local async = require 'async'
local fs = async.fs

measure.run('async', function(path, done)
  fs.readFile(path, function(content, err)
    if not content then error(err) end
    done(content)
  end)
end, async.go, async.hrtime)
