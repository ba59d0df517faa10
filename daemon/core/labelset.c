/*
 * labelset.c — bounded interning of label values (open addressing over a
 * power-of-two table twice the cap). Owns the names it copied; knows nothing
 * of what the indices count.
 */
#include "core/labelset.h"

#include "core/hash.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct labelset {
    size_t cap, n, mask;
    char (*names)[LABELSET_NAME_MAX + 1];
    uint32_t *slots; /* index + 1; 0: empty */
};

struct labelset *labelset_new(size_t cap)
{
    if (cap < 1 || cap > 4096)
        return NULL;
    struct labelset *s = calloc(1, sizeof(*s));
    size_t tab = 8;
    while (tab < cap * 2)
        tab <<= 1;
    if (!s || !(s->names = calloc(cap, sizeof(*s->names))) ||
        !(s->slots = calloc(tab, sizeof(*s->slots)))) {
        labelset_destroy(s);
        return NULL;
    }
    s->cap = cap;
    s->mask = tab - 1;
    return s;
}

void labelset_destroy(struct labelset *s)
{
    if (!s)
        return;
    free(s->names);
    free(s->slots);
    free(s);
}

size_t labelset_index(struct labelset *s, const char *p, size_t len)
{
    /* a value spelled like the shared row joins it: two samples with one label set would
     * make the whole /metrics page invalid */
    if (len > LABELSET_NAME_MAX ||
        (len == sizeof(LABELSET_OTHER) - 1 && !memcmp(p, LABELSET_OTHER, len)))
        return s->cap;
    for (size_t i = hash64(p, len, 0) & s->mask;; i = (i + 1) & s->mask) {
        uint32_t v = s->slots[i];
        if (!v) {
            if (s->n == s->cap)
                return s->cap;
            memcpy(s->names[s->n], p, len);
            s->names[s->n][len] = '\0';
            s->slots[i] = (uint32_t)++s->n;
            return s->n - 1;
        }
        const char *name = s->names[v - 1];
        if (!memcmp(name, p, len) && name[len] == '\0')
            return v - 1;
    }
}

size_t labelset_count(const struct labelset *s)
{
    return s->n;
}

size_t labelset_cap(const struct labelset *s)
{
    return s->cap;
}

const char *labelset_name(const struct labelset *s, size_t i)
{
    return i < s->n ? s->names[i] : LABELSET_OTHER;
}
