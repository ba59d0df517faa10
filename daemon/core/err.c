/*
 * err.c — names and descriptions of enum jd_err.
 *
 * Owns only the tables; it knows nothing of where errors come from.
 */
#include "core/err.h"

#include <stdarg.h>
#include <stdio.h>

static const struct {
    enum jd_err err;
    const char *name;
    const char *desc;
} jd_err_table[] = {
    { JD_OK, "ok", "success" },
    { JD_ERR_INVALID, "invalid", "invalid argument" },
    { JD_ERR_NOMEM, "nomem", "out of memory" },
    { JD_ERR_IO, "io", "I/O error" },
    { JD_ERR_CONFIG, "config", "invalid configuration" },
    { JD_ERR_PARSE, "parse", "syntax error" },
    { JD_ERR_REDIS, "redis", "Redis error" },
    { JD_ERR_KAFKA, "kafka", "Kafka error" },
    { JD_ERR_FENCED, "fenced", "partition owned by another instance" },
    { JD_ERR_GAP, "gap", "batch does not start at the stored offset" },
    { JD_ERR_RANGE, "range", "out of range" },
    { JD_ERR_NOT_FOUND, "not_found", "not found" },
    { JD_ERR_UNSUPPORTED, "unsupported", "not supported" },
    { JD_ERR_TIMEOUT, "timeout", "timed out" },
    { JD_ERR_CORRUPT, "corrupt", "stored data is not what journeyd wrote" },
    { JD_ERR_EV_EMPTY, "empty", "empty message" },
    { JD_ERR_EV_TOO_LARGE, "too_large", "message too large" },
    { JD_ERR_EV_JSON_SYNTAX, "json_syntax", "malformed JSON" },
    { JD_ERR_EV_MSGPACK_SYNTAX, "msgpack_syntax", "malformed MessagePack" },
    { JD_ERR_EV_BAD_UTF8, "bad_utf8", "invalid UTF-8" },
    { JD_ERR_EV_NOT_OBJECT, "not_object", "message is not an object" },
    { JD_ERR_EV_MISSING_FIELD, "missing_field", "required field missing" },
    { JD_ERR_EV_BAD_TYPE, "bad_type", "field has the wrong type or form" },
    { JD_ERR_EV_BAD_TS, "bad_ts", "invalid event time" },
    { JD_ERR_EV_BAD_VALUE, "bad_value", "invalid value" },
    { JD_ERR_EV_DUPLICATE_KEY, "duplicate_key", "duplicate field" },
    { JD_ERR_EV_TOO_DEEP, "too_deep", "nesting too deep" },
    { JD_ERR_EV_ENCODING, "bad_encoding", "unrecognised encoding" },
    { JD_ERR_EV_CARDINALITY, "cardinality", "over a cardinality limit" },
};

const char *jd_err2name(enum jd_err err)
{
    for (size_t i = 0; i < sizeof(jd_err_table) / sizeof(jd_err_table[0]); i++)
        if (jd_err_table[i].err == err)
            return jd_err_table[i].name;
    return "unknown";
}

const char *jd_err2str(enum jd_err err)
{
    for (size_t i = 0; i < sizeof(jd_err_table) / sizeof(jd_err_table[0]); i++)
        if (jd_err_table[i].err == err)
            return jd_err_table[i].desc;
    return "unknown error";
}

enum jd_err jd_errf(enum jd_err err, char *errstr, size_t errstr_size, const char *fmt, ...)
{
    if (errstr && errstr_size) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(errstr, errstr_size, fmt, ap);
        va_end(ap);
    }
    return err;
}
