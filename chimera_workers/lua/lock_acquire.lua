-- Take a fenced lock if it is free.
-- KEYS[1]  lock key (holds the current fencing token, expires after the TTL)
-- KEYS[2]  fencing counter (same hash tag; never expires, so tokens only ever grow)
-- ARGV[1]  ttl in milliseconds (> 0)
-- Returns the new fencing token as a decimal string, or nil when the lock is held.
-- The token is read back with GET rather than taken from INCR's reply: INCR's reply becomes a
-- Lua double, which is inexact past 2^53 and formatted in exponent notation far earlier.
if redis.call('EXISTS', KEYS[1]) == 1 then
  return false
end
redis.call('INCR', KEYS[2])
local token = redis.call('GET', KEYS[2])
redis.call('SET', KEYS[1], token, 'PX', ARGV[1])
return token
