-- Reserve an amount against a total cap and one unit against a per-slot cap, once per id.
-- KEYS[1]  total counter (sum of held amounts)
-- KEYS[2]  slot counter (number of held reservations in this slot)
-- KEYS[3]  live index (hash: reservation id -> "<amount>|<slot key>")
-- KEYS[4]  reservation record (hash: state 'held'|'refused'|'released', refused_by, amount, slot)
-- ARGV[1]  reservation id
-- ARGV[2]  amount, a non-negative integer
-- ARGV[3]  total cap, a non-negative integer
-- ARGV[4]  slot cap, a non-negative integer
-- ARGV[5]  tombstone ttl in milliseconds (how long a refusal is remembered)
-- Returns {state, refused_by or '', amount, slot key, duplicate 0|1}. A known id returns its
-- recorded outcome unchanged with duplicate=1. A refusal ('BUDGET' checked first, then
-- 'SLOT_CAP') leaves every counter as it was and records a tombstone with the TTL.
-- Lua numbers are doubles: amounts, caps and counters must stay below 2^53. Counters are
-- changed only with INCRBY/INCR on the argument strings (exact 64-bit in Redis); the checks
-- compare amount > cap - total, whose operands are all exact below 2^53.
local rec = redis.call('HMGET', KEYS[4], 'state', 'refused_by', 'amount', 'slot')
if rec[1] then
  return {rec[1], rec[2] or '', rec[3], rec[4], 1}
end
local amount = tonumber(ARGV[2])
local total = tonumber(redis.call('GET', KEYS[1]) or '0')
local refused = nil
if amount > tonumber(ARGV[3]) - total then
  refused = 'BUDGET'
elseif tonumber(redis.call('GET', KEYS[2]) or '0') >= tonumber(ARGV[4]) then
  refused = 'SLOT_CAP'
end
if refused then
  redis.call('HSET', KEYS[4], 'state', 'refused', 'refused_by', refused,
    'amount', ARGV[2], 'slot', KEYS[2])
  redis.call('PEXPIRE', KEYS[4], ARGV[5])
  return {'refused', refused, ARGV[2], KEYS[2], 0}
end
redis.call('INCRBY', KEYS[1], ARGV[2])
redis.call('INCR', KEYS[2])
-- A held record has no TTL: it must outlive any delay before its release.
redis.call('HSET', KEYS[4], 'state', 'held', 'amount', ARGV[2], 'slot', KEYS[2])
redis.call('HSET', KEYS[3], ARGV[1], ARGV[2] .. '|' .. KEYS[2])
return {'held', '', ARGV[2], KEYS[2], 0}
