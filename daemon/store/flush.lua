-- flush.lua: apply one batch atomically (journeyd, store.c builds the arguments).
--
-- Redis never rolls a script back, so everything is validated before the
-- first write: the argument layout, that this instance still owns every
-- partition of the batch (owner and epoch) and that the batch starts exactly
-- at each one's stored offset, then that every key can take its write (the
-- journeys' appended records excepted: they check themselves, first among
-- the writes, and are cut back if one is refused). Only then are the window
-- records, seen event ids, series index, GC registrations, journeys,
-- counters and the partitions' new offsets written. Window
-- records are opaque bytes that are appended (daemon/aggregate/chunk.h):
-- merging happens in journeyd, so this script does one command per touched
-- chunk, whatever the number of events.
--
-- KEYS: 1 gc zset, 2 stats hash, 3 partitions set, 4 types set
-- ARGV: owner, maxlen (longest string Redis accepts), nparts,
--       {metakey epoch from to st t0 ctage}*   (st: stream time after the
--       batch, t0: earliest event time in it, ctage: ms since the consumer
--       found the partition at its log end; '' when none; from == to: the
--       partition only reports being at its end),
--       nappend, {key bytes}*   (window chunks, then seen-id slices)
--       nidx, {key sid labels}*, ntypes, {type}*,
--       ngc, {score member}*, nstat, {field incr}*,
--       nset, {key bytes}*, ndel, {key}*   (whole values: journeys; SET and
--       DEL cannot fail, and the caller read every one of these keys in this
--       batch, which refuses a key of another type, so they are not checked),
--       njapp, {key bytes}*   (touch records appended to journeys the batch
--       did not read: checked as they are written, the first writes, and cut
--       back if one is refused, which costs half as much as checking first),
--       nzadd, {key n {score member}*n}*, nzrem, {key n {member}*n}*
--       (journey expiry index, grouped by key: one command per group)
-- Returns "OK" or {"OK", {append_index...}} (chunks that grew past another
-- 256 KiB: compact them soon), {"REFUSED", {{part_index, "FENCED"|"GAP",
-- stored_next}...}}, or a "JDBADKEY" error when a key holds something this
-- script could not write (nothing is written then either).

local function count(k)
    local n = tonumber(ARGV[k])
    if not n or n < 0 then
        error('JDBADARGS: expected a count at argument ' .. k)
    end
    return n
end

-- 1. Walk the layout (no writes).
local owner = ARGV[1]
local maxlen = count(2)
local nparts = count(3)
local parts_at = 4
local i = parts_at + nparts * 7
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
local nset = count(i)
local set_at = i + 1
i = set_at + nset * 2
local ndel = count(i)
local del_at = i + 1
i = del_at + ndel
local njapp = count(i)
local japp_at = i + 1
i = japp_at + njapp * 2
-- sorted-set groups: {key n item*n}, each item `width` arguments
local function groups(width)
    local n = count(i)
    local at = i + 1
    i = at
    for _ = 1, n do
        i = i + 2 + count(i + 1) * width
    end
    return n, at
end
local nzadd, zadd_at = groups(2)
local nzrem, zrem_at = groups(1)
if i - 1 ~= #ARGV then
    error('JDBADARGS: layout covers ' .. (i - 1) .. ' of ' .. #ARGV .. ' arguments')
end

local function bad(key, why)
    return redis.error_reply('JDBADKEY ' .. key .. ': ' .. why)
end
local function writable(cmd, key)
    local r = redis.pcall(cmd, key)
    return not (type(r) == 'table' and r.err)
end

-- 2. Ownership and continuity of every partition (no writes). First, so a
--    fenced instance hears "fenced" whatever else is wrong.
local refused = {}
for p = 0, nparts - 1 do
    local b = parts_at + p * 7
    if not writable('HLEN', ARGV[b]) then
        return bad(ARGV[b], 'is not a hash')
    end
    local meta = redis.call('HMGET', ARGV[b], 'owner', 'epoch', 'next')
    for k = 5, 6 do -- t0 and ctage: numbers or '' (checked before any write)
        if ARGV[b + k] ~= '' and not tonumber(ARGV[b + k]) then
            error('JDBADARGS: expected a number at argument ' .. (b + k))
        end
    end
    if meta[1] ~= owner or meta[2] ~= ARGV[b + 1] then
        refused[#refused + 1] = { p, 'FENCED', meta[3] or '' }
    elseif meta[3] and meta[3] ~= ARGV[b + 2] then
        refused[#refused + 1] = { p, 'GAP', meta[3] }
    end
end
if #refused > 0 then
    return { 'REFUSED', refused }
end

-- 3. Every key can take its write (no writes). Redis checks types and sizes
--    only when a command runs, and a failure then would leave half a batch.
for q = 0, nappend - 1 do
    local key = ARGV[append_at + 2 * q]
    local len = redis.pcall('STRLEN', key)
    if type(len) ~= 'number' then
        return bad(key, 'holds a ' .. redis.call('TYPE', key).ok .. ', not a string')
    end
    if len + #ARGV[append_at + 2 * q + 1] > maxlen then
        return bad(key, 'would exceed proto-max-bulk-len (' .. maxlen .. ' bytes)')
    end
end
for q = 0, nidx - 1 do
    if not writable('HLEN', ARGV[idx_at + q * 3]) then
        return bad(ARGV[idx_at + q * 3], 'is not a hash')
    end
end
local shapes = { { 'ZCARD', 'sorted set' }, { 'HLEN', 'hash' }, { 'SCARD', 'set' },
                 { 'SCARD', 'set' } }
for k = 1, 4 do
    if not writable(shapes[k][1], KEYS[k]) then
        return bad(KEYS[k], 'is not a ' .. shapes[k][2])
    end
end
-- counters: what HINCRBY accepts, and far enough from 2^63 that no batch overflows
for q0 = 0, nstat - 1, 4000 do
    local fields = {}
    for q = q0, math.min(nstat, q0 + 4000) - 1 do
        fields[#fields + 1] = ARGV[stat_at + 2 * q]
    end
    local vals = redis.call('HMGET', KEYS[2], unpack(fields))
    for q = 1, #fields do
        local v = vals[q]
        if v and not ((v == '0' or string.match(v, '^%-?[1-9]%d*$')) and #v <= 18) then
            return bad(KEYS[2], 'field ' .. fields[q] .. ' is not a counter: ' .. v)
        end
    end
end

-- the expiry index is a sorted set (one check per group)
local o = zadd_at
for _ = 1, nzadd do
    if not writable('ZCARD', ARGV[o]) then
        return bad(ARGV[o], 'is not a sorted set')
    end
    for q = o + 2, o + 1 + 2 * ARGV[o + 1], 2 do
        if not tonumber(ARGV[q]) then
            error('JDBADARGS: expected a score at argument ' .. q)
        end
    end
    o = o + 2 + 2 * ARGV[o + 1]
end
o = zrem_at
for _ = 1, nzrem do
    if not writable('ZCARD', ARGV[o]) then
        return bad(ARGV[o], 'is not a sorted set')
    end
    o = o + 2 + ARGV[o + 1]
end

-- 4. Writes. First the journeys' records: APPEND refuses a key of another
--    type (or one that would grow too long) without touching it, and the
--    records appended before it are cut off again, so that a refusal still
--    leaves nothing written.
local grown = {}
for q = japp_at, japp_at + njapp * 2 - 1, 2 do
    local len = redis.pcall('APPEND', ARGV[q], ARGV[q + 1])
    if type(len) ~= 'number' then
        for u = #grown, 1, -1 do
            local key = ARGV[japp_at + 2 * (u - 1)]
            local was = grown[u] - #ARGV[japp_at + 2 * (u - 1) + 1]
            if was == 0 then
                redis.call('DEL', key)
            else
                redis.call('SET', key, redis.call('GETRANGE', key, 0, was - 1))
            end
        end
        if redis.call('TYPE', ARGV[q]).ok ~= 'string' then
            return bad(ARGV[q], 'holds a ' .. redis.call('TYPE', ARGV[q]).ok .. ', not a string')
        end
        return bad(ARGV[q], 'cannot take ' .. #ARGV[q + 1] .. ' more bytes: ' .. len.err)
    end
    grown[#grown + 1] = len
end
local big = {}
for q = 0, nappend - 1 do
    local rec = ARGV[append_at + 2 * q + 1]
    local len = redis.call('APPEND', ARGV[append_at + 2 * q], rec)
    if math.floor(len / 262144) > math.floor((len - #rec) / 262144) then
        big[#big + 1] = q
    end
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
for q = set_at, set_at + nset * 2 - 1, 4000 do
    redis.call('MSET', unpack(ARGV, q, math.min(set_at + nset * 2 - 1, q + 3999)))
end
for q = del_at, del_at + ndel - 1, 4000 do
    redis.call('DEL', unpack(ARGV, q, math.min(del_at + ndel - 1, q + 3999)))
end
-- one command per group (at most 4000 arguments each: unpack's stack)
local function each_group(cmd, n, at, width)
    local g = at
    for _ = 1, n do
        local first, last = g + 2, g + 1 + ARGV[g + 1] * width
        for q = first, last, 4000 do
            redis.call(cmd, ARGV[g], unpack(ARGV, q, math.min(last, q + 3999)))
        end
        g = last + 1
    end
end
each_group('ZADD', nzadd, zadd_at, 2)
each_group('ZREM', nzrem, zrem_at, 1)
-- wt: when the partition last moved, by Redis's clock, so that every
-- instance judges idleness against one clock; st0: its earliest event time;
-- ct: when it was last known to be at its log end (only ever moves forward:
-- what was applied stays applied)
local now = redis.call('TIME')
local wt = now[1] * 1000 + math.floor(now[2] / 1000)
for p = 0, nparts - 1 do
    local b = parts_at + p * 7
    if ARGV[b + 2] ~= ARGV[b + 3] then
        redis.call('HSET', ARGV[b], 'next', ARGV[b + 3], 'wt', wt)
        if ARGV[b + 4] ~= '' then
            redis.call('HSET', ARGV[b], 'st', ARGV[b + 4])
        end
        if ARGV[b + 5] ~= '' then
            local st0 = tonumber(redis.call('HGET', ARGV[b], 'st0'))
            if not st0 or tonumber(ARGV[b + 5]) < st0 then
                redis.call('HSET', ARGV[b], 'st0', ARGV[b + 5])
            end
        end
        redis.call('SADD', KEYS[3], ARGV[b])
    end
    if ARGV[b + 6] ~= '' then
        local ct = wt - tonumber(ARGV[b + 6])
        local was = tonumber(redis.call('HGET', ARGV[b], 'ct'))
        if not was or ct > was then
            redis.call('HSET', ARGV[b], 'ct', ct)
        end
    end
end
if #big > 0 then
    return { 'OK', big }
end
return 'OK'
