/*
 * card.c — the cardinality guard's tables (card.h).
 *
 * Owns one open-addressing table of types, and per type one of series ids.
 * It does not know where ids come from (series.h) or where the index lives
 * (the pipeline loads it through store.h).
 */
#include "aggregate/card.h"

#include "core/hash.h"

#include <stdlib.h>
#include <string.h>

struct card_type {
    char *name;
    size_t len;
    uint64_t h;
    uint64_t *slots; /* series ids; 0 marks a free slot, id 0 itself is has_zero */
    size_t cap, n;
    bool has_zero;
};

struct card {
    size_t max_types, max_series;
    struct card_type *types; /* in order of arrival: card_type_at() */
    size_t ntypes, captypes;
    uint32_t *index; /* 1 + position in types; 0 free; power-of-two size */
    size_t capindex;
    size_t last; /* 1 + the type asked for last: consecutive events mostly share one */
};

struct card *card_new(size_t max_types, size_t max_series)
{
    struct card *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->max_types = max_types;
    c->max_series = max_series;
    return c;
}

void card_destroy(struct card *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->ntypes; i++) {
        free(c->types[i].name);
        free(c->types[i].slots);
    }
    free(c->types);
    free(c->index);
    free(c);
}

static uint64_t card_hash(struct jd_str type)
{
    return hash64(type.p, type.n, 0x63617264);
}

/* The slot of \p type in the index: where it is, or the free one it would take. */
static size_t card_slot(const struct card *c, struct jd_str type, uint64_t h)
{
    size_t mask = c->capindex - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        uint32_t at = c->index[i];
        if (!at)
            return i;
        const struct card_type *t = &c->types[at - 1];
        if (t->h == h && t->len == type.n && !memcmp(t->name, type.p, type.n))
            return i;
    }
}

static bool card_rehash_types(struct card *c, size_t cap)
{
    uint32_t *idx = calloc(cap, sizeof(*idx));
    if (!idx)
        return false;
    free(c->index);
    c->index = idx;
    c->capindex = cap;
    for (size_t k = 0; k < c->ntypes; k++) {
        size_t mask = cap - 1, i = c->types[k].h & mask;
        while (idx[i])
            i = (i + 1) & mask;
        idx[i] = (uint32_t)(k + 1);
    }
    return true;
}

/* \p type's entry; a new one when \p add (NULL when out of memory or not found). */
static struct card_type *card_find(struct card *c, struct jd_str type, bool add)
{
    if (c->last) {
        struct card_type *t = &c->types[c->last - 1];
        if (t->len == type.n && !memcmp(t->name, type.p, type.n))
            return t;
    }
    uint64_t h = card_hash(type);
    if (c->capindex) {
        uint32_t at = c->index[card_slot(c, type, h)];
        if (at) {
            c->last = at;
            return &c->types[at - 1];
        }
    }
    if (!add)
        return NULL;
    if ((c->ntypes + 1) * 2 > c->capindex &&
        !card_rehash_types(c, c->capindex ? c->capindex * 2 : 16))
        return NULL;
    if (!jd_reserve((void **)&c->types, &c->captypes, c->ntypes + 1, sizeof(*c->types)))
        return NULL;
    char *name = malloc(type.n + 1);
    if (!name)
        return NULL;
    if (type.n)
        memcpy(name, type.p, type.n);
    name[type.n] = '\0';
    c->types[c->ntypes] = (struct card_type){ .name = name, .len = type.n, .h = h };
    c->index[card_slot(c, type, h)] = (uint32_t)(c->ntypes + 1);
    c->last = ++c->ntypes;
    return &c->types[c->ntypes - 1];
}

static bool card_has(const struct card_type *t, uint64_t sid)
{
    if (!sid)
        return t->has_zero;
    if (!t->cap)
        return false;
    size_t mask = t->cap - 1;
    for (size_t i = hash_mix64(sid) & mask; t->slots[i]; i = (i + 1) & mask)
        if (t->slots[i] == sid)
            return true;
    return false;
}

static void card_put(uint64_t *slots, size_t cap, uint64_t sid)
{
    size_t mask = cap - 1, i = hash_mix64(sid) & mask;
    while (slots[i] && slots[i] != sid)
        i = (i + 1) & mask;
    slots[i] = sid;
}

/* Adds \p sid, known to be absent. */
static bool card_insert(struct card_type *t, uint64_t sid)
{
    if (!sid) {
        t->has_zero = true;
        t->n++;
        return true;
    }
    if ((t->n + 1) * 4 > t->cap * 3) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        uint64_t *s = calloc(cap, sizeof(*s));
        if (!s)
            return false;
        for (size_t i = 0; i < t->cap; i++)
            if (t->slots[i])
                card_put(s, cap, t->slots[i]);
        free(t->slots);
        t->slots = s;
        t->cap = cap;
    }
    card_put(t->slots, t->cap, sid);
    t->n++;
    return true;
}

enum card_verdict card_admit(struct card *c, struct jd_str type, uint64_t sid)
{
    struct card_type *t = card_find(c, type, false);
    if (!t) {
        if (c->ntypes >= c->max_types)
            return CARD_TYPE_LIMIT;
        if (!(t = card_find(c, type, true)))
            return CARD_NOMEM;
    }
    if (card_has(t, sid))
        return CARD_OK;
    if (t->n >= c->max_series)
        return CARD_SERIES_LIMIT;
    return card_insert(t, sid) ? CARD_OK : CARD_NOMEM;
}

bool card_load(struct card *c, struct jd_str type, const uint64_t *sids, size_t n)
{
    struct card_type *t = card_find(c, type, true);
    if (!t)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!card_has(t, sids[i]) && !card_insert(t, sids[i]))
            return false;
    return true;
}

void card_forget(struct card *c, struct jd_str type)
{
    struct card_type *t = card_find(c, type, false);
    if (!t)
        return;
    if (t->cap)
        memset(t->slots, 0, t->cap * sizeof(*t->slots));
    t->n = 0;
    t->has_zero = false;
}

size_t card_ntypes(const struct card *c)
{
    return c->ntypes;
}

struct jd_str card_type_at(const struct card *c, size_t i, size_t *nseries)
{
    *nseries = c->types[i].n;
    return (struct jd_str){ c->types[i].name, c->types[i].len };
}

size_t card_nseries(const struct card *c, struct jd_str type)
{
    if (!c->capindex)
        return 0;
    uint32_t at = c->index[card_slot(c, type, card_hash(type))];
    return at ? c->types[at - 1].n : 0;
}

size_t card_max_types(const struct card *c)
{
    return c->max_types;
}

size_t card_max_series(const struct card *c)
{
    return c->max_series;
}
