-- Shared by every script. The consumer group is always named "workers".
local GROUP = 'workers'

-- ensureGroup creates the stream's consumer group at id 0 (MKSTREAM) unless
-- it exists; any error but BUSYGROUP is raised.
local function ensureGroup(stream)
  local r = redis.pcall('XGROUP', 'CREATE', stream, GROUP, '0', 'MKSTREAM')
  if type(r) == 'table' and r.err and not string.find(r.err, 'BUSYGROUP', 1, true) then
    return redis.error_reply(r.err)
  end
  return nil
end

-- pendingTo returns the consumer holding the stream entry id and its idle
-- time (ms), or nil when the entry is not pending.
local function pendingTo(stream, id)
  local p = redis.call('XPENDING', stream, GROUP, id, id, 1)
  if #p == 0 then
    return nil, 0
  end
  return p[1][2], tonumber(p[1][3])
end
