/*
 * engine_state.c — the engine's state as one JSON document, and back.
 *
 * Owns the saved-state format and its strict reading; what the fields mean
 * is engine.c's (engine_int.h). Where the document is kept is the caller's.
 *
 *   {"v":1,"start":T,"high":T,
 *    "groups":[{"name":S,"last_tick":T,"since":T}],
 *    "alerts":[{"group":S,"alert":S,"labels":{S:S,...},
 *               "state":"inactive"|"pending"|"firing","held":B,
 *               "active_since":T,"fired_at":T,"false_since":T,"last_sent":T,
 *               "seen_tick":T,"seq":N,"value":V,"threshold":V}]}
 *
 * T is int64 ms, or null for "none" (INT64_MIN). Alerts appear in creation
 * order so iteration order survives a round trip; labels sorted by name.
 * V is null when there is no value (has_value false). A finite V is a JSON
 * number (17 significant digits: exact); JSON has no NaN or infinities, so
 * those are the strings "NaN", "+Inf" and "-Inf" (Prometheus's spelling).
 */
#include "evaluate/engine.h"
#include "evaluate/engine_int.h"

#include "decode/event.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STATE_VERSION    1
#define STATE_MAX_LABELS (RULE_MAX_LABELS + EVENT_MAX_PROPS + 3)

/* ------------------------------------------------------------ saving */

static json_t *state_time_json(int64_t t)
{
    return t == INT64_MIN ? json_null() : json_integer((json_int_t)t);
}

static json_t *state_num_json(bool has, double v)
{
    if (!has)
        return json_null();
    if (isnan(v))
        return json_string("NaN");
    if (isinf(v))
        return json_string(v > 0 ? "+Inf" : "-Inf");
    return json_real(v);
}

/* The alert as an object, or NULL when out of memory. */
static json_t *state_alert_json(const struct engine_alert *a)
{
    json_t *labels = json_object();
    for (size_t i = 0; labels && i < a->nlabels; i++)
        if (json_object_set_new(labels, a->labels[i].name, json_string(a->labels[i].value))) {
            json_decref(labels);
            labels = NULL;
        }
    /* json_pack() steals every "o" even when it fails (a NULL among them is a failure) */
    return json_pack("{s:s, s:s, s:o, s:s, s:b, s:o, s:o, s:o, s:o, s:o, s:I, s:o, s:o}", "group",
                     a->group, "alert", a->alert, "labels", labels, "state",
                     engine_state_name(a->state), "held", (int)a->held, "active_since",
                     state_time_json(a->active_since), "fired_at", state_time_json(a->fired_at),
                     "false_since", state_time_json(a->false_since), "last_sent",
                     state_time_json(a->last_sent), "seen_tick", state_time_json(a->seen_tick),
                     "seq", (json_int_t)a->seq, "value", state_num_json(a->has_value, a->value),
                     "threshold", state_num_json(a->has_threshold, a->threshold));
}

enum jd_err engine_save(const struct engine *e, char **out, size_t *len, char *errstr,
                        size_t errstr_size)
{
    json_t *groups = json_array(), *alerts = json_array(), *root = NULL;
    bool ok = groups && alerts;
    char *text = NULL;

    for (size_t g = 0; ok && g < e->ngroups; g++)
        ok = !json_array_append_new(groups,
                                    json_pack("{s:s, s:o, s:o, s:b}", "name", e->groups[g].name,
                                              "last_tick", state_time_json(e->groups[g].last_tick),
                                              "since", state_time_json(e->groups[g].since),
                                              "join_at_wm", e->groups[g].join_at_wm));
    for (size_t k = 0; ok && k < e->norder; k++)
        ok = !json_array_append_new(alerts, state_alert_json(&e->tab[e->order[k]]));
    if (!ok)
        goto out;
    root = json_pack("{s:i, s:o, s:o, s:O, s:O}", "v", STATE_VERSION, "start",
                     state_time_json(e->start), "high", state_time_json(e->high), "groups", groups,
                     "alerts", alerts);
    if (root)
        text = json_dumps(root, JSON_COMPACT | JSON_REAL_PRECISION(17));
out:
    json_decref(groups);
    json_decref(alerts);
    json_decref(root);
    if (!text)
        return jd_errf(JD_ERR_NOMEM, errstr, errstr_size, "out of memory");
    *out = text;
    *len = strlen(text);
    return JD_OK;
}

/* ------------------------------------------------------------ loading */

/* What a field must be; ST_TIME is an integer or null, ST_COUNT a non-negative integer. */
enum state_type { ST_STRING, ST_TIME, ST_COUNT, ST_BOOL, ST_OBJECT, ST_ARRAY };

static const char *const state_expected[] = {
    "a string",  "an integer or null", "a non-negative integer",
    "a boolean", "an object",          "an array",
};

/*
 * o[key] when it has type \p t; else NULL with "<at><key>: ..." in errstr.
 * \p at prefixes field names in messages ("", "groups[1].", "alerts[3].").
 */
static const json_t *state_get(const json_t *o, const char *at, const char *key, enum state_type t,
                               char *errstr, size_t errstr_size)
{
    const json_t *v = json_object_get(o, key);
    bool ok = v && (t == ST_STRING   ? json_is_string(v)
                    : t == ST_TIME   ? json_is_null(v) || json_is_integer(v)
                    : t == ST_COUNT  ? json_is_integer(v) && json_integer_value(v) >= 0
                    : t == ST_BOOL   ? json_is_boolean(v)
                    : t == ST_OBJECT ? json_is_object(v)
                                     : json_is_array(v));
    if (!v)
        jd_errf(JD_ERR_INVALID, errstr, errstr_size, "%s%s: missing", at, key);
    else if (!ok)
        jd_errf(JD_ERR_INVALID, errstr, errstr_size, "%s%s: expected %s", at, key,
                state_expected[t]);
    return ok ? v : NULL;
}

static enum jd_err state_time(const json_t *o, const char *at, const char *key, int64_t *t,
                              char *errstr, size_t errstr_size)
{
    const json_t *v = state_get(o, at, key, ST_TIME, errstr, errstr_size);
    if (!v)
        return JD_ERR_INVALID;
    *t = json_is_null(v) ? INT64_MIN : (int64_t)json_integer_value(v);
    /* what an alert message can carry (years 1 to 9999): nothing later overflows */
    if (*t != INT64_MIN && (*t < INT64_C(-62135596800000) || *t > INT64_C(253402300799999)))
        return jd_errf(JD_ERR_INVALID, errstr, errstr_size, "%s%s: %lld is out of range", at, key,
                       (long long)*t);
    return JD_OK;
}

static enum jd_err state_str(const json_t *o, const char *at, const char *key, const char **s,
                             char *errstr, size_t errstr_size)
{
    const json_t *v = state_get(o, at, key, ST_STRING, errstr, errstr_size);
    *s = v ? json_string_value(v) : NULL;
    return v ? JD_OK : JD_ERR_INVALID;
}

/* A value: a number, null (none) or one of the strings that stand for NaN and infinities. */
static enum jd_err state_num(const json_t *o, const char *at, const char *key, bool *has, double *d,
                             char *errstr, size_t errstr_size)
{
    const json_t *v = json_object_get(o, key);
    const char *s = json_is_string(v) ? json_string_value(v) : "";
    *has = v && !json_is_null(v);
    *d = 0;
    if (json_is_number(v))
        *d = json_number_value(v);
    else if (!strcmp(s, "NaN") || !strcmp(s, "+Inf") || !strcmp(s, "-Inf"))
        *d = s[0] == 'N' ? NAN : s[0] == '+' ? INFINITY : -INFINITY;
    else if (!v)
        return jd_errf(JD_ERR_INVALID, errstr, errstr_size, "%s%s: missing", at, key);
    else if (*has)
        return jd_errf(JD_ERR_INVALID, errstr, errstr_size,
                       "%s%s: expected a number, \"NaN\", \"+Inf\", \"-Inf\" or null", at, key);
    return JD_OK;
}

/* Restores a group's progress into the group of the same name, if the ruleset still has it. */
static enum jd_err state_group(struct engine *e, const json_t *o, const char *at, char *errstr,
                               size_t errstr_size)
{
    const char *name;
    int64_t last, since;
    enum jd_err err;
    if ((err = state_str(o, at, "name", &name, errstr, errstr_size)) ||
        (err = state_time(o, at, "last_tick", &last, errstr, errstr_size)) ||
        (err = state_time(o, at, "since", &since, errstr, errstr_size)))
        return err;
    /* join_at_wm: optional (absent in older documents) */
    const json_t *j = json_object_get(o, "join_at_wm");
    if (j && !json_is_boolean(j))
        return jd_errf(JD_ERR_INVALID, errstr, errstr_size, "%sjoin_at_wm: expected a boolean", at);
    for (size_t g = 0; g < e->ngroups; g++)
        if (!strcmp(e->groups[g].name, name)) {
            if (e->groups[g].loaded)
                return jd_errf(JD_ERR_INVALID, errstr, errstr_size,
                               "%.*s: the same group as an earlier one", (int)strlen(at) - 1, at);
            e->groups[g].last_tick = last;
            e->groups[g].since = since;
            e->groups[g].join_at_wm = j && json_is_true(j);
            e->groups[g].loaded = true;
            if (last > e->high)
                e->high = last;
        }
    return JD_OK;
}

static int state_label_cmp(const void *a, const void *b)
{
    return strcmp(((const struct query_label *)a)->name, ((const struct query_label *)b)->name);
}

/* Interns alerts[i] and restores its fields (on error the caller clears the engine). */
static enum jd_err state_alert(struct engine *e, const json_t *o, const char *at, char *errstr,
                               size_t errstr_size)
{
    struct query_label lab[STATE_MAX_LABELS];
    const char *group, *alert, *state, *key;
    const json_t *labels, *held, *seq, *val;
    enum jd_err err;
    size_t n = 0;

    if ((err = state_str(o, at, "group", &group, errstr, errstr_size)) ||
        (err = state_str(o, at, "alert", &alert, errstr, errstr_size)) ||
        (err = state_str(o, at, "state", &state, errstr, errstr_size)))
        return err;
    if (!(labels = state_get(o, at, "labels", ST_OBJECT, errstr, errstr_size)) ||
        !(held = state_get(o, at, "held", ST_BOOL, errstr, errstr_size)) ||
        !(seq = state_get(o, at, "seq", ST_COUNT, errstr, errstr_size)))
        return JD_ERR_INVALID;
    if (strcmp(state, "inactive") && strcmp(state, "pending") && strcmp(state, "firing"))
        return jd_errf(JD_ERR_INVALID, errstr, errstr_size,
                       "%sstate: expected \"inactive\", \"pending\" or \"firing\"", at);
    if (json_object_size(labels) > STATE_MAX_LABELS)
        return jd_errf(JD_ERR_INVALID, errstr, errstr_size, "%slabels: more than %d labels", at,
                       STATE_MAX_LABELS);
    json_object_foreach((json_t *)labels, key, val)
    {
        if (!json_is_string(val))
            return jd_errf(JD_ERR_INVALID, errstr, errstr_size, "%slabels.%s: expected a string",
                           at, key);
        lab[n++] = (struct query_label){ (char *)key, (char *)json_string_value(val) };
    }
    qsort(lab, n, sizeof(*lab), state_label_cmp);

    size_t before = e->norder;
    struct engine_alert *a = engine_alert_intern(e, group, alert, lab, n);
    if (!a)
        return jd_errf(JD_ERR_NOMEM, errstr, errstr_size, "out of memory");
    if (e->norder == before)
        return jd_errf(JD_ERR_INVALID, errstr, errstr_size,
                       "%.*s: the same alert as an earlier one", (int)strlen(at) - 1, at);
    if ((err = state_time(o, at, "active_since", &a->active_since, errstr, errstr_size)) ||
        (err = state_time(o, at, "fired_at", &a->fired_at, errstr, errstr_size)) ||
        (err = state_time(o, at, "false_since", &a->false_since, errstr, errstr_size)) ||
        (err = state_time(o, at, "last_sent", &a->last_sent, errstr, errstr_size)) ||
        (err = state_time(o, at, "seen_tick", &a->seen_tick, errstr, errstr_size)) ||
        (err = state_num(o, at, "value", &a->has_value, &a->value, errstr, errstr_size)) ||
        (err =
             state_num(o, at, "threshold", &a->has_threshold, &a->threshold, errstr, errstr_size)))
        return err;
    a->seq = (uint64_t)json_integer_value(seq);
    /* as engine_set_ruleset(): an alert whose rule is gone keeps only its seq */
    const struct rule *r = ruleset_find(e->rs, group, alert);
    a->rule = r ? (size_t)(r - e->rs->rules) : SIZE_MAX;
    a->state = !r || state[0] == 'i' ? ENGINE_INACTIVE
               : state[0] == 'p'     ? ENGINE_PENDING
                                     : ENGINE_FIRING;
    a->held = r && json_is_true(held);
    return JD_OK;
}

/* Reads the top level, then each group and alert, into the cleared engine. */
static enum jd_err state_doc(struct engine *e, const json_t *root, char *errstr, size_t errstr_size)
{
    const json_t *v, *groups, *alerts, *item;
    char at[48];
    enum jd_err err;

    for (size_t g = 0; g < e->ngroups; g++)
        e->groups[g].loaded = false; /* a failed load may have left some set */
    if (!json_is_object(root))
        return jd_errf(JD_ERR_INVALID, errstr, errstr_size, "expected an object");
    if (!(v = state_get(root, "", "v", ST_COUNT, errstr, errstr_size)))
        return JD_ERR_INVALID;
    if (json_integer_value(v) != STATE_VERSION)
        return jd_errf(JD_ERR_INVALID, errstr, errstr_size, "v: version %lld is not %d",
                       (long long)json_integer_value(v), STATE_VERSION);
    if ((err = state_time(root, "", "start", &e->start, errstr, errstr_size)) ||
        (err = state_time(root, "", "high", &e->high, errstr, errstr_size)))
        return err;
    if (!(groups = state_get(root, "", "groups", ST_ARRAY, errstr, errstr_size)) ||
        !(alerts = state_get(root, "", "alerts", ST_ARRAY, errstr, errstr_size)))
        return JD_ERR_INVALID;
    for (size_t i = 0; i < json_array_size(groups) + json_array_size(alerts); i++) {
        bool is_group = i < json_array_size(groups);
        size_t k = is_group ? i : i - json_array_size(groups);
        item = json_array_get(is_group ? groups : alerts, k);
        snprintf(at, sizeof(at), "%s[%zu].", is_group ? "groups" : "alerts", k);
        if (!json_is_object(item))
            return jd_errf(JD_ERR_INVALID, errstr, errstr_size, "%.*s: expected an object",
                           (int)strlen(at) - 1, at);
        err = is_group ? state_group(e, item, at, errstr, errstr_size)
                       : state_alert(e, item, at, errstr, errstr_size);
        if (err)
            return err;
    }
    /* groups the saved engine did not have joined a running engine: they start at the watermark */
    for (size_t g = 0; g < e->ngroups; g++) {
        if (!e->groups[g].loaded && e->high != INT64_MIN)
            e->groups[g].join_at_wm = true;
        e->groups[g].loaded = false;
    }
    return JD_OK;
}

enum jd_err engine_load(struct engine *e, const char *doc, size_t len, char *errstr,
                        size_t errstr_size)
{
    json_error_t jerr;
    enum jd_err err;

    engine_clear(e);
    json_t *root = json_loadb(doc, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        if (json_error_code(&jerr) == json_error_out_of_memory)
            return jd_errf(JD_ERR_NOMEM, errstr, errstr_size, "out of memory");
        return jd_errf(JD_ERR_INVALID, errstr, errstr_size, "line %d column %d: %s", jerr.line,
                       jerr.column, jerr.text);
    }
    if ((err = state_doc(e, root, errstr, errstr_size)))
        engine_clear(e);
    json_decref(root);
    return err;
}

void engine_reset(struct engine *e)
{
    engine_clear(e);
}
