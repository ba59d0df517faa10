/*
 * test_window.c — unit tests for aggregate/window: bucket arithmetic (also
 * before the epoch), chunk ids and offsets, expiry, and window_plan().
 *
 * The plan is checked on fixed cases, on a 30-day range at minute edges, and
 * by a property test over random aligned ranges: the pieces are contiguous,
 * non-overlapping, aligned to their resolution, cover exactly [from, to),
 * and are as few as a brute-force shortest tiling finds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "aggregate/window.h"
#include "core/jd.h"

#include <stdlib.h>
#include <string.h>

#define M JD_MS_MINUTE
#define H JD_MS_HOUR
#define D JD_MS_DAY

/* 2026-11-23T00:00:00Z, a day start that is not a 30-day chunk start. */
#define T0 INT64_C(1795392000000)

static uint64_t rng_state;

static uint64_t splitmix64(void)
{
    uint64_t z = (rng_state += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static int64_t rng_range(int64_t lo, int64_t hi)
{
    return lo + (int64_t)(splitmix64() % (uint64_t)(hi - lo + 1));
}

/* Floor modulo, independent of the module's helpers. */
static int64_t fmod64(int64_t a, int64_t b)
{
    int64_t r = a % b;
    return r < 0 ? r + b : r;
}

/* --------------------------------------------------------------- buckets */

static void test_resolutions(void **state)
{
    (void)state;
    assert_int_equal(window_res_ms(WINDOW_MINUTE), M);
    assert_int_equal(window_res_ms(WINDOW_HOUR), H);
    assert_int_equal(window_res_ms(WINDOW_DAY), D);
    assert_int_equal(window_chunk_ms(WINDOW_MINUTE), H);
    assert_int_equal(window_chunk_ms(WINDOW_HOUR), D);
    assert_int_equal(window_chunk_ms(WINDOW_DAY), 30 * D);
    assert_int_equal(window_res_char(WINDOW_MINUTE), 'm');
    assert_int_equal(window_res_char(WINDOW_HOUR), 'h');
    assert_int_equal(window_res_char(WINDOW_DAY), 'd');
}

static void test_bucket_start(void **state)
{
    static const struct {
        enum window_res r;
        int64_t ts, want;
    } cases[] = {
        { WINDOW_MINUTE, 0, 0 },
        { WINDOW_MINUTE, 1, 0 },
        { WINDOW_MINUTE, M - 1, 0 },
        { WINDOW_MINUTE, M, M },
        { WINDOW_MINUTE, -1, -M },
        { WINDOW_MINUTE, -M, -M },
        { WINDOW_MINUTE, -M - 1, -2 * M },
        { WINDOW_HOUR, H + 30 * M, H },
        { WINDOW_HOUR, -1, -H },
        { WINDOW_HOUR, -H, -H },
        { WINDOW_DAY, T0 + 8 * H + 123, T0 },
        { WINDOW_DAY, T0 - 1, T0 - D },
        { WINDOW_DAY, -1, -D },
        { WINDOW_DAY, -D - 1, -2 * D },
        { WINDOW_MINUTE, T0 + 8 * H + 59 * 1000 + 999, T0 + 8 * H },
    };
    (void)state;
    for (size_t i = 0; i < JD_ARRAY_SIZE(cases); i++) {
        int64_t got = window_bucket_start(cases[i].r, cases[i].ts);
        if (got != cases[i].want)
            fail_msg("case %zu: res %d ts %lld: got %lld, want %lld", i, cases[i].r,
                     (long long)cases[i].ts, (long long)got, (long long)cases[i].want);
    }
}

static void test_chunks(void **state)
{
    static const struct {
        enum window_res r;
        int64_t bucket, chunk;
        unsigned offset;
        int64_t index;
    } cases[] = {
        { WINDOW_MINUTE, 0, 0, 0, 0 },          { WINDOW_MINUTE, 59 * M, 0, 59, 59 },
        { WINDOW_MINUTE, 60 * M, 1, 0, 60 },    { WINDOW_MINUTE, -M, -1, 59, -1 },
        { WINDOW_MINUTE, -60 * M, -1, 0, -60 }, { WINDOW_MINUTE, -61 * M, -2, 59, -61 },
        { WINDOW_HOUR, 23 * H, 0, 23, 23 },     { WINDOW_HOUR, 24 * H, 1, 0, 24 },
        { WINDOW_HOUR, -H, -1, 23, -1 },        { WINDOW_DAY, 29 * D, 0, 29, 29 },
        { WINDOW_DAY, 30 * D, 1, 0, 30 },       { WINDOW_DAY, -D, -1, 29, -1 },
        { WINDOW_DAY, T0, 692, 20, 20780 }, /* 20780 days = 692 chunks + 20 */
    };
    (void)state;
    for (size_t i = 0; i < JD_ARRAY_SIZE(cases); i++) {
        int64_t chunk = window_chunk_id(cases[i].r, cases[i].bucket);
        unsigned off = window_bucket_offset(cases[i].r, cases[i].bucket);
        int64_t idx = window_bucket_index(cases[i].r, cases[i].bucket);
        if (chunk != cases[i].chunk || off != cases[i].offset || idx != cases[i].index)
            fail_msg("case %zu: chunk %lld off %u index %lld, want %lld %u %lld", i,
                     (long long)chunk, off, (long long)idx, (long long)cases[i].chunk,
                     cases[i].offset, (long long)cases[i].index);
    }
}

/* For any time: bucket = chunk start + offset * res, offset within the chunk. */
static void test_bucket_property(void **state)
{
    (void)state;
    rng_state = 11;
    for (int i = 0; i < 200000; i++) {
        int64_t ts = rng_range(INT64_C(-10000000000000), INT64_C(10000000000000));
        for (int r = 0; r < WINDOW_NRES; r++) {
            enum window_res res = (enum window_res)r;
            int64_t len = window_res_ms(res), clen = window_chunk_ms(res);
            int64_t b = window_bucket_start(res, ts);
            if (b > ts || ts - b >= len || fmod64(b, len) != 0)
                fail_msg("res %d ts %lld: bucket %lld", r, (long long)ts, (long long)b);
            int64_t chunk = window_chunk_id(res, b);
            unsigned off = window_bucket_offset(res, b);
            if (off >= clen / len || chunk * clen + (int64_t)off * len != b)
                fail_msg("res %d bucket %lld: chunk %lld offset %u", r, (long long)b,
                         (long long)chunk, off);
            assert_int_equal(window_bucket_index(res, b) * len, b);
        }
    }
}

static void test_expiry(void **state)
{
    const struct window_retention ret = { { 3 * D, 130 * D, 800 * D } };
    (void)state;

    assert_int_equal(window_expiry(&ret, WINDOW_MINUTE, T0), T0 + 3 * D);
    assert_int_equal(window_expiry(&ret, WINDOW_HOUR, T0), T0 + 130 * D);
    assert_int_equal(window_expiry(&ret, WINDOW_DAY, -D), 799 * D);

    static const struct {
        enum window_res r;
        int64_t bucket, at;
        bool kept;
    } cases[] = {
        /* kept while at < bucket end + retention */
        { WINDOW_MINUTE, T0, T0, true },
        { WINDOW_MINUTE, T0, T0 + M + 3 * D - 1, true },
        { WINDOW_MINUTE, T0, T0 + M + 3 * D, false },
        { WINDOW_HOUR, T0, T0 + H + 130 * D - 1, true },
        { WINDOW_HOUR, T0, T0 + H + 130 * D, false },
        { WINDOW_DAY, T0, T0 + D + 800 * D - 1, true },
        { WINDOW_DAY, T0, T0 + D + 800 * D, false },
        /* a bucket in the future of `at` is kept */
        { WINDOW_DAY, T0, T0 - 5 * D, true },
        /* before the epoch */
        { WINDOW_MINUTE, -M, 3 * D - 1, true },
        { WINDOW_MINUTE, -M, 3 * D, false },
    };
    for (size_t i = 0; i < JD_ARRAY_SIZE(cases); i++) {
        bool kept = window_is_kept(&ret, cases[i].r, cases[i].bucket, cases[i].at);
        if (kept != cases[i].kept)
            fail_msg("case %zu: kept %d, want %d", i, kept, cases[i].kept);
        /* consistent with window_expiry of the bucket's end */
        int64_t exp = window_expiry(&ret, cases[i].r, cases[i].bucket + window_res_ms(cases[i].r));
        assert_int_equal(kept, cases[i].at < exp);
    }
}

/* ------------------------------------------------------------------ plans */

struct piece_want {
    enum window_res res;
    int64_t start;
};

/* Pieces must tile [from, to) exactly; returns how many distinct chunks they touch. */
static size_t check_tiling(int64_t from, int64_t to, const struct window_piece *p, size_t n)
{
    int64_t t = from;
    size_t chunks = 0;
    int phase = 0; /* resolutions climb, then descend */
    for (size_t k = 0; k < n; k++) {
        int64_t len = window_res_ms(p[k].res);
        if (p[k].start != t)
            fail_msg("[%lld,%lld) piece %zu starts at %lld, want %lld (gap or overlap)",
                     (long long)from, (long long)to, k, (long long)p[k].start, (long long)t);
        if (fmod64(p[k].start, len) != 0)
            fail_msg("[%lld,%lld) piece %zu (res %d) at %lld is not aligned", (long long)from,
                     (long long)to, k, p[k].res, (long long)p[k].start);
        if (k > 0) {
            if (p[k].res < p[k - 1].res)
                phase = 1;
            else if (p[k].res > p[k - 1].res && phase)
                fail_msg("[%lld,%lld) resolutions go down then up again at piece %zu",
                         (long long)from, (long long)to, k);
        }
        bool seen = false;
        int64_t cid = window_chunk_id(p[k].res, p[k].start);
        for (size_t j = 0; j < k && !seen; j++)
            seen = p[j].res == p[k].res && window_chunk_id(p[j].res, p[j].start) == cid;
        chunks += !seen;
        t += len;
    }
    if (t != to)
        fail_msg("[%lld,%lld) pieces end at %lld", (long long)from, (long long)to, (long long)t);
    return chunks;
}

static void test_plan_cases(void **state)
{
    static const struct {
        int64_t from, to;
        size_t n;     /* pieces */
        size_t nwant; /* how many leading pieces are listed in want */
        struct piece_want want[6];
    } cases[] = {
        { T0, T0, 0, 0, { { 0, 0 } } },
        { T0, T0 + M, 1, 1, { { WINDOW_MINUTE, T0 } } },
        { T0, T0 + H, 1, 1, { { WINDOW_HOUR, T0 } } },
        { T0, T0 + D, 1, 1, { { WINDOW_DAY, T0 } } },
        { T0 + 59 * M,
          T0 + 61 * M,
          2,
          2,
          { { WINDOW_MINUTE, T0 + 59 * M }, { WINDOW_MINUTE, T0 + H } } },
        { T0 - M, T0 + M, 2, 2, { { WINDOW_MINUTE, T0 - M }, { WINDOW_MINUTE, T0 } } },
        { T0 + 23 * H,
          T0 + D + H,
          2,
          2,
          { { WINDOW_HOUR, T0 + 23 * H }, { WINDOW_HOUR, T0 + D } } },
        { T0 + 23 * H + 59 * M,
          T0 + D + H + M,
          3,
          3,
          { { WINDOW_MINUTE, T0 + 23 * H + 59 * M },
            { WINDOW_HOUR, T0 + D },
            { WINDOW_MINUTE, T0 + D + H } } },
        /* an aligned hour that does not fit falls back to minutes */
        { T0, T0 + 59 * M, 59, 2, { { WINDOW_MINUTE, T0 }, { WINDOW_MINUTE, T0 + M } } },
        /* an aligned day that does not fit falls back to hours */
        { T0, T0 + D - H, 23, 1, { { WINDOW_HOUR, T0 } } },
        /* days, then hours, then minutes on the way down */
        { T0,
          T0 + 2 * D + 2 * H + 2 * M,
          6,
          6,
          { { WINDOW_DAY, T0 },
            { WINDOW_DAY, T0 + D },
            { WINDOW_HOUR, T0 + 2 * D },
            { WINDOW_HOUR, T0 + 2 * D + H },
            { WINDOW_MINUTE, T0 + 2 * D + 2 * H },
            { WINDOW_MINUTE, T0 + 2 * D + 2 * H + M } } },
        /* before the epoch and across it */
        { -D - M,
          M,
          3,
          3,
          { { WINDOW_MINUTE, -D - M }, { WINDOW_DAY, -D }, { WINDOW_MINUTE, 0 } } },
        { -2 * H, 0, 2, 2, { { WINDOW_HOUR, -2 * H }, { WINDOW_HOUR, -H } } },
    };
    (void)state;
    for (size_t i = 0; i < JD_ARRAY_SIZE(cases); i++) {
        struct window_piece out[128];
        size_t n = 999;
        char err[JD_ERRSTR_SIZE] = "";
        enum jd_err rc =
            window_plan(cases[i].from, cases[i].to, out, JD_ARRAY_SIZE(out), &n, err, sizeof(err));
        if (rc != JD_OK)
            fail_msg("case %zu: rc %d %s", i, rc, err);
        if (n != cases[i].n)
            fail_msg("case %zu: %zu pieces, want %zu", i, n, cases[i].n);
        for (size_t k = 0; k < cases[i].nwant; k++)
            if (out[k].res != cases[i].want[k].res || out[k].start != cases[i].want[k].start)
                fail_msg("case %zu piece %zu: res %d start %lld, want res %d start %lld", i, k,
                         out[k].res, (long long)out[k].start, cases[i].want[k].res,
                         (long long)cases[i].want[k].start);
        check_tiling(cases[i].from, cases[i].to, out, n);
    }
}

static void test_plan_errors(void **state)
{
    static const struct {
        int64_t from, to;
        size_t cap;
        enum jd_err want;
        const char *msg;
    } cases[] = {
        { T0 + 1, T0 + H, 100, JD_ERR_INVALID, "whole minutes" },
        { T0, T0 + H + 1, 100, JD_ERR_INVALID, "whole minutes" },
        { T0 + 30 * 1000, T0 + 90 * 1000, 100, JD_ERR_INVALID, "whole minutes" },
        { -1, M, 100, JD_ERR_INVALID, "whole minutes" },
        { -M - 1, 0, 100, JD_ERR_INVALID, "whole minutes" },
        { T0 + H, T0, 100, JD_ERR_INVALID, "ends before it starts" },
        { T0 + 1, T0, 100, JD_ERR_INVALID, "" }, /* reversed and unaligned */
        { T0, T0 + 2 * M, 1, JD_ERR_RANGE, "more than 1 buckets" },
        { T0, T0 + 59 * M, 58, JD_ERR_RANGE, "more than 58 buckets" },
        { T0, T0 + M, 0, JD_ERR_RANGE, "" },
    };
    (void)state;
    for (size_t i = 0; i < JD_ARRAY_SIZE(cases); i++) {
        struct window_piece out[128];
        size_t n = 999;
        char err[JD_ERRSTR_SIZE] = "";
        enum jd_err rc =
            window_plan(cases[i].from, cases[i].to, out, cases[i].cap, &n, err, sizeof(err));
        if (rc != cases[i].want || n != 0 || !err[0] || !strstr(err, cases[i].msg))
            fail_msg("case %zu: rc %d n %zu '%s', want rc %d '%s'", i, rc, n, err, cases[i].want,
                     cases[i].msg);
    }
    /* exactly enough room is enough; an empty range needs none */
    struct window_piece out[59];
    size_t n = 0;
    assert_int_equal(window_plan(T0, T0 + 59 * M, out, 59, &n, NULL, 0), JD_OK);
    assert_int_equal(n, 59);
    assert_int_equal(window_plan(T0, T0, NULL, 0, &n, NULL, 0), JD_OK);
    assert_int_equal(n, 0);
}

/* The fewest aligned buckets that tile [from, to), by dynamic programming over minutes. */
static size_t brute_force_fewest(int64_t from, int64_t to)
{
    size_t steps = (size_t)((to - from) / M);
    size_t *best = malloc((steps + 1) * sizeof(*best));
    assert_non_null(best);
    for (size_t i = 0; i <= steps; i++)
        best[i] = SIZE_MAX;
    best[0] = 0;
    for (size_t i = 0; i < steps; i++) {
        if (best[i] == SIZE_MAX)
            continue;
        int64_t t = from + (int64_t)i * M;
        const int64_t lens[] = { M, H, D };
        for (size_t r = 0; r < 3; r++) {
            size_t j = i + (size_t)(lens[r] / M);
            if (fmod64(t, lens[r]) == 0 && j <= steps && best[i] + 1 < best[j])
                best[j] = best[i] + 1;
        }
    }
    size_t n = best[steps];
    free(best);
    return n;
}

/* 30 days at minute edges: ~190 buckets, but only a handful of chunks to read. */
static void test_plan_30_days_at_minute_edges(void **state)
{
    int64_t from = T0 + M, to = T0 + 30 * D - M;
    size_t cap = window_plan_max(from, to), n = 0;
    struct window_piece *out = calloc(cap, sizeof(*out));
    (void)state;

    assert_non_null(out);
    assert_int_equal(window_plan(from, to, out, cap, &n, NULL, 0), JD_OK);
    /* 59 minutes + 23 hours + 28 days + 23 hours + 59 minutes */
    assert_int_equal(n, 59 + 23 + 28 + 23 + 59);
    size_t chunks = check_tiling(from, to, out, n);
    assert_true(chunks <= 6);
    assert_int_equal(out[59].res, WINDOW_HOUR);
    assert_int_equal(out[82].res, WINDOW_DAY);
    assert_int_equal(out[110].res, WINDOW_HOUR);
    free(out);

    /* whole hours at both edges: a few tens of buckets */
    from = T0 + H;
    to = T0 + 30 * D - H;
    out = calloc(window_plan_max(from, to), sizeof(*out));
    assert_non_null(out);
    assert_int_equal(window_plan(from, to, out, window_plan_max(from, to), &n, NULL, 0), JD_OK);
    assert_int_equal(n, 23 + 28 + 23);
    assert_true(check_tiling(from, to, out, n) <= 4);
    free(out);
}

/* Random aligned ranges: exact tiling, the fewest pieces, within window_plan_max. */
static void test_plan_property(void **state)
{
    (void)state;
    rng_state = 12;
    for (int i = 0; i < 3000; i++) {
        /* start anywhere within ±200 years, often on hour or day edges */
        int64_t from = rng_range(-73000, 73000) * D;
        int64_t len;
        switch (splitmix64() % 4) {
        case 0:
            from += rng_range(0, 1439) * M;
            break;
        case 1:
            from += rng_range(0, 23) * H;
            break;
        default:
            from += rng_range(0, 1439) * M;
            break;
        }
        bool long_range = i % 10 == 0;
        len = long_range ? rng_range(0, 400 * 1440) * M : rng_range(0, 3 * 1440) * M;
        int64_t to = from + len;
        size_t cap = window_plan_max(from, to), n = 0;
        struct window_piece *out = calloc(cap ? cap : 1, sizeof(*out));
        assert_non_null(out);
        enum jd_err rc = window_plan(from, to, out, cap, &n, NULL, 0);
        if (rc != JD_OK)
            fail_msg("[%lld,%lld): rc %d with cap %zu", (long long)from, (long long)to, rc, cap);
        check_tiling(from, to, out, n);
        if (!long_range) {
            size_t fewest = brute_force_fewest(from, to);
            if (n != fewest)
                fail_msg("[%lld,%lld): %zu pieces, the fewest is %zu", (long long)from,
                         (long long)to, n, fewest);
        }
        /* one piece less than needed is refused */
        if (n > 0) {
            size_t n2 = 7;
            assert_int_equal(window_plan(from, to, out, n - 1, &n2, NULL, 0), JD_ERR_RANGE);
            assert_int_equal(n2, 0);
        }
        free(out);
    }
}

static void test_plan_max(void **state)
{
    (void)state;
    assert_int_equal(window_plan_max(T0, T0), 0);
    assert_int_equal(window_plan_max(T0 + M, T0), 0);
    assert_true(window_plan_max(T0, T0 + M) >= 1);
    /* the worst case of a day boundary inside: 59 + 23 + 23 + 59 pieces */
    assert_true(window_plan_max(T0 + M, T0 + D + D - M) >= 59 + 23 + 1 + 23 + 59);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resolutions),   cmocka_unit_test(test_bucket_start),
        cmocka_unit_test(test_chunks),        cmocka_unit_test(test_bucket_property),
        cmocka_unit_test(test_expiry),        cmocka_unit_test(test_plan_cases),
        cmocka_unit_test(test_plan_errors),   cmocka_unit_test(test_plan_30_days_at_minute_edges),
        cmocka_unit_test(test_plan_property), cmocka_unit_test(test_plan_max),
    };
    return cmocka_run_group_tests_name("window", tests, NULL, NULL);
}
