-- gc.lua: delete window chunks, sketches and seen-id slices whose retention
-- has passed in event time (journeyd, store.c).
--
-- The cutoff is the oldest stream time over all partitions: a key is only
-- deleted once no partition can still write to it, and the wall clock never
-- matters (a backfill of last year keeps last year's windows). The cutoff is
-- recorded so readers can refuse ranges whose buckets may be gone.
--
-- KEYS: 1 gc zset, 2 partitions set, 3 meta hash
-- ARGV: 1 most keys to delete in this call
-- Returns {deleted, cutoff or ""}.
local cutoff = nil
for _, p in ipairs(redis.call('SMEMBERS', KEYS[2])) do
    local st = redis.call('HGET', p, 'st')
    if st then
        local v = tonumber(st)
        if not cutoff or v < cutoff then
            cutoff = v
        end
    end
end
if not cutoff then
    return { 0, '' }
end
local c = string.format('%.0f', cutoff)
local old = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', c, 'LIMIT', 0, tonumber(ARGV[1]))
for q = 1, #old, 1000 do
    local e = math.min(#old, q + 999)
    redis.call('DEL', unpack(old, q, e))
    redis.call('ZREM', KEYS[1], unpack(old, q, e))
end
redis.call('HSET', KEYS[3], 'gc_cutoff', c)
return { #old, c }
