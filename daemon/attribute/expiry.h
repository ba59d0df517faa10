/*
 * expiry.h — when journeys expire, without scanning keys or one index entry
 * per user per batch.
 *
 * A journey expires once its partition's stream time passes its last touch
 * plus the lookback (its due time). Each partition lists its journeys in
 * hour buckets of due time: a journey's fingerprint is appended to the
 * bucket of its due time whenever that bucket changes, so a batch writes one
 * append per (partition, bucket) it touches, whatever its number of users.
 * Once stream time passes a bucket's end, the due buckets are read in order,
 * EXPIRY_SLICE fingerprints per batch; each journey is checked against its
 * stored last touch (one touched again since is listed in a later bucket
 * too) and expired, and a bucket read to its end is deleted. Registrations
 * never go to a bucket that is due already, so no bucket being read is
 * written.
 *
 * The stage (attr.c) drives it per batch: expiry_begin(), expiry_want() per
 * partition, expiry_read() (one round trip), expiry_register() per journey
 * written, then expiry_writes() for the batch's flush.
 */
#ifndef JD_EXPIRY_H
#define JD_EXPIRY_H

#include "core/err.h"
#include "store/store.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Width of a bucket of due times. */
#define EXPIRY_BUCKET_MS ((int64_t)3600 * 1000)

/** Journeys read per due partition per batch. */
#define EXPIRY_SLICE 1000

/** What the flush writes for expiry (valid until the next expiry_begin()). */
struct expiry_writes {
    const struct store_put *puts; /**< progress and finished buckets */
    size_t nputs;
    const struct store_zput *zputs; /**< the bucket index */
    size_t nzputs;
    const struct store_append *appends; /**< fingerprints into buckets */
    size_t nappends;
};

struct expiry;

/** The schedule of \p topic's partitions in \p store (both borrowed). NULL: no memory. */
struct expiry *expiry_new(struct store *store, const char *topic);

/** Free \p x; NULL is a no-op. */
void expiry_destroy(struct expiry *x);

/** Start a batch: forget the last one's reads and registrations. */
void expiry_begin(struct expiry *x);

/**
 * @brief Queue a read of \p partition if its stream time \p st may have made
 *        a bucket due (at most once per bucket end, or again after a slice
 *        that did not finish its bucket).
 * @returns false when out of memory.
 */
bool expiry_want(struct expiry *x, int32_t partition, int64_t st);

/** Run the queued reads in one round trip (nothing when none is queued). */
enum jd_err expiry_read(struct expiry *x, char *errstr, size_t errstr_size);

/** @returns the number of reads of this batch. */
size_t expiry_nreads(const struct expiry *x);

/**
 * @brief Read \p i of this batch: its partition and stream time, and its
 *        fingerprints (sorted, without repeats; \p n of them, maybe 0).
 */
const char (*expiry_slice(const struct expiry *x, size_t i, int32_t *partition, int64_t *st,
                          size_t *n))[33];

/** The bucket of a due time (the journey's last touch plus the lookback). */
int64_t expiry_bucket(int64_t due);

/**
 * @brief List journey \p fp of \p partition under due time \p due, in a
 *        bucket not due at the partition's stream time \p st (fp copied).
 * @returns false when out of memory.
 */
bool expiry_register(struct expiry *x, int32_t partition, const char *fp, int64_t due, int64_t st);

/**
 * @brief The batch's writes: registrations appended to their buckets (with
 *        GC registration) and indexed, finished buckets deleted, progress kept.
 * @returns false when out of memory.
 */
bool expiry_writes(struct expiry *x, struct expiry_writes *out);

#endif
