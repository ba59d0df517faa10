/*
 * test_watermark.c — unit tests for evaluate/watermark: the group-wide
 * watermark of rules.md from partitions' progress.
 *
 * Covers: the minimum over moving partitions minus the lateness; a claimed
 * partition without events holding it; idle partitions dropping out; all
 * idle in live operation (follows the clock) versus at the end of a
 * backfill (advances to the last event time, never to the clock); that it
 * never goes back; partitions found at their log end (a quiet partition
 * moves on by the wall time since its last batch; a delayed stream or the
 * end of a backfill is not pulled to the clock); and the data start.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "evaluate/watermark.h"

#define NOW  INT64_C(1795420860000) /* the clock (Redis's) */
#define LATE 5000
#define IDLE 30000

static const struct watermark_opts opts = { LATE, IDLE };

static struct store_progress part(int32_t id, int64_t st, int64_t wt)
{
    struct store_progress p = { .partition = id,
                                .has_st = st != INT64_MIN,
                                .st = st,
                                .has_st0 = st != INT64_MIN,
                                .st0 = st,
                                .has_wt = true,
                                .wt = wt };
    return p;
}

static void test_min_of_moving(void **state)
{
    (void)state;
    struct store_progress p[] = { part(0, NOW - 1000, NOW - 100), part(1, NOW - 3000, NOW - 200),
                                  part(2, NOW - 500, NOW) };
    assert_int_equal(watermark_compute(p, 3, NOW, INT64_MIN, &opts), NOW - 3000 - LATE);
    /* the slowest one goes idle: it stops holding the watermark back */
    p[1].wt = NOW - IDLE;
    assert_int_equal(watermark_compute(p, 3, NOW, INT64_MIN, &opts), NOW - 1000 - LATE);
}

static void test_claimed_without_events_holds(void **state)
{
    (void)state;
    struct store_progress p[] = { part(0, NOW - 1000, NOW - 100), part(1, INT64_MIN, NOW - 10) };
    assert_int_equal(watermark_compute(p, 2, NOW, INT64_MIN, &opts), INT64_MIN);
    assert_int_equal(watermark_compute(p, 2, NOW, 42, &opts), 42);
    /* claimed long ago and still nothing: idle, ignored */
    p[1].wt = NOW - IDLE - 1;
    assert_int_equal(watermark_compute(p, 2, NOW, 42, &opts), NOW - 1000 - LATE);
    /* no partitions at all */
    assert_int_equal(watermark_compute(p, 0, NOW, INT64_MIN, &opts), INT64_MIN);
}

static void test_all_idle_live_follows_clock(void **state)
{
    (void)state;
    /* events arrived in near real time, then silence for longer than the idle timeout */
    struct store_progress p[] = { part(0, NOW - 40000, NOW - 39000),
                                  part(1, NOW - 45000, NOW - 44000) };
    assert_int_equal(watermark_compute(p, 2, NOW, NOW - 45000, &opts), NOW - LATE);
    /* and keeps following it */
    assert_int_equal(watermark_compute(p, 2, NOW + 60000, NOW - LATE, &opts), NOW + 60000 - LATE);
}

static void test_all_idle_backfill_stops_at_data(void **state)
{
    (void)state;
    int64_t year = INT64_C(365) * 86400000;
    struct store_progress p[] = { part(0, NOW - year, NOW - 60000),
                                  part(1, NOW - year + 5000, NOW - 60000) };
    /* the end of a backfill: the latest event time, not the clock, not minus lateness */
    int64_t wm = watermark_compute(p, 2, NOW, NOW - year - 9000, &opts);
    assert_int_equal(wm, NOW - year + 5000);
    assert_int_equal(watermark_compute(p, 2, NOW + 3600000, wm, &opts), wm);
}

static void test_all_idle_future_data_is_a_backfill(void **state)
{
    (void)state;
    /* event times a day ahead of the clock: never pulled back to the clock */
    int64_t day = 86400000;
    struct store_progress p[] = { part(0, NOW + day, NOW - 60000) };
    int64_t wm = watermark_compute(p, 1, NOW, NOW + day - 9000, &opts);
    assert_int_equal(wm, NOW + day);
}

static void test_never_goes_back(void **state)
{
    (void)state;
    struct store_progress p[] = { part(0, NOW - 10000, NOW) };
    assert_int_equal(watermark_compute(p, 1, NOW, NOW - 1000, &opts), NOW - 1000);
    assert_int_equal(watermark_compute(p, 1, NOW, NOW - 20000, &opts), NOW - 10000 - LATE);
}

static struct store_progress at_end(struct store_progress p, int64_t ct)
{
    p.has_ct = true;
    p.ct = ct;
    return p;
}

static void test_log_end_quiet_partition(void **state)
{
    (void)state;
    /* partition 1 is quiet: its last event 900 ms ago, applied 880 ms ago, and the
     * consumer found it at its end 20 ms ago: its stream time moved on by 860 ms,
     * so partition 0's last event holds the watermark */
    struct store_progress p[] = { at_end(part(0, NOW - 300, NOW - 250), NOW - 250),
                                  at_end(part(1, NOW - 900, NOW - 880), NOW - 20) };
    assert_int_equal(watermark_compute(p, 2, NOW, INT64_MIN, &opts), NOW - 300 - LATE);
    p[1].ct = NOW - 700;
    assert_int_equal(watermark_compute(p, 2, NOW, INT64_MIN, &opts), NOW - 720 - LATE);
    /* not found at its end since its last batch: its event time holds it */
    p[1].ct = NOW - 950;
    assert_int_equal(watermark_compute(p, 2, NOW, INT64_MIN, &opts), NOW - 900 - LATE);
}

static void test_log_end_delayed_stream(void **state)
{
    (void)state;
    /* every event reaches Kafka 20 s after its event time (or the producer's clock is
     * 20 s behind): the partition moves on from its event time, never to the clock */
    struct store_progress p[] = { at_end(part(0, NOW - 25000, NOW - 5000), NOW) };
    assert_int_equal(watermark_compute(p, 1, NOW, INT64_MIN, &opts), NOW - 20000 - LATE);
    /* data ahead of the clock likewise */
    p[0] = at_end(part(0, NOW + 60000, NOW - 10), NOW);
    assert_int_equal(watermark_compute(p, 1, NOW, INT64_MIN, &opts), NOW + 60010 - LATE);
}

static void test_log_end_after_backfill(void **state)
{
    (void)state;
    /* the last batch of a backfill reached the end: the data is a year old, the
     * watermark moves on only by the wall time since, never to the clock */
    int64_t year = INT64_C(365) * 86400000;
    struct store_progress p[] = { at_end(part(0, NOW - year, NOW - 10), NOW - 10) };
    assert_int_equal(watermark_compute(p, 1, NOW, INT64_MIN, &opts), NOW - year - LATE);
    p[0].ct = NOW;
    assert_int_equal(watermark_compute(p, 1, NOW, INT64_MIN, &opts), NOW - year + 10 - LATE);
}

static void test_log_end_claimed_empty(void **state)
{
    (void)state;
    /* claimed, no event yet, but found at its end since the claim: nothing is on
     * its way, so it does not hold the watermark */
    struct store_progress p[] = { part(0, NOW - 1000, NOW - 100),
                                  at_end(part(1, INT64_MIN, NOW - 10), NOW - 5) };
    assert_int_equal(watermark_compute(p, 2, NOW, INT64_MIN, &opts), NOW - 1000 - LATE);
    /* at its end only before the claim: events may be on their way, hold */
    p[1].ct = NOW - 20;
    assert_int_equal(watermark_compute(p, 2, NOW, 42, &opts), 42);
    /* alone and empty at its end: the all-idle rules decide (backfill: last event) */
    int64_t year = INT64_C(365) * 86400000;
    struct store_progress q[] = { part(0, NOW - year, NOW - IDLE - 1),
                                  at_end(part(1, INT64_MIN, NOW - 10), NOW - 5) };
    assert_int_equal(watermark_compute(q, 2, NOW, NOW - year - LATE, &opts), NOW - year);
}

static void test_data_start(void **state)
{
    (void)state;
    struct store_progress p[] = { part(0, NOW - 10, NOW), part(1, INT64_MIN, NOW),
                                  part(2, NOW - 20, NOW) };
    p[0].st0 = NOW - 500;
    assert_int_equal(watermark_data_start(p, 3), NOW - 500);
    assert_int_equal(watermark_data_start(p + 1, 1), INT64_MIN);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_min_of_moving),
        cmocka_unit_test(test_claimed_without_events_holds),
        cmocka_unit_test(test_all_idle_live_follows_clock),
        cmocka_unit_test(test_all_idle_backfill_stops_at_data),
        cmocka_unit_test(test_all_idle_future_data_is_a_backfill),
        cmocka_unit_test(test_never_goes_back),
        cmocka_unit_test(test_log_end_quiet_partition),
        cmocka_unit_test(test_log_end_delayed_stream),
        cmocka_unit_test(test_log_end_after_backfill),
        cmocka_unit_test(test_log_end_claimed_empty),
        cmocka_unit_test(test_data_start),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
