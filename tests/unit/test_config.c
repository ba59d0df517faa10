/*
 * test_config.c — unit tests for core/config and its table (config_table.c).
 *
 * Covers the defaults, the YAML file applied over them (every value type,
 * bounds, unknown keys with suggestions, every error reported with
 * file:line:col), JOURNEYD_* environment overrides, config_set and -X,
 * config_validate's cross-checks, the generated reference, config_dump's
 * redaction, secrets files, and the precedence defaults < file < env < flags.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/config.h"
#include "core/jd.h"
#include "core/ydoc.h"
#include "store/store.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BIG_ERR 8192

/* ------------------------------------------------------------- helpers */

static const struct config_entry *entry(const char *name)
{
    size_t n;
    const struct config_entry *t = config_table(&n);
    for (size_t i = 0; i < n; i++)
        if (!strcmp(t[i].name, name))
            return &t[i];
    fail_msg("no config key '%s'", name);
    return NULL;
}

static const void *field(const struct config *cfg, const char *name)
{
    return (const char *)cfg + entry(name)->offset;
}

static int64_t get_i64(const struct config *cfg, const char *name)
{
    return *(const int64_t *)field(cfg, name);
}

static double get_f64(const struct config *cfg, const char *name)
{
    return *(const double *)field(cfg, name);
}

static const char *get_str(const struct config *cfg, const char *name)
{
    return *(char *const *)field(cfg, name);
}

static enum jd_err load(struct config *cfg, const char *text, char *err, size_t size)
{
    return config_load_buf(cfg, "t.yaml", text, strlen(text), err, size);
}

/* Nested YAML for a dotted key: "a.b.c" -> "a:\n  b:\n    c: VALUE\n". */
static void yaml_for(const char *key, const char *value, char *out, size_t size)
{
    size_t w = 0;
    int depth = 0;
    const char *p = key;
    for (;;) {
        const char *dot = strchr(p, '.');
        int len = dot ? (int)(dot - p) : (int)strlen(p);
        if (dot)
            w += (size_t)snprintf(out + w, size - w, "%*s%.*s:\n", 2 * depth, "", len, p);
        else
            w += (size_t)snprintf(out + w, size - w, "%*s%.*s: %s\n", 2 * depth, "", len, p, value);
        if (!dot)
            break;
        p = dot + 1;
        depth++;
    }
}

static size_t count_lines(const char *s)
{
    size_t n = *s ? 1 : 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

static void assert_list(const struct config_list *l, const char *const *want, size_t n)
{
    if (l->n != n)
        fail_msg("list has %zu items, want %zu", l->n, n);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(l->v[i], want[i]);
}

static char *dump_text(const struct config *cfg)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    config_dump(cfg, f);
    assert_int_equal(fclose(f), 0);
    return buf;
}

static char *reference_text(void)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    config_write_reference(f);
    assert_int_equal(fclose(f), 0);
    return buf;
}

/* A NULL-terminated, writable copy of \p src (envp is `char *const *`). */
static char **env_dup(const char *const *src)
{
    size_t n = 0;
    while (src[n])
        n++;
    char **env = calloc(n + 1, sizeof(*env));
    assert_non_null(env);
    for (size_t i = 0; i < n; i++)
        assert_non_null(env[i] = strdup(src[i]));
    return env;
}

static void env_free(char **env)
{
    for (size_t i = 0; env[i]; i++)
        free(env[i]);
    free(env);
}

static struct config *new_config(void)
{
    struct config *cfg = config_new();
    assert_non_null(cfg);
    return cfg;
}

/* ------------------------------------------------------------ defaults */

static void test_defaults(void **state)
{
    struct config *cfg = new_config();
    char err[BIG_ERR] = "";
    static const char *const touch[] = { "touch" }, *const conv[] = { "conversion" },
                             *const direct[] = { "direct" }, *const dirs[] = { "rules" };
    static const char *const models[] = { "first_touch", "last_touch",     "last_non_direct",
                                          "linear",      "position_based", "time_decay",
                                          "markov",      "shapley" };
    (void)state;

    assert_string_equal(cfg->kafka.brokers, "embedded");
    assert_string_equal(cfg->kafka.group, "journeyd");
    assert_string_equal(cfg->kafka.topics.events, "journey.events");
    assert_string_equal(cfg->kafka.topics.alerts, "journey.alerts");
    assert_string_equal(cfg->kafka.topics.dlq, "journey.events.dlq");
    assert_int_equal(cfg->kafka.consumer.n, 0);
    assert_int_equal(cfg->kafka.producer.n, 0);
    assert_int_equal(cfg->kafka.embedded_partitions, 8);
    assert_string_equal(cfg->redis.url, "redis://127.0.0.1:6379/0");
    assert_string_equal(cfg->redis.prefix, "jd");
    assert_string_equal(cfg->redis.password, "");
    assert_string_equal(cfg->redis.password_file, "");
    assert_int_equal(cfg->redis.connect_timeout_ms, 2000);
    assert_int_equal(cfg->redis.command_timeout_ms, 10000);
    assert_string_equal(cfg->events.encoding, "auto");
    assert_int_equal(cfg->events.max_bytes, 65536);
    assert_int_equal(cfg->events.type_map.n, 0);
    assert_int_equal(cfg->events.dedup_window_ms, JD_MS_HOUR);
    assert_int_equal(cfg->events.max_future_ms, JD_MS_HOUR);
    assert_int_equal(cfg->windows.retention_minute_ms, 3 * JD_MS_DAY);
    assert_int_equal(cfg->windows.retention_hour_ms, 130 * JD_MS_DAY);
    assert_int_equal(cfg->windows.retention_day_ms, 800 * JD_MS_DAY);
    assert_list(&cfg->attribution.touch_types, touch, 1);
    assert_list(&cfg->attribution.conversion_types, conv, 1);
    assert_list(&cfg->attribution.direct_channels, direct, 1);
    assert_list(&cfg->attribution.models, models, JD_ARRAY_SIZE(models));
    assert_int_equal(cfg->attribution.lookback_ms, 30 * JD_MS_DAY);
    assert_string_equal(cfg->attribution.journey_mode, "reset");
    assert_int_equal(cfg->attribution.half_life_ms, 7 * JD_MS_DAY);
    assert_true(cfg->attribution.first_weight == 0.4);
    assert_true(cfg->attribution.last_weight == 0.4);
    assert_list(&cfg->rules.dirs, dirs, 1);
    assert_int_equal(cfg->rules.lateness_ms, 5000);
    assert_int_equal(cfg->rules.idle_timeout_ms, 30000);
    assert_string_equal(cfg->http.listen, "127.0.0.1:9464");
    assert_string_equal(cfg->log.level, "info");
    assert_string_equal(cfg->log.format, "logfmt");
    assert_int_equal(cfg->batch.max_events, 50000);
    assert_int_equal(cfg->batch.max_wait_ms, 100);
    assert_int_equal(cfg->limits.max_props, 16);
    assert_int_equal(cfg->limits.dedup_ids, 150000);

    /* the defaults pass the cross-checks */
    assert_int_equal(config_validate(cfg, err, sizeof(err)), JD_OK);
    assert_string_equal(err, "");
    config_destroy(cfg);
    config_destroy(NULL);
}

/* Table hygiene: unique names and env names, sane bounds, docs, enum defaults. */
static void test_table_sane(void **state)
{
    size_t n;
    const struct config_entry *t = config_table(&n);
    (void)state;

    assert_true(n >= 40);
    for (size_t i = 0; i < n; i++) {
        char env_i[128];
        const char *name = t[i].name;
        assert_non_null(strchr(name, '.'));
        for (const char *p = name; *p; p++)
            if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' || *p == '.'))
                fail_msg("key '%s' has character '%c'", name, *p);
        assert_non_null(t[i].def);
        if (!t[i].doc || strlen(t[i].doc) < 10)
            fail_msg("key '%s' has no doc", name);
        assert_true(t[i].min <= t[i].max);
        if (t[i].type == CONFIG_ENUM) {
            assert_non_null(t[i].choices);
            /* the default is one of the choices */
            const char *c = strstr(t[i].choices, t[i].def);
            size_t dl = strlen(t[i].def);
            if (!c || (c != t[i].choices && c[-1] != '|') || (c[dl] && c[dl] != '|'))
                fail_msg("key '%s': default '%s' not in %s", name, t[i].def, t[i].choices);
        }
        config_env_name(&t[i], env_i, sizeof(env_i));
        for (size_t j = 0; j < i; j++) {
            char env_j[128];
            if (!strcmp(t[i].name, t[j].name))
                fail_msg("key '%s' appears twice", name);
            config_env_name(&t[j], env_j, sizeof(env_j));
            if (!strcmp(env_i, env_j))
                fail_msg("keys '%s' and '%s' share %s", t[j].name, name, env_i);
        }
    }
}

/* The keys operations.md fixes exist with the documented types and defaults. */
static void test_operations_md_keys(void **state)
{
    static const struct {
        const char *name;
        enum config_type type;
        const char *def;
    } fixed[] = {
        { "kafka.brokers", CONFIG_STRING, "embedded" },
        { "kafka.group", CONFIG_STRING, "journeyd" },
        { "kafka.topics.events", CONFIG_STRING, "journey.events" },
        { "kafka.topics.alerts", CONFIG_STRING, "journey.alerts" },
        { "kafka.topics.dlq", CONFIG_STRING, "journey.events.dlq" },
        { "kafka.consumer", CONFIG_MAP, "" },
        { "kafka.producer", CONFIG_MAP, "" },
        { "redis.url", CONFIG_STRING, "redis://127.0.0.1:6379/0" },
        { "redis.prefix", CONFIG_STRING, "jd" },
        { "attribution.touch_types", CONFIG_LIST, "touch" },
        { "attribution.conversion_types", CONFIG_LIST, "conversion" },
        { "attribution.lookback", CONFIG_DURATION, "30d" },
        { "attribution.journey_mode", CONFIG_ENUM, "reset" },
        { "attribution.direct_channels", CONFIG_LIST, "direct" },
        { "attribution.models", CONFIG_LIST,
          "first_touch,last_touch,last_non_direct,linear,position_based,time_decay,markov,"
          "shapley" },
        { "attribution.time_decay.half_life", CONFIG_DURATION, "7d" },
        { "attribution.position_based.first_weight", CONFIG_FLOAT, "0.4" },
        { "attribution.position_based.last_weight", CONFIG_FLOAT, "0.4" },
        { "rules.dirs", CONFIG_LIST, "rules" },
        { "rules.lateness", CONFIG_DURATION, "5s" },
        { "rules.idle_timeout", CONFIG_DURATION, "30s" },
        { "http.listen", CONFIG_STRING, "127.0.0.1:9464" },
        { "events.encoding", CONFIG_ENUM, "auto" },
        { "events.max_bytes", CONFIG_SIZE, "64KiB" },
        { "events.type_map", CONFIG_MAP, "" },
        { "log.level", CONFIG_ENUM, "info" },
        { "log.format", CONFIG_ENUM, "logfmt" },
    };
    (void)state;
    for (size_t i = 0; i < JD_ARRAY_SIZE(fixed); i++) {
        const struct config_entry *e = entry(fixed[i].name);
        if (e->type != fixed[i].type)
            fail_msg("%s: type %d, want %d", fixed[i].name, e->type, fixed[i].type);
        if (strcmp(e->def, fixed[i].def) != 0)
            fail_msg("%s: default '%s', want '%s'", fixed[i].name, e->def, fixed[i].def);
    }
    assert_string_equal(entry("log.format")->choices, "logfmt|json");
    assert_string_equal(entry("attribution.journey_mode")->choices, "reset|independent");
    assert_true(entry("kafka.consumer")->flags & CONFIG_F_NO_ENV);
    assert_true(entry("redis.password")->flags & CONFIG_F_SECRET);
}

/* --------------------------------------------------------------- file */

static void test_file_over_defaults(void **state)
{
    struct config *cfg = new_config();
    char err[BIG_ERR] = "";
    const char *text = "kafka:\n"
                       "  brokers: \"k1:9092,k2:9092\"\n"
                       "  topics: {events: ev}\n"
                       "rules:\n"
                       "  dirs: [/etc/journeyd/rules, more]\n"
                       "http:\n"
                       "  listen: \"\"\n";
    static const char *const dirs[] = { "/etc/journeyd/rules", "more" };
    (void)state;

    assert_int_equal(load(cfg, text, err, sizeof(err)), JD_OK);
    assert_string_equal(err, "");
    assert_string_equal(cfg->kafka.brokers, "k1:9092,k2:9092");
    assert_string_equal(cfg->kafka.topics.events, "ev");
    assert_string_equal(cfg->kafka.topics.alerts, "journey.alerts"); /* sibling untouched */
    assert_list(&cfg->rules.dirs, dirs, 2);
    assert_string_equal(cfg->http.listen, "");
    assert_string_equal(cfg->kafka.group, "journeyd");
    assert_int_equal(cfg->rules.lateness_ms, 5000);
    config_destroy(cfg);
}

static void test_file_empty_and_null_sections(void **state)
{
    static const char *const cases[] = { "", "# nothing\n", "~\n", "kafka:\n", "kafka: ~\nlog:\n" };
    (void)state;
    for (size_t i = 0; i < JD_ARRAY_SIZE(cases); i++) {
        struct config *cfg = new_config();
        char err[BIG_ERR] = "x";
        enum jd_err rc = load(cfg, cases[i], err, sizeof(err));
        bool same = !strcmp(cfg->kafka.brokers, "embedded") && !strcmp(cfg->log.level, "info");
        config_destroy(cfg);
        if (rc != JD_OK || err[0])
            fail_msg("case %zu: rc %d '%s'", i, rc, err);
        assert_true(same);
    }
}

/* One row per value: accepted values and what they become, refused ones and why. */
struct scalar_case {
    const char *key;
    const char *value; /* YAML text after "key: " */
    bool ok;
    int64_t want_i;     /* INT, SIZE, DURATION */
    double want_f;      /* FLOAT */
    const char *want_s; /* STRING, ENUM; for refusals the message after "key: " */
};

static const struct scalar_case scalar_cases[] = {
    /* string */
    { "kafka.group", "g1", true, 0, 0, "g1" },
    { "kafka.group", "'123'", true, 0, 0, "123" },
    { "kafka.group", "123", true, 0, 0, "123" },
    { "kafka.brokers", "host1:9092,host2:9092", true, 0, 0, "host1:9092,host2:9092" },
    { "http.listen", "\"\"", true, 0, 0, "" },
    { "redis.url", "unix:///run/redis.sock?db=2", true, 0, 0, "unix:///run/redis.sock?db=2" },
    { "kafka.group", "[a]", false, 0, 0, "expected a single value" },
    { "kafka.group", "{a: 1}", false, 0, 0, "expected a single value" },
    /* int */
    { "kafka.embedded_partitions", "16", true, 16, 0, NULL },
    { "kafka.embedded_partitions", "1", true, 1, 0, NULL },
    { "kafka.embedded_partitions", "256", true, 256, 0, NULL },
    { "kafka.embedded_partitions", "0", false, 0, 0, "must be between 1 and 256" },
    { "kafka.embedded_partitions", "257", false, 0, 0, "must be between 1 and 256" },
    { "kafka.embedded_partitions", "-3", false, 0, 0, "must be between 1 and 256" },
    { "kafka.embedded_partitions", "x", false, 0, 0, "'x' is not an integer" },
    { "kafka.embedded_partitions", "1.5", false, 0, 0, "'1.5' is not an integer" },
    { "kafka.embedded_partitions", "8x", false, 0, 0, "'8x' is not an integer" },
    { "kafka.embedded_partitions", "99999999999999999999", false, 0, 0, "is not an integer" },
    { "batch.max_events", "200000", true, 200000, 0, NULL },
    { "batch.max_events", "200001", false, 0, 0, "must be between 1 and 200000" },
    { "limits.max_props", "0", true, 0, 0, NULL },
    { "limits.max_props", "64", true, 64, 0, NULL },
    { "limits.max_props", "65", false, 0, 0, "must be between 0 and 64" },
    /* size */
    { "events.max_bytes", "1MiB", true, 1048576, 0, NULL },
    { "events.max_bytes", "65536", true, 65536, 0, NULL },
    { "events.max_bytes", "2KiB", true, 2048, 0, NULL },
    { "events.max_bytes", "64B", true, 64, 0, NULL },
    { "events.max_bytes", "64", true, 64, 0, NULL },
    { "events.max_bytes", "16MiB", true, 16777216, 0, NULL },
    { "events.max_bytes", "63", false, 0, 0, "must be between 64 and" },
    { "events.max_bytes", "17MiB", false, 0, 0, "must be between 64 and" },
    { "events.max_bytes", "1GiB", false, 0, 0, "must be between 64 and" },
    { "events.max_bytes", "1TiB", false, 0, 0, "'1TiB': unknown size unit (B, KiB, MiB, GiB)" },
    { "events.max_bytes", "1.5MiB", false, 0, 0, "unknown size unit" },
    { "events.max_bytes", "1 KiB", false, 0, 0, "unknown size unit" },
    { "events.max_bytes", "1kb", false, 0, 0, "unknown size unit" },
    { "events.max_bytes", "-1", false, 0, 0, "'-1' is not a size" },
    { "events.max_bytes", "KiB", false, 0, 0, "'KiB' is not a size" },
    { "events.max_bytes", "99999999999GiB", false, 0, 0, "is too large" },
    /* duration */
    { "rules.lateness", "10s", true, 10000, 0, NULL },
    { "rules.lateness", "0", true, 0, 0, NULL },
    { "rules.lateness", "1d", true, JD_MS_DAY, 0, NULL },
    { "rules.lateness", "1d1ms", false, 0, 0, "must be between 0s and 1d" },
    { "rules.lateness", "abc", false, 0, 0, "expected a number in duration" },
    { "rules.lateness", "5", false, 0, 0, "unknown unit in duration" },
    { "redis.connect_timeout", "10ms", true, 10, 0, NULL },
    { "redis.connect_timeout", "5ms", false, 0, 0, "must be between 10ms and 1m" },
    { "redis.connect_timeout", "2m", false, 0, 0, "must be between 10ms and 1m" },
    { "events.dedup_window", "0", true, 0, 0, NULL },
    { "events.dedup_window", "7d", true, 7 * JD_MS_DAY, 0, NULL },
    { "events.dedup_window", "8d", false, 0, 0, "must be between 0s and 1w" },
    { "windows.retention.minute", "1h30m", true, 90 * JD_MS_MINUTE, 0, NULL },
    { "windows.retention.minute", "59m", false, 0, 0, "must be between 1h and" },
    { "attribution.time_decay.half_life", "3d", true, 3 * JD_MS_DAY, 0, NULL },
    /* float */
    { "attribution.position_based.first_weight", "0.25", true, 0, 0.25, NULL },
    { "attribution.position_based.first_weight", "0", true, 0, 0, NULL },
    { "attribution.position_based.first_weight", "1", true, 0, 1, NULL },
    { "attribution.position_based.first_weight", "1e-1", true, 0, 0.1, NULL },
    { "attribution.position_based.first_weight", ".5", true, 0, 0.5, NULL },
    { "attribution.position_based.last_weight", "1.5", false, 0, 0, "must be between 0 and 1" },
    { "attribution.position_based.last_weight", "-0.1", false, 0, 0, "must be between 0 and 1" },
    { "attribution.position_based.last_weight", "abc", false, 0, 0, "'abc' is not a number" },
    { "attribution.position_based.last_weight", "nan", false, 0, 0, "'nan' is not a number" },
    { "attribution.position_based.last_weight", "inf", false, 0, 0, "'inf' is not a number" },
    { "attribution.position_based.last_weight", "0.5x", false, 0, 0, "is not a number" },
    /* enum */
    { "events.encoding", "json", true, 0, 0, "json" },
    { "events.encoding", "msgpack", true, 0, 0, "msgpack" },
    { "events.encoding", "auto", true, 0, 0, "auto" },
    { "events.encoding", "JSON", false, 0, 0, "'JSON' is not one of auto|json|msgpack" },
    { "events.encoding", "jso", false, 0, 0, "'jso' is not one of auto|json|msgpack" },
    { "events.encoding", "jsonx", false, 0, 0, "is not one of" },
    { "events.encoding", "auto|json", false, 0, 0, "is not one of" },
    { "events.encoding", "\"\"", false, 0, 0, "'' is not one of" },
    { "log.level", "debug", true, 0, 0, "debug" },
    { "log.level", "trace", false, 0, 0, "'trace' is not one of error|warn|info|debug" },
    { "log.format", "json", true, 0, 0, "json" },
    { "attribution.journey_mode", "independent", true, 0, 0, "independent" },
    { "attribution.journey_mode", "both", false, 0, 0, "is not one of reset|independent" },
};

static void check_scalar_value(const struct config *cfg, const struct scalar_case *c, size_t i)
{
    const struct config_entry *e = entry(c->key);
    switch (e->type) {
    case CONFIG_INT:
    case CONFIG_SIZE:
    case CONFIG_DURATION:
        if (get_i64(cfg, c->key) != c->want_i)
            fail_msg("case %zu %s=%s: got %lld, want %lld", i, c->key, c->value,
                     (long long)get_i64(cfg, c->key), (long long)c->want_i);
        break;
    case CONFIG_FLOAT:
        if (get_f64(cfg, c->key) != c->want_f)
            fail_msg("case %zu %s=%s: got %g, want %g", i, c->key, c->value, get_f64(cfg, c->key),
                     c->want_f);
        break;
    case CONFIG_STRING:
    case CONFIG_ENUM:
        if (strcmp(get_str(cfg, c->key), c->want_s) != 0)
            fail_msg("case %zu %s=%s: got '%s', want '%s'", i, c->key, c->value,
                     get_str(cfg, c->key), c->want_s);
        break;
    default:
        fail_msg("case %zu: not a scalar key", i);
    }
}

static void test_file_scalar_types(void **state)
{
    (void)state;
    for (size_t i = 0; i < JD_ARRAY_SIZE(scalar_cases); i++) {
        const struct scalar_case *c = &scalar_cases[i];
        struct config *cfg = new_config();
        char text[512], err[BIG_ERR] = "";
        yaml_for(c->key, c->value, text, sizeof(text));
        enum jd_err rc = load(cfg, text, err, sizeof(err));
        if (c->ok) {
            if (rc != JD_OK)
                fail_msg("case %zu %s=%s: rc %d: %s", i, c->key, c->value, rc, err);
            check_scalar_value(cfg, c, i);
        } else {
            /* "t.yaml:LINE:COL: key: message" at the value's position */
            char want[256];
            int depth = 0;
            for (const char *p = c->key; *p; p++)
                depth += *p == '.';
            const char *last = strrchr(c->key, '.') + 1;
            snprintf(want, sizeof(want), "t.yaml:%d:%d: %s: ", depth + 1,
                     2 * depth + (int)strlen(last) + 3, c->key);
            if (rc != JD_ERR_CONFIG || strncmp(err, want, strlen(want)) != 0 ||
                !strstr(err + strlen(want), c->want_s) || count_lines(err) != 1)
                fail_msg("case %zu %s=%s: rc %d '%s', want '%s…%s'", i, c->key, c->value, rc, err,
                         want, c->want_s);
        }
        config_destroy(cfg);
    }
}

/* The same values through config_set (the --set flag). */
static void test_set_scalar_types(void **state)
{
    (void)state;
    for (size_t i = 0; i < JD_ARRAY_SIZE(scalar_cases); i++) {
        const struct scalar_case *c = &scalar_cases[i];
        /* flags take raw text: skip YAML-only spellings */
        if (strpbrk(c->value, "\"'[{"))
            continue;
        struct config *cfg = new_config();
        char err[BIG_ERR] = "", want[256];
        enum jd_err rc = config_set(cfg, c->key, c->value, err, sizeof(err));
        if (c->ok) {
            if (rc != JD_OK)
                fail_msg("case %zu %s=%s: rc %d: %s", i, c->key, c->value, rc, err);
            check_scalar_value(cfg, c, i);
        } else {
            snprintf(want, sizeof(want), "%s: ", c->key);
            if (rc != JD_ERR_CONFIG || strncmp(err, want, strlen(want)) != 0 ||
                !strstr(err, c->want_s))
                fail_msg("case %zu %s=%s: rc %d '%s', want '%s…%s'", i, c->key, c->value, rc, err,
                         want, c->want_s);
        }
        config_destroy(cfg);
    }
}

static void test_file_lists(void **state)
{
    struct config *cfg = new_config();
    char err[BIG_ERR] = "";
    static const char *const two[] = { "touch", "click" }, *const one[] = { "lead" };
    (void)state;

    /* a block list and a flow list */
    assert_int_equal(load(cfg,
                          "attribution:\n"
                          "  touch_types:\n"
                          "    - touch\n"
                          "    - click\n"
                          "  conversion_types: [lead]\n",
                          err, sizeof(err)),
                     JD_OK);
    assert_list(&cfg->attribution.touch_types, two, 2);
    assert_list(&cfg->attribution.conversion_types, one, 1);
    /* a later file replaces the whole list; null and [] empty it */
    assert_int_equal(load(cfg, "attribution: {touch_types: [lead]}\n", err, sizeof(err)), JD_OK);
    assert_list(&cfg->attribution.touch_types, one, 1);
    assert_int_equal(
        load(cfg, "attribution: {touch_types: ~, direct_channels: []}\n", err, sizeof(err)), JD_OK);
    assert_int_equal(cfg->attribution.touch_types.n, 0);
    assert_int_equal(cfg->attribution.direct_channels.n, 0);
    config_destroy(cfg);

    static const struct {
        const char *text, *want;
    } bad[] = {
        { "rules:\n  dirs: rules\n", "t.yaml:2:9: rules.dirs: expected a list, e.g. [a, b]" },
        { "rules:\n  dirs: {a: 1}\n", "t.yaml:2:9: rules.dirs: expected a list, e.g. [a, b]" },
        { "rules:\n  dirs: [a, [b]]\n",
          "t.yaml:2:13: rules.dirs: list items must be non-empty values" },
        { "rules:\n  dirs: [a, '']\n",
          "t.yaml:2:13: rules.dirs: list items must be non-empty values" },
        { "rules:\n  dirs:\n    - a\n    - {x: 1}\n",
          "t.yaml:4:7: rules.dirs: list items must be non-empty values" },
    };
    for (size_t i = 0; i < JD_ARRAY_SIZE(bad); i++) {
        cfg = new_config();
        enum jd_err rc = load(cfg, bad[i].text, err, sizeof(err));
        config_destroy(cfg);
        if (rc != JD_ERR_CONFIG || strcmp(err, bad[i].want) != 0)
            fail_msg("case %zu: rc %d '%s', want '%s'", i, rc, err, bad[i].want);
    }
}

static void test_file_maps(void **state)
{
    struct config *cfg = new_config();
    char err[BIG_ERR] = "";
    (void)state;

    assert_int_equal(load(cfg,
                          "kafka:\n"
                          "  consumer:\n"
                          "    security.protocol: sasl_ssl\n"
                          "    sasl.mechanisms: PLAIN\n"
                          "    fetch.wait.max.ms: 50\n"
                          "  producer: {linger.ms: 5}\n"
                          "events:\n"
                          "  type_map: {\"Order Completed\": conversion, Signed Up: lead}\n",
                          err, sizeof(err)),
                     JD_OK);
    const struct config_map *m = &cfg->kafka.consumer;
    assert_int_equal(m->n, 3);
    /* file order is kept */
    assert_string_equal(m->keys[0], "security.protocol");
    assert_string_equal(m->keys[1], "sasl.mechanisms");
    assert_string_equal(m->keys[2], "fetch.wait.max.ms");
    assert_string_equal(config_map_get(m, "fetch.wait.max.ms"), "50");
    assert_string_equal(config_map_get(&cfg->kafka.producer, "linger.ms"), "5");
    assert_int_equal(cfg->kafka.producer.n, 1);
    assert_string_equal(config_map_get(&cfg->events.type_map, "Order Completed"), "conversion");
    assert_string_equal(config_map_get(&cfg->events.type_map, "Signed Up"), "lead");
    assert_null(config_map_get(&cfg->events.type_map, "order completed"));

    /* a second file adds and replaces entries; null leaves the map alone */
    assert_int_equal(load(cfg,
                          "kafka:\n  consumer: {sasl.mechanisms: SCRAM-SHA-512, a.b: c}\n"
                          "  producer: ~\n",
                          err, sizeof(err)),
                     JD_OK);
    assert_int_equal(m->n, 4);
    assert_string_equal(config_map_get(m, "sasl.mechanisms"), "SCRAM-SHA-512");
    assert_string_equal(config_map_get(m, "a.b"), "c");
    assert_int_equal(cfg->kafka.producer.n, 1);
    config_destroy(cfg);

    static const struct {
        const char *text, *want;
    } bad[] = {
        { "kafka:\n  consumer: x\n",
          "t.yaml:2:13: kafka.consumer: expected a mapping of name: value" },
        { "kafka:\n  consumer: [a]\n",
          "t.yaml:2:13: kafka.consumer: expected a mapping of name: value" },
        { "kafka:\n  consumer: {a: [1]}\n",
          "t.yaml:2:17: kafka.consumer.a: expected a plain value" },
        { "kafka:\n  consumer: {a: 1, a: 2}\n", "t.yaml:2:20: duplicate key 'a' (also at line 2)" },
    };
    for (size_t i = 0; i < JD_ARRAY_SIZE(bad); i++) {
        cfg = new_config();
        enum jd_err rc = load(cfg, bad[i].text, err, sizeof(err));
        config_destroy(cfg);
        if (rc != JD_ERR_CONFIG || strcmp(err, bad[i].want) != 0)
            fail_msg("case %zu: rc %d '%s', want '%s'", i, rc, err, bad[i].want);
    }
}

static void test_file_unknown_keys(void **state)
{
    static const struct {
        const char *text, *want;
    } cases[] = {
        { "kafka:\n  brokerz: x\n",
          "t.yaml:2:3: unknown key 'kafka.brokerz' (did you mean 'kafka.brokers'?)" },
        { "kafka:\n  topics:\n    event: x\n",
          "t.yaml:3:5: unknown key 'kafka.topics.event' (did you mean 'kafka.topics.events'?)" },
        { "redis:\n  passwd: x\n",
          "t.yaml:2:3: unknown key 'redis.passwd' (did you mean 'redis.password'?)" },
        { "log:\n  levle: info\n",
          "t.yaml:2:3: unknown key 'log.levle' (did you mean 'log.level'?)" },
        { "batch:\n  max_event: 5\n",
          "t.yaml:2:3: unknown key 'batch.max_event' (did you mean 'batch.max_events'?)" },
        /* nothing close: no suggestion */
        { "kafka:\n  zzzzzzzz: 1\n", "t.yaml:2:3: unknown key 'kafka.zzzzzzzz'" },
        { "nonsense: 1\n", "t.yaml:1:1: unknown key 'nonsense'" },
        /* an unknown key inside a known leaf's sibling mapping */
        { "kafka:\n  brokers: x\n  extra: {a: 1}\n", "t.yaml:3:3: unknown key 'kafka.extra'" },
        /* a section given a value */
        { "kafka: 5\n", "t.yaml:1:8: 'kafka' is a section: expected a mapping" },
        { "kafka:\n  topics: [a]\n",
          "t.yaml:2:11: 'kafka.topics' is a section: expected a mapping" },
        /* the root must be a mapping */
        { "- a\n- b\n", "t.yaml:1:1: the config must be a mapping of sections" },
        { "hello\n", "t.yaml:1:1: the config must be a mapping of sections" },
    };
    (void)state;
    for (size_t i = 0; i < JD_ARRAY_SIZE(cases); i++) {
        struct config *cfg = new_config();
        char err[BIG_ERR] = "";
        enum jd_err rc = load(cfg, cases[i].text, err, sizeof(err));
        config_destroy(cfg);
        if (rc != JD_ERR_CONFIG || strcmp(err, cases[i].want) != 0)
            fail_msg("case %zu: rc %d '%s', want '%s'", i, rc, err, cases[i].want);
    }
}

/* Every problem in a file is reported, one per line, in file order. */
static void test_file_all_errors_reported(void **state)
{
    const char *text = "kafka:\n"
                       "  brokerz: x\n"
                       "  embedded_partitions: 0\n"
                       "redis:\n"
                       "  connect_timeout: 5ms\n"
                       "events:\n"
                       "  encoding: JSON\n"
                       "attribution:\n"
                       "  touch_types: touch\n"
                       "  position_based:\n"
                       "    first_weight: abc\n"
                       "log: 5\n"
                       "http:\n"
                       "  listen: ok\n"
                       "bogus: 1\n";
    const char *want =
        "t.yaml:2:3: unknown key 'kafka.brokerz' (did you mean 'kafka.brokers'?)\n"
        "t.yaml:3:24: kafka.embedded_partitions: must be between 1 and 256\n"
        "t.yaml:5:20: redis.connect_timeout: must be between 10ms and 1m\n"
        "t.yaml:7:13: events.encoding: 'JSON' is not one of auto|json|msgpack\n"
        "t.yaml:9:16: attribution.touch_types: expected a list, e.g. [a, b]\n"
        "t.yaml:11:19: attribution.position_based.first_weight: 'abc' is not a number\n"
        "t.yaml:12:6: 'log' is a section: expected a mapping\n"
        "t.yaml:15:1: unknown key 'bogus'";
    struct config *cfg = new_config();
    char err[BIG_ERR] = "";
    (void)state;

    assert_int_equal(load(cfg, text, err, sizeof(err)), JD_ERR_CONFIG);
    assert_string_equal(err, want);
    config_destroy(cfg);
}

/* A short errstr is truncated cleanly; the result is still an error. */
static void test_file_errors_small_buffer(void **state)
{
    const char *text = "a: 1\nb: 2\nc: 3\nd: 4\n";
    char err[40];
    (void)state;
    for (size_t size = 0; size <= sizeof(err); size++) {
        struct config *cfg = new_config();
        memset(err, 'x', sizeof(err));
        enum jd_err rc =
            config_load_buf(cfg, "t.yaml", text, strlen(text), size ? err : NULL, size);
        config_destroy(cfg);
        assert_int_equal(rc, JD_ERR_CONFIG);
        if (size) {
            assert_non_null(memchr(err, '\0', size));
            if (size < sizeof(err))
                assert_int_equal(err[size], 'x');
        }
    }
    struct config *cfg = new_config();
    char big[BIG_ERR];
    assert_int_equal(load(cfg, text, big, sizeof(big)), JD_ERR_CONFIG);
    assert_int_equal(count_lines(big), 4);
    config_destroy(cfg);
}

static void test_file_yaml_errors(void **state)
{
    static const struct {
        const char *text, *want;
    } cases[] = {
        { "kafka:\n  brokers: [a\n", "t.yaml:3:1: did not find expected ',' or ']'" },
        { "kafka: {brokers: a, brokers: b}\n",
          "t.yaml:1:21: duplicate key 'brokers' (also at line 1)" },
        { "kafka: &k {brokers: a}\n", "t.yaml:1:8: anchors (&k) are not allowed" },
        { "a: 1\n---\nb: 2\n", "t.yaml:2:1: only one YAML document per file" },
    };
    (void)state;
    for (size_t i = 0; i < JD_ARRAY_SIZE(cases); i++) {
        struct config *cfg = new_config();
        char err[BIG_ERR] = "";
        enum jd_err rc = load(cfg, cases[i].text, err, sizeof(err));
        config_destroy(cfg);
        if (rc != JD_ERR_CONFIG || strncmp(err, cases[i].want, strlen(cases[i].want)) != 0)
            fail_msg("case %zu: rc %d '%s', want '%s'", i, rc, err, cases[i].want);
    }
}

static char tmpdir[64];

static int make_tmpdir(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_config.XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static const char *const tmpfiles[] = { "j.yaml", "bad.yaml", "pw", "pw2", "cred" };

static int remove_tmpdir(void **state)
{
    char path[128];
    (void)state;
    for (size_t i = 0; i < JD_ARRAY_SIZE(tmpfiles); i++) {
        snprintf(path, sizeof(path), "%s/%s", tmpdir, tmpfiles[i]);
        unlink(path);
    }
    return rmdir(tmpdir);
}

static void tmp_path(const char *name, char *out, size_t size)
{
    snprintf(out, size, "%s/%s", tmpdir, name);
}

static void write_file(const char *name, const char *text)
{
    char path[128];
    tmp_path(name, path, sizeof(path));
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

static void test_load_file(void **state)
{
    char path[128], err[BIG_ERR] = "", want[512];
    struct config *cfg = new_config();
    (void)state;

    write_file("j.yaml", "kafka:\n  group: from-file\n");
    tmp_path("j.yaml", path, sizeof(path));
    assert_int_equal(config_load_file(cfg, path, err, sizeof(err)), JD_OK);
    assert_string_equal(cfg->kafka.group, "from-file");

    /* messages name the file */
    write_file("bad.yaml", "kafka:\n  group: [x]\n  nope: 1\n");
    tmp_path("bad.yaml", path, sizeof(path));
    assert_int_equal(config_load_file(cfg, path, err, sizeof(err)), JD_ERR_CONFIG);
    snprintf(want, sizeof(want),
             "%s:2:10: kafka.group: expected a single value\n%s:3:3: unknown key 'kafka.nope'",
             path, path);
    assert_string_equal(err, want);
    config_destroy(cfg);
}

/*
 * Regression (config.c, config_load_file, fixed): the header promises JD_ERR_CONFIG or
 * JD_ERR_IO, but a file that cannot be read (missing, a directory) returns
 * JD_ERR_CONFIG, so callers cannot tell "fix the file" from "cannot read it".
 */
static void test_load_file_missing_is_io_error(void **state)
{
    char path[128], err[BIG_ERR] = "";
    struct config *cfg = new_config();
    (void)state;

    tmp_path("missing.yaml", path, sizeof(path));
    enum jd_err rc = config_load_file(cfg, path, err, sizeof(err));
    config_destroy(cfg);
    assert_non_null(strstr(err, path)); /* the message itself is right */
    assert_int_equal(rc, JD_ERR_IO);
}

/* --------------------------------------------------------- environment */

static void test_env_names(void **state)
{
    static const struct {
        const char *key, *env;
    } cases[] = {
        { "kafka.brokers", "JOURNEYD_KAFKA_BROKERS" },
        { "redis.url", "JOURNEYD_REDIS_URL" },
        { "redis.prefix", "JOURNEYD_REDIS_PREFIX" },
        { "kafka.group", "JOURNEYD_KAFKA_GROUP" },
        { "rules.dirs", "JOURNEYD_RULES_DIRS" },
        { "http.listen", "JOURNEYD_HTTP_LISTEN" },
        { "kafka.topics.events", "JOURNEYD_KAFKA_TOPICS_EVENTS" },
        { "attribution.time_decay.half_life", "JOURNEYD_ATTRIBUTION_TIME_DECAY_HALF_LIFE" },
        { "windows.retention.minute", "JOURNEYD_WINDOWS_RETENTION_MINUTE" },
    };
    char buf[128], tiny[12];
    (void)state;
    for (size_t i = 0; i < JD_ARRAY_SIZE(cases); i++) {
        config_env_name(entry(cases[i].key), buf, sizeof(buf));
        assert_string_equal(buf, cases[i].env);
    }
    config_env_name(entry("kafka.brokers"), tiny, sizeof(tiny));
    assert_string_equal(tiny, "JOURNEYD_KA");
}

static void test_env_apply(void **state)
{
    static const char *const vars[] = {
        "PATH=/usr/bin",
        "JOURNEYD_KAFKA_BROKERS=k:9092",
        "JOURNEYD_RULES_DIRS= a, b ,,c ",
        "JOURNEYD_BATCH_MAX_WAIT=250ms",
        "JOURNEYD_ATTRIBUTION_TIME_DECAY_HALF_LIFE=3d",
        "JOURNEYD_WINDOWS_RETENTION_MINUTE=2d",
        "JOURNEYD_EVENTS_MAX_BYTES=1MiB",
        "JOURNEYD_ATTRIBUTION_POSITION_BASED_FIRST_WEIGHT=0.3",
        "JOURNEYD_LOG_FORMAT=json",
        "JOURNEYD_HTTP_LISTEN=",
        "JOURNEYD_REDIS_PASSWORD=s3cret=x", /* everything after the first '=' */
        "JOURNEYDX_KAFKA_GROUP=ignored",    /* not our prefix */
        "journeyd_kafka_group=ignored",     /* names are case-sensitive */
        "JOURNEYD_NO_EQUALS_SIGN",          /* not NAME=value: skipped */
        NULL,
    };
    static const char *const dirs[] = { "a", "b", "c" };
    struct config *cfg = new_config();
    char err[BIG_ERR] = "x";
    (void)state;

    char **env = env_dup(vars);
    enum jd_err rc = config_apply_env(cfg, env, err, sizeof(err));
    env_free(env);
    assert_int_equal(rc, JD_OK);
    assert_string_equal(err, "");
    assert_string_equal(cfg->kafka.brokers, "k:9092");
    assert_list(&cfg->rules.dirs, dirs, 3);
    assert_int_equal(cfg->batch.max_wait_ms, 250);
    assert_int_equal(cfg->attribution.half_life_ms, 3 * JD_MS_DAY);
    assert_int_equal(cfg->windows.retention_minute_ms, 2 * JD_MS_DAY);
    assert_int_equal(cfg->events.max_bytes, 1048576);
    assert_true(cfg->attribution.first_weight == 0.3);
    assert_string_equal(cfg->log.format, "json");
    assert_string_equal(cfg->http.listen, "");
    assert_string_equal(cfg->redis.password, "s3cret=x");
    assert_string_equal(cfg->kafka.group, "journeyd");

    /* no environment at all */
    assert_int_equal(config_apply_env(cfg, NULL, err, sizeof(err)), JD_OK);
    config_destroy(cfg);
}

static void test_env_errors_all_reported(void **state)
{
    static const char *const vars[] = {
        "JOURNEYD_KAFKA_BROKER=x",
        "JOURNEYD_BATCH_MAX_EVENTS=0",
        "JOURNEYD_KAFKA_CONSUMER=a=b",
        "JOURNEYD_KAFKA_GROUP=fine",
        "JOURNEYD_LOG_LEVEL=loud",
        "JOURNEYD_EVENTS_TYPE_MAP=a=b",
        "JOURNEYD_=x",
        NULL,
    };
    const char *want =
        "environment: JOURNEYD_KAFKA_BROKER is not a journeyd setting\n"
        "environment: JOURNEYD_BATCH_MAX_EVENTS: must be between 1 and 200000\n"
        "environment: JOURNEYD_KAFKA_CONSUMER cannot be set from the environment; use the "
        "config file\n"
        "environment: JOURNEYD_LOG_LEVEL: 'loud' is not one of error|warn|info|debug\n"
        "environment: JOURNEYD_EVENTS_TYPE_MAP cannot be set from the environment; use the "
        "config file\n"
        "environment: JOURNEYD_ is not a journeyd setting";
    struct config *cfg = new_config();
    char err[BIG_ERR] = "";
    (void)state;

    char **env = env_dup(vars);
    enum jd_err rc = config_apply_env(cfg, env, err, sizeof(err));
    env_free(env);
    assert_int_equal(rc, JD_ERR_CONFIG);
    assert_string_equal(err, want);
    /* the good variable still applied; the refused ones did not */
    assert_string_equal(cfg->kafka.group, "fine");
    assert_int_equal(cfg->batch.max_events, 50000);
    assert_int_equal(cfg->kafka.consumer.n, 0);
    config_destroy(cfg);
}

/* Every settable key has a working variable (set each to its own default). */
static void test_env_every_key(void **state)
{
    size_t n;
    const struct config_entry *t = config_table(&n);
    (void)state;
    for (size_t i = 0; i < n; i++) {
        char name[128], kv[512], err[BIG_ERR] = "";
        config_env_name(&t[i], name, sizeof(name));
        snprintf(kv, sizeof(kv), "%s=%s", name, t[i].def);
        char *env[] = { kv, NULL };
        struct config *cfg = new_config();
        enum jd_err rc = config_apply_env(cfg, env, err, sizeof(err));
        config_destroy(cfg);
        enum jd_err want = (t[i].flags & CONFIG_F_NO_ENV) ? JD_ERR_CONFIG : JD_OK;
        if (rc != want)
            fail_msg("%s: rc %d, want %d (%s)", kv, rc, want, err);
    }
}

/* ---------------------------------------------------------- flags/-X */

static void test_set(void **state)
{
    struct config *cfg = new_config();
    char err[BIG_ERR] = "";
    static const char *const lst[] = { "a", "b" };
    (void)state;

    assert_int_equal(config_set(cfg, "kafka.group", "g2", err, sizeof(err)), JD_OK);
    assert_string_equal(cfg->kafka.group, "g2");
    assert_int_equal(config_set(cfg, "rules.dirs", "a,,b", err, sizeof(err)), JD_OK);
    assert_list(&cfg->rules.dirs, lst, 2);
    assert_int_equal(config_set(cfg, "rules.dirs", " ", err, sizeof(err)), JD_OK);
    assert_int_equal(cfg->rules.dirs.n, 0);

    /* maps: one entry per call, added or replaced */
    assert_int_equal(config_set(cfg, "kafka.consumer", "a=1", err, sizeof(err)), JD_OK);
    assert_int_equal(config_set(cfg, "kafka.consumer", "b=x=y", err, sizeof(err)), JD_OK);
    assert_int_equal(config_set(cfg, "kafka.consumer", "a=2", err, sizeof(err)), JD_OK);
    assert_int_equal(config_set(cfg, "kafka.consumer", "c=", err, sizeof(err)), JD_OK);
    assert_int_equal(cfg->kafka.consumer.n, 3);
    assert_string_equal(config_map_get(&cfg->kafka.consumer, "a"), "2");
    assert_string_equal(config_map_get(&cfg->kafka.consumer, "b"), "x=y");
    assert_string_equal(config_map_get(&cfg->kafka.consumer, "c"), "");
    assert_int_equal(config_set(cfg, "kafka.consumer", "=v", err, sizeof(err)), JD_ERR_CONFIG);
    assert_string_equal(err, "kafka.consumer: expected key=value, got '=v'");
    assert_int_equal(config_set(cfg, "kafka.consumer", "novalue", err, sizeof(err)), JD_ERR_CONFIG);
    assert_int_equal(cfg->kafka.consumer.n, 3);
    /* or named below the map, as --set kafka.consumer.fetch.wait.max.ms=10 */
    assert_int_equal(config_set(cfg, "kafka.consumer.fetch.wait.max.ms", "10", err, sizeof(err)),
                     JD_OK);
    assert_int_equal(config_set(cfg, "kafka.consumer.a", "3", err, sizeof(err)), JD_OK);
    assert_int_equal(cfg->kafka.consumer.n, 4);
    assert_string_equal(config_map_get(&cfg->kafka.consumer, "fetch.wait.max.ms"), "10");
    assert_string_equal(config_map_get(&cfg->kafka.consumer, "a"), "3");
    assert_int_equal(config_set(cfg, "kafka.consumer.", "1", err, sizeof(err)), JD_ERR_CONFIG);
    assert_int_equal(config_set(cfg, "kafka.consumerx.a", "1", err, sizeof(err)), JD_ERR_CONFIG);

    /* unknown keys get a suggestion when one is close */
    assert_int_equal(config_set(cfg, "kafka.brokerz", "x", err, sizeof(err)), JD_ERR_CONFIG);
    assert_string_equal(err, "unknown key 'kafka.brokerz' (did you mean 'kafka.brokers'?)");
    assert_int_equal(config_set(cfg, "kafka", "x", err, sizeof(err)), JD_ERR_CONFIG);
    assert_string_equal(err, "unknown key 'kafka'");
    assert_int_equal(config_set(cfg, "", "x", err, sizeof(err)), JD_ERR_CONFIG);
    config_destroy(cfg);
}

static void test_set_kafka_prop(void **state)
{
    struct config *cfg = new_config();
    char err[BIG_ERR] = "";
    (void)state;

    assert_int_equal(config_set_kafka_prop(cfg, "security.protocol=ssl", err, sizeof(err)), JD_OK);
    assert_int_equal(config_set_kafka_prop(cfg, "sasl.jaas=a=b", err, sizeof(err)), JD_OK);
    assert_int_equal(config_set_kafka_prop(cfg, "security.protocol=sasl_ssl", err, sizeof(err)),
                     JD_OK);
    const struct config_map *maps[] = { &cfg->kafka.consumer, &cfg->kafka.producer };
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(maps[i]->n, 2);
        assert_string_equal(config_map_get(maps[i], "security.protocol"), "sasl_ssl");
        assert_string_equal(config_map_get(maps[i], "sasl.jaas"), "a=b");
    }
    assert_int_equal(config_set_kafka_prop(cfg, "noequals", err, sizeof(err)), JD_ERR_CONFIG);
    assert_non_null(strstr(err, "'noequals'"));
    assert_int_equal(config_set_kafka_prop(cfg, "=v", err, sizeof(err)), JD_ERR_CONFIG);
    assert_int_equal(cfg->kafka.consumer.n, 2);
    config_destroy(cfg);
}

/* defaults < file < environment < flags */
static void test_precedence(void **state)
{
    struct config *cfg = new_config();
    char err[BIG_ERR] = "";
    static const char *const vars[] = { "JOURNEYD_KAFKA_GROUP=env", "JOURNEYD_RULES_LATENESS=2s",
                                        "JOURNEYD_REDIS_PREFIX=envp", NULL };
    char **env = env_dup(vars);
    (void)state;

    assert_int_equal(load(cfg,
                          "kafka: {group: file, brokers: filebrokers}\n"
                          "rules: {lateness: 1s, idle_timeout: 1m}\n"
                          "redis: {prefix: filep}\n"
                          "log: {level: debug}\n",
                          err, sizeof(err)),
                     JD_OK);
    assert_int_equal(config_apply_env(cfg, env, err, sizeof(err)), JD_OK);
    env_free(env);
    assert_int_equal(config_set(cfg, "kafka.group", "flag", err, sizeof(err)), JD_OK);
    assert_int_equal(config_set_kafka_prop(cfg, "client.id=flag", err, sizeof(err)), JD_OK);

    assert_string_equal(cfg->kafka.group, "flag");           /* flag over env over file */
    assert_string_equal(cfg->redis.prefix, "envp");          /* env over file */
    assert_int_equal(cfg->rules.lateness_ms, 2000);          /* env over file */
    assert_string_equal(cfg->kafka.brokers, "filebrokers");  /* file over default */
    assert_int_equal(cfg->rules.idle_timeout_ms, 60000);     /* file over default */
    assert_string_equal(cfg->log.level, "debug");            /* file over default */
    assert_string_equal(cfg->http.listen, "127.0.0.1:9464"); /* default */
    assert_string_equal(config_map_get(&cfg->kafka.consumer, "client.id"), "flag");
    config_destroy(cfg);
}

/* ------------------------------------------------------------- validate */

struct validate_case {
    const char *sets[4]; /* "key=value" applied with config_set */
    const char *want;    /* the single message expected */
};

static const struct validate_case validate_cases[] = {
    { { "http.listen=garbage" }, "http.listen: 'garbage' is not host:port" },
    { { "http.listen=127.0.0.1:99999" }, "http.listen: '127.0.0.1:99999' is not host:port" },
    { { "http.listen=::1:9464" }, "http.listen: '::1:9464' is not host:port" },
    { { "http.listen=[]:9464" }, "http.listen: '[]:9464' is not host:port" },
    { { "http.listen=localhost:" }, "http.listen: 'localhost:' is not host:port" },
    { { "http.listen=localhost:0" }, "http.listen: 'localhost:0' is not host:port" },
    { { "http.listen=localhost:80a" }, "http.listen: 'localhost:80a' is not host:port" },
    { { "kafka.brokers=" }, "kafka.brokers: must not be empty (use 'embedded' for a demo)" },
    { { "kafka.group=" }, "kafka.group: must not be empty" },
    { { "kafka.topics.dlq=" }, "kafka.topics: events, alerts and dlq must all be set" },
    { { "kafka.topics.events=" }, "kafka.topics: events, alerts and dlq must all be set" },
    { { "kafka.topics.alerts=" }, "kafka.topics: events, alerts and dlq must all be set" },
    { { "kafka.topics.dlq=journey.events" },
      "kafka.topics: events, alerts and dlq must be three topics" },
    { { "kafka.topics.alerts=journey.events" },
      "kafka.topics: events, alerts and dlq must be three topics" },
    { { "kafka.topics.alerts=journey.events.dlq" },
      "kafka.topics: events, alerts and dlq must be three topics" },
    { { "redis.prefix=" }, "redis.prefix: must be 1 to 32 characters, without braces" },
    { { "redis.prefix=a:b" }, "redis.prefix: must be 1 to 32 characters, without braces" },
    { { "redis.prefix={jd}" }, "redis.prefix: must be 1 to 32 characters, without braces" },
    { { "redis.prefix=j d" }, "redis.prefix: must be 1 to 32 characters, without braces" },
    { { "redis.prefix=jd*" }, "redis.prefix: must be 1 to 32 characters, without braces" },
    { { "redis.prefix=jd?" }, "redis.prefix: must be 1 to 32 characters, without braces" },
    { { "redis.prefix=j[d]" }, "redis.prefix: must be 1 to 32 characters, without braces" },
    { { "redis.prefix=abcdefghijklmnopqrstuvwxyz0123456" },
      "redis.prefix: must be 1 to 32 characters, without braces" },
    { { "kafka.topics.events=journey events" },
      "kafka.topics: 'journey events' is not a Kafka topic" },
    { { "kafka.topics.dlq=dlq/x" }, "kafka.topics: 'dlq/x' is not a Kafka topic" },
    { { "kafka.topics.alerts=.." }, "kafka.topics: '..' is not a Kafka topic" },
    { { "windows.retention.minute=200d" }, "windows.retention: minute <= hour <= day is required" },
    { { "windows.retention.hour=900d" }, "windows.retention: minute <= hour <= day is required" },
    { { "attribution.position_based.first_weight=0.6",
        "attribution.position_based.last_weight=0.5" },
      "attribution.position_based: first_weight + last_weight must be <= 1" },
    { { "attribution.touch_types=Touch" },
      "attribution.touch_types: 'Touch' is not an event type ([a-z0-9_]{1,64})" },
    { { "attribution.conversion_types=a-b" },
      "attribution.conversion_types: 'a-b' is not an event type ([a-z0-9_]{1,64})" },
    { { "attribution.touch_types=touch,lead", "attribution.conversion_types=lead" },
      "attribution: 'lead' cannot be both a touch and a conversion type" },
    { { "events.type_map=Order Completed=Conversion" },
      "events.type_map: 'Order Completed' maps to 'Conversion', not an event type" },
    { { "events.type_map=x=" }, "events.type_map: 'x' maps to '', not an event type" },
    { { "attribution.models=linear,foo" }, "attribution.models: unknown model 'foo'" },
    { { "rules.dirs=" }, "rules.dirs: at least one directory is required" },
};

static void test_validate_cases(void **state)
{
    (void)state;
    for (size_t i = 0; i < JD_ARRAY_SIZE(validate_cases); i++) {
        const struct validate_case *c = &validate_cases[i];
        struct config *cfg = new_config();
        char err[BIG_ERR] = "";
        for (size_t k = 0; k < JD_ARRAY_SIZE(c->sets) && c->sets[k]; k++) {
            char key[128];
            const char *eq = strchr(c->sets[k], '=');
            snprintf(key, sizeof(key), "%.*s", (int)(eq - c->sets[k]), c->sets[k]);
            if (config_set(cfg, key, eq + 1, err, sizeof(err)) != JD_OK)
                fail_msg("case %zu: set %s: %s", i, c->sets[k], err);
        }
        enum jd_err rc = config_validate(cfg, err, sizeof(err));
        config_destroy(cfg);
        if (rc != JD_ERR_CONFIG || strncmp(err, c->want, strlen(c->want)) != 0 ||
            count_lines(err) != 1)
            fail_msg("case %zu: rc %d '%s', want '%s'", i, rc, err, c->want);
    }
}

/* Listen addresses --check-config accepts (their syntax: nothing is resolved or bound). */
static void test_validate_listen(void **state)
{
    static const char *const ok[] = { "",           "127.0.0.1:9464",          ":9464",
                                      "[::1]:9464", "journeyd.internal:65535", "0.0.0.0:1" };
    (void)state;
    for (size_t i = 0; i < JD_ARRAY_SIZE(ok); i++) {
        struct config *cfg = new_config();
        char err[BIG_ERR] = "";
        assert_int_equal(config_set(cfg, "http.listen", ok[i], err, sizeof(err)), JD_OK);
        enum jd_err rc = config_validate(cfg, err, sizeof(err));
        config_destroy(cfg);
        if (rc != JD_OK)
            fail_msg("'%s': %s", ok[i], err);
    }
}

/* Borderline values that are valid. */
static void test_validate_accepts(void **state)
{
    static const char *const sets[][2] = {
        { "attribution.position_based.first_weight", "0.5" },
        { "attribution.position_based.last_weight", "0.5" },
        { "windows.retention.minute", "1d" },
        { "windows.retention.hour", "1d" },
        { "windows.retention.day", "1d" },
        { "attribution.conversion_types", "conversion,lead" },
        { "attribution.models", "" },
        { "redis.prefix", "jd-prod_2.x" },
        { "redis.prefix", "abcdefghijklmnopqrstuvwxyz012345" }, /* 32: the longest */
        { "kafka.topics.alerts", "journey.alerts.v2" },
        { "kafka.topics.dlq", "Journey_Events-DLQ.v1" },
        { "events.type_map", "Order Completed=conversion" },
    };
    struct config *cfg = new_config();
    char err[BIG_ERR] = "";
    (void)state;
    for (size_t i = 0; i < JD_ARRAY_SIZE(sets); i++)
        assert_int_equal(config_set(cfg, sets[i][0], sets[i][1], err, sizeof(err)), JD_OK);
    enum jd_err rc = config_validate(cfg, err, sizeof(err));
    config_destroy(cfg);
    if (rc != JD_OK)
        fail_msg("rc %d: %s", rc, err);
}

static void test_validate_reports_all(void **state)
{
    struct config *cfg = new_config();
    char err[BIG_ERR] = "";
    static const char *const sets[][2] = {
        { "kafka.group", "" },
        { "redis.prefix", "a:b" },
        { "rules.dirs", "" },
        { "attribution.models", "foo,bar" },
        { "attribution.touch_types", "T" },
    };
    (void)state;
    for (size_t i = 0; i < JD_ARRAY_SIZE(sets); i++)
        assert_int_equal(config_set(cfg, sets[i][0], sets[i][1], err, sizeof(err)), JD_OK);
    assert_int_equal(config_validate(cfg, err, sizeof(err)), JD_ERR_CONFIG);
    assert_int_equal(count_lines(err), 6);
    assert_non_null(strstr(err, "kafka.group"));
    assert_non_null(strstr(err, "redis.prefix"));
    assert_non_null(strstr(err, "rules.dirs"));
    assert_non_null(strstr(err, "unknown model 'foo'"));
    assert_non_null(strstr(err, "unknown model 'bar'"));
    assert_non_null(strstr(err, "'T' is not an event type"));
    config_destroy(cfg);
}

/* ------------------------------------------------------- printing */

static void test_reference(void **state)
{
    size_t n;
    const struct config_entry *t = config_table(&n);
    char *ref = reference_text();
    (void)state;

    assert_non_null(strstr(ref, "# Configuration reference"));
    assert_non_null(strstr(ref, "defaults < file"));
    static const char *const sections[] = { "kafka", "redis", "events", "windows", "attribution",
                                            "rules", "http",  "log",    "batch",   "limits" };
    for (size_t i = 0; i < JD_ARRAY_SIZE(sections); i++) {
        char h[64];
        snprintf(h, sizeof(h), "\n## `%s`\n", sections[i]);
        if (!strstr(ref, h))
            fail_msg("no section heading for %s", sections[i]);
    }
    for (size_t i = 0; i < n; i++) {
        char row[256], env[128];
        /* each key has one row, starting with its name, naming its variable */
        snprintf(row, sizeof(row), "\n| `%s` | ", t[i].name);
        const char *r = strstr(ref, row);
        if (!r)
            fail_msg("no row for %s", t[i].name);
        if (strstr(r + 1, row))
            fail_msg("two rows for %s", t[i].name);
        const char *eol = strchr(r + 1, '\n');
        config_env_name(&t[i], env, sizeof(env));
        const char *e = strstr(r, env);
        bool has_env = e && e < eol;
        if (has_env == !!(t[i].flags & CONFIG_F_NO_ENV))
            fail_msg("row of %s: environment variable %s", t[i].name,
                     has_env ? "shown but not settable" : "missing");
        snprintf(row, sizeof(row), "`%s`", *t[i].def ? t[i].def : "\"\"");
        const char *d = strstr(r, row);
        if (!d || d > eol)
            fail_msg("row of %s: default %s missing", t[i].name, row);
    }
    /* a duration range is written as durations */
    assert_non_null(strstr(ref, "Range 10ms–1m."));
    free(ref);
}

/*
 * Regression (config.c, config_write_reference/config_check_bounds, fixed): bounds are
 * printed with %g, so 16777216 becomes "1.67772e+07" (not even the right
 * number) and 100000000 becomes "1e+08" in config/README.md and in errors.
 */
static void test_reference_bounds_exact(void **state)
{
    char *ref = reference_text();
    struct config *cfg = new_config();
    char err[BIG_ERR] = "";
    (void)state;

    bool ref_ok = strstr(ref, "1.67772e+07") == NULL && strstr(ref, "1e+08") == NULL;
    free(ref);
    config_set(cfg, "events.max_bytes", "17MiB", err, sizeof(err));
    config_destroy(cfg);
    assert_true(ref_ok);
    assert_null(strstr(err, "e+07"));
}

static void test_dump(void **state)
{
    size_t n;
    const struct config_entry *t = config_table(&n);
    struct config *cfg = new_config();
    char err[BIG_ERR] = "";
    (void)state;

    assert_int_equal(config_set(cfg, "kafka.group", "g9", err, sizeof(err)), JD_OK);
    assert_int_equal(config_set(cfg, "rules.dirs", "a,b", err, sizeof(err)), JD_OK);
    assert_int_equal(config_set_kafka_prop(cfg, "linger.ms=5", err, sizeof(err)), JD_OK);
    char *text = dump_text(cfg);

    /* the dump is YAML with one entry per key, in table order */
    struct ydoc *doc = ydoc_parse("dump", text, strlen(text), err, sizeof(err));
    if (!doc)
        fail_msg("dump is not YAML: %s\n%s", err, text);
    const struct ydoc_node *root = ydoc_root(doc);
    assert_int_equal(root->kind, YDOC_MAP);
    assert_int_equal(root->n, 2 * n);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(root->items[2 * i]->str, t[i].name);
    ydoc_destroy(doc);

    assert_non_null(strstr(text, "\nkafka.group: \"g9\"\n"));
    assert_non_null(strstr(text, "\nrules.dirs: [\"a\", \"b\"]\n"));
    assert_non_null(strstr(text, "\nkafka.producer: {\"linger.ms\": \"5\"}\n"));
    assert_non_null(strstr(text, "\nrules.lateness: 5s\n"));
    assert_non_null(strstr(text, "\nevents.max_bytes: 65536\n"));
    assert_non_null(strstr(text, "\nredis.password: \"\"\n")); /* empty: nothing to hide */
    free(text);
    config_destroy(cfg);
}

static void test_dump_redacts_secrets(void **state)
{
    struct config *cfg = new_config();
    char err[BIG_ERR] = "";
    static const char *const props[] = {
        "sasl.password=hunter1",         "ssl.key.password=hunter2",
        "ssl.keystore.password=hunter3", "sasl.oauthbearer.client.secret=hunter4",
        "security.protocol=sasl_ssl",
    };
    (void)state;

    assert_int_equal(config_set(cfg, "redis.password", "hunter0", err, sizeof(err)), JD_OK);
    for (size_t i = 0; i < JD_ARRAY_SIZE(props); i++)
        assert_int_equal(config_set_kafka_prop(cfg, props[i], err, sizeof(err)), JD_OK);
    char *text = dump_text(cfg);
    bool leaked = strstr(text, "hunter") != NULL;
    bool shown = strstr(text, "sasl_ssl") != NULL;
    bool marked = strstr(text, "redis.password: \"<redacted>\"") != NULL;
    if (leaked)
        fprintf(stderr, "%s", text);
    free(text);
    config_destroy(cfg);
    assert_false(leaked);
    assert_true(shown); /* not everything is hidden */
    assert_true(marked);
}

/*
 * Regression (config.c, config_dump, fixed): redis.url is documented as
 * `redis://[:password@]host:port[/db]`, but the dump prints it verbatim,
 * password included.
 */
static void test_dump_redacts_url_password(void **state)
{
    struct config *cfg = new_config();
    char err[BIG_ERR] = "";
    (void)state;

    assert_int_equal(config_set(cfg, "redis.url", "redis://:hunter5@db:6379/0", err, sizeof(err)),
                     JD_OK);
    char *text = dump_text(cfg);
    bool leaked = strstr(text, "hunter5") != NULL;
    bool host = strstr(text, "db:6379") != NULL;
    free(text);
    config_destroy(cfg);
    assert_true(host);
    assert_false(leaked);
}

/*
 * Regression (config.c, config_print_value, fixed): only property names containing
 * "password" or "secret" are hidden; librdkafka itself flags ssl.key.pem (a
 * private key) and sasl.oauthbearer.config as sensitive, and the dump
 * prints them.
 */
static void test_dump_redacts_sensitive_kafka_props(void **state)
{
    struct config *cfg = new_config();
    char err[BIG_ERR] = "";
    (void)state;

    assert_int_equal(config_set_kafka_prop(cfg, "ssl.key.pem=-----BEGIN PRIVATE KEY-----hunter6",
                                           err, sizeof(err)),
                     JD_OK);
    assert_int_equal(config_set(cfg, "kafka.consumer",
                                "sasl.oauthbearer.config=principal=admin clientSecret=hunter7", err,
                                sizeof(err)),
                     JD_OK);
    char *text = dump_text(cfg);
    bool leaked_key = strstr(text, "hunter6") != NULL;
    bool leaked_oauth = strstr(text, "hunter7") != NULL;
    free(text);
    config_destroy(cfg);
    assert_false(leaked_key);
    assert_false(leaked_oauth);
}

/*
 * Regression (config.c, config_print_value, fixed): strings are printed between double
 * quotes without escaping, so a value with '"' or '\' makes the dump
 * invalid YAML (or changes the value when read back).
 */
static void test_dump_escapes_strings(void **state)
{
    struct config *cfg = new_config();
    char err[BIG_ERR] = "";
    const char *group = "say \"hi\" \\ bye";
    (void)state;

    assert_int_equal(config_set(cfg, "kafka.group", group, err, sizeof(err)), JD_OK);
    char *text = dump_text(cfg);
    struct ydoc *doc = ydoc_parse("dump", text, strlen(text), err, sizeof(err));
    free(text);
    config_destroy(cfg);
    if (!doc)
        fail_msg("dump is not YAML: %s", err);
    const struct ydoc_node *root = ydoc_root(doc);
    bool same = false;
    for (size_t i = 0; i + 1 < root->n; i += 2)
        if (!strcmp(root->items[i]->str, "kafka.group"))
            same = !strcmp(root->items[i + 1]->str, group);
    ydoc_destroy(doc);
    assert_true(same);
}

/* ------------------------------------------------------------- secrets */

static void test_resolve_secrets(void **state)
{
    struct config *cfg = new_config();
    char err[BIG_ERR] = "", path[128];
    (void)state;

    /* nothing to do without a file */
    assert_int_equal(config_resolve_secrets(cfg, err, sizeof(err)), JD_OK);
    assert_string_equal(cfg->redis.password, "");

    /* first line only, without its line ending */
    write_file("pw", "s3cret\r\nsecond line\n");
    tmp_path("pw", path, sizeof(path));
    assert_int_equal(config_set(cfg, "redis.password_file", path, err, sizeof(err)), JD_OK);
    assert_int_equal(config_resolve_secrets(cfg, err, sizeof(err)), JD_OK);
    assert_string_equal(cfg->redis.password, "s3cret");

    /* an empty file gives an empty password */
    write_file("pw2", "");
    tmp_path("pw2", path, sizeof(path));
    assert_int_equal(config_set(cfg, "redis.password_file", path, err, sizeof(err)), JD_OK);
    assert_int_equal(config_resolve_secrets(cfg, err, sizeof(err)), JD_OK);
    assert_string_equal(cfg->redis.password, "");

    /* a relative name is looked up in $CREDENTIALS_DIRECTORY */
    write_file("cred", "from-systemd\n");
    assert_int_equal(setenv("CREDENTIALS_DIRECTORY", tmpdir, 1), 0);
    assert_int_equal(config_set(cfg, "redis.password_file", "cred", err, sizeof(err)), JD_OK);
    enum jd_err rc = config_resolve_secrets(cfg, err, sizeof(err));
    unsetenv("CREDENTIALS_DIRECTORY");
    assert_int_equal(rc, JD_OK);
    assert_string_equal(cfg->redis.password, "from-systemd");

    /* a missing file is a config error naming it */
    tmp_path("nope", path, sizeof(path));
    assert_int_equal(config_set(cfg, "redis.password_file", path, err, sizeof(err)), JD_OK);
    assert_int_equal(config_resolve_secrets(cfg, err, sizeof(err)), JD_ERR_CONFIG);
    assert_non_null(strstr(err, "redis.password_file"));
    assert_non_null(strstr(err, path));
    assert_string_equal(cfg->redis.password, "from-systemd"); /* unchanged */
    config_destroy(cfg);
}

/* redis.url's user and password: parsed as Redis documents them, and never shown. */
static void test_redis_url_auth(void **state)
{
    (void)state;
    static const struct {
        const char *url, *user, *password, *host, *shown;
        int port, db;
    } cases[] = {
        { "redis://h:7/2", "", "", "h", "redis://h:7/2", 7, 2 },
        { "redis://:s3cret@h/0", "", "s3cret", "h", "redis://:<redacted>@h/0", 6379, 0 },
        { "redis://jd:s3cret@h:6380", "jd", "s3cret", "h", "redis://jd:<redacted>@h:6380", 6380,
          0 },
        { "redis://s3cret@h", "", "s3cret", "h", "redis://<redacted>@h", 6379, 0 },
        /* a password may hold '@' and ':': the host follows the last '@' */
        { "redis://jd:p@ss:w@h:1/3", "jd", "p@ss:w", "h", "redis://jd:<redacted>@h:1/3", 1, 3 },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct store_addr a;
        char err[256], shown[256];
        assert_int_equal(store_addr_parse(cases[i].url, &a, err, sizeof(err)), JD_OK);
        assert_string_equal(a.username, cases[i].user);
        assert_string_equal(a.password, cases[i].password);
        assert_string_equal(a.host, cases[i].host);
        assert_int_equal(a.port, cases[i].port);
        assert_int_equal(a.db, cases[i].db);
        config_redact_url(cases[i].url, shown, sizeof(shown));
        assert_string_equal(shown, cases[i].shown);
    }
    /* unix sockets carry no credentials: nothing to redact, even with an '@' */
    char shown[256];
    config_redact_url("unix:///run/a@b/redis.sock", shown, sizeof(shown));
    assert_string_equal(shown, "unix:///run/a@b/redis.sock");
    /* errors about a URL never repeat its password */
    static const char *const bad[] = { "redis://jd:s3cret@h:99999", "redis://jd:s3cret@h/x",
                                       "redis://jd:s3cret@", "http://jd:s3cret@h",
                                       /* typos of the scheme the redaction cannot parse */
                                       "redis:/:s3cret@h", "redis:jd:s3cret@h", "s3cret@h" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct store_addr a;
        char err[256];
        assert_int_equal(store_addr_parse(bad[i], &a, err, sizeof(err)), JD_ERR_CONFIG);
        assert_non_null(strstr(err, "redis.url"));
        assert_null(strstr(err, "s3cret"));
    }
}

static void test_list_and_map_helpers(void **state)
{
    struct config *cfg = new_config();
    (void)state;
    assert_true(config_list_has(&cfg->attribution.models, "markov"));
    assert_true(config_list_has(&cfg->attribution.models, "shapley"));
    assert_false(config_list_has(&cfg->attribution.models, "mark"));
    assert_false(config_list_has(&cfg->attribution.models, ""));
    assert_null(config_map_get(&cfg->kafka.consumer, "anything"));
    assert_int_equal(config_set(cfg, "events.type_map", "A=b", NULL, 0), JD_OK);
    assert_string_equal(config_map_get(&cfg->events.type_map, "A"), "b");
    assert_null(config_map_get(&cfg->events.type_map, "a"));
    config_destroy(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_table_sane),
        cmocka_unit_test(test_operations_md_keys),
        cmocka_unit_test(test_file_over_defaults),
        cmocka_unit_test(test_file_empty_and_null_sections),
        cmocka_unit_test(test_file_scalar_types),
        cmocka_unit_test(test_set_scalar_types),
        cmocka_unit_test(test_file_lists),
        cmocka_unit_test(test_file_maps),
        cmocka_unit_test(test_file_unknown_keys),
        cmocka_unit_test(test_file_all_errors_reported),
        cmocka_unit_test(test_file_errors_small_buffer),
        cmocka_unit_test(test_file_yaml_errors),
        cmocka_unit_test(test_load_file),
        cmocka_unit_test(test_load_file_missing_is_io_error),
        cmocka_unit_test(test_env_names),
        cmocka_unit_test(test_env_apply),
        cmocka_unit_test(test_env_errors_all_reported),
        cmocka_unit_test(test_env_every_key),
        cmocka_unit_test(test_set),
        cmocka_unit_test(test_set_kafka_prop),
        cmocka_unit_test(test_precedence),
        cmocka_unit_test(test_validate_cases),
        cmocka_unit_test(test_validate_accepts),
        cmocka_unit_test(test_validate_listen),
        cmocka_unit_test(test_validate_reports_all),
        cmocka_unit_test(test_reference),
        cmocka_unit_test(test_reference_bounds_exact),
        cmocka_unit_test(test_dump),
        cmocka_unit_test(test_dump_redacts_secrets),
        cmocka_unit_test(test_dump_redacts_url_password),
        cmocka_unit_test(test_dump_redacts_sensitive_kafka_props),
        cmocka_unit_test(test_dump_escapes_strings),
        cmocka_unit_test(test_resolve_secrets),
        cmocka_unit_test(test_list_and_map_helpers),
        cmocka_unit_test(test_redis_url_auth),
    };
    return cmocka_run_group_tests_name("config", tests, make_tmpdir, remove_tmpdir);
}
