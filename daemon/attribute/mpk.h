/*
 * mpk.h — a strict MessagePack subset for attribution's records in Redis.
 *
 * Writers emit the shortest form of int64s, strings and arrays (callers
 * size buffers with the *_size() functions); readers accept exactly what
 * the writers emit and return false on anything else or on running out of
 * bytes. Pure, no allocation.
 */
#ifndef JD_MPK_H
#define JD_MPK_H

#include "core/jd.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** A read position in a buffer. */
struct mpk_rd {
    const uint8_t *p, *end;
};

/** @returns the bytes mpk_put_int() writes for \p v. */
size_t mpk_int_size(int64_t v);

/** Write \p v; returns the bytes written. */
size_t mpk_put_int(uint8_t *o, int64_t v);

/** @returns the bytes mpk_put_str() writes for a string of \p n bytes (n < 65536). */
size_t mpk_str_size(size_t n);

/** Write \p s (s.n < 65536); returns the bytes written. */
size_t mpk_put_str(uint8_t *o, struct jd_str s);

/** @returns the bytes of an array header for \p n items (n < 65536). */
size_t mpk_arr_size(size_t n);

/** Write an array header for \p n items; returns the bytes written. */
size_t mpk_put_arr(uint8_t *o, size_t n);

/** Read an array header. */
bool mpk_get_arr(struct mpk_rd *r, size_t *n);

/** Read an integer that fits int64. */
bool mpk_get_int(struct mpk_rd *r, int64_t *out);

/** Read a string (a slice of the buffer). */
bool mpk_get_str(struct mpk_rd *r, struct jd_str *s);

#endif
