-- KEYS: 1 stream, 2 task hash (one slot)
-- ARGV: 1 worker, 2 group, 3 final state (done|failed), 4 result,
--       5 result TTL (ms), 6 visibility (ms)
-- Returns 1 when the task was finished, 0 when the worker does not hold it
-- (not running, another worker, or its delivery expired).
local h = redis.call('HMGET', KEYS[2], 'group', 'state', 'worker', 'entry')
if h[1] ~= ARGV[2] or h[2] ~= 'running' or h[3] ~= ARGV[1] then
  return 0
end
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
local holder, idle = pendingTo(KEYS[1], h[4])
if holder ~= ARGV[1] or idle >= tonumber(ARGV[6]) then
  return 0
end
redis.call('XACK', KEYS[1], GROUP, h[4])
redis.call('XDEL', KEYS[1], h[4])
redis.call('HSET', KEYS[2], 'state', ARGV[3], 'result', ARGV[4])
redis.call('HDEL', KEYS[2], 'worker')
redis.call('PEXPIRE', KEYS[2], ARGV[5])
return 1
