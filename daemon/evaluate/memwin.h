/*
 * memwin.h — windows kept in memory, for backtests and rule tests.
 *
 * `journeyctl replay` and `journeyctl test rules` run the rule engine without
 * Redis. memwin takes sealed batches (agg.h) and keeps exactly the chunk
 * bytes the store would append in Redis (chunk.h), so query.c reads them
 * through the same code path and computes the same numbers. Nothing expires:
 * a backtest is bounded by its input.
 */
#ifndef JD_MEMWIN_H
#define JD_MEMWIN_H

#include "aggregate/agg.h"
#include "evaluate/query.h"

struct memwin;

/** @returns an empty window set (NULL when out of memory). */
struct memwin *memwin_new(void);

/** Free \p m; NULL is a no-op. */
void memwin_destroy(struct memwin *m);

/**
 * @brief Append a sealed batch's bucket records.
 * @returns JD_OK or JD_ERR_NOMEM (then part of the batch may be applied: discard \p m).
 */
enum jd_err memwin_apply(struct memwin *m, const struct agg *a, char *errstr, size_t errstr_size);

/** @returns a query source reading \p m (borrowed: \p m must outlive its use). */
struct query_source memwin_source(struct memwin *m);

/** @returns the number of chunks held (for progress output). */
size_t memwin_nchunks(const struct memwin *m);

#endif
