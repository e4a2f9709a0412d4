-- Create a task record (PENDING) and, when a message is given, publish it, atomically.
-- An idempotency key that already names a task returns that task instead.
-- KEYS: 1 task hash, 2 history, 3 idempotency key ('' for none), 4 broker list ('' to not publish),
--       5 hash of the task this one retries ('' for none), 6 its history
-- ARGV: 1 prefix, 2 task_id, 3 now_ms, 4 idempotency ttl s, 5 message, 6 history entry,
--       7 record ttl s (0 = none), 8.. field/value pairs (must include name, queue, owner, state)
local prefix, task_id, now_ms = ARGV[1], ARGV[2], ARGV[3]
if KEYS[3] ~= '' then
  local existing = redis.call('GET', KEYS[3])
  if existing then return {0, existing} end
end
if redis.call('EXISTS', KEYS[1]) == 1 then return {-1, task_id} end
local fields = {}
local by_name = {}
for i = 8, #ARGV, 2 do
  fields[#fields + 1] = ARGV[i]
  fields[#fields + 1] = ARGV[i + 1]
  by_name[ARGV[i]] = ARGV[i + 1]
end
redis.call('HSET', KEYS[1], unpack(fields))
redis.call('RPUSH', KEYS[2], ARGV[6])
if tonumber(ARGV[7]) > 0 then
  redis.call('EXPIRE', KEYS[1], ARGV[7])
  redis.call('EXPIRE', KEYS[2], ARGV[7])
end
if KEYS[3] ~= '' then redis.call('SET', KEYS[3], task_id, 'EX', ARGV[4]) end
local idx = prefix .. 'idx:'
redis.call('ZADD', idx .. 'all', now_ms, task_id)
redis.call('ZADD', idx .. 'state:' .. by_name['state'], now_ms, task_id)
redis.call('ZADD', idx .. 'name:' .. by_name['name'], now_ms, task_id)
redis.call('ZADD', idx .. 'queue:' .. by_name['queue'], now_ms, task_id)
redis.call('ZADD', idx .. 'owner:' .. by_name['owner'], now_ms, task_id)
redis.call('SADD', prefix .. 'stats:names', by_name['name'])
if KEYS[5] ~= '' then
  redis.call('HSET', KEYS[5], 'retried_by', task_id)
  redis.call('RPUSH', KEYS[6], cjson.encode({state = redis.call('HGET', KEYS[5], 'state'),
    at = tonumber(now_ms), detail = 'retried as ' .. task_id}))
end
if KEYS[4] ~= '' then redis.call('LPUSH', KEYS[4], ARGV[5]) end
return {1, task_id}
