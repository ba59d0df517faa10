/*
 * config.c — applies values to struct config from the file, the environment
 * and flags, all through the rows of config_table.c.
 *
 * Owns value parsing (durations, sizes, lists, maps), error collection with
 * file:line:col, and the generated reference. It does not interpret values
 * (the Redis URL is store.c's business, librdkafka properties librdkafka's).
 */
#include "core/config.h"

#include "core/jd.h"
#include "core/ts.h"
#include "core/ydoc.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---------------------------------------------------------------- errors */

/* Collects several messages, one per line, into the caller's errstr. */
struct config_errs {
    char *buf;
    size_t size, len;
    int count;
};

static void config_err_add(struct config_errs *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void config_err_add(struct config_errs *e, const char *fmt, ...)
{
    va_list ap;
    e->count++;
    if (!e->buf || e->len + 2 >= e->size)
        return;
    if (e->len)
        e->buf[e->len++] = '\n';
    va_start(ap, fmt);
    int w = vsnprintf(e->buf + e->len, e->size - e->len, fmt, ap);
    va_end(ap);
    if (w > 0)
        e->len = JD_MIN(e->len + (size_t)w, e->size - 1);
    e->buf[e->len] = '\0';
}

/* ---------------------------------------------------------- containers */

static void config_list_clear(struct config_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

static bool config_list_push(struct config_list *l, const char *s, size_t n)
{
    char **v = realloc(l->v, (l->n + 1) * sizeof(*v));
    if (!v)
        return false;
    l->v = v;
    if (!(l->v[l->n] = strndup(s, n)))
        return false;
    l->n++;
    return true;
}

static void config_map_clear(struct config_map *m)
{
    for (size_t i = 0; i < m->n; i++) {
        free(m->keys[i]);
        free(m->vals[i]);
    }
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof(*m));
}

static bool config_map_put(struct config_map *m, const char *k, const char *v)
{
    for (size_t i = 0; i < m->n; i++) {
        if (!strcmp(m->keys[i], k)) {
            char *nv = strdup(v);
            if (!nv)
                return false;
            free(m->vals[i]);
            m->vals[i] = nv;
            return true;
        }
    }
    char **keys = realloc(m->keys, (m->n + 1) * sizeof(*keys));
    if (!keys)
        return false;
    m->keys = keys;
    char **vals = realloc(m->vals, (m->n + 1) * sizeof(*vals));
    if (!vals)
        return false;
    m->vals = vals;
    m->keys[m->n] = strdup(k);
    m->vals[m->n] = strdup(v);
    if (!m->keys[m->n] || !m->vals[m->n]) {
        free(m->keys[m->n]);
        free(m->vals[m->n]);
        return false;
    }
    m->n++;
    return true;
}

bool config_list_has(const struct config_list *list, const char *s)
{
    for (size_t i = 0; i < list->n; i++)
        if (!strcmp(list->v[i], s))
            return true;
    return false;
}

const char *config_map_get(const struct config_map *map, const char *key)
{
    for (size_t i = 0; i < map->n; i++)
        if (!strcmp(map->keys[i], key))
            return map->vals[i];
    return NULL;
}

/* ---------------------------------------------------------------- values */

static void *config_field(struct config *cfg, const struct config_entry *e)
{
    return (char *)cfg + e->offset;
}

static const void *config_cfield(const struct config *cfg, const struct config_entry *e)
{
    return (const char *)cfg + e->offset;
}

static enum jd_err config_parse_size(const char *s, int64_t *out, char *errstr, size_t n)
{
    static const struct {
        const char *suffix;
        int64_t mult;
    } sfx[] = {
        { "KiB", 1024 }, { "MiB", 1024 * 1024 }, { "GiB", INT64_C(1) << 30 }, { "B", 1 }, { "", 1 }
    };
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (end == s || errno || v < 0)
        return jd_errf(JD_ERR_INVALID, errstr, n, "'%s' is not a size (e.g. 65536, 64KiB, 1MiB)",
                       s);
    for (size_t i = 0; i < JD_ARRAY_SIZE(sfx); i++) {
        if (!strcmp(end, sfx[i].suffix)) {
            if (v > INT64_MAX / sfx[i].mult)
                return jd_errf(JD_ERR_INVALID, errstr, n, "'%s' is too large", s);
            *out = v * sfx[i].mult;
            return JD_OK;
        }
    }
    return jd_errf(JD_ERR_INVALID, errstr, n, "'%s': unknown size unit (B, KiB, MiB, GiB)", s);
}

/* A bound as people write it: "16777216", "0.4", "7d" (never "1.67772e+07"). */
static void config_fmt_bound(const struct config_entry *e, double v, char *buf, size_t size)
{
    if (e->type == CONFIG_DURATION)
        ts_format_duration((int64_t)v, buf, size);
    else if (e->type == CONFIG_FLOAT)
        snprintf(buf, size, "%g", v);
    else
        snprintf(buf, size, "%lld", (long long)v);
}

static enum jd_err config_check_bounds(const struct config_entry *e, double v, char *errstr,
                                       size_t n)
{
    char lo[32], hi[32];
    if (e->min == e->max || (v >= e->min && v <= e->max))
        return JD_OK;
    config_fmt_bound(e, e->min, lo, sizeof(lo));
    config_fmt_bound(e, e->max, hi, sizeof(hi));
    return jd_errf(JD_ERR_RANGE, errstr, n, "must be between %s and %s", lo, hi);
}

/*
 * Sets a scalar-typed entry (or a whole list from comma-separated text) from
 * its textual form. Files, the environment and flags all end up here.
 */
static enum jd_err config_set_text(struct config *cfg, const struct config_entry *e,
                                   const char *text, char *errstr, size_t n)
{
    void *field = config_field(cfg, e);
    enum jd_err err;

    switch (e->type) {
    case CONFIG_STRING:
    case CONFIG_ENUM: {
        if (e->type == CONFIG_ENUM) {
            size_t tl = strlen(text);
            bool found = false;
            for (const char *c = e->choices; *c;) {
                const char *bar = strchr(c, '|');
                size_t cl = bar ? (size_t)(bar - c) : strlen(c);
                if (cl == tl && !memcmp(c, text, tl))
                    found = true;
                c += cl + (bar ? 1 : 0);
            }
            if (!found)
                return jd_errf(JD_ERR_INVALID, errstr, n, "'%s' is not one of %s", text,
                               e->choices);
        }
        char *s = strdup(text);
        if (!s)
            return jd_errf(JD_ERR_NOMEM, errstr, n, "out of memory");
        free(*(char **)field);
        *(char **)field = s;
        return JD_OK;
    }
    case CONFIG_INT: {
        char *end;
        errno = 0;
        long long v = strtoll(text, &end, 10);
        if (end == text || *end || errno)
            return jd_errf(JD_ERR_INVALID, errstr, n, "'%s' is not an integer", text);
        if ((err = config_check_bounds(e, (double)v, errstr, n)))
            return err;
        *(int64_t *)field = v;
        return JD_OK;
    }
    case CONFIG_SIZE: {
        int64_t v = 0;
        if ((err = config_parse_size(text, &v, errstr, n)) ||
            (err = config_check_bounds(e, (double)v, errstr, n)))
            return err;
        *(int64_t *)field = v;
        return JD_OK;
    }
    case CONFIG_DURATION: {
        int64_t v = 0;
        if ((err = ts_parse_duration(text, strlen(text), &v, errstr, n)) ||
            (err = config_check_bounds(e, (double)v, errstr, n)))
            return err;
        *(int64_t *)field = v;
        return JD_OK;
    }
    case CONFIG_FLOAT: {
        char *end;
        errno = 0;
        double v = strtod(text, &end);
        if (end == text || *end || errno || !isfinite(v))
            return jd_errf(JD_ERR_INVALID, errstr, n, "'%s' is not a number", text);
        if ((err = config_check_bounds(e, v, errstr, n)))
            return err;
        *(double *)field = v;
        return JD_OK;
    }
    case CONFIG_BOOL:
        if (!strcmp(text, "true"))
            *(bool *)field = true;
        else if (!strcmp(text, "false"))
            *(bool *)field = false;
        else
            return jd_errf(JD_ERR_INVALID, errstr, n, "'%s' is not true or false", text);
        return JD_OK;
    case CONFIG_LIST: {
        struct config_list *l = field;
        config_list_clear(l);
        for (const char *p = text; *p;) {
            const char *comma = strchr(p, ',');
            size_t len = comma ? (size_t)(comma - p) : strlen(p);
            while (len && isspace((unsigned char)*p)) {
                p++;
                len--;
            }
            while (len && isspace((unsigned char)p[len - 1]))
                len--;
            if (len && !config_list_push(l, p, len))
                return jd_errf(JD_ERR_NOMEM, errstr, n, "out of memory");
            if (!comma)
                break;
            p = comma + 1;
        }
        return JD_OK;
    }
    case CONFIG_MAP: {
        const char *eq = strchr(text, '=');
        if (!eq || eq == text)
            return jd_errf(JD_ERR_INVALID, errstr, n, "expected key=value, got '%s'", text);
        char *k = strndup(text, (size_t)(eq - text));
        bool ok = k && config_map_put(field, k, eq + 1);
        free(k);
        return ok ? JD_OK : jd_errf(JD_ERR_NOMEM, errstr, n, "out of memory");
    }
    }
    return jd_errf(JD_ERR_INVALID, errstr, n, "bad table entry");
}

static const struct config_entry *config_find(const char *name)
{
    size_t n;
    const struct config_entry *t = config_table(&n);
    for (size_t i = 0; i < n; i++)
        if (!strcmp(t[i].name, name))
            return &t[i];
    return NULL;
}

/* True if some key lives below `prefix` (so `prefix` is a section). */
static bool config_is_section(const char *prefix)
{
    size_t n, pl = strlen(prefix);
    const struct config_entry *t = config_table(&n);
    for (size_t i = 0; i < n; i++)
        if (!strncmp(t[i].name, prefix, pl) && t[i].name[pl] == '.')
            return true;
    return false;
}

static size_t config_edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), row[128];
    if (lb >= JD_ARRAY_SIZE(row))
        return (size_t)-1;
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t prev = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t cur = row[j];
            size_t sub = prev + (a[i - 1] != b[j - 1]);
            row[j] = JD_MIN(JD_MIN(row[j] + 1, row[j - 1] + 1), sub);
            prev = cur;
        }
    }
    return row[lb];
}

/* " (did you mean 'kafka.brokers'?)" or "": keys and sections are both candidates. */
static void config_suggest(const char *name, char *buf, size_t size)
{
    size_t n, best = (size_t)-1;
    const struct config_entry *t = config_table(&n);
    char pick[128] = "", cand[128];
    buf[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        /* the key itself and each section above it ("kafka", "kafka.topics") */
        snprintf(cand, sizeof(cand), "%s", t[i].name);
        for (;;) {
            size_t d = config_edit_distance(name, cand);
            if (d > 0 && d < best) { /* never suggest the name itself */
                best = d;
                snprintf(pick, sizeof(pick), "%s", cand);
            }
            char *dot = strrchr(cand, '.');
            if (!dot)
                break;
            *dot = '\0';
        }
    }
    /* only close matches: one or two edits, a few more for long names */
    size_t nl = strlen(name);
    if (best <= (nl / 4 > 2 ? nl / 4 : 2))
        snprintf(buf, size, " (did you mean '%s'?)", pick);
}

/* ----------------------------------------------------------------- public */

struct config *config_new(void)
{
    size_t n;
    const struct config_entry *t = config_table(&n);
    struct config *cfg = calloc(1, sizeof(*cfg));
    char err[JD_ERRSTR_SIZE];

    if (!cfg)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (t[i].type == CONFIG_MAP)
            continue;
        if (config_set_text(cfg, &t[i], t[i].def, err, sizeof(err)) != JD_OK) {
            /* a default that fails its own row is a programming error */
            config_destroy(cfg);
            return NULL;
        }
    }
    return cfg;
}

void config_destroy(struct config *cfg)
{
    size_t n;
    const struct config_entry *t = config_table(&n);
    if (!cfg)
        return;
    for (size_t i = 0; i < n; i++) {
        void *f = config_field(cfg, &t[i]);
        switch (t[i].type) {
        case CONFIG_STRING:
        case CONFIG_ENUM:
            free(*(char **)f);
            break;
        case CONFIG_LIST:
            config_list_clear(f);
            break;
        case CONFIG_MAP:
            config_map_clear(f);
            break;
        default:
            break;
        }
    }
    free(cfg);
}

static void config_walk(struct config *cfg, const char *file, const struct ydoc_node *map,
                        const char *prefix, struct config_errs *errs)
{
    char err[JD_ERRSTR_SIZE], path[256], sugg[128];

    for (size_t i = 0; i + 1 < map->n; i += 2) {
        const struct ydoc_node *k = map->items[i], *v = map->items[i + 1];
        snprintf(path, sizeof(path), "%s%s%s", prefix, *prefix ? "." : "", k->str);
        const struct config_entry *e = config_find(path);

        if (!e) {
            if (config_is_section(path)) {
                if (v->kind == YDOC_MAP)
                    config_walk(cfg, file, v, path, errs);
                else if (!ydoc_is_null(v))
                    config_err_add(errs, "%s:%u:%u: '%s' is a section: expected a mapping", file,
                                   v->line, v->col, path);
                continue;
            }
            config_suggest(path, sugg, sizeof(sugg));
            config_err_add(errs, "%s:%u:%u: unknown key '%s'%s", file, k->line, k->col, path, sugg);
            continue;
        }
        if (e->type == CONFIG_LIST) {
            struct config_list *l = config_field(cfg, e);
            if (v->kind == YDOC_SCALAR && ydoc_is_null(v)) {
                config_list_clear(l);
                continue;
            }
            if (v->kind != YDOC_SEQ) {
                config_err_add(errs, "%s:%u:%u: %s: expected a list, e.g. [a, b]", file, v->line,
                               v->col, path);
                continue;
            }
            config_list_clear(l);
            for (size_t j = 0; j < v->n; j++) {
                const struct ydoc_node *it = v->items[j];
                if (it->kind != YDOC_SCALAR || it->len == 0)
                    config_err_add(errs, "%s:%u:%u: %s: list items must be non-empty values", file,
                                   it->line, it->col, path);
                else if (!config_list_push(l, it->str, it->len))
                    config_err_add(errs, "%s: out of memory", file);
            }
            continue;
        }
        if (e->type == CONFIG_MAP) {
            struct config_map *m = config_field(cfg, e);
            if (ydoc_is_null(v))
                continue;
            if (v->kind != YDOC_MAP) {
                config_err_add(errs, "%s:%u:%u: %s: expected a mapping of name: value", file,
                               v->line, v->col, path);
                continue;
            }
            for (size_t j = 0; j + 1 < v->n; j += 2) {
                const struct ydoc_node *mk = v->items[j], *mv = v->items[j + 1];
                if (mv->kind != YDOC_SCALAR)
                    config_err_add(errs, "%s:%u:%u: %s.%s: expected a plain value", file, mv->line,
                                   mv->col, path, mk->str);
                else if (!config_map_put(m, mk->str, mv->str))
                    config_err_add(errs, "%s: out of memory", file);
            }
            continue;
        }
        if (v->kind != YDOC_SCALAR) {
            config_err_add(errs, "%s:%u:%u: %s: expected a single value", file, v->line, v->col,
                           path);
            continue;
        }
        if (config_set_text(cfg, e, v->str, err, sizeof(err)) != JD_OK)
            config_err_add(errs, "%s:%u:%u: %s: %s", file, v->line, v->col, path, err);
    }
}

enum jd_err config_load_buf(struct config *cfg, const char *name, const char *buf, size_t len,
                            char *errstr, size_t errstr_size)
{
    struct config_errs errs = { errstr, errstr_size, 0, 0 };
    struct ydoc *doc = ydoc_parse(name, buf, len, errstr, errstr_size);
    if (!doc)
        return JD_ERR_CONFIG;
    if (errstr_size)
        errstr[0] = '\0';
    const struct ydoc_node *root = ydoc_root(doc);
    if (root && root->kind == YDOC_MAP)
        config_walk(cfg, name, root, "", &errs);
    else if (root && !ydoc_is_null(root))
        config_err_add(&errs, "%s:%u:%u: the config must be a mapping of sections", name,
                       root->line, root->col);
    ydoc_destroy(doc);
    return errs.count ? JD_ERR_CONFIG : JD_OK;
}

enum jd_err config_load_file(struct config *cfg, const char *path, char *errstr, size_t errstr_size)
{
    struct config_errs errs = { errstr, errstr_size, 0, 0 };
    if (access(path, R_OK) != 0)
        return jd_errf(JD_ERR_IO, errstr, errstr_size, "%s: %s", path, strerror(errno));
    struct ydoc *doc = ydoc_load(path, errstr, errstr_size);
    if (!doc)
        return JD_ERR_CONFIG;
    if (errstr_size)
        errstr[0] = '\0';
    const struct ydoc_node *root = ydoc_root(doc);
    if (root && root->kind == YDOC_MAP)
        config_walk(cfg, path, root, "", &errs);
    else if (root && !ydoc_is_null(root))
        config_err_add(&errs, "%s:%u:%u: the config must be a mapping of sections", path,
                       root->line, root->col);
    ydoc_destroy(doc);
    return errs.count ? JD_ERR_CONFIG : JD_OK;
}

void config_env_name(const struct config_entry *e, char *buf, size_t size)
{
    size_t i = 0;
    const char *pfx = "JOURNEYD_";
    for (const char *p = pfx; *p && i + 1 < size; p++)
        buf[i++] = *p;
    for (const char *p = e->name; *p && i + 1 < size; p++)
        buf[i++] = *p == '.' ? '_' : (char)toupper((unsigned char)*p);
    buf[i] = '\0';
}

enum jd_err config_apply_env(struct config *cfg, char *const *envp, char *errstr,
                             size_t errstr_size)
{
    struct config_errs errs = { errstr, errstr_size, 0, 0 };
    size_t n;
    const struct config_entry *t = config_table(&n);
    char name[128], err[JD_ERRSTR_SIZE];

    if (errstr_size)
        errstr[0] = '\0';
    for (; envp && *envp; envp++) {
        const char *kv = *envp, *eq = strchr(kv, '=');
        if (strncmp(kv, "JOURNEYD_", 9) || !eq)
            continue;
        size_t nl = (size_t)(eq - kv);
        const struct config_entry *e = NULL;
        for (size_t i = 0; i < n && !e; i++) {
            config_env_name(&t[i], name, sizeof(name));
            if (strlen(name) == nl && !memcmp(name, kv, nl))
                e = &t[i];
        }
        if (!e) {
            config_err_add(&errs, "environment: %.*s is not a journeyd setting", (int)nl, kv);
            continue;
        }
        if (e->flags & CONFIG_F_NO_ENV) {
            config_err_add(&errs,
                           "environment: %.*s cannot be set from the environment; use "
                           "the config file",
                           (int)nl, kv);
            continue;
        }
        if (config_set_text(cfg, e, eq + 1, err, sizeof(err)) != JD_OK)
            config_err_add(&errs, "environment: %.*s: %s", (int)nl, kv, err);
    }
    return errs.count ? JD_ERR_CONFIG : JD_OK;
}

enum jd_err config_set(struct config *cfg, const char *name, const char *value, char *errstr,
                       size_t errstr_size)
{
    char sugg[128], err[JD_ERRSTR_SIZE];
    const struct config_entry *e = config_find(name);
    if (!e) {
        /* "kafka.consumer.fetch.wait.max.ms": one entry of a map, named below it */
        size_t n;
        const struct config_entry *t = config_table(&n);
        for (size_t i = 0; i < n; i++) {
            size_t pl = strlen(t[i].name);
            if (t[i].type != CONFIG_MAP || strncmp(name, t[i].name, pl) || name[pl] != '.' ||
                !name[pl + 1])
                continue;
            struct config_map *m = config_field(cfg, &t[i]);
            return config_map_put(m, name + pl + 1, value)
                       ? JD_OK
                       : jd_errf(JD_ERR_NOMEM, errstr, errstr_size, "out of memory");
        }
        config_suggest(name, sugg, sizeof(sugg));
        return jd_errf(JD_ERR_CONFIG, errstr, errstr_size, "unknown key '%s'%s", name, sugg);
    }
    if (config_set_text(cfg, e, value, err, sizeof(err)) != JD_OK)
        return jd_errf(JD_ERR_CONFIG, errstr, errstr_size, "%s: %s", name, err);
    return JD_OK;
}

enum jd_err config_set_kafka_prop(struct config *cfg, const char *kv, char *errstr,
                                  size_t errstr_size)
{
    const char *eq = strchr(kv, '=');
    if (!eq || eq == kv)
        return jd_errf(JD_ERR_CONFIG, errstr, errstr_size,
                       "-X expects property=value (a librdkafka property), got '%s'", kv);
    char *k = strndup(kv, (size_t)(eq - kv));
    bool ok = k && config_map_put(&cfg->kafka.consumer, k, eq + 1) &&
              config_map_put(&cfg->kafka.producer, k, eq + 1);
    free(k);
    return ok ? JD_OK : jd_errf(JD_ERR_NOMEM, errstr, errstr_size, "out of memory");
}

static bool config_is_type_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
            return false;
    return true;
}

/* Kafka's own rule (and the reason Redis key buffers can be fixed-size). */
static bool config_is_topic_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > CONFIG_TOPIC_MAX || !strcmp(s, ".") || !strcmp(s, ".."))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '.' || s[i] == '_' || s[i] == '-'))
            return false;
    return true;
}

/* "host:port", "[v6]:port" or ":port" with a port of 1-65535 (its syntax only: no lookup). */
static bool config_is_listen(const char *s)
{
    const char *colon;
    if (s[0] == '[') {
        const char *end = strchr(s, ']');
        if (!end || end == s + 1 || end[1] != ':')
            return false;
        colon = end + 1;
    } else if (!(colon = strrchr(s, ':')) || memchr(s, ':', (size_t)(colon - s))) {
        return false; /* none, or a bare IPv6 address without brackets */
    }
    const char *port = colon + 1;
    size_t n = strlen(port);
    if (n == 0 || n > 5 || strspn(port, "0123456789") != n)
        return false;
    long v = strtol(port, NULL, 10);
    return v >= 1 && v <= 65535;
}

enum jd_err config_validate(const struct config *cfg, char *errstr, size_t errstr_size)
{
    static const char *const models[] = { "first_touch", "last_touch",     "last_non_direct",
                                          "linear",      "position_based", "time_decay",
                                          "markov",      "shapley" };
    struct config_errs errs = { errstr, errstr_size, 0, 0 };

    if (errstr_size)
        errstr[0] = '\0';
    if (!*cfg->kafka.brokers)
        config_err_add(&errs, "kafka.brokers: must not be empty (use 'embedded' for a demo)");
    if (!*cfg->kafka.group)
        config_err_add(&errs, "kafka.group: must not be empty");
    if (!*cfg->kafka.topics.events || !*cfg->kafka.topics.dlq || !*cfg->kafka.topics.alerts)
        config_err_add(&errs, "kafka.topics: events, alerts and dlq must all be set");
    else if (!strcmp(cfg->kafka.topics.events, cfg->kafka.topics.dlq) ||
             !strcmp(cfg->kafka.topics.events, cfg->kafka.topics.alerts) ||
             !strcmp(cfg->kafka.topics.dlq, cfg->kafka.topics.alerts))
        config_err_add(&errs, "kafka.topics: events, alerts and dlq must be three topics");
    if (!*cfg->redis.prefix || strlen(cfg->redis.prefix) > CONFIG_PREFIX_MAX ||
        strpbrk(cfg->redis.prefix, "{}: \t\r\n*?[]"))
        config_err_add(&errs,
                       "redis.prefix: must be 1 to %d characters, without braces, ':', spaces "
                       "or glob characters",
                       CONFIG_PREFIX_MAX);
    const char *topics[] = { cfg->kafka.topics.events, cfg->kafka.topics.alerts,
                             cfg->kafka.topics.dlq };
    for (size_t i = 0; i < JD_ARRAY_SIZE(topics); i++)
        if (*topics[i] && !config_is_topic_name(topics[i]))
            config_err_add(&errs,
                           "kafka.topics: '%s' is not a Kafka topic name (1 to %d of "
                           "[a-zA-Z0-9._-])",
                           topics[i], CONFIG_TOPIC_MAX);
    if (cfg->windows.retention_minute_ms > cfg->windows.retention_hour_ms ||
        cfg->windows.retention_hour_ms > cfg->windows.retention_day_ms)
        config_err_add(&errs, "windows.retention: minute <= hour <= day is required");
    if (cfg->attribution.first_weight + cfg->attribution.last_weight > 1.0 + 1e-12)
        config_err_add(&errs, "attribution.position_based: first_weight + last_weight must be "
                              "<= 1");
    const struct config_list *type_lists[] = { &cfg->attribution.touch_types,
                                               &cfg->attribution.conversion_types };
    for (size_t k = 0; k < 2; k++)
        for (size_t i = 0; i < type_lists[k]->n; i++)
            if (!config_is_type_name(type_lists[k]->v[i]))
                config_err_add(&errs, "attribution.%s: '%s' is not an event type ([a-z0-9_]{1,64})",
                               k ? "conversion_types" : "touch_types", type_lists[k]->v[i]);
    for (size_t i = 0; i < cfg->attribution.touch_types.n; i++)
        if (config_list_has(&cfg->attribution.conversion_types, cfg->attribution.touch_types.v[i]))
            config_err_add(&errs, "attribution: '%s' cannot be both a touch and a conversion type",
                           cfg->attribution.touch_types.v[i]);
    for (size_t i = 0; i < cfg->events.type_map.n; i++)
        if (!config_is_type_name(cfg->events.type_map.vals[i]))
            config_err_add(&errs,
                           "events.type_map: '%s' maps to '%s', not an event type "
                           "([a-z0-9_]{1,64})",
                           cfg->events.type_map.keys[i], cfg->events.type_map.vals[i]);
    for (size_t i = 0; i < cfg->attribution.models.n; i++) {
        bool known = false;
        for (size_t j = 0; j < JD_ARRAY_SIZE(models); j++)
            known |= !strcmp(cfg->attribution.models.v[i], models[j]);
        if (!known)
            config_err_add(&errs, "attribution.models: unknown model '%s'",
                           cfg->attribution.models.v[i]);
    }
    if (cfg->rules.dirs.n == 0)
        config_err_add(&errs, "rules.dirs: at least one directory is required");
    if (*cfg->http.listen && !config_is_listen(cfg->http.listen))
        config_err_add(&errs,
                       "http.listen: '%s' is not host:port, [v6]:port or :port (port 1-65535; "
                       "\"\" disables)",
                       cfg->http.listen);
    return errs.count ? JD_ERR_CONFIG : JD_OK;
}

enum jd_err config_resolve_secrets(struct config *cfg, char *errstr, size_t errstr_size)
{
    char path[4096];
    const char *pf = cfg->redis.password_file;
    const char *credir = getenv("CREDENTIALS_DIRECTORY");

    if (!pf || !*pf)
        return JD_OK;
    if (pf[0] != '/' && credir && *credir)
        snprintf(path, sizeof(path), "%s/%s", credir, pf);
    else
        snprintf(path, sizeof(path), "%s", pf);
    FILE *f = fopen(path, "r");
    if (!f)
        return jd_errf(JD_ERR_CONFIG, errstr, errstr_size, "redis.password_file: %s: %s", path,
                       strerror(errno));
    char line[1024];
    if (!fgets(line, sizeof(line), f))
        line[0] = '\0';
    fclose(f);
    line[strcspn(line, "\r\n")] = '\0';
    char *pw = strdup(line);
    if (!pw)
        return jd_errf(JD_ERR_NOMEM, errstr, errstr_size, "out of memory");
    free(cfg->redis.password);
    cfg->redis.password = pw;
    return JD_OK;
}

/* -------------------------------------------------------------- printing */

/* A YAML double-quoted scalar: escapes so that any string round-trips. */
static void config_print_str(const char *v, FILE *out)
{
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(out, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(out, "\\x%02x", *p);
        else
            fputc(*p, out);
    }
    fputc('"', out);
}

/* librdkafka properties that hold credentials or keys (librdkafka marks them sensitive). */
static bool config_sensitive_prop(const char *k)
{
    static const char *const marks[] = { "password",
                                         "secret",
                                         "ssl.key.pem",
                                         "ssl_key",
                                         "sasl.oauthbearer.config",
                                         "ssl.keystore",
                                         "ssl.certificate.pem" };
    for (size_t i = 0; i < JD_ARRAY_SIZE(marks); i++)
        if (strstr(k, marks[i]))
            return true;
    return false;
}

void config_redact_url(const char *url, char *buf, size_t size)
{
    /* the last '@', as store_addr_parse() reads it: a password may hold '@'; a
     * unix:// socket path carries no credentials */
    const char *scheme = strncmp(url, "unix://", 7) ? strstr(url, "://") : NULL;
    const char *at = scheme ? strrchr(scheme + 3, '@') : NULL;
    if (!at) {
        snprintf(buf, size, "%s", url);
        return;
    }
    const char *colon = memchr(scheme + 3, ':', (size_t)(at - scheme - 3));
    snprintf(buf, size, "%.*s<redacted>%s", (int)((colon ? colon + 1 : scheme + 3) - url), url, at);
}

static void config_print_url(const char *url, FILE *out)
{
    char buf[1024];
    config_redact_url(url, buf, sizeof(buf));
    config_print_str(buf, out);
}

static void config_print_value(const struct config *cfg, const struct config_entry *e, FILE *out)
{
    const void *f = config_cfield(cfg, e);
    char buf[64];

    if ((e->flags & CONFIG_F_SECRET) && **(char *const *)f) {
        fputs("\"<redacted>\"", out);
        return;
    }
    switch (e->type) {
    case CONFIG_STRING:
    case CONFIG_ENUM:
        if (!strcmp(e->name, "redis.url"))
            config_print_url(*(char *const *)f, out);
        else
            config_print_str(*(char *const *)f, out);
        break;
    case CONFIG_INT:
    case CONFIG_SIZE:
        fprintf(out, "%lld", (long long)*(const int64_t *)f);
        break;
    case CONFIG_DURATION:
        ts_format_duration(*(const int64_t *)f, buf, sizeof(buf));
        fputs(buf, out);
        break;
    case CONFIG_FLOAT:
        fprintf(out, "%g", *(const double *)f);
        break;
    case CONFIG_BOOL:
        fputs(*(const bool *)f ? "true" : "false", out);
        break;
    case CONFIG_LIST: {
        const struct config_list *l = f;
        fputc('[', out);
        for (size_t i = 0; i < l->n; i++) {
            if (i)
                fputs(", ", out);
            config_print_str(l->v[i], out);
        }
        fputc(']', out);
        break;
    }
    case CONFIG_MAP: {
        const struct config_map *m = f;
        fputc('{', out);
        for (size_t i = 0; i < m->n; i++) {
            if (i)
                fputs(", ", out);
            config_print_str(m->keys[i], out);
            fputs(": ", out);
            config_print_str(config_sensitive_prop(m->keys[i]) ? "<redacted>" : m->vals[i], out);
        }
        fputc('}', out);
        break;
    }
    }
}

void config_dump(const struct config *cfg, FILE *out)
{
    size_t n;
    const struct config_entry *t = config_table(&n);
    for (size_t i = 0; i < n; i++) {
        fprintf(out, "%s: ", t[i].name);
        config_print_value(cfg, &t[i], out);
        fputc('\n', out);
    }
}

static const char *config_type_name(const struct config_entry *e)
{
    switch (e->type) {
    case CONFIG_STRING:
        return "string";
    case CONFIG_INT:
        return "integer";
    case CONFIG_SIZE:
        return "size";
    case CONFIG_DURATION:
        return "duration";
    case CONFIG_FLOAT:
        return "number";
    case CONFIG_BOOL:
        return "bool";
    case CONFIG_ENUM:
        return e->choices;
    case CONFIG_LIST:
        return "list";
    case CONFIG_MAP:
        return "map";
    }
    return "?";
}

void config_write_reference(FILE *out)
{
    size_t n;
    const struct config_entry *t = config_table(&n);
    char env[128];
    const char *section = "";

    fputs("<!-- generated by `journeyd --config-reference`; do not edit -->\n"
          "# Configuration reference\n\n"
          "Precedence: defaults < file (`-c`) < environment (`JOURNEYD_…`) < flags "
          "(`--set key=value`, `-X prop=value`). A map entry can be set by its full name "
          "(`--set kafka.consumer.fetch.wait.max.ms=10`).\n"
          "Durations: `ms s m h d w`, combinable (`1h30m`). Sizes: bytes or `KiB`/`MiB`/`GiB`. "
          "Lists in the environment are comma-separated. Unknown keys are errors.\n\n"
          "Beside this file: [`journeyd.yaml`](journeyd.yaml) (the example, every key at its "
          "default or the demo's value), [`SYSTEMD.md`](SYSTEMD.md) (the unit "
          "`journeyd.service`: install, reload, exit status 78, watchdog, credentials, "
          "hardening), [`prometheus/`](prometheus/) (scrape config and alerts about journeyd "
          "itself) and [`grafana/`](grafana/) (dashboards for operations and for growth).\n",
          out);
    for (size_t i = 0; i < n; i++) {
        const char *dot = strchr(t[i].name, '.');
        size_t sl = (size_t)(dot - t[i].name);
        if (strncmp(section, t[i].name, sl) || section[sl] != '.') {
            section = t[i].name;
            fprintf(out,
                    "\n## `%.*s`\n\n| key | type | default | environment | meaning |\n"
                    "|---|---|---|---|---|\n",
                    (int)sl, t[i].name);
        }
        config_env_name(&t[i], env, sizeof(env));
        fprintf(out, "| `%s` | %s | `%s` | %s%s%s | %s", t[i].name, config_type_name(&t[i]),
                *t[i].def ? t[i].def : "\"\"", (t[i].flags & CONFIG_F_NO_ENV) ? "" : "`",
                (t[i].flags & CONFIG_F_NO_ENV) ? "—" : env,
                (t[i].flags & CONFIG_F_NO_ENV) ? "" : "`", t[i].doc);
        if (t[i].min != t[i].max) {
            char lo[32], hi[32];
            config_fmt_bound(&t[i], t[i].min, lo, sizeof(lo));
            config_fmt_bound(&t[i], t[i].max, hi, sizeof(hi));
            fprintf(out, " Range %s–%s.", lo, hi);
        }
        fputs(" |\n", out);
    }
}
