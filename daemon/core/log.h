/*
 * log.h — one logging entry point, level checked before formatting.
 *
 * Lines go to stderr as logfmt (default) or JSON, each with a timestamp, the
 * level and the component. A line is a constant message plus optional
 * `key=value` pairs given as a printf format:
 *
 *     log_info("consume", "partitions assigned", "count=%d topic=%s", n, topic);
 *
 * Values that may hold spaces or quotes must be passed through log_q().
 * Nothing on the per-event path logs above debug.
 */
#ifndef JD_LOG_H
#define JD_LOG_H

#include <stdbool.h>
#include <stddef.h>

enum log_level {
    LOG_LVL_ERROR = 0,
    LOG_LVL_WARN = 1,
    LOG_LVL_INFO = 2,
    LOG_LVL_DEBUG = 3,
};

enum log_format {
    LOG_FMT_LOGFMT = 0,
    LOG_FMT_JSON = 1,
};

/** Current threshold; read by the macros, set with log_configure(). */
extern enum log_level log_threshold;

/**
 * Set level and format (process-wide; call before starting threads). When
 * stderr is the systemd journal (JOURNAL_STREAM names it), every line starts
 * with its syslog priority ("<3>" error … "<7>" debug) so that journald
 * files it at the right level.
 */
void log_configure(enum log_level level, enum log_format format);

/**
 * @brief Parse "error|warn|info|debug".
 * @returns true and sets \p out when \p s names a level.
 */
bool log_level_parse(const char *s, enum log_level *out);

/** Parse "logfmt|json". */
bool log_format_parse(const char *s, enum log_format *out);

/** Write one line (use the macros below; they test the level first). */
void log_write(enum log_level level, const char *component, const char *msg, const char *kvfmt, ...)
    __attribute__((format(printf, 4, 5)));

/**
 * @brief Quote \p s for a logfmt value (adds quotes and escapes when needed).
 * @returns a pointer into one of a few rotating thread-local buffers, valid
 *          until the same thread has called log_q() four more times; long
 *          values are cut with "...".
 */
const char *log_q(const char *s);

#define log_error(comp, msg, ...)                                                                  \
    do {                                                                                           \
        if (log_threshold >= LOG_LVL_ERROR)                                                        \
            log_write(LOG_LVL_ERROR, comp, msg, __VA_ARGS__);                                      \
    } while (0)
#define log_warn(comp, msg, ...)                                                                   \
    do {                                                                                           \
        if (log_threshold >= LOG_LVL_WARN)                                                         \
            log_write(LOG_LVL_WARN, comp, msg, __VA_ARGS__);                                       \
    } while (0)
#define log_info(comp, msg, ...)                                                                   \
    do {                                                                                           \
        if (log_threshold >= LOG_LVL_INFO)                                                         \
            log_write(LOG_LVL_INFO, comp, msg, __VA_ARGS__);                                       \
    } while (0)
#define log_debug(comp, msg, ...)                                                                  \
    do {                                                                                           \
        if (log_threshold >= LOG_LVL_DEBUG)                                                        \
            log_write(LOG_LVL_DEBUG, comp, msg, __VA_ARGS__);                                      \
    } while (0)

#endif
