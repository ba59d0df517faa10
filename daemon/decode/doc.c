/*
 * doc.c — the shared document model: allocation, member lookup, UTF-8
 * validation and exact decimal conversion of numbers.
 *
 * Owns nothing about any one encoding (json.c, mpack.c) or about events
 * (event.c). Number conversion works on the decimal text of JSON numbers so
 * that money is never routed through a binary float.
 */
#include "decode/doc.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct doc *doc_new(size_t max_bytes)
{
    struct doc *d = calloc(1, sizeof(*d));
    if (!d)
        return NULL;
    /* Every node consumes at least one input byte (msgpack nil, fixint). */
    d->cap = (uint32_t)max_bytes + 2;
    d->nodes = malloc((size_t)d->cap * sizeof(*d->nodes));
    /* Decoded strings are never longer than their escaped form. */
    d->scratch_cap = max_bytes + 64;
    d->scratch = malloc(d->scratch_cap);
    if (!d->nodes || !d->scratch) {
        doc_destroy(d);
        return NULL;
    }
    return d;
}

void doc_destroy(struct doc *d)
{
    if (!d)
        return;
    free(d->nodes);
    free(d->scratch);
    free(d);
}

const struct doc_node *doc_get(const struct doc *d, const struct doc_node *obj, const char *name)
{
    size_t nl = strlen(name);
    if (obj->type != DOC_OBJ)
        return NULL;
    for (uint32_t i = doc_first_child(d, obj), k = 0; k < obj->count; k++) {
        const struct doc_node *c = &d->nodes[i];
        if (c->key && c->key_len == nl && !memcmp(c->key, name, nl))
            return c;
        i = c->end;
    }
    return NULL;
}

bool doc_utf8_valid(const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;

    while (i < n) {
        /* ASCII runs are the common case: test 8 bytes at once */
        if (i + 8 <= n) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            if (!(w & UINT64_C(0x8080808080808080))) {
                i += 8;
                continue;
            }
        }
        unsigned c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t need;
        uint32_t cp;
        if (c >= 0xC2 && c <= 0xDF) {
            need = 1;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            need = 2;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            need = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (i + need >= n)
            return false;
        for (size_t k = 1; k <= need; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if ((need == 2 && cp < 0x800) || (need == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += need + 1;
    }
    return true;
}

/* ---------------------------------------------------- exact numbers */

/*
 * Scale a decimal (digits D, value = D * 10^exp10) by 10^scale into an
 * int64, rounding half away from zero.
 */
static enum jd_err doc_scale_digits(const char *digits, size_t nd, bool neg, int64_t exp10,
                                    int scale, int64_t limit, int64_t *out, bool *exact)
{
    int64_t shift = exp10 + scale; /* result = D * 10^shift */
    uint64_t acc = 0;
    bool ex = true;
    size_t keep;

    /* skip leading zeros: they do not count against precision */
    while (nd && *digits == '0') {
        digits++;
        nd--;
    }
    if (nd == 0) {
        *out = 0;
        if (exact)
            *exact = true;
        return JD_OK;
    }
    if (shift >= 0) {
        if ((int64_t)nd + shift > 19)
            return JD_ERR_RANGE;
        keep = nd;
    } else {
        if ((int64_t)nd + shift <= 0) {
            keep = 0;
        } else {
            keep = (size_t)((int64_t)nd + shift);
        }
        if (keep > 19)
            return JD_ERR_RANGE;
    }
    for (size_t i = 0; i < keep; i++)
        acc = acc * 10 + (uint64_t)(digits[i] - '0');
    if (shift > 0) {
        for (int64_t k = 0; k < shift; k++) {
            if (acc > UINT64_MAX / 10)
                return JD_ERR_RANGE;
            acc *= 10;
        }
    } else if (shift < 0) {
        /* digits[keep] decides rounding; any later digit only affects exactness */
        size_t r = keep;
        if ((int64_t)nd + shift < 0) {
            /* the first kept position is left of the first digit: rounds to 0 */
            ex = false;
        } else if (r < nd) {
            if (digits[r] >= '5')
                acc++;
            for (size_t i = r; i < nd; i++)
                if (digits[i] != '0')
                    ex = false;
        }
    }
    if (acc > (uint64_t)limit)
        return JD_ERR_RANGE;
    *out = neg ? -(int64_t)acc : (int64_t)acc;
    if (exact)
        *exact = ex;
    return JD_OK;
}

/* Parses validated JSON number text into digits + exponent. */
static enum jd_err doc_numtext_scaled(const char *s, size_t n, int scale, int64_t limit,
                                      int64_t *out, bool *exact)
{
    char digits[64] = { 0 };
    size_t nd = 0, i = 0;
    bool neg = false, dropped_nonzero = false;
    int64_t exp10 = 0, dropped = 0;

    if (i < n && s[i] == '-') {
        neg = true;
        i++;
    }
    /* integer part */
    for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
        if (nd < sizeof(digits)) {
            if (nd || s[i] != '0')
                digits[nd++] = s[i];
        } else {
            dropped++; /* too many integer digits: only magnitude matters */
            dropped_nonzero |= s[i] != '0';
        }
    }
    if (i < n && s[i] == '.') {
        for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
            if (nd < sizeof(digits)) {
                if (nd || s[i] != '0')
                    digits[nd++] = s[i];
                exp10--;
            } else {
                dropped_nonzero |= s[i] != '0';
            }
        }
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        bool eneg = false;
        int64_t e = 0;
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            eneg = s[i++] == '-';
        for (; i < n && s[i] >= '0' && s[i] <= '9'; i++)
            if (e < 100000)
                e = e * 10 + (s[i] - '0');
        exp10 += eneg ? -e : e;
    }
    exp10 += dropped;
    enum jd_err err = doc_scale_digits(digits, nd, neg, exp10, scale, limit, out, exact);
    if (err == JD_OK && exact && dropped_nonzero)
        *exact = false;
    return err;
}

enum jd_err doc_num_scaled(const struct doc_node *n, int scale, int64_t limit, int64_t *out,
                           bool *exact)
{
    switch (n->type) {
    case DOC_NUMTEXT:
        return doc_numtext_scaled(n->s, n->len, scale, limit, out, exact);
    case DOC_INT: {
        char buf[32];
        uint64_t mag = n->num.i < 0 ? (uint64_t)0 - (uint64_t)n->num.i : (uint64_t)n->num.i;
        size_t k = sizeof(buf);
        do {
            buf[--k] = (char)('0' + mag % 10);
            mag /= 10;
        } while (mag);
        return doc_scale_digits(buf + k, sizeof(buf) - k, n->num.i < 0, 0, scale, limit, out,
                                exact);
    }
    case DOC_UINT: {
        char buf[32];
        uint64_t mag = n->num.u;
        size_t k = sizeof(buf);
        do {
            buf[--k] = (char)('0' + mag % 10);
            mag /= 10;
        } while (mag);
        return doc_scale_digits(buf + k, sizeof(buf) - k, false, 0, scale, limit, out, exact);
    }
    case DOC_FLOAT: {
        double v = n->num.d;
        if (!isfinite(v))
            return JD_ERR_INVALID;
        double scaled = v * pow(10.0, scale);
        if (fabs(scaled) > (double)limit)
            return JD_ERR_RANGE;
        double r = round(scaled); /* half away from zero, like the text path */
        *out = (int64_t)r;
        if (exact)
            *exact = r == scaled;
        return JD_OK;
    }
    default:
        return JD_ERR_INVALID;
    }
}
