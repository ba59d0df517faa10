/*
 * agg.h — pre-aggregation of one batch, in memory, before it goes to Redis.
 *
 * A batch of thousands of events touches far fewer (series, minute) buckets.
 * agg_add() folds each event into its minute bucket and its user into that
 * bucket's distinct-user sketch updates; agg_seal() rolls the minutes up
 * into hour and day deltas, so a flush writes one record per touched bucket
 * instead of anything per event. All memory is kept
 * across batches (agg_reset() rewinds it): steady state allocates nothing.
 */
#ifndef JD_AGG_H
#define JD_AGG_H

#include "aggregate/hll.h"
#include "aggregate/window.h"
#include "core/jd.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** The change a batch makes to one bucket. */
struct agg_delta {
    int64_t bucket;  /**< bucket start, ms */
    int64_t count;   /**< events */
    int64_t vcount;  /**< events that carried a value */
    jd_i128 sum;     /**< Σ value, micros */
    int64_t min;     /**< micros, valid if vcount > 0 */
    int64_t max;     /**< micros */
    int64_t last_ts; /**< event time of the latest value */
    int64_t last;    /**< that value, micros (ties on time: the larger value) */
    jd_i128 wsum;    /**< Σ weight, micro-units: the credit stream's fractional conversions */
};

/** The distinct-user sketch updates of one delta. */
struct agg_regs {
    const struct hll_update *u; /**< a register may repeat (merging takes the max) */
    size_t n;
};

/** One series touched by the batch, as exposed after agg_seal(). */
struct agg_series {
    uint64_t sid;
    struct jd_str type;                          /**< copied into the agg's arena */
    struct jd_str labels;                        /**< canonical encoding (series.h), copied */
    const struct agg_delta *deltas[WINDOW_NRES]; /**< sorted by bucket */
    const struct agg_regs *regs[WINDOW_NRES];    /**< parallel to deltas */
    size_t ndeltas[WINDOW_NRES];
};

struct agg;

/** @returns a new, empty aggregate (NULL when out of memory). Free with agg_destroy(). */
struct agg *agg_new(void);

/** Free \p a; NULL is a no-op. */
void agg_destroy(struct agg *a);

/** Start a new batch (keeps capacity). */
void agg_reset(struct agg *a);

/** Merge delta \p s into \p d (counts and sums add; min, max, last combine). */
void agg_delta_merge(struct agg_delta *d, const struct agg_delta *s);

/**
 * @brief agg_delta_merge() for deltas read back from storage: refuses totals
 *        that would overflow (only damaged data can get there).
 * @returns false, leaving \p d unchanged, on overflow.
 */
bool agg_delta_merge_checked(struct agg_delta *d, const struct agg_delta *s);

/**
 * @brief Fold one event into the batch.
 * @param type, labels copied on first sight of the series.
 * @param user empty: no distinct-count contribution (the id is hashed, not kept).
 * @returns false only when out of memory (the batch must then be abandoned).
 */
bool agg_add(struct agg *a, uint64_t sid, struct jd_str type, struct jd_str labels, int64_t ts,
             bool has_value, int64_t value, struct jd_str user);

/**
 * @brief Fold one attribution credit into the batch: an entry of the
 *        `credit` stream worth \p value micros and \p weight micro-conversions.
 * @returns false only when out of memory.
 */
bool agg_add_credit(struct agg *a, uint64_t sid, struct jd_str type, struct jd_str labels,
                    int64_t ts, int64_t value, int64_t weight);

/**
 * @brief Roll minutes up into hours and days and build the series views.
 * @returns false when out of memory.
 */
bool agg_seal(struct agg *a);

/** @returns the number of series touched (after agg_seal()). */
size_t agg_nseries(const struct agg *a);

/** @returns series \p i (after agg_seal(); valid until agg_reset()). */
const struct agg_series *agg_series_at(const struct agg *a, size_t i);

/** @returns the number of events folded in since agg_reset(). */
uint64_t agg_nevents(const struct agg *a);

#endif
