-- Release a held reservation: give back its amount and its slot unit, once.
-- KEYS[1]  total counter
-- KEYS[2]  slot counter the reservation was taken from (the caller read it from the record)
-- KEYS[3]  live index (hash: reservation id -> "<amount>|<slot key>")
-- KEYS[4]  reservation record (hash: state, refused_by, amount, slot)
-- ARGV[1]  reservation id
-- ARGV[2]  tombstone ttl in milliseconds (how long the release is remembered)
-- Returns {state before the call ('held'|'refused'|'released'|'unknown'), amount}. Only
-- 'held' changes anything. Counters are clamped at zero rather than driven negative: going
-- below would mean they were edited outside these scripts, and a negative budget would admit
-- more than the cap. Amounts must stay below 2^53 (Lua doubles), as in budget_reserve.
local rec = redis.call('HMGET', KEYS[4], 'state', 'amount', 'slot')
if not rec[1] then
  return {'unknown', '0'}
end
if rec[1] ~= 'held' then
  return {rec[1], rec[2] or '0'}
end
if rec[3] ~= KEYS[2] then
  return redis.error_reply('ERR reservation ' .. ARGV[1] .. ' is held in slot ' .. rec[3])
end
local amount = tonumber(rec[2])
if tonumber(redis.call('GET', KEYS[1]) or '0') >= amount then
  redis.call('DECRBY', KEYS[1], rec[2])
else
  redis.call('SET', KEYS[1], '0')
end
if tonumber(redis.call('GET', KEYS[2]) or '0') >= 1 then
  redis.call('DECR', KEYS[2])
else
  redis.call('SET', KEYS[2], '0')
end
redis.call('HSET', KEYS[4], 'state', 'released')
redis.call('PEXPIRE', KEYS[4], ARGV[2])
redis.call('HDEL', KEYS[3], ARGV[1])
return {'held', rec[2]}
