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
local maxlen, msgid = ARGV[1], ARGV[4]

-- The entry id carries the message time ("<ms>-*") so that time bounds can be
-- read as id ranges. Ids must grow: a message older than the newest entry
-- (or a server without "<ms>-*") gets the next id Redis picks instead.
-- The fields go straight from ARGV (no table is built per call).
local entry = redis.pcall('XADD', stream, 'MAXLEN', '~', maxlen, ARGV[3] .. '-*', unpack(ARGV, 5))
if type(entry) == 'table' and entry.err then
  entry = redis.call('XADD', stream, 'MAXLEN', '~', maxlen, '*', unpack(ARGV, 5))
end

if msgid ~= '' then
  redis.call('HSET', index, msgid, entry)
end
local listed = redis.call('RPUSH', order, entry .. ' ' .. msgid)

-- After every run the order list holds exactly the stream's entries, so
-- while it is no longer than maxlen, XADD cannot have trimmed (MAXLEN ~
-- trims only beyond maxlen) and the stream's length need not be asked.
-- Beyond it, the surplus over the stream's length is what XADD trimmed
-- (whole macro nodes, oldest first, as the list is ordered): pop as many
-- and unindex those ids that still point at a trimmed entry (a repeated id
-- points at its newest).
if listed > tonumber(maxlen) then
  local removed = listed - redis.call('XLEN', stream)
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
end

local ttl = tonumber(ARGV[2])
if ttl > 0 then
  redis.call('PEXPIRE', stream, ttl)
  redis.call('PEXPIRE', index, ttl)
  redis.call('PEXPIRE', order, ttl)
end

return entry
