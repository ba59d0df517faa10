/*
 * test_model.c — unit tests for attribute/model, markov, shapley and the
 * path-level report, on paths computed by hand.
 *
 * model_weights(): every rule-based model on 1-touch, 2-touch, 3- and
 * 4-touch paths, repeats, all-direct paths and ties in time; the
 * data-driven split by channel weights (repeats share their channel's part,
 * zero weights fall back to equal shares of distinct channels).
 * model_apportion(): exact conservation (random weights and totals), sign,
 * ties to the lower index. markov: a two-path chain solved by hand (removal
 * effects, conversions and value), order 2 state splitting, repeats
 * collapsed. shapley: the closed form against brute force over all
 * coalitions. report_from_paths(): every model conserves conversions and
 * value, and (none) takes empty paths.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "attribute/markov.h"
#include "attribute/model.h"
#include "attribute/paths.h"
#include "attribute/report.h"
#include "attribute/shapley.h"
#include "aggregate/agg.h"
#include "aggregate/series.h"
#include "evaluate/expr.h"
#include "evaluate/memwin.h"
#include "evaluate/query.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct model_params params = { 0.4, 0.4, 7 * JD_MS_DAY };

static void weights(enum model_id m, const struct model_touch *t, size_t n, const double *chw,
                    double *w)
{
    double scratch[64];
    model_weights(m, &params, t, n, t[n - 1].ts, chw, w, scratch);
    double sum = 0;
    for (size_t i = 0; i < n; i++) {
        assert_true(w[i] >= 0);
        sum += w[i];
    }
    assert_true(fabs(sum - 1) < 1e-12);
}

#define assert_w(w, i, v) assert_true(fabs((w)[i] - (v)) < 1e-12)

static void test_one_touch(void **state)
{
    (void)state;
    struct model_touch t[1] = { { 1000, 0, false } };
    double w[1];
    for (int m = 0; m < MODEL_N; m++) {
        weights((enum model_id)m, t, 1, NULL, w);
        assert_w(w, 0, 1.0);
    }
}

static void test_two_touches(void **state)
{
    (void)state;
    struct model_touch t[2] = { { 0, 0, false }, { 7 * JD_MS_DAY, 1, false } };
    double w[2];
    weights(MODEL_FIRST_TOUCH, t, 2, NULL, w);
    assert_w(w, 0, 1.0);
    weights(MODEL_LAST_TOUCH, t, 2, NULL, w);
    assert_w(w, 1, 1.0);
    weights(MODEL_LINEAR, t, 2, NULL, w);
    assert_w(w, 0, 0.5);
    weights(MODEL_POSITION_BASED, t, 2, NULL, w);
    assert_w(w, 0, 0.5);
    /* one half-life apart: 2^-1 : 1 */
    weights(MODEL_TIME_DECAY, t, 2, NULL, w);
    assert_w(w, 0, 1.0 / 3);
    assert_w(w, 1, 2.0 / 3);
}

static void test_position_and_direct(void **state)
{
    (void)state;
    struct model_touch t[4] = { { 0, 0, false }, { 1, 1, false }, { 2, 2, true }, { 3, 2, true } };
    double w[4];
    weights(MODEL_POSITION_BASED, t, 3, NULL, w);
    assert_w(w, 0, 0.4);
    assert_w(w, 1, 0.2);
    assert_w(w, 2, 0.4);
    weights(MODEL_POSITION_BASED, t, 4, NULL, w);
    assert_w(w, 1, 0.1);
    assert_w(w, 2, 0.1);
    assert_w(w, 3, 0.4);
    /* the last non-direct touch is #1 */
    weights(MODEL_LAST_NON_DIRECT, t, 4, NULL, w);
    assert_w(w, 1, 1.0);
    /* all direct: the last touch */
    weights(MODEL_LAST_NON_DIRECT, t + 2, 2, NULL, w);
    assert_w(w, 1, 1.0);
}

static void test_time_ties_and_decay(void **state)
{
    (void)state;
    struct model_touch t[3] = { { 5000, 0, false }, { 5000, 1, false }, { 5000, 2, false } };
    double w[3];
    weights(MODEL_TIME_DECAY, t, 3, NULL, w);
    for (int i = 0; i < 3; i++)
        assert_w(w, i, 1.0 / 3);
    /* 400 half-lives apart: the old touch gets ~0 but nothing is NaN */
    struct model_touch u[2] = { { 0, 0, false }, { 400 * 7 * JD_MS_DAY, 1, false } };
    weights(MODEL_TIME_DECAY, u, 2, NULL, w);
    assert_true(w[0] < 1e-100);
    assert_w(w, 1, 1.0);
}

static void test_data_driven_split(void **state)
{
    (void)state;
    /* a > b > a with weights a=1, b=3: a's quarter splits over its two touches */
    struct model_touch t[3] = { { 0, 0, false }, { 1, 1, false }, { 2, 0, false } };
    double chw[2] = { 1, 3 }, zero[2] = { 0, 0 }, w[3];
    weights(MODEL_MARKOV, t, 3, chw, w);
    assert_w(w, 0, 0.125);
    assert_w(w, 1, 0.75);
    assert_w(w, 2, 0.125);
    weights(MODEL_SHAPLEY, t, 3, zero, w);
    assert_w(w, 0, 0.25);
    assert_w(w, 1, 0.5);
    weights(MODEL_SHAPLEY, t, 3, NULL, w);
    assert_w(w, 1, 0.5);
}

static void test_apportion(void **state)
{
    (void)state;
    double third[3] = { 1.0 / 3, 1.0 / 3, 1.0 / 3 };
    int64_t out[3];
    model_apportion(third, 3, JD_MICROS, out);
    assert_int_equal(out[0], 333334);
    assert_int_equal(out[1], 333333);
    assert_int_equal(out[2], 333333);
    model_apportion(third, 3, -100, out);
    assert_int_equal(out[0], -34);
    assert_int_equal(out[1], -33);
    assert_int_equal(out[2], -33);
    uint64_t s = 88172645463325252ULL;
    for (int k = 0; k < 2000; k++) {
        double w[17], sum = 0;
        int64_t o[17], got = 0;
        size_t n = 1 + (size_t)(k % 17);
        for (size_t i = 0; i < n; i++) {
            s ^= s << 13, s ^= s >> 7, s ^= s << 17;
            w[i] = (double)(s % 1000);
            sum += w[i];
        }
        if (sum == 0)
            w[0] = sum = 1;
        for (size_t i = 0; i < n; i++)
            w[i] /= sum;
        int64_t total = (int64_t)(s % 2000000000000ULL) - 1000000000000LL;
        model_apportion(w, n, total, o);
        for (size_t i = 0; i < n; i++) {
            got += o[i];
            assert_true(fabs((double)o[i] - w[i] * (double)total) <
                        1.0 + 1e-6 * fabs((double)total) * 1e-9);
        }
        assert_true(got == total);
    }
}

static void test_markov_by_hand(void **state)
{
    (void)state;
    /* a>b: 1 conversion worth 30; b: 1 null. P = 1/2; without a 1/4
     * (RE 1/2); without b 0 (RE 1): a gets 1/3, b 2/3 of everything. */
    struct markov *m = markov_new(1);
    struct markov_result r;
    char err[256];
    uint32_t ab[2] = { 0, 1 }, b[1] = { 1 };
    assert_non_null(m);
    assert_true(markov_add_path(m, ab, 2, 1, 30, 0));
    assert_true(markov_add_path(m, b, 1, 0, 0, 1));
    assert_int_equal(markov_solve(m, 2, &r, err, sizeof(err)), JD_OK);
    assert_true(fabs(r.p_conv - 0.5) < 1e-15);
    assert_true(fabs(r.value - 15) < 1e-13);
    assert_true(fabs(r.re[0] - 0.5) < 1e-15);
    assert_true(fabs(r.re[1] - 1) < 1e-15);
    assert_true(fabs(r.re_value[0] - 0.5) < 1e-15);
    assert_int_equal(r.nstates, 2);
    markov_result_free(&r);
    markov_destroy(m);
}

static void test_markov_repeats_and_order(void **state)
{
    (void)state;
    char err[256];
    struct markov_result r1, r2;
    /* a>a>b collapses to a>b: the same chain as a>b */
    struct markov *m1 = markov_new(1), *m2 = markov_new(1);
    uint32_t aab[3] = { 0, 0, 1 }, ab[2] = { 0, 1 }, b[1] = { 1 };
    assert_true(markov_add_path(m1, aab, 3, 2, 10, 1));
    assert_true(markov_add_path(m1, b, 1, 1, 5, 3));
    assert_true(markov_add_path(m2, ab, 2, 2, 10, 1));
    assert_true(markov_add_path(m2, b, 1, 1, 5, 3));
    assert_int_equal(markov_solve(m1, 2, &r1, err, sizeof(err)), JD_OK);
    assert_int_equal(markov_solve(m2, 2, &r2, err, sizeof(err)), JD_OK);
    assert_true(r1.p_conv == r2.p_conv && r1.re[0] == r2.re[0] && r1.re[1] == r2.re[1]);
    markov_result_free(&r1);
    markov_result_free(&r2);
    markov_destroy(m1);
    markov_destroy(m2);
    /* order 2: a>b>c has states (a) (a,b) (b,c); order 1 would merge b's */
    struct markov *m3 = markov_new(2);
    uint32_t abc[3] = { 0, 1, 2 }, cb[2] = { 2, 1 };
    assert_true(markov_add_path(m3, abc, 3, 1, 1, 0));
    assert_true(markov_add_path(m3, cb, 2, 0, 0, 1));
    assert_int_equal(markov_solve(m3, 3, &r1, err, sizeof(err)), JD_OK);
    assert_int_equal(r1.nstates, 5); /* (a) (a,b) (b,c) (c) (c,b) */
    assert_true(fabs(r1.p_conv - 0.5) < 1e-15);
    for (int c = 0; c < 3; c++) /* every channel is on the only converting path */
        assert_true(fabs(r1.re[c] - 1) < 1e-15);
    markov_result_free(&r1);
    markov_destroy(m3);
    assert_null(markov_new(0));
    assert_null(markov_new(4));
}

/* Brute-force Shapley value over all coalitions of n ≤ 5 channels. */
static double shapley_brute(const uint32_t sets[][3], const size_t *len, const double *conv,
                            size_t nsets, unsigned n, unsigned c)
{
    double phi = 0, fact[6] = { 1, 1, 2, 6, 24, 120 };
    for (unsigned s = 0; s < (1u << n); s++) {
        if (s & (1u << c))
            continue;
        double v0 = 0, v1 = 0;
        for (size_t i = 0; i < nsets; i++) {
            unsigned mask = 0;
            for (size_t k = 0; k < len[i]; k++)
                mask |= 1u << sets[i][k];
            v0 += (mask & ~s) == 0 ? conv[i] : 0;
            v1 += (mask & ~(s | (1u << c))) == 0 ? conv[i] : 0;
        }
        unsigned k = (unsigned)__builtin_popcount(s);
        phi += fact[k] * fact[n - k - 1] / fact[n] * (v1 - v0);
    }
    return phi;
}

static void test_shapley(void **state)
{
    (void)state;
    const uint32_t sets[][3] = { { 0, 1, 0 }, { 2, 0, 0 }, { 3, 0, 0 }, { 1, 2, 3 }, { 4, 4, 4 } };
    const size_t len[] = { 3, 2, 1, 3, 3 };
    const double conv[] = { 3, 5, 2, 7, 1 };
    double phi[5] = { 0 }, phiv[5] = { 0 }, total = 0;
    for (size_t i = 0; i < 5; i++) {
        shapley_add_set(phi, phiv, sets[i], len[i], conv[i], 10 * conv[i]);
        total += conv[i];
    }
    double sum = 0;
    for (unsigned c = 0; c < 5; c++) {
        double brute = shapley_brute(sets, len, conv, 5, 5, c);
        assert_true(fabs(phi[c] - brute) < 1e-12);
        assert_true(fabs(phiv[c] - 10 * brute) < 1e-11);
        sum += phi[c];
    }
    assert_true(fabs(sum - total) < 1e-12);
}

static void test_report_conserves(void **state)
{
    (void)state;
    static const char csv[] =
        "\"path\",\"total_conversions\",\"total_conversion_value\",\"total_null\"\n"
        "\"a > b > a\",2,20.5,1\n"
        "b > direct,1,3,4\r\n"
        "direct,0,0,5\n"
        "\"\",3,9,0\n"
        "c > c > a,1,1.25,0\n";
    struct paths *p = paths_new();
    struct report r = { 0 };
    struct report_opts o;
    char err[256];
    report_opts_default(&o);
    assert_int_equal(paths_parse_csv(p, csv, sizeof(csv) - 1, "t.csv", err, sizeof(err)), JD_OK);
    assert_int_equal(p->nrows, 5);
    assert_int_equal(p->nnames, 4);
    assert_int_equal(report_from_paths(p, &o, &r, err, sizeof(err)), JD_OK);
    assert_true(fabs(r.total_conversions - 7) < 1e-12);
    assert_false(r.models[MODEL_TIME_DECAY]);
    for (int m = 0; m < MODEL_N; m++) {
        if (!r.models[m])
            continue;
        double c = 0, v = 0, none = 0;
        for (size_t i = 0; i < r.nrows; i++)
            if (r.rows[i].model == (enum model_id)m) {
                c += r.rows[i].conversions;
                v += r.rows[i].value;
                if (!strcmp(r.rows[i].channel, MODEL_NONE_CHANNEL))
                    none = r.rows[i].conversions;
            }
        assert_true(fabs(c - 7) < 1e-12);
        assert_true(fabs(v - 33.75) < 1e-12);
        assert_true(fabs(none - 3) < 1e-12);
    }
    /* last_non_direct: b > direct goes to b */
    for (size_t i = 0; i < r.nrows; i++)
        if (r.rows[i].model == MODEL_LAST_NON_DIRECT && !strcmp(r.rows[i].channel, "b"))
            assert_true(fabs(r.rows[i].conversions - 1) < 1e-12);
    report_free(&r);
    paths_destroy(p);
}

static void test_csv_errors(void **state)
{
    (void)state;
    static const struct {
        const char *in, *want;
    } cases[] = {
        { "", "t.csv:1:1: empty file" },
        { "path,conv\n", "t.csv:1:1: the header needs" },
        { "path,total_conversions\na > > b,1\n", "t.csv:2:5: empty channel name" },
        { "path,total_conversions\na,x\n", "t.csv:2:3: expected a finite number" },
        { "path,total_conversions\na,-1\n", "t.csv:2:3: expected a number >= 0" },
        { "path,total_conversions\n\"a,1\n", "t.csv:2:1: quoted field runs past" },
        { "path,total_conversions,total_null\na,1\n", "t.csv:2:4: missing columns" },
        { "path,total_conversions\n\"a\"x,1\n", "t.csv:2:4: expected ','" },
    };
    char err[256];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct paths *p = paths_new();
        assert_int_equal(
            paths_parse_csv(p, cases[i].in, strlen(cases[i].in), "t.csv", err, sizeof(err)),
            JD_ERR_PARSE);
        if (strncmp(err, cases[i].want, strlen(cases[i].want)) != 0)
            fail_msg("case %zu: got '%s', want '%s'", i, err, cases[i].want);
        paths_destroy(p);
    }
}

/* The credit stream: .conversions sums exact micro-conversions, .value the money. */
static void test_credit_stream_query(void **state)
{
    (void)state;
    struct agg *a = agg_new();
    struct memwin *mw = memwin_new();
    struct query_result r = { 0 };
    char err[256];
    const char lab[] = "channel\x1f"
                       "douyin\x1emodel\x1flinear";
    struct jd_str type = JD_STR_LIT("credit"), labels = { lab, sizeof(lab) - 1 };
    uint64_t sid = series_id(type, lab, labels.n);
    int64_t t = INT64_C(1795478400000);
    assert_non_null(a);
    assert_non_null(mw);
    /* three conversions credited a third each (333334 + 333333 + 333333) */
    assert_true(agg_add_credit(a, sid, type, labels, t, 133000000, 333334));
    assert_true(agg_add_credit(a, sid, type, labels, t + 1, 133000000, 333333));
    assert_true(agg_add_credit(a, sid, type, labels, t + JD_MS_HOUR, 133000000, 333333));
    assert_true(agg_seal(a));
    assert_int_equal(memwin_apply(mw, a, err, sizeof(err)), JD_OK);
    struct query_env env = { memwin_source(mw), NULL, NULL, 0 };
    static const struct {
        const char *q;
        const char *want;
        int64_t at;
    } cases[] = {
        { "sum(credit{model=\"linear\"}.conversions[1d])", "1", JD_MS_DAY },
        { "sum(credit.value[1d])", "399", JD_MS_DAY },
        { "count(credit[1d])", "3", JD_MS_DAY },
        { "sum(credit.conversions[1h])", "0.333333", 2 * JD_MS_HOUR },
        { "avg(credit.conversions[1d])", "0.3333333333333333", JD_MS_DAY },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct expr_node *e = expr_parse(cases[i].q, err, sizeof(err));
        char buf[64];
        assert_non_null(e);
        assert_int_equal(query_eval_env(&env, e, t + cases[i].at, &r, err, sizeof(err)), JD_OK);
        assert_int_equal(r.n, 1);
        query_format_value(&r.v[0], buf, sizeof(buf));
        if (strcmp(buf, cases[i].want) != 0)
            fail_msg("%s = %s, want %s", cases[i].q, buf, cases[i].want);
        query_result_free(&r);
        expr_free(e);
    }
    memwin_destroy(mw);
    agg_destroy(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_touch),
        cmocka_unit_test(test_two_touches),
        cmocka_unit_test(test_position_and_direct),
        cmocka_unit_test(test_time_ties_and_decay),
        cmocka_unit_test(test_data_driven_split),
        cmocka_unit_test(test_apportion),
        cmocka_unit_test(test_markov_by_hand),
        cmocka_unit_test(test_markov_repeats_and_order),
        cmocka_unit_test(test_shapley),
        cmocka_unit_test(test_report_conserves),
        cmocka_unit_test(test_csv_errors),
        cmocka_unit_test(test_credit_stream_query),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
