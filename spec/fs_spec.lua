local async = require 'async'
local support = require 'spec.support'
local fs = async.fs
local sync = async.fiber.sync

-- Runs `body` in a fiber, with a watchdog: a test that hangs fails.
local function run(body)
   local watchdog = async.setTimeout(20000, function() error('test timed out') end)
   async.fiber.new(function()
      body()
      watchdog.clear()
   end)
   async.go()
end

local root = io.popen('id -u'):read('*l') == '0'

-- A fresh scratch directory per test.
local dir
before_each(function() dir = support.temp_folder('fs-spec') end)
after_each(function() support.remove_folder(dir) end)

local function put(name, content) return support.put(dir, name, content) end
local get = support.read_file

-- Asserts the results of a call that failed: nil, then the message (or
-- a message matching a pattern).
local function fails(message, result, err)
   assert.is_nil(result)
   assert.are.equal(message, err)
end
local function fails_matching(pattern, result, err)
   assert.is_nil(result)
   assert.matches(pattern, err)
end

local function enoent(path) return 'ENOENT: no such file or directory "' .. path .. '"' end

local all_bytes = {}
for i = 0, 255 do all_bytes[#all_bytes + 1] = string.char(i) end
all_bytes = table.concat(all_bytes)

describe('fs', function()
   it("is async.fs, also as require 'async.fs'", function()
      assert.is_table(fs)
      assert.are.equal(fs, require 'async.fs')
   end)

   it('has the contract bufferSize and reads that much by default', function()
      assert.are.equal(1024, fs.bufferSize)
      local path = put('big', string.rep('x', 3000))
      run(function()
         local fd = assert(sync.open(path, 'r'))
         assert.are.equal(1024, #sync.read(fd))
         assert.are.equal(1024, #sync.read(fd, nil, nil))
         assert.is_nil(sync.close(fd))
      end)
   end)

   describe('open, write, read, close', function()
      it("land three writes in 'w' mode one after another, and close calls back", function()
         local path, calls = dir .. '/three', {}
         fs.open(path, 'w', function(fd, err)
            assert.is_nil(err)
            fs.write(fd, 'first,', function(e1)
               calls[#calls + 1] = e1 or 'write1'
               fs.write(fd, 'second,', function(e2)
                  calls[#calls + 1] = e2 or 'write2'
                  fs.write(fd, 'third', function(e3)
                     calls[#calls + 1] = e3 or 'write3'
                     fs.close(fd, function(e4) calls[#calls + 1] = e4 or 'closed' end)
                  end)
               end)
            end)
         end)
         async.go()
         assert.are.same({'write1', 'write2', 'write3', 'closed'}, calls)
         assert.are.equal('first,second,third', get(path))
      end)

      it('queue writes issued together in order', function()
         local path = dir .. '/queued'
         run(function()
            local fd = sync.open(path, 'w')
            local funcs, args = {}, {}
            for i = 1, 20 do funcs[i], args[i] = fs.write, {fd, ('%02d,'):format(i), n = 2} end
            async.fiber.wait(funcs, args, 1)
            sync.close(fd)
         end)
         local expected = {}
         for i = 1, 20 do expected[i] = ('%02d,'):format(i) end
         assert.are.equal(table.concat(expected), get(path))
      end)

      it('write at an offset and read at an offset, shorter or empty at end of file', function()
         local path = put('offsets', '0123456789')
         run(function()
            local fd = assert(sync.open(path, 'r+'))
            assert.is_nil(sync.write(fd, 'ab', 4))
            assert.is_nil(sync.write(fd, ''))
            assert.are.equal('3ab6', sync.read(fd, 4, 3))
            assert.are.equal('89', sync.read(fd, 10, 8))
            assert.are.equal('', sync.read(fd, 10, 10))
            -- Reads without an offset advance from the start.
            assert.are.equal('0123', sync.read(fd, 4))
            assert.are.equal('ab67', sync.read(fd, 4))
            sync.close(fd)
         end)
         assert.are.equal('0123ab6789', get(path))
      end)

      it('take a mode as the original did: octal digits in a string or a number', function()
         run(function()
            for i, mode in ipairs({'640', 640, 600}) do
               local fd = assert(sync.open(dir .. '/moded' .. i, 'w', mode))
               assert.are.equal(tonumber(tostring(mode), 8), sync.fstat(fd).mode % 512)
               sync.close(fd)
            end
         end)
      end)

      it('let callbacks be left out, as the original did: the work is done, a failure goes to stderr', function()
         local path = dir .. '/no-callbacks'
         fs.open(path, 'w', function(fd)
            fs.write(fd, 'written without callbacks')
            -- Requests run side by side on the thread pool, as in the
            -- original and Node: a close made at once could overtake the
            -- write, so it waits until the bytes are in the file.
            local function close_once_written()
               if get(path) == 'written without callbacks' then return fs.close(fd) end
               async.setTimeout(5, close_once_written)
            end
            close_once_written()
         end)
         async.go()
         assert.are.equal('written without callbacks', get(path))
         fs.writeFile(path .. '2', 'whole')
         fs.mkdir(dir .. '/made')
         async.go()
         assert.are.equal('whole', get(path .. '2'))
         fs.rename(path .. '2', path .. '3')
         fs.unlink(path)
         async.go()
         assert.is_nil(io.open(path))
         assert.are.equal('whole', get(path .. '3'))
         -- A failure with no callback is reported on stderr, in a child
         -- process whose stderr the test reads.
         local program = os.tmpname()
         local f = assert(io.open(program, 'w'))
         f:write([[
            local async = require 'async'
            async.fs.close(987654)
            async.fs.unlink('/nonexistent/async-spec')
            async.go()
            print('went on')
         ]])
         f:close()
         local out = io.popen('luajit ' .. program .. ' 2>&1'):read('*a')
         os.remove(program)
         assert.matches('async: fs.close: EBADF: bad file descriptor\n', out)
         assert.matches('async: fs.unlink: ENOENT: no such file or directory "/nonexistent/async%-spec"\n', out)
         assert.matches('went on\n$', out)
      end)

      it("append in 'a' mode and create with a mode", function()
         local path = put('log', 'one\n')
         local fresh = dir .. '/fresh'
         run(function()
            local fd = sync.open(path, 'a')
            sync.write(fd, 'two\n')
            sync.close(fd)
            fd = assert(sync.open(fresh, 'w', '600'))
            assert.are.equal(tonumber('600', 8), sync.fstat(fd).mode % 512)
            sync.close(fd)
         end)
         assert.are.equal('one\ntwo\n', get(path))
      end)

      it("of 'w+' and 'a+' can read back what they wrote", function()
         run(function()
            local fd = sync.open(dir .. '/wplus', 'w+')
            sync.write(fd, 'hello')
            assert.are.equal('hello', sync.read(fd, 10, 0))
            sync.close(fd)
            fd = sync.open(dir .. '/wplus', 'a+')
            sync.write(fd, '!')
            assert.are.equal('hello!', sync.read(fd, 10, 0))
            sync.close(fd)
         end)
      end)

      it('keep every byte value, zeros included', function()
         local path = dir .. '/bytes'
         local data = all_bytes .. '\0\0' .. all_bytes:reverse()
         run(function()
            local fd = sync.open(path, 'w')
            assert.is_nil(sync.write(fd, data))
            sync.close(fd)
            fd = sync.open(path, 'r')
            assert.are.equal(data, sync.read(fd, 4096))
            sync.close(fd)
         end)
         assert.are.equal(data, get(path))
      end)

      it('fail for a missing file with the contract message', function()
         local path = dir .. '/missing'
         run(function()
            fails(enoent(path), sync.open(path, 'r'))
         end)
      end)

      it('fail to open a directory for writing (EISDIR)', function()
         run(function()
            fails('EISDIR: illegal operation on a directory "' .. dir .. '"', sync.open(dir, 'w'))
         end)
      end)

      it("fail to create a file that exists with 'wx'", function()
         local path = put('there', '')
         run(function()
            fails_matching('^EEXIST: ', sync.open(path, 'wx'))
         end)
      end)

      it("fail to write to a file opened 'r', even as root (EBADF)", function()
         local path = put('readonly', 'keep')
         run(function()
            local fd = sync.open(path, 'r')
            assert.are.equal('EBADF: bad file descriptor', sync.write(fd, 'x'))
            assert.are.equal('EBADF: bad file descriptor', sync.write(fd, 'x', 0))
            sync.close(fd)
         end)
         assert.are.equal('keep', get(path))
      end)

      it('fail to read a directory descriptor (EISDIR)', function()
         run(function()
            local fd = assert(sync.open(dir, 'r'))
            fails_matching('^EISDIR: ', sync.read(fd, 10))
            sync.close(fd)
         end)
      end)

      it('report a closed descriptor to read, write and close (EBADF), calling back each time', function()
         local path = put('f', 'x')
         local got = {}
         fs.open(path, 'r', function(fd)
            fs.close(fd, function(err)
               got.first = err or 'ok'
               fs.close(fd, function(e) got.second = e end)
               fs.read(fd, 1, nil, function(data, e) got.read = {data, e} end)
               fs.write(fd, 'x', function(e) got.write = e end)
            end)
         end)
         async.go()
         assert.are.same({
            first = 'ok',
            second = 'EBADF: bad file descriptor',
            read = {nil, 'EBADF: bad file descriptor'},
            write = 'EBADF: bad file descriptor',
         }, got)
      end)

      it('denies access without permission (EACCES)', function()
         if root then
            -- Root passes permission checks: ask as user nobody, in a child
            -- luajit given a copy of the module it can read.
            local library = package.searchpath('async', package.cpath)
            local dir = os.tmpname()
            os.remove(dir)
            assert(os.execute(("mkdir -m 755 '%s' && cp '%s' '%s/async.so' && echo x > '%s/secret' && chmod 000 '%s/secret'")
               :format(dir, library, dir, dir, dir)) == 0)
            local probe = ("local fs = require('async').fs; fs.open('%s/secret', 'r', function(fd, err) io.write(tostring(err)) end); require('async').go()")
               :format(dir)
            local child = io.popen(("setpriv --reuid=65534 --regid=65534 --clear-groups env LUA_CPATH='%s/?.so' luajit -e \"%s\" 2>&1")
               :format(dir, probe))
            local out = child:read('*a')
            child:close()
            os.execute("rm -rf '" .. dir .. "'")
            assert.are.equal('EACCES: permission denied "' .. dir .. '/secret"', out)
            return
         end
         local path = put('secret', 'x')
         os.execute("chmod 000 '" .. path .. "'")
         run(function()
            fails('EACCES: permission denied "' .. path .. '"', sync.open(path, 'r'))
         end)
      end)

      it('reject bad arguments at the call', function()
         assert.are.equal("bad argument #1 to 'open' (string expected, got nil)",
            support.error_of('fs_spec.lua', function() fs.open(nil, 'r', function() end) end))
         assert.matches("bad argument #2 to 'open' %(flags 'r'",
            support.error_of('fs_spec.lua', function() fs.open('/x', 'rw', function() end) end))
         assert.are.equal("bad argument #3 to 'open' (octal mode such as '644' or 644 expected, got string)",
            support.error_of('fs_spec.lua', function() fs.open('/x', 'w', '9', function() end) end))
         assert.are.equal("bad argument #3 to 'open' (octal mode such as '644' or 644 expected, got number)",
            support.error_of('fs_spec.lua', function() fs.open('/x', 'w', 493, function() end) end))
         assert.are.equal("bad argument #4 to 'open' (function expected, got string)",
            support.error_of('fs_spec.lua', function() fs.open('/x', 'w', '644', 'cb') end))
         assert.are.equal("bad argument #2 to 'close' (function expected, got number)",
            support.error_of('fs_spec.lua', function() fs.close(99, 1) end))
         assert.are.equal("bad argument #1 to 'read' (file descriptor expected, got number)",
            support.error_of('fs_spec.lua', function() fs.read(-1, 1, 0, function() end) end))
         assert.are.equal("bad argument #2 to 'write' (string expected, got table)",
            support.error_of('fs_spec.lua', function() fs.write(1, {}, function() end) end))
         assert.are.equal("bad argument #1 to 'stat' (path without zero bytes expected, got string)",
            support.error_of('fs_spec.lua', function() fs.stat('a\0b', function() end) end))
      end)
   end)

   describe('stat, lstat, fstat', function()
      it('give the contract fields', function()
         local path = put('s', 'hello')
         run(function()
            local s = assert(sync.stat(path))
            for _, key in ipairs({'dev', 'ino', 'mode', 'nlink', 'uid', 'gid', 'rdev', 'size',
                                  'atime', 'mtime', 'ctime', 'blksize', 'blocks'}) do
               assert.is_number(s[key], key)
            end
            assert.are.equal(5, s.size)
            assert.are.equal(1, s.nlink)
            assert.are.equal(math.floor(s.mtime), s.mtime)
            assert.is_true(math.abs(os.time() - s.mtime) < 60)
            assert.is_true(s.is_file)
            for _, key in ipairs({'is_directory', 'is_character_device', 'is_block_device',
                                  'is_fifo', 'is_symbolic_link', 'is_socket'}) do
               assert.is_false(s[key], key)
            end
            assert.is_true(sync.stat(dir).is_directory)
            assert.is_true(sync.stat('/dev/null').is_character_device)
            local fd = sync.open(path, 'r')
            local f = assert(sync.fstat(fd))
            sync.close(fd)
            assert.are.equal(s.ino, f.ino)
            assert.are.equal(s.size, f.size)
         end)
      end)

      it('tell a link from its target with lstat', function()
         local path = put('target', 'abc')
         os.execute("ln -s '" .. path .. "' '" .. dir .. "/link'")
         run(function()
            assert.is_true(sync.stat(dir .. '/link').is_file)
            local l = sync.lstat(dir .. '/link')
            assert.is_true(l.is_symbolic_link)
            assert.is_false(l.is_file)
         end)
      end)

      it('fail with the contract message', function()
         local path = dir .. '/nothing'
         run(function()
            fails(enoent(path), sync.stat(path))
            fails(enoent(path), sync.lstat(path))
            fails('EBADF: bad file descriptor', sync.fstat(987654))
            fails_matching('^ENOTDIR: not a directory "', sync.stat(put('plain', '') .. '/below'))
         end)
      end)
   end)

   describe('readFile and writeFile', function()
      it('round-trip all 256 byte values', function()
         local path = dir .. '/all'
         run(function()
            assert.is_nil(sync.writeFile(path, all_bytes))
            assert.are.equal(all_bytes, sync.readFile(path))
         end)
         assert.are.equal(all_bytes, get(path))
      end)

      it('round-trip a 64 MiB binary file', function()
         local chunks = {}
         local block = string.rep(all_bytes, 4096) -- 1 MiB
         for i = 1, 64 do chunks[i] = string.char(i) .. block:sub(2, -2) .. string.char(255 - i) end
         local data = table.concat(chunks)
         chunks, block = nil, nil
         local path = dir .. '/big'
         run(function()
            assert.is_nil(sync.writeFile(path, data))
            assert.are.equal(64 * 1024 * 1024, sync.stat(path).size)
            local back, err = sync.readFile(path)
            assert.is_nil(err)
            assert.are.equal(#data, #back)
            assert.is_true(back == data)
         end)
      end)

      it('round-trip a big file whose size is no multiple of the read parts or of a huge page', function()
         local data = string.rep('0123456789abcdef', 17 * 65536) .. 'end'
         local path = dir .. '/odd'
         run(function()
            assert.is_nil(sync.writeFile(path, data))
            local back, err = sync.readFile(path)
            assert.is_nil(err)
            assert.is_true(back == data)
         end)
      end)

      it('read an empty file as an empty string, and files the kernel does not size', function()
         local path = put('empty', '')
         run(function()
            assert.are.equal('', sync.readFile(path))
            local status = assert(sync.readFile('/proc/self/status'))
            assert.matches('VmRSS', status)
         end)
      end)

      it('replace what was there', function()
         local path = put('old', string.rep('old', 100))
         run(function()
            assert.is_nil(sync.writeFile(path, 'new'))
            assert.is_nil(sync.writeFile(dir .. '/empty', ''))
         end)
         assert.are.equal('new', get(path))
         assert.are.equal('', get(dir .. '/empty'))
      end)

      it('fail with the contract message, never crashing', function()
         local missing = dir .. '/missing'
         local file = put('file', 'x')
         run(function()
            fails(enoent(missing), sync.readFile(missing))
            fails('EISDIR: illegal operation on a directory "' .. dir .. '"', sync.readFile(dir))
            assert.are.equal('EISDIR: illegal operation on a directory "' .. dir .. '"', sync.writeFile(dir, 'x'))
            assert.are.equal('ENOTDIR: not a directory "' .. file .. '/x"', sync.writeFile(file .. '/x', 'x'))
            assert.are.equal(enoent(missing .. '/x'), sync.writeFile(missing .. '/x', 'x'))
         end)
      end)

      it('call back every one of many at once', function()
         local paths = {}
         for i = 1, 200 do paths[i] = put('many' .. i, string.rep(tostring(i), i)) end
         local got, count = {}, 0
         for i = 1, 200 do
            fs.readFile(paths[i], function(content, err)
               count = count + 1
               got[i] = content or err
            end)
         end
         async.go()
         assert.are.equal(200, count)
         for i = 1, 200 do assert.are.equal(string.rep(tostring(i), i), got[i]) end
      end)
   end)

   describe('appendFile', function()
      it('creates, then appends', function()
         local path = dir .. '/log'
         run(function()
            assert.is_nil(sync.appendFile(path, 'a\0'))
            assert.is_nil(sync.appendFile(path, 'b'))
         end)
         assert.are.equal('a\0b', get(path))
      end)

      it('fails on a directory', function()
         run(function()
            assert.matches('^EISDIR: ', sync.appendFile(dir, 'x'))
         end)
      end)
   end)

   describe('directories', function()
      it('mkdir with a mode, readdir sorted, scandir with types, rmdir', function()
         put('b-file', 'x')
         os.execute("mkfifo '" .. dir .. "/c-fifo'")
         os.execute("ln -s b-file '" .. dir .. "/d-link'")
         run(function()
            assert.is_nil(sync.mkdir(dir .. '/a-dir', '700'))
            assert.are.equal(tonumber('700', 8), sync.stat(dir .. '/a-dir').mode % 512)
            assert.are.same({'a-dir', 'b-file', 'c-fifo', 'd-link'}, sync.readdir(dir))
            assert.are.same({
               {name = 'a-dir', type = 'directory'},
               {name = 'b-file', type = 'file'},
               {name = 'c-fifo', type = 'fifo'},
               {name = 'd-link', type = 'link'},
            }, sync.scandir(dir))
            assert.are.same({}, sync.readdir(dir .. '/a-dir'))
            assert.is_nil(sync.rmdir(dir .. '/a-dir'))
            assert.is_false(sync.exists(dir .. '/a-dir'))
         end)
      end)

      it('mkdir fails where the directory exists or a file is in the way', function()
         local file = put('file', 'x')
         run(function()
            assert.are.equal('EEXIST: file already exists "' .. dir .. '"', sync.mkdir(dir))
            assert.are.equal('ENOTDIR: not a directory "' .. file .. '/sub"', sync.mkdir(file .. '/sub'))
            assert.are.equal(enoent(dir .. '/a/b'), sync.mkdir(dir .. '/a/b'))
         end)
      end)

      it('mkdtemp makes a new directory from a prefix', function()
         run(function()
            local a = assert(sync.mkdtemp(dir .. '/tmp-'))
            local b = assert(sync.mkdtemp(dir .. '/tmp-'))
            assert.matches('^' .. dir:gsub('%p', '%%%0') .. '/tmp%-......$', a)
            assert.are_not.equal(a, b)
            assert.is_true(sync.stat(a).is_directory)
            fails_matching('^ENOENT: no such file or directory "', sync.mkdtemp(dir .. '/missing/tmp-'))
         end)
      end)

      it('readdir and scandir fail on a missing path or a file', function()
         local file = put('file', 'x')
         run(function()
            fails(enoent(dir .. '/missing'), sync.readdir(dir .. '/missing'))
            fails('ENOTDIR: not a directory "' .. file .. '"', sync.scandir(file))
         end)
      end)

      it('rmdir fails on a missing, non-empty or non-directory path', function()
         local file = put('file', 'x')
         run(function()
            assert.are.equal(enoent(dir .. '/missing'), sync.rmdir(dir .. '/missing'))
            assert.matches('^ENOTEMPTY: ', sync.rmdir(dir))
            assert.matches('^ENOTDIR: ', sync.rmdir(file))
         end)
      end)
   end)

   describe('files and links', function()
      it('unlink removes a file, and fails on a missing one or a directory', function()
         local file = put('file', 'x')
         os.execute("mkdir '" .. dir .. "/sub'")
         run(function()
            assert.is_nil(sync.unlink(file))
            assert.is_false(sync.exists(file))
            assert.are.equal(enoent(file), sync.unlink(file))
            assert.matches('^EISDIR: ', sync.unlink(dir .. '/sub'))
         end)
      end)

      it('rename moves, and names both paths when it fails', function()
         local file = put('from', 'data')
         run(function()
            assert.is_nil(sync.rename(file, dir .. '/to'))
            assert.are.equal(enoent(file) .. ' -> "' .. dir .. '/to2"', sync.rename(file, dir .. '/to2'))
         end)
         assert.are.equal('data', get(dir .. '/to'))
      end)

      it('copyFile copies the bytes, and fails on a missing source', function()
         local file = put('src', all_bytes)
         run(function()
            assert.is_nil(sync.copyFile(file, dir .. '/dst'))
            assert.matches('^ENOENT: no such file or directory "' .. dir:gsub('%p', '%%%0') .. '/none" %-> ',
               sync.copyFile(dir .. '/none', dir .. '/dst2'))
            assert.matches('^EISDIR: ', sync.copyFile(file, dir))
         end)
         assert.are.equal(all_bytes, get(dir .. '/dst'))
      end)

      it('symlink, readlink and realpath', function()
         local file = put('target', 'x')
         run(function()
            assert.is_nil(sync.symlink('target', dir .. '/link'))
            assert.are.equal('target', sync.readlink(dir .. '/link'))
            local real = sync.realpath(dir)
            assert.are.equal(real .. '/target', sync.realpath(dir .. '/./link'))
            assert.matches('^EEXIST: ', sync.symlink('target', dir .. '/link'))
            fails_matching('^EINVAL: ', sync.readlink(file))
            fails(enoent(dir .. '/missing'), sync.realpath(dir .. '/missing'))
         end)
      end)

      it('exists and access', function()
         local file = put('file', 'x')
         run(function()
            assert.is_true(sync.exists(file))
            assert.is_true(sync.exists(dir))
            assert.is_false(sync.exists(dir .. '/missing'))
            assert.is_false(sync.exists(file .. '/below'))
            assert.is_nil(sync.access(file))
            assert.is_nil(sync.access(file, 'rw'))
            assert.are.equal(enoent(dir .. '/missing'), sync.access(dir .. '/missing', 'r'))
            if not root then
               os.execute("chmod 400 '" .. file .. "'")
               assert.matches('^EACCES: ', sync.access(file, 'w'))
            end
         end)
         assert.matches("bad argument #2 to 'access'",
            support.error_of('fs_spec.lua', function() fs.access(file, 'q', function() end) end))
      end)

      it('chmod and utime change what stat reports', function()
         local file = put('file', 'x')
         run(function()
            assert.is_nil(sync.chmod(file, '640'))
            assert.are.equal(tonumber('640', 8), sync.stat(file).mode % 512)
            assert.is_nil(sync.utime(file, 1000000000, 1200000000))
            local s = sync.stat(file)
            assert.are.equal(1000000000, s.atime)
            assert.are.equal(1200000000, s.mtime)
            assert.are.equal(enoent(dir .. '/missing'), sync.chmod(dir .. '/missing', '644'))
            assert.are.equal(enoent(dir .. '/missing'), sync.utime(dir .. '/missing', 1, 1))
         end)
      end)

      it('ftruncate shortens and extends, fsync flushes; both fail on a bad descriptor', function()
         local file = put('file', '0123456789')
         run(function()
            local fd = sync.open(file, 'r+')
            assert.is_nil(sync.ftruncate(fd, 4))
            assert.is_nil(sync.fsync(fd))
            assert.are.equal(4, sync.fstat(fd).size)
            assert.is_nil(sync.ftruncate(fd, 6))
            assert.are.equal('0123\0\0', sync.read(fd, 100, 0))
            assert.is_nil(sync.ftruncate(fd))
            assert.are.equal(0, sync.fstat(fd).size)
            sync.close(fd)
            fd = sync.open(file, 'r')
            assert.matches('^EINVAL: ', sync.ftruncate(fd, 1))
            sync.close(fd)
            assert.are.equal('EBADF: bad file descriptor', sync.ftruncate(987654, 0))
            assert.are.equal('EBADF: bad file descriptor', sync.fsync(987654))
         end)
      end)
   end)

   it('works through fiber.sync without a callback in sight', function()
      local path = dir .. '/synced'
      local got = {}
      async.run(function()
         got.write = sync.writeFile(path, 'synced')
         got.read = sync.readFile(path)
         got.size = sync.stat(path).size
      end)
      assert.are.same({read = 'synced', size = 6}, got)
   end)
end)
