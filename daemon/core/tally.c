/*
 * tally.c — staged and committed totals over a labelset (see tally.h).
 * Owns its cells; what the columns mean is the caller's.
 */
#include "core/tally.h"

#include "core/labelset.h"

#include <stdlib.h>
#include <string.h>

struct tally {
    struct labelset *labels;
    size_t ncols, nrows; /* nrows = cap + 1 ("_other") */
    int64_t *staged, *total;
    bool dirty;
    bool other_used;
};

struct tally *tally_new(size_t cap, size_t ncols)
{
    struct tally *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->ncols = ncols;
    t->nrows = cap + 1;
    if (!(t->labels = labelset_new(cap)) ||
        !(t->staged = calloc(t->nrows * ncols, sizeof(int64_t))) ||
        !(t->total = calloc(t->nrows * ncols, sizeof(int64_t)))) {
        tally_destroy(t);
        return NULL;
    }
    return t;
}

void tally_destroy(struct tally *t)
{
    if (!t)
        return;
    labelset_destroy(t->labels);
    free(t->staged);
    free(t->total);
    free(t);
}

void tally_add(struct tally *t, const char *label, size_t len, size_t col, int64_t v)
{
    size_t row = labelset_index(t->labels, label, len);
    t->staged[row * t->ncols + col] += v;
    t->dirty = true;
}

void tally_commit(struct tally *t)
{
    if (!t->dirty)
        return;
    size_t cap = labelset_cap(t->labels);
    for (size_t i = 0; i < t->nrows * t->ncols; i++) {
        if (t->staged[i] && i / t->ncols == cap)
            t->other_used = true;
        t->total[i] += t->staged[i];
    }
    tally_discard(t);
}

void tally_discard(struct tally *t)
{
    if (t->dirty)
        memset(t->staged, 0, t->nrows * t->ncols * sizeof(int64_t));
    t->dirty = false;
}

size_t tally_rows(const struct tally *t)
{
    return labelset_count(t->labels) + (t->other_used ? 1 : 0);
}

const char *tally_label(const struct tally *t, size_t row)
{
    size_t n = labelset_count(t->labels);
    return labelset_name(t->labels, row < n ? row : labelset_cap(t->labels));
}

int64_t tally_total(const struct tally *t, size_t row, size_t col)
{
    size_t n = labelset_count(t->labels);
    size_t r = row < n ? row : labelset_cap(t->labels);
    return t->total[r * t->ncols + col];
}
