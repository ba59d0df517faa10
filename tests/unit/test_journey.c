/*
 * test_journey.c — unit tests for attribute/journey and attribute/credit.
 *
 * journey: MessagePack round trip (exact bytes back, decode(encode(j)) ==
 * j, long names and many touches), every truncation and random byte flips
 * refused or read without harm; touches kept in time order with ties in
 * arrival order, the cap keeps the newest and counts drops, the lookback
 * prunes; eligibility in reset and independent modes, per conversion type,
 * touches at exactly tc and exactly tc − lookback; null paths.
 * credit: every model's credits add up to exactly one conversion and the
 * value, (channel, campaign) groups, (none), weights from a lookup for the
 * data-driven models.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "attribute/credit.h"
#include "attribute/journey.h"
#include "attribute/pathstat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S(x) jd_str_c(x)
#define LB   (30 * JD_MS_DAY)

static void touch(struct journey *j, int64_t ts, const char *ch, const char *camp)
{
    uint64_t dropped = 0;
    assert_true(journey_touch(j, ts, S(ch), S(camp), 64, LB, &dropped));
    assert_int_equal(dropped, 0);
}

static void test_round_trip(void **state)
{
    (void)state;
    struct journey j = { 0 }, k = { 0 };
    struct journey_limits lim = { 64, LB, 0, 0 };
    char err[256], longname[129];
    memset(longname, 'x', 128);
    longname[128] = '\0';
    touch(&j, 1795478400000 - 5, "direct", "");
    touch(&j, 1795478400000, "douyin", longname);
    for (int i = 0; i < 40; i++)
        touch(&j, 1795478400000 + i * 1000, i % 2 ? "wechat" : "sem_baidu", "q4");
    assert_int_not_equal(
        journey_convert(&j, S("lead"), 1795478400000, JOURNEY_RESET, LB, (size_t[64]){ 0 }),
        SIZE_MAX);
    size_t n = journey_encoded_size(&j);
    uint8_t *buf = malloc(n), *buf2 = malloc(n);
    assert_int_equal(journey_encode(&j, buf), n);
    assert_int_equal(journey_decode(&k, buf, n, &lim, err, sizeof(err)), JD_OK);
    assert_int_equal(k.n, j.n);
    assert_int_equal(k.nc, 1);
    for (size_t i = 0; i < j.n; i++) {
        assert_true(k.t[i].ts == j.t[i].ts);
        assert_true(jd_str_eq(k.t[i].channel, j.t[i].channel));
        assert_true(jd_str_eq(k.t[i].campaign, j.t[i].campaign));
    }
    assert_int_equal(journey_encode(&k, buf2), n);
    assert_memory_equal(buf, buf2, n);
    /* every truncation is refused */
    for (size_t cut = 0; cut < n; cut++)
        assert_int_equal(journey_decode(&k, buf, cut, &lim, err, sizeof(err)), JD_ERR_CORRUPT);
    /* random flips: refused or read, never harm (ASan watches) */
    uint64_t s = 99;
    for (int r = 0; r < 5000; r++) {
        memcpy(buf2, buf, n);
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        buf2[s % n] ^= (uint8_t)(1 + (s >> 32) % 255);
        enum jd_err e = journey_decode(&k, buf2, n, &lim, err, sizeof(err));
        assert_true(e == JD_OK || e == JD_ERR_CORRUPT);
    }
    static const uint8_t other_version[] = { 0x93, 0x02, 0x90, 0x90 };
    assert_int_equal(journey_decode(&k, other_version, 4, &lim, err, sizeof(err)), JD_ERR_CORRUPT);
    assert_non_null(strstr(err, "format 2"));
    free(buf);
    free(buf2);
    journey_free(&j);
    journey_free(&k);
}

/* Two journeys hold the same touches and conversions, in the same order. */
static void assert_same_journey(const struct journey *a, const struct journey *b)
{
    assert_int_equal(a->n, b->n);
    assert_int_equal(a->nc, b->nc);
    for (size_t i = 0; i < a->n; i++) {
        assert_true(a->t[i].ts == b->t[i].ts);
        assert_true(jd_str_eq(a->t[i].channel, b->t[i].channel));
        assert_true(jd_str_eq(a->t[i].campaign, b->t[i].campaign));
    }
    for (size_t i = 0; i < a->nc; i++) {
        assert_true(a->c[i].ts == b->c[i].ts);
        assert_true(jd_str_eq(a->c[i].type, b->c[i].type));
    }
}

/*
 * Appended records replay to the journey the touches make one by one: out
 * of order, ties, past the cap and the lookback (the same drops counted),
 * after a whole journey or alone; damaged records are refused.
 */
static void test_appended_records(void **state)
{
    (void)state;
    static const struct {
        int64_t ts;
        const char *ch, *camp;
    } tv[] = { { 500, "b", "q4" }, { 100, "a", "" },      { 500, "c", "x" },     { 90, "old", "" },
               { 700, "d", "" },   { 700 + LB, "e", "" }, { 650 + LB, "f", "y" } };
    for (int whole = 0; whole < 2; whole++) {
        struct journey ref = { 0 }, k = { 0 };
        struct journey_limits lim = { 4, LB, 0, 0 };
        uint64_t dropped = 0;
        uint8_t buf[1024];
        size_t len = 0;
        char err[128];
        if (whole) { /* a whole journey first: two touches and a conversion */
            assert_true(journey_touch(&ref, 50, S("w"), S(""), 4, LB, &dropped));
            assert_true(journey_touch(&ref, 60, S("v"), S("c"), 4, LB, &dropped));
            assert_int_not_equal(
                journey_convert(&ref, S("lead"), 70, JOURNEY_RESET, LB, (size_t[8]){ 0 }),
                SIZE_MAX);
            len = journey_encode(&ref, buf);
        }
        for (size_t i = 0; i < JD_ARRAY_SIZE(tv); i++) {
            assert_true(journey_touch(&ref, tv[i].ts, S(tv[i].ch), S(tv[i].camp), 4, LB, &dropped));
            size_t want = journey_record_size(tv[i].ts, S(tv[i].ch), S(tv[i].camp));
            assert_int_equal(journey_encode_record(buf + len, tv[i].ts, S(tv[i].ch), S(tv[i].camp)),
                             want);
            len += want;
        }
        assert_true(dropped > 0); /* the cap and the lookback both bit */
        assert_int_equal(journey_decode(&k, buf, len, &lim, err, sizeof(err)), JD_OK);
        assert_int_equal(lim.records, JD_ARRAY_SIZE(tv));
        assert_int_equal(lim.dropped, dropped);
        assert_same_journey(&k, &ref);
        /* written back whole, it reads the same without records */
        uint8_t whole_buf[1024];
        size_t n = journey_encode(&k, whole_buf);
        assert_int_equal(journey_decode(&k, whole_buf, n, &lim, err, sizeof(err)), JD_OK);
        assert_int_equal(lim.records, 0);
        assert_same_journey(&k, &ref);
        /* a cut inside a record, or a record with another tag, is damage */
        size_t last = journey_record_size(tv[6].ts, S(tv[6].ch), S(tv[6].camp));
        for (size_t cut = len - last + 1; cut < len; cut++)
            assert_int_equal(journey_decode(&k, buf, cut, &lim, err, sizeof(err)), JD_ERR_CORRUPT);
        buf[len - last + 1] = 0x05;
        assert_int_equal(journey_decode(&k, buf, len, &lim, err, sizeof(err)), JD_ERR_CORRUPT);
        assert_true(journey_is_empty(&k));
        journey_free(&ref);
        journey_free(&k);
    }
}

static void test_order_cap_lookback(void **state)
{
    (void)state;
    struct journey j = { 0 };
    uint64_t dropped = 0;
    touch(&j, 100, "b", "");
    touch(&j, 50, "a", "");
    touch(&j, 100, "c", ""); /* tie: after b */
    assert_int_equal(j.n, 3);
    assert_true(jd_str_eqc(j.t[0].channel, "a") && jd_str_eqc(j.t[1].channel, "b") &&
                jd_str_eqc(j.t[2].channel, "c"));
    /* cap 3: the oldest goes */
    assert_true(journey_touch(&j, 200, S("d"), S(""), 3, LB, &dropped));
    assert_int_equal(dropped, 1);
    assert_true(jd_str_eqc(j.t[0].channel, "b"));
    /* a touch older than the cap keeps is dropped itself */
    assert_true(journey_touch(&j, 10, S("old"), S(""), 3, LB, &dropped));
    assert_int_equal(dropped, 2);
    assert_true(jd_str_eqc(j.t[0].channel, "b"));
    /* a newer touch pushes everything beyond the lookback out */
    assert_true(journey_touch(&j, 200 + LB + 1, S("e"), S(""), 3, LB, &dropped));
    assert_int_equal(j.n, 1);
    assert_int_equal(dropped, 5);
    assert_int_equal(journey_last_touch(&j), 200 + LB + 1);
    journey_free(&j);
}

static void test_eligibility(void **state)
{
    (void)state;
    struct journey r = { 0 }, ind = { 0 };
    size_t idx[64];
    struct journey *js[2] = { &r, &ind };
    for (int k = 0; k < 2; k++) {
        touch(js[k], 1000, "a", "");
        touch(js[k], 2000, "b", "");
    }
    for (int k = 0; k < 2; k++) {
        enum journey_mode m = k ? JOURNEY_INDEPENDENT : JOURNEY_RESET;
        /* a touch at exactly tc counts */
        assert_int_equal(journey_convert(js[k], S("conversion"), 2000, m, LB, idx), 2);
        touch(js[k], 3000, "c", "");
        size_t n = journey_convert(js[k], S("conversion"), 4000, m, LB, idx);
        if (k == 0) { /* reset: only what came after the last conversion of the type */
            assert_int_equal(n, 1);
            assert_true(jd_str_eqc(r.t[idx[0]].channel, "c"));
        } else {
            assert_int_equal(n, 3);
        }
        /* another conversion type has its own reset */
        assert_int_equal(journey_convert(js[k], S("lead"), 4000, m, LB, idx), 3);
        /* the lookback: tc - lookback <= ts; exactly at the edge counts */
        assert_int_equal(journey_convert(js[k], S("order"), 1000 + LB, m, LB, idx), 3);
        assert_int_equal(journey_convert(js[k], S("order2"), 1001 + LB, m, LB, idx), 2);
        /* null path: touches after the last conversion of any type */
        assert_int_equal(journey_null_path(js[k], idx), 0);
        uint64_t dropped = 0; /* a, b and c are beyond the lookback of d */
        assert_true(journey_touch(js[k], 5000 + LB, S("d"), S(""), 64, LB, &dropped));
        assert_int_equal(dropped, 3);
        assert_int_equal(journey_null_path(js[k], idx), 1);
    }
    struct journey empty = { 0 };
    assert_int_equal(journey_convert(&empty, S("conversion"), 5, JOURNEY_RESET, LB, idx), 0);
    assert_int_equal(journey_null_path(&empty, idx), 0);
    journey_free(&r);
    journey_free(&ind);
    journey_free(&empty);
}

static double weights_lookup(void *self, enum model_id m, struct jd_str channel)
{
    (void)self;
    if (m == MODEL_MARKOV)
        return jd_str_eqc(channel, "a") ? 1 : 3;
    return 0; /* shapley unknown: equal shares of distinct channels */
}

static void test_credits(void **state)
{
    (void)state;
    struct credit_opts o = { { true, true, true, true, true, true, true, true },
                             { 0.4, 0.4, 7 * JD_MS_DAY },
                             (const char *const[]){ "direct" },
                             1,
                             64 };
    struct credit *c = credit_new(&o);
    struct journey j = { 0 };
    struct credit_out out[8 * 64];
    size_t idx[64];
    struct credit_weights w = { weights_lookup, NULL };
    assert_non_null(c);
    touch(&j, 1000, "a", "x");
    touch(&j, 2000, "b", "");
    touch(&j, 3000, "a", "y");
    touch(&j, 4000, "direct", "");
    size_t n = journey_convert(&j, S("conversion"), 5000, JOURNEY_RESET, LB, idx);
    assert_int_equal(n, 4);
    size_t nout = credit_compute(c, j.t, idx, n, 5000, 399990000, &w, out);
    int64_t conv[MODEL_N] = { 0 }, value[MODEL_N] = { 0 };
    for (size_t i = 0; i < nout; i++) {
        conv[out[i].model] += out[i].conversions;
        value[out[i].model] += out[i].value;
    }
    for (int m = 0; m < MODEL_N; m++) {
        assert_int_equal(conv[m], JD_MICROS);
        assert_int_equal(value[m], 399990000);
    }
    for (size_t i = 0; i < nout; i++) {
        const struct credit_out *x = &out[i];
        if (x->model == MODEL_LINEAR) /* four groups: a/x, b, a/y, direct */
            assert_int_equal(x->conversions, 250000);
        if (x->model == MODEL_LAST_NON_DIRECT)
            assert_true(jd_str_eqc(x->channel, "a") && jd_str_eqc(x->campaign, "y"));
        if (x->model == MODEL_MARKOV && jd_str_eqc(x->channel, "b")) /* 3 / (1 + 3 + 3) */
            assert_int_equal(x->conversions, 428571);
        if (x->model == MODEL_SHAPLEY && jd_str_eqc(x->channel, "b")) /* 1/3 of distinct */
            assert_int_equal(x->conversions, 333333);
        if (x->model == MODEL_FIRST_TOUCH)
            assert_true(jd_str_eqc(x->campaign, "x") && x->value == 399990000);
    }
    /* no touch: (none) under every model */
    nout = credit_compute(c, j.t, idx, 0, 5000, -7, &w, out);
    assert_int_equal(nout, MODEL_N);
    for (size_t i = 0; i < nout; i++)
        assert_true(jd_str_eqc(out[i].channel, MODEL_NONE_CHANNEL) &&
                    out[i].conversions == JD_MICROS && out[i].value == -7);
    journey_free(&j);
    credit_destroy(c);
}

/* Path statistics: pre-aggregated per (hour, path), encoded per hour, folded back. */
static void test_pathstat(void **state)
{
    (void)state;
    struct pathstat *ps = pathstat_new();
    struct paths *p = paths_new();
    char err[256];
    struct jd_str ab[2] = { JD_STR_LIT("a"), JD_STR_LIT("b") }, b[1] = { JD_STR_LIT("b") };
    const int64_t h0 = 1795478400000;
    assert_non_null(ps);
    struct jd_str conv = JD_STR_LIT("conversion"), none = JD_STR_NULL;
    assert_true(pathstat_add(ps, h0 + 5, conv, ab, 2, 1, 2500000, 0));
    assert_true(pathstat_add(ps, h0 + 3599999, conv, ab, 2, 1, 500000, 0)); /* same hour, path */
    assert_true(pathstat_add(ps, h0 + 10, none, b, 1, 0, 0, 1));
    assert_true(pathstat_add(ps, h0 + 20, JD_STR_LIT("lead"), b, 1, 1, 0, 0));
    assert_true(pathstat_add(ps, h0 + JD_MS_HOUR, conv, b, 1, 1, 1, 0)); /* the next hour */
    assert_int_equal(pathstat_nhours(ps), 2);
    int64_t hour;
    struct jd_str bytes;
    assert_true(pathstat_hour(ps, 0, &hour, &bytes));
    assert_true(hour == h0);
    assert_int_equal(pathstat_fold(p, bytes.p, bytes.n, "conversion", err, sizeof(err)), JD_OK);
    assert_int_equal(p->nrows, 2); /* the lead's path is another type's; nulls count for all */
    assert_int_equal(p->rows[0].n, 2);
    assert_true(p->rows[0].conv == 2 && p->rows[0].value == 3.0 && p->rows[0].nulls == 0);
    assert_true(p->rows[1].conv == 0 && p->rows[1].nulls == 1);
    assert_string_equal(p->names[p->touch[p->rows[0].off + 1]], "b");
    /* a cut record is refused; a cut between records reads the ones before it */
    size_t whole = 0;
    for (size_t cut = 1; cut < bytes.n; cut++) {
        struct paths *q = paths_new();
        enum jd_err e = pathstat_fold(q, bytes.p, cut, NULL, err, sizeof(err));
        assert_true(e == JD_ERR_CORRUPT || (e == JD_OK && q->nrows >= 1 && q->nrows <= 2));
        whole += e == JD_OK;
        paths_destroy(q);
    }
    assert_int_equal(whole, 2); /* two cuts fall between the three records */
    assert_true(pathstat_hour(ps, 1, &hour, &bytes));
    assert_true(hour == h0 + JD_MS_HOUR);
    pathstat_reset(ps);
    assert_int_equal(pathstat_nhours(ps), 0);
    paths_destroy(p);
    pathstat_destroy(ps);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_appended_records),
        cmocka_unit_test(test_order_cap_lookback),
        cmocka_unit_test(test_eligibility),
        cmocka_unit_test(test_credits),
        cmocka_unit_test(test_pathstat),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
