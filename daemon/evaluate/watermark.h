/*
 * watermark.h — the group-wide watermark (rules.md, "Evaluation semantics"),
 * computed from every partition's progress as Redis holds it.
 *
 * Pure: the partitions' progress and the clock come in as parameters (the
 * clock is Redis's, so every instance judges idleness by the same one).
 */
#ifndef JD_WATERMARK_H
#define JD_WATERMARK_H

#include "store/store.h"

#include <stddef.h>
#include <stdint.h>

struct watermark_opts {
    int64_t lateness_ms;
    int64_t idle_timeout_ms;
};

/**
 * @brief The watermark at \p now_ms, never behind \p prev (INT64_MIN: none yet).
 *
 * Partitions that moved (a batch or a claim) within the idle timeout hold
 * it at their stream time minus the lateness. One the consumer found at its
 * log end after its last batch (`ct`) counts as having moved on in event
 * time by the wall time since that batch (`ct - wt`): a quiet partition does
 * not hold the watermark at its last event, yet a steadily delayed stream or
 * the end of a backfill is never pulled to the clock. A partition that moved
 * but has applied no event yet holds it where it is, unless it was found at
 * its end since. When every partition is
 * idle it follows the clock minus the lateness in live operation (the data
 * arrived in near real time, or the watermark already follows the clock),
 * and otherwise (the end of a backfill) advances to the latest event time,
 * as `journeyctl replay` does at the end of its file. Never jumps a backfill
 * to the clock.
 * @returns the watermark, or INT64_MIN when nothing is known yet.
 */
int64_t watermark_compute(const struct store_progress *parts, size_t n, int64_t now_ms,
                          int64_t prev, const struct watermark_opts *o);

/** @returns the earliest event time any partition applied (INT64_MIN: none). */
int64_t watermark_data_start(const struct store_progress *parts, size_t n);

/** @returns the latest event time any partition applied (INT64_MIN: none). */
int64_t watermark_data_end(const struct store_progress *parts, size_t n);

#endif
