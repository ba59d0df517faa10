/*
 * log.c — formats log lines (logfmt or JSON) and writes them to stderr.
 *
 * Owns the process-wide level and format. It does not decide what is worth
 * logging: callers do, once, where an error is handled. A line is built in a
 * stack buffer and written with one write(2), so concurrent writers (the
 * librdkafka log bridge runs on librdkafka's threads) never interleave.
 */
#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

enum log_level log_threshold = LOG_LVL_INFO;
static enum log_format log_fmt = LOG_FMT_LOGFMT;
static bool log_journal; /* stderr is the journal: lines start with "<N>" (sd-daemon(3)) */

static const char *const log_level_names[] = { "error", "warn", "info", "debug" };

/* systemd sets JOURNAL_STREAM=DEV:INODE for the stream it connected to stderr. */
static bool log_stderr_is_journal(void)
{
    const char *js = getenv("JOURNAL_STREAM");
    unsigned long long dev, ino;
    struct stat st;
    if (!js || sscanf(js, "%llu:%llu", &dev, &ino) != 2 || fstat(STDERR_FILENO, &st))
        return false;
    return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void log_configure(enum log_level level, enum log_format format)
{
    log_threshold = level;
    log_fmt = format;
    log_journal = log_stderr_is_journal();
}

bool log_level_parse(const char *s, enum log_level *out)
{
    for (int i = 0; i < 4; i++) {
        if (!strcmp(s, log_level_names[i])) {
            *out = (enum log_level)i;
            return true;
        }
    }
    return false;
}

bool log_format_parse(const char *s, enum log_format *out)
{
    if (!strcmp(s, "logfmt"))
        *out = LOG_FMT_LOGFMT;
    else if (!strcmp(s, "json"))
        *out = LOG_FMT_JSON;
    else
        return false;
    return true;
}

/* Appends to a bounded buffer; silently truncates (a log line is never worth failing for). */
struct log_buf {
    char *p;
    size_t n, cap;
};

static void log_putc(struct log_buf *b, char c)
{
    if (b->n + 1 < b->cap)
        b->p[b->n++] = c;
}

static void log_puts(struct log_buf *b, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        log_putc(b, s[i]);
}

static void log_put_json_str(struct log_buf *b, const char *s, size_t n)
{
    log_putc(b, '"');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            log_putc(b, '\\');
            log_putc(b, (char)c);
        } else if (c < 0x20) {
            char esc[8];
            snprintf(esc, sizeof(esc), "\\u%04x", c);
            log_puts(b, esc, strlen(esc));
        } else {
            log_putc(b, (char)c);
        }
    }
    log_putc(b, '"');
}

static bool log_needs_quotes(const char *s, size_t n)
{
    if (n == 0)
        return true;
    for (size_t i = 0; i < n; i++)
        if (s[i] == ' ' || s[i] == '"' || s[i] == '=' || (unsigned char)s[i] < 0x20)
            return true;
    return false;
}

static void log_put_logfmt_val(struct log_buf *b, const char *s, size_t n)
{
    if (!log_needs_quotes(s, n)) {
        log_puts(b, s, n);
        return;
    }
    log_put_json_str(b, s, n); /* logfmt quoting is JSON string quoting */
}

/*
 * Re-emit "k=v k2=\"quoted v\"" pairs as JSON members. Values produced by
 * log_q() are JSON-quoted already; bare values become JSON strings.
 */
static void log_kv_to_json(struct log_buf *b, const char *kv)
{
    const char *p = kv;
    while (*p) {
        while (*p == ' ')
            p++;
        if (!*p)
            break;
        const char *k = p;
        while (*p && *p != '=' && *p != ' ')
            p++;
        size_t kn = (size_t)(p - k);
        log_puts(b, ",", 1);
        log_put_json_str(b, k, kn);
        log_putc(b, ':');
        if (*p != '=') {
            log_puts(b, "true", 4);
            continue;
        }
        p++;
        if (*p == '"') {
            const char *v = p++;
            while (*p && *p != '"') {
                if (*p == '\\' && p[1])
                    p++;
                p++;
            }
            if (*p == '"')
                p++;
            log_puts(b, v, (size_t)(p - v));
        } else {
            const char *v = p;
            while (*p && *p != ' ')
                p++;
            log_put_json_str(b, v, (size_t)(p - v));
        }
    }
}

void log_write(enum log_level level, const char *component, const char *msg, const char *kvfmt, ...)
{
    char line[4096], kv[2048], ts[96];
    struct log_buf b = { line, 0, sizeof(line) };
    struct timeval tv;
    struct tm tm;

    kv[0] = '\0';
    if (kvfmt && *kvfmt) {
        va_list ap;
        va_start(ap, kvfmt);
        vsnprintf(kv, sizeof(kv), kvfmt, ap);
        va_end(ap);
    }
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(tv.tv_usec / 1000));

    if (log_journal) {
        /* syslog priorities: err, warning, info, debug */
        static const char prio[] = { '3', '4', '6', '7' };
        log_putc(&b, '<');
        log_putc(&b, prio[level]);
        log_putc(&b, '>');
    }
    if (log_fmt == LOG_FMT_JSON) {
        log_puts(&b, "{\"ts\":\"", 7);
        log_puts(&b, ts, strlen(ts));
        log_puts(&b, "\",\"level\":\"", 11);
        log_puts(&b, log_level_names[level], strlen(log_level_names[level]));
        log_puts(&b, "\",\"component\":", 14);
        log_put_json_str(&b, component, strlen(component));
        log_puts(&b, ",\"msg\":", 7);
        log_put_json_str(&b, msg, strlen(msg));
        log_kv_to_json(&b, kv);
        log_putc(&b, '}');
    } else {
        log_puts(&b, "ts=", 3);
        log_puts(&b, ts, strlen(ts));
        log_puts(&b, " level=", 7);
        log_puts(&b, log_level_names[level], strlen(log_level_names[level]));
        log_puts(&b, " component=", 11);
        log_put_logfmt_val(&b, component, strlen(component));
        log_puts(&b, " msg=", 5);
        log_put_json_str(&b, msg, strlen(msg));
        if (kv[0]) {
            log_putc(&b, ' ');
            log_puts(&b, kv, strlen(kv));
        }
    }
    line[b.n++] = '\n'; /* log_putc keeps one byte free for this */
    ssize_t w = write(STDERR_FILENO, line, b.n);
    (void)w;
}

const char *log_q(const char *s)
{
    static _Thread_local char bufs[4][512];
    static _Thread_local unsigned next;
    char *out = bufs[next++ % 4];
    struct log_buf b = { out, 0, sizeof(out[0]) * 512 - 4 };
    size_t n = s ? strlen(s) : 0;

    if (!s)
        s = "";
    if (n > 400) {
        /* a cut value is always quoted, with the cut marked inside the quotes */
        log_put_json_str(&b, s, 400);
        b.n--;
        log_puts(&b, "...\"", 4);
    } else {
        log_put_logfmt_val(&b, s, n);
    }
    out[b.n] = '\0';
    return out;
}
