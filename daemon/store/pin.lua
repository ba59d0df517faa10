-- pin.lua: record where a partition without a stored offset starts
-- (journeyd, store.c).
--
-- The first owner of a partition picks its start from Kafka (the log's
-- beginning or end, per auto.offset.reset). Recording it at once means a
-- restart before the first batch resumes from the same offset instead of
-- picking again: "the end" moves, and the events in between would be lost.
-- Only the current owner (owner and epoch) may pin, and never over a stored
-- offset.
--
-- KEYS: 1 partition meta hash
-- ARGV: 1 owner, 2 epoch, 3 offset
-- Returns {"OK", next} (the stored start: this one or an earlier one) or {"FENCED"}.
local m = redis.call('HMGET', KEYS[1], 'owner', 'epoch', 'next')
if m[1] ~= ARGV[1] or m[2] ~= ARGV[2] then
    return { 'FENCED' }
end
if m[3] then
    return { 'OK', m[3] }
end
redis.call('HSET', KEYS[1], 'next', ARGV[3])
return { 'OK', ARGV[3] }
