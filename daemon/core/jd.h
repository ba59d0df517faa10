/*
 * jd.h — the few types every module shares: byte slices and helpers on them.
 *
 * Header only. A `struct jd_str` never owns its bytes; the function that hands
 * one out says how long the bytes stay valid.
 */
#ifndef JD_H
#define JD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define JD_VERSION "0.1.0"

/** A borrowed byte slice; not NUL-terminated. */
struct jd_str {
    const char *p; /**< first byte (may be NULL when n == 0) */
    size_t n;      /**< length in bytes */
};

#define JD_STR_NULL   ((struct jd_str){ NULL, 0 })
#define JD_STR_LIT(s) ((struct jd_str){ (s), sizeof(s) - 1 })

static inline struct jd_str jd_str_c(const char *s)
{
    return (struct jd_str){ s, s ? strlen(s) : 0 };
}

static inline bool jd_str_eq(struct jd_str a, struct jd_str b)
{
    return a.n == b.n && (a.n == 0 || memcmp(a.p, b.p, a.n) == 0);
}

static inline bool jd_str_eqc(struct jd_str a, const char *s)
{
    size_t n = strlen(s);
    return a.n == n && (n == 0 || memcmp(a.p, s, n) == 0);
}

static inline int jd_str_cmp(struct jd_str a, struct jd_str b)
{
    size_t n = a.n < b.n ? a.n : b.n;
    int c = n ? memcmp(a.p, b.p, n) : 0;
    if (c)
        return c;
    return a.n < b.n ? -1 : a.n > b.n;
}

#define JD_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/**
 * @brief Make the array *v (items of \p elem bytes, capacity *cap) hold at
 *        least \p need items, doubling; memory is kept for reuse.
 * @returns false when out of memory (*v and *cap unchanged).
 */
static inline bool jd_reserve(void **v, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return true;
    size_t c = *cap ? *cap : 16;
    while (c < need)
        c *= 2;
    void *p = realloc(*v, c * elem);
    if (!p)
        return false;
    *v = p;
    *cap = c;
    return true;
}
#define JD_MIN(a, b) ((a) < (b) ? (a) : (b))
#define JD_MAX(a, b) ((a) > (b) ? (a) : (b))

/** Milliseconds in common units, for event-time arithmetic. */
#define JD_MS_MINUTE INT64_C(60000)
#define JD_MS_HOUR   INT64_C(3600000)
#define JD_MS_DAY    INT64_C(86400000)

/** Money and gauge values are kept as integer millionths ("micros"). */
#define JD_MICROS INT64_C(1000000)

/**
 * Sums of micros are accumulated in 128 bits so that no realistic total can
 * overflow (Redis stores them as decimal strings, added exactly in Lua).
 */
__extension__ typedef __int128 jd_i128;

/**
 * @brief Format a 128-bit integer in decimal.
 * @returns the length; \p buf needs 41 bytes.
 */
static inline size_t jd_i128_format(jd_i128 v, char *buf)
{
    char tmp[41];
    size_t n = 0, w = 0;
    __extension__ unsigned __int128 mag = v < 0 ? -(unsigned __int128)v : (unsigned __int128)v;
    do {
        tmp[n++] = (char)('0' + (int)(mag % 10));
        mag /= 10;
    } while (mag);
    if (v < 0)
        buf[w++] = '-';
    while (n)
        buf[w++] = tmp[--n];
    buf[w] = '\0';
    return w;
}

/**
 * @brief Parse an optionally signed decimal integer of up to 38 digits.
 * @returns true on success.
 */
static inline bool jd_i128_parse(const char *s, size_t n, jd_i128 *out)
{
    size_t i = 0;
    bool neg = false;
    jd_i128 v = 0;
    if (i < n && (s[i] == '-' || s[i] == '+'))
        neg = s[i++] == '-';
    if (i == n || n - i > 38)
        return false;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = neg ? -v : v;
    return true;
}

#endif
