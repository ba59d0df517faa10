/*
 * test_alertmsg.c — unit tests for publish/alertmsg: the alert message of
 * alerts.md.
 *
 * Covers the fingerprint (against a reference FNV-1a written here byte by
 * byte, against Prometheus's published values, and its independence of
 * label order), the JSON body (byte for byte for the alerts.md example,
 * then parsed back field by field with the key order checked), resolved
 * messages, absent and non-integral values, escaping, URLs, every input
 * error, and the CloudEvents headers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/err.h"
#include "core/jd.h"
#include "core/ts.h"
#include "publish/alertmsg.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* 2026-11-23T08:01:00Z */
#define T0 INT64_C(1795420860000)

static const struct alertmsg_label spec_labels[] = {
    { "team", "growth-ops" },
    { "alertname", "LeadsOutpaceOpsCapacity" },
    { "severity", "warning" },
};

static const struct alertmsg_label spec_annotations[] = {
    { "summary", "lead growth exceeds ops capacity by 23%" },
    { "action", "Switch to tiered lead delivery (A/B/C); pause low-intent channels" },
};

static struct alertmsg spec_msg(void)
{
    return (struct alertmsg){
        .status = ALERTMSG_FIRING,
        .state = "firing",
        .alertname = "LeadsOutpaceOpsCapacity",
        .labels = spec_labels,
        .nlabels = JD_ARRAY_SIZE(spec_labels),
        .annotations = spec_annotations,
        .nannotations = JD_ARRAY_SIZE(spec_annotations),
        .starts_at_ms = T0,
        .evaluated_at_ms = T0,
        .has_value = true,
        .value = 1845,
        .has_threshold = true,
        .threshold = 1500,
        .group = "growth-ops",
        .file = "rules/growth-ops.yaml",
        .expr = "count(lead[1d]) > 1.2 * table(ops_capacity_per_day)",
        .seq = 1,
        .receiver = "journey.alerts",
        .external_url = "http://host:9464",
    };
}

/* The algorithm of alerts.md spelled out on the bytes, independent of core/hash. */
static uint64_t reference_fnv(const char *bytes, size_t n)
{
    uint64_t h = UINT64_C(14695981039346656037);
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)bytes[i];
        h *= UINT64_C(1099511628211);
    }
    return h;
}

static char *format_ok(const struct alertmsg *m, size_t *len)
{
    char err[JD_ERRSTR_SIZE] = "", *out = NULL;
    size_t n = 0;
    enum jd_err e = alertmsg_format(m, &out, &n, err, sizeof(err));
    if (e != JD_OK)
        fail_msg("alertmsg_format: %s (%s)", err, jd_err2name(e));
    assert_non_null(out);
    assert_int_equal(strlen(out), n);
    if (len)
        *len = n;
    return out;
}

static json_t *parse(const char *text)
{
    json_error_t jerr;
    json_t *j = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
    if (!j)
        fail_msg("not JSON (%s): %s", jerr.text, text);
    return j;
}

static void check_keys(const json_t *o, const char *const *keys, size_t n)
{
    size_t i = 0;
    assert_true(json_is_object(o));
    for (void *it = json_object_iter((json_t *)o); it;
         it = json_object_iter_next((json_t *)o, it)) {
        assert_true(i < n);
        assert_string_equal(json_object_iter_key(it), keys[i]);
        i++;
    }
    assert_int_equal(i, n);
}

static const char *str_at(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    if (!json_is_string(v))
        fail_msg("'%s' is not a string", key);
    return json_string_value(v);
}

static void test_fingerprint_empty(void **state)
{
    (void)state;
    char hex[ALERTMSG_FP_HEX_SIZE];
    assert_true(alertmsg_fingerprint(NULL, 0) == UINT64_C(0xcbf29ce484222325));
    alertmsg_fingerprint_hex(alertmsg_fingerprint(NULL, 0), hex);
    assert_string_equal(hex, "cbf29ce484222325");
    alertmsg_fingerprint_hex(0, hex);
    assert_string_equal(hex, "0000000000000000");
    alertmsg_fingerprint_hex(UINT64_MAX, hex);
    assert_string_equal(hex, "ffffffffffffffff");
}

static void test_fingerprint_known_values(void **state)
{
    (void)state;
    /* prometheus/common model: TestMetricToFingerprint / TestLabelsToSignature */
    const struct alertmsg_label prom[] = {
        { "name", "garland, briggs" },
        { "fear", "love is not enough" },
    };
    assert_true(alertmsg_fingerprint(prom, 2) == UINT64_C(5799056148416392346));
    const struct alertmsg_label prom_rev[] = { prom[1], prom[0] };
    assert_true(alertmsg_fingerprint(prom_rev, 2) == UINT64_C(5799056148416392346));

    /* by hand: sorted by name, each "name 0xFF value 0xFF" */
    const struct alertmsg_label foo[] = { { "alertname", "foo" } };
    static const char foo_bytes[] = "alertname\xff"
                                    "foo\xff";
    assert_true(alertmsg_fingerprint(foo, 1) == reference_fnv(foo_bytes, sizeof(foo_bytes) - 1));
    char hex[ALERTMSG_FP_HEX_SIZE];
    alertmsg_fingerprint_hex(alertmsg_fingerprint(foo, 1), hex);
    assert_string_equal(hex, "c5a7cb176f0f418a");

    static const char spec_bytes[] = "alertname\xff"
                                     "LeadsOutpaceOpsCapacity\xff"
                                     "severity\xff"
                                     "warning\xff"
                                     "team\xff"
                                     "growth-ops\xff";
    assert_true(alertmsg_fingerprint(spec_labels, 3) ==
                reference_fnv(spec_bytes, sizeof(spec_bytes) - 1));
    alertmsg_fingerprint_hex(alertmsg_fingerprint(spec_labels, 3), hex);
    assert_string_equal(hex, "b36aa566c12a8250");
}

static void test_fingerprint_order_and_separators(void **state)
{
    (void)state;
    const struct alertmsg_label l[] = {
        { "b", "2" }, { "a", "1" }, { "d", "4" }, { "c", "3" }, { "e", "" },
    };
    uint64_t want = alertmsg_fingerprint(l, 5);
    /* every rotation and the reversal give the same fingerprint */
    for (size_t r = 0; r < 5; r++) {
        struct alertmsg_label p[5], q[5];
        for (size_t i = 0; i < 5; i++) {
            p[i] = l[(i + r) % 5];
            q[i] = l[(5 + r - i) % 5];
        }
        assert_true(alertmsg_fingerprint(p, 5) == want);
        assert_true(alertmsg_fingerprint(q, 5) == want);
    }
    /* the 0xFF separators keep boundaries apart */
    const struct alertmsg_label x[] = { { "ab", "c" } }, y[] = { { "a", "bc" } };
    const struct alertmsg_label z[] = { { "a", "" }, { "b", "c" } };
    assert_true(alertmsg_fingerprint(x, 1) != alertmsg_fingerprint(y, 1));
    assert_true(alertmsg_fingerprint(y, 1) != alertmsg_fingerprint(z, 2));
    /* a value change changes it */
    const struct alertmsg_label l2[] = {
        { "b", "2" }, { "a", "1" }, { "d", "4" }, { "c", "3" }, { "e", "x" },
    };
    assert_true(alertmsg_fingerprint(l2, 5) != want);
}

static void test_format_spec_bytes(void **state)
{
    (void)state;
    struct alertmsg m = spec_msg();
    size_t len;
    char *out = format_ok(&m, &len);
    const char *want =
        "{\"version\":\"4\",\"status\":\"firing\",\"receiver\":\"journey.alerts\","
        "\"groupKey\":\"{}:{alertname=\\\"LeadsOutpaceOpsCapacity\\\"}\",\"truncatedAlerts\":0,"
        "\"groupLabels\":{\"alertname\":\"LeadsOutpaceOpsCapacity\"},"
        "\"commonLabels\":{\"alertname\":\"LeadsOutpaceOpsCapacity\",\"severity\":\"warning\","
        "\"team\":\"growth-ops\"},"
        "\"commonAnnotations\":{\"action\":\"Switch to tiered lead delivery (A/B/C); pause "
        "low-intent channels\",\"summary\":\"lead growth exceeds ops capacity by 23%\"},"
        "\"externalURL\":\"http://host:9464\","
        "\"alerts\":[{\"status\":\"firing\",\"fingerprint\":\"b36aa566c12a8250\","
        "\"labels\":{\"alertname\":\"LeadsOutpaceOpsCapacity\",\"severity\":\"warning\","
        "\"team\":\"growth-ops\"},"
        "\"annotations\":{\"action\":\"Switch to tiered lead delivery (A/B/C); pause low-intent "
        "channels\",\"summary\":\"lead growth exceeds ops capacity by 23%\"},"
        "\"startsAt\":\"2026-11-23T08:01:00Z\",\"endsAt\":\"0001-01-01T00:00:00Z\","
        "\"generatorURL\":\"http://host:9464/#LeadsOutpaceOpsCapacity\","
        "\"value\":1845,\"threshold\":1500,\"state\":\"firing\","
        "\"evaluatedAt\":\"2026-11-23T08:01:00Z\","
        "\"rule\":{\"group\":\"growth-ops\",\"file\":\"rules/growth-ops.yaml\","
        "\"expr\":\"count(lead[1d]) > 1.2 * table(ops_capacity_per_day)\"},"
        "\"seq\":1}]}";
    assert_string_equal(out, want);
    assert_int_equal(len, strlen(want));
    free(out);
}

static void test_format_parse_back(void **state)
{
    (void)state;
    static const char *const top_keys[] = {
        "version",     "status",       "receiver",          "groupKey",    "truncatedAlerts",
        "groupLabels", "commonLabels", "commonAnnotations", "externalURL", "alerts",
    };
    static const char *const alert_keys[] = {
        "status", "fingerprint", "labels", "annotations", "startsAt", "endsAt", "generatorURL",
        "value",  "threshold",   "state",  "evaluatedAt", "rule",     "seq",
    };
    static const char *const label_keys[] = { "alertname", "severity", "team" };
    static const char *const rule_keys[] = { "group", "file", "expr" };
    struct alertmsg m = spec_msg();
    char *out = format_ok(&m, NULL);
    json_t *j = parse(out);

    check_keys(j, top_keys, JD_ARRAY_SIZE(top_keys));
    assert_string_equal(str_at(j, "version"), "4");
    assert_string_equal(str_at(j, "status"), "firing");
    assert_string_equal(str_at(j, "receiver"), "journey.alerts");
    assert_string_equal(str_at(j, "groupKey"), "{}:{alertname=\"LeadsOutpaceOpsCapacity\"}");
    assert_true(json_integer_value(json_object_get(j, "truncatedAlerts")) == 0);
    assert_true(json_is_integer(json_object_get(j, "truncatedAlerts")));
    assert_int_equal(json_object_size(json_object_get(j, "groupLabels")), 1);
    assert_string_equal(str_at(json_object_get(j, "groupLabels"), "alertname"),
                        "LeadsOutpaceOpsCapacity");
    check_keys(json_object_get(j, "commonLabels"), label_keys, 3);
    assert_string_equal(str_at(json_object_get(j, "commonLabels"), "team"), "growth-ops");
    assert_string_equal(str_at(json_object_get(j, "commonAnnotations"), "summary"),
                        "lead growth exceeds ops capacity by 23%");
    assert_string_equal(str_at(j, "externalURL"), "http://host:9464");

    json_t *alerts = json_object_get(j, "alerts");
    assert_true(json_is_array(alerts));
    assert_int_equal(json_array_size(alerts), 1);
    json_t *a = json_array_get(alerts, 0);
    check_keys(a, alert_keys, JD_ARRAY_SIZE(alert_keys));
    assert_string_equal(str_at(a, "status"), "firing");
    char hex[ALERTMSG_FP_HEX_SIZE];
    alertmsg_fingerprint_hex(alertmsg_fingerprint(spec_labels, 3), hex);
    assert_string_equal(str_at(a, "fingerprint"), hex);
    check_keys(json_object_get(a, "labels"), label_keys, 3);
    assert_string_equal(str_at(json_object_get(a, "labels"), "severity"), "warning");
    assert_true(json_equal(json_object_get(a, "labels"), json_object_get(j, "commonLabels")));
    assert_true(
        json_equal(json_object_get(a, "annotations"), json_object_get(j, "commonAnnotations")));
    assert_string_equal(str_at(a, "startsAt"), "2026-11-23T08:01:00Z");
    assert_string_equal(str_at(a, "endsAt"), "0001-01-01T00:00:00Z");
    assert_string_equal(str_at(a, "generatorURL"), "http://host:9464/#LeadsOutpaceOpsCapacity");
    assert_true(json_is_integer(json_object_get(a, "value")));
    assert_true(json_integer_value(json_object_get(a, "value")) == 1845);
    assert_true(json_integer_value(json_object_get(a, "threshold")) == 1500);
    assert_string_equal(str_at(a, "state"), "firing");
    assert_string_equal(str_at(a, "evaluatedAt"), "2026-11-23T08:01:00Z");
    json_t *rule = json_object_get(a, "rule");
    check_keys(rule, rule_keys, 3);
    assert_string_equal(str_at(rule, "group"), "growth-ops");
    assert_string_equal(str_at(rule, "file"), "rules/growth-ops.yaml");
    assert_string_equal(str_at(rule, "expr"),
                        "count(lead[1d]) > 1.2 * table(ops_capacity_per_day)");
    assert_true(json_integer_value(json_object_get(a, "seq")) == 1);
    json_decref(j);
    free(out);
}

static void test_format_resolved(void **state)
{
    (void)state;
    struct alertmsg m = spec_msg();
    m.status = ALERTMSG_RESOLVED;
    m.state = NULL; /* defaults to the status word */
    m.ends_at_ms = T0 + 3 * JD_MS_HOUR + 123;
    m.evaluated_at_ms = m.ends_at_ms;
    m.seq = 7;
    char *out = format_ok(&m, NULL);
    json_t *j = parse(out), *a = json_array_get(json_object_get(j, "alerts"), 0);
    assert_string_equal(str_at(j, "status"), "resolved");
    assert_string_equal(str_at(a, "status"), "resolved");
    assert_string_equal(str_at(a, "state"), "resolved");
    assert_string_equal(str_at(a, "startsAt"), "2026-11-23T08:01:00Z");
    assert_string_equal(str_at(a, "endsAt"), "2026-11-23T11:01:00.123Z");
    assert_string_equal(str_at(a, "evaluatedAt"), "2026-11-23T11:01:00.123Z");
    assert_true(json_integer_value(json_object_get(a, "seq")) == 7);
    assert_non_null(strstr(out, "\"seq\":7}]}"));
    json_decref(j);
    free(out);

    m.state = "firing"; /* journeyd's own word travels unchanged */
    m.status = ALERTMSG_FIRING;
    m.ends_at_ms = 0;
    out = format_ok(&m, NULL);
    assert_non_null(strstr(out, "\"endsAt\":\"0001-01-01T00:00:00Z\""));
    free(out);
}

static void test_format_values(void **state)
{
    (void)state;
    static const struct {
        bool has;
        double v;
        const char *json;
    } cases[] = {
        { false, 1845, "null" },
        { true, NAN, "null" },
        { true, INFINITY, "null" },
        { true, 0.1, "0.1" },
        { true, -2.5, "-2.5" },
        { true, 0, "0" },
        { true, -0.0, "0" },
        { true, 1e20, "1e+20" },
        { true, 1.0 / 3, "0.3333333333333333" },
        { true, 1e-7, "1e-07" },
        { true, 1234567, "1234567" },
        { true, 0.2307, "0.2307" },
    };
    char want[128];
    for (size_t i = 0; i < JD_ARRAY_SIZE(cases); i++) {
        struct alertmsg m = spec_msg();
        m.has_value = cases[i].has;
        m.value = cases[i].v;
        m.has_threshold = false;
        char *out = format_ok(&m, NULL);
        snprintf(want, sizeof(want), "\"value\":%s,\"threshold\":null,", cases[i].json);
        if (!strstr(out, want))
            fail_msg("case %zu: '%s' not in %s", i, want, out);
        json_t *j = parse(out), *a = json_array_get(json_object_get(j, "alerts"), 0);
        json_t *v = json_object_get(a, "value");
        if (cases[i].has && isfinite(cases[i].v))
            assert_true(json_number_value(v) == cases[i].v);
        else
            assert_true(json_is_null(v));
        assert_true(json_is_null(json_object_get(a, "threshold")));
        json_decref(j);
        free(out);
    }
    struct alertmsg m = spec_msg();
    m.seq = UINT64_MAX;
    char *out = format_ok(&m, NULL);
    assert_non_null(strstr(out, "\"seq\":18446744073709551615}]}"));
    free(out);
}

static void test_format_escaping_and_urls(void **state)
{
    (void)state;
    const struct alertmsg_label labels[] = {
        { "alertname", "Odd\"Name\\" },
        { "channel", "\xe6\x8a\x96\xe9\x9f\xb3 \"x\"\n" },
    };
    const struct alertmsg_label annotations[] = { { "summary", "tab\there </script> \\ \x01" } };
    struct alertmsg m = spec_msg();
    m.alertname = "Odd\"Name\\";
    m.labels = labels;
    m.nlabels = 2;
    m.annotations = annotations;
    m.nannotations = 1;
    m.external_url = "https://alerts.example.com/journeyd/";
    m.expr = "count(touch{channel=~\"sem_.*\"}[1d])";
    char *out = format_ok(&m, NULL);
    json_t *j = parse(out), *a = json_array_get(json_object_get(j, "alerts"), 0);
    assert_string_equal(str_at(j, "groupKey"), "{}:{alertname=\"Odd\\\"Name\\\\\"}");
    assert_string_equal(str_at(json_object_get(a, "labels"), "channel"),
                        "\xe6\x8a\x96\xe9\x9f\xb3 \"x\"\n");
    assert_string_equal(str_at(json_object_get(a, "annotations"), "summary"),
                        "tab\there </script> \\ \x01");
    assert_string_equal(str_at(a, "generatorURL"),
                        "https://alerts.example.com/journeyd/#Odd\"Name\\");
    assert_string_equal(str_at(json_object_get(a, "rule"), "expr"),
                        "count(touch{channel=~\"sem_.*\"}[1d])");
    assert_null(strchr(out, '\n')); /* compact: one line */
    json_decref(j);
    free(out);

    m = spec_msg();
    m.external_url = "";
    out = format_ok(&m, NULL);
    assert_non_null(strstr(out, "\"externalURL\":\"\""));
    assert_non_null(strstr(out, "\"generatorURL\":\"\""));
    free(out);
    m.external_url = NULL;
    out = format_ok(&m, NULL);
    assert_non_null(strstr(out, "\"generatorURL\":\"\""));
    free(out);

    m.annotations = NULL; /* no annotations at all */
    m.nannotations = 0;
    out = format_ok(&m, NULL);
    assert_non_null(strstr(out, "\"commonAnnotations\":{},"));
    assert_non_null(strstr(out, "\"annotations\":{},"));
    free(out);
}

static void check_format_err(const struct alertmsg *m, enum jd_err want, const char *msg)
{
    char err[JD_ERRSTR_SIZE] = "", *out = (char *)"untouched";
    size_t len = 99;
    assert_int_equal(alertmsg_format(m, &out, &len, err, sizeof(err)), want);
    assert_string_equal(out, "untouched");
    assert_int_equal(len, 99);
    if (!strstr(err, msg))
        fail_msg("error '%s' does not say '%s'", err, msg);
}

static void test_format_errors(void **state)
{
    (void)state;
    struct alertmsg m = spec_msg();
    m.alertname = "Other";
    check_format_err(&m, JD_ERR_INVALID, "alertname=\"Other\"");
    m = spec_msg();
    m.nlabels = 1; /* only "team" */
    check_format_err(&m, JD_ERR_INVALID, "must hold alertname");
    m = spec_msg();
    m.group = NULL;
    check_format_err(&m, JD_ERR_INVALID, "required");
    m = spec_msg();
    m.receiver = NULL;
    check_format_err(&m, JD_ERR_INVALID, "required");

    const struct alertmsg_label dup[] = { { "alertname", "LeadsOutpaceOpsCapacity" },
                                          { "team", "a" },
                                          { "team", "b" } };
    m = spec_msg();
    m.labels = dup;
    m.nlabels = 3;
    check_format_err(&m, JD_ERR_INVALID, "label 'team' appears twice");
    m = spec_msg();
    m.annotations = (const struct alertmsg_label[]){ { "s", "1" }, { "s", "1" } };
    m.nannotations = 2;
    check_format_err(&m, JD_ERR_INVALID, "annotation 's' appears twice");
    m = spec_msg();
    m.annotations = (const struct alertmsg_label[]){ { "s", NULL } };
    m.nannotations = 1;
    check_format_err(&m, JD_ERR_INVALID, "annotation 0: NULL name or value");
    m = spec_msg();
    m.annotations = (const struct alertmsg_label[]){ { "s", "bad \xff utf-8" } };
    m.nannotations = 1;
    check_format_err(&m, JD_ERR_INVALID, "annotation 's': name or value is not UTF-8");
    m = spec_msg();
    m.expr = "bad \xc3";
    check_format_err(&m, JD_ERR_INVALID, "UTF-8");

    m = spec_msg();
    m.ends_at_ms = TS_MAX_MS + 1;
    check_format_err(&m, JD_ERR_RANGE, "endsAt");
    m = spec_msg();
    m.starts_at_ms = INT64_MIN;
    check_format_err(&m, JD_ERR_RANGE, "startsAt");
    m = spec_msg();
    m.evaluated_at_ms = INT64_C(-62135596800001);
    check_format_err(&m, JD_ERR_RANGE, "evaluatedAt");

    /* the edges of the range are fine */
    m = spec_msg();
    m.starts_at_ms = INT64_C(-62135596800000);
    m.evaluated_at_ms = TS_MAX_MS;
    char *out = format_ok(&m, NULL);
    assert_non_null(strstr(out, "\"startsAt\":\"0001-01-01T00:00:00Z\""));
    assert_non_null(strstr(out, "\"evaluatedAt\":\"9999-12-31T23:59:59.999Z\""));
    free(out);

    /* no errstr buffer */
    m = spec_msg();
    m.alertname = NULL;
    char *o = NULL;
    size_t len = 0;
    assert_int_equal(alertmsg_format(&m, &o, &len, NULL, 0), JD_ERR_INVALID);
    assert_null(o);
}

static void test_headers(void **state)
{
    (void)state;
    static const char *const names[ALERTMSG_NHEADERS] = {
        "ce_specversion", "ce_id", "ce_source", "ce_type", "ce_time", "ce_subject", "content-type",
    };
    struct alertmsg m = spec_msg();
    struct alertmsg_headers h;
    char hex[ALERTMSG_FP_HEX_SIZE], err[JD_ERRSTR_SIZE] = "";
    alertmsg_fingerprint_hex(alertmsg_fingerprint(m.labels, m.nlabels), hex);
    m.evaluated_at_ms = T0 + 60000;
    m.seq = 42;
    assert_int_equal(alertmsg_headers(&m, hex, &h, err, sizeof(err)), JD_OK);
    const char *want[ALERTMSG_NHEADERS] = {
        "1.0",
        "b36aa566c12a8250-42",
        "journeyd/growth-ops",
        "journeyd.alert.firing",
        "2026-11-23T08:02:00Z",
        "LeadsOutpaceOpsCapacity",
        "application/json",
    };
    for (size_t i = 0; i < ALERTMSG_NHEADERS; i++) {
        assert_string_equal(h.h[i].name, names[i]);
        assert_string_equal(h.h[i].value, want[i]);
    }
    assert_ptr_equal(h.h[5].value, m.alertname); /* borrowed, documented */

    m.status = ALERTMSG_RESOLVED;
    m.group = "growth ops/\xce\xb2~_.-";
    m.seq = 43;
    assert_int_equal(alertmsg_headers(&m, hex, &h, err, sizeof(err)), JD_OK);
    assert_string_equal(h.h[1].value, "b36aa566c12a8250-43");
    assert_string_equal(h.h[2].value, "journeyd/growth%20ops%2F%CE%B2~_.-");
    assert_string_equal(h.h[3].value, "journeyd.alert.resolved");

    /* the longest group fits, every byte percent-encoded */
    char group[ALERTMSG_GROUP_MAX + 2];
    memset(group, '/', ALERTMSG_GROUP_MAX);
    group[ALERTMSG_GROUP_MAX] = '\0';
    m.group = group;
    assert_int_equal(alertmsg_headers(&m, hex, &h, err, sizeof(err)), JD_OK);
    assert_int_equal(strlen(h.h[2].value), strlen("journeyd/") + 3 * ALERTMSG_GROUP_MAX);
    group[ALERTMSG_GROUP_MAX] = 'x';
    group[ALERTMSG_GROUP_MAX + 1] = '\0';
    assert_int_equal(alertmsg_headers(&m, hex, &h, err, sizeof(err)), JD_ERR_RANGE);
    assert_non_null(strstr(err, "longer than 255"));

    m = spec_msg();
    m.evaluated_at_ms = TS_MAX_MS + 1;
    assert_int_equal(alertmsg_headers(&m, hex, &h, err, sizeof(err)), JD_ERR_RANGE);
    m = spec_msg();
    m.group = NULL;
    assert_int_equal(alertmsg_headers(&m, hex, &h, err, sizeof(err)), JD_ERR_INVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fingerprint_empty),
        cmocka_unit_test(test_fingerprint_known_values),
        cmocka_unit_test(test_fingerprint_order_and_separators),
        cmocka_unit_test(test_format_spec_bytes),
        cmocka_unit_test(test_format_parse_back),
        cmocka_unit_test(test_format_resolved),
        cmocka_unit_test(test_format_values),
        cmocka_unit_test(test_format_escaping_and_urls),
        cmocka_unit_test(test_format_errors),
        cmocka_unit_test(test_headers),
    };
    return cmocka_run_group_tests_name("alertmsg", tests, NULL, NULL);
}
