/*
 * admin.h — journeyd's HTTP face: /metrics, /-/healthy, /-/ready,
 * POST /-/reload, /api/v1/rules, /api/v1/alerts and the status page at /.
 *
 * It reads the loop's parts (borrowed, never changed) on the loop's own
 * thread, between turns (observe/http.h), and asks the loop to reload
 * through a callback. The loop owns struct admin_stats and fills it.
 */
#ifndef JD_ADMIN_H
#define JD_ADMIN_H

#include "consume/consume.h"
#include "core/config.h"
#include "evaluator.h"
#include "observe/metrics.h"
#include "pipeline.h"
#include "store/store.h"

#include <stdbool.h>
#include <stdint.h>

/** What only the loop knows; it writes, admin reads. */
struct admin_stats {
    struct metrics_hist batch_seconds; /**< one batch: first message to sent */
    struct metrics_hist flush_seconds; /**< one atomic flush: sent to its outcome */
    uint64_t reloads, reload_failures;
    uint64_t state_lost; /**< partitions found missing from Redis though the group consumed them */
    bool last_reload_ok;
    int64_t last_reload_ms;     /**< wall ms of the last successful (re)load of the rules */
    int64_t last_reload_try_ms; /**< wall ms of the last attempt */
    char last_reload_error[512];
    int64_t started_ms; /**< wall ms */
};

/** The loop's parts admin reads (all borrowed; they outlive it). */
struct admin_src {
    const struct config *cfg;
    const char *config_path; /**< NULL: defaults only */
    const char *owner;
    struct pipeline *pipe;
    struct consume *cons;
    struct store *store;
    struct evaluator *ev;
    const struct admin_stats *stats;
    /** Reload the rules now (as SIGHUP); the loop updates stats. */
    void (*reload)(void *opaque);
    void *opaque;
};

struct admin;

/**
 * @brief Serve \p src on cfg->http.listen.
 * @returns NULL with errstr when the address cannot be used.
 */
struct admin *admin_new(const struct admin_src *src, char *errstr, size_t errstr_size);

/** Stop serving and free; NULL is a no-op. */
void admin_destroy(struct admin *a);

/** Answer what is waiting (never blocks); call once per loop turn. */
void admin_run(struct admin *a);

/** @returns the port listened on. */
int admin_port(const struct admin *a);

/**
 * @returns true when the instance is ready: Redis answers, Kafka has
 *          assigned its partitions (possibly none) and each is claimed.
 */
bool admin_ready(const struct admin_src *src);

#endif
