/*
 * report.h — an attribution report: conversions and value per channel per
 * model, and its renderings (table, csv, json, svg).
 *
 * report_from_paths() is the batch definition of attribution.md over a path
 * set: the rule-based models split each path's conversions over its touches;
 * markov and shapley are computed from all paths at once (removal effects
 * of the absorbing chain; Shapley values of the channel-subset game). Rows
 * with an empty path are credited to `(none)` by every model. Renderers
 * write to a FILE and know nothing else. Spend (from `cost` events) is
 * filled in by whoever knows it; path files have none.
 */
#ifndef JD_REPORT_H
#define JD_REPORT_H

#include "attribute/model.h"
#include "attribute/paths.h"
#include "core/err.h"

#include <stdbool.h>
#include <stdio.h>

struct report_opts {
    bool models[MODEL_N]; /**< which to compute */
    int markov_order;     /**< 1–3 */
    struct model_params params;
    const char *const *direct; /**< channel names last_non_direct skips */
    size_t ndirect;
};

/** One line of a report: a model's credit to a channel (and campaign). */
struct report_row {
    enum model_id model;
    char *channel;
    char *campaign; /**< "" when not broken down by campaign */
    double conversions, value;
    bool has_spend;
    double spend; /**< of the channel (campaign) over the window */
};

struct report {
    char *conversion_type;   /**< "" when not known (path files) */
    struct report_row *rows; /**< by channel (campaign), then model */
    size_t nrows, caprows;
    bool models[MODEL_N];
    double total_conversions, total_value;
    size_t npaths;
    /* Markov diagnostics (when computed): per channel of rows' names. */
    int markov_order;
    double p_conv;
    size_t markov_states;
    char **re_channels;
    double *re, *re_value;
    size_t nre;
};

/** Options with attribution.md's defaults (all models, order 1, direct = [direct]). */
void report_opts_default(struct report_opts *o);

/**
 * @brief Compute \p o's models over \p p into \p out (zeroed by the caller or
 *        fresh). time_decay needs touch times, which path data has not: it
 *        is skipped (out->models says what was computed).
 * @returns JD_OK, JD_ERR_NOMEM, JD_ERR_RANGE (Markov solve, errstr).
 */
enum jd_err report_from_paths(const struct paths *p, const struct report_opts *o,
                              struct report *out, char *errstr, size_t errstr_size);

/**
 * @brief Add (or add to) the row for (model, channel, campaign).
 * @returns the row, NULL when out of memory.
 */
struct report_row *report_row(struct report *r, enum model_id m, const char *channel,
                              const char *campaign);

/** Sort rows by channel, campaign, then model. */
void report_sort(struct report *r);

/** Free a report's contents; safe on a zeroed report. */
void report_free(struct report *r);

enum report_format { REPORT_TABLE, REPORT_CSV, REPORT_JSON, REPORT_SVG };

/** @returns true with *out set if \p name is table, csv, json or svg. */
bool report_format_from_name(const char *name, enum report_format *out);

/**
 * @brief Render \p r to \p out.
 * @param title one line for the table heading and the chart (may be NULL).
 * @returns JD_OK, JD_ERR_IO or JD_ERR_NOMEM.
 */
enum jd_err report_write(const struct report *r, enum report_format f, const char *title, FILE *out,
                         char *errstr, size_t errstr_size);

#endif
