-- Release a lock by compare-and-delete on its fencing token.
-- KEYS[1]  lock key
-- ARGV[1]  fencing token the caller holds (decimal string)
-- Returns 1 when released, 0 when the lock expired or belongs to a newer token.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
