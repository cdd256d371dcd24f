-- The runnable examples of the reference manual (docs/*.md): every fenced
-- block whose info string is exactly `lua runnable` is a whole program,
-- run here by a child `luajit` in a temporary directory of its own, with
-- this process's environment (LUA_CPATH and LUA_PATH included, so that
-- `require 'async'` finds the module under test; their entries must be
-- absolute paths, as spec/run.sh makes them). It must exit with
-- status 0 within 10 seconds. Every page must hold at least one such
-- block, so that a page cannot lose its examples unnoticed.
local async = require 'async'
local lfs = require 'lfs'

-- Seconds an example may take.
local LIMIT = 10

-- The docs folder, found from this file's own path (busted runs the
-- specs from the repository root, but need not).
local function docs_dir()
   local source = debug.getinfo(1, 'S').source:gsub('^@', '')
   local spec_dir = source:match('^(.*)/[^/]*$') or '.'
   return spec_dir .. '/../docs'
end

-- The pages, sorted by name.
local function pages(dir)
   local found = {}
   if lfs.attributes(dir, 'mode') ~= 'directory' then return found end
   for name in lfs.dir(dir) do
      if name:match('%.md$') then found[#found + 1] = name end
   end
   table.sort(found)
   return found
end

local function read(path)
   local f = assert(io.open(path, 'rb'))
   local text = f:read('*a')
   f:close()
   return text
end

-- The runnable blocks of a page's text: `{line = n, source = text}`,
-- `line` being the line of the opening fence. A block left open at the
-- end of the page is an error: its program would be cut short.
local function runnable_blocks(text)
   local blocks, current = {}, nil
   local n = 0
   for line in (text .. '\n'):gmatch('([^\n]*)\n') do
      n = n + 1
      line = line:gsub('\r$', '')
      if current then
         if line:match('^```%s*$') then
            blocks[#blocks + 1] = current
            current = nil
         else
            current.lines[#current.lines + 1] = line
         end
      elseif line:match('^```lua runnable%s*$') then
         current = {line = n, lines = {}}
      end
   end
   for _, block in ipairs(blocks) do block.source = table.concat(block.lines, '\n') .. '\n' end
   return blocks, current and current.line
end

local function have(program)
   return os.execute('command -v ' .. program .. ' >/dev/null 2>&1') == 0
end

local function shell_quoted(s)
   return "'" .. s:gsub("'", "'\\''") .. "'"
end

-- At most this much of an example's output goes into a failure message.
local function clip(text)
   if #text > 3000 then return text:sub(1, 3000) .. '\n[... ' .. (#text - 3000) .. ' more bytes]' end
   return text
end

-- Runs `source` as a program in a new temporary directory; returns
-- whether it exited 0 in time, and a description of what happened.
-- `label` goes into the program's file name, which tracebacks show.
local function run_example(source, label)
   local dir = os.tmpname()
   os.remove(dir)
   assert(lfs.mkdir(dir))
   local program = dir .. '-' .. label:gsub('[^%w.]+', '-') .. '.lua'
   local f = assert(io.open(program, 'wb'))
   f:write(source)
   f:close()
   local output, status, signal, timed_out = {}, nil, nil, false
   local proc, err = async.process.spawn('luajit', {program, cwd = dir}, function(proc)
      proc.stdin.close()
      for _, name in ipairs({'stdout', 'stderr'}) do
         proc[name].ondata(function(chunk) output[#output + 1] = chunk end)
      end
      local watchdog = async.setTimeout(LIMIT * 1000, function()
         timed_out = true
         proc.kill('SIGKILL')
         -- A grandchild may still hold the pipes open.
         proc.stdout.destroy()
         proc.stderr.destroy()
      end)
      proc.onclose(function(s, sig)
         status, signal = s, sig
         watchdog.clear()
      end)
   end)
   if proc then async.go() end
   os.remove(program)
   os.execute('rm -rf ' .. shell_quoted(dir))
   if not proc then return false, 'could not start luajit: ' .. tostring(err) end
   local text = table.concat(output)
   if timed_out then
      return false, ('did not end within %d seconds; output:\n%s'):format(LIMIT, clip(text))
   end
   if status ~= 0 or signal ~= 0 then
      return false, ('exited with status %s, signal %s; output:\n%s'):format(tostring(status), tostring(signal), clip(text))
   end
   return true, text
end

describe('the runnable examples of docs/*.md', function()
   local dir = docs_dir()
   local names = pages(dir)

   it('are found in a docs folder with pages', function()
      assert.is_true(#names > 0, 'no docs/*.md found in ' .. dir)
   end)

   local curl = have('curl')
   for _, name in ipairs(names) do
      local blocks, unclosed = runnable_blocks(read(dir .. '/' .. name))

      it(('docs/%s has at least one runnable example, each closed'):format(name), function()
         assert.is_nil(unclosed, ('docs/%s: the runnable block at line %s is never closed'):format(name, tostring(unclosed)))
         assert.is_true(#blocks >= 1, ('docs/%s has no "```lua runnable" block'):format(name))
      end)

      for i, block in ipairs(blocks) do
         it(('docs/%s example %d (line %d) exits 0 within %d s #novalgrind'):format(name, i, block.line, LIMIT), function()
            if not curl and block.source:find('curl', 1, true) then
               pending('curl is not installed')
               return
            end
            local ok, what = run_example(block.source, name .. '-' .. i)
            assert.is_true(ok, ('docs/%s, runnable example %d (line %d) failed: %s'):format(name, i, block.line, what))
         end)
      end
   end
end)
