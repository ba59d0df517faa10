/*
 * batch.h — one batch of the pipeline: what it read of each partition, its
 * aggregate, its counts by event type, and the store request that commits it
 * exactly once.
 *
 * A batch only records. Which partitions are claimed, under which epoch and
 * up to which offset is the pipeline's to know (pipeline.h): it writes each
 * part's to, st and epoch before batch_request(). Nothing here touches Redis
 * or Kafka, and memory is kept across batches (batch_reset() rewinds), so a
 * steady state allocates nothing.
 */
#ifndef JD_BATCH_H
#define JD_BATCH_H

#include "aggregate/dedup.h"
#include "core/err.h"
#include "core/jd.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct agg;
struct store_flush;
struct store_part;
struct store_seen;
struct store_stat;
struct tally;

/** A run of a part's seen-id fingerprints that share one slice of stream time. */
struct batch_seg {
    int64_t slice;
    size_t off, len;
};

/** One partition's share of one batch. */
struct batch_part {
    bool in;
    int64_t from, to;  /**< offsets [from, to); to set by the pipeline */
    int64_t st;        /**< stream time at the end of the batch; set by the pipeline */
    int64_t epoch;     /**< the claim it was built under; set by the pipeline */
    int64_t t0;        /**< earliest event time in the batch (INT64_MIN: none) */
    bool at_end;       /**< found at its log end ... */
    int64_t at_end_ms; /**< ... at this monotonic time */
    unsigned char *fp; /**< the batch's seen-id fingerprints, by slice (owned) */
    size_t fplen, fpcap;
    struct batch_seg *segs; /**< owned */
    size_t nsegs, capsegs;
    uint64_t dup, dlq, too_old, late;
};

/** A batch's count per event type (or sum per channel), and its other outcomes. */
struct batch_count {
    char type[65];
    size_t len;
    int64_t n; /**< applied (late ones included): the "ok:TYPE" counter */
    int64_t late, dup, too_old;
};

/**
 * A batch: the one being built, or the one whose flush is in flight while the
 * next is built (store_flush_send()/recv()). It owns every array it points
 * to; embed it and pair batch_init() with batch_fini().
 */
struct batch {
    struct agg *agg;
    struct batch_part *bp; /**< indexed by partition id */
    size_t capbp;
    int32_t *parts; /**< partitions in the batch */
    size_t nparts;
    struct batch_count *types;
    size_t ntypes, captypes;
    struct batch_count *spend; /**< micros of `cost` events per channel */
    size_t nspend, capspend;
    uint64_t dlq[JD_EV_REASONS]; /**< dead letters by reason (jd_err_event_index()) */
    /* the store request, kept across batches */
    struct store_part *sparts;
    struct store_seen *sseen;
    struct store_stat *sstats;
    char *names; /**< "ok:TYPE" counter names */
    size_t capsparts, capsseen, capsstats, capnames;
};

/**
 * @brief Give the zeroed \p b its aggregate.
 * @returns false when out of memory (batch_fini() still applies).
 */
bool batch_init(struct batch *b);

/** Free what \p b owns and zero it; safe on a zeroed batch and after a failed batch_init(). */
void batch_fini(struct batch *b);

/** Empty \p b for the next batch, keeping its memory. */
void batch_reset(struct batch *b);

/**
 * @brief Make room in \p b for partition ids below \p n.
 * @returns false when out of memory (ids below the old size stay usable).
 */
bool batch_grow(struct batch *b, size_t n);

/** @returns true if \p partition has a share of \p b (NULL: none). */
bool batch_has(const struct batch *b, int32_t partition);

/**
 * @brief \p partition's share of \p b, entered at offset \p from if new.
 *        \p partition must be below the size given to batch_grow().
 */
struct batch_part *batch_part(struct batch *b, int32_t partition, int64_t from);

/**
 * @brief Record fingerprint \p fp, seen in \p slice, to be persisted with the batch.
 * @returns false when out of memory.
 */
bool batch_seen_append(struct batch_part *bp, int64_t slice, struct dedup_fp fp);

/** @returns the count of event type \p type in \p b (added at zero), NULL when out of memory. */
struct batch_count *batch_count_type(struct batch *b, struct jd_str type);

/** @returns the spend of \p channel in \p b (added at zero), NULL when out of memory. */
struct batch_count *batch_count_spend(struct batch *b, struct jd_str channel);

/**
 * @brief Seal \p b's aggregate and fill \p f with its store request. Every
 *        part's to, st and epoch must be set.
 * @param topic, owner borrowed into \p f.
 * @param slice_ms, slices_kept a seen-id slice may be deleted once stream
 *        time passes slices_kept slices beyond it.
 * @param now_mono_ms to tell Redis how long ago parts were found at their log end.
 * @param f points into \p b: valid until \p b is reset, requested again or freed.
 * @returns false when out of memory.
 */
bool batch_request(struct batch *b, const char *topic, const char *owner, int64_t slice_ms,
                   int64_t slices_kept, int64_t now_mono_ms, struct store_flush *f);

/**
 * @brief Stage \p b's counts, once Redis applied it: by type into \p events
 *        (columns enum pipeline_outcome, pipeline.h), spend by channel into
 *        \p spend (one column). The caller commits both.
 * @returns the number of events applied, late ones included.
 */
uint64_t batch_tally(const struct batch *b, struct tally *events, struct tally *spend);

#endif
