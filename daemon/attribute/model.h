/*
 * model.h — how one conversion's credit is split across the touches before it.
 *
 * attribution.md's eight models. The six rule-based ones need only the path;
 * markov and shapley split by per-channel weights that the data-driven code
 * (markov.h, shapley.h) derives from many paths. Weights are doubles summing
 * to 1; model_apportion() then turns them into integer shares of a total
 * (micro-conversions, value micros) that add up to the total exactly, so the
 * credit stream conserves conversions and money to the last unit.
 * Pure: no I/O, no clock (the conversion time is a parameter).
 */
#ifndef JD_MODEL_H
#define JD_MODEL_H

#include "core/jd.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum model_id {
    MODEL_FIRST_TOUCH,
    MODEL_LAST_TOUCH,
    MODEL_LAST_NON_DIRECT,
    MODEL_LINEAR,
    MODEL_POSITION_BASED,
    MODEL_TIME_DECAY,
    MODEL_MARKOV,
    MODEL_SHAPLEY,
    MODEL_N
};

/** The channel credited when a conversion has no eligible touch. */
#define MODEL_NONE_CHANNEL "(none)"

/** @returns the model's name ("first_touch", …). */
const char *model_name(enum model_id m);

/** @returns true with *out set if \p name is a model's name. */
bool model_from_name(struct jd_str name, enum model_id *out);

/** @returns true for markov and shapley (they need weights learnt from many paths). */
bool model_is_data_driven(enum model_id m);

/** A touch as the models see it. */
struct model_touch {
    int64_t ts;  /**< event time, ms */
    uint32_t ch; /**< channel index (into the caller's channel table) */
    bool direct; /**< channel is in attribution.direct_channels */
};

struct model_params {
    double first_weight, last_weight; /**< position_based (0.4, 0.4) */
    int64_t half_life_ms;             /**< time_decay (7 d) */
};

/**
 * @brief Split one conversion at \p tc over touches \p t[0..n) (oldest first, n ≥ 1).
 * @param chw data-driven models only: a weight per channel index (a removal
 *        effect or Shapley value, ≥ 0); the path's distinct channels share in
 *        proportion to it, and a channel's share is split evenly over its
 *        touches. When every channel of the path weighs 0 (or chw is NULL),
 *        the distinct channels share equally.
 * @param w out: n weights, each ≥ 0, summing to 1.
 * @param scratch n doubles of working space (data-driven models only).
 */
void model_weights(enum model_id m, const struct model_params *p, const struct model_touch *t,
                   size_t n, int64_t tc, const double *chw, double *w, double *scratch);

/**
 * @brief Apportion the integer \p total by weights \p w[0..n) (summing to 1):
 *        each share is floor(w·|total|) plus one unit for the largest
 *        remainders, ties to the lower index, so the shares add up to
 *        \p total exactly (and carry its sign).
 */
void model_apportion(const double *w, size_t n, int64_t total, int64_t *out);

#endif
