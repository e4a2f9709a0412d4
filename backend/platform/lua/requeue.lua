-- Put a message held by a dead worker back at the head of its queue, atomically with removing
-- it from kombu's unacked set, but only if nothing changed since the reaper judged it: the
-- delivery is the same one (a message re-delivered meanwhile is re-added under the same tag
-- with a new index score) and the task record still names the same dead holder in the same
-- state. So two reapers, or a reaper and kombu's own restore, never both push one delivery,
-- and a delivery another worker picked up meanwhile is left to it.
-- KEYS: 1 unacked hash, 2 unacked index, 3 queue list ('' = drop without requeue), 4 task hash,
--       5 history, 6 recovery counters (field reaper_requeues)
-- ARGV: 1 delivery tag, 2 message to push, 3 history entry ('' for none),
--       4 index score the reaper saw, 5.. record field/value pairs that must still hold
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
if tonumber(redis.call('ZSCORE', KEYS[2], ARGV[1])) ~= tonumber(ARGV[4]) then return 0 end
for i = 5, #ARGV, 2 do
  if redis.call('HGET', KEYS[4], ARGV[i]) ~= ARGV[i + 1] then return 0 end
end
-- BRPOP takes from the right: RPUSH makes it the next message served, as kombu's restore does.
if KEYS[3] ~= '' then
  redis.call('RPUSH', KEYS[3], ARGV[2])
  redis.call('HINCRBY', KEYS[6], 'reaper_requeues', 1)
end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
if ARGV[3] ~= '' then redis.call('RPUSH', KEYS[5], ARGV[3]) end
return 1
