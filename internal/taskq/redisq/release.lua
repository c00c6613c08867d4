-- KEYS: 1 stream (one slot with the task hashes)
-- ARGV: 1 tenant base, 2 worker, 3 group, 4 visibility (ms), 5... task ids
-- Gives back each task the worker holds: its entry moves to the consumer
-- "_released" already idle for the visibility, so the next XAUTOCLAIM takes
-- it; attempts stay. Then forgets the worker's consumer when it holds no
-- entry (deleting a consumer that holds entries would lose them).
-- Returns the number of tasks released.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
local err = ensureGroup(KEYS[1])
if err then
  return err
end
local released = 0
for i = 5, #ARGV do
  local key = ARGV[1] .. 't:' .. ARGV[i]
  local h = redis.call('HMGET', key, 'group', 'state', 'worker', 'entry')
  if h[1] == ARGV[3] and h[2] == 'running' and h[3] == ARGV[2] then
    if pendingTo(KEYS[1], h[4]) == ARGV[2] then
      redis.call('XCLAIM', KEYS[1], GROUP, '_released', 0, h[4], 'IDLE', ARGV[4], 'JUSTID')
      redis.call('HSET', key, 'state', 'queued')
      redis.call('HDEL', key, 'worker')
      released = released + 1
    end
  end
end
local left = redis.call('XPENDING', KEYS[1], GROUP, '-', '+', 1, ARGV[2])
if #left == 0 then
  redis.call('XGROUP', 'DELCONSUMER', KEYS[1], GROUP, ARGV[2])
end
return released
