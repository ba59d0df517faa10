-- evalsave.lua: save the evaluator's state, fenced by the lease (journeyd,
-- store_eval.c).
--
-- Written only after the alert messages of the ticks it covers were
-- acknowledged by Kafka, and only by the lease holder: an instance that lost
-- the lease cannot overwrite what its successor saved. Renews the lease.
--
-- KEYS: 1 lease, 2 eval hash
-- ARGV: 1 owner, 2 ttl ms, {field value}*
-- Returns 1 when saved, 0 when ARGV[1] does not hold the lease.
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
    return 0
end
if #ARGV > 2 then
    redis.call('HSET', KEYS[2], unpack(ARGV, 3))
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
