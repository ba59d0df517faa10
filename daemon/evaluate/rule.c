/*
 * rule.c — compiles rule files into a ruleset.
 *
 * Owns the rule-file format (tables, groups, rules), its checks and its
 * diagnostics: every problem of every file is reported with the position a
 * person needs, and a ruleset is only built from files without errors.
 * Reading files is rule_load.c's, checking expressions rule_check.c's,
 * evaluating rules engine.c's.
 */
#include "evaluate/rule.h"

#include "core/hash.h"
#include "core/ts.h"
#include "core/ydoc.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ file state */

struct rule_file {
    const char *name; /* ruleset.files[index] */
    const char *buf;
    size_t len;
    struct rule_diags *diags;
    size_t index;
    const struct window_retention *ret; /* NULL: retention not checked */
};

#define RULE_ERR(f, node, ...)                                                                     \
    rule_diag((f)->diags, false, (f)->name, (node)->line, (node)->col, __VA_ARGS__)
#define RULE_WARN(f, node, ...)                                                                    \
    rule_diag((f)->diags, true, (f)->name, (node)->line, (node)->col, __VA_ARGS__)

static bool rule_is_ident(const char *s)
{
    if (!s || !(*s == '_' || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')))
        return false;
    for (s++; *s; s++)
        if (!(*s == '_' || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
              (*s >= '0' && *s <= '9')))
            return false;
    return true;
}

static const struct ydoc_node *rule_get(const struct ydoc_node *map, const char *key)
{
    for (size_t i = 0; map && map->kind == YDOC_MAP && i < map->n; i += 2)
        if (!strcmp(map->items[i]->str, key))
            return map->items[i + 1];
    return NULL;
}

/* Reports keys of \p map not in \p allowed (a NULL-terminated list). */
static void rule_check_keys(struct rule_file *f, const struct ydoc_node *map, const char *what,
                            const char *const *allowed)
{
    for (size_t i = 0; i < map->n; i += 2) {
        const struct ydoc_node *k = map->items[i];
        bool ok = false;
        for (size_t a = 0; allowed[a] && !ok; a++)
            ok = !strcmp(k->str, allowed[a]);
        if (ok)
            continue;
        char list[512] = "";
        for (size_t a = 0; allowed[a]; a++)
            snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s", a ? ", " : "",
                     allowed[a]);
        if (!strcmp(what, "rule") && !strcmp(k->str, "record"))
            RULE_ERR(f, k,
                     "recording rules are not supported: journey streams are queried "
                     "directly (use an expression in the alert)");
        else
            RULE_ERR(f, k, "unknown key '%s' in %s (expected %s)", k->str, what, list);
    }
}

static bool rule_scalar(struct rule_file *f, const struct ydoc_node *n, const char *what)
{
    if (n && n->kind == YDOC_SCALAR && !ydoc_is_null(n))
        return true;
    if (n)
        RULE_ERR(f, n, "%s: expected a single value", what);
    return false;
}

static bool rule_duration(struct rule_file *f, const struct ydoc_node *n, const char *what,
                          int64_t *ms)
{
    char err[256];
    if (!rule_scalar(f, n, what))
        return false;
    if (ts_parse_duration(n->str, n->len, ms, err, sizeof(err)) != JD_OK) {
        RULE_ERR(f, n, "%s: %s", what, err);
        return false;
    }
    if (*ms % JD_MS_MINUTE) {
        RULE_ERR(f, n, "%s: %s is not a whole number of minutes (windows are minute buckets)", what,
                 n->str);
        return false;
    }
    return true;
}

static bool rule_number(struct rule_file *f, const struct ydoc_node *n, const char *what,
                        double *out)
{
    if (!rule_scalar(f, n, what))
        return false;
    char *end;
    errno = 0;
    double v = strtod(n->str, &end);
    if (end != n->str && *end == '%' && end[1] == '\0') {
        v /= 100;
        end++;
    }
    if (end == n->str || *end || errno || !isfinite(v)) {
        RULE_ERR(f, n, "%s: '%s' is not a number", what, n->str);
        return false;
    }
    *out = v;
    return true;
}

/* Where column \p col of an expression scalar is in the file. */
static void rule_expr_pos(const struct rule_file *f, const struct ydoc_node *n, unsigned col,
                          unsigned *line, unsigned *fcol)
{
    *line = n->line;
    *fcol = n->col + (col ? col - 1 : 0);
    /* find the node's first byte to see how the scalar was written */
    size_t off = 0;
    for (unsigned l = 1; l < n->line && off < f->len; off++)
        if (f->buf[off] == '\n')
            l++;
    off += n->col - 1;
    if (off >= f->len || n->plain)
        return;
    char c = f->buf[off];
    if (c == '"' || c == '\'') {
        (*fcol)++;
    } else if (c == '|' || c == '>') {
        /* a block scalar spans lines (folded ones join them): find the text at col in them */
        size_t at = col && col - 1 < n->len ? col - 1 : 0, fl = 0;
        while (at + fl < n->len && fl < 16 && n->str[at + fl] != ' ' && n->str[at + fl] != '\n')
            fl++;
        unsigned l = n->line;
        for (size_t p = off; p < f->len && l < n->line + 200; p++) {
            if (f->buf[p] != '\n')
                continue;
            l++;
            size_t e = p + 1;
            while (e < f->len && f->buf[e] != '\n')
                e++;
            for (size_t q = p + 1; fl && q + fl <= e; q++)
                if (!memcmp(f->buf + q, n->str + at, fl)) {
                    *line = l;
                    *fcol = (unsigned)(q - p);
                    return;
                }
        }
    }
}

/* ------------------------------------------------------------ expressions */

static bool rule_has_table(const struct query_table *t, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(t[i].name, name))
            return true;
    return false;
}

/* Warnings for forms that work but are risky (rules.md, "Tooling"). */
static void rule_lint_expr(struct rule_file *f, const struct ydoc_node *at,
                           const struct expr_node *e, int64_t interval, bool in_consecutive)
{
    if (!e)
        return;
    /* positions cost a scan of the file: found only for a warning (1,000 rules compile in ms) */
    const char *warn = NULL;
    char buf[160];
    if (e->kind == EXPR_SELECT && e->range == EXPR_RANGE_DURATION && e->range_ms < interval) {
        warn = buf;
        snprintf(buf, sizeof(buf),
                 "range [%lldm] is shorter than the group interval: events between ticks are "
                 "never seen",
                 (long long)(e->range_ms / JD_MS_MINUTE));
    }
    if (e->kind == EXPR_CALL && !strcmp(e->func, "ratio")) {
        bool has_min = false;
        for (size_t i = 0; i < e->nargs; i++)
            has_min |= e->argnames[i] && !strcmp(e->argnames[i], "min_denominator");
        if (!has_min)
            warn = "ratio() without min_denominator: a handful of events can swing it "
                   "(ratio(a, b, min_denominator=20))";
    }
    if (e->kind == EXPR_SELECT && !in_consecutive && e->range != EXPR_RANGE_DURATION &&
        interval > 0 && e->range == EXPR_RANGE_HOUR && interval > JD_MS_HOUR)
        warn = "[hour] with an interval over an hour skips hours";
    if (warn) {
        unsigned line, col;
        rule_expr_pos(f, at, e->col, &line, &col);
        rule_diag(f->diags, true, f->name, line, col, "%s", warn);
    }
    bool inner = in_consecutive || (e->kind == EXPR_CALL && !strcmp(e->func, "consecutive"));
    rule_lint_expr(f, at, e->lhs, interval, inner);
    rule_lint_expr(f, at, e->rhs, interval, inner);
    rule_lint_expr(f, at, e->arg, interval, inner);
    for (size_t i = 0; i < e->nargs; i++)
        rule_lint_expr(f, at, e->args[i], interval, inner);
}

/* Parses and checks one expression scalar; NULL after reporting. */
static struct expr_node *rule_compile_expr(struct rule_file *f, const struct ydoc_node *n,
                                           const char *what, const struct query_table *tables,
                                           size_t ntables)
{
    char err[512];
    unsigned line, col, ecol = 0;
    if (!rule_scalar(f, n, what))
        return NULL;
    struct expr_node *e = expr_parse(n->str, err, sizeof(err));
    if (e && rule_check_expr(e, tables, ntables, err, sizeof(err)) != JD_OK) {
        expr_free(e);
        e = NULL;
    }
    if (e)
        return e;
    const char *msg = err;
    if (sscanf(err, "col %u: ", &ecol) == 1)
        msg = strchr(err, ':') + 2;
    rule_expr_pos(f, n, ecol, &line, &col);
    rule_diag(f->diags, false, f->name, line, col, "%s: %s", what, msg);
    return NULL;
}

/* ------------------------------------------------------------ building */

struct rule_build {
    struct ruleset *rs;
    size_t cap_files, cap_groups, cap_rules, cap_tables;
    bool nomem;
};

static void rule_kv_free(struct rule_kv *kv, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(kv[i].name);
        free(kv[i].value);
    }
    free(kv);
}

static void rule_free_one(struct rule *r)
{
    free(r->alert);
    free(r->expr_text);
    expr_free(r->expr);
    free(r->resolve_text);
    expr_free(r->resolve);
    rule_kv_free(r->labels, r->nlabels);
    for (size_t i = 0; i < r->nannotations; i++) {
        free(r->annotations[i].name);
        free(r->annotations[i].text);
        template_destroy(r->annotations[i].tmpl);
    }
    free(r->annotations);
}

static void rule_table_free(struct query_table *t)
{
    for (size_t r = 0; r < t->nrows; r++) {
        for (size_t b = 0; b < t->nby; b++)
            free(t->rows[r].values[b]);
        free(t->rows[r].values);
    }
    free(t->rows);
    for (size_t b = 0; b < t->nby; b++)
        free(t->by[b]);
    free(t->by);
    free(t->name);
}

void ruleset_destroy(struct ruleset *rs)
{
    if (!rs)
        return;
    for (size_t i = 0; i < rs->nrules; i++)
        rule_free_one(&rs->rules[i]);
    free(rs->rules);
    for (size_t i = 0; i < rs->ngroups; i++) {
        free(rs->groups[i].name);
        free(rs->groups[i].tzname);
        tz_destroy(rs->groups[i].tz);
    }
    free(rs->groups);
    for (size_t i = 0; i < rs->ntables; i++)
        rule_table_free(&rs->tables[i]);
    free(rs->tables);
    for (size_t i = 0; i < rs->nfiles; i++)
        free(rs->files[i]);
    free(rs->files);
    free(rs);
}

const struct rule *ruleset_find(const struct ruleset *rs, const char *group, const char *alert)
{
    for (size_t i = 0; rs && i < rs->nrules; i++)
        if (!strcmp(rs->rules[i].alert, alert) &&
            (!group || !strcmp(rs->groups[rs->rules[i].group].name, group)))
            return &rs->rules[i];
    return NULL;
}

static char *rule_dup(struct rule_build *b, const char *s)
{
    char *d = strdup(s);
    b->nomem |= !d;
    return d;
}

static void rule_tables(struct rule_file *f, struct rule_build *b, const struct ydoc_node *n)
{
    static const char *const keys[] = { "by", "default", "values", NULL };
    if (n->kind != YDOC_MAP) {
        RULE_ERR(f, n, "tables: expected a mapping of table name to table");
        return;
    }
    for (size_t i = 0; i < n->n; i += 2) {
        const struct ydoc_node *k = n->items[i], *v = n->items[i + 1];
        if (!rule_is_ident(k->str)) {
            RULE_ERR(f, k, "table name '%s' must be an identifier ([A-Za-z_][A-Za-z0-9_]*)",
                     k->str);
            continue;
        }
        if (rule_has_table(b->rs->tables, b->rs->ntables, k->str)) {
            RULE_ERR(f, k, "table %s is defined twice (table names are shared by all rule files)",
                     k->str);
            continue;
        }
        if (v->kind != YDOC_MAP) {
            RULE_ERR(f, v, "table %s: expected a mapping with by, default and values", k->str);
            continue;
        }
        rule_check_keys(f, v, "table", keys);
        if (!jd_reserve((void **)&b->rs->tables, &b->cap_tables, b->rs->ntables + 1,
                        sizeof(*b->rs->tables))) {
            b->nomem = true;
            return;
        }
        struct query_table *t = &b->rs->tables[b->rs->ntables++];
        memset(t, 0, sizeof(*t));
        t->name = rule_dup(b, k->str);
        const struct ydoc_node *by = rule_get(v, "by"), *def = rule_get(v, "default"),
                               *vals = rule_get(v, "values");
        if (by && (by->kind != YDOC_SEQ || by->n > QUERY_TABLE_MAX_BY)) {
            RULE_ERR(f, by, "table %s: by: expected a list of up to %d label names", k->str,
                     QUERY_TABLE_MAX_BY);
            by = NULL;
        }
        if (by && by->n && !(t->by = calloc(by->n, sizeof(*t->by))))
            b->nomem = true;
        for (size_t j = 0; by && t->by && j < by->n; j++) {
            const struct ydoc_node *l = by->items[j];
            if (l->kind != YDOC_SCALAR || !rule_is_ident(l->str)) {
                RULE_ERR(f, l, "table %s: by: '%s' is not a label name", k->str,
                         l->kind == YDOC_SCALAR ? l->str : "(not a scalar)");
                continue;
            }
            t->by[t->nby++] = rule_dup(b, l->str);
        }
        if (def)
            t->has_default = rule_number(f, def, "default", &t->dflt);
        if (!def && t->nby == 0)
            RULE_ERR(f, k, "table %s: without 'by' the table is one number: give it a default",
                     k->str);
        if (vals && (vals->kind != YDOC_SEQ || t->nby == 0)) {
            RULE_ERR(f, vals,
                     t->nby ? "table %s: values: expected a list of {label: …, value: N}"
                            : "table %s: values need 'by' (the labels that select a row)",
                     k->str);
            continue;
        }
        if (vals && vals->n && !(t->rows = calloc(vals->n, sizeof(*t->rows))))
            b->nomem = true;
        for (size_t j = 0; vals && t->rows && j < vals->n; j++) {
            const struct ydoc_node *row = vals->items[j], *val = rule_get(row, "value");
            if (row->kind != YDOC_MAP || !val) {
                RULE_ERR(f, row, "table %s: each row is a mapping with the 'by' labels and value",
                         k->str);
                continue;
            }
            struct query_table_row *r = &t->rows[t->nrows];
            if (!rule_number(f, val, "value", &r->value))
                continue;
            if (row->n / 2 != t->nby + 1)
                RULE_ERR(f, row, "table %s: a row has exactly the labels of 'by' and value",
                         k->str);
            if (!(r->values = calloc(t->nby, sizeof(*r->values)))) {
                b->nomem = true;
                continue;
            }
            for (size_t l = 0; l < t->nby; l++) {
                const struct ydoc_node *lv = rule_get(row, t->by[l]);
                if (!lv || lv->kind != YDOC_SCALAR)
                    RULE_ERR(f, row, "table %s: row without a value for label %s", k->str,
                             t->by[l]);
                r->values[l] = rule_dup(b, lv && lv->kind == YDOC_SCALAR ? lv->str : "");
            }
            /* a second row for the same labels would silently lose to the first */
            for (size_t o = 0; o < t->nrows; o++) {
                bool same = true;
                for (size_t l = 0; l < t->nby && same && r->values[l]; l++)
                    same = t->rows[o].values[l] && !strcmp(t->rows[o].values[l], r->values[l]);
                if (same) {
                    RULE_ERR(f, row, "table %s: a row for these labels already exists", k->str);
                    break;
                }
            }
            t->nrows++;
        }
    }
}

static int rule_kv_cmp(const void *a, const void *b)
{
    return strcmp(((const struct rule_kv *)a)->name, ((const struct rule_kv *)b)->name);
}

static int rule_ann_cmp(const void *a, const void *b)
{
    return strcmp(((const struct rule_annotation *)a)->name,
                  ((const struct rule_annotation *)b)->name);
}

static void rule_labels(struct rule_file *f, struct rule_build *b, struct rule *r,
                        const struct ydoc_node *n)
{
    static const char *const severities[] = { "critical", "error", "warning", "info" };
    if (n->kind != YDOC_MAP) {
        RULE_ERR(f, n, "labels: expected a mapping of name: value");
        return;
    }
    if (n->n / 2 > RULE_MAX_LABELS) {
        RULE_ERR(f, n, "labels: at most %d", RULE_MAX_LABELS);
        return;
    }
    if (n->n && !(r->labels = calloc(n->n / 2, sizeof(*r->labels)))) {
        b->nomem = true;
        return;
    }
    for (size_t i = 0; i < n->n; i += 2) {
        const struct ydoc_node *k = n->items[i], *v = n->items[i + 1];
        if (!rule_is_ident(k->str) || !strcmp(k->str, "alertname")) {
            RULE_ERR(f, k, "label name '%s' is not allowed here", k->str);
            continue;
        }
        if (v->kind != YDOC_SCALAR) {
            RULE_ERR(f, v, "label %s: expected a single value", k->str);
            continue;
        }
        if (strstr(v->str, "{{"))
            RULE_ERR(f, v,
                     "label %s: label values are not templates (they make the alert's "
                     "identity); put text that varies into an annotation",
                     k->str);
        if (!strcmp(k->str, "severity")) {
            bool known = false;
            for (size_t s = 0; s < JD_ARRAY_SIZE(severities); s++)
                known |= !strcmp(v->str, severities[s]);
            if (!known)
                RULE_WARN(f, v,
                          "severity '%s' is not one of critical, error, warning, info "
                          "(what PagerDuty and Opsgenie map)",
                          v->str);
        }
        r->labels[r->nlabels].name = rule_dup(b, k->str);
        r->labels[r->nlabels].value = rule_dup(b, v->str);
        r->nlabels++;
    }
    qsort(r->labels, r->nlabels, sizeof(*r->labels), rule_kv_cmp);
}

static void rule_annotations(struct rule_file *f, struct rule_build *b, struct rule *r,
                             const struct ydoc_node *n)
{
    if (n->kind != YDOC_MAP) {
        RULE_ERR(f, n, "annotations: expected a mapping of name: template");
        return;
    }
    if (n->n && !(r->annotations = calloc(n->n / 2, sizeof(*r->annotations)))) {
        b->nomem = true;
        return;
    }
    for (size_t i = 0; i < n->n; i += 2) {
        const struct ydoc_node *k = n->items[i], *v = n->items[i + 1];
        char err[512];
        unsigned col = 0, line, fcol;
        if (!rule_is_ident(k->str)) {
            RULE_ERR(f, k, "annotation name '%s' must be an identifier", k->str);
            continue;
        }
        if (v->kind != YDOC_SCALAR) {
            RULE_ERR(f, v, "annotation %s: expected text", k->str);
            continue;
        }
        struct template *t = template_compile(v->str, err, sizeof(err));
        if (!t) {
            const char *msg = err;
            if (sscanf(err, "col %u: ", &col) == 1)
                msg = strchr(err, ':') + 2;
            rule_expr_pos(f, v, col, &line, &fcol);
            rule_diag(f->diags, false, f->name, line, fcol, "annotation %s: %s", k->str, msg);
            continue;
        }
        struct rule_annotation *a = &r->annotations[r->nannotations++];
        a->name = rule_dup(b, k->str);
        a->text = rule_dup(b, v->str);
        a->tmpl = t;
    }
    qsort(r->annotations, r->nannotations, sizeof(*r->annotations), rule_ann_cmp);
}

static void rule_one(struct rule_file *f, struct rule_build *b, const struct ydoc_node *n,
                     size_t gi, int64_t interval)
{
    static const char *const keys[] = { "alert",
                                        "expr",
                                        "for",
                                        "keep_firing_for",
                                        "resolve_when",
                                        "on_no_data",
                                        "min_coverage",
                                        "repeat_interval",
                                        "labels",
                                        "annotations",
                                        NULL };
    if (n->kind != YDOC_MAP) {
        RULE_ERR(f, n, "rules: each rule is a mapping (alert, expr, for, labels, …)");
        return;
    }
    rule_check_keys(f, n, "rule", keys);
    const struct ydoc_node *alert = rule_get(n, "alert"), *expr = rule_get(n, "expr");
    if (!alert || !expr) {
        if (!rule_get(n, "record"))
            RULE_ERR(f, n, "a rule needs 'alert' (its name) and 'expr' (its condition)");
        return;
    }
    if (!rule_scalar(f, alert, "alert"))
        return;
    if (!rule_is_ident(alert->str)) {
        RULE_ERR(f, alert, "alert name '%s' must be an identifier ([A-Za-z_][A-Za-z0-9_]*)",
                 alert->str);
        return;
    }
    const struct rule_group *g = &b->rs->groups[gi];
    for (size_t i = g->first; i < b->rs->nrules; i++)
        if (!strcmp(b->rs->rules[i].alert, alert->str)) {
            RULE_ERR(f, alert, "alert %s is defined twice in group %s", alert->str, g->name);
            return;
        }
    if (b->rs->nrules >= RULE_MAX_RULES) {
        RULE_ERR(f, alert, "more than %d rules", RULE_MAX_RULES);
        return;
    }
    if (!jd_reserve((void **)&b->rs->rules, &b->cap_rules, b->rs->nrules + 1,
                    sizeof(*b->rs->rules))) {
        b->nomem = true;
        return;
    }
    struct rule *r = &b->rs->rules[b->rs->nrules++];
    memset(r, 0, sizeof(*r));
    r->alert = rule_dup(b, alert->str);
    r->group = gi;
    r->file = f->name;
    r->line = n->line;
    r->repeat_interval_ms = JD_MS_HOUR;
    r->expr = rule_compile_expr(f, expr, "expr", b->rs->tables, b->rs->ntables);
    r->expr_text = rule_dup(b, expr->kind == YDOC_SCALAR ? expr->str : "");
    if (r->expr)
        rule_lint_expr(f, expr, r->expr, interval, false);
    char msg[512];
    unsigned ecol;
    if (r->expr && f->ret &&
        !rule_check_retention(r->expr, interval, b->rs->groups[gi].tz, f->ret, &ecol, msg,
                              sizeof(msg))) {
        unsigned line, col;
        rule_expr_pos(f, expr, ecol, &line, &col);
        rule_diag(f->diags, true, f->name, line, col, "%s", msg);
    }
    const struct ydoc_node *v;
    if ((v = rule_get(n, "resolve_when"))) {
        r->resolve = rule_compile_expr(f, v, "resolve_when", b->rs->tables, b->rs->ntables);
        r->resolve_text = rule_dup(b, v->kind == YDOC_SCALAR ? v->str : "");
    }
    if ((v = rule_get(n, "for")) && rule_duration(f, v, "for", &r->for_ms) && r->for_ms &&
        r->for_ms < interval)
        RULE_WARN(f, v,
                  "for: %s is shorter than the group interval: it fires at the next tick "
                  "anyway",
                  v->str);
    if ((v = rule_get(n, "keep_firing_for")))
        rule_duration(f, v, "keep_firing_for", &r->keep_firing_for_ms);
    if ((v = rule_get(n, "min_coverage")))
        rule_duration(f, v, "min_coverage", &r->min_coverage_ms);
    if ((v = rule_get(n, "repeat_interval")) &&
        rule_duration(f, v, "repeat_interval", &r->repeat_interval_ms) &&
        r->repeat_interval_ms < interval) {
        RULE_ERR(f, v, "repeat_interval: must be at least the group interval");
    }
    if ((v = rule_get(n, "on_no_data")) && rule_scalar(f, v, "on_no_data")) {
        if (!strcmp(v->str, "keep"))
            r->on_no_data = RULE_NO_DATA_KEEP;
        else if (!strcmp(v->str, "ok"))
            r->on_no_data = RULE_NO_DATA_OK;
        else if (!strcmp(v->str, "alert"))
            r->on_no_data = RULE_NO_DATA_ALERT;
        else
            RULE_ERR(f, v, "on_no_data: '%s' is not one of ok, keep, alert", v->str);
    }
    if ((v = rule_get(n, "labels")))
        rule_labels(f, b, r, v);
    if ((v = rule_get(n, "annotations")))
        rule_annotations(f, b, r, v);
}

static bool rule_group_name_taken(const struct ruleset *rs, const char *name)
{
    for (size_t i = 0; i < rs->ngroups; i++)
        if (!strcmp(rs->groups[i].name, name))
            return true;
    return false;
}

static void rule_groups(struct rule_file *f, struct rule_build *b, const struct ydoc_node *n)
{
    static const char *const keys[] = { "name", "interval", "timezone", "rules", NULL };
    if (n->kind != YDOC_SEQ) {
        RULE_ERR(f, n, "groups: expected a list of groups (- name: …)");
        return;
    }
    for (size_t i = 0; i < n->n; i++) {
        const struct ydoc_node *g = n->items[i];
        if (g->kind != YDOC_MAP) {
            RULE_ERR(f, g, "a group is a mapping with name, interval, timezone and rules");
            continue;
        }
        rule_check_keys(f, g, "group", keys);
        const struct ydoc_node *name = rule_get(g, "name"), *iv = rule_get(g, "interval"),
                               *zone = rule_get(g, "timezone"), *rules = rule_get(g, "rules");
        if (!name || !rule_scalar(f, name, "name")) {
            RULE_ERR(f, g, "a group needs a name");
            continue;
        }
        if (rule_group_name_taken(b->rs, name->str)) {
            RULE_ERR(f, name,
                     "group %s is defined twice (group names are shared by all rule "
                     "files: they key the alert state)",
                     name->str);
            continue;
        }
        int64_t interval = JD_MS_MINUTE;
        if (iv && rule_duration(f, iv, "interval", &interval) && interval <= 0) {
            RULE_ERR(f, iv, "interval: must be at least 1m");
            interval = JD_MS_MINUTE;
        }
        char err[512];
        struct tz *tz = NULL;
        if (zone && rule_scalar(f, zone, "timezone") &&
            !(tz = tz_load(zone->str, err, sizeof(err))))
            RULE_ERR(f, zone, "timezone: %s", err);
        if (!zone && !(tz = tz_load("UTC", err, sizeof(err))))
            b->nomem = true;
        if (!jd_reserve((void **)&b->rs->groups, &b->cap_groups, b->rs->ngroups + 1,
                        sizeof(*b->rs->groups))) {
            tz_destroy(tz);
            b->nomem = true;
            return;
        }
        size_t gi = b->rs->ngroups++;
        struct rule_group *grp = &b->rs->groups[gi];
        memset(grp, 0, sizeof(*grp));
        grp->name = rule_dup(b, name->str);
        grp->interval_ms = interval;
        grp->tz = tz;
        grp->tzname = rule_dup(b, tz ? tz_name(tz) : "UTC");
        grp->file = f->name;
        grp->first = b->rs->nrules;
        if (!rules || rules->kind != YDOC_SEQ) {
            RULE_ERR(f, rules ? rules : g, "group %s: rules: expected a list of rules", name->str);
            continue;
        }
        for (size_t k = 0; k < rules->n; k++)
            rule_one(f, b, rules->items[k], gi, interval);
        b->rs->groups[gi].n = b->rs->nrules - b->rs->groups[gi].first;
    }
}

/* Parses one file and reads its tables; its groups wait until every table is known. */
static struct ydoc *rule_file_tables(struct rule_build *b, struct rule_file *f)
{
    char err[1024];
    static const char *const keys[] = { "tables", "groups", NULL };
    b->rs->hash = hash_fnv1a64(f->buf, f->len, b->rs->hash);
    struct ydoc *doc = ydoc_parse(f->name, f->buf, f->len, err, sizeof(err));
    if (!doc) {
        /* ydoc's message is "file:line:col: message" already: add the severity */
        unsigned line = 0, col = 0;
        size_t nl = strlen(f->name);
        const char *msg = strstr(err + nl, ": ");
        if (sscanf(err + nl, ":%u:%u:", &line, &col) == 2 && msg)
            rule_diag(f->diags, false, f->name, line, col, "%s", msg + 2);
        else
            rule_diag(f->diags, false, f->name, 0, 0, "%s", err);
        return NULL;
    }
    const struct ydoc_node *root = ydoc_root(doc);
    if (root && root->kind != YDOC_MAP) {
        RULE_ERR(f, root, "a rule file is a mapping with 'groups' (and optionally 'tables')");
    } else if (root) {
        rule_check_keys(f, root, "a rule file", keys);
        const struct ydoc_node *t = rule_get(root, "tables");
        if (t)
            rule_tables(f, b, t);
    }
    return doc;
}

struct ruleset *ruleset_parse(char *const *names, const char *const *bufs, const size_t *lens,
                              size_t n, const struct window_retention *ret,
                              struct rule_diags *diags)
{
    struct rule_build b = { 0 };
    struct ydoc **docs = NULL;
    if (n > RULE_MAX_FILES) {
        rule_diag(diags, false, "rules", 0, 0, "more than %d rule files", RULE_MAX_FILES);
        return NULL;
    }
    if (!(b.rs = calloc(1, sizeof(*b.rs))) || !(docs = calloc(n + 1, sizeof(*docs))) ||
        !(b.rs->files = calloc(n + 1, sizeof(*b.rs->files)))) {
        b.nomem = true;
        goto out;
    }
    b.rs->hash = HASH_FNV64_INIT;
    for (size_t i = 0; i < n; i++) {
        if (!(b.rs->files[i] = strdup(names[i]))) {
            b.nomem = true;
            goto out;
        }
        b.rs->nfiles++;
    }
    /* tables of every file first: a rule may use a table another file defines */
    for (size_t i = 0; i < n; i++) {
        struct rule_file f = { b.rs->files[i], bufs[i], lens[i], diags, i, ret };
        docs[i] = rule_file_tables(&b, &f);
    }
    for (size_t i = 0; i < n; i++) {
        struct rule_file f = { b.rs->files[i], bufs[i], lens[i], diags, i, ret };
        const struct ydoc_node *root = docs[i] ? ydoc_root(docs[i]) : NULL;
        const struct ydoc_node *g =
            root && root->kind == YDOC_MAP ? rule_get(root, "groups") : NULL;
        if (g)
            rule_groups(&f, &b, g);
    }
out:
    for (size_t i = 0; docs && i < n; i++)
        ydoc_destroy(docs[i]);
    free(docs);
    if (b.nomem)
        rule_diag(diags, false, "rules", 0, 0, "out of memory");
    if (diags->errors || b.nomem) {
        ruleset_destroy(b.rs);
        return NULL;
    }
    return b.rs;
}
