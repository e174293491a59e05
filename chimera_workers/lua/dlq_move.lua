-- Move a failed entry to its dead-letter stream and acknowledge it, in one atomic step.
-- KEYS[1]  source stream
-- KEYS[2]  dead-letter stream (same hash tag as the source)
-- ARGV[1]  consumer group
-- ARGV[2]  entry id
-- ARGV[3]  error (one line)
-- ARGV[4]  traceback
-- ARGV[5]  handler path
-- ARGV[6]  delivery count
-- ARGV[7]  failure time, milliseconds since the epoch
-- Returns the dead-letter entry id, or nil when the entry is not pending in the group (already
-- acknowledged or moved, or the stream/group is gone): calling twice makes one copy.
-- The copy holds the entry's own fields, then _error, _traceback, _handler, _source, _group,
-- _original_id, _deliveries, _failed_at_ms; an entry trimmed away while still pending is
-- recorded with _missing=1 and no payload fields.
local pending = redis.pcall('XPENDING', KEYS[1], ARGV[1], ARGV[2], ARGV[2], 1)
if type(pending) == 'table' and pending.err then
  if string.find(pending.err, 'NOGROUP', 1, true) then
    return false
  end
  return redis.error_reply(pending.err)
end
if #pending == 0 then
  return false
end
local fields = {}
local entry = redis.call('XRANGE', KEYS[1], ARGV[2], ARGV[2])
if #entry > 0 then
  for _, v in ipairs(entry[1][2]) do
    fields[#fields + 1] = v
  end
end
local meta = {
  '_error', ARGV[3], '_traceback', ARGV[4], '_handler', ARGV[5], '_source', KEYS[1],
  '_group', ARGV[1], '_original_id', ARGV[2], '_deliveries', ARGV[6], '_failed_at_ms', ARGV[7],
}
for _, v in ipairs(meta) do
  fields[#fields + 1] = v
end
if #entry == 0 then
  fields[#fields + 1] = '_missing'
  fields[#fields + 1] = '1'
end
local id = redis.call('XADD', KEYS[2], '*', unpack(fields))
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
return id
