/*
 * metrics.h — Prometheus text exposition (format 0.0.4) and the histogram
 * type the daemon observes into.
 *
 * The writer appends to a growing buffer: one family header (HELP, TYPE),
 * then its samples. Label values are escaped here; names are the caller's
 * constants. Nothing is registered: whoever serves /metrics walks its own
 * state and writes it, so a scrape costs nothing between scrapes.
 */
#ifndef JD_METRICS_H
#define JD_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** A growing text buffer; oom is set (and writing stops) when a grow fails. */
struct metrics_buf {
    char *p;
    size_t n, cap;
    bool oom;
};

/** Free the buffer's memory and zero it. */
void metrics_buf_free(struct metrics_buf *b);

/** Append printf-style text. */
void metrics_printf(struct metrics_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/** Append \p s escaped for an HTML text node or attribute. */
void metrics_html(struct metrics_buf *b, const char *s);

/** `# HELP name help` and `# TYPE name type` (type: counter, gauge, histogram). */
void metrics_family(struct metrics_buf *b, const char *name, const char *type, const char *help);

/**
 * @brief One sample: `name{k="v",…} value`.
 * @param kv label names and values alternating, NULL-terminated (NULL: no labels).
 */
void metrics_sample(struct metrics_buf *b, const char *name, const char *const *kv, double value);

/** Histogram bucket bounds (seconds) for batch, flush and evaluation latencies. */
#define METRICS_LATENCY_BUCKETS 14
extern const double metrics_latency_bounds[METRICS_LATENCY_BUCKETS];

/** A histogram over metrics_latency_bounds (cumulative when written). */
struct metrics_hist {
    uint64_t counts[METRICS_LATENCY_BUCKETS + 1]; /**< per bucket, last: above every bound */
    uint64_t count;
    double sum;
};

/** Count \p v into \p h. */
void metrics_hist_observe(struct metrics_hist *h, double v);

/** Write \p h as a histogram family (`_bucket{le}`, `_sum`, `_count`). */
void metrics_hist_write(struct metrics_buf *b, const char *name, const char *help,
                        const struct metrics_hist *h);

/**
 * @brief The standard process_* families (CPU, resident and virtual memory,
 *        start time, open and max file descriptors) from /proc/self.
 */
void metrics_process(struct metrics_buf *b);

#endif
