/*
 * markov.h — the data-driven Markov model: removal effects of an absorbing
 * chain over channel states, solved exactly (no simulation).
 *
 * States are the last `order` (1–3) channels of a path with consecutive
 * repeats collapsed (a path's first states are shorter), plus start,
 * conversion and null. Transition counts come either from whole paths
 * (markov_add_path(), e.g. a ChannelAttribution path file) or one by one
 * (markov_add(), from the path statistics kept in Redis). markov_solve()
 * computes P(conversion) and, for every channel c, the probability with
 * every state containing c turned into a null state:
 *
 *   RE_c = 1 − P(conversion | c removed) / P(conversion)
 *
 * and the same for the expected conversion value, where a transition into
 * conversion from state s carries the mean value of the conversions made
 * from s. Absorption probabilities solve x = Q·x + b by Gauss–Seidel sweeps
 * until no state changes by more than 1e-15 (relative): the fixed point of
 * the linear system to double precision, deterministic run to run.
 * Pure: no I/O.
 */
#ifndef JD_MARKOV_H
#define JD_MARKOV_H

#include "core/err.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MARKOV_MAX_ORDER 3

/** Pseudo-channels for markov_add()'s \p to. */
#define MARKOV_TO_CONV UINT32_MAX
#define MARKOV_TO_NULL (UINT32_MAX - 1)

struct markov;

/** @returns an empty chain of \p order (1–3), NULL when out of memory or a bad order. */
struct markov *markov_new(int order);

/** Free \p m; NULL is a no-op. */
void markov_destroy(struct markov *m);

/** @returns the chain's order. */
int markov_order(const struct markov *m);

/**
 * @brief Count \p count transitions from the state made of channels
 *        \p from[0..nfrom) (nfrom 0: start; at most the order, oldest first)
 *        to channel \p to, or to MARKOV_TO_CONV (\p value: their total
 *        conversion value) or MARKOV_TO_NULL.
 * @returns false when out of memory or nfrom exceeds the order.
 */
bool markov_add(struct markov *m, const uint32_t *from, size_t nfrom, uint32_t to, double count,
                double value);

/**
 * @brief Count a whole path (channels oldest first, repeats collapsed here):
 *        \p conv conversions with total \p value, and \p nulls journeys that
 *        ended without one. An empty path adds nothing (attribution credits
 *        those conversions to `(none)`).
 * @returns false when out of memory.
 */
bool markov_add_path(struct markov *m, const uint32_t *ch, size_t n, double conv, double value,
                     double nulls);

/** The solved chain. Arrays are indexed by channel and hold nch entries. */
struct markov_result {
    size_t nch;
    double p_conv;    /**< P(conversion) from start */
    double value;     /**< expected conversion value from start */
    double *re;       /**< removal effect per channel (0 for unseen channels) */
    double *re_value; /**< value removal effect per channel */
    size_t nstates;   /**< channel states (start not counted) */
    uint64_t sweeps;  /**< Gauss–Seidel sweeps over all solves */
};

/**
 * @brief Solve the chain and every channel removal for channels 0..nch-1.
 * @returns JD_OK with \p out filled (free with markov_result_free()),
 *          JD_ERR_NOMEM, or JD_ERR_RANGE when a solve did not converge
 *          (a chain that never absorbs; not possible with counts from paths).
 */
enum jd_err markov_solve(const struct markov *m, size_t nch, struct markov_result *out,
                         char *errstr, size_t errstr_size);

/** Free a result's arrays; safe on a zeroed result. */
void markov_result_free(struct markov_result *r);

#endif
