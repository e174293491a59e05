-- Raise an integer key to ARGV[1] if that is higher; never lower it. Returns the value kept.
-- KEYS[1]: the key (absent or unreadable counts as 0); ARGV[1]: the wanted value.
local current = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
local wanted = tonumber(ARGV[1])
if wanted > current then
  redis.call('SET', KEYS[1], ARGV[1])
  return wanted
end
return current
