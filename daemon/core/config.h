/*
 * config.h — journeyd's configuration: one table drives everything.
 *
 * Each key of operations.md is one row of config_table.c (name, type,
 * default, bounds, doc). The same rows parse the YAML file, read
 * JOURNEYD_* environment variables, apply --set/-X flags, print the
 * effective config and generate config/README.md. Precedence:
 * defaults < file < environment < flags.
 */
#ifndef JD_CONFIG_H
#define JD_CONFIG_H

#include "core/err.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/** A list of strings (YAML sequence; comma-separated in env and flags). */
struct config_list {
    char **v;
    size_t n;
};

/** An ordered string map (raw librdkafka properties, events.type_map). */
struct config_map {
    char **keys;
    char **vals;
    size_t n;
};

struct config {
    struct {
        char *brokers; /* "embedded" or a bootstrap list */
        char *group;
        struct {
            char *events, *alerts, *dlq;
        } topics;
        struct config_map consumer, producer;
        int64_t embedded_partitions;
    } kafka;
    struct {
        char *url;
        char *prefix;
        char *username;
        char *password;
        char *password_file;
        int64_t connect_timeout_ms;
        int64_t command_timeout_ms;
    } redis;
    struct {
        char *encoding; /* auto | json | msgpack */
        int64_t max_bytes;
        struct config_map type_map;
        int64_t dedup_window_ms;
        int64_t max_future_ms;
    } events;
    struct {
        int64_t retention_minute_ms, retention_hour_ms, retention_day_ms;
    } windows;
    struct {
        struct config_list touch_types, conversion_types, direct_channels, models;
        int64_t lookback_ms;
        char *journey_mode;
        int64_t half_life_ms;
        double first_weight, last_weight;
        int64_t markov_order, max_touches, recompute_every_ms, training_window_ms;
    } attribution;
    struct {
        struct config_list dirs;
        int64_t lateness_ms, idle_timeout_ms, lease_ttl_ms;
    } rules;
    struct {
        char *listen, *external_url;
    } http;
    struct {
        char *level, *format;
    } log;
    struct {
        int64_t max_events, max_wait_ms;
    } batch;
    struct {
        int64_t max_props;
        int64_t dedup_ids;
        int64_t metric_labels;
        int64_t types, series_per_type, series_per_rule;
    } limits;
};

enum config_type {
    CONFIG_STRING,
    CONFIG_INT,
    CONFIG_SIZE,     /* bytes; "64KiB", "1MiB" or an integer */
    CONFIG_DURATION, /* ms; "30s", "7d" */
    CONFIG_FLOAT,
    CONFIG_BOOL,
    CONFIG_ENUM, /* a string from config_entry.choices */
    CONFIG_LIST,
    CONFIG_MAP,
};

/** Longest redis.prefix: keys (and their fixed-size buffers) stay short. */
#define CONFIG_PREFIX_MAX 32
/** Longest topic name (Kafka's limit). */
#define CONFIG_TOPIC_MAX 249

#define CONFIG_F_SECRET 0x1 /* never printed */
#define CONFIG_F_NO_ENV 0x2 /* not settable from the environment */

/** One row of the table. */
struct config_entry {
    const char *name; /* dotted path: "kafka.topics.events" */
    enum config_type type;
    size_t offset;       /* offsetof(struct config, …) */
    const char *def;     /* default, written as in the file ("" for empty) */
    double min, max;     /* bounds for INT/SIZE/DURATION(ms)/FLOAT; min == max: none */
    const char *choices; /* ENUM: "auto|json|msgpack" */
    const char *doc;     /* one or two sentences for the reference */
    unsigned flags;
};

/** @returns the table and its length. */
const struct config_entry *config_table(size_t *n);

/**
 * @brief A config holding every default.
 * @returns a new config (free with config_destroy()), or NULL when out of memory.
 */
struct config *config_new(void);

/** Free \p cfg; NULL is a no-op. */
void config_destroy(struct config *cfg);

/**
 * @brief Apply a YAML config file over \p cfg.
 *
 * Every problem in the file is reported (not just the first), one per line
 * as "file:line:col: message" in errstr (give it a few KiB).
 * @returns JD_OK, or JD_ERR_CONFIG / JD_ERR_IO.
 */
enum jd_err config_load_file(struct config *cfg, const char *path, char *errstr,
                             size_t errstr_size);

/** Same as config_load_file() from bytes; \p name labels messages. */
enum jd_err config_load_buf(struct config *cfg, const char *name, const char *buf, size_t len,
                            char *errstr, size_t errstr_size);

/**
 * @brief Apply JOURNEYD_* variables from \p envp (NULL-terminated
 *        "NAME=value" strings, e.g. environ). Unknown JOURNEYD_ names are errors.
 */
enum jd_err config_apply_env(struct config *cfg, char *const *envp, char *errstr,
                             size_t errstr_size);

/**
 * @brief Set one key from text, as a flag does ("kafka.group", "g1").
 *        Lists take comma-separated values; maps take "k=v" and add/replace one entry,
 *        or name it below the map ("kafka.consumer.fetch.wait.max.ms", "10").
 */
enum jd_err config_set(struct config *cfg, const char *name, const char *value, char *errstr,
                       size_t errstr_size);

/**
 * @brief `-X prop=value`: a raw librdkafka property for both the consumer
 *        and the producer (as kcat does).
 */
enum jd_err config_set_kafka_prop(struct config *cfg, const char *prop_eq_value, char *errstr,
                                  size_t errstr_size);

/** Checks that involve several keys, run after all sources are applied. */
enum jd_err config_validate(const struct config *cfg, char *errstr, size_t errstr_size);

/**
 * @brief Resolve secrets: read redis.password_file (or the systemd
 *        credential it names) into redis.password.
 */
enum jd_err config_resolve_secrets(struct config *cfg, char *errstr, size_t errstr_size);

/** \p url with its password (redis://user:password@host) replaced by "<redacted>". */
void config_redact_url(const char *url, char *buf, size_t size);

/** Print the effective config as YAML (secrets redacted). */
void config_dump(const struct config *cfg, FILE *out);

/** Print the reference (Markdown) generated from the table. */
void config_write_reference(FILE *out);

/** @returns the environment variable name of \p e ("JOURNEYD_KAFKA_BROKERS"). */
void config_env_name(const struct config_entry *e, char *buf, size_t size);

/** @returns true if \p s is in \p list. */
bool config_list_has(const struct config_list *list, const char *s);

/** @returns the value for \p key in \p map, or NULL. */
const char *config_map_get(const struct config_map *map, const char *key);

#endif
