-- Claim an idempotency key: the first writer wins until its claim expires.
-- KEYS[1]  claim record (hash: state 'pending'|'done', owner, result)
-- ARGV[1]  owner claiming
-- ARGV[2]  ttl in milliseconds (> 0) of a pending claim
-- Returns {acquired 0|1, state, owner[, result]}:
--   {1, 'pending', owner}       this owner holds the claim (new, or re-claimed by the same
--                               owner, which refreshes the TTL)
--   {0, 'pending', other}       another owner holds it and has not finished
--   {0, 'done', owner, result}  finished: the stored result
local rec = redis.call('HMGET', KEYS[1], 'state', 'owner', 'result')
if not rec[1] or (rec[1] == 'pending' and rec[2] == ARGV[1]) then
  redis.call('HSET', KEYS[1], 'state', 'pending', 'owner', ARGV[1])
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return {1, 'pending', ARGV[1]}
end
if rec[1] == 'done' then
  return {0, 'done', rec[2], rec[3] or ''}
end
return {0, rec[1], rec[2] or ''}
