/*
 * ctl_rules.c — `journeyctl check rules` and `journeyctl test rules`.
 *
 * check: compile rule files and print every error and warning as
 * file:line:col (exit 0 ok, 1 errors). test: promtool-style unit tests in
 * YAML, run through the same backtest as `journeyctl replay`:
 *
 *   rule_files: [../growth-ops.yaml]      relative to the test file
 *   lateness: 0s                          optional (default: the config's)
 *   tests:
 *     - name: capacity exceeded
 *       events:                           stream order after a stable sort by ts
 *         - {type: lead, ts: "2026-11-23T00:00:00Z", channel: douyin}
 *         - series: {type: lead, from: "…", every: 1m, count: 1900, users: 50}
 *         - file: leads.ndjson
 *       sort: true                        false: keep the written order (late events)
 *       expect:                           alert states right after tick `at`
 *         - at: "2026-11-24T00:10:00Z"
 *           alerts:                       every pending/firing alert, nothing more
 *             - {alertname: X, state: firing, labels: {…}, value: 1901, annotations: {…}}
 *       messages:                         every message published, in order
 *         - {at: "…", alertname: X, status: firing, seq: 1, value: …, json: '…'}
 */
#include "core/config.h"
#include "core/ts.h"
#include "core/ydoc.h"
#include "decode/event.h"
#include "evaluate/backtest.h"
#include "evaluate/rule.h"
#include "evaluate/template.h"
#include "tools/ctl.h"

#include <jansson.h>
#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ check */

int ctl_check_rules(const char *cfgpath, int argc, char **argv)
{
    struct rule_diags d = { 0 };
    if (argc < 1) {
        fprintf(stderr, "usage: journeyctl [-c FILE] check rules FILE|DIR...\n");
        return EXIT_USAGE;
    }
    /* the config (defaults without -c) only for the retention the ranges are checked against */
    struct config *cfg = ctl_config(cfgpath);
    if (!cfg)
        return EXIT_CONFIG;
    struct window_retention ret = rule_retention(cfg);
    config_destroy(cfg);
    struct ruleset *rs = ruleset_load(argv, (size_t)argc, &ret, &d);
    for (size_t i = 0; i < d.n; i++)
        printf("%s\n", d.v[i]);
    if (rs)
        printf("SUCCESS: %zu rules in %zu groups found in %zu files (%zu warnings)\n", rs->nrules,
               rs->ngroups, rs->nfiles, d.warnings);
    else
        printf("FAILED: %zu errors, %zu warnings\n", d.errors, d.warnings);
    ruleset_destroy(rs);
    rule_diags_free(&d);
    return rs ? 0 : 1;
}

/* ------------------------------------------------------------------ test */

/* One recorded message. */
struct ctl_msg {
    int64_t tick;
    char *json;
    char *alert;
    bool firing;
    uint64_t seq;
};

struct ctl_test {
    const char *file; /* the test file */
    char dir[4096];   /* its directory */
    struct ctl_msg *msgs;
    size_t nmsgs, capmsgs;
    char **fails;
    size_t nfails, capfails;
    struct event_decoder *dec;
    struct event *ev;
    const struct ydoc_node *watch; /* the test's `watch:` list (NULL: every alert) */
    const char *events_out;        /* --events-out DIR: each case's events as NDJSON */
    int ncase;                     /* the case's number, across files */
};

/* Is \p alert among the ones the test case watches? */
static bool ctl_watched(const struct ctl_test *t, const char *alert)
{
    if (!t->watch || t->watch->kind != YDOC_SEQ)
        return true;
    for (size_t i = 0; i < t->watch->n; i++)
        if (t->watch->items[i]->str && !strcmp(t->watch->items[i]->str, alert))
            return true;
    return false;
}

static void ctl_fail(struct ctl_test *t, const struct ydoc_node *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void ctl_fail(struct ctl_test *t, const struct ydoc_node *at, const char *fmt, ...)
{
    char msg[2048], full[2300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (at)
        snprintf(full, sizeof(full), "%s:%u:%u: %s", t->file, at->line, at->col, msg);
    else
        snprintf(full, sizeof(full), "%s: %s", t->file, msg);
    char *s = strdup(full);
    if (s && jd_reserve((void **)&t->fails, &t->capfails, t->nfails + 1, sizeof(*t->fails)))
        t->fails[t->nfails++] = s;
    else
        free(s);
}

static const struct ydoc_node *ctl_get(const struct ydoc_node *map, const char *key)
{
    for (size_t i = 0; map && map->kind == YDOC_MAP && i < map->n; i += 2)
        if (!strcmp(map->items[i]->str, key))
            return map->items[i + 1];
    return NULL;
}

static bool ctl_time(struct ctl_test *t, const struct ydoc_node *n, int64_t *ms)
{
    char err[256];
    if (!n || n->kind != YDOC_SCALAR || ts_parse_time_arg(n->str, ms, err, sizeof(err))) {
        ctl_fail(t, n, "expected a time (RFC 3339 or unix seconds)%s%s", n ? ": " : "",
                 n && n->kind == YDOC_SCALAR ? err : "");
        return false;
    }
    return true;
}

static bool ctl_duration(struct ctl_test *t, const struct ydoc_node *n, int64_t *ms)
{
    char err[256];
    if (!n || n->kind != YDOC_SCALAR || ts_parse_duration(n->str, n->len, ms, err, sizeof(err))) {
        ctl_fail(t, n, "expected a duration (e.g. 1m, 30h)");
        return false;
    }
    return true;
}

/* An event as it sits in the test: its message bytes and its time (for sorting). */
struct ctl_event {
    char *msg;
    size_t len;
    int64_t ts;
    size_t order;
};

struct ctl_events {
    struct ctl_event *v;
    size_t n, cap;
};

static bool ctl_push_event(struct ctl_events *evs, json_t *o, int64_t ts)
{
    char *s = json_dumps(o, JSON_COMPACT);
    if (!s || !jd_reserve((void **)&evs->v, &evs->cap, evs->n + 1, sizeof(*evs->v))) {
        free(s);
        return false;
    }
    evs->v[evs->n] = (struct ctl_event){ s, strlen(s), ts, evs->n };
    evs->n++;
    return true;
}

/* The fields an inline event or a series may set, copied into the JSON event. */
static bool ctl_event_fields(struct ctl_test *t, const struct ydoc_node *n, json_t *o,
                             const char *const *skip)
{
    for (size_t i = 0; i < n->n; i += 2) {
        const struct ydoc_node *k = n->items[i], *v = n->items[i + 1];
        bool skipped = false;
        for (size_t s = 0; skip[s] && !skipped; s++)
            skipped = !strcmp(k->str, skip[s]);
        if (skipped)
            continue;
        if (!strcmp(k->str, "props")) {
            if (v->kind != YDOC_MAP) {
                ctl_fail(t, v, "props: expected a mapping");
                return false;
            }
            json_t *p = json_object();
            for (size_t j = 0; j < v->n; j += 2)
                json_object_set_new(p, v->items[j]->str,
                                    json_string(v->items[j + 1]->str ? v->items[j + 1]->str : ""));
            json_object_set_new(o, "props", p);
        } else if (v->kind != YDOC_SCALAR) {
            ctl_fail(t, v, "%s: expected a single value", k->str);
            return false;
        } else if (!strcmp(k->str, "value") || (!strcmp(k->str, "ts") && v->plain)) {
            /* numbers stay numbers: the decoder reads their text exactly */
            json_t *num = json_loads(v->str, JSON_DECODE_ANY, NULL);
            if (!json_is_number(num)) {
                json_decref(num);
                ctl_fail(t, v, "%s: '%s' is not a number", k->str, v->str);
                return false;
            }
            json_object_set_new(o, k->str, num);
        } else {
            json_object_set_new(o, k->str, json_string(v->str));
        }
    }
    return true;
}

static bool ctl_series(struct ctl_test *t, const struct ydoc_node *n, size_t block,
                       struct ctl_events *evs)
{
    static const char *const skip[] = { "from", "every", "for", "count", "users", NULL };
    int64_t from, every, dur = -1;
    long long count = -1, users = 0;
    const struct ydoc_node *c = ctl_get(n, "count"), *f = ctl_get(n, "for"),
                           *u = ctl_get(n, "users");
    if (n->kind != YDOC_MAP || !ctl_get(n, "type")) {
        ctl_fail(t, n, "series: expected a mapping with type, from, every and count or for");
        return false;
    }
    if (!ctl_time(t, ctl_get(n, "from"), &from) || !ctl_duration(t, ctl_get(n, "every"), &every))
        return false;
    if (every <= 0) {
        ctl_fail(t, n, "series: every must be positive");
        return false;
    }
    if (c && c->kind == YDOC_SCALAR)
        count = strtoll(c->str, NULL, 10);
    if (f && !ctl_duration(t, f, &dur))
        return false;
    if (dur >= 0)
        count = dur / every;
    if (u && u->kind == YDOC_SCALAR)
        users = strtoll(u->str, NULL, 10);
    if (count < 0 || count > 10000000) {
        ctl_fail(t, n, "series: give count (up to 10M) or for");
        return false;
    }
    for (long long i = 0; i < count; i++) {
        char id[64], user[32], ts[TS_RFC3339_SIZE];
        int64_t at = from + i * every;
        json_t *o = json_object();
        snprintf(id, sizeof(id), "test-%zu-%lld", block, i);
        snprintf(user, sizeof(user), "u%lld", users > 0 ? i % users : i);
        ts_format_rfc3339(at, ts, sizeof(ts));
        json_object_set_new(o, "event_id", json_string(id));
        json_object_set_new(o, "user_id", json_string(user));
        json_object_set_new(o, "ts", json_string(ts));
        bool ok = ctl_event_fields(t, n, o, skip) && ctl_push_event(evs, o, at);
        json_decref(o);
        if (!ok)
            return false;
    }
    return true;
}

static bool ctl_event_file(struct ctl_test *t, const struct ydoc_node *n, struct ctl_events *evs)
{
    char path[8192], line[1 << 16];
    if (n->kind != YDOC_SCALAR) {
        ctl_fail(t, n, "file: expected a path");
        return false;
    }
    snprintf(path, sizeof(path), "%s%s%s", n->str[0] == '/' ? "" : t->dir,
             n->str[0] == '/' ? "" : "/", n->str);
    FILE *in = fopen(path, "r");
    if (!in) {
        ctl_fail(t, n, "cannot open %s", path);
        return false;
    }
    char err[JD_ERRSTR_SIZE];
    bool ok = true;
    while (ok && fgets(line, sizeof(line), in)) {
        size_t len = strcspn(line, "\r\n");
        line[len] = '\0';
        if (!len)
            continue;
        if (event_decode(t->dec, line, len, NULL, 0, INT64_MAX, t->ev, err, sizeof(err))) {
            ctl_fail(t, n, "%s: invalid event: %s", path, err);
            ok = false;
            break;
        }
        char *s = strdup(line);
        ok = s && jd_reserve((void **)&evs->v, &evs->cap, evs->n + 1, sizeof(*evs->v));
        if (ok)
            evs->v[evs->n] = (struct ctl_event){ s, len, t->ev->ts_ms, evs->n }, evs->n++;
        else
            free(s);
    }
    fclose(in);
    return ok;
}

static bool ctl_events(struct ctl_test *t, const struct ydoc_node *list, struct ctl_events *evs)
{
    static const char *const none[] = { NULL };
    if (!list || list->kind != YDOC_SEQ) {
        ctl_fail(t, list, "events: expected a list");
        return false;
    }
    for (size_t i = 0; i < list->n; i++) {
        const struct ydoc_node *e = list->items[i], *v;
        if (e->kind != YDOC_MAP) {
            ctl_fail(t, e, "an event is a mapping (type, ts, …), a series or a file");
            return false;
        }
        if ((v = ctl_get(e, "series"))) {
            if (!ctl_series(t, v, i, evs))
                return false;
        } else if ((v = ctl_get(e, "file"))) {
            if (!ctl_event_file(t, v, evs))
                return false;
        } else {
            char id[64];
            int64_t ts = 0;
            json_t *o = json_object();
            snprintf(id, sizeof(id), "test-%zu", i);
            json_object_set_new(o, "event_id", json_string(id));
            json_object_set_new(o, "user_id", json_string(id));
            bool ok = ctl_event_fields(t, e, o, none);
            char *s = ok ? json_dumps(o, JSON_COMPACT) : NULL;
            char err[JD_ERRSTR_SIZE];
            if (ok && (!s || event_decode(t->dec, s, strlen(s), NULL, 0, INT64_MAX, t->ev, err,
                                          sizeof(err)))) {
                ctl_fail(t, e, "invalid event: %s", s ? err : "out of memory");
                ok = false;
            }
            if (ok)
                ts = t->ev->ts_ms;
            free(s);
            ok = ok && ctl_push_event(evs, o, ts);
            json_decref(o);
            if (!ok)
                return false;
        }
    }
    return true;
}

static int ctl_event_cmp(const void *a, const void *b)
{
    const struct ctl_event *x = a, *y = b;
    if (x->ts != y->ts)
        return x->ts < y->ts ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

static enum jd_err ctl_record(void *opaque, const struct engine_msg *m, char *errstr,
                              size_t errstr_size)
{
    struct ctl_test *t = opaque;
    if (!ctl_watched(t, m->alert))
        return JD_OK;
    if (!jd_reserve((void **)&t->msgs, &t->capmsgs, t->nmsgs + 1, sizeof(*t->msgs)))
        return jd_errf(JD_ERR_NOMEM, errstr, errstr_size, "out of memory");
    struct ctl_msg *c = &t->msgs[t->nmsgs];
    c->tick = m->tick;
    c->json = strndup(m->json, m->len);
    c->alert = strdup(m->alert);
    c->firing = m->firing;
    c->seq = m->seq;
    if (!c->json || !c->alert) {
        free(c->json);
        free(c->alert);
        return jd_errf(JD_ERR_NOMEM, errstr, errstr_size, "out of memory");
    }
    t->nmsgs++;
    return JD_OK;
}

/* Matches a number expectation: a number, "absent" or "NaN". */
static bool ctl_value_ok(const struct ydoc_node *want, bool has, double v, double tol)
{
    if (!strcmp(want->str, "absent"))
        return !has;
    if (!strcmp(want->str, "NaN") || !strcmp(want->str, "nan"))
        return has && isnan(v);
    char *end;
    double w = strtod(want->str, &end);
    if (*end == '%')
        w /= 100, end++;
    if (*end || !has)
        return false;
    return fabs(v - w) <= tol * fmax(1.0, fabs(w));
}

static double ctl_tolerance(const struct ydoc_node *n)
{
    const struct ydoc_node *t = ctl_get(n, "tolerance");
    return t && t->kind == YDOC_SCALAR ? strtod(t->str, NULL) : 1e-9;
}

/* The labels of \p want (a mapping) are all among the alert's. */
static bool ctl_labels_ok(const struct ydoc_node *want, const struct query_label *l, size_t n)
{
    for (size_t i = 0; want && i < want->n; i += 2) {
        bool hit = false;
        for (size_t k = 0; k < n && !hit; k++)
            hit = !strcmp(l[k].name, want->items[i]->str) &&
                  want->items[i + 1]->kind == YDOC_SCALAR &&
                  !strcmp(l[k].value, want->items[i + 1]->str);
        if (!hit)
            return false;
    }
    return true;
}

static void ctl_describe(const struct engine_alert_view *v, char *buf, size_t size)
{
    size_t w = (size_t)snprintf(buf, size, "%s{", v->alert);
    for (size_t i = 0, k = 0; i < v->nlabels && w < size; i++) {
        if (!strcmp(v->labels[i].name, "alertname"))
            continue;
        w += (size_t)snprintf(buf + w, size - w, "%s%s=\"%s\"", k++ ? ", " : "", v->labels[i].name,
                              v->labels[i].value);
    }
    if (w < size)
        snprintf(buf + w, size - w, "} %s", engine_state_name(v->state));
}

/* Does alert \p v match expectation \p want? (why it does not goes into why) */
static bool ctl_alert_ok(const struct ruleset *rs, const struct ydoc_node *want,
                         const struct engine_alert_view *v, char *why, size_t why_size)
{
    const struct ydoc_node *n;
    double tol = ctl_tolerance(want);
    why[0] = '\0';
    if ((n = ctl_get(want, "alertname")) && strcmp(n->str, v->alert))
        return false;
    if (!ctl_labels_ok(ctl_get(want, "labels"), v->labels, v->nlabels))
        return false;
    n = ctl_get(want, "state");
    if (strcmp(n ? n->str : "firing", engine_state_name(v->state))) {
        snprintf(why, why_size, "state is %s, expected %s", engine_state_name(v->state),
                 n ? n->str : "firing");
        return false;
    }
    if ((n = ctl_get(want, "value")) && !ctl_value_ok(n, v->has_value, v->value, tol)) {
        snprintf(why, why_size, "value is %.17g%s, expected %s", v->value,
                 v->has_value ? "" : " (absent)", n->str);
        return false;
    }
    if ((n = ctl_get(want, "threshold")) && !ctl_value_ok(n, v->has_threshold, v->threshold, tol)) {
        snprintf(why, why_size, "threshold is %.17g%s, expected %s", v->threshold,
                 v->has_threshold ? "" : " (absent)", n->str);
        return false;
    }
    const struct ydoc_node *anns = ctl_get(want, "annotations");
    const struct rule *r = ruleset_find(rs, v->group, v->alert);
    struct template_label tl[128];
    size_t nl = v->nlabels < 128 ? v->nlabels : 128;
    for (size_t i = 0; i < nl; i++)
        tl[i] = (struct template_label){ v->labels[i].name, v->labels[i].value };
    struct template_ctx ctx = { v->has_value, v->value, v->has_threshold, v->threshold, tl, nl };
    for (size_t i = 0; anns && r && i < anns->n; i += 2) {
        const char *name = anns->items[i]->str, *text = anns->items[i + 1]->str;
        char got[4096] = "(no such annotation)";
        for (size_t k = 0; k < r->nannotations; k++)
            if (!strcmp(r->annotations[k].name, name))
                template_render(r->annotations[k].tmpl, &ctx, got, sizeof(got));
        if (!text || strcmp(got, text)) {
            snprintf(why, why_size, "annotation %s is \"%s\", expected \"%s\"", name, got,
                     text ? text : "");
            return false;
        }
    }
    return true;
}

static void ctl_check_at(struct ctl_test *t, const struct ruleset *rs, struct engine *eng,
                         const struct ydoc_node *exp, int64_t at)
{
    const struct ydoc_node *alerts = ctl_get(exp, "alerts");
    char ts[TS_RFC3339_SIZE], desc[1024], why[1200];
    size_t n = engine_nalerts(eng), nwant = alerts && alerts->kind == YDOC_SEQ ? alerts->n : 0;
    bool *used = calloc(n + 1, sizeof(*used));
    ts_format_rfc3339(at, ts, sizeof(ts));
    if (!used) {
        ctl_fail(t, exp, "out of memory");
        return;
    }
    for (size_t w = 0; w < nwant; w++) {
        const struct ydoc_node *want = alerts->items[w];
        bool found = false;
        char best[1200] = "";
        for (size_t i = 0; i < n && !found; i++) {
            struct engine_alert_view v;
            engine_alert_at(eng, i, &v);
            if (used[i] || v.state == ENGINE_INACTIVE || !ctl_watched(t, v.alert))
                continue;
            if (ctl_alert_ok(rs, want, &v, why, sizeof(why))) {
                used[i] = found = true;
            } else if (why[0] && !best[0]) {
                ctl_describe(&v, desc, sizeof(desc));
                snprintf(best, sizeof(best), "%.500s: %.600s", desc, why);
            }
        }
        if (!found)
            ctl_fail(t, want, "at %s: expected alert not found%s%s", ts,
                     best[0] ? "; closest: " : "", best);
    }
    for (size_t i = 0; i < n; i++) {
        struct engine_alert_view v;
        engine_alert_at(eng, i, &v);
        if (used[i] || v.state == ENGINE_INACTIVE || !ctl_watched(t, v.alert))
            continue;
        ctl_describe(&v, desc, sizeof(desc));
        ctl_fail(t, exp, "at %s: unexpected alert %s (value %.17g)", ts, desc, v.value);
    }
    free(used);
}

/* Why message \p m does not match expectation \p w ("" when it does). */
static void ctl_msg_why(struct ctl_test *t, const struct ydoc_node *w, const struct ctl_msg *m,
                        char *why, size_t size)
{
    const struct ydoc_node *n;
    json_t *o = json_loads(m->json, 0, NULL);
    json_t *a = json_array_get(json_object_get(o, "alerts"), 0);
    const char *state = json_string_value(json_object_get(a, "state"));
    int64_t at;
    why[0] = '\0';
    if (!state)
        state = "(none)";
    if ((n = ctl_get(w, "at")) && ctl_time(t, n, &at) && at != m->tick) {
        char g[TS_RFC3339_SIZE];
        ts_format_rfc3339(m->tick, g, sizeof(g));
        snprintf(why, size, "published at %s, expected %s", g, n->str);
    } else if ((n = ctl_get(w, "alertname")) && strcmp(n->str, m->alert)) {
        snprintf(why, size, "alertname %s, expected %s", m->alert, n->str);
    } else if ((n = ctl_get(w, "status")) && strcmp(n->str, m->firing ? "firing" : "resolved")) {
        snprintf(why, size, "status %s, expected %s", m->firing ? "firing" : "resolved", n->str);
    } else if ((n = ctl_get(w, "state")) && strcmp(n->str, state)) {
        snprintf(why, size, "state %s, expected %s", state, n->str);
    } else if ((n = ctl_get(w, "seq")) && strtoull(n->str, NULL, 10) != m->seq) {
        snprintf(why, size, "seq %llu, expected %s", (unsigned long long)m->seq, n->str);
    } else if ((n = ctl_get(w, "value"))) {
        json_t *v = json_object_get(a, "value");
        if (!ctl_value_ok(n, json_is_number(v), json_number_value(v), ctl_tolerance(w)))
            snprintf(why, size, "value %.17g, expected %s", json_number_value(v), n->str);
    }
    const struct ydoc_node *labels = ctl_get(w, "labels"), *anns = ctl_get(w, "annotations");
    for (size_t k = 0; !why[0] && labels && k < labels->n; k += 2) {
        json_t *v = json_object_get(json_object_get(a, "labels"), labels->items[k]->str);
        if (!json_is_string(v) || strcmp(json_string_value(v), labels->items[k + 1]->str))
            snprintf(why, size, "label %s is %s, expected %s", labels->items[k]->str,
                     json_is_string(v) ? json_string_value(v) : "(none)",
                     labels->items[k + 1]->str);
    }
    for (size_t k = 0; !why[0] && anns && k < anns->n; k += 2) {
        json_t *v = json_object_get(json_object_get(a, "annotations"), anns->items[k]->str);
        if (!json_is_string(v) || strcmp(json_string_value(v), anns->items[k + 1]->str))
            snprintf(why, size, "annotation %s is \"%s\", expected \"%s\"", anns->items[k]->str,
                     json_is_string(v) ? json_string_value(v) : "(none)", anns->items[k + 1]->str);
    }
    if (!why[0] && (n = ctl_get(w, "json")) && strcmp(n->str, m->json))
        snprintf(why, size, "message differs:\n      got:      %.600s\n      expected: %.600s",
                 m->json, n->str);
    json_decref(o);
}

/*
 * messages: every message, in order. messages_include: these, in this order,
 * among others. message_count: how many in all.
 */
static void ctl_check_messages(struct ctl_test *t, const struct ydoc_node *tc)
{
    const struct ydoc_node *want = ctl_get(tc, "messages"), *inc = ctl_get(tc, "messages_include"),
                           *cnt = ctl_get(tc, "message_count");
    char why[1600];
    if (cnt && strtoull(cnt->str ? cnt->str : "", NULL, 10) != t->nmsgs)
        ctl_fail(t, cnt, "%zu messages published, expected %s", t->nmsgs, cnt->str);
    for (size_t i = 0; want && want->kind == YDOC_SEQ && (i < want->n || i < t->nmsgs); i++) {
        if (i >= want->n) {
            ctl_fail(t, want, "unexpected message %zu: %s", i + 1, t->msgs[i].json);
            continue;
        }
        if (i >= t->nmsgs) {
            ctl_fail(t, want->items[i], "expected message %zu was not published", i + 1);
            continue;
        }
        ctl_msg_why(t, want->items[i], &t->msgs[i], why, sizeof(why));
        if (why[0])
            ctl_fail(t, want->items[i], "message %zu (%s seq %llu): %s", i + 1, t->msgs[i].alert,
                     (unsigned long long)t->msgs[i].seq, why);
    }
    size_t from = 0;
    for (size_t i = 0; inc && inc->kind == YDOC_SEQ && i < inc->n; i++) {
        size_t k = from;
        for (; k < t->nmsgs; k++) {
            ctl_msg_why(t, inc->items[i], &t->msgs[k], why, sizeof(why));
            if (!why[0])
                break;
        }
        if (k == t->nmsgs) {
            ctl_fail(t, inc->items[i], "no such message%s (among %zu published)",
                     from ? " after the previous one" : "", t->nmsgs);
            continue;
        }
        from = k + 1;
    }
}

struct ctl_exp {
    const struct ydoc_node *node;
    int64_t at;
};

static int ctl_exp_cmp(const void *a, const void *b)
{
    const struct ctl_exp *x = a, *y = b;
    return x->at < y->at ? -1 : x->at > y->at;
}

/* Runs one test case; failures are appended to t->fails. */
/* The case's events, in the order the engine sees them, for an end-to-end run through Kafka. */
static bool ctl_write_events(const struct ctl_test *t, const struct ctl_events *evs)
{
    char path[4200];
    snprintf(path, sizeof(path), "%s/%d.ndjson", t->events_out, t->ncase);
    FILE *f = fopen(path, "w");
    if (!f)
        return false;
    for (size_t i = 0; i < evs->n; i++)
        fprintf(f, "%.*s\n", (int)evs->v[i].len, evs->v[i].msg);
    return fclose(f) == 0;
}

static void ctl_run_case(struct ctl_test *t, const struct ruleset *rs, const struct config *cfg,
                         int64_t lateness, const struct ydoc_node *tc)
{
    struct ctl_events evs = { 0 };
    struct ctl_exp *exps = NULL;
    size_t nexp = 0;
    struct backtest *bt = NULL;
    char err[JD_ERRSTR_SIZE];
    const struct ydoc_node *n, *expect = ctl_get(tc, "expect");
    struct engine_opts eo = { cfg->kafka.topics.alerts, "", (size_t)cfg->limits.series_per_rule };

    t->watch = ctl_get(tc, "watch");
    if (!ctl_events(t, ctl_get(tc, "events"), &evs))
        goto out;
    if (!((n = ctl_get(tc, "sort")) && !strcmp(n->str, "false")) && evs.n > 1)
        qsort(evs.v, evs.n, sizeof(*evs.v), ctl_event_cmp);
    if (t->events_out && !ctl_write_events(t, &evs))
        ctl_fail(t, tc, "cannot write %s/%d.ndjson", t->events_out, t->ncase);
    if (expect && expect->kind == YDOC_SEQ && expect->n &&
        !(exps = calloc(expect->n, sizeof(*exps))))
        goto out;
    for (size_t i = 0; expect && i < expect->n; i++) {
        exps[nexp].node = expect->items[i];
        if (ctl_time(t, ctl_get(expect->items[i], "at"), &exps[nexp].at))
            nexp++;
    }
    qsort(exps, nexp, sizeof(*exps), ctl_exp_cmp);
    if (!(bt = backtest_new(rs, lateness, &eo, ctl_record, t, err, sizeof(err)))) {
        ctl_fail(t, tc, "%s", err);
        goto out;
    }
    size_t ei = 0;
    for (size_t i = 0; i < evs.n; i++) {
        if (event_decode(t->dec, evs.v[i].msg, evs.v[i].len, NULL, 0, INT64_MAX, t->ev, err,
                         sizeof(err))) {
            ctl_fail(t, tc, "event %zu: %s", i + 1, err);
            goto out;
        }
        for (; ei < nexp && t->ev->ts_ms - lateness >= exps[ei].at; ei++) {
            if (backtest_advance(bt, exps[ei].at, err, sizeof(err))) {
                ctl_fail(t, tc, "%s", err);
                goto out;
            }
            ctl_check_at(t, rs, backtest_engine(bt), exps[ei].node, exps[ei].at);
        }
        if (backtest_event(bt, t->ev, err, sizeof(err))) {
            ctl_fail(t, tc, "%s", err);
            goto out;
        }
    }
    for (; ei < nexp; ei++) {
        if (backtest_advance(bt, exps[ei].at, err, sizeof(err))) {
            ctl_fail(t, tc, "%s", err);
            goto out;
        }
        ctl_check_at(t, rs, backtest_engine(bt), exps[ei].node, exps[ei].at);
    }
    const struct backtest_stats *st = backtest_stats(bt);
    int64_t until;
    if ((n = ctl_get(tc, "until")) && ctl_time(t, n, &until))
        backtest_advance(bt, until, err, sizeof(err));
    else if (st->last_ts != INT64_MIN)
        backtest_advance(bt, st->last_ts, err, sizeof(err));
    if (st->rule_errors)
        ctl_fail(t, tc, "%llu rule evaluations failed; the first: %s",
                 (unsigned long long)st->rule_errors, st->first_rule_error);
    ctl_check_messages(t, tc);
out:
    backtest_destroy(bt);
    for (size_t i = 0; i < evs.n; i++)
        free(evs.v[i].msg);
    free(evs.v);
    free(exps);
}

static void ctl_test_reset(struct ctl_test *t)
{
    for (size_t i = 0; i < t->nmsgs; i++) {
        free(t->msgs[i].json);
        free(t->msgs[i].alert);
    }
    t->nmsgs = 0;
    for (size_t i = 0; i < t->nfails; i++)
        free(t->fails[i]);
    t->nfails = 0;
}

/* Runs every case of one test file; returns the number of failed cases (-1: the file itself). */
static int ctl_test_file(const char *path, const struct config *cfg, bool tap,
                         const char *events_out, int *ncase, struct event_decoder *dec,
                         struct event *ev)
{
    char err[4096];
    struct ctl_test t = { .file = path, .dec = dec, .ev = ev, .events_out = events_out };
    struct ydoc *doc = ydoc_load(path, err, sizeof(err));
    struct ruleset *rs = NULL;
    struct rule_diags d = { 0 };
    int failed = 0;
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s", path);
    snprintf(t.dir, sizeof(t.dir), "%s", dirname(tmp));

    const struct ydoc_node *root = doc ? ydoc_root(doc) : NULL;
    const struct ydoc_node *files = ctl_get(root, "rule_files"), *tests = ctl_get(root, "tests");
    if (!root || !files || files->kind != YDOC_SEQ || !tests || tests->kind != YDOC_SEQ) {
        if (doc)
            snprintf(err, sizeof(err), "%s: expected rule_files: [...] and tests: [...]", path);
        goto broken;
    }
    char *paths[64];
    size_t np = 0;
    for (size_t i = 0; i < files->n && np < 64; i++) {
        const char *f = files->items[i]->str ? files->items[i]->str : "";
        size_t len = strlen(t.dir) + strlen(f) + 2;
        if ((paths[np] = malloc(len)))
            snprintf(paths[np++], len, "%s%s%s", f[0] == '/' ? "" : t.dir, f[0] == '/' ? "" : "/",
                     f);
    }
    struct window_retention ret = rule_retention(cfg);
    rs = ruleset_load(paths, np, &ret, &d);
    for (size_t i = 0; i < np; i++)
        free(paths[i]);
    if (!rs) {
        size_t w = 0;
        err[0] = '\0';
        for (size_t i = 0; i < d.n && w < sizeof(err); i++)
            w += (size_t)snprintf(err + w, sizeof(err) - w, "%s%s", i ? "\n" : "", d.v[i]);
        goto broken;
    }
    int64_t lateness = cfg->rules.lateness_ms;
    const struct ydoc_node *ln = ctl_get(root, "lateness");
    if (ln && !ctl_duration(&t, ln, &lateness)) {
        snprintf(err, sizeof(err), "%s", t.fails[0]);
        goto broken;
    }
    for (size_t i = 0; i < tests->n; i++) {
        const struct ydoc_node *tc = tests->items[i], *name = ctl_get(tc, "name");
        ctl_test_reset(&t);
        t.ncase = ++(*ncase);
        ctl_run_case(&t, rs, cfg, lateness, tc);
        const char *nm = name && name->str ? name->str : "(unnamed)";
        if (tap)
            printf("%s %d - %s: %s\n", t.nfails ? "not ok" : "ok", *ncase, path, nm);
        else
            printf("  %-60s %s\n", nm, t.nfails ? "FAILED" : "ok");
        for (size_t k = 0; k < t.nfails; k++)
            printf("%s    %s\n", tap ? "#" : "", t.fails[k]);
        failed += t.nfails > 0;
    }
    goto out;
broken:
    (*ncase)++;
    if (tap)
        printf("not ok %d - %s\n", *ncase, path);
    for (char *l = strtok(err, "\n"); l; l = strtok(NULL, "\n"))
        printf("%s    %s\n", tap ? "#" : "", l);
    failed = -1;
out:
    ctl_test_reset(&t);
    free(t.msgs);
    free(t.fails);
    ruleset_destroy(rs);
    rule_diags_free(&d);
    ydoc_destroy(doc);
    return failed;
}

int ctl_test_rules(const char *cfgpath, int argc, char **argv)
{
    bool tap = false;
    const char *events_out = NULL;
    int first = 0, ncase = 0, nfail = 0, rc = 0;
    for (; first < argc && argv[first][0] == '-'; first++) {
        if (!strcmp(argv[first], "--tap"))
            tap = true;
        else if (!strcmp(argv[first], "--events-out") && first + 1 < argc)
            events_out = argv[++first];
        else
            break;
    }
    char err[JD_ERRSTR_SIZE];
    struct event_decoder_opts dopts;
    if (argc <= first) {
        fprintf(stderr, "usage: journeyctl test rules [--tap] [--events-out DIR] TEST.yaml...\n");
        return EXIT_USAGE;
    }
    struct config *cfg = ctl_config(cfgpath);
    if (!cfg)
        return EXIT_CONFIG;
    event_decoder_opts_from_config(&dopts, cfg);
    struct event_decoder *dec = event_decoder_new(&dopts, err, sizeof(err));
    struct event *ev = malloc(sizeof(*ev));
    if (!dec || !ev) {
        fprintf(stderr, "journeyctl: %s\n", dec ? "out of memory" : err);
        rc = 1;
        goto out;
    }
    for (int i = first; i < argc; i++) {
        if (!tap)
            printf("Unit Testing: %s\n", argv[i]);
        int f = ctl_test_file(argv[i], cfg, tap, events_out, &ncase, dec, ev);
        nfail += f < 0 ? 1 : f;
    }
    if (tap)
        printf("1..%d\n", ncase);
    else
        printf("%s: %d of %d tests passed\n", nfail ? "FAILED" : "SUCCESS", ncase - nfail, ncase);
    rc = nfail ? 1 : 0;
out:
    free(ev);
    event_decoder_destroy(dec);
    config_destroy(cfg);
    return rc;
}
