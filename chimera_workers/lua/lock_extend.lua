-- Push back the expiry of a lock, only for the holder of the current fencing token.
-- KEYS[1]  lock key
-- ARGV[1]  fencing token the caller holds (decimal string)
-- ARGV[2]  new ttl in milliseconds (> 0), counted from now
-- Returns 1 when extended, 0 when the lock expired or belongs to a newer token.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
