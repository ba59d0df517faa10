-- lease.lua: the evaluator lease (journeyd, store_eval.c).
--
-- Exactly one instance of a consumer group evaluates rules and publishes
-- alerts: the one holding `{P}:lease`. The holder renews it well within its
-- time to live; when the holder dies the key expires and the next instance
-- to ask takes it. A holder that lost it (paused past the TTL) learns so at
-- its next renewal or save and stops.
--
-- KEYS: 1 lease
-- ARGV: 1 owner, 2 ttl ms, 3 "take" | "release"
-- Returns 1 when ARGV[1] holds the lease afterwards, else 0.
local cur = redis.call('GET', KEYS[1])
if ARGV[3] == 'release' then
    if cur == ARGV[1] then
        redis.call('DEL', KEYS[1])
    end
    return 0
end
if cur and cur ~= ARGV[1] then
    return 0
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
