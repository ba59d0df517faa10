/*
 * event.c — maps a parsed document (flat JSON/MessagePack, Segment `track`,
 * CloudEvents structured or binary) onto struct event and validates it.
 *
 * Owns the field contract of events.md: which fields exist, their types and
 * lengths, the dialect mappings and every rejection reason. It does not
 * parse bytes (json.c, mpack.c), does not know Kafka (headers arrive as an
 * array) and keeps no state between messages apart from preallocated buffers.
 */
#include "decode/event.h"

#include "core/ts.h"
#include "decode/doc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct event_decoder {
    struct event_decoder_opts opts;
    struct doc *doc;
    char *aux; /* rendered numbers, snake_cased names */
    size_t aux_len, aux_cap;
    struct doc_node hdr_nodes[4]; /* binary CloudEvents attributes as string nodes */
};

/* The nodes (or header values) that feed each field, before validation. */
struct event_fields {
    const struct doc_node *event_id, *type, *ts, *user_id, *channel, *campaign, *utm, *value,
        *props;
    const char *src_event_id, *src_type, *src_ts, *src_user_id; /* names in the source dialect */
    bool map_type;                                              /* apply events.type_map */
    bool snake_type;    /* lower_snake_case an unmapped type (Segment) */
    bool lenient_props; /* Segment: skip properties that cannot be labels */
};

const char *event_dialect_name(enum event_dialect d)
{
    switch (d) {
    case EVENT_DIALECT_FLAT:
        return "flat";
    case EVENT_DIALECT_SEGMENT:
        return "segment";
    case EVENT_DIALECT_CE_STRUCTURED:
        return "cloudevents";
    case EVENT_DIALECT_CE_BINARY:
        return "cloudevents-binary";
    }
    return "?";
}

void event_decoder_opts_from_config(struct event_decoder_opts *o, const struct config *cfg)
{
    memset(o, 0, sizeof(*o));
    o->encoding = !strcmp(cfg->events.encoding, "json")      ? EVENT_ENC_JSON
                  : !strcmp(cfg->events.encoding, "msgpack") ? EVENT_ENC_MSGPACK
                                                             : EVENT_ENC_AUTO;
    o->max_bytes = (size_t)cfg->events.max_bytes;
    o->max_props = (size_t)cfg->limits.max_props;
    o->max_future_ms = cfg->events.max_future_ms;
    o->type_map = &cfg->events.type_map;
    o->touch_types = &cfg->attribution.touch_types;
    o->conversion_types = &cfg->attribution.conversion_types;
}

struct event_decoder *event_decoder_new(const struct event_decoder_opts *opts, char *errstr,
                                        size_t errstr_size)
{
    struct event_decoder *d = calloc(1, sizeof(*d));
    if (!d)
        goto nomem;
    d->opts = *opts;
    if (d->opts.max_props > EVENT_MAX_PROPS)
        d->opts.max_props = EVENT_MAX_PROPS;
    d->doc = doc_new(opts->max_bytes);
    /* snake_cased names take at most 2 bytes per input byte; rendered numbers 24 each */
    d->aux_cap = 2 * opts->max_bytes + 4096;
    d->aux = malloc(d->aux_cap);
    if (!d->doc || !d->aux)
        goto nomem;
    return d;
nomem:
    event_decoder_destroy(d);
    jd_errf(JD_ERR_NOMEM, errstr, errstr_size, "out of memory for the event decoder");
    return NULL;
}

void event_decoder_destroy(struct event_decoder *d)
{
    if (!d)
        return;
    doc_destroy(d->doc);
    free(d->aux);
    free(d);
}

size_t event_format_micros(int64_t micros, char *buf)
{
    uint64_t mag = micros < 0 ? (uint64_t)0 - (uint64_t)micros : (uint64_t)micros;
    uint64_t ip = mag / 1000000, fp = mag % 1000000;
    int n = snprintf(buf, 24, "%s%llu", micros < 0 ? "-" : "", (unsigned long long)ip);
    if (fp) {
        char f[8];
        snprintf(f, sizeof(f), "%06llu", (unsigned long long)fp);
        size_t fl = 6;
        while (f[fl - 1] == '0')
            fl--;
        buf[n++] = '.';
        memcpy(buf + n, f, fl);
        n += (int)fl;
        buf[n] = '\0';
    }
    return (size_t)n;
}

static bool event_list_has(const struct config_list *l, struct jd_str s)
{
    if (!l)
        return false;
    for (size_t i = 0; i < l->n; i++)
        if (jd_str_eqc(s, l->v[i]))
            return true;
    return false;
}

bool event_is_journey_type(const struct event_decoder *d, struct jd_str type)
{
    return event_list_has(d->opts.touch_types, type) ||
           event_list_has(d->opts.conversion_types, type);
}

static bool event_is_name(const char *s, size_t n, size_t max)
{
    if (n == 0 || n > max)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            return false;
    }
    return true;
}

static bool event_has_control(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20)
            return true;
    return false;
}

static char *event_aux(struct event_decoder *d, size_t n)
{
    if (d->aux_len + n > d->aux_cap)
        return NULL;
    char *p = d->aux + d->aux_len;
    d->aux_len += n;
    return p;
}

/* "Order Completed" -> "order_completed", "OrderCompleted" -> "order_completed". */
static struct jd_str event_snake_case(struct event_decoder *d, const char *s, size_t n)
{
    char *out = event_aux(d, 2 * n + 1);
    size_t w = 0;
    bool pending_sep = false;
    if (!out)
        return JD_STR_NULL;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool upper = c >= 'A' && c <= 'Z', lower = c >= 'a' && c <= 'z',
             digit = c >= '0' && c <= '9';
        if (upper || lower || digit) {
            if (upper && w > 0 && i > 0 &&
                ((s[i - 1] >= 'a' && s[i - 1] <= 'z') || (s[i - 1] >= '0' && s[i - 1] <= '9')))
                pending_sep = true;
            if (pending_sep && w > 0)
                out[w++] = '_';
            pending_sep = false;
            out[w++] = upper ? (char)(c - 'A' + 'a') : c;
        } else {
            pending_sep = true;
        }
    }
    d->aux_len -= 2 * n + 1 - w; /* give back what the name did not use */
    return (struct jd_str){ out, w };
}

/* ------------------------------------------------------------ field scan */

static enum jd_err event_dup(char *errstr, size_t n, const char *name)
{
    return jd_errf(JD_ERR_EV_DUPLICATE_KEY, errstr, n, "%s: appears more than once", name);
}

/* Records the flat-dialect fields of object `obj`; `all` also takes event_id/type/ts. */
/*
 * The index of a flat member's name in event_scan_flat()'s table, or
 * SIZE_MAX: by length first, so most keys cost one comparison (every event
 * comes through here).
 */
static size_t event_flat_slot(const char *k, size_t n)
{
#define EVENT_IS(lit) (n == sizeof(lit) - 1 && !memcmp(k, lit, sizeof(lit) - 1))
    switch (n) {
    case 2:
        return EVENT_IS("ts") ? 2 : SIZE_MAX;
    case 3:
        return EVENT_IS("utm") ? 6 : SIZE_MAX;
    case 4:
        return EVENT_IS("type") ? 1 : SIZE_MAX;
    case 5:
        return EVENT_IS("value") ? 7 : EVENT_IS("props") ? 8 : SIZE_MAX;
    case 7:
        return EVENT_IS("user_id") ? 3 : EVENT_IS("channel") ? 4 : SIZE_MAX;
    case 8:
        return EVENT_IS("event_id") ? 0 : EVENT_IS("campaign") ? 5 : SIZE_MAX;
    default:
        return SIZE_MAX;
    }
#undef EVENT_IS
}

static enum jd_err event_scan_flat(struct event_decoder *d, const struct doc_node *obj,
                                   struct event_fields *f, bool all, char *errstr, size_t n)
{
    static const char *const names[] = { "event_id", "type", "ts",    "user_id", "channel",
                                         "campaign", "utm",  "value", "props" };
    const struct doc_node **slots[] = { &f->event_id, &f->type, &f->ts,    &f->user_id, &f->channel,
                                        &f->campaign, &f->utm,  &f->value, &f->props };
    struct doc *doc = d->doc;

    for (uint32_t i = doc_first_child(doc, obj), k = 0; k < obj->count; k++) {
        const struct doc_node *c = &doc->nodes[i];
        i = c->end;
        if (c->flags & DOC_F_BADKEY)
            return jd_errf(JD_ERR_EV_BAD_TYPE, errstr, n, "object keys must be strings");
        size_t s = event_flat_slot(c->key, c->key_len);
        if (s == SIZE_MAX || (!all && s < 3))
            continue;
        if (*slots[s])
            return event_dup(errstr, n, names[s]);
        *slots[s] = c;
    }
    return JD_OK;
}

/* Finds the named members of `obj` (each may be absent), rejecting repeats. */
static enum jd_err event_pick(const struct doc *doc, const struct doc_node *obj,
                              const char *const *names, const struct doc_node **out, size_t count,
                              char *errstr, size_t n)
{
    for (size_t s = 0; s < count; s++)
        out[s] = NULL;
    if (!obj || obj->type != DOC_OBJ)
        return JD_OK;
    for (uint32_t i = doc_first_child(doc, obj), k = 0; k < obj->count; k++) {
        const struct doc_node *c = &doc->nodes[i];
        i = c->end;
        for (size_t s = 0; s < count; s++) {
            if (!c->key || !c->key_len || c->key[0] != names[s][0])
                continue;
            size_t nl = strlen(names[s]);
            if (c->key_len == nl && !memcmp(c->key, names[s], nl)) {
                if (out[s])
                    return event_dup(errstr, n, names[s]);
                out[s] = c;
            }
        }
    }
    return JD_OK;
}

static bool event_is_null(const struct doc_node *n)
{
    return !n || n->type == DOC_NULL;
}

/* ------------------------------------------------------------ validation */

static enum jd_err event_string(const struct doc_node *node, const char *name, size_t min,
                                size_t max, bool required, struct jd_str *out, char *errstr,
                                size_t n)
{
    *out = JD_STR_NULL;
    if (event_is_null(node)) {
        if (required)
            return jd_errf(JD_ERR_EV_MISSING_FIELD, errstr, n, "%s: missing", name);
        return JD_OK;
    }
    if (node->type != DOC_STR)
        return jd_errf(JD_ERR_EV_BAD_TYPE, errstr, n, "%s: must be a string", name);
    if (node->len < min || node->len > max)
        return jd_errf(JD_ERR_EV_BAD_TYPE, errstr, n, "%s: must be %zu to %zu bytes, got %u", name,
                       min, max, node->len);
    if (event_has_control(node->s, node->len))
        return jd_errf(JD_ERR_EV_BAD_TYPE, errstr, n, "%s: control characters are not allowed",
                       name);
    *out = (struct jd_str){ node->s, node->len };
    return JD_OK;
}

static enum jd_err event_ts(const struct doc_node *node, const char *name, int64_t now_ms,
                            int64_t max_future_ms, int64_t *out, char *errstr, size_t n)
{
    char reason[128];
    if (event_is_null(node))
        return jd_errf(JD_ERR_EV_MISSING_FIELD, errstr, n, "%s: missing", name);
    if (node->type == DOC_STR) {
        if (ts_parse_rfc3339(node->s, node->len, out, reason, sizeof(reason)) != JD_OK)
            return jd_errf(JD_ERR_EV_BAD_TS, errstr, n, "%s: not an RFC 3339 time: %s", name,
                           reason);
        if (*out < 0 || *out > TS_MAX_MS)
            return jd_errf(JD_ERR_EV_BAD_TS, errstr, n, "%s: before 1970 or after 9999", name);
    } else if (doc_is_number(node)) {
        bool exact;
        enum jd_err err = doc_num_scaled(node, 0, TS_MAX_MS, out, &exact);
        if (err || !exact || *out < 0)
            return jd_errf(JD_ERR_EV_BAD_TS, errstr, n,
                           "%s: epoch milliseconds must be an integer from 0 to %lld", name,
                           (long long)TS_MAX_MS);
    } else {
        return jd_errf(JD_ERR_EV_BAD_TS, errstr, n,
                       "%s: must be an RFC 3339 string or integer epoch milliseconds", name);
    }
    if (now_ms != INT64_MAX && *out > now_ms + max_future_ms) {
        char t[TS_RFC3339_SIZE];
        ts_format_rfc3339(*out, t, sizeof(t));
        return jd_errf(JD_ERR_EV_BAD_TS, errstr, n,
                       "%s: %s is further in the future than events.max_future", name, t);
    }
    return JD_OK;
}

static enum jd_err event_value(const struct doc_node *node, const char *name, int64_t *out,
                               bool *has, char *errstr, size_t n)
{
    *has = false;
    if (event_is_null(node))
        return JD_OK;
    if (!doc_is_number(node))
        return jd_errf(JD_ERR_EV_BAD_TYPE, errstr, n, "%s: must be a number", name);
    enum jd_err err = doc_num_scaled(node, 6, EVENT_MAX_VALUE_MICROS, out, NULL);
    if (err == JD_ERR_RANGE)
        return jd_errf(JD_ERR_EV_BAD_VALUE, errstr, n, "%s: magnitude above 9e12", name);
    if (err)
        return jd_errf(JD_ERR_EV_BAD_VALUE, errstr, n, "%s: not a finite number", name);
    *has = true;
    return JD_OK;
}

static bool event_prop_reserved(const char *k, size_t n)
{
    return (n == 7 && !memcmp(k, "channel", 7)) || (n == 8 && !memcmp(k, "campaign", 8));
}

/*
 * Adds one property. Strict mode (flat props) rejects what cannot be a label;
 * lenient mode (Segment properties) skips it instead.
 */
static enum jd_err event_add_prop(struct event_decoder *d, struct event *ev, struct jd_str key,
                                  const struct doc_node *v, bool lenient, char *errstr, size_t n)
{
    struct event_prop prop = { .key = key }, *p = &prop;
    if (!event_is_name(key.p, key.n, 64) || event_prop_reserved(key.p, key.n)) {
        if (lenient)
            return JD_OK;
        return jd_errf(JD_ERR_EV_BAD_TYPE, errstr, n,
                       "props.%.*s: keys must match [a-z0-9_]{1,64} and not be channel/campaign",
                       (int)JD_MIN(key.n, 64), key.p);
    }
    for (uint32_t i = 0; i < ev->nprops; i++)
        if (jd_str_eq(ev->props[i].key, key))
            return jd_errf(JD_ERR_EV_DUPLICATE_KEY, errstr, n, "props.%.*s: appears more than once",
                           (int)key.n, key.p);
    switch (v->type) {
    case DOC_STR:
        if (v->len > 256 || event_has_control(v->s, v->len)) {
            if (lenient)
                return JD_OK;
            return jd_errf(JD_ERR_EV_BAD_TYPE, errstr, n,
                           "props.%.*s: strings are at most 256 bytes, without control characters",
                           (int)key.n, key.p);
        }
        p->kind = EVENT_PROP_STR;
        p->val = (struct jd_str){ v->s, v->len };
        break;
    case DOC_BOOL:
        p->kind = EVENT_PROP_BOOL;
        p->val = v->num.b ? JD_STR_LIT("true") : JD_STR_LIT("false");
        break;
    case DOC_INT:
    case DOC_UINT:
    case DOC_FLOAT:
    case DOC_NUMTEXT: {
        int64_t micros;
        if (doc_num_scaled(v, 6, EVENT_MAX_VALUE_MICROS, &micros, NULL) != JD_OK) {
            if (lenient)
                return JD_OK;
            return jd_errf(JD_ERR_EV_BAD_VALUE, errstr, n, "props.%.*s: number out of range",
                           (int)key.n, key.p);
        }
        char *buf = event_aux(d, 24);
        if (!buf)
            return jd_errf(JD_ERR_EV_TOO_LARGE, errstr, n, "props: too much to render");
        p->kind = EVENT_PROP_NUM;
        p->val = (struct jd_str){ buf, event_format_micros(micros, buf) };
        break;
    }
    default:
        if (lenient)
            return JD_OK;
        return jd_errf(JD_ERR_EV_BAD_TYPE, errstr, n,
                       "props.%.*s: values must be strings, numbers or booleans", (int)key.n,
                       key.p);
    }
    /* counted only once the value is known to be usable: a skipped one must not count */
    if (ev->nprops >= d->opts.max_props)
        return jd_errf(JD_ERR_EV_BAD_TYPE, errstr, n,
                       "props: more than %zu entries (limits.max_props)", d->opts.max_props);
    ev->props[ev->nprops++] = prop;
    return JD_OK;
}

static void event_sort_props(struct event *ev)
{
    for (uint32_t i = 1; i < ev->nprops; i++) {
        struct event_prop t = ev->props[i];
        uint32_t j = i;
        while (j > 0 && jd_str_cmp(ev->props[j - 1].key, t.key) > 0) {
            ev->props[j] = ev->props[j - 1];
            j--;
        }
        ev->props[j] = t;
    }
}

static enum jd_err event_props(struct event_decoder *d, const struct doc_node *obj,
                               struct event *ev, bool lenient, char *errstr, size_t n)
{
    enum jd_err err;
    if (event_is_null(obj))
        return JD_OK;
    if (obj->type != DOC_OBJ)
        return jd_errf(JD_ERR_EV_BAD_TYPE, errstr, n, "props: must be an object");
    for (uint32_t i = doc_first_child(d->doc, obj), k = 0; k < obj->count; k++) {
        const struct doc_node *c = &d->doc->nodes[i];
        i = c->end;
        if (!c->key) {
            if (lenient)
                continue;
            return jd_errf(JD_ERR_EV_BAD_TYPE, errstr, n, "props: keys must be strings");
        }
        if ((err = event_add_prop(d, ev, (struct jd_str){ c->key, c->key_len }, c, lenient, errstr,
                                  n)))
            return err;
    }
    return JD_OK;
}

/* Common validation once a dialect has said where each field comes from. */
static enum jd_err event_finish(struct event_decoder *d, const struct event_fields *f,
                                int64_t now_ms, struct event *ev, char *errstr, size_t n)
{
    enum jd_err err;
    struct jd_str raw_type;
    const struct doc_node *utm[2] = { NULL, NULL }; /* source, campaign */

    if ((err = event_string(f->event_id, f->src_event_id, 1, 128, true, &ev->event_id, errstr, n)))
        return err;
    if ((err = event_string(f->type, f->src_type, 1, 1024, true, &raw_type, errstr, n)))
        return err;
    ev->type = raw_type;
    if (f->map_type && d->opts.type_map) {
        for (size_t i = 0; i < d->opts.type_map->n; i++)
            if (jd_str_eqc(raw_type, d->opts.type_map->keys[i])) {
                ev->type = jd_str_c(d->opts.type_map->vals[i]);
                goto mapped;
            }
        if (f->snake_type)
            ev->type = event_snake_case(d, raw_type.p, raw_type.n);
    }
mapped:
    if (!event_is_name(ev->type.p, ev->type.n, 64))
        return jd_errf(JD_ERR_EV_BAD_TYPE, errstr, n,
                       "%s: '%.*s' is not an event type ([a-z0-9_]{1,64}; map it with "
                       "events.type_map)",
                       f->src_type, (int)JD_MIN(raw_type.n, 80), raw_type.p);
    if ((err = event_ts(f->ts, f->src_ts, now_ms, d->opts.max_future_ms, &ev->ts_ms, errstr, n)))
        return err;
    if ((err = event_string(f->user_id, f->src_user_id, 1, 256, false, &ev->user_id, errstr, n)))
        return err;
    if ((err = event_string(f->channel, "channel", 1, 64, false, &ev->channel, errstr, n)))
        return err;
    if ((err = event_string(f->campaign, "campaign", 0, 128, false, &ev->campaign, errstr, n)))
        return err;
    if (!event_is_null(f->utm)) {
        static const char *const utm_names[] = { "source", "campaign", "medium", "term",
                                                 "content" };
        const struct doc_node *un[5];
        if (f->utm->type != DOC_OBJ)
            return jd_errf(JD_ERR_EV_BAD_TYPE, errstr, n, "utm: must be an object");
        if ((err = event_pick(d->doc, f->utm, utm_names, un, 5, errstr, n)))
            return err;
        for (size_t i = 0; i < 5; i++)
            if (!event_is_null(un[i]) && un[i]->type != DOC_STR)
                return jd_errf(JD_ERR_EV_BAD_TYPE, errstr, n, "utm.%s: must be a string",
                               utm_names[i]);
        utm[0] = un[0];
        utm[1] = un[1];
    }
    if (ev->channel.n == 0 && !event_is_null(utm[0])) {
        if ((err = event_string(utm[0], "utm.source", 1, 64, false, &ev->channel, errstr, n)))
            return err;
        if (ev->campaign.n == 0 &&
            (err = event_string(utm[1], "utm.campaign", 0, 128, false, &ev->campaign, errstr, n)))
            return err;
    }
    if ((err = event_value(f->value, "value", &ev->value, &ev->has_value, errstr, n)))
        return err;
    if ((err = event_props(d, f->props, ev, f->lenient_props, errstr, n)))
        return err;
    event_sort_props(ev);

    bool touch = event_list_has(d->opts.touch_types, ev->type);
    if ((touch || event_list_has(d->opts.conversion_types, ev->type)) && ev->user_id.n == 0)
        return jd_errf(JD_ERR_EV_MISSING_FIELD, errstr, n, "%s: required for '%.*s' events",
                       f->src_user_id, (int)ev->type.n, ev->type.p);
    if ((touch || jd_str_eqc(ev->type, "cost")) && ev->channel.n == 0)
        return jd_errf(JD_ERR_EV_MISSING_FIELD, errstr, n,
                       "channel: required for '%.*s' events (or utm.source)", (int)ev->type.n,
                       ev->type.p);
    return JD_OK;
}

/* ------------------------------------------------------------- dialects */

static enum jd_err event_segment(struct event_decoder *d, const struct doc_node *root,
                                 int64_t now_ms, struct event *ev, char *errstr, size_t n)
{
    static const char *const top_names[] = { "messageId", "timestamp",   "originalTimestamp",
                                             "userId",    "anonymousId", "event",
                                             "context",   "properties" };
    static const char *const camp_names[] = { "source", "name" };
    static const char *const value_names[] = { "revenue", "value", "amount" };
    const struct doc_node *t[8], *ctx_campaign[1], *camp[2], *vals[3];
    struct event_fields f = { 0 };
    enum jd_err err;

    if ((err = event_pick(d->doc, root, top_names, t, 8, errstr, n)))
        return err;
    f.event_id = t[0];
    f.src_event_id = "messageId";
    f.ts = !event_is_null(t[1]) ? t[1] : t[2];
    f.src_ts = !event_is_null(t[1]) ? "timestamp" : "originalTimestamp";
    bool has_user = !event_is_null(t[3]) && !(t[3]->type == DOC_STR && t[3]->len == 0);
    f.user_id = has_user ? t[3] : t[4];
    f.src_user_id = has_user ? "userId" : "anonymousId";
    f.type = t[5];
    f.src_type = "event";
    f.map_type = true;
    f.snake_type = true;
    f.lenient_props = true;

    if (!event_is_null(t[6]) && t[6]->type != DOC_OBJ)
        return jd_errf(JD_ERR_EV_BAD_TYPE, errstr, n, "context: must be an object");
    static const char *const ctx_names[] = { "campaign" };
    if ((err = event_pick(d->doc, t[6], ctx_names, ctx_campaign, 1, errstr, n)))
        return err;
    if (!event_is_null(ctx_campaign[0]) && ctx_campaign[0]->type != DOC_OBJ)
        return jd_errf(JD_ERR_EV_BAD_TYPE, errstr, n, "context.campaign: must be an object");
    if ((err = event_pick(d->doc, ctx_campaign[0], camp_names, camp, 2, errstr, n)))
        return err;
    f.channel = camp[0];
    f.campaign = camp[1];

    const struct doc_node *props = t[7];
    if (!event_is_null(props) && props->type != DOC_OBJ)
        return jd_errf(JD_ERR_EV_BAD_TYPE, errstr, n, "properties: must be an object");
    if ((err = event_pick(d->doc, props, value_names, vals, 3, errstr, n)))
        return err;
    f.value = !event_is_null(vals[0]) ? vals[0] : !event_is_null(vals[1]) ? vals[1] : vals[2];

    if ((err = event_finish(d, &f, now_ms, ev, errstr, n)))
        return err;
    /* other scalar properties become props (snake_cased keys; unusable ones skipped) */
    if (!event_is_null(props)) {
        for (uint32_t i = doc_first_child(d->doc, props), k = 0; k < props->count; k++) {
            const struct doc_node *c = &d->doc->nodes[i];
            i = c->end;
            if (!c->key || c == vals[0] || c == vals[1] || c == vals[2])
                continue;
            if (c->type == DOC_OBJ || c->type == DOC_ARR || c->type == DOC_NULL)
                continue;
            struct jd_str key = event_snake_case(d, c->key, c->key_len);
            /* a property whose key collides after snake_casing keeps the first */
            bool seen = false;
            for (uint32_t j = 0; j < ev->nprops && !seen; j++)
                seen = jd_str_eq(ev->props[j].key, key);
            if (seen)
                continue;
            if ((err = event_add_prop(d, ev, key, c, true, errstr, n)))
                return err;
        }
        event_sort_props(ev);
    }
    ev->dialect = EVENT_DIALECT_SEGMENT;
    return JD_OK;
}

static enum jd_err event_cloudevents(struct event_decoder *d, const struct doc_node *root,
                                     int64_t now_ms, struct event *ev, char *errstr, size_t n)
{
    static const char *const names[] = { "specversion", "id", "time", "type", "subject", "data" };
    const struct doc_node *t[6];
    struct event_fields f = { 0 };
    enum jd_err err;

    if ((err = event_pick(d->doc, root, names, t, 6, errstr, n)))
        return err;
    if (t[0]->type != DOC_STR || !(t[0]->len == 3 && !memcmp(t[0]->s, "1.0", 3)))
        return jd_errf(JD_ERR_EV_BAD_TYPE, errstr, n,
                       "specversion: only CloudEvents \"1.0\" is "
                       "accepted");
    const struct doc_node *data = t[5];
    if (!event_is_null(data) && data->type != DOC_OBJ)
        return jd_errf(JD_ERR_EV_BAD_TYPE, errstr, n,
                       "data: must be an object holding the event's other fields");
    if (!event_is_null(data) && (err = event_scan_flat(d, data, &f, false, errstr, n)))
        return err;
    f.event_id = t[1];
    f.src_event_id = "id";
    f.ts = t[2];
    f.src_ts = "time";
    f.type = t[3];
    f.src_type = "type";
    f.map_type = true;
    f.src_user_id = "data.user_id";
    if (event_is_null(f.user_id)) {
        f.user_id = t[4];
        f.src_user_id = "subject";
    }
    if ((err = event_finish(d, &f, now_ms, ev, errstr, n)))
        return err;
    ev->dialect = EVENT_DIALECT_CE_STRUCTURED;
    return JD_OK;
}

static const struct event_header *event_find_header(const struct event_header *h, size_t nh,
                                                    const char *name)
{
    for (size_t i = 0; i < nh; i++)
        if (!strcmp(h[i].name, name))
            return &h[i];
    return NULL;
}

/* A binary-mode attribute header as a string node, so validation is shared. */
static const struct doc_node *event_header_node(struct event_decoder *d, int slot,
                                                const struct event_header *h)
{
    struct doc_node *node = &d->hdr_nodes[slot];
    if (!h || !h->value)
        return NULL;
    memset(node, 0, sizeof(*node));
    node->type = DOC_STR;
    node->s = h->value;
    node->len = (uint32_t)h->len;
    return node;
}

static enum jd_err event_ce_binary(struct event_decoder *d, const struct doc_node *data,
                                   const struct event_header *hdrs, size_t nhdrs, int64_t now_ms,
                                   struct event *ev, char *errstr, size_t n)
{
    static const char *const attrs[] = { "ce_id", "ce_time", "ce_type", "ce_subject" };
    const struct doc_node *a[4];
    struct event_fields f = { 0 };
    enum jd_err err;
    const struct event_header *sv = event_find_header(hdrs, nhdrs, "ce_specversion");

    if (!sv->value || sv->len != 3 || memcmp(sv->value, "1.0", 3))
        return jd_errf(JD_ERR_EV_BAD_TYPE, errstr, n,
                       "ce_specversion: only CloudEvents \"1.0\" is accepted");
    for (int i = 0; i < 4; i++) {
        const struct event_header *h = event_find_header(hdrs, nhdrs, attrs[i]);
        if (h && h->value && !doc_utf8_valid(h->value, h->len))
            return jd_errf(JD_ERR_EV_BAD_UTF8, errstr, n, "%s: invalid UTF-8", attrs[i]);
        a[i] = event_header_node(d, i, h);
    }
    if (data && (err = event_scan_flat(d, data, &f, false, errstr, n)))
        return err;
    f.event_id = a[0];
    f.src_event_id = "ce_id";
    f.ts = a[1];
    f.src_ts = "ce_time";
    f.type = a[2];
    f.src_type = "ce_type";
    f.map_type = true;
    f.src_user_id = "user_id";
    if (event_is_null(f.user_id)) {
        f.user_id = a[3];
        f.src_user_id = "ce_subject";
    }
    if ((err = event_finish(d, &f, now_ms, ev, errstr, n)))
        return err;
    ev->dialect = EVENT_DIALECT_CE_BINARY;
    return JD_OK;
}

/* Whether a message can be JSON text at all: the bytes a JSON value (or the
 * whitespace before it) may start with. Anything else, under events.encoding
 * auto, is not a dialect journeyd reads. */
static bool event_json_start(unsigned char c)
{
    return c == '{' || c == '[' || c == '"' || c == '-' || (c >= '0' && c <= '9') || c == 't' ||
           c == 'f' || c == 'n' || c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

enum jd_err event_decode(struct event_decoder *d, const void *buf, size_t len,
                         const struct event_header *hdrs, size_t nhdrs, int64_t now_ms,
                         struct event *ev, char *errstr, size_t errstr_size)
{
    const unsigned char *b = buf;
    bool binary_ce = event_find_header(hdrs, nhdrs, "ce_specversion") != NULL;
    enum jd_err err;
    bool msgpack;

    memset(ev, 0, offsetof(struct event, props));
    d->aux_len = 0;
    doc_reset(d->doc);
    if (len > d->opts.max_bytes)
        return jd_errf(JD_ERR_EV_TOO_LARGE, errstr, errstr_size,
                       "message of %zu bytes exceeds events.max_bytes (%zu)", len,
                       d->opts.max_bytes);
    if ((!buf || len == 0) && !binary_ce)
        return jd_errf(JD_ERR_EV_EMPTY, errstr, errstr_size, "empty message value");

    const struct doc_node *root = NULL;
    if (len > 0) {
        if (d->opts.encoding == EVENT_ENC_MSGPACK)
            msgpack = true;
        else if (d->opts.encoding == EVENT_ENC_JSON)
            msgpack = false;
        else if (!(msgpack = (b[0] >= 0x80 && b[0] <= 0x8f) || b[0] == 0xde || b[0] == 0xdf) &&
                 !event_json_start(b[0]))
            return len >= 3 && b[0] == 0xef && b[1] == 0xbb && b[2] == 0xbf
                       ? jd_errf(JD_ERR_EV_ENCODING, errstr, errstr_size,
                                 "a byte order mark before JSON (RFC 8259 forbids it)")
                       : jd_errf(JD_ERR_EV_ENCODING, errstr, errstr_size,
                                 "neither JSON nor a MessagePack map (first byte 0x%02x)", b[0]);
        err = msgpack ? mpack_parse(d->doc, buf, len, errstr, errstr_size)
                      : json_parse(d->doc, buf, len, errstr, errstr_size);
        if (err)
            return err;
        root = &d->doc->nodes[0];
        if (root->type != DOC_OBJ)
            return jd_errf(JD_ERR_EV_NOT_OBJECT, errstr, errstr_size,
                           "the message must be a JSON object or a MessagePack map");
    }

    if (binary_ce)
        return event_ce_binary(d, root, hdrs, nhdrs, now_ms, ev, errstr, errstr_size);
    if (doc_get(d->doc, root, "specversion"))
        return event_cloudevents(d, root, now_ms, ev, errstr, errstr_size);
    const struct doc_node *type = doc_get(d->doc, root, "type");
    if (type && type->type == DOC_STR && type->len == 5 && !memcmp(type->s, "track", 5) &&
        doc_get(d->doc, root, "event"))
        return event_segment(d, root, now_ms, ev, errstr, errstr_size);

    struct event_fields f = { 0 };
    if ((err = event_scan_flat(d, root, &f, true, errstr, errstr_size)))
        return err;
    f.src_event_id = "event_id";
    f.src_type = "type";
    f.src_ts = "ts";
    f.src_user_id = "user_id";
    if ((err = event_finish(d, &f, now_ms, ev, errstr, errstr_size)))
        return err;
    ev->dialect = EVENT_DIALECT_FLAT;
    return JD_OK;
}
