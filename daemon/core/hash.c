/*
 * hash.c — FNV-1a and a word-at-a-time 64-bit hash.
 *
 * hash64() reads 8 bytes per step and folds each word in with a multiply and
 * rotate, then finishes with hash_mix64(); it is built for speed on short
 * keys (event ids, label sets), not for resistance to chosen collisions —
 * nothing keyed by it is trusted for identity on its own.
 */
#include "core/hash.h"

#include <string.h>

uint64_t hash_fnv1a64(const void *p, size_t n, uint64_t h)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= UINT64_C(0x100000001b3);
    }
    return h;
}

static uint64_t hash_read64le(const unsigned char *b)
{
    return (uint64_t)b[0] | (uint64_t)b[1] << 8 | (uint64_t)b[2] << 16 | (uint64_t)b[3] << 24 |
           (uint64_t)b[4] << 32 | (uint64_t)b[5] << 40 | (uint64_t)b[6] << 48 |
           (uint64_t)b[7] << 56;
}

static uint64_t hash_rotl(uint64_t x, int r)
{
    return (x << r) | (x >> (64 - r));
}

uint64_t hash64(const void *p, size_t n, uint64_t seed)
{
    /* golden-ratio and splitmix multipliers: odd, with well-spread bits */
    const uint64_t k1 = UINT64_C(0x9e3779b97f4a7c15), k2 = UINT64_C(0xbf58476d1ce4e5b9);
    const unsigned char *b = p;
    uint64_t h = seed ^ (n * k1);

    while (n >= 8) {
        h = hash_rotl(h ^ (hash_read64le(b) * k1), 29) * k2;
        b += 8;
        n -= 8;
    }
    if (n) {
        unsigned char tail[8] = { 0 };
        memcpy(tail, b, n);
        h = hash_rotl(h ^ (hash_read64le(tail) * k1), 29) * k2;
    }
    return hash_mix64(h);
}

void hash128(const void *p, size_t n, uint64_t *a, uint64_t *b)
{
    const uint64_t k1 = UINT64_C(0x9e3779b97f4a7c15), k2 = UINT64_C(0xbf58476d1ce4e5b9),
                   k3 = UINT64_C(0x94d049bb133111eb);
    const unsigned char *s = p;
    uint64_t h1 = UINT64_C(0x5eed0001) ^ (n * k1), h2 = UINT64_C(0x5eed0002) ^ (n * k3);

    while (n >= 8) {
        uint64_t w = hash_read64le(s);
        h1 = hash_rotl(h1 ^ (w * k1), 29) * k2;
        h2 = hash_rotl(h2 ^ (w * k3), 31) * k1;
        s += 8;
        n -= 8;
    }
    if (n) {
        unsigned char tail[8] = { 0 };
        memcpy(tail, s, n);
        uint64_t w = hash_read64le(tail);
        h1 = hash_rotl(h1 ^ (w * k1), 29) * k2;
        h2 = hash_rotl(h2 ^ (w * k3), 31) * k1;
    }
    *a = hash_mix64(h1 ^ (h2 >> 17));
    *b = hash_mix64(h2 + h1);
}
