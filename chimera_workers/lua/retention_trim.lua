-- Trim a stream by length and/or age, never past the slowest consumer group.
-- KEYS[1]  stream
-- ARGV[1]  floor: smallest id some group still needs ("ms-seq"); nothing at or above it goes
-- ARGV[2]  maxlen (0 = no length limit)
-- ARGV[3]  min id by age ("ms-seq", or "0-0" = no age limit)
-- ARGV[4]  scan cap: most entries inspected to find the length cut in one call
-- Returns the number of entries removed.
local function parse(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(seq)
end
local function less(a, b)
  local am, as = parse(a)
  local bm, bs = parse(b)
  return am < bm or (am == bm and as < bs)
end
local threshold = ARGV[3]
local maxlen = tonumber(ARGV[2])
if maxlen > 0 then
  local excess = redis.call('XLEN', KEYS[1]) - maxlen
  if excess > 0 then
    local cap = tonumber(ARGV[4])
    if excess > cap then excess = cap end
    local rows = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', excess)
    if #rows > 0 then
      local ms, seq = parse(rows[#rows][1])
      local cut = ms .. '-' .. (seq + 1)
      if less(threshold, cut) then threshold = cut end
    end
  end
end
if less(ARGV[1], threshold) then threshold = ARGV[1] end
if threshold == '0-0' then return 0 end
return redis.call('XTRIM', KEYS[1], 'MINID', threshold)
