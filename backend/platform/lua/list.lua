-- One page of task ids, newest first, matching every filter.
-- Walks the smallest matching index and checks the others by ZSCORE, so the cost depends on
-- the page size and the filters' selectivity, not on the total number of records. Work per
-- call is bounded by a scan budget; a partial page still returns a cursor to continue from.
-- KEYS: index sorted sets to intersect (at least one; all share created_at ms as score)
-- ARGV: 1 min score (since), 2 cursor score ('' = from the newest), 3 cursor id, 4 limit,
--       5 scan budget, 6 record key prefix ('<prefix>task:')
-- returns {next_cursor_score or '', next_cursor_id or '', id1, id2, ...}
local min_score = ARGV[1]
local max_score = ARGV[2] ~= '' and ARGV[2] or '+inf'
local cursor_id = ARGV[3]
local limit, budget, task_prefix = tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6]

local walk, walk_size = KEYS[1], redis.call('ZCARD', KEYS[1])
for i = 2, #KEYS do
  local size = redis.call('ZCARD', KEYS[i])
  if size < walk_size then walk, walk_size = KEYS[i], size end
end

local found, scanned, offset = {}, 0, 0
local last_score, last_id = nil, nil
while #found < limit and scanned < budget do
  local batch = redis.call('ZREVRANGEBYSCORE', walk, max_score, min_score, 'WITHSCORES',
    'LIMIT', offset, 200)
  if #batch == 0 then last_score = nil; break end
  local stopped_early = false
  for j = 1, #batch, 2 do
    local id, score = batch[j], batch[j + 1]
    offset = offset + 1
    -- Members sharing the cursor's score come in reverse lexical order; skip those already served.
    if not (ARGV[2] ~= '' and tonumber(score) == tonumber(ARGV[2]) and id >= cursor_id) then
      scanned = scanned + 1
      local ok = true
      for i = 1, #KEYS do
        if KEYS[i] ~= walk and not redis.call('ZSCORE', KEYS[i], id) then ok = false; break end
      end
      if ok and redis.call('EXISTS', task_prefix .. id) == 0 then ok = false end
      if ok then found[#found + 1] = id end
      last_score, last_id = score, id
      if #found >= limit or scanned >= budget then
        stopped_early = j + 1 < #batch
        break
      end
    end
  end
  if #batch < 400 and not stopped_early then last_score = nil; break end
end
local out = {last_score or '', last_id or ''}
for _, id in ipairs(found) do out[#out + 1] = id end
return out
