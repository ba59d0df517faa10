/*
 * test_store.c — the Redis write protocol against a real redis-server:
 * claim epochs, the flush script's continuity and fencing checks (nothing
 * written when refused), exact sums beyond 2^53 and int64, min/max/last
 * merging across flushes, seen-id slices, GC by event time, a Redis
 * restart mid-run, pinned start offsets, partitions without a stream time,
 * keys the flush cannot write (refused before any write) and chunks that
 * grew large (queued for compaction).
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
#include "evaluate/query.h"
#include "redis_spawn.h"
#include "store/store.h"

#include <hiredis/hiredis.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define T0 INT64_C(1795478400000) /* 2026-11-24T00:00:00Z */

struct fixture {
    struct redis_spawn redis;
    struct store *store;
    struct agg *agg;
};

static struct store *new_store(struct fixture *f, const char *prefix, int64_t minute_retention)
{
    struct store *s = redis_spawn_store(&f->redis, prefix, minute_retention);
    assert_non_null(s);
    return s;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (!f || redis_spawn_start(&f->redis) != 0)
        return -1;
    f->store = new_store(f, "t", 3 * JD_MS_DAY);
    f->agg = agg_new();
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

/* Folds one flat event (type, channel, ts, value, user) into the batch. */
static void add(struct agg *a, const char *type, const char *channel, int64_t ts, bool has_value,
                int64_t value, const char *user)
{
    struct event ev;
    char labels[256];
    memset(&ev, 0, sizeof(ev));
    ev.type = jd_str_c(type);
    ev.channel = jd_str_c(channel);
    size_t n = series_labels_encode(&ev, labels);
    uint64_t sid = series_id(ev.type, labels, n);
    assert_true(agg_add(a, sid, ev.type, (struct jd_str){ labels, n }, ts, has_value, value,
                        jd_str_c(user)));
}

static enum jd_err flush(struct fixture *f, struct store *s, int32_t partition, const char *owner,
                         int64_t epoch, int64_t from, int64_t to, int64_t st,
                         struct store_refusal *ref, size_t *nref)
{
    char err[JD_ERRSTR_SIZE];
    struct store_part part = { partition, epoch, from, to, st, st, false, 0 };
    assert_true(agg_seal(f->agg));
    struct store_flush fl = { "ev", owner, &part, 1, NULL, 0, f->agg, NULL, 0,
                              NULL, 0,     NULL,  0, NULL, 0, NULL,   0 };
    enum jd_err e = store_flush(s, &fl, ref, 8, nref, err, sizeof(err));
    agg_reset(f->agg);
    return e;
}

/* Evaluates an expression at `at` and returns the only sample's exact text. */
static void query1(struct store *s, const char *text, int64_t at, char *out, size_t size)
{
    char err[JD_ERRSTR_SIZE];
    struct query_result r;
    struct expr_node *e = expr_parse(text, err, sizeof(err));
    if (!e)
        fail_msg("%s: %s", text, err);
    enum jd_err qe = query_eval(s, NULL, e, at, &r, err, sizeof(err));
    if (qe)
        fail_msg("%s: %s", text, err);
    if (r.n == 0)
        snprintf(out, size, "(none)");
    else
        query_format_value(&r.v[0], out, size);
    query_result_free(&r);
    expr_free(e);
}

static void test_claim_epochs(void **state)
{
    struct fixture *f = *state;
    struct store_claim c;
    char err[JD_ERRSTR_SIZE];
    assert_int_equal(store_claim(f->store, "ev", 3, "a", &c, err, sizeof(err)), JD_OK);
    assert_int_equal(c.epoch, 1);
    assert_false(c.has_next);
    assert_false(c.has_st);
    assert_int_equal(store_claim(f->store, "ev", 3, "b", &c, err, sizeof(err)), JD_OK);
    assert_int_equal(c.epoch, 2);
}

static void test_flush_continuity_and_values(void **state)
{
    struct fixture *f = *state;
    struct store_claim c;
    struct store_refusal ref[8];
    size_t nref;
    char err[JD_ERRSTR_SIZE], v[64];

    assert_int_equal(store_claim(f->store, "ev", 0, "a", &c, err, sizeof(err)), JD_OK);
    add(f->agg, "order", "web", T0 + 1000, true, 2500000, "u1");
    add(f->agg, "order", "web", T0 + 61000, true, 1500000, "u2");
    add(f->agg, "order", "app", T0 + 2000, true, -500000, "u1");
    assert_int_equal(flush(f, f->store, 0, "a", c.epoch, 100, 110, T0 + 61000, ref, &nref), JD_OK);

    /* the same batch again: refused as a gap, nothing applied twice */
    add(f->agg, "order", "web", T0 + 1000, true, 2500000, "u1");
    assert_int_equal(flush(f, f->store, 0, "a", c.epoch, 100, 110, T0 + 61000, ref, &nref),
                     JD_ERR_GAP);
    assert_int_equal(nref, 1);
    assert_true(ref[0].has_next);
    assert_int_equal(ref[0].next, 110);

    /* the next batch continues */
    add(f->agg, "order", "web", T0 + 3000, true, 1000000, "u3");
    assert_int_equal(flush(f, f->store, 0, "a", c.epoch, 110, 111, T0 + 61000, ref, &nref), JD_OK);

    int64_t at = T0 + 10 * JD_MS_MINUTE;
    query1(f->store, "count(order[10m])", at, v, sizeof(v));
    assert_string_equal(v, "4");
    query1(f->store, "sum(order.value[10m])", at, v, sizeof(v));
    assert_string_equal(v, "4.5");
    query1(f->store, "sum by (channel) (order.value[10m])", at, v, sizeof(v));
    assert_string_equal(v, "-0.5"); /* app sorts first */
    query1(f->store, "min(order.value[10m])", at, v, sizeof(v));
    assert_string_equal(v, "-0.5");
    query1(f->store, "max(order.value[10m])", at, v, sizeof(v));
    assert_string_equal(v, "2.5");
    query1(f->store, "last(order.value[10m])", at, v, sizeof(v));
    assert_string_equal(v, "1.5"); /* latest event time, not latest applied */
    query1(f->store, "distinct(order.user_id[10m])", at, v, sizeof(v));
    assert_string_equal(v, "3");
    /* half-open window: [T0+1m, T0+2m) holds only the event at T0+61s */
    query1(f->store, "count(order[1m])", T0 + 2 * JD_MS_MINUTE, v, sizeof(v));
    assert_string_equal(v, "1");
    query1(f->store, "count(order[1m])", T0 + JD_MS_MINUTE, v, sizeof(v));
    assert_string_equal(v, "3");

    /* reclaim returns the stored position */
    assert_int_equal(store_claim(f->store, "ev", 0, "a", &c, err, sizeof(err)), JD_OK);
    assert_true(c.has_next);
    assert_int_equal(c.next, 111);
    assert_int_equal(c.st, T0 + 61000);
}

/*
 * Regression (query.c and store_flush.c, fixed): grouping 10,000 series and
 * listing a batch's types were quadratic and made up most of a
 * 10,000-label-set run. Many groups, and more types than the flush's short
 * list holds, must still come out exact.
 */
static void test_many_groups_and_types(void **state)
{
    struct fixture *f = *state;
    struct store_claim c;
    struct store_refusal ref[8];
    size_t nref;
    char err[JD_ERRSTR_SIZE], name[32], v[64];
    enum { NCH = 3000, NTYPES = 100 };
    struct store *s = new_store(f, "g", 3 * JD_MS_DAY); /* a keyspace of its own */

    assert_int_equal(store_claim(s, "ev", 5, "a", &c, err, sizeof(err)), JD_OK);
    for (int ch = 0; ch < NCH; ch++) {
        snprintf(name, sizeof(name), "c%04d", ch);
        for (int k = 0; k <= ch % 5; k++)
            add(f->agg, "order", name, T0 + 1000 + k, false, 0, "u");
    }
    for (int t = 0; t < NTYPES; t++) { /* each type on its own, then the first again */
        snprintf(name, sizeof(name), "t%03d", t);
        add(f->agg, name, "web", T0 + 2000, false, 0, "u");
    }
    add(f->agg, "t000", "app", T0 + 2000, false, 0, "u");
    assert_int_equal(flush(f, s, 5, "a", c.epoch, 0, 1, T0 + 3000, ref, &nref), JD_OK);

    struct query_result r;
    struct expr_node *e = expr_parse("count by (channel) (order[10m])", err, sizeof(err));
    assert_non_null(e);
    assert_int_equal(query_eval(s, NULL, e, T0 + 10 * JD_MS_MINUTE, &r, err, sizeof(err)), JD_OK);
    assert_int_equal(r.n, NCH);
    for (size_t i = 0; i < r.n; i++) {
        snprintf(name, sizeof(name), "c%04zu", i); /* sorted by labels */
        assert_int_equal(r.v[i].nlabels, 1);
        assert_string_equal(r.v[i].labels[0].value, name);
        assert_int_equal((int64_t)r.v[i].value, (int64_t)(i % 5) + 1);
    }
    query_result_free(&r);
    expr_free(e);
    query1(s, "count(order[10m])", T0 + 10 * JD_MS_MINUTE, v, sizeof(v));
    assert_string_equal(v, "9000"); /* 600 channels of each of 1..5 events */
    query1(s, "count(t099[10m])", T0 + 10 * JD_MS_MINUTE, v, sizeof(v));
    assert_string_equal(v, "1");
    query1(s, "count(t000[10m])", T0 + 10 * JD_MS_MINUTE, v, sizeof(v));
    assert_string_equal(v, "2");

    /* every type is listed once in the types set, the 65th and later included */
    redisContext *raw = redisConnectUnix(f->redis.sock);
    assert_non_null(raw);
    redisReply *rep = redisCommand(raw, "SMEMBERS {g}:types");
    assert_non_null(rep);
    assert_int_equal(rep->type, REDIS_REPLY_ARRAY);
    assert_int_equal(rep->elements, NTYPES + 1);
    freeReplyObject(rep);
    redisFree(raw);
    store_destroy(s);
}

static void test_fencing_writes_nothing(void **state)
{
    struct fixture *f = *state;
    struct store_claim a, b;
    struct store_refusal ref[8];
    size_t nref;
    char err[JD_ERRSTR_SIZE], v[64];

    assert_int_equal(store_claim(f->store, "ev", 1, "zombie", &a, err, sizeof(err)), JD_OK);
    assert_int_equal(store_claim(f->store, "ev", 1, "new-owner", &b, err, sizeof(err)), JD_OK);
    add(f->agg, "lead", "web", T0, false, 0, "u1");
    assert_int_equal(flush(f, f->store, 1, "zombie", a.epoch, 0, 1, T0, ref, &nref), JD_ERR_FENCED);
    assert_int_equal(ref[0].why, JD_ERR_FENCED);
    query1(f->store, "count(lead[1h])", T0 + JD_MS_HOUR, v, sizeof(v));
    assert_string_equal(v, "0");
    /* the rightful owner writes */
    add(f->agg, "lead", "web", T0, false, 0, "u1");
    assert_int_equal(flush(f, f->store, 1, "new-owner", b.epoch, 0, 1, T0, ref, &nref), JD_OK);
    query1(f->store, "count(lead[1h])", T0 + JD_MS_HOUR, v, sizeof(v));
    assert_string_equal(v, "1");
}

static void test_exact_large_sums(void **state)
{
    struct fixture *f = *state;
    struct store_claim c;
    struct store_refusal ref[8];
    size_t nref;
    char err[JD_ERRSTR_SIZE], v[64];
    /* 9e12 units is the largest accepted value: micros 9e18, just under INT64_MAX */
    const int64_t big = INT64_C(9000000000000000000);

    assert_int_equal(store_claim(f->store, "ev", 2, "a", &c, err, sizeof(err)), JD_OK);
    int64_t next = 0;
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 3; i++)
            add(f->agg, "gmv", "web", T0 + i * 1000, true, big, "u");
        add(f->agg, "gmv", "web", T0 + 5000, true, 1, "u"); /* one micro */
        assert_int_equal(flush(f, f->store, 2, "a", c.epoch, next, next + 4, T0 + 5000, ref, &nref),
                         JD_OK);
        next += 4;
    }
    /* 9 × 9e12 + 3 micros: beyond int64 micros, exact to the last digit */
    query1(f->store, "sum(gmv.value[1h])", T0 + JD_MS_HOUR, v, sizeof(v));
    assert_string_equal(v, "81000000000000.000003");
    query1(f->store, "max(gmv.value[1h])", T0 + JD_MS_HOUR, v, sizeof(v));
    assert_string_equal(v, "9000000000000");
    query1(f->store, "min(gmv.value[1h])", T0 + JD_MS_HOUR, v, sizeof(v));
    assert_string_equal(v, "0.000001");
    query1(f->store, "count(gmv.value[1h])", T0 + JD_MS_HOUR, v, sizeof(v));
    assert_string_equal(v, "12");
}

static void test_last_ties(void **state)
{
    struct fixture *f = *state;
    struct store_claim c;
    struct store_refusal ref[8];
    size_t nref;
    char err[JD_ERRSTR_SIZE], v[64];

    assert_int_equal(store_claim(f->store, "ev", 4, "a", &c, err, sizeof(err)), JD_OK);
    /* same event time in two batches: the larger value wins whatever the order */
    add(f->agg, "gauge", "x", T0 + 30000, true, 7000000, "");
    assert_int_equal(flush(f, f->store, 4, "a", c.epoch, 0, 1, T0, ref, &nref), JD_OK);
    add(f->agg, "gauge", "x", T0 + 30000, true, 3000000, "");
    add(f->agg, "gauge", "x", T0 + 10000, true, 9000000, "");
    assert_int_equal(flush(f, f->store, 4, "a", c.epoch, 1, 3, T0, ref, &nref), JD_OK);
    query1(f->store, "last(gauge.value[1m])", T0 + JD_MS_MINUTE, v, sizeof(v));
    assert_string_equal(v, "7");
}

static void seen_cb(void *opaque, int64_t slice, const void *blob, size_t len)
{
    size_t *total = opaque;
    (void)slice;
    (void)blob;
    *total += len;
}

static void test_seen_slices(void **state)
{
    struct fixture *f = *state;
    struct store_claim c;
    struct store_refusal ref[8];
    size_t nref, total = 0;
    char err[JD_ERRSTR_SIZE];
    unsigned char blob[32];
    memset(blob, 0xab, sizeof(blob));

    assert_int_equal(store_claim(f->store, "ev", 5, "a", &c, err, sizeof(err)), JD_OK);
    struct store_part part = { 5, c.epoch, 0, 2, T0, T0, false, 0 };
    struct store_seen seen[2] = { { 5, 100, T0 + JD_MS_DAY, blob, 16 },
                                  { 5, 101, T0 + JD_MS_DAY, blob, 32 } };
    assert_true(agg_seal(f->agg));
    struct store_flush fl = { "ev", "a", &part, 1, seen, 2, f->agg, NULL, 0,
                              NULL, 0,   NULL,  0, NULL, 0, NULL,   0 };
    assert_int_equal(store_flush(f->store, &fl, ref, 8, &nref, err, sizeof(err)), JD_OK);
    agg_reset(f->agg);
    assert_int_equal(store_load_seen(f->store, "ev", 5, 99, 101, seen_cb, &total, err, sizeof(err)),
                     JD_OK);
    assert_int_equal(total, 48);
}

static void test_gc_by_event_time(void **state)
{
    struct fixture *f = *state;
    struct store_claim c;
    struct store_refusal ref[8];
    size_t nref, deleted;
    int64_t cutoff;
    char err[JD_ERRSTR_SIZE], v[64];
    /*
     * A deployment of its own (prefix), whose minute buckets live one hour of
     * event time: GC follows the oldest partition of a deployment.
     */
    struct store *s = new_store(f, "gc", JD_MS_HOUR);

    assert_int_equal(store_claim(s, "ev", 7, "a", &c, err, sizeof(err)), JD_OK);
    add(f->agg, "visit", "web", T0 + 5 * JD_MS_MINUTE + 1000, false, 0, "u1");
    assert_int_equal(flush(f, s, 7, "a", c.epoch, 0, 1, T0 + 5 * JD_MS_MINUTE, ref, &nref), JD_OK);
    /* the wall clock is years away from T0 and nothing expires: retention is event time */
    assert_int_equal(store_gc(s, 1000, &deleted, &cutoff, err, sizeof(err)), JD_OK);
    assert_int_equal(deleted, 0);
    query1(s, "count(visit[1m])", T0 + 6 * JD_MS_MINUTE, v, sizeof(v));
    assert_string_equal(v, "1");

    /* stream time moves 3 hours on: the minute chunk goes (sketches live inside it), hours stay */
    add(f->agg, "visit", "web", T0 + 3 * JD_MS_HOUR, false, 0, "u2");
    assert_int_equal(flush(f, s, 7, "a", c.epoch, 1, 2, T0 + 3 * JD_MS_HOUR, ref, &nref), JD_OK);
    assert_int_equal(store_gc(s, 1000, &deleted, &cutoff, err, sizeof(err)), JD_OK);
    assert_int_equal(deleted, 1);
    assert_int_equal(cutoff, T0 + 3 * JD_MS_HOUR);

    /* a minute-edged range into the expired part is refused, not silently smaller */
    struct expr_node *e = expr_parse("count(visit[1m])", err, sizeof(err));
    struct query_result r;
    assert_int_equal(query_eval(s, NULL, e, T0 + 6 * JD_MS_MINUTE, &r, err, sizeof(err)),
                     JD_ERR_RANGE);
    assert_non_null(strstr(err, "windows.retention.minute"));
    expr_free(e);
    /* hour buckets are still kept */
    query1(s, "count(visit[4h])", T0 + 4 * JD_MS_HOUR, v, sizeof(v));
    assert_string_equal(v, "2");
    store_destroy(s);
}

/*
 * A series whose data have all expired (its newest day chunk) leaves the
 * series index, so it no longer counts under limits.series_per_type; data
 * that comes back for it is indexed again by its first flush, even from a
 * store that indexed it before.
 */
static void test_gc_drops_series_without_data(void **state)
{
    struct fixture *f = *state;
    struct store_claim c;
    struct store_refusal ref[8];
    size_t nref, deleted;
    int64_t cutoff;
    char err[JD_ERRSTR_SIZE], v[64];
    struct store *s = new_store(f, "gcs", JD_MS_HOUR); /* day buckets live 800 days */
    redisContext *raw = redis_spawn_connect(&f->redis);
    assert_non_null(raw);

    assert_int_equal(store_claim(s, "ev", 2, "a", &c, err, sizeof(err)), JD_OK);
    add(f->agg, "visit", "web", T0, false, 0, "u1");
    add(f->agg, "visit", "app", T0, false, 0, "u2");
    assert_int_equal(flush(f, s, 2, "a", c.epoch, 0, 1, T0, ref, &nref), JD_OK);
    /* 900 days on, only app has data: web's last day chunk expires */
    const int64_t later = T0 + 900 * JD_MS_DAY;
    add(f->agg, "visit", "app", later, false, 0, "u2");
    assert_int_equal(flush(f, s, 2, "a", c.epoch, 1, 2, later, ref, &nref), JD_OK);
    redisReply *r = redisCommand(raw, "HLEN {gcs}:s:visit");
    assert_int_equal(r->integer, 2);
    freeReplyObject(r);
    assert_int_equal(store_gc(s, 1000, &deleted, &cutoff, err, sizeof(err)), JD_OK);
    assert_true(deleted > 0);
    r = redisCommand(raw, "HLEN {gcs}:s:visit");
    assert_int_equal(r->integer, 1); /* web went; app, with a later chunk, stays */
    freeReplyObject(r);
    query1(s, "count(visit{channel=\"app\"}[1d])", later + JD_MS_DAY, v, sizeof(v));
    assert_string_equal(v, "1");
    query1(s, "count(visit{channel=\"web\"}[1d])", later + JD_MS_DAY, v, sizeof(v));
    assert_string_equal(v, "0");

    /* web comes back: indexed again at once, though this store indexed it before */
    add(f->agg, "visit", "web", later + JD_MS_HOUR, false, 0, "u1");
    assert_int_equal(flush(f, s, 2, "a", c.epoch, 2, 3, later + JD_MS_HOUR, ref, &nref), JD_OK);
    r = redisCommand(raw, "HLEN {gcs}:s:visit");
    assert_int_equal(r->integer, 2);
    freeReplyObject(r);
    query1(s, "count(visit{channel=\"web\"}[1d])", later + JD_MS_DAY, v, sizeof(v));
    assert_string_equal(v, "1");
    redisFree(raw);
    store_destroy(s);
}

static void test_redis_restart(void **state)
{
    struct fixture *f = *state;
    struct store_claim c;
    struct store_refusal ref[8];
    size_t nref;
    char err[JD_ERRSTR_SIZE], v[64];

    assert_int_equal(store_claim(f->store, "ev", 6, "a", &c, err, sizeof(err)), JD_OK);
    add(f->agg, "tick", "x", T0, false, 0, "");
    assert_int_equal(flush(f, f->store, 6, "a", c.epoch, 0, 1, T0, ref, &nref), JD_OK);

    redis_spawn_kill(&f->redis, true);
    add(f->agg, "tick", "x", T0, false, 0, "");
    assert_int_equal(flush(f, f->store, 6, "a", c.epoch, 1, 2, T0, ref, &nref), JD_ERR_REDIS);
    assert_false(store_is_connected(f->store));
    assert_int_equal(store_connect(f->store, err, sizeof(err)), JD_ERR_REDIS);

    /* AOF (everysec) kept the first batch across the SIGKILL */
    assert_int_equal(redis_spawn_restart(&f->redis), 0);
    assert_int_equal(store_connect(f->store, err, sizeof(err)), JD_OK);
    assert_int_equal(store_claim(f->store, "ev", 6, "a", &c, err, sizeof(err)), JD_OK);
    if (c.has_next) {
        assert_int_equal(c.next, 1);
        add(f->agg, "tick", "x", T0, false, 0, "");
        assert_int_equal(flush(f, f->store, 6, "a", c.epoch, 1, 2, T0, ref, &nref), JD_OK);
        query1(f->store, "count(tick[1h])", T0 + JD_MS_HOUR, v, sizeof(v));
        assert_string_equal(v, "2");
    }
}

/* Runs a command on a connection of the test's own; the reply must be freed. */
static redisReply *raw(struct fixture *f, const char *fmt, ...)
{
    redisContext *c = redis_spawn_connect(&f->redis);
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(c, fmt, ap);
    va_end(ap);
    redisFree(c);
    assert_non_null(r);
    return r;
}

static long long raw_int(struct fixture *f, const char *fmt, const char *key)
{
    redisReply *r = raw(f, fmt, key);
    assert_int_equal(r->type, REDIS_REPLY_INTEGER);
    long long v = r->integer;
    freeReplyObject(r);
    return v;
}

/* The first key matching a pattern (there must be one). */
static void first_key(struct fixture *f, const char *pattern, char *out, size_t size)
{
    redisReply *r = raw(f, "KEYS %s", pattern);
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    assert_true(r->elements > 0);
    snprintf(out, size, "%s", r->element[0]->str);
    freeReplyObject(r);
}

/* A partition's first owner pins where it starts; only the owner can, and only once. */
static void test_pin_start_offset(void **state)
{
    struct fixture *f = *state;
    struct store_claim a, b;
    char err[JD_ERRSTR_SIZE];
    int64_t off = 100;
    struct store *s = new_store(f, "pin", 3 * JD_MS_DAY);

    assert_int_equal(store_claim(s, "ev", 4, "a", &a, err, sizeof(err)), JD_OK);
    assert_false(a.has_next);
    assert_int_equal(store_pin(s, "ev", 4, "a", a.epoch, &off, err, sizeof(err)), JD_OK);
    assert_int_equal(off, 100);
    off = 7; /* a second pin keeps the first */
    assert_int_equal(store_pin(s, "ev", 4, "a", a.epoch, &off, err, sizeof(err)), JD_OK);
    assert_int_equal(off, 100);
    assert_int_equal(store_claim(s, "ev", 4, "b", &b, err, sizeof(err)), JD_OK);
    assert_true(b.has_next);
    assert_int_equal(b.next, 100);
    off = 5; /* the old owner is fenced */
    assert_int_equal(store_pin(s, "ev", 4, "a", a.epoch, &off, err, sizeof(err)), JD_ERR_FENCED);
    assert_int_equal(store_claim(s, "ev", 4, "b", &b, err, sizeof(err)), JD_OK);
    assert_int_equal(b.next, 100);
    store_destroy(s);
}

/*
 * A batch of dead letters only advances the offset but leaves the stream
 * time unset: GC's cutoff (the oldest partition) must not fall to 0 for it.
 */
static void test_unknown_stream_time(void **state)
{
    struct fixture *f = *state;
    struct store_claim c1, c2;
    struct store_refusal ref[8];
    size_t nref, deleted;
    int64_t cutoff;
    char err[JD_ERRSTR_SIZE];
    struct store *s = new_store(f, "st", JD_MS_HOUR);

    assert_int_equal(store_claim(s, "ev", 1, "a", &c1, err, sizeof(err)), JD_OK);
    add(f->agg, "visit", "web", T0, false, 0, "u1");
    assert_int_equal(flush(f, s, 1, "a", c1.epoch, 0, 1, T0 + 3 * JD_MS_HOUR, ref, &nref), JD_OK);
    assert_int_equal(store_claim(s, "ev", 2, "a", &c2, err, sizeof(err)), JD_OK);
    assert_int_equal(flush(f, s, 2, "a", c2.epoch, 0, 5, INT64_MIN, ref, &nref), JD_OK);

    redisReply *r = raw(f, "HMGET {st}:p:ev:2 next st");
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    assert_string_equal(r->element[0]->str, "5");
    assert_int_equal(r->element[1]->type, REDIS_REPLY_NIL);
    freeReplyObject(r);
    assert_int_equal(store_gc(s, 1000, &deleted, &cutoff, err, sizeof(err)), JD_OK);
    assert_int_equal(cutoff, T0 + 3 * JD_MS_HOUR);
    assert_int_equal(deleted, 1); /* the minute chunk of T0 */
    store_destroy(s);
}

/*
 * A part that only reports the partition at its log end (from == to) sets
 * `ct` by Redis's clock minus its age and nothing else: not `next`, not the
 * time it last moved (`wt`, which decides idleness); `ct` never goes back;
 * a fenced instance's report writes nothing; store_progress() reads it.
 */
static void test_log_end_report(void **state)
{
    struct fixture *f = *state;
    struct store_claim c, c2;
    struct store_refusal ref[8];
    struct store_progress pr[4];
    size_t nref, n;
    int64_t now;
    char err[JD_ERRSTR_SIZE];
    struct store *s = new_store(f, "le", JD_MS_HOUR);

    assert_int_equal(store_claim(s, "ev", 1, "a", &c, err, sizeof(err)), JD_OK);
    add(f->agg, "visit", "web", T0, false, 0, "u1");
    assert_int_equal(flush(f, s, 1, "a", c.epoch, 0, 1, T0, ref, &nref), JD_OK);
    assert_int_equal(store_progress(s, "ev", pr, 4, &n, &now, err, sizeof(err)), JD_OK);
    assert_int_equal(n, 1);
    assert_false(pr[0].has_ct);
    assert_true(pr[0].has_wt);
    int64_t wt = pr[0].wt;
    usleep(5000); /* let Redis's clock move on */

    struct store_part part = { 1, c.epoch, 1, 1, T0, INT64_MIN, true, 2 };
    assert_true(agg_seal(f->agg));
    struct store_flush fl = { "ev", "a", &part, 1, NULL, 0, f->agg, NULL, 0,
                              NULL, 0,   NULL,  0, NULL, 0, NULL,   0 };
    assert_int_equal(store_flush(s, &fl, ref, 8, &nref, err, sizeof(err)), JD_OK);
    assert_int_equal(store_progress(s, "ev", pr, 4, &n, &now, err, sizeof(err)), JD_OK);
    assert_true(pr[0].has_ct);
    assert_true(pr[0].ct <= now - 2 && pr[0].ct > wt);
    assert_int_equal(pr[0].wt, wt);
    assert_int_equal(pr[0].st, T0);
    int64_t ct = pr[0].ct;
    redisReply *r = raw(f, "HGET {le}:p:ev:1 next");
    assert_string_equal(r->str, "1");
    freeReplyObject(r);

    /* an older report does not move it back */
    part.caught_up_age_ms = 3600000;
    assert_int_equal(store_flush(s, &fl, ref, 8, &nref, err, sizeof(err)), JD_OK);
    assert_int_equal(store_progress(s, "ev", pr, 4, &n, &now, err, sizeof(err)), JD_OK);
    assert_int_equal(pr[0].ct, ct);

    /* another instance took the partition: the old owner's report is fenced */
    assert_int_equal(store_claim(s, "ev", 1, "b", &c2, err, sizeof(err)), JD_OK);
    usleep(5000);
    part.caught_up_age_ms = 0;
    assert_int_equal(store_flush(s, &fl, ref, 8, &nref, err, sizeof(err)), JD_ERR_FENCED);
    assert_int_equal(store_progress(s, "ev", pr, 4, &n, &now, err, sizeof(err)), JD_OK);
    assert_int_equal(pr[0].ct, ct);
    agg_reset(f->agg);
    store_destroy(s);
}

/*
 * Redis checks a key's type only when a command runs, so a key the flush
 * cannot write must be caught before the first write: the whole batch is
 * refused, nothing at all changes, the connection stays up, and the batch
 * goes through once the key is fixed.
 */
static void test_unwritable_key_refused(void **state)
{
    struct fixture *f = *state;
    struct store_claim c;
    struct store_refusal ref[8];
    size_t nref;
    char err[JD_ERRSTR_SIZE], key[STORE_KEY_MAX], v[64];
    struct store *s = new_store(f, "bad", 3 * JD_MS_DAY);
    struct store_part part;
    struct store_stat stat = { "ok:lead", 7, 1 };

    assert_int_equal(store_claim(s, "ev", 1, "a", &c, err, sizeof(err)), JD_OK);
    add(f->agg, "lead", "web", T0, false, 0, "u1");
    assert_int_equal(flush(f, s, 1, "a", c.epoch, 0, 1, T0, ref, &nref), JD_OK);
    first_key(f, "{bad}:c:lead:*:h*", key, sizeof(key));
    long long hour_len = raw_int(f, "STRLEN %s", key);
    first_key(f, "{bad}:c:lead:*:m*", key, sizeof(key));
    freeReplyObject(raw(f, "DEL %s", key));
    freeReplyObject(raw(f, "HSET %s x y", key)); /* someone's hash where a chunk goes */

    add(f->agg, "lead", "web", T0 + 1000, false, 0, "u2");
    part = (struct store_part){ 1, c.epoch, 1, 2, T0 + 1000, T0 + 1000, false, 0 };
    assert_true(agg_seal(f->agg));
    struct store_flush fl = { "ev", "a", &part, 1, NULL, 0, f->agg, &stat, 1,
                              NULL, 0,   NULL,  0, NULL, 0, NULL,   0 };
    assert_int_equal(store_flush(s, &fl, ref, 8, &nref, err, sizeof(err)), JD_ERR_CORRUPT);
    assert_non_null(strstr(err, key));
    assert_true(store_is_connected(s));
    redisReply *r = raw(f, "HGET {bad}:p:ev:1 next");
    assert_string_equal(r->str, "1");
    freeReplyObject(r);
    first_key(f, "{bad}:c:lead:*:h*", v, sizeof(v));
    assert_int_equal(raw_int(f, "STRLEN %s", v), hour_len);
    assert_int_equal(raw_int(f, "EXISTS %s", "{bad}:stats"), 0);
    /* a fenced writer hears "fenced" first, whatever else is wrong */
    struct store_claim other;
    assert_int_equal(store_claim(s, "ev", 1, "b", &other, err, sizeof(err)), JD_OK);
    assert_int_equal(store_flush(s, &fl, ref, 8, &nref, err, sizeof(err)), JD_ERR_FENCED);
    assert_int_equal(store_claim(s, "ev", 1, "a", &c, err, sizeof(err)), JD_OK);
    part.epoch = c.epoch;

    /* a counter HINCRBY would reject (or overflow) is caught the same way */
    freeReplyObject(raw(f, "DEL %s", key));
    static const char *const counters[] = { "x", "007", "-0", "1.5", "9223372036854775807" };
    for (size_t k = 0; k < JD_ARRAY_SIZE(counters); k++) {
        freeReplyObject(raw(f, "HSET {bad}:stats ok:lead %s", counters[k]));
        assert_int_equal(store_flush(s, &fl, ref, 8, &nref, err, sizeof(err)), JD_ERR_CORRUPT);
        assert_non_null(strstr(err, "ok:lead"));
        assert_int_equal(raw_int(f, "EXISTS %s", key), 0);
    }

    /* fixed: the same batch applies */
    freeReplyObject(raw(f, "DEL {bad}:stats"));
    assert_int_equal(store_flush(s, &fl, ref, 8, &nref, err, sizeof(err)), JD_OK);
    agg_reset(f->agg);
    query1(s, "count(lead[1h])", T0 + JD_MS_HOUR, v, sizeof(v));
    assert_string_equal(v, "2");
    store_destroy(s);
}

/*
 * A chunk that grows past another 256 KiB is queued for compaction at once,
 * not after 16 appends; one that stays large is not queued on every flush.
 */
static void test_big_chunk_queued(void **state)
{
    struct fixture *f = *state;
    struct store_claim c;
    struct store_refusal ref[8];
    size_t nref;
    char err[JD_ERRSTR_SIZE], key[STORE_KEY_MAX];
    struct store *s = new_store(f, "big", 3 * JD_MS_DAY);
    static char filler[256 * 1024];

    assert_int_equal(store_claim(s, "ev", 1, "a", &c, err, sizeof(err)), JD_OK);
    add(f->agg, "lead", "web", T0, false, 0, "u1");
    assert_int_equal(flush(f, s, 1, "a", c.epoch, 0, 1, T0, ref, &nref), JD_OK);
    assert_int_equal(store_compact_pending(s), 0);
    first_key(f, "{big}:c:lead:*:d*", key, sizeof(key));
    /* one byte short of 256 KiB: the next record crosses */
    size_t fill = 256 * 1024 - 1 - (size_t)raw_int(f, "STRLEN %s", key);
    freeReplyObject(raw(f, "APPEND %s %b", key, filler, fill));
    add(f->agg, "lead", "web", T0 + 1000, false, 0, "u2");
    assert_int_equal(flush(f, s, 1, "a", c.epoch, 1, 2, T0 + 1000, ref, &nref), JD_OK);
    assert_int_equal(store_compact_pending(s), 1);
    add(f->agg, "lead", "web", T0 + 2000, false, 0, "u3");
    assert_int_equal(flush(f, s, 1, "a", c.epoch, 2, 3, T0 + 2000, ref, &nref), JD_OK);
    assert_int_equal(store_compact_pending(s), 1);
    store_destroy(s);
}

/* Thousands of counters in one batch (one per event type) fit the script's limits. */
static void test_many_counters(void **state)
{
    struct fixture *f = *state;
    struct store_claim c;
    struct store_refusal ref[8];
    size_t nref;
    char err[JD_ERRSTR_SIZE];
    enum { N = 9000 };
    struct store *s = new_store(f, "many", 3 * JD_MS_DAY);
    static struct store_stat stats[N];
    static char names[N][16];

    for (int i = 0; i < N; i++) {
        int n = snprintf(names[i], sizeof(names[i]), "ok:t%d", i);
        stats[i] = (struct store_stat){ names[i], (size_t)n, i + 1 };
    }
    assert_int_equal(store_claim(s, "ev", 1, "a", &c, err, sizeof(err)), JD_OK);
    add(f->agg, "lead", "web", T0, false, 0, "u1");
    assert_true(agg_seal(f->agg));
    struct store_part part = { 1, c.epoch, 0, 1, T0, T0, false, 0 };
    struct store_flush fl = { "ev", "a", &part, 1, NULL, 0, f->agg, stats, N,
                              NULL, 0,   NULL,  0, NULL, 0, NULL,   0 };
    for (int round = 0; round < 2; round++) { /* the second run reads N existing counters */
        part.from = round;
        part.to = round + 1;
        if (store_flush(s, &fl, ref, 8, &nref, err, sizeof(err)) != JD_OK)
            fail_msg("flush: %s", err);
    }
    agg_reset(f->agg);
    int64_t v;
    assert_int_equal(store_stat_get(s, "ok:t8999", &v, err, sizeof(err)), JD_OK);
    assert_int_equal(v, 2 * 9000);
    store_destroy(s);
}

/* Whole values, sorted-set members and extra appends go with the batch, atomically:
 * applied with it, and not at all when a key cannot take its write. */
static void test_puts_and_index(void **state)
{
    struct fixture *f = *state;
    struct store_claim c;
    struct store_refusal ref[8];
    size_t nref;
    char err[JD_ERRSTR_SIZE];
    struct store *s = new_store(f, "jp", 3 * JD_MS_DAY);
    assert_int_equal(store_claim(s, "ev", 1, "a", &c, err, sizeof(err)), JD_OK);
    freeReplyObject(raw(f, "SET {jp}:j:gone old"));
    struct store_put puts[] = {
        { JD_STR_LIT("{jp}:j:u1"), { "\x93\x01\x90\x90", 4 }, false },
        { JD_STR_LIT("{jp}:j:gone"), JD_STR_NULL, true },
    };
    struct store_zput zputs[] = {
        { JD_STR_LIT("{jp}:jx:1"), JD_STR_LIT("u1"), T0 + 5, false },
        { JD_STR_LIT("{jp}:jx:1"), JD_STR_LIT("gone"), 0, true },
    };
    struct store_append app[] = { { JD_STR_LIT("{jp}:ps:1"), JD_STR_LIT("rec1"), T0 + 9 } };
    freeReplyObject(raw(f, "ZADD {jp}:jx:1 1 gone"));
    add(f->agg, "lead", "web", T0, false, 0, "u1");
    assert_true(agg_seal(f->agg));
    struct store_part part = { 1, c.epoch, 0, 1, T0, T0, false, 0 };
    /* touch records appended unread: to an existing journey and to a new key */
    freeReplyObject(raw(f, "SET {jp}:j:u3 ab"));
    struct store_put japps[] = { { JD_STR_LIT("{jp}:j:u3"), JD_STR_LIT("cd"), false },
                                 { JD_STR_LIT("{jp}:j:u4"), JD_STR_LIT("ef"), false } };
    struct store_flush fl = { "ev", "a", &part, 1, NULL, 0, f->agg, NULL, 0,
                              puts, 2,   zputs, 2, app,  1, japps,  2 };
    assert_int_equal(store_flush(s, &fl, ref, 8, &nref, err, sizeof(err)), JD_OK);
    redisReply *r = raw(f, "GET {jp}:j:u1");
    assert_int_equal(r->len, 4);
    assert_memory_equal(r->str, "\x93\x01\x90\x90", 4);
    freeReplyObject(r);
    r = raw(f, "GET {jp}:j:u3");
    assert_string_equal(r->str, "abcd");
    freeReplyObject(r);
    r = raw(f, "GET {jp}:j:u4");
    assert_string_equal(r->str, "ef");
    freeReplyObject(r);
    assert_int_equal(raw_int(f, "EXISTS %s", "{jp}:j:gone"), 0);
    assert_int_equal(raw_int(f, "ZCARD %s", "{jp}:jx:1"), 1);
    r = raw(f, "ZSCORE {jp}:jx:1 u1");
    assert_int_equal(strtoll(r->str, NULL, 10), T0 + 5);
    freeReplyObject(r);
    assert_int_equal(raw_int(f, "STRLEN %s", "{jp}:ps:1"), 4);
    r = raw(f, "ZSCORE {jp}:gc {jp}:ps:1");
    assert_non_null(r->str);
    assert_int_equal(strtoll(r->str, NULL, 10), T0 + 9);
    freeReplyObject(r);
    agg_reset(f->agg);

    /* the index key is someone's list: the whole batch is refused, nothing written */
    freeReplyObject(raw(f, "RPUSH {jp}:jx:1x a"));
    struct store_zput bad = { JD_STR_LIT("{jp}:jx:1x"), JD_STR_LIT("u2"), 1, false };
    struct store_put put2 = { JD_STR_LIT("{jp}:j:u2"), JD_STR_LIT("v"), false };
    add(f->agg, "lead", "web", T0 + 1, false, 0, "u2");
    assert_true(agg_seal(f->agg));
    part = (struct store_part){ 1, c.epoch, 1, 2, T0 + 1, T0 + 1, false, 0 };
    fl = (struct store_flush){ "ev",  "a", &part, 1, NULL, 0, f->agg, NULL, 0,
                               &put2, 1,   &bad,  1, NULL, 0, NULL,   0 };
    assert_int_equal(store_flush(s, &fl, ref, 8, &nref, err, sizeof(err)), JD_ERR_CORRUPT);
    assert_non_null(strstr(err, "{jp}:jx:1x"));
    assert_int_equal(raw_int(f, "EXISTS %s", "{jp}:j:u2"), 0);
    /* so is a journey appended unread whose key holds a hash: the records appended before
     * it (to an existing key and to a new one) are cut back, nothing else is written */
    agg_reset(f->agg);
    freeReplyObject(raw(f, "HSET {jp}:j:u5 a b"));
    struct store_put bad_apps[] = { { JD_STR_LIT("{jp}:j:u3"), JD_STR_LIT("xy"), false },
                                    { JD_STR_LIT("{jp}:j:u6"), JD_STR_LIT("zz"), false },
                                    { JD_STR_LIT("{jp}:j:u5"), JD_STR_LIT("gh"), false } };
    add(f->agg, "lead", "web", T0 + 1, false, 0, "u2");
    assert_true(agg_seal(f->agg));
    fl = (struct store_flush){ "ev",  "a", &part, 1, NULL, 0, f->agg,   NULL, 0,
                               &put2, 1,   NULL,  0, NULL, 0, bad_apps, 3 };
    assert_int_equal(store_flush(s, &fl, ref, 8, &nref, err, sizeof(err)), JD_ERR_CORRUPT);
    assert_non_null(strstr(err, "{jp}:j:u5: holds a hash"));
    assert_int_equal(raw_int(f, "EXISTS %s", "{jp}:j:u2"), 0);
    assert_int_equal(raw_int(f, "EXISTS %s", "{jp}:j:u6"), 0);
    r = raw(f, "GET {jp}:j:u3");
    assert_string_equal(r->str, "abcd");
    freeReplyObject(r);
    /* (a value whose key holds a hash is refused by the batch's read: test_expiry.c) */
    r = raw(f, "HGET {jp}:p:ev:1 next");
    assert_string_equal(r->str, "1");
    freeReplyObject(r);
    agg_reset(f->agg);
    store_destroy(s);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN); /* a killed Redis must be an error reply, not a dead test */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_claim_epochs),
        cmocka_unit_test(test_flush_continuity_and_values),
        cmocka_unit_test(test_fencing_writes_nothing),
        cmocka_unit_test(test_many_groups_and_types),
        cmocka_unit_test(test_exact_large_sums),
        cmocka_unit_test(test_last_ties),
        cmocka_unit_test(test_seen_slices),
        cmocka_unit_test(test_gc_by_event_time),
        cmocka_unit_test(test_gc_drops_series_without_data),
        cmocka_unit_test(test_redis_restart),
        cmocka_unit_test(test_pin_start_offset),
        cmocka_unit_test(test_unknown_stream_time),
        cmocka_unit_test(test_log_end_report),
        cmocka_unit_test(test_unwritable_key_refused),
        cmocka_unit_test(test_big_chunk_queued),
        cmocka_unit_test(test_many_counters),
        cmocka_unit_test(test_puts_and_index),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
