-- Purge up to ARGV[3] messages from a queue's priority lists, marking each one's task REVOKED
-- in the same call, so that nothing ever sees a waiting task without its message (the orphan
-- sweep would publish it again) and a message popped meanwhile by a worker finds its task
-- REVOKED (the worker skips it).
-- KEYS: the queue's priority lists
-- ARGV: 1 prefix, 2 now_ms, 3 most messages this call, 4 history detail, 5 record ttl s
-- returns {messages removed, tasks revoked}
local prefix, now, budget, detail, ttl = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4],
  tonumber(ARGV[5])
local removed, revoked = 0, 0
for _, list in ipairs(KEYS) do
  while removed < budget do
    local raw = redis.call('RPOP', list)
    if not raw then break end
    removed = removed + 1
    local ok, message = pcall(cjson.decode, raw)
    local task_id = ok and type(message) == 'table' and type(message.headers) == 'table'
      and message.headers.id
    if type(task_id) == 'string' then
      local key = prefix .. 'task:' .. task_id
      local cur = redis.call('HMGET', key, 'state', 'name', 'queue', 'created_at')
      local state = cur[1]
      if state and state ~= 'SUCCESS' and state ~= 'FAILURE' and state ~= 'REVOKED' then
        local history = key .. ':history'
        redis.call('HSET', key, 'state', 'REVOKED', 'finished_at', now)
        redis.call('ZREM', prefix .. 'idx:state:' .. state, task_id)
        redis.call('ZADD', prefix .. 'idx:state:REVOKED', tonumber(cur[4]) or now, task_id)
        redis.call('HINCRBY', prefix .. 'stats:counts:' .. cur[2], 'REVOKED|' .. (cur[3] or 'unknown'), 1)
        redis.call('RPUSH', history, cjson.encode({state = 'REVOKED', at = now, detail = detail}))
        redis.call('EXPIRE', key, ttl)
        redis.call('EXPIRE', history, ttl)
        local minute = math.floor(now / 60000)
        local tkey = prefix .. 'stats:tp:' .. minute
        if redis.call('HINCRBY', tkey, 'REVOKED', 1) == 1 then redis.call('EXPIRE', tkey, 7200) end
        redis.call('PUBLISH', prefix .. 'events:task:' .. task_id,
          cjson.encode({task_id = task_id, state = 'REVOKED', event = 'revoked', at = now}))
        revoked = revoked + 1
      end
    end
  end
end
return {removed, revoked}
