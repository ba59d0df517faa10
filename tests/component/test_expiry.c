/*
 * test_expiry.c — journey expiry buckets against a real redis-server:
 * registrations land in the bucket of their due time (never in one already
 * due), one append and one index entry per bucket; a due bucket is read in
 * slices with its progress kept, without repeats, then deleted with its
 * index entry; the schedule looks once per bucket end; keys of another type
 * are refused by the read; sorted-set members go grouped by key, in chunks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "aggregate/agg.h"
#include "attribute/expiry.h"
#include "core/ts.h"
#include "redis_spawn.h"
#include "store/store.h"

#include <hiredis/hiredis.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T0   INT64_C(1795478400000) /* 2026-11-24T00:00:00Z, a bucket boundary */
#define PART 3

struct fixture {
    struct redis_spawn redis;
    struct store *store;
    struct agg *agg;
    redisContext *raw;
    int64_t epoch, offset;
};

static int setup(void **state)
{
    char err[JD_ERRSTR_SIZE];
    struct fixture *f = calloc(1, sizeof(*f));
    if (!f || redis_spawn_start(&f->redis) != 0)
        return -1;
    struct store_claim c;
    if (!(f->store = redis_spawn_store(&f->redis, "x", 3 * JD_MS_DAY)) ||
        store_claim(f->store, "ev", PART, "a", &c, err, sizeof(err)) != JD_OK)
        return -1;
    f->epoch = c.epoch;
    f->agg = agg_new();
    f->raw = redis_spawn_connect(&f->redis);
    *state = f;
    return f->agg && f->raw ? 0 : -1;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    redisFree(f->raw);
    agg_destroy(f->agg);
    store_destroy(f->store);
    redis_spawn_stop(&f->redis);
    free(f);
    return 0;
}

static long long raw_int(struct fixture *f, const char *fmt, const char *arg)
{
    redisReply *r = redisCommand(f->raw, fmt, arg);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_INTEGER);
    long long v = r->integer;
    freeReplyObject(r);
    return v;
}

static void fp_of(int i, char out[33])
{
    snprintf(out, 33, "%032x", (unsigned)i * 2654435761u);
}

/* One batch of partition PART at stream time st carrying the expiry's writes. */
static void flush(struct fixture *f, struct expiry *x, int64_t st)
{
    char err[JD_ERRSTR_SIZE];
    struct store_refusal ref[4];
    size_t nref;
    struct expiry_writes w;
    assert_true(expiry_writes(x, &w));
    assert_true(agg_seal(f->agg));
    struct store_part part = { PART, f->epoch, f->offset, f->offset + 1, st, st, false, 0 };
    struct store_flush fl = { .topic = "ev",
                              .owner = "a",
                              .parts = &part,
                              .nparts = 1,
                              .agg = f->agg,
                              .puts = w.puts,
                              .nputs = w.nputs,
                              .zputs = w.zputs,
                              .nzputs = w.nzputs,
                              .appends = w.appends,
                              .nappends = w.nappends };
    enum jd_err e = store_flush(f->store, &fl, ref, 4, &nref, err, sizeof(err));
    if (e)
        fail_msg("flush: %s", err);
    f->offset++;
    agg_reset(f->agg);
}

/* Starts a batch at st and reads; returns the number of reads made. */
static size_t look(struct expiry *x, int64_t st)
{
    char err[JD_ERRSTR_SIZE];
    expiry_begin(x);
    assert_true(expiry_want(x, PART, st));
    enum jd_err e = expiry_read(x, err, sizeof(err));
    if (e)
        fail_msg("read: %s", err);
    return expiry_nreads(x);
}

static void test_buckets(void **state)
{
    struct fixture *f = *state;
    struct expiry *x = expiry_new(f->store, "ev");
    const int64_t H = EXPIRY_BUCKET_MS;
    char fp[33];
    int32_t part;
    int64_t st;
    size_t n;
    assert_non_null(x);

    /* nothing registered: the first look finds nothing; a second in the same bucket is not made */
    assert_int_equal(look(x, T0 + 10), 1);
    expiry_slice(x, 0, &part, &st, &n);
    assert_int_equal(part, PART);
    assert_int_equal(n, 0);
    flush(f, x, T0 + 10);
    assert_int_equal(look(x, T0 + H - 1), 0);

    /* 2500 journeys due in the next hour (one of them listed twice), 10 in the one after,
     * and one already due: it goes to the bucket holding st, not to a due one */
    expiry_begin(x);
    for (int i = 0; i < 2500; i++) {
        fp_of(i, fp);
        assert_true(expiry_register(x, PART, fp, T0 + H + i, T0 + 20));
    }
    fp_of(7, fp);
    assert_true(expiry_register(x, PART, fp, T0 + H + 5, T0 + 20));
    for (int i = 2500; i < 2510; i++) {
        fp_of(i, fp);
        assert_true(expiry_register(x, PART, fp, T0 + 2 * H + 1, T0 + 20));
    }
    fp_of(9999, fp);
    assert_true(expiry_register(x, PART, fp, T0 - 5 * H, T0 + 20));
    flush(f, x, T0 + 20);
    assert_int_equal(raw_int(f, "ZCARD %s", "{x}:jx:ev:3"), 3);
    assert_int_equal(raw_int(f, "STRLEN %s", "{x}:jb:ev:3:498745"), 32 * 2501);
    assert_int_equal(raw_int(f, "STRLEN %s", "{x}:jb:ev:3:498746"), 32 * 10);
    assert_int_equal(raw_int(f, "STRLEN %s", "{x}:jb:ev:3:498744"), 32); /* clamped */
    redisReply *r = redisCommand(f->raw, "ZSCORE {x}:jx:ev:3 498745");
    assert_int_equal(strtoll(r->str, NULL, 10), T0 + 2 * H); /* scored by its end */
    freeReplyObject(r);
    r = redisCommand(f->raw, "ZSCORE {x}:gc {x}:jb:ev:3:498745");
    assert_non_null(r->str); /* GC knows it, in case it is never read */
    freeReplyObject(r);

    /* stream time reaches the end of the clamped bucket: it alone is due */
    assert_int_equal(look(x, T0 + H), 1);
    const char(*fps)[33] = expiry_slice(x, 0, &part, &st, &n);
    fp_of(9999, fp);
    assert_int_equal(n, 1);
    assert_string_equal(fps[0], fp);
    flush(f, x, T0 + H);
    assert_int_equal(raw_int(f, "EXISTS %s", "{x}:jb:ev:3:498744"), 0);
    assert_int_equal(raw_int(f, "ZCARD %s", "{x}:jx:ev:3"), 2);

    /* past the next hour: three slices, sorted, without repeats, progress kept between */
    int seen[2510] = { 0 };
    size_t total = 0, reads = 0;
    for (;;) {
        size_t nr = look(x, T0 + 2 * H);
        if (!nr)
            break;
        fps = expiry_slice(x, 0, &part, &st, &n);
        if (!n)
            break; /* read again after the bucket went: nothing left due */
        reads++;
        assert_true(n <= EXPIRY_SLICE);
        for (size_t k = 0; k < n; k++) {
            if (k)
                assert_true(strcmp(fps[k - 1], fps[k]) < 0);
            int found = -1;
            for (int i = 0; i < 2500 && found < 0; i++) {
                fp_of(i, fp);
                if (!strcmp(fp, fps[k]))
                    found = i;
            }
            assert_true(found >= 0);
            /* a repeat in another slice is read again (its journey is gone by then) */
            assert_true(seen[found] < (found == 7 ? 2 : 1));
            seen[found]++;
        }
        total += n;
        flush(f, x, T0 + 2 * H);
        if (reads == 1) {
            r = redisCommand(f->raw, "GET {x}:jxo:ev:3");
            assert_string_equal(r->str, "498745 32000");
            freeReplyObject(r);
        }
        assert_true(reads < 10);
    }
    assert_int_equal(reads, 3);
    assert_int_equal(total, 2501);
    assert_int_equal(raw_int(f, "EXISTS %s", "{x}:jb:ev:3:498745"), 0);
    assert_int_equal(raw_int(f, "EXISTS %s", "{x}:jxo:ev:3"), 0);
    assert_int_equal(raw_int(f, "ZCARD %s", "{x}:jx:ev:3"), 1);
    /* the schedule: nothing more until the last bucket ends */
    assert_int_equal(look(x, T0 + 3 * H - 1), 0);
    assert_int_equal(look(x, T0 + 3 * H), 1);
    expiry_slice(x, 0, &part, &st, &n);
    assert_int_equal(n, 10);
    flush(f, x, T0 + 3 * H);

    /* a backlog of small buckets is read in one slice, all of them finished */
    expiry_begin(x);
    for (int i = 0; i < 15; i++) {
        fp_of(3000 + i, fp);
        assert_true(expiry_register(x, PART, fp, T0 + (5 + i / 5) * H + i, T0 + 3 * H));
    }
    flush(f, x, T0 + 3 * H);
    assert_int_equal(raw_int(f, "ZCARD %s", "{x}:jx:ev:3"), 3);
    assert_int_equal(look(x, T0 + 10 * H), 1);
    expiry_slice(x, 0, &part, &st, &n);
    assert_int_equal(n, 15);
    flush(f, x, T0 + 10 * H);
    assert_int_equal(raw_int(f, "ZCARD %s", "{x}:jx:ev:3"), 0);
    assert_int_equal(raw_int(f, "EXISTS %s", "{x}:jb:ev:3:498750"), 0);

    /* an index that is not a sorted set: the read refuses, nothing is lost */
    freeReplyObject(redisCommand(f->raw, "DEL {x}:jx:ev:3"));
    freeReplyObject(redisCommand(f->raw, "SET {x}:jx:ev:3 oops"));
    char err[JD_ERRSTR_SIZE];
    expiry_begin(x);
    assert_true(expiry_want(x, PART, T0 + 4 * H));
    assert_int_equal(expiry_read(x, err, sizeof(err)), JD_ERR_CORRUPT);
    freeReplyObject(redisCommand(f->raw, "DEL {x}:jx:ev:3"));
    /* and a failed read is retried at the next batch */
    assert_int_equal(look(x, T0 + 4 * H + 1), 1);
    expiry_destroy(x);
    expiry_destroy(NULL);
}

/* Sorted-set members go grouped by key, in chunks the script's unpack can take. */
static void test_grouped_members(void **state)
{
    struct fixture *f = *state;
    char err[JD_ERRSTR_SIZE];
    struct store_refusal ref[4];
    size_t nref;
    enum { N = 4500 };
    struct store_zput *z = calloc(N + 2, sizeof(*z));
    char(*m)[16] = calloc(N + 2, sizeof(*m));
    assert_non_null(z);
    assert_non_null(m);
    for (int i = 0; i < N; i++) {
        snprintf(m[i], sizeof(m[i]), "m%d", i);
        /* A for most, B in the middle: three runs */
        const char *key = i >= 2000 && i < 2100 ? "{x}:zb" : "{x}:za";
        z[i] = (struct store_zput){ jd_str_c(key), jd_str_c(m[i]), i, false };
    }
    z[N] = (struct store_zput){ JD_STR_LIT("{x}:za"), JD_STR_LIT("m1"), 0, true };
    z[N + 1] = (struct store_zput){ JD_STR_LIT("{x}:zb"), JD_STR_LIT("m2000"), 0, true };
    assert_true(agg_seal(f->agg));
    struct store_part part = { PART, f->epoch, f->offset, f->offset + 1, T0, T0, false, 0 };
    struct store_flush fl = { .topic = "ev",
                              .owner = "a",
                              .parts = &part,
                              .nparts = 1,
                              .agg = f->agg,
                              .zputs = z,
                              .nzputs = N + 2 };
    /* deletions run after additions: m1 and m2000 are gone */
    assert_int_equal(store_flush(f->store, &fl, ref, 4, &nref, err, sizeof(err)), JD_OK);
    f->offset++;
    agg_reset(f->agg);
    assert_int_equal(raw_int(f, "ZCARD %s", "{x}:za"), N - 100 - 1);
    assert_int_equal(raw_int(f, "ZCARD %s", "{x}:zb"), 100 - 1);
    redisReply *r = redisCommand(f->raw, "ZSCORE {x}:za m4499");
    assert_int_equal(strtoll(r->str, NULL, 10), 4499);
    freeReplyObject(r);
    free(z);
    free(m);
}

/* A whole value's key that holds something else: the batch's read refuses it. */
static void test_read_refuses_other_types(void **state)
{
    struct fixture *f = *state;
    char err[JD_ERRSTR_SIZE];
    struct store_get g[2];
    memset(g, 0, sizeof(g));
    freeReplyObject(redisCommand(f->raw, "HSET {x}:j:h a b"));
    freeReplyObject(redisCommand(f->raw, "SET {x}:j:s v"));
    g[0].key = "{x}:j:s";
    g[1].key = "{x}:j:h";
    assert_int_equal(store_get_many(f->store, g, 2, err, sizeof(err)), JD_ERR_CORRUPT);
    assert_non_null(strstr(err, "{x}:j:h"));
    assert_null(g[0].value); /* nothing is handed back from a refused read */
}

/*
 * Regression (expiry.c, fixed): one batch wanting many partitions grows the
 * queue as it goes, and the read once used key pointers into the queue as it
 * was before it moved (a use after free under AddressSanitizer, wrong keys
 * without). Each partition's own bucket must be read.
 */
static void test_many_partitions_in_one_batch(void **state)
{
    struct fixture *f = *state;
    struct expiry *x = expiry_new(f->store, "ev");
    const int64_t H = EXPIRY_BUCKET_MS;
    char fp[33];
    int32_t part;
    int64_t st;
    size_t n;
    assert_non_null(x);
    /* one journey due in the first hour, listed for PART (the claimed one) */
    expiry_begin(x);
    fp_of(4242, fp);
    assert_true(expiry_register(x, PART, fp, T0 + 20 * H + 1, T0 + 20 * H));
    flush(f, x, T0 + 20 * H);
    expiry_begin(x);
    for (int32_t p = 0; p < 40; p++)
        assert_true(expiry_want(x, p, T0 + 22 * H));
    char err[JD_ERRSTR_SIZE];
    if (expiry_read(x, err, sizeof(err)) != JD_OK)
        fail_msg("read: %s", err);
    assert_int_equal(expiry_nreads(x), 40);
    for (size_t q = 0; q < 40; q++) {
        const char(*fps)[33] = expiry_slice(x, q, &part, &st, &n);
        assert_int_equal(part, (int32_t)q);
        assert_int_equal(n, part == PART);
        if (n)
            assert_string_equal(fps[0], fp);
    }
    expiry_destroy(x);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buckets),
        cmocka_unit_test(test_grouped_members),
        cmocka_unit_test(test_read_refuses_other_types),
        cmocka_unit_test(test_many_partitions_in_one_batch),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
