-- Renew this consumer's claim on entries it is still working on, so XAUTOCLAIM elsewhere
-- (which only takes entries idle longer than claim-idle) leaves them alone.
-- Only entries still owned by this consumer are touched: an entry another worker already
-- reclaimed is not stolen back.
-- KEYS[1]  stream
-- ARGV[1]  group
-- ARGV[2]  consumer
-- ARGV[3..] entry ids
-- Returns the number of entries renewed.
local renewed = 0
for i = 3, #ARGV do
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1)
  if p[1] and p[1][2] == ARGV[2] then
    -- JUSTID: resets idle time without incrementing the delivery counter.
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'JUSTID')
    renewed = renewed + 1
  end
end
return renewed
