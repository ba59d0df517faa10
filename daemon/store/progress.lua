-- progress.lua: every partition's progress and Redis's clock, for the
-- group-wide watermark (journeyd, store_eval.c). Read-only.
--
-- KEYS: 1 partitions set
-- Returns {now_ms, {key, st, st0, wt, ct}*} with '' for absent fields.
local now = redis.call('TIME')
local out = { now[1] * 1000 + math.floor(now[2] / 1000) }
for _, key in ipairs(redis.call('SMEMBERS', KEYS[1])) do
    local m = redis.call('HMGET', key, 'st', 'st0', 'wt', 'ct')
    out[#out + 1] = { key, m[1] or '', m[2] or '', m[3] or '', m[4] or '' }
end
return out
