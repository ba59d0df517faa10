/*
 * evaluator.h — the daemon's rule evaluation: the lease, the group-wide
 * watermark, the engine, alert publishing and the state kept in Redis.
 *
 *   lease held? -> progress of every partition -> watermark
 *     -> due ticks evaluated -> alert messages produced
 *     -> once Kafka acknowledged them: state saved in Redis (lease-fenced)
 *
 * One instance of a consumer group holds the lease and evaluates; the
 * others wait to take over. Rule state is never saved past what the
 * producer confirmed: after a failure the state is reloaded from Redis and
 * the same ticks are evaluated again, so a message may repeat (same
 * fingerprint and seq) but is never lost. It uses its own Redis connection,
 * so evaluation never waits for a batch in flight.
 */
#ifndef JD_EVALUATOR_H
#define JD_EVALUATOR_H

#include "core/config.h"
#include "evaluate/engine.h"
#include "evaluate/rule.h"
#include "observe/metrics.h"
#include "publish/publish.h"

#include <stdbool.h>
#include <stdint.h>

struct evaluator;

/**
 * @brief An evaluator for \p rs (owned from now on) publishing through \p pub
 *        (borrowed), identified as \p owner in the lease.
 * @param cfg borrowed; must outlive the evaluator.
 * @returns NULL with errstr (\p rs is freed then too).
 */
struct evaluator *evaluator_new(const struct config *cfg, struct ruleset *rs, struct publish *pub,
                                const char *owner, char *errstr, size_t errstr_size);

/** Release the lease if held (so another instance takes over at once) and free; NULL is a no-op. */
void evaluator_destroy(struct evaluator *ev);

/**
 * @brief Swap in \p rs (owned from now on): alerts keep their state by
 *        group, rule and fingerprint.
 * @returns JD_OK, or JD_ERR_NOMEM (the old rules stay and \p rs is freed).
 */
enum jd_err evaluator_set_ruleset(struct evaluator *ev, struct ruleset *rs, char *errstr,
                                  size_t errstr_size);

/**
 * @brief Do what is due (lease, watermark, ticks, heartbeat, saving), without
 *        blocking on Kafka. Call every loop turn; it handles and logs its own
 *        failures, retrying with backoff.
 */
void evaluator_run(struct evaluator *ev);

/**
 * @brief Every partition is at its end (--exit-on-eof): advance the
 *        watermark to the last event time, as `journeyctl replay` does at
 *        the end of its file, evaluate what is due, wait for Kafka to
 *        acknowledge it and save. Waits for the lease if another instance
 *        still holds it.
 * @returns true when done within \p timeout_ms.
 */
bool evaluator_drain(struct evaluator *ev, int timeout_ms);

/** A batch was applied in Redis: read the partitions' progress at the next run. */
void evaluator_poke(struct evaluator *ev);

/** @returns the group's watermark as last known (INT64_MIN: none yet). */
int64_t evaluator_watermark(const struct evaluator *ev);

/** How many alert messages the status page remembers. */
#define EVALUATOR_RECENT 20

/** One alert message as published (for the status page). */
struct evaluator_recent {
    int64_t tick;    /**< evaluation time (event time) */
    int64_t wall_ms; /**< when it was produced (wall clock) */
    char group[96], alert[96];
    char fingerprint[17];
    bool firing;
    uint64_t seq;
};

/** What the evaluator did since start, for metrics and the status page. */
struct evaluator_status {
    bool leader; /**< this instance holds the lease and evaluates */
    uint64_t ticks, rule_errors;
    uint64_t msgs_firing, msgs_resolved; /**< rule messages produced, by status */
    struct metrics_hist group_seconds;   /**< one group at one tick */
    const int64_t *group_wall_ms;        /**< per group: last evaluation (wall ms, 0: never) */
    const double *group_last_seconds;    /**< per group: how long it took */
    struct evaluator_recent recent[EVALUATOR_RECENT]; /**< ring, newest at recent_next - 1 */
    size_t nrecent, recent_next;
};

/** @returns the evaluator's statistics (valid until the next evaluator call). */
const struct evaluator_status *evaluator_status(struct evaluator *ev);

/** @returns the engine (alerts and per-rule statistics), for reading only. */
const struct engine *evaluator_engine(const struct evaluator *ev);

/** @returns the rules in force. */
const struct ruleset *evaluator_ruleset(const struct evaluator *ev);

#endif
