/*
 * tally.h — process-local totals for metrics, by a bounded label value.
 *
 * A tally is a table: one row per label value (at most `cap`, then one
 * shared "_other" row — see labelset.h), `ncols` integer columns per row
 * (outcomes, models, …). Additions are staged and become totals only on
 * tally_commit(), so what a metric shows is what was applied in Redis: a
 * batch that fails is discarded, and counted when it is read again.
 * Adding allocates nothing.
 */
#ifndef JD_TALLY_H
#define JD_TALLY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tally;

/** @returns a tally of \p cap label values × \p ncols columns, NULL when out of memory. */
struct tally *tally_new(size_t cap, size_t ncols);

/** Free \p t; NULL is a no-op. */
void tally_destroy(struct tally *t);

/** Stage \p v into row \p label[0..len), column \p col. */
void tally_add(struct tally *t, const char *label, size_t len, size_t col, int64_t v);

/** Staged additions become totals. */
void tally_commit(struct tally *t);

/** Staged additions are dropped. */
void tally_discard(struct tally *t);

/** @returns the number of rows to report (values seen, plus "_other" once used). */
size_t tally_rows(const struct tally *t);

/** @returns row \p row's label value. */
const char *tally_label(const struct tally *t, size_t row);

/** @returns row \p row's committed total in column \p col. */
int64_t tally_total(const struct tally *t, size_t row, size_t col);

#endif
