/*
 * mpk.c — the MessagePack subset attribution's stored records use.
 *
 * Owns writing and strictly reading integers (int64), strings (< 64 KiB)
 * and arrays (< 64 Ki items) in their shortest forms. Anything else is
 * refused by the readers; what the records mean is journey.c's and
 * pathstat.c's business.
 */
#include "attribute/mpk.h"

#include <string.h>

/* ------------------------------------------------------------- encoding */

size_t mpk_int_size(int64_t v)
{
    if (v >= -32 && v <= 127)
        return 1;
    if (v >= INT32_MIN && v <= UINT32_MAX)
        return 5;
    return 9;
}

size_t mpk_put_int(uint8_t *o, int64_t v)
{
    if (v >= -32 && v <= 127) {
        o[0] = (uint8_t)(v & 0xff);
        return 1;
    }
    uint64_t u = (uint64_t)v;
    int bytes = v >= INT32_MIN && v <= UINT32_MAX ? 4 : 8;
    o[0] = v < 0 ? (bytes == 4 ? 0xd2 : 0xd3) : (bytes == 4 ? 0xce : 0xcf);
    for (int i = 0; i < bytes; i++)
        o[1 + i] = (uint8_t)(u >> (8 * (bytes - 1 - i)));
    return 1 + (size_t)bytes;
}

size_t mpk_str_size(size_t n)
{
    return n + (n < 32 ? 1 : n < 256 ? 2 : 3);
}

size_t mpk_put_str(uint8_t *o, struct jd_str s)
{
    size_t h;
    if (s.n < 32) {
        o[0] = (uint8_t)(0xa0 | s.n);
        h = 1;
    } else if (s.n < 256) {
        o[0] = 0xd9;
        o[1] = (uint8_t)s.n;
        h = 2;
    } else {
        o[0] = 0xda;
        o[1] = (uint8_t)(s.n >> 8);
        o[2] = (uint8_t)s.n;
        h = 3;
    }
    if (s.n)
        memcpy(o + h, s.p, s.n);
    return h + s.n;
}

size_t mpk_arr_size(size_t n)
{
    return n < 16 ? 1 : 3;
}

size_t mpk_put_arr(uint8_t *o, size_t n)
{
    if (n < 16) {
        o[0] = (uint8_t)(0x90 | n);
        return 1;
    }
    o[0] = 0xdc;
    o[1] = (uint8_t)(n >> 8);
    o[2] = (uint8_t)n;
    return 3;
}

/* ------------------------------------------------------------- decoding */

static bool mpk_get_be(struct mpk_rd *r, int bytes, uint64_t *v)
{
    if (r->end - r->p < bytes)
        return false;
    *v = 0;
    for (int i = 0; i < bytes; i++)
        *v = *v << 8 | *r->p++;
    return true;
}

bool mpk_get_arr(struct mpk_rd *r, size_t *n)
{
    uint64_t v;
    if (r->p >= r->end)
        return false;
    uint8_t b = *r->p++;
    if ((b & 0xf0) == 0x90) {
        *n = b & 0x0f;
        return true;
    }
    if (b != 0xdc || !mpk_get_be(r, 2, &v))
        return false;
    *n = (size_t)v;
    return true;
}

bool mpk_get_int(struct mpk_rd *r, int64_t *out)
{
    uint64_t v;
    if (r->p >= r->end)
        return false;
    uint8_t b = *r->p++;
    if (b <= 0x7f || b >= 0xe0) {
        *out = (int8_t)b;
        return true;
    }
    int bytes = b == 0xce || b == 0xd2 ? 4 : b == 0xcf || b == 0xd3 ? 8 : 0;
    if (!bytes || !mpk_get_be(r, bytes, &v))
        return false;
    if (b == 0xd2)
        *out = (int32_t)(uint32_t)v;
    else if (b == 0xcf && v > INT64_MAX)
        return false;
    else
        *out = (int64_t)v;
    return true;
}

bool mpk_get_str(struct mpk_rd *r, struct jd_str *s)
{
    uint64_t n;
    if (r->p >= r->end)
        return false;
    uint8_t b = *r->p++;
    if ((b & 0xe0) == 0xa0)
        n = b & 0x1f;
    else if (!((b == 0xd9 && mpk_get_be(r, 1, &n)) || (b == 0xda && mpk_get_be(r, 2, &n))))
        return false;
    if ((uint64_t)(r->end - r->p) < n)
        return false;
    *s = (struct jd_str){ (const char *)r->p, (size_t)n };
    r->p += n;
    return true;
}
