/*
 * test_agg.c — unit tests for aggregate/agg: per-batch pre-aggregation.
 *
 * Covers counts, vcount, exact 128-bit sums, min/max, last by event time
 * (ties: the larger value), agg_delta_merge(), the roll-up of minutes into
 * hours and days (also before the epoch), the distinct-user sketch updates
 * (one per register per minute, with the highest rank; hours and days
 * concatenate their minutes'), many series and minutes forcing table growth,
 * and agg_reset() reusing memory. An oracle test recomputes every delta
 * naively from the raw events of several random batches.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "aggregate/agg.h"
#include "aggregate/hll.h"
#include "aggregate/window.h"
#include "core/jd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define M JD_MS_MINUTE
#define H JD_MS_HOUR
#define D JD_MS_DAY

/* 2026-11-23T00:00:00Z */
#define T0 INT64_C(1795392000000)

static uint64_t rng_state;

static uint64_t splitmix64(void)
{
    uint64_t z = (rng_state += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

/* Uniform in [lo, hi]; the span may exceed INT64_MAX, so work in uint64_t. */
static int64_t rng_range(int64_t lo, int64_t hi)
{
    uint64_t span = (uint64_t)hi - (uint64_t)lo + 1;
    return (int64_t)((uint64_t)lo + (span ? splitmix64() % span : splitmix64()));
}

static struct agg *new_agg(void)
{
    struct agg *a = agg_new();
    assert_non_null(a);
    return a;
}

static void add(struct agg *a, uint64_t sid, int64_t ts, bool has_value, int64_t value,
                const char *user)
{
    assert_true(agg_add(a, sid, JD_STR_LIT("cost"), JD_STR_LIT("channel\x1fweb"), ts, has_value,
                        value, jd_str_c(user ? user : "")));
}

static const struct agg_series *find_series(const struct agg *a, uint64_t sid)
{
    for (size_t i = 0; i < agg_nseries(a); i++)
        if (agg_series_at(a, i)->sid == sid)
            return agg_series_at(a, i);
    fail_msg("series %llu missing", (unsigned long long)sid);
    return NULL;
}

static void i128_str(jd_i128 v, char *buf)
{
    jd_i128_format(v, buf);
}

/* Per-register maximum of a list of updates, into a dense array. */
static void regs_apply(uint8_t *dense, const struct agg_regs *r)
{
    memset(dense, 0, HLL_REGS);
    hll_apply(dense, r->u, r->n);
}

/* -------------------------------------------------------------- basics */

static void test_single_event(void **state)
{
    struct agg *a = new_agg();
    char type[] = "lead", labels[] = "channel\x1f"
                                     "douyin";
    int64_t ts = T0 + 5 * H + 7 * M + 1234;
    (void)state;

    assert_true(agg_add(a, 42, jd_str_c(type), jd_str_c(labels), ts, false, 0, JD_STR_NULL));
    /* the strings are copied: the caller's buffers may change */
    memset(type, 'x', sizeof(type) - 1);
    memset(labels, 'y', sizeof(labels) - 1);
    assert_int_equal(agg_nevents(a), 1);
    assert_true(agg_seal(a));
    assert_int_equal(agg_nseries(a), 1);
    const struct agg_series *s = agg_series_at(a, 0);
    assert_int_equal(s->sid, 42);
    assert_true(jd_str_eqc(s->type, "lead"));
    assert_true(jd_str_eqc(s->labels, "channel\x1f"
                                      "douyin"));
    const int64_t want_bucket[WINDOW_NRES] = { T0 + 5 * H + 7 * M, T0 + 5 * H, T0 };
    for (int r = 0; r < WINDOW_NRES; r++) {
        assert_int_equal(s->ndeltas[r], 1);
        const struct agg_delta *d = &s->deltas[r][0];
        assert_int_equal(d->bucket, want_bucket[r]);
        assert_int_equal(d->count, 1);
        assert_int_equal(d->vcount, 0);
        assert_true(d->sum == 0);
        assert_int_equal(s->regs[r][0].n, 0);
    }
    agg_destroy(a);
    agg_destroy(NULL);
}

static void test_values(void **state)
{
    struct agg *a = new_agg();
    (void)state;

    /* one minute; added out of time order */
    add(a, 1, T0 + 1000, true, 5, NULL);
    add(a, 1, T0 + 3000, true, -3, NULL); /* the latest */
    add(a, 1, T0 + 2000, true, 10, NULL);
    add(a, 1, T0 + 4000, false, 0, NULL); /* later, but carries no value */
    add(a, 1, T0 + 500, true, 0, NULL);   /* zero is a value */
    assert_true(agg_seal(a));
    const struct agg_series *s = find_series(a, 1);
    for (int r = 0; r < WINDOW_NRES; r++) {
        const struct agg_delta *d = &s->deltas[r][0];
        assert_int_equal(s->ndeltas[r], 1);
        assert_int_equal(d->count, 5);
        assert_int_equal(d->vcount, 4);
        assert_true(d->sum == 12);
        assert_int_equal(d->min, -3);
        assert_int_equal(d->max, 10);
        assert_int_equal(d->last_ts, T0 + 3000);
        assert_int_equal(d->last, -3);
    }
    agg_destroy(a);
}

/* Ties on event time keep the larger value, in whatever order they arrive. */
static void test_last_ties(void **state)
{
    static const int64_t orders[][3] = { { 7, 9, 8 }, { 9, 8, 7 }, { 8, 7, 9 }, { -1, -5, -2 } };
    static const int64_t want[] = { 9, 9, 9, -1 };
    (void)state;
    for (size_t i = 0; i < JD_ARRAY_SIZE(orders); i++) {
        struct agg *a = new_agg();
        add(a, 1, T0 + 10 * M + 100, true, 1000, NULL); /* earlier, larger */
        for (int k = 0; k < 3; k++)
            add(a, 1, T0 + 10 * M + 200, true, orders[i][k], NULL);
        add(a, 1, T0 + 9 * M, true, 5000, NULL); /* earlier minute, larger */
        assert_true(agg_seal(a));
        const struct agg_series *s = find_series(a, 1);
        assert_int_equal(s->ndeltas[WINDOW_MINUTE], 2);
        assert_int_equal(s->deltas[WINDOW_MINUTE][1].last, want[i]);
        assert_int_equal(s->deltas[WINDOW_MINUTE][0].last, 5000);
        assert_int_equal(s->deltas[WINDOW_HOUR][0].last, want[i]);
        assert_int_equal(s->deltas[WINDOW_HOUR][0].last_ts, T0 + 10 * M + 200);
        assert_int_equal(s->deltas[WINDOW_DAY][0].last, want[i]);
        agg_destroy(a);
    }
}

static void test_delta_merge(void **state)
{
    (void)state;
    static const struct {
        struct agg_delta d, s, want;
    } cases[] = {
        /* into an empty delta: take everything */
        { { 0, 0, 0, 0, 0, 0, 0, 0, 0 },
          { 0, 2, 2, 7, 3, 4, 100, 4, 0 },
          { 0, 2, 2, 7, 3, 4, 100, 4, 0 } },
        /* a source without values only adds its count */
        { { 0, 1, 1, 5, 5, 5, 10, 5, 0 },
          { 0, 3, 0, 0, 0, 0, 0, 0, 0 },
          { 0, 4, 1, 5, 5, 5, 10, 5, 0 } },
        /* min/max widen; later last wins */
        { { 0, 1, 1, 5, 5, 5, 10, 5, 0 },
          { 0, 2, 2, -1, -4, 3, 11, 3, 0 },
          { 0, 3, 3, 4, -4, 5, 11, 3, 0 } },
        /* earlier last loses */
        { { 0, 1, 1, 5, 5, 5, 10, 5, 0 },
          { 0, 1, 1, 9, 9, 9, 9, 9, 0 },
          { 0, 2, 2, 14, 5, 9, 10, 5, 0 } },
        /* credit weights add, with or without values */
        { { 0, 1, 1, 5, 5, 5, 10, 5, 7 },
          { 0, 1, 0, 0, 0, 0, 0, 0, 3 },
          { 0, 2, 1, 5, 5, 5, 10, 5, 10 } },
        /* same time: the larger value, either way round */
        { { 0, 1, 1, 1, 1, 1, 10, 1, 0 },
          { 0, 1, 1, 2, 2, 2, 10, 2, 0 },
          { 0, 2, 2, 3, 1, 2, 10, 2, 0 } },
        { { 0, 1, 1, 2, 2, 2, 10, 2, 0 },
          { 0, 1, 1, 1, 1, 1, 10, 1, 0 },
          { 0, 2, 2, 3, 1, 2, 10, 2, 0 } },
        /* a value-less destination takes the source's value fields */
        { { 0, 5, 0, 0, 0, 0, 0, 0, 0 },
          { 0, 1, 1, -7, -7, -7, -20, -7, 0 },
          { 0, 6, 1, -7, -7, -7, -20, -7, 0 } },
    };
    for (size_t i = 0; i < JD_ARRAY_SIZE(cases); i++) {
        struct agg_delta d = cases[i].d;
        agg_delta_merge(&d, &cases[i].s);
        const struct agg_delta *w = &cases[i].want;
        if (d.count != w->count || d.vcount != w->vcount || d.sum != w->sum || d.min != w->min ||
            d.max != w->max || d.last_ts != w->last_ts || d.last != w->last || d.wsum != w->wsum)
            fail_msg("case %zu: count %lld vcount %lld min %lld max %lld last %lld@%lld", i,
                     (long long)d.count, (long long)d.vcount, (long long)d.min, (long long)d.max,
                     (long long)d.last, (long long)d.last_ts);
    }
}

/* Sums are exact far beyond int64: 10,000 × 9e18 micros. */
static void test_sum_128_bits(void **state)
{
    const int64_t big = INT64_C(9000000000000000000);
    struct agg *a = new_agg();
    char buf[48];
    (void)state;

    for (int i = 0; i < 10000; i++) {
        add(a, 1, T0 + (i % 2) * H + (i % 60) * M, true, big, NULL);
        add(a, 2, T0 + (i % 120) * M, true, i % 2 ? big : -big, NULL);
        add(a, 3, T0, true, -big, NULL);
    }
    add(a, 2, T0, true, 1, NULL);
    assert_true(agg_seal(a));
    i128_str(find_series(a, 1)->deltas[WINDOW_DAY][0].sum, buf);
    assert_string_equal(buf, "90000000000000000000000");
    i128_str(find_series(a, 2)->deltas[WINDOW_DAY][0].sum, buf);
    assert_string_equal(buf, "1");
    i128_str(find_series(a, 3)->deltas[WINDOW_MINUTE][0].sum, buf);
    assert_string_equal(buf, "-90000000000000000000000");
    /* hours split the first series' total exactly */
    const struct agg_series *s = find_series(a, 1);
    assert_int_equal(s->ndeltas[WINDOW_HOUR], 2);
    i128_str(s->deltas[WINDOW_HOUR][0].sum, buf);
    assert_string_equal(buf, "45000000000000000000000");
    agg_destroy(a);
}

struct want_delta {
    int64_t bucket, count, sum;
};

static void test_rollup(void **state)
{
    struct agg *a = new_agg();
    static const struct {
        int64_t ts, value;
    } ev[] = {
        { T0 + 0 * M + 1, 1 }, { T0 + 0 * M + 59999, 2 },
        { T0 + 1 * M, 3 },     { T0 + 59 * M, 4 },
        { T0 + H, 5 },         { T0 + 23 * H + 59 * M, 6 },
        { T0 + D, 7 },         { T0 + D + 30 * M, 8 },
        { T0 - 1, 9 },
    };
    (void)state;
    /* add in reverse to check the sorting */
    for (size_t i = JD_ARRAY_SIZE(ev); i-- > 0;)
        add(a, 5, ev[i].ts, true, ev[i].value, NULL);
    assert_true(agg_seal(a));
    const struct agg_series *s = find_series(a, 5);

    static const struct want_delta want_min[] = { { T0 - M, 1, 9 }, { T0, 2, 3 },
                                                  { T0 + M, 1, 3 }, { T0 + 59 * M, 1, 4 },
                                                  { T0 + H, 1, 5 }, { T0 + 23 * H + 59 * M, 1, 6 },
                                                  { T0 + D, 1, 7 }, { T0 + D + 30 * M, 1, 8 } },
                                   want_hour[] = { { T0 - H, 1, 9 },
                                                   { T0, 4, 10 },
                                                   { T0 + H, 1, 5 },
                                                   { T0 + 23 * H, 1, 6 },
                                                   { T0 + D, 2, 15 } },
                                   want_day[] = { { T0 - D, 1, 9 },
                                                  { T0, 6, 21 },
                                                  { T0 + D, 2, 15 } };
    const struct {
        const struct want_delta *want;
        size_t n;
    } all[WINDOW_NRES] = { { want_min, JD_ARRAY_SIZE(want_min) },
                           { want_hour, JD_ARRAY_SIZE(want_hour) },
                           { want_day, JD_ARRAY_SIZE(want_day) } };
    for (int r = 0; r < WINDOW_NRES; r++) {
        const struct want_delta *w = all[r].want;
        if (s->ndeltas[r] != all[r].n)
            fail_msg("res %d: %zu deltas, want %zu", r, s->ndeltas[r], all[r].n);
        for (size_t k = 0; k < all[r].n; k++) {
            const struct agg_delta *d = &s->deltas[r][k];
            if (d->bucket != w[k].bucket || d->count != w[k].count || d->sum != w[k].sum)
                fail_msg("res %d delta %zu: bucket %lld count %lld, want %lld %lld", r, k,
                         (long long)d->bucket, (long long)d->count, (long long)w[k].bucket,
                         (long long)w[k].count);
        }
    }
    agg_destroy(a);
}

static void test_users(void **state)
{
    struct agg *a = new_agg();
    uint8_t *dense = malloc(HLL_REGS), *want = calloc(1, HLL_REGS);
    (void)state;

    assert_non_null(dense);
    assert_non_null(want);
    add(a, 1, T0 + 10, false, 0, "alice");
    add(a, 1, T0 + 20, false, 0, "bob");
    add(a, 1, T0 + 30, false, 0, "alice"); /* same minute: appended again (merge takes the max) */
    add(a, 1, T0 + M, false, 0, "alice");  /* another minute: its own update */
    add(a, 1, T0 + 2 * M, false, 0, NULL); /* no user */
    add(a, 2, T0, false, 0, "carol");      /* another series */
    assert_true(agg_seal(a));

    struct hll_update ua = hll_of(JD_STR_LIT("alice")), ub = hll_of(JD_STR_LIT("bob"));
    const struct agg_series *s = find_series(a, 1);
    assert_int_equal(s->ndeltas[WINDOW_MINUTE], 3);
    const struct agg_regs *r0 = &s->regs[WINDOW_MINUTE][0];
    assert_int_equal(r0->n, 3);
    for (size_t i = 0; i < r0->n; i++)
        assert_true((r0->u[i].reg == ua.reg && r0->u[i].rank >= ua.rank) ||
                    (r0->u[i].reg == ub.reg && r0->u[i].rank >= ub.rank));
    assert_int_equal(s->regs[WINDOW_MINUTE][1].n, 1);
    assert_int_equal(s->regs[WINDOW_MINUTE][1].u[0].reg, ua.reg);
    assert_int_equal(s->regs[WINDOW_MINUTE][1].u[0].rank, ua.rank);
    assert_int_equal(s->regs[WINDOW_MINUTE][2].n, 0);

    /* the hour concatenates its minutes'; applied, it is the sketch of {alice, bob} */
    assert_int_equal(s->ndeltas[WINDOW_HOUR], 1);
    assert_int_equal(s->regs[WINDOW_HOUR][0].n, r0->n + 1);
    regs_apply(dense, &s->regs[WINDOW_HOUR][0]);
    hll_apply(want, &ua, 1);
    hll_apply(want, &ub, 1);
    assert_memory_equal(dense, want, HLL_REGS);
    regs_apply(dense, &s->regs[WINDOW_DAY][0]);
    assert_memory_equal(dense, want, HLL_REGS);

    const struct agg_series *c = find_series(a, 2);
    struct hll_update uc = hll_of(JD_STR_LIT("carol"));
    assert_int_equal(c->regs[WINDOW_MINUTE][0].n, 1);
    assert_int_equal(c->regs[WINDOW_MINUTE][0].u[0].reg, uc.reg);
    free(dense);
    free(want);
    agg_destroy(a);
}

/* One minute, many users: one update per register, each with the highest rank. */
static void test_users_sketch_matches(void **state)
{
    struct agg *a = new_agg();
    uint8_t *want = calloc(1, HLL_REGS), *got = calloc(1, HLL_REGS);
    char user[32];
    (void)state;

    assert_non_null(want);
    assert_non_null(got);
    for (int i = 0; i < 300000; i++) {
        snprintf(user, sizeof(user), "user-%d", i % 200000);
        add(a, 1, T0 + (i % 60) * 1000, false, 0, user);
        struct hll_update u = hll_of(jd_str_c(user));
        hll_apply(want, &u, 1);
    }
    assert_true(agg_seal(a));
    /* one update per event with a user; applied, they are exactly the oracle's sketch */
    const struct agg_regs *r = &find_series(a, 1)->regs[WINDOW_MINUTE][0];
    assert_int_equal(r->n, 300000);
    hll_apply(got, r->u, r->n);
    assert_memory_equal(got, want, HLL_REGS);
    /* and the sketch estimates the 200,000 users within a few percent */
    double est = hll_estimate(got);
    assert_true(est > 194000 && est < 206000);
    free(want);
    free(got);
    agg_destroy(a);
}

/* Thousands of series × minutes × users: every table has to grow. */
static void test_many_series(void **state)
{
    const uint64_t nser = 5000;
    struct agg *a = new_agg();
    char user[32], labels[32];
    (void)state;

    for (int pass = 0; pass < 2; pass++)
        for (uint64_t s = 0; s < nser; s++)
            for (int m = 0; m < 3; m++) {
                int n = snprintf(labels, sizeof(labels), "campaign\x1f%llu", (unsigned long long)s);
                snprintf(user, sizeof(user), "u%llu-%d", (unsigned long long)s, m);
                assert_true(agg_add(a, 1000 + s, JD_STR_LIT("touch"),
                                    (struct jd_str){ labels, (size_t)n },
                                    T0 + (int64_t)m * 40 * M + (int64_t)(s % 60) * 1000, true,
                                    (int64_t)s, jd_str_c(user)));
            }
    assert_int_equal(agg_nevents(a), 2 * 3 * nser);
    assert_true(agg_seal(a));
    assert_int_equal(agg_nseries(a), nser);
    for (size_t i = 0; i < nser; i++) {
        const struct agg_series *s = agg_series_at(a, i);
        uint64_t k = s->sid - 1000;
        char want_labels[32];
        snprintf(want_labels, sizeof(want_labels), "campaign\x1f%llu", (unsigned long long)k);
        assert_true(k < nser);
        assert_true(jd_str_eqc(s->labels, want_labels));
        assert_int_equal(s->ndeltas[WINDOW_MINUTE], 3);
        assert_int_equal(s->ndeltas[WINDOW_HOUR], 2); /* minutes 0 and 40 | 80 */
        assert_int_equal(s->ndeltas[WINDOW_DAY], 1);
        assert_int_equal(s->deltas[WINDOW_DAY][0].count, 6);
        assert_true(s->deltas[WINDOW_DAY][0].sum == (jd_i128)(6 * k));
        assert_int_equal(s->deltas[WINDOW_HOUR][0].count, 4);
        for (int m = 0; m < 3; m++) /* one update per event: both passes */
            assert_int_equal(s->regs[WINDOW_MINUTE][m].n, 2);
        assert_int_equal(s->regs[WINDOW_DAY][0].n, 6);
    }
    agg_destroy(a);
}

/* agg_reset() rewinds: the next batch reuses the same memory and sees nothing old. */
static void test_reset_reuses_memory(void **state)
{
    struct agg *a = new_agg();
    const void *views = NULL, *deltas = NULL, *type = NULL;
    (void)state;

    for (int batch = 0; batch < 4; batch++) {
        for (uint64_t s = 0; s < 2000; s++)
            for (int k = 0; k < 3; k++)
                assert_true(agg_add(a, s + 1, JD_STR_LIT("touch"), JD_STR_LIT("l"),
                                    T0 + (int64_t)k * M + batch, true, batch + 1,
                                    JD_STR_LIT("user")));
        assert_int_equal(agg_nevents(a), 6000);
        assert_true(agg_seal(a));
        assert_int_equal(agg_nseries(a), 2000);
        const struct agg_series *s0 = agg_series_at(a, 0);
        for (size_t i = 0; i < agg_nseries(a); i++) {
            const struct agg_delta *d = &agg_series_at(a, i)->deltas[WINDOW_DAY][0];
            /* only this batch's events */
            assert_int_equal(d->count, 3);
            assert_true(d->sum == 3 * (batch + 1));
        }
        if (batch == 0) {
            views = s0;
            deltas = s0->deltas[WINDOW_MINUTE];
            type = s0->type.p;
        } else {
            assert_ptr_equal(s0, views);
            assert_ptr_equal(s0->deltas[WINDOW_MINUTE], deltas);
            assert_ptr_equal(s0->type.p, type);
        }
        agg_reset(a);
        assert_int_equal(agg_nevents(a), 0);
        assert_int_equal(agg_nseries(a), 0);
    }
    agg_destroy(a);
}

static void test_seal_empty(void **state)
{
    struct agg *a = new_agg();
    (void)state;
    assert_true(agg_seal(a));
    assert_int_equal(agg_nseries(a), 0);
    add(a, 1, T0, false, 0, NULL);
    agg_reset(a);
    assert_true(agg_seal(a));
    assert_int_equal(agg_nseries(a), 0);
    agg_destroy(a);
}

/* --------------------------------------------------------------- oracle */

struct raw {
    uint64_t sid;
    int64_t ts;
    bool has_value;
    int64_t value;
    int user; /* -1: none */
};

static void naive_delta(const struct raw *ev, size_t n, uint64_t sid, enum window_res r,
                        int64_t bucket, struct agg_delta *out, uint8_t *regs)
{
    memset(out, 0, sizeof(*out));
    memset(regs, 0, HLL_REGS);
    out->bucket = bucket;
    for (size_t i = 0; i < n; i++) {
        if (ev[i].sid != sid || window_bucket_start(r, ev[i].ts) != bucket)
            continue;
        out->count++;
        if (ev[i].user >= 0) {
            char u[16];
            snprintf(u, sizeof(u), "u%d", ev[i].user);
            struct hll_update up = hll_of(jd_str_c(u));
            if (up.rank > regs[up.reg])
                regs[up.reg] = up.rank;
        }
        if (!ev[i].has_value)
            continue;
        int64_t v = ev[i].value;
        if (!out->vcount || v < out->min)
            out->min = v;
        if (!out->vcount || v > out->max)
            out->max = v;
        if (!out->vcount || ev[i].ts > out->last_ts ||
            (ev[i].ts == out->last_ts && v > out->last)) {
            out->last_ts = ev[i].ts;
            out->last = v;
        }
        out->vcount++;
        out->sum += v;
    }
}

static void run_oracle_batch(struct agg *a, size_t n, uint64_t nser, int64_t base, int64_t span)
{
    struct raw *ev = malloc(n * sizeof(*ev));
    uint8_t *want = malloc(HLL_REGS), *got = malloc(HLL_REGS);
    assert_non_null(ev);
    assert_non_null(want);
    assert_non_null(got);

    for (size_t i = 0; i < n; i++) {
        ev[i].sid = 1 + splitmix64() % nser;
        /* clustered times so buckets get several events, some ties on time */
        ev[i].ts = base + rng_range(0, span / 1000) * 1000 + (splitmix64() % 3 ? 0 : 1);
        ev[i].has_value = splitmix64() % 4 != 0;
        switch (splitmix64() % 4) {
        case 0:
            ev[i].value = rng_range(-5, 5);
            break;
        case 1:
            ev[i].value = rng_range(-INT64_C(9000000000000000000), INT64_C(9000000000000000000));
            break;
        default:
            ev[i].value = rng_range(-1000000000, 1000000000);
            break;
        }
        ev[i].user = splitmix64() % 3 ? (int)(splitmix64() % 500) : -1;
        char u[16];
        snprintf(u, sizeof(u), "u%d", ev[i].user);
        assert_true(agg_add(a, ev[i].sid, JD_STR_LIT("conversion"), JD_STR_LIT(""), ev[i].ts,
                            ev[i].has_value, ev[i].value,
                            ev[i].user >= 0 ? jd_str_c(u) : JD_STR_NULL));
    }
    assert_int_equal(agg_nevents(a), n);
    assert_true(agg_seal(a));

    size_t events_seen[WINDOW_NRES] = { 0 };
    for (size_t i = 0; i < agg_nseries(a); i++) {
        const struct agg_series *s = agg_series_at(a, i);
        assert_true(jd_str_eqc(s->type, "conversion"));
        for (size_t j = 0; j < i; j++)
            assert_int_not_equal(agg_series_at(a, j)->sid, s->sid);
        for (int r = 0; r < WINDOW_NRES; r++) {
            for (size_t k = 0; k < s->ndeltas[r]; k++) {
                const struct agg_delta *d = &s->deltas[r][k];
                struct agg_delta w;
                if (k && d->bucket <= s->deltas[r][k - 1].bucket)
                    fail_msg("series %llu res %d: buckets not strictly increasing",
                             (unsigned long long)s->sid, r);
                if (window_bucket_start((enum window_res)r, d->bucket) != d->bucket)
                    fail_msg("res %d: bucket %lld not aligned", r, (long long)d->bucket);
                naive_delta(ev, n, s->sid, (enum window_res)r, d->bucket, &w, want);
                bool same = d->count == w.count && d->vcount == w.vcount && d->sum == w.sum;
                if (same && w.vcount)
                    same = d->min == w.min && d->max == w.max && d->last_ts == w.last_ts &&
                           d->last == w.last;
                if (!same) {
                    char a1[48], a2[48];
                    i128_str(d->sum, a1);
                    i128_str(w.sum, a2);
                    fail_msg("series %llu res %d bucket %lld: count %lld/%lld vcount %lld/%lld "
                             "sum %s/%s min %lld/%lld max %lld/%lld last %lld@%lld/%lld@%lld",
                             (unsigned long long)s->sid, r, (long long)d->bucket,
                             (long long)d->count, (long long)w.count, (long long)d->vcount,
                             (long long)w.vcount, a1, a2, (long long)d->min, (long long)w.min,
                             (long long)d->max, (long long)w.max, (long long)d->last,
                             (long long)d->last_ts, (long long)w.last, (long long)w.last_ts);
                }
                regs_apply(got, &s->regs[r][k]);
                if (memcmp(got, want, HLL_REGS) != 0)
                    fail_msg("series %llu res %d bucket %lld: sketch updates differ",
                             (unsigned long long)s->sid, r, (long long)d->bucket);
                events_seen[r] += (size_t)d->count;
            }
        }
    }
    /* no event missing from any resolution */
    for (int r = 0; r < WINDOW_NRES; r++)
        assert_int_equal(events_seen[r], n);
    free(ev);
    free(want);
    free(got);
}

static void test_oracle(void **state)
{
    struct agg *a = new_agg();
    (void)state;
    rng_state = 41;
    /* one batch around the epoch, then batches of different shapes on one agg */
    run_oracle_batch(a, 3000, 8, -D - 3 * H, 2 * D);
    agg_reset(a);
    run_oracle_batch(a, 4000, 40, T0 + 17 * M, 3 * H);
    agg_reset(a);
    run_oracle_batch(a, 2000, 3, T0, 5 * M);
    agg_reset(a);
    run_oracle_batch(a, 6000, 200, T0 - 12 * H, 3 * D);
    agg_destroy(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single_event), cmocka_unit_test(test_values),
        cmocka_unit_test(test_last_ties),    cmocka_unit_test(test_delta_merge),
        cmocka_unit_test(test_sum_128_bits), cmocka_unit_test(test_rollup),
        cmocka_unit_test(test_users),        cmocka_unit_test(test_users_sketch_matches),
        cmocka_unit_test(test_many_series),  cmocka_unit_test(test_reset_reuses_memory),
        cmocka_unit_test(test_seal_empty),   cmocka_unit_test(test_oracle),
    };
    return cmocka_run_group_tests_name("agg", tests, NULL, NULL);
}
