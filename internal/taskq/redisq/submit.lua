-- KEYS: 1 stream, 2 task hash (one slot: the tenant's hash tag)
-- ARGV: 1 task id, 2 body (a JSON object), 3 group, 4 queue max (0: none),
-- 5 the latest time (Unix ms) at which the task may still be stored
-- (0: none)
-- Returns the stream entry id, 0 when the group holds queue max unfinished
-- tasks, -1 when the task id is taken, or -2 when the script runs after its
-- deadline: the node has told (or is about to tell) the submitter that the
-- task was not stored, so storing it now would queue a refused task.
local deadline = tonumber(ARGV[5])
if deadline > 0 then
  local t = redis.call('TIME')
  if tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) > deadline then
    return -2
  end
end
local qmax = tonumber(ARGV[4])
if qmax > 0 and redis.call('XLEN', KEYS[1]) >= qmax then
  return 0
end
if redis.call('EXISTS', KEYS[2]) == 1 then
  return -1
end
local err = ensureGroup(KEYS[1])
if err then
  return err
end
local entry = redis.call('XADD', KEYS[1], '*', 'task_id', ARGV[1], 'body', ARGV[2])
redis.call('HSET', KEYS[2], 'state', 'queued', 'attempts', 0, 'group', ARGV[3], 'entry', entry)
return entry
