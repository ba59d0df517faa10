/*
 * test_card.c — unit tests for aggregate/card: the cardinality guard.
 *
 * Covers the two limits (types, series per type), that what was admitted
 * stays admitted, loading the index as a union with what was admitted,
 * forgetting a type's series (GC shrinks the index), an index already past
 * a lowered limit, series id 0, growth past the
 * initial tables against a naive model, and the per-type counts reported.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "aggregate/card.h"
#include "core/hash.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct jd_str S(const char *s) {
    return jd_str_c(s);
}

static void
test_series_limit(void **state)
{
    (void)state;
    struct card *c = card_new(10, 3);
    assert_non_null(c);
    for (uint64_t sid = 1; sid <= 3; sid++)
        assert_int_equal(card_admit(c, S("touch"), sid), CARD_OK);
    assert_int_equal(card_admit(c, S("touch"), 4), CARD_SERIES_LIMIT);
    assert_int_equal(card_admit(c, S("touch"), 99), CARD_SERIES_LIMIT);
    /* known series stay admitted at the limit: only new ones are refused */
    for (uint64_t sid = 1; sid <= 3; sid++)
        assert_int_equal(card_admit(c, S("touch"), sid), CARD_OK);
    /* the limit is per type */
    assert_int_equal(card_admit(c, S("lead"), 4), CARD_OK);
    assert_int_equal(card_nseries(c, S("touch")), 3);
    assert_int_equal(card_nseries(c, S("lead")), 1);
    assert_int_equal(card_nseries(c, S("nope")), 0);
    card_destroy(c);
    card_destroy(NULL);
}

static void test_type_limit(void **state)
{
    (void)state;
    struct card *c = card_new(2, 100);
    assert_int_equal(card_admit(c, S("touch"), 1), CARD_OK);
    assert_int_equal(card_admit(c, S("lead"), 1), CARD_OK);
    assert_int_equal(card_admit(c, S("evil_1"), 1), CARD_TYPE_LIMIT);
    assert_int_equal(card_ntypes(c), 2);
    /* a refused type is not remembered: it stays refused, the known ones go on */
    assert_int_equal(card_admit(c, S("evil_1"), 2), CARD_TYPE_LIMIT);
    assert_int_equal(card_admit(c, S("touch"), 2), CARD_OK);
    assert_int_equal(card_admit(c, S("lead"), 7), CARD_OK);
    /* types that are prefixes of each other are different types */
    struct card *d = card_new(3, 100);
    assert_int_equal(card_admit(d, S("lead"), 1), CARD_OK);
    assert_int_equal(card_admit(d, S("lea"), 1), CARD_OK);
    assert_int_equal(card_admit(d, S("leads"), 1), CARD_OK);
    assert_int_equal(card_ntypes(d), 3);
    card_destroy(c);
    card_destroy(d);
}

static void test_load_is_a_union(void **state)
{
    (void)state;
    struct card *c = card_new(10, 5);
    assert_int_equal(card_admit(c, S("touch"), 100), CARD_OK); /* admitted here, not yet in Redis */
    uint64_t idx[] = { 1, 2, 3, 100 };                         /* what other instances wrote */
    assert_true(card_load(c, S("touch"), idx, 4));
    assert_int_equal(card_nseries(c, S("touch")), 4);
    assert_int_equal(card_admit(c, S("touch"), 4), CARD_OK);
    assert_int_equal(card_admit(c, S("touch"), 5), CARD_SERIES_LIMIT);
    /* loading the same again changes nothing */
    assert_true(card_load(c, S("touch"), idx, 4));
    assert_int_equal(card_nseries(c, S("touch")), 5);
    /* a type only another instance has seen counts against limits.types */
    assert_true(card_load(c, S("cost"), NULL, 0));
    assert_int_equal(card_ntypes(c), 2);
    card_destroy(c);
}

/* Forgetting a type's series (before loading the index again) frees their places. */
static void test_forget(void **state)
{
    (void)state;
    struct card *c = card_new(10, 2);
    assert_int_equal(card_admit(c, S("touch"), 0), CARD_OK);
    assert_int_equal(card_admit(c, S("touch"), 1), CARD_OK);
    assert_int_equal(card_admit(c, S("touch"), 2), CARD_SERIES_LIMIT);
    card_forget(c, S("touch"));
    card_forget(c, S("unknown")); /* nothing to forget */
    assert_int_equal(card_nseries(c, S("touch")), 0);
    assert_int_equal(card_ntypes(c), 1); /* still a known type */
    uint64_t idx[] = { 1 };              /* GC dropped series 0 */
    assert_true(card_load(c, S("touch"), idx, 1));
    assert_int_equal(card_admit(c, S("touch"), 2), CARD_OK);
    assert_int_equal(card_admit(c, S("touch"), 0), CARD_SERIES_LIMIT);
    card_destroy(c);
}

/* The index holds more than a lowered limit: all are known, nothing new comes in. */
static void test_index_past_a_lowered_limit(void **state)
{
    (void)state;
    struct card *c = card_new(1, 3);
    uint64_t idx[6] = { 10, 11, 12, 13, 14, 15 };
    assert_true(card_load(c, S("touch"), idx, 6));
    assert_true(card_load(c, S("lead"), idx, 2)); /* two types though limits.types is 1 */
    assert_int_equal(card_ntypes(c), 2);
    for (size_t i = 0; i < 6; i++)
        assert_int_equal(card_admit(c, S("touch"), idx[i]), CARD_OK);
    assert_int_equal(card_admit(c, S("touch"), 16), CARD_SERIES_LIMIT);
    assert_int_equal(card_admit(c, S("lead"), 10), CARD_OK);
    assert_int_equal(card_admit(c, S("cost"), 1), CARD_TYPE_LIMIT);
    card_destroy(c);
}

static void test_series_id_zero(void **state)
{
    (void)state;
    struct card *c = card_new(10, 2);
    assert_int_equal(card_admit(c, S("t"), 0), CARD_OK);
    assert_int_equal(card_admit(c, S("t"), 0), CARD_OK);
    assert_int_equal(card_nseries(c, S("t")), 1);
    assert_int_equal(card_admit(c, S("t"), 7), CARD_OK);
    assert_int_equal(card_admit(c, S("t"), 8), CARD_SERIES_LIMIT);
    uint64_t z = 0;
    assert_true(card_load(c, S("u"), &z, 1));
    assert_int_equal(card_nseries(c, S("u")), 1);
    card_destroy(c);
}

/* Many types and series, past every table's first size, against a sorted-array model. */
static void test_matches_model(void **state)
{
    (void)state;
    enum { TYPES = 40, MAX_TYPES = 30, MAX_SERIES = 700, N = 60000 };
    struct card *c = card_new(MAX_TYPES, MAX_SERIES);
    static uint64_t seen[TYPES][MAX_SERIES];
    static size_t nseen[TYPES];
    static bool known_type[TYPES];
    size_t ntypes = 0;
    uint64_t x = 1;
    char name[16];
    for (size_t i = 0; i < N; i++) {
        x = hash_mix64(x + i);
        size_t t = (size_t)(x % TYPES);
        uint64_t sid = hash_mix64(x >> 20) % 1000; /* repeats often */
        snprintf(name, sizeof(name), "type_%zu", t);
        enum card_verdict v = card_admit(c, S(name), sid);
        enum card_verdict want;
        if (!known_type[t] && ntypes >= MAX_TYPES) {
            want = CARD_TYPE_LIMIT;
        } else {
            if (!known_type[t]) {
                known_type[t] = true;
                ntypes++;
            }
            bool has = false;
            for (size_t k = 0; k < nseen[t] && !has; k++)
                has = seen[t][k] == sid;
            if (has)
                want = CARD_OK;
            else if (nseen[t] >= MAX_SERIES)
                want = CARD_SERIES_LIMIT;
            else {
                seen[t][nseen[t]++] = sid;
                want = CARD_OK;
            }
        }
        if (v != want)
            fail_msg("event %zu (%s, %llu): got %d, want %d", i, name, (unsigned long long)sid,
                     (int)v, (int)want);
    }
    assert_int_equal(card_ntypes(c), ntypes);
    size_t total = 0, full = 0;
    for (size_t i = 0; i < card_ntypes(c); i++) {
        size_t n;
        struct jd_str ty = card_type_at(c, i, &n);
        size_t t = (size_t)atoi(ty.p + 5);
        assert_int_equal(n, nseen[t]);
        assert_int_equal(card_nseries(c, ty), nseen[t]);
        total += n;
        full += n == MAX_SERIES;
    }
    assert_true(full > 0); /* the limit was reached, so the model checked refusals */
    assert_true(total > 5000);
    card_destroy(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_series_limit),
        cmocka_unit_test(test_type_limit),
        cmocka_unit_test(test_load_is_a_union),
        cmocka_unit_test(test_forget),
        cmocka_unit_test(test_index_past_a_lowered_limit),
        cmocka_unit_test(test_series_id_zero),
        cmocka_unit_test(test_matches_model),
    };
    return cmocka_run_group_tests_name("card", tests, NULL, NULL);
}
