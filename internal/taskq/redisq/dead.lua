-- KEYS: 1 stream, 2 dead-letter list (one slot)
-- ARGV: 1 entry id, 2 dead letter JSON, 3 queue max (0: none),
--       4 tenant base, 5 task id ('' when none), 6 result TTL (ms)
-- Moves a stream entry that did not decode to the dead-letter list: it is
-- acknowledged and deleted, so no later claim meets it. When the entry is
-- a task's own (task id given and the record names this entry), the task
-- is dead too.
-- Scripts are not rolled back on error: the push that may fail comes
-- first, so a failed move leaves the entry pending, to be met again.
redis.call('RPUSH', KEYS[2], ARGV[2])
local qmax = tonumber(ARGV[3])
if qmax > 0 then
  redis.call('LTRIM', KEYS[2], -qmax, -1)
end
redis.call('XACK', KEYS[1], GROUP, ARGV[1])
redis.call('XDEL', KEYS[1], ARGV[1])
if ARGV[5] ~= '' then
  local key = ARGV[4] .. 't:' .. ARGV[5]
  if redis.call('HGET', key, 'entry') == ARGV[1] then
    redis.call('HSET', key, 'state', 'dead')
    redis.call('HDEL', key, 'worker')
    redis.call('PEXPIRE', key, ARGV[6])
  end
end
return 1
