/*
 * dedup.c — open-addressing set of 128-bit event-id fingerprints with
 * per-entry stream-time slices.
 *
 * Owns membership and expiry of remembered ids. Expired entries are reused
 * as tombstones on insert and dropped when the table is rebuilt, so expiry
 * never needs a scan on the hot path. Persisting fingerprints is the flush
 * script's job; loading them back is dedup_load()'s.
 */
#include "aggregate/dedup.h"

#include "core/hash.h"

#include <stdlib.h>
#include <string.h>

/*
 * 16 bytes a slot: the fingerprint's first 64 bits only. A table holds at
 * most limits.dedup_ids ids, so a new id matches a remembered one by chance
 * with probability below 1e7 / 2^64 (5e-13): far below any other loss, and
 * a third of the memory (a million users within the window is 16 MB, not
 * 24). Redis keeps all 128 bits, so a later version can compare them again.
 */
struct dedup_entry {
    uint64_t a; /* 0: empty (fingerprints always have a != 0) */
    int64_t slice;
};

struct dedup {
    struct dedup_entry *tab;
    size_t cap;     /* power of two */
    size_t used;    /* non-empty slots, live or expired */
    size_t max_cap; /* cap never grows beyond this */
    size_t max_ids; /* live entries never exceed this */
    int64_t floor;  /* newest min_slice seen: entries below are dead */
    uint64_t evicted;
};

static size_t dedup_pow2(size_t n)
{
    size_t c = 1024;
    while (c < n)
        c <<= 1;
    return c;
}

struct dedup *dedup_new(size_t max_ids)
{
    struct dedup *d = calloc(1, sizeof(*d));
    if (!d)
        return NULL;
    d->cap = 1024;
    d->max_ids = max_ids ? max_ids : 1;
    d->max_cap = dedup_pow2(d->max_ids + d->max_ids / 3 + 1);
    d->floor = INT64_MIN;
    d->tab = calloc(d->cap, sizeof(*d->tab));
    if (!d->tab) {
        free(d);
        return NULL;
    }
    return d;
}

void dedup_destroy(struct dedup *d)
{
    if (!d)
        return;
    free(d->tab);
    free(d);
}

void dedup_clear(struct dedup *d)
{
    memset(d->tab, 0, d->cap * sizeof(*d->tab));
    d->used = 0;
    d->floor = INT64_MIN;
}

struct dedup_fp dedup_fingerprint(struct jd_str id)
{
    struct dedup_fp fp;
    hash128(id.p, id.n, &fp.a, &fp.b);
    fp.a |= 1; /* 0 marks an empty slot */
    return fp;
}

void dedup_fp_write(struct dedup_fp fp, unsigned char *out)
{
    for (int i = 0; i < 8; i++) {
        out[i] = (unsigned char)(fp.a >> (8 * i));
        out[8 + i] = (unsigned char)(fp.b >> (8 * i));
    }
}

static void dedup_place(struct dedup_entry *tab, size_t cap, const struct dedup_entry *e)
{
    size_t i = (size_t)e->a & (cap - 1);
    while (tab[i].a)
        i = (i + 1) & (cap - 1);
    tab[i] = *e;
}

static size_t dedup_live(const struct dedup *d, int64_t floor)
{
    size_t n = 0;
    for (size_t i = 0; i < d->cap; i++)
        n += d->tab[i].a && d->tab[i].slice >= floor;
    return n;
}

/* Rebuilds without dead entries, growing (or, at the cap, forgetting the oldest slices). */
static void dedup_rebuild(struct dedup *d)
{
    int64_t floor = d->floor;
    size_t live = dedup_live(d, floor);
    size_t cap = d->cap;

    while (live * 2 > cap && cap < d->max_cap)
        cap <<= 1;
    /* over the table's load limit or over max_ids: forget whole slices, oldest first */
    size_t before = live;
    while (live * 4 > cap * 3 || live >= d->max_ids) {
        /* full at max_cap: forget the oldest remaining slice */
        int64_t oldest = INT64_MAX;
        for (size_t i = 0; i < d->cap; i++)
            if (d->tab[i].a && d->tab[i].slice >= floor && d->tab[i].slice < oldest)
                oldest = d->tab[i].slice;
        live = dedup_live(d, oldest + 1);
        floor = oldest + 1;
    }
    struct dedup_entry *tab = calloc(cap, sizeof(*tab));
    if (!tab)
        return; /* keep working in the old table; the next insert retries */
    for (size_t i = 0; i < d->cap; i++)
        if (d->tab[i].a && d->tab[i].slice >= floor)
            dedup_place(tab, cap, &d->tab[i]);
    free(d->tab);
    d->tab = tab;
    d->cap = cap;
    d->used = live;
    d->evicted += before - live;
}

/*
 * Finds fp's slot, or the slot where it should go (the first expired entry
 * on its probe path, else the empty slot ending it). *found tells which.
 */
static size_t dedup_probe(struct dedup *d, struct dedup_fp fp, int64_t min_slice, bool *found)
{
    size_t mask = d->cap - 1, i = (size_t)fp.a & mask, reuse = SIZE_MAX;
    for (;;) {
        struct dedup_entry *e = &d->tab[i];
        if (!e->a)
            break;
        if (e->a == fp.a) {
            *found = true;
            return i;
        }
        if (reuse == SIZE_MAX && e->slice < min_slice)
            reuse = i;
        i = (i + 1) & mask;
    }
    *found = false;
    return reuse != SIZE_MAX ? reuse : i;
}

/*
 * True if an insert into an empty slot would leave none: only possible after
 * a rebuild failed for want of memory, and then the probe loop must still end.
 */
static bool dedup_full(const struct dedup *d)
{
    return d->used + 1 >= d->cap;
}

enum dedup_verdict dedup_check_insert(struct dedup *d, struct dedup_fp fp, int64_t min_slice,
                                      int64_t slice)
{
    bool found;
    if (min_slice > d->floor)
        d->floor = min_slice;
    if ((d->used + 1) * 4 > d->cap * 3 || d->used >= d->max_ids)
        dedup_rebuild(d);
    size_t i = dedup_probe(d, fp, min_slice, &found);
    if (found) {
        if (d->tab[i].slice >= min_slice)
            return DEDUP_SEEN;
        d->tab[i].slice = slice; /* seen long ago: it counts as new */
        return DEDUP_NEW;
    }
    if (!d->tab[i].a) {
        if (dedup_full(d))
            return DEDUP_FULL;
        d->used++;
    }
    d->tab[i] = (struct dedup_entry){ fp.a, slice };
    return DEDUP_NEW;
}

bool dedup_load(struct dedup *d, const void *blob, size_t len, int64_t slice)
{
    const unsigned char *p = blob;
    for (size_t off = 0; off + DEDUP_FP_SIZE <= len; off += DEDUP_FP_SIZE) {
        struct dedup_fp fp = { 0, 0 };
        bool found;
        for (int i = 0; i < 8; i++) {
            fp.a |= (uint64_t)p[off + i] << (8 * i);
            fp.b |= (uint64_t)p[off + 8 + i] << (8 * i);
        }
        if (!fp.a)
            continue;
        if ((d->used + 1) * 4 > d->cap * 3 || d->used >= d->max_ids)
            dedup_rebuild(d);
        size_t i = dedup_probe(d, fp, d->floor, &found);
        if (found) {
            if (slice > d->tab[i].slice)
                d->tab[i].slice = slice; /* recorded again later: keep the newest */
            continue;
        }
        if (!d->tab[i].a) {
            if (dedup_full(d))
                return false;
            d->used++;
        }
        d->tab[i] = (struct dedup_entry){ fp.a, slice };
    }
    return true;
}

size_t dedup_count(const struct dedup *d)
{
    return dedup_live(d, d->floor);
}

uint64_t dedup_evicted(const struct dedup *d)
{
    return d->evicted;
}
