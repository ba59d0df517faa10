/*
 * test_engine_state.c — unit tests for evaluate/engine_state: saving and
 * restoring the rule engine's state (engine_save, engine_load, engine_reset).
 *
 * Drives a real ruleset (compiled from YAML in memory) over in-memory
 * windows (memwin) until alerts are pending and firing, then checks that a
 * saved state loads into a fresh engine byte for byte and that both engines
 * go on to publish the same messages; that alerts of a rule that is gone
 * keep only their seq; that malformed documents are refused with the field
 * named and leave the engine empty; that engine_reset() empties it; and
 * that NaN and infinite values survive a round trip.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "aggregate/agg.h"
#include "aggregate/series.h"
#include "core/err.h"
#include "core/jd.h"
#include "decode/event.h"
#include "evaluate/engine.h"
#include "evaluate/memwin.h"
#include "evaluate/rule.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* 2026-11-23T00:00:00Z */
#define T0     INT64_C(1795392000000)
#define MS_MIN INT64_C(60000)

static const char rules_full[] =
    "groups:\n"
    "  - name: fast\n"
    "    interval: 1m\n"
    "    rules:\n"
    "      - alert: ManyLeads\n"
    "        expr: count by (channel) (lead[5m]) > 2\n"
    "        for: 3m\n"
    "        labels: {severity: warning}\n"
    "        annotations:\n"
    "          summary: \"{{ $labels.channel }}: {{ $value }} leads\"\n"
    "      - alert: AnyLead\n"
    "        expr: count by (channel) (lead[2m]) > 0\n"
    "        keep_firing_for: 2m\n"
    "        repeat_interval: 3m\n"
    "  - name: slow\n"
    "    interval: 5m\n"
    "    rules:\n"
    "      - alert: LeadsInTenMinutes\n"
    "        expr: count(lead[10m]) > 5\n";

/* The same without ManyLeads and without the slow group. */
static const char rules_less[] = "groups:\n"
                                 "  - name: fast\n"
                                 "    interval: 1m\n"
                                 "    rules:\n"
                                 "      - alert: AnyLead\n"
                                 "        expr: count by (channel) (lead[2m]) > 0\n"
                                 "        keep_firing_for: 2m\n"
                                 "        repeat_interval: 3m\n";

static struct ruleset *rules(const char *yaml)
{
    char *names[] = { (char *)"test.yaml" };
    const char *bufs[] = { yaml };
    size_t lens[] = { strlen(yaml) };
    struct rule_diags d = { 0 };
    struct ruleset *rs = ruleset_parse(names, bufs, lens, 1, NULL, &d);
    if (!rs)
        fail_msg("rules do not compile: %s", d.n ? d.v[0] : "(no message)");
    rule_diags_free(&d);
    return rs;
}

/* Every message of an engine, one JSON document a line. */
struct sink {
    char *buf;
    size_t len;
    size_t n;
};

static enum jd_err sink_cb(void *opaque, const struct engine_msg *m, char *errstr,
                           size_t errstr_size)
{
    struct sink *s = opaque;
    (void)errstr;
    (void)errstr_size;
    char *p = realloc(s->buf, s->len + m->len + 2);
    assert_non_null(p);
    memcpy(p + s->len, m->json, m->len);
    s->len += m->len;
    p[s->len++] = '\n';
    p[s->len] = '\0';
    s->buf = p;
    s->n++;
    return JD_OK;
}

/* One lead event for \p channel at \p ts, folded into \p a. */
static void lead(struct agg *a, const char *channel, int64_t ts)
{
    static char labels[SERIES_LABELS_MAX];
    struct event ev;
    memset(&ev, 0, sizeof(ev));
    ev.type = (struct jd_str){ "lead", 4 };
    ev.channel = (struct jd_str){ channel, strlen(channel) };
    ev.ts_ms = ts;
    size_t n = series_labels_encode(&ev, labels);
    uint64_t sid = series_id(ev.type, labels, n);
    assert_true(agg_add(a, sid, ev.type, (struct jd_str){ labels, n }, ts, false, 0,
                        (struct jd_str){ "", 0 }));
}

static void flush(struct agg *a, struct memwin *m)
{
    char err[JD_ERRSTR_SIZE];
    assert_true(agg_seal(a));
    assert_int_equal(memwin_apply(m, a, err, sizeof(err)), JD_OK);
    agg_reset(a);
}

/* Evaluate everything due up to \p watermark. */
static void run(struct engine *e, int64_t watermark, struct sink *s)
{
    char err[JD_ERRSTR_SIZE] = "";
    size_t g;
    int64_t tick;
    while (engine_next(e, watermark, &g, &tick)) {
        enum jd_err rc = engine_eval(e, g, tick, sink_cb, s, err, sizeof(err));
        if (rc)
            fail_msg("eval at %lld: %s", (long long)tick, err);
    }
}

static char *save(const struct engine *e)
{
    char err[JD_ERRSTR_SIZE] = "", *doc = NULL;
    size_t len = 0;
    assert_int_equal(engine_save(e, &doc, &len, err, sizeof(err)), JD_OK);
    assert_non_null(doc);
    assert_int_equal(len, strlen(doc));
    return doc;
}

static void load_ok(struct engine *e, const char *doc)
{
    char err[JD_ERRSTR_SIZE] = "";
    enum jd_err rc = engine_load(e, doc, strlen(doc), err, sizeof(err));
    if (rc)
        fail_msg("load: %s\n%s", err, doc);
}

static struct engine *engine(const struct ruleset *rs, struct memwin *m)
{
    char err[JD_ERRSTR_SIZE];
    struct engine *e = engine_new(rs, memwin_source(m), NULL, err, sizeof(err));
    assert_non_null(e);
    return e;
}

/* Channel a: a lead a minute throughout; b: minutes 0-3 only; c: from minute 7. */
static void leads(struct agg *a, int from, int to)
{
    for (int i = from; i < to; i++) {
        lead(a, "a", T0 + i * MS_MIN + 1000);
        if (i < 4)
            lead(a, "b", T0 + i * MS_MIN + 2000);
        if (i >= 7)
            lead(a, "c", T0 + i * MS_MIN + 3000);
    }
}

struct world {
    struct ruleset *rs;
    struct memwin *win;
    struct agg *agg;
    struct engine *e;
    struct sink out;
    char *doc; /* e's state after the first ten minutes */
};

static int world_setup(void **state)
{
    struct world *w = calloc(1, sizeof(*w));
    assert_non_null(w);
    w->rs = rules(rules_full);
    assert_non_null(w->win = memwin_new());
    assert_non_null(w->agg = agg_new());
    w->e = engine(w->rs, w->win);
    engine_start(w->e, T0);
    leads(w->agg, 0, 10);
    flush(w->agg, w->win);
    run(w->e, T0 + 10 * MS_MIN, &w->out);
    w->doc = save(w->e);
    *state = w;
    return 0;
}

static int world_teardown(void **state)
{
    struct world *w = *state;
    engine_destroy(w->e);
    memwin_destroy(w->win);
    agg_destroy(w->agg);
    ruleset_destroy(w->rs);
    free(w->out.buf);
    free(w->doc);
    free(w);
    return 0;
}

static const struct engine_alert_view *find(const struct engine *e, const char *alert,
                                            const char *channel, struct engine_alert_view *v)
{
    for (size_t i = 0; i < engine_nalerts(e); i++) {
        engine_alert_at(e, i, v);
        if (strcmp(v->alert, alert))
            continue;
        for (size_t k = 0; k < v->nlabels; k++)
            if (!strcmp(v->labels[k].name, "channel") && !strcmp(v->labels[k].value, channel))
                return v;
    }
    return NULL;
}

static void test_round_trip(void **state)
{
    struct world *w = *state;
    struct engine_alert_view v;
    struct sink sa = { 0 }, sb = { 0 };

    /* the first ten minutes left alerts in every state, with messages sent */
    assert_true(w->out.n > 0);
    assert_non_null(find(w->e, "ManyLeads", "a", &v));
    assert_int_equal(v.state, ENGINE_FIRING);
    assert_int_equal(v.seq, 1);
    assert_non_null(find(w->e, "ManyLeads", "c", &v));
    assert_int_equal(v.state, ENGINE_PENDING);
    assert_non_null(find(w->e, "AnyLead", "b", &v));
    assert_int_equal(v.state, ENGINE_INACTIVE);
    assert_int_equal(v.seq, 4); /* fired, repeated, kept firing, resolved */

    struct engine *b = engine(w->rs, w->win);
    load_ok(b, w->doc);
    char *again = save(b);
    assert_string_equal(again, w->doc);
    assert_int_equal(engine_nalerts(b), engine_nalerts(w->e));
    for (size_t i = 0; i < engine_nalerts(b); i++) {
        struct engine_alert_view va, vb;
        engine_alert_at(w->e, i, &va);
        engine_alert_at(b, i, &vb);
        assert_string_equal(va.fingerprint, vb.fingerprint);
    }

    /* both go on alike */
    leads(w->agg, 10, 20);
    flush(w->agg, w->win);
    run(w->e, T0 + 25 * MS_MIN, &sa);
    run(b, T0 + 25 * MS_MIN, &sb);
    assert_true(sa.n > 0);
    assert_int_equal(sa.n, sb.n);
    assert_string_equal(sa.buf, sb.buf);
    char *da = save(w->e), *db = save(b);
    assert_string_equal(da, db);

    free(da);
    free(db);
    free(again);
    free(sa.buf);
    free(sb.buf);
    engine_destroy(b);
}

static void test_rule_gone(void **state)
{
    struct world *w = *state;
    struct ruleset *rs = rules(rules_less);
    struct engine *e = engine(rs, w->win);
    struct engine_alert_view v, v0;

    load_ok(e, w->doc);
    assert_int_equal(engine_nalerts(e), engine_nalerts(w->e));
    assert_non_null(find(e, "ManyLeads", "a", &v));
    assert_int_equal(v.state, ENGINE_INACTIVE);
    assert_non_null(find(w->e, "ManyLeads", "a", &v0));
    assert_int_equal(v.seq, v0.seq);
    assert_true(v.seq > 0);
    assert_non_null(find(e, "AnyLead", "a", &v));
    assert_non_null(find(w->e, "AnyLead", "a", &v0));
    assert_int_equal(v.state, v0.state);
    assert_int_equal(v.seq, v0.seq);
    assert_int_equal(engine_last_tick(e, 0), T0 + 10 * MS_MIN);

    /* the slow group is gone from what it saves; its alert stays for its seq */
    char *doc = save(e);
    assert_null(strstr(doc, "{\"name\":\"slow\""));
    assert_non_null(strstr(doc, "\"LeadsInTenMinutes\""));
    assert_non_null(strstr(doc, "\"ManyLeads\""));
    free(doc);
    engine_destroy(e);
    ruleset_destroy(rs);
}

#define ALERT_HEAD "{\"group\":\"fast\",\"alert\":\"AnyLead\","
#define ALERT_TAIL                                                                                 \
    "\"state\":\"firing\",\"held\":true,\"active_since\":1,\"fired_at\":1,"                        \
    "\"false_since\":null,\"last_sent\":1,\"seen_tick\":1,\"seq\":1,\"value\":1.0,"                \
    "\"threshold\":0}"
#define DOC_HEAD                                                                                   \
    "{\"v\":1,\"start\":0,\"high\":1,\"groups\":[{\"name\":\"fast\",\"last_tick\":1,"              \
    "\"since\":0}],\"alerts\":["

/* An alert of AnyLead with \p n labels (the engine's limit: series, rule and alertname). */
#define MAX_LABELS (RULE_MAX_LABELS + EVENT_MAX_PROPS + 3)

static char *labels_doc(size_t n)
{
    size_t cap = 1024 + n * 32, len;
    char *doc = malloc(cap);
    assert_non_null(doc);
    len = (size_t)snprintf(doc, cap, DOC_HEAD ALERT_HEAD "\"labels\":{");
    for (size_t k = 0; k < n; k++)
        len += (size_t)snprintf(doc + len, cap - len, "%s\"l%03zu\":\"x\"", k ? "," : "", k);
    snprintf(doc + len, cap - len, "}," ALERT_TAIL "]}");
    return doc;
}

static void test_malformed(void **state)
{
    struct world *w = *state;
    struct engine *e = engine(w->rs, w->win);
    static const struct {
        const char *doc, *err;
    } bad[] = {
        { "not json", "line 1" },
        { "[]", "expected an object" },
        { "{\"v\":1,\"v\":1}", "duplicate" },
        { "{\"v\":2,\"start\":0,\"high\":0,\"groups\":[],\"alerts\":[]}", "v:" },
        { "{\"v\":1,\"start\":0,\"high\":0,\"groups\":[]}", "alerts: missing" },
        { "{\"v\":1,\"start\":\"0\",\"high\":0,\"groups\":[],\"alerts\":[]}",
          "start: expected an integer" },
        { "{\"v\":1,\"start\":0,\"high\":0,\"groups\":{},\"alerts\":[]}",
          "groups: expected an array" },
        { "{\"v\":1,\"start\":0,\"high\":0,\"groups\":[7],\"alerts\":[]}",
          "groups[0]: expected an object" },
        { "{\"v\":1,\"start\":0,\"high\":0,\"groups\":[{\"name\":\"fast\",\"since\":0}],"
          "\"alerts\":[]}",
          "groups[0].last_tick: missing" },
        { "{\"v\":1,\"start\":0,\"high\":0,\"groups\":[{\"name\":\"fast\",\"last_tick\":0,"
          "\"since\":0},{\"name\":\"fast\",\"last_tick\":60000,\"since\":0}],\"alerts\":[]}",
          "groups[1]: the same group" },
        { "{\"v\":1,\"start\":0,\"high\":9223372036854775000,\"groups\":[],\"alerts\":[]}",
          "high: 9223372036854775000 is out of range" },
        { DOC_HEAD ALERT_HEAD "\"labels\":{\"channel\":\"a\"}," ALERT_TAIL "," ALERT_HEAD
                              "\"labels\":{\"channel\":7}," ALERT_TAIL "]}",
          "alerts[1].labels.channel: expected a string" },
        { DOC_HEAD ALERT_HEAD "\"labels\":[]," ALERT_TAIL "]}",
          "alerts[0].labels: expected an object" },
        { DOC_HEAD ALERT_HEAD "\"labels\":{}," ALERT_TAIL "," ALERT_HEAD "\"labels\":{}," ALERT_TAIL
                              "]}",
          "alerts[1]: the same alert" },
        { DOC_HEAD ALERT_HEAD "\"labels\":{},\"state\":\"on\",\"held\":true,\"active_since\":1,"
                              "\"fired_at\":1,\"false_since\":null,\"last_sent\":1,\"seen_tick\":1,"
                              "\"seq\":1,\"value\":1,\"threshold\":0}]}",
          "alerts[0].state: expected" },
        { DOC_HEAD ALERT_HEAD "\"labels\":{},\"state\":\"firing\",\"held\":1,\"active_since\":1,"
                              "\"fired_at\":1,\"false_since\":null,\"last_sent\":1,\"seen_tick\":1,"
                              "\"seq\":1,\"value\":1,\"threshold\":0}]}",
          "alerts[0].held: expected a boolean" },
        { DOC_HEAD ALERT_HEAD "\"labels\":{},\"state\":\"firing\",\"held\":true,\"active_since\":1,"
                              "\"fired_at\":1,\"false_since\":null,\"last_sent\":1,\"seen_tick\":1,"
                              "\"seq\":\"1\",\"value\":1,\"threshold\":0}]}",
          "alerts[0].seq: expected a non-negative integer" },
        { DOC_HEAD ALERT_HEAD "\"labels\":{},\"state\":\"firing\",\"held\":true,\"active_since\":1,"
                              "\"fired_at\":1,\"false_since\":null,\"last_sent\":1,\"seen_tick\":1,"
                              "\"seq\":-1,\"value\":1,\"threshold\":0}]}",
          "alerts[0].seq: expected a non-negative integer" },
        { DOC_HEAD ALERT_HEAD "\"labels\":{},\"state\":\"firing\",\"held\":true,\"active_since\":1,"
                              "\"fired_at\":1.5,\"false_since\":null,\"last_sent\":1,"
                              "\"seen_tick\":1,\"seq\":1,\"value\":1,\"threshold\":0}]}",
          "alerts[0].fired_at: expected an integer" },
        { DOC_HEAD ALERT_HEAD "\"labels\":{},\"state\":\"firing\",\"held\":true,\"active_since\":1,"
                              "\"fired_at\":1,\"false_since\":null,\"last_sent\":1,\"seen_tick\":1,"
                              "\"seq\":1,\"value\":\"nan\",\"threshold\":0}]}",
          "alerts[0].value: expected a number" },
        { DOC_HEAD ALERT_HEAD "\"labels\":{},\"state\":\"firing\",\"held\":true,\"active_since\":1,"
                              "\"fired_at\":1,\"false_since\":null,\"last_sent\":1,\"seen_tick\":1,"
                              "\"seq\":1,\"value\":1}]}",
          "alerts[0].threshold: missing" },
    };
    char err[JD_ERRSTR_SIZE];

    for (size_t i = 0; i <= JD_ARRAY_SIZE(bad); i++) {
        /* the last case: one label more than an alert can have (series, rule and alertname) */
        char *big = i < JD_ARRAY_SIZE(bad) ? NULL : labels_doc(MAX_LABELS + 1);
        const char *doc = big ? big : bad[i].doc;
        const char *want = big ? "alerts[0].labels: more than" : bad[i].err;
        load_ok(e, w->doc); /* something to lose */
        assert_true(engine_nalerts(e) > 0);
        err[0] = '\0';
        enum jd_err rc = engine_load(e, doc, strlen(doc), err, sizeof(err));
        if (rc != JD_ERR_INVALID || !strstr(err, want))
            fail_msg("case %zu: got %d \"%s\", want \"%s\"", i, rc, err, want);
        assert_int_equal(engine_nalerts(e), 0);
        assert_int_equal(engine_last_tick(e, 0), INT64_MIN);
        assert_int_equal(engine_last_tick(e, 1), INT64_MIN);
        free(big);
    }

    /* exactly the limit loads */
    char *max = labels_doc(MAX_LABELS);
    load_ok(e, max);
    assert_int_equal(engine_nalerts(e), 1);
    free(max);
    engine_destroy(e);
}

static void test_reset(void **state)
{
    struct world *w = *state;
    struct engine *e = engine(w->rs, w->win);
    load_ok(e, w->doc);
    assert_true(engine_nalerts(e) > 0);
    assert_int_equal(engine_last_tick(e, 0), T0 + 10 * MS_MIN);
    engine_reset(e);
    assert_int_equal(engine_nalerts(e), 0);
    assert_int_equal(engine_last_tick(e, 0), INT64_MIN);
    char *doc = save(e);
    assert_string_equal(
        doc, "{\"v\":1,\"start\":null,\"high\":null,\"groups\":[{\"name\":\"fast\","
             "\"last_tick\":null,\"since\":null,\"join_at_wm\":false},{\"name\":\"slow\","
             "\"last_tick\":null,\"since\":null,\"join_at_wm\":false}],\"alerts\":[]}");
    free(doc);
    engine_destroy(e);
}

static void test_non_finite(void **state)
{
    struct world *w = *state;
    struct engine *e = engine(w->rs, w->win);
    struct engine_alert_view v;
    static const char doc[] =
        "{\"v\":1,\"start\":null,\"high\":1000,\"groups\":[{\"name\":\"fast\",\"last_tick\":1000,"
        "\"since\":0,\"join_at_wm\":false},{\"name\":\"slow\",\"last_tick\":null,\"since\":null,"
        "\"join_at_wm\":false}],\"alerts\":["
        "{\"group\":\"fast\",\"alert\":\"AnyLead\",\"labels\":{\"alertname\":\"AnyLead\","
        "\"channel\":\"a\"},\"state\":\"firing\",\"held\":true,\"active_since\":0,\"fired_at\":0,"
        "\"false_since\":null,\"last_sent\":0,\"seen_tick\":1000,\"seq\":3,\"value\":\"NaN\","
        "\"threshold\":\"+Inf\"},"
        "{\"group\":\"fast\",\"alert\":\"AnyLead\",\"labels\":{\"alertname\":\"AnyLead\","
        "\"channel\":\"b\"},\"state\":\"pending\",\"held\":false,\"active_since\":0,\"fired_at\":0,"
        "\"false_since\":-5,\"last_sent\":0,\"seen_tick\":null,\"seq\":0,\"value\":\"-Inf\","
        "\"threshold\":null},"
        "{\"group\":\"fast\",\"alert\":\"AnyLead\",\"labels\":{\"alertname\":\"AnyLead\","
        "\"channel\":\"c\"},\"state\":\"inactive\",\"held\":false,\"active_since\":0,"
        "\"fired_at\":0,\"false_since\":null,\"last_sent\":0,\"seen_tick\":null,\"seq\":0,"
        "\"value\":2.5,\"threshold\":-0.25}]}";

    load_ok(e, doc);
    engine_alert_at(e, 0, &v);
    assert_true(v.has_value && isnan(v.value));
    assert_true(v.has_threshold && isinf(v.threshold) && v.threshold > 0);
    assert_int_equal(v.seq, 3);
    engine_alert_at(e, 1, &v);
    assert_true(v.has_value && isinf(v.value) && v.value < 0);
    assert_false(v.has_threshold);
    assert_int_equal(v.state, ENGINE_PENDING);
    engine_alert_at(e, 2, &v);
    assert_true(v.value == 2.5 && v.threshold == -0.25);
    char *again = save(e);
    assert_string_equal(again, doc);
    free(again);
    engine_destroy(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip, world_setup, world_teardown),
        cmocka_unit_test_setup_teardown(test_rule_gone, world_setup, world_teardown),
        cmocka_unit_test_setup_teardown(test_malformed, world_setup, world_teardown),
        cmocka_unit_test_setup_teardown(test_reset, world_setup, world_teardown),
        cmocka_unit_test_setup_teardown(test_non_finite, world_setup, world_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
