/*
 * memwin.c — in-memory chunks and series index behind a query source.
 *
 * Owns one open-addressing table of byte strings keyed like Redis keys
 * (chunks, and a marker per known series) plus a per-type series list. It
 * encodes records with chunk.h exactly as store_flush.c does; it knows
 * nothing of partitions, offsets or expiry.
 */
#include "evaluate/memwin.h"

#include "aggregate/chunk.h"
#include "aggregate/series.h"
#include "core/hash.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct memwin_ent {
    char *key; /* NULL: empty slot */
    uint64_t hash;
    uint8_t *buf;
    size_t len, cap;
};

struct memwin_type {
    char *name;
    struct store_series *series;
    size_t n, cap;
};

struct memwin {
    struct memwin_ent *tab;
    size_t cap, used;
    struct memwin_type *types;
    size_t ntypes, captypes;
    size_t nchunks;
    uint8_t *rec; /* scratch for one record */
    size_t reccap;
};

static const struct window_retention memwin_forever = { { INT64_MAX / 4, INT64_MAX / 4,
                                                          INT64_MAX / 4 } };

struct memwin *memwin_new(void)
{
    struct memwin *m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    m->cap = 1024;
    if (!(m->tab = calloc(m->cap, sizeof(*m->tab)))) {
        free(m);
        return NULL;
    }
    return m;
}

void memwin_destroy(struct memwin *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->cap; i++) {
        free(m->tab[i].key);
        free(m->tab[i].buf);
    }
    free(m->tab);
    for (size_t t = 0; t < m->ntypes; t++) {
        store_series_free(m->types[t].series, m->types[t].n);
        free(m->types[t].name);
    }
    free(m->types);
    free(m->rec);
    free(m);
}

size_t memwin_nchunks(const struct memwin *m)
{
    return m->nchunks;
}

static struct memwin_ent *memwin_slot(struct memwin_ent *tab, size_t cap, const char *key, size_t n,
                                      uint64_t h)
{
    size_t i = h & (cap - 1);
    while (tab[i].key && !(tab[i].hash == h && !strncmp(tab[i].key, key, n) && !tab[i].key[n]))
        i = (i + 1) & (cap - 1);
    return &tab[i];
}

static bool memwin_grow(struct memwin *m)
{
    size_t cap = m->cap * 2;
    struct memwin_ent *tab = calloc(cap, sizeof(*tab));
    if (!tab)
        return false;
    for (size_t i = 0; i < m->cap; i++)
        if (m->tab[i].key)
            *memwin_slot(tab, cap, m->tab[i].key, strlen(m->tab[i].key), m->tab[i].hash) =
                m->tab[i];
    free(m->tab);
    m->tab = tab;
    m->cap = cap;
    return true;
}

/* The entry for \p key, created empty if missing (NULL when out of memory). */
static struct memwin_ent *memwin_get(struct memwin *m, const char *key, size_t n, bool create,
                                     bool *created)
{
    uint64_t h = hash64(key, n, 0x6d77);
    struct memwin_ent *e = memwin_slot(m->tab, m->cap, key, n, h);
    if (created)
        *created = false;
    if (e->key || !create)
        return e->key ? e : NULL;
    if ((m->used + 1) * 2 > m->cap) {
        if (!memwin_grow(m))
            return NULL;
        e = memwin_slot(m->tab, m->cap, key, n, h);
    }
    if (!(e->key = strndup(key, n)))
        return NULL;
    e->hash = h;
    m->used++;
    if (created)
        *created = true;
    return e;
}

static bool memwin_append(struct memwin_ent *e, const uint8_t *p, size_t n)
{
    if (!jd_reserve((void **)&e->buf, &e->cap, e->len + n, 1))
        return false;
    memcpy(e->buf + e->len, p, n);
    e->len += n;
    return true;
}

static struct memwin_type *memwin_type(struct memwin *m, struct jd_str name)
{
    for (size_t t = 0; t < m->ntypes; t++)
        if (jd_str_eqc(name, m->types[t].name))
            return &m->types[t];
    if (!jd_reserve((void **)&m->types, &m->captypes, m->ntypes + 1, sizeof(*m->types)))
        return NULL;
    struct memwin_type *t = &m->types[m->ntypes];
    memset(t, 0, sizeof(*t));
    if (!(t->name = strndup(name.p ? name.p : "", name.n)))
        return NULL;
    m->ntypes++;
    return t;
}

/* Registers a series in its type's list the first time it is seen. */
static bool memwin_add_series(struct memwin *m, const struct agg_series *ser)
{
    char key[STORE_KEY_MAX + 32], hex[17];
    series_id_hex(ser->sid, hex);
    int n = snprintf(key, sizeof(key), "s\x1f%.*s\x1f%s", (int)ser->type.n, ser->type.p, hex);
    bool created;
    if (n < 0 || (size_t)n >= sizeof(key) || !memwin_get(m, key, (size_t)n, true, &created))
        return false;
    if (!created)
        return true;
    struct memwin_type *t = memwin_type(m, ser->type);
    if (!t || !jd_reserve((void **)&t->series, &t->cap, t->n + 1, sizeof(*t->series)))
        return false;
    struct store_series *s = &t->series[t->n];
    if (!(s->labels = strndup(ser->labels.p ? ser->labels.p : "", ser->labels.n)))
        return false;
    s->sid = ser->sid;
    s->labels_len = ser->labels.n;
    t->n++;
    return true;
}

static size_t memwin_key(const void *self, char *buf, size_t size, struct jd_str type, uint64_t sid,
                         enum window_res r, int64_t bucket)
{
    (void)self;
    char hex[17];
    series_id_hex(sid, hex);
    int n = snprintf(buf, size, "c\x1f%.*s\x1f%s\x1f%c%" PRId64, (int)type.n, type.p ? type.p : "",
                     hex, window_res_char(r), window_chunk_id(r, bucket));
    return n < 0 ? 0 : (size_t)n;
}

enum jd_err memwin_apply(struct memwin *m, const struct agg *a, char *errstr, size_t errstr_size)
{
    char key[STORE_KEY_MAX];
    for (size_t i = 0; i < agg_nseries(a); i++) {
        const struct agg_series *ser = agg_series_at(a, i);
        if (!memwin_add_series(m, ser))
            goto nomem;
        for (int r = 0; r < WINDOW_NRES; r++) {
            const struct agg_delta *d = ser->deltas[r];
            const struct agg_regs *g = ser->regs[r];
            for (size_t k = 0; k < ser->ndeltas[r]; k++) {
                size_t kl = memwin_key(m, key, sizeof(key), ser->type, ser->sid, (enum window_res)r,
                                       d[k].bucket);
                bool created;
                struct memwin_ent *e = memwin_get(m, key, kl, true, &created);
                if (!e || !jd_reserve((void **)&m->rec, &m->reccap, chunk_record_max(g[k].n), 1))
                    goto nomem;
                m->nchunks += created;
                size_t n =
                    chunk_put_record(m->rec, window_bucket_offset((enum window_res)r, d[k].bucket),
                                     &d[k], g[k].u, g[k].n);
                if (!memwin_append(e, m->rec, n))
                    goto nomem;
            }
        }
    }
    return JD_OK;
nomem:
    return jd_errf(JD_ERR_NOMEM, errstr, errstr_size, "out of memory");
}

/* ------------------------------------------------------------ the source */

static enum jd_err memwin_list(void *self, const char *type, struct store_series **out, size_t *n,
                               char *errstr, size_t errstr_size)
{
    struct memwin *m = self;
    *out = NULL;
    *n = 0;
    for (size_t t = 0; t < m->ntypes; t++) {
        if (strcmp(m->types[t].name, type))
            continue;
        struct memwin_type *ty = &m->types[t];
        if (!store_series_dup(ty->series, ty->n, out))
            return jd_errf(JD_ERR_NOMEM, errstr, errstr_size, "out of memory");
        *n = ty->n;
    }
    return JD_OK;
}

static enum jd_err memwin_get_many(void *self, struct store_get *gets, size_t n, char *errstr,
                                   size_t errstr_size)
{
    struct memwin *m = self;
    for (size_t i = 0; i < n; i++) {
        struct memwin_ent *e = memwin_get(m, gets[i].key, strlen(gets[i].key), false, NULL);
        gets[i].value = NULL;
        gets[i].len = 0;
        if (!e)
            continue;
        if (!(gets[i].value = malloc(e->len ? e->len : 1))) {
            store_gets_free(gets, i);
            return jd_errf(JD_ERR_NOMEM, errstr, errstr_size, "out of memory");
        }
        memcpy(gets[i].value, e->buf, e->len);
        gets[i].len = e->len;
    }
    return JD_OK;
}

static enum jd_err memwin_cutoff(void *self, int64_t *out, char *errstr, size_t errstr_size)
{
    (void)self;
    (void)errstr;
    (void)errstr_size;
    *out = INT64_MIN;
    return JD_OK;
}

static const struct window_retention *memwin_retention(const void *self)
{
    (void)self;
    return &memwin_forever;
}

static const struct query_source_ops memwin_ops = {
    memwin_list, memwin_key, memwin_get_many, memwin_cutoff, memwin_retention,
};

struct query_source memwin_source(struct memwin *m)
{
    return (struct query_source){ &memwin_ops, m };
}
