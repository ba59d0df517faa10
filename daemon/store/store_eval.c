/*
 * store_eval.c — what the rule evaluator keeps in Redis: the lease that
 * makes one instance of a group the evaluator, the partitions' progress the
 * group-wide watermark is computed from, and the evaluator's saved state.
 *
 * Owns the keys `{P}:lease` and `{P}:eval`; reads (never writes) the
 * partition hashes. What the state means is the evaluator's business.
 */
#include "store/store_int.h"

#include "store_lua.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool store_reply_i64(const redisReply *r, int64_t *out)
{
    if (r->type == REDIS_REPLY_INTEGER) {
        *out = r->integer;
        return true;
    }
    return r->type == REDIS_REPLY_STRING && store_parse_i64(r->str, r->len, out);
}

/* A reply that is not what the script returns: the connection is in doubt. */
static enum jd_err store_bad_reply(struct store *s, redisReply *r, const char *what, char *errstr,
                                   size_t errstr_size)
{
    enum jd_err e = jd_errf(JD_ERR_REDIS, errstr, errstr_size, "%s: %s", what,
                            r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
    freeReplyObject(r);
    store_disconnect(s);
    return e;
}

static enum jd_err store_idle(const struct store *s, char *errstr, size_t errstr_size)
{
    if (!s->ctx || s->in_flight)
        return jd_errf(s->ctx ? JD_ERR_INVALID : JD_ERR_REDIS, errstr, errstr_size,
                       s->ctx ? "a flush is in flight" : "not connected");
    return JD_OK;
}

enum jd_err store_progress(struct store *s, const char *topic, struct store_progress *out,
                           size_t cap, size_t *n, int64_t *now_ms, char *errstr, size_t errstr_size)
{
    char parts[128], prefix[STORE_KEY_MAX];
    const char *argv[4] = { NULL, NULL, "1", parts };
    size_t lens[4] = { 7, 40, 1, 0 };
    enum jd_err e;

    *n = 0;
    if ((e = store_idle(s, errstr, errstr_size)))
        return e;
    lens[3] = store_keyf(s, parts, sizeof(parts), "parts");
    /* `{P}:p:TOPIC:` then the partition number */
    size_t pl = store_keyf(s, prefix, sizeof(prefix), "p:%s:", topic);
    redisReply *r = store_evalsha(s, s->sha_progress, store_lua_progress, 4, argv, lens);
    if (!r)
        return store_io_error(s, errstr, errstr_size, "progress");
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 1 || !store_reply_i64(r->element[0], now_ms))
        return store_bad_reply(s, r, "progress", errstr, errstr_size);
    for (size_t i = 1; i < r->elements; i++) {
        const redisReply *p = r->element[i];
        if (p->type != REDIS_REPLY_ARRAY || p->elements != 5)
            return store_bad_reply(s, r, "progress", errstr, errstr_size);
        const redisReply *k = p->element[0];
        int64_t part;
        if (k->type != REDIS_REPLY_STRING || k->len <= pl || memcmp(k->str, prefix, pl) ||
            !store_parse_i64(k->str + pl, k->len - pl, &part) || part < 0 || part > INT32_MAX)
            continue; /* another topic's partition */
        if (*n < cap) {
            struct store_progress *o = &out[*n];
            memset(o, 0, sizeof(*o));
            o->partition = (int32_t)part;
            o->has_st = store_reply_i64(p->element[1], &o->st);
            o->has_st0 = store_reply_i64(p->element[2], &o->st0);
            o->has_wt = store_reply_i64(p->element[3], &o->wt);
            o->has_ct = store_reply_i64(p->element[4], &o->ct);
        }
        (*n)++;
    }
    freeReplyObject(r);
    return JD_OK;
}

static enum jd_err store_lease_call(struct store *s, const char *owner, int64_t ttl_ms,
                                    const char *mode, bool *held, char *errstr, size_t errstr_size)
{
    char lease[128], ttl[24];
    const char *argv[7] = { NULL, NULL, "1", lease, owner, ttl, mode };
    size_t lens[7] = { 7, 40, 1, 0, strlen(owner), 0, strlen(mode) };
    enum jd_err e;
    int64_t v;

    if ((e = store_idle(s, errstr, errstr_size)))
        return e;
    lens[3] = store_keyf(s, lease, sizeof(lease), "lease");
    lens[5] = store_fmt_i64(ttl, ttl_ms);
    redisReply *r = store_evalsha(s, s->sha_lease, store_lua_lease, 7, argv, lens);
    if (!r)
        return store_io_error(s, errstr, errstr_size, "lease");
    if (!store_reply_i64(r, &v))
        return store_bad_reply(s, r, "lease", errstr, errstr_size);
    freeReplyObject(r);
    if (held)
        *held = v == 1;
    return JD_OK;
}

enum jd_err store_lease(struct store *s, const char *owner, int64_t ttl_ms, bool *held,
                        char *errstr, size_t errstr_size)
{
    return store_lease_call(s, owner, ttl_ms, "take", held, errstr, errstr_size);
}

enum jd_err store_lease_release(struct store *s, const char *owner, char *errstr,
                                size_t errstr_size)
{
    return store_lease_call(s, owner, 1, "release", NULL, errstr, errstr_size);
}

static const char *const store_eval_fields[] = { "engine", "wm", "hb_seq", "hb_since" };

enum jd_err store_eval_load(struct store *s, struct store_evalstate *out, char *errstr,
                            size_t errstr_size)
{
    char key[128];
    const char *argv[6] = { "HMGET", key };
    size_t lens[6] = { 5, 0 };
    enum jd_err e;

    memset(out, 0, sizeof(*out));
    if ((e = store_idle(s, errstr, errstr_size)))
        return e;
    lens[1] = store_keyf(s, key, sizeof(key), "eval");
    for (size_t i = 0; i < 4; i++) {
        argv[2 + i] = store_eval_fields[i];
        lens[2 + i] = strlen(store_eval_fields[i]);
    }
    redisContext *ctx = store_ctx(s);
    redisReply *r = ctx ? redisCommandArgv(ctx, 6, argv, lens) : NULL;
    if (!r)
        return store_io_error(s, errstr, errstr_size, "HMGET eval");
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 4)
        return store_bad_reply(s, r, "HMGET eval", errstr, errstr_size);
    const redisReply *eng = r->element[0];
    if (eng->type == REDIS_REPLY_STRING) {
        if (!(out->engine = malloc(eng->len + 1))) {
            freeReplyObject(r);
            return jd_errf(JD_ERR_NOMEM, errstr, errstr_size, "out of memory");
        }
        memcpy(out->engine, eng->str, eng->len);
        out->engine[eng->len] = '\0';
        out->engine_len = eng->len;
    }
    out->has_wm = store_reply_i64(r->element[1], &out->wm);
    store_reply_i64(r->element[2], &out->hb_seq);
    store_reply_i64(r->element[3], &out->hb_since);
    freeReplyObject(r);
    return JD_OK;
}

void store_evalstate_free(struct store_evalstate *st)
{
    if (!st)
        return;
    free(st->engine);
    st->engine = NULL;
    st->engine_len = 0;
}

enum jd_err store_eval_save(struct store *s, const char *owner, int64_t ttl_ms,
                            const struct store_evalstate *st, char *errstr, size_t errstr_size)
{
    char lease[128], key[128], ttl[24], wm[24], seq[24], since[24];
    const char *argv[16] = { NULL, NULL, "2", lease, key, owner, ttl };
    size_t lens[16] = { 7, 40, 1, 0, 0, strlen(owner), 0 };
    int argc = 7;
    enum jd_err e;
    int64_t v;

    if ((e = store_idle(s, errstr, errstr_size)))
        return e;
    lens[3] = store_keyf(s, lease, sizeof(lease), "lease");
    lens[4] = store_keyf(s, key, sizeof(key), "eval");
    lens[6] = store_fmt_i64(ttl, ttl_ms);
    if (st->engine) {
        argv[argc] = "engine";
        lens[argc++] = 6;
        argv[argc] = st->engine;
        lens[argc++] = st->engine_len;
    }
    if (st->has_wm) {
        argv[argc] = "wm";
        lens[argc++] = 2;
        argv[argc] = wm;
        lens[argc++] = store_fmt_i64(wm, st->wm);
    }
    argv[argc] = "hb_seq";
    lens[argc++] = 6;
    argv[argc] = seq;
    lens[argc++] = store_fmt_i64(seq, st->hb_seq);
    argv[argc] = "hb_since";
    lens[argc++] = 8;
    argv[argc] = since;
    lens[argc++] = store_fmt_i64(since, st->hb_since);
    redisReply *r = store_evalsha(s, s->sha_evalsave, store_lua_evalsave, argc, argv, lens);
    if (!r)
        return store_io_error(s, errstr, errstr_size, "save evaluator state");
    if (!store_reply_i64(r, &v))
        return store_bad_reply(s, r, "save evaluator state", errstr, errstr_size);
    freeReplyObject(r);
    if (v != 1)
        return jd_errf(JD_ERR_FENCED, errstr, errstr_size,
                       "the evaluator lease is held by another instance");
    return JD_OK;
}
