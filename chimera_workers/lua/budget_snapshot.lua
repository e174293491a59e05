-- Read a budget ledger in one atomic step, for invariant checks and reports.
-- KEYS[1]  total counter
-- KEYS[2]  live index (hash: reservation id -> "<amount>|<slot key>")
-- KEYS[3..] slot counters to report
-- Returns {total, {slot counter values in KEYS order}, {id, "<amount>|<slot>", ...}}; missing
-- counters read as '0'. Values are strings so they stay exact.
local slots = {}
for i = 3, #KEYS do
  slots[#slots + 1] = redis.call('GET', KEYS[i]) or '0'
end
return {redis.call('GET', KEYS[1]) or '0', slots, redis.call('HGETALL', KEYS[2])}
