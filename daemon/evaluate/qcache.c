/*
 * qcache.c — a read-through cache in front of a query source (qcache.h).
 *
 * Owns an open-addressing table of chunk keys to value bytes (absent keys
 * too: an empty minute is read as often as a full one), the series list of
 * each type read so far and the GC cutoff. Misses of one get_many go to the
 * source together, so a tick that reads ten chunks, three of them new, costs
 * one round trip, not three. Whether what it holds is still current is the
 * caller's to know (qcache_clear()).
 */
#include "evaluate/qcache.h"

#include "core/hash.h"
#include "core/jd.h"
#include "store/store.h"

#include <stdlib.h>
#include <string.h>

struct qcache_ent {
    char *key; /* NULL: empty slot */
    uint64_t hash;
    char *value; /* NULL: the key does not exist */
    size_t len;
};

struct qcache_type {
    char *name;
    struct store_series *series;
    size_t n;
};

struct qcache {
    struct query_source inner;
    size_t max_bytes, bytes;
    struct qcache_ent *tab;
    size_t cap, used;
    struct qcache_type *types;
    size_t ntypes, captypes;
    bool have_cutoff;
    int64_t cutoff;
    struct store_get *miss; /* scratch: the misses of one get_many */
    size_t *miss_at;        /* their places in the caller's array */
    size_t capmiss, capmiss_at;
    struct qcache_stats st;
};

struct qcache *qcache_new(struct query_source inner, size_t max_bytes)
{
    struct qcache *q = calloc(1, sizeof(*q));
    if (!q)
        return NULL;
    q->inner = inner;
    q->max_bytes = max_bytes;
    return q;
}

void qcache_clear(struct qcache *q)
{
    for (size_t i = 0; i < q->cap; i++) {
        free(q->tab[i].key);
        free(q->tab[i].value);
    }
    if (q->cap)
        memset(q->tab, 0, q->cap * sizeof(*q->tab));
    q->used = 0;
    for (size_t t = 0; t < q->ntypes; t++) {
        store_series_free(q->types[t].series, q->types[t].n);
        free(q->types[t].name);
    }
    q->ntypes = 0;
    q->bytes = 0;
    q->have_cutoff = false;
}

void qcache_destroy(struct qcache *q)
{
    if (!q)
        return;
    qcache_clear(q);
    free(q->tab);
    free(q->types);
    free(q->miss);
    free(q->miss_at);
    free(q);
}

const struct qcache_stats *qcache_stats(const struct qcache *q)
{
    return &q->st;
}

/* ------------------------------------------------------------ the table */

static struct qcache_ent *qcache_find(const struct qcache *q, const char *key, uint64_t h)
{
    if (!q->cap)
        return NULL;
    for (size_t i = h & (q->cap - 1);; i = (i + 1) & (q->cap - 1)) {
        struct qcache_ent *e = &q->tab[i];
        if (!e->key)
            return NULL;
        if (e->hash == h && !strcmp(e->key, key))
            return e;
    }
}

static bool qcache_grow(struct qcache *q)
{
    size_t cap = q->cap ? q->cap * 2 : 256;
    struct qcache_ent *tab = calloc(cap, sizeof(*tab));
    if (!tab)
        return false;
    for (size_t i = 0; i < q->cap; i++) {
        if (!q->tab[i].key)
            continue;
        size_t k = q->tab[i].hash & (cap - 1);
        while (tab[k].key)
            k = (k + 1) & (cap - 1);
        tab[k] = q->tab[i];
    }
    free(q->tab);
    q->tab = tab;
    q->cap = cap;
    return true;
}

/* Keeps a copy of \p g's value under its key; false (not kept) when full or out of memory. */
static bool qcache_put(struct qcache *q, const struct store_get *g)
{
    size_t klen = strlen(g->key);
    size_t cost = klen + 1 + g->len + sizeof(struct qcache_ent);
    if (q->bytes + cost > q->max_bytes || ((q->used + 1) * 2 > q->cap && !qcache_grow(q)))
        return false;
    char *key = malloc(klen + 1);
    char *value = g->value ? malloc(g->len ? g->len : 1) : NULL;
    if (!key || (g->value && !value)) {
        free(key);
        free(value);
        return false;
    }
    memcpy(key, g->key, klen + 1);
    if (value)
        memcpy(value, g->value, g->len);
    uint64_t h = hash64(key, klen, 0x71636163);
    size_t i = h & (q->cap - 1);
    while (q->tab[i].key)
        i = (i + 1) & (q->cap - 1);
    q->tab[i] = (struct qcache_ent){ key, h, value, g->len };
    q->used++;
    q->bytes += cost;
    return true;
}

/* ------------------------------------------------------------ the source */

static enum jd_err qcache_nomem(char *errstr, size_t errstr_size)
{
    return jd_errf(JD_ERR_NOMEM, errstr, errstr_size, "out of memory");
}

static enum jd_err qcache_list(void *self, const char *type, struct store_series **out, size_t *n,
                               char *errstr, size_t errstr_size)
{
    struct qcache *q = self;
    for (size_t t = 0; t < q->ntypes; t++) {
        if (strcmp(q->types[t].name, type))
            continue;
        q->st.hits++;
        *n = q->types[t].n;
        return store_series_dup(q->types[t].series, *n, out) ? JD_OK
                                                             : qcache_nomem(errstr, errstr_size);
    }
    q->st.misses++;
    q->st.trips++;
    enum jd_err err = q->inner.ops->list_series(q->inner.self, type, out, n, errstr, errstr_size);
    if (err || !jd_reserve((void **)&q->types, &q->captypes, q->ntypes + 1, sizeof(*q->types)))
        return err;
    size_t cost = sizeof(struct qcache_type) + strlen(type) + 1 + *n * sizeof(**out);
    for (size_t i = 0; i < *n; i++)
        cost += (*out)[i].labels_len + 1;
    if (q->bytes + cost > q->max_bytes)
        return JD_OK; /* not kept: the caller has its answer */
    struct qcache_type *ty = &q->types[q->ntypes];
    if (!(ty->name = strdup(type)))
        return JD_OK;
    if (!store_series_dup(*out, *n, &ty->series)) {
        free(ty->name);
        return JD_OK;
    }
    ty->n = *n;
    q->ntypes++;
    q->bytes += cost;
    return JD_OK;
}

static size_t qcache_key(const void *self, char *buf, size_t size, struct jd_str type, uint64_t sid,
                         enum window_res r, int64_t bucket)
{
    const struct qcache *q = self;
    return q->inner.ops->key_chunk(q->inner.self, buf, size, type, sid, r, bucket);
}

/* Hands \p g a copy of \p e's value. */
static bool qcache_answer(struct store_get *g, const struct qcache_ent *e)
{
    g->len = 0;
    g->value = NULL;
    if (!e->value)
        return true;
    if (!(g->value = malloc(e->len ? e->len : 1)))
        return false;
    memcpy(g->value, e->value, e->len);
    g->len = e->len;
    return true;
}

static enum jd_err qcache_get_many(void *self, struct store_get *gets, size_t n, char *errstr,
                                   size_t errstr_size)
{
    struct qcache *q = self;
    size_t nmiss = 0;
    enum jd_err err = JD_OK;

    if (!jd_reserve((void **)&q->miss, &q->capmiss, n, sizeof(*q->miss)) ||
        !jd_reserve((void **)&q->miss_at, &q->capmiss_at, n, sizeof(*q->miss_at)))
        return qcache_nomem(errstr, errstr_size);
    for (size_t i = 0; i < n; i++) {
        const struct qcache_ent *e =
            qcache_find(q, gets[i].key, hash64(gets[i].key, strlen(gets[i].key), 0x71636163));
        if (!e) {
            q->miss[nmiss].key = gets[i].key; /* the caller's, alive during the call */
            q->miss_at[nmiss++] = i;
            gets[i].value = NULL;
            gets[i].len = 0;
            continue;
        }
        q->st.hits++;
        if (!qcache_answer(&gets[i], e)) {
            err = qcache_nomem(errstr, errstr_size);
            goto fail;
        }
    }
    if (!nmiss)
        return JD_OK;
    q->st.misses += nmiss;
    q->st.trips++;
    if ((err = q->inner.ops->get_many(q->inner.self, q->miss, nmiss, errstr, errstr_size)))
        goto fail;
    for (size_t k = 0; k < nmiss; k++) {
        /* the source's value goes to the caller as is; the cache keeps its own copy */
        qcache_put(q, &q->miss[k]);
        gets[q->miss_at[k]].value = q->miss[k].value;
        gets[q->miss_at[k]].len = q->miss[k].len;
        q->miss[k].value = NULL;
    }
    return JD_OK;
fail:
    store_gets_free(gets, n);
    return err;
}

static enum jd_err qcache_cutoff(void *self, int64_t *out, char *errstr, size_t errstr_size)
{
    struct qcache *q = self;
    if (!q->have_cutoff) {
        enum jd_err err = q->inner.ops->gc_cutoff(q->inner.self, &q->cutoff, errstr, errstr_size);
        if (err)
            return err;
        q->have_cutoff = true;
    }
    *out = q->cutoff;
    return JD_OK;
}

static const struct window_retention *qcache_retention(const void *self)
{
    const struct qcache *q = self;
    return q->inner.ops->retention(q->inner.self);
}

static const struct query_source_ops qcache_ops = {
    qcache_list, qcache_key, qcache_get_many, qcache_cutoff, qcache_retention,
};

struct query_source qcache_source(struct qcache *q)
{
    return (struct query_source){ &qcache_ops, q };
}
