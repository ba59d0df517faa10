/*
 * agg.c — per-batch series, minute buckets and distinct-user sets.
 *
 * Owns the in-memory shape of a batch. Two open-addressing tables (series
 * by id, minute buckets by series+minute) index flat arrays; sketch updates
 * are appended to their minute; type and label strings are copied into a
 * chunked arena. agg_reset() rewinds everything without freeing, so after
 * the first few batches no call here allocates. It knows nothing of
 * partitions, offsets or Redis.
 */
#include "aggregate/agg.h"

#include "core/hash.h"

#include <stdlib.h>
#include <string.h>

#define AGG_ARENA_CHUNK (1u << 20)

struct agg_arena_chunk {
    char *p;
    size_t cap;
};

struct agg_ser {
    uint64_t sid;
    struct jd_str type, labels;
    uint32_t first_min; /* this series' minutes in arrival order (index + 1; 0 = none) */
    uint32_t last_min;  /* the newest of them, also a one-entry lookup cache */
    uint32_t nmin;
};

struct agg_min {
    uint32_t series;
    uint32_t next;      /* next minute of the same series (index + 1) */
    uint32_t regs_head; /* index + 1 into regs */
    uint32_t nregs;
    struct agg_delta d;
};

/* One sketch update of one minute (a register may repeat; merging takes the max). */
struct agg_reg {
    uint32_t min;
    uint32_t next;
    struct hll_update u;
};

/* A growable array that keeps its memory across batches. */
#define AGG_VEC(T)                                                                                 \
    struct {                                                                                       \
        T *v;                                                                                      \
        size_t n, cap;                                                                             \
    }

struct agg {
    struct agg_arena_chunk *chunks;
    size_t nchunks, cur, off;

    AGG_VEC(struct agg_ser) ser;
    uint32_t *ser_tab;
    size_t ser_tab_cap;

    AGG_VEC(struct agg_min) mins;
    uint32_t *min_tab;
    size_t min_tab_cap;

    AGG_VEC(struct agg_reg) regs;

    /* agg_seal() output */
    AGG_VEC(struct agg_series) views;
    AGG_VEC(struct agg_delta) deltas;
    AGG_VEC(struct agg_regs) dregs; /* parallel to deltas */
    AGG_VEC(struct hll_update) ulist;
    AGG_VEC(uint32_t) order;
    AGG_VEC(size_t) offs; /* per view: 3 delta offsets */

    uint64_t nevents;
};

#define AGG_RESERVE(vec, need) jd_reserve((void **)&(vec).v, &(vec).cap, (need), sizeof(*(vec).v))

static char *agg_arena_copy(struct agg *a, struct jd_str s)
{
    while (a->cur < a->nchunks && a->off + s.n > a->chunks[a->cur].cap) {
        a->cur++;
        a->off = 0;
    }
    if (a->cur == a->nchunks) {
        size_t cap = s.n > AGG_ARENA_CHUNK ? s.n : AGG_ARENA_CHUNK;
        struct agg_arena_chunk *c = realloc(a->chunks, (a->nchunks + 1) * sizeof(*c));
        if (!c)
            return NULL;
        a->chunks = c;
        if (!(c[a->nchunks].p = malloc(cap)))
            return NULL;
        c[a->nchunks].cap = cap;
        a->nchunks++;
        a->off = 0;
    }
    char *p = a->chunks[a->cur].p + a->off;
    if (s.n)
        memcpy(p, s.p, s.n);
    a->off += s.n;
    return p;
}

static bool agg_table_init(uint32_t **tab, size_t *cap, size_t n)
{
    uint32_t *t = calloc(n, sizeof(*t));
    if (!t)
        return false;
    free(*tab);
    *tab = t;
    *cap = n;
    return true;
}

struct agg *agg_new(void)
{
    struct agg *a = calloc(1, sizeof(*a));
    if (!a)
        return NULL;
    if (!agg_table_init(&a->ser_tab, &a->ser_tab_cap, 1024) ||
        !agg_table_init(&a->min_tab, &a->min_tab_cap, 4096)) {
        agg_destroy(a);
        return NULL;
    }
    return a;
}

void agg_destroy(struct agg *a)
{
    if (!a)
        return;
    for (size_t i = 0; i < a->nchunks; i++)
        free(a->chunks[i].p);
    free(a->chunks);
    free(a->ser.v);
    free(a->ser_tab);
    free(a->mins.v);
    free(a->min_tab);
    free(a->regs.v);
    free(a->views.v);
    free(a->deltas.v);
    free(a->dregs.v);
    free(a->ulist.v);
    free(a->order.v);
    free(a->offs.v);
    free(a);
}

void agg_reset(struct agg *a)
{
    memset(a->ser_tab, 0, a->ser_tab_cap * sizeof(*a->ser_tab));
    memset(a->min_tab, 0, a->min_tab_cap * sizeof(*a->min_tab));
    a->ser.n = a->mins.n = a->regs.n = 0;
    a->views.n = a->deltas.n = a->dregs.n = a->ulist.n = 0;
    a->cur = a->off = 0;
    a->nevents = 0;
}

/* ---------------------------------------------------------------- tables */

static uint64_t agg_min_hash(uint32_t series, int64_t minute)
{
    return hash_mix64(((uint64_t)series << 40) ^ (uint64_t)(minute / 60000));
}

/* Doubles a table of index+1 slots; `hash(i)` recomputes each entry's hash. */
static bool agg_rehash(uint32_t **tab, size_t *cap, size_t n,
                       uint64_t (*hash)(struct agg *, uint32_t), struct agg *a)
{
    size_t ncap = *cap * 2;
    uint32_t *t = calloc(ncap, sizeof(*t));
    if (!t)
        return false;
    for (uint32_t i = 0; i < n; i++) {
        size_t s = (size_t)hash(a, i) & (ncap - 1);
        while (t[s])
            s = (s + 1) & (ncap - 1);
        t[s] = i + 1;
    }
    free(*tab);
    *tab = t;
    *cap = ncap;
    return true;
}

static uint64_t agg_ser_hash_at(struct agg *a, uint32_t i)
{
    return hash_mix64(a->ser.v[i].sid);
}

static uint64_t agg_min_hash_at(struct agg *a, uint32_t i)
{
    return agg_min_hash(a->mins.v[i].series, a->mins.v[i].d.bucket);
}

static uint32_t agg_series_get(struct agg *a, uint64_t sid, struct jd_str type,
                               struct jd_str labels)
{
    size_t mask = a->ser_tab_cap - 1, s = (size_t)hash_mix64(sid) & mask;
    while (a->ser_tab[s]) {
        uint32_t i = a->ser_tab[s] - 1;
        if (a->ser.v[i].sid == sid)
            return i;
        s = (s + 1) & mask;
    }
    if (!AGG_RESERVE(a->ser, a->ser.n + 1))
        return UINT32_MAX;
    struct agg_ser *e = &a->ser.v[a->ser.n];
    e->sid = sid;
    e->type.p = agg_arena_copy(a, type);
    e->type.n = type.n;
    e->labels.p = agg_arena_copy(a, labels);
    e->labels.n = labels.n;
    if (!e->type.p || !e->labels.p)
        return UINT32_MAX;
    e->first_min = e->last_min = 0;
    e->nmin = 0;
    a->ser_tab[s] = (uint32_t)++a->ser.n;
    if (a->ser.n * 2 > a->ser_tab_cap &&
        !agg_rehash(&a->ser_tab, &a->ser_tab_cap, a->ser.n, agg_ser_hash_at, a))
        return UINT32_MAX;
    return (uint32_t)(a->ser.n - 1);
}

static uint32_t agg_minute_get(struct agg *a, uint32_t series, int64_t minute)
{
    struct agg_ser *ser = &a->ser.v[series];
    /* a busy series sees the same minute event after event */
    if (ser->last_min && a->mins.v[ser->last_min - 1].d.bucket == minute)
        return ser->last_min - 1;
    size_t mask = a->min_tab_cap - 1, s = (size_t)agg_min_hash(series, minute) & mask;
    while (a->min_tab[s]) {
        uint32_t i = a->min_tab[s] - 1;
        if (a->mins.v[i].series == series && a->mins.v[i].d.bucket == minute)
            return i;
        s = (s + 1) & mask;
    }
    if (!AGG_RESERVE(a->mins, a->mins.n + 1))
        return UINT32_MAX;
    uint32_t idx = (uint32_t)a->mins.n;
    struct agg_min *m = &a->mins.v[idx];
    memset(m, 0, sizeof(*m));
    m->series = series;
    m->d.bucket = minute;
    ser = &a->ser.v[series];
    /* append: arrival order is usually time order, so seal rarely needs to sort */
    m->next = 0;
    if (ser->last_min)
        a->mins.v[ser->last_min - 1].next = idx + 1;
    else
        ser->first_min = idx + 1;
    ser->last_min = idx + 1;
    ser->nmin++;
    a->min_tab[s] = idx + 1;
    a->mins.n++;
    if (a->mins.n * 2 > a->min_tab_cap &&
        !agg_rehash(&a->min_tab, &a->min_tab_cap, a->mins.n, agg_min_hash_at, a))
        return UINT32_MAX;
    return idx;
}

/*
 * Appends a sketch update to its minute. No de-duplication: a register
 * repeated in a record costs three bytes and merging takes the maximum, while
 * a lookup table here costs a cache miss per event.
 */
static bool agg_reg_add(struct agg *a, uint32_t min, struct hll_update u)
{
    if (!AGG_RESERVE(a->regs, a->regs.n + 1))
        return false;
    uint32_t idx = (uint32_t)a->regs.n++;
    struct agg_reg *r = &a->regs.v[idx];
    struct agg_min *m = &a->mins.v[min];
    r->min = min;
    r->u = u;
    r->next = m->regs_head;
    m->regs_head = idx + 1;
    m->nregs++;
    return true;
}

/* ----------------------------------------------------------------- merge */

void agg_delta_merge(struct agg_delta *d, const struct agg_delta *s)
{
    d->count += s->count;
    d->wsum += s->wsum;
    if (!s->vcount)
        return;
    if (!d->vcount) {
        d->min = s->min;
        d->max = s->max;
        d->last_ts = s->last_ts;
        d->last = s->last;
    } else {
        if (s->min < d->min)
            d->min = s->min;
        if (s->max > d->max)
            d->max = s->max;
        if (s->last_ts > d->last_ts || (s->last_ts == d->last_ts && s->last > d->last)) {
            d->last_ts = s->last_ts;
            d->last = s->last;
        }
    }
    d->vcount += s->vcount;
    d->sum += s->sum;
}

bool agg_delta_merge_checked(struct agg_delta *d, const struct agg_delta *s)
{
    int64_t c, v;
    jd_i128 sum, w;
    if (__builtin_add_overflow(d->count, s->count, &c) ||
        __builtin_add_overflow(d->vcount, s->vcount, &v) ||
        __builtin_add_overflow(d->sum, s->sum, &sum) ||
        __builtin_add_overflow(d->wsum, s->wsum, &w) || s->count < 0 || s->vcount < 0)
        return false;
    agg_delta_merge(d, s);
    return true;
}

/* Folds one event (or credit) into its series' minute bucket; UINT32_MAX when out of memory. */
static uint32_t agg_fold(struct agg *a, uint64_t sid, struct jd_str type, struct jd_str labels,
                         int64_t ts, bool has_value, int64_t value, int64_t weight)
{
    uint32_t s = agg_series_get(a, sid, type, labels);
    if (s == UINT32_MAX)
        return UINT32_MAX;
    uint32_t m = agg_minute_get(a, s, window_bucket_start(WINDOW_MINUTE, ts));
    if (m == UINT32_MAX)
        return UINT32_MAX;
    struct agg_delta one = { 0 };
    one.count = 1;
    one.wsum = weight;
    if (has_value) {
        one.vcount = 1;
        one.sum = value;
        one.min = one.max = one.last = value;
        one.last_ts = ts;
    }
    agg_delta_merge(&a->mins.v[m].d, &one);
    a->nevents++;
    return m;
}

bool agg_add(struct agg *a, uint64_t sid, struct jd_str type, struct jd_str labels, int64_t ts,
             bool has_value, int64_t value, struct jd_str user)
{
    uint32_t m = agg_fold(a, sid, type, labels, ts, has_value, value, 0);
    return m != UINT32_MAX && (!user.n || agg_reg_add(a, m, hll_of(user)));
}

bool agg_add_credit(struct agg *a, uint64_t sid, struct jd_str type, struct jd_str labels,
                    int64_t ts, int64_t value, int64_t weight)
{
    return agg_fold(a, sid, type, labels, ts, true, value, weight) != UINT32_MAX;
}

/* ------------------------------------------------------------------ seal */

static int agg_cmp_minute(const void *x, const void *y, void *ctx)
{
    const struct agg *a = ctx;
    int64_t p = a->mins.v[*(const uint32_t *)x].d.bucket,
            q = a->mins.v[*(const uint32_t *)y].d.bucket;
    return p < q ? -1 : p > q;
}

bool agg_seal(struct agg *a)
{
    size_t nser = a->ser.n;
    /* hours and days concatenate their minutes' registers: at most 3 copies of each */
    if (!AGG_RESERVE(a->views, nser) || !AGG_RESERVE(a->offs, nser * 3) ||
        !AGG_RESERVE(a->order, a->mins.n) || !AGG_RESERVE(a->ulist, a->regs.n * WINDOW_NRES) ||
        !AGG_RESERVE(a->deltas, a->mins.n * WINDOW_NRES) ||
        !AGG_RESERVE(a->dregs, a->mins.n * WINDOW_NRES))
        return false;
    a->views.n = nser;
    a->deltas.n = a->dregs.n = a->ulist.n = 0;

    for (size_t si = 0; si < nser; si++) {
        struct agg_ser *ser = &a->ser.v[si];
        uint32_t *ord = a->order.v;
        size_t k = 0;
        bool sorted = true;
        for (uint32_t m = ser->first_min; m; m = a->mins.v[m - 1].next) {
            if (k && a->mins.v[m - 1].d.bucket < a->mins.v[ord[k - 1]].d.bucket)
                sorted = false;
            ord[k++] = m - 1;
        }
        if (!sorted)
            qsort_r(ord, k, sizeof(*ord), agg_cmp_minute, a);

        for (int r = 0; r < WINDOW_NRES; r++) {
            a->offs.v[si * 3 + (size_t)r] = a->deltas.n;
            struct agg_delta *cur = NULL;
            struct agg_regs *cregs = NULL;
            for (size_t j = 0; j < k; j++) {
                const struct agg_min *mn = &a->mins.v[ord[j]];
                int64_t b = window_bucket_start((enum window_res)r, mn->d.bucket);
                if (!cur || cur->bucket != b) {
                    cur = &a->deltas.v[a->deltas.n];
                    cregs = &a->dregs.v[a->deltas.n];
                    a->deltas.n++;
                    memset(cur, 0, sizeof(*cur));
                    cur->bucket = b;
                    /* offset into ulist for now; turned into a pointer below */
                    cregs->u = (const struct hll_update *)(uintptr_t)a->ulist.n;
                    cregs->n = 0;
                }
                agg_delta_merge(cur, &mn->d);
                for (uint32_t g = mn->regs_head; g; g = a->regs.v[g - 1].next) {
                    a->ulist.v[a->ulist.n++] = a->regs.v[g - 1].u;
                    cregs->n++;
                }
            }
        }
    }
    /* arrays are final: turn offsets into pointers */
    for (size_t i = 0; i < a->deltas.n; i++)
        a->dregs.v[i].u = a->ulist.v + (uintptr_t)a->dregs.v[i].u;
    for (size_t si = 0; si < nser; si++) {
        struct agg_series *v = &a->views.v[si];
        const struct agg_ser *ser = &a->ser.v[si];
        v->sid = ser->sid;
        v->type = ser->type;
        v->labels = ser->labels;
        for (int r = 0; r < WINDOW_NRES; r++) {
            size_t start = a->offs.v[si * 3 + (size_t)r];
            size_t end = r < WINDOW_NRES - 1 ? a->offs.v[si * 3 + (size_t)r + 1]
                         : si + 1 < nser     ? a->offs.v[(si + 1) * 3]
                                             : a->deltas.n;
            v->deltas[r] = a->deltas.v + start;
            v->regs[r] = a->dregs.v + start;
            v->ndeltas[r] = end - start;
        }
    }
    return true;
}

size_t agg_nseries(const struct agg *a)
{
    return a->views.n;
}

const struct agg_series *agg_series_at(const struct agg *a, size_t i)
{
    return &a->views.v[i];
}

uint64_t agg_nevents(const struct agg *a)
{
    return a->nevents;
}
