-- compact.lua: replace window chunks by their compacted form (journeyd, store.c).
--
-- journeyd read each chunk, folded its records into one per bucket and sends
-- the result with the exact bytes it read. A chunk that changed since
-- (another batch appended to it, or GC removed it and a late event
-- re-created it) is left alone: compaction only ever replaces bytes with an
-- equivalent encoding of exactly those bytes, so skipping is safe.
--
-- ARGV: {key original compacted}*
-- Returns the number of chunks replaced.
local replaced = 0
for q = 1, #ARGV, 3 do
    if redis.call('GET', ARGV[q]) == ARGV[q + 1] then
        redis.call('SET', ARGV[q], ARGV[q + 2])
        replaced = replaced + 1
    end
end
return replaced
