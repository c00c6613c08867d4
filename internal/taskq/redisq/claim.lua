-- KEYS: 1 stream, 2 autoclaim cursor, 3 dead-letter list (one slot)
-- ARGV: 1 tenant base (task hashes are base .. 't:' .. id, same slot),
--       2 worker, 3 n, 4 visibility (ms), 5 max attempts, 6 result TTL (ms),
--       7 queue max (0: none), 8 now (RFC 3339, for dead letters), 9 group
-- Returns a list of items:
--   {'task', entry id, task id, body, attempt}  delivered to the worker
--   {'dead', dead letter JSON}                  attempts ran out
--   {'raw', entry id, reason, field, value, ...} did not decode; still
--                                               pending to the worker
local stream, cursorKey, deadKey = KEYS[1], KEYS[2], KEYS[3]
local base, worker, n = ARGV[1], ARGV[2], tonumber(ARGV[3])
local vis, maxAttempts, ttl = ARGV[4], tonumber(ARGV[5]), ARGV[6]
local qmax, now, group = tonumber(ARGV[7]), ARGV[8], ARGV[9]

if redis.call('EXISTS', stream) == 0 then
  return {}
end
local err = ensureGroup(stream)
if err then
  return err
end

local out = {}
local handed = 0

local function raw(id, reason, flat)
  local item = {'raw', id, reason}
  for _, v in ipairs(flat) do
    item[#item + 1] = v
  end
  out[#out + 1] = item
end

-- process decides one entry the group just gave the worker.
local function process(id, flat, reclaimed)
  if not flat then
    raw(id, 'entry deleted', {})
    return
  end
  local taskID, body
  for i = 1, #flat - 1, 2 do
    if flat[i] == 'task_id' and not taskID then
      taskID = flat[i + 1]
    elseif flat[i] == 'body' and not body then
      body = flat[i + 1]
    end
  end
  if not taskID or not body then
    raw(id, 'missing task_id or body', flat)
    return
  end
  if #taskID ~= 37 or not string.find(taskID, '^task_[0-9a-f]+$') then
    raw(id, 'malformed task_id', flat)
    return
  end
  if not string.find(body, '^%s*{') then
    raw(id, 'body is not a JSON object', flat)
    return
  end
  local key = base .. 't:' .. taskID
  local h = redis.call('HMGET', key, 'group', 'state', 'attempts', 'entry')
  if not h[1] then
    raw(id, 'no task record', flat)
    return
  end
  if h[1] ~= group or h[4] ~= id then
    raw(id, 'entry does not match its task record', flat)
    return
  end
  if h[2] ~= 'queued' and h[2] ~= 'running' then
    raw(id, 'task already finished', flat)
    return
  end
  local attempts = tonumber(h[3]) or 0
  if reclaimed and attempts >= maxAttempts then
    if not pcall(cjson.decode, body) then
      raw(id, 'body is not JSON', flat)
      return
    end
    local dl = '{"task_id":' .. cjson.encode(taskID) .. ',"entry_id":' .. cjson.encode(id) ..
      ',"reason":"attempts","attempts":' .. string.format('%d', attempts) ..
      ',"body":' .. body .. ',"at":' .. cjson.encode(now) .. '}'
    -- The push first: scripts are not rolled back, and a failed push must
    -- not lose the task.
    redis.call('RPUSH', deadKey, dl)
    if qmax > 0 then
      redis.call('LTRIM', deadKey, -qmax, -1)
    end
    redis.call('XACK', stream, GROUP, id)
    redis.call('XDEL', stream, id)
    redis.call('HSET', key, 'state', 'dead')
    redis.call('HDEL', key, 'worker')
    redis.call('PEXPIRE', key, ttl)
    out[#out + 1] = {'dead', dl}
    return
  end
  attempts = redis.call('HINCRBY', key, 'attempts', 1)
  redis.call('HSET', key, 'state', 'running', 'worker', worker)
  out[#out + 1] = {'task', id, taskID, body, attempts}
  handed = handed + 1
end

-- Expired and released deliveries first, from the stored cursor; one wrap
-- back to 0-0 so entries before the cursor are not passed over.
local cursor = redis.call('GET', cursorKey) or '0-0'
local wrapped = cursor == '0-0'
for _ = 1, 8 do
  if handed >= n then
    break
  end
  local r = redis.call('XAUTOCLAIM', stream, GROUP, worker, vis, cursor, 'COUNT', n - handed)
  cursor = r[1]
  for _, e in ipairs(r[2]) do
    process(e[1], e[2], true)
  end
  if cursor == '0-0' then
    if wrapped then
      break
    end
    wrapped = true
  end
end
redis.call('SET', cursorKey, cursor)

-- Then never-delivered entries in submission order.
for _ = 1, 8 do
  if handed >= n then
    break
  end
  local r = redis.call('XREADGROUP', 'GROUP', GROUP, worker, 'COUNT', n - handed, 'STREAMS', stream, '>')
  if not r or #r == 0 or #r[1][2] == 0 then
    break
  end
  for _, e in ipairs(r[1][2]) do
    process(e[1], e[2], false)
  end
end
return out
