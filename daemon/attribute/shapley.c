/*
 * shapley.c — Shapley values of the channel-subset game, by its unanimity
 * decomposition (see shapley.h for why that is exact). Owns nothing.
 */
#include "attribute/shapley.h"

#include <stdbool.h>

static bool shapley_seen_before(const uint32_t *ch, size_t i)
{
    for (size_t j = 0; j < i; j++)
        if (ch[j] == ch[i])
            return true;
    return false;
}

void shapley_add_set(double *phi, double *phi_value, const uint32_t *ch, size_t n, double conv,
                     double value)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += !shapley_seen_before(ch, i);
    if (!k)
        return;
    for (size_t i = 0; i < n; i++)
        if (!shapley_seen_before(ch, i)) {
            phi[ch[i]] += conv / (double)k;
            phi_value[ch[i]] += value / (double)k;
        }
}
