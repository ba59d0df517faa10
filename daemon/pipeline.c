/*
 * pipeline.c — per-partition state and the batch: decode, de-duplicate,
 * aggregate, commit.
 *
 * Owns the exactly-once bookkeeping on the daemon's side: each partition's
 * claim epoch, the offset the next message must not precede, its stream
 * time (max event time applied, in offset order) and the seen-id set. Every
 * decision that changes a total depends only on the partition's own offset
 * order and on what Redis holds at claim time, which is why a replay after a
 * crash decides exactly as the first run did. It does not touch Kafka.
 */
#include "pipeline.h"

#include "aggregate/agg.h"
#include "aggregate/dedup.h"
#include "aggregate/series.h"
#include "core/jd.h"
#include "core/ts.h"

#include <stdlib.h>
#include <string.h>

/* Seen ids are remembered per slice of stream time; a window spans this many slices. */
#define PIPELINE_DEDUP_SLICES 8

struct pipeline_seg {
    int64_t slice;
    size_t off, len;
};

struct pipeline_part {
    bool tracked;
    enum pipeline_part_state state;
    int64_t epoch;
    int64_t pos;  /* next offset expected; -1: nothing stored, take the first we see */
    int64_t from; /* pos when the batch began */
    int64_t st;   /* stream time applied in Redis (INT64_MIN: none) */
    int64_t bst;  /* stream time including the current batch */
    bool in_batch;
    struct dedup *seen;
    /* this batch's fingerprints, by slice */
    unsigned char *fp;
    size_t fplen, fpcap;
    struct pipeline_seg *segs;
    size_t nsegs, capsegs;
    uint64_t b_dup, b_dlq, b_too_old, b_late;
};

struct pipeline_typecount {
    char type[65];
    size_t len;
    int64_t n;
};

struct pipeline {
    const struct config *cfg;
    struct store *store;
    char *owner;
    struct event_decoder *dec;
    struct agg *agg;
    struct event ev;
    char labels[SERIES_LABELS_MAX];
    struct pipeline_part *parts; /* indexed by partition id */
    size_t nparts;
    int32_t *batch; /* partitions touched by the batch */
    size_t nbatch;
    struct pipeline_typecount *types;
    size_t ntypes, captypes;
    int64_t slice_ms;
    struct pipeline_counters c;
    /* commit scratch, kept across batches */
    struct store_part *sparts;
    struct store_seen *sseen;
    struct store_stat *sstats;
    char *names; /* "ok:TYPE" counter names */
    size_t capsparts, capsseen, capsstats, capnames;
    struct store_refusal refused[64];
};

static int64_t pipeline_slice(const struct pipeline *p, int64_t st)
{
    return ts_floor_div(st, p->slice_ms);
}

struct pipeline *pipeline_new(const struct config *cfg, struct store *store, const char *owner,
                              char *errstr, size_t errstr_size)
{
    struct event_decoder_opts opts;
    struct pipeline *p = calloc(1, sizeof(*p));
    if (!p)
        goto nomem;
    p->cfg = cfg;
    p->store = store;
    p->owner = strdup(owner);
    event_decoder_opts_from_config(&opts, cfg);
    p->dec = event_decoder_new(&opts, errstr, errstr_size);
    p->agg = agg_new();
    if (!p->owner || !p->dec || !p->agg)
        goto nomem;
    p->slice_ms = cfg->events.dedup_window_ms / PIPELINE_DEDUP_SLICES;
    if (p->slice_ms < 1000)
        p->slice_ms = 1000;
    return p;
nomem:
    pipeline_destroy(p);
    jd_errf(JD_ERR_NOMEM, errstr, errstr_size, "out of memory building the pipeline");
    return NULL;
}

void pipeline_destroy(struct pipeline *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->nparts; i++) {
        dedup_destroy(p->parts[i].seen);
        free(p->parts[i].fp);
        free(p->parts[i].segs);
    }
    free(p->parts);
    free(p->batch);
    free(p->types);
    free(p->sparts);
    free(p->sseen);
    free(p->sstats);
    free(p->names);
    event_decoder_destroy(p->dec);
    agg_destroy(p->agg);
    free(p->owner);
    free(p);
}

static struct pipeline_part *pipeline_part(const struct pipeline *p, int32_t partition)
{
    if (partition < 0 || (size_t)partition >= p->nparts || !p->parts[partition].tracked)
        return NULL;
    return &p->parts[partition];
}

void pipeline_assign(struct pipeline *p, int32_t partition)
{
    if (partition < 0)
        return;
    if ((size_t)partition >= p->nparts) {
        size_t n = (size_t)partition + 1;
        struct pipeline_part *np = realloc(p->parts, n * sizeof(*np));
        int32_t *nb = realloc(p->batch, n * sizeof(*nb));
        if (!np || !nb) {
            /* keep what we have; the partition stays untracked and is skipped */
            if (np)
                p->parts = np;
            if (nb)
                p->batch = nb;
            return;
        }
        memset(np + p->nparts, 0, (n - p->nparts) * sizeof(*np));
        p->parts = np;
        p->batch = nb;
        p->nparts = n;
    }
    struct pipeline_part *pp = &p->parts[partition];
    pp->tracked = true;
    pp->state = PIPELINE_UNCLAIMED;
    pp->in_batch = false;
}

void pipeline_revoke(struct pipeline *p, int32_t partition)
{
    struct pipeline_part *pp = pipeline_part(p, partition);
    if (!pp)
        return;
    pp->tracked = false;
    pp->state = PIPELINE_UNCLAIMED;
    if (pp->in_batch) {
        /* drop it from the batch: its work will be redone by the next owner */
        for (size_t i = 0; i < p->nbatch; i++)
            if (p->batch[i] == partition) {
                p->batch[i] = p->batch[--p->nbatch];
                break;
            }
        pp->in_batch = false;
    }
    if (pp->seen)
        dedup_clear(pp->seen);
}

enum pipeline_part_state pipeline_part_state(const struct pipeline *p, int32_t partition)
{
    const struct pipeline_part *pp = pipeline_part(p, partition);
    return pp ? pp->state : PIPELINE_UNCLAIMED;
}

bool pipeline_all_active(const struct pipeline *p)
{
    size_t n = 0;
    for (size_t i = 0; i < p->nparts; i++) {
        if (!p->parts[i].tracked)
            continue;
        if (p->parts[i].state != PIPELINE_ACTIVE)
            return false;
        n++;
    }
    return n > 0;
}

size_t pipeline_partitions(const struct pipeline *p, int32_t *out, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < p->nparts; i++)
        if (p->parts[i].tracked) {
            if (n < cap)
                out[n] = (int32_t)i;
            n++;
        }
    return n;
}

static void pipeline_seen_load(void *opaque, int64_t slice, const void *blob, size_t len)
{
    dedup_load(opaque, blob, len, slice);
}

enum jd_err pipeline_claim(struct pipeline *p, int32_t partition, int64_t *offset, char *errstr,
                           size_t errstr_size)
{
    struct pipeline_part *pp = pipeline_part(p, partition);
    struct store_claim c;
    enum jd_err err;

    if (!pp)
        return jd_errf(JD_ERR_INVALID, errstr, errstr_size, "partition %d is not assigned",
                       (int)partition);
    if (!pp->seen && !(pp->seen = dedup_new((size_t)p->cfg->limits.dedup_ids)))
        return jd_errf(JD_ERR_NOMEM, errstr, errstr_size, "out of memory");
    if ((err = store_claim(p->store, p->cfg->kafka.topics.events, partition, p->owner, &c, errstr,
                           errstr_size)))
        return err;
    dedup_clear(pp->seen);
    pp->epoch = c.epoch;
    pp->pos = c.has_next ? c.next : -1;
    pp->st = c.has_st ? c.st : INT64_MIN;
    if (p->cfg->events.dedup_window_ms > 0 && pp->st != INT64_MIN) {
        int64_t cur = pipeline_slice(p, pp->st);
        if ((err = store_load_seen(p->store, p->cfg->kafka.topics.events, partition,
                                   cur - PIPELINE_DEDUP_SLICES, cur, pipeline_seen_load, pp->seen,
                                   errstr, errstr_size)))
            return err;
    }
    pp->in_batch = false;
    pp->state = PIPELINE_ACTIVE;
    *offset = pp->pos;
    return JD_OK;
}

void pipeline_begin(struct pipeline *p)
{
    agg_reset(p->agg);
    p->nbatch = 0;
    p->ntypes = 0;
}

bool pipeline_pending(const struct pipeline *p)
{
    return p->nbatch > 0;
}

static bool pipeline_seen_append(struct pipeline_part *pp, int64_t slice, struct dedup_fp fp)
{
    if (pp->fplen + DEDUP_FP_SIZE > pp->fpcap) {
        size_t cap = pp->fpcap ? pp->fpcap * 2 : 4096;
        unsigned char *b = realloc(pp->fp, cap);
        if (!b)
            return false;
        pp->fp = b;
        pp->fpcap = cap;
    }
    if (!pp->nsegs || pp->segs[pp->nsegs - 1].slice != slice) {
        if (pp->nsegs == pp->capsegs) {
            size_t cap = pp->capsegs ? pp->capsegs * 2 : 8;
            struct pipeline_seg *s = realloc(pp->segs, cap * sizeof(*s));
            if (!s)
                return false;
            pp->segs = s;
            pp->capsegs = cap;
        }
        pp->segs[pp->nsegs++] = (struct pipeline_seg){ slice, pp->fplen, 0 };
    }
    dedup_fp_write(fp, pp->fp + pp->fplen);
    pp->fplen += DEDUP_FP_SIZE;
    pp->segs[pp->nsegs - 1].len += DEDUP_FP_SIZE;
    return true;
}

static bool pipeline_count_type(struct pipeline *p, struct jd_str type)
{
    for (size_t i = 0; i < p->ntypes; i++)
        if (p->types[i].len == type.n && !memcmp(p->types[i].type, type.p, type.n)) {
            p->types[i].n++;
            return true;
        }
    if (p->ntypes == p->captypes) {
        size_t cap = p->captypes ? p->captypes * 2 : 16;
        struct pipeline_typecount *t = realloc(p->types, cap * sizeof(*t));
        if (!t)
            return false;
        p->types = t;
        p->captypes = cap;
    }
    struct pipeline_typecount *t = &p->types[p->ntypes++];
    memcpy(t->type, type.p, type.n);
    t->type[type.n] = '\0';
    t->len = type.n;
    t->n = 1;
    return true;
}

enum pipeline_verdict pipeline_add(struct pipeline *p, const struct pipeline_msg *m,
                                   int64_t now_ms, enum jd_err *reason, char *detail,
                                   size_t detail_size)
{
    struct pipeline_part *pp = pipeline_part(p, m->partition);
    struct event *ev = &p->ev;

    if (!pp || pp->state != PIPELINE_ACTIVE || (pp->pos >= 0 && m->offset < pp->pos)) {
        p->c.skipped++;
        return PIPELINE_SKIP;
    }
    if (!pp->in_batch) {
        pp->in_batch = true;
        pp->from = pp->pos >= 0 ? pp->pos : m->offset;
        pp->bst = pp->st;
        pp->fplen = 0;
        pp->nsegs = 0;
        pp->b_dup = pp->b_dlq = pp->b_too_old = pp->b_late = 0;
        p->batch[p->nbatch++] = m->partition;
    }
    pp->pos = m->offset + 1;

    enum jd_err err = event_decode(p->dec, m->value, m->len, m->headers, m->nheaders, now_ms, ev,
                                   detail, detail_size);
    if (err) {
        *reason = err;
        pp->b_dlq++;
        return PIPELINE_DLQ;
    }
    int64_t bst = pp->bst;
    if (bst != INT64_MIN && ev->ts_ms < bst - p->cfg->windows.retention_day_ms) {
        pp->b_too_old++;
        return PIPELINE_TOO_OLD;
    }
    if (bst != INT64_MIN && ev->ts_ms < bst - p->cfg->rules.lateness_ms)
        pp->b_late++;
    int64_t nst = bst == INT64_MIN || ev->ts_ms > bst ? ev->ts_ms : bst;
    if (p->cfg->events.dedup_window_ms > 0) {
        struct dedup_fp fp = dedup_fingerprint(ev->event_id);
        int64_t min_slice =
            bst == INT64_MIN ? INT64_MIN : pipeline_slice(p, bst) - PIPELINE_DEDUP_SLICES;
        int64_t slice = pipeline_slice(p, nst);
        if (dedup_check_insert(pp->seen, fp, min_slice, slice)) {
            pp->b_dup++;
            return PIPELINE_DUP;
        }
        if (!pipeline_seen_append(pp, slice, fp))
            goto nomem;
    }
    pp->bst = nst;
    size_t ln = series_labels_encode(ev, p->labels);
    uint64_t sid = series_id(ev->type, p->labels, ln);
    if (!agg_add(p->agg, sid, ev->type, (struct jd_str){ p->labels, ln }, ev->ts_ms,
                 ev->has_value, ev->value, ev->user_id) ||
        !pipeline_count_type(p, ev->type))
        goto nomem;
    return PIPELINE_OK;
nomem:
    /* cannot keep a consistent batch: drop it, the caller re-claims and re-reads */
    *reason = JD_ERR_NOMEM;
    pipeline_abort(p);
    return PIPELINE_SKIP;
}

static void pipeline_fail_batch(struct pipeline *p, const struct store_refusal *refused,
                                size_t nrefused)
{
    for (size_t i = 0; i < p->nbatch; i++) {
        struct pipeline_part *pp = &p->parts[p->batch[i]];
        pp->in_batch = false;
        pp->state = PIPELINE_UNCLAIMED;
        for (size_t k = 0; k < nrefused; k++)
            if (refused[k].part == i && refused[k].why == JD_ERR_FENCED)
                pp->state = PIPELINE_FENCED;
        if (pp->seen)
            dedup_clear(pp->seen); /* it holds this batch's ids: reload on claim */
    }
    p->nbatch = 0;
    agg_reset(p->agg);
}

void pipeline_abort(struct pipeline *p)
{
    pipeline_fail_batch(p, NULL, 0);
}

void pipeline_unclaim_all(struct pipeline *p)
{
    pipeline_fail_batch(p, NULL, 0);
    for (size_t i = 0; i < p->nparts; i++)
        if (p->parts[i].tracked && p->parts[i].state == PIPELINE_ACTIVE)
            p->parts[i].state = PIPELINE_UNCLAIMED;
}

static bool pipeline_reserve(void **v, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return true;
    size_t c = *cap ? *cap : 16;
    while (c < need)
        c *= 2;
    void *n = realloc(*v, c * elem);
    if (!n)
        return false;
    *v = n;
    *cap = c;
    return true;
}

enum jd_err pipeline_commit(struct pipeline *p, char *errstr, size_t errstr_size)
{
    size_t nseen = 0, nstats = 0, nrefused = 0;
    uint64_t dup = 0, dlq = 0, too_old = 0, late = 0;
    enum jd_err err;

    if (!p->nbatch)
        return JD_OK;
    size_t segs = 0;
    for (size_t i = 0; i < p->nbatch; i++)
        segs += p->parts[p->batch[i]].nsegs;
    if (!agg_seal(p->agg) ||
        !pipeline_reserve((void **)&p->sparts, &p->capsparts, p->nbatch, sizeof(*p->sparts)) ||
        !pipeline_reserve((void **)&p->sseen, &p->capsseen, segs, sizeof(*p->sseen)) ||
        !pipeline_reserve((void **)&p->sstats, &p->capsstats, p->ntypes + 4, sizeof(*p->sstats))) {
        pipeline_abort(p);
        return jd_errf(JD_ERR_NOMEM, errstr, errstr_size, "out of memory committing the batch");
    }
    int64_t slices_kept = PIPELINE_DEDUP_SLICES + 2;
    for (size_t i = 0; i < p->nbatch; i++) {
        struct pipeline_part *pp = &p->parts[p->batch[i]];
        p->sparts[i] = (struct store_part){ p->batch[i], pp->epoch, pp->from, pp->pos,
                                            pp->bst == INT64_MIN ? 0 : pp->bst };
        for (size_t k = 0; k < pp->nsegs; k++)
            p->sseen[nseen++] = (struct store_seen){
                p->batch[i], pp->segs[k].slice, (pp->segs[k].slice + slices_kept) * p->slice_ms,
                pp->fp + pp->segs[k].off, pp->segs[k].len
            };
        dup += pp->b_dup;
        dlq += pp->b_dlq;
        too_old += pp->b_too_old;
        late += pp->b_late;
    }
    /* counters keyed "ok:TYPE" plus the outcome totals, exactly once with the batch */
    size_t names_len = 0;
    for (size_t i = 0; i < p->ntypes; i++)
        names_len += 3 + p->types[i].len;
    if (!pipeline_reserve((void **)&p->names, &p->capnames, names_len + 1, 1)) {
        pipeline_abort(p);
        return jd_errf(JD_ERR_NOMEM, errstr, errstr_size, "out of memory committing the batch");
    }
    char *names = p->names;
    size_t w = 0;
    for (size_t i = 0; i < p->ntypes; i++) {
        memcpy(names + w, "ok:", 3);
        memcpy(names + w + 3, p->types[i].type, p->types[i].len);
        p->sstats[nstats++] = (struct store_stat){ names + w, 3 + p->types[i].len, p->types[i].n };
        w += 3 + p->types[i].len;
    }
    const struct {
        const char *name;
        uint64_t n;
    } outcomes[] = { { "dup", dup }, { "dlq", dlq }, { "too_old", too_old }, { "late", late } };
    for (size_t i = 0; i < JD_ARRAY_SIZE(outcomes); i++)
        if (outcomes[i].n)
            p->sstats[nstats++] = (struct store_stat){ outcomes[i].name,
                                                       strlen(outcomes[i].name),
                                                       (int64_t)outcomes[i].n };

    struct store_flush f = { p->cfg->kafka.topics.events, p->owner, p->sparts, p->nbatch,
                             p->sseen, nseen, p->agg, p->sstats, nstats };
    err = store_flush(p->store, &f, p->refused, JD_ARRAY_SIZE(p->refused), &nrefused, errstr,
                      errstr_size);
    p->c.batches++;
    if (err) {
        if (err == JD_ERR_GAP || err == JD_ERR_FENCED)
            p->c.refused++;
        else
            p->c.flush_errors++;
        pipeline_fail_batch(p, p->refused, nrefused);
        return err;
    }
    for (size_t i = 0; i < p->ntypes; i++)
        p->c.ok += (uint64_t)p->types[i].n;
    p->c.dup += dup;
    p->c.dlq += dlq;
    p->c.too_old += too_old;
    p->c.late += late;
    for (size_t i = 0; i < p->nbatch; i++) {
        struct pipeline_part *pp = &p->parts[p->batch[i]];
        pp->st = pp->bst;
        pp->in_batch = false;
    }
    p->nbatch = 0;
    agg_reset(p->agg);
    return JD_OK;
}

size_t pipeline_positions(const struct pipeline *p, int32_t *parts, int64_t *offsets, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < p->nparts && n < cap; i++) {
        const struct pipeline_part *pp = &p->parts[i];
        if (pp->tracked && pp->state == PIPELINE_ACTIVE && !pp->in_batch && pp->pos >= 0) {
            parts[n] = (int32_t)i;
            offsets[n] = pp->pos;
            n++;
        }
    }
    return n;
}

const struct pipeline_counters *pipeline_counters(const struct pipeline *p)
{
    return &p->c;
}
