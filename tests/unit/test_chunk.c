/*
 * test_chunk.c — unit tests for aggregate/chunk: the byte format of window chunks.
 *
 * Round trips of chunk_put_record()/chunk_next() (count-only records, values
 * at the int64 limits, 128-bit sums, sparse sketches of many sizes), the
 * exact encoded length and chunk_record_max() as its bound; folding records
 * in any order gives the same bucket (agg_delta_merge(), last-by-time with
 * ties to the larger value); chunk_compact() keeps every bucket's stats and
 * registers, is a fixed point, switches large sketches to the dense form and
 * picks the shorter encoding; damaged bytes (truncations, random flips, bad
 * flags and offsets, oversized counts and varints, short dense records) are
 * reported, never read past (run under ASan: every blob is an exact-size
 * allocation). Some tests pin defects that were found and fixed in chunk.c (marked "Regression").
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "aggregate/agg.h"
#include "aggregate/chunk.h"
#include "aggregate/hll.h"
#include "core/err.h"
#include "core/jd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

__extension__ typedef unsigned __int128 u128;

#define I128_MAX ((jd_i128)(~(u128)0 >> 1))
#define I128_MIN (-I128_MAX - 1)
#define BIG_SUM  ((jd_i128)3 * INT64_C(9000000000000000000)) /* 3 × 9e18, beyond int64 */

/* Table rows: a count-only delta; one with values (count vcount sum min max last_ts last). */
#define COUNT(c)                                                                                   \
    {                                                                                              \
        .count = (c)                                                                               \
    }
#define VALUES(c, vc, s, lo, hi, lt, l)                                                            \
    {                                                                                              \
        .count = (c), .vcount = (vc), .sum = (s), .min = (lo), .max = (hi), .last_ts = (lt),       \
        .last = (l)                                                                                \
    }

/* xorshift64*: a small deterministic generator; every test seeds its own. */
static uint64_t prng_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * UINT64_C(0x2545f4914f6cdd1d);
}

static uint64_t prng_below(uint64_t *s, uint64_t n)
{
    return prng_next(s) % n;
}

/* ------------------------------------------------------------------ blobs */

/* A growing chunk and the end offset of each record in it. */
struct blob {
    uint8_t *p;
    size_t len, cap;
    size_t *ends;
    size_t nrec, caprec;
};

static void blob_append(struct blob *b, const void *p, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n)
            cap *= 2;
        b->p = realloc(b->p, cap);
        assert_non_null(b->p);
        b->cap = cap;
    }
    if (n)
        memcpy(b->p + b->len, p, n);
    b->len += n;
}

/* Marks the end of a record at the current length. */
static void blob_mark(struct blob *b)
{
    if (b->nrec == b->caprec) {
        b->caprec = b->caprec ? 2 * b->caprec : 64;
        b->ends = realloc(b->ends, b->caprec * sizeof(*b->ends));
        assert_non_null(b->ends);
    }
    b->ends[b->nrec++] = b->len;
}

static void blob_free(struct blob *b)
{
    free(b->p);
    free(b->ends);
    memset(b, 0, sizeof(*b));
}

/* Encodes into an allocation of exactly chunk_record_max(n) bytes (ASan checks the bound). */
static size_t blob_put(struct blob *b, unsigned offset, const struct agg_delta *d,
                       const struct hll_update *u, size_t n)
{
    size_t max = chunk_record_max(n);
    uint8_t *tmp = malloc(max);
    assert_non_null(tmp);
    size_t w = chunk_put_record(tmp, offset, d, u, n);
    assert_true(w <= max);
    blob_append(b, tmp, w);
    blob_mark(b);
    free(tmp);
    return w;
}

/* A dense record written by hand from the format in chunk.h. */
static void blob_put_dense(struct blob *b, unsigned offset, const struct agg_delta *d,
                           const uint8_t *regs)
{
    uint8_t hdr[128];
    size_t w = chunk_put_record(hdr, offset, d, NULL, 0);
    hdr[1] |= CHUNK_F_DENSE;
    blob_append(b, hdr, w);
    blob_append(b, regs, HLL_REGS);
    blob_mark(b);
}

/* An exact-size heap copy, so that reading one byte too far is an ASan error. */
static uint8_t *exact_copy(const uint8_t *p, size_t n)
{
    uint8_t *c = malloc(n ? n : 1);
    assert_non_null(c);
    if (n)
        memcpy(c, p, n);
    return c;
}

/*
 * Bytes from a hex spec: "00 01 80*9 01" is 00, 01, nine 80s, 01.
 * @returns the number of bytes.
 */
static size_t hex_bytes(const char *spec, uint8_t *out, size_t cap)
{
    size_t n = 0;
    while (*spec) {
        char *end;
        if (*spec == ' ') {
            spec++;
            continue;
        }
        unsigned long v = strtoul(spec, &end, 16), rep = 1;
        assert_true(end == spec + 2 && v <= 0xff);
        spec = end;
        if (*spec == '*')
            rep = strtoul(spec + 1, (char **)&spec, 10);
        for (unsigned long i = 0; i < rep; i++) {
            assert_true(n < cap);
            out[n++] = (uint8_t)v;
        }
    }
    return n;
}

/* ------------------------------------------------------------ generators */

static int64_t gen_i64(uint64_t *s)
{
    static const int64_t edges[] = {
        0, 1, -1, 63, -64, 64, INT64_MAX, INT64_MIN, INT64_MAX - 1, INT64_MIN + 1
    };
    switch (prng_below(s, 4)) {
    case 0:
        return (int64_t)prng_below(s, 2001) - 1000;
    case 1:
        return edges[prng_below(s, JD_ARRAY_SIZE(edges))];
    case 2: {
        int k = (int)prng_below(s, 63);
        int64_t v = (int64_t)(UINT64_C(1) << k) - (int64_t)prng_below(s, 2);
        return prng_below(s, 2) ? v : -v;
    }
    default:
        return (int64_t)prng_next(s);
    }
}

static jd_i128 gen_i128(uint64_t *s)
{
    switch (prng_below(s, 5)) {
    case 0:
        return (jd_i128)gen_i64(s);
    case 1:
        return prng_below(s, 2) ? BIG_SUM : -BIG_SUM;
    case 2:
        return prng_below(s, 2) ? I128_MAX : I128_MIN;
    case 3:
        return (jd_i128)gen_i64(s) * (jd_i128)gen_i64(s);
    default:
        return (jd_i128)(((u128)prng_next(s) << 64) | prng_next(s));
    }
}

static void gen_delta(uint64_t *s, struct agg_delta *d)
{
    memset(d, 0, sizeof(*d));
    switch (prng_below(s, 3)) {
    case 0:
        d->count = (int64_t)prng_below(s, 100);
        break;
    case 1:
        d->count = (int64_t)(prng_next(s) >> 1);
        break;
    default:
        d->count = INT64_MAX;
    }
    if (prng_below(s, 4) == 0)
        return; /* count only */
    d->vcount = prng_below(s, 2) ? 1 + (int64_t)prng_below(s, 1000) : (int64_t)(prng_next(s) >> 1);
    if (d->vcount == 0)
        d->vcount = 1;
    d->sum = gen_i128(s);
    d->min = gen_i64(s);
    d->max = gen_i64(s);
    d->last_ts = gen_i64(s);
    d->last = gen_i64(s);
}

/* Random sketch updates; the size varies from none to thousands. */
static size_t gen_updates(uint64_t *s, struct hll_update *u, size_t cap)
{
    size_t n;
    switch (prng_below(s, 8)) {
    case 0:
    case 1:
        n = 0;
        break;
    case 2:
    case 3:
    case 4:
        n = 1 + prng_below(s, 20);
        break;
    case 5:
    case 6:
        n = 100 + prng_below(s, 500);
        break;
    default:
        n = 2000 + prng_below(s, 3000);
    }
    n = JD_MIN(n, cap);
    for (size_t i = 0; i < n; i++) {
        u[i].reg = (uint16_t)prng_next(s);
        u[i].rank = (uint8_t)(1 + prng_below(s, HLL_Q + 1));
    }
    return n;
}

/* ------------------------------------------------------------ oracles */

static size_t uv_len(u128 v)
{
    size_t n = 1;
    while (v >>= 7)
        n++;
    return n;
}

static u128 zigzag(jd_i128 v)
{
    return v < 0 ? ((u128)(-(v + 1)) << 1) | 1 : (u128)v << 1;
}

/* The length the format in chunk.h gives a record, computed independently. */
static size_t record_len(const struct agg_delta *d, size_t n)
{
    size_t len = 2 + uv_len((u128)d->count);
    if (d->vcount)
        len += uv_len((u128)d->vcount) + uv_len(zigzag(d->sum)) + uv_len(zigzag(d->min)) +
               uv_len(zigzag(d->max)) + uv_len(zigzag(d->last_ts)) + uv_len(zigzag(d->last));
    if (d->wsum)
        len += uv_len(zigzag(d->wsum));
    if (n)
        len += uv_len(n) + 3 * n;
    return len;
}

static const char *i128_str(jd_i128 v, char buf[41])
{
    buf[jd_i128_format(v, buf)] = '\0';
    return buf;
}

static void assert_delta_equal(const struct agg_delta *want, const struct agg_delta *got,
                               const char *what, size_t i)
{
    char a[41], b[41];
#define FIELD(f)                                                                                   \
    if (want->f != got->f)                                                                         \
        fail_msg("%s %zu: " #f " %lld, want %lld", what, i, (long long)got->f, (long long)want->f);
    FIELD(count)
    FIELD(vcount)
    FIELD(min)
    FIELD(max)
    FIELD(last_ts)
    FIELD(last)
#undef FIELD
    if (want->sum != got->sum)
        fail_msg("%s %zu: sum %s, want %s", what, i, i128_str(got->sum, a), i128_str(want->sum, b));
    if (want->wsum != got->wsum)
        fail_msg("%s %zu: wsum %s, want %s", what, i, i128_str(got->wsum, a),
                 i128_str(want->wsum, b));
}

/* The fold of a bucket computed without agg_delta_merge(). */
static void oracle_fold(const struct agg_delta *d, size_t n, struct agg_delta *out)
{
    memset(out, 0, sizeof(*out));
    bool any = false;
    for (size_t i = 0; i < n; i++) {
        out->count += d[i].count;
        if (!d[i].vcount)
            continue;
        out->vcount += d[i].vcount;
        out->sum += d[i].sum;
        if (!any || d[i].min < out->min)
            out->min = d[i].min;
        if (!any || d[i].max > out->max)
            out->max = d[i].max;
        if (!any || d[i].last_ts > out->last_ts ||
            (d[i].last_ts == out->last_ts && d[i].last > out->last)) {
            out->last_ts = d[i].last_ts;
            out->last = d[i].last;
        }
        any = true;
    }
}

/* Every bucket of a chunk, folded as a reader does. */
struct fold {
    bool used[CHUNK_MAX_BUCKETS];
    size_t nrec[CHUNK_MAX_BUCKETS];
    struct agg_delta d[CHUNK_MAX_BUCKETS];
    uint8_t *regs[CHUNK_MAX_BUCKETS]; /* NULL: no register set */
};

static void fold_free(struct fold *f)
{
    for (size_t b = 0; b < CHUNK_MAX_BUCKETS; b++)
        free(f->regs[b]);
    memset(f, 0, sizeof(*f));
}

/*
 * Folds a chunk; checks that every record it yields lies inside the bytes.
 * @returns the last chunk_next() result (0 or -1).
 */
static int fold_blob(const uint8_t *p, size_t len, struct fold *f)
{
    struct chunk_iter it;
    struct chunk_rec rec;
    int rc;
    memset(f, 0, sizeof(*f));
    chunk_iter_init(&it, p, len);
    while ((rc = chunk_next(&it, &rec)) == 1) {
        assert_true(rec.offset < CHUNK_MAX_BUCKETS);
        assert_true(it.p <= p + len);
        if (rec.nsparse)
            assert_true(rec.sparse >= p && rec.sparse + 3 * rec.nsparse <= p + len);
        if (rec.dense)
            assert_true(rec.dense >= p && rec.dense + HLL_REGS <= p + len);
        f->used[rec.offset] = true;
        f->nrec[rec.offset]++;
        agg_delta_merge(&f->d[rec.offset], &rec.d);
        if (rec.nsparse || rec.dense) {
            if (!f->regs[rec.offset])
                f->regs[rec.offset] = calloc(1, HLL_REGS);
            assert_non_null(f->regs[rec.offset]);
            chunk_rec_apply(&rec, f->regs[rec.offset]);
        }
    }
    assert_true(rc == 0 || rc == -1);
    return rc;
}

/* @returns the number of records, or -1 if the chunk is damaged (folds nothing). */
static int count_records(const uint8_t *p, size_t len)
{
    struct chunk_iter it;
    struct chunk_rec rec;
    int n = 0, rc;
    chunk_iter_init(&it, p, len);
    while ((rc = chunk_next(&it, &rec)) == 1)
        n++;
    return rc < 0 ? -1 : n;
}

/* Register arrays compare equal when their bytes do; NULL stands for all zeros. */
static bool regs_equal(const uint8_t *a, const uint8_t *b)
{
    if (a && b)
        return memcmp(a, b, HLL_REGS) == 0;
    const uint8_t *x = a ? a : b;
    for (size_t r = 0; x && r < HLL_REGS; r++)
        if (x[r])
            return false;
    return true;
}

static void assert_fold_equal(const struct fold *want, const struct fold *got)
{
    for (size_t b = 0; b < CHUNK_MAX_BUCKETS; b++) {
        if (want->used[b] != got->used[b])
            fail_msg("bucket %zu: used %d, want %d", b, got->used[b], want->used[b]);
        assert_delta_equal(&want->d[b], &got->d[b], "bucket", b);
        if (!regs_equal(want->regs[b], got->regs[b]))
            fail_msg("bucket %zu: registers differ", b);
    }
}

static void compact_ok(const uint8_t *p, size_t len, uint8_t **out, size_t *outlen)
{
    uint8_t *in = exact_copy(p, len);
    assert_int_equal(chunk_compact(in, len, out, outlen), JD_OK);
    assert_non_null(*out);
    free(in);
}

/* -------------------------------------------------------- round trips */

static void check_record(const struct chunk_rec *rec, unsigned offset, const struct agg_delta *d,
                         const struct hll_update *u, size_t n, size_t i)
{
    struct agg_delta want = *d;
    want.bucket = 0; /* not part of the record */
    assert_int_equal(rec->offset, offset);
    assert_delta_equal(&want, &rec->d, "record", i);
    assert_int_equal(rec->nsparse, n);
    assert_null(rec->dense);
    for (size_t k = 0; k < n; k++) {
        const uint8_t *t = rec->sparse + 3 * k;
        if (t[0] != (u[k].reg & 0xff) || t[1] != u[k].reg >> 8 || t[2] != u[k].rank)
            fail_msg("record %zu: update %zu differs", i, k);
    }
}

static void test_round_trip_table(void **state)
{
    (void)state;
    static const struct agg_delta deltas[] = {
        COUNT(0),
        COUNT(1),
        COUNT(127),
        COUNT(128),
        COUNT(INT64_MAX),
        VALUES(1, 1, -5, -5, -5, -1, -5),
        VALUES(3, 2, 0, INT64_MIN, INT64_MAX, INT64_MIN, INT64_MIN),
        VALUES(3, 3, BIG_SUM, 1, INT64_MAX, 0, INT64_MAX),
        VALUES(3, 3, -BIG_SUM, INT64_MIN, -1, INT64_MAX, -1),
        VALUES(INT64_MAX, INT64_MAX, I128_MAX, 0, 0, 0, 0),
        VALUES(INT64_MAX, INT64_MAX, I128_MIN, -1, 1, 1795478400000, 2500000),
        /* credit records: weights in micro-conversions, with and without values */
        { .count = 3,
          .vcount = 3,
          .sum = 399000000,
          .min = 1,
          .max = 2,
          .last_ts = 5,
          .last = 2,
          .wsum = 333334 },
        { .count = 1, .wsum = -1 },
        { .count = 2, .vcount = 1, .sum = 1, .min = 1, .max = 1, .wsum = I128_MAX },
    };
    static const size_t sizes[] = { 0, 1, 2, 42, 127, 128, 16383, 16384, 21845, 30000, 65536 };
    struct hll_update *u = malloc(65536 * sizeof(*u));
    struct blob b = { 0 };
    uint64_t s = 7;
    assert_non_null(u);
    for (size_t k = 0; k < 65536; k++)
        u[k] = (struct hll_update){ (uint16_t)prng_next(&s), (uint8_t)(k % (HLL_Q + 2)) };

    size_t i = 0;
    for (size_t di = 0; di < JD_ARRAY_SIZE(deltas); di++)
        for (size_t si = 0; si < JD_ARRAY_SIZE(sizes); si++, i++) {
            size_t w =
                blob_put(&b, (unsigned)(i * 7 % CHUNK_MAX_BUCKETS), &deltas[di], u, sizes[si]);
            assert_int_equal(w, record_len(&deltas[di], sizes[si]));
            /* the flags say what follows */
            uint8_t flags = b.p[b.len - w + 1];
            assert_int_equal(flags, (deltas[di].vcount ? CHUNK_F_VALUE : 0) |
                                        (deltas[di].wsum ? CHUNK_F_WEIGHT : 0) |
                                        (sizes[si] ? CHUNK_F_SPARSE : 0));
        }

    uint8_t *copy = exact_copy(b.p, b.len);
    struct chunk_iter it;
    struct chunk_rec rec;
    chunk_iter_init(&it, copy, b.len);
    i = 0;
    for (size_t di = 0; di < JD_ARRAY_SIZE(deltas); di++)
        for (size_t si = 0; si < JD_ARRAY_SIZE(sizes); si++, i++) {
            assert_int_equal(chunk_next(&it, &rec), 1);
            check_record(&rec, (unsigned)(i * 7 % CHUNK_MAX_BUCKETS), &deltas[di], u, sizes[si], i);
            assert_ptr_equal(it.p, copy + b.ends[i]);
        }
    assert_int_equal(chunk_next(&it, &rec), 0);
    assert_int_equal(chunk_next(&it, &rec), 0); /* and stays at the end */
    free(copy);
    free(u);
    blob_free(&b);
}

static void test_round_trip_random(void **state)
{
    (void)state;
    enum { N = 3000 };
    struct hll_update *u = malloc(5000 * sizeof(*u));
    struct blob b = { 0 };
    uint64_t s = 0x5eed;
    assert_non_null(u);
    /* encode, then replay the generator to decode */
    for (int pass = 0; pass < 2; pass++) {
        struct chunk_iter it;
        struct chunk_rec rec;
        uint8_t *copy = pass ? exact_copy(b.p, b.len) : NULL;
        if (pass)
            chunk_iter_init(&it, copy, b.len);
        s = 0x5eed;
        for (size_t i = 0; i < N; i++) {
            struct agg_delta d;
            gen_delta(&s, &d);
            size_t n = gen_updates(&s, u, 5000);
            unsigned off = (unsigned)prng_below(&s, CHUNK_MAX_BUCKETS);
            if (!pass) {
                size_t w = blob_put(&b, off, &d, u, n);
                assert_int_equal(w, record_len(&d, n));
            } else {
                assert_int_equal(chunk_next(&it, &rec), 1);
                check_record(&rec, off, &d, u, n, i);
            }
        }
        if (pass)
            assert_int_equal(chunk_next(&it, &rec), 0);
        free(copy);
    }
    free(u);
    blob_free(&b);
}

static void test_record_max_bounds(void **state)
{
    (void)state;
    /* the longest fields: 63-bit counts, a 128-bit sum, int64 extremes */
    static const struct agg_delta worst[] = {
        VALUES(INT64_MAX, INT64_MAX, I128_MIN, INT64_MIN, INT64_MIN, INT64_MIN, INT64_MIN),
        VALUES(INT64_MAX, INT64_MAX, I128_MAX, INT64_MAX, INT64_MAX, INT64_MAX, INT64_MAX),
    };
    static const size_t sizes[] = { 0, 1, 127, 128, 16383, 16384, 65536, 1u << 21 };
    struct hll_update *u = calloc(1u << 21, sizeof(*u));
    assert_non_null(u);
    for (size_t di = 0; di < JD_ARRAY_SIZE(worst); di++)
        for (size_t si = 0; si < JD_ARRAY_SIZE(sizes); si++) {
            size_t max = chunk_record_max(sizes[si]);
            uint8_t *out = malloc(max);
            assert_non_null(out);
            size_t w = chunk_put_record(out, 63, &worst[di], u, sizes[si]);
            assert_true(w <= max);
            assert_int_equal(w, record_len(&worst[di], sizes[si]));
            free(out);
        }
    /* many random inputs: written bytes never exceed the bound (checked in blob_put) */
    uint64_t s = 99;
    struct blob b = { 0 };
    for (int i = 0; i < 5000; i++) {
        struct agg_delta d;
        gen_delta(&s, &d);
        size_t n = gen_updates(&s, u, 5000);
        blob_put(&b, (unsigned)prng_below(&s, CHUNK_MAX_BUCKETS), &d, u, n);
        b.len = 0;
        b.nrec = 0;
    }
    blob_free(&b);
    free(u);
}

/* ---------------------------------------------------------- folding */

/* Folds the records of `b` in the order `perm` (record indices) and checks against `want`. */
static void fold_in_order(const struct blob *b, const size_t *perm, size_t n,
                          const struct agg_delta *want, const uint8_t *want_regs, unsigned offset)
{
    struct blob p = { 0 };
    struct fold f;
    for (size_t i = 0; i < n; i++) {
        size_t start = perm[i] ? b->ends[perm[i] - 1] : 0;
        blob_append(&p, b->p + start, b->ends[perm[i]] - start);
    }
    assert_int_equal(fold_blob(p.p, p.len, &f), 0);
    assert_int_equal(f.nrec[offset], n);
    assert_delta_equal(want, &f.d[offset], "bucket", offset);
    assert_true(regs_equal(want_regs, f.regs[offset]));
    fold_free(&f);
    blob_free(&p);
}

static void test_fold_order_independent(void **state)
{
    (void)state;
    /* ties on last_ts (100) with different values; records without values; sketches */
    static const struct agg_delta set[] = {
        COUNT(3),
        VALUES(2, 2, 10, 1, 9, 100, 4),
        VALUES(1, 1, 7, 7, 7, 100, 7),
        VALUES(1, 1, -3, -3, -3, 100, -3),
        VALUES(5, 1, 1, 1, 1, 50, 1),
        VALUES(1, 1, BIG_SUM, INT64_MIN, INT64_MAX, 99, 1000),
        VALUES(4, 2, -2, -1, -1, 100, 6),
    };
    enum { N = JD_ARRAY_SIZE(set) };
    const unsigned off = 5;
    struct hll_update u[8];
    struct blob b = { 0 };
    uint8_t *want_regs = calloc(1, HLL_REGS);
    assert_non_null(want_regs);
    for (size_t i = 0; i < N; i++) {
        /* register 10 is in every record with a different rank; others are own */
        size_t n = i % 3 == 0 ? 0 : 3;
        u[0] = (struct hll_update){ 10, (uint8_t)(1 + i * 5 % 7) };
        u[1] = (struct hll_update){ (uint16_t)(1000 + i), (uint8_t)(i + 1) };
        u[2] = (struct hll_update){ 65535, (uint8_t)(i + 2) };
        hll_apply(want_regs, u, n);
        blob_put(&b, off, &set[i], u, n);
    }
    struct agg_delta want;
    oracle_fold(set, N, &want);
    assert_true(want.last == 7 && want.last_ts == 100); /* the oracle's own tie rule */

    /* every permutation of the 7 records (Heap's algorithm, iterative) */
    size_t perm[N], c[N] = { 0 }, seen = 1;
    for (size_t i = 0; i < N; i++)
        perm[i] = i;
    fold_in_order(&b, perm, N, &want, want_regs, off);
    for (size_t i = 1; i < N;) {
        if (c[i] < i) {
            size_t j = i % 2 ? c[i] : 0, t = perm[j];
            perm[j] = perm[i];
            perm[i] = t;
            fold_in_order(&b, perm, N, &want, want_regs, off);
            seen++;
            c[i]++;
            i = 1;
        } else {
            c[i++] = 0;
        }
    }
    assert_int_equal(seen, 5040);
    free(want_regs);
    blob_free(&b);
}

static void test_fold_random_sets(void **state)
{
    (void)state;
    enum { SETS = 200, RECS = 12, SHUFFLES = 10 };
    uint64_t s = 4242;
    struct hll_update u[64];
    uint8_t *want_regs = malloc(HLL_REGS);
    assert_non_null(want_regs);
    for (int set = 0; set < SETS; set++) {
        struct agg_delta d[RECS], want;
        struct blob b = { 0 };
        memset(want_regs, 0, HLL_REGS);
        for (size_t i = 0; i < RECS; i++) {
            /* small values and 3 distinct times: many ties */
            memset(&d[i], 0, sizeof(d[i]));
            d[i].count = (int64_t)prng_below(&s, 10);
            if (prng_below(&s, 3)) {
                d[i].vcount = 1 + (int64_t)prng_below(&s, 3);
                d[i].sum = (jd_i128)prng_below(&s, 7) - 3;
                d[i].min = (int64_t)prng_below(&s, 7) - 3;
                d[i].max = (int64_t)prng_below(&s, 7) - 3;
                d[i].last_ts = (int64_t)prng_below(&s, 3);
                d[i].last = (int64_t)prng_below(&s, 7) - 3;
            }
            size_t n = prng_below(&s, 64);
            for (size_t k = 0; k < n; k++)
                u[k] = (struct hll_update){ (uint16_t)prng_below(&s, 200),
                                            (uint8_t)(1 + prng_below(&s, 20)) };
            hll_apply(want_regs, u, n);
            blob_put(&b, 17, &d[i], u, n);
        }
        oracle_fold(d, RECS, &want);
        size_t perm[RECS];
        for (size_t i = 0; i < RECS; i++)
            perm[i] = i;
        for (int sh = 0; sh < SHUFFLES; sh++) {
            for (size_t i = RECS - 1; i > 0; i--) {
                size_t j = prng_below(&s, i + 1), t = perm[i];
                perm[i] = perm[j];
                perm[j] = t;
            }
            fold_in_order(&b, perm, RECS, &want, want_regs, 17);
        }
        blob_free(&b);
    }
    free(want_regs);
}

/* ---------------------------------------------------------- compaction */

/* Counts a chunk's records per bucket; fails if any bucket has more than one. */
static void assert_one_record_per_bucket(const uint8_t *p, size_t len)
{
    struct fold f;
    assert_int_equal(fold_blob(p, len, &f), 0);
    for (size_t b = 0; b < CHUNK_MAX_BUCKETS; b++)
        if (f.nrec[b] > 1)
            fail_msg("bucket %zu has %zu records after compaction", b, f.nrec[b]);
    fold_free(&f);
}

/* Compacts, compares the folds, checks the fixed point; returns the compacted blob. */
static uint8_t *compact_and_check(const uint8_t *p, size_t len, size_t *outlen)
{
    struct fold before, after;
    uint8_t *out, *again;
    size_t againlen;
    compact_ok(p, len, &out, outlen);
    assert_true(*outlen <= len);
    assert_int_equal(fold_blob(p, len, &before), 0);
    assert_int_equal(fold_blob(out, *outlen, &after), 0);
    assert_fold_equal(&before, &after);
    assert_one_record_per_bucket(out, *outlen);
    compact_ok(out, *outlen, &again, &againlen);
    assert_int_equal(againlen, *outlen);
    assert_memory_equal(again, out, *outlen);
    free(again);
    fold_free(&before);
    fold_free(&after);
    return out;
}

static void test_compact_random_chunks(void **state)
{
    (void)state;
    uint64_t s = 1234;
    struct hll_update *u = malloc(5000 * sizeof(*u));
    assert_non_null(u);
    for (int t = 0; t < 60; t++) {
        struct blob b = { 0 };
        /* a few buckets, each with several records, in mixed order */
        unsigned buckets[4];
        for (int k = 0; k < 4; k++)
            buckets[k] = (unsigned)prng_below(&s, CHUNK_MAX_BUCKETS);
        size_t nrec = 1 + prng_below(&s, t < 50 ? 40 : 300);
        for (size_t i = 0; i < nrec; i++) {
            struct agg_delta d;
            gen_delta(&s, &d);
            /* keep sums of many records inside 128 bits: an overflow is not the point here */
            d.count = (int64_t)prng_below(&s, 1000);
            if (d.vcount) {
                d.vcount = 1 + (int64_t)prng_below(&s, 1000);
                d.sum = (jd_i128)gen_i64(&s) * 1000;
            }
            size_t n = gen_updates(&s, u, 5000);
            blob_put(&b, buckets[prng_below(&s, 4)], &d, u, n);
        }
        size_t outlen;
        free(compact_and_check(b.p, b.len, &outlen));
        blob_free(&b);
    }
    free(u);
}

static void test_compact_empty(void **state)
{
    (void)state;
    uint8_t *out;
    size_t outlen = 99;
    assert_int_equal(chunk_compact("", 0, &out, &outlen), JD_OK);
    assert_int_equal(outlen, 0);
    free(out);
}

/* The record of `offset` in a compacted chunk (fails if absent). */
static void find_record(const uint8_t *p, size_t len, unsigned offset, struct chunk_rec *rec)
{
    struct chunk_iter it;
    chunk_iter_init(&it, p, len);
    while (chunk_next(&it, rec) == 1)
        if (rec->offset == offset)
            return;
    fail_msg("no record for bucket %u", offset);
}

static void test_compact_dense(void **state)
{
    (void)state;
    uint64_t s = 31337;
    struct hll_update u[1000];
    struct blob b = { 0 };
    struct agg_delta d = VALUES(1000, 1, 5, 5, 5, 0, 0);
    /* bucket 3: 40 batches of 1000 users ≈ 30000 registers set: dense is smaller */
    for (int batch = 0; batch < 40; batch++) {
        for (size_t k = 0; k < 1000; k++)
            u[k] =
                (struct hll_update){ (uint16_t)prng_next(&s), (uint8_t)(1 + prng_below(&s, 12)) };
        blob_put(&b, 3, &d, u, 1000);
        blob_put(&b, 9, &d, u, 5); /* bucket 9 stays small */
    }
    size_t outlen;
    uint8_t *out = compact_and_check(b.p, b.len, &outlen);
    struct chunk_rec rec;
    find_record(out, outlen, 3, &rec);
    assert_non_null(rec.dense);
    assert_int_equal(rec.nsparse, 0);
    const uint8_t *start = rec.dense - record_len(&rec.d, 0); /* offset and flags bytes */
    assert_int_equal(start[0], 3);
    assert_int_equal(start[1], CHUNK_F_VALUE | CHUNK_F_DENSE);
    find_record(out, outlen, 9, &rec);
    assert_null(rec.dense);
    assert_true(rec.nsparse > 0 && rec.nsparse <= 40 * 5);
    /* dense record: its stats plus 65536 register bytes; sparse: the distinct registers */
    struct agg_delta all = d;
    all.count *= 40;
    all.vcount *= 40;
    all.sum *= 40;
    assert_int_equal(outlen, record_len(&all, 0) + HLL_REGS + record_len(&all, rec.nsparse));
    free(out);

    /* a dense record with few registers set compacts back to the sparse form */
    uint8_t *regs = calloc(1, HLL_REGS);
    assert_non_null(regs);
    regs[1] = 4;
    regs[60000] = 9;
    blob_free(&b);
    blob_put_dense(&b, 0, &d, regs);
    out = compact_and_check(b.p, b.len, &outlen);
    find_record(out, outlen, 0, &rec);
    assert_null(rec.dense);
    assert_int_equal(rec.nsparse, 2);
    assert_int_equal(outlen, record_len(&d, 2));
    free(out);
    free(regs);
    blob_free(&b);
}

/* A bucket with k distinct registers (0..k-1, rank 1..): the length of each form. */
static void one_bucket(struct blob *b, size_t k, struct hll_update *u)
{
    static const struct agg_delta d = COUNT(1);
    for (size_t i = 0; i < k; i++)
        u[i] = (struct hll_update){ (uint16_t)i, (uint8_t)(1 + i % HLL_Q) };
    blob_put(b, 0, &d, u, k);
}

static void test_compact_picks_shorter_form(void **state)
{
    (void)state;
    static const size_t ks[] = { 1, 100, 16383, 16384, 21843, 21844, 21846, 30000, 65536 };
    static const struct agg_delta d = COUNT(1);
    struct hll_update *u = malloc(HLL_REGS * sizeof(*u));
    assert_non_null(u);
    for (size_t i = 0; i < JD_ARRAY_SIZE(ks); i++) {
        struct blob b = { 0 };
        one_bucket(&b, ks[i], u);
        size_t sparse = record_len(&d, ks[i]), dense = record_len(&d, 0) + HLL_REGS, outlen;
        uint8_t *out = compact_and_check(b.p, b.len, &outlen);
        if (outlen != JD_MIN(sparse, dense))
            fail_msg("%zu registers: %zu bytes, want %zu (sparse %zu, dense %zu)", ks[i], outlen,
                     JD_MIN(sparse, dense), sparse, dense);
        free(out);
        blob_free(&b);
    }
    free(u);
}

static void test_compact_single_record_unchanged(void **state)
{
    (void)state;
    static const struct agg_delta deltas[] = {
        COUNT(7),
        VALUES(2, 2, BIG_SUM, INT64_MIN, INT64_MAX, -5, 3),
    };
    static const size_t sizes[] = { 0, 1, 100, 21844 };
    struct hll_update *u = malloc(HLL_REGS * sizeof(*u));
    assert_non_null(u);
    for (size_t di = 0; di < JD_ARRAY_SIZE(deltas); di++)
        for (size_t si = 0; si < JD_ARRAY_SIZE(sizes); si++) {
            struct blob b = { 0 };
            /* sorted, distinct registers with nonzero ranks: already compact */
            for (size_t k = 0; k < sizes[si]; k++)
                u[k] = (struct hll_update){ (uint16_t)(3 * k), (uint8_t)(1 + k % 40) };
            blob_put(&b, (unsigned)(di * 40 + si), &deltas[di], u, sizes[si]);
            size_t outlen;
            uint8_t *out = compact_and_check(b.p, b.len, &outlen);
            assert_int_equal(outlen, b.len);
            assert_memory_equal(out, b.p, b.len);
            free(out);
            blob_free(&b);
        }
    /* an already dense record: the same bytes back */
    struct blob b = { 0 };
    uint8_t *regs = malloc(HLL_REGS);
    assert_non_null(regs);
    for (size_t r = 0; r < HLL_REGS; r++)
        regs[r] = (uint8_t)(r % 5 ? 1 + r % 9 : 0); /* 80 % of registers set */
    blob_put_dense(&b, 63, &deltas[1], regs);
    size_t outlen;
    uint8_t *out = compact_and_check(b.p, b.len, &outlen);
    assert_int_equal(outlen, b.len);
    assert_memory_equal(out, b.p, b.len);
    free(out);
    free(regs);
    blob_free(&b);
    free(u);
}

static void test_compact_normalizes_sketches(void **state)
{
    (void)state;
    static const struct {
        const char *what;
        struct hll_update u[6];
        size_t n, want_n; /* distinct registers with a rank */
    } cases[] = {
        { "unsorted", { { 9, 1 }, { 2, 5 }, { 7, 3 } }, 3, 3 },
        { "duplicates", { { 4, 1 }, { 4, 6 }, { 4, 2 }, { 5, 1 } }, 4, 2 },
        { "rank 0 entries", { { 4, 0 }, { 5, 0 }, { 6, 3 } }, 3, 1 },
        { "only rank 0", { { 4, 0 } }, 1, 0 },
    };
    static const struct agg_delta d = COUNT(1);
    for (size_t i = 0; i < JD_ARRAY_SIZE(cases); i++) {
        struct blob b = { 0 };
        blob_put(&b, 1, &d, cases[i].u, cases[i].n);
        size_t outlen;
        uint8_t *out = compact_and_check(b.p, b.len, &outlen);
        struct chunk_rec rec;
        find_record(out, outlen, 1, &rec);
        if (rec.nsparse != cases[i].want_n)
            fail_msg("%s: %zu updates, want %zu", cases[i].what, rec.nsparse, cases[i].want_n);
        for (size_t k = 1; k < rec.nsparse; k++) {
            const uint8_t *a = rec.sparse + 3 * (k - 1), *c = rec.sparse + 3 * k;
            assert_true((a[0] | a[1] << 8) < (c[0] | c[1] << 8)); /* sorted, distinct */
        }
        assert_int_equal(outlen, record_len(&d, cases[i].want_n));
        free(out);
        blob_free(&b);
    }
}

/* ------------------------------------------------------- damaged input */

/* A valid multi-record chunk with every kind of record. */
static void varied_blob(struct blob *b, bool with_dense)
{
    static const struct agg_delta d[] = {
        COUNT(1),
        VALUES(300, 200, BIG_SUM, INT64_MIN, INT64_MAX, 1795478400000, -7),
        VALUES(2, 1, -1, -1, -1, 0, -1),
    };
    struct hll_update u[200];
    uint64_t s = 5;
    for (size_t k = 0; k < 200; k++)
        u[k] = (struct hll_update){ (uint16_t)prng_next(&s), (uint8_t)(1 + k % 30) };
    blob_put(b, 0, &d[0], NULL, 0);
    blob_put(b, 1, &d[1], u, 3);
    blob_put(b, 63, &d[2], NULL, 0);
    if (with_dense) {
        uint8_t *regs = calloc(1, HLL_REGS);
        assert_non_null(regs);
        regs[0] = 1;
        regs[HLL_REGS - 1] = 2;
        blob_put_dense(b, 2, &d[1], regs);
        free(regs);
    }
    blob_put(b, 1, &d[1], u, 200);
    blob_put(b, 5, &d[0], u, 1);
    blob_put(b, 1, &d[2], u + 100, 20);
}

/* Checks every prefix length in [from, to) with the given stride. */
static void check_prefixes(const struct blob *b, size_t from, size_t to, size_t stride)
{
    for (size_t len = from; len < to; len += stride) {
        uint8_t *p = exact_copy(b->p, len);
        size_t complete = 0;
        bool boundary = len == 0;
        for (size_t r = 0; r < b->nrec && b->ends[r] <= len; r++) {
            complete++;
            boundary = b->ends[r] == len;
        }
        struct chunk_iter it;
        struct chunk_rec rec;
        size_t ok = 0;
        int rc;
        chunk_iter_init(&it, p, len);
        while ((rc = chunk_next(&it, &rec)) == 1)
            ok++;
        if (rc != (boundary ? 0 : -1) || ok != complete)
            fail_msg("prefix %zu of %zu: rc %d after %zu records (want %d after %zu)", len, b->len,
                     rc, ok, boundary ? 0 : -1, complete);
        static uint8_t sentinel;
        uint8_t *out = &sentinel;
        size_t outlen = 1;
        enum jd_err e = chunk_compact(p, len, &out, &outlen);
        if (boundary) {
            assert_int_equal(e, JD_OK);
            free(out);
        } else {
            assert_int_equal(e, JD_ERR_INVALID);
            assert_null(out);
            assert_int_equal(outlen, 0);
        }
        free(p);
    }
}

static void test_damaged_truncations(void **state)
{
    (void)state;
    struct blob b = { 0 };
    varied_blob(&b, false);
    check_prefixes(&b, 0, b.len + 1, 1); /* every truncation */
    blob_free(&b);

    /* with a dense record: every prefix around it, a stride through its registers */
    varied_blob(&b, true);
    size_t dense_end = b.ends[3], dense_start = b.ends[2];
    check_prefixes(&b, 0, dense_start + 40, 1);
    check_prefixes(&b, dense_start + 40, dense_end - 40, 257);
    check_prefixes(&b, dense_end - 40, b.len + 1, 1);
    blob_free(&b);
}

static void test_damaged_table(void **state)
{
    (void)state;
    static const struct {
        const char *what, *hex;
        int want; /* the first chunk_next() result */
    } cases[] = {
        { "one byte", "00", -1 },
        { "header without count", "00 00", -1 },
        { "flag 0x08", "00 08 01", -1 },
        { "flag 0x80", "00 80 01", -1 },
        { "sparse and dense", "00 06 01 00", -1 },
        { "offset 64", "40 00 01", -1 },
        { "offset 255", "ff 00 01", -1 },
        { "count varint unterminated", "00 00 80", -1 },
        { "count varint in 11 bytes", "00 00 80*10 00", -1 },
        { "value flag, no fields", "00 01 01", -1 },
        { "value flag, last missing", "00 01 01 01 02 02 02 02", -1 },
        { "min beyond int64 (zigzag 2^64)", "00 01 01 01 00 80*9 02 00 00 00", -1 },
        { "min in 12 bytes", "00 01 01 01 00 80*11 00 00 00 00", -1 },
        { "sparse count beyond the bytes", "00 02 01 02 01 00 03", -1 },
        { "sparse count huge", "00 02 01 ff ff ff ff 0f", -1 },
        { "sparse count unterminated", "00 02 01 80", -1 },
        { "sparse count 2^40", "00 02 01 80*5 20 01 00 03", -1 },
        { "dense flag, no registers", "00 04 01", -1 },
        /* the intact neighbours are accepted */
        { "empty", "", 0 },
        { "offset 63", "3f 00 01", 1 },
        { "sparse count that fits", "00 02 01 01 01 00 03", 1 },
        { "min INT64_MIN (zigzag 2^64-1)", "00 01 01 01 00 ff*9 01 00 00 00", 1 },
        { "sum -2^127 (zigzag 2^128-1)", "00 01 01 01 ff*18 03 00 00 00 00", 1 },
        { "zero-length sparse sketch", "00 02 01 00", 1 },
    };
    for (size_t i = 0; i < JD_ARRAY_SIZE(cases); i++) {
        uint8_t bytes[64];
        size_t n = hex_bytes(cases[i].hex, bytes, sizeof(bytes));
        uint8_t *p = exact_copy(bytes, n);
        struct chunk_iter it;
        struct chunk_rec rec;
        chunk_iter_init(&it, p, n);
        int rc = chunk_next(&it, &rec);
        if (rc != cases[i].want)
            fail_msg("%s: chunk_next %d, want %d", cases[i].what, rc, cases[i].want);
        if (rc == 1)
            assert_int_equal(chunk_next(&it, &rec), 0); /* one record, all of it */
        uint8_t *out = NULL;
        size_t outlen;
        enum jd_err e = chunk_compact(p, n, &out, &outlen);
        assert_int_equal(e, rc < 0 ? JD_ERR_INVALID : JD_OK);
        if (rc < 0)
            assert_null(out);
        free(out);
        free(p);
    }
}

static void test_damaged_dense_cut_short(void **state)
{
    (void)state;
    uint8_t *regs = calloc(1, HLL_REGS);
    struct agg_delta d = COUNT(3);
    assert_non_null(regs);
    regs[77] = 5;
    struct blob b = { 0 };
    blob_put_dense(&b, 4, &d, regs);
    static const size_t missing[] = { 1, 2, 100, HLL_REGS - 1, HLL_REGS };
    for (size_t i = 0; i < JD_ARRAY_SIZE(missing); i++) {
        size_t len = b.len - missing[i];
        uint8_t *p = exact_copy(b.p, len);
        struct chunk_iter it;
        struct chunk_rec rec;
        chunk_iter_init(&it, p, len);
        assert_int_equal(chunk_next(&it, &rec), -1);
        uint8_t *out = NULL;
        size_t outlen;
        assert_int_equal(chunk_compact(p, len, &out, &outlen), JD_ERR_INVALID);
        assert_null(out);
        free(p);
    }
    /* whole: accepted, the registers are the bytes */
    uint8_t *p = exact_copy(b.p, b.len);
    struct chunk_iter it;
    struct chunk_rec rec;
    chunk_iter_init(&it, p, b.len);
    assert_int_equal(chunk_next(&it, &rec), 1);
    assert_non_null(rec.dense);
    assert_int_equal(rec.dense[77], 5);
    assert_ptr_equal(rec.dense + HLL_REGS, p + b.len);
    assert_int_equal(chunk_next(&it, &rec), 0);
    free(p);
    free(regs);
    blob_free(&b);
}

/* Flips bytes of valid chunks: always a clean verdict, and compaction agrees with the reader. */
static void test_damaged_random_flips(void **state)
{
    (void)state;
    enum { ROUNDS = 6000 };
    uint64_t s = 0xf1195;
    struct blob base[3] = { { 0 } };
    varied_blob(&base[0], false);
    varied_blob(&base[1], true);
    struct hll_update u[40];
    for (int i = 0; i < 30; i++) {
        /* small totals: the point is the reader, not overflowing sums (see the overflow regression
         * test) */
        struct agg_delta d;
        gen_delta(&s, &d);
        d.count = (int64_t)prng_below(&s, 1000);
        d.vcount = d.vcount ? 1 + (int64_t)prng_below(&s, 1000) : 0;
        d.sum = d.vcount ? (jd_i128)gen_i64(&s) : 0;
        size_t n = prng_below(&s, 40);
        for (size_t k = 0; k < n; k++)
            u[k] = (struct hll_update){ (uint16_t)prng_next(&s), (uint8_t)prng_below(&s, 50) };
        blob_put(&base[2], (unsigned)(21 * prng_below(&s, 4)), &d, u, n); /* buckets 0..63 */
    }
    size_t verdict[2] = { 0, 0 }; /* [0]: read to the end, [1]: reported damaged */
    for (int round = 0; round < ROUNDS; round++) {
        /* the dense blob is costly to fold: one round in 20 */
        const struct blob *b = &base[round % 20 == 0 ? 1 : (round % 2 ? 0 : 2)];
        uint8_t *p = exact_copy(b->p, b->len);
        int flips = 1 + (int)prng_below(&s, 4);
        for (int k = 0; k < flips; k++) {
            /* most flips hit the first bytes of a record: headers and varints */
            size_t at =
                prng_below(&s, 3) ? prng_below(&s, JD_MIN(b->len, 300)) : prng_below(&s, b->len);
            p[at] ^= (uint8_t)(1 + prng_below(&s, 255));
        }
        size_t len = prng_below(&s, 4) ? b->len : prng_below(&s, b->len + 1);
        uint8_t *q = exact_copy(p, len);
        free(p);
        struct fold f;
        int rc = fold_blob(q, len, &f);
        verdict[rc < 0]++;
        uint8_t *out = NULL;
        size_t outlen;
        enum jd_err e = chunk_compact(q, len, &out, &outlen);
        if (rc < 0) {
            assert_int_equal(e, JD_ERR_INVALID);
            assert_null(out);
        } else {
            /* damage the reader cannot see: compaction still keeps what it reads */
            struct fold g;
            assert_int_equal(e, JD_OK);
            assert_int_equal(fold_blob(out, outlen, &g), 0);
            assert_fold_equal(&f, &g);
            fold_free(&g);
        }
        free(out);
        fold_free(&f);
        free(q);
    }
    printf("# flips: %zu read to the end, %zu reported damaged\n", verdict[0], verdict[1]);
    assert_true(verdict[1] > ROUNDS / 4);
    assert_true(verdict[0] > 0);
    for (int i = 0; i < 3; i++)
        blob_free(&base[i]);
}

static void test_damaged_random_bytes(void **state)
{
    (void)state;
    uint64_t s = 0xbad;
    for (int round = 0; round < 5000; round++) {
        size_t len = prng_below(&s, 200);
        uint8_t *p = malloc(len ? len : 1);
        assert_non_null(p);
        for (size_t i = 0; i < len; i++)
            p[i] = (uint8_t)prng_next(&s);
        if (len && prng_below(&s, 2))
            p[0] &= 0x3f; /* a valid offset more often */
        if (len > 1 && prng_below(&s, 2))
            p[1] &= 0x07;
        struct fold f;
        fold_blob(p, len, &f);
        fold_free(&f);
        uint8_t *out = NULL;
        size_t outlen;
        enum jd_err e = chunk_compact(p, len, &out, &outlen);
        assert_true(e == JD_OK || e == JD_ERR_INVALID);
        free(out);
        free(p);
    }
}

/* --------------------------------------------------------- known bugs */

/*
 * Regression (fixed; chunk.c, chunk_get_uv): the reader accepts one byte more than a field
 * can need. The loop runs while shift < bits + 7, so a 63-bit count may take
 * 10 bytes (9 suffice) and decode to 2^63..2^70: the record is accepted with
 * a negative count. A 128-bit sum may take 20 bytes: the 20th is shifted by
 * 133, undefined behaviour on a 128-bit type (UBSan: "shift exponent 133 is
 * too large"); on x86-64 the record is accepted with a wrong small sum. The
 * same off-by-one lets an int64 field take 11 bytes and a sparse count 6.
 * Expected: -1 (damaged) for each row; actual: 1.
 */
static void test_varint_one_byte_too_many(void **state)
{
    (void)state;
    static const struct {
        const char *what, *hex;
    } cases[] = {
        { "count 2^63 in 10 bytes (decodes to a negative count)", "00 00 80*9 01" },
        { "vcount 2^63 in 10 bytes", "00 01 01 80*9 01 00 00 00 00 00" },
        { "count 0 in 10 bytes", "00 00 80*9 00" },
        { "sum in 20 bytes (shift by 133)", "00 01 01 01 80*19 01 00 00 00 00" },
        { "min 0 in 11 bytes", "00 01 01 01 00 80*10 00 00 00 00" },
        { "sparse count 0 in 6 bytes", "00 02 01 80*5 00" },
    };
    size_t accepted = 0;
    for (size_t i = 0; i < JD_ARRAY_SIZE(cases); i++) {
        uint8_t bytes[64];
        size_t n = hex_bytes(cases[i].hex, bytes, sizeof(bytes));
        uint8_t *p = exact_copy(bytes, n);
        struct chunk_iter it;
        struct chunk_rec rec;
        chunk_iter_init(&it, p, n);
        int rc = chunk_next(&it, &rec);
        if (rc != -1) {
            printf("# accepted: %s (count %lld, vcount %lld)\n", cases[i].what,
                   (long long)rec.d.count, (long long)rec.d.vcount);
            accepted++;
        }
        free(p);
    }
    assert_int_equal(accepted, 0);
}

/*
 * Regression (fixed; chunk.c, chunk_compact): the dense form is chosen when 3 × registers
 * >= 65536, but the sparse form also carries its count (3 bytes here). With
 * exactly 21845 registers set, sparse is 65538 bytes against 65536 for dense:
 * the compacted record is 2 bytes longer than needed.
 * Expected: 65539 bytes (dense); actual: 65541 (sparse).
 */
static void test_compact_dense_threshold(void **state)
{
    (void)state;
    static const struct agg_delta d = COUNT(1);
    struct hll_update *u = malloc(HLL_REGS * sizeof(*u));
    struct blob b = { 0 };
    assert_non_null(u);
    one_bucket(&b, 21845, u);
    uint8_t *out;
    size_t outlen;
    compact_ok(b.p, b.len, &out, &outlen);
    free(out);
    free(u);
    blob_free(&b);
    assert_int_equal(outlen, record_len(&d, 0) + HLL_REGS);
}

/*
 * Regression (fixed; chunk.c, chunk_compact + agg.c, agg_delta_merge): totals are added
 * without an overflow check. Two records that chunk_next() accepts, each with
 * count INT64_MAX, fold to a signed overflow (UB; in practice -2); the
 * encoder writes that count as a 19-byte varint, which chunk_next() rejects:
 * compaction turns a readable chunk into a damaged one, and being shorter
 * (21 bytes vs 22), store_compact() would SET it in Redis. When count,
 * vcount and sum all wrap, the record needs 99 bytes while chunk_compact()
 * allocated chunk_record_max(0) = 91 for a bucket without a sketch: an
 * 8-byte heap-buffer-overflow (ASan, chunk.c chunk_put_uv). This test uses
 * the count-only form, which does not write out of bounds.
 * Expected: JD_ERR_INVALID (totals that cannot exist are damage), or output
 * that reads back; actual: JD_OK and chunk_next() returns -1 on the output.
 */
static void test_compact_count_overflow(void **state)
{
    (void)state;
    static const struct agg_delta d = COUNT(INT64_MAX);
    struct blob b = { 0 };
    blob_put(&b, 0, &d, NULL, 0);
    blob_put(&b, 0, &d, NULL, 0);
    assert_int_equal(count_records(b.p, b.len), 2); /* both records are readable */
    uint8_t *out = NULL;
    size_t outlen = 0;
    int rc = 1;
    enum jd_err e = chunk_compact(b.p, b.len, &out, &outlen);
    if (e == JD_OK) {
        rc = count_records(out, outlen);
        printf("# compacted %zu bytes into %zu; reading them back: %d\n", b.len, outlen, rc);
    }
    free(out);
    blob_free(&b);
    assert_true(e == JD_ERR_INVALID || (e == JD_OK && rc == 1));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_table),
        cmocka_unit_test(test_round_trip_random),
        cmocka_unit_test(test_record_max_bounds),
        cmocka_unit_test(test_fold_order_independent),
        cmocka_unit_test(test_fold_random_sets),
        cmocka_unit_test(test_compact_random_chunks),
        cmocka_unit_test(test_compact_empty),
        cmocka_unit_test(test_compact_dense),
        cmocka_unit_test(test_compact_picks_shorter_form),
        cmocka_unit_test(test_compact_single_record_unchanged),
        cmocka_unit_test(test_compact_normalizes_sketches),
        cmocka_unit_test(test_damaged_truncations),
        cmocka_unit_test(test_damaged_table),
        cmocka_unit_test(test_damaged_dense_cut_short),
        cmocka_unit_test(test_damaged_random_flips),
        cmocka_unit_test(test_damaged_random_bytes),
        cmocka_unit_test(test_varint_one_byte_too_many),
        cmocka_unit_test(test_compact_dense_threshold),
        cmocka_unit_test(test_compact_count_overflow),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
