/*
 * batch.c — one batch's bookkeeping (see batch.h): partition shares, seen-id
 * fingerprints by slice, counts by type, and the store request built from them.
 *
 * Owns the batch's memory, kept across batches. It does not own partition
 * state (claims, positions, stream time: pipeline.c) and decides nothing
 * about an event: the pipeline says what to record.
 */
#include "batch.h"

#include "aggregate/agg.h"
#include "core/tally.h"
#include "pipeline.h"
#include "store/store.h"

#include <stdlib.h>
#include <string.h>

bool batch_init(struct batch *b)
{
    b->agg = agg_new();
    return b->agg != NULL;
}

void batch_fini(struct batch *b)
{
    for (size_t i = 0; i < b->capbp; i++) {
        free(b->bp[i].fp);
        free(b->bp[i].segs);
    }
    free(b->bp);
    free(b->parts);
    free(b->types);
    free(b->spend);
    free(b->sparts);
    free(b->sseen);
    free(b->sstats);
    free(b->names);
    agg_destroy(b->agg);
    *b = (struct batch){ 0 };
}

void batch_reset(struct batch *b)
{
    for (size_t i = 0; i < b->nparts; i++)
        b->bp[b->parts[i]].in = false;
    b->nparts = 0;
    b->ntypes = 0;
    b->nspend = 0;
    memset(b->dlq, 0, sizeof(b->dlq));
    agg_reset(b->agg);
}

bool batch_grow(struct batch *b, size_t n)
{
    if (n <= b->capbp)
        return true;
    struct batch_part *bp = realloc(b->bp, n * sizeof(*bp));
    if (!bp)
        return false;
    memset(bp + b->capbp, 0, (n - b->capbp) * sizeof(*bp));
    b->bp = bp;
    int32_t *parts = realloc(b->parts, n * sizeof(*parts));
    if (!parts)
        return false;
    b->parts = parts;
    b->capbp = n;
    return true;
}

bool batch_has(const struct batch *b, int32_t partition)
{
    return b && partition >= 0 && (size_t)partition < b->capbp && b->bp[partition].in;
}

struct batch_part *batch_part(struct batch *b, int32_t partition, int64_t from)
{
    struct batch_part *bp = &b->bp[partition];
    if (!bp->in) {
        bp->in = true;
        bp->from = from;
        bp->fplen = 0;
        bp->nsegs = 0;
        bp->dup = bp->dlq = bp->too_old = bp->late = 0;
        bp->t0 = INT64_MIN;
        bp->at_end = false;
        b->parts[b->nparts++] = partition;
    }
    return bp;
}

bool batch_seen_append(struct batch_part *bp, int64_t slice, struct dedup_fp fp)
{
    if (bp->fplen + DEDUP_FP_SIZE > bp->fpcap) {
        size_t cap = bp->fpcap ? bp->fpcap * 2 : 4096;
        unsigned char *b = realloc(bp->fp, cap);
        if (!b)
            return false;
        bp->fp = b;
        bp->fpcap = cap;
    }
    if (!bp->nsegs || bp->segs[bp->nsegs - 1].slice != slice) {
        if (!jd_reserve((void **)&bp->segs, &bp->capsegs, bp->nsegs + 1, sizeof(*bp->segs)))
            return false;
        bp->segs[bp->nsegs++] = (struct batch_seg){ slice, bp->fplen, 0 };
    }
    dedup_fp_write(fp, bp->fp + bp->fplen);
    bp->fplen += DEDUP_FP_SIZE;
    bp->segs[bp->nsegs - 1].len += DEDUP_FP_SIZE;
    return true;
}

/* The entry for \p name in a batch's list (added at zero), NULL when out of memory. */
static struct batch_count *batch_count(struct batch_count **v, size_t *n, size_t *cap,
                                       struct jd_str name)
{
    for (size_t i = 0; i < *n; i++)
        if ((*v)[i].len == name.n && !memcmp((*v)[i].type, name.p, name.n))
            return &(*v)[i];
    if (name.n >= sizeof((*v)->type) || !jd_reserve((void **)v, cap, *n + 1, sizeof(**v)))
        return NULL;
    struct batch_count *t = &(*v)[(*n)++];
    memset(t, 0, sizeof(*t));
    memcpy(t->type, name.p, name.n);
    t->len = name.n;
    return t;
}

struct batch_count *batch_count_type(struct batch *b, struct jd_str type)
{
    return batch_count(&b->types, &b->ntypes, &b->captypes, type);
}

struct batch_count *batch_count_spend(struct batch *b, struct jd_str channel)
{
    return batch_count(&b->spend, &b->nspend, &b->capspend, channel);
}

bool batch_request(struct batch *b, const char *topic, const char *owner, int64_t slice_ms,
                   int64_t slices_kept, int64_t now_mono_ms, struct store_flush *f)
{
    size_t segs = 0, nseen = 0, nstats = 0, names_len = 0;
    uint64_t dup = 0, dlq = 0, too_old = 0, late = 0;

    for (size_t i = 0; i < b->nparts; i++)
        segs += b->bp[b->parts[i]].nsegs;
    for (size_t i = 0; i < b->ntypes; i++)
        names_len += 3 + b->types[i].len;
    if (!agg_seal(b->agg) ||
        !jd_reserve((void **)&b->sparts, &b->capsparts, b->nparts, sizeof(*b->sparts)) ||
        !jd_reserve((void **)&b->sseen, &b->capsseen, segs, sizeof(*b->sseen)) ||
        !jd_reserve((void **)&b->sstats, &b->capsstats, b->ntypes + 4, sizeof(*b->sstats)) ||
        !jd_reserve((void **)&b->names, &b->capnames, names_len + 1, 1))
        return false;
    for (size_t i = 0; i < b->nparts; i++) {
        int32_t part = b->parts[i];
        const struct batch_part *bp = &b->bp[part];
        b->sparts[i] = (struct store_part){
            part,   bp->epoch, bp->from,   bp->to,
            bp->st, bp->t0,    bp->at_end, bp->at_end ? JD_MAX(now_mono_ms - bp->at_end_ms, 0) : 0
        };
        for (size_t k = 0; k < bp->nsegs; k++)
            b->sseen[nseen++] = (struct store_seen){ part, bp->segs[k].slice,
                                                     (bp->segs[k].slice + slices_kept) * slice_ms,
                                                     bp->fp + bp->segs[k].off, bp->segs[k].len };
        dup += bp->dup;
        dlq += bp->dlq;
        too_old += bp->too_old;
        late += bp->late;
    }
    /* counters keyed "ok:TYPE" plus the outcome totals, exactly once with the batch */
    size_t w = 0;
    for (size_t i = 0; i < b->ntypes; i++) {
        if (!b->types[i].n)
            continue; /* only duplicates or too old */
        memcpy(b->names + w, "ok:", 3);
        memcpy(b->names + w + 3, b->types[i].type, b->types[i].len);
        b->sstats[nstats++] =
            (struct store_stat){ b->names + w, 3 + b->types[i].len, b->types[i].n };
        w += 3 + b->types[i].len;
    }
    const struct {
        const char *name;
        uint64_t n;
    } outcomes[] = { { "dup", dup }, { "dlq", dlq }, { "too_old", too_old }, { "late", late } };
    for (size_t i = 0; i < JD_ARRAY_SIZE(outcomes); i++)
        if (outcomes[i].n)
            b->sstats[nstats++] = (struct store_stat){ outcomes[i].name, strlen(outcomes[i].name),
                                                       (int64_t)outcomes[i].n };
    *f = (struct store_flush){ .topic = topic,
                               .owner = owner,
                               .parts = b->sparts,
                               .nparts = b->nparts,
                               .seen = b->sseen,
                               .nseen = nseen,
                               .agg = b->agg,
                               .stats = b->sstats,
                               .nstats = nstats };
    return true;
}

uint64_t batch_tally(const struct batch *b, struct tally *events, struct tally *spend)
{
    uint64_t ok = 0;
    for (size_t i = 0; i < b->ntypes; i++) {
        const struct batch_count *t = &b->types[i];
        ok += (uint64_t)t->n;
        tally_add(events, t->type, t->len, PIPELINE_OUTCOME_OK, t->n - t->late);
        tally_add(events, t->type, t->len, PIPELINE_OUTCOME_LATE, t->late);
        tally_add(events, t->type, t->len, PIPELINE_OUTCOME_DUP, t->dup);
        tally_add(events, t->type, t->len, PIPELINE_OUTCOME_TOO_OLD, t->too_old);
    }
    for (size_t i = 0; i < b->nspend; i++)
        tally_add(spend, b->spend[i].type, b->spend[i].len, 0, b->spend[i].n);
    return ok;
}
