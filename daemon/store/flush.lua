-- flush.lua: apply one batch atomically (journeyd, store.c builds the arguments).
--
-- Redis never rolls a script back, so everything is validated before the
-- first write: the argument layout, then for every partition of the batch
-- that this instance still owns it (owner and epoch) and that the batch
-- starts exactly at the stored offset. Only then are the window deltas,
-- distinct-user sketches, seen event ids, series index, GC registrations,
-- counters and the partitions' new offsets written.
--
-- KEYS: 1 gc zset, 2 stats hash, 3 partitions set, 4 types set
-- ARGV: owner, nparts, {metakey epoch from to st}*,
--       nseen, {key blob}*,
--       nkeys, {key nb {off c v s n x t l}*}*,
--       nhll, {key_m key_h key_d nu user*}*,
--       nidx, {key sid labels}*, ntypes, {type}*,
--       ngc, {score member}*, nstat, {field incr}*
-- Returns "OK", or {"REFUSED", {{part_index, "FENCED"|"GAP", stored_next}...}}.

local function fmt(n)
    return string.format('%.0f', n)
end

-- Decimal integer strings of any length: magnitudes without sign or leading zeros.
local function mag_cmp(a, b)
    if #a ~= #b then
        return #a < #b and -1 or 1
    end
    if a == b then
        return 0
    end
    return a < b and -1 or 1
end

local function mag_add(a, b)
    local out, carry = {}, 0
    local i, j = #a, #b
    while i > 0 or j > 0 or carry > 0 do
        local da = i > 0 and tonumber(a:sub(math.max(1, i - 6), i)) or 0
        local db = j > 0 and tonumber(b:sub(math.max(1, j - 6), j)) or 0
        local s = da + db + carry
        carry = s >= 10000000 and 1 or 0
        out[#out + 1] = s % 10000000
        i, j = i - 7, j - 7
    end
    local r = tostring(out[#out])
    for k = #out - 1, 1, -1 do
        r = r .. string.format('%07d', out[k])
    end
    return r
end

local function mag_sub(a, b) -- a >= b
    local out, borrow = {}, 0
    local i, j = #a, #b
    while i > 0 do
        local da = tonumber(a:sub(math.max(1, i - 6), i))
        local db = j > 0 and tonumber(b:sub(math.max(1, j - 6), j)) or 0
        local s = da - db - borrow
        if s < 0 then
            s = s + 10000000
            borrow = 1
        else
            borrow = 0
        end
        out[#out + 1] = s
        i, j = i - 7, j - 7
    end
    while #out > 1 and out[#out] == 0 do
        out[#out] = nil
    end
    local r = tostring(out[#out])
    for k = #out - 1, 1, -1 do
        r = r .. string.format('%07d', out[k])
    end
    return r
end

local function dec_split(a)
    if a:sub(1, 1) == '-' then
        return true, a:sub(2)
    end
    return false, a
end

local function dec_add(a, b)
    if #a < 16 and #b < 16 then
        return fmt(tonumber(a) + tonumber(b))
    end
    local na, ma = dec_split(a)
    local nb, mb = dec_split(b)
    if na == nb then
        local r = mag_add(ma, mb)
        return (na and r ~= '0') and ('-' .. r) or r
    end
    local c = mag_cmp(ma, mb)
    if c == 0 then
        return '0'
    elseif c > 0 then
        local r = mag_sub(ma, mb)
        return na and ('-' .. r) or r
    end
    local r = mag_sub(mb, ma)
    return nb and ('-' .. r) or r
end

local function dec_cmp(a, b)
    local na, ma = dec_split(a)
    local nb, mb = dec_split(b)
    if na ~= nb then
        return na and -1 or 1
    end
    local c = mag_cmp(ma, mb)
    return na and -c or c
end

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
local nseen = count(i)
local seen_at = i + 1
i = seen_at + nseen * 2
local nkeys = count(i)
local keys_at = i + 1
i = keys_at
for _ = 1, nkeys do
    i = i + 2 + count(i + 1) * 8
end
local nhll = count(i)
local hll_at = i + 1
i = hll_at
for _ = 1, nhll do
    i = i + 4 + count(i + 3)
end
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
for s = 0, nseen - 1 do
    redis.call('APPEND', ARGV[seen_at + 2 * s], ARGV[seen_at + 2 * s + 1])
end

local j = keys_at
for _ = 1, nkeys do
    local key, nb = ARGV[j], tonumber(ARGV[j + 1])
    local b0 = j + 2
    local fields = {}
    for q = 0, nb - 1 do
        local o = b0 + q * 8
        local off = ARGV[o]
        fields[#fields + 1] = off .. 'c'
        if ARGV[o + 2] ~= '0' then
            fields[#fields + 1] = off .. 'v'
            fields[#fields + 1] = off .. 's'
            fields[#fields + 1] = off .. 'n'
            fields[#fields + 1] = off .. 'x'
            fields[#fields + 1] = off .. 't'
            fields[#fields + 1] = off .. 'l'
        end
    end
    local cur = redis.call('HMGET', key, unpack(fields))
    local out, f = {}, 1
    for q = 0, nb - 1 do
        local o = b0 + q * 8
        local off = ARGV[o]
        local c = cur[f]
        f = f + 1
        out[#out + 1] = off .. 'c'
        out[#out + 1] = c and fmt(tonumber(c) + tonumber(ARGV[o + 1])) or ARGV[o + 1]
        if ARGV[o + 2] ~= '0' then
            local v, s, n, x, t, l = cur[f], cur[f + 1], cur[f + 2], cur[f + 3], cur[f + 4], cur[f + 5]
            f = f + 6
            if not v then
                v, s, n, x, t, l = ARGV[o + 2], ARGV[o + 3], ARGV[o + 4], ARGV[o + 5], ARGV[o + 6], ARGV[o + 7]
            else
                v = fmt(tonumber(v) + tonumber(ARGV[o + 2]))
                s = dec_add(s, ARGV[o + 3])
                if dec_cmp(ARGV[o + 4], n) < 0 then
                    n = ARGV[o + 4]
                end
                if dec_cmp(ARGV[o + 5], x) > 0 then
                    x = ARGV[o + 5]
                end
                local nt, ot = tonumber(ARGV[o + 6]), tonumber(t)
                if nt > ot or (nt == ot and dec_cmp(ARGV[o + 7], l) > 0) then
                    t, l = ARGV[o + 6], ARGV[o + 7]
                end
            end
            out[#out + 1] = off .. 'v'
            out[#out + 1] = v
            out[#out + 1] = off .. 's'
            out[#out + 1] = s
            out[#out + 1] = off .. 'n'
            out[#out + 1] = n
            out[#out + 1] = off .. 'x'
            out[#out + 1] = x
            out[#out + 1] = off .. 't'
            out[#out + 1] = t
            out[#out + 1] = off .. 'l'
            out[#out + 1] = l
        end
    end
    redis.call('HSET', key, unpack(out))
    j = b0 + nb * 8
end

j = hll_at
for _ = 1, nhll do
    local nu = tonumber(ARGV[j + 3])
    local u0 = j + 4
    for q = u0, u0 + nu - 1, 4000 do
        local e = math.min(u0 + nu - 1, q + 3999)
        redis.call('PFADD', ARGV[j], unpack(ARGV, q, e))
        redis.call('PFADD', ARGV[j + 1], unpack(ARGV, q, e))
        redis.call('PFADD', ARGV[j + 2], unpack(ARGV, q, e))
    end
    j = u0 + nu
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
