-- append.lua appends one message to a history stream and keeps the message
-- id index in step with the stream's trimming, as one atomic step.
--
-- KEYS[1]  stream  one entry per message, one field per envelope field
-- KEYS[2]  index   hash: message id -> stream entry id (history bounds by id)
-- KEYS[3]  order   list of "<entry id> <message id>", oldest first: tells
--                  which ids to unindex when XADD trims the stream
-- ARGV[1]  approximate maximum stream length (XADD MAXLEN ~)
-- ARGV[2]  time to live of the three keys in milliseconds, "0" for none
-- ARGV[3]  the message timestamp in unix milliseconds (>= 0)
-- ARGV[4]  the message id; "" is stored but not indexed
-- ARGV[5…] field, value pairs of the entry
-- Returns the new stream entry id.

local stream, index, order = KEYS[1], KEYS[2], KEYS[3]
local msgid = ARGV[4]

-- The entry id carries the message time ("<ms>-*") so that time bounds can be
-- read as id ranges. Ids must grow: a message older than the newest entry
-- (or a server without "<ms>-*") gets the next id Redis picks instead.
local xadd = {'XADD', stream, 'MAXLEN', '~', ARGV[1], ARGV[3] .. '-*'}
for i = 5, #ARGV do
  xadd[#xadd + 1] = ARGV[i]
end

local before = redis.call('XLEN', stream)
local entry = redis.pcall(unpack(xadd))
if type(entry) == 'table' and entry.err then
  xadd[6] = '*'
  entry = redis.call(unpack(xadd))
end

if msgid ~= '' then
  redis.call('HSET', index, msgid, entry)
end
redis.call('RPUSH', order, entry .. ' ' .. msgid)

-- XADD trimmed the oldest entries (whole macro nodes with "~"); the order
-- list holds them in the same order, so pop as many and unindex those ids
-- that still point at a trimmed entry (a repeated id points at its newest).
local removed = before + 1 - redis.call('XLEN', stream)
if removed > 0 then
  local gone = redis.call('LPOP', order, removed)
  if gone then
    for _, item in ipairs(gone) do
      local sp = string.find(item, ' ', 1, true)
      if sp then
        local id, mid = string.sub(item, 1, sp - 1), string.sub(item, sp + 1)
        if mid ~= '' and redis.call('HGET', index, mid) == id then
          redis.call('HDEL', index, mid)
        end
      end
    end
  end
end

local ttl = tonumber(ARGV[2])
if ttl > 0 then
  redis.call('PEXPIRE', stream, ttl)
  redis.call('PEXPIRE', index, ttl)
  redis.call('PEXPIRE', order, ttl)
end

return entry
