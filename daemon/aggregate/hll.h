/*
 * hll.h — HyperLogLog sketches for distinct users, kept inside window chunks.
 *
 * 2^16 registers (standard error 1.04/256 ≈ 0.41 %), a 64-bit hash of the
 * user id: the top 16 bits pick the register, the position of the first set
 * bit in the other 48 is the rank. A batch contributes (register, rank)
 * updates; merging is a per-register max, so updates from any number of
 * batches, partitions and instances combine in any order. Cardinality uses
 * Ertl's improved estimator (no bias correction tables, accurate across the
 * whole range, exact-looking for small sets).
 */
#ifndef JD_HLL_H
#define JD_HLL_H

#include "core/jd.h"

#include <stddef.h>
#include <stdint.h>

#define HLL_P    16
#define HLL_REGS (1u << HLL_P)
#define HLL_Q    (64 - HLL_P) /* bits left for the rank: ranks are 1..HLL_Q+1 */

/** One register update. */
struct hll_update {
    uint16_t reg;
    uint8_t rank;
};

/** @returns the update a user id makes. */
struct hll_update hll_of(struct jd_str user);

/** Apply \p n updates to a dense register array of HLL_REGS bytes (max per register). */
void hll_apply(uint8_t *regs, const struct hll_update *u, size_t n);

/** Merge dense array \p src into \p dst (max per register). */
void hll_merge(uint8_t *dst, const uint8_t *src);

/** @returns the estimated number of distinct users represented by \p regs. */
double hll_estimate(const uint8_t *regs);

#endif
