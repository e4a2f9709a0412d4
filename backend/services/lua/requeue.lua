-- Put a message held by a dead worker back at the head of its queue, atomically with removing
-- it from kombu's unacked set; a message acknowledged meanwhile is left alone.
-- KEYS: 1 unacked hash, 2 unacked index, 3 queue list ('' = drop without requeue), 4 history
-- ARGV: 1 delivery tag, 2 message to push, 3 history entry ('' for none)
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
-- BRPOP takes from the right: RPUSH makes it the next message served, as kombu's restore does.
if KEYS[3] ~= '' then redis.call('RPUSH', KEYS[3], ARGV[2]) end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
if ARGV[3] ~= '' then redis.call('RPUSH', KEYS[4], ARGV[3]) end
return 1
