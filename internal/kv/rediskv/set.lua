-- KEYS: 1 count, 2 hash, 3 expiries, 4 spaces (all in the tenant's slot)
-- ARGV: 1 now (ms), 2 key, 3 value, 4 expiry (ms, 0 none), 5 max keys,
--       6 escaped namespace, 7 tenant base ("<prefix>{<tenant>}:")
-- Returns 1 (created), 0 (updated) or -1 (the tenant is at its key limit).
local now = tonumber(ARGV[1])
sweep(KEYS[2], KEYS[3], KEYS[1], now)
local exists = redis.call('HEXISTS', KEYS[2], ARGV[2])
if exists == 0 then
  local n = tonumber(redis.call('GET', KEYS[1]) or '0')
  if n >= tonumber(ARGV[5]) then
    sweepTenant(KEYS[1], KEYS[4], ARGV[7], now)
    n = tonumber(redis.call('GET', KEYS[1]) or '0')
    if n >= tonumber(ARGV[5]) then
      return -1
    end
  end
  redis.call('INCR', KEYS[1])
end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
if tonumber(ARGV[4]) > 0 then
  redis.call('ZADD', KEYS[3], ARGV[4], ARGV[2])
  redis.call('SADD', KEYS[4], ARGV[6])
else
  redis.call('ZREM', KEYS[3], ARGV[2])
end
return 1 - exists
