/*
 * admin.c — what each HTTP path answers (see admin.h): the metric families
 * and where their values live, readiness, reload, and the Prometheus API
 * shapes for rules and alerts. The status page is status.c's; the server
 * itself is observe/http.c's. It changes nothing in the daemon except
 * through the reload callback.
 */
#include "admin.h"

#include "aggregate/card.h"

#include "attribute/attr.h"
#include "attribute/model.h"
#include "core/jd.h"
#include "core/tally.h"
#include "core/ts.h"
#include "evaluate/engine.h"
#include "evaluate/template.h"
#include "observe/http.h"
#include "observe/status.h"

#include <hiredis/hiredis.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ADMIN_MAX_PARTS 4096

struct admin {
    struct admin_src src;
    struct http *http;
    struct status *status;
};

bool admin_ready(const struct admin_src *s)
{
    return store_is_connected(s->store) && consume_assignment_version(s->cons) > 0 &&
           pipeline_all_active(s->pipe);
}

/* ------------------------------------------------------------ /metrics */

static void admin_gauge(struct metrics_buf *b, const char *name, const char *help, double v)
{
    metrics_family(b, name, "gauge", help);
    metrics_sample(b, name, NULL, v);
}

static void admin_counter(struct metrics_buf *b, const char *name, const char *help, double v)
{
    metrics_family(b, name, "counter", help);
    metrics_sample(b, name, NULL, v);
}

static void admin_metrics_events(struct metrics_buf *b, const struct admin_src *s)
{
    static const char *const outcomes[PIPELINE_NOUTCOMES] = { "ok", "late", "duplicate",
                                                              "too_old" };
    const struct tally *t = pipeline_event_tally(s->pipe);
    const uint64_t *by = pipeline_dlq_reasons(s->pipe);
    uint64_t dlq = 0;
    for (size_t i = 0; i < JD_EV_REASONS; i++)
        dlq += by[i];
    metrics_family(b, "journeyd_events_total", "counter",
                   "Events consumed, by type and outcome (ok, late: applied behind the watermark, "
                   "duplicate, too_old, dlq); type is empty for dead letters.");
    for (size_t r = 0; r < tally_rows(t); r++)
        for (size_t o = 0; o < PIPELINE_NOUTCOMES; o++) {
            const char *kv[] = { "type", tally_label(t, r), "outcome", outcomes[o], NULL };
            metrics_sample(b, "journeyd_events_total", kv, (double)tally_total(t, r, o));
        }
    const char *kvd[] = { "type", "", "outcome", "dlq", NULL };
    metrics_sample(b, "journeyd_events_total", kvd, (double)dlq);

    metrics_family(b, "journeyd_dlq_messages_total", "counter",
                   "Messages sent to the dead-letter topic, by reason (counted once their "
                   "batch is applied).");
    for (size_t i = 0; i < JD_EV_REASONS; i++) {
        const char *reason =
            i + 1 < JD_EV_REASONS ? jd_err2name((enum jd_err)(JD_ERR_EV_EMPTY - (int)i)) : "other";
        const char *kv[] = { "reason", reason, NULL };
        metrics_sample(b, "journeyd_dlq_messages_total", kv, (double)by[i]);
    }
}

static int admin_by_series(const void *x, const void *y, void *ctx)
{
    size_t nx, ny;
    card_type_at(ctx, *(const size_t *)x, &nx);
    card_type_at(ctx, *(const size_t *)y, &ny);
    return nx != ny ? (nx > ny ? -1 : 1) : 0;
}

/* The cardinality guard (card.h): how close each type is to its limit. */
static void admin_metrics_series(struct metrics_buf *b, const struct admin_src *s)
{
    const struct card *c = pipeline_card(s->pipe);
    size_t nt = card_ntypes(c), *order = nt ? malloc(nt * sizeof(*order)) : NULL;
    admin_gauge(b, "journeyd_types",
                "Event types in Redis's series index, as this instance knows it.", (double)nt);
    admin_gauge(b, "journeyd_types_limit",
                "limits.types: events of a type beyond it are dead letters.",
                (double)card_max_types(c));
    admin_gauge(
        b, "journeyd_series_limit",
        "limits.series_per_type: an event that would add a series beyond it is a dead letter.",
        (double)card_max_series(c));
    metrics_family(
        b, "journeyd_series", "gauge",
        "Series (label sets) of the event type in Redis's series index, as this instance "
        "knows it (read every 10 s, plus what it made since); the limits.metric_labels "
        "types with most.");
    if (!order)
        return;
    for (size_t i = 0; i < nt; i++)
        order[i] = i;
    qsort_r(order, nt, sizeof(*order), admin_by_series, (void *)c);
    for (size_t i = 0; i < nt && i < (size_t)s->cfg->limits.metric_labels; i++) {
        size_t n;
        struct jd_str type = card_type_at(c, order[i], &n);
        const char *kv[] = { "type", type.p, NULL };
        metrics_sample(b, "journeyd_series", kv, (double)n);
    }
    free(order);
}

static void admin_metrics_kafka(struct metrics_buf *b, const struct admin_src *s)
{
    int32_t parts[ADMIN_MAX_PARTS];
    int64_t offs[ADMIN_MAX_PARTS];
    char pbuf[16];
    size_t np = pipeline_positions(s->pipe, parts, offs, ADMIN_MAX_PARTS);
    admin_gauge(b, "journeyd_kafka_partitions_assigned", "Partitions assigned to this instance.",
                (double)consume_assigned_count(s->cons));
    admin_counter(b, "journeyd_kafka_fetcher_wakes_total",
                  "Times the consumer woke librdkafka's fetcher after draining a full queue "
                  "(librdkafka 2.0.2 would wait up to a second).",
                  (double)consume_fetch_wakes(s->cons));
    metrics_family(b, "journeyd_kafka_consumer_lag", "gauge",
                   "Messages behind the partition's end, from what Redis has applied.");
    for (size_t i = 0; i < np; i++) {
        int64_t lag = consume_lag(s->cons, &parts[i], &offs[i], 1);
        if (lag < 0)
            continue;
        snprintf(pbuf, sizeof(pbuf), "%d", (int)parts[i]);
        const char *kv[] = { "partition", pbuf, NULL };
        metrics_sample(b, "journeyd_kafka_consumer_lag", kv, (double)lag);
    }
    int64_t wm = evaluator_watermark(s->ev);
    if (wm != INT64_MIN)
        admin_gauge(b, "journeyd_watermark_timestamp_seconds",
                    "The consumer group's event-time watermark (unix seconds).",
                    (double)wm / 1000.0);
}

static void admin_metrics_rules(struct metrics_buf *b, const struct admin_src *s)
{
    const struct evaluator_status *st = evaluator_status(s->ev);
    const struct ruleset *rs = evaluator_ruleset(s->ev);
    const struct engine *eng = evaluator_engine(s->ev);
    admin_gauge(b, "journeyd_rules_leader",
                "1 when this instance holds the lease and evaluates the rules.", st->leader);
    admin_gauge(b, "journeyd_rules_loaded", "Rules in force.", (double)rs->nrules);
    static const char *const fam[3] = { "journeyd_rule_evaluations_total",
                                        "journeyd_rule_evaluation_failures_total",
                                        "journeyd_rule_series_limited_total" };
    static const char *const help[3] = {
        "Ticks at which the rule was evaluated (since the rules were last loaded).",
        "Ticks at which the rule's expression could not be evaluated.",
        ("Ticks at which the rule yielded more series than limits.series_per_rule (failures "
         "too: none of its alerts moved)."),
    };
    for (int k = 0; k < 3; k++) {
        metrics_family(b, fam[k], "counter", help[k]);
        for (size_t i = 0; i < rs->nrules; i++) {
            const struct engine_rule_stats *rst = engine_rule_stats(eng, i);
            const char *kv[] = { "group", rs->groups[rs->rules[i].group].name, "rule",
                                 rs->rules[i].alert, NULL };
            uint64_t v = k == 0 ? rst->evaluations : k == 1 ? rst->failures : rst->limited;
            metrics_sample(b, fam[k], kv, (double)v);
        }
    }
    metrics_hist_write(b, "journeyd_rule_group_duration_seconds",
                       "Time to evaluate one rule group at one tick.", &st->group_seconds);
    metrics_family(b, "journeyd_rule_group_last_evaluation_timestamp_seconds", "gauge",
                   "Event time of the group's last evaluated tick (unix seconds).");
    for (size_t g = 0; g < rs->ngroups; g++) {
        int64_t t = engine_last_tick(eng, g);
        if (t == INT64_MIN)
            continue;
        const char *kv[] = { "group", rs->groups[g].name, NULL };
        metrics_sample(b, "journeyd_rule_group_last_evaluation_timestamp_seconds", kv,
                       (double)t / 1000.0);
    }
    size_t npending = 0, nfiring = 0;
    for (size_t i = 0; i < engine_nalerts(eng); i++) {
        struct engine_alert_view v;
        engine_alert_at(eng, i, &v);
        npending += v.state == ENGINE_PENDING;
        nfiring += v.state == ENGINE_FIRING;
    }
    metrics_family(b, "journeyd_alerts", "gauge", "Alerts held by this instance, by state.");
    const char *kvp[] = { "state", "pending", NULL }, *kvf[] = { "state", "firing", NULL };
    metrics_sample(b, "journeyd_alerts", kvp, (double)npending);
    metrics_sample(b, "journeyd_alerts", kvf, (double)nfiring);
    metrics_family(b, "journeyd_alert_messages_total", "counter",
                   "Alert messages produced to the alerts topic, by status.");
    const char *kvmf[] = { "status", "firing", NULL }, *kvmr[] = { "status", "resolved", NULL };
    metrics_sample(b, "journeyd_alert_messages_total", kvmf, (double)st->msgs_firing);
    metrics_sample(b, "journeyd_alert_messages_total", kvmr, (double)st->msgs_resolved);
}

static void admin_metrics_attribution(struct metrics_buf *b, const struct admin_src *s)
{
    const struct tally *t = pipeline_credit_tally(s->pipe);
    const struct tally *sp = pipeline_spend_tally(s->pipe);
    if (t) {
        static const char *const fam[2] = { "journeyd_attributed_conversions_total",
                                            "journeyd_attributed_value_total" };
        static const char *const help[2] = {
            "Conversions credited to the channel by the model (fractions under multi-touch "
            "models).",
            "Conversion value credited to the channel by the model.",
        };
        for (int k = 0; k < 2; k++) {
            metrics_family(b, fam[k], "counter", help[k]);
            for (size_t r = 0; r < tally_rows(t); r++)
                for (int m = 0; m < MODEL_N; m++) {
                    const char *kv[] = { "model", model_name((enum model_id)m), "channel",
                                         tally_label(t, r), NULL };
                    metrics_sample(b, fam[k], kv,
                                   (double)tally_total(t, r, (size_t)(k * MODEL_N + m)) / 1e6);
                }
        }
        const struct attr_counters *ac = pipeline_attr_counters(s->pipe);
        admin_counter(b, "journeyd_attribution_null_paths_total",
                      "Journeys that expired without a conversion.", (double)ac->null_paths);
    }
    metrics_family(b, "journeyd_spend_total", "counter", "Value of `cost` events, by channel.");
    for (size_t r = 0; r < tally_rows(sp); r++) {
        const char *kv[] = { "channel", tally_label(sp, r), NULL };
        metrics_sample(b, "journeyd_spend_total", kv, (double)tally_total(sp, r, 0) / 1e6);
    }
}

static void admin_metrics(struct metrics_buf *b, const struct admin_src *s)
{
    const struct pipeline_counters *c = pipeline_counters(s->pipe);
    const struct admin_stats *st = s->stats;
    char rdk[32], hir[32];
    snprintf(rdk, sizeof(rdk), "%s", rd_kafka_version_str());
    snprintf(hir, sizeof(hir), "%d.%d.%d", HIREDIS_MAJOR, HIREDIS_MINOR, HIREDIS_PATCH);
    metrics_family(b, "journeyd_build_info", "gauge",
                   "Always 1; the labels say which journeyd and libraries run.");
    const char *kvb[] = { "version", JD_VERSION, "librdkafka", rdk, "hiredis", hir, NULL };
    metrics_sample(b, "journeyd_build_info", kvb, 1);

    admin_metrics_events(b, s);
    admin_metrics_series(b, s);
    admin_counter(b, "journeyd_batches_total", "Batches applied in Redis.", (double)c->batches);
    admin_counter(b, "journeyd_batches_refused_total",
                  "Batches Redis refused (partition owned elsewhere, or an offset gap); re-read.",
                  (double)c->refused);
    metrics_hist_write(b, "journeyd_batch_duration_seconds",
                       "Time to decode, attribute and aggregate one batch, until it is sent.",
                       &st->batch_seconds);
    metrics_hist_write(b, "journeyd_flush_duration_seconds",
                       "Time from sending a batch's atomic Redis flush to its outcome.",
                       &st->flush_seconds);
    admin_counter(b, "journeyd_redis_round_trips_total", "Round trips to Redis by the pipeline.",
                  (double)store_round_trips(s->store));
    admin_gauge(b, "journeyd_redis_up", "1 while the pipeline's Redis connection is up.",
                store_is_connected(s->store));
    admin_counter(b, "journeyd_redis_state_lost_total",
                  "Partitions Redis had no record of though this group had consumed them (Redis "
                  "came back empty): re-read from the earliest offset Kafka holds.",
                  (double)st->state_lost);
    admin_metrics_kafka(b, s);
    admin_metrics_rules(b, s);
    admin_gauge(b, "journeyd_config_last_reload_successful",
                "1 when the last (re)load of the rule files succeeded.", st->last_reload_ok);
    admin_gauge(b, "journeyd_config_last_reload_success_timestamp_seconds",
                "When the rule files were last loaded successfully (unix seconds).",
                (double)st->last_reload_ms / 1000.0);
    admin_counter(b, "journeyd_config_reloads_total", "Reloads attempted (SIGHUP, POST /-/reload).",
                  (double)st->reloads);
    admin_counter(b, "journeyd_config_reload_failures_total", "Reloads that failed.",
                  (double)st->reload_failures);
    admin_metrics_attribution(b, s);
    metrics_process(b);
}

/* ------------------------------------------------------------ /api/v1 */

static json_t *admin_time(int64_t ms)
{
    char buf[TS_RFC3339_SIZE];
    if (ms == INT64_MIN || ms == 0)
        return json_string("0001-01-01T00:00:00Z"); /* Prometheus's "never" */
    ts_format_rfc3339(ms, buf, sizeof(buf));
    return json_string(buf);
}

/* An alert as Prometheus's API shows it, annotations rendered as in its messages. */
static json_t *admin_alert_json(const struct ruleset *rs, const struct engine_alert_view *v)
{
    json_t *labels = json_object(), *ann = json_object();
    struct template_label tl[64];
    size_t nl = 0;
    char val[64];
    for (size_t i = 0; i < v->nlabels; i++) {
        json_object_set_new(labels, v->labels[i].name, json_string(v->labels[i].value));
        if (nl < JD_ARRAY_SIZE(tl))
            tl[nl++] = (struct template_label){ v->labels[i].name, v->labels[i].value };
    }
    const struct rule *r = ruleset_find(rs, v->group, v->alert);
    struct template_ctx ctx = { v->has_value, v->value, v->has_threshold, v->threshold, tl, nl };
    for (size_t i = 0; r && i < r->nannotations; i++) {
        size_t need = template_render(r->annotations[i].tmpl, &ctx, NULL, 0);
        char *text = malloc(need + 1);
        if (!text)
            continue;
        template_render(r->annotations[i].tmpl, &ctx, text, need + 1);
        json_object_set_new(ann, r->annotations[i].name, json_string(text));
        free(text);
    }
    if (v->has_value)
        template_format_number(v->value, val, sizeof(val));
    return json_pack("{s:o, s:o, s:s, s:o, s:s}", "labels", labels, "annotations", ann, "state",
                     engine_state_name(v->state), "activeAt", admin_time(v->active_since), "value",
                     v->has_value ? val : "");
}

static json_t *admin_rule_json(const struct admin_src *s, size_t ri, json_t *alerts)
{
    const struct ruleset *rs = evaluator_ruleset(s->ev);
    const struct engine_rule_stats *rst = engine_rule_stats(evaluator_engine(s->ev), ri);
    const struct evaluator_status *st = evaluator_status(s->ev);
    const struct rule *r = &rs->rules[ri];
    json_t *labels = json_object(), *ann = json_object();
    for (size_t i = 0; i < r->nlabels; i++)
        json_object_set_new(labels, r->labels[i].name, json_string(r->labels[i].value));
    for (size_t i = 0; i < r->nannotations; i++)
        json_object_set_new(ann, r->annotations[i].name, json_string(r->annotations[i].text));
    const char *state = "inactive";
    for (size_t i = 0; i < json_array_size(alerts); i++) {
        const char *as = json_string_value(json_object_get(json_array_get(alerts, i), "state"));
        if (!strcmp(as, "firing") || (!strcmp(as, "pending") && !strcmp(state, "inactive")))
            state = as;
    }
    const char *health = !rst->evaluations ? "unknown" : rst->last_error[0] ? "err" : "ok";
    return json_pack("{s:s, s:s, s:s, s:f, s:f, s:o, s:o, s:o, s:s, s:s, s:o, s:f, s:s}", "state",
                     state, "name", r->alert, "query", r->expr_text, "duration",
                     (double)r->for_ms / 1000.0, "keepFiringFor",
                     (double)r->keep_firing_for_ms / 1000.0, "labels", labels, "annotations", ann,
                     "alerts", alerts, "health", health, "lastError", rst->last_error,
                     "lastEvaluation", admin_time(rst->last_tick), "evaluationTime",
                     st->group_last_seconds[r->group], "type", "alerting");
}

/* Pending and firing alerts of rule (group, alert), or of every rule when \p group is NULL. */
static json_t *admin_alerts_json(const struct admin_src *s, const char *group, const char *alert)
{
    const struct engine *eng = evaluator_engine(s->ev);
    const struct ruleset *rs = evaluator_ruleset(s->ev);
    json_t *arr = json_array();
    for (size_t i = 0; i < engine_nalerts(eng); i++) {
        struct engine_alert_view v;
        engine_alert_at(eng, i, &v);
        if (v.state == ENGINE_INACTIVE ||
            (group && (strcmp(v.group, group) || strcmp(v.alert, alert))))
            continue;
        json_array_append_new(arr, admin_alert_json(rs, &v));
    }
    return arr;
}

static json_t *admin_rules_json(const struct admin_src *s)
{
    const struct ruleset *rs = evaluator_ruleset(s->ev);
    const struct evaluator_status *st = evaluator_status(s->ev);
    json_t *groups = json_array();
    for (size_t g = 0; g < rs->ngroups; g++) {
        const struct rule_group *rg = &rs->groups[g];
        json_t *rules = json_array();
        for (size_t ri = rg->first; ri < rg->first + rg->n; ri++)
            json_array_append_new(
                rules, admin_rule_json(s, ri, admin_alerts_json(s, rg->name, rs->rules[ri].alert)));
        json_array_append_new(groups, json_pack("{s:s, s:s, s:o, s:f, s:o, s:f}", "name", rg->name,
                                                "file", rg->file, "rules", rules, "interval",
                                                (double)rg->interval_ms / 1000.0, "lastEvaluation",
                                                admin_time(st->group_wall_ms[g]), "evaluationTime",
                                                st->group_last_seconds[g]));
    }
    return groups;
}

static void admin_json(struct http_reply *r, json_t *data)
{
    json_t *doc = json_pack("{s:s, s:o}", "status", "success", "data", data);
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    r->content_type = "application/json";
    if (!text) {
        r->status = 500;
        metrics_printf(&r->body, "{\"status\":\"error\",\"error\":\"out of memory\"}");
        return;
    }
    metrics_printf(&r->body, "%s\n", text);
    free(text);
}

/* ------------------------------------------------------------ routing */

static void admin_handle(void *opaque, const char *method, const char *path, struct http_reply *r)
{
    struct admin *a = opaque;
    const struct admin_src *s = &a->src;
    bool get = !strcmp(method, "GET") || !strcmp(method, "HEAD");

    if (!strcmp(path, "/-/reload")) {
        if (strcmp(method, "POST") && strcmp(method, "PUT")) {
            r->status = 405;
            r->allow = "POST, PUT";
            metrics_printf(&r->body, "Only POST or PUT requests allowed.\n");
            return;
        }
        s->reload(s->opaque);
        if (!s->stats->last_reload_ok) {
            r->status = 500;
            metrics_printf(&r->body, "failed to reload config: %s\n", s->stats->last_reload_error);
        }
        return;
    }
    if (!get) {
        r->status = 405;
        r->allow = "GET, HEAD";
        metrics_printf(&r->body, "Method not allowed.\n");
        return;
    }
    if (!strcmp(path, "/metrics")) {
        r->content_type = "text/plain; version=0.0.4; charset=utf-8";
        admin_metrics(&r->body, s);
    } else if (!strcmp(path, "/-/healthy")) {
        metrics_printf(&r->body, "journeyd is Healthy.\n");
    } else if (!strcmp(path, "/-/ready")) {
        if (admin_ready(s)) {
            metrics_printf(&r->body, "journeyd is Ready.\n");
        } else {
            r->status = 503;
            metrics_printf(&r->body, "journeyd is not ready: %s.\n",
                           !store_is_connected(s->store) ? "Redis is not connected"
                           : !consume_assignment_version(s->cons)
                               ? "no partition assignment from Kafka yet"
                               : "partitions are being claimed");
        }
    } else if (!strcmp(path, "/api/v1/rules")) {
        admin_json(r, json_pack("{s:o}", "groups", admin_rules_json(s)));
    } else if (!strcmp(path, "/api/v1/alerts")) {
        admin_json(r, json_pack("{s:o}", "alerts", admin_alerts_json(s, NULL, NULL)));
    } else if (!strcmp(path, "/")) {
        r->content_type = "text/html; charset=utf-8";
        status_render(a->status, s, &r->body);
    } else {
        r->status = 404;
        metrics_printf(&r->body, "404 page not found\n");
    }
}

struct admin *admin_new(const struct admin_src *src, char *errstr, size_t errstr_size)
{
    struct admin *a = calloc(1, sizeof(*a));
    if (!a) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    a->src = *src;
    if (!(a->status = status_new(src, errstr, errstr_size)) ||
        !(a->http = http_new(src->cfg->http.listen, admin_handle, a, errstr, errstr_size))) {
        admin_destroy(a);
        return NULL;
    }
    return a;
}

void admin_destroy(struct admin *a)
{
    if (!a)
        return;
    http_destroy(a->http);
    status_destroy(a->status);
    free(a);
}

void admin_run(struct admin *a)
{
    http_run(a->http);
}

int admin_port(const struct admin *a)
{
    return http_port(a->http);
}
