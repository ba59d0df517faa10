/*
 * series.c — canonical label encoding and series ids.
 *
 * Owns what makes two events belong to the same series. It does not decide
 * where series are stored (store.c) or how selectors match them (query.c).
 */
#include "aggregate/series.h"

#include "core/hash.h"

#include <string.h>

static size_t series_put(char *buf, size_t w, struct jd_str name, struct jd_str value)
{
    if (w)
        buf[w++] = SERIES_SEP_PAIR;
    memcpy(buf + w, name.p, name.n);
    w += name.n;
    buf[w++] = SERIES_SEP_VALUE;
    if (value.n)
        memcpy(buf + w, value.p, value.n);
    return w + value.n;
}

size_t series_labels_encode(const struct event *ev, char *buf)
{
    /* props are sorted and can never be named channel/campaign: merge them */
    struct jd_str fixed_name[2] = { JD_STR_LIT("campaign"), JD_STR_LIT("channel") };
    struct jd_str fixed_val[2] = { ev->campaign, ev->channel };
    size_t w = 0, f = 0;

    for (uint32_t i = 0; i <= ev->nprops; i++) {
        while (f < 2 && (i == ev->nprops || jd_str_cmp(fixed_name[f], ev->props[i].key) < 0)) {
            if (fixed_val[f].n)
                w = series_put(buf, w, fixed_name[f], fixed_val[f]);
            f++;
        }
        if (i < ev->nprops && ev->props[i].val.n)
            w = series_put(buf, w, ev->props[i].key, ev->props[i].val);
    }
    return w;
}

uint64_t series_id(struct jd_str type, const char *labels, size_t n)
{
    /* the type's bytes seed the hash of the labels: distinct types never share ids */
    return hash64(labels, n, hash64(type.p, type.n, UINT64_C(0x6a6f75726e657964)));
}

void series_id_hex(uint64_t sid, char out[17])
{
    static const char hex[] = "0123456789abcdef";
    for (int i = 15; i >= 0; i--) {
        out[i] = hex[sid & 0xf];
        sid >>= 4;
    }
    out[16] = '\0';
}

size_t series_labels_decode(const char *enc, size_t n, struct series_label *out, size_t cap)
{
    size_t count = 0, i = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && enc[j] != SERIES_SEP_PAIR)
            j++;
        const char *sep = memchr(enc + i, SERIES_SEP_VALUE, j - i);
        if (sep) {
            if (count < cap) {
                out[count].name = (struct jd_str){ enc + i, (size_t)(sep - (enc + i)) };
                out[count].value = (struct jd_str){ sep + 1, (size_t)(enc + j - sep - 1) };
            }
            count++;
        }
        i = j + 1;
    }
    return count;
}
