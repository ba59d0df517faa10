/*
 * status.c — renders the status page (status.h). Reads the daemon's parts
 * like admin.c does; owns only the cached attribution chart and the Redis
 * connection that reads it (the pipeline's connection usually has a batch
 * in flight, so it is not borrowed).
 */
#include "observe/status.h"

#include "attribute/chart.h"
#include "attribute/model.h"
#include "core/hash.h"
#include "core/jd.h"
#include "core/tally.h"
#include "core/ts.h"
#include "evaluate/engine.h"
#include "evaluate/expr.h"
#include "evaluate/query.h"
#include "evaluate/template.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STATUS_CHART_TTL_MS 30000
#define STATUS_MAX_PARTS    4096
#define STATUS_MAX_CHANNELS 24

struct status {
    struct store *store; /* for the chart only */
    char config_hash[17];
    char *svg; /* cached chart, NULL: none */
    char chart_note[JD_ERRSTR_SIZE + 64];
    int64_t chart_at; /* monotonic ms of the last refresh */
};

/* The config file's hash, so two instances can be compared at a glance. */
static void status_config_hash(const char *path, char out[17])
{
    snprintf(out, 17, "-");
    FILE *f = path ? fopen(path, "rb") : NULL;
    if (!f)
        return;
    char buf[65536];
    uint64_t h = 0;
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
        h = hash64(buf, n, h);
    fclose(f);
    snprintf(out, 17, "%016llx", (unsigned long long)h);
}

struct status *status_new(const struct admin_src *src, char *errstr, size_t errstr_size)
{
    struct status *s = calloc(1, sizeof(*s));
    struct store_opts so;
    if (!s) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    store_opts_from_config(&so, src->cfg);
    if (!(s->store = store_new(&so, errstr, errstr_size))) {
        free(s);
        return NULL;
    }
    status_config_hash(src->config_path, s->config_hash);
    return s;
}

void status_destroy(struct status *s)
{
    if (!s)
        return;
    store_destroy(s->store);
    free(s->svg);
    free(s);
}

static const char *status_label(const struct query_sample *q, const char *name)
{
    for (size_t i = 0; i < q->nlabels; i++)
        if (!strcmp(q->labels[i].name, name))
            return q->labels[i].value;
    return "";
}

/* Credited value by channel × model over the day before \p at, as an SVG chart. */
static void status_chart(struct status *s, int64_t at)
{
    struct query_result res = { 0 };
    char err[JD_ERRSTR_SIZE] = "";
    const char *groups[STATUS_MAX_CHANNELS], *series[MODEL_N];
    double v[STATUS_MAX_CHANNELS * MODEL_N];
    size_t ng = 0;
    struct expr_node *e =
        expr_parse("sum by (model, channel) (credit.value[1d])", err, sizeof(err));
    free(s->svg);
    s->svg = NULL;
    if (!store_is_connected(s->store) && store_connect(s->store, err, sizeof(err)) != JD_OK)
        goto fail;
    if (!e || query_eval(s->store, NULL, e, at, &res, err, sizeof(err)) != JD_OK) {
        store_disconnect(s->store);
        goto fail;
    }
    for (size_t i = 0; i < STATUS_MAX_CHANNELS * MODEL_N; i++)
        v[i] = NAN;
    for (int m = 0; m < MODEL_N; m++)
        series[m] = model_name((enum model_id)m);
    for (size_t i = 0; i < res.n; i++) {
        enum model_id m;
        const char *ch = status_label(&res.v[i], "channel");
        const char *mn = status_label(&res.v[i], "model");
        if (!model_from_name(jd_str_c(mn), &m) || res.v[i].none)
            continue;
        size_t g = 0;
        while (g < ng && strcmp(groups[g], ch))
            g++;
        if (g == ng) {
            if (ng == STATUS_MAX_CHANNELS)
                continue;
            groups[ng++] = ch;
        }
        v[g * MODEL_N + m] = res.v[i].value;
    }
    if (!ng) {
        snprintf(s->chart_note, sizeof(s->chart_note),
                 "No conversions credited in the day before the watermark.");
        goto out;
    }
    struct chart_panel panel = { "Attributed value, last day", v, "" };
    struct chart c = { "Attribution by channel and model", groups, ng, series, MODEL_N, &panel, 1 };
    if (!(s->svg = chart_svg(&c, NULL)))
        snprintf(s->chart_note, sizeof(s->chart_note), "Out of memory drawing the chart.");
    goto out;
fail:
    snprintf(s->chart_note, sizeof(s->chart_note), "Chart not available: %s", err);
out:
    expr_free(e);
    query_result_free(&res);
}

static void status_time(struct metrics_buf *b, int64_t ms)
{
    char t[TS_RFC3339_SIZE];
    if (ms == INT64_MIN || ms == 0) {
        metrics_printf(b, "never");
        return;
    }
    ts_format_rfc3339(ms, t, sizeof(t));
    metrics_html(b, t);
}

static void status_head(struct status *s, const struct admin_src *src, struct metrics_buf *b)
{
    const struct admin_stats *st = src->stats;
    char url[1024];
    config_redact_url(src->cfg->redis.url, url, sizeof(url));
    metrics_printf(b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                      "<meta http-equiv=\"refresh\" content=\"15\">"
                      "<title>journeyd status</title><style>"
                      "body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}"
                      "table{border-collapse:collapse;margin:.5em 0 1.5em}"
                      "td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}"
                      "th{background:#f3f3f3}.firing{background:#f8d7da}"
                      ".pending{background:#fff3cd}.ok{color:#176f2c}.bad{color:#a61b29}"
                      "</style></head><body>\n<h1>journeyd</h1>\n<table>");
    metrics_printf(b, "<tr><th>version</th><td>%s (librdkafka %s)</td></tr>", JD_VERSION,
                   rd_kafka_version_str());
    metrics_printf(b, "<tr><th>instance</th><td>");
    metrics_html(b, src->owner);
    metrics_printf(b, "</td></tr><tr><th>started</th><td>");
    status_time(b, st->started_ms);
    metrics_printf(b, "</td></tr><tr><th>config</th><td>");
    metrics_html(b, src->config_path ? src->config_path : "(defaults)");
    metrics_printf(b, " (hash %s)</td></tr><tr><th>last reload</th><td class=\"%s\">%s at ",
                   s->config_hash, st->last_reload_ok ? "ok" : "bad",
                   st->last_reload_ok ? "successful" : "FAILED");
    status_time(b, st->last_reload_try_ms);
    if (!st->last_reload_ok) {
        metrics_printf(b, ": ");
        metrics_html(b, st->last_reload_error);
    }
    metrics_printf(b, "</td></tr><tr><th>ready</th><td class=\"%s\">%s</td></tr>",
                   admin_ready(src) ? "ok" : "bad", admin_ready(src) ? "yes" : "no");
    metrics_printf(b, "<tr><th>Redis</th><td class=\"%s\">",
                   store_is_connected(src->store) ? "ok" : "bad");
    metrics_html(b, url);
    metrics_printf(b, " — %s, %llu round trips</td></tr></table>\n",
                   store_is_connected(src->store) ? "connected" : "NOT CONNECTED",
                   (unsigned long long)store_round_trips(src->store));
}

static void status_kafka(const struct admin_src *src, struct metrics_buf *b)
{
    int32_t parts[STATUS_MAX_PARTS];
    int64_t offs[STATUS_MAX_PARTS];
    size_t np = pipeline_positions(src->pipe, parts, offs, STATUS_MAX_PARTS);
    metrics_printf(b, "<h2>Kafka</h2><p>Topic <b>");
    metrics_html(b, src->cfg->kafka.topics.events);
    metrics_printf(b, "</b>, group <b>");
    metrics_html(b, src->cfg->kafka.group);
    metrics_printf(b, "</b>: %zu partitions assigned; watermark ",
                   consume_assigned_count(src->cons));
    status_time(b, evaluator_watermark(src->ev));
    metrics_printf(b, ".</p>\n<table><tr><th>partition</th><th>applied offset</th><th>lag</th>"
                      "<th>stream time</th></tr>");
    for (size_t i = 0; i < np; i++) {
        int64_t lag = consume_lag(src->cons, &parts[i], &offs[i], 1);
        metrics_printf(b, "<tr><td>%d</td><td>%lld</td><td>%lld</td><td>", (int)parts[i],
                       (long long)offs[i], (long long)lag);
        status_time(b, pipeline_stream_time(src->pipe, parts[i]));
        metrics_printf(b, "</td></tr>");
    }
    metrics_printf(b, "</table>\n");
}

/* The rule's most severe alert (firing, then pending), NULL when none is active. */
static bool status_rule_alert(const struct engine *eng, const char *group, const char *alert,
                              struct engine_alert_view *out, size_t *nactive)
{
    bool found = false;
    *nactive = 0;
    for (size_t i = 0; i < engine_nalerts(eng); i++) {
        struct engine_alert_view v;
        engine_alert_at(eng, i, &v);
        if (v.state == ENGINE_INACTIVE || strcmp(v.group, group) || strcmp(v.alert, alert))
            continue;
        ++*nactive;
        if (!found || v.state > out->state) {
            *out = v;
            found = true;
        }
    }
    return found;
}

static void status_rules(const struct admin_src *src, struct metrics_buf *b)
{
    const struct ruleset *rs = evaluator_ruleset(src->ev);
    const struct engine *eng = evaluator_engine(src->ev);
    const struct evaluator_status *st = evaluator_status(src->ev);
    metrics_printf(b, "<h2>Rules</h2><p>%zu rules in %zu groups. %s</p>\n", rs->nrules, rs->ngroups,
                   st->leader ? "This instance evaluates them."
                              : "Another instance of the group holds the lease and evaluates "
                                "them; states below are this instance's (standby).");
    metrics_printf(b, "<table><tr><th>group</th><th>rule</th><th>state</th><th>value</th>"
                      "<th>active alerts</th><th>last evaluation (event time)</th>"
                      "<th>evaluations</th><th>health</th></tr>");
    for (size_t ri = 0; ri < rs->nrules; ri++) {
        const struct rule *r = &rs->rules[ri];
        const char *group = rs->groups[r->group].name;
        const struct engine_rule_stats *rst = engine_rule_stats(eng, ri);
        struct engine_alert_view v;
        size_t nactive;
        bool active = status_rule_alert(eng, group, r->alert, &v, &nactive);
        const char *state = active ? engine_state_name(v.state) : "inactive";
        char val[64] = "";
        if (active && v.has_value)
            template_format_number(v.value, val, sizeof(val));
        metrics_printf(b, "<tr class=\"%s\" data-rule=\"", state);
        metrics_html(b, r->alert);
        metrics_printf(b, "\"><td>");
        metrics_html(b, group);
        metrics_printf(b, "</td><td title=\"");
        metrics_html(b, r->expr_text);
        metrics_printf(b, "\">");
        metrics_html(b, r->alert);
        metrics_printf(b, "</td><td>%s</td><td>%s</td><td>%zu</td><td>", state, val, nactive);
        status_time(b, rst->last_tick);
        metrics_printf(b, "</td><td>%llu</td><td class=\"%s\">",
                       (unsigned long long)rst->evaluations,
                       !rst->evaluations    ? ""
                       : rst->last_error[0] ? "bad"
                                            : "ok");
        metrics_html(b, !rst->evaluations    ? "not evaluated yet"
                        : rst->last_error[0] ? rst->last_error
                                             : "ok");
        metrics_printf(b, "</td></tr>");
    }
    metrics_printf(b, "</table>\n<h2>Recent alert messages</h2>");
    if (!st->nrecent)
        metrics_printf(b, "<p>None sent by this instance yet.</p>\n");
    else
        metrics_printf(b, "<table><tr><th>sent</th><th>alert</th><th>group</th><th>status</th>"
                          "<th>seq</th><th>event time</th><th>fingerprint</th></tr>");
    for (size_t k = 0; k < st->nrecent; k++) {
        const struct evaluator_recent *m =
            &st->recent[(st->recent_next + EVALUATOR_RECENT - 1 - k) % EVALUATOR_RECENT];
        metrics_printf(b, "<tr class=\"%s\"><td>", m->firing ? "firing" : "");
        status_time(b, m->wall_ms);
        metrics_printf(b, "</td><td>");
        metrics_html(b, m->alert);
        metrics_printf(b, "</td><td>");
        metrics_html(b, m->group);
        metrics_printf(b, "</td><td>%s</td><td>%llu</td><td>", m->firing ? "firing" : "resolved",
                       (unsigned long long)m->seq);
        status_time(b, m->tick);
        metrics_printf(b, "</td><td>%s</td></tr>", m->fingerprint);
    }
    if (st->nrecent)
        metrics_printf(b, "</table>\n");
}

static void status_events(const struct admin_src *src, struct metrics_buf *b)
{
    const struct pipeline_counters *c = pipeline_counters(src->pipe);
    const uint64_t *by = pipeline_dlq_reasons(src->pipe);
    uint64_t dlq = 0;
    for (size_t i = 0; i < JD_EV_REASONS; i++)
        dlq += by[i];
    metrics_printf(b,
                   "<h2>Events</h2><table><tr><th>applied</th><th>late</th><th>duplicate</th>"
                   "<th>too old</th><th>dead letters</th><th>batches</th></tr><tr><td>%llu</td>"
                   "<td>%llu</td><td>%llu</td><td>%llu</td><td>%llu</td><td>%llu</td></tr>"
                   "</table>\n",
                   (unsigned long long)c->ok, (unsigned long long)c->late,
                   (unsigned long long)c->dup, (unsigned long long)c->too_old,
                   (unsigned long long)dlq, (unsigned long long)c->batches);
}

void status_render(struct status *s, const struct admin_src *src, struct metrics_buf *out)
{
    int64_t now = ts_mono_ms();
    status_head(s, src, out);
    status_kafka(src, out);
    status_events(src, out);
    status_rules(src, out);
    if (!s->chart_at || now - s->chart_at >= STATUS_CHART_TTL_MS) {
        int64_t wm = evaluator_watermark(src->ev);
        int64_t at = wm != INT64_MIN ? wm : ts_now_ms();
        status_chart(s, ts_floor_div(at, 60000) * 60000); /* ranges end on whole minutes */
        s->chart_at = now;
    }
    metrics_printf(out, "<h2>Attribution</h2>\n");
    if (s->svg)
        metrics_printf(out, "<figure>%s</figure>\n", s->svg);
    else
        metrics_printf(out, "<p>%s</p>\n", s->chart_note);
    metrics_printf(out, "<p><a href=\"/metrics\">metrics</a> · <a href=\"/api/v1/rules\">rules "
                        "API</a> · <a href=\"/api/v1/alerts\">alerts API</a></p></body></html>\n");
}
