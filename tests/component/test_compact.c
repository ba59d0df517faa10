/*
 * test_compact.c — chunk compaction against a real redis-server.
 *
 * Forty small flushes append to the same minute, hour and day chunks (two
 * series, values beyond int64, a tie on the last event time, 32000 distinct
 * users). store_compact() then replaces every chunk by one record per bucket:
 * the queries (count, sum, min, max, last, distinct, per channel) answer
 * exactly as before, each chunk got shorter and folds to the same stats and
 * registers, large sketches became dense, and later appends still add up.
 * compact.lua, run directly, is a compare-and-set on the chunk's bytes: stale
 * bytes (a batch appended after the read, or a chunk GC removed and a late
 * event re-created at the same length) leave the chunk untouched,
 * the right one replaces it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "aggregate/agg.h"
#include "aggregate/chunk.h"
#include "aggregate/series.h"
#include "aggregate/window.h"
#include "evaluate/expr.h"
#include "evaluate/query.h"
#include "redis_spawn.h"
#include "store/store.h"

#include <hiredis/hiredis.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define T0     INT64_C(1795478400000) /* 2026-11-24T00:00:00Z, a day boundary */
#define NBATCH 40
#define NWEB   800 /* events per batch on channel web, each a new user */
#define NAPP   50  /* events per batch on channel app, 25 users */
#define T_TIE  (T0 + 39 * JD_MS_MINUTE + 59999) /* every batch has an app event here */

struct fixture {
    struct redis_spawn redis;
    redisContext *redis_ctx; /* the test's own connection, to read and write raw chunks */
    struct agg *agg;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (!f || redis_spawn_start(&f->redis) != 0)
        return -1;
    struct timeval tv = { 5, 0 };
    f->redis_ctx = redisConnectUnixWithTimeout(f->redis.sock, tv);
    f->agg = agg_new();
    if (!f->redis_ctx || f->redis_ctx->err || !f->agg)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    agg_destroy(f->agg);
    redisFree(f->redis_ctx);
    redis_spawn_stop(&f->redis);
    free(f);
    return 0;
}

static struct store *new_store(struct fixture *f, const char *prefix)
{
    char err[JD_ERRSTR_SIZE];
    struct store_opts o = { .url = f->redis.url, .prefix = prefix };
    o.connect_timeout_ms = 2000;
    o.command_timeout_ms = 5000;
    o.retention.ms[WINDOW_MINUTE] = 3 * JD_MS_DAY;
    o.retention.ms[WINDOW_HOUR] = 130 * JD_MS_DAY;
    o.retention.ms[WINDOW_DAY] = 800 * JD_MS_DAY;
    struct store *s = store_new(&o, err, sizeof(err));
    assert_non_null(s);
    if (store_connect(s, err, sizeof(err)) != JD_OK)
        fail_msg("connect: %s", err);
    return s;
}

/* ---------------------------------------------------------------- events */

struct ev {
    const char *channel;
    int64_t ts;
    bool has_value;
    int64_t value;
    char user[32];
};

/*
 * Event i of batch b. Every batch touches all 40 minutes, so every chunk
 * gets one record per bucket per batch: web users are all distinct, app has
 * 25 users, one value of 9e12 units per batch (sums beyond int64 micros),
 * some events without a value and a final event at T_TIE whose value only
 * wins the tie when it is the largest.
 */
static void event_at(int b, int i, struct ev *e)
{
    memset(e, 0, sizeof(*e));
    if (i < NWEB) {
        int id = b * NWEB + i;
        e->channel = "web";
        e->ts = T0 + (i % 40) * JD_MS_MINUTE + b * 1000 + i / 40;
        e->has_value = true;
        e->value = (int64_t)(id % 2001 - 1000) * 1000;
        snprintf(e->user, sizeof(e->user), "w-%d", id);
        return;
    }
    i -= NWEB;
    e->channel = "app";
    snprintf(e->user, sizeof(e->user), "a-%d", i % 25);
    if (i == NAPP - 1) {
        e->ts = T_TIE;
        e->has_value = true;
        e->value = (int64_t)(b % 7) * JD_MICROS;
        return;
    }
    e->ts = T0 + (i % 40) * JD_MS_MINUTE + b * 1000 + 500;
    e->has_value = i % 10 != 5;
    e->value = i == 0 ? INT64_C(9000000000000000000) : -(int64_t)i * JD_MICROS;
}

static uint64_t sid_of(const char *channel, char *labels, size_t *n)
{
    struct event ev;
    memset(&ev, 0, sizeof(ev));
    ev.type = jd_str_c("order");
    ev.channel = jd_str_c(channel);
    *n = series_labels_encode(&ev, labels);
    return series_id(ev.type, labels, *n);
}

/* Folds batch b into the agg and flushes it as the next NWEB + NAPP offsets. */
static void flush_batch(struct fixture *f, struct store *s, int32_t partition, int64_t epoch, int b)
{
    char err[JD_ERRSTR_SIZE], labels[256];
    struct store_refusal ref[4];
    size_t nref, n;
    int64_t st = T0;
    for (int i = 0; i < NWEB + NAPP; i++) {
        struct ev e;
        event_at(b, i, &e);
        uint64_t sid = sid_of(e.channel, labels, &n);
        assert_true(agg_add(f->agg, sid, jd_str_c("order"), (struct jd_str){ labels, n }, e.ts,
                            e.has_value, e.value, jd_str_c(e.user)));
        st = JD_MAX(st, e.ts);
    }
    assert_true(agg_seal(f->agg));
    struct store_part part = {
        partition, epoch, (int64_t)b * (NWEB + NAPP), (int64_t)(b + 1) * (NWEB + NAPP), st, st,
        false,     0
    };
    struct store_flush fl = { "ev", "a", &part, 1, NULL, 0, f->agg, NULL, 0,
                              NULL, 0,   NULL,  0, NULL, 0, NULL,   0 };
    enum jd_err e = store_flush(s, &fl, ref, 4, &nref, err, sizeof(err));
    agg_reset(f->agg);
    if (e != JD_OK)
        fail_msg("flush of batch %d: %s", b, err);
}

/* The exact totals of batches [0, nbatch) in [from, to), computed from the events. */
struct totals {
    int64_t count, vcount, min, max, last_ts, last;
    jd_i128 sum;
    int64_t distinct;
};

static void oracle(int nbatch, int64_t from, int64_t to, struct totals *t)
{
    memset(t, 0, sizeof(*t));
    t->min = INT64_MAX;
    t->max = INT64_MIN;
    t->last_ts = INT64_MIN;
    bool app_user[25] = { false };
    for (int b = 0; b < nbatch; b++)
        for (int i = 0; i < NWEB + NAPP; i++) {
            struct ev e;
            event_at(b, i, &e);
            if (e.ts < from || e.ts >= to)
                continue;
            t->count++;
            if (e.user[0] == 'w')
                t->distinct++;
            else if (!app_user[(i - NWEB) % 25]) {
                app_user[(i - NWEB) % 25] = true;
                t->distinct++;
            }
            if (!e.has_value)
                continue;
            t->vcount++;
            t->sum += e.value;
            t->min = JD_MIN(t->min, e.value);
            t->max = JD_MAX(t->max, e.value);
            if (e.ts > t->last_ts || (e.ts == t->last_ts && e.value > t->last)) {
                t->last_ts = e.ts;
                t->last = e.value;
            }
        }
}

/* ---------------------------------------------------------------- queries */

/* Evaluates an expression and prints every sample ("{labels} value; ..."). */
static void query_all(struct store *s, const char *text, int64_t at, char *out, size_t size)
{
    char err[JD_ERRSTR_SIZE], v[64];
    struct query_result r;
    struct expr_node *e = expr_parse(text, err, sizeof(err));
    if (!e)
        fail_msg("%s: %s", text, err);
    if (query_eval(s, NULL, e, at, &r, err, sizeof(err)) != JD_OK)
        fail_msg("%s: %s", text, err);
    size_t n = (size_t)snprintf(out, size, "%zu:", r.n);
    for (size_t i = 0; i < r.n && n < size; i++) {
        n += (size_t)snprintf(out + n, size - n, " {");
        for (size_t k = 0; k < r.v[i].nlabels && n < size; k++)
            n += (size_t)snprintf(out + n, size - n, "%s=%s,", r.v[i].labels[k].name,
                                  r.v[i].labels[k].value);
        query_format_value(&r.v[i], v, sizeof(v));
        if (n < size)
            n += (size_t)snprintf(out + n, size - n, "} %s;", v);
    }
    query_result_free(&r);
    expr_free(e);
}

/* The only sample of an aggregate over all series. */
static struct query_sample query_one(struct store *s, const char *text, int64_t at)
{
    char err[JD_ERRSTR_SIZE];
    struct query_result r;
    struct expr_node *e = expr_parse(text, err, sizeof(err));
    if (!e)
        fail_msg("%s: %s", text, err);
    if (query_eval(s, NULL, e, at, &r, err, sizeof(err)) != JD_OK)
        fail_msg("%s: %s", text, err);
    if (r.n != 1)
        fail_msg("%s: %zu samples", text, r.n);
    struct query_sample q = r.v[0];
    q.labels = NULL;
    q.nlabels = 0;
    query_result_free(&r);
    expr_free(e);
    return q;
}

static void assert_micros(struct store *s, const char *text, int64_t at, jd_i128 want)
{
    struct query_sample q = query_one(s, text, at);
    if (q.micros != want) {
        char a[48], b[48];
        a[jd_i128_format(q.micros, a)] = '\0';
        b[jd_i128_format(want, b)] = '\0';
        fail_msg("%s: %s micros, want %s", text, a, b);
    }
}

/* Checks the queries of one window against the oracle (exact; distinct within 2 %). */
static void check_window(struct store *s, int nbatch, const char *range, int64_t span, int64_t at)
{
    struct totals t;
    char text[128];
    oracle(nbatch, at - span, at, &t);
    assert_true(t.vcount > 0);
    snprintf(text, sizeof(text), "count(order[%s])", range);
    assert_micros(s, text, at, t.count);
    snprintf(text, sizeof(text), "count(order.value[%s])", range);
    assert_micros(s, text, at, t.vcount);
    snprintf(text, sizeof(text), "sum(order.value[%s])", range);
    assert_micros(s, text, at, t.sum);
    snprintf(text, sizeof(text), "min(order.value[%s])", range);
    assert_micros(s, text, at, t.min);
    snprintf(text, sizeof(text), "max(order.value[%s])", range);
    assert_micros(s, text, at, t.max);
    snprintf(text, sizeof(text), "last(order.value[%s])", range);
    assert_micros(s, text, at, t.last);
    snprintf(text, sizeof(text), "distinct(order.user_id[%s])", range);
    struct query_sample q = query_one(s, text, at);
    if (fabs(q.value - (double)t.distinct) > 0.02 * (double)t.distinct)
        fail_msg("%s: %.0f, want %lld within 2 %%", text, q.value, (long long)t.distinct);
}

/* Everything the compaction must not change, as one comparable text per query. */
static const struct {
    const char *expr;
    int64_t at;
} queries[] = {
    { "count(order[1h])", T0 + JD_MS_HOUR },
    { "count(order.value[1h])", T0 + JD_MS_HOUR },
    { "sum(order.value[1h])", T0 + JD_MS_HOUR },
    { "min(order.value[1h])", T0 + JD_MS_HOUR },
    { "max(order.value[1h])", T0 + JD_MS_HOUR },
    { "last(order.value[1h])", T0 + JD_MS_HOUR },
    { "distinct(order.user_id[1h])", T0 + JD_MS_HOUR },
    { "sum by (channel) (order.value[1h])", T0 + JD_MS_HOUR },
    { "last by (channel) (order.value[1h])", T0 + JD_MS_HOUR },
    { "distinct by (channel) (order.user_id[1h])", T0 + JD_MS_HOUR },
    { "count(order[10m])", T0 + 20 * JD_MS_MINUTE },
    { "sum(order.value[10m])", T0 + 20 * JD_MS_MINUTE },
    { "distinct(order.user_id[10m])", T0 + 20 * JD_MS_MINUTE },
    { "last(order.value[7m])", T0 + 33 * JD_MS_MINUTE },
    { "count(order[3h])", T0 + 2 * JD_MS_HOUR + 30 * JD_MS_MINUTE },
    { "sum(order.value[1d])", T0 + JD_MS_DAY },
    { "distinct(order.user_id[1d])", T0 + JD_MS_DAY },
    { "min by (channel) (order.value[30d])", T0 + 10 * JD_MS_DAY },
};

#define QTEXT 1024

static char (*snapshot(struct store *s))[QTEXT]
{
    char(*out)[QTEXT] = calloc(JD_ARRAY_SIZE(queries), QTEXT);
    assert_non_null(out);
    for (size_t i = 0; i < JD_ARRAY_SIZE(queries); i++)
        query_all(s, queries[i].expr, queries[i].at, out[i], QTEXT);
    return out;
}

/* ------------------------------------------------------------ raw chunks */

struct chunk_copy {
    char key[STORE_KEY_MAX];
    uint8_t *p; /* NULL: the key does not exist */
    size_t len;
};

static void chunk_get(struct fixture *f, struct chunk_copy *c)
{
    redisReply *r = redisCommand(f->redis_ctx, "GET %s", c->key);
    assert_non_null(r);
    assert_true(r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_NIL);
    free(c->p);
    c->p = NULL;
    c->len = 0;
    if (r->type == REDIS_REPLY_STRING) {
        c->p = malloc(r->len ? r->len : 1);
        assert_non_null(c->p);
        memcpy(c->p, r->str, r->len);
        c->len = r->len;
    }
    freeReplyObject(r);
}

/* The chunk keys of both series at every resolution (each holds T0). */
static size_t chunk_keys(struct store *s, struct chunk_copy *out)
{
    static const char *const channels[] = { "web", "app" };
    char labels[256];
    size_t n = 0, ln;
    for (size_t c = 0; c < JD_ARRAY_SIZE(channels); c++) {
        uint64_t sid = sid_of(channels[c], labels, &ln);
        for (int r = 0; r < WINDOW_NRES; r++, n++) {
            memset(&out[n], 0, sizeof(out[n]));
            store_key_chunk(s, out[n].key, sizeof(out[n].key), jd_str_c("order"), sid,
                            (enum window_res)r, window_bucket_start((enum window_res)r, T0));
        }
    }
    return n;
}

/* Per-bucket stats and registers of a chunk, as a reader folds them. */
struct fold {
    size_t nrec[CHUNK_MAX_BUCKETS];
    bool dense[CHUNK_MAX_BUCKETS];
    struct agg_delta d[CHUNK_MAX_BUCKETS];
    uint8_t *regs[CHUNK_MAX_BUCKETS];
};

static void fold_chunk(const struct chunk_copy *c, struct fold *f)
{
    struct chunk_iter it;
    struct chunk_rec rec;
    int rc;
    memset(f, 0, sizeof(*f));
    chunk_iter_init(&it, c->p, c->len);
    while ((rc = chunk_next(&it, &rec)) == 1) {
        f->nrec[rec.offset]++;
        f->dense[rec.offset] |= rec.dense != NULL;
        agg_delta_merge(&f->d[rec.offset], &rec.d);
        if (!f->regs[rec.offset])
            f->regs[rec.offset] = calloc(1, HLL_REGS);
        assert_non_null(f->regs[rec.offset]);
        chunk_rec_apply(&rec, f->regs[rec.offset]);
    }
    if (rc != 0)
        fail_msg("%s: damaged chunk", c->key);
}

static void fold_free(struct fold *f)
{
    for (size_t b = 0; b < CHUNK_MAX_BUCKETS; b++)
        free(f->regs[b]);
}

static void assert_same_fold(const char *key, const struct fold *a, const struct fold *b)
{
    for (size_t k = 0; k < CHUNK_MAX_BUCKETS; k++) {
        const struct agg_delta *x = &a->d[k], *y = &b->d[k];
        if ((a->nrec[k] == 0) != (b->nrec[k] == 0) || x->count != y->count ||
            x->vcount != y->vcount || x->sum != y->sum || x->min != y->min || x->max != y->max ||
            x->last_ts != y->last_ts || x->last != y->last)
            fail_msg("%s: bucket %zu folds differently", key, k);
        if ((a->regs[k] == NULL) != (b->regs[k] == NULL) ||
            (a->regs[k] && memcmp(a->regs[k], b->regs[k], HLL_REGS)))
            fail_msg("%s: bucket %zu has other registers", key, k);
    }
}

/* ------------------------------------------------------------------ tests */

static void test_compaction_keeps_answers(void **state)
{
    struct fixture *f = *state;
    struct store *s = new_store(f, "cmp");
    struct store_claim c;
    char err[JD_ERRSTR_SIZE];
    struct chunk_copy before[2 * WINDOW_NRES], after[2 * WINDOW_NRES];
    struct fold fb, fa;

    assert_int_equal(store_claim(s, "ev", 0, "a", &c, err, sizeof(err)), JD_OK);
    for (int b = 0; b < NBATCH; b++)
        flush_batch(f, s, 0, c.epoch, b);
    check_window(s, NBATCH, "1h", JD_MS_HOUR, T0 + JD_MS_HOUR);
    check_window(s, NBATCH, "10m", 10 * JD_MS_MINUTE, T0 + 20 * JD_MS_MINUTE);
    check_window(s, NBATCH, "1d", JD_MS_DAY, T0 + JD_MS_DAY);
    /* the tie at T_TIE: the largest value of all batches' events there wins */
    assert_micros(s, "last(order.value[1h])", T0 + JD_MS_HOUR, 6 * JD_MICROS);

    size_t nkeys = chunk_keys(s, before);
    chunk_keys(s, after);
    for (size_t k = 0; k < nkeys; k++) {
        chunk_get(f, &before[k]);
        assert_non_null(before[k].p);
    }
    char(*q_before)[QTEXT] = snapshot(s);

    /* 40 appends to each chunk: due for compaction */
    size_t pending = store_compact_pending(s);
    printf("# %zu chunk(s) pending compaction\n", pending);
    assert_true(pending > 0);
    size_t replaced = 0, done, rounds = 0;
    while (store_compact_pending(s) > 0) {
        assert_true(++rounds < 100);
        if (store_compact(s, 4, &done, err, sizeof(err)) != JD_OK)
            fail_msg("store_compact: %s", err);
        replaced += done;
    }
    /* every chunk replaced once; a compacted chunk has nothing more to gain */
    assert_int_equal(replaced, nkeys);
    assert_int_equal(store_compact(s, 4, &done, err, sizeof(err)), JD_OK);
    assert_int_equal(done, 0);

    char(*q_after)[QTEXT] = snapshot(s);
    for (size_t i = 0; i < JD_ARRAY_SIZE(queries); i++)
        if (strcmp(q_before[i], q_after[i]))
            fail_msg("%s changed:\n  before %s\n  after  %s", queries[i].expr, q_before[i],
                     q_after[i]);

    for (size_t k = 0; k < nkeys; k++) {
        chunk_get(f, &after[k]);
        assert_non_null(after[k].p);
        printf("# %s: %zu -> %zu bytes\n", after[k].key, before[k].len, after[k].len);
        if (after[k].len >= before[k].len)
            fail_msg("%s: %zu bytes, was %zu", after[k].key, after[k].len, before[k].len);
        fold_chunk(&before[k], &fb);
        fold_chunk(&after[k], &fa);
        assert_same_fold(after[k].key, &fb, &fa);
        size_t buckets = 0;
        for (size_t b = 0; b < CHUNK_MAX_BUCKETS; b++) {
            assert_true(fa.nrec[b] <= 1); /* one record per bucket */
            buckets += fa.nrec[b];
            /* 32000 web users in one hour or day bucket: the dense form */
            assert_int_equal(fa.dense[b],
                             fa.nrec[b] && k % WINDOW_NRES != WINDOW_MINUTE && k < WINDOW_NRES);
        }
        assert_int_equal(buckets, k % WINDOW_NRES == WINDOW_MINUTE ? 40 : 1);
        fold_free(&fb);
        fold_free(&fa);
    }
    check_window(s, NBATCH, "1h", JD_MS_HOUR, T0 + JD_MS_HOUR);

    /* appends after compaction still add up */
    flush_batch(f, s, 0, c.epoch, NBATCH);
    check_window(s, NBATCH + 1, "1h", JD_MS_HOUR, T0 + JD_MS_HOUR);
    check_window(s, NBATCH + 1, "10m", 10 * JD_MS_MINUTE, T0 + 20 * JD_MS_MINUTE);
    check_window(s, NBATCH + 1, "1d", JD_MS_DAY, T0 + JD_MS_DAY);

    for (size_t k = 0; k < nkeys; k++) {
        free(before[k].p);
        free(after[k].p);
    }
    free(q_before);
    free(q_after);
    store_destroy(s);
}

/*
 * compact.lua as shipped, read from the source tree: $JD_SRCDIR, else next to
 * this file (__FILE__ is relative to the build directory, where meson runs
 * tests), else up from the working directory.
 */
static char *read_compact_lua(void)
{
    char path[5][600];
    const char *src = getenv("JD_SRCDIR"), *file = __FILE__, *slash = strrchr(file, '/');
    snprintf(path[0], sizeof(path[0]), "%s/daemon/store/compact.lua", src ? src : "/nonexistent");
    snprintf(path[1], sizeof(path[1]), "%.*s/../../daemon/store/compact.lua",
             slash ? (int)(slash - file) : 1, slash ? file : ".");
    snprintf(path[2], sizeof(path[2]), "../daemon/store/compact.lua");
    snprintf(path[3], sizeof(path[3]), "../../daemon/store/compact.lua");
    snprintf(path[4], sizeof(path[4]), "../../../daemon/store/compact.lua");
    for (size_t i = 0; i < JD_ARRAY_SIZE(path); i++) {
        FILE *fp = fopen(path[i], "rb");
        if (!fp)
            continue;
        char *text = calloc(1, 1 << 16);
        assert_non_null(text);
        size_t n = fread(text, 1, (1 << 16) - 1, fp);
        fclose(fp);
        assert_true(n > 0 && strstr(text, "GET"));
        return text;
    }
    char cwd[512];
    fail_msg("compact.lua not found (JD_SRCDIR unset; cwd %s)", getcwd(cwd, sizeof(cwd)));
    return NULL;
}

/* EVAL compact.lua with {key, original, compacted} triples; @returns the chunks replaced. */
static long long eval_compact(struct fixture *f, const char *script, size_t n,
                              const struct chunk_copy *keys, const struct chunk_copy *orig,
                              const struct chunk_copy *blobs)
{
    const char *argv[3 + 3 * 4];
    size_t alen[3 + 3 * 4];
    assert_true(n <= 4);
    argv[0] = "EVAL";
    argv[1] = script;
    argv[2] = "0";
    alen[0] = 4;
    alen[1] = strlen(script);
    alen[2] = 1;
    for (size_t i = 0; i < n; i++) {
        argv[3 + 3 * i] = keys[i].key;
        alen[3 + 3 * i] = strlen(keys[i].key);
        argv[4 + 3 * i] = (const char *)orig[i].p;
        alen[4 + 3 * i] = orig[i].len;
        argv[5 + 3 * i] = (const char *)blobs[i].p;
        alen[5 + 3 * i] = blobs[i].len;
    }
    redisReply *r = redisCommandArgv(f->redis_ctx, (int)(3 + 3 * n), argv, alen);
    assert_non_null(r);
    if (r->type != REDIS_REPLY_INTEGER)
        fail_msg("EVAL compact.lua: %s", r->type == REDIS_REPLY_ERROR ? r->str : "not an integer");
    long long v = r->integer;
    freeReplyObject(r);
    return v;
}

static void compact_copy(const struct chunk_copy *in, struct chunk_copy *out)
{
    memset(out, 0, sizeof(*out));
    memcpy(out->key, in->key, sizeof(out->key));
    assert_int_equal(chunk_compact(in->p, in->len, &out->p, &out->len), JD_OK);
    assert_true(out->len < in->len);
}

static void assert_chunk_is(struct fixture *f, const struct chunk_copy *want)
{
    struct chunk_copy now = { .p = NULL };
    memcpy(now.key, want->key, sizeof(now.key));
    chunk_get(f, &now);
    assert_non_null(now.p);
    if (now.len != want->len || memcmp(now.p, want->p, want->len))
        fail_msg("%s: %zu bytes, not the %zu expected", want->key, now.len, want->len);
    free(now.p);
}

static void test_compact_script_compare_and_set(void **state)
{
    struct fixture *f = *state;
    struct store *s = new_store(f, "cas");
    struct store_claim c;
    char err[JD_ERRSTR_SIZE];
    char *script = read_compact_lua();
    struct chunk_copy keys[2 * WINDOW_NRES], read[2], cur[2], small[2];

    assert_int_equal(store_claim(s, "ev", 3, "a", &c, err, sizeof(err)), JD_OK);
    for (int b = 0; b < 5; b++)
        flush_batch(f, s, 3, c.epoch, b);
    chunk_keys(s, keys);
    /* the web hour chunk and the app minute chunk */
    for (int i = 0; i < 2; i++) {
        read[i] = keys[i ? WINDOW_NRES + WINDOW_MINUTE : WINDOW_HOUR];
        cur[i] = read[i];
        read[i].p = cur[i].p = NULL;
        chunk_get(f, &read[i]);
        assert_non_null(read[i].p);
    }
    struct chunk_copy stale_blob;
    compact_copy(&read[0], &stale_blob);

    /* a batch appends between the read and the write */
    flush_batch(f, s, 3, c.epoch, 5);
    char(*q_before)[QTEXT] = snapshot(s);
    for (int i = 0; i < 2; i++) {
        chunk_get(f, &cur[i]);
        assert_true(cur[i].len > read[i].len);
    }
    /* the bytes read before the append are stale: nothing is written */
    assert_int_equal(eval_compact(f, script, 1, &read[0], &read[0], &stale_blob), 0);
    assert_chunk_is(f, &cur[0]);
    /* same length, other bytes (GC removed the chunk, a late event re-created it): untouched */
    struct chunk_copy twin = cur[0];
    twin.p = malloc(cur[0].len);
    assert_non_null(twin.p);
    memcpy(twin.p, cur[0].p, cur[0].len);
    twin.p[twin.len - 1] ^= 1;
    assert_int_equal(eval_compact(f, script, 1, &cur[0], &twin, &stale_blob), 0);
    assert_chunk_is(f, &cur[0]);
    free(twin.p);

    /* the current bytes replace; in one call, only the chunks that still hold them */
    compact_copy(&cur[0], &small[0]);
    compact_copy(&cur[1], &small[1]);
    struct chunk_copy orig[2] = { cur[0], read[1] };
    assert_int_equal(eval_compact(f, script, 2, cur, orig, small), 1);
    assert_chunk_is(f, &small[0]);
    assert_chunk_is(f, &cur[1]);
    /* both current: both written (the first with the bytes it already holds) */
    orig[0] = small[0];
    orig[1] = cur[1];
    assert_int_equal(eval_compact(f, script, 2, small, orig, small), 2);
    assert_chunk_is(f, &small[0]);
    assert_chunk_is(f, &small[1]);

    /* a chunk deleted (GC) after the read is not re-created */
    struct chunk_copy gone = { .p = NULL };
    snprintf(gone.key, sizeof(gone.key), "%.300s-gone", cur[0].key);
    assert_int_equal(eval_compact(f, script, 1, &gone, &cur[0], &small[0]), 0);
    chunk_get(f, &gone);
    assert_null(gone.p);

    char(*q_after)[QTEXT] = snapshot(s);
    for (size_t i = 0; i < JD_ARRAY_SIZE(queries); i++)
        if (strcmp(q_before[i], q_after[i]))
            fail_msg("%s changed:\n  before %s\n  after  %s", queries[i].expr, q_before[i],
                     q_after[i]);
    check_window(s, 6, "1h", JD_MS_HOUR, T0 + JD_MS_HOUR);

    for (int i = 0; i < 2; i++) {
        free(read[i].p);
        free(cur[i].p);
        free(small[i].p);
    }
    free(stale_blob.p);
    free(q_before);
    free(q_after);
    free(script);
    store_destroy(s);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_compaction_keeps_answers),
        cmocka_unit_test(test_compact_script_compare_and_set),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
