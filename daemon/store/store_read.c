/*
 * store_read.c — pipelined reads of the windowed store for queries.
 *
 * Owns the read half of the key layout described in store.h. Each call is
 * one round trip (a pipeline of commands); replies are copied out so callers
 * never hold hiredis objects. Writes live in store.c.
 */
#include "store/store_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Same layout as store.c's builder; duplicated only for the read-only keys used here. */
static void store_read_key(const struct store *s, char *buf, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void store_read_key(const struct store *s, char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    int n = snprintf(buf, size, "{%s}:", store_prefix(s));
    va_start(ap, fmt);
    vsnprintf(buf + n, size > (size_t)n ? size - (size_t)n : 0, fmt, ap);
    va_end(ap);
}

static enum jd_err store_read_fail(struct store *s, char *errstr, size_t errstr_size,
                                   const char *what)
{
    jd_errf(JD_ERR_REDIS, errstr, errstr_size, "%s: connection lost", what);
    store_disconnect(s);
    return JD_ERR_REDIS;
}

enum jd_err store_list_series(struct store *s, const char *type, struct store_series **out,
                              size_t *n, char *errstr, size_t errstr_size)
{
    char key[STORE_KEY_MAX];
    redisContext *ctx = store_ctx(s);
    *out = NULL;
    *n = 0;
    if (!ctx)
        return jd_errf(JD_ERR_REDIS, errstr, errstr_size, "not connected");
    store_read_key(s, key, sizeof(key), "s:%s", type);
    const char *argv[] = { "HGETALL", key };
    size_t lens[] = { 7, strlen(key) };
    redisReply *r = redisCommandArgv(ctx, 2, argv, lens);
    if (!r)
        return store_read_fail(s, errstr, errstr_size, "HGETALL");
    if (r->type != REDIS_REPLY_ARRAY) {
        enum jd_err e = jd_errf(JD_ERR_REDIS, errstr, errstr_size, "HGETALL %s: %s", key,
                                r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
        freeReplyObject(r);
        return e;
    }
    size_t cnt = r->elements / 2;
    struct store_series *list = cnt ? calloc(cnt, sizeof(*list)) : NULL;
    if (cnt && !list) {
        freeReplyObject(r);
        return jd_errf(JD_ERR_NOMEM, errstr, errstr_size, "out of memory");
    }
    size_t k = 0;
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        const redisReply *f = r->element[i], *v = r->element[i + 1];
        if (f->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING || f->len != 16)
            continue;
        char *end;
        list[k].sid = strtoull(f->str, &end, 16);
        list[k].labels = malloc(v->len + 1);
        if (!list[k].labels) {
            freeReplyObject(r);
            store_series_free(list, k);
            return jd_errf(JD_ERR_NOMEM, errstr, errstr_size, "out of memory");
        }
        memcpy(list[k].labels, v->str, v->len);
        list[k].labels[v->len] = '\0';
        list[k].labels_len = v->len;
        k++;
    }
    freeReplyObject(r);
    *out = list;
    *n = k;
    return JD_OK;
}

void store_series_free(struct store_series *list, size_t n)
{
    if (!list)
        return;
    for (size_t i = 0; i < n; i++)
        free(list[i].labels);
    free(list);
}

void store_census_free(struct store_census *v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        free(v[i].type);
    free(v);
}

enum jd_err store_series_census(struct store *s, struct store_census **out, size_t *n, char *errstr,
                                size_t errstr_size)
{
    char key[STORE_KEY_MAX];
    redisContext *ctx = store_ctx(s);
    struct store_census *v = NULL;
    enum jd_err err = JD_OK;
    size_t k = 0;
    *out = NULL;
    *n = 0;
    if (!ctx)
        return jd_errf(JD_ERR_REDIS, errstr, errstr_size, "not connected");
    store_read_key(s, key, sizeof(key), "types");
    const char *argv[] = { "SMEMBERS", key };
    size_t lens[] = { 8, strlen(key) };
    redisReply *r = redisCommandArgv(ctx, 2, argv, lens);
    if (!r)
        return store_read_fail(s, errstr, errstr_size, "SMEMBERS");
    if (r->type != REDIS_REPLY_ARRAY) {
        err = jd_errf(JD_ERR_REDIS, errstr, errstr_size, "SMEMBERS %s: %s", key,
                      r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
        goto out;
    }
    if (r->elements && !(v = calloc(r->elements, sizeof(*v)))) {
        err = jd_errf(JD_ERR_NOMEM, errstr, errstr_size, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *t = r->element[i];
        if (t->type != REDIS_REPLY_STRING)
            continue;
        if (!(v[k].type = malloc(t->len + 1))) {
            err = jd_errf(JD_ERR_NOMEM, errstr, errstr_size, "out of memory");
            goto out;
        }
        memcpy(v[k].type, t->str, t->len);
        v[k].type[t->len] = '\0';
        k++;
    }
    for (size_t i = 0; i < k; i++) {
        store_read_key(s, key, sizeof(key), "s:%s", v[i].type);
        const char *hargv[] = { "HLEN", key };
        size_t hlens[] = { 4, strlen(key) };
        if (redisAppendCommandArgv(ctx, 2, hargv, hlens) != REDIS_OK) {
            err = store_read_fail(s, errstr, errstr_size, "HLEN");
            goto out;
        }
    }
    for (size_t i = 0; i < k; i++) {
        redisReply *h = NULL;
        if (redisGetReply(ctx, (void **)&h) != REDIS_OK || !h) {
            err = store_read_fail(s, errstr, errstr_size, "HLEN");
            goto out;
        }
        if (h->type == REDIS_REPLY_INTEGER)
            v[i].nseries = h->integer;
        else if (!err)
            err = jd_errf(JD_ERR_REDIS, errstr, errstr_size, "HLEN of type %s: %s", v[i].type,
                          h->type == REDIS_REPLY_ERROR ? h->str : "unexpected reply");
        freeReplyObject(h);
    }
out:
    freeReplyObject(r);
    if (err) {
        store_census_free(v, k);
        return err;
    }
    *out = v;
    *n = k;
    return JD_OK;
}

bool store_series_dup(const struct store_series *list, size_t n, struct store_series **out)
{
    struct store_series *v = n ? calloc(n, sizeof(*v)) : NULL;
    *out = NULL;
    if (n && !v)
        return false;
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(list[i].labels);
        v[i] = list[i];
        if (!(v[i].labels = malloc(len + 1))) {
            store_series_free(v, i);
            return false;
        }
        memcpy(v[i].labels, list[i].labels, len + 1);
    }
    *out = v;
    return true;
}

enum jd_err store_get_many(struct store *s, struct store_get *gets, size_t n, char *errstr,
                           size_t errstr_size)
{
    redisContext *ctx = store_ctx(s);
    enum jd_err err = JD_OK;

    for (size_t i = 0; i < n; i++) {
        gets[i].value = NULL;
        gets[i].len = 0;
    }
    if (!ctx)
        return jd_errf(JD_ERR_REDIS, errstr, errstr_size, "not connected");
    for (size_t i = 0; i < n; i++) {
        const char *argv[] = { "GET", gets[i].key };
        size_t lens[] = { 3, strlen(gets[i].key) };
        if (!store_append_argv(s, 2, argv, lens))
            return store_read_fail(s, errstr, errstr_size, "GET");
    }
    for (size_t i = 0; i < n; i++) {
        redisReply *r = NULL;
        if (redisGetReply(ctx, (void **)&r) != REDIS_OK || !r) {
            store_gets_free(gets, n);
            return store_read_fail(s, errstr, errstr_size, "GET");
        }
        if (r->type == REDIS_REPLY_STRING && err == JD_OK) {
            if ((gets[i].value = malloc(r->len ? r->len : 1))) {
                memcpy(gets[i].value, r->str, r->len);
                gets[i].len = r->len;
            } else {
                err = jd_errf(JD_ERR_NOMEM, errstr, errstr_size, "out of memory");
            }
        } else if (r->type == REDIS_REPLY_ERROR && err == JD_OK) {
            /* the key holds something else: a batch's writes would replace it (SET) */
            err = jd_errf(JD_ERR_CORRUPT, errstr, errstr_size, "%s: %s", gets[i].key, r->str);
        }
        freeReplyObject(r);
    }
    if (err)
        store_gets_free(gets, n);
    return err;
}

void store_gets_free(struct store_get *gets, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(gets[i].value);
        gets[i].value = NULL;
        gets[i].len = 0;
    }
}

static enum jd_err store_read_hget_int(struct store *s, const char *key, const char *field,
                                       bool *found, int64_t *out, char *errstr, size_t errstr_size)
{
    redisContext *ctx = store_ctx(s);
    *found = false;
    if (!ctx)
        return jd_errf(JD_ERR_REDIS, errstr, errstr_size, "not connected");
    const char *argv[] = { "HGET", key, field };
    size_t lens[] = { 4, strlen(key), strlen(field) };
    redisReply *r = redisCommandArgv(ctx, 3, argv, lens);
    if (!r)
        return store_read_fail(s, errstr, errstr_size, "HGET");
    enum jd_err err = JD_OK;
    if (r->type == REDIS_REPLY_STRING) {
        *out = strtoll(r->str, NULL, 10);
        *found = true;
    } else if (r->type != REDIS_REPLY_NIL) {
        err = jd_errf(JD_ERR_REDIS, errstr, errstr_size, "HGET %s: %s", key,
                      r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
    }
    freeReplyObject(r);
    return err;
}

enum jd_err store_stat_get(struct store *s, const char *field, int64_t *out, char *errstr,
                           size_t errstr_size)
{
    char key[128];
    bool found;
    store_read_key(s, key, sizeof(key), "stats");
    *out = 0;
    return store_read_hget_int(s, key, field, &found, out, errstr, errstr_size);
}

enum jd_err store_gc_cutoff(struct store *s, int64_t *out, char *errstr, size_t errstr_size)
{
    char key[128];
    bool found;
    store_read_key(s, key, sizeof(key), "meta");
    enum jd_err err = store_read_hget_int(s, key, "gc_cutoff", &found, out, errstr, errstr_size);
    if (!found)
        *out = INT64_MIN;
    return err;
}
