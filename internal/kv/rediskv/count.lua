-- KEYS: 1 count, 2 spaces. ARGV: 1 now (ms), 2 tenant base.
-- Returns the tenant's live keys.
sweepTenant(KEYS[1], KEYS[2], ARGV[2], tonumber(ARGV[1]))
return tonumber(redis.call('GET', KEYS[1]) or '0')
