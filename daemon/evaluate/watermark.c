/*
 * watermark.c — from partitions' progress to the one watermark the rule
 * evaluator ticks by. Owns the idle and live-operation rules of rules.md;
 * reading the progress is store_eval.c's, acting on the watermark is
 * evaluator.c's.
 */
#include "evaluate/watermark.h"

static bool watermark_near(int64_t a, int64_t b, int64_t d)
{
    return a - b <= d && b - a <= d;
}

int64_t watermark_compute(const struct store_progress *parts, size_t n, int64_t now_ms,
                          int64_t prev, const struct watermark_opts *o)
{
    int64_t active_min = INT64_MAX, max_st = INT64_MIN, max_st_wt = 0;
    bool any_active = false;

    for (size_t i = 0; i < n; i++) {
        const struct store_progress *p = &parts[i];
        bool idle = !p->has_wt || now_ms - p->wt >= o->idle_timeout_ms;
        if (p->has_st && p->st > max_st) {
            max_st = p->st;
            max_st_wt = p->has_wt ? p->wt : 0;
        }
        if (idle)
            continue;
        int64_t t;
        if (p->has_st) {
            /* found at its log end after its last batch: everything produced until
             * then is applied, so its stream time moves on by the wall time that
             * passed (the clock and event time may differ by any steady delay or
             * skew, and the end of a backfill must not leap to the clock) */
            t = p->has_ct && p->ct > p->wt ? p->st + (p->ct - p->wt) : p->st;
        } else if (p->has_ct && p->ct >= p->wt) {
            continue; /* claimed and at its end: no event on its way */
        } else {
            return prev; /* claimed, first events on their way: hold */
        }
        any_active = true;
        if (t < active_min)
            active_min = t;
    }
    int64_t cand;
    if (any_active) {
        cand = active_min - o->lateness_ms;
    } else if (max_st != INT64_MIN) {
        /* live: the newest data arrived within the idle timeout of its event time, or
         * the watermark already follows the clock; data from far ahead of the clock
         * (a test, a skewed producer) is a backfill too */
        int64_t near = o->idle_timeout_ms + o->lateness_ms;
        bool live = (max_st_wt && watermark_near(max_st_wt, max_st, near)) ||
                    (prev != INT64_MIN && watermark_near(now_ms, prev, near));
        cand = live ? now_ms - o->lateness_ms : max_st;
    } else {
        return prev;
    }
    return prev == INT64_MIN || cand > prev ? cand : prev;
}

int64_t watermark_data_start(const struct store_progress *parts, size_t n)
{
    int64_t t = INT64_MIN;
    for (size_t i = 0; i < n; i++)
        if (parts[i].has_st0 && (t == INT64_MIN || parts[i].st0 < t))
            t = parts[i].st0;
    return t;
}

int64_t watermark_data_end(const struct store_progress *parts, size_t n)
{
    int64_t t = INT64_MIN;
    for (size_t i = 0; i < n; i++)
        if (parts[i].has_st && parts[i].st > t)
            t = parts[i].st;
    return t;
}
