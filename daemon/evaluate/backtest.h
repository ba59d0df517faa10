/*
 * backtest.h — the rule engine over a stream of events in memory.
 *
 * `journeyctl replay` and `journeyctl test rules` feed decoded events in
 * stream order; the backtest keeps their windows in memory (memwin.h) and
 * moves the watermark exactly as the daemon does for one partition:
 * max event time seen − lateness. Before an event moves the watermark past
 * a tick, everything before it is applied and the tick is evaluated, so
 * the alerts are the ones the daemon publishes for the same stream.
 */
#ifndef JD_BACKTEST_H
#define JD_BACKTEST_H

#include "decode/event.h"
#include "evaluate/engine.h"

struct backtest_stats {
    uint64_t events, late, duplicates, ticks, messages;
    uint64_t rule_errors; /**< rule evaluations skipped (first_rule_error says why) */
    char first_rule_error[JD_ERRSTR_SIZE];
    int64_t first_ts, last_ts; /**< INT64_MIN before the first event */
    int64_t watermark;
};

struct backtest;

/**
 * @brief A backtest of \p rs (borrowed) with \p lateness_ms; messages go to
 *        \p cb. \p opts as for engine_new().
 */
struct backtest *backtest_new(const struct ruleset *rs, int64_t lateness_ms,
                              const struct engine_opts *opts, engine_msg_cb *cb, void *opaque,
                              char *errstr, size_t errstr_size);

/** Free \p b; NULL is a no-op. */
void backtest_destroy(struct backtest *b);

/**
 * @brief Feed one event (duplicates of an event_id are dropped, as the
 *        daemon does). Evaluates every tick the event's time lets the
 *        watermark pass, on the events before it.
 * @returns JD_OK, or the callback's / an out-of-memory error (stop). A
 *          rule that cannot be evaluated is counted in the stats instead.
 */
enum jd_err backtest_event(struct backtest *b, const struct event *ev, char *errstr,
                           size_t errstr_size);

/** Move the watermark to \p t (if later) and evaluate what is due. */
enum jd_err backtest_advance(struct backtest *b, int64_t t, char *errstr, size_t errstr_size);

/** @returns the engine (for reading alert states). */
struct engine *backtest_engine(struct backtest *b);

/** @returns the counters. */
const struct backtest_stats *backtest_stats(const struct backtest *b);

#endif
