/*
 * store_journey.c — the keys of attribution's state and the expiry query.
 *
 * Owns the layout of journeys (`{P}:j:TOPIC:PARTITION:FP`, one string per
 * user and partition, FP the 32-hex fingerprint of the user id, so no user
 * string ever reaches a key name), their expiry index (a sorted set per
 * partition, member FP, score the event time the journey expires at) and
 * path statistics (`{P}:ps:HOUR`, appended records). Writes go with the
 * batch flush (store_flush.c); the format of values is attribute/'s.
 */
#include "core/hash.h"
#include "store/store_int.h"

#include <stdlib.h>
#include <string.h>

void store_user_fp(struct jd_str user, char out[33])
{
    uint64_t a, b;
    hash128(user.p, user.n, &a, &b);
    store_hex(a, out);
    store_hex(b, out + 16);
}

size_t store_key_journey(const struct store *s, char *buf, size_t size, const char *topic,
                         int32_t partition, const char fp[33])
{
    return store_keyf(s, buf, size, "j:%s:%d:%s", topic, (int)partition, fp);
}

size_t store_key_journey_index(const struct store *s, char *buf, size_t size, const char *topic,
                               int32_t partition)
{
    return store_keyf(s, buf, size, "jx:%s:%d", topic, (int)partition);
}

size_t store_key_paths(const struct store *s, char *buf, size_t size, int64_t hour)
{
    return store_keyf(s, buf, size, "ps:%lld", (long long)hour);
}

static enum jd_err store_zbelow_fail(struct store *s, char *errstr, size_t errstr_size)
{
    jd_errf(JD_ERR_REDIS, errstr, errstr_size, "ZRANGEBYSCORE: connection lost");
    store_disconnect(s);
    return JD_ERR_REDIS;
}

enum jd_err store_zbelow_many(struct store *s, struct store_zbelow *q, size_t n, char *errstr,
                              size_t errstr_size)
{
    redisContext *ctx = store_ctx(s);
    enum jd_err err = JD_OK;
    char max[24], limit[24];
    for (size_t i = 0; i < n; i++)
        q[i].n = 0;
    if (!ctx)
        return jd_errf(JD_ERR_REDIS, errstr, errstr_size, "not connected");
    for (size_t i = 0; i < n; i++) {
        snprintf(max, sizeof(max), "%lld", (long long)q[i].max);
        snprintf(limit, sizeof(limit), "%zu", q[i].limit);
        const char *argv[] = { "ZRANGEBYSCORE", q[i].key, "-inf", max, "LIMIT", "0", limit };
        size_t lens[] = { 13, strlen(q[i].key), 4, strlen(max), 5, 1, strlen(limit) };
        if (redisAppendCommandArgv(ctx, 7, argv, lens) != REDIS_OK)
            return store_zbelow_fail(s, errstr, errstr_size);
    }
    for (size_t i = 0; i < n; i++) {
        redisReply *r = NULL;
        if (redisGetReply(ctx, (void **)&r) != REDIS_OK || !r)
            return store_zbelow_fail(s, errstr, errstr_size);
        if (r->type == REDIS_REPLY_ARRAY && err == JD_OK) {
            if (!jd_reserve((void **)&q[i].members, &q[i].cap, r->elements + 1,
                            sizeof(*q[i].members)))
                err = jd_errf(JD_ERR_NOMEM, errstr, errstr_size, "out of memory");
            for (size_t k = 0; err == JD_OK && k < r->elements; k++) {
                const redisReply *e = r->element[k];
                /* only members journeyd wrote: 32 hex digits */
                if (e->type != REDIS_REPLY_STRING || e->len != 32)
                    continue;
                memcpy(q[i].members[q[i].n], e->str, 32);
                q[i].members[q[i].n++][32] = '\0';
            }
        } else if (r->type == REDIS_REPLY_ERROR && err == JD_OK) {
            err = jd_errf(JD_ERR_REDIS, errstr, errstr_size, "ZRANGEBYSCORE %s: %s", q[i].key,
                          r->str);
        }
        freeReplyObject(r);
    }
    return err;
}
