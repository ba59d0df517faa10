/*
 * tz.c — time zones from TZif files (RFC 8536) and local calendar periods.
 *
 * Owns: reading and validating TZif data, the POSIX TZ footer rules, UTC offsets and the
 * local-period arithmetic of tz.h. Does not own: choosing a zone (configuration), clocks, or
 * anything about glibc's TZ/localtime, which it never calls because their state is global.
 */
#include "core/tz.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SECS_PER_HOUR 3600
#define SECS_PER_DAY  86400

/*
 * Every offset we accept is strictly smaller than this in magnitude (RFC 8536 recommends
 * -89999..93599). It bounds how far from a wall-clock value its UTC instants can lie, which is
 * what makes the local-to-UTC search below finite.
 */
#define MAX_ABS_OFFSET 93599
#define OFFSET_WINDOW  (MAX_ABS_OFFSET + 1)

/* Real zone files are a few KiB; anything this large is not one. */
#define MAX_FILE_SIZE (4 * 1024 * 1024)
#define MAX_NAME_LEN  255

/* 1970-01-01 was a Thursday. */
#define EPOCH_WDAY_SUNDAY0 4 /* 0 = Sunday, as in POSIX M rules */
#define EPOCH_WDAY_MONDAY0 3 /* 0 = Monday, as in ISO weeks */

enum rule_kind {
    RULE_JULIAN1, /* Jn: 1..365, February 29 never counted */
    RULE_JULIAN0, /* n: 0..365, February 29 counted */
    RULE_MWD,     /* Mm.w.d: day d of week w of month m */
};

struct dst_rule {
    enum rule_kind kind;
    int day;      /* Jn / n: the day number; Mm.w.d: d (0 = Sunday) */
    int week;     /* Mm.w.d only: 1..5, 5 = last */
    int month;    /* Mm.w.d only: 1..12 */
    int32_t secs; /* local time of day of the change; may be negative or > 24 h (TZif v3) */
};

struct posix_tz {
    int32_t std_off; /* seconds east of UTC */
    int32_t dst_off;
    bool has_dst;
    struct dst_rule start; /* switch to dst_off, at a time given in standard time */
    struct dst_rule end;   /* switch back to std_off, at a time given in daylight time */
};

struct tz {
    char *name;
    size_t ntrans;
    int64_t *trans;     /* transition instants (UTC seconds), strictly increasing */
    int32_t *trans_off; /* offset from trans[i] on */
    int32_t first_off;  /* offset before trans[0] (time type 0, RFC 8536 3.2) */
    bool has_footer;
    struct posix_tz footer;
};

/* ---- Arithmetic -------------------------------------------------------------------------- */

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if (a % b != 0 && (a < 0) != (b < 0))
        q--;
    return q;
}

static int64_t floor_mod(int64_t a, int64_t b)
{
    return a - floor_div(a, b) * b;
}

static int64_t secs_to_ms(int64_t s)
{
    if (s > INT64_MAX / 1000)
        return INT64_MAX;
    if (s < INT64_MIN / 1000)
        return INT64_MIN;
    return s * 1000;
}

/* ---- Proleptic Gregorian calendar ------------------------------------------------------- */

static bool is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int month_days(int64_t y, int m)
{
    static const int days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

/*
 * Days since 1970-01-01 of Y-M-D. Counting years from March puts the leap day at the end of the
 * counted year, so the days before a month follow a fixed pattern and 400-year cycles
 * (146097 days) handle the century rules.
 */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    int64_t ym = m <= 2 ? y - 1 : y;          /* year that began the preceding March */
    int64_t cycle = floor_div(ym, 400);       /* 400-year cycle */
    int64_t yc = ym - cycle * 400;            /* 0..399 within the cycle */
    int mm = m <= 2 ? m + 9 : m - 3;          /* 0 = March .. 11 = February */
    int64_t doy = (153 * mm + 2) / 5 + d - 1; /* day within the March-based year */
    int64_t doc = yc * 365 + yc / 4 - yc / 100 + doy;
    return cycle * 146097 + doc - 719468; /* 719468 days from 0000-03-01 to 1970-01-01 */
}

/* Inverse of days_from_civil() for the year and month (the day is not needed here). */
static void civil_from_days(int64_t days, int64_t *year, int *month)
{
    int64_t z = days + 719468;
    int64_t cycle = floor_div(z, 146097);
    int64_t doc = z - cycle * 146097;                                   /* 0..146096 */
    int64_t yc = (doc - doc / 1460 + doc / 36524 - doc / 146096) / 365; /* 0..399 */
    int64_t doy = doc - (365 * yc + yc / 4 - yc / 100);                 /* 0..365, from March */
    int mm = (int)((5 * doy + 2) / 153);                                /* 0 = March */
    int m = mm < 10 ? mm + 3 : mm - 9;
    *year = cycle * 400 + yc + (m <= 2 ? 1 : 0);
    *month = m;
}

/* ---- POSIX TZ footer --------------------------------------------------------------------- */

struct cursor {
    const char *p;
    const char *end;
};

static bool cur_peek(const struct cursor *c, char ch)
{
    return c->p < c->end && *c->p == ch;
}

static bool cur_is_digit(const struct cursor *c)
{
    return c->p < c->end && *c->p >= '0' && *c->p <= '9';
}

static bool cur_is_alpha(const struct cursor *c)
{
    return c->p < c->end && ((*c->p >= 'A' && *c->p <= 'Z') || (*c->p >= 'a' && *c->p <= 'z'));
}

/* Up to MAXDIGITS decimal digits; the bound keeps values far from overflow. */
static bool parse_uint(struct cursor *c, int maxdigits, int *out)
{
    int v = 0, n = 0;
    while (cur_is_digit(c) && n < maxdigits) {
        v = v * 10 + (*c->p - '0');
        c->p++;
        n++;
    }
    if (n == 0 || cur_is_digit(c))
        return false;
    *out = v;
    return true;
}

/* Zone abbreviations are not used; they are only validated and skipped. */
static bool parse_abbr(struct cursor *c)
{
    int n = 0;
    if (cur_peek(c, '<')) {
        c->p++;
        while (c->p < c->end && *c->p != '>') {
            char ch = *c->p;
            bool ok = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
                      (ch >= '0' && ch <= '9') || ch == '+' || ch == '-';
            if (!ok)
                return false;
            c->p++;
            n++;
        }
        if (!cur_peek(c, '>'))
            return false;
        c->p++;
    } else {
        while (cur_is_alpha(c)) {
            c->p++;
            n++;
        }
    }
    return n >= 3;
}

/* [+-]hh[:mm[:ss]] with hh <= MAXHOURS; returns the signed number of seconds. */
static bool parse_hms(struct cursor *c, int maxhours, int32_t *out)
{
    int sign = 1, h, m = 0, s = 0;
    if (cur_peek(c, '+') || cur_peek(c, '-')) {
        sign = *c->p == '-' ? -1 : 1;
        c->p++;
    }
    if (!parse_uint(c, 3, &h) || h > maxhours)
        return false;
    if (cur_peek(c, ':')) {
        c->p++;
        if (!parse_uint(c, 2, &m) || m > 59)
            return false;
        if (cur_peek(c, ':')) {
            c->p++;
            if (!parse_uint(c, 2, &s) || s > 59)
                return false;
        }
    }
    *out = sign * (h * SECS_PER_HOUR + m * 60 + s);
    return true;
}

/* POSIX writes offsets west-positive ("CST-8" is UTC+8); we store east-positive. */
static bool parse_offset(struct cursor *c, int32_t *east)
{
    int32_t west;
    if (!parse_hms(c, 24, &west))
        return false;
    *east = -west;
    return true;
}

static bool parse_rule(struct cursor *c, struct dst_rule *r)
{
    if (cur_peek(c, 'J')) {
        c->p++;
        r->kind = RULE_JULIAN1;
        if (!parse_uint(c, 3, &r->day) || r->day < 1 || r->day > 365)
            return false;
    } else if (cur_peek(c, 'M')) {
        c->p++;
        r->kind = RULE_MWD;
        if (!parse_uint(c, 2, &r->month) || r->month < 1 || r->month > 12)
            return false;
        if (!cur_peek(c, '.'))
            return false;
        c->p++;
        if (!parse_uint(c, 1, &r->week) || r->week < 1 || r->week > 5)
            return false;
        if (!cur_peek(c, '.'))
            return false;
        c->p++;
        if (!parse_uint(c, 1, &r->day) || r->day > 6)
            return false;
    } else {
        r->kind = RULE_JULIAN0;
        if (!parse_uint(c, 3, &r->day) || r->day > 365)
            return false;
    }
    r->secs = 2 * SECS_PER_HOUR;
    if (cur_peek(c, '/')) {
        c->p++;
        /* TZif v3 allows -167..167 hours; accepting it for every version costs nothing. */
        if (!parse_hms(c, 167, &r->secs))
            return false;
    }
    return true;
}

static bool parse_posix_tz(const char *s, size_t len, struct posix_tz *out)
{
    struct cursor c = { s, s + len };
    struct posix_tz tz = { 0 };

    if (!parse_abbr(&c) || !parse_offset(&c, &tz.std_off))
        return false;
    if (c.p == c.end) {
        *out = tz;
        return true;
    }
    if (!parse_abbr(&c))
        return false;
    tz.has_dst = true;
    tz.dst_off = tz.std_off + SECS_PER_HOUR;
    if (c.p < c.end && *c.p != ',' && !parse_offset(&c, &tz.dst_off))
        return false;
    if (cur_peek(&c, ',')) {
        c.p++;
        if (!parse_rule(&c, &tz.start) || !cur_peek(&c, ','))
            return false;
        c.p++;
        if (!parse_rule(&c, &tz.end))
            return false;
    } else {
        /* POSIX leaves the default to the implementation; zic never relies on it. US rules. */
        tz.start = (struct dst_rule){ RULE_MWD, 0, 2, 3, 2 * SECS_PER_HOUR };
        tz.end = (struct dst_rule){ RULE_MWD, 0, 1, 11, 2 * SECS_PER_HOUR };
    }
    if (c.p != c.end)
        return false;
    *out = tz;
    return true;
}

/* Local date (days since the epoch) on which R falls in YEAR. */
static int64_t rule_day(const struct dst_rule *r, int64_t year)
{
    int64_t jan1 = days_from_civil(year, 1, 1);
    switch (r->kind) {
    case RULE_JULIAN1:
        return jan1 + r->day - 1 + (is_leap(year) && r->day >= 60 ? 1 : 0);
    case RULE_JULIAN0:
        return jan1 + r->day;
    case RULE_MWD:
    default: {
        int64_t first = days_from_civil(year, r->month, 1);
        int64_t wday = floor_mod(first + EPOCH_WDAY_SUNDAY0, 7);
        int64_t day = first + floor_mod(r->day - wday, 7) + 7 * (r->week - 1);
        if (day >= first + month_days(year, r->month))
            day -= 7;
        return day;
    }
    }
}

/*
 * The changes of a POSIX rule around instant S: for each year of a small range, the start and
 * the end instant. Rule times may push a year's change up to a week into a neighbouring year,
 * so two years either side cover every change that can matter for S.
 */
#define POSIX_YEARS  5
#define POSIX_EVENTS (2 * POSIX_YEARS)

struct posix_event {
    int64_t at;
    bool to_dst;
};

static void posix_events(const struct posix_tz *p, int64_t s, struct posix_event *ev)
{
    int64_t year;
    int month;
    civil_from_days(floor_div(s + p->std_off, SECS_PER_DAY), &year, &month);
    for (int i = 0; i < POSIX_YEARS; i++) {
        int64_t y = year - POSIX_YEARS / 2 + i;
        int64_t start = rule_day(&p->start, y) * SECS_PER_DAY + p->start.secs - p->std_off;
        int64_t end = rule_day(&p->end, y) * SECS_PER_DAY + p->end.secs - p->dst_off;
        /* Within a year, keep chronological order; a later entry wins ties (see below). */
        if (start <= end) {
            ev[2 * i] = (struct posix_event){ start, true };
            ev[2 * i + 1] = (struct posix_event){ end, false };
        } else {
            ev[2 * i] = (struct posix_event){ end, false };
            ev[2 * i + 1] = (struct posix_event){ start, true };
        }
    }
}

static int32_t posix_offset_at(const struct posix_tz *p, int64_t s)
{
    struct posix_event ev[POSIX_EVENTS];
    int best = -1;

    if (!p->has_dst)
        return p->std_off;
    posix_events(p, s, ev);
    /*
     * The latest change at or before S decides. On equal instants the later year wins: that is
     * how "all-year DST" is written (",0/0,J365/25": one year's end is the next one's start).
     */
    for (int i = 0; i < POSIX_EVENTS; i++)
        if (ev[i].at <= s && (best < 0 || ev[i].at >= ev[best].at))
            best = i;
    if (best < 0)
        return p->std_off; /* unreachable: the earliest year's changes lie well before S */
    return ev[best].to_dst ? p->dst_off : p->std_off;
}

static bool posix_next_change(const struct posix_tz *p, int64_t s, int64_t *next)
{
    struct posix_event ev[POSIX_EVENTS];
    int best = -1;

    if (!p->has_dst)
        return false;
    posix_events(p, s, ev);
    for (int i = 0; i < POSIX_EVENTS; i++)
        if (ev[i].at > s && (best < 0 || ev[i].at < ev[best].at))
            best = i;
    if (best < 0)
        return false;
    *next = ev[best].at;
    return true;
}

/* ---- Offsets ----------------------------------------------------------------------------- */

/* Index of the first transition after S (ntrans if none). */
static size_t upper_bound(const struct tz *tz, int64_t s)
{
    size_t lo = 0, hi = tz->ntrans;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (tz->trans[mid] <= s)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Like glibc, the footer governs from the last transition on, inclusive. */
static bool footer_governs(const struct tz *tz, int64_t s)
{
    return tz->has_footer && (tz->ntrans == 0 || s >= tz->trans[tz->ntrans - 1]);
}

static int32_t offset_at(const struct tz *tz, int64_t s)
{
    if (footer_governs(tz, s))
        return posix_offset_at(&tz->footer, s);
    size_t i = upper_bound(tz, s);
    return i == 0 ? tz->first_off : tz->trans_off[i - 1];
}

/* First instant after S at which the offset may change; false if it never does. */
static bool next_change(const struct tz *tz, int64_t s, int64_t *next)
{
    if (tz->ntrans > 0 && s < tz->trans[tz->ntrans - 1]) {
        *next = tz->trans[upper_bound(tz, s)];
        return true;
    }
    if (!tz->has_footer)
        return false;
    return posix_next_change(&tz->footer, s, next);
}

/*
 * The UTC instant at which wall-clock time last reaches LOCAL: the s after which local time
 * stays >= LOCAL. Local time is s + offset(s), rising with slope 1 between changes and jumping
 * at them; it is below LOCAL before LOCAL - OFFSET_WINDOW and above it after
 * LOCAL + OFFSET_WINDOW, so only the changes in that window matter. Within each stretch of
 * constant offset the candidate is where local time equals LOCAL, or the stretch's start if
 * local time jumped over LOCAL into it. For a skipped value this yields the transition instant;
 * for a repeated one, the first occurrence (unless the clock later falls back below LOCAL).
 */
static int64_t last_reach(const struct tz *tz, int64_t local)
{
    int64_t lo = local - OFFSET_WINDOW, hi = local + OFFSET_WINDOW;
    int64_t a = lo, best = hi; /* always replaced: some stretch must reach LOCAL */
    int32_t off = offset_at(tz, a), prev_off = off;
    bool first = true;

    for (;;) {
        int64_t b = hi + 1;
        bool more = next_change(tz, a, &b) && b <= hi;
        if (!more)
            b = hi + 1;
        int64_t c = local - off;
        if (c < a)
            c = a;
        /* At a stretch's start, only a jump up from below LOCAL counts as reaching it. */
        if (c < b && (c > a || (!first && a - 1 + prev_off < local)))
            best = c;
        if (!more)
            break;
        prev_off = off;
        off = offset_at(tz, b);
        a = b;
        first = false;
    }
    return best;
}

/* ---- Periods ----------------------------------------------------------------------------- */

/* Period number containing local time LOCAL (hours, days, Monday-weeks, months since 1970). */
static int64_t period_index(enum tz_period p, int64_t local)
{
    int64_t days = floor_div(local, SECS_PER_DAY);
    switch (p) {
    case TZ_HOUR:
        return floor_div(local, SECS_PER_HOUR);
    case TZ_WEEK:
        return floor_div(days + EPOCH_WDAY_MONDAY0, 7);
    case TZ_MONTH: {
        int64_t y;
        int m;
        civil_from_days(days, &y, &m);
        return y * 12 + (m - 1);
    }
    case TZ_DAY:
    default:
        return days;
    }
}

/* Wall-clock time (local seconds since 1970) at which period K begins. */
static int64_t period_local_start(enum tz_period p, int64_t k)
{
    switch (p) {
    case TZ_HOUR:
        return k * SECS_PER_HOUR;
    case TZ_WEEK:
        return (k * 7 - EPOCH_WDAY_MONDAY0) * SECS_PER_DAY;
    case TZ_MONTH: {
        int64_t y = floor_div(k, 12);
        return days_from_civil(y, (int)(k - y * 12) + 1, 1) * SECS_PER_DAY;
    }
    case TZ_DAY:
    default:
        return k * SECS_PER_DAY;
    }
}

/*
 * Period number containing instant S. Usually that of S's wall-clock time; but when the clock
 * falls back across a period boundary, the instants before the second crossing still belong to
 * the previous period, so step back until the period's start is not after S. Starts are
 * monotonic in K, which makes the periods partition time.
 */
static int64_t period_of(const struct tz *tz, enum tz_period p, int64_t s, int64_t *start)
{
    int64_t k = period_index(p, s + offset_at(tz, s));
    int64_t st = last_reach(tz, period_local_start(p, k));
    while (st > s) {
        k--;
        st = last_reach(tz, period_local_start(p, k));
    }
    *start = st;
    return k;
}

/* ---- Public API -------------------------------------------------------------------------- */

int32_t tz_offset_at(const struct tz *tz, int64_t utc_ms)
{
    return offset_at(tz, floor_div(utc_ms, 1000));
}

int64_t tz_period_start(const struct tz *tz, enum tz_period p, int64_t utc_ms)
{
    int64_t start;
    period_of(tz, p, floor_div(utc_ms, 1000), &start);
    return secs_to_ms(start);
}

int64_t tz_period_add(const struct tz *tz, enum tz_period p, int64_t utc_ms, int n)
{
    int64_t start;
    int64_t k = period_of(tz, p, floor_div(utc_ms, 1000), &start);
    if (n == 0)
        return secs_to_ms(start);
    return secs_to_ms(last_reach(tz, period_local_start(p, k + n)));
}

const char *tz_name(const struct tz *tz)
{
    return tz->name;
}

void tz_destroy(struct tz *tz)
{
    if (!tz)
        return;
    free(tz->name);
    free(tz->trans);
    free(tz->trans_off);
    free(tz);
}

/* ---- TZif parsing ------------------------------------------------------------------------ */

#define TZIF_HEADER_SIZE 44

struct tzif_header {
    char version; /* 0, '2', '3', '4', ... */
    uint32_t isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt;
};

static uint32_t get_be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static int64_t get_be64(const unsigned char *p)
{
    uint64_t v = (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
    return (int64_t)v; /* two's complement, as on every platform we build for */
}

static struct tz *reject(const char *name, char *errstr, size_t errstr_size, const char *why)
{
    jd_errf(JD_ERR_INVALID, errstr, errstr_size, "%s: malformed TZif data: %s", name, why);
    return NULL;
}

static const char *read_header(const unsigned char *p, size_t len, size_t pos,
                               struct tzif_header *h)
{
    /* Magic first: "not a TZif file at all" is the more useful message. */
    if (len - pos >= 4 && memcmp(p + pos, "TZif", 4) != 0)
        return "bad magic";
    if (len - pos < TZIF_HEADER_SIZE)
        return "truncated header";
    h->version = (char)p[pos + 4];
    if (h->version != 0 && (h->version < '2' || h->version > '9'))
        return "unknown version";
    const unsigned char *c = p + pos + 20;
    h->isutcnt = get_be32(c);
    h->isstdcnt = get_be32(c + 4);
    h->leapcnt = get_be32(c + 8);
    h->timecnt = get_be32(c + 12);
    h->typecnt = get_be32(c + 16);
    h->charcnt = get_be32(c + 20);
    return NULL;
}

/* 64-bit arithmetic: 32-bit counts times small sizes cannot overflow it. */
static uint64_t data_size(const struct tzif_header *h, unsigned timesz)
{
    return (uint64_t)h->timecnt * timesz + h->timecnt + (uint64_t)h->typecnt * 6 + h->charcnt +
           (uint64_t)h->leapcnt * (timesz + 4) + h->isstdcnt + h->isutcnt;
}

static const char *check_header(const struct tzif_header *h)
{
    if (h->typecnt == 0)
        return "no local time types";
    if (h->charcnt == 0)
        return "no designations";
    if (h->isutcnt != 0 && h->isutcnt != h->typecnt)
        return "UT/local indicator count mismatch";
    if (h->isstdcnt != 0 && h->isstdcnt != h->typecnt)
        return "standard/wall indicator count mismatch";
    return NULL;
}

/* Validate the data block at D against H and fill TZ's (already allocated) transitions. */
static const char *read_data(const unsigned char *d, const struct tzif_header *h, unsigned timesz,
                             struct tz *tz)
{
    const unsigned char *times = d;
    const unsigned char *idx = times + (size_t)h->timecnt * timesz;
    const unsigned char *types = idx + h->timecnt;

    for (uint32_t i = 0; i < h->typecnt; i++) {
        const unsigned char *t = types + (size_t)i * 6;
        int32_t off = (int32_t)get_be32(t);
        if (off < -MAX_ABS_OFFSET || off > MAX_ABS_OFFSET)
            return "UT offset out of range";
        if (t[4] > 1)
            return "bad DST flag";
        if (t[5] >= h->charcnt)
            return "designation index out of range";
    }
    tz->first_off = (int32_t)get_be32(types);

    tz->ntrans = h->timecnt;
    for (uint32_t i = 0; i < h->timecnt; i++) {
        const unsigned char *t = times + (size_t)i * timesz;
        int64_t at = timesz == 8 ? get_be64(t) : (int32_t)get_be32(t);
        if (i > 0 && at <= tz->trans[i - 1])
            return "transition times not ascending";
        if (idx[i] >= h->typecnt)
            return "transition type index out of range";
        tz->trans[i] = at;
        tz->trans_off[i] = (int32_t)get_be32(types + (size_t)idx[i] * 6);
    }
    return NULL;
}

struct tz *tz_parse(const char *name, const void *tzif, size_t len, char *errstr,
                    size_t errstr_size)
{
    const unsigned char *p = tzif;
    struct tzif_header h;
    const char *why;
    size_t pos = 0;
    unsigned timesz = 4;
    struct tz *tz = NULL;

    if (!name)
        name = "";
    if (!p && len > 0)
        return reject(name, errstr, errstr_size, "no data");
    /* In a v2+ file the v1 block is skipped unread: only its size has to make sense. */
    if ((why = read_header(p, len, pos, &h)) || (h.version == 0 && (why = check_header(&h))))
        return reject(name, errstr, errstr_size, why);
    if (data_size(&h, 4) > len - TZIF_HEADER_SIZE)
        return reject(name, errstr, errstr_size, "truncated data block");
    pos = TZIF_HEADER_SIZE;
    if (h.version != 0) {
        /* The v1 block only serves 32-bit readers; skip it for the 64-bit one. */
        pos += (size_t)data_size(&h, 4);
        if ((why = read_header(p, len, pos, &h)) || (why = check_header(&h)))
            return reject(name, errstr, errstr_size, why);
        pos += TZIF_HEADER_SIZE;
        if (data_size(&h, 8) > len - pos)
            return reject(name, errstr, errstr_size, "truncated 64-bit data block");
        timesz = 8;
    }
    if (h.leapcnt != 0) {
        jd_errf(JD_ERR_INVALID, errstr, errstr_size,
                "%s: leap-second zones are not supported (journeyd uses POSIX time)", name);
        return NULL;
    }

    tz = calloc(1, sizeof(*tz));
    if (!tz)
        goto nomem;
    tz->name = strdup(name);
    if (!tz->name)
        goto nomem;
    if (h.timecnt > 0) {
        tz->trans = malloc((size_t)h.timecnt * sizeof(*tz->trans));
        tz->trans_off = malloc((size_t)h.timecnt * sizeof(*tz->trans_off));
        if (!tz->trans || !tz->trans_off)
            goto nomem;
    }
    why = read_data(p + pos, &h, timesz, tz);
    if (why)
        goto malformed;
    pos += (size_t)data_size(&h, timesz);

    if (timesz == 8) {
        /* Footer: "\n" POSIX-TZ-string "\n"; an empty string means "no rule". */
        const unsigned char *nl;
        if (pos >= len || p[pos] != '\n') {
            why = "missing footer";
            goto malformed;
        }
        pos++;
        nl = memchr(p + pos, '\n', len - pos);
        if (!nl) {
            why = "unterminated footer";
            goto malformed;
        }
        size_t flen = (size_t)(nl - (p + pos));
        if (flen > 0) {
            if (!parse_posix_tz((const char *)p + pos, flen, &tz->footer)) {
                jd_errf(JD_ERR_INVALID, errstr, errstr_size,
                        "%s: malformed TZif data: bad TZ string in footer \"%.*s\"", name,
                        flen > 64 ? 64 : (int)flen, (const char *)p + pos);
                goto fail;
            }
            tz->has_footer = true;
        }
    }
    return tz;

malformed:
    reject(name, errstr, errstr_size, why);
    goto fail;
nomem:
    jd_errf(JD_ERR_NOMEM, errstr, errstr_size, "%s: out of memory", name);
fail:
    tz_destroy(tz);
    return NULL;
}

/* ---- Loading ----------------------------------------------------------------------------- */

static bool valid_name(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > MAX_NAME_LEN || name[0] == '/' || strstr(name, ".."))
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '+' || c == '-' || c == '/';
        if (!ok)
            return false;
    }
    return true;
}

static struct tz *builtin_utc(const char *name, char *errstr, size_t errstr_size)
{
    struct tz *tz = calloc(1, sizeof(*tz));
    if (tz)
        tz->name = strdup(name);
    if (!tz || !tz->name) {
        tz_destroy(tz);
        jd_errf(JD_ERR_NOMEM, errstr, errstr_size, "%s: out of memory", name);
        return NULL;
    }
    return tz;
}

struct tz *tz_load(const char *name, char *errstr, size_t errstr_size)
{
    char path[4096];
    char ebuf[128];
    const char *dir = getenv("TZDIR");
    unsigned char *buf = NULL;
    struct tz *tz = NULL;
    struct stat st;
    size_t got = 0;
    int fd = -1;

    if (!name || !valid_name(name)) {
        jd_errf(JD_ERR_INVALID, errstr, errstr_size,
                "\"%s\": invalid timezone name (expected a relative IANA name such as "
                "\"Europe/Berlin\")",
                name ? name : "(null)");
        return NULL;
    }
    if (strcmp(name, "UTC") == 0 || strcmp(name, "Z") == 0)
        return builtin_utc(name, errstr, errstr_size);
    if (!dir || !*dir)
        dir = "/usr/share/zoneinfo";
    if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path)) {
        jd_errf(JD_ERR_INVALID, errstr, errstr_size, "%s: path too long", name);
        return NULL;
    }

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            jd_errf(JD_ERR_INVALID, errstr, errstr_size, "%s: no such timezone (%s)", name, path);
        else
            jd_errf(JD_ERR_IO, errstr, errstr_size, "%s: cannot open %s: %s", name, path,
                    strerror_r(errno, ebuf, sizeof(ebuf)));
        goto out;
    }
    if (fstat(fd, &st) != 0) {
        jd_errf(JD_ERR_IO, errstr, errstr_size, "%s: cannot stat %s: %s", name, path,
                strerror_r(errno, ebuf, sizeof(ebuf)));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        jd_errf(JD_ERR_INVALID, errstr, errstr_size, "%s: no such timezone (%s is not a file)",
                name, path);
        goto out;
    }
    if (st.st_size > MAX_FILE_SIZE) {
        jd_errf(JD_ERR_INVALID, errstr, errstr_size, "%s: %s is too large for a TZif file", name,
                path);
        goto out;
    }
    buf = malloc(st.st_size > 0 ? (size_t)st.st_size : 1);
    if (!buf) {
        jd_errf(JD_ERR_NOMEM, errstr, errstr_size, "%s: out of memory", name);
        goto out;
    }
    while (got < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            jd_errf(JD_ERR_IO, errstr, errstr_size, "%s: cannot read %s: %s", name, path,
                    strerror_r(errno, ebuf, sizeof(ebuf)));
            goto out;
        }
        if (r == 0)
            break; /* shrank under us: parse what is there, the parser checks lengths */
        got += (size_t)r;
    }
    tz = tz_parse(name, buf, got, errstr, errstr_size);

out:
    free(buf);
    if (fd >= 0)
        close(fd);
    return tz;
}
