/*
 * test_observe.c — the pieces behind /metrics and the logs: Prometheus text
 * (label escaping, number forms, cumulative histograms), bounded tallies
 * (the "_other" row, staging, commit and discard) and journald priority
 * prefixes on stderr.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/log.h"
#include "core/tally.h"
#include "observe/metrics.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void test_sample_escaping(void **state)
{
    (void)state;
    struct metrics_buf b = { 0 };
    const char *kv[] = { "channel", "a\"b\\c\nd", "model", "linear", NULL };
    metrics_family(&b, "x_total", "counter", "Help text.");
    metrics_sample(&b, "x_total", kv, 3);
    metrics_sample(&b, "y", NULL, 0.5);
    metrics_sample(&b, "z", NULL, INFINITY);
    metrics_sample(&b, "w", NULL, NAN);
    assert_string_equal(b.p, "# HELP x_total Help text.\n# TYPE x_total counter\n"
                             "x_total{channel=\"a\\\"b\\\\c\\nd\",model=\"linear\"} 3\n"
                             "y 0.5\nz +Inf\nw NaN\n");
    metrics_buf_free(&b);
}

static void test_histogram(void **state)
{
    (void)state;
    struct metrics_hist h = { 0 };
    struct metrics_buf b = { 0 };
    metrics_hist_observe(&h, 0.0005); /* first bucket */
    metrics_hist_observe(&h, 0.001);  /* le is inclusive */
    metrics_hist_observe(&h, 0.3);
    metrics_hist_observe(&h, 99); /* only +Inf */
    metrics_hist_write(&b, "lat_seconds", "Latency.", &h);
    assert_non_null(strstr(b.p, "lat_seconds_bucket{le=\"0.001\"} 2\n"));
    assert_non_null(strstr(b.p, "lat_seconds_bucket{le=\"0.25\"} 2\n"));
    assert_non_null(strstr(b.p, "lat_seconds_bucket{le=\"0.5\"} 3\n"));
    assert_non_null(strstr(b.p, "lat_seconds_bucket{le=\"30\"} 3\n"));
    assert_non_null(strstr(b.p, "lat_seconds_bucket{le=\"+Inf\"} 4\n"));
    assert_non_null(strstr(b.p, "lat_seconds_count 4\n"));
    assert_non_null(strstr(b.p, "# TYPE lat_seconds histogram\n"));
    metrics_buf_free(&b);
}

static void test_html_escaping(void **state)
{
    (void)state;
    struct metrics_buf b = { 0 };
    metrics_html(&b, "<a href=\"x\">&'</a>");
    assert_string_equal(b.p, "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;");
    metrics_buf_free(&b);
}

static void test_tally(void **state)
{
    (void)state;
    struct tally *t = tally_new(2, 3);
    assert_non_null(t);
    tally_add(t, "douyin", 6, 0, 5);
    tally_add(t, "wechat", 6, 1, 7);
    tally_add(t, "live", 4, 2, 1); /* beyond the cap */
    char big[80];
    memset(big, 'x', sizeof(big));
    tally_add(t, big, sizeof(big), 2, 1); /* too long: _other too */
    assert_int_equal(tally_rows(t), 2);   /* staged only: _other not reported yet */
    assert_int_equal(tally_total(t, 0, 0), 0);
    tally_commit(t);
    assert_int_equal(tally_rows(t), 3);
    assert_string_equal(tally_label(t, 0), "douyin");
    assert_string_equal(tally_label(t, 1), "wechat");
    assert_string_equal(tally_label(t, 2), "_other");
    assert_int_equal(tally_total(t, 0, 0), 5);
    assert_int_equal(tally_total(t, 1, 1), 7);
    assert_int_equal(tally_total(t, 2, 2), 2);
    /* a value that is itself "_other" (a valid event type) joins that row, even with room
     * left: two rows named alike would make the /metrics page invalid */
    struct tally *u = tally_new(4, 1);
    tally_add(u, "_other", 6, 0, 3);
    tally_add(u, "lead", 4, 0, 1);
    tally_commit(u);
    assert_int_equal(tally_rows(u), 2);
    assert_string_equal(tally_label(u, 0), "lead");
    assert_string_equal(tally_label(u, 1), "_other");
    assert_int_equal(tally_total(u, 1, 0), 3);
    tally_destroy(u);
    tally_add(t, "douyin", 6, 0, 100);
    tally_discard(t); /* a batch that was not applied */
    tally_add(t, "douyin", 6, 0, 1);
    tally_commit(t);
    assert_int_equal(tally_total(t, 0, 0), 6);
    tally_destroy(t);
    tally_destroy(NULL);
}

/* Logs one line at \p level to a file standing in for stderr; returns its first bytes. */
static void test_log_line(bool journal, enum log_format fmt, char *out, size_t size)
{
    char path[] = "/tmp/jd-test-log-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    int saved = dup(STDERR_FILENO);
    dup2(fd, STDERR_FILENO);
    struct stat st;
    fstat(fd, &st);
    char js[64];
    snprintf(js, sizeof(js), "%llu:%llu", (unsigned long long)st.st_dev,
             journal ? (unsigned long long)st.st_ino : (unsigned long long)st.st_ino + 1);
    setenv("JOURNAL_STREAM", js, 1);
    log_configure(LOG_LVL_INFO, fmt);
    log_warn("test", "something odd", "n=%d", 3);
    log_debug("test", "not shown", "%s", "");
    dup2(saved, STDERR_FILENO);
    close(saved);
    unsetenv("JOURNAL_STREAM");
    log_configure(LOG_LVL_INFO, LOG_FMT_LOGFMT);
    ssize_t n = pread(fd, out, size - 1, 0);
    out[n > 0 ? n : 0] = '\0';
    close(fd);
    unlink(path);
}

static void test_log_journal_prefix(void **state)
{
    (void)state;
    char line[512];
    test_log_line(true, LOG_FMT_LOGFMT, line, sizeof(line));
    assert_true(!strncmp(line, "<4>ts=", 6));
    assert_non_null(strstr(line, " level=warn component=test msg=\"something odd\" n=3\n"));
    assert_null(strstr(line, "not shown"));
    test_log_line(true, LOG_FMT_JSON, line, sizeof(line));
    assert_true(!strncmp(line, "<4>{\"ts\":", 9));
    assert_non_null(strstr(line, "\"level\":\"warn\",\"component\":\"test\""));
    test_log_line(false, LOG_FMT_LOGFMT, line, sizeof(line)); /* another stream: no prefix */
    assert_true(!strncmp(line, "ts=", 3));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sample_escaping),    cmocka_unit_test(test_histogram),
        cmocka_unit_test(test_html_escaping),      cmocka_unit_test(test_tally),
        cmocka_unit_test(test_log_journal_prefix),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
