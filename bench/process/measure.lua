-- What the Lua process benchmarks share: the counts, and the result line
-- of the timer benchmarks (`measure.report`, where count = clean exits).
local here = debug.getinfo(1, 'S').source:match('^@(.*/)') or './'
local measure = dofile(here .. '../timers/measure.lua')

measure.N = tonumber(os.getenv('EXEC_N')) or 2000
measure.IN_FLIGHT = tonumber(os.getenv('EXEC_IN_FLIGHT')) or 16

return measure
