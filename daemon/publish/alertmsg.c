/*
 * alertmsg.c — fingerprint, JSON body and CloudEvents headers of an alert.
 *
 * Owns the wire shape of alerts.md and nothing else: the alert's state, its
 * seq and the rendering of its annotations are the rule engine's, sending
 * it is publish.c's. jansson escapes every string; the two numbers (value,
 * threshold) and seq are spliced between jansson's pieces because jansson
 * prints a double either with a fixed precision or with ".0" appended, and
 * the contract wants 1845 and 0.1.
 */
#include "publish/alertmsg.h"

#include "core/hash.h"
#include "core/jd.h"
#include "evaluate/template.h"

#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* 0001-01-01T00:00:00Z: the first instant RFC 3339 can write (and Go's zero time). */
#define ALERTMSG_MIN_MS INT64_C(-62135596800000)

/* Orders labels by (name, value, position): a total order even with duplicates. */
static int alertmsg_cmp(const struct alertmsg_label *l, size_t a, size_t b)
{
    int c = strcmp(l[a].name, l[b].name);
    if (!c)
        c = strcmp(l[a].value, l[b].value);
    return c ? c : (a > b) - (a < b);
}

/*
 * The label after \p prev in sorted order (SIZE_MAX: the first), or n when
 * none is left. Quadratic over the whole set, which stays small, and needs
 * no allocation — so the fingerprint cannot fail.
 */
static size_t alertmsg_next(const struct alertmsg_label *l, size_t n, size_t prev)
{
    size_t best = n;
    for (size_t i = 0; i < n; i++)
        if ((prev == SIZE_MAX || alertmsg_cmp(l, i, prev) > 0) &&
            (best == n || alertmsg_cmp(l, i, best) < 0))
            best = i;
    return best;
}

uint64_t alertmsg_fingerprint(const struct alertmsg_label *labels, size_t n)
{
    static const unsigned char sep = 0xff;
    uint64_t h = HASH_FNV64_INIT;

    for (size_t i = alertmsg_next(labels, n, SIZE_MAX); i < n; i = alertmsg_next(labels, n, i)) {
        h = hash_fnv1a64(labels[i].name, strlen(labels[i].name), h);
        h = hash_fnv1a64(&sep, 1, h);
        h = hash_fnv1a64(labels[i].value, strlen(labels[i].value), h);
        h = hash_fnv1a64(&sep, 1, h);
    }
    return h;
}

void alertmsg_fingerprint_hex(uint64_t fp, char out[ALERTMSG_FP_HEX_SIZE])
{
    snprintf(out, ALERTMSG_FP_HEX_SIZE, "%016" PRIx64, fp);
}

/* A JSON object of \p l sorted by name; duplicate or NULL names are errors. */
static json_t *alertmsg_object(const char *what, const struct alertmsg_label *l, size_t n,
                               enum jd_err *err, char *errstr, size_t errstr_size)
{
    json_t *o = json_object();
    size_t prev = SIZE_MAX;

    for (size_t i = 0; o && i < n; i++)
        if (!l[i].name || !l[i].value) {
            *err =
                jd_errf(JD_ERR_INVALID, errstr, errstr_size, "%s %zu: NULL name or value", what, i);
            goto fail;
        }
    for (size_t i = alertmsg_next(l, n, SIZE_MAX); o && i < n; i = alertmsg_next(l, n, i)) {
        if (prev != SIZE_MAX && !strcmp(l[prev].name, l[i].name)) {
            *err = jd_errf(JD_ERR_INVALID, errstr, errstr_size, "%s '%s' appears twice", what,
                           l[i].name);
            goto fail;
        }
        if (json_object_set_new(o, l[i].name, json_string(l[i].value))) {
            *err =
                jd_errf(JD_ERR_INVALID, errstr, errstr_size,
                        "%s '%s': name or value is not UTF-8 (or out of memory)", what, l[i].name);
            goto fail;
        }
        prev = i;
    }
    if (!o)
        *err = jd_errf(JD_ERR_NOMEM, errstr, errstr_size, "out of memory");
    return o;
fail:
    json_decref(o);
    return NULL;
}

/* A growing output buffer; also the sink of json_dump_callback(). */
struct alertmsg_buf {
    char *p;
    size_t len, cap;
    bool oom;
};

static int alertmsg_put(const char *s, size_t n, void *data)
{
    struct alertmsg_buf *b = data;
    if (b->oom || !jd_reserve((void **)&b->p, &b->cap, b->len + n + 1, 1)) {
        b->oom = true;
        return -1;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

static void alertmsg_puts(struct alertmsg_buf *b, const char *s)
{
    alertmsg_put(s, strlen(s), b);
}

/* The members of \p o without the braces, for splicing. */
static void alertmsg_put_members(struct alertmsg_buf *b, const json_t *o)
{
    if (json_dump_callback(o, alertmsg_put, b, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_EMBED))
        b->oom = true;
}

static void alertmsg_put_number(struct alertmsg_buf *b, bool has, double v)
{
    char tmp[32];
    if (has && isfinite(v)) {
        template_format_number(v, tmp, sizeof(tmp));
        alertmsg_puts(b, tmp);
    } else {
        alertmsg_puts(b, "null");
    }
}

static bool alertmsg_time(int64_t ms, char *buf, const char *what, char *errstr, size_t errstr_size)
{
    if (ms < ALERTMSG_MIN_MS || ms > TS_MAX_MS) {
        jd_errf(JD_ERR_RANGE, errstr, errstr_size, "%s %" PRId64 " ms is outside years 1..9999",
                what, ms);
        return false;
    }
    ts_format_rfc3339(ms, buf, TS_RFC3339_SIZE);
    return true;
}

/* The alertname the labels carry (NULL when none). */
static const char *alertmsg_label_alertname(const struct alertmsg *m)
{
    for (size_t i = 0; i < m->nlabels; i++)
        if (m->labels[i].name && !strcmp(m->labels[i].name, "alertname"))
            return m->labels[i].value;
    return NULL;
}

enum jd_err alertmsg_format(const struct alertmsg *m, char **out, size_t *len, char *errstr,
                            size_t errstr_size)
{
    enum jd_err err = JD_ERR_NOMEM;
    const char *status = m->status == ALERTMSG_RESOLVED ? "resolved" : "firing";
    const char *url = m->external_url ? m->external_url : "";
    const char *alertname = alertmsg_label_alertname(m);
    char starts[TS_RFC3339_SIZE], ends[TS_RFC3339_SIZE] = "0001-01-01T00:00:00Z",
                                  evaluated[TS_RFC3339_SIZE], fp[ALERTMSG_FP_HEX_SIZE];
    char *group_key = NULL, *generator = NULL, *w, seq[24];
    size_t an, un;
    json_t *labels = NULL, *annotations = NULL, *head = NULL, *alert = NULL, *tail = NULL;
    struct alertmsg_buf b = { 0 };
    json_error_t jerr;

    if (!m->alertname || !m->group || !m->file || !m->expr || !m->receiver)
        return jd_errf(JD_ERR_INVALID, errstr, errstr_size,
                       "alertname, group, file, expr and receiver are required");
    if (!alertname || strcmp(alertname, m->alertname))
        return jd_errf(JD_ERR_INVALID, errstr, errstr_size, "the labels must hold alertname=\"%s\"",
                       m->alertname);
    if (!alertmsg_time(m->starts_at_ms, starts, "startsAt", errstr, errstr_size) ||
        (m->ends_at_ms && !alertmsg_time(m->ends_at_ms, ends, "endsAt", errstr, errstr_size)) ||
        !alertmsg_time(m->evaluated_at_ms, evaluated, "evaluatedAt", errstr, errstr_size))
        return JD_ERR_RANGE;
    if (!(labels = alertmsg_object("label", m->labels, m->nlabels, &err, errstr, errstr_size)) ||
        !(annotations = alertmsg_object("annotation", m->annotations, m->nannotations, &err, errstr,
                                        errstr_size)))
        goto cleanup;
    alertmsg_fingerprint_hex(alertmsg_fingerprint(m->labels, m->nlabels), fp);

    /* Alertmanager's groupKey: route "{}" and the group labels, values quoted as Go's %q would */
    an = strlen(m->alertname);
    un = strlen(url);
    if (!(group_key = malloc(2 * an + 20)) || !(generator = malloc(un + an + 3)))
        goto nomem;
    w = group_key + sprintf(group_key, "{}:{alertname=\"");
    for (const char *s = m->alertname; *s; s++) {
        if (*s == '"' || *s == '\\')
            *w++ = '\\';
        *w++ = *s;
    }
    strcpy(w, "\"}");
    un -= un > 0 && url[un - 1] == '/';
    if (un)
        sprintf(generator, "%.*s/#%s", (int)un, url, m->alertname);
    else
        generator[0] = '\0';

    head =
        json_pack_ex(&jerr, 0, "{s:s, s:s, s:s, s:s, s:i, s:{s:s}, s:O, s:O, s:s}", "version", "4",
                     "status", status, "receiver", m->receiver, "groupKey", group_key,
                     "truncatedAlerts", 0, "groupLabels", "alertname", m->alertname, "commonLabels",
                     labels, "commonAnnotations", annotations, "externalURL", url);
    alert = head ? json_pack_ex(&jerr, 0, "{s:s, s:s, s:O, s:O, s:s, s:s, s:s}", "status", status,
                                "fingerprint", fp, "labels", labels, "annotations", annotations,
                                "startsAt", starts, "endsAt", ends, "generatorURL", generator)
                 : NULL;
    tail = alert ? json_pack_ex(&jerr, 0, "{s:s, s:s, s:{s:s, s:s, s:s}}", "state",
                                m->state ? m->state : status, "evaluatedAt", evaluated, "rule",
                                "group", m->group, "file", m->file, "expr", m->expr)
                 : NULL;
    if (!tail) {
        err = jd_errf(JD_ERR_INVALID, errstr, errstr_size, "%s", jerr.text);
        goto cleanup;
    }

    snprintf(seq, sizeof(seq), "%" PRIu64, m->seq);
    alertmsg_puts(&b, "{");
    alertmsg_put_members(&b, head);
    alertmsg_puts(&b, ",\"alerts\":[{");
    alertmsg_put_members(&b, alert);
    alertmsg_puts(&b, ",\"value\":");
    alertmsg_put_number(&b, m->has_value, m->value);
    alertmsg_puts(&b, ",\"threshold\":");
    alertmsg_put_number(&b, m->has_threshold, m->threshold);
    alertmsg_puts(&b, ",");
    alertmsg_put_members(&b, tail);
    alertmsg_puts(&b, ",\"seq\":");
    alertmsg_puts(&b, seq);
    alertmsg_puts(&b, "}]}");
    if (b.oom)
        goto nomem;
    *out = b.p;
    *len = b.len;
    b.p = NULL;
    err = JD_OK;
    goto cleanup;
nomem:
    err = jd_errf(JD_ERR_NOMEM, errstr, errstr_size, "out of memory");
cleanup:
    free(b.p);
    json_decref(tail);
    json_decref(alert);
    json_decref(head);
    json_decref(annotations);
    json_decref(labels);
    free(generator);
    free(group_key);
    return err;
}

enum jd_err alertmsg_headers(const struct alertmsg *m, const char *fingerprint_hex,
                             struct alertmsg_headers *out, char *errstr, size_t errstr_size)
{
    static const char hex[] = "0123456789ABCDEF",
                      unreserved[] =
                          "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~";
    bool resolved = m->status == ALERTMSG_RESOLVED;
    char *w = out->source;

    if (!m->group || !m->alertname || !fingerprint_hex)
        return jd_errf(JD_ERR_INVALID, errstr, errstr_size, "group and alertname are required");
    if (strlen(m->group) > ALERTMSG_GROUP_MAX)
        return jd_errf(JD_ERR_RANGE, errstr, errstr_size, "group name longer than %d bytes",
                       ALERTMSG_GROUP_MAX);
    if (!alertmsg_time(m->evaluated_at_ms, out->time, "evaluatedAt", errstr, errstr_size))
        return JD_ERR_RANGE;
    snprintf(out->id, sizeof(out->id), "%.16s-%" PRIu64, fingerprint_hex, m->seq);
    /* RFC 3986 unreserved characters pass; everything else is %XX */
    w += sprintf(w, "journeyd/");
    for (const unsigned char *s = (const unsigned char *)m->group; *s; s++) {
        if (strchr(unreserved, *s)) {
            *w++ = (char)*s;
        } else {
            *w++ = '%';
            *w++ = hex[*s >> 4];
            *w++ = hex[*s & 15];
        }
    }
    *w = '\0';
    const struct alertmsg_header h[ALERTMSG_NHEADERS] = {
        { "ce_specversion", "1.0" },
        { "ce_id", out->id },
        { "ce_source", out->source },
        { "ce_type", resolved ? "journeyd.alert.resolved" : "journeyd.alert.firing" },
        { "ce_time", out->time },
        { "ce_subject", m->alertname },
        { "content-type", "application/json" },
    };
    memcpy(out->h, h, sizeof(h));
    return JD_OK;
}
