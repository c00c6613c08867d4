-- sweep(h, z, count, now): drop the namespace's expired keys (their
-- expiry in the sorted set z is at or before now) from the hash h and the
-- tenant's key count. Prepended to every other script.
local function sweep(h, z, count, now)
  local gone = redis.call('ZRANGEBYSCORE', z, '-inf', now)
  if #gone == 0 then
    return 0
  end
  local n = 0
  for _, f in ipairs(gone) do
    n = n + redis.call('HDEL', h, f)
  end
  redis.call('ZREMRANGEBYSCORE', z, '-inf', now)
  if n > 0 then
    if redis.call('DECRBY', count, n) <= 0 then
      redis.call('DEL', count)
    end
  end
  return n
end

-- sweepTenant(count, spaces, base, now): sweep every namespace of the
-- tenant that holds keys with an expiry (the set spaces lists them).
local function sweepTenant(count, spaces, base, now)
  for _, ns in ipairs(redis.call('SMEMBERS', spaces)) do
    local z = base .. 'e:' .. ns
    sweep(base .. 's:' .. ns, z, count, now)
    if redis.call('ZCARD', z) == 0 then
      redis.call('SREM', spaces, ns)
    end
  end
end
