-- Store the result of a claimed key; only the owner of the live claim may do so.
-- KEYS[1]  claim record (hash: state, owner, result)
-- ARGV[1]  owner completing
-- ARGV[2]  result bytes
-- ARGV[3]  ttl in milliseconds (> 0) of the stored result
-- Returns 1 when the result is stored (or this owner already stored one, which is kept),
-- 0 when the claim expired or belongs to another owner.
local rec = redis.call('HMGET', KEYS[1], 'state', 'owner')
if rec[2] ~= ARGV[1] then
  return 0
end
if rec[1] == 'pending' then
  redis.call('HSET', KEYS[1], 'state', 'done', 'result', ARGV[2])
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return 1
end
if rec[1] == 'done' then
  return 1
end
return 0
