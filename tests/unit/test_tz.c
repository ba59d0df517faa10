/*
 * test_tz.c — unit tests of core/tz: TZif parsing, POSIX footers, offsets and local periods.
 *
 * Expected instants in the tables were worked out by hand and checked against Python's
 * zoneinfo. glibc (TZ + localtime_r) serves as an independent oracle in the differential and
 * property tests; the module itself never uses it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "core/tz.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define HOUR_MS  (3600 * INT64_C(1000))
#define ZONEINFO "/usr/share/zoneinfo"

/* ---- Helpers ----------------------------------------------------------------------------- */

/* "2026-11-23T05:00:00Z" -> UTC milliseconds. */
static int64_t T(const char *iso)
{
    struct tm tm = { 0 };
    char z = 0;
    int n = sscanf(iso, "%d-%d-%dT%d:%d:%d%c", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                   &tm.tm_min, &tm.tm_sec, &z);
    if (n != 7 || z != 'Z')
        fail_msg("bad ISO instant in test table: %s", iso);
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm) * 1000;
}

static void fmt_ms(int64_t ms, char *buf, size_t n)
{
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Compare instants, printing them readably on failure. */
#define assert_instant(got, want, ctx)                                                             \
    do {                                                                                           \
        int64_t g_ = (got), w_ = (want);                                                           \
        if (g_ != w_) {                                                                            \
            char gb_[32], wb_[32];                                                                 \
            fmt_ms(g_, gb_, sizeof(gb_));                                                          \
            fmt_ms(w_, wb_, sizeof(wb_));                                                          \
            fail_msg("%s: got %s (%lld), want %s (%lld)", (ctx), gb_, (long long)g_, wb_,          \
                     (long long)w_);                                                               \
        }                                                                                          \
    } while (0)

/* Where tz_load() looks, so that the suite also runs against another TZDIR (e.g. slim files). */
static const char *zoneinfo_dir(void)
{
    const char *dir = getenv("TZDIR");
    return dir && *dir ? dir : ZONEINFO;
}

/* Point TZDIR at DIR; NULL restores what it was before. */
static void with_tzdir(const char *dir)
{
    static char saved[512];
    static bool was_set;
    if (dir) {
        const char *old = getenv("TZDIR");
        was_set = old != NULL;
        snprintf(saved, sizeof(saved), "%s", old ? old : "");
        setenv("TZDIR", dir, 1);
    } else if (was_set) {
        setenv("TZDIR", saved, 1);
    } else {
        unsetenv("TZDIR");
    }
}

static struct tz *load(const char *name)
{
    char err[JD_ERRSTR_SIZE] = "";
    struct tz *tz = tz_load(name, err, sizeof(err));
    if (!tz)
        fail_msg("tz_load(%s): %s", name, err);
    return tz;
}

static unsigned char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s", path);
    unsigned char *buf = malloc(1 << 20);
    assert_non_null(buf);
    *len = fread(buf, 1, 1 << 20, f);
    fclose(f);
    return buf;
}

static const char *period_name(enum tz_period p)
{
    static const char *const names[] = { "hour", "day", "week", "month" };
    return names[p];
}

/* Deterministic xorshift64*: reproducible "random" instants. */
static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * UINT64_C(2685821657736338717);
}

/* glibc as oracle: offset at S seconds in zone TZ_VALUE. */
static long glibc_offset(time_t s)
{
    struct tm tm;
    if (!localtime_r(&s, &tm))
        fail_msg("localtime_r failed");
    return tm.tm_gmtoff;
}

static void glibc_zone(const char *tz_value)
{
    setenv("TZ", tz_value, 1);
    tzset();
}

/* ---- A small TZif writer, for synthetic and malformed files ------------------------------ */

struct ttype {
    int32_t off;
    uint8_t isdst;
};

struct buf {
    unsigned char *p;
    size_t n;
};

static void put(struct buf *b, const void *src, size_t n)
{
    b->p = realloc(b->p, b->n + n);
    assert_non_null(b->p);
    memcpy(b->p + b->n, src, n);
    b->n += n;
}

static void put_be(struct buf *b, uint64_t v, int bytes)
{
    unsigned char c[8];
    for (int i = 0; i < bytes; i++)
        c[i] = (unsigned char)(v >> (8 * (bytes - 1 - i)));
    put(b, c, (size_t)bytes);
}

static void put_header(struct buf *b, char version, uint32_t isut, uint32_t isstd, uint32_t leap,
                       uint32_t time, uint32_t type, uint32_t chr)
{
    unsigned char zero[15] = { 0 };
    put(b, "TZif", 4);
    put(b, &version, 1);
    put(b, zero, 15);
    put_be(b, isut, 4);
    put_be(b, isstd, 4);
    put_be(b, leap, 4);
    put_be(b, time, 4);
    put_be(b, type, 4);
    put_be(b, chr, 4);
}

static void put_block(struct buf *b, int timesz, size_t ntrans, const int64_t *times,
                      const uint8_t *idx, size_t ntypes, const struct ttype *types)
{
    for (size_t i = 0; i < ntrans; i++)
        put_be(b, (uint64_t)times[i], timesz);
    if (ntrans)
        put(b, idx, ntrans);
    for (size_t i = 0; i < ntypes; i++) {
        put_be(b, (uint32_t)types[i].off, 4);
        put(b, &types[i].isdst, 1);
        put_be(b, 0, 1); /* designation index */
    }
    put(b, "ZZZ", 4); /* designations, with the NUL */
}

/*
 * A TZif file: version 0 puts everything in the 32-bit block; otherwise a minimal v1 block (as
 * "zic -b slim" writes) is followed by the 64-bit block and the footer. Caller frees b.p.
 */
static struct buf build_tzif(char version, size_t ntrans, const int64_t *times, const uint8_t *idx,
                             size_t ntypes, const struct ttype *types, const char *footer)
{
    struct buf b = { NULL, 0 };
    if (version == 0) {
        put_header(&b, 0, 0, 0, 0, (uint32_t)ntrans, (uint32_t)ntypes, 4);
        put_block(&b, 4, ntrans, times, idx, ntypes, types);
        return b;
    }
    const struct ttype utc = { 0, 0 };
    put_header(&b, version, 0, 0, 0, 0, 1, 4);
    put_block(&b, 4, 0, NULL, NULL, 1, &utc);
    put_header(&b, version, 0, 0, 0, (uint32_t)ntrans, (uint32_t)ntypes, 4);
    put_block(&b, 8, ntrans, times, idx, ntypes, types);
    put(&b, "\n", 1);
    put(&b, footer, strlen(footer));
    put(&b, "\n", 1);
    return b;
}

static struct tz *footer_only(const char *footer)
{
    const struct ttype t = { 0, 0 };
    char err[JD_ERRSTR_SIZE] = "";
    struct buf b = build_tzif('3', 0, NULL, NULL, 1, &t, footer);
    struct tz *tz = tz_parse(footer, b.p, b.n, err, sizeof(err));
    free(b.p);
    if (!tz)
        fail_msg("footer \"%s\" rejected: %s", footer, err);
    return tz;
}

/* ---- Period tables ----------------------------------------------------------------------- */

struct period_case {
    const char *zone;
    enum tz_period p;
    const char *at;
    const char *start;
};

static const struct period_case period_cases[] = {
    /* Asia/Shanghai: +8 all year; a local day starts at 16:00Z the previous UTC day. */
    { "Asia/Shanghai", TZ_HOUR, "2026-11-23T05:00:00Z", "2026-11-23T05:00:00Z" },
    { "Asia/Shanghai", TZ_DAY, "2026-11-23T05:00:00Z", "2026-11-22T16:00:00Z" },
    { "Asia/Shanghai", TZ_WEEK, "2026-11-23T05:00:00Z", "2026-11-22T16:00:00Z" }, /* Monday */
    { "Asia/Shanghai", TZ_MONTH, "2026-11-23T05:00:00Z", "2026-10-31T16:00:00Z" },
    { "Asia/Shanghai", TZ_DAY, "2026-11-22T15:59:59Z", "2026-11-21T16:00:00Z" },
    { "Asia/Shanghai", TZ_DAY, "2026-11-22T16:00:00Z", "2026-11-22T16:00:00Z" },
    { "Asia/Shanghai", TZ_WEEK, "2026-11-22T15:59:59Z", "2026-11-15T16:00:00Z" }, /* Sunday */
    { "Asia/Shanghai", TZ_MONTH, "2026-11-30T16:00:00Z", "2026-11-30T16:00:00Z" },
    { "Asia/Shanghai", TZ_MONTH, "2026-11-30T15:59:59Z", "2026-10-31T16:00:00Z" },
    /* Europe/Berlin: 23 h day 2026-03-29, 25 h day 2026-10-25. */
    { "Europe/Berlin", TZ_DAY, "2026-03-29T00:30:00Z", "2026-03-28T23:00:00Z" },
    { "Europe/Berlin", TZ_DAY, "2026-03-29T21:59:59Z", "2026-03-28T23:00:00Z" },
    { "Europe/Berlin", TZ_DAY, "2026-03-29T22:00:00Z", "2026-03-29T22:00:00Z" },
    { "Europe/Berlin", TZ_DAY, "2026-10-25T22:59:59Z", "2026-10-24T22:00:00Z" },
    { "Europe/Berlin", TZ_HOUR, "2026-03-29T01:30:00Z", "2026-03-29T01:00:00Z" },
    { "Europe/Berlin", TZ_WEEK, "2026-03-29T12:00:00Z", "2026-03-22T23:00:00Z" },
    { "Europe/Berlin", TZ_MONTH, "2026-03-31T21:59:59Z", "2026-02-28T23:00:00Z" },
    { "Europe/Berlin", TZ_MONTH, "2026-03-31T22:00:00Z", "2026-03-31T22:00:00Z" },
    /* Beyond the last stored transition (2037): the footer rule decides. */
    { "Europe/Berlin", TZ_DAY, "2045-07-01T12:00:00Z", "2045-06-30T22:00:00Z" },
    { "Europe/Berlin", TZ_DAY, "2045-03-26T12:00:00Z", "2045-03-25T23:00:00Z" },
    { "Europe/Berlin", TZ_WEEK, "2045-07-01T12:00:00Z", "2045-06-25T22:00:00Z" },
    { "Europe/Berlin", TZ_MONTH, "2045-07-01T12:00:00Z", "2045-06-30T22:00:00Z" },
    /* America/New_York: 23 h 2026-03-08, 25 h 2026-11-01. */
    { "America/New_York", TZ_DAY, "2026-03-08T12:00:00Z", "2026-03-08T05:00:00Z" },
    { "America/New_York", TZ_DAY, "2026-11-01T12:00:00Z", "2026-11-01T04:00:00Z" },
    { "America/New_York", TZ_DAY, "2026-11-02T04:59:59Z", "2026-11-01T04:00:00Z" },
    { "America/New_York", TZ_HOUR, "2026-03-08T07:30:00Z", "2026-03-08T07:00:00Z" },
    /* The repeated hour 01:00-02:00 of 2026-11-01 is one two-hour period. */
    { "America/New_York", TZ_HOUR, "2026-11-01T05:30:00Z", "2026-11-01T05:00:00Z" },
    { "America/New_York", TZ_HOUR, "2026-11-01T06:30:00Z", "2026-11-01T05:00:00Z" },
    { "America/New_York", TZ_HOUR, "2026-11-01T07:00:00Z", "2026-11-01T07:00:00Z" },
    /* Asia/Kolkata, +5:30: days and hours start at :30 UTC. */
    { "Asia/Kolkata", TZ_DAY, "2026-01-15T00:00:00Z", "2026-01-14T18:30:00Z" },
    { "Asia/Kolkata", TZ_DAY, "2026-01-14T18:29:59Z", "2026-01-13T18:30:00Z" },
    { "Asia/Kolkata", TZ_HOUR, "2026-01-15T00:00:00Z", "2026-01-14T23:30:00Z" },
    { "Asia/Kolkata", TZ_MONTH, "2026-01-15T00:00:00Z", "2025-12-31T18:30:00Z" },
    /* Australia/Lord_Howe: 02:00 -> 02:30 on 2026-10-04 local makes a 30-minute hour. */
    { "Australia/Lord_Howe", TZ_HOUR, "2026-10-03T15:45:00Z", "2026-10-03T15:30:00Z" },
    { "Australia/Lord_Howe", TZ_HOUR, "2026-10-03T16:10:00Z", "2026-10-03T16:00:00Z" },
    { "Australia/Lord_Howe", TZ_DAY, "2026-10-04T12:00:00Z", "2026-10-03T13:30:00Z" },
    /* America/Sao_Paulo 2018-11-04: local midnight did not exist (00:00 -> 01:00). */
    { "America/Sao_Paulo", TZ_DAY, "2018-11-04T12:00:00Z", "2018-11-04T03:00:00Z" },
    { "America/Sao_Paulo", TZ_DAY, "2018-11-04T03:00:00Z", "2018-11-04T03:00:00Z" },
    { "America/Sao_Paulo", TZ_DAY, "2018-11-04T02:59:59Z", "2018-11-03T03:00:00Z" },
    { "America/Sao_Paulo", TZ_WEEK, "2018-11-04T12:00:00Z", "2018-10-29T03:00:00Z" },
    /* ... and 2019-02-17, where 23:00-24:00 of the 16th was repeated: a 25 h day. */
    { "America/Sao_Paulo", TZ_DAY, "2019-02-17T02:30:00Z", "2019-02-16T02:00:00Z" },
    { "America/Sao_Paulo", TZ_DAY, "2019-02-17T03:00:00Z", "2019-02-17T03:00:00Z" },
    /* UTC. */
    { "UTC", TZ_DAY, "2026-11-23T05:00:00Z", "2026-11-23T00:00:00Z" },
    { "UTC", TZ_WEEK, "2026-11-22T23:59:59Z", "2026-11-16T00:00:00Z" },
    { "UTC", TZ_MONTH, "2024-02-29T23:59:59Z", "2024-02-01T00:00:00Z" },
    { "UTC", TZ_DAY, "1969-12-31T23:59:59Z", "1969-12-31T00:00:00Z" },
    { "UTC", TZ_WEEK, "1900-01-01T00:00:00Z", "1900-01-01T00:00:00Z" }, /* a Monday */
    { "UTC", TZ_MONTH, "2200-12-31T23:59:59Z", "2200-12-01T00:00:00Z" },
};

static void test_period_start_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(period_cases) / sizeof(period_cases[0]); i++) {
        const struct period_case *c = &period_cases[i];
        char ctx[128];
        struct tz *tz = load(c->zone);
        snprintf(ctx, sizeof(ctx), "%s %s start of %s", c->zone, period_name(c->p), c->at);
        assert_instant(tz_period_start(tz, c->p, T(c->at)), T(c->start), ctx);
        /* A millisecond later is still in the same period, and a start is its own start. */
        assert_instant(tz_period_start(tz, c->p, T(c->at) + 999), T(c->start), ctx);
        assert_instant(tz_period_start(tz, c->p, T(c->start)), T(c->start), ctx);
        tz_destroy(tz);
    }
}

struct add_case {
    const char *zone;
    enum tz_period p;
    const char *at;
    int n;
    const char *want;
};

static const struct add_case add_cases[] = {
    /* Berlin: across the 23 h and 25 h days. */
    { "Europe/Berlin", TZ_DAY, "2026-03-28T12:00:00Z", 1, "2026-03-28T23:00:00Z" },
    { "Europe/Berlin", TZ_DAY, "2026-03-28T12:00:00Z", 2, "2026-03-29T22:00:00Z" },
    { "Europe/Berlin", TZ_DAY, "2026-03-30T12:00:00Z", -1, "2026-03-28T23:00:00Z" },
    { "Europe/Berlin", TZ_DAY, "2026-03-30T12:00:00Z", -2, "2026-03-27T23:00:00Z" },
    { "Europe/Berlin", TZ_DAY, "2026-10-25T12:00:00Z", 1, "2026-10-25T23:00:00Z" },
    { "Europe/Berlin", TZ_DAY, "2026-10-24T12:00:00Z", 2, "2026-10-25T23:00:00Z" },
    { "Europe/Berlin", TZ_DAY, "2026-10-24T12:00:00Z", 0, "2026-10-23T22:00:00Z" },
    { "Europe/Berlin", TZ_DAY, "2026-03-28T23:00:00Z", 7, "2026-04-04T22:00:00Z" },
    { "Europe/Berlin", TZ_HOUR, "2026-03-29T00:30:00Z", 1, "2026-03-29T01:00:00Z" },
    { "Europe/Berlin", TZ_DAY, "2045-10-29T12:00:00Z", 1, "2045-10-29T23:00:00Z" },
    { "Europe/Berlin", TZ_DAY, "2045-10-28T12:00:00Z", 1, "2045-10-28T22:00:00Z" },
    /* ISO weeks containing a DST change: 167 h and 169 h. */
    { "Europe/Berlin", TZ_WEEK, "2026-03-25T12:00:00Z", 1, "2026-03-29T22:00:00Z" },
    { "Europe/Berlin", TZ_WEEK, "2026-10-21T12:00:00Z", 1, "2026-10-25T23:00:00Z" },
    { "Europe/Berlin", TZ_WEEK, "2026-01-01T12:00:00Z", -1, "2025-12-21T23:00:00Z" },
    /* Months: Jan -> Feb, Dec -> Jan across the year, three back, across DST. */
    { "Europe/Berlin", TZ_MONTH, "2026-01-20T12:00:00Z", 1, "2026-01-31T23:00:00Z" },
    { "Europe/Berlin", TZ_MONTH, "2025-12-15T12:00:00Z", 1, "2025-12-31T23:00:00Z" },
    { "Europe/Berlin", TZ_MONTH, "2026-02-10T12:00:00Z", -3, "2025-10-31T23:00:00Z" },
    { "Europe/Berlin", TZ_MONTH, "2026-03-15T12:00:00Z", 1, "2026-03-31T22:00:00Z" },
    { "Europe/Berlin", TZ_MONTH, "2026-01-20T12:00:00Z", -13, "2024-11-30T23:00:00Z" },
    { "Europe/Berlin", TZ_MONTH, "2026-01-20T12:00:00Z", 24, "2027-12-31T23:00:00Z" },
    { "Asia/Shanghai", TZ_MONTH, "2026-11-23T05:00:00Z", 1, "2026-11-30T16:00:00Z" },
    { "Asia/Shanghai", TZ_MONTH, "2026-11-23T05:00:00Z", 2, "2026-12-31T16:00:00Z" },
    { "Asia/Shanghai", TZ_WEEK, "2026-11-23T05:00:00Z", 1, "2026-11-29T16:00:00Z" },
    { "Asia/Shanghai", TZ_DAY, "2026-11-23T05:00:00Z", -1, "2026-11-21T16:00:00Z" },
    /* New York: 23 h and 25 h days; the skipped 02:00 hour has zero length. */
    { "America/New_York", TZ_DAY, "2026-03-08T12:00:00Z", 1, "2026-03-09T04:00:00Z" },
    { "America/New_York", TZ_DAY, "2026-11-01T12:00:00Z", 1, "2026-11-02T05:00:00Z" },
    { "America/New_York", TZ_HOUR, "2026-03-08T06:30:00Z", 1, "2026-03-08T07:00:00Z" },
    { "America/New_York", TZ_HOUR, "2026-03-08T06:30:00Z", 2, "2026-03-08T07:00:00Z" },
    { "America/New_York", TZ_HOUR, "2026-03-08T06:30:00Z", 3, "2026-03-08T08:00:00Z" },
    { "America/New_York", TZ_HOUR, "2026-11-01T06:30:00Z", 1, "2026-11-01T07:00:00Z" },
    /* Sao Paulo: the 23 h day without a midnight. */
    { "America/Sao_Paulo", TZ_DAY, "2018-11-03T12:00:00Z", 1, "2018-11-04T03:00:00Z" },
    { "America/Sao_Paulo", TZ_DAY, "2018-11-04T12:00:00Z", 1, "2018-11-05T02:00:00Z" },
    { "America/Sao_Paulo", TZ_DAY, "2018-11-04T12:00:00Z", -1, "2018-11-03T03:00:00Z" },
    /* Pacific/Apia skipped 2011-12-30 entirely: it is a day of zero length. */
    { "Pacific/Apia", TZ_DAY, "2011-12-29T12:00:00Z", 1, "2011-12-30T10:00:00Z" },
    { "Pacific/Apia", TZ_DAY, "2011-12-29T12:00:00Z", 2, "2011-12-30T10:00:00Z" },
    { "Pacific/Apia", TZ_DAY, "2011-12-29T12:00:00Z", 3, "2011-12-31T10:00:00Z" },
    { "Pacific/Apia", TZ_DAY, "2011-12-30T12:00:00Z", -1, "2011-12-30T10:00:00Z" },
    { "Pacific/Apia", TZ_DAY, "2011-12-30T12:00:00Z", -2, "2011-12-29T10:00:00Z" },
    /* Kolkata and Lord Howe. */
    { "Asia/Kolkata", TZ_DAY, "2026-01-15T00:00:00Z", 1, "2026-01-15T18:30:00Z" },
    { "Australia/Lord_Howe", TZ_HOUR, "2026-10-03T15:45:00Z", 1, "2026-10-03T16:00:00Z" },
    { "Australia/Lord_Howe", TZ_HOUR, "2026-10-03T15:15:00Z", 1, "2026-10-03T15:30:00Z" },
    { "Australia/Lord_Howe", TZ_DAY, "2026-10-03T12:00:00Z", 1, "2026-10-03T13:30:00Z" },
    { "Australia/Lord_Howe", TZ_DAY, "2026-10-04T12:00:00Z", 1, "2026-10-04T13:00:00Z" },
};

static void test_period_add_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(add_cases) / sizeof(add_cases[0]); i++) {
        const struct add_case *c = &add_cases[i];
        char ctx[128];
        struct tz *tz = load(c->zone);
        snprintf(ctx, sizeof(ctx), "%s %s %+d from %s", c->zone, period_name(c->p), c->n, c->at);
        assert_instant(tz_period_add(tz, c->p, T(c->at), c->n), T(c->want), ctx);
        tz_destroy(tz);
    }
}

struct length_case {
    const char *zone;
    enum tz_period p;
    const char *at;
    int hours;
};

static const struct length_case length_cases[] = {
    { "Europe/Berlin", TZ_DAY, "2026-03-29T12:00:00Z", 23 },
    { "Europe/Berlin", TZ_DAY, "2026-03-30T12:00:00Z", 24 },
    { "Europe/Berlin", TZ_DAY, "2026-10-25T12:00:00Z", 25 },
    { "Europe/Berlin", TZ_DAY, "2045-03-26T12:00:00Z", 23 },
    { "Europe/Berlin", TZ_DAY, "2045-10-29T12:00:00Z", 25 },
    { "Europe/Berlin", TZ_WEEK, "2026-03-29T12:00:00Z", 167 },
    { "Europe/Berlin", TZ_WEEK, "2026-10-25T12:00:00Z", 169 },
    { "Europe/Berlin", TZ_WEEK, "2026-06-10T12:00:00Z", 168 },
    { "Europe/Berlin", TZ_MONTH, "2026-03-10T12:00:00Z", 31 * 24 - 1 },
    { "Europe/Berlin", TZ_MONTH, "2026-10-10T12:00:00Z", 31 * 24 + 1 },
    { "Europe/Berlin", TZ_MONTH, "2028-02-10T12:00:00Z", 29 * 24 },
    { "America/New_York", TZ_DAY, "2026-03-08T12:00:00Z", 23 },
    { "America/New_York", TZ_DAY, "2026-11-01T12:00:00Z", 25 },
    { "America/New_York", TZ_WEEK, "2026-03-08T12:00:00Z", 167 }, /* Sunday: week of Mar 2 */
    { "America/New_York", TZ_HOUR, "2026-11-01T05:30:00Z", 2 },
    { "America/Sao_Paulo", TZ_DAY, "2018-11-04T12:00:00Z", 23 },
    { "America/Sao_Paulo", TZ_DAY, "2019-02-16T12:00:00Z", 25 },
    { "Asia/Shanghai", TZ_DAY, "2026-07-01T00:00:00Z", 24 },
    { "Asia/Shanghai", TZ_WEEK, "2026-07-01T00:00:00Z", 168 },
};

static void test_period_lengths(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(length_cases) / sizeof(length_cases[0]); i++) {
        const struct length_case *c = &length_cases[i];
        struct tz *tz = load(c->zone);
        int64_t start = tz_period_start(tz, c->p, T(c->at));
        int64_t next = tz_period_add(tz, c->p, T(c->at), 1);
        if (next - start != c->hours * HOUR_MS)
            fail_msg("%s %s of %s: %lld ms, want %d h", c->zone, period_name(c->p), c->at,
                     (long long)(next - start), c->hours);
        tz_destroy(tz);
    }
}

/* Lord Howe's half-hour DST, Kolkata's half-hour offset, and footer-governed years. */
struct offset_case {
    const char *zone;
    const char *at;
    int32_t off;
};

static const struct offset_case offset_cases[] = {
    { "Australia/Lord_Howe", "2026-01-15T00:00:00Z", 39600 },
    { "Australia/Lord_Howe", "2026-07-15T00:00:00Z", 37800 },
    { "Australia/Lord_Howe", "2026-04-04T14:59:59Z", 39600 },
    { "Australia/Lord_Howe", "2026-04-04T15:00:00Z", 37800 },
    { "Australia/Lord_Howe", "2026-10-03T15:29:59Z", 37800 },
    { "Australia/Lord_Howe", "2026-10-03T15:30:00Z", 39600 },
    { "Australia/Lord_Howe", "2050-01-15T00:00:00Z", 39600 },
    { "Australia/Lord_Howe", "2050-07-15T00:00:00Z", 37800 },
    { "Asia/Kolkata", "2026-06-01T00:00:00Z", 19800 },
    { "Asia/Shanghai", "2026-06-01T00:00:00Z", 28800 },
    { "Asia/Shanghai", "1988-06-01T00:00:00Z", 32400 }, /* China had DST 1986-1991 */
    { "Europe/Berlin", "2026-03-29T00:59:59Z", 3600 },
    { "Europe/Berlin", "2026-03-29T01:00:00Z", 7200 },
    { "Europe/Berlin", "2045-07-01T12:00:00Z", 7200 },
    { "Europe/Berlin", "2045-12-01T12:00:00Z", 3600 },
    { "Europe/Berlin", "2199-07-01T12:00:00Z", 7200 },
    { "America/New_York", "2026-11-01T05:59:59Z", -14400 },
    { "America/New_York", "2026-11-01T06:00:00Z", -18000 },
    { "America/Sao_Paulo", "2018-11-04T02:59:59Z", -10800 },
    { "America/Sao_Paulo", "2018-11-04T03:00:00Z", -7200 },
    { "America/Sao_Paulo", "2026-01-15T00:00:00Z", -10800 },
    { "UTC", "2026-01-15T00:00:00Z", 0 },
    { "Etc/UTC", "2026-01-15T00:00:00Z", 0 },
};

static void test_offset_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(offset_cases) / sizeof(offset_cases[0]); i++) {
        const struct offset_case *c = &offset_cases[i];
        struct tz *tz = load(c->zone);
        int32_t got = tz_offset_at(tz, T(c->at));
        if (got != c->off)
            fail_msg("%s at %s: offset %d, want %d", c->zone, c->at, got, c->off);
        tz_destroy(tz);
    }
}

/*
 * Adding moves by calendar label: a skipped label is a zero-length period, so +1 and +2 coincide
 * there, while stepping +1 at a time passes over it.
 */
static void test_add_by_label(void **state)
{
    (void)state;
    struct tz *ny = load("America/New_York");
    int64_t t = T("2026-03-08T06:30:00Z"); /* 01:30 EST; 02:00-03:00 is skipped */
    int64_t step = t;
    assert_instant(tz_period_add(ny, TZ_HOUR, t, 1), tz_period_add(ny, TZ_HOUR, t, 2), "+1 = +2");
    step = tz_period_add(ny, TZ_HOUR, step, 1);
    assert_instant(step, T("2026-03-08T07:00:00Z"), "first step");
    step = tz_period_add(ny, TZ_HOUR, step, 1);
    assert_instant(step, T("2026-03-08T08:00:00Z"), "second step");
    /* Elsewhere +a+b = +(a+b), e.g. a year of days, forwards and back. */
    int64_t d = T("2026-01-10T12:00:00Z");
    int64_t jump = tz_period_add(ny, TZ_DAY, d, 365);
    for (int i = 0; i < 365; i++)
        d = tz_period_add(ny, TZ_DAY, d, 1);
    assert_instant(d, jump, "365 single days");
    assert_instant(tz_period_add(ny, TZ_DAY, jump, -365), T("2026-01-10T05:00:00Z"), "back");
    tz_destroy(ny);
}

/* Sub-second instants and instants before 1970 must use floor division. */
static void test_millisecond_floor(void **state)
{
    (void)state;
    struct tz *berlin = load("Europe/Berlin");
    struct tz *utc = load("UTC");
    /* 2026-03-29T01:00:00Z is the transition: 1 ms before it is still CET. */
    assert_int_equal(tz_offset_at(berlin, T("2026-03-29T01:00:00Z") - 1), 3600);
    assert_int_equal(tz_offset_at(berlin, T("2026-03-29T01:00:00Z")), 7200);
    assert_instant(tz_period_start(utc, TZ_DAY, -1), -86400 * INT64_C(1000), "1 ms before epoch");
    assert_instant(tz_period_start(utc, TZ_HOUR, -1), -HOUR_MS, "hour before epoch");
    assert_instant(tz_period_start(utc, TZ_DAY, T("2026-01-01T23:59:59Z") + 999),
                   T("2026-01-01T00:00:00Z"), "last ms of a day");
    /* Far outside the supported range: defined results, no UB (UBSan watches). */
    (void)tz_period_add(berlin, TZ_MONTH, INT64_MAX, INT32_MAX);
    (void)tz_period_add(berlin, TZ_MONTH, INT64_MIN, INT32_MIN);
    (void)tz_period_add(berlin, TZ_HOUR, INT64_MAX, INT32_MAX);
    (void)tz_period_start(berlin, TZ_WEEK, INT64_MIN);
    (void)tz_offset_at(berlin, INT64_MAX);
    tz_destroy(berlin);
    tz_destroy(utc);
}

/* ---- Differential and property tests against glibc --------------------------------------- */

static const char *const diff_zones[] = {
    "Europe/Berlin",       "America/New_York",     "Asia/Shanghai",      "Asia/Kolkata",
    "Australia/Lord_Howe", "America/Sao_Paulo",    "America/Nuuk",       "Asia/Jerusalem",
    "Europe/Dublin",       "Pacific/Apia",         "America/Santiago",   "Africa/Casablanca",
    "Pacific/Chatham",     "America/St_Johns",     "Asia/Tehran",        "Australia/Sydney",
    "Antarctica/Troll",    "Pacific/Easter",       "America/Havana",     "Europe/London",
    "Asia/Gaza",           "America/Scoresbysund", "Pacific/Kiritimati", "Etc/GMT+5",
};

#define DIFF_SAMPLES 2000
#define T1970        INT64_C(0)
#define T2100        INT64_C(4102444800)

/* The exact second at which glibc's offset changes in (lo, hi], lo and hi having different ones. */
static time_t glibc_bisect(time_t lo, time_t hi)
{
    long off_lo = glibc_offset(lo);
    while (hi - lo > 1) {
        time_t mid = lo + (hi - lo) / 2;
        if (glibc_offset(mid) == off_lo)
            lo = mid;
        else
            hi = mid;
    }
    return hi;
}

static void check_offset(const struct tz *tz, const char *zone, time_t s, int ms)
{
    long want = glibc_offset(s);
    int32_t got = tz_offset_at(tz, (int64_t)s * 1000 + ms);
    if (got != want) {
        char b[32];
        fmt_ms((int64_t)s * 1000, b, sizeof(b));
        fail_msg("%s at %s (+%d ms): offset %d, glibc says %ld", zone, b, ms, got, want);
    }
}

static void test_differential_glibc(void **state)
{
    (void)state;
    uint64_t rng = 0x9e3779b97f4a7c15u;
    for (size_t z = 0; z < sizeof(diff_zones) / sizeof(diff_zones[0]); z++) {
        struct tz *tz = load(diff_zones[z]);
        glibc_zone(diff_zones[z]);
        for (int i = 0; i < DIFF_SAMPLES; i++) {
            time_t s = (time_t)(T1970 + (int64_t)(rng_next(&rng) % (uint64_t)(T2100 - T1970)));
            int ms = (int)(rng_next(&rng) % 1000);
            check_offset(tz, diff_zones[z], s, ms);
            /* Pin down the nearest later change exactly: both sides of it must agree. */
            time_t later = s + 45 * 86400;
            if (i % 4 == 0 && glibc_offset(s) != glibc_offset(later)) {
                time_t x = glibc_bisect(s, later);
                check_offset(tz, diff_zones[z], x - 1, 999);
                check_offset(tz, diff_zones[z], x, 0);
            }
        }
        tz_destroy(tz);
    }
    unsetenv("TZ");
    tzset();
}

/*
 * Invariants of periods, with glibc's local time as oracle: start <= t < next start, a start is
 * its own start, and it falls on a wall-clock boundary (or on an offset change, when the
 * boundary was skipped).
 */
static void test_period_properties(void **state)
{
    (void)state;
    uint64_t rng = 12345;
    for (size_t z = 0; z < sizeof(diff_zones) / sizeof(diff_zones[0]); z++) {
        struct tz *tz = load(diff_zones[z]);
        glibc_zone(diff_zones[z]);
        for (int i = 0; i < 300; i++) {
            int64_t t = (int64_t)(rng_next(&rng) % (uint64_t)(T2100 * 1000));
            for (enum tz_period p = TZ_HOUR; p <= TZ_MONTH; p++) {
                int64_t start = tz_period_start(tz, p, t);
                int64_t next = tz_period_add(tz, p, t, 1);
                int64_t prev = tz_period_add(tz, p, t, -1);
                char ctx[96], b[32];
                fmt_ms(t, b, sizeof(b));
                snprintf(ctx, sizeof(ctx), "%s %s at %s", diff_zones[z], period_name(p), b);
                if (!(prev <= start && start <= t && t < next))
                    fail_msg("%s: order prev/start/t/next broken", ctx);
                assert_instant(tz_period_start(tz, p, start), start, ctx);
                assert_instant(tz_period_add(tz, p, start, 1), next, ctx);
                /* Stepping back lands on our start, unless the next label was skipped. */
                if (tz_period_add(tz, p, t, 2) != next)
                    assert_instant(tz_period_add(tz, p, next, -1), start, ctx);

                time_t s = (time_t)(start / 1000);
                struct tm tm, tt;
                time_t ts = (time_t)(t / 1000);
                localtime_r(&s, &tm);
                localtime_r(&ts, &tt);
                bool at_change = glibc_offset(s - 1) != glibc_offset(s);
                bool boundary =
                    tm.tm_min == 0 && tm.tm_sec == 0 && (p == TZ_HOUR || tm.tm_hour == 0) &&
                    (p != TZ_WEEK || tm.tm_wday == 1) && (p != TZ_MONTH || tm.tm_mday == 1);
                if (!boundary && !at_change)
                    fail_msg("%s: start %lld is neither a boundary nor an offset change", ctx,
                             (long long)start);
                /* The start's wall-clock date (at a boundary) is that of t for days. */
                if (p == TZ_DAY && boundary && (tm.tm_mday != tt.tm_mday || tm.tm_mon != tt.tm_mon))
                    fail_msg("%s: day start on a different local date", ctx);
            }
        }
        tz_destroy(tz);
    }
    unsetenv("TZ");
    tzset();
}

/* ---- Footers ----------------------------------------------------------------------------- */

/* POSIX TZ strings of the forms zic writes; glibc parses the same strings from TZ. */
static const char *const footers[] = {
    "CET-1CEST,M3.5.0,M10.5.0/3",
    "EST5EDT,M3.2.0,M11.1.0",
    "<+08>-8",
    "IST-5:30",
    "<+1030>-10:30<+11>-11,M10.1.0,M4.1.0",
    "<-02>2<-01>,M3.5.0/-1,M10.5.0/0", /* v3: negative rule time */
    "IST-2IDT,M3.4.4/26,M10.5.0",      /* v3: rule time > 24 h */
    "IST-1GMT0,M10.5.0,M3.5.0/1",      /* negative DST (Dublin) */
    "<+1245>-12:45<+1345>,M9.5.0/2:45,M4.1.0/3:45",
    "NST3:30NDT,M3.2.0,M11.1.0",
    "AEST-10AEDT,M10.1.0,M4.1.0/3",
    "<-04>4<-03>,M9.1.6/24,M4.1.6/24",
    "<+00>0<+02>-2,M3.5.0/1,M10.5.0/3",
    "XXX3YYY,J60/2,J300/2",
    "XXX3YYY,59/2,299/2",
    "<-0330>3:30:15",
    /*
     * Not "EST5EDT,0/0,J365/25" (DST all year): glibc evaluates rules only for the UTC year of
     * the instant and so reports EST for the first hours of each UTC year. That one has its own
     * test below.
     */
};

static void test_footer_vs_glibc(void **state)
{
    (void)state;
    uint64_t rng = 777;
    for (size_t f = 0; f < sizeof(footers) / sizeof(footers[0]); f++) {
        struct tz *tz = footer_only(footers[f]);
        glibc_zone(footers[f]);
        for (int i = 0; i < DIFF_SAMPLES; i++) {
            time_t s = (time_t)(T1970 + (int64_t)(rng_next(&rng) % (uint64_t)(T2100 - T1970)));
            check_offset(tz, footers[f], s, 0);
            time_t later = s + 45 * 86400;
            if (i % 4 == 0 && glibc_offset(s) != glibc_offset(later)) {
                time_t x = glibc_bisect(s, later);
                check_offset(tz, footers[f], x - 1, 999);
                check_offset(tz, footers[f], x, 0);
            }
        }
        tz_destroy(tz);
    }
    unsetenv("TZ");
    tzset();
}

static void test_footer_all_year_dst(void **state)
{
    (void)state;
    struct tz *tz = footer_only("EST5EDT,0/0,J365/25");
    for (int y = 2020; y < 2030; y++) {
        char iso[32];
        snprintf(iso, sizeof(iso), "%d-01-01T05:00:00Z", y);
        assert_int_equal(tz_offset_at(tz, T(iso)), -14400);
        assert_int_equal(tz_offset_at(tz, T(iso) - 1), -14400);
    }
    tz_destroy(tz);
}

/*
 * A "slim" Berlin, as zic -b slim writes it: transitions only until 1996, the rest from the
 * footer. It must agree with Debian's fat file everywhere after 1996, 2026 included.
 */
static void test_slim_matches_fat(void **state)
{
    (void)state;
    const struct ttype types[] = { { 3600, 0 }, { 7200, 1 } };
    const int64_t times[] = { T("1995-03-26T01:00:00Z") / 1000, T("1995-09-24T01:00:00Z") / 1000,
                              T("1996-03-31T01:00:00Z") / 1000, T("1996-10-27T01:00:00Z") / 1000 };
    const uint8_t idx[] = { 1, 0, 1, 0 };
    char err[JD_ERRSTR_SIZE] = "";
    struct buf b = build_tzif('2', 4, times, idx, 2, types, "CET-1CEST,M3.5.0,M10.5.0/3");
    struct tz *slim = tz_parse("Europe/Berlin", b.p, b.n, err, sizeof(err));
    struct tz *fat = load("Europe/Berlin");
    uint64_t rng = 99;
    assert_non_null(slim);
    free(b.p);

    assert_instant(tz_period_start(slim, TZ_DAY, T("2026-03-29T12:00:00Z")),
                   T("2026-03-28T23:00:00Z"), "slim 2026-03-29");
    assert_instant(tz_period_add(slim, TZ_DAY, T("2026-03-29T12:00:00Z"), 1),
                   T("2026-03-29T22:00:00Z"), "slim 2026-03-30");
    assert_instant(tz_period_add(slim, TZ_DAY, T("2026-10-25T12:00:00Z"), 1),
                   T("2026-10-25T23:00:00Z"), "slim 2026-10-26");
    int64_t lo = T("1997-01-01T00:00:00Z"), span = T("2100-01-01T00:00:00Z") - lo;
    for (int i = 0; i < DIFF_SAMPLES; i++) {
        int64_t t = lo + (int64_t)(rng_next(&rng) % (uint64_t)span);
        assert_int_equal(tz_offset_at(slim, t), tz_offset_at(fat, t));
        for (enum tz_period p = TZ_HOUR; p <= TZ_MONTH; p++)
            assert_instant(tz_period_start(slim, p, t), tz_period_start(fat, p, t), "slim/fat");
    }
    tz_destroy(slim);
    tz_destroy(fat);
}

/* A version-1 file: 32-bit data only, no footer; the last type holds forever. */
static void test_v1_file(void **state)
{
    (void)state;
    size_t len;
    char err[JD_ERRSTR_SIZE] = "";
    unsigned char *data = read_file(ZONEINFO "/Europe/Berlin", &len);
    /* Debian's files are "fat": the v1 block is complete. Keep just it, as version 1. */
    if (len < 44 || (data[32] | data[33] | data[34] | data[35]) == 0) {
        free(data);
        skip(); /* a slim build: its v1 block holds no transitions */
    }
    data[4] = 0;
    struct tz *v1 = tz_parse("v1", data, len, err, sizeof(err));
    struct tz *v2 = load("Europe/Berlin");
    uint64_t rng = 5;
    assert_non_null(v1);
    for (int i = 0; i < DIFF_SAMPLES; i++) {
        int64_t t = T("1902-01-01T00:00:00Z") +
                    (int64_t)(rng_next(&rng) %
                              (uint64_t)(T("2037-01-01T00:00:00Z") - T("1902-01-01T00:00:00Z")));
        assert_int_equal(tz_offset_at(v1, t), tz_offset_at(v2, t));
    }
    /* No footer: after 2037's last transition, CET forever. */
    assert_int_equal(tz_offset_at(v1, T("2045-07-01T12:00:00Z")), 3600);
    tz_destroy(v1);
    tz_destroy(v2);
    free(data);

    /* A synthetic v1 file with negative (pre-1970) 32-bit times. */
    const struct ttype types[] = { { -18000, 0 }, { -14400, 1 } };
    const int64_t times[] = { -900000000, 100000000 };
    const uint8_t idx[] = { 1, 0 };
    struct buf b = build_tzif(0, 2, times, idx, 2, types, "");
    struct tz *tz = tz_parse("syn", b.p, b.n, err, sizeof(err));
    assert_non_null(tz);
    assert_int_equal(tz_offset_at(tz, -900000001 * INT64_C(1000)), -18000);
    assert_int_equal(tz_offset_at(tz, -900000000 * INT64_C(1000)), -14400);
    assert_int_equal(tz_offset_at(tz, 100000000 * INT64_C(1000)), -18000);
    tz_destroy(tz);
    free(b.p);
}

/* An empty footer: the last transition's type holds forever; none at all: type 0. */
static void test_empty_footer(void **state)
{
    (void)state;
    const struct ttype types[] = { { 3600, 0 }, { 7200, 0 } };
    const int64_t times[] = { 1000000000 };
    const uint8_t idx[] = { 1 };
    char err[JD_ERRSTR_SIZE] = "";
    struct buf b = build_tzif('2', 1, times, idx, 2, types, "");
    struct tz *tz = tz_parse("x", b.p, b.n, err, sizeof(err));
    assert_non_null(tz);
    assert_int_equal(tz_offset_at(tz, 0), 3600);
    assert_int_equal(tz_offset_at(tz, T("2200-01-01T00:00:00Z")), 7200);
    tz_destroy(tz);
    free(b.p);

    b = build_tzif('4', 0, NULL, NULL, 2, types, "");
    tz = tz_parse("y", b.p, b.n, err, sizeof(err));
    assert_non_null(tz);
    assert_int_equal(tz_offset_at(tz, T("2026-01-01T00:00:00Z")), 3600);
    assert_instant(tz_period_start(tz, TZ_DAY, T("2026-01-01T12:00:00Z")),
                   T("2025-12-31T23:00:00Z"), "fixed +1");
    tz_destroy(tz);
    free(b.p);
}

/* ---- Malformed input --------------------------------------------------------------------- */

static void expect_reject(const void *data, size_t len, const char *what)
{
    char err[JD_ERRSTR_SIZE] = "";
    struct tz *tz = tz_parse("Bad/Zone", data, len, err, sizeof(err));
    if (tz) {
        tz_destroy(tz);
        fail_msg("%s: accepted", what);
    }
    if (strncmp(err, "Bad/Zone: ", 10) != 0)
        fail_msg("%s: errstr \"%s\" does not name the zone", what, err);
}

static void test_every_prefix_rejected(void **state)
{
    (void)state;
    static const char *const files[] = { "Europe/Berlin", "America/Nuuk", "Asia/Shanghai",
                                         "Etc/UTC" };
    for (size_t f = 0; f < sizeof(files) / sizeof(files[0]); f++) {
        char path[256], err[JD_ERRSTR_SIZE];
        size_t len;
        snprintf(path, sizeof(path), ZONEINFO "/%s", files[f]);
        unsigned char *data = read_file(path, &len);
        struct tz *whole = tz_parse(files[f], data, len, err, sizeof(err));
        if (!whole)
            fail_msg("%s: %s", files[f], err);
        tz_destroy(whole);
        for (size_t n = 0; n < len; n++) {
            /* A copy of exactly n bytes, so ASan sees any read past the end. */
            unsigned char *prefix = malloc(n ? n : 1);
            char what[64];
            assert_non_null(prefix);
            memcpy(prefix, data, n);
            snprintf(what, sizeof(what), "%s[0..%zu)", files[f], n);
            expect_reject(prefix, n, what);
            free(prefix);
        }
        free(data);
    }
    expect_reject(NULL, 0, "NULL");
}

/* Every single-byte corruption of a real file either parses or is rejected, never crashes. */
static void test_corrupted_bytes(void **state)
{
    (void)state;
    size_t len;
    unsigned char *data = read_file(ZONEINFO "/America/Sao_Paulo", &len);
    static const unsigned char values[] = { 0x00, 0x01, 0x7f, 0x80, 0xff, '\n', ',' };
    for (size_t i = 0; i < len; i++) {
        for (size_t v = 0; v < sizeof(values); v++) {
            unsigned char *copy = malloc(len);
            char err[JD_ERRSTR_SIZE] = "";
            assert_non_null(copy);
            memcpy(copy, data, len);
            copy[i] = values[v];
            struct tz *tz = tz_parse("c", copy, len, err, sizeof(err));
            if (tz) {
                /* Whatever was accepted must still answer queries safely. */
                (void)tz_offset_at(tz, T("2026-01-01T00:00:00Z"));
                (void)tz_period_add(tz, TZ_DAY, T("2018-11-04T12:00:00Z"), 1);
                (void)tz_period_start(tz, TZ_MONTH, T("2060-01-01T00:00:00Z"));
                tz_destroy(tz);
            } else {
                assert_true(err[0] != '\0');
            }
            free(copy);
        }
    }
    free(data);
}

static void test_malformed_headers(void **state)
{
    (void)state;
    const struct ttype t = { 3600, 0 };
    const struct ttype bad_off = { 100000, 0 };
    const struct ttype bad_dst = { 0, 2 };
    const int64_t times[] = { 100, 50 };
    const uint8_t idx_ok[] = { 0, 0 };
    const uint8_t idx_bad[] = { 0, 3 };
    struct buf b;

    b = build_tzif('2', 0, NULL, NULL, 1, &t, "CET-1");
    memcpy(b.p, "TZiF", 4);
    expect_reject(b.p, b.n, "bad magic");
    memcpy(b.p, "TZif", 4);
    b.p[4] = '1';
    expect_reject(b.p, b.n, "version '1'");
    b.p[4] = '2';
    /* The second header's magic. */
    b.p[44 + 6 + 4] = 'X';
    expect_reject(b.p, b.n, "bad second magic");
    free(b.p);

    /* Huge counts in either header. */
    static const size_t count_fields[] = { 20, 24, 28, 32, 36, 40 };
    for (size_t f = 0; f < 6; f++) {
        for (int hdr = 0; hdr < 2; hdr++) {
            b = build_tzif('2', 0, NULL, NULL, 1, &t, "CET-1");
            size_t at = (size_t)hdr * (44 + 6 + 4) + count_fields[f];
            b.p[at] = 0xff;
            b.p[at + 1] = 0xff;
            b.p[at + 2] = 0xff;
            b.p[at + 3] = 0xff;
            expect_reject(b.p, b.n, "huge count");
            free(b.p);
        }
    }
    /* Zero types, isstd count mismatch. */
    b = (struct buf){ NULL, 0 };
    put_header(&b, 0, 0, 0, 0, 0, 0, 4);
    put(&b, "ZZZ", 4);
    expect_reject(b.p, b.n, "no types");
    free(b.p);
    b = (struct buf){ NULL, 0 };
    put_header(&b, 0, 0, 2, 0, 0, 1, 4);
    put_block(&b, 4, 0, NULL, NULL, 1, &t);
    put(&b, "\0\0", 2);
    expect_reject(b.p, b.n, "isstd count mismatch");
    free(b.p);

    b = build_tzif('2', 2, times, idx_ok, 1, &t, "CET-1");
    expect_reject(b.p, b.n, "descending transitions");
    free(b.p);
    const int64_t asc[] = { 50, 100 };
    b = build_tzif('2', 2, asc, idx_bad, 1, &t, "CET-1");
    expect_reject(b.p, b.n, "type index out of range");
    free(b.p);
    b = build_tzif('2', 0, NULL, NULL, 1, &bad_off, "");
    expect_reject(b.p, b.n, "offset out of range");
    free(b.p);
    b = build_tzif('2', 0, NULL, NULL, 1, &bad_dst, "");
    expect_reject(b.p, b.n, "isdst 2");
    free(b.p);
    b = build_tzif('2', 0, NULL, NULL, 1, &t, "CET-1");
    b.p[b.n - 1] = 'x';
    expect_reject(b.p, b.n, "footer without final newline");
    free(b.p);
}

static void test_garbage_footers(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "CE",               /* name too short */
        "CET",              /* no offset */
        "CET-",             /* sign without digits */
        "CET-25",           /* offset hours out of range */
        "CET-1:60",         /* minutes out of range */
        "CET-1:30:60",      /* seconds out of range */
        "CET-1CEST,",       /* missing rules */
        "CET-1CEST,M3.5.0", /* one rule */
        "CET-1CEST,M13.5.0,M10.5.0",
        "CET-1CEST,M3.6.0,M10.5.0",
        "CET-1CEST,M3.5.7,M10.5.0",
        "CET-1CEST,M3.0.0,M10.5.0",
        "CET-1CEST,J0,J100",
        "CET-1CEST,J366,J100",
        "CET-1CEST,366,100",
        "CET-1CEST,M3.5.0/168,M10.5.0",
        "CET-1CEST,M3.5.0,M10.5.0/3x",
        "CET-1CEST,M3.5.0,M10.5.0,",
        "<+08", /* unterminated quote */
        "<+0 8>-8",
        "<>-8",
        "CET-1 ",
        "CET-0001", /* too many hour digits */
        "CET\x01-1",
        "\xff\xfe",
        "CET-1CEST-2-3",
    };
    const struct ttype t = { 3600, 0 };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct buf b = build_tzif('3', 0, NULL, NULL, 1, &t, bad[i]);
        char what[64];
        snprintf(what, sizeof(what), "footer \"%s\"", bad[i]);
        expect_reject(b.p, b.n, what);
        free(b.p);
    }
    /* A NUL inside the footer. */
    struct buf b = build_tzif('3', 0, NULL, NULL, 1, &t, "CET-1CEST");
    b.p[b.n - 3] = '\0';
    expect_reject(b.p, b.n, "NUL in footer");
    free(b.p);
}

static void test_leap_seconds_rejected(void **state)
{
    (void)state;
    char err[JD_ERRSTR_SIZE] = "";
    const struct ttype t = { 0, 0 };
    struct buf b = { NULL, 0 };
    put_header(&b, 0, 0, 0, 1, 0, 1, 4);
    put_block(&b, 4, 0, NULL, NULL, 1, &t);
    put_be(&b, 78796800, 4);
    put_be(&b, 1, 4);
    assert_null(tz_parse("leap", b.p, b.n, err, sizeof(err)));
    assert_non_null(strstr(err, "leap-second"));
    free(b.p);
    char right[256];
    snprintf(right, sizeof(right), "%s/right/Europe/Berlin", zoneinfo_dir());
    if (access(right, R_OK) == 0) {
        assert_null(tz_load("right/Europe/Berlin", err, sizeof(err)));
        assert_non_null(strstr(err, "leap-second"));
    }
}

/* ---- Loading ----------------------------------------------------------------------------- */

static void test_load_rejects(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        const char *expect; /* substring of errstr */
    } cases[] = {
        { "../etc/passwd", "invalid timezone name" },
        { "Europe/../../etc/passwd", "invalid timezone name" },
        { "/etc/localtime", "invalid timezone name" },
        { "", "invalid timezone name" },
        { "Europe/Berlin ", "invalid timezone name" },
        { "Europe\\Berlin", "invalid timezone name" },
        { "Asia/Foo", NULL }, /* "Asia/Foo: no such timezone (<dir>/Asia/Foo)" */
        { "Nowhere", "no such timezone" },
        { "Europe", "is not a file" },
        { "Europe/Berlin/x", "no such timezone" },
        { "zone.tab", "invalid timezone name" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char err[JD_ERRSTR_SIZE] = "";
        struct tz *tz = tz_load(cases[i].name, err, sizeof(err));
        if (tz) {
            tz_destroy(tz);
            fail_msg("\"%s\" accepted", cases[i].name);
        }
        char want[512];
        if (cases[i].expect)
            snprintf(want, sizeof(want), "%s", cases[i].expect);
        else
            snprintf(want, sizeof(want), "%s: no such timezone (%s/%s)", cases[i].name,
                     zoneinfo_dir(), cases[i].name);
        if (!strstr(err, want))
            fail_msg("\"%s\": errstr \"%s\" lacks \"%s\"", cases[i].name, err, want);
    }
    char err[JD_ERRSTR_SIZE] = "";
    assert_null(tz_load(NULL, err, sizeof(err)));
    assert_null(tz_load("", NULL, 0)); /* no errstr buffer: still fine */
}

static void test_load_utc(void **state)
{
    (void)state;
    static const char *const names[] = { "UTC", "Z", "Etc/UTC" };
    for (size_t i = 0; i < 3; i++) {
        struct tz *tz = load(names[i]);
        assert_string_equal(tz_name(tz), names[i]);
        assert_int_equal(tz_offset_at(tz, T("2026-07-01T00:00:00Z")), 0);
        assert_instant(tz_period_start(tz, TZ_DAY, T("2026-07-01T13:14:15Z")),
                       T("2026-07-01T00:00:00Z"), names[i]);
        tz_destroy(tz);
    }
    /* Built in: works even when TZDIR points nowhere. */
    with_tzdir("/nonexistent");
    struct tz *tz = load("UTC");
    tz_destroy(tz);
    char err[JD_ERRSTR_SIZE] = "";
    assert_null(tz_load("Europe/Berlin", err, sizeof(err)));
    assert_non_null(strstr(err, "/nonexistent/Europe/Berlin"));
    with_tzdir(NULL);
}

static void test_load_tzdir(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_tz.XXXXXX";
    char path[128];
    const struct ttype t = { 19800, 0 };
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/My_Zone", dir);
    struct buf b = build_tzif('2', 0, NULL, NULL, 1, &t, "<+0530>-5:30");
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b.p, 1, b.n, f), b.n);
    fclose(f);
    free(b.p);

    char garbage[128], err[JD_ERRSTR_SIZE] = "";
    snprintf(garbage, sizeof(garbage), "%s/Garbage", dir);
    f = fopen(garbage, "wb");
    assert_non_null(f);
    fputs("# not a TZif file\n", f);
    fclose(f);

    with_tzdir(dir);
    struct tz *tz = load("My_Zone");
    assert_null(tz_load("Garbage", err, sizeof(err)));
    with_tzdir(NULL);
    assert_non_null(strstr(err, "Garbage: malformed TZif data: bad magic"));
    unlink(garbage);
    assert_string_equal(tz_name(tz), "My_Zone");
    assert_int_equal(tz_offset_at(tz, T("2026-01-01T00:00:00Z")), 19800);
    tz_destroy(tz);
    unlink(path);
    rmdir(dir);
}

static void test_name_and_destroy(void **state)
{
    (void)state;
    char name[] = "Asia/Shanghai";
    struct tz *tz = load(name);
    name[0] = 'X'; /* the zone keeps its own copy */
    assert_string_equal(tz_name(tz), "Asia/Shanghai");
    tz_destroy(tz);
    tz_destroy(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_period_start_table), cmocka_unit_test(test_period_add_table),
        cmocka_unit_test(test_period_lengths),     cmocka_unit_test(test_offset_table),
        cmocka_unit_test(test_add_by_label),       cmocka_unit_test(test_millisecond_floor),
        cmocka_unit_test(test_differential_glibc), cmocka_unit_test(test_period_properties),
        cmocka_unit_test(test_footer_vs_glibc),    cmocka_unit_test(test_footer_all_year_dst),
        cmocka_unit_test(test_slim_matches_fat),   cmocka_unit_test(test_v1_file),
        cmocka_unit_test(test_empty_footer),       cmocka_unit_test(test_every_prefix_rejected),
        cmocka_unit_test(test_corrupted_bytes),    cmocka_unit_test(test_malformed_headers),
        cmocka_unit_test(test_garbage_footers),    cmocka_unit_test(test_leap_seconds_rejected),
        cmocka_unit_test(test_load_rejects),       cmocka_unit_test(test_load_utc),
        cmocka_unit_test(test_load_tzdir),         cmocka_unit_test(test_name_and_destroy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
