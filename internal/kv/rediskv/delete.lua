-- KEYS: 1 count, 2 hash, 3 expiries. ARGV: 1 now (ms), 2 key.
-- Returns 1 when a live key was deleted, else 0.
sweep(KEYS[2], KEYS[3], KEYS[1], tonumber(ARGV[1]))
if redis.call('HDEL', KEYS[2], ARGV[2]) == 0 then
  return 0
end
redis.call('ZREM', KEYS[3], ARGV[2])
if redis.call('DECR', KEYS[1]) <= 0 then
  redis.call('DEL', KEYS[1])
end
return 1
