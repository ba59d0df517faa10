/*
 * query.h — evaluate an expression at one instant against the windowed store.
 *
 * Exact over half-open windows [t - D, t): counts, sums (micros, 128-bit),
 * min, max and last come straight from the buckets; avg = sum / count;
 * distinct is a HyperLogLog union (error about 0.8 %). Ranges are tiled with
 * minute, hour and day buckets (window_plan()), so a 30-day range costs a few
 * reads per series. A range that needs buckets retention has already
 * removed is an error, never a silently smaller number.
 */
#ifndef JD_QUERY_H
#define JD_QUERY_H

#include "core/err.h"
#include "core/jd.h"
#include "core/tz.h"
#include "evaluate/expr.h"
#include "store/store.h"

#include <stdbool.h>
#include <stddef.h>

enum query_value_kind {
    QUERY_FLOAT,  /**< value */
    QUERY_INT,    /**< an exact count in value (and micros holds the same integer) */
    QUERY_MICROS, /**< an exact decimal: micros / 10^6 (value is its double) */
};

struct query_label {
    char *name, *value;
};

struct query_sample {
    struct query_label *labels; /**< sorted by name */
    size_t nlabels;
    double value;
    jd_i128 micros;
    enum query_value_kind kind;
};

struct query_result {
    struct query_sample *v; /**< sorted by labels */
    size_t n;
    bool scalar; /**< a plain number, not series */
};

/**
 * @brief Evaluate \p e at instant \p at_ms.
 * @param tz zone for calendar ranges ([day], [week], [month]); UTC if NULL.
 * @returns JD_OK and a result to free with query_result_free().
 */
enum jd_err query_eval(struct store *store, const struct tz *tz, const struct expr_node *e,
                       int64_t at_ms, struct query_result *out, char *errstr, size_t errstr_size);

/** Free a result's contents; safe on a zeroed result. */
void query_result_free(struct query_result *r);

/**
 * @brief Print a sample's value exactly ("1845", "399.5", "0.2307692307692308").
 * @returns the length (buf needs 48 bytes).
 */
size_t query_format_value(const struct query_sample *s, char *buf, size_t size);

#endif
