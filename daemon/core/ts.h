/*
 * ts.h — event-time primitives: RFC 3339 timestamps, durations, civil dates.
 *
 * Times are int64 milliseconds since the Unix epoch (UTC); durations are int64
 * milliseconds. Everything here is pure: the only clock is ts_now_ms(), and
 * nothing below the loop calls it (window maths takes time as a parameter).
 */
#ifndef JD_TS_H
#define JD_TS_H

#include "core/err.h"

#include <stddef.h>
#include <stdint.h>

/** Largest accepted event time: 9999-12-31T23:59:59.999Z. */
#define TS_MAX_MS INT64_C(253402300799999)

/** Buffer size that fits any ts_format_rfc3339() output. */
#define TS_RFC3339_SIZE 32

/**
 * @brief Parse an RFC 3339 date-time ("2026-11-23T08:00:00.123Z", any offset;
 *        't' and ' ' accepted as separators, 'z' for 'Z').
 *
 * Fractions beyond milliseconds are truncated toward the past. A leap second
 * (:60) is read as :59.999.
 * @returns JD_OK and sets \p ms, or JD_ERR_INVALID with a reason in errstr.
 */
enum jd_err ts_parse_rfc3339(const char *s, size_t n, int64_t *ms, char *errstr,
                             size_t errstr_size);

/**
 * @brief Format \p ms as RFC 3339 UTC ("2026-11-23T08:00:00Z", with ".123"
 *        only when the milliseconds are not zero).
 * @returns the length written (buf is always NUL-terminated).
 */
size_t ts_format_rfc3339(int64_t ms, char *buf, size_t size);

/**
 * @brief Parse a duration: one or more `<int><unit>` with units
 *        ms s m h d w (e.g. "5s", "1h30m", "7d"), as in Prometheus.
 * @returns JD_OK and sets \p ms (0 for "0", "0s", …), or JD_ERR_INVALID.
 */
enum jd_err ts_parse_duration(const char *s, size_t n, int64_t *ms, char *errstr,
                              size_t errstr_size);

/** Format a duration in the largest exact units ("1d", "1h30m", "250ms"). */
size_t ts_format_duration(int64_t ms, char *buf, size_t size);

/**
 * @brief Parse a point in time for command lines: RFC 3339, or unix seconds
 *        (optionally with a fraction).
 */
enum jd_err ts_parse_time_arg(const char *s, int64_t *ms, char *errstr, size_t errstr_size);

/** Days since 1970-01-01 of a proleptic Gregorian date (month 1..12). */
int64_t ts_days_from_civil(int64_t y, unsigned m, unsigned d);

/** The date of \p days since 1970-01-01. */
void ts_civil_from_days(int64_t days, int64_t *y, unsigned *m, unsigned *d);

/** Floor division for negative times (C division truncates toward zero). */
static inline int64_t ts_floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

/** Wall clock, for the loop and the command-line tools only. */
int64_t ts_now_ms(void);

/** Monotonic clock in ms, for timeouts and rates (never for event time). */
int64_t ts_mono_ms(void);

/** Monotonic clock in seconds with sub-microsecond resolution, for latency histograms. */
double ts_mono_s(void);

#endif
