-- Apply one state transition to a task record in a single round trip.
-- Final states (SUCCESS, FAILURE, REVOKED) are sticky: a late or duplicate event cannot undo them.
-- KEYS: 1 task hash, 2 history, and with _ack: 3 the broker's unacked hash, 4 its index
-- ARGV: 1 prefix, 2 task_id, 3 event, 4 now_ms, 5 history detail, 6 history max,
--       7 record ttl s, 8.. field/value pairs to set (fields starting with '_' are
--       instructions, never stored: _running_on, _deferral, _outage_retries, _ack)
-- _ack: the delivery tag of the run this outcome ends. The delivery leaves the broker's unacked
-- hash in this call, with the outcome: the worker's main process then only forgets it
-- (backend/worker/request.py), and no outcome can be acknowledged without being recorded.
-- Metrics ride along in the same call (backend/platform/metrics.py reads them): transition
-- counters per state and queue, run and wait time histograms (bucket counters, bounds from
-- backend/platform/histograms.py), final failures by error type, deferrals by cause.
-- events: started (also records RECEIVED when given received_at), progress, retry, deferred
--         (sent back by a rate limit or an open breaker: the attempt it started is undone),
--         success, failure, revoked, cancel
-- returns {outcome, state, attempts, max_attempts, policy_json}
--   outcome: 'ok' | 'final' (already finished; nothing changed) | 'missing' | 'running'
--            (cancel refused) | 'ignored' (progress outside a run) | 'stale' (see _running_on)
local prefix, task_id, event, now_ms = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local hist_max, ttl = tonumber(ARGV[6]), tonumber(ARGV[7])
local updates = {}
for i = 8, #ARGV, 2 do updates[ARGV[i]] = ARGV[i + 1] end
local BOUNDS = --[[BOUNDS]]
local ack_tag = updates['_ack']
updates['_ack'] = nil
if ack_tag then
  redis.call('ZREM', KEYS[4], ack_tag)
  redis.call('HDEL', KEYS[3], ack_tag)
end

-- One observation of a histogram: its bucket's counter and the sum, two commands.
local function observe(key, ms)
  if ms < 0 then ms = 0 end
  local bucket = #BOUNDS
  for j = 1, #BOUNDS do
    if ms <= BOUNDS[j] then bucket = j - 1; break end
  end
  redis.call('HINCRBY', key, bucket, 1)
  redis.call('HINCRBY', key, 'sum', ms)
end

local cur = redis.call('HMGET', KEYS[1], 'state', 'name', 'queue', 'owner', 'created_at',
  'started_at', 'first_started_at', 'attempts', 'max_attempts', 'policy')
local state = cur[1]
if not state then
  -- A message published by something other than CeleryTaskService (Celery's own retry after
  -- the record expired, a raw .delay()): adopt it so every task is tracked.
  if event == 'revoked' or not updates['name'] then return {'missing', '', 0, 0, ''} end
  state = 'PENDING'
  cur = {state, updates['name'], updates['queue'] or 'unknown', updates['owner'] or 'system',
         tostring(now_ms), false, false, '0', updates['max_attempts'] or '1', false}
  redis.call('HSET', KEYS[1], 'task_id', task_id, 'name', cur[2], 'queue', cur[3],
    'owner', cur[4], 'created_at', cur[5], 'state', state, 'attempts', '0',
    'max_attempts', cur[9], 'priority', updates['priority'] or 'NORMAL')
  local idx = prefix .. 'idx:'
  redis.call('ZADD', idx .. 'all', now_ms, task_id)
  redis.call('ZADD', idx .. 'name:' .. cur[2], now_ms, task_id)
  redis.call('ZADD', idx .. 'queue:' .. cur[3], now_ms, task_id)
  redis.call('ZADD', idx .. 'owner:' .. cur[4], now_ms, task_id)
  redis.call('ZADD', idx .. 'state:PENDING', now_ms, task_id)
  redis.call('SADD', prefix .. 'stats:names', cur[2])
end
updates['priority'] = nil
local name = cur[2]
local attempts = tonumber(cur[8] or '0') or 0
local max_attempts = tonumber(cur[9] or '1') or 1
local policy = cur[10] or ''
if state == 'SUCCESS' or state == 'FAILURE' or state == 'REVOKED' then
  return {'final', state, attempts, max_attempts, policy}
end
-- '_running_on': apply only while the record's current run is on that worker instance (a
-- failure reported by a worker's main process for a run it holds: a hard time limit, a lost
-- child). A run the task has since moved on from (redelivered, deferred) makes it 'stale'.
local running_on = updates['_running_on']
updates['_running_on'] = nil
local deferral, outage_retries = updates['_deferral'], updates['_outage_retries']
updates['_deferral'] = nil; updates['_outage_retries'] = nil
if outage_retries then
  redis.call('HINCRBY', prefix .. 'stats:recovery', 'redis_outage_retries', outage_retries)
end
local queue = cur[3] or 'unknown'
if running_on and ((state ~= 'STARTED' and state ~= 'PROGRESS')
    or redis.call('HGET', KEYS[1], 'worker_instance') ~= running_on) then
  return {'stale', state, attempts, max_attempts, policy}
end

if event == 'cancel' then
  -- A cancel without terminate never stops a running task.
  if state == 'STARTED' or state == 'PROGRESS' then
    return {'running', state, attempts, max_attempts, policy}
  end
  event = 'revoked'
end

local new_state = state
local received = nil  -- the RECEIVED entry, pushed with STARTED's in one RPUSH
if event == 'started' then
  new_state = 'STARTED'
  attempts = attempts + 1
  updates['attempts'] = tostring(attempts)
  updates['started_at'] = tostring(now_ms)
  updates['name'] = nil; updates['queue'] = nil; updates['owner'] = nil; updates['max_attempts'] = nil
  -- When the worker's main process received it (stamped there, recorded here: one round trip).
  local received_at = tonumber(updates['received_at'])
  updates['received_at'] = nil
  if received_at then
    received = cjson.encode({state = 'RECEIVED', at = received_at,
      detail = 'received by ' .. (updates['worker'] or '')})
  end
  if not cur[7] then
    updates['first_started_at'] = tostring(now_ms)
    local wait = now_ms - tonumber(cur[5])
    updates['wait_ms'] = tostring(wait)
    observe(prefix .. 'stats:hist:wait:' .. name, wait)
  end
elseif event == 'progress' then
  if state ~= 'STARTED' and state ~= 'PROGRESS' then
    return {'ignored', state, attempts, max_attempts, policy}
  end
  new_state = 'PROGRESS'
elseif event == 'retry' then
  new_state = 'RETRY'
elseif event == 'deferred' then
  if state ~= 'STARTED' and state ~= 'PROGRESS' then
    return {'ignored', state, attempts, max_attempts, policy}
  end
  new_state = 'RETRY'
  attempts = math.max(0, attempts - 1)
  updates['attempts'] = tostring(attempts)
  -- Counters only grow (Prometheus): the undone start is counted as DEFERRED.
  redis.call('HINCRBY', prefix .. 'stats:counts:' .. name, 'DEFERRED|' .. queue, 1)
  if deferral then redis.call('HINCRBY', prefix .. 'stats:deferrals', deferral, 1) end
elseif event == 'success' or event == 'failure' or event == 'revoked' then
  new_state = (event == 'success' and 'SUCCESS') or (event == 'failure' and 'FAILURE') or 'REVOKED'
  updates['finished_at'] = tostring(now_ms)
  if cur[6] then
    local runtime = now_ms - tonumber(cur[6])
    updates['runtime_ms'] = tostring(runtime)
    if event ~= 'revoked' then observe(prefix .. 'stats:hist:run:' .. name, runtime) end
  end
  if event == 'failure' then
    redis.call('HINCRBY', prefix .. 'stats:failures:' .. name, updates['error_type'] or 'unknown', 1)
  end
  local minute = math.floor(now_ms / 60000)
  local tkey = prefix .. 'stats:tp:' .. minute
  if redis.call('HINCRBY', tkey, new_state, 1) == 1 then redis.call('EXPIRE', tkey, 7200) end
else
  return redis.error_reply('unknown event ' .. event)
end

updates['state'] = new_state
local flat = {}
for k, v in pairs(updates) do flat[#flat + 1] = k; flat[#flat + 1] = v end
redis.call('HSET', KEYS[1], unpack(flat))
if event ~= 'progress' then
  local entry = cjson.encode({state = new_state, at = now_ms, detail = ARGV[5]})
  local length
  if received then
    length = redis.call('RPUSH', KEYS[2], received, entry)
  else
    length = redis.call('RPUSH', KEYS[2], entry)
  end
  if length > hist_max then redis.call('LTRIM', KEYS[2], -hist_max, -1) end
end
if new_state ~= state then
  local score = tonumber(cur[5])
  redis.call('ZREM', prefix .. 'idx:state:' .. state, task_id)
  redis.call('ZADD', prefix .. 'idx:state:' .. new_state, score, task_id)
  if event == 'started' or event == 'retry' or new_state == 'SUCCESS' or new_state == 'FAILURE'
      or new_state == 'REVOKED' then
    redis.call('HINCRBY', prefix .. 'stats:counts:' .. name, new_state .. '|' .. queue, 1)
  end
end
if new_state == 'SUCCESS' or new_state == 'FAILURE' or new_state == 'REVOKED' then
  redis.call('EXPIRE', KEYS[1], ttl)
  redis.call('EXPIRE', KEYS[2], ttl)
end
local event_body = cjson.encode({task_id = task_id, state = new_state, event = event, at = now_ms,
  progress_current = updates['progress_current'], progress_total = updates['progress_total'],
  progress_message = updates['progress_message']})
redis.call('PUBLISH', prefix .. 'events:task:' .. task_id, event_body)
return {'ok', new_state, attempts, max_attempts, policy}
