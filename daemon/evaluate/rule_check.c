/*
 * rule_check.c — what a rule expression may say: known functions with the
 * right kinds of arguments, known tables, whole-minute ranges, and which
 * ranges the store's retention can still answer. Pure; the parser (expr.c)
 * has already checked the syntax.
 */
#include "evaluate/rule.h"

#include "core/jd.h"
#include "core/ts.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static bool rule_table_known(const struct query_table *t, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(t[i].name, name))
            return true;
    return false;
}

static size_t rule_npos(const struct expr_node *e)
{
    size_t k = 0;
    for (size_t i = 0; i < e->nargs; i++)
        k += !e->argnames[i];
    return k;
}

static bool rule_is_value(const struct expr_node *a)
{
    return a && a->kind != EXPR_NAME && a->kind != EXPR_DURATION;
}

enum jd_err rule_check_expr(const struct expr_node *e, const struct query_table *tables,
                            size_t ntables, char *errstr, size_t errstr_size)
{
    enum jd_err err;
    if (!e)
        return JD_OK;
    switch (e->kind) {
    case EXPR_NAME:
    case EXPR_DURATION:
        return jd_errf(JD_ERR_INVALID, errstr, errstr_size,
                       "col %u: a bare name or duration is only valid as a function argument",
                       e->col);
    case EXPR_SELECT:
        if ((e->range == EXPR_RANGE_DURATION && e->range_ms % JD_MS_MINUTE) ||
            e->offset_ms % JD_MS_MINUTE)
            return jd_errf(JD_ERR_INVALID, errstr, errstr_size,
                           "col %u: ranges and offsets must be whole minutes", e->col);
        return JD_OK;
    case EXPR_NUMBER:
        return JD_OK;
    case EXPR_AGG:
        return rule_check_expr(e->arg, tables, ntables, errstr, errstr_size);
    case EXPR_NEG:
        return rule_check_expr(e->lhs, tables, ntables, errstr, errstr_size);
    case EXPR_BINARY:
        if ((err = rule_check_expr(e->lhs, tables, ntables, errstr, errstr_size)))
            return err;
        return rule_check_expr(e->rhs, tables, ntables, errstr, errstr_size);
    case EXPR_CALL:
        break;
    }
    const char *fn = e->func;
    size_t np = rule_npos(e);
    const struct expr_node *a0 = NULL, *a1 = NULL, *a2 = NULL;
    for (size_t i = 0, k = 0; i < e->nargs; i++) {
        if (e->argnames[i]) {
            if (strcmp(fn, "ratio") || strcmp(e->argnames[i], "min_denominator"))
                return jd_errf(JD_ERR_INVALID, errstr, errstr_size,
                               "col %u: %s() has no argument named %s", e->args[i]->col, fn,
                               e->argnames[i]);
            if (e->args[i]->kind != EXPR_NUMBER || e->args[i]->number < 0)
                return jd_errf(JD_ERR_INVALID, errstr, errstr_size,
                               "col %u: min_denominator must be a number >= 0", e->args[i]->col);
            continue;
        }
        const struct expr_node **slot = k == 0 ? &a0 : k == 1 ? &a1 : &a2;
        *slot = e->args[i];
        k++;
    }
    if (!strcmp(fn, "table")) {
        if (np != 1 || !a0 || a0->kind != EXPR_NAME)
            return jd_errf(JD_ERR_INVALID, errstr, errstr_size,
                           "col %u: table() takes one table name: table(ops_capacity_per_day)",
                           e->col);
        if (!rule_table_known(tables, ntables, a0->func))
            return jd_errf(JD_ERR_INVALID, errstr, errstr_size,
                           "col %u: unknown table %s (tables are defined under 'tables:')", a0->col,
                           a0->func);
        return JD_OK;
    }
    if (!strcmp(fn, "ratio")) {
        if (np != 2 || !rule_is_value(a0) || !rule_is_value(a1))
            return jd_errf(JD_ERR_INVALID, errstr, errstr_size,
                           "col %u: ratio() takes two expressions and an optional "
                           "min_denominator=N",
                           e->col);
    } else if (!strcmp(fn, "pct_change")) {
        if (np != 2 || !rule_is_value(a0) || !a1 || a1->kind != EXPR_DURATION ||
            a1->range_ms <= 0 || a1->range_ms % JD_MS_MINUTE)
            return jd_errf(JD_ERR_INVALID, errstr, errstr_size,
                           "col %u: pct_change() takes an expression and a whole-minute "
                           "duration: pct_change(count(lead[1d]), 1d)",
                           e->col);
    } else if (!strcmp(fn, "absent")) {
        if (np != 1 || !rule_is_value(a0))
            return jd_errf(JD_ERR_INVALID, errstr, errstr_size,
                           "col %u: absent() takes one expression: absent(touch[15m])", e->col);
    } else if (!strcmp(fn, "consecutive")) {
        bool per = a1 && a1->kind == EXPR_NAME &&
                   (!strcmp(a1->func, "hour") || !strcmp(a1->func, "day") ||
                    !strcmp(a1->func, "week") || !strcmp(a1->func, "month"));
        if (np != 3 || !a0 || a0->kind != EXPR_NUMBER || a0->number < 1 || a0->number > 366 ||
            a0->number != floor(a0->number) || !per || !rule_is_value(a2))
            return jd_errf(JD_ERR_INVALID, errstr, errstr_size,
                           "col %u: consecutive() takes a count (1..366), a period (hour, day, "
                           "week or month) and a condition: consecutive(3, day, …)",
                           e->col);
    } else {
        return jd_errf(JD_ERR_INVALID, errstr, errstr_size,
                       "col %u: unknown function %s() (functions: table, ratio, pct_change, "
                       "absent, consecutive)",
                       e->col, fn);
    }
    for (size_t i = 0; i < e->nargs; i++)
        if (rule_is_value(e->args[i]) &&
            (err = rule_check_expr(e->args[i], tables, ntables, errstr, errstr_size)))
            return err;
    return JD_OK;
}

/*
 * The finest buckets a tick falls on. Groups of 1d and 1w tick at local
 * midnights (engine.c), whole days only in UTC, whole hours in most zones;
 * two dates stand for standard and summer time.
 */
static enum window_res rule_tick_res(int64_t interval, const struct tz *tz)
{
    if (tz && (interval == JD_MS_DAY || interval == 7 * JD_MS_DAY)) {
        static const int64_t samples[] = { INT64_C(1767225600000),   /* 2026-01-01 */
                                           INT64_C(1782864000000) }; /* 2026-07-01 */
        enum window_res r = WINDOW_DAY;
        for (size_t i = 0; i < JD_ARRAY_SIZE(samples); i++) {
            int64_t t = tz_period_start(tz, TZ_DAY, samples[i]);
            if (t % JD_MS_HOUR)
                r = WINDOW_MINUTE;
            else if (t % JD_MS_DAY && r == WINDOW_DAY)
                r = WINDOW_HOUR;
        }
        return r;
    }
    if (interval % JD_MS_DAY == 0)
        return WINDOW_DAY;
    return interval % JD_MS_HOUR == 0 ? WINDOW_HOUR : WINDOW_MINUTE;
}

/* The finest buckets a range edge `age` before a tick on \p tick buckets needs. */
static enum window_res rule_edge_res(enum window_res tick, int64_t age)
{
    if (tick == WINDOW_DAY && age % JD_MS_DAY == 0)
        return WINDOW_DAY;
    if (tick != WINDOW_MINUTE && age % JD_MS_HOUR == 0)
        return WINDOW_HOUR;
    return WINDOW_MINUTE;
}

/* \p back: how far pct_change() (and nothing else) has already shifted \p e. */
static bool rule_kept(const struct expr_node *e, int64_t interval, enum window_res tick,
                      int64_t back, const struct window_retention *ret, unsigned *col, char *msg,
                      size_t size)
{
    static const char *const names[] = { "minute", "hour", "day" };
    if (!e)
        return true;
    if (e->kind == EXPR_SELECT && e->range == EXPR_RANGE_DURATION) {
        int64_t ages[2] = { back + e->offset_ms + e->range_ms, back + e->offset_ms };
        for (int i = 0; i < 2; i++) {
            enum window_res r = rule_edge_res(tick, ages[i]);
            if (ages[i] <= ret->ms[r])
                continue;
            char age[32], iv[32], kept[32], hour[32], fix[160];
            ts_format_duration(ages[i], age, sizeof(age));
            ts_format_duration(interval, iv, sizeof(iv));
            ts_format_duration(ret->ms[r], kept, sizeof(kept));
            ts_format_duration(ret->ms[WINDOW_HOUR], hour, sizeof(hour));
            if (r == WINDOW_MINUTE && ages[i] % JD_MS_HOUR == 0 && ages[i] <= ret->ms[WINDOW_HOUR])
                snprintf(fix, sizeof(fix),
                         "give it a group whose interval is whole hours (hour buckets are kept "
                         "%s), or raise windows.retention.minute",
                         hour);
            else
                snprintf(fix, sizeof(fix), "raise windows.retention.%s", names[r]);
            *col = e->col;
            snprintf(msg, size,
                     "at this group's ticks (every %s) the range needs %s buckets from %s back, "
                     "but windows.retention.%s keeps %s: the rule would be skipped at every "
                     "tick; %s",
                     iv, names[r], age, names[r], kept, fix);
            return false;
        }
        return true;
    }
    if (e->kind == EXPR_CALL && !strcmp(e->func, "consecutive"))
        return true;
    if (e->kind == EXPR_CALL && !strcmp(e->func, "pct_change") && e->nargs == 2 &&
        e->args[1]->kind == EXPR_DURATION)
        return rule_kept(e->args[0], interval, tick, back, ret, col, msg, size) &&
               rule_kept(e->args[0], interval, tick, back + e->args[1]->range_ms, ret, col, msg,
                         size);
    if (!rule_kept(e->lhs, interval, tick, back, ret, col, msg, size) ||
        !rule_kept(e->rhs, interval, tick, back, ret, col, msg, size) ||
        !rule_kept(e->arg, interval, tick, back, ret, col, msg, size))
        return false;
    for (size_t i = 0; i < e->nargs; i++)
        if (!rule_kept(e->args[i], interval, tick, back, ret, col, msg, size))
            return false;
    return true;
}

bool rule_check_retention(const struct expr_node *e, int64_t interval_ms, const struct tz *tz,
                          const struct window_retention *ret, unsigned *col, char *msg,
                          size_t msg_size)
{
    return rule_kept(e, interval_ms, rule_tick_res(interval_ms, tz), 0, ret, col, msg, msg_size);
}

struct window_retention rule_retention(const struct config *cfg)
{
    return (struct window_retention){ { cfg->windows.retention_minute_ms,
                                        cfg->windows.retention_hour_ms,
                                        cfg->windows.retention_day_ms } };
}
