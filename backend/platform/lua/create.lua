-- Create a task record (PENDING) and, when a message is given, publish it, atomically.
-- Called with KEYS/ARGV for one task, or with no KEYS and ARGV[1] a JSON array of
-- [keys, argv] pairs for many (one call per chunk: bulk enqueue).
-- An idempotency key that already names a task returns that task instead.
-- KEYS: 1 task hash, 2 history, 3 idempotency key ('' for none), 4 broker list ('' to not publish),
--       5 hash of the task this one retries ('' for none), 6 its history
-- ARGV: 1 prefix, 2 task_id, 3 now_ms, 4 idempotency ttl s, 5 message, 6 history entry,
--       7 record ttl s (0 = none), 8.. field/value pairs (must include name, queue, owner, state)
local function create_one(K, A)
  local prefix, task_id, now_ms = A[1], A[2], A[3]
  if K[3] ~= '' then
    local existing = redis.call('GET', K[3])
    if existing then return {0, existing} end
  end
  if redis.call('EXISTS', K[1]) == 1 then return {-1, task_id} end
  local fields = {}
  local by_name = {}
  for i = 8, #A, 2 do
    fields[#fields + 1] = A[i]
    fields[#fields + 1] = A[i + 1]
    by_name[A[i]] = A[i + 1]
  end
  redis.call('HSET', K[1], unpack(fields))
  redis.call('RPUSH', K[2], A[6])
  if tonumber(A[7]) > 0 then
    redis.call('EXPIRE', K[1], A[7])
    redis.call('EXPIRE', K[2], A[7])
  end
  if K[3] ~= '' then redis.call('SET', K[3], task_id, 'EX', A[4]) end
  local idx = prefix .. 'idx:'
  redis.call('ZADD', idx .. 'all', now_ms, task_id)
  redis.call('ZADD', idx .. 'state:' .. by_name['state'], now_ms, task_id)
  redis.call('ZADD', idx .. 'name:' .. by_name['name'], now_ms, task_id)
  redis.call('ZADD', idx .. 'queue:' .. by_name['queue'], now_ms, task_id)
  redis.call('ZADD', idx .. 'owner:' .. by_name['owner'], now_ms, task_id)
  redis.call('SADD', prefix .. 'stats:names', by_name['name'])
  -- The original's record may have expired (a replay from the dead-letter store): no stub.
  if K[5] ~= '' and redis.call('EXISTS', K[5]) == 1 then
    redis.call('HSET', K[5], 'retried_by', task_id)
    redis.call('RPUSH', K[6], cjson.encode({state = redis.call('HGET', K[5], 'state'),
      at = tonumber(now_ms), detail = 'retried as ' .. task_id}))
  end
  if K[4] ~= '' then redis.call('LPUSH', K[4], A[5]) end
  return {1, task_id}
end

if #KEYS > 0 then return create_one(KEYS, ARGV) end
local out = {}
for _, item in ipairs(cjson.decode(ARGV[1])) do
  local result = create_one(item[1], item[2])
  out[#out + 1] = result[1]
  out[#out + 1] = result[2]
end
return out
