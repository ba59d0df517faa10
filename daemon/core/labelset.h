/*
 * labelset.h — a bounded set of label values for metrics.
 *
 * Event types and channels come from the data, so a metric labelled by them
 * must not grow without bound: the first `cap` distinct values get their own
 * index, every later one shares the index `cap`, named "_other" (as does a
 * value that is itself "_other", so no two rows share a name). Lookups
 * allocate nothing; the table is sized once.
 */
#ifndef JD_LABELSET_H
#define JD_LABELSET_H

#include <stddef.h>

/** The name of the shared index for values beyond the cap (and for overlong ones). */
#define LABELSET_OTHER "_other"
/** Longer values are counted under LABELSET_OTHER. */
#define LABELSET_NAME_MAX 64

struct labelset;

/** @returns a set for at most \p cap values (1..4096), or NULL when out of memory. */
struct labelset *labelset_new(size_t cap);

/** Free \p s; NULL is a no-op. */
void labelset_destroy(struct labelset *s);

/**
 * @returns the index of value \p p[0..len) (0 <= index < cap), adding it when
 *          there is room; labelset_cap() when the set is full or the value
 *          is longer than LABELSET_NAME_MAX.
 */
size_t labelset_index(struct labelset *s, const char *p, size_t len);

/** @returns the number of indices in use, "_other" not included. */
size_t labelset_count(const struct labelset *s);

/** @returns the cap: the index of "_other". */
size_t labelset_cap(const struct labelset *s);

/** @returns the value of index \p i (< labelset_count()), or "_other" for labelset_cap(). */
const char *labelset_name(const struct labelset *s, size_t i);

#endif
