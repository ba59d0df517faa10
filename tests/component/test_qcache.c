/*
 * test_qcache.c — the evaluator's read cache against a real redis-server:
 * every expression at every minute of three hours gives byte for byte what
 * the uncached store source gives, with far fewer round trips; what it holds
 * stays as first read until cleared; with no room it reads through.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "aggregate/agg.h"
#include "aggregate/series.h"
#include "core/ts.h"
#include "evaluate/expr.h"
#include "evaluate/qcache.h"
#include "evaluate/query.h"
#include "redis_spawn.h"
#include "store/store.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T0      INT64_C(1795478400000) /* 2026-11-24T00:00:00Z */
#define MINUTES 180

static const char *const exprs[] = {
    "count(lead[5m])",
    "count by (channel) (lead[1h])",
    "sum by (channel) (cost.value[1h]) > 500",
    "ratio(count(lead[1h]), count(touch[1h]), min_denominator=5)",
    "count(lead[1d]) > 100",
    "sum(cost.value[15m] offset 1h)",
};

struct fixture {
    struct redis_spawn redis;
    struct store *store;
    struct agg *agg;
    int64_t epoch, offset;
};

static void add(struct agg *a, const char *type, const char *channel, int64_t ts, int64_t value)
{
    struct event ev;
    char labels[256];
    memset(&ev, 0, sizeof(ev));
    ev.type = jd_str_c(type);
    ev.channel = jd_str_c(channel);
    size_t n = series_labels_encode(&ev, labels);
    uint64_t sid = series_id(ev.type, labels, n);
    assert_true(agg_add(a, sid, ev.type, (struct jd_str){ labels, n }, ts, value != 0, value,
                        jd_str_c("u")));
}

/* Applies the batch being built as the next offset of partition 0. */
static void flush(struct fixture *f, int64_t st)
{
    char err[JD_ERRSTR_SIZE];
    struct store_refusal ref[8];
    size_t nref = 0;
    struct store_part part = { 0, f->epoch, f->offset, f->offset + 1, st, st, false, 0 };
    struct store_flush fl = { "ev", "a", &part, 1, NULL, 0, f->agg, NULL, 0,
                              NULL, 0,   NULL,  0, NULL, 0, NULL,   0 };
    assert_true(agg_seal(f->agg));
    if (store_flush(f->store, &fl, ref, 8, &nref, err, sizeof(err)))
        fail_msg("flush: %s", err);
    agg_reset(f->agg);
    f->offset++;
}

static int setup(void **state)
{
    char err[JD_ERRSTR_SIZE];
    struct fixture *f = calloc(1, sizeof(*f));
    if (!f || redis_spawn_start(&f->redis) != 0)
        return -1;
    struct store_claim c;
    if (!(f->store = redis_spawn_store(&f->redis, "q", 3 * JD_MS_DAY)) ||
        store_claim(f->store, "ev", 0, "a", &c, err, sizeof(err)) != JD_OK || !(f->agg = agg_new()))
        return -1;
    f->epoch = c.epoch;
    /* three hours of touches, leads and spend on two channels, uneven per minute */
    static const char *const ch[] = { "web", "douyin" };
    for (int m = 0; m < MINUTES; m++)
        for (int c2 = 0; c2 < 2; c2++) {
            int64_t t = T0 + m * JD_MS_MINUTE + 1000 * c2;
            for (int k = 0; k <= (m * 7 + c2) % 5; k++)
                add(f->agg, "touch", ch[c2], t + k, 0);
            if ((m + c2) % 3 == 0)
                add(f->agg, "lead", ch[c2], t, 0);
            add(f->agg, "cost", ch[c2], t, 10 + (m % 13) * (c2 + 1));
        }
    flush(f, T0 + MINUTES * JD_MS_MINUTE);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    agg_destroy(f->agg);
    store_destroy(f->store);
    redis_spawn_stop(&f->redis);
    free(f);
    return 0;
}

/* Every sample of \p text at \p at, as "labels=value;" text appended to \p out. */
static void eval_into(struct query_source src, const char *text, int64_t at, char *out, size_t size)
{
    char err[JD_ERRSTR_SIZE], v[64];
    struct query_env env = { src, NULL, NULL, 0 };
    struct query_result r;
    struct expr_node *e = expr_parse(text, err, sizeof(err));
    if (!e)
        fail_msg("%s: %s", text, err);
    if (query_eval_env(&env, e, at, &r, err, sizeof(err)))
        fail_msg("%s: %s", text, err);
    size_t len = strlen(out);
    for (size_t i = 0; i < r.n; i++) {
        query_format_value(&r.v[i], v, sizeof(v));
        for (size_t l = 0; l < r.v[i].nlabels; l++)
            len += (size_t)snprintf(out + len, size - len, "%s=%s,", r.v[i].labels[l].name,
                                    r.v[i].labels[l].value);
        len += (size_t)snprintf(out + len, size - len, "%s;", v);
        assert_true(len < size);
    }
    query_result_free(&r);
    expr_free(e);
}

/* Every expression at every minute (plus the hour and a half past it) through \p src. */
static char *eval_all(struct query_source src, struct qcache *clear_each)
{
    size_t size = 1 << 20;
    char *out = calloc(1, size);
    assert_non_null(out);
    for (int m = 0; m < MINUTES + 90; m++) {
        for (size_t i = 0; i < JD_ARRAY_SIZE(exprs); i++)
            eval_into(src, exprs[i], T0 + (m + 1) * JD_MS_MINUTE, out, size);
        if (clear_each && m % 60 == 59)
            qcache_clear(clear_each); /* a run of 60 ticks */
    }
    return out;
}

static void test_same_answers_fewer_trips(void **state)
{
    struct fixture *f = *state;
    char *want = eval_all(query_source_store(f->store), NULL);
    assert_true(strlen(want) > 10000); /* the expressions do see data */
    struct qcache *q = qcache_new(query_source_store(f->store), 64u << 20);
    assert_non_null(q);
    char *got = eval_all(qcache_source(q), q);
    assert_string_equal(got, want);
    const struct qcache_stats *st = qcache_stats(q);
    size_t evals = (MINUTES + 90) * JD_ARRAY_SIZE(exprs);
    printf("# %zu evaluations: %llu reads from memory, %llu from Redis in %llu round trips\n",
           evals, (unsigned long long)st->hits, (unsigned long long)st->misses,
           (unsigned long long)st->trips);
    assert_true(st->hits > 4 * st->misses);
    assert_true(st->trips < evals / 2);
    free(got);
    qcache_destroy(q);

    /* no room: everything reads through, same answers */
    q = qcache_new(query_source_store(f->store), 0);
    got = eval_all(qcache_source(q), NULL);
    assert_string_equal(got, want);
    assert_int_equal(qcache_stats(q)->hits, 0);
    free(got);
    free(want);
    qcache_destroy(q);
    qcache_destroy(NULL);
}

static void test_held_until_cleared(void **state)
{
    struct fixture *f = *state;
    char before[4096] = "", cached[4096] = "", after[4096] = "", direct[4096] = "";
    struct qcache *q = qcache_new(query_source_store(f->store), 64u << 20);
    int64_t at = T0 + 30 * JD_MS_MINUTE;
    eval_into(qcache_source(q), "count by (channel) (lead[1h])", at, before, sizeof(before));
    /* a late lead on a new channel and one on a known channel */
    add(f->agg, "lead", "tv", T0 + 10 * JD_MS_MINUTE, 0);
    add(f->agg, "lead", "web", T0 + 10 * JD_MS_MINUTE + 5, 0);
    flush(f, T0 + MINUTES * JD_MS_MINUTE);
    eval_into(qcache_source(q), "count by (channel) (lead[1h])", at, cached, sizeof(cached));
    assert_string_equal(cached, before);
    qcache_clear(q);
    eval_into(qcache_source(q), "count by (channel) (lead[1h])", at, after, sizeof(after));
    eval_into(query_source_store(f->store), "count by (channel) (lead[1h])", at, direct,
              sizeof(direct));
    assert_string_equal(after, direct);
    assert_string_not_equal(after, before);
    assert_non_null(strstr(after, "channel=tv,1;"));
    qcache_destroy(q);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_answers_fewer_trips),
        cmocka_unit_test(test_held_until_cleared),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
