/*
 * event.h — one journey event, decoded and validated from any accepted dialect.
 *
 * event_decode() takes the bytes (and Kafka headers) of one message and
 * nothing else: no I/O, no clock (the caller passes `now`), so unit tests,
 * `journeyctl check events`, the daemon and fuzzers share it. The contract
 * is ../shared/spec/events.md; the normative schema schemas/event.schema.json.
 */
#ifndef JD_EVENT_H
#define JD_EVENT_H

#include "core/config.h"
#include "core/err.h"
#include "core/jd.h"

#include <stdbool.h>
#include <stdint.h>

/** Upper bound of limits.max_props (the array size in struct event). */
#define EVENT_MAX_PROPS 64

/** |value| bound: 9e12 units, so micros fit an int64 with room for sums. */
#define EVENT_MAX_VALUE_MICROS INT64_C(9000000000000000000)

enum event_encoding {
    EVENT_ENC_AUTO,
    EVENT_ENC_JSON,
    EVENT_ENC_MSGPACK,
};

enum event_dialect {
    EVENT_DIALECT_FLAT,
    EVENT_DIALECT_SEGMENT,
    EVENT_DIALECT_CE_STRUCTURED,
    EVENT_DIALECT_CE_BINARY,
};

enum event_prop_kind {
    EVENT_PROP_STR,
    EVENT_PROP_NUM,  /**< val is the canonical decimal text ("2.5", "-3") */
    EVENT_PROP_BOOL, /**< val is "true" or "false" */
};

struct event_prop {
    struct jd_str key;
    struct jd_str val;
    uint8_t kind; /**< enum event_prop_kind */
};

/**
 * A decoded event. Every slice points into the message or into the
 * decoder's buffers: valid until the next event_decode() on the same decoder.
 */
struct event {
    struct jd_str event_id; /**< 1–128 bytes */
    struct jd_str type;     /**< [a-z0-9_]{1,64} */
    struct jd_str user_id;  /**< empty when absent */
    struct jd_str channel;  /**< empty when absent */
    struct jd_str campaign; /**< empty when absent */
    int64_t ts_ms;          /**< event time, ms since the epoch */
    int64_t value;          /**< micros (value × 10^6), when has_value */
    bool has_value;
    uint8_t dialect; /**< enum event_dialect */
    uint32_t nprops;
    struct event_prop props[EVENT_MAX_PROPS]; /**< sorted by key, unique */
};

/** A Kafka header as seen by the decoder (binary CloudEvents use these). */
struct event_header {
    const char *name;  /**< NUL-terminated */
    const char *value; /**< may be NULL (a null header) */
    size_t len;
};

struct event_decoder_opts {
    enum event_encoding encoding;
    size_t max_bytes;
    size_t max_props;
    int64_t max_future_ms;
    const struct config_map *type_map;          /**< borrowed; may be NULL */
    const struct config_list *touch_types;      /**< borrowed; may be NULL */
    const struct config_list *conversion_types; /**< borrowed; may be NULL */
};

struct event_decoder;

/**
 * @brief Build a decoder; it preallocates everything a message of up to
 *        max_bytes can need, so decoding allocates nothing.
 * @returns NULL (errstr filled) when out of memory. The option lists are
 *          borrowed and must outlive the decoder.
 */
struct event_decoder *event_decoder_new(const struct event_decoder_opts *opts, char *errstr,
                                        size_t errstr_size);

/** Free \p d; NULL is a no-op. */
void event_decoder_destroy(struct event_decoder *d);

/** Fill \p opts from the config (lists and maps are borrowed from \p cfg). */
void event_decoder_opts_from_config(struct event_decoder_opts *opts, const struct config *cfg);

/**
 * @brief Decode and validate one message.
 * @param now_ms wall clock for the max_future check (INT64_MAX disables it).
 * @returns JD_OK, or a JD_ERR_EV_* code (its jd_err2name() is the DLQ
 *          reason) with "field: reason" in errstr.
 */
enum jd_err event_decode(struct event_decoder *d, const void *buf, size_t len,
                         const struct event_header *hdrs, size_t nhdrs, int64_t now_ms,
                         struct event *ev, char *errstr, size_t errstr_size);

/** @returns true if \p ev's type is a touch or conversion type (needs user_id). */
bool event_is_journey_type(const struct event_decoder *d, struct jd_str type);

/**
 * @brief Render micros as canonical decimal text ("2.5", "-0.000001", "3").
 * @returns the length written (\p buf needs 24 bytes).
 */
size_t event_format_micros(int64_t micros, char *buf);

/** @returns the dialect's name ("flat", "segment", "cloudevents", "cloudevents-binary"). */
const char *event_dialect_name(enum event_dialect d);

#endif
