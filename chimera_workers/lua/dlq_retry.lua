-- Put a dead-lettered entry's payload back on its source stream and delete it from the
-- dead-letter stream, in one atomic step.
-- KEYS[1]  dead-letter stream
-- KEYS[2]  source stream (must equal the entry's _source; same hash tag)
-- ARGV[1]  dead-letter entry id
-- Returns the new entry id on the source stream. Errors: NOTFOUND when the entry is gone,
-- NOPAYLOAD when it was recorded with _missing=1, WRONGSOURCE when KEYS[2] is not its source.
-- The payload is every field except the metadata dlq_move adds, so framework fields that
-- start with '_' (like _eid) travel back with it.
local META = {
  _error = true, _traceback = true, _handler = true, _source = true, _group = true,
  _original_id = true, _deliveries = true, _failed_at_ms = true, _missing = true,
}
local entry = redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1])
if #entry == 0 then
  return redis.error_reply('NOTFOUND no dead letter ' .. ARGV[1] .. ' in ' .. KEYS[1])
end
local raw = entry[1][2]
local payload, source, missing = {}, nil, false
for i = 1, #raw, 2 do
  local name = raw[i]
  if name == '_source' then
    source = raw[i + 1]
  elseif name == '_missing' then
    missing = true
  end
  if not META[name] then
    payload[#payload + 1] = name
    payload[#payload + 1] = raw[i + 1]
  end
end
if source ~= KEYS[2] then
  return redis.error_reply('WRONGSOURCE dead letter ' .. ARGV[1] .. ' came from ' ..
    tostring(source))
end
if missing or #payload == 0 then
  return redis.error_reply('NOPAYLOAD dead letter ' .. ARGV[1] .. ' has no payload to retry')
end
local id = redis.call('XADD', KEYS[2], '*', unpack(payload))
redis.call('XDEL', KEYS[1], ARGV[1])
return id
