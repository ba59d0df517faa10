-- claim.lua: take ownership of one partition (journeyd, store.c).
--
-- Bumps the partition's epoch and records this instance as owner, so that
-- any batch still in flight from a previous owner (or from this instance
-- before a reconnect) is refused by flush.lua. Returns the epoch and the
-- stored position: the offset to resume from and the partition's stream
-- time, never the consumer's own idea of them. `wt` (Redis's clock, ms) is
-- set to now: a freshly claimed partition holds the watermark back for an
-- idle timeout even before its first batch, so that a partition which is
-- merely slow to start is not taken for an idle one (watermark.c).
--
-- KEYS: 1 partition meta hash, 2 partitions set
-- ARGV: 1 owner
-- Returns {epoch, next or "", st or ""}.
local epoch = redis.call('HINCRBY', KEYS[1], 'epoch', 1)
local now = redis.call('TIME')
redis.call('HSET', KEYS[1], 'owner', ARGV[1], 'wt', now[1] * 1000 + math.floor(now[2] / 1000))
redis.call('SADD', KEYS[2], KEYS[1])
local m = redis.call('HMGET', KEYS[1], 'next', 'st')
return { epoch, m[1] or '', m[2] or '' }
