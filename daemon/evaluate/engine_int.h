/*
 * engine_int.h — the engine's insides, shared by engine.c (lifecycle and
 * schedule) and engine_state.c (saving and restoring them). Nothing else
 * includes this.
 */
#ifndef JD_ENGINE_INT_H
#define JD_ENGINE_INT_H

#include "evaluate/engine.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct engine_alert {
    bool used;
    uint64_t key; /* hash of group, rule and fingerprint: the table key */
    size_t rule;  /* index into the current ruleset (SIZE_MAX: its rule is gone) */
    char *group, *alert;
    uint64_t fp;
    struct query_label *labels;
    size_t nlabels;
    enum engine_state state;
    bool held;            /* the condition's truth at the last judged tick */
    int64_t active_since; /* t1 */
    int64_t fired_at;
    int64_t false_since; /* t0 for keep_firing_for (INT64_MIN: holding) */
    int64_t last_sent;
    int64_t seen_tick; /* last tick at which its series had an opinion */
    uint64_t seq;
    bool has_value, has_threshold;
    double value, threshold;
};

struct engine_group {
    char *name;
    int64_t last_tick; /* INT64_MIN: none yet */
    int64_t since;     /* first tick evaluated (min_coverage counts from here) */
    bool join_at_wm;   /* added to a running engine: starts at the watermark, not at the data */
    bool loaded;       /* scratch for engine_load() */
};

struct engine {
    const struct ruleset *rs;
    struct query_source src;
    char *receiver, *external_url;
    size_t max_series; /* engine_opts.max_series */
    int64_t start;     /* INT64_MIN: not declared */
    int64_t high;      /* latest tick evaluated in any group (INT64_MIN: none) */
    struct engine_group *groups;
    size_t ngroups;
    struct engine_alert *tab;
    size_t cap, used;
    struct engine_rule_stats *rstats; /* one per rule of rs */
    size_t *order;                    /* table slots in creation order, for stable iteration */
    size_t norder, caporder;
};

/** Find or create the alert (\p group, \p alert, labels); rule is left SIZE_MAX. NULL: no memory.
 */
struct engine_alert *engine_alert_intern(struct engine *e, const char *group, const char *alert,
                                         const struct query_label *l, size_t n);

/** Free every alert and forget every group's progress (the ruleset stays). */
void engine_clear(struct engine *e);

#endif
