/*
 * store_journey.c — the keys of attribution's state and the expiry query.
 *
 * Owns the layout of journeys (`{P}:j:TOPIC:PARTITION:FP`, one string per
 * user and partition, FP the 32-hex fingerprint of the user id, so no user
 * string ever reaches a key name), their expiry buckets (`{P}:jb:...:ID`,
 * appended fingerprints; the index `{P}:jx:...`, a sorted set of bucket ids
 * scored by their end; the read progress `{P}:jxo:...`) and
 * path statistics (`{P}:ps:HOUR`, appended records) and the expiry read.
 * Writes go with the batch flush (store_flush.c); the format of values and
 * the bucketing of expiry are attribute/'s.
 */
#include "core/hash.h"
#include "store/store_int.h"
#include "store_lua.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void store_user_fp(struct jd_str user, char out[33], uint64_t *a, uint64_t *b)
{
    uint64_t x, y;
    hash128(user.p, user.n, &x, &y);
    store_hex(x, out);
    store_hex(y, out + 16);
    if (a)
        *a = x;
    if (b)
        *b = y;
}

size_t store_key_journey(const struct store *s, char *buf, size_t size, const char *topic,
                         int32_t partition, const char fp[33])
{
    /* written by hand: this runs for every user of every batch */
    char tmp[STORE_KEY_MAX];
    size_t n = s->jkey_len, lt = strnlen(topic, 160);
    memcpy(tmp, s->jkey, n);
    memcpy(tmp + n, topic, lt);
    n += lt;
    tmp[n++] = ':';
    n += store_fmt_i64(tmp + n, partition);
    tmp[n++] = ':';
    memcpy(tmp + n, fp, 32);
    n += 32;
    tmp[n] = '\0';
    if (size) {
        size_t c = n < size ? n : size - 1;
        memcpy(buf, tmp, c);
        buf[c] = '\0';
    }
    return n;
}

size_t store_key_journey_index(const struct store *s, char *buf, size_t size, const char *topic,
                               int32_t partition)
{
    return store_keyf(s, buf, size, "jx:%s:%d", topic, (int)partition);
}

size_t store_key_journey_bucket(const struct store *s, char *buf, size_t size, const char *topic,
                                int32_t partition)
{
    return store_keyf(s, buf, size, "jb:%s:%d:", topic, (int)partition);
}

size_t store_key_journey_progress(const struct store *s, char *buf, size_t size, const char *topic,
                                  int32_t partition)
{
    return store_keyf(s, buf, size, "jxo:%s:%d", topic, (int)partition);
}

size_t store_key_paths(const struct store *s, char *buf, size_t size, int64_t hour)
{
    return store_keyf(s, buf, size, "ps:%lld", (long long)hour);
}

enum jd_err store_expiry_read(struct store *s, struct store_expiry *q, size_t n, size_t limit,
                              char *errstr, size_t errstr_size)
{
    size_t argc = 4 + 4 * n;
    const char **argv = calloc(argc, sizeof(*argv));
    size_t *lens = calloc(argc, sizeof(*lens));
    char(*st)[24] = calloc(n + 1, sizeof(*st));
    char lim[24];
    redisReply *r = NULL;
    enum jd_err err = JD_OK;

    for (size_t i = 0; i < n; i++) {
        q[i].ndone = q[i].n = 0;
        q[i].partial[0] = '\0';
        q[i].resume = 0;
    }
    if (!argv || !lens || !st) {
        err = jd_errf(JD_ERR_NOMEM, errstr, errstr_size, "out of memory");
        goto out;
    }
    if (!store_ctx(s)) {
        err = jd_errf(JD_ERR_REDIS, errstr, errstr_size, "not connected");
        goto out;
    }
    argv[2] = "0";
    argv[3] = lim;
    snprintf(lim, sizeof(lim), "%zu", limit * 32);
    for (size_t i = 0; i < n; i++) {
        snprintf(st[i], sizeof(st[i]), "%lld", (long long)q[i].st);
        argv[4 + 4 * i] = q[i].index;
        argv[5 + 4 * i] = q[i].progress;
        argv[6 + 4 * i] = q[i].prefix;
        argv[7 + 4 * i] = st[i];
    }
    for (size_t i = 2; i < argc; i++)
        lens[i] = strlen(argv[i]);
    lens[0] = 7;
    lens[1] = 40;
    if (!(r = store_evalsha(s, s->sha_expiry, store_lua_expiry, (int)argc, argv, lens))) {
        err = store_io_error(s, errstr, errstr_size, "expiry read");
        goto out;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        /* a key of another type: the read changed nothing, the batch must not go on */
        err = jd_errf(JD_ERR_CORRUPT, errstr, errstr_size, "expiry read: %s", r->str);
        goto out;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements != n) {
        err = jd_errf(JD_ERR_REDIS, errstr, errstr_size, "expiry read: unexpected reply");
        store_disconnect(s);
        goto out;
    }
    for (size_t i = 0; i < n && err == JD_OK; i++) {
        const redisReply *e = r->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements != 4 ||
            e->element[0]->type != REDIS_REPLY_ARRAY || e->element[1]->type != REDIS_REPLY_STRING ||
            e->element[2]->type != REDIS_REPLY_INTEGER ||
            e->element[3]->type != REDIS_REPLY_STRING) {
            err = jd_errf(JD_ERR_REDIS, errstr, errstr_size, "expiry read: unexpected reply");
            break;
        }
        const redisReply *done = e->element[0], *bytes = e->element[3];
        size_t nfp = bytes->len / 32;
        if (!jd_reserve((void **)&q[i].fps, &q[i].cap, nfp + 1, sizeof(*q[i].fps)) ||
            !jd_reserve((void **)&q[i].done, &q[i].capdone, done->elements + 1,
                        sizeof(*q[i].done))) {
            err = jd_errf(JD_ERR_NOMEM, errstr, errstr_size, "out of memory");
            break;
        }
        for (size_t k = 0; k < done->elements; k++) {
            const redisReply *b = done->element[k];
            /* only ids journeyd wrote (a bucket number) */
            if (b->type == REDIS_REPLY_STRING && b->len < sizeof(*q[i].done)) {
                memcpy(q[i].done[q[i].ndone], b->str, b->len);
                q[i].done[q[i].ndone++][b->len] = '\0';
            }
        }
        if (e->element[1]->len < sizeof(q[i].partial)) {
            memcpy(q[i].partial, e->element[1]->str, e->element[1]->len);
            q[i].partial[e->element[1]->len] = '\0';
            q[i].resume = e->element[2]->integer;
        }
        for (size_t k = 0; k < nfp; k++) {
            memcpy(q[i].fps[q[i].n], bytes->str + 32 * k, 32);
            q[i].fps[q[i].n++][32] = '\0';
        }
    }
out:
    freeReplyObject(r);
    free(argv);
    free(lens);
    free(st);
    return err;
}
