-- What the Lua file benchmarks share: the test set-up from the environment
-- and the result line.
local measure = {}

measure.TEST = os.getenv('FS_TEST') or 'big'       -- 'big' or 'small'
measure.BIG = os.getenv('FS_BIG')                  -- path of the big file
measure.SMALL_DIR = os.getenv('FS_SMALL_DIR')      -- folder of small files
measure.SMALL_N = tonumber(os.getenv('FS_SMALL_N')) or 10000
measure.IN_FLIGHT = tonumber(os.getenv('FS_IN_FLIGHT')) or 64

function measure.small_path(i)
  return ('%s/f%05d'):format(measure.SMALL_DIR, i - 1)
end

-- Prints: result impl=<name> test=<big|small> ms=<wall> bytes=<read> count=<files>
function measure.report(impl, ms, bytes, count)
  io.write(('result impl=%s test=%s ms=%.1f bytes=%d count=%d\n'):format(impl, measure.TEST, ms, bytes, count))
end

-- Reads the files of the test with `read(path, done)`, where `done(content)`
-- is called once per file, at most IN_FLIGHT at a time for the small files;
-- `run()` runs the loop, `now()` gives milliseconds. The time is taken in
-- the last file's callback, as node.js takes it: what the loop does after
-- (freeing buffers, collecting garbage) is not the read's.
function measure.run(impl, read, run, now)
  local bytes, count, t_end = 0, 0, nil
  local t0 = now()
  if measure.TEST == 'big' then
    read(measure.BIG, function(content)
      bytes, count = bytes + #content, count + 1
      t_end = now()
    end)
    run()
  else
    local started = 0
    local function start_next()
      if started == measure.SMALL_N then return end
      started = started + 1
      read(measure.small_path(started), function(content)
        bytes, count = bytes + #content, count + 1
        if count == measure.SMALL_N then t_end = now() end
        start_next()
      end)
    end
    for _ = 1, measure.IN_FLIGHT do start_next() end
    run()
  end
  measure.report(impl, (t_end or now()) - t0, bytes, count)
end

return measure
