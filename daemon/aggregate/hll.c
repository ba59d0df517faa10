/*
 * hll.c — register updates, merging and the cardinality estimate.
 *
 * Owns the sketch arithmetic only; where register updates are stored (chunk
 * records) is chunk.c's business. The estimator follows Otmar Ertl, "New
 * cardinality estimation algorithms for HyperLogLog sketches" (2017): the
 * register histogram C_k feeds sigma() for empty registers and tau() for
 * saturated ones, and E = alpha_inf * m^2 / z.
 */
#include "aggregate/hll.h"

#include "core/hash.h"

#include <math.h>
#include <string.h>

struct hll_update hll_of(struct jd_str user)
{
    uint64_t h = hash64(user.p, user.n, UINT64_C(0x686c6c2d75736572));
    struct hll_update u;
    uint64_t w = h & ((UINT64_C(1) << HLL_Q) - 1);
    u.reg = (uint16_t)(h >> HLL_Q);
    /* rank: 1 + leading zeros of the HLL_Q-bit remainder (HLL_Q + 1 when it is all zero) */
    u.rank = w ? (uint8_t)(__builtin_clzll(w) - HLL_P + 1) : (uint8_t)(HLL_Q + 1);
    return u;
}

void hll_apply(uint8_t *regs, const struct hll_update *u, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (u[i].rank > regs[u[i].reg])
            regs[u[i].reg] = u[i].rank;
}

void hll_merge(uint8_t *dst, const uint8_t *src)
{
    for (size_t i = 0; i < HLL_REGS; i++)
        if (src[i] > dst[i])
            dst[i] = src[i];
}

/* sigma(x) = x + sum_{k>=1} x^(2^k) 2^(k-1), for the share x of empty registers. */
static double hll_sigma(double x)
{
    if (x == 1.0)
        return INFINITY;
    double y = 1.0, z = x, prev;
    do {
        x *= x;
        prev = z;
        z += x * y;
        y += y;
    } while (z != prev);
    return z;
}

/* tau(x) = (1 - x - sum_{k>=1} (1 - x^(2^-k))^2 2^-k) / 3, for saturated registers. */
static double hll_tau(double x)
{
    if (x == 0.0 || x == 1.0)
        return 0.0;
    double y = 1.0, z = 1.0 - x, prev;
    do {
        x = sqrt(x);
        prev = z;
        y *= 0.5;
        z -= (1.0 - x) * (1.0 - x) * y;
    } while (z != prev);
    return z / 3.0;
}

double hll_estimate(const uint8_t *regs)
{
    uint32_t c[HLL_Q + 2];
    const double m = HLL_REGS;

    memset(c, 0, sizeof(c));
    for (size_t i = 0; i < HLL_REGS; i++)
        c[regs[i] <= HLL_Q + 1 ? regs[i] : HLL_Q + 1]++;
    if (c[0] == HLL_REGS)
        return 0.0;
    double z = m * hll_tau(1.0 - (double)c[HLL_Q + 1] / m);
    for (int k = HLL_Q; k >= 1; k--)
        z = 0.5 * (z + (double)c[k]);
    z += m * hll_sigma((double)c[0] / m);
    return 0.5 / log(2.0) * m * m / z; /* alpha_inf = 1 / (2 ln 2) */
}
