/*
 * pipeline.c — per-partition state, and what becomes of each message:
 * decode, de-duplicate, aggregate into the batch, commit.
 *
 * Owns the exactly-once bookkeeping on the daemon's side: each partition's
 * claim epoch, the offset the next message must not precede, its stream
 * time (max event time applied, in offset order) and the seen-id set. Every
 * decision that changes a total depends only on the partition's own offset
 * order and on what Redis holds at claim time, which is why a replay after a
 * crash decides exactly as the first run did — except the cardinality guard
 * (card.h), a bound rather than a total: which new label set is the first
 * refused at a limit depends on the order partitions arrive in. It does not
 * touch Kafka, and a batch's own bookkeeping and store request are batch.c's.
 */
#include "pipeline.h"

#include "aggregate/agg.h"
#include "aggregate/card.h"
#include "aggregate/dedup.h"
#include "aggregate/series.h"
#include "attribute/attr.h"
#include "batch.h"
#include "core/jd.h"
#include "core/tally.h"
#include "core/ts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * A quiet partition's log end is reported at most this often: every batch
 * would cost Redis a write per assigned partition, and the evaluator reads
 * progress every 20-100 ms anyway.
 */
#define PIPELINE_LOG_END_MS 50

/* Seen ids are remembered per slice of stream time; a window spans this many slices. */
#define PIPELINE_DEDUP_SLICES 8

struct pipeline_part {
    bool tracked;
    enum pipeline_part_state state;
    int64_t epoch;
    int64_t pos;     /* next offset expected (batches built so far); -1: take the first */
    int64_t applied; /* offset Redis holds as the resume point; -1: none yet */
    int64_t st;      /* stream time applied in Redis (INT64_MIN: none) */
    int64_t bst;     /* stream time including the batches built since */
    int64_t end_ms;  /* last reported at its log end (monotonic ms) */
    struct dedup *seen;
};

struct pipeline {
    const struct config *cfg;
    struct store *store;
    char *owner;
    struct event_decoder *dec;
    struct event ev;
    char labels[SERIES_LABELS_MAX];
    struct pipeline_part *parts; /* indexed by partition id */
    size_t nparts;
    struct batch batches[2];
    struct batch *building;
    struct batch *inflight; /* NULL when no flush awaits its reply */
    int64_t slice_ms;
    int64_t wm; /* the group's watermark as last heard (INT64_MIN: not yet) */
    struct pipeline_counters c;
    struct tally *events;          /* by type: ok, late, duplicate, too_old (PIPELINE_OUTCOME_*) */
    struct tally *spend;           /* by channel */
    uint64_t dlq[JD_EV_REASONS];   /* dead letters by reason, of applied batches */
    struct store_refusal *refused; /* room for every partition of a batch */
    size_t caprefused;
    struct card *card;        /* the cardinality guard, loaded by pipeline_census() */
    struct attr *attr;        /* NULL: no attribution models configured */
    struct attr_part *aparts; /* the batch's partitions, for attr_run() */
    size_t capaparts;
    int64_t next_learn_ms; /* monotonic: when the data-driven weights are due */
};

static int64_t pipeline_slice(const struct pipeline *p, int64_t st)
{
    return ts_floor_div(st, p->slice_ms);
}

/* ----------------------------------------------------------------- batches */

static void pipeline_fail(struct pipeline *p, struct batch *b, const struct store_refusal *refused,
                          size_t nrefused);

/*
 * The batch being built mixes every partition's events in one aggregate, so
 * a partition cannot leave it alone: when one changes hands the whole batch
 * goes and its partitions are re-claimed (and re-read from Redis's offsets).
 */
static void pipeline_batch_leave(struct pipeline *p, int32_t partition)
{
    if (batch_has(p->building, partition))
        pipeline_fail(p, p->building, NULL, 0);
}

/* ---------------------------------------------------------------- lifecycle */

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
    bool batches = batch_init(&p->batches[0]) && batch_init(&p->batches[1]);
    p->events = tally_new((size_t)cfg->limits.metric_labels, PIPELINE_NOUTCOMES);
    p->spend = tally_new((size_t)cfg->limits.metric_labels, 1);
    p->card = card_new((size_t)cfg->limits.types, (size_t)cfg->limits.series_per_type);
    if (!p->owner || !p->dec || !batches || !p->events || !p->spend || !p->card)
        goto nomem;
    if (cfg->attribution.models.n && !(p->attr = attr_new(cfg, store, errstr, errstr_size)))
        goto nomem;
    p->wm = INT64_MIN;
    p->building = &p->batches[0];
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
    for (size_t i = 0; i < p->nparts; i++)
        dedup_destroy(p->parts[i].seen);
    free(p->parts);
    free(p->refused);
    batch_fini(&p->batches[0]);
    batch_fini(&p->batches[1]);
    event_decoder_destroy(p->dec);
    attr_destroy(p->attr);
    tally_destroy(p->events);
    tally_destroy(p->spend);
    card_destroy(p->card);
    free(p->aparts);
    free(p->owner);
    free(p);
}

static struct pipeline_part *pipeline_part(const struct pipeline *p, int32_t partition)
{
    if (partition < 0 || (size_t)partition >= p->nparts || !p->parts[partition].tracked)
        return NULL;
    return &p->parts[partition];
}

bool pipeline_assign(struct pipeline *p, int32_t partition)
{
    if (partition < 0)
        return false;
    if ((size_t)partition >= p->nparts) {
        size_t n = (size_t)partition + 1;
        struct pipeline_part *np = realloc(p->parts, n * sizeof(*np));
        if (!np)
            return false; /* stays untracked: its messages are skipped, never miscounted */
        memset(np + p->nparts, 0, (n - p->nparts) * sizeof(*np));
        p->parts = np;
        p->nparts = n;
    }
    if (!batch_grow(&p->batches[0], p->nparts) || !batch_grow(&p->batches[1], p->nparts))
        return false;
    struct pipeline_part *pp = &p->parts[partition];
    pipeline_batch_leave(p, partition);
    pp->tracked = true;
    pp->state = PIPELINE_UNCLAIMED;
    return true;
}

void pipeline_revoke(struct pipeline *p, int32_t partition)
{
    struct pipeline_part *pp = pipeline_part(p, partition);
    if (!pp)
        return;
    pipeline_batch_leave(p, partition);
    pp->tracked = false;
    pp->state = PIPELINE_UNCLAIMED;
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

struct pipeline_loading {
    struct dedup *seen;
    bool nomem;
};

static void pipeline_seen_load(void *opaque, int64_t slice, const void *blob, size_t len)
{
    struct pipeline_loading *ld = opaque;
    if (!ld->nomem && !dedup_load(ld->seen, blob, len, slice))
        ld->nomem = true;
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
    if (p->inflight)
        return jd_errf(JD_ERR_INVALID, errstr, errstr_size, "a batch is in flight");
    pipeline_batch_leave(p, partition);
    pp->state = PIPELINE_UNCLAIMED;
    if (!pp->seen && !(pp->seen = dedup_new((size_t)p->cfg->limits.dedup_ids)))
        return jd_errf(JD_ERR_NOMEM, errstr, errstr_size, "out of memory");
    if ((err = store_claim(p->store, p->cfg->kafka.topics.events, partition, p->owner, &c, errstr,
                           errstr_size)))
        return err;
    dedup_clear(pp->seen);
    attr_forget(p->attr, partition); /* others may have written its journeys meanwhile */
    pp->epoch = c.epoch;
    pp->pos = pp->applied = c.has_next ? c.next : -1;
    pp->st = pp->bst = c.has_st ? c.st : INT64_MIN;
    if (p->cfg->events.dedup_window_ms > 0 && pp->st != INT64_MIN) {
        int64_t cur = pipeline_slice(p, pp->st);
        struct pipeline_loading ld = { pp->seen, false };
        if ((err = store_load_seen(p->store, p->cfg->kafka.topics.events, partition,
                                   cur - PIPELINE_DEDUP_SLICES, cur, pipeline_seen_load, &ld,
                                   errstr, errstr_size)))
            return err;
        if (ld.nomem) {
            dedup_clear(pp->seen);
            return jd_errf(JD_ERR_NOMEM, errstr, errstr_size,
                           "out of memory loading the seen ids of partition %d", (int)partition);
        }
    }
    pp->state = PIPELINE_ACTIVE;
    *offset = pp->pos;
    return JD_OK;
}

enum jd_err pipeline_pin(struct pipeline *p, int32_t partition, int64_t *offset, char *errstr,
                         size_t errstr_size)
{
    struct pipeline_part *pp = pipeline_part(p, partition);
    if (!pp || pp->state != PIPELINE_ACTIVE || pp->pos >= 0)
        return jd_errf(JD_ERR_INVALID, errstr, errstr_size,
                       "partition %d is not freshly claimed without an offset", (int)partition);
    enum jd_err err = store_pin(p->store, p->cfg->kafka.topics.events, partition, p->owner,
                                pp->epoch, offset, errstr, errstr_size);
    if (err) {
        pp->state = err == JD_ERR_FENCED ? PIPELINE_FENCED : PIPELINE_UNCLAIMED;
        return err;
    }
    pp->pos = pp->applied = *offset;
    return JD_OK;
}

/* ------------------------------------------------------------------- batch */

void pipeline_begin(struct pipeline *p)
{
    batch_reset(p->building);
}

bool pipeline_pending(const struct pipeline *p)
{
    return p->building->nparts > 0;
}

bool pipeline_in_flight(const struct pipeline *p)
{
    return p->inflight != NULL;
}

/* Why \p ev was refused by the cardinality guard, for the DLQ's detail header. */
static void pipeline_card_detail(const struct pipeline *p, enum card_verdict cv,
                                 const struct event *ev, char *detail, size_t detail_size)
{
    if (cv == CARD_TYPE_LIMIT) {
        snprintf(detail, detail_size,
                 "type \"%.*s\" would be a new event type beyond limits.types (%lld types)",
                 (int)JD_MIN(ev->type.n, 64), ev->type.p, (long long)p->cfg->limits.types);
        return;
    }
    snprintf(detail, detail_size,
             "type \"%.*s\" has limits.series_per_type (%lld) series; this event's labels "
             "(channel \"%.*s\", campaign \"%.*s\", %u props) would make another",
             (int)JD_MIN(ev->type.n, 64), ev->type.p, (long long)p->cfg->limits.series_per_type,
             (int)JD_MIN(ev->channel.n, 48), ev->channel.p ? ev->channel.p : "",
             (int)JD_MIN(ev->campaign.n, 48), ev->campaign.p ? ev->campaign.p : "",
             (unsigned)ev->nprops);
}

/* Offsets [from, to) of \p partition that Kafka never delivered. */
static void pipeline_count_hole(struct pipeline *p, int32_t partition, int64_t from, int64_t to)
{
    if (from == 0) {
        p->c.starts_trimmed++;
        p->c.last_trimmed_partition = partition;
        p->c.last_trimmed_first = to;
        return;
    }
    p->c.offset_gaps++;
    p->c.offsets_missing += (uint64_t)(to - from);
    p->c.last_gap_partition = partition;
    p->c.last_gap_from = from;
    p->c.last_gap_to = to;
}

void pipeline_log_start(struct pipeline *p, int32_t partition, int64_t start_offset)
{
    struct pipeline_part *pp = pipeline_part(p, partition);
    if (!pp || pp->state != PIPELINE_ACTIVE || pp->pos != 0 || start_offset <= 0)
        return;
    pipeline_count_hole(p, partition, 0, start_offset);
    batch_part(p->building, partition, 0);
    pp->pos = start_offset;
}

enum pipeline_verdict pipeline_add(struct pipeline *p, const struct pipeline_msg *m, int64_t now_ms,
                                   enum jd_err *reason, char *detail, size_t detail_size)
{
    struct pipeline_part *pp = pipeline_part(p, m->partition);
    struct batch *b = p->building;
    struct event *ev = &p->ev;

    *reason = JD_OK;
    if (!pp || pp->state != PIPELINE_ACTIVE || (pp->pos >= 0 && m->offset < pp->pos)) {
        p->c.skipped++;
        return PIPELINE_SKIP;
    }
    struct batch_part *bp = batch_part(b, m->partition, pp->pos >= 0 ? pp->pos : m->offset);
    if (pp->pos >= 0 && m->offset > pp->pos)
        pipeline_count_hole(p, m->partition, pp->pos, m->offset);
    pp->pos = m->offset + 1;
    bp->at_end = false;

    enum jd_err err = event_decode(p->dec, m->value, m->len, m->headers, m->nheaders, now_ms, ev,
                                   detail, detail_size);
    if (err) {
        *reason = err;
        bp->dlq++;
        b->dlq[jd_err_event_index(err)]++;
        return PIPELINE_DLQ;
    }
    int64_t bst = pp->bst;
    if (bst != INT64_MIN && ev->ts_ms < bst - p->cfg->windows.retention_day_ms) {
        bp->too_old++;
        struct batch_count *tc = batch_count_type(b, ev->type);
        if (tc)
            tc->too_old++; /* only a metric: no room is no reason to stop */
        return PIPELINE_TOO_OLD;
    }
    size_t ln = series_labels_encode(ev, p->labels);
    uint64_t sid = series_id(ev->type, p->labels, ln);
    /* before de-duplication: a refused event must not be remembered as seen, or its replay
     * from the DLQ (after the limit is raised) would be dropped as a duplicate */
    enum card_verdict cv = card_admit(p->card, ev->type, sid);
    if (cv == CARD_NOMEM)
        goto nomem;
    if (cv != CARD_OK) {
        pipeline_card_detail(p, cv, ev, detail, detail_size);
        *reason = JD_ERR_EV_CARDINALITY;
        bp->dlq++;
        b->dlq[jd_err_event_index(JD_ERR_EV_CARDINALITY)]++;
        return PIPELINE_DLQ;
    }
    int64_t nst = bst == INT64_MIN || ev->ts_ms > bst ? ev->ts_ms : bst;
    if (p->cfg->events.dedup_window_ms > 0) {
        struct dedup_fp fp = dedup_fingerprint(ev->event_id);
        int64_t min_slice =
            bst == INT64_MIN ? INT64_MIN : pipeline_slice(p, bst) - PIPELINE_DEDUP_SLICES;
        int64_t slice = pipeline_slice(p, nst);
        enum dedup_verdict dv = dedup_check_insert(pp->seen, fp, min_slice, slice);
        if (dv == DEDUP_SEEN) {
            bp->dup++;
            struct batch_count *tc = batch_count_type(b, ev->type);
            if (tc)
                tc->dup++;
            return PIPELINE_DUP;
        }
        if (dv == DEDUP_FULL)
            goto nomem;
        if (!batch_seen_append(bp, slice, fp))
            goto nomem;
    }
    /* late (a duplicate is not): behind the group's watermark (rules.md); before one is
     * known, behind this partition's stream time minus the lateness */
    bool late = p->wm != INT64_MIN
                    ? ev->ts_ms < p->wm
                    : bst != INT64_MIN && ev->ts_ms < bst - p->cfg->rules.lateness_ms;
    bp->late += late;
    pp->bst = nst;
    if (bp->t0 == INT64_MIN || ev->ts_ms < bp->t0)
        bp->t0 = ev->ts_ms;
    struct batch_count *tc;
    if (!agg_add(b->agg, sid, ev->type, (struct jd_str){ p->labels, ln }, ev->ts_ms, ev->has_value,
                 ev->value, ev->user_id) ||
        !(tc = batch_count_type(b, ev->type)))
        goto nomem;
    tc->n++;
    tc->late += late;
    if (ev->has_value && jd_str_eqc(ev->type, "cost")) {
        struct batch_count *sc = batch_count_spend(b, ev->channel);
        if (sc)
            sc->n += ev->value;
    }
    if (p->attr && ev->user_id.n && attr_wants(p->attr, ev->type) &&
        !attr_add(p->attr, m->partition, ev, pp->bst))
        goto nomem;
    return PIPELINE_OK;
nomem:
    /* cannot keep a consistent batch: drop it, the caller re-claims and re-reads */
    *reason = JD_ERR_NOMEM;
    pipeline_abort(p);
    return PIPELINE_SKIP;
}

/*
 * Every partition of the given batches goes back to UNCLAIMED (FENCED when
 * Redis said another instance owns it): it must be re-claimed and re-read
 * from Redis's offsets. Its seen-id set holds ids of the dropped batches,
 * so it is cleared (and reloaded on claim).
 */
static void pipeline_fail(struct pipeline *p, struct batch *b, const struct store_refusal *refused,
                          size_t nrefused)
{
    if (!b)
        return;
    for (size_t i = 0; i < b->nparts; i++) {
        struct pipeline_part *pp = pipeline_part(p, b->parts[i]);
        if (!pp)
            continue;
        /*
         * Fenced only if still held under the batch's claim: a partition
         * revoked and assigned again meanwhile is simply claimed afresh.
         */
        bool same_claim = pp->state == PIPELINE_ACTIVE && pp->epoch == b->bp[b->parts[i]].epoch;
        /* fenced stays fenced: the batch built meanwhile goes after the refused one, and
         * re-claiming at once would take the partition back from its new owner */
        if (pp->state != PIPELINE_FENCED)
            pp->state = PIPELINE_UNCLAIMED;
        for (size_t k = 0; k < nrefused; k++)
            if (refused[k].part == i && refused[k].why == JD_ERR_FENCED && same_claim)
                pp->state = PIPELINE_FENCED;
        if (pp->seen)
            dedup_clear(pp->seen);
    }
    if (b == p->building && p->attr)
        attr_reset(p->attr); /* its journey events go with it */
    batch_reset(b);
}

void pipeline_abort(struct pipeline *p)
{
    pipeline_fail(p, p->building, NULL, 0);
}

void pipeline_unclaim(struct pipeline *p, int32_t partition)
{
    struct pipeline_part *pp = pipeline_part(p, partition);
    if (!pp)
        return;
    pipeline_batch_leave(p, partition);
    pp->state = PIPELINE_UNCLAIMED;
}

void pipeline_unclaim_all(struct pipeline *p)
{
    /* a flush in flight may or may not have been applied, and every partition is claimed
     * afresh anyway: what is known of journeys goes at once (one clear, not one per claim) */
    if (p->attr)
        attr_discard(p->attr);
    pipeline_fail(p, p->inflight, NULL, 0);
    p->inflight = NULL;
    pipeline_fail(p, p->building, NULL, 0);
    for (size_t i = 0; i < p->nparts; i++)
        if (p->parts[i].tracked && p->parts[i].state == PIPELINE_ACTIVE)
            p->parts[i].state = PIPELINE_UNCLAIMED;
}

/* Fills the batch's store request; false when out of memory. */
static bool pipeline_request(struct pipeline *p, struct batch *b, struct store_flush *f)
{
    for (size_t i = 0; i < b->nparts; i++) {
        struct batch_part *bp = &b->bp[b->parts[i]];
        const struct pipeline_part *pp = &p->parts[b->parts[i]];
        bp->to = pp->pos;
        bp->st = pp->bst;
        bp->epoch = pp->epoch;
    }
    int64_t slices_kept = PIPELINE_DEDUP_SLICES + 2;
    int64_t now = ts_mono_ms(); /* how long ago partitions were found at their end */
    return batch_request(b, p->cfg->kafka.topics.events, p->owner, p->slice_ms, slices_kept, now,
                         f);
}

/* Attributes the batch's conversions (attr.h): credits into its aggregate, journey writes out. */
static enum jd_err pipeline_attribute(struct pipeline *p, struct batch *b, struct attr_writes *aw,
                                      char *errstr, size_t errstr_size)
{
    if (!jd_reserve((void **)&p->aparts, &p->capaparts, b->nparts, sizeof(*p->aparts)))
        return jd_errf(JD_ERR_NOMEM, errstr, errstr_size, "out of memory");
    int64_t st = INT64_MIN, now = ts_mono_ms();
    for (size_t i = 0; i < b->nparts; i++) {
        p->aparts[i] = (struct attr_part){ b->parts[i], p->parts[b->parts[i]].bst };
        st = JD_MAX(st, p->aparts[i].st);
    }
    /* weights from the path statistics, at most every recompute_every; a failure keeps the
     * old ones (counted), except a lost connection, which fails the batch like any read */
    if (now >= p->next_learn_ms && st != INT64_MIN) {
        p->next_learn_ms = now + p->cfg->attribution.recompute_every_ms;
        enum jd_err err = attr_learn(p->attr, st, errstr, errstr_size);
        if (err == JD_ERR_REDIS)
            return err;
    }
    return attr_run(p->attr, p->aparts, b->nparts, b->agg, aw, errstr, errstr_size);
}

void pipeline_prepare(struct pipeline *p)
{
    /* out of memory: attr_run() tries again, and says so */
    if (p->attr && attr_pending(p->attr))
        (void)attr_prepare(p->attr);
}

enum jd_err pipeline_send(struct pipeline *p, char *errstr, size_t errstr_size)
{
    struct batch *b = p->building;
    struct store_flush f;
    enum jd_err err;

    if (p->inflight)
        return jd_errf(JD_ERR_INVALID, errstr, errstr_size, "a batch is already in flight");
    if (!b->nparts)
        return JD_OK;
    struct attr_writes aw = { 0 };
    if (p->attr && attr_pending(p->attr) &&
        (err = pipeline_attribute(p, b, &aw, errstr, errstr_size)) != JD_OK) {
        p->c.flush_errors++;
        attr_discard(p->attr);
        pipeline_fail(p, b, NULL, 0);
        return err;
    }
    if (!pipeline_request(p, b, &f) ||
        !jd_reserve((void **)&p->refused, &p->caprefused, b->nparts, sizeof(*p->refused))) {
        if (p->attr)
            attr_discard(p->attr);
        pipeline_abort(p);
        return jd_errf(JD_ERR_NOMEM, errstr, errstr_size, "out of memory committing the batch");
    }
    f.puts = aw.puts;
    f.nputs = aw.nputs;
    f.zputs = aw.zputs;
    f.nzputs = aw.nzputs;
    f.appends = aw.appends;
    f.nappends = aw.nappends;
    f.jappends = aw.jappends;
    f.njappends = aw.njappends;
    err = store_flush_send(p->store, &f, errstr, errstr_size);
    if (p->attr && !err)
        attr_sent(p->attr);
    if (p->attr)
        attr_reset(p->attr); /* sent (or failed): the next batch starts afresh */
    if (err) {
        p->c.flush_errors++;
        if (p->attr)
            attr_discard(p->attr);
        pipeline_fail(p, b, NULL, 0);
        return err;
    }
    p->inflight = b;
    p->building = b == &p->batches[0] ? &p->batches[1] : &p->batches[0];
    batch_reset(p->building);
    return JD_OK;
}

enum jd_err pipeline_recv(struct pipeline *p, char *errstr, size_t errstr_size)
{
    struct batch *b = p->inflight;
    size_t nrefused = 0;

    if (!b)
        return JD_OK;
    enum jd_err err =
        store_flush_recv(p->store, p->refused, p->caprefused, &nrefused, errstr, errstr_size);
    p->inflight = NULL;
    if (err) {
        if (err == JD_ERR_GAP || err == JD_ERR_FENCED)
            p->c.refused++;
        else
            p->c.flush_errors++;
        if (p->attr)
            attr_discard(p->attr); /* its credits were never applied */
        /* the batch built meanwhile continued from this one: it goes too */
        pipeline_fail(p, b, p->refused, nrefused);
        pipeline_fail(p, p->building, NULL, 0);
        return err;
    }
    for (size_t i = 0; i < b->nparts; i++) {
        struct pipeline_part *pp = pipeline_part(p, b->parts[i]);
        const struct batch_part *bp = &b->bp[b->parts[i]];
        if (!pp)
            continue; /* revoked meanwhile */
        pp->st = bp->st;
        pp->applied = bp->to;
        p->c.dup += bp->dup;
        p->c.dlq += bp->dlq;
        p->c.too_old += bp->too_old;
        p->c.late += bp->late;
    }
    p->c.batches++;
    for (size_t i = 0; i < JD_EV_REASONS; i++)
        p->dlq[i] += b->dlq[i];
    p->c.ok += batch_tally(b, p->events, p->spend);
    tally_commit(p->events);
    tally_commit(p->spend);
    if (p->attr)
        attr_commit(p->attr);
    batch_reset(b);
    return JD_OK;
}

enum jd_err pipeline_commit(struct pipeline *p, char *errstr, size_t errstr_size)
{
    enum jd_err err = pipeline_recv(p, errstr, errstr_size);
    if (err)
        return err;
    if ((err = pipeline_send(p, errstr, errstr_size)))
        return err;
    return pipeline_recv(p, errstr, errstr_size);
}

size_t pipeline_positions(const struct pipeline *p, int32_t *parts, int64_t *offsets, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < p->nparts && n < cap; i++) {
        const struct pipeline_part *pp = &p->parts[i];
        if (pp->tracked && pp->state == PIPELINE_ACTIVE && pp->applied >= 0) {
            parts[n] = (int32_t)i;
            offsets[n] = pp->applied;
            n++;
        }
    }
    return n;
}

void pipeline_log_end(struct pipeline *p, int32_t partition, int64_t end_offset, int64_t mono_ms)
{
    struct pipeline_part *pp = pipeline_part(p, partition);
    if (!pp || pp->state != PIPELINE_ACTIVE || pp->pos < 0 || end_offset < 0 ||
        pp->pos < end_offset)
        return;
    /* with events in the batch the report is free; alone it costs a write */
    if (!p->building->bp[partition].in && mono_ms - pp->end_ms < PIPELINE_LOG_END_MS)
        return;
    pp->end_ms = mono_ms;
    struct batch_part *bp = batch_part(p->building, partition, pp->pos);
    bp->at_end = true;
    bp->at_end_ms = mono_ms;
}

void pipeline_set_watermark(struct pipeline *p, int64_t wm)
{
    if (wm > p->wm)
        p->wm = wm;
}

const struct pipeline_counters *pipeline_counters(const struct pipeline *p)
{
    return &p->c;
}

int64_t pipeline_stream_time(const struct pipeline *p, int32_t partition)
{
    const struct pipeline_part *pp = pipeline_part(p, partition);
    return pp ? pp->st : INT64_MIN;
}

const struct tally *pipeline_event_tally(const struct pipeline *p)
{
    return p->events;
}

const uint64_t *pipeline_dlq_reasons(const struct pipeline *p)
{
    return p->dlq;
}

const struct tally *pipeline_spend_tally(const struct pipeline *p)
{
    return p->spend;
}

const struct tally *pipeline_credit_tally(const struct pipeline *p)
{
    return p->attr ? attr_credit_tally(p->attr) : NULL;
}

const struct attr_counters *pipeline_attr_counters(const struct pipeline *p)
{
    return p->attr ? attr_counters(p->attr) : NULL;
}

/* ------------------------------------------------------------ cardinality */

enum jd_err pipeline_census(struct pipeline *p, char *errstr, size_t errstr_size)
{
    struct store_census *types = NULL;
    size_t ntypes = 0;
    enum jd_err err = store_series_census(p->store, &types, &ntypes, errstr, errstr_size);
    for (size_t i = 0; i < ntypes && !err; i++) {
        struct jd_str type = jd_str_c(types[i].type);
        size_t local = card_nseries(p->card, type);
        if (local && types[i].nseries == (int64_t)local)
            continue; /* as known: nothing made elsewhere, nothing dropped by GC */
        struct store_series *list = NULL;
        size_t n = 0;
        uint64_t *sids = NULL;
        if ((err = store_list_series(p->store, types[i].type, &list, &n, errstr, errstr_size)))
            break;
        if (n && !(sids = malloc(n * sizeof(*sids))))
            err = jd_errf(JD_ERR_NOMEM, errstr, errstr_size, "out of memory");
        for (size_t k = 0; k < n && sids; k++)
            sids[k] = list[k].sid;
        card_forget(p->card, type); /* the index replaces what this process knew */
        if (!err && !card_load(p->card, type, sids, n))
            err = jd_errf(JD_ERR_NOMEM, errstr, errstr_size, "out of memory");
        free(sids);
        store_series_free(list, n);
    }
    store_census_free(types, ntypes);
    return err;
}

const struct card *pipeline_card(const struct pipeline *p)
{
    return p->card;
}
