/*
 * err.h — the one error enum of journeyd.
 *
 * Every fallible function returns an `enum jd_err` and, when it can say more,
 * fills a caller-provided `char *errstr, size_t errstr_size` (librdkafka's
 * style). A module never logs an error it returns: whoever handles it logs
 * once. 0 is success; failures are negative.
 *
 * The event-rejection codes (JD_ERR_EV_*) double as the machine-readable DLQ
 * reasons of events.md: jd_err2name() gives the short code that goes into the
 * `journeyd.error` header.
 */
#ifndef JD_ERR_H
#define JD_ERR_H

#include <stdbool.h>
#include <stddef.h>

/** Size every errstr buffer in the project uses. */
#define JD_ERRSTR_SIZE 512

enum jd_err {
    JD_OK = 0,
    JD_ERR_INVALID = -1,      /**< invalid argument or input */
    JD_ERR_NOMEM = -2,        /**< allocation failed */
    JD_ERR_IO = -3,           /**< file or socket I/O failed */
    JD_ERR_CONFIG = -4,       /**< configuration rejected */
    JD_ERR_PARSE = -5,        /**< expression or document syntax error */
    JD_ERR_REDIS = -6,        /**< Redis unreachable or replied with an error */
    JD_ERR_KAFKA = -7,        /**< Kafka client error */
    JD_ERR_FENCED = -8,       /**< a partition is owned by another instance */
    JD_ERR_GAP = -9,          /**< batch does not start at the stored offset */
    JD_ERR_RANGE = -10,       /**< value or time outside what is kept/representable */
    JD_ERR_NOT_FOUND = -11,   /**< requested object does not exist */
    JD_ERR_UNSUPPORTED = -12, /**< valid but not implemented here */
    JD_ERR_TIMEOUT = -13,     /**< an operation did not finish in time */
    JD_ERR_CORRUPT = -14,     /**< stored data is not what journeyd wrote (nothing was changed) */

    /* Event rejections: each is a DLQ reason (events.md, "Bad input"). */
    JD_ERR_EV_EMPTY = -100,          /**< empty or null message value */
    JD_ERR_EV_TOO_LARGE = -101,      /**< value larger than events.max_bytes */
    JD_ERR_EV_JSON_SYNTAX = -102,    /**< not well-formed JSON */
    JD_ERR_EV_MSGPACK_SYNTAX = -103, /**< not well-formed MessagePack */
    JD_ERR_EV_BAD_UTF8 = -104,       /**< a string is not valid UTF-8 */
    JD_ERR_EV_NOT_OBJECT = -105,     /**< the message is not a map/object */
    JD_ERR_EV_MISSING_FIELD = -106,  /**< a required field is absent */
    JD_ERR_EV_BAD_TYPE = -107,       /**< a field has the wrong type, length or form */
    JD_ERR_EV_BAD_TS = -108,         /**< unparseable or out-of-range event time */
    JD_ERR_EV_BAD_VALUE = -109,      /**< value not finite or out of range */
    JD_ERR_EV_DUPLICATE_KEY = -110,  /**< a field journeyd reads appears twice */
    JD_ERR_EV_TOO_DEEP = -111,       /**< nesting deeper than the decoder allows */
    JD_ERR_EV_ENCODING = -112,       /**< encoding not recognised */
    JD_ERR_EV_CARDINALITY = -113,    /**< would exceed limits.types or limits.series_per_type */
};

/** @returns a short, stable, lowercase name for \p err (e.g. "json_syntax"). */
const char *jd_err2name(enum jd_err err);

/** @returns a human-readable description of \p err. */
const char *jd_err2str(enum jd_err err);

/** @returns true if \p err is one of the event-rejection (DLQ) codes. */
static inline bool jd_err_is_event(enum jd_err err)
{
    return err <= JD_ERR_EV_EMPTY && err >= JD_ERR_EV_CARDINALITY;
}

/** Dead-letter reasons counted by name: the event-rejection codes, then "other". */
#define JD_EV_REASONS (JD_ERR_EV_EMPTY - JD_ERR_EV_CARDINALITY + 2)

/** @returns \p err's place among the JD_EV_REASONS (the last one: anything else). */
static inline size_t jd_err_event_index(enum jd_err err)
{
    return jd_err_is_event(err) ? (size_t)(JD_ERR_EV_EMPTY - err) : JD_EV_REASONS - 1;
}

/**
 * @brief printf into an errstr buffer (NULL or size 0: no-op).
 * @returns \p err, so callers can write `return jd_errf(...)`.
 */
enum jd_err jd_errf(enum jd_err err, char *errstr, size_t errstr_size, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
