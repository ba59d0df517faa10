/*
 * jcache.h — what journeyd knows of the journeys it wrote, so that a touch
 * can be appended to a journey without reading it first.
 *
 * Appending is only right when nothing about the journey needs deciding:
 * it is not due for expiry before the touch, its due bucket is known (so it
 * is listed again only when that moves), and it has not grown too many
 * records. All three follow from the journey's last activity and its count
 * of appended records, which this cache keeps per (partition, user
 * fingerprint) as of the last batch sent. A miss, an evicted entry or a
 * cleared cache only means a read (the slower way), never a wrong answer:
 * entries change when a batch's flush is sent (jcache_commit()), and only
 * the next batch, prepared while that flush runs, reads them before its
 * outcome is known. A failed or uncertain flush drops that next batch too
 * and clears the cache, and a new claim of a partition clears what may
 * have changed behind journeyd's back.
 *
 * A fixed table of 4-way sets (no allocation after jcache_new()); the
 * entry with the oldest activity of a full set makes room.
 */
#ifndef JD_JCACHE_H
#define JD_JCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** What is known of one journey. */
struct jcache_entry {
    int64_t last;  /**< last activity (journey_last_activity()); INT64_MIN: no journey stored */
    uint32_t nrec; /**< touch records appended since it was last written whole */
};

struct jcache;

/**
 * @brief A cache of about \p entries journeys (rounded up to a power of two).
 * @returns NULL when out of memory.
 */
struct jcache *jcache_new(size_t entries);

/** Free \p c; NULL is a no-op. */
void jcache_destroy(struct jcache *c);

/**
 * @brief What was sent for journey (\p partition, \p fa:\p fb).
 * @returns false when it is not known (never stored here, evicted, cleared).
 */
bool jcache_get(const struct jcache *c, int32_t partition, uint64_t fa, uint64_t fb,
                struct jcache_entry *out);

/**
 * @brief Note what the batch being built writes for a journey; it counts
 *        from jcache_commit() on (one note per journey and batch).
 * @returns false when out of memory: the note is lost, and the entry it
 *          replaces would be stale, so the caller must fail the batch.
 */
bool jcache_stage(struct jcache *c, int32_t partition, uint64_t fa, uint64_t fb,
                  struct jcache_entry e);

/** The batch was sent: its notes become what is known (jcache_forget() if its flush fails). */
void jcache_commit(struct jcache *c);

/** Forget the batch's notes (it was never sent). */
void jcache_discard(struct jcache *c);

/** Forget everything known of \p partition (−1: of every partition), and the notes. */
void jcache_forget(struct jcache *c, int32_t partition);

#endif
