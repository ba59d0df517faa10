/*
 * window.h — time buckets and range plans, by event time.
 *
 * Windows are kept at three resolutions (1 minute, 1 hour, 1 day, aligned to
 * the Unix epoch, UTC). Every event updates one bucket of each. A range
 * [from, to) is read as the fewest whole buckets that tile it exactly:
 * minutes up to the first whole hour, hours up to the first whole day, days,
 * then back down — so 30 days cost ~6 chunk reads per series instead of
 * 43,200 minute buckets. Buckets are stored in chunks (one Redis string of
 * appended records per chunk; aggregate/chunk.h). Pure maths: time is
 * always a parameter.
 */
#ifndef JD_WINDOW_H
#define JD_WINDOW_H

#include "core/err.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum window_res {
    WINDOW_MINUTE = 0,
    WINDOW_HOUR = 1,
    WINDOW_DAY = 2,
};

#define WINDOW_NRES 3

/** Retention per resolution, in ms of event time. */
struct window_retention {
    int64_t ms[WINDOW_NRES];
};

/** One bucket of a plan. */
struct window_piece {
    enum window_res res;
    int64_t start; /**< bucket start, ms */
};

/** @returns the bucket length of \p r in ms. */
int64_t window_res_ms(enum window_res r);

/** @returns the chunk length of \p r in ms (1 h of minutes, 1 d of hours, 30 d of days). */
int64_t window_chunk_ms(enum window_res r);

/** @returns 'm', 'h' or 'd' (used in key names). */
char window_res_char(enum window_res r);

/** @returns the start of the bucket of resolution \p r containing \p ts. */
int64_t window_bucket_start(enum window_res r, int64_t ts);

/** @returns the chunk number of the bucket starting at \p bucket (floor(bucket / chunk)). */
int64_t window_chunk_id(enum window_res r, int64_t bucket);

/** @returns the bucket's position inside its chunk (0..59, 0..23, 0..29). */
unsigned window_bucket_offset(enum window_res r, int64_t bucket);

/** @returns the bucket number since the epoch (bucket / res). */
int64_t window_bucket_index(enum window_res r, int64_t bucket);

/**
 * @brief Event time after which a chunk (or bucket) may be deleted: its end
 *        plus the retention of its resolution.
 */
int64_t window_expiry(const struct window_retention *ret, enum window_res r, int64_t end_ms);

/** @returns true if the bucket starting at \p bucket is still kept at event time \p at. */
bool window_is_kept(const struct window_retention *ret, enum window_res r, int64_t bucket,
                    int64_t at);

/**
 * @brief Upper bound of pieces window_plan() can produce for [from, to).
 */
size_t window_plan_max(int64_t from, int64_t to);

/**
 * @brief Tile [from, to) exactly with the fewest buckets.
 *
 * \p from and \p to must be whole minutes (buckets are 1 minute at their
 * finest); an empty range yields zero pieces.
 * @returns JD_OK with *n pieces in \p out, JD_ERR_INVALID (unaligned or
 *          reversed range) or JD_ERR_RANGE (more than \p cap pieces).
 */
enum jd_err window_plan(int64_t from, int64_t to, struct window_piece *out, size_t cap, size_t *n,
                        char *errstr, size_t errstr_size);

#endif
