/*
 * jcache.c — the table of known journeys (jcache.h).
 *
 * Owns the table and the batch's staged notes. What an entry means, and when
 * the cache must forget, is attr.c's and pipeline.c's business.
 */
#include "attribute/jcache.h"

#include "core/hash.h"
#include "core/jd.h"

#include <stdlib.h>
#include <string.h>

#define JCACHE_WAYS 4

struct jcache_slot {
    uint64_t fa, fb;
    int64_t last;
    uint32_t tag; /* partition + 1; 0: free */
    uint32_t nrec;
};

struct jcache {
    struct jcache_slot *slots;
    size_t mask; /* sets - 1 */
    bool used;   /* something was committed since the last clear (its pages are touched) */
    struct jcache_slot *staged;
    size_t nstaged, capstaged;
};

struct jcache *jcache_new(size_t entries)
{
    struct jcache *c = calloc(1, sizeof(*c));
    size_t sets = 1;
    while (sets * JCACHE_WAYS < entries)
        sets <<= 1;
    if (!c || !(c->slots = calloc(sets * JCACHE_WAYS, sizeof(*c->slots)))) {
        free(c);
        return NULL;
    }
    c->mask = sets - 1;
    return c;
}

void jcache_destroy(struct jcache *c)
{
    if (!c)
        return;
    free(c->slots);
    free(c->staged);
    free(c);
}

static struct jcache_slot *jcache_set(const struct jcache *c, uint32_t tag, uint64_t fa)
{
    size_t set = (size_t)hash_mix64(fa ^ ((uint64_t)tag << 40)) & c->mask;
    return &c->slots[set * JCACHE_WAYS];
}

bool jcache_get(const struct jcache *c, int32_t partition, uint64_t fa, uint64_t fb,
                struct jcache_entry *out)
{
    uint32_t tag = (uint32_t)partition + 1;
    const struct jcache_slot *s = jcache_set(c, tag, fa);
    for (int w = 0; w < JCACHE_WAYS; w++)
        if (s[w].tag == tag && s[w].fa == fa && s[w].fb == fb) {
            *out = (struct jcache_entry){ s[w].last, s[w].nrec };
            return true;
        }
    return false;
}

bool jcache_stage(struct jcache *c, int32_t partition, uint64_t fa, uint64_t fb,
                  struct jcache_entry e)
{
    if (!jd_reserve((void **)&c->staged, &c->capstaged, c->nstaged + 1, sizeof(*c->staged)))
        return false;
    c->staged[c->nstaged++] =
        (struct jcache_slot){ fa, fb, e.last, (uint32_t)partition + 1, e.nrec };
    return true;
}

void jcache_commit(struct jcache *c)
{
    for (size_t i = 0; i < c->nstaged; i++) {
        const struct jcache_slot *n = &c->staged[i];
        struct jcache_slot *s = jcache_set(c, n->tag, n->fa), *victim = &s[0];
        for (int w = 0; w < JCACHE_WAYS; w++) {
            if (s[w].tag == n->tag && s[w].fa == n->fa && s[w].fb == n->fb) {
                victim = &s[w];
                break;
            }
            /* a free way, else the one whose journey went quiet first */
            if (victim->tag && (!s[w].tag || s[w].last < victim->last))
                victim = &s[w];
        }
        *victim = *n;
    }
    c->used |= c->nstaged > 0;
    c->nstaged = 0;
}

void jcache_discard(struct jcache *c)
{
    c->nstaged = 0;
}

void jcache_forget(struct jcache *c, int32_t partition)
{
    size_t n = (c->mask + 1) * JCACHE_WAYS;
    c->nstaged = 0;
    if (!c->used)
        return;
    if (partition < 0) {
        memset(c->slots, 0, n * sizeof(*c->slots));
        c->used = false;
        return;
    }
    for (size_t i = 0; i < n; i++)
        if (c->slots[i].tag == (uint32_t)partition + 1)
            c->slots[i].tag = 0;
}
