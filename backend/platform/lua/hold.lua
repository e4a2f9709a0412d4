-- Record which worker process holds a task's message until its ETA (a countdown, a deferral),
-- so the reaper can give the message back if that process dies. Only an existing record is
-- marked: a key created here would have no TTL and no index.
-- KEYS: 1 task hash
-- ARGV: 1 holder instance, 2 delivery tag
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'held_by', ARGV[1], 'held_tag', ARGV[2])
return 1
