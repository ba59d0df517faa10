/*
 * qcache.h — a read-through cache in front of a query source.
 *
 * The evaluator runs up to a few hundred ticks in one go when it catches up
 * (a restart after a day, a backfill), and every rule of every tick reads the
 * series list of its types, the GC cutoff and the chunks its ranges cover:
 * the same hour and day chunks, tick after tick, each a Redis round trip.
 * Between two runs the daemon's own batches change those keys, so the cache
 * lives for one run: the caller clears it before each.
 *
 * Within a run the evaluator's connection may see a batch another connection
 * applied meanwhile; the cache then answers as of its first read, which is
 * what an evaluation a few milliseconds earlier would have seen. Values are
 * handed out as copies, with the source's ownership rules unchanged.
 */
#ifndef JD_QCACHE_H
#define JD_QCACHE_H

#include "evaluate/query.h"

#include <stddef.h>
#include <stdint.h>

struct qcache;

/** Counters since qcache_new(). */
struct qcache_stats {
    uint64_t hits;   /**< chunk and series-list reads answered from memory */
    uint64_t misses; /**< those that went to the source */
    uint64_t trips;  /**< source calls made for them (one per get_many with a miss) */
};

/**
 * @brief A cache over \p inner (borrowed: it must outlive the cache) holding
 *        at most \p max_bytes of values; past that, reads go through uncached.
 * @returns NULL when out of memory.
 */
struct qcache *qcache_new(struct query_source inner, size_t max_bytes);

/** Free \p q; NULL is a no-op. */
void qcache_destroy(struct qcache *q);

/** @returns a source reading through \p q (borrowed). */
struct query_source qcache_source(struct qcache *q);

/** Forget everything read: the data may have changed since. */
void qcache_clear(struct qcache *q);

/** @returns \p q's counters. */
const struct qcache_stats *qcache_stats(const struct qcache *q);

#endif
