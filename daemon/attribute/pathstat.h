/*
 * pathstat.h — path statistics: what the data-driven models learn from.
 *
 * Every conversion adds its path (the channels of the touches it was
 * credited to, oldest first) with one conversion and its value; every
 * journey that expires without converting adds its path as one null. A
 * batch pre-aggregates them per hour of event time (pathstat_add()) and
 * appends one block of records per hour to `{P}:ps:HOUR`:
 *
 *   record = [conversion_type, [channel, ...], conversions, value_micros, nulls]
 *
 * (MessagePack; null paths have the conversion type "")
 *
 * so any window's statistics are the fold of its hours' records
 * (pathstat_fold()): a path set for markov.h and shapley.h, the same data
 * ChannelAttribution takes. Pure: bytes in, bytes out.
 */
#ifndef JD_PATHSTAT_H
#define JD_PATHSTAT_H

#include "attribute/paths.h"
#include "core/err.h"
#include "core/jd.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Channels kept per recorded path (the newest, like journeys' cap). */
#define PATHSTAT_MAX_PATH 64

struct pathstat;

/** @returns an empty per-batch accumulator, NULL when out of memory. */
struct pathstat *pathstat_new(void);

/** Free \p ps; NULL is a no-op. */
void pathstat_destroy(struct pathstat *ps);

/** Forget everything (keeps memory). */
void pathstat_reset(struct pathstat *ps);

/**
 * @brief Count a path (channels oldest first; consecutive repeats are kept
 *        as observed) of conversion type \p type ("" for a null path) in the
 *        hour holding \p ts.
 * @returns false when out of memory.
 */
bool pathstat_add(struct pathstat *ps, int64_t ts, struct jd_str type, const struct jd_str *ch,
                  size_t n, int64_t conv, int64_t value, int64_t nulls);

/** @returns the number of hours touched. */
size_t pathstat_nhours(const struct pathstat *ps);

/**
 * @brief Hour \p i's records, encoded (valid until the next add or reset).
 * @param hour set to the hour's start (ms).
 * @returns false when out of memory.
 */
bool pathstat_hour(struct pathstat *ps, size_t i, int64_t *hour, struct jd_str *bytes);

/**
 * @brief Fold encoded records into \p p (paths with conversions, value in
 *        currency units, nulls): the conversions of \p type (NULL: of every
 *        type) and every null path.
 * @returns JD_OK, JD_ERR_CORRUPT (errstr says where) or JD_ERR_NOMEM.
 */
enum jd_err pathstat_fold(struct paths *p, const void *buf, size_t len, const char *type,
                          char *errstr, size_t errstr_size);

#endif
