/*
 * test_journeys.c — touches appended to journeys unread (attribute/jcache.h),
 * against a real redis-server.
 *
 * - Differential: a random stream of touches and conversions (40 users, one
 *   partition, lookback 1 h, max_touches 4: times out of order and tied,
 *   journeys capped, due and expired mid-stream) gives the same credits
 *   (every heuristic model, per channel), conversions, null paths and
 *   expiries in one batch, where every journey is read whole, as in batches
 *   of 1, 3, 17 and 60 events, where most touches are appended unread, and
 *   as the loop runs them: each batch prepared while the previous one's
 *   flush is in flight.
 * - The stored form: records follow a whole journey until a conversion reads
 *   it, replays them and writes it back whole.
 * - What is known is forgotten when it may be wrong: a journey changed
 *   behind journeyd's back is read again after the partition is re-claimed,
 *   and a batch prepared on one whose flush is refused goes with it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "attribute/attr.h"
#include "core/config.h"
#include "core/ts.h"
#include "evaluate/expr.h"
#include "evaluate/query.h"
#include "pipeline.h"
#include "redis_spawn.h"
#include "store/store.h"

#include <hiredis/hiredis.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define T0     INT64_C(1795478400000) /* 2026-11-24T00:00:00Z */
#define NEV    900
#define NUSERS 40

static const char *const channels[] = { "douyin", "wechat", "sem_baidu", "live", "direct" };
static const char *const models[] = { "first_touch", "last_touch",     "last_non_direct",
                                      "linear",      "position_based", "time_decay" };

struct fixture {
    struct redis_spawn redis;
    char *ev[NEV];
    int prefix_seq;
};

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* 4 h of events: some late by up to 20 min, some tied, users idle past the lookback. */
static void generate(struct fixture *f)
{
    for (int i = 0; i < NEV; i++) {
        int64_t ts = T0 + (int64_t)i * 16000;
        if (rng() % 8 == 0)
            ts -= (int64_t)(rng() % 1200000);
        else if (rng() % 10 == 0)
            ts = T0 + (int64_t)(i - 1) * 16000; /* a tie with the previous event's time */
        char iso[TS_RFC3339_SIZE];
        ts_format_rfc3339(ts, iso, sizeof(iso));
        /* a third of the users idle from minute 10 to 90: each comes back due, before the
         * read of its due bucket (1 h wide) could expire it; then all users stay active to
         * the end, so that none is left due */
        unsigned user = (unsigned)(rng() % NUSERS);
        if (i >= 600 / 16 && i < 5400 / 16)
            user = (unsigned)(rng() % (2 * NUSERS / 3));
        else if (i >= 5400 / 16 && i < 5400 / 16 + NUSERS)
            user = (unsigned)(i - 5400 / 16);
        bool conv = rng() % 100 < 15;
        char buf[256];
        if (conv)
            snprintf(buf, sizeof(buf),
                     "{\"event_id\":\"e%d\",\"type\":\"conversion\",\"ts\":\"%s\","
                     "\"user_id\":\"u%u\",\"value\":%d}",
                     i, iso, user, 1 + (int)(rng() % 90));
        else
            snprintf(buf, sizeof(buf),
                     "{\"event_id\":\"e%d\",\"type\":\"touch\",\"ts\":\"%s\",\"user_id\":\"u%u\","
                     "\"channel\":\"%s\",\"campaign\":\"c%d\"}",
                     i, iso, user, channels[rng() % JD_ARRAY_SIZE(channels)], (int)(rng() % 3));
        f->ev[i] = strdup(buf);
        assert_non_null(f->ev[i]);
    }
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (!f || redis_spawn_start(&f->redis) != 0)
        return -1;
    generate(f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    for (int i = 0; i < NEV; i++)
        free(f->ev[i]);
    redis_spawn_stop(&f->redis);
    free(f);
    return 0;
}

struct inst {
    struct config *cfg;
    struct store *store;
    struct pipeline *pipe;
    char prefix[16];
};

static void inst_open(struct inst *in, struct fixture *f)
{
    char err[JD_ERRSTR_SIZE];
    static const char *const kv[] = { "attribution.lookback",
                                      "1h",
                                      "attribution.max_touches",
                                      "4",
                                      "attribution.journey_mode",
                                      "reset",
                                      "attribution.recompute_every",
                                      "1s",
                                      NULL };
    snprintf(in->prefix, sizeof(in->prefix), "j%d", f->prefix_seq++);
    in->cfg = config_new();
    assert_non_null(in->cfg);
    for (size_t i = 0; kv[i]; i += 2)
        assert_int_equal(config_set(in->cfg, kv[i], kv[i + 1], err, sizeof(err)), JD_OK);
    assert_int_equal(config_set(in->cfg, "redis.url", f->redis.url, err, sizeof(err)), JD_OK);
    assert_int_equal(config_set(in->cfg, "redis.prefix", in->prefix, err, sizeof(err)), JD_OK);
    assert_non_null(in->store = redis_spawn_store(&f->redis, in->prefix, 3 * JD_MS_DAY));
    in->pipe = pipeline_new(in->cfg, in->store, "solo", err, sizeof(err));
    assert_non_null(in->pipe);
    int64_t off;
    pipeline_assign(in->pipe, 0);
    assert_int_equal(pipeline_claim(in->pipe, 0, &off, err, sizeof(err)), JD_OK);
}

static void inst_close(struct inst *in)
{
    pipeline_destroy(in->pipe);
    store_destroy(in->store);
    config_destroy(in->cfg);
}

/*
 * Events [from, to) of \p ev as offsets \p at.., a commit every \p batch
 * events. \p overlap: as the loop does it, each batch prepared while the
 * previous one's flush is in flight (pipeline_prepare()), that one's outcome
 * read, then this one sent; and once, half way, a pause long enough for the
 * data-driven weights to be learnt between the prepare and the send.
 */
static void feed_batches(struct inst *in, const char *const *ev, size_t from, size_t to, int64_t at,
                         size_t batch, bool overlap)
{
    char err[JD_ERRSTR_SIZE], detail[256];
    enum jd_err reason;
    bool paused = false;
    pipeline_begin(in->pipe);
    for (size_t i = from; i < to; i++) {
        struct pipeline_msg pm = { 0, at + (int64_t)(i - from), ev[i], strlen(ev[i]), NULL, 0 };
        assert_int_equal(pipeline_add(in->pipe, &pm, INT64_MAX, &reason, detail, sizeof(detail)),
                         PIPELINE_OK);
        if ((i + 1 - from) % batch != 0 && i + 1 != to)
            continue;
        if (!overlap) {
            if (pipeline_commit(in->pipe, err, sizeof(err)) != JD_OK)
                fail_msg("commit: %s", err);
        } else {
            pipeline_prepare(in->pipe);
            if (!paused && i - from >= (to - from) / 2) {
                paused = true;
                usleep(1100 * 1000); /* attribution.recompute_every is 1 s */
            }
            if (pipeline_recv(in->pipe, err, sizeof(err)) != JD_OK ||
                pipeline_send(in->pipe, err, sizeof(err)) != JD_OK)
                fail_msg("overlapped commit: %s", err);
        }
        pipeline_begin(in->pipe);
    }
    if (pipeline_recv(in->pipe, err, sizeof(err)) != JD_OK)
        fail_msg("last commit: %s", err);
}

/* Events [from, to) of \p ev at offsets from.., a commit every \p batch events. */
static void feed(struct inst *in, const char *const *ev, size_t from, size_t to, size_t batch)
{
    feed_batches(in, ev, from, to, (int64_t)from, batch, false);
}

/* Events [from, to) of \p ev, one batch, at offset \p at of the partition. */
static void feed_at(struct inst *in, const char *const *ev, size_t from, size_t to, int64_t at)
{
    feed_batches(in, ev, from, to, at, to - from, false);
}

/* A query's first value, in micros (credits are fractions). */
static int64_t q_micros(struct store *s, const char *text)
{
    char err[JD_ERRSTR_SIZE], v[64];
    struct query_result r;
    struct expr_node *e = expr_parse(text, err, sizeof(err));
    if (!e)
        fail_msg("%s: %s", text, err);
    if (query_eval(s, NULL, e, T0 + 24 * JD_MS_HOUR, &r, err, sizeof(err)) != JD_OK)
        fail_msg("%s: %s", text, err);
    int64_t out = 0;
    if (r.n) {
        query_format_value(&r.v[0], v, sizeof(v));
        out = (int64_t)llround(strtod(v, NULL) * 1e6);
    }
    query_result_free(&r);
    expr_free(e);
    return out;
}

struct outcome {
    int64_t credit[JD_ARRAY_SIZE(models)][JD_ARRAY_SIZE(channels) + 1][2];
    struct attr_counters c;
};

static void outcome_of(struct inst *in, struct outcome *o)
{
    for (size_t m = 0; m < JD_ARRAY_SIZE(models); m++)
        for (size_t ch = 0; ch <= JD_ARRAY_SIZE(channels); ch++)
            for (int field = 0; field < 2; field++) {
                char q[200];
                snprintf(q, sizeof(q), "sum(credit{model=\"%s\",channel=\"%s\"}.%s[2d])", models[m],
                         ch < JD_ARRAY_SIZE(channels) ? channels[ch] : "(none)",
                         field ? "value" : "conversions");
                o->credit[m][ch][field] = q_micros(in->store, q);
            }
    o->c = *pipeline_attr_counters(in->pipe);
}

static void test_appending_decides_like_reading(void **state)
{
    struct fixture *f = *state;
    struct outcome whole, cut;
    struct inst in;
    inst_open(&in, f);
    feed(&in, (const char *const *)f->ev, 0, NEV, NEV);
    outcome_of(&in, &whole);
    inst_close(&in);
    assert_int_equal(whole.c.appended, 0); /* one batch: every journey is read */
    assert_true(whole.c.conversions > 50);
    assert_true(whole.c.expired > 0 && whole.c.none > 0);

    /* the last two: batches prepared while the previous flush is in flight, as in the loop */
    static const size_t sizes[] = { 1, 3, 17, 60, 7, 60 };
    for (size_t k = 0; k < JD_ARRAY_SIZE(sizes); k++) {
        inst_open(&in, f);
        feed_batches(&in, (const char *const *)f->ev, 0, NEV, 0, sizes[k], k >= 4);
        outcome_of(&in, &cut);
        inst_close(&in);
        if (cut.c.appended < cut.c.touches / 3)
            fail_msg("batches of %zu: only %llu of %llu touches appended unread", sizes[k],
                     (unsigned long long)cut.c.appended, (unsigned long long)cut.c.touches);
        for (size_t m = 0; m < JD_ARRAY_SIZE(models); m++)
            for (size_t ch = 0; ch <= JD_ARRAY_SIZE(channels); ch++)
                for (int field = 0; field < 2; field++)
                    if (cut.credit[m][ch][field] != whole.credit[m][ch][field])
                        fail_msg("batches of %zu: %s %s %s = %lld micros, one batch %lld", sizes[k],
                                 models[m], ch < JD_ARRAY_SIZE(channels) ? channels[ch] : "(none)",
                                 field ? "value" : "conversions",
                                 (long long)cut.credit[m][ch][field],
                                 (long long)whole.credit[m][ch][field]);
        if (cut.c.conversions != whole.c.conversions || cut.c.none != whole.c.none ||
            cut.c.touches != whole.c.touches || cut.c.expired != whole.c.expired ||
            cut.c.null_paths != whole.c.null_paths || cut.c.corrupt != 0)
            fail_msg("batches of %zu: conversions %llu/%llu none %llu/%llu touches %llu/%llu "
                     "expired %llu/%llu null paths %llu/%llu damaged %llu",
                     sizes[k], (unsigned long long)cut.c.conversions,
                     (unsigned long long)whole.c.conversions, (unsigned long long)cut.c.none,
                     (unsigned long long)whole.c.none, (unsigned long long)cut.c.touches,
                     (unsigned long long)whole.c.touches, (unsigned long long)cut.c.expired,
                     (unsigned long long)whole.c.expired, (unsigned long long)cut.c.null_paths,
                     (unsigned long long)whole.c.null_paths, (unsigned long long)cut.c.corrupt);
    }
}

/* The stored value of user \p user's journey (partition 0); the caller frees it. */
static redisReply *journey_value(struct fixture *f, struct inst *in, const char *user)
{
    char fp[33], key[STORE_KEY_MAX];
    store_user_fp(jd_str_c(user), fp, NULL, NULL);
    store_key_journey(in->store, key, sizeof(key), in->cfg->kafka.topics.events, 0, fp);
    redisContext *c = redis_spawn_connect(&f->redis);
    assert_non_null(c);
    redisReply *r = redisCommand(c, "GET %s", key);
    assert_non_null(r);
    redisFree(c);
    return r;
}

static void raw(struct fixture *f, const char *cmd, const char *a1, const char *a2)
{
    redisContext *c = redis_spawn_connect(&f->redis);
    assert_non_null(c);
    redisReply *r = redisCommand(c, cmd, a1, a2);
    assert_non_null(r);
    freeReplyObject(r);
    redisFree(c);
}

static const char *const story[] = {
    "{\"event_id\":\"s1\",\"type\":\"touch\",\"ts\":\"2026-11-24T00:00:00Z\","
    "\"user_id\":\"v\",\"channel\":\"live\"}",
    "{\"event_id\":\"s2\",\"type\":\"touch\",\"ts\":\"2026-11-24T00:01:00Z\","
    "\"user_id\":\"v\",\"channel\":\"wechat\"}",
    "{\"event_id\":\"s3\",\"type\":\"touch\",\"ts\":\"2026-11-24T00:02:00Z\","
    "\"user_id\":\"v\",\"channel\":\"douyin\"}",
    "{\"event_id\":\"s4\",\"type\":\"conversion\",\"ts\":\"2026-11-24T00:03:00Z\","
    "\"user_id\":\"v\",\"value\":30}",
};

/* Records (tag 2: 0x94 0x02) follow the whole journey (0x93 0x01) until a conversion. */
static void test_records_then_whole(void **state)
{
    struct fixture *f = *state;
    struct inst in;
    inst_open(&in, f);
    feed(&in, story, 0, 1, 1); /* unknown journey: read (nothing) and written whole */
    redisReply *r = journey_value(f, &in, "v");
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    assert_memory_equal(r->str, "\x93\x01", 2);
    size_t whole = r->len;
    freeReplyObject(r);
    feed(&in, story, 1, 3, 1); /* two touches appended unread */
    assert_int_equal(pipeline_attr_counters(in.pipe)->appended, 2);
    r = journey_value(f, &in, "v");
    assert_true(r->len > whole);
    assert_memory_equal(r->str + whole, "\x94\x02", 2);
    freeReplyObject(r);
    feed(&in, story, 3, 4, 1); /* the conversion reads, replays and writes it whole */
    r = journey_value(f, &in, "v");
    assert_memory_equal(r->str, "\x93\x01", 2);
    assert_null(memmem(r->str, r->len, "\x94\x02", 2));
    freeReplyObject(r);
    /* linear over the three touches, so the appended ones earned their thirds */
    assert_int_equal(q_micros(in.store, "sum(credit{model=\"linear\",channel=\"wechat\"}"
                                        ".conversions[2d])"),
                     333333);

    /* 100 touches one batch each: a read writes the journey whole before its records pass 32 */
    char *ev[100];
    for (int i = 0; i < 100; i++) {
        char iso[TS_RFC3339_SIZE], buf[200];
        ts_format_rfc3339(T0 + 600000 + i * 1000, iso, sizeof(iso));
        snprintf(buf, sizeof(buf),
                 "{\"event_id\":\"w%d\",\"type\":\"touch\",\"ts\":\"%s\",\"user_id\":\"w\","
                 "\"channel\":\"live\"}",
                 i, iso);
        assert_non_null(ev[i] = strdup(buf));
    }
    size_t most = 0;
    for (size_t i = 0; i < 100; i++) {
        feed_at(&in, (const char *const *)ev, i, i + 1, 4 + i);
        r = journey_value(f, &in, "w");
        size_t nrec = 0;
        for (const char *p = r->str; (p = memmem(p, r->len - (size_t)(p - r->str), "\x94\x02", 2));
             p += 2)
            nrec++;
        most = nrec > most ? nrec : most;
        freeReplyObject(r);
    }
    assert_int_equal(most, 32);
    for (int i = 0; i < 100; i++)
        free(ev[i]);
    inst_close(&in);
}

/*
 * A journey deleted behind journeyd's back: appending to it again would be
 * trusting a stale entry; re-claiming the partition forgets the entry, so
 * the next touch reads (and finds nothing), like a failed flush would make it.
 */
static void test_forgets_on_claim(void **state)
{
    struct fixture *f = *state;
    struct inst in;
    char err[JD_ERRSTR_SIZE], fp[33], key[STORE_KEY_MAX];
    int64_t off;
    inst_open(&in, f);
    feed(&in, story, 0, 2, 1);
    assert_int_equal(pipeline_attr_counters(in.pipe)->appended, 1);
    store_user_fp(jd_str_c("v"), fp, NULL, NULL);
    store_key_journey(in.store, key, sizeof(key), in.cfg->kafka.topics.events, 0, fp);
    raw(f, "DEL %s", key, NULL);
    pipeline_unclaim(in.pipe, 0);
    assert_int_equal(pipeline_claim(in.pipe, 0, &off, err, sizeof(err)), JD_OK);
    assert_int_equal(off, 2);
    feed(&in, story, 2, 3, 1);
    assert_int_equal(pipeline_attr_counters(in.pipe)->appended, 1); /* read, not appended */
    redisReply *r = journey_value(f, &in, "v");
    assert_memory_equal(r->str, "\x93\x01", 2);
    freeReplyObject(r);
    inst_close(&in);
}

/*
 * A batch prepared on one whose flush is then refused: another instance
 * claims the partition, batch A is sent, batch B is prepared counting on A's
 * journeys. A is refused (fenced), B goes with it, and once the partition
 * is taken back and re-read from Redis's offset every credit is what one
 * batch of everything gives.
 */
static void test_prepared_on_a_refused_batch(void **state)
{
    struct fixture *f = *state;
    struct outcome whole, cut;
    struct inst in;
    char err[JD_ERRSTR_SIZE], detail[256];
    enum jd_err reason;
    int64_t off;
    const char *const *ev = (const char *const *)f->ev;

    inst_open(&in, f);
    feed(&in, ev, 0, NEV, NEV);
    outcome_of(&in, &whole);
    inst_close(&in);

    inst_open(&in, f);
    feed(&in, ev, 0, 300, 17);
    /* another instance claims the partition: A = [300, 330) is sent and will be refused,
     * B = [330, 360) is prepared meanwhile, counting on A's journeys */
    struct store *other = redis_spawn_store(&f->redis, in.prefix, 3 * JD_MS_DAY);
    struct store_claim c;
    assert_non_null(other);
    assert_int_equal(
        store_claim(other, in.cfg->kafka.topics.events, 0, "other", &c, err, sizeof(err)), JD_OK);
    store_destroy(other);
    for (int b = 0; b < 2; b++) {
        pipeline_begin(in.pipe);
        for (size_t i = 300 + 30 * (size_t)b; i < 330 + 30 * (size_t)b; i++) {
            struct pipeline_msg pm = { 0, (int64_t)i, ev[i], strlen(ev[i]), NULL, 0 };
            assert_int_equal(pipeline_add(in.pipe, &pm, INT64_MAX, &reason, detail, sizeof(detail)),
                             PIPELINE_OK);
        }
        pipeline_prepare(in.pipe);
        if (!b)
            assert_int_equal(pipeline_send(in.pipe, err, sizeof(err)), JD_OK);
    }
    assert_int_equal(pipeline_recv(in.pipe, err, sizeof(err)), JD_ERR_FENCED);
    assert_false(pipeline_pending(in.pipe)); /* B went with A */
    assert_int_equal(pipeline_part_state(in.pipe, 0), PIPELINE_FENCED);
    assert_int_equal(pipeline_claim(in.pipe, 0, &off, err, sizeof(err)), JD_OK);
    assert_int_equal(off, 300);
    feed_batches(&in, ev, 300, NEV, 300, 17, true);
    outcome_of(&in, &cut);
    inst_close(&in);
    for (size_t m = 0; m < JD_ARRAY_SIZE(models); m++)
        for (size_t ch = 0; ch <= JD_ARRAY_SIZE(channels); ch++)
            for (int field = 0; field < 2; field++)
                if (cut.credit[m][ch][field] != whole.credit[m][ch][field])
                    fail_msg("%s %s %s = %lld micros, one batch %lld", models[m],
                             ch < JD_ARRAY_SIZE(channels) ? channels[ch] : "(none)",
                             field ? "value" : "conversions", (long long)cut.credit[m][ch][field],
                             (long long)whole.credit[m][ch][field]);
    assert_int_equal(cut.c.null_paths, whole.c.null_paths); /* counted once applied */
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_appending_decides_like_reading),
        cmocka_unit_test(test_records_then_whole),
        cmocka_unit_test(test_forgets_on_claim),
        cmocka_unit_test(test_prepared_on_a_refused_batch),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
