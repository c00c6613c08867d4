-- KEYS: 1 count, 2 hash, 3 expiries. ARGV: 1 now (ms), 2 key.
-- Returns the value, or false when there is none.
sweep(KEYS[2], KEYS[3], KEYS[1], tonumber(ARGV[1]))
return redis.call('HGET', KEYS[2], ARGV[2])
