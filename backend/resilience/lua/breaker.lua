-- One circuit breaker shared by every worker: decide or record in a single round trip.
-- KEYS: 1 breaker hash, 2 probe token key, 3 audit stream
-- ARGV: 1 op (allow | success | failure | release | force_open | force_close | reset), 2 now_ms, 3 fail_max, 4 failure_ratio, 5 min_calls,
--       6 window_ms, 7 cooldown_ms, 8 probe_timeout_ms, 9 probe token, 10 events channel,
--       11 breaker name
-- returns {decision, state, retry_after_ms}
--   allow:   decision 'allow' | 'probe' (the one half-open call) | 'deny'
--   success/failure/release: decision 'recorded'
--   force_open/force_close/reset (an operator; ARGV[9] names who): decision 'recorded'.
--   A forced open holds (no probe) until an operator closes or resets it.
-- Each state change is published on the events channel and appended to the audit stream.
local op, now = ARGV[1], tonumber(ARGV[2])
local fail_max, ratio, min_calls = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local window, cooldown, probe_timeout = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
local token, channel, name = ARGV[9], ARGV[10], ARGV[11]

local cur = redis.call('HMGET', KEYS[1], 'state', 'opened_at', 'consecutive', 'win_start',
  'win_calls', 'win_failures', 'forced')
local state = cur[1] or 'closed'
local opened_at = tonumber(cur[2] or '0')
local consecutive = tonumber(cur[3] or '0')
local win_start, win_calls, win_failures = tonumber(cur[4] or '0'), tonumber(cur[5] or '0'),
  tonumber(cur[6] or '0')

local function change(new_state, reason)
  if new_state == state then return end
  local fields = {'state', new_state, 'changed_at', now}
  if new_state == 'open' then
    fields[#fields + 1] = 'opened_at'; fields[#fields + 1] = now
  end
  if new_state == 'closed' then
    redis.call('HSET', KEYS[1], 'consecutive', 0, 'win_start', now, 'win_calls', 0,
      'win_failures', 0)
    redis.call('DEL', KEYS[2])
  end
  redis.call('HSET', KEYS[1], unpack(fields))
  local body = cjson.encode({breaker = name, from = state, to = new_state, reason = reason,
    at = now})
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', 10000, '*', 'breaker', name, 'from', state,
    'to', new_state, 'reason', reason, 'at', now)
  redis.call('PUBLISH', channel, body)
  state = new_state
end

if op == 'force_open' then
  redis.call('HSET', KEYS[1], 'forced', 1)
  redis.call('DEL', KEYS[2])
  change('open', 'opened by ' .. token)
  return {'recorded', state, 0}
end
if op == 'force_close' or op == 'reset' then
  redis.call('HDEL', KEYS[1], 'forced')
  change('closed', (op == 'reset' and 'reset by ' or 'closed by ') .. token)
  if op == 'reset' then
    redis.call('HSET', KEYS[1], 'consecutive', 0, 'win_start', now, 'win_calls', 0, 'win_failures', 0)
    redis.call('DEL', KEYS[2])
  end
  return {'recorded', state, 0}
end

if op == 'allow' then
  if state == 'closed' then return {'allow', state, 0} end
  if cur[7] then return {'deny', state, cooldown} end
  local reopen_at = opened_at + cooldown
  if now < reopen_at then return {'deny', state, reopen_at - now} end
  -- Cool-down over: exactly one caller gets the probe token; the rest wait for its verdict.
  if redis.call('SET', KEYS[2], token, 'NX', 'PX', probe_timeout) then
    change('half_open', 'cool-down over: one probe')
    return {'probe', state, 0}
  end
  return {'deny', state, math.min(cooldown, redis.call('PTTL', KEYS[2]))}
end

if op == 'success' then
  if state ~= 'closed' then
    -- Only the probe's verdict closes it (a call let through before it opened is no proof).
    if redis.call('GET', KEYS[2]) == token then change('closed', 'probe succeeded') end
    return {'recorded', state, 0}
  end
  if now - win_start > window then win_start, win_calls, win_failures = now, 0, 0 end
  redis.call('HSET', KEYS[1], 'state', state, 'consecutive', 0, 'win_start', win_start,
    'win_calls', win_calls + 1, 'win_failures', win_failures)
  return {'recorded', state, 0}
end

if op == 'failure' then
  if state ~= 'closed' then
    if redis.call('GET', KEYS[2]) == token then
      redis.call('DEL', KEYS[2])
      state = 'half_open'
      change('open', 'probe failed')
    end
    return {'recorded', state, 0}
  end
  if now - win_start > window then win_start, win_calls, win_failures = now, 0, 0 end
  consecutive, win_calls, win_failures = consecutive + 1, win_calls + 1, win_failures + 1
  redis.call('HSET', KEYS[1], 'state', state, 'consecutive', consecutive, 'win_start', win_start,
    'win_calls', win_calls, 'win_failures', win_failures)
  if consecutive >= fail_max then
    change('open', consecutive .. ' failures in a row')
  elseif win_calls >= min_calls and win_failures / win_calls >= ratio then
    change('open', win_failures .. ' of ' .. win_calls .. ' calls failed')
  end
  return {'recorded', state, 0}
end

if op == 'release' then
  -- A probe that never called (refused by the rate limit) hands the half-open slot back at
  -- once instead of holding it until the probe timeout.
  if redis.call('GET', KEYS[2]) == token then redis.call('DEL', KEYS[2]) end
  return {'recorded', state, 0}
end

return redis.error_reply('unknown breaker op ' .. op)
