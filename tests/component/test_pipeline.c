/*
 * test_pipeline.c — the pipeline against a real redis-server, no Kafka.
 *
 * A seeded stream of messages over several partitions, in every dialect
 * (flat JSON, MessagePack, Segment, CloudEvents structured and binary), with
 * re-sent duplicates, late events and malformed messages. The totals in
 * Redis must equal an oracle computed here from the generated events:
 *   - for several batch sizes (batching must not change a number);
 *   - when the run "crashes" at a cut point (a batch processed but never
 *     committed, the pipeline dropped) and a new instance resumes from the
 *     offsets in Redis, for many cut points;
 *   - when a zombie instance tries to write after being fenced;
 *   - when a partition is revoked while a batch holding it is being built;
 * and a partition with no stored offset starts where it was pinned.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "aggregate/card.h"
#include "attribute/attr.h"
#include "core/config.h"
#include "core/ts.h"
#include "evaluate/expr.h"
#include "evaluate/query.h"
#include "pipeline.h"
#include "redis_spawn.h"
#include "store/store.h"

#include <math.h>
#include <msgpack.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T0     INT64_C(1795478400000) /* 2026-11-24T00:00:00Z */
#define NPART  4
#define NMSG   1500
#define NUSERS 120

struct gen_msg {
    int32_t partition;
    int64_t offset;
    char *value;
    size_t len;
    struct event_header hdrs[6];
    size_t nh;
    char hdrbuf[6][64];
    bool valid, dup;
    int type; /* index into gen_types */
    int channel;
    int64_t value_micros;
    bool has_value;
    int user;
};

static const char *const gen_types[] = { "touch", "lead", "conversion", "cost" };
static const char *const gen_channels[] = { "douyin", "wechat", "sem_baidu", "live" };

struct fixture {
    struct redis_spawn redis;
    struct gen_msg msgs[NMSG];
    size_t n;
    int prefix_seq;
    /* oracle */
    int64_t count[4][4]; /* type x channel, valid unique events */
    int64_t sum_micros[4];
    int64_t dlq, dups;
    int distinct_touch_users;
};

static uint64_t rng_state = 42;

static uint64_t rng(void)
{
    uint64_t z = (rng_state += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static char *xasprintf(size_t *len, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static char *xasprintf(size_t *len, const char *fmt, ...)
{
    va_list ap;
    char *s = NULL;
    va_start(ap, fmt);
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n < 0)
        abort();
    *len = (size_t)n;
    return s;
}

static void pack_str(msgpack_packer *pk, const char *s)
{
    msgpack_pack_str(pk, strlen(s));
    msgpack_pack_str_body(pk, s, strlen(s));
}

/* Encodes one valid event in one of five dialects. */
static void gen_encode(struct gen_msg *m, const char *id, int64_t ts, int dialect)
{
    const char *type = gen_types[m->type], *ch = gen_channels[m->channel];
    char user[32], val[48], tsbuf[TS_RFC3339_SIZE];
    snprintf(user, sizeof(user), "u-%d", m->user);
    snprintf(val, sizeof(val), "%lld.%06lld", (long long)(m->value_micros / 1000000),
             (long long)(m->value_micros % 1000000));
    ts_format_rfc3339(ts, tsbuf, sizeof(tsbuf));
    bool has_user = m->type != 3;

    switch (dialect) {
    case 0: /* flat JSON, epoch ms */
        m->value = xasprintf(&m->len,
                             "{\"event_id\":\"%s\",\"type\":\"%s\",\"ts\":%lld%s%s%s,"
                             "\"channel\":\"%s\"%s%s,\"props\":{\"device\":\"ios\"}}",
                             id, type, (long long)ts, has_user ? ",\"user_id\":\"" : "",
                             has_user ? user : "", has_user ? "\"" : "", ch,
                             m->has_value ? ",\"value\":" : "", m->has_value ? val : "");
        break;
    case 1: { /* MessagePack, encoded by msgpack-c */
        msgpack_sbuffer sb;
        msgpack_packer pk;
        msgpack_sbuffer_init(&sb);
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        msgpack_pack_map(&pk, 4 + has_user + m->has_value + 1);
        pack_str(&pk, "event_id");
        pack_str(&pk, id);
        pack_str(&pk, "type");
        pack_str(&pk, type);
        pack_str(&pk, "ts");
        msgpack_pack_int64(&pk, ts);
        pack_str(&pk, "channel");
        pack_str(&pk, ch);
        if (has_user) {
            pack_str(&pk, "user_id");
            pack_str(&pk, user);
        }
        if (m->has_value) {
            pack_str(&pk, "value");
            msgpack_pack_double(&pk, (double)m->value_micros / 1e6);
        }
        pack_str(&pk, "props");
        msgpack_pack_map(&pk, 1);
        pack_str(&pk, "device");
        pack_str(&pk, "ios");
        m->value = malloc(sb.size);
        memcpy(m->value, sb.data, sb.size);
        m->len = sb.size;
        msgpack_sbuffer_destroy(&sb);
        break;
    }
    case 2: /* Segment track (the event name goes through type_map) */
        m->value = xasprintf(
            &m->len,
            "{\"type\":\"track\",\"event\":\"%s\",\"messageId\":\"%s\",\"timestamp\":\"%s\","
            "%s%s%s\"context\":{\"campaign\":{\"source\":\"%s\"}},"
            "\"properties\":{\"device\":\"ios\"%s%s}}",
            m->type == 2 ? "Order Completed" : type, id, tsbuf, has_user ? "\"userId\":\"" : "",
            has_user ? user : "", has_user ? "\"," : "", ch, m->has_value ? ",\"revenue\":" : "",
            m->has_value ? val : "");
        break;
    case 3: /* CloudEvents structured */
        m->value = xasprintf(&m->len,
                             "{\"specversion\":\"1.0\",\"id\":\"%s\",\"source\":\"/test\","
                             "\"type\":\"%s\",\"time\":\"%s\"%s%s%s,\"data\":{\"channel\":\"%s\""
                             "%s%s,\"props\":{\"device\":\"ios\"}}}",
                             id, type, tsbuf, has_user ? ",\"subject\":\"" : "",
                             has_user ? user : "", has_user ? "\"" : "", ch,
                             m->has_value ? ",\"value\":" : "", m->has_value ? val : "");
        break;
    default: { /* CloudEvents binary: attributes in headers, data as the value */
        const char *names[] = { "ce_specversion", "ce_id", "ce_type", "ce_time", "ce_subject" };
        const char *vals[] = { "1.0", id, type, tsbuf, user };
        size_t nh = has_user ? 5 : 4;
        for (size_t i = 0; i < nh; i++) {
            snprintf(m->hdrbuf[i], sizeof(m->hdrbuf[i]), "%s", vals[i]);
            m->hdrs[i] = (struct event_header){ names[i], m->hdrbuf[i], strlen(m->hdrbuf[i]) };
        }
        m->nh = nh;
        m->value = xasprintf(&m->len, "{\"channel\":\"%s\"%s%s,\"props\":{\"device\":\"ios\"}}", ch,
                             m->has_value ? ",\"value\":" : "", m->has_value ? val : "");
        break;
    }
    }
}

static void fix_headers(struct gen_msg *m)
{
    for (size_t i = 0; i < m->nh; i++)
        m->hdrs[i].value = m->hdrbuf[i];
}

static void generate(struct fixture *f)
{
    int64_t next_offset[NPART] = { 0 };
    bool touch_user[NUSERS] = { false };
    size_t last_valid_in_part[NPART] = { 0 };
    bool have_valid[NPART] = { false };

    for (size_t i = 0; i < NMSG; i++) {
        struct gen_msg *m = &f->msgs[i];
        memset(m, 0, sizeof(*m));
        m->user = (int)(rng() % NUSERS);
        m->type = (int)(rng() % 4);
        m->channel = (int)(rng() % 4);
        m->partition = m->type == 3 ? (int32_t)(rng() % NPART) : m->user % NPART;
        int r = (int)(rng() % 100);
        if (r < 6 && have_valid[m->partition]) {
            /* an upstream re-send: the very same bytes again, later on the same partition */
            const struct gen_msg *o = &f->msgs[last_valid_in_part[m->partition]];
            *m = *o;
            m->value = malloc(o->len);
            memcpy(m->value, o->value, o->len);
            fix_headers(m);
            m->dup = true;
            m->offset = next_offset[m->partition]++;
            f->dups++;
            continue;
        }
        m->offset = next_offset[m->partition]++;
        if (r < 10) {
            static const char *const bad[] = {
                "{\"event_id\":\"x\",\"type\":\"touch\"",
                "not json at all",
                "{\"event_id\":\"x\",\"type\":\"Bad Type\",\"ts\":1}",
                "{\"type\":\"lead\",\"ts\":\"2026-11-24T00:00:00Z\"}",
                "[1,2,3]",
            };
            const char *b = bad[rng() % 5];
            m->value = strdup(b);
            m->len = strlen(b);
            f->dlq++;
            continue;
        }
        m->valid = true;
        m->has_value = m->type >= 2;
        m->value_micros = m->has_value ? (int64_t)(rng() % 100000000) : 0;
        /* mostly in order, some late by up to 10 minutes */
        int64_t ts = T0 + (int64_t)i * 2000 - (rng() % 10 == 0 ? (int64_t)(rng() % 600000) : 0);
        char id[32];
        snprintf(id, sizeof(id), "ev-%zu", i);
        gen_encode(m, id, ts, (int)(rng() % 5));
        f->count[m->type][m->channel]++;
        f->sum_micros[m->type] += m->value_micros;
        if (m->type == 0 && !touch_user[m->user]) {
            touch_user[m->user] = true;
            f->distinct_touch_users++;
        }
        last_valid_in_part[m->partition] = i;
        have_valid[m->partition] = true;
    }
    f->n = NMSG;
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
    for (size_t i = 0; i < f->n; i++)
        free(f->msgs[i].value);
    redis_spawn_stop(&f->redis);
    free(f);
    return 0;
}

/* A pipeline instance: config, store and pipeline under one owner. */
struct inst {
    struct config *cfg;
    struct store *store;
    struct pipeline *pipe;
};

/* An instance with config keys and values \p kv (NULL-terminated pairs) set as well. */
static void inst_open_with(struct inst *in, struct fixture *f, const char *prefix,
                           const char *owner, const char *const *kv)
{
    char err[JD_ERRSTR_SIZE];
    in->cfg = config_new();
    assert_non_null(in->cfg);
    for (size_t i = 0; kv && kv[i]; i += 2)
        assert_int_equal(config_set(in->cfg, kv[i], kv[i + 1], err, sizeof(err)), JD_OK);
    assert_int_equal(config_set(in->cfg, "redis.url", f->redis.url, err, sizeof(err)), JD_OK);
    assert_int_equal(config_set(in->cfg, "redis.prefix", prefix, err, sizeof(err)), JD_OK);
    assert_int_equal(
        config_set(in->cfg, "events.type_map", "Order Completed=conversion", err, sizeof(err)),
        JD_OK);
    struct store_opts so = { .url = f->redis.url,
                             .prefix = prefix,
                             .connect_timeout_ms = 2000,
                             .command_timeout_ms = 10000,
                             .retention = { { 3 * JD_MS_DAY, 130 * JD_MS_DAY, 800 * JD_MS_DAY } } };
    in->store = store_new(&so, err, sizeof(err));
    assert_non_null(in->store);
    assert_int_equal(store_connect(in->store, err, sizeof(err)), JD_OK);
    in->pipe = pipeline_new(in->cfg, in->store, owner, err, sizeof(err));
    assert_non_null(in->pipe);
}

static void inst_open(struct inst *in, struct fixture *f, const char *prefix, const char *owner)
{
    inst_open_with(in, f, prefix, owner, NULL);
}

static void inst_close(struct inst *in)
{
    pipeline_destroy(in->pipe);
    store_destroy(in->store);
    config_destroy(in->cfg);
}

/* Claims every partition; returns where each resumes. */
static void inst_claim_all(struct inst *in, int64_t resume[NPART])
{
    char err[JD_ERRSTR_SIZE];
    for (int32_t p = 0; p < NPART; p++) {
        pipeline_assign(in->pipe, p);
        assert_int_equal(pipeline_claim(in->pipe, p, &resume[p], err, sizeof(err)), JD_OK);
    }
}

/*
 * Feeds the messages (skipping those before each partition's resume point,
 * as a consumer seeked there would) in batches of `batch`; the batch holding
 * message `crash_at` is processed but never committed.
 */
static void inst_feed_parts(struct inst *in, struct fixture *f, const int64_t resume[NPART],
                            unsigned mask, size_t batch, size_t crash_at, size_t *dlq_seen)
{
    char err[JD_ERRSTR_SIZE], detail[512];
    size_t in_batch = 0;
    pipeline_begin(in->pipe);
    for (size_t i = 0; i < f->n; i++) {
        struct gen_msg *m = &f->msgs[i];
        if (!(mask & (1u << m->partition)) ||
            (resume[m->partition] >= 0 && m->offset < resume[m->partition]))
            continue;
        struct pipeline_msg pm = { m->partition, m->offset, m->value, m->len, m->hdrs, m->nh };
        enum jd_err reason;
        enum pipeline_verdict v =
            pipeline_add(in->pipe, &pm, INT64_MAX, &reason, detail, sizeof(detail));
        if (v == PIPELINE_DLQ && dlq_seen)
            (*dlq_seen)++;
        assert_int_not_equal(v, PIPELINE_SKIP);
        assert_int_equal(v == PIPELINE_DLQ, !m->valid && !m->dup);
        if (i == crash_at)
            return; /* crash: the open batch is lost */
        if (++in_batch == batch) {
            if (pipeline_commit(in->pipe, err, sizeof(err)) != JD_OK)
                fail_msg("commit: %s", err);
            pipeline_begin(in->pipe);
            in_batch = 0;
        }
    }
    if (pipeline_commit(in->pipe, err, sizeof(err)) != JD_OK)
        fail_msg("commit: %s", err);
}

/* Adds messages [from, to) to the open batch; @returns how many were not skipped. */
static size_t inst_add(struct inst *in, struct fixture *f, size_t from, size_t to)
{
    char detail[512];
    size_t taken = 0;
    for (size_t i = from; i < to; i++) {
        struct gen_msg *m = &f->msgs[i];
        struct pipeline_msg pm = { m->partition, m->offset, m->value, m->len, m->hdrs, m->nh };
        enum jd_err reason;
        taken += pipeline_add(in->pipe, &pm, INT64_MAX, &reason, detail, sizeof(detail)) !=
                 PIPELINE_SKIP;
    }
    return taken;
}

/* Every partition, as one consumer assigned all of them would. */
static void inst_feed(struct inst *in, struct fixture *f, const int64_t resume[NPART], size_t batch,
                      size_t crash_at, size_t *dlq_seen)
{
    inst_feed_parts(in, f, resume, (1u << NPART) - 1, batch, crash_at, dlq_seen);
}

static int64_t q_int(struct store *s, const char *text)
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
        /* sums come back as decimals: compare in micros */
        double d = strtod(v, NULL);
        out = strchr(text, '.') && strstr(text, "value") ? (int64_t)llround(d * 1e6)
                                                         : (int64_t)llround(d);
    }
    query_result_free(&r);
    expr_free(e);
    return out;
}

/* Every total in Redis equals the oracle. */
static void check_totals(struct fixture *f, struct store *s)
{
    char q[256];
    for (int t = 0; t < 4; t++) {
        int64_t all = 0;
        for (int c = 0; c < 4; c++) {
            snprintf(q, sizeof(q), "count(%s{channel=\"%s\"}[2d])", gen_types[t], gen_channels[c]);
            assert_int_equal(q_int(s, q), f->count[t][c]);
            all += f->count[t][c];
        }
        snprintf(q, sizeof(q), "count(%s[2d])", gen_types[t]);
        assert_int_equal(q_int(s, q), all);
        if (t >= 2) {
            snprintf(q, sizeof(q), "sum(%s.value[2d])", gen_types[t]);
            assert_int_equal(q_int(s, q), f->sum_micros[t]);
        }
    }
    int64_t d = q_int(s, "distinct(touch.user_id[2d])");
    assert_true(fabs((double)(d - f->distinct_touch_users)) <= 0.02 * f->distinct_touch_users + 1);
    int64_t dlq, dup;
    char err[JD_ERRSTR_SIZE];
    assert_int_equal(store_stat_get(s, "dlq", &dlq, err, sizeof(err)), JD_OK);
    assert_int_equal(store_stat_get(s, "dup", &dup, err, sizeof(err)), JD_OK);
    assert_int_equal(dlq, f->dlq);
    assert_int_equal(dup, f->dups);
}

static void next_prefix(struct fixture *f, char *buf, size_t size)
{
    snprintf(buf, size, "p%d", f->prefix_seq++);
}

static void test_totals_any_batch_size(void **state)
{
    struct fixture *f = *state;
    const size_t sizes[] = { 1, 7, 64, 500, NMSG };
    for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
        char prefix[16];
        int64_t resume[NPART];
        size_t dlq = 0;
        struct inst in;
        next_prefix(f, prefix, sizeof(prefix));
        inst_open(&in, f, prefix, "solo");
        inst_claim_all(&in, resume);
        inst_feed(&in, f, resume, sizes[k], SIZE_MAX, &dlq);
        assert_int_equal(dlq, f->dlq);
        check_totals(f, in.store);
        inst_close(&in);
    }
}

static void test_crash_and_resume_at_every_cut(void **state)
{
    struct fixture *f = *state;
    /* cut points spread over the stream, including the first and last message */
    for (size_t cut = 0; cut < NMSG; cut += cut < 50 ? 7 : 97) {
        char prefix[16];
        int64_t resume[NPART];
        struct inst a, b;
        next_prefix(f, prefix, sizeof(prefix));
        inst_open(&a, f, prefix, "first");
        inst_claim_all(&a, resume);
        inst_feed(&a, f, resume, 1 + cut % 50, cut, NULL);
        inst_close(&a); /* the crash: no commit, no goodbye */

        inst_open(&b, f, prefix, "second");
        inst_claim_all(&b, resume);
        inst_feed(&b, f, resume, 33, SIZE_MAX, NULL);
        check_totals(f, b.store);
        inst_close(&b);
    }
}

static void test_zombie_is_fenced(void **state)
{
    struct fixture *f = *state;
    char prefix[16], err[JD_ERRSTR_SIZE];
    int64_t resume[NPART], resume2[NPART];
    struct inst zombie, owner;
    next_prefix(f, prefix, sizeof(prefix));

    inst_open(&zombie, f, prefix, "zombie");
    inst_claim_all(&zombie, resume);
    inst_open(&owner, f, prefix, "owner");
    inst_claim_all(&owner, resume2); /* a rebalance gave the partitions to another instance */

    pipeline_begin(zombie.pipe);
    inst_add(&zombie, f, 0, 50);
    assert_int_equal(pipeline_commit(zombie.pipe, err, sizeof(err)), JD_ERR_FENCED);
    for (int32_t p = 0; p < NPART; p++)
        if (pipeline_part_state(zombie.pipe, p) != PIPELINE_ACTIVE)
            assert_int_not_equal(pipeline_part_state(zombie.pipe, p), PIPELINE_ACTIVE);
    assert_int_equal(q_int(owner.store, "count(touch[2d])"), 0);

    /* the rightful owner processes everything; totals are exact */
    inst_feed(&owner, f, resume2, 100, SIZE_MAX, NULL);
    check_totals(f, owner.store);
    inst_close(&zombie);
    inst_close(&owner);
}

static void test_redis_restart_between_batches(void **state)
{
    struct fixture *f = *state;
    char prefix[16], err[JD_ERRSTR_SIZE];
    int64_t resume[NPART];
    struct inst in;
    next_prefix(f, prefix, sizeof(prefix));

    inst_open(&in, f, prefix, "solo");
    inst_claim_all(&in, resume);
    inst_feed(&in, f, resume, 40, 700, NULL); /* stops with an open batch */
    redis_spawn_kill(&f->redis, true);
    assert_int_equal(pipeline_commit(in.pipe, err, sizeof(err)), JD_ERR_REDIS);
    pipeline_unclaim_all(in.pipe);
    assert_int_equal(redis_spawn_restart(&f->redis), 0);
    assert_int_equal(store_connect(in.store, err, sizeof(err)), JD_OK);
    inst_claim_all(&in, resume);
    inst_feed(&in, f, resume, 40, SIZE_MAX, NULL);
    check_totals(f, in.store);
    inst_close(&in);
}

/*
 * A rebalance takes partition 1 away while a batch holding all four is being
 * built. Its events are mixed into the batch's aggregate, so the whole batch
 * must go (the others are re-claimed and re-read); committing the rest would
 * count partition 1's events without advancing its offset, and its next
 * owner would count them again.
 */
static void test_revoke_mid_batch(void **state)
{
    struct fixture *f = *state;
    char prefix[16], err[JD_ERRSTR_SIZE];
    int64_t resume[NPART], resume_b[NPART];
    struct inst a, b;
    next_prefix(f, prefix, sizeof(prefix));

    inst_open(&a, f, prefix, "a");
    inst_claim_all(&a, resume);
    inst_feed(&a, f, resume, 50, 400, NULL); /* 8 batches applied, then one open */
    pipeline_begin(a.pipe);
    assert_int_equal(inst_add(&a, f, 401, 700), 700 - 401);
    assert_true(pipeline_pending(a.pipe));
    pipeline_revoke(a.pipe, 1);
    assert_false(pipeline_pending(a.pipe));
    for (int32_t p = 0; p < NPART; p++)
        assert_int_equal(pipeline_part_state(a.pipe, p), PIPELINE_UNCLAIMED);
    assert_int_equal(pipeline_commit(a.pipe, err, sizeof(err)), JD_OK); /* nothing to send */

    /* partition 1 moves to b; a re-claims the others and both read on */
    inst_open(&b, f, prefix, "b");
    pipeline_assign(b.pipe, 1);
    assert_int_equal(pipeline_claim(b.pipe, 1, &resume_b[1], err, sizeof(err)), JD_OK);
    for (int32_t p = 0; p < NPART; p++)
        if (p != 1)
            assert_int_equal(pipeline_claim(a.pipe, p, &resume[p], err, sizeof(err)), JD_OK);
    inst_feed_parts(&a, f, resume, 0xDu, 64, SIZE_MAX, NULL);
    inst_feed_parts(&b, f, resume_b, 0x2u, 64, SIZE_MAX, NULL);
    check_totals(f, a.store);
    inst_close(&a);
    inst_close(&b);
}

/*
 * A partition without a stored offset starts where its first owner pinned
 * it; a restart resumes there, and earlier messages are skipped.
 */
static void test_pinned_start(void **state)
{
    struct fixture *f = *state;
    char prefix[16], err[JD_ERRSTR_SIZE], detail[512];
    int64_t off, start = -1;
    struct inst a, b;
    next_prefix(f, prefix, sizeof(prefix));

    inst_open(&a, f, prefix, "a");
    pipeline_assign(a.pipe, 2);
    assert_int_equal(pipeline_claim(a.pipe, 2, &off, err, sizeof(err)), JD_OK);
    assert_int_equal(off, -1);
    off = 40;
    assert_int_equal(pipeline_pin(a.pipe, 2, &off, err, sizeof(err)), JD_OK);
    assert_int_equal(off, 40);
    inst_close(&a); /* gone before its first batch */

    inst_open(&b, f, prefix, "b");
    pipeline_assign(b.pipe, 2);
    assert_int_equal(pipeline_claim(b.pipe, 2, &start, err, sizeof(err)), JD_OK);
    assert_int_equal(start, 40);
    pipeline_begin(b.pipe);
    size_t applied = 0;
    for (size_t i = 0; i < f->n; i++) {
        struct gen_msg *m = &f->msgs[i];
        if (m->partition != 2)
            continue;
        struct pipeline_msg pm = { m->partition, m->offset, m->value, m->len, m->hdrs, m->nh };
        enum jd_err reason;
        enum pipeline_verdict v =
            pipeline_add(b.pipe, &pm, INT64_MAX, &reason, detail, sizeof(detail));
        assert_int_equal(v == PIPELINE_SKIP, m->offset < 40);
        applied += v != PIPELINE_SKIP;
    }
    assert_true(applied > 0);
    assert_int_equal(pipeline_commit(b.pipe, err, sizeof(err)), JD_OK);
    inst_close(&b);
}

/*
 * Offsets Kafka never delivers are counted, not silently passed over: a
 * partition read from its beginning (pinned at 0) whose first offsets were
 * deleted, and a hole later on. The batch still starts where it was pinned.
 */
static void test_offset_holes_counted(void **state)
{
    struct fixture *f = *state;
    char prefix[16], err[JD_ERRSTR_SIZE], detail[512];
    int64_t off;
    struct inst a;
    next_prefix(f, prefix, sizeof(prefix));

    inst_open(&a, f, prefix, "a");
    pipeline_assign(a.pipe, 2);
    assert_int_equal(pipeline_claim(a.pipe, 2, &off, err, sizeof(err)), JD_OK);
    off = 0;
    assert_int_equal(pipeline_pin(a.pipe, 2, &off, err, sizeof(err)), JD_OK);
    pipeline_begin(a.pipe);
    size_t n = 0;
    for (size_t i = 0; i < f->n; i++) {
        struct gen_msg *m = &f->msgs[i];
        if (m->partition != 2 || m->offset < 5 || (m->offset >= 20 && m->offset < 30))
            continue;
        struct pipeline_msg pm = { m->partition, m->offset, m->value, m->len, m->hdrs, m->nh };
        enum jd_err reason;
        assert_int_not_equal(pipeline_add(a.pipe, &pm, INT64_MAX, &reason, detail, sizeof(detail)),
                             PIPELINE_SKIP);
        n++;
    }
    assert_true(n > 10);
    const struct pipeline_counters *c = pipeline_counters(a.pipe);
    assert_int_equal(c->starts_trimmed, 1);
    assert_int_equal(c->last_trimmed_partition, 2);
    assert_int_equal(c->last_trimmed_first, 5);
    assert_int_equal(c->offset_gaps, 1);
    assert_int_equal(c->offsets_missing, 10);
    assert_int_equal(c->last_gap_from, 20);
    assert_int_equal(c->last_gap_to, 30);
    pipeline_log_start(a.pipe, 2, 1000); /* read already: not a start any more */
    assert_int_equal(c->starts_trimmed, 1);

    /* a partition whose every offset retention deleted moves to the log start unread */
    pipeline_assign(a.pipe, 3);
    assert_int_equal(pipeline_claim(a.pipe, 3, &off, err, sizeof(err)), JD_OK);
    off = 0;
    assert_int_equal(pipeline_pin(a.pipe, 3, &off, err, sizeof(err)), JD_OK);
    pipeline_log_start(a.pipe, 3, 7);
    assert_int_equal(c->starts_trimmed, 2);
    assert_int_equal(c->last_trimmed_first, 7);
    assert_int_equal(pipeline_commit(a.pipe, err, sizeof(err)), JD_OK);
    inst_close(&a);

    struct inst b;
    inst_open(&b, f, prefix, "b");
    pipeline_assign(b.pipe, 3);
    assert_int_equal(pipeline_claim(b.pipe, 3, &off, err, sizeof(err)), JD_OK);
    assert_int_equal(off, 7);
    inst_close(&b);
}

/* One message of the fixture's generator as the next message of its partition for \p in. */
static enum pipeline_verdict inst_add_as_new(struct inst *in, const struct gen_msg *m,
                                             const char *json, const int64_t next[NPART],
                                             enum jd_err *reason, char *detail, size_t size)
{
    struct pipeline_msg pm = { m->partition,           next[m->partition],
                               json ? json : m->value, json ? strlen(json) : m->len,
                               json ? NULL : m->hdrs,  json ? 0 : m->nh };
    return pipeline_add(in->pipe, &pm, INT64_MAX, reason, detail, size);
}

/*
 * The cardinality guard of a second instance learns the first one's series
 * and types from Redis's index, even past its own (lower) limits: known
 * label sets go on being applied, a new label set or type is a dead letter
 * naming the limit.
 */
static void test_census_across_instances(void **state)
{
    struct fixture *f = *state;
    char prefix[16], err[JD_ERRSTR_SIZE], detail[512];
    int64_t resume[NPART], next[NPART];
    struct inst a, b;
    struct store_census *types;
    size_t nt;
    enum jd_err reason;
    next_prefix(f, prefix, sizeof(prefix));

    inst_open(&a, f, prefix, "a");
    inst_claim_all(&a, resume);
    inst_feed(&a, f, resume, 100, SIZE_MAX, NULL);
    check_totals(f, a.store);
    assert_int_equal(store_series_census(a.store, &types, &nt, err, sizeof(err)), JD_OK);
    assert_int_equal(nt, 5); /* the four of the generator, and credit (attribution) */

    const char *const kv[] = { "limits.series_per_type", "1", "limits.types", "5", NULL };
    inst_open_with(&b, f, prefix, "b", kv);
    const struct card *c = pipeline_card(b.pipe);
    assert_int_equal(card_ntypes(c), 0);
    assert_int_equal(pipeline_census(b.pipe, err, sizeof(err)), JD_OK);
    assert_int_equal(card_ntypes(c), nt);
    for (size_t i = 0; i < nt; i++) {
        assert_true(types[i].nseries >= 4); /* four channels per type, past the limit of 1 */
        assert_int_equal(card_nseries(c, jd_str_c(types[i].type)), types[i].nseries);
    }
    assert_int_equal(pipeline_census(b.pipe, err, sizeof(err)), JD_OK); /* idempotent */
    assert_int_equal(card_ntypes(c), nt);

    inst_claim_all(&b, next); /* b takes over where a stopped */
    pipeline_begin(b.pipe);
    const struct gen_msg *touch = NULL;
    for (size_t i = 0; i < f->n && !touch; i++)
        if (f->msgs[i].valid && f->msgs[i].type == 0)
            touch = &f->msgs[i];
    assert_non_null(touch);
    /* a re-send of a's event: its series is known, so it reaches de-duplication */
    assert_int_equal(inst_add_as_new(&b, touch, NULL, next, &reason, detail, sizeof(detail)),
                     PIPELINE_DUP);
    next[touch->partition]++;
    assert_int_equal(inst_add_as_new(&b, touch,
                                     "{\"event_id\":\"new-1\",\"type\":\"touch\",\"ts\":"
                                     "\"2026-11-24T00:00:10Z\",\"user_id\":\"u1\",\"channel\":"
                                     "\"brand_new\"}",
                                     next, &reason, detail, sizeof(detail)),
                     PIPELINE_DLQ);
    assert_int_equal(reason, JD_ERR_EV_CARDINALITY);
    assert_non_null(strstr(detail, "limits.series_per_type (1)"));
    assert_non_null(strstr(detail, "channel \"brand_new\""));
    next[touch->partition]++;
    assert_int_equal(inst_add_as_new(&b, touch,
                                     "{\"event_id\":\"new-2\",\"type\":\"brand_new\",\"ts\":"
                                     "\"2026-11-24T00:00:10Z\"}",
                                     next, &reason, detail, sizeof(detail)),
                     PIPELINE_DLQ);
    assert_int_equal(reason, JD_ERR_EV_CARDINALITY);
    assert_non_null(strstr(detail, "limits.types (5 types)"));
    assert_int_equal(pipeline_commit(b.pipe, err, sizeof(err)), JD_OK);
    assert_int_equal(pipeline_dlq_reasons(b.pipe)[jd_err_event_index(JD_ERR_EV_CARDINALITY)], 2);
    int64_t touches = 0; /* nothing of the refused events was applied */
    for (int ch = 0; ch < 4; ch++)
        touches += f->count[0][ch];
    assert_int_equal(q_int(b.store, "count(touch[2d])"), touches);
    assert_int_equal(q_int(b.store, "count(brand_new[2d])"), 0);
    store_census_free(types, nt);
    inst_close(&a);
    inst_close(&b);
}

/*
 * Attribution decides the same whatever the batching: every way of cutting
 * a crafted stream of one partition into batches gives the same credits and
 * null paths (lookback 1 h). It holds the two cases where the decision once
 * depended on where a batch ended:
 * - user a converts with no touch, then a late touch before that conversion
 *   arrives: in reset mode a's next conversion must not see it, so the
 *   conversion is kept even in a journey without touches;
 * - user b's journey is due (stream time passes its touch + lookback, at
 *   another user's event) before b's late conversion arrives: the journey
 *   expired at that point in offset order, so the conversion finds nothing.
 */
static void test_attribution_any_batching(void **state)
{
    struct fixture *f = *state;
    static const char *const evs[] = {
        "{\"event_id\":\"a1\",\"type\":\"conversion\",\"ts\":\"2026-11-24T00:01:40Z\","
        "\"user_id\":\"a\",\"value\":10}",
        "{\"event_id\":\"a2\",\"type\":\"touch\",\"ts\":\"2026-11-24T00:00:00Z\","
        "\"user_id\":\"a\",\"channel\":\"live\"}",
        "{\"event_id\":\"a3\",\"type\":\"touch\",\"ts\":\"2026-11-24T00:03:20Z\","
        "\"user_id\":\"a\",\"channel\":\"direct\"}",
        "{\"event_id\":\"a4\",\"type\":\"conversion\",\"ts\":\"2026-11-24T00:05:00Z\","
        "\"user_id\":\"a\",\"value\":10}",
        "{\"event_id\":\"b1\",\"type\":\"touch\",\"ts\":\"2026-11-24T00:06:40Z\","
        "\"user_id\":\"b\",\"channel\":\"wechat\"}",
        "{\"event_id\":\"c1\",\"type\":\"touch\",\"ts\":\"2026-11-24T01:08:20Z\","
        "\"user_id\":\"c\",\"channel\":\"douyin\"}",
        "{\"event_id\":\"b2\",\"type\":\"conversion\",\"ts\":\"2026-11-24T01:05:00Z\","
        "\"user_id\":\"b\",\"value\":10}",
        "{\"event_id\":\"c2\",\"type\":\"conversion\",\"ts\":\"2026-11-24T01:10:00Z\","
        "\"user_id\":\"c\",\"value\":10}",
    };
    const size_t n = sizeof(evs) / sizeof(evs[0]);
    const char *const kv[] = { "attribution.lookback", "1h", NULL };
    for (unsigned cuts = 0; cuts < 1u << (n - 1); cuts++) {
        char prefix[16], err[JD_ERRSTR_SIZE], detail[256];
        int64_t resume[NPART];
        struct inst in;
        enum jd_err reason;
        next_prefix(f, prefix, sizeof(prefix));
        inst_open_with(&in, f, prefix, "solo", kv);
        inst_claim_all(&in, resume);
        pipeline_begin(in.pipe);
        for (size_t i = 0; i < n; i++) {
            struct pipeline_msg pm = { 0, (int64_t)i, evs[i], strlen(evs[i]), NULL, 0 };
            assert_int_equal(pipeline_add(in.pipe, &pm, INT64_MAX, &reason, detail, sizeof(detail)),
                             PIPELINE_OK);
            if (cuts & (1u << i) || i + 1 == n) { /* a batch ends after event i */
                if (pipeline_commit(in.pipe, err, sizeof(err)) != JD_OK)
                    fail_msg("commit: %s", err);
                pipeline_begin(in.pipe);
            }
        }
        static const struct {
            const char *channel;
            int64_t conversions;
        } want[] = {
            { "direct", 1 }, { "(none)", 2 }, { "douyin", 1 }, { "live", 0 }, { "wechat", 0 }
        };
        for (size_t w = 0; w < sizeof(want) / sizeof(want[0]); w++) {
            char q[160];
            snprintf(q, sizeof(q),
                     "sum(credit{model=\"first_touch\",channel=\"%s\"}.conversions[2d])",
                     want[w].channel);
            if (q_int(in.store, q) != want[w].conversions)
                fail_msg("batch ends %#x: first_touch credits %s %lld conversions, want %lld", cuts,
                         want[w].channel, (long long)q_int(in.store, q),
                         (long long)want[w].conversions);
        }
        const struct attr_counters *ac = pipeline_attr_counters(in.pipe);
        if (ac->null_paths != 1 || ac->conversions != 4)
            fail_msg("batch ends %#x: %llu null paths, %llu conversions; want 1 and 4", cuts,
                     (unsigned long long)ac->null_paths, (unsigned long long)ac->conversions);
        inst_close(&in);
    }
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_totals_any_batch_size),
        cmocka_unit_test(test_crash_and_resume_at_every_cut),
        cmocka_unit_test(test_zombie_is_fenced),
        cmocka_unit_test(test_redis_restart_between_batches),
        cmocka_unit_test(test_revoke_mid_batch),
        cmocka_unit_test(test_pinned_start),
        cmocka_unit_test(test_offset_holes_counted),
        cmocka_unit_test(test_census_across_instances),
        cmocka_unit_test(test_attribution_any_batching),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
