-- Count entries after an id, up to a cap, without shipping them to the client.
-- (Redis 6.2 reports no consumer-group lag; 7.0+ does and never calls this.)
-- KEYS[1]  stream
-- ARGV[1]  exclusive lower bound, e.g. "(1700000000000-3"
-- ARGV[2]  cap
-- Returns the count (at most the cap).
return #redis.call('XRANGE', KEYS[1], ARGV[1], '+', 'COUNT', tonumber(ARGV[2]))
