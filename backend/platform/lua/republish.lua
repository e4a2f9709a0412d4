-- Publish again the message of a task whose message was lost, if the task still waits exactly
-- as the sweep saw it (same state, same last history entry), with a history entry.
-- KEYS: 1 task hash, 2 history, 3 queue list, 4 recovery counters (field orphan_republishes)
-- ARGV: 1 expected state, 2 expected last history entry, 3 message, 4 history entry
if redis.call('HGET', KEYS[1], 'state') ~= ARGV[1] then return 0 end
if redis.call('LINDEX', KEYS[2], -1) ~= ARGV[2] then return 0 end
redis.call('LPUSH', KEYS[3], ARGV[3])
redis.call('RPUSH', KEYS[2], ARGV[4])
redis.call('HINCRBY', KEYS[4], 'orphan_republishes', 1)
return 1
