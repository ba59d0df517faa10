/*
 * dedup.h — the in-memory set of recently seen event ids of one partition.
 *
 * Ids are remembered as fingerprints (128 bits persisted, the first 64 kept
 * in memory: dedup.c says why) together with the "slice" of
 * stream time (partition max event time / slice length) they were recorded
 * in. An id counts as seen while its slice is no older than the current
 * slice minus the window, a rule that depends only on the partition's own
 * offset order, so a restart that reloads the persisted slices from Redis
 * makes exactly the same decisions as the uninterrupted run. Persistence is
 * the flush script's job (it appends each batch's fingerprints); this
 * module never touches Redis.
 */
#ifndef JD_DEDUP_H
#define JD_DEDUP_H

#include "core/jd.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Bytes of one persisted fingerprint. */
#define DEDUP_FP_SIZE 16

struct dedup_fp {
    uint64_t a, b;
};

struct dedup;

/**
 * @brief A set that holds at most \p max_ids fingerprints (the oldest slices
 *        are forgotten first beyond that).
 * @returns NULL when out of memory; free with dedup_destroy().
 */
struct dedup *dedup_new(size_t max_ids);

/** Free \p d; NULL is a no-op. */
void dedup_destroy(struct dedup *d);

/** Forget everything (before a reload). */
void dedup_clear(struct dedup *d);

/** Fingerprint of an event id. */
struct dedup_fp dedup_fingerprint(struct jd_str event_id);

/** Serialise \p fp into \p out (DEDUP_FP_SIZE bytes, little-endian). */
void dedup_fp_write(struct dedup_fp fp, unsigned char *out);

enum dedup_verdict {
    DEDUP_NEW,  /**< not seen: now recorded */
    DEDUP_SEEN, /**< a duplicate: nothing recorded */
    DEDUP_FULL, /**< out of memory: the table could not grow and nothing was recorded */
};

/**
 * @brief Test \p fp against ids recorded in slices >= \p min_slice and, when
 *        new, record it in \p slice.
 */
enum dedup_verdict dedup_check_insert(struct dedup *d, struct dedup_fp fp, int64_t min_slice,
                                      int64_t slice);

/**
 * @brief Load persisted fingerprints (a blob of DEDUP_FP_SIZE records) into \p slice.
 * @returns false when out of memory (the set is then incomplete: clear it).
 */
bool dedup_load(struct dedup *d, const void *blob, size_t len, int64_t slice);

/** @returns the number of live entries (including not yet expired ones). */
size_t dedup_count(const struct dedup *d);

/** @returns how many ids were forgotten early because max_ids was reached. */
uint64_t dedup_evicted(const struct dedup *d);

#endif
