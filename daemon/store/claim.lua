-- claim.lua: take ownership of one partition (journeyd, store.c).
--
-- Bumps the partition's epoch and records this instance as owner, so that
-- any batch still in flight from a previous owner (or from this instance
-- before a reconnect) is refused by flush.lua. Returns the epoch and the
-- stored position: the offset to resume from and the partition's stream
-- time, never the consumer's own idea of them.
--
-- KEYS: 1 partition meta hash, 2 partitions set
-- ARGV: 1 owner
-- Returns {epoch, next or "", st or ""}.
local epoch = redis.call('HINCRBY', KEYS[1], 'epoch', 1)
redis.call('HSET', KEYS[1], 'owner', ARGV[1])
redis.call('SADD', KEYS[2], KEYS[1])
local m = redis.call('HMGET', KEYS[1], 'next', 'st')
return { epoch, m[1] or '', m[2] or '' }
