-- expiry.lua: the next slice of journeys due, per partition (journeyd,
-- store_journey.c). Read-only: the batch's flush deletes the buckets read to
-- their end and records how far a bucket read in part was read.
--
-- A partition's journeys are listed in buckets by the event time they expire
-- at: `index` (a sorted set) holds each bucket's id scored by the bucket's
-- end, the bucket (a string) the 32-hex fingerprints appended to it, and
-- `progress` ("BUCKET OFFSET") how far the earliest due bucket has been read.
--
-- KEYS: none (each partition's keys are its own)
-- ARGV: limit (bytes per slice, a multiple of 32),
--       {index progress bucket_prefix st}*
-- Returns, per partition, {{finished bucket...}, partial bucket or '',
-- offset to resume it at, bytes}: due buckets (ending at or before st) in
-- order, read from their progress until the slice is full.
local limit = tonumber(ARGV[1])
local out = {}
for i = 2, #ARGV, 4 do
    local due = redis.call('ZRANGEBYSCORE', ARGV[i], '-inf', ARGV[i + 3], 'LIMIT', 0, 100)
    local pb, po = nil, 0
    local p = redis.call('GET', ARGV[i + 1])
    if p then
        pb, po = string.match(p, '^(%S+) (%d+)$')
        po = tonumber(po) or 0
    end
    local done, chunks, room = {}, {}, limit
    local partial, resume = '', 0
    for _, b in ipairs(due) do
        if room <= 0 then
            break
        end
        local off = (b == pb) and po or 0
        local key = ARGV[i + 2] .. b
        local len = redis.call('STRLEN', key)
        local bytes = ''
        if off < len then
            bytes = redis.call('GETRANGE', key, off, off + room - 1)
        end
        chunks[#chunks + 1] = bytes
        room = room - #bytes
        if off + #bytes >= len then
            done[#done + 1] = b
        else
            partial, resume = b, off + #bytes
            break
        end
    end
    out[#out + 1] = { done, partial, resume, table.concat(chunks) }
end
return out
