/*
 * config_table.c — every configuration key, its type, default, bounds and doc.
 *
 * This table is the single source of truth: the loader, the environment
 * mapping, `--check-config`, `--dump-config` and config/README.md all read
 * it. Add a key here and it exists everywhere.
 */
#include "core/config.h"

#include <stddef.h>

#define OFF(field) offsetof(struct config, field)
#define DAY        (86400000.0)

static const struct config_entry config_entries[] = {
    /* kafka */
    { "kafka.brokers", CONFIG_STRING, OFF(kafka.brokers), "embedded", 0, 0, NULL,
      "Bootstrap servers (\"host1:9092,host2:9092\"), or `embedded` to start librdkafka's "
      "in-process mock cluster and print its address.",
      0 },
    { "kafka.group", CONFIG_STRING, OFF(kafka.group), "journeyd", 0, 0, NULL,
      "Consumer group. Instances with the same group share the partitions of the events topic.",
      0 },
    { "kafka.topics.events", CONFIG_STRING, OFF(kafka.topics.events), "journey.events", 0, 0, NULL,
      "Topic the journey events are read from.", 0 },
    { "kafka.topics.alerts", CONFIG_STRING, OFF(kafka.topics.alerts), "journey.alerts", 0, 0, NULL,
      "Topic alert messages are published to.", 0 },
    { "kafka.topics.dlq", CONFIG_STRING, OFF(kafka.topics.dlq), "journey.events.dlq", 0, 0, NULL,
      "Dead-letter topic: every message that cannot be decoded or validated goes here unchanged, "
      "with `journeyd.error` and `journeyd.detail` headers.",
      0 },
    { "kafka.consumer", CONFIG_MAP, OFF(kafka.consumer), "", 0, 0, NULL,
      "Raw librdkafka properties for the consumer (SASL/TLS included), e.g. "
      "`{security.protocol: ssl}`. Not settable from the environment.",
      CONFIG_F_NO_ENV },
    { "kafka.producer", CONFIG_MAP, OFF(kafka.producer), "", 0, 0, NULL,
      "Raw librdkafka properties for the producer (DLQ and alerts).", CONFIG_F_NO_ENV },
    { "kafka.embedded_partitions", CONFIG_INT, OFF(kafka.embedded_partitions), "8", 1, 256, NULL,
      "Partitions per topic of the embedded broker.", 0 },

    /* redis */
    { "redis.url", CONFIG_STRING, OFF(redis.url), "redis://127.0.0.1:6379/0", 0, 0, NULL,
      "`redis://[[user]:password@]host:port[/db]` or `unix:///path/redis.sock[?db=N]`. Shown "
      "everywhere with the password redacted; prefer `redis.password_file`.",
      0 },
    { "redis.prefix", CONFIG_STRING, OFF(redis.prefix), "jd", 0, 0, NULL,
      "Key prefix. Every key is `{prefix}:…`: one hash tag, so the atomic flush script is valid "
      "on a Redis Cluster slot. Use a distinct prefix per consumer group.",
      0 },
    { "redis.username", CONFIG_STRING, OFF(redis.username), "", 0, 0, NULL,
      "ACL user (Redis 6+): journeyd authenticates with AUTH username password. Overrides the "
      "user of `redis.url` (redis://user:password@host).",
      0 },
    { "redis.password", CONFIG_STRING, OFF(redis.password), "", 0, 0, NULL,
      "Password (AUTH). Prefer `redis.password_file`.", CONFIG_F_SECRET },
    { "redis.password_file", CONFIG_STRING, OFF(redis.password_file), "", 0, 0, NULL,
      "File holding the password (first line). A relative name is looked up in "
      "$CREDENTIALS_DIRECTORY first (systemd LoadCredential).",
      0 },
    { "redis.connect_timeout", CONFIG_DURATION, OFF(redis.connect_timeout_ms), "2s", 10, 60000,
      NULL, "Connect timeout.", 0 },
    { "redis.command_timeout", CONFIG_DURATION, OFF(redis.command_timeout_ms), "10s", 100, 600000,
      NULL,
      "Socket timeout for a pipelined exchange. On expiry the connection is dropped, partitions "
      "are paused and re-claimed after reconnecting.",
      0 },

    /* events */
    { "events.encoding", CONFIG_ENUM, OFF(events.encoding), "auto", 0, 0, "auto|json|msgpack",
      "`auto` sniffs each message's first byte; `json`/`msgpack` force one.", 0 },
    { "events.max_bytes", CONFIG_SIZE, OFF(events.max_bytes), "64KiB", 64, 16777216, NULL,
      "Larger messages go to the DLQ as `too_large`.", 0 },
    { "events.type_map", CONFIG_MAP, OFF(events.type_map), "", 0, 0, NULL,
      "Maps Segment `event` names and CloudEvents `type`s to event types, e.g. "
      "`{\"Order Completed\": conversion}`. Unmapped Segment names are lower_snake_cased.",
      CONFIG_F_NO_ENV },
    { "events.dedup_window", CONFIG_DURATION, OFF(events.dedup_window_ms), "1h", 0, 7 * DAY, NULL,
      "A repeated `event_id` is dropped if the first was seen within this much stream time "
      "(event time) on the same partition. 0 disables de-duplication.",
      0 },
    { "events.max_future", CONFIG_DURATION, OFF(events.max_future_ms), "1h", 0, 365 * DAY, NULL,
      "Events stamped further than this ahead of the wall clock go to the DLQ as `bad_ts` (a "
      "clock error would otherwise drag every window forward).",
      0 },

    /* windows */
    { "windows.retention.minute", CONFIG_DURATION, OFF(windows.retention_minute_ms), "3d", 3600000,
      400 * DAY, NULL,
      "How long 1-minute buckets are kept (event time). Ranges whose edges are not whole hours "
      "need them at both edges.",
      0 },
    { "windows.retention.hour", CONFIG_DURATION, OFF(windows.retention_hour_ms), "130d", DAY,
      4000 * DAY, NULL, "How long 1-hour buckets are kept.", 0 },
    { "windows.retention.day", CONFIG_DURATION, OFF(windows.retention_day_ms), "800d", DAY,
      40000 * DAY, NULL,
      "How long 1-day buckets are kept; also the age beyond which events are dropped (counted "
      "as `too_old`).",
      0 },

    /* attribution */
    { "attribution.touch_types", CONFIG_LIST, OFF(attribution.touch_types), "touch", 0, 0, NULL,
      "Event types that are touchpoints (need `user_id` and `channel`).", 0 },
    { "attribution.conversion_types", CONFIG_LIST, OFF(attribution.conversion_types), "conversion",
      0, 0, NULL, "Event types that are conversions (need `user_id`).", 0 },
    { "attribution.lookback", CONFIG_DURATION, OFF(attribution.lookback_ms), "30d", 60000,
      400 * DAY, NULL, "Touches older than this before a conversion are not eligible.", 0 },
    { "attribution.journey_mode", CONFIG_ENUM, OFF(attribution.journey_mode), "reset", 0, 0,
      "reset|independent",
      "`reset`: a conversion consumes the touches before it; `independent`: each conversion "
      "looks back on its own.",
      0 },
    { "attribution.direct_channels", CONFIG_LIST, OFF(attribution.direct_channels), "direct", 0, 0,
      NULL, "Channels `last_non_direct` skips.", 0 },
    { "attribution.models", CONFIG_LIST, OFF(attribution.models),
      "first_touch,last_touch,last_non_direct,linear,position_based,time_decay,markov,shapley", 0,
      0, NULL, "Attribution models to run.", 0 },
    { "attribution.time_decay.half_life", CONFIG_DURATION, OFF(attribution.half_life_ms), "7d",
      60000, 400 * DAY, NULL, "Half-life of `time_decay`.", 0 },
    { "attribution.position_based.first_weight", CONFIG_FLOAT, OFF(attribution.first_weight), "0.4",
      0, 1, NULL, "Share of the first touch in `position_based`.", 0 },
    { "attribution.position_based.last_weight", CONFIG_FLOAT, OFF(attribution.last_weight), "0.4",
      0, 1, NULL, "Share of the last touch in `position_based`.", 0 },
    { "attribution.markov.order", CONFIG_INT, OFF(attribution.markov_order), "1", 1, 3, NULL,
      "Order of the Markov chain: a state is the last 1, 2 or 3 channels of a path "
      "(consecutive repeats collapsed).",
      0 },
    { "attribution.max_touches", CONFIG_INT, OFF(attribution.max_touches), "64", 1, 1024, NULL,
      "Touches kept per journey (the newest); older ones are dropped and counted.", 0 },
    { "attribution.recompute_every", CONFIG_DURATION, OFF(attribution.recompute_every_ms), "1m",
      1000, DAY, NULL,
      "How often the streaming `markov` and `shapley` weights are recomputed from the path "
      "statistics.",
      0 },
    { "attribution.training_window", CONFIG_DURATION, OFF(attribution.training_window_ms), "30d",
      3600000, 400 * DAY, NULL,
      "The span of path statistics the streaming weights are learnt from.", 0 },

    /* rules */
    { "rules.dirs", CONFIG_LIST, OFF(rules.dirs), "rules", 0, 0, NULL,
      "Directories whose `*.yaml` rule files are loaded.", 0 },
    { "rules.lateness", CONFIG_DURATION, OFF(rules.lateness_ms), "5s", 0, DAY, NULL,
      "The watermark trails the newest event time by this much.", 0 },
    { "rules.idle_timeout", CONFIG_DURATION, OFF(rules.idle_timeout_ms), "30s", 1000, DAY, NULL,
      "A partition without events for this long stops holding the watermark back.", 0 },
    { "rules.lease_ttl", CONFIG_DURATION, OFF(rules.lease_ttl_ms), "10s", 1000, 300000, NULL,
      "One instance of a group evaluates rules, holding a lease in Redis renewed well within "
      "this; when it dies another takes over after at most this long.",
      0 },

    /* http */
    { "http.listen", CONFIG_STRING, OFF(http.listen), "127.0.0.1:9464", 0, 0, NULL,
      "Address of the HTTP endpoint (metrics, health, status); empty disables it.", 0 },
    { "http.external_url", CONFIG_STRING, OFF(http.external_url), "", 0, 0, NULL,
      "Base URL people reach journeyd at, for alerts' `generatorURL` and `externalURL`; "
      "empty: `http://` + `http.listen`.",
      0 },

    /* log */
    { "log.level", CONFIG_ENUM, OFF(log.level), "info", 0, 0, "error|warn|info|debug", "Log level.",
      0 },
    { "log.format", CONFIG_ENUM, OFF(log.format), "logfmt", 0, 0, "logfmt|json",
      "Log line format on stderr.", 0 },

    /* batch */
    { "batch.max_events", CONFIG_INT, OFF(batch.max_events), "50000", 1, 200000, NULL,
      "Most messages in one batch (reached only while catching up: a batch takes what has been "
      "fetched). A batch is pre-aggregated in memory and applied to Redis in one atomic script "
      "together with its offsets, while the next batch is decoded. It also sizes what journeyd "
      "remembers of the journeys it wrote (32 bytes each, for 4 times this many), which lets "
      "touches be appended to them unread.",
      0 },
    { "batch.max_wait", CONFIG_DURATION, OFF(batch.max_wait_ms), "100ms", 1, 10000, NULL,
      "Longest wait for a batch to fill; bounds the latency from Kafka to Redis.", 0 },

    /* limits */
    { "limits.max_props", CONFIG_INT, OFF(limits.max_props), "16", 0, 64, NULL,
      "Most `props` per event; more is a `bad_type` rejection.", 0 },
    { "limits.metric_labels", CONFIG_INT, OFF(limits.metric_labels), "64", 1, 1024, NULL,
      "Most distinct event types, and channels, that `/metrics` reports by name; the rest are "
      "summed under `_other`, so a stream with ever new values cannot grow the metrics (or "
      "Prometheus) without bound.",
      0 },
    { "limits.types", CONFIG_INT, OFF(limits.types), "200", 1, 100000, NULL,
      "Most distinct event types. An event of a new type beyond it goes to the DLQ as "
      "`cardinality`: every type is a series index in Redis and a name in `/metrics`, so types "
      "made of data (an id in `type`) must not grow without end.",
      0 },
    { "limits.series_per_type", CONFIG_INT, OFF(limits.series_per_type), "10000", 1, 10000000, NULL,
      "Most series (distinct label sets: channel, campaign, props) of one event type. An event "
      "that would add one more goes to the DLQ as `cardinality`, so a producer that puts ids in "
      "a label cannot grow Redis, the evaluator or rule results without end; "
      "`journeyd_series{type}` shows how close each type is. The guard holds at most 24 bytes "
      "per series.",
      0 },
    { "limits.series_per_rule", CONFIG_INT, OFF(limits.series_per_rule), "1000", 1, 1000000, NULL,
      "Most series one rule's expression may yield at a tick (alerts are per series). Beyond "
      "it the rule's evaluation at that tick fails as a whole, none of its alerts moves, and "
      "`journeyd_rule_series_limited_total` counts it: no alert is dropped silently, as "
      "Prometheus does with a rule group's `limit`.",
      0 },
    { "limits.dedup_ids", CONFIG_INT, OFF(limits.dedup_ids), "150000", 1000, 10000000, NULL,
      "Most remembered event ids per partition for de-duplication (16 bytes each, in a table of "
      "at most 4/3 that many slots rounded up to a power of two: about 4 MB per partition at the "
      "default). Beyond it the oldest slices of `events.dedup_window` are forgotten first, so a "
      "partition faster than this many events per window is de-duplicated over a shorter span. "
      "Per partition so that a restart with a different assignment decides exactly as before.",
      0 },
};

const struct config_entry *config_table(size_t *n)
{
    *n = sizeof(config_entries) / sizeof(config_entries[0]);
    return config_entries;
}
