/*
 * status.h — the status page at `/`: one HTML document without scripts or
 * external assets, for a person's first look at an instance.
 */
#ifndef JD_STATUS_H
#define JD_STATUS_H

#include "admin.h"

struct status;

/**
 * @brief A renderer over \p src (borrowed). The attribution chart is read
 *        through a Redis connection of its own, opened on first use.
 * @returns NULL with errstr when out of memory.
 */
struct status *status_new(const struct admin_src *src, char *errstr, size_t errstr_size);

/** Free \p s; NULL is a no-op. */
void status_destroy(struct status *s);

/**
 * @brief Append the page to \p out: build and config, readiness, Kafka
 *        partitions with lag and stream time, Redis, every rule with its
 *        state, value and last evaluation, recent alerts, events by outcome
 *        and the attribution chart (channels × models over the last day,
 *        refreshed at most every STATUS_CHART_TTL_MS).
 */
void status_render(struct status *s, const struct admin_src *src, struct metrics_buf *out);

#endif
