/*
 * attr_sort.c — grouping a batch's journey events by user.
 *
 * Owns only the order: attr.c walks it, user by user. The fingerprints are
 * store.h's (store_user_fp()), computed by attr.c before the sort.
 */
#include "attribute/attr_int.h"

#include <string.h>

static unsigned attr_digit(const struct attr_key *k, int d)
{
    return d < 8 ? (unsigned)(k->fa >> (8 * d)) & 0xff : (k->part >> (8 * (d - 8))) & 0xff;
}

/*
 * Orders the batch's events by partition, user fingerprint and arrival
 * into a->order: a stable radix sort, byte by byte, over the partition and
 * the fingerprint's high half (a byte all keys share costs no pass), then
 * insertion by the low half where two users share a high half (about one
 * batch in 2^40). qsort_r() with a comparator cost more than all the rest
 * of grouping a batch.
 */
bool attr_sort(struct attr *a)
{
    size_t n = a->nev;
    if (!jd_reserve((void **)&a->keys, &a->capkeys, n + 1, sizeof(*a->keys)) ||
        !jd_reserve((void **)&a->keys2, &a->capkeys2, n + 1, sizeof(*a->keys2)))
        return false;
    memset(a->hist, 0, sizeof(a->hist));
    for (size_t i = 0; i < n; i++) {
        struct attr_key *k = &a->keys[i];
        *k = (struct attr_key){ a->ev[i].fa, (uint32_t)a->ev[i].partition, (uint32_t)i };
        for (int d = 0; d < 12; d++)
            a->hist[d][attr_digit(k, d)]++;
    }
    struct attr_key *src = a->keys, *dst = a->keys2;
    for (int d = 0; d < 12 && n; d++) {
        uint32_t *h = a->hist[d];
        if (h[attr_digit(&src[0], d)] == n)
            continue;
        uint32_t sum = 0;
        for (int b = 0; b < 256; b++) {
            uint32_t c = h[b];
            h[b] = sum;
            sum += c;
        }
        for (size_t i = 0; i < n; i++)
            dst[h[attr_digit(&src[i], d)]++] = src[i];
        struct attr_key *t = src;
        src = dst;
        dst = t;
    }
    for (size_t i = 1; i < n; i++) {
        struct attr_key k = src[i];
        const struct attr_ev *e = &a->ev[k.idx];
        size_t j = i;
        while (j > 0 && src[j - 1].part == k.part && src[j - 1].fa == k.fa &&
               a->ev[src[j - 1].idx].fb > e->fb) {
            src[j] = src[j - 1];
            j--;
        }
        src[j] = k;
    }
    for (size_t i = 0; i < n; i++)
        a->order[i] = src[i].idx;
    return true;
}
