/*
 * hash.h — the project's hash functions.
 *
 * hash64() is a fast non-cryptographic 64-bit hash for in-memory tables,
 * series ids and event-id fingerprints; hash_fnv1a64() is FNV-1a, which the
 * alert fingerprint contract (alerts.md) requires. Both are pure and
 * platform-independent (little-endian reads are explicit).
 */
#ifndef JD_HASH_H
#define JD_HASH_H

#include <stddef.h>
#include <stdint.h>

#define HASH_FNV64_INIT UINT64_C(0xcbf29ce484222325)

/** FNV-1a 64 of \p n bytes, continuing from \p h (start with HASH_FNV64_INIT). */
uint64_t hash_fnv1a64(const void *p, size_t n, uint64_t h);

/** Fast 64-bit hash of \p n bytes with \p seed; well mixed in every bit. */
uint64_t hash64(const void *p, size_t n, uint64_t seed);

/**
 * @brief Two independent 64-bit hashes of \p n bytes in one pass (a 128-bit
 *        fingerprint; lane \p b never equals lane \p a's function).
 */
void hash128(const void *p, size_t n, uint64_t *a, uint64_t *b);

/** A bijective mixer: spreads the entropy of \p x over all 64 bits. */
static inline uint64_t hash_mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= UINT64_C(0xbf58476d1ce4e5b9);
    x ^= x >> 27;
    x *= UINT64_C(0x94d049bb133111eb);
    x ^= x >> 31;
    return x;
}

#endif
