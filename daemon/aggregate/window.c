/*
 * window.c — bucket arithmetic and range decomposition.
 *
 * Owns the time layout of the windowed store (resolutions, chunks, expiry).
 * It knows no Redis and no clock; store.c turns buckets into keys and
 * query.c asks for plans.
 */
#include "aggregate/window.h"

#include "core/jd.h"
#include "core/ts.h"

static const int64_t window_res_len[WINDOW_NRES] = { JD_MS_MINUTE, JD_MS_HOUR, JD_MS_DAY };
static const int64_t window_chunk_len[WINDOW_NRES] = { JD_MS_HOUR, JD_MS_DAY, 30 * JD_MS_DAY };

int64_t window_res_ms(enum window_res r)
{
    return window_res_len[r];
}

int64_t window_chunk_ms(enum window_res r)
{
    return window_chunk_len[r];
}

char window_res_char(enum window_res r)
{
    return "mhd"[r];
}

int64_t window_bucket_start(enum window_res r, int64_t ts)
{
    return ts_floor_div(ts, window_res_len[r]) * window_res_len[r];
}

int64_t window_chunk_id(enum window_res r, int64_t bucket)
{
    return ts_floor_div(bucket, window_chunk_len[r]);
}

unsigned window_bucket_offset(enum window_res r, int64_t bucket)
{
    int64_t chunk_start = window_chunk_id(r, bucket) * window_chunk_len[r];
    return (unsigned)((bucket - chunk_start) / window_res_len[r]);
}

int64_t window_bucket_index(enum window_res r, int64_t bucket)
{
    return ts_floor_div(bucket, window_res_len[r]);
}

int64_t window_expiry(const struct window_retention *ret, enum window_res r, int64_t end_ms)
{
    return end_ms + ret->ms[r];
}

bool window_is_kept(const struct window_retention *ret, enum window_res r, int64_t bucket,
                    int64_t at)
{
    return bucket + window_res_len[r] + ret->ms[r] > at;
}

size_t window_plan_max(int64_t from, int64_t to)
{
    if (to <= from)
        return 0;
    /* at most 59 minutes and 23 hours on each side, plus whole days */
    return (size_t)(2 * 59 + 2 * 23 + (to - from) / JD_MS_DAY + 1);
}

enum jd_err window_plan(int64_t from, int64_t to, struct window_piece *out, size_t cap, size_t *n,
                        char *errstr, size_t errstr_size)
{
    size_t k = 0;
    int64_t t = from;

    *n = 0;
    if (to < from)
        return jd_errf(JD_ERR_INVALID, errstr, errstr_size, "range ends before it starts");
    if (ts_floor_div(from, JD_MS_MINUTE) * JD_MS_MINUTE != from ||
        ts_floor_div(to, JD_MS_MINUTE) * JD_MS_MINUTE != to)
        return jd_errf(JD_ERR_INVALID, errstr, errstr_size,
                       "range edges must be whole minutes (the finest bucket is 1 minute)");
    /*
     * Greedy: at each point take the largest bucket that starts here (is
     * aligned) and still ends inside the range. This climbs to days and
     * descends again, which is optimal for nested aligned resolutions.
     */
    while (t < to) {
        enum window_res r = WINDOW_MINUTE;
        for (int c = WINDOW_DAY; c > WINDOW_MINUTE; c--) {
            int64_t len = window_res_len[c];
            if (ts_floor_div(t, len) * len == t && t + len <= to) {
                r = (enum window_res)c;
                break;
            }
        }
        if (k == cap)
            return jd_errf(JD_ERR_RANGE, errstr, errstr_size, "range needs more than %zu buckets",
                           cap);
        out[k].res = r;
        out[k].start = t;
        k++;
        t += window_res_len[r];
    }
    *n = k;
    return JD_OK;
}
