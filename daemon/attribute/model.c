/*
 * model.c — the per-conversion split of attribution.md's models, and exact
 * apportionment of integer totals.
 *
 * Owns only arithmetic on one path. Which touches are eligible (lookback,
 * journey mode, the cap) is journey.c's business; where data-driven weights
 * come from is markov.c's and shapley.c's.
 */
#include "attribute/model.h"

#include <math.h>

static const char *const model_names[MODEL_N] = {
    "first_touch",    "last_touch", "last_non_direct", "linear",
    "position_based", "time_decay", "markov",          "shapley",
};

const char *model_name(enum model_id m)
{
    return (unsigned)m < MODEL_N ? model_names[m] : "?";
}

bool model_from_name(struct jd_str name, enum model_id *out)
{
    for (int i = 0; i < MODEL_N; i++)
        if (jd_str_eqc(name, model_names[i])) {
            *out = (enum model_id)i;
            return true;
        }
    return false;
}

bool model_is_data_driven(enum model_id m)
{
    return m == MODEL_MARKOV || m == MODEL_SHAPLEY;
}

/* Distinct channels share by chw (evenly when all weigh nothing); a
 * channel's share is split evenly over its touches. */
static void model_by_channel(const struct model_touch *t, size_t n, const double *chw, double *w,
                             double *cnt)
{
    double total = 0;
    size_t ndistinct = 0;
    for (size_t i = 0; i < n; i++) {
        size_t first = i;
        cnt[i] = 0;
        for (size_t j = 0; j < n; j++)
            if (t[j].ch == t[i].ch) {
                cnt[i]++;
                if (j < first)
                    first = j;
            }
        if (first == i) {
            ndistinct++;
            if (chw && chw[t[i].ch] > 0 && isfinite(chw[t[i].ch]))
                total += chw[t[i].ch];
        }
    }
    for (size_t i = 0; i < n; i++) {
        double cw = chw && chw[t[i].ch] > 0 && isfinite(chw[t[i].ch]) ? chw[t[i].ch] : 0;
        double share = total > 0 ? cw / total : 1.0 / (double)ndistinct;
        w[i] = share / cnt[i];
    }
}

void model_weights(enum model_id m, const struct model_params *p, const struct model_touch *t,
                   size_t n, int64_t tc, const double *chw, double *w, double *scratch)
{
    for (size_t i = 0; i < n; i++)
        w[i] = 0;
    if (n == 0)
        return;
    switch (m) {
    case MODEL_FIRST_TOUCH:
        w[0] = 1;
        return;
    case MODEL_LAST_TOUCH:
        w[n - 1] = 1;
        return;
    case MODEL_LAST_NON_DIRECT: {
        size_t i = n;
        while (i > 0 && t[i - 1].direct)
            i--;
        w[i > 0 ? i - 1 : n - 1] = 1;
        return;
    }
    case MODEL_LINEAR:
        for (size_t i = 0; i < n; i++)
            w[i] = 1.0 / (double)n;
        return;
    case MODEL_POSITION_BASED:
        if (n <= 2) {
            for (size_t i = 0; i < n; i++)
                w[i] = 1.0 / (double)n;
            return;
        }
        w[0] = p->first_weight;
        w[n - 1] = p->last_weight;
        for (size_t i = 1; i + 1 < n; i++)
            w[i] = (1.0 - p->first_weight - p->last_weight) / (double)(n - 2);
        return;
    case MODEL_TIME_DECAY: {
        /* Relative to the newest touch, so the largest weight is 1 and no
         * touch underflows before its relative share would. */
        double sum = 0, hl = (double)(p->half_life_ms > 0 ? p->half_life_ms : 1);
        int64_t newest = t[0].ts;
        for (size_t i = 1; i < n; i++)
            newest = JD_MAX(newest, t[i].ts);
        (void)tc; /* 2^(-(tc-ts)/h) normalised is the same for any reference time */
        for (size_t i = 0; i < n; i++) {
            w[i] = exp2(-(double)(newest - t[i].ts) / hl);
            sum += w[i];
        }
        for (size_t i = 0; i < n; i++)
            w[i] /= sum;
        return;
    }
    case MODEL_MARKOV:
    case MODEL_SHAPLEY:
        model_by_channel(t, n, chw, w, scratch);
        return;
    case MODEL_N:
        break;
    }
}

void model_apportion(const double *w, size_t n, int64_t total, int64_t *out)
{
    if (n == 0)
        return;
    bool neg = total < 0;
    /* |INT64_MIN| does not fit; values are bounded far below it anyway. */
    int64_t mag = neg ? (total == INT64_MIN ? INT64_MAX : -total) : total;
    int64_t sum = 0;
    for (size_t i = 0; i < n; i++) {
        double x = w[i] > 0 ? floor(w[i] * (double)mag) : 0;
        out[i] = x >= (double)mag ? mag : (int64_t)x;
        sum += out[i];
    }
    /* Floating-point products may leave the floors a few units off; hand
     * the difference out by remainder, largest first (ties: lower index). */
    while (sum != mag) {
        size_t best = SIZE_MAX;
        double bestr = 0;
        for (size_t i = 0; i < n; i++) {
            double r = (w[i] > 0 ? w[i] * (double)mag : 0) - (double)out[i];
            if (sum < mag) {
                if (w[i] > 0 && (best == SIZE_MAX || r > bestr)) {
                    best = i;
                    bestr = r;
                }
            } else if (out[i] > 0 && (best == SIZE_MAX || r < bestr)) {
                best = i;
                bestr = r;
            }
        }
        if (best == SIZE_MAX) /* all weights zero: the first touch takes it */
            best = 0;
        if (sum < mag) {
            out[best]++;
            sum++;
        } else {
            out[best]--;
            sum--;
        }
    }
    if (neg)
        for (size_t i = 0; i < n; i++)
            out[i] = -out[i];
}
