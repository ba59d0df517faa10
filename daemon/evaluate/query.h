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
    bool none;          /**< the series exists but has no value (division by zero, a ratio
                             below min_denominator, a table without a row or default) */
    bool has_threshold; /**< set by a comparison: what it compared with (see tableval) */
    double threshold;
    bool has_tableval; /**< the value came from one table(): its row, before any scaling, */
    double tableval;   /**< is what $threshold reports (count(x) > 1.2 * table(cap): cap) */
};

struct query_result {
    struct query_sample *v; /**< sorted by labels */
    size_t n;
    bool scalar;                     /**< a plain number, not series */
    const struct query_table *table; /**< table(NAME) with `by`: values depend on labels */
    double scale, shift;             /**< table value = scale * lookup + shift */
};

/** One row of a threshold table: values parallel to query_table.by. */
struct query_table_row {
    char **values;
    double value;
};

/** Most `by` labels a table may have. */
#define QUERY_TABLE_MAX_BY 8

/** A rule-file table (rules.md, "tables:"): table(NAME) looks a value up by labels. */
struct query_table {
    char *name;
    char **by; /**< label names; none: the table is a single number (its default) */
    size_t nby;
    bool has_default;
    double dflt;
    struct query_table_row *rows;
    size_t nrows;
};

/**
 * @brief Look up \p t for a series with \p labels (missing labels match "").
 * @returns true with *out set, false when no row matches and there is no default.
 */
bool query_table_lookup(const struct query_table *t, const struct query_label *labels,
                        size_t nlabels, double *out);

/**
 * Where query reads windows from: the Redis store, or an in-memory one
 * (memwin.h, for replays and rule tests). The same chunk bytes either way.
 */
struct query_source_ops {
    enum jd_err (*list_series)(void *self, const char *type, struct store_series **out, size_t *n,
                               char *errstr, size_t errstr_size);
    size_t (*key_chunk)(const void *self, char *buf, size_t size, struct jd_str type, uint64_t sid,
                        enum window_res r, int64_t bucket);
    enum jd_err (*get_many)(void *self, struct store_get *gets, size_t n, char *errstr,
                            size_t errstr_size);
    enum jd_err (*gc_cutoff)(void *self, int64_t *out, char *errstr, size_t errstr_size);
    const struct window_retention *(*retention)(const void *self);
};

struct query_source {
    const struct query_source_ops *ops;
    void *self;
};

/** @returns a source reading \p store (borrowed). */
struct query_source query_source_store(struct store *store);

/** Everything an evaluation reads besides the expression and the instant. */
struct query_env {
    struct query_source src;
    const struct tz *tz;              /**< for calendar ranges and periods; UTC if NULL */
    const struct query_table *tables; /**< for table(NAME) */
    size_t ntables;
};

/**
 * @brief Evaluate \p e at instant \p at_ms (series without a value are left out).
 * @returns JD_OK and a result to free with query_result_free().
 */
enum jd_err query_eval_env(const struct query_env *env, const struct expr_node *e, int64_t at_ms,
                           struct query_result *out, char *errstr, size_t errstr_size);

/** A rule condition's outcome for one series. */
enum query_truth {
    QUERY_FALSE,   /**< the series has a value and the condition does not hold */
    QUERY_TRUE,    /**< it holds */
    QUERY_NO_DATA, /**< the series exists but has no value at this instant */
};

/**
 * @brief Evaluate \p e as a rule condition: every series that has or had
 *        an opinion, with its truth. A comparison keeps the series where it
 *        fails too (QUERY_FALSE) and the ones without a value (QUERY_NO_DATA);
 *        any other expression holds for the series it returns.
 * @param truth set to a malloc'd array parallel to out->v (free it).
 */
enum jd_err query_eval_cond(const struct query_env *env, const struct expr_node *e, int64_t at_ms,
                            struct query_result *out, enum query_truth **truth, char *errstr,
                            size_t errstr_size);

/** query_eval_env() over the Redis store, without tables. */
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
