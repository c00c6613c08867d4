-- KEYS: 1 count, 2 hash, 3 expiries. ARGV: 1 now (ms).
-- Returns every live key of the namespace, unsorted.
sweep(KEYS[2], KEYS[3], KEYS[1], tonumber(ARGV[1]))
return redis.call('HKEYS', KEYS[2])
