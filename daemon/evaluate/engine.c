/*
 * engine.c — ticks, alert lifecycles and the messages they produce.
 *
 * Owns the schedule (which group is due at which tick), each alert's state
 * machine (Prometheus's pending/firing/keep_firing_for semantics plus
 * resolve_when, on_no_data, min_coverage and repeat_interval) and turning
 * transitions into messages. Alerts live in one open-addressing table keyed
 * by (group, rule, fingerprint); inactive ones stay as small records so that
 * `seq` never goes back. Reading windows is query.c's; formatting the JSON
 * is alertmsg.c's; persisting and publishing are the caller's.
 */
#include "evaluate/engine.h"
#include "evaluate/engine_int.h"

#include "core/hash.h"
#include "core/jd.h"
#include "decode/event.h"
#include "publish/alertmsg.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *engine_state_name(enum engine_state s)
{
    return s == ENGINE_FIRING ? "firing" : s == ENGINE_PENDING ? "pending" : "inactive";
}

/* ------------------------------------------------------------ alerts */

static uint64_t engine_key(const char *group, const char *alert, uint64_t fp)
{
    uint64_t h = hash64(group, strlen(group) + 1, 0x656e67);
    h = hash64(alert, strlen(alert) + 1, h);
    return hash_mix64(h ^ fp);
}

static void engine_alert_free(struct engine_alert *a)
{
    for (size_t i = 0; i < a->nlabels; i++) {
        free(a->labels[i].name);
        free(a->labels[i].value);
    }
    free(a->labels);
    free(a->group);
    free(a->alert);
    memset(a, 0, sizeof(*a));
}

static size_t engine_slot(const struct engine_alert *tab, size_t cap, uint64_t key,
                          const char *group, const char *alert, uint64_t fp)
{
    size_t i = key & (cap - 1);
    while (tab[i].used && !(tab[i].key == key && tab[i].fp == fp && !strcmp(tab[i].group, group) &&
                            !strcmp(tab[i].alert, alert)))
        i = (i + 1) & (cap - 1);
    return i;
}

static bool engine_grow(struct engine *e)
{
    size_t cap = e->cap ? e->cap * 2 : 64;
    struct engine_alert *tab = calloc(cap, sizeof(*tab));
    if (!tab)
        return false;
    for (size_t k = 0; k < e->norder; k++) {
        struct engine_alert *a = &e->tab[e->order[k]];
        size_t i = engine_slot(tab, cap, a->key, a->group, a->alert, a->fp);
        tab[i] = *a;
        e->order[k] = i;
    }
    free(e->tab);
    e->tab = tab;
    e->cap = cap;
    return true;
}

static int engine_label_cmp(const void *a, const void *b)
{
    return strcmp(((const struct query_label *)a)->name, ((const struct query_label *)b)->name);
}

/*
 * The alert's full label set: the series' labels, then the rule's (a rule
 * label overrides a series label of the same name), then alertname.
 */
static size_t engine_labels(const struct rule *r, const struct query_sample *s,
                            struct query_label *out, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < s->nlabels && n < cap; i++) {
        bool overridden = !strcmp(s->labels[i].name, "alertname");
        for (size_t k = 0; k < r->nlabels && !overridden; k++)
            overridden = !strcmp(r->labels[k].name, s->labels[i].name);
        if (!overridden)
            out[n++] = s->labels[i];
    }
    for (size_t k = 0; k < r->nlabels && n < cap; k++)
        out[n++] = (struct query_label){ r->labels[k].name, r->labels[k].value };
    if (n < cap)
        out[n++] = (struct query_label){ (char *)"alertname", r->alert };
    qsort(out, n, sizeof(*out), engine_label_cmp);
    return n;
}

static uint64_t engine_fingerprint(const struct query_label *l, size_t n)
{
    struct alertmsg_label al[RULE_MAX_LABELS + EVENT_MAX_PROPS + 3];
    for (size_t i = 0; i < n && i < JD_ARRAY_SIZE(al); i++)
        al[i] = (struct alertmsg_label){ l[i].name, l[i].value };
    return alertmsg_fingerprint(al, n < JD_ARRAY_SIZE(al) ? n : JD_ARRAY_SIZE(al));
}

struct engine_alert *engine_alert_intern(struct engine *e, const char *group, const char *alert,
                                         const struct query_label *l, size_t n)
{
    uint64_t fp = engine_fingerprint(l, n);
    uint64_t key = engine_key(group, alert, fp);
    size_t i = e->cap ? engine_slot(e->tab, e->cap, key, group, alert, fp) : 0;
    if (e->cap && e->tab[i].used)
        return &e->tab[i];
    if ((e->used + 1) * 2 > e->cap) {
        if (!engine_grow(e))
            return NULL;
        i = engine_slot(e->tab, e->cap, key, group, alert, fp);
    }
    if (!jd_reserve((void **)&e->order, &e->caporder, e->norder + 1, sizeof(*e->order)))
        return NULL;
    struct engine_alert *a = &e->tab[i];
    memset(a, 0, sizeof(*a));
    a->labels = calloc(n ? n : 1, sizeof(*a->labels));
    a->group = strdup(group);
    a->alert = strdup(alert);
    bool ok = a->labels && a->group && a->alert;
    for (size_t k = 0; ok && k < n; k++) {
        a->labels[k].name = strdup(l[k].name);
        a->labels[k].value = strdup(l[k].value);
        a->nlabels++;
        ok = a->labels[k].name && a->labels[k].value;
    }
    if (!ok) {
        engine_alert_free(a);
        return NULL;
    }
    a->used = true;
    a->key = key;
    a->fp = fp;
    a->rule = SIZE_MAX;
    a->false_since = INT64_MIN;
    a->seen_tick = INT64_MIN;
    e->used++;
    e->order[e->norder++] = i;
    return a;
}

/* Finds or creates the alert of rule \p ri for labels \p l. */
static struct engine_alert *engine_alert_get(struct engine *e, size_t ri,
                                             const struct query_label *l, size_t n)
{
    const struct rule *r = &e->rs->rules[ri];
    struct engine_alert *a = engine_alert_intern(e, e->rs->groups[r->group].name, r->alert, l, n);
    if (a)
        a->rule = ri;
    return a;
}

void engine_clear(struct engine *e)
{
    for (size_t k = 0; k < e->norder; k++)
        engine_alert_free(&e->tab[e->order[k]]);
    free(e->tab);
    free(e->order);
    e->tab = NULL;
    e->order = NULL;
    e->cap = e->used = e->norder = e->caporder = 0;
    e->start = e->high = INT64_MIN;
    for (size_t g = 0; g < e->ngroups; g++) {
        e->groups[g].last_tick = e->groups[g].since = INT64_MIN;
        e->groups[g].join_at_wm = false;
    }
}

/* ------------------------------------------------------------ lifecycle */

/* What one tick does to one alert (the message to send, if any). */
enum engine_send {
    ENGINE_SEND_NONE,
    ENGINE_SEND_FIRING,
    ENGINE_SEND_RESOLVED,
};

static enum engine_send engine_step(const struct rule *r, struct engine_alert *a, int64_t t,
                                    enum query_truth truth, bool present, bool resolve_holds)
{
    bool h;
    if (!present)
        h = false;
    else if (truth == QUERY_NO_DATA)
        h = r->on_no_data == RULE_NO_DATA_ALERT ? true
            : r->on_no_data == RULE_NO_DATA_OK  ? false
                                                : a->held;
    else
        h = truth == QUERY_TRUE;
    a->held = h;

    switch (a->state) {
    case ENGINE_INACTIVE:
        if (!h)
            return ENGINE_SEND_NONE;
        a->active_since = t;
        a->false_since = INT64_MIN;
        if (r->for_ms > 0) {
            a->state = ENGINE_PENDING;
            return ENGINE_SEND_NONE;
        }
        a->state = ENGINE_FIRING;
        a->fired_at = t;
        return ENGINE_SEND_FIRING;
    case ENGINE_PENDING:
        if (!h) {
            a->state = ENGINE_INACTIVE;
            return ENGINE_SEND_NONE;
        }
        if (t < a->active_since + r->for_ms)
            return ENGINE_SEND_NONE;
        a->state = ENGINE_FIRING;
        a->fired_at = t;
        return ENGINE_SEND_FIRING;
    case ENGINE_FIRING: {
        /* with resolve_when, only that condition ends a firing alert (hysteresis) */
        bool stop = r->resolve ? resolve_holds : !h;
        if (!stop) {
            a->false_since = INT64_MIN;
        } else {
            if (a->false_since == INT64_MIN)
                a->false_since = t;
            if (t >= a->false_since + r->keep_firing_for_ms) {
                a->state = ENGINE_INACTIVE;
                return ENGINE_SEND_RESOLVED;
            }
        }
        if (t >= a->last_sent + r->repeat_interval_ms)
            return ENGINE_SEND_FIRING;
        return ENGINE_SEND_NONE;
    }
    }
    return ENGINE_SEND_NONE;
}

/* ------------------------------------------------------------ schedule */

static int64_t engine_floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* Calendar-aligned groups tick at local day or ISO-week starts; the others at epoch multiples. */
static bool engine_calendar(const struct rule_group *g, enum tz_period *p)
{
    if (g->interval_ms == JD_MS_DAY)
        *p = TZ_DAY;
    else if (g->interval_ms == 7 * JD_MS_DAY)
        *p = TZ_WEEK;
    else
        return false;
    return true;
}

/* The latest tick at or before \p t. */
static int64_t engine_tick_floor(const struct rule_group *g, int64_t t)
{
    enum tz_period p;
    if (engine_calendar(g, &p))
        return tz_period_start(g->tz, p, t);
    return engine_floor_div(t, g->interval_ms) * g->interval_ms;
}

/* The first tick after \p t. */
static int64_t engine_tick_after(const struct rule_group *g, int64_t t)
{
    enum tz_period p;
    if (engine_calendar(g, &p))
        return tz_period_add(g->tz, p, t, 1);
    return (engine_floor_div(t, g->interval_ms) + 1) * g->interval_ms;
}

static int64_t engine_due(const struct engine *e, size_t g, int64_t watermark)
{
    const struct rule_group *rg = &e->rs->groups[g];
    int64_t last = e->groups[g].last_tick;
    if (last != INT64_MIN)
        return engine_tick_after(rg, last);
    /* a group added by a reload starts at the watermark, not at the start of data */
    if (e->start != INT64_MIN && !e->groups[g].join_at_wm)
        return engine_tick_after(rg, e->start);
    return engine_tick_floor(rg, watermark);
}

bool engine_next(const struct engine *e, int64_t watermark, size_t *group, int64_t *tick)
{
    bool found = false;
    for (size_t g = 0; g < e->ngroups; g++) {
        int64_t t = engine_due(e, g, watermark);
        if (t > watermark || (found && t >= *tick))
            continue;
        *group = g;
        *tick = t;
        found = true;
    }
    return found;
}

int64_t engine_last_tick(const struct engine *e, size_t group)
{
    return group < e->ngroups ? e->groups[group].last_tick : INT64_MIN;
}

void engine_start(struct engine *e, int64_t t)
{
    e->start = t;
}

/* ------------------------------------------------------------ life */

static enum jd_err engine_nomem(char *errstr, size_t errstr_size)
{
    return jd_errf(JD_ERR_NOMEM, errstr, errstr_size, "out of memory");
}

/* Group bookkeeping for \p rs, keeping the last ticks of groups that stay. */
static bool engine_map_groups(struct engine *e, const struct ruleset *rs)
{
    struct engine_group *g = calloc(rs->ngroups ? rs->ngroups : 1, sizeof(*g));
    if (!g)
        return false;
    for (size_t i = 0; i < rs->ngroups; i++) {
        g[i].last_tick = g[i].since = INT64_MIN;
        if (!(g[i].name = strdup(rs->groups[i].name))) {
            for (size_t k = 0; k < i; k++)
                free(g[k].name);
            free(g);
            return false;
        }
        g[i].join_at_wm = e->high != INT64_MIN;
        for (size_t k = 0; k < e->ngroups; k++)
            if (!strcmp(e->groups[k].name, g[i].name)) {
                g[i].join_at_wm = e->groups[k].join_at_wm;
                g[i].last_tick = e->groups[k].last_tick;
                g[i].since = e->groups[k].since;
            }
    }
    for (size_t k = 0; k < e->ngroups; k++)
        free(e->groups[k].name);
    free(e->groups);
    e->groups = g;
    e->ngroups = rs->ngroups;
    return true;
}

struct engine *engine_new(const struct ruleset *rs, struct query_source src,
                          const struct engine_opts *opts, char *errstr, size_t errstr_size)
{
    struct engine *e = calloc(1, sizeof(*e));
    if (!e) {
        engine_nomem(errstr, errstr_size);
        return NULL;
    }
    e->src = src;
    e->start = e->high = INT64_MIN;
    e->receiver = strdup(opts && opts->receiver ? opts->receiver : "journey.alerts");
    e->external_url = strdup(opts && opts->external_url ? opts->external_url : "");
    e->max_series = opts ? opts->max_series : 0;
    if (!e->receiver || !e->external_url || engine_set_ruleset(e, rs, errstr, errstr_size)) {
        engine_destroy(e);
        engine_nomem(errstr, errstr_size);
        return NULL;
    }
    return e;
}

void engine_destroy(struct engine *e)
{
    if (!e)
        return;
    engine_clear(e);
    for (size_t k = 0; k < e->ngroups; k++)
        free(e->groups[k].name);
    free(e->groups);
    free(e->rstats);
    free(e->receiver);
    free(e->external_url);
    free(e);
}

enum jd_err engine_set_ruleset(struct engine *e, const struct ruleset *rs, char *errstr,
                               size_t errstr_size)
{
    struct engine_rule_stats *st = calloc(rs->nrules ? rs->nrules : 1, sizeof(*st));
    if (!st || !engine_map_groups(e, rs)) {
        free(st);
        return engine_nomem(errstr, errstr_size);
    }
    for (size_t i = 0; i < rs->nrules; i++) {
        /* a rule that stays (same group and name) keeps its statistics */
        const struct rule *old =
            e->rs ? ruleset_find(e->rs, rs->groups[rs->rules[i].group].name, rs->rules[i].alert)
                  : NULL;
        if (old)
            st[i] = e->rstats[old - e->rs->rules];
        else
            st[i].last_tick = INT64_MIN;
    }
    free(e->rstats);
    e->rstats = st;
    e->rs = rs;
    /* carry state over by (group, alert, fingerprint); orphans keep only their seq */
    for (size_t k = 0; k < e->norder; k++) {
        struct engine_alert *a = &e->tab[e->order[k]];
        const struct rule *r = ruleset_find(rs, a->group, a->alert);
        a->rule = r ? (size_t)(r - rs->rules) : SIZE_MAX;
        if (!r) {
            a->state = ENGINE_INACTIVE;
            a->held = false;
        }
    }
    return JD_OK;
}

const struct engine_rule_stats *engine_rule_stats(const struct engine *e, size_t rule)
{
    return &e->rstats[rule];
}

size_t engine_nalerts(const struct engine *e)
{
    return e->norder;
}

void engine_alert_at(const struct engine *e, size_t i, struct engine_alert_view *v)
{
    const struct engine_alert *a = &e->tab[e->order[i]];
    memset(v, 0, sizeof(*v));
    v->group = a->group;
    v->alert = a->alert;
    v->labels = a->labels;
    v->nlabels = a->nlabels;
    snprintf(v->fingerprint, sizeof(v->fingerprint), "%016llx", (unsigned long long)a->fp);
    v->state = a->state;
    v->active_since = a->active_since;
    v->fired_at = a->fired_at;
    v->has_value = a->has_value;
    v->value = a->value;
    v->has_threshold = a->has_threshold;
    v->threshold = a->threshold;
    v->seq = a->seq;
}

/* ------------------------------------------------------------ evaluation */

/* resolve_when holds for an alert when a result series' labels are all among the alert's. */
static bool engine_resolve_holds(const struct query_result *res, const struct engine_alert *a)
{
    for (size_t i = 0; i < res->n; i++) {
        bool all = true;
        for (size_t k = 0; k < res->v[i].nlabels && all; k++) {
            bool hit = false;
            for (size_t j = 0; j < a->nlabels && !hit; j++)
                hit = !strcmp(a->labels[j].name, res->v[i].labels[k].name) &&
                      !strcmp(a->labels[j].value, res->v[i].labels[k].value);
            all = hit;
        }
        if (all)
            return true;
    }
    return false;
}

static enum jd_err engine_send(struct engine *e, const struct rule *r, struct engine_alert *a,
                               int64_t tick, bool firing, engine_msg_cb *cb, void *opaque,
                               char *errstr, size_t errstr_size);

/* One rule at one tick. */
static enum jd_err engine_rule(struct engine *e, size_t ri, const struct query_env *env,
                               int64_t tick, engine_msg_cb *cb, void *opaque, char *errstr,
                               size_t errstr_size)
{
    const struct rule *r = &e->rs->rules[ri];
    struct query_result res = { 0 }, rsv = { 0 };
    enum query_truth *truth = NULL;
    enum jd_err err;
    struct query_label lab[RULE_MAX_LABELS + EVENT_MAX_PROPS + 3];

    if ((err = query_eval_cond(env, r->expr, tick, &res, &truth, errstr, errstr_size)))
        return err;
    if (e->max_series && res.n > e->max_series) {
        /* all or nothing, as Prometheus does with a group's limit: alerting on an arbitrary
         * part of the series would silently drop the others */
        e->rstats[ri].limited++;
        err = jd_errf(JD_ERR_RANGE, errstr, errstr_size,
                      "%zu series exceed limits.series_per_rule (%zu): none of this rule's "
                      "alerts moves at this tick; aggregate by fewer labels or raise the limit",
                      res.n, e->max_series);
        goto out;
    }
    if (r->resolve && (err = query_eval_env(env, r->resolve, tick, &rsv, errstr, errstr_size)))
        goto out;
    for (size_t i = 0; i < res.n && !err; i++) {
        size_t n = engine_labels(r, &res.v[i], lab, JD_ARRAY_SIZE(lab));
        struct engine_alert *a = engine_alert_get(e, ri, lab, n);
        if (!a) {
            err = engine_nomem(errstr, errstr_size);
            break;
        }
        a->seen_tick = tick;
        a->has_value = !res.v[i].none;
        a->value = res.v[i].value;
        a->has_threshold = res.v[i].has_threshold;
        a->threshold = res.v[i].threshold;
        enum engine_send s =
            engine_step(r, a, tick, truth[i], true, r->resolve && engine_resolve_holds(&rsv, a));
        if (s != ENGINE_SEND_NONE)
            err = engine_send(e, r, a, tick, s == ENGINE_SEND_FIRING, cb, opaque, errstr,
                              errstr_size);
    }
    /* alerts whose series gave no opinion at this tick: the condition does not hold */
    for (size_t k = 0; k < e->norder && !err; k++) {
        struct engine_alert *a = &e->tab[e->order[k]];
        if (a->rule != ri || a->seen_tick == tick || a->state == ENGINE_INACTIVE)
            continue;
        a->has_value = a->has_threshold = false;
        enum engine_send s = engine_step(r, a, tick, QUERY_FALSE, false,
                                         r->resolve && engine_resolve_holds(&rsv, a));
        if (s != ENGINE_SEND_NONE)
            err = engine_send(e, r, a, tick, s == ENGINE_SEND_FIRING, cb, opaque, errstr,
                              errstr_size);
    }
out:
    free(truth);
    query_result_free(&res);
    query_result_free(&rsv);
    return err;
}

enum jd_err engine_eval(struct engine *e, size_t group, int64_t tick, engine_msg_cb *cb,
                        void *opaque, char *errstr, size_t errstr_size)
{
    const struct rule_group *g = &e->rs->groups[group];
    struct query_env env = { e->src, g->tz, e->rs->tables, e->rs->ntables };
    enum jd_err first = JD_OK;
    char rerr[JD_ERRSTR_SIZE];

    if (e->groups[group].since == INT64_MIN)
        e->groups[group].since = e->start != INT64_MIN ? e->start : tick;
    int64_t since = e->groups[group].since;
    for (size_t ri = g->first; ri < g->first + g->n; ri++) {
        const struct rule *r = &e->rs->rules[ri];
        if (tick < since + r->min_coverage_ms)
            continue; /* not enough of the window observed yet: no judgement */
        enum jd_err err = engine_rule(e, ri, &env, tick, cb, opaque, rerr, sizeof(rerr));
        struct engine_rule_stats *st = &e->rstats[ri];
        bool judged =
            !err || err == JD_ERR_INVALID || err == JD_ERR_RANGE || err == JD_ERR_UNSUPPORTED;
        if (judged) {
            st->evaluations++;
            st->last_tick = tick;
            st->last_error[0] = '\0';
        }
        if (err == JD_ERR_INVALID || err == JD_ERR_RANGE || err == JD_ERR_UNSUPPORTED) {
            st->failures++;
            size_t n = strnlen(rerr, sizeof(st->last_error) - 1);
            memcpy(st->last_error, rerr, n);
            st->last_error[n] = '\0';
            if (!first)
                first = jd_errf(err, errstr, errstr_size, "%s: %s at %lld: %s", g->name, r->alert,
                                (long long)tick, rerr);
            continue;
        }
        if (err) {
            jd_errf(err, errstr, errstr_size, "%s: %s: %s", g->name, r->alert, rerr);
            return err;
        }
    }
    e->groups[group].last_tick = tick;
    if (tick > e->high)
        e->high = tick;
    return first;
}

/* ------------------------------------------------------------ messages */

static enum jd_err engine_send(struct engine *e, const struct rule *r, struct engine_alert *a,
                               int64_t tick, bool firing, engine_msg_cb *cb, void *opaque,
                               char *errstr, size_t errstr_size)
{
    struct alertmsg_label labels[RULE_MAX_LABELS + EVENT_MAX_PROPS + 3];
    struct alertmsg_label ann[64];
    struct template_label tl[RULE_MAX_LABELS + EVENT_MAX_PROPS + 3];
    char *texts[64] = { 0 };
    size_t nann = 0;
    char *json = NULL;
    size_t len = 0;
    enum jd_err err = JD_OK;
    struct alertmsg_headers hdrs;
    char fp[ALERTMSG_FP_HEX_SIZE];

    size_t nl = a->nlabels < JD_ARRAY_SIZE(labels) ? a->nlabels : JD_ARRAY_SIZE(labels);
    for (size_t i = 0; i < nl; i++) {
        labels[i] = (struct alertmsg_label){ a->labels[i].name, a->labels[i].value };
        tl[i] = (struct template_label){ a->labels[i].name, a->labels[i].value };
    }
    struct template_ctx ctx = { a->has_value, a->value, a->has_threshold, a->threshold, tl, nl };
    for (size_t i = 0; i < r->nannotations && nann < JD_ARRAY_SIZE(ann); i++) {
        size_t need = template_render(r->annotations[i].tmpl, &ctx, NULL, 0);
        if (!(texts[nann] = malloc(need + 1))) {
            err = engine_nomem(errstr, errstr_size);
            goto out;
        }
        template_render(r->annotations[i].tmpl, &ctx, texts[nann], need + 1);
        ann[nann] = (struct alertmsg_label){ r->annotations[i].name, texts[nann] };
        nann++;
    }
    const char *state = !firing                       ? "resolved"
                        : a->false_since != INT64_MIN ? "keep_firing"
                                                      : "firing";
    struct alertmsg m = {
        .status = firing ? ALERTMSG_FIRING : ALERTMSG_RESOLVED,
        .state = state,
        .alertname = r->alert,
        .labels = labels,
        .nlabels = nl,
        .annotations = ann,
        .nannotations = nann,
        .starts_at_ms = a->fired_at,
        .ends_at_ms = firing ? 0 : tick,
        .evaluated_at_ms = tick,
        .has_value = a->has_value,
        .value = a->value,
        .has_threshold = a->has_threshold,
        .threshold = a->threshold,
        .group = e->rs->groups[r->group].name,
        .file = r->file,
        .expr = r->expr_text,
        .seq = a->seq + 1,
        .receiver = e->receiver,
        .external_url = e->external_url,
    };
    alertmsg_fingerprint_hex(a->fp, fp);
    if ((err = alertmsg_format(&m, &json, &len, errstr, errstr_size)) ||
        (err = alertmsg_headers(&m, fp, &hdrs, errstr, errstr_size)))
        goto out;
    const char *hn[ALERTMSG_NHEADERS], *hv[ALERTMSG_NHEADERS];
    for (size_t i = 0; i < ALERTMSG_NHEADERS; i++) {
        hn[i] = hdrs.h[i].name;
        hv[i] = hdrs.h[i].value;
    }
    struct engine_msg msg = { fp,   json,    len,      hn,     hv,   ALERTMSG_NHEADERS,
                              tick, m.group, r->alert, firing, m.seq };
    if ((err = cb(opaque, &msg, errstr, errstr_size)))
        goto out;
    a->seq++;
    a->last_sent = tick;
out:
    for (size_t i = 0; i < nann; i++)
        free(texts[i]);
    free(json);
    return err;
}
