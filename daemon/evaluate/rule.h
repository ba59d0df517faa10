/*
 * rule.h — rule files (rules.md) compiled into an immutable ruleset.
 *
 *   tables:   per-label thresholds:      table(NAME) in expressions
 *   groups:   name, interval, timezone,  rules: alert, expr, for, …
 *
 * Compilation reads every file, checks every rule (syntax, known functions
 * and tables, annotation templates, durations) and reports every problem as
 * "file:line:col: error: message" or "…: warning: message". A ruleset is
 * only built when there is no error, so a reload either swaps in a complete
 * new ruleset or keeps the old one. Parsing takes bytes; only
 * ruleset_load() reads files.
 */
#ifndef JD_RULE_H
#define JD_RULE_H

#include "aggregate/window.h"
#include "core/config.h"
#include "core/err.h"
#include "core/tz.h"
#include "evaluate/expr.h"
#include "evaluate/query.h"
#include "evaluate/template.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Limits that keep a ruleset cheap to evaluate. */
#define RULE_MAX_FILES  1000
#define RULE_MAX_RULES  10000
#define RULE_MAX_LABELS 32

/* --------------------------------------------------------- diagnostics */

/** Messages collected while compiling; one line each, "file:line:col: error: …". */
struct rule_diags {
    char **v;
    size_t n, cap;
    size_t errors, warnings;
};

/** Free the messages; safe on a zeroed struct. */
void rule_diags_free(struct rule_diags *d);

/**
 * @brief Add "file:line:col: error|warning: message" (line 0: "file: …").
 *        Out of memory loses the text, never the count.
 */
void rule_diag(struct rule_diags *d, bool warning, const char *file, unsigned line, unsigned col,
               const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* -------------------------------------------------------------- ruleset */

/** What a tick without a value does to an alert (rules.md, on_no_data). */
enum rule_no_data {
    RULE_NO_DATA_KEEP, /**< the condition keeps its previous truth (default) */
    RULE_NO_DATA_OK,   /**< the condition is taken as false */
    RULE_NO_DATA_ALERT /**< the condition is taken as true */
};

struct rule_kv {
    char *name, *value;
};

struct rule_annotation {
    char *name;
    char *text;
    struct template *tmpl;
};

struct rule {
    char *alert;
    char *expr_text;
    struct expr_node *expr;
    char *resolve_text;         /**< NULL when absent */
    struct expr_node *resolve;  /**< NULL when absent */
    int64_t for_ms;             /**< 0: fire at the first tick that holds */
    int64_t keep_firing_for_ms; /**< 0: resolve at the first tick that does not hold */
    int64_t min_coverage_ms;    /**< 0: judge from the first tick */
    int64_t repeat_interval_ms; /**< re-send while firing (default 1h) */
    enum rule_no_data on_no_data;
    struct rule_kv *labels; /**< sorted by name; alertname not included */
    size_t nlabels;
    struct rule_annotation *annotations; /**< sorted by name */
    size_t nannotations;
    size_t group;     /**< index into ruleset.groups */
    const char *file; /**< points into ruleset.files */
    unsigned line;
};

struct rule_group {
    char *name;
    int64_t interval_ms;
    char *tzname;
    struct tz *tz;
    const char *file;
    size_t first, n; /**< its rules: ruleset.rules[first .. first + n) */
};

struct ruleset {
    char **files;
    size_t nfiles;
    struct rule_group *groups;
    size_t ngroups;
    struct rule *rules;
    size_t nrules;
    struct query_table *tables;
    size_t ntables;
    uint64_t hash; /**< over every file's bytes, in load order (for status and reload logs) */
};

/**
 * @brief Compile the rule files at \p paths: each path is a file, or a
 *        directory whose `*.yaml` / `*.yml` files are read in name order.
 * @param ret the store's retention: a rule that would read buckets older
 *        than it keeps gets a warning (rule_check_retention()); NULL: not checked.
 * @param diags receives every error and warning (the caller frees it).
 * @returns a new ruleset (free with ruleset_destroy()), or NULL when there
 *          was any error (diags says which; an unreadable path is an error).
 */
struct ruleset *ruleset_load(char *const *paths, size_t npaths, const struct window_retention *ret,
                             struct rule_diags *diags);

/**
 * @brief Compile rule files from memory (tests, tools): \p names[i] labels
 *        the messages of \p bufs[i].
 */
struct ruleset *ruleset_parse(char *const *names, const char *const *bufs, const size_t *lens,
                              size_t n, const struct window_retention *ret,
                              struct rule_diags *diags);

/** Free \p rs; NULL is a no-op. */
void ruleset_destroy(struct ruleset *rs);

/** @returns the rule named \p alert in group \p group (NULL for any group), or NULL. */
const struct rule *ruleset_find(const struct ruleset *rs, const char *group, const char *alert);

/**
 * @brief Check one expression as a rule would (known functions and tables,
 *        argument kinds). Used for rule files and by `journeyctl query`.
 * @returns JD_OK, or JD_ERR_INVALID with "col N: message".
 */
enum jd_err rule_check_expr(const struct expr_node *e, const struct query_table *tables,
                            size_t ntables, char *errstr, size_t errstr_size);

/**
 * @brief Whether \p e, evaluated at a group's ticks (every \p interval_ms
 *        since the epoch; local midnights of \p tz for 1d and 1w), reads
 *        buckets older than \p ret keeps. A range edge that is not a whole
 *        hour (day) at those ticks needs minute (hour) buckets that far
 *        back; past their retention the rule would be skipped at every tick.
 *        Duration ranges, offsets and pct_change() are followed; calendar
 *        ranges and consecutive() are not.
 * @param tz the group's zone (NULL: UTC).
 * @param col set to the column of the first such selector.
 * @returns false with a message in \p msg when there is one.
 */
bool rule_check_retention(const struct expr_node *e, int64_t interval_ms, const struct tz *tz,
                          const struct window_retention *ret, unsigned *col, char *msg,
                          size_t msg_size);

/** The retention \p cfg configures (windows.retention.*), for ruleset_load(). */
struct window_retention rule_retention(const struct config *cfg);

#endif
