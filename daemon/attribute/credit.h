/*
 * credit.h — one conversion's credits under every configured model.
 *
 * Given the touches a conversion is credited to (journey_convert()), each
 * model's weights (model.h) are summed per (channel, campaign) and
 * apportioned exactly: one conversion is 1,000,000 micro-conversions and
 * its value is its micros, so every model's credits add up to both to the
 * last unit. A conversion without touches is credited to `(none)`.
 * Pure: the data-driven weights come from a callback. Scratch space is
 * sized once (credit_new()), so computing allocates nothing.
 */
#ifndef JD_CREDIT_H
#define JD_CREDIT_H

#include "attribute/journey.h"
#include "attribute/model.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct credit_opts {
    bool models[MODEL_N];
    struct model_params params;
    const char *const *direct; /**< channels last_non_direct skips (borrowed) */
    size_t ndirect;
    size_t max_touches; /**< most touches a conversion is credited to */
};

/**
 * Data-driven weight of \p channel for \p model (markov: removal effect,
 * shapley: Shapley value); 0 or NAN when unknown. NULL lookup: unknown.
 */
struct credit_weights {
    double (*lookup)(void *self, enum model_id model, struct jd_str channel);
    void *self;
};

/** One credit: a model's share of a conversion for a channel and campaign. */
struct credit_out {
    enum model_id model;
    struct jd_str channel, campaign; /**< slices of the touches (or "(none)", "") */
    int64_t conversions;             /**< micro-conversions */
    int64_t value;                   /**< micros */
};

struct credit;

/** @returns a calculator for \p o (copied; strings borrowed), NULL when out of memory. */
struct credit *credit_new(const struct credit_opts *o);

/** Free \p c; NULL is a no-op. */
void credit_destroy(struct credit *c);

/** @returns the most credits one conversion can produce (room for credit_compute()'s out). */
size_t credit_max_out(const struct credit *c);

/**
 * @brief Credit one conversion at \p tc worth \p value micros over
 *        \p t[idx[0..n)] (oldest first; at most max_touches, the newest
 *        are used if more).
 * @returns the number of credits written to \p out.
 */
size_t credit_compute(struct credit *c, const struct journey_touch *t, const size_t *idx, size_t n,
                      int64_t tc, int64_t value, const struct credit_weights *w,
                      struct credit_out *out);

#endif
