-- Give up a pending claim (e.g. the work failed) so the next caller can claim at once.
-- KEYS[1]  claim record (hash: state, owner, result)
-- ARGV[1]  owner abandoning
-- Returns 1 when the claim was deleted, 0 when it is not this owner's pending claim.
local rec = redis.call('HMGET', KEYS[1], 'state', 'owner')
if rec[1] == 'pending' and rec[2] == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
