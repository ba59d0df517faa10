/*
 * backtest.c — events in, alerts out, in memory and in event time.
 *
 * Owns the replay's batching (events wait in an aggregate until a tick
 * needs them), its watermark and its duplicate filter. Decoding events is
 * the caller's; windows are memwin's; lifecycles are the engine's.
 */
#include "evaluate/backtest.h"

#include "aggregate/agg.h"
#include "aggregate/series.h"
#include "core/hash.h"
#include "evaluate/memwin.h"

#include <stdlib.h>
#include <string.h>

struct backtest {
    struct memwin *win;
    struct engine *eng;
    struct agg *agg;
    int64_t lateness;
    engine_msg_cb *cb;
    void *opaque;
    struct backtest_stats st;
    uint64_t *seen; /* event-id fingerprints, open addressing (0 = empty) */
    size_t seen_cap, seen_n;
    char labels[SERIES_LABELS_MAX];
};

/* Counts messages on their way to the caller's callback. */
static enum jd_err backtest_forward(void *opaque, const struct engine_msg *m, char *errstr,
                                    size_t errstr_size)
{
    struct backtest *b = opaque;
    enum jd_err err = b->cb(b->opaque, m, errstr, errstr_size);
    if (!err)
        b->st.messages++;
    return err;
}

struct backtest *backtest_new(const struct ruleset *rs, int64_t lateness_ms,
                              const struct engine_opts *opts, engine_msg_cb *cb, void *opaque,
                              char *errstr, size_t errstr_size)
{
    struct backtest *b = calloc(1, sizeof(*b));
    if (!b || !(b->win = memwin_new()) || !(b->agg = agg_new())) {
        backtest_destroy(b);
        jd_errf(JD_ERR_NOMEM, errstr, errstr_size, "out of memory");
        return NULL;
    }
    if (!(b->eng = engine_new(rs, memwin_source(b->win), opts, errstr, errstr_size))) {
        backtest_destroy(b);
        return NULL;
    }
    b->lateness = lateness_ms;
    b->cb = cb;
    b->opaque = opaque;
    b->st.first_ts = b->st.last_ts = b->st.watermark = INT64_MIN;
    return b;
}

void backtest_destroy(struct backtest *b)
{
    if (!b)
        return;
    engine_destroy(b->eng);
    memwin_destroy(b->win);
    agg_destroy(b->agg);
    free(b->seen);
    free(b);
}

struct engine *backtest_engine(struct backtest *b)
{
    return b->eng;
}

const struct backtest_stats *backtest_stats(const struct backtest *b)
{
    return &b->st;
}

/* Applies the events waiting in the aggregate to the windows. */
static enum jd_err backtest_flush(struct backtest *b, char *errstr, size_t errstr_size)
{
    if (agg_nevents(b->agg) == 0)
        return JD_OK;
    if (!agg_seal(b->agg))
        return jd_errf(JD_ERR_NOMEM, errstr, errstr_size, "out of memory");
    enum jd_err err = memwin_apply(b->win, b->agg, errstr, errstr_size);
    agg_reset(b->agg);
    return err;
}

enum jd_err backtest_advance(struct backtest *b, int64_t t, char *errstr, size_t errstr_size)
{
    size_t g;
    int64_t tick;
    enum jd_err err;
    char rerr[JD_ERRSTR_SIZE];

    if (t <= b->st.watermark)
        return JD_OK;
    b->st.watermark = t;
    if (!engine_next(b->eng, t, &g, &tick))
        return JD_OK;
    if ((err = backtest_flush(b, errstr, errstr_size)))
        return err;
    do {
        err = engine_eval(b->eng, g, tick, backtest_forward, b, rerr, sizeof(rerr));
        if (err == JD_ERR_INVALID || err == JD_ERR_RANGE || err == JD_ERR_UNSUPPORTED) {
            if (!b->st.rule_errors++)
                snprintf(b->st.first_rule_error, sizeof(b->st.first_rule_error), "%s", rerr);
        } else if (err) {
            return jd_errf(err, errstr, errstr_size, "%s", rerr);
        }
        b->st.ticks++;
    } while (engine_next(b->eng, t, &g, &tick));
    return JD_OK;
}

static bool backtest_seen(struct backtest *b, struct jd_str id)
{
    uint64_t h = hash64(id.p, id.n, 0x6274) | 1;
    if ((b->seen_n + 1) * 2 > b->seen_cap) {
        size_t cap = b->seen_cap ? b->seen_cap * 2 : 4096;
        uint64_t *t = calloc(cap, sizeof(*t));
        if (!t)
            return false; /* without memory for the filter, count it rather than lose it */
        for (size_t i = 0; i < b->seen_cap; i++)
            if (b->seen[i]) {
                size_t k = b->seen[i] & (cap - 1);
                while (t[k])
                    k = (k + 1) & (cap - 1);
                t[k] = b->seen[i];
            }
        free(b->seen);
        b->seen = t;
        b->seen_cap = cap;
    }
    size_t k = h & (b->seen_cap - 1);
    while (b->seen[k]) {
        if (b->seen[k] == h)
            return true;
        k = (k + 1) & (b->seen_cap - 1);
    }
    b->seen[k] = h;
    b->seen_n++;
    return false;
}

enum jd_err backtest_event(struct backtest *b, const struct event *ev, char *errstr,
                           size_t errstr_size)
{
    enum jd_err err;
    if (backtest_seen(b, ev->event_id)) {
        b->st.duplicates++;
        return JD_OK;
    }
    if (b->st.first_ts == INT64_MIN) {
        /* event time starts here: nothing before the first event is judged */
        b->st.first_ts = ev->ts_ms;
        engine_start(b->eng, ev->ts_ms);
    }
    /* ticks this event's time releases see only the events before it */
    if ((err = backtest_advance(b, ev->ts_ms - b->lateness, errstr, errstr_size)))
        return err;
    if (ev->ts_ms < b->st.watermark)
        b->st.late++;
    size_t ln = series_labels_encode(ev, b->labels);
    uint64_t sid = series_id(ev->type, b->labels, ln);
    if (!agg_add(b->agg, sid, ev->type, (struct jd_str){ b->labels, ln }, ev->ts_ms, ev->has_value,
                 ev->value, ev->user_id))
        return jd_errf(JD_ERR_NOMEM, errstr, errstr_size, "out of memory");
    b->st.events++;
    if (ev->ts_ms > b->st.last_ts)
        b->st.last_ts = ev->ts_ms;
    return JD_OK;
}
