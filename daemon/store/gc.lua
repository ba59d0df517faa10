-- gc.lua: delete window chunks, sketches and seen-id slices whose retention
-- has passed in event time (journeyd, store.c), and drop from the series
-- index the series that have no data left.
--
-- The cutoff is the oldest stream time over all partitions: a key is only
-- deleted once no partition can still write to it, and the wall clock never
-- matters (a backfill of last year keeps last year's windows). The cutoff is
-- recorded so readers can refuse ranges whose buckets may be gone.
--
-- Day chunks are kept longest, and every event writes one, so a series whose
-- day chunk is deleted while no later one exists has no data left: its entry
-- in the series index goes, and with it its place under
-- limits.series_per_type. Data that comes back for it lands in a later day
-- chunk, whose first flush writes the entry again (store_flush.c).
--
-- KEYS: 1 gc zset, 2 partitions set, 3 meta hash
-- ARGV: 1 most keys to delete in this call, 2 the length of a day chunk (ms)
-- Returns {deleted, cutoff or "", series dropped from the index}.
local cutoff, newest = nil, nil
for _, p in ipairs(redis.call('SMEMBERS', KEYS[2])) do
    local st = redis.call('HGET', p, 'st')
    if st then
        local v = tonumber(st)
        if not cutoff or v < cutoff then
            cutoff = v
        end
        if not newest or v > newest then
            newest = v
        end
    end
end
if not cutoff then
    return { 0, '', 0 }
end
local c = string.format('%.0f', cutoff)
local old = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', c, 'LIMIT', 0, tonumber(ARGV[1]))
for q = 1, #old, 1000 do
    local e = math.min(#old, q + 999)
    redis.call('DEL', unpack(old, q, e))
    redis.call('ZREM', KEYS[1], unpack(old, q, e))
end

local chunk = tonumber(ARGV[2])
local last = math.floor(newest / chunk)
local dropped = 0
for _, k in ipairs(old) do
    local tag, ty, sid, id = string.match(k, '^(.-):c:([%w_]+):(%x+):d(%-?%d+)$')
    if tag then
        -- a later day chunk of the series keeps it (too many to look at: keep it too)
        local from = tonumber(id) + 1
        local alive = last - from > 400
        for n = from, last do
            if alive then
                break
            end
            alive = redis.call('EXISTS', tag .. ':c:' .. ty .. ':' .. sid .. ':d' .. n) == 1
        end
        if not alive then
            dropped = dropped + redis.call('HDEL', tag .. ':s:' .. ty, sid)
        end
    end
end
redis.call('HSET', KEYS[3], 'gc_cutoff', c)
return { #old, c, dropped }
