-- Count a final failure of a task name in its alert window: the first failure opens a window
-- (its start, in ms, is the window's id) that lasts ARGV[3] ms; later ones join it.
-- KEYS: 1 the name's open-window marker
-- ARGV: 1 now_ms, 2 task id, 3 window ms, 4 most task ids kept, 5 key prefix of window data
-- returns {window id, 1 if this failure opened the window else 0}
local window = redis.call('GET', KEYS[1])
local opened = 0
if not window then
  window = ARGV[1]
  redis.call('SET', KEYS[1], window, 'PX', ARGV[3])
  opened = 1
end
local data = ARGV[5] .. window
local keep_ms = tonumber(ARGV[3]) + 86400000
redis.call('HINCRBY', data, 'count', 1)
redis.call('HSETNX', data, 'window_ms', ARGV[3])
redis.call('PEXPIRE', data, keep_ms)
if redis.call('RPUSH', data .. ':ids', ARGV[2]) > tonumber(ARGV[4]) then
  redis.call('LTRIM', data .. ':ids', 0, tonumber(ARGV[4]) - 1)
end
redis.call('PEXPIRE', data .. ':ids', keep_ms)
return {window, opened}
