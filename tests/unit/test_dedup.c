/*
 * test_dedup.c — unit tests for aggregate/dedup: the per-partition set of
 * recently seen event-id fingerprints.
 *
 * Covers fingerprints and their serialisation, seen() with
 * min_slice/slice, expiry by slice, dedup_load(), growth and rebuilds,
 * eviction at max_ids, and two properties against a naive model: the live
 * decisions, and restart determinism (persist each slice's new fingerprints
 * as pipeline.c does, reload them into a fresh set, continue, compare).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "aggregate/dedup.h"
#include "core/jd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng_state;

static uint64_t splitmix64(void)
{
    uint64_t z = (rng_state += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static struct dedup_fp fp_of(uint64_t id)
{
    char buf[32];
    int n = snprintf(buf, sizeof(buf), "evt-%llu", (unsigned long long)id);
    return dedup_fingerprint((struct jd_str){ buf, (size_t)n });
}

/*
 * Out-of-memory injection: the test binary links with --wrap=calloc, so the
 * set's own allocations come here.
 */
static bool calloc_fails;
void *__real_calloc(size_t n, size_t size);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_calloc(size_t n, size_t size)
{
    return calloc_fails ? NULL : __real_calloc(n, size);
}

/* dedup_check_insert() as a predicate: true for a duplicate (memory never runs out here). */
static bool seen(struct dedup *d, struct dedup_fp fp, int64_t min_slice, int64_t slice)
{
    enum dedup_verdict v = dedup_check_insert(d, fp, min_slice, slice);
    assert_int_not_equal(v, DEDUP_FULL);
    return v == DEDUP_SEEN;
}

static struct dedup *new_set(size_t max_ids)
{
    struct dedup *d = dedup_new(max_ids);
    assert_non_null(d);
    return d;
}

/* A growable byte buffer per slice: what the flush script would persist. */
struct blob {
    unsigned char *p;
    size_t n, cap;
};

static void blob_append(struct blob *b, struct dedup_fp fp)
{
    if (b->n + DEDUP_FP_SIZE > b->cap) {
        b->cap = b->cap ? b->cap * 2 : 256;
        b->p = realloc(b->p, b->cap);
        assert_non_null(b->p);
    }
    dedup_fp_write(fp, b->p + b->n);
    b->n += DEDUP_FP_SIZE;
}

/* ------------------------------------------------------------ basics */

static void test_fingerprint(void **state)
{
    (void)state;
    struct dedup_fp a = dedup_fingerprint(JD_STR_LIT("01JD3K8Z6Q"));
    struct dedup_fp b = dedup_fingerprint(JD_STR_LIT("01JD3K8Z6Q"));
    struct dedup_fp c = dedup_fingerprint(JD_STR_LIT("01JD3K8Z6R"));
    struct dedup_fp e = dedup_fingerprint(JD_STR_NULL);
    assert_true(a.a == b.a && a.b == b.b);
    assert_false(a.a == c.a && a.b == c.b);
    /* a == 0 marks an empty slot: never produced */
    assert_int_not_equal(a.a, 0);
    assert_int_not_equal(e.a, 0);
    /* both halves carry entropy */
    assert_int_not_equal(a.b, c.b);
    for (uint64_t i = 0; i < 100000; i++)
        assert_int_not_equal(fp_of(i).a, 0);
}

static void test_fp_write_little_endian(void **state)
{
    struct dedup_fp fp = { UINT64_C(0x0807060504030201), UINT64_C(0x100f0e0d0c0b0a09) };
    unsigned char out[DEDUP_FP_SIZE + 1];
    (void)state;
    out[DEDUP_FP_SIZE] = 0xee;
    dedup_fp_write(fp, out);
    for (int i = 0; i < DEDUP_FP_SIZE; i++)
        assert_int_equal(out[i], i + 1);
    assert_int_equal(out[DEDUP_FP_SIZE], 0xee);
}

static void test_check_insert(void **state)
{
    struct dedup *d = new_set(10000);
    struct dedup_fp x = fp_of(1), y = fp_of(2);
    (void)state;

    assert_int_equal(dedup_count(d), 0);
    assert_false(seen(d, x, INT64_MIN, 5)); /* new: recorded in slice 5 */
    assert_true(seen(d, x, INT64_MIN, 5));  /* seen */
    assert_true(seen(d, x, 5, 6));          /* slice 5 >= min_slice 5 */
    assert_false(seen(d, y, 5, 6));
    assert_int_equal(dedup_count(d), 2);

    /* min_slice passes slice 5: x counts as new again and moves to slice 7 */
    assert_false(seen(d, x, 6, 7));
    assert_true(seen(d, x, 7, 8));
    assert_true(seen(d, y, 6, 8)); /* y was recorded in 6 */
    assert_false(seen(d, y, 7, 8));
    assert_int_equal(dedup_count(d), 2);
    assert_int_equal(dedup_evicted(d), 0);
    dedup_destroy(d);
    dedup_destroy(NULL);
}

/* dedup_count() leaves out entries whose slice is below the newest min_slice. */
static void test_count_expiry(void **state)
{
    struct dedup *d = new_set(10000);
    (void)state;
    for (uint64_t i = 0; i < 100; i++)
        assert_false(seen(d, fp_of(i), INT64_MIN, (int64_t)(i / 10)));
    assert_int_equal(dedup_count(d), 100);
    assert_false(seen(d, fp_of(1000), 5, 10));
    assert_int_equal(dedup_count(d), 50 + 1);
    /* expired ids are new again, fresh ones still duplicates */
    assert_false(seen(d, fp_of(3), 5, 10)); /* slice 0 */
    assert_true(seen(d, fp_of(55), 5, 10)); /* slice 5 */
    assert_true(seen(d, fp_of(99), 5, 10)); /* slice 9 */
    assert_int_equal(dedup_count(d), 52);
    dedup_destroy(d);
}

static void test_clear(void **state)
{
    struct dedup *d = new_set(10000);
    (void)state;
    for (uint64_t i = 0; i < 5000; i++)
        seen(d, fp_of(i), INT64_MIN, 1);
    assert_int_equal(dedup_count(d), 5000);
    dedup_clear(d);
    assert_int_equal(dedup_count(d), 0);
    assert_false(seen(d, fp_of(7), INT64_MIN, 1));
    assert_true(seen(d, fp_of(7), INT64_MIN, 1));
    /* the floor is forgotten too: old slices count again */
    dedup_clear(d);
    assert_false(seen(d, fp_of(8), INT64_MIN, -100));
    assert_int_equal(dedup_count(d), 1);
    dedup_destroy(d);
}

static void test_load(void **state)
{
    struct dedup *d = new_set(10000);
    struct blob b = { 0 };
    (void)state;

    blob_append(&b, fp_of(1));
    blob_append(&b, fp_of(2));
    blob_append(&b, fp_of(3));
    dedup_load(d, b.p, b.n, 7);
    assert_int_equal(dedup_count(d), 3);
    assert_true(seen(d, fp_of(1), 7, 9));
    assert_false(seen(d, fp_of(2), 8, 9)); /* slice 7 < 8: new again */
    assert_true(seen(d, fp_of(2), 8, 9));
    assert_true(seen(d, fp_of(3), INT64_MIN, 9));
    assert_false(seen(d, fp_of(4), 7, 9));
    dedup_destroy(d);

    /* an all-zero record (a == 0) and a truncated tail are skipped */
    d = new_set(10000);
    b.n = 0;
    blob_append(&b, fp_of(10));
    blob_append(&b, (struct dedup_fp){ 0, 12345 });
    blob_append(&b, fp_of(11));
    dedup_load(d, b.p, b.n - 5, 1);
    assert_int_equal(dedup_count(d), 1);
    assert_true(seen(d, fp_of(10), 1, 1));
    assert_false(seen(d, fp_of(11), 1, 1));
    dedup_load(d, NULL, 0, 1);
    dedup_destroy(d);

    /* the same id in two slices keeps the newer, whatever the order */
    for (int order = 0; order < 2; order++) {
        struct blob old = { 0 }, newer = { 0 };
        d = new_set(10000);
        blob_append(&old, fp_of(20));
        blob_append(&newer, fp_of(20));
        if (order == 0) {
            dedup_load(d, old.p, old.n, 3);
            dedup_load(d, newer.p, newer.n, 9);
        } else {
            dedup_load(d, newer.p, newer.n, 9);
            dedup_load(d, old.p, old.n, 3);
        }
        assert_int_equal(dedup_count(d), 1);
        assert_true(seen(d, fp_of(20), 5, 10));
        free(old.p);
        free(newer.p);
        dedup_destroy(d);
    }

    /* loading over a live entry of an older slice updates it */
    d = new_set(10000);
    assert_false(seen(d, fp_of(30), INT64_MIN, 2));
    b.n = 0;
    blob_append(&b, fp_of(30));
    dedup_load(d, b.p, b.n, 6);
    assert_true(seen(d, fp_of(30), 6, 7));
    dedup_destroy(d);
    free(b.p);
}

/* Many ids in one slice: the table grows, nothing is lost or evicted. */
static void test_growth(void **state)
{
    const uint64_t n = 200000;
    struct dedup *d = new_set(1000000);
    (void)state;
    for (uint64_t i = 0; i < n; i++)
        if (seen(d, fp_of(i), 0, 0))
            fail_msg("id %llu reported seen on first sight", (unsigned long long)i);
    assert_int_equal(dedup_count(d), n);
    for (uint64_t i = 0; i < n; i++)
        if (!seen(d, fp_of(i), 0, 0))
            fail_msg("id %llu forgotten", (unsigned long long)i);
    assert_int_equal(dedup_evicted(d), 0);
    /* loading the same ids again adds nothing */
    struct blob b = { 0 };
    for (uint64_t i = 0; i < 1000; i++)
        blob_append(&b, fp_of(i));
    dedup_load(d, b.p, b.n, 0);
    assert_int_equal(dedup_count(d), n);
    free(b.p);
    dedup_destroy(d);
}

/* A sliding window over a long stream: expired slots are reused, nothing evicted. */
static void test_long_stream_no_eviction(void **state)
{
    struct dedup *d = new_set(1000);
    (void)state;
    for (int64_t slice = 0; slice < 20000; slice++) {
        for (uint64_t k = 0; k < 100; k++) {
            uint64_t id = (uint64_t)slice * 100 + k;
            if (seen(d, fp_of(id), slice - 5, slice))
                fail_msg("slice %lld: new id reported seen", (long long)slice);
        }
        /* the previous slice's ids are still duplicates */
        if (slice > 0 && !seen(d, fp_of((uint64_t)(slice - 1) * 100 + 7), slice - 5, slice))
            fail_msg("slice %lld: id of the previous slice forgotten", (long long)slice);
        if (dedup_count(d) > 600)
            fail_msg("slice %lld: %zu live entries for a 6-slice window", (long long)slice,
                     dedup_count(d));
    }
    assert_int_equal(dedup_evicted(d), 0);
    dedup_destroy(d);
}

/* At max_ids the oldest slices are forgotten, whole, and counted. */
static void test_eviction_oldest_first(void **state)
{
    const uint64_t per = 100, slices = 30;
    struct dedup *d = new_set(1000);
    (void)state;

    for (uint64_t s = 0; s < slices; s++)
        for (uint64_t k = 0; k < per; k++)
            assert_false(seen(d, fp_of(s * per + k), INT64_MIN, (int64_t)s));
    /* a lookup may itself trigger the pending rebuild: settle first */
    assert_true(seen(d, fp_of(slices * per - 1), INT64_MIN, 100));
    size_t live = dedup_count(d);
    uint64_t evicted = dedup_evicted(d);
    assert_true(evicted > 0);
    assert_int_equal(live + evicted, slices * per); /* every id is kept or counted */
    assert_int_equal(live % per, 0);                /* whole slices go */

    /* the newest live/per slices are remembered; the slice just below is not */
    uint64_t kept = live / per;
    for (uint64_t s = slices - 1; s >= slices - kept; s--)
        for (uint64_t k = 0; k < per; k++)
            if (!seen(d, fp_of(s * per + k), INT64_MIN, 100))
                fail_msg("id %llu of slice %llu forgotten though newer than the evicted",
                         (unsigned long long)(s * per + k), (unsigned long long)s);
    assert_false(seen(d, fp_of((slices - kept - 1) * per), INT64_MIN, 100));
    dedup_destroy(d);
}

/*
 * Regression (dedup.c, dedup_new/dedup_rebuild, fixed): dedup.h promises "a set that holds
 * at most max_ids fingerprints", but the cap is 3/4 of a power of two of at
 * least 4/3 × max_ids (and at least 768), so dedup_new(1000) keeps up to 1536
 * ids, and limits.dedup_ids = 2,000,000 keeps up to 3,145,728 (~50 MB more).
 */
static void test_max_ids_is_a_bound(void **state)
{
    struct dedup *d = new_set(1000);
    size_t most = 0;
    (void)state;
    for (uint64_t s = 0; s < 30; s++) {
        for (uint64_t k = 0; k < 100; k++)
            seen(d, fp_of(s * 100 + k), INT64_MIN, (int64_t)s);
        if (dedup_count(d) > most)
            most = dedup_count(d);
    }
    dedup_destroy(d);
    if (most > 1000)
        fail_msg("dedup_new(1000) held %zu ids", most);
}

/* -------------------------------------------------------- properties */

/* The naive model: id -> slice it was last recorded in (-1: never). */
struct model {
    int64_t *rec;
    size_t n;
};

static bool model_check_insert(struct model *m, uint64_t id, int64_t min_slice, int64_t slice)
{
    if (m->rec[id] != INT64_MIN && m->rec[id] >= min_slice)
        return true;
    m->rec[id] = slice;
    return false;
}

/* One event of a partition: an id drawn with locality, a roughly increasing time. */
struct sim_event {
    uint64_t id;
    int64_t ts;
};

static struct sim_event *make_stream(size_t n, size_t pool)
{
    struct sim_event *ev = malloc(n * sizeof(*ev));
    int64_t t = 1000;
    assert_non_null(ev);
    for (size_t i = 0; i < n; i++) {
        t += (int64_t)(splitmix64() % 4);
        /* some late events, some far in the past */
        int64_t jitter = splitmix64() % 8 == 0 ? -(int64_t)(splitmix64() % 200) : 0;
        ev[i].ts = t + jitter;
        /* repeats: recent ids often, old ids sometimes, fresh ids mostly */
        uint64_t r = splitmix64() % 10;
        if (r < 3 && i > 0)
            ev[i].id = ev[i - 1 - splitmix64() % (i < 50 ? i : 50)].id;
        else if (r < 4 && i > 0)
            ev[i].id = ev[splitmix64() % i].id;
        else
            ev[i].id = splitmix64() % pool;
    }
    return ev;
}

#define SLICE_LEN 20 /* stream-time units per slice */
#define WINDOW    6  /* slices remembered, as PIPELINE_DEDUP_SLICES */

static int64_t slice_of(int64_t t)
{
    return t >= 0 ? t / SLICE_LEN : -((-t + SLICE_LEN - 1) / SLICE_LEN);
}

/* The decisions of dedup match the model over a long stream with expiry. */
static void test_matches_model(void **state)
{
    const size_t n = 300000, pool = 50000;
    (void)state;
    rng_state = 31;
    struct sim_event *ev = make_stream(n, pool);
    struct model m = { malloc(pool * sizeof(int64_t)), pool };
    struct dedup *d = new_set(1000000);
    int64_t st = INT64_MIN;
    size_t dups = 0;

    assert_non_null(m.rec);
    for (size_t i = 0; i < pool; i++)
        m.rec[i] = INT64_MIN;
    for (size_t i = 0; i < n; i++) {
        int64_t min_slice = st == INT64_MIN ? INT64_MIN : slice_of(st) - WINDOW;
        int64_t nst = st == INT64_MIN || ev[i].ts > st ? ev[i].ts : st;
        int64_t slice = slice_of(nst);
        bool want = model_check_insert(&m, ev[i].id, min_slice, slice);
        bool got = seen(d, fp_of(ev[i].id), min_slice, slice);
        if (got != want)
            fail_msg("event %zu (id %llu, slice %lld, min %lld): dup %d, model %d", i,
                     (unsigned long long)ev[i].id, (long long)slice, (long long)min_slice, got,
                     want);
        dups += got;
        st = nst;
    }
    /* the stream really exercised both outcomes */
    assert_true(dups > n / 10);
    assert_true(dups < n - n / 10);
    assert_int_equal(dedup_evicted(d), 0);
    dedup_destroy(d);
    free(m.rec);
    free(ev);
}

/*
 * Restart determinism: run a partition's stream; at a cut, persist nothing
 * but each slice's newly recorded fingerprints (the flush script's blobs),
 * build a fresh set from the slices [cur - WINDOW, cur] as pipeline_claim()
 * does, and continue both: every later decision must agree.
 */
static void run_restart(size_t n, size_t pool, size_t cut, bool newest_first, uint64_t seed)
{
    rng_state = seed;
    struct sim_event *ev = make_stream(n, pool);
    size_t nslices = (size_t)slice_of(ev[0].ts + (int64_t)n * 4) + 16;
    struct blob *blobs = calloc(nslices, sizeof(*blobs));
    struct dedup *live = new_set(1000000), *restarted = NULL;
    int64_t st = INT64_MIN;
    size_t dups_after = 0;

    assert_non_null(blobs);
    for (size_t i = 0; i < n; i++) {
        if (i == cut) {
            restarted = new_set(1000000);
            int64_t cur = slice_of(st);
            for (int64_t k = 0; k <= WINDOW; k++) {
                int64_t s = newest_first ? cur - k : cur - WINDOW + k;
                if (s >= 0 && (size_t)s < nslices && blobs[s].n)
                    dedup_load(restarted, blobs[s].p, blobs[s].n, s);
            }
        }
        int64_t min_slice = st == INT64_MIN ? INT64_MIN : slice_of(st) - WINDOW;
        int64_t nst = st == INT64_MIN || ev[i].ts > st ? ev[i].ts : st;
        int64_t slice = slice_of(nst);
        struct dedup_fp fp = fp_of(ev[i].id);
        bool a = seen(live, fp, min_slice, slice);
        if (restarted) {
            bool b = seen(restarted, fp, min_slice, slice);
            if (a != b)
                fail_msg("seed %llu cut %zu: event %zu (id %llu): live %d, restarted %d",
                         (unsigned long long)seed, cut, i, (unsigned long long)ev[i].id, a, b);
            dups_after += a;
        }
        if (!a) {
            assert_true((size_t)slice < nslices);
            blob_append(&blobs[slice], fp);
        }
        st = nst;
    }
    for (size_t s = 0; s < nslices; s++)
        free(blobs[s].p);
    free(blobs);
    free(ev);
    dedup_destroy(live);
    dedup_destroy(restarted);
    /* a long enough tail after the cut really compared duplicates */
    if (n - cut > 1000)
        assert_true(dups_after > 0);
}

static void test_restart_determinism(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 12; seed++) {
        size_t n = 20000 + (size_t)(seed * 1000);
        size_t cut = (size_t)(seed * 2654435761u % n);
        run_restart(n, 3000 + seed * 500, cut, seed % 2 == 0, seed);
    }
    /* a cut right after the first event and right before the last */
    run_restart(5000, 800, 1, false, 99);
    run_restart(5000, 800, 4999, true, 100);
}

/*
 * When the table cannot grow it still answers for every id it holds, says
 * DEDUP_FULL for new ones instead of filling its last empty slot (which would
 * make every later probe spin forever), and recovers once memory returns.
 */
static void test_out_of_memory(void **state)
{
    struct dedup *d = new_set(1000000);
    uint64_t i, full = 0, stored = 0;
    (void)state;

    for (i = 0; i < 700; i++)
        assert_false(seen(d, fp_of(i), INT64_MIN, 1));
    calloc_fails = true;
    for (; i < 3000; i++) {
        enum dedup_verdict v = dedup_check_insert(d, fp_of(i), INT64_MIN, 1);
        assert_int_not_equal(v, DEDUP_SEEN);
        if (v == DEDUP_FULL)
            full++;
        else
            stored++;
    }
    assert_true(full > 0);
    assert_true(stored > 0 && stored < 1024 - 700);
    for (uint64_t k = 0; k < 700 + stored; k++)
        assert_int_equal(dedup_check_insert(d, fp_of(k), INT64_MIN, 1), DEDUP_SEEN);
    unsigned char blob[DEDUP_FP_SIZE * 8];
    for (int k = 0; k < 8; k++)
        dedup_fp_write(fp_of(100000 + (uint64_t)k), blob + k * DEDUP_FP_SIZE);
    assert_false(dedup_load(d, blob, sizeof(blob), 1));
    calloc_fails = false;
    assert_int_equal(dedup_check_insert(d, fp_of(2999), INT64_MIN, 1), DEDUP_NEW);
    assert_true(dedup_load(d, blob, sizeof(blob), 1));
    assert_true(seen(d, fp_of(100007), INT64_MIN, 1));
    dedup_destroy(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fingerprint),
        cmocka_unit_test(test_fp_write_little_endian),
        cmocka_unit_test(test_check_insert),
        cmocka_unit_test(test_count_expiry),
        cmocka_unit_test(test_clear),
        cmocka_unit_test(test_load),
        cmocka_unit_test(test_growth),
        cmocka_unit_test(test_long_stream_no_eviction),
        cmocka_unit_test(test_eviction_oldest_first),
        cmocka_unit_test(test_max_ids_is_a_bound),
        cmocka_unit_test(test_matches_model),
        cmocka_unit_test(test_restart_determinism),
        cmocka_unit_test(test_out_of_memory),
    };
    return cmocka_run_group_tests_name("dedup", tests, NULL, NULL);
}
