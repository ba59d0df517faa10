/*
 * alertmsg.h — the alert message of alerts.md: its key (the fingerprint),
 * its value (an Alertmanager webhook v4 body holding one alert, plus
 * journeyd's fields) and its CloudEvents headers.
 *
 * Pure: text in, text out; producing it to Kafka is publish.c's job. The
 * same input always gives the same bytes, so a replay reproduces messages
 * exactly.
 */
#ifndef JD_ALERTMSG_H
#define JD_ALERTMSG_H

#include "core/err.h"
#include "core/ts.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Size of a fingerprint in hex, NUL included. */
#define ALERTMSG_FP_HEX_SIZE 17

/** Number of headers alertmsg_headers() fills. */
#define ALERTMSG_NHEADERS 7

/** Longest rule group name alertmsg_headers() accepts (ce_source is built from it). */
#define ALERTMSG_GROUP_MAX 255

/** A label or an annotation; both strings borrowed, NUL-terminated, UTF-8. */
struct alertmsg_label {
    const char *name;
    const char *value;
};

/** Alertmanager's word for the alert (`status`, `ce_type`). */
enum alertmsg_status {
    ALERTMSG_FIRING,
    ALERTMSG_RESOLVED,
};

/**
 * One alert transition. Everything is borrowed for the duration of a call.
 * Pending alerts are never sent, so `status` is firing or resolved; `state`
 * is journeyd's finer word for the same moment.
 */
struct alertmsg {
    enum alertmsg_status status;
    const char *state;     /**< e.g. "firing", "resolved"; NULL: the status word */
    const char *alertname; /**< must equal the `alertname` label */
    /** The whole label set, alertname included, in any order (printed sorted by name). */
    const struct alertmsg_label *labels;
    size_t nlabels;
    /** Rendered annotations, in any order (printed sorted by name). */
    const struct alertmsg_label *annotations;
    size_t nannotations;
    int64_t starts_at_ms;    /**< event time the alert started firing */
    int64_t ends_at_ms;      /**< event time it resolved; 0: "0001-01-01T00:00:00Z" */
    int64_t evaluated_at_ms; /**< the tick that produced this message */
    bool has_value;
    double value; /**< the alert's value; absent (or not finite): null */
    bool has_threshold;
    double threshold;                /**< the comparison's right-hand side; absent: null */
    const char *group, *file, *expr; /**< the rule: its group, file and expression text */
    uint64_t seq;                    /**< +1 per message of the same fingerprint */
    const char *receiver;            /**< the alerts topic name */
    const char *external_url;        /**< e.g. "http://host:9464"; "" or NULL: no generatorURL */
};

/** A Kafka header; see alertmsg_headers() for who owns the value. */
struct alertmsg_header {
    const char *name;
    const char *value;
};

/** The headers of one message and the storage of the values built for them. */
struct alertmsg_headers {
    struct alertmsg_header h[ALERTMSG_NHEADERS];
    char id[ALERTMSG_FP_HEX_SIZE + 1 + 20];
    char time[TS_RFC3339_SIZE];
    char source[sizeof("journeyd/") + 3 * ALERTMSG_GROUP_MAX];
};

/**
 * @brief The alert's identity: FNV-1a 64 over the labels sorted by name
 *        (then value), each hashed as `name 0xFF value 0xFF` — the
 *        Prometheus/Alertmanager algorithm. The empty set gives
 *        HASH_FNV64_INIT.
 *
 * Sorts internally (without allocating: label sets are small), so \p labels
 * may come in any order. Names and values must not be NULL.
 */
uint64_t alertmsg_fingerprint(const struct alertmsg_label *labels, size_t n);

/** Print \p fp as 16 lowercase hex digits (the Kafka key). */
void alertmsg_fingerprint_hex(uint64_t fp, char out[ALERTMSG_FP_HEX_SIZE]);

/**
 * @brief Build the message value: compact JSON with the keys in the order of
 *        alerts.md.
 *
 * Integral values below 1e15 print as integers ("value":1845), others as
 * the shortest decimal that reads back as the same double; times are RFC
 * 3339 UTC with milliseconds only when not zero. groupKey quotes the
 * alertname with \" and \\ escaped; generatorURL is external_url (one
 * trailing '/' dropped) + "/#" + alertname.
 * @returns JD_OK with a malloc'd NUL-terminated text in \p out (the caller
 *          frees it) and its length in \p len; JD_ERR_INVALID (a NULL field,
 *          duplicate names, no or another alertname label, text that is not
 *          UTF-8), JD_ERR_RANGE (a time outside years 1..9999) or
 *          JD_ERR_NOMEM, with errstr filled and \p out untouched.
 */
enum jd_err alertmsg_format(const struct alertmsg *m, char **out, size_t *len, char *errstr,
                            size_t errstr_size);

/**
 * @brief Fill \p out with the message's headers, in this order: ce_specversion
 *        "1.0", ce_id \p fingerprint_hex "-" seq (unique per message, and the
 *        same again on a retry), ce_source "journeyd/" + the group
 *        percent-encoded (a URI reference), ce_type "journeyd.alert.firing"
 *        or "journeyd.alert.resolved", ce_time evaluatedAt, ce_subject the
 *        alertname, content-type "application/json".
 *
 * Values point into \p out itself, into static strings, and (ce_subject) to
 * m->alertname: they live as long as both \p out and that string.
 * @returns JD_OK, or JD_ERR_INVALID / JD_ERR_RANGE (group longer than
 *          ALERTMSG_GROUP_MAX, a time out of range) with errstr filled.
 */
enum jd_err alertmsg_headers(const struct alertmsg *m, const char *fingerprint_hex,
                             struct alertmsg_headers *out, char *errstr, size_t errstr_size);

#endif
