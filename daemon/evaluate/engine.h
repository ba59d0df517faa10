/*
 * engine.h — rules evaluated tick by tick in event time, and the lifecycle
 * of every alert (rules.md, "Evaluation semantics" and "Alert lifecycle").
 *
 *   watermark passes tick t of group g -> evaluate g's rules at t
 *     -> per rule and label set: inactive -> pending -> firing -> resolved
 *     -> one message per transition (and per repeat_interval while firing)
 *
 * The engine is pure: it reads windows through a query source, takes time
 * as a parameter and hands messages to a callback. Where the watermark
 * comes from, where messages go and where state is persisted is the
 * caller's business (loop.c in the daemon; journeyctl replay and test
 * rules in memory). Same ruleset, same windows, same ticks: same messages.
 */
#ifndef JD_ENGINE_H
#define JD_ENGINE_H

#include "core/err.h"
#include "evaluate/query.h"
#include "evaluate/rule.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** The state of one alert (rule and label set). */
enum engine_state {
    ENGINE_INACTIVE,
    ENGINE_PENDING,
    ENGINE_FIRING,
};

/** One alert message, as published. Valid during the callback only. */
struct engine_msg {
    const char *key;  /**< the fingerprint, 16 hex digits (the Kafka key) */
    const char *json; /**< the message value (alerts.md) */
    size_t len;
    const char *const *hdr_names; /**< CloudEvents headers */
    const char *const *hdr_values;
    size_t nhdrs;
    int64_t tick;      /**< evaluation time (event time) */
    const char *group; /**< rule group */
    const char *alert; /**< alertname */
    bool firing;       /**< status firing (else resolved) */
    uint64_t seq;
};

typedef enum jd_err(engine_msg_cb)(void *opaque, const struct engine_msg *m, char *errstr,
                                   size_t errstr_size);

/** An alert as the engine holds it (for tests, status pages and persistence). */
struct engine_alert_view {
    const char *group, *alert;
    const struct query_label *labels; /**< full label set, sorted, alertname included */
    size_t nlabels;
    char fingerprint[17];
    enum engine_state state;
    int64_t active_since; /**< first tick of the current pending/firing episode */
    int64_t fired_at;     /**< startsAt of the current firing episode */
    bool has_value;
    double value;
    bool has_threshold;
    double threshold;
    uint64_t seq; /**< messages sent for this fingerprint so far */
};

struct engine_opts {
    const char *receiver;     /**< the alerts topic name ("journey.alerts") */
    const char *external_url; /**< "http://host:9464" ("" when there is no HTTP listener) */
    size_t max_series;        /**< most series a rule may yield at a tick (limits.series_per_rule;
                                   0: no limit); beyond it the rule fails at that tick */
};

struct engine;

/**
 * @brief An engine for \p rs (borrowed until engine_set_ruleset() or
 *        engine_destroy()) reading windows from \p src.
 * @returns NULL with errstr when out of memory.
 */
struct engine *engine_new(const struct ruleset *rs, struct query_source src,
                          const struct engine_opts *opts, char *errstr, size_t errstr_size);

/** Free \p e; NULL is a no-op. */
void engine_destroy(struct engine *e);

/**
 * @brief Swap in a new ruleset. Alerts whose group, rule and fingerprint
 *        still exist keep their state; groups keep their last tick.
 * @returns JD_OK, or JD_ERR_NOMEM (the old ruleset stays).
 */
enum jd_err engine_set_ruleset(struct engine *e, const struct ruleset *rs, char *errstr,
                               size_t errstr_size);

/**
 * @brief Declare that event time starts at \p t: no tick at or before it is
 *        evaluated, and min_coverage counts from it. Call once, before the
 *        first engine_next(); groups already evaluated are not affected.
 */
void engine_start(struct engine *e, int64_t t);

/**
 * @brief The earliest tick due at \p watermark (tick <= watermark) of any
 *        group, ties broken by group order.
 * @returns false when nothing is due.
 */
bool engine_next(const struct engine *e, int64_t watermark, size_t *group, int64_t *tick);

/**
 * @brief Evaluate group \p group at \p tick (from engine_next()) and call
 *        \p cb for each message, in order. A rule whose expression cannot be
 *        evaluated (e.g. a range past retention) is skipped at this tick and
 *        reported; the others still run.
 * @returns JD_OK; JD_ERR_INVALID/RANGE with the first rule error (the tick
 *          still counts as evaluated); the callback's error (the tick does
 *          not count: the caller must restore state before retrying);
 *          JD_ERR_REDIS from the source (nothing counts).
 */
enum jd_err engine_eval(struct engine *e, size_t group, int64_t tick, engine_msg_cb *cb,
                        void *opaque, char *errstr, size_t errstr_size);

/** @returns the group's last evaluated tick (INT64_MIN: none yet). */
int64_t engine_last_tick(const struct engine *e, size_t group);

/** What the engine knows of one rule's evaluations (kept across reloads by group and name). */
struct engine_rule_stats {
    uint64_t evaluations; /**< ticks at which the rule was judged */
    uint64_t failures;    /**< of those, ticks its expression could not be evaluated */
    uint64_t limited;     /**< of the failures, ticks it yielded more than max_series */
    int64_t last_tick;    /**< INT64_MIN: never evaluated */
    char last_error[256]; /**< "" when the last evaluation succeeded */
};

/** @returns rule \p rule's statistics (index into the ruleset's rules). */
const struct engine_rule_stats *engine_rule_stats(const struct engine *e, size_t rule);

/** @returns the number of alerts held (any state, including inactive ones kept for their seq). */
size_t engine_nalerts(const struct engine *e);

/** Fill \p v with alert \p i (0 <= i < engine_nalerts()); valid until the next engine call. */
void engine_alert_at(const struct engine *e, size_t i, struct engine_alert_view *v);

/**
 * @brief Serialize everything the engine has learnt (start, each group's
 *        last tick, every alert with its labels, state, timers, value and
 *        seq, inactive ones included) as one JSON document, so that a
 *        restarted or new evaluator continues exactly where this one was.
 * @param out set to a malloc'd, NUL-terminated document (caller frees).
 * @returns JD_OK or JD_ERR_NOMEM.
 */
enum jd_err engine_save(const struct engine *e, char **out, size_t *len, char *errstr,
                        size_t errstr_size);

/**
 * @brief Replace the engine's state with one engine_save() wrote (with this
 *        or an older ruleset: alerts of rules that are gone keep only their
 *        seq, groups that are gone are dropped). On error the engine is left
 *        cleared (as engine_reset()), never half-loaded.
 * @returns JD_OK, JD_ERR_INVALID (not a saved state; errstr says where),
 *          JD_ERR_NOMEM.
 */
enum jd_err engine_load(struct engine *e, const char *doc, size_t len, char *errstr,
                        size_t errstr_size);

/** Forget all state, as if freshly created with the current ruleset. */
void engine_reset(struct engine *e);

/** @returns "inactive", "pending" or "firing". */
const char *engine_state_name(enum engine_state s);

#endif
