-- flush.lua: apply one batch atomically (journeyd, store.c builds the arguments).
--
-- Redis never rolls a script back, so everything is validated before the
-- first write: the argument layout, then for every partition of the batch
-- that this instance still owns it (owner and epoch) and that the batch
-- starts exactly at the stored offset. Only then are the window records,
-- seen event ids, series index, GC registrations, counters and the
-- partitions' new offsets written. Window records are opaque bytes that are
-- appended (daemon/aggregate/chunk.h): merging happens in journeyd, so this
-- script does one command per touched chunk, whatever the number of events.
--
-- KEYS: 1 gc zset, 2 stats hash, 3 partitions set, 4 types set
-- ARGV: owner, nparts, {metakey epoch from to st}*,
--       nappend, {key bytes}*   (window chunks, then seen-id slices)
--       nidx, {key sid labels}*, ntypes, {type}*,
--       ngc, {score member}*, nstat, {field incr}*
-- Returns "OK", or {"REFUSED", {{part_index, "FENCED"|"GAP", stored_next}...}}.

local function count(k)
    local n = tonumber(ARGV[k])
    if not n or n < 0 then
        error('JDBADARGS: expected a count at argument ' .. k)
    end
    return n
end

-- 1. Walk the layout (no writes).
local owner = ARGV[1]
local nparts = count(2)
local parts_at = 3
local i = parts_at + nparts * 5
local nappend = count(i)
local append_at = i + 1
i = append_at + nappend * 2
local nidx = count(i)
local idx_at = i + 1
i = idx_at + nidx * 3
local ntypes = count(i)
local types_at = i + 1
i = types_at + ntypes
local ngc = count(i)
local gc_at = i + 1
i = gc_at + ngc * 2
local nstat = count(i)
local stat_at = i + 1
i = stat_at + nstat * 2
if i - 1 ~= #ARGV then
    error('JDBADARGS: layout covers ' .. (i - 1) .. ' of ' .. #ARGV .. ' arguments')
end

-- 2. Ownership and continuity of every partition (no writes).
local refused = {}
for p = 0, nparts - 1 do
    local b = parts_at + p * 5
    local meta = redis.call('HMGET', ARGV[b], 'owner', 'epoch', 'next')
    if meta[1] ~= owner or meta[2] ~= ARGV[b + 1] then
        refused[#refused + 1] = { p, 'FENCED', meta[3] or '' }
    elseif meta[3] and meta[3] ~= ARGV[b + 2] then
        refused[#refused + 1] = { p, 'GAP', meta[3] }
    end
end
if #refused > 0 then
    return { 'REFUSED', refused }
end

-- 3. Writes.
for q = 0, nappend - 1 do
    redis.call('APPEND', ARGV[append_at + 2 * q], ARGV[append_at + 2 * q + 1])
end
for q = 0, nidx - 1 do
    local o = idx_at + q * 3
    redis.call('HSET', ARGV[o], ARGV[o + 1], ARGV[o + 2])
end
for q = types_at, types_at + ntypes - 1, 4000 do
    redis.call('SADD', KEYS[4], unpack(ARGV, q, math.min(types_at + ntypes - 1, q + 3999)))
end
for q = gc_at, gc_at + ngc * 2 - 1, 4000 do
    redis.call('ZADD', KEYS[1], 'NX', unpack(ARGV, q, math.min(gc_at + ngc * 2 - 1, q + 3999)))
end
for q = 0, nstat - 1 do
    redis.call('HINCRBY', KEYS[2], ARGV[stat_at + 2 * q], ARGV[stat_at + 2 * q + 1])
end
for p = 0, nparts - 1 do
    local b = parts_at + p * 5
    redis.call('HSET', ARGV[b], 'next', ARGV[b + 3], 'st', ARGV[b + 4])
    redis.call('SADD', KEYS[3], ARGV[b])
end
return 'OK'
