/*
 * chunk.h — the byte format of a window chunk in Redis.
 *
 * A chunk (one Redis string per series, resolution and chunk of time) is an
 * append-only sequence of records; each record is one bucket's delta:
 *
 *   u8 offset | u8 flags | uvarint count
 *   [flags & 1: uvarint vcount | zigzag sum (128-bit) | zigzag min | zigzag max
 *               | zigzag last_ts | zigzag last]
 *   [flags & 8: zigzag wsum (128-bit)]             credit weights (micro-conversions)
 *   [flags & 2: uvarint n | n x (u16le register, u8 rank)]      sparse sketch
 *   [flags & 4: 65536 x u8 rank]                                dense sketch
 *
 * Appending is the whole write path (one APPEND per touched chunk per
 * batch); readers fold every record; compaction folds a chunk into one
 * record per bucket. Folding is commutative and associative, so records
 * from any batches, partitions and instances combine in any order.
 * Everything here is pure and rejects damaged bytes instead of trusting them.
 */
#ifndef JD_CHUNK_H
#define JD_CHUNK_H

#include "aggregate/agg.h"
#include "aggregate/hll.h"
#include "core/err.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Buckets per chunk never exceed this (60 minutes, 24 hours, 30 days). */
#define CHUNK_MAX_BUCKETS 64

#define CHUNK_F_VALUE  0x1
#define CHUNK_F_SPARSE 0x2
#define CHUNK_F_DENSE  0x4
#define CHUNK_F_WEIGHT 0x8

/** @returns an upper bound of the bytes one record with \p nregs updates needs. */
size_t chunk_record_max(size_t nregs);

/**
 * @brief Encode one bucket delta with \p nregs sketch updates.
 * @returns the bytes written (\p out needs chunk_record_max(nregs)).
 */
size_t chunk_put_record(uint8_t *out, unsigned offset, const struct agg_delta *d,
                        const struct hll_update *regs, size_t nregs);

/** A decoded record; sketch pointers point into the blob. */
struct chunk_rec {
    unsigned offset;
    struct agg_delta d;
    const uint8_t *sparse; /**< nsparse x (u16le, u8) */
    size_t nsparse;
    const uint8_t *dense; /**< HLL_REGS bytes, or NULL */
};

struct chunk_iter {
    const uint8_t *p, *end;
};

static inline void chunk_iter_init(struct chunk_iter *it, const void *blob, size_t len)
{
    it->p = blob;
    it->end = it->p + len;
}

/**
 * @brief Read the next record.
 * @returns 1 with \p rec filled, 0 at the end, -1 if the bytes are damaged.
 */
int chunk_next(struct chunk_iter *it, struct chunk_rec *rec);

/** Apply a record's sketch updates to a dense register array. */
void chunk_rec_apply(const struct chunk_rec *rec, uint8_t *regs);

/**
 * @brief Fold a chunk into one record per bucket (compaction).
 * @param out set to a malloc'd blob (caller frees); *outlen its length.
 * @returns JD_OK, JD_ERR_INVALID (damaged input) or JD_ERR_NOMEM.
 */
enum jd_err chunk_compact(const void *blob, size_t len, uint8_t **out, size_t *outlen);

#endif
