/*
 * test_ts.c — unit tests for core/ts: RFC 3339 parsing and formatting,
 * durations, civil-date arithmetic, floor division and ts_parse_time_arg.
 *
 * Expected epoch values were computed independently (Python's datetime);
 * the calendar sweep checks ts_days_from_civil/ts_civil_from_days against a
 * naive day-by-day calendar walk.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/jd.h"
#include "core/ts.h"

#include <stdio.h>
#include <string.h>

/* Deterministic PRNG for the property tests. */
static uint64_t rng_state;

static uint64_t splitmix64(void)
{
    uint64_t z = (rng_state += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

/* Uniform in [lo, hi] (hi - lo well below 2^63). */
static int64_t rng_range(int64_t lo, int64_t hi)
{
    return lo + (int64_t)(splitmix64() % (uint64_t)(hi - lo + 1));
}

/* ------------------------------------------------------------- RFC 3339 */

static void test_rfc3339_parse_valid(void **state)
{
    static const struct {
        const char *in;
        int64_t want;
    } cases[] = {
        { "1970-01-01T00:00:00Z", 0 },
        { "1970-01-01T00:00:00.001Z", 1 },
        { "2026-11-23T08:00:00.123Z", INT64_C(1795420800123) },
        { "2026-11-23T08:00:00+08:00", INT64_C(1795392000000) },
        { "2026-11-23T08:00:00-05:30", INT64_C(1795440600000) },
        { "2026-11-23T08:00:00.123+00:00", INT64_C(1795420800123) },
        { "2026-11-23T08:00:00.123-00:00", INT64_C(1795420800123) },
        /* separators and zone letter in either case */
        { "2026-11-23t08:00:00.123z", INT64_C(1795420800123) },
        { "2026-11-23 08:00:00.123Z", INT64_C(1795420800123) },
        /* fractions: padded to ms, extra digits truncated */
        { "1970-01-01T00:00:00.1Z", 100 },
        { "1970-01-01T00:00:00.12Z", 120 },
        { "1970-01-01T00:00:00.1239Z", 123 },
        { "1970-01-01T00:00:00.999999999Z", 999 },
        /* truncation is toward the past, also before the epoch */
        { "1969-12-31T23:59:59.999Z", -1 },
        { "1969-12-31T23:59:59.9999Z", -1 },
        { "1969-07-20T20:17:40Z", INT64_C(-14182940000) },
        { "1900-01-01T00:00:00Z", INT64_C(-2208988800000) },
        { "0001-01-01T00:00:00Z", INT64_C(-62135596800000) },
        { "0000-01-01T00:00:00Z", INT64_C(-62167219200000) },
        { "9999-12-31T23:59:59.999Z", TS_MAX_MS },
        /* an offset can move the instant across a day and year boundary */
        { "2026-01-01T00:30:00+01:00", INT64_C(1767223800000) },
        /* leap days */
        { "2024-02-29T00:00:00Z", INT64_C(1709164800000) },
        { "2000-02-29T12:34:56.789Z", INT64_C(951827696789) },
        /* leap second: the last representable instant of the minute */
        { "2016-12-31T23:59:60Z", INT64_C(1483228799999) },
        { "2016-12-31T23:59:60.5Z", INT64_C(1483228799999) },
        /* extreme but valid offsets */
        { "1970-01-01T23:59:00+23:59", 0 },
    };
    (void)state;
    for (size_t i = 0; i < JD_ARRAY_SIZE(cases); i++) {
        int64_t ms = 42;
        char err[JD_ERRSTR_SIZE] = "";
        enum jd_err rc = ts_parse_rfc3339(cases[i].in, strlen(cases[i].in), &ms, err, sizeof(err));
        if (rc != JD_OK)
            fail_msg("case %zu '%s': rc %d (%s)", i, cases[i].in, rc, err);
        if (ms != cases[i].want)
            fail_msg("case %zu '%s': got %lld, want %lld", i, cases[i].in, (long long)ms,
                     (long long)cases[i].want);
    }
}

static void test_rfc3339_parse_invalid(void **state)
{
    static const char *const cases[] = {
        "",
        "2026",
        "2026-11-23",
        "2026-11-23T",
        "2026-11-23T08:00:00",       /* no zone */
        "2026-11-23T08:00Z",         /* no seconds */
        "2026-11-23T08:00:00.Z",     /* empty fraction */
        "2026-11-23T08:00:00ZZ",     /* trailing */
        "2026-11-23T08:00:00Z ",     /* trailing space */
        "2026-11-23X08:00:00Z",      /* bad separator */
        "26-11-23T08:00:00Z",        /* two-digit year */
        "2026-1-23T08:00:00Z",       /* one-digit month */
        "2026-11-3T08:00:00Z",       /* one-digit day */
        "2026/11/23T08:00:00Z",      /* wrong date separators */
        "2026-13-01T00:00:00Z",      /* month 13 */
        "2026-00-10T00:00:00Z",      /* month 0 */
        "2026-11-00T00:00:00Z",      /* day 0 */
        "2026-04-31T00:00:00Z",      /* April has 30 days */
        "2023-02-29T00:00:00Z",      /* not a leap year */
        "1900-02-29T00:00:00Z",      /* century, not a leap year */
        "2026-11-23T24:00:00Z",      /* hour 24 */
        "2026-11-23T08:60:00Z",      /* minute 60 */
        "2026-11-23T08:00:61Z",      /* second 61 */
        "2026-11-23T08:00:00+24:00", /* offset hour */
        "2026-11-23T08:00:00+05:60", /* offset minute */
        "2026-11-23T08:00:00+0530",  /* offset without colon */
        "2026-11-23T08:00:00+08",    /* short offset */
        "2026-11-23T08:00:00 Z",     /* space before zone */
        "-2026-11-23T08:00:00Z",     /* sign */
        "2026-11-23T8:00:00Z",       /* one-digit hour */
        "1700000000",                /* unix seconds are not RFC 3339 */
    };
    (void)state;
    for (size_t i = 0; i < JD_ARRAY_SIZE(cases); i++) {
        int64_t ms = 42;
        char err[JD_ERRSTR_SIZE] = "";
        enum jd_err rc = ts_parse_rfc3339(cases[i], strlen(cases[i]), &ms, err, sizeof(err));
        if (rc != JD_ERR_INVALID)
            fail_msg("case %zu '%s': rc %d, want JD_ERR_INVALID", i, cases[i], rc);
        if (!err[0])
            fail_msg("case %zu '%s': no reason in errstr", i, cases[i]);
    }
}

/* The parser honours n: it neither reads past it nor needs a NUL. */
static void test_rfc3339_parse_respects_length(void **state)
{
    const char text[] = "2026-11-23T08:00:00.123Zjunk";
    char heap[24];
    int64_t ms = 0;
    (void)state;

    assert_int_equal(ts_parse_rfc3339(text, 24, &ms, NULL, 0), JD_OK);
    assert_int_equal(ms, INT64_C(1795420800123));
    /* cut inside the zone: nothing to read there */
    assert_int_equal(ts_parse_rfc3339(text, 23, &ms, NULL, 0), JD_ERR_INVALID);
    /* exactly-sized buffer without a terminator (ASan catches over-reads) */
    memcpy(heap, text, sizeof(heap));
    assert_int_equal(ts_parse_rfc3339(heap, sizeof(heap), &ms, NULL, 0), JD_OK);
    assert_int_equal(ms, INT64_C(1795420800123));
}

static void test_rfc3339_format(void **state)
{
    static const struct {
        int64_t ms;
        const char *want;
    } cases[] = {
        { 0, "1970-01-01T00:00:00Z" },
        { 1, "1970-01-01T00:00:00.001Z" },
        { 10, "1970-01-01T00:00:00.010Z" },
        { 123, "1970-01-01T00:00:00.123Z" },
        { 1000, "1970-01-01T00:00:01Z" },
        { -1, "1969-12-31T23:59:59.999Z" },
        { -1000, "1969-12-31T23:59:59Z" },
        { INT64_C(1795420800123), "2026-11-23T08:00:00.123Z" },
        { INT64_C(1709164800000), "2024-02-29T00:00:00Z" },
        { INT64_C(-2208988800000), "1900-01-01T00:00:00Z" },
        { INT64_C(-62167219200000), "0000-01-01T00:00:00Z" },
        { TS_MAX_MS, "9999-12-31T23:59:59.999Z" },
    };
    (void)state;
    for (size_t i = 0; i < JD_ARRAY_SIZE(cases); i++) {
        char buf[TS_RFC3339_SIZE];
        memset(buf, 'x', sizeof(buf));
        size_t n = ts_format_rfc3339(cases[i].ms, buf, sizeof(buf));
        if (strcmp(buf, cases[i].want) != 0)
            fail_msg("case %zu (%lld): got '%s', want '%s'", i, (long long)cases[i].ms, buf,
                     cases[i].want);
        assert_int_equal(n, strlen(cases[i].want));
    }
}

static void test_rfc3339_format_small_buffer(void **state)
{
    char buf[8];
    (void)state;
    memset(buf, 'x', sizeof(buf));
    ts_format_rfc3339(INT64_C(1795420800123), buf, 5);
    assert_string_equal(buf, "2026");
    assert_int_equal(buf[5], 'x'); /* nothing written past size */
}

/* format -> parse is the identity over the whole accepted range. */
static void test_rfc3339_round_trip_property(void **state)
{
    (void)state;
    rng_state = 1;
    for (int i = 0; i < 100000; i++) {
        int64_t ms = rng_range(INT64_C(-62167219200000), TS_MAX_MS);
        if (i % 4 == 0) /* whole seconds exercise the no-fraction form */
            ms -= ms % 1000 + (ms % 1000 < 0 ? 1000 : 0);
        char buf[TS_RFC3339_SIZE], err[JD_ERRSTR_SIZE];
        size_t n = ts_format_rfc3339(ms, buf, sizeof(buf));
        int64_t back = 0;
        if (ts_parse_rfc3339(buf, n, &back, err, sizeof(err)) != JD_OK)
            fail_msg("%lld formatted as '%s' does not parse: %s", (long long)ms, buf, err);
        if (back != ms)
            fail_msg("%lld -> '%s' -> %lld", (long long)ms, buf, (long long)back);
    }
}

/* The same instant written with any offset parses to the same ms. */
static void test_rfc3339_offsets_property(void **state)
{
    (void)state;
    rng_state = 2;
    for (int i = 0; i < 20000; i++) {
        int64_t ms = rng_range(INT64_C(0), INT64_C(4102444800000)); /* 1970..2100 */
        int off_min = (int)rng_range(-(23 * 60 + 59), 23 * 60 + 59);
        int64_t local = ms + (int64_t)off_min * JD_MS_MINUTE;
        char base[TS_RFC3339_SIZE], text[64];
        ts_format_rfc3339(local, base, sizeof(base));
        size_t bl = strlen(base) - 1; /* drop the 'Z' */
        int a = off_min < 0 ? -off_min : off_min;
        snprintf(text, sizeof(text), "%.*s%c%02d:%02d", (int)bl, base, off_min < 0 ? '-' : '+',
                 a / 60, a % 60);
        int64_t back = 0;
        assert_int_equal(ts_parse_rfc3339(text, strlen(text), &back, NULL, 0), JD_OK);
        if (back != ms)
            fail_msg("'%s': got %lld, want %lld", text, (long long)back, (long long)ms);
    }
}

/* ------------------------------------------------------------ durations */

static void test_duration_parse_valid(void **state)
{
    static const struct {
        const char *in;
        int64_t want;
    } cases[] = {
        { "0", 0 },
        { "1ms", 1 },
        { "250ms", 250 },
        { "5s", 5000 },
        { "1m", 60000 },
        { "90m", 5400000 },
        { "1h", 3600000 },
        { "1h30m", 5400000 },
        { "1m30s", 90000 },
        { "1h1ms", 3600001 },
        { "1s500ms", 1500 },
        { "7d", 7 * JD_MS_DAY },
        { "1d12h", 36 * JD_MS_HOUR },
        { "1w", 7 * JD_MS_DAY },
        { "2w3d", 17 * JD_MS_DAY },
        { "1w2d3h4m5s6ms", 9 * JD_MS_DAY + 3 * JD_MS_HOUR + 4 * JD_MS_MINUTE + 5006 },
        { "007s", 7000 },
        { "7446427w", INT64_C(7446427) * 7 * JD_MS_DAY }, /* the most weeks under 2^52 ms */
    };
    (void)state;
    for (size_t i = 0; i < JD_ARRAY_SIZE(cases); i++) {
        int64_t ms = -42;
        char err[JD_ERRSTR_SIZE] = "";
        enum jd_err rc = ts_parse_duration(cases[i].in, strlen(cases[i].in), &ms, err, sizeof(err));
        if (rc != JD_OK)
            fail_msg("case %zu '%s': rc %d (%s)", i, cases[i].in, rc, err);
        if (ms != cases[i].want)
            fail_msg("case %zu '%s': got %lld, want %lld", i, cases[i].in, (long long)ms,
                     (long long)cases[i].want);
    }
}

static void test_duration_parse_invalid(void **state)
{
    static const char *const cases[] = {
        "",
        "s",
        "5",        /* a bare number other than 0 */
        "5x",       /* unknown unit */
        "1y",       /* years are not a unit */
        "1M",       /* units are lowercase */
        "5 s",      /* no spaces */
        " 5s",      /* no spaces */
        "-5s",      /* no sign */
        "+5s",      /* no sign */
        "1.5h",     /* no fractions */
        "h1",       /* unit first */
        "5sx",      /* trailing garbage */
        "1h30",     /* last number without unit */
        "00",       /* only the literal "0" is unitless */
        "7446428w", /* more than 2^52 ms */
        "99999999999999999999s",
        "4503599627370497ms",
    };
    (void)state;
    for (size_t i = 0; i < JD_ARRAY_SIZE(cases); i++) {
        int64_t ms = -42;
        char err[JD_ERRSTR_SIZE] = "";
        enum jd_err rc = ts_parse_duration(cases[i], strlen(cases[i]), &ms, err, sizeof(err));
        if (rc != JD_ERR_INVALID)
            fail_msg("case %zu '%s': rc %d (ms %lld), want JD_ERR_INVALID", i, cases[i], rc,
                     (long long)ms);
        if (!err[0])
            fail_msg("case %zu '%s': no reason in errstr", i, cases[i]);
    }
}

static void test_duration_parse_respects_length(void **state)
{
    int64_t ms = 0;
    (void)state;
    assert_int_equal(ts_parse_duration("1h30m", 2, &ms, NULL, 0), JD_OK);
    assert_int_equal(ms, JD_MS_HOUR);
    /* "1m" out of "1ms": the 'm' is a minute when the 's' is not in range */
    assert_int_equal(ts_parse_duration("1ms", 2, &ms, NULL, 0), JD_OK);
    assert_int_equal(ms, JD_MS_MINUTE);
}

static void test_duration_format(void **state)
{
    static const struct {
        int64_t ms;
        const char *want;
    } cases[] = {
        { 0, "0s" },
        { 1, "1ms" },
        { 250, "250ms" },
        { 1000, "1s" },
        { 1500, "1s500ms" },
        { 90000, "1m30s" },
        { 5400000, "1h30m" },
        { JD_MS_DAY, "1d" },
        { JD_MS_DAY + 1, "1d1ms" },
        { 8 * JD_MS_DAY, "8d" },
        { 7 * JD_MS_DAY, "1w" },
        { 14 * JD_MS_DAY, "2w" },
        { 3723004, "1h2m3s4ms" },
        { -JD_MS_MINUTE, "-1m" },
        { -(7 * JD_MS_DAY), "-1w" },
    };
    (void)state;
    for (size_t i = 0; i < JD_ARRAY_SIZE(cases); i++) {
        char buf[64];
        size_t n = ts_format_duration(cases[i].ms, buf, sizeof(buf));
        if (strcmp(buf, cases[i].want) != 0)
            fail_msg("case %zu (%lld): got '%s', want '%s'", i, (long long)cases[i].ms, buf,
                     cases[i].want);
        assert_int_equal(n, strlen(cases[i].want));
    }
}

static void test_duration_round_trip_property(void **state)
{
    (void)state;
    rng_state = 3;
    for (int i = 0; i < 100000; i++) {
        /* mix of magnitudes: from ms to years, biased toward round values */
        int64_t unit[] = { 1, 1000, JD_MS_MINUTE, JD_MS_HOUR, JD_MS_DAY, 7 * JD_MS_DAY };
        int64_t ms = rng_range(1, 1000) * unit[splitmix64() % 6];
        if (i % 3 == 0)
            ms += rng_range(0, INT64_C(1) << 40);
        char buf[64], err[JD_ERRSTR_SIZE];
        size_t n = ts_format_duration(ms, buf, sizeof(buf));
        int64_t back = -1;
        if (ts_parse_duration(buf, n, &back, err, sizeof(err)) != JD_OK)
            fail_msg("%lld formatted as '%s' does not parse: %s", (long long)ms, buf, err);
        if (back != ms)
            fail_msg("%lld -> '%s' -> %lld", (long long)ms, buf, (long long)back);
    }
}

/* ------------------------------------------------------ time arguments */

static void test_time_arg_valid(void **state)
{
    static const struct {
        const char *in;
        int64_t want;
    } cases[] = {
        { "0", 0 },
        { "1700000000", INT64_C(1700000000000) },
        { "1700000000.5", INT64_C(1700000000500) },
        { "1700000000.05", INT64_C(1700000000050) },
        { "1700000000.123", INT64_C(1700000000123) },
        { "1700000000.123999", INT64_C(1700000000123) }, /* truncated to ms */
        { "253402300799", INT64_C(253402300799000) },
        { "253402300799.999", TS_MAX_MS },
        { "2026-11-23T08:00:00.123Z", INT64_C(1795420800123) },
        { "2026-11-23T16:00:00+08:00", INT64_C(1795420800000) },
        { "1969-12-31T23:59:59Z", -1000 },
    };
    (void)state;
    for (size_t i = 0; i < JD_ARRAY_SIZE(cases); i++) {
        int64_t ms = -42;
        char err[JD_ERRSTR_SIZE] = "";
        enum jd_err rc = ts_parse_time_arg(cases[i].in, &ms, err, sizeof(err));
        if (rc != JD_OK)
            fail_msg("case %zu '%s': rc %d (%s)", i, cases[i].in, rc, err);
        if (ms != cases[i].want)
            fail_msg("case %zu '%s': got %lld, want %lld", i, cases[i].in, (long long)ms,
                     (long long)cases[i].want);
    }
}

static void test_time_arg_invalid(void **state)
{
    static const char *const cases[] = {
        "",
        "abc",
        "-5",                   /* no negative unix seconds */
        "1.2.3",                /* two dots */
        "1e9",                  /* no exponent */
        "253402300800",         /* past 9999-12-31 */
        "99999999999999999999", /* overflow */
        "2026-11-23",           /* a date alone */
        "2026-11-23T08:00:00",  /* no zone */
        " 1700000000",          /* no whitespace */
    };
    (void)state;
    for (size_t i = 0; i < JD_ARRAY_SIZE(cases); i++) {
        int64_t ms = -42;
        char err[JD_ERRSTR_SIZE] = "";
        enum jd_err rc = ts_parse_time_arg(cases[i], &ms, err, sizeof(err));
        if (rc != JD_ERR_INVALID)
            fail_msg("case %zu '%s': rc %d (ms %lld), want JD_ERR_INVALID", i, cases[i], rc,
                     (long long)ms);
        if (!err[0])
            fail_msg("case %zu '%s': no reason in errstr", i, cases[i]);
    }
}

static void test_time_arg_error_names_input(void **state)
{
    int64_t ms;
    char err[JD_ERRSTR_SIZE] = "";
    (void)state;
    assert_int_equal(ts_parse_time_arg("yesterday", &ms, err, sizeof(err)), JD_ERR_INVALID);
    assert_non_null(strstr(err, "'yesterday'"));
    assert_non_null(strstr(err, "RFC 3339"));
}

/*
 * Regression (ts.c, ts_parse_time_arg, fixed): text made only of dots and digits is taken
 * as unix seconds even when it has no digit at all, so "." parses as the
 * epoch and "5." as 5 s. A lone "." is not a point in time.
 */
static void test_time_arg_rejects_lone_dot(void **state)
{
    int64_t ms = -42;
    (void)state;
    assert_int_equal(ts_parse_time_arg(".", &ms, NULL, 0), JD_ERR_INVALID);
}

/* ---------------------------------------------------------- civil dates */

static void test_civil_known_dates(void **state)
{
    static const struct {
        int64_t y;
        unsigned m, d;
        int64_t days;
    } cases[] = {
        { 1970, 1, 1, 0 },       { 1969, 12, 31, -1 },      { 1970, 1, 2, 1 },
        { 2000, 3, 1, 11017 },   { 2024, 2, 29, 19782 },    { 1600, 1, 1, -135140 },
        { 1, 1, 1, -719162 },    { 9999, 12, 31, 2932896 }, { 0, 3, 1, -719468 },
        { 2026, 11, 23, 20780 },
    };
    (void)state;
    for (size_t i = 0; i < JD_ARRAY_SIZE(cases); i++) {
        int64_t days = ts_days_from_civil(cases[i].y, cases[i].m, cases[i].d);
        if (days != cases[i].days)
            fail_msg("case %zu %lld-%u-%u: got %lld, want %lld", i, (long long)cases[i].y,
                     cases[i].m, cases[i].d, (long long)days, (long long)cases[i].days);
        int64_t y;
        unsigned m, d;
        ts_civil_from_days(cases[i].days, &y, &m, &d);
        assert_int_equal(y, cases[i].y);
        assert_int_equal(m, cases[i].m);
        assert_int_equal(d, cases[i].d);
    }
}

static unsigned naive_days_in_month(int64_t y, unsigned m)
{
    static const unsigned dim[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : dim[m - 1];
}

/* Both conversions agree with a day-by-day walk over years -800..10400. */
static void test_civil_sweep(void **state)
{
    int64_t y = -800;
    unsigned m = 1, d = 1;
    int64_t days = ts_days_from_civil(y, m, d);
    (void)state;

    while (y <= 10400) {
        int64_t gy;
        unsigned gm, gd;
        ts_civil_from_days(days, &gy, &gm, &gd);
        if (gy != y || gm != m || gd != d)
            fail_msg("day %lld: got %lld-%u-%u, want %lld-%u-%u", (long long)days, (long long)gy,
                     gm, gd, (long long)y, m, d);
        if (ts_days_from_civil(y, m, d) != days)
            fail_msg("%lld-%u-%u: got %lld, want %lld", (long long)y, m, d,
                     (long long)ts_days_from_civil(y, m, d), (long long)days);
        days++;
        if (++d > naive_days_in_month(y, m)) {
            d = 1;
            if (++m > 12) {
                m = 1;
                y++;
            }
        }
    }
}

static void test_floor_div(void **state)
{
    static const struct {
        int64_t a, b, want;
    } cases[] = {
        { 0, 60, 0 },
        { 59, 60, 0 },
        { 60, 60, 1 },
        { -1, 60, -1 },
        { -60, 60, -1 },
        { -61, 60, -2 },
        { 7, -2, -4 },
        { -7, -2, 3 },
        { INT64_MIN, 1, INT64_MIN },
        { INT64_MAX, JD_MS_DAY, INT64_MAX / JD_MS_DAY },
    };
    (void)state;
    for (size_t i = 0; i < JD_ARRAY_SIZE(cases); i++) {
        int64_t q = ts_floor_div(cases[i].a, cases[i].b);
        if (q != cases[i].want)
            fail_msg("case %zu: %lld / %lld = %lld, want %lld", i, (long long)cases[i].a,
                     (long long)cases[i].b, (long long)q, (long long)cases[i].want);
    }
}

static void test_clocks(void **state)
{
    (void)state;
    assert_true(ts_now_ms() > INT64_C(1577836800000)); /* after 2020-01-01 */
    int64_t a = ts_mono_ms(), b = ts_mono_ms();
    assert_true(b >= a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc3339_parse_valid),
        cmocka_unit_test(test_rfc3339_parse_invalid),
        cmocka_unit_test(test_rfc3339_parse_respects_length),
        cmocka_unit_test(test_rfc3339_format),
        cmocka_unit_test(test_rfc3339_format_small_buffer),
        cmocka_unit_test(test_rfc3339_round_trip_property),
        cmocka_unit_test(test_rfc3339_offsets_property),
        cmocka_unit_test(test_duration_parse_valid),
        cmocka_unit_test(test_duration_parse_invalid),
        cmocka_unit_test(test_duration_parse_respects_length),
        cmocka_unit_test(test_duration_format),
        cmocka_unit_test(test_duration_round_trip_property),
        cmocka_unit_test(test_time_arg_valid),
        cmocka_unit_test(test_time_arg_invalid),
        cmocka_unit_test(test_time_arg_error_names_input),
        cmocka_unit_test(test_time_arg_rejects_lone_dot),
        cmocka_unit_test(test_civil_known_dates),
        cmocka_unit_test(test_civil_sweep),
        cmocka_unit_test(test_floor_div),
        cmocka_unit_test(test_clocks),
    };
    return cmocka_run_group_tests_name("ts", tests, NULL, NULL);
}
