/*
 * ts.c — RFC 3339 and duration parsing/formatting, civil-date arithmetic.
 *
 * Owns text <-> milliseconds conversions. It does not know timezones other
 * than a fixed offset in a timestamp (calendar periods in named zones are
 * tz.c's) and keeps no state.
 */
#include "core/ts.h"

#include "core/jd.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

int64_t ts_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    /* Shift the year to start in March so the leap day is the year's last day. */
    y -= m <= 2;
    const int64_t era = ts_floor_div(y, 400);
    const int64_t yoe = y - era * 400;                                            /* [0, 399] */
    const int64_t doy = (153 * (int64_t)(m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1; /* [0, 365] */
    const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;                    /* [0, 146096] */
    return era * 146097 + doe - 719468;
}

void ts_civil_from_days(int64_t days, int64_t *y, unsigned *m, unsigned *d)
{
    days += 719468;
    const int64_t era = ts_floor_div(days, 146097);
    const int64_t doe = days - era * 146097;
    const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const int64_t mp = (5 * doy + 2) / 153;
    *d = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
    *m = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static bool ts_is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static unsigned ts_days_in_month(int64_t y, unsigned m)
{
    static const unsigned dim[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    return m == 2 && ts_is_leap(y) ? 29 : dim[m - 1];
}

/* Reads exactly `width` digits at s[*i]. */
static bool ts_digits(const char *s, size_t n, size_t *i, int width, int *out)
{
    int v = 0;
    for (int k = 0; k < width; k++) {
        if (*i >= n || s[*i] < '0' || s[*i] > '9')
            return false;
        v = v * 10 + (s[*i] - '0');
        (*i)++;
    }
    *out = v;
    return true;
}

static bool ts_expect(const char *s, size_t n, size_t *i, char c)
{
    if (*i >= n || s[*i] != c)
        return false;
    (*i)++;
    return true;
}

enum jd_err ts_parse_rfc3339(const char *s, size_t n, int64_t *ms, char *errstr, size_t errstr_size)
{
    int year, mon, day, hh, mm, ss, frac_ms = 0, off_h = 0, off_m = 0, sign = 0;
    size_t i = 0;

    if (!ts_digits(s, n, &i, 4, &year) || !ts_expect(s, n, &i, '-') ||
        !ts_digits(s, n, &i, 2, &mon) || !ts_expect(s, n, &i, '-') || !ts_digits(s, n, &i, 2, &day))
        return jd_errf(JD_ERR_INVALID, errstr, errstr_size, "expected YYYY-MM-DD");
    if (i >= n || (s[i] != 'T' && s[i] != 't' && s[i] != ' '))
        return jd_errf(JD_ERR_INVALID, errstr, errstr_size, "expected 'T' after the date");
    i++;
    if (!ts_digits(s, n, &i, 2, &hh) || !ts_expect(s, n, &i, ':') || !ts_digits(s, n, &i, 2, &mm) ||
        !ts_expect(s, n, &i, ':') || !ts_digits(s, n, &i, 2, &ss))
        return jd_errf(JD_ERR_INVALID, errstr, errstr_size, "expected hh:mm:ss");
    if (i < n && s[i] == '.') {
        int digits = 0;
        i++;
        while (i < n && s[i] >= '0' && s[i] <= '9') {
            if (digits < 3)
                frac_ms = frac_ms * 10 + (s[i] - '0');
            digits++;
            i++;
        }
        if (digits == 0)
            return jd_errf(JD_ERR_INVALID, errstr, errstr_size, "empty fraction of a second");
        for (int k = digits; k < 3; k++)
            frac_ms *= 10;
    }
    if (i < n && (s[i] == 'Z' || s[i] == 'z')) {
        i++;
    } else if (i < n && (s[i] == '+' || s[i] == '-')) {
        sign = s[i] == '+' ? 1 : -1;
        i++;
        if (!ts_digits(s, n, &i, 2, &off_h) || !ts_expect(s, n, &i, ':') ||
            !ts_digits(s, n, &i, 2, &off_m))
            return jd_errf(JD_ERR_INVALID, errstr, errstr_size, "expected offset ±hh:mm");
        if (off_h > 23 || off_m > 59)
            return jd_errf(JD_ERR_INVALID, errstr, errstr_size, "offset out of range");
    } else {
        return jd_errf(JD_ERR_INVALID, errstr, errstr_size, "missing 'Z' or offset");
    }
    if (i != n)
        return jd_errf(JD_ERR_INVALID, errstr, errstr_size, "trailing characters");
    if (mon < 1 || mon > 12 || day < 1 || (unsigned)day > ts_days_in_month(year, (unsigned)mon))
        return jd_errf(JD_ERR_INVALID, errstr, errstr_size, "no such date");
    if (hh > 23 || mm > 59 || ss > 60)
        return jd_errf(JD_ERR_INVALID, errstr, errstr_size, "time of day out of range");
    if (ss == 60) { /* leap second: the last representable instant of the minute */
        ss = 59;
        frac_ms = 999;
    }
    int64_t days = ts_days_from_civil(year, (unsigned)mon, (unsigned)day);
    int64_t secs = days * 86400 + hh * 3600 + mm * 60 + ss;
    secs -= sign * (off_h * 3600 + off_m * 60);
    *ms = secs * 1000 + frac_ms;
    return JD_OK;
}

size_t ts_format_rfc3339(int64_t ms, char *buf, size_t size)
{
    int64_t days = ts_floor_div(ms, JD_MS_DAY);
    int64_t rem = ms - days * JD_MS_DAY;
    int64_t y;
    unsigned mo, d;
    int n;

    ts_civil_from_days(days, &y, &mo, &d);
    int h = (int)(rem / 3600000), mi = (int)(rem / 60000 % 60), s = (int)(rem / 1000 % 60);
    int frac = (int)(rem % 1000);
    if (frac)
        n = snprintf(buf, size, "%04lld-%02u-%02uT%02d:%02d:%02d.%03dZ", (long long)y, mo, d, h, mi,
                     s, frac);
    else
        n = snprintf(buf, size, "%04lld-%02u-%02uT%02d:%02d:%02dZ", (long long)y, mo, d, h, mi, s);
    return n < 0 ? 0 : (size_t)n;
}

enum jd_err ts_parse_duration(const char *s, size_t n, int64_t *ms, char *errstr,
                              size_t errstr_size)
{
    static const struct {
        const char *unit;
        int64_t ms;
    } units[] = {
        /* "ms" before "m" so the longest unit wins */
        { "ms", 1 },      { "s", 1000 },     { "m", 60000 },
        { "h", 3600000 }, { "d", 86400000 }, { "w", 7 * INT64_C(86400000) },
    };
    int64_t total = 0;
    size_t i = 0;

    if (n == 1 && s[0] == '0') {
        *ms = 0;
        return JD_OK;
    }
    if (n == 0)
        return jd_errf(JD_ERR_INVALID, errstr, errstr_size, "empty duration");
    while (i < n) {
        int64_t v = 0;
        size_t start = i;
        while (i < n && s[i] >= '0' && s[i] <= '9') {
            if (v > INT64_C(1000000000000))
                return jd_errf(JD_ERR_INVALID, errstr, errstr_size, "duration too large");
            v = v * 10 + (s[i] - '0');
            i++;
        }
        if (i == start)
            return jd_errf(JD_ERR_INVALID, errstr, errstr_size,
                           "expected a number in duration '%.*s' (e.g. 30s, 5m, 1h30m, 7d)", (int)n,
                           s);
        size_t k;
        for (k = 0; k < JD_ARRAY_SIZE(units); k++) {
            size_t ul = strlen(units[k].unit);
            if (i + ul <= n && !memcmp(s + i, units[k].unit, ul) &&
                /* "m" must not swallow the 'm' of "ms" */
                !(ul == 1 && units[k].unit[0] == 'm' && i + 1 < n && s[i + 1] == 's')) {
                i += ul;
                break;
            }
        }
        if (k == JD_ARRAY_SIZE(units))
            return jd_errf(JD_ERR_INVALID, errstr, errstr_size,
                           "unknown unit in duration '%.*s' (units: ms s m h d w)", (int)n, s);
        if (v > (INT64_C(1) << 52) / units[k].ms || total + v * units[k].ms > (INT64_C(1) << 52))
            return jd_errf(JD_ERR_INVALID, errstr, errstr_size, "duration too large");
        total += v * units[k].ms;
    }
    *ms = total;
    return JD_OK;
}

size_t ts_format_duration(int64_t ms, char *buf, size_t size)
{
    static const struct {
        const char *unit;
        int64_t ms;
    } units[] = { { "d", 86400000 }, { "h", 3600000 }, { "m", 60000 }, { "s", 1000 }, { "ms", 1 } };
    size_t len = 0;

    if (size)
        buf[0] = '\0';
    if (ms == 0)
        return (size_t)snprintf(buf, size, "0s");
    if (ms < 0) {
        len += (size_t)snprintf(buf, size, "-");
        ms = -ms;
    }
    if (ms % (7 * JD_MS_DAY) == 0)
        return len + (size_t)snprintf(buf + len, size > len ? size - len : 0, "%lldw",
                                      (long long)(ms / (7 * JD_MS_DAY)));
    for (size_t k = 0; k < JD_ARRAY_SIZE(units) && ms; k++) {
        if (ms >= units[k].ms) {
            int w = snprintf(buf + len, size > len ? size - len : 0, "%lld%s",
                             (long long)(ms / units[k].ms), units[k].unit);
            len += w > 0 ? (size_t)w : 0;
            ms %= units[k].ms;
        }
    }
    return len;
}

enum jd_err ts_parse_time_arg(const char *s, int64_t *ms, char *errstr, size_t errstr_size)
{
    size_t n = strlen(s);
    bool numeric = n > 0;
    int dots = 0;

    for (size_t i = 0; i < n; i++) {
        if (s[i] == '.')
            dots++;
        else if (s[i] < '0' || s[i] > '9')
            numeric = false;
    }
    if (numeric && dots <= 1 && n > (size_t)dots) {
        /* unix seconds, optionally fractional: parse as integer ms exactly */
        int64_t sec = 0, frac = 0;
        int fd = 0;
        size_t i = 0;
        for (; i < n && s[i] != '.'; i++) {
            if (sec > TS_MAX_MS / 1000)
                return jd_errf(JD_ERR_INVALID, errstr, errstr_size, "time out of range");
            sec = sec * 10 + (s[i] - '0');
        }
        if (i < n)
            for (i++; i < n; i++, fd++)
                if (fd < 3)
                    frac = frac * 10 + (s[i] - '0');
        for (; fd < 3; fd++)
            frac *= 10;
        *ms = sec * 1000 + frac;
        if (*ms > TS_MAX_MS)
            return jd_errf(JD_ERR_INVALID, errstr, errstr_size, "time out of range");
        return JD_OK;
    }
    char reason[128];
    if (ts_parse_rfc3339(s, n, ms, reason, sizeof(reason)) != JD_OK)
        return jd_errf(JD_ERR_INVALID, errstr, errstr_size,
                       "'%s' is neither RFC 3339 nor unix seconds: %s", s, reason);
    return JD_OK;
}

int64_t ts_now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

int64_t ts_mono_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

double ts_mono_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}
