/*
 * notify.c — the sd_notify(3) messages of a Type=notify service: readiness,
 * reload, stop, status line and watchdog keep-alives.
 *
 * Owns the watchdog cadence (WATCHDOG_USEC, read once) and nothing else. It
 * neither allocates nor logs; a send that fails, or cannot happen because
 * NOTIFY_SOCKET is unset, is ignored — the callers log what they announce.
 * Built without libsystemd (no JD_HAVE_SYSTEMD) every function is a no-op.
 * Not thread-safe: call from the event loop's thread only.
 */
#include "observe/notify.h"

#ifdef JD_HAVE_SYSTEMD

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <systemd/sd-daemon.h>

void notify_ready(void)
{
    sd_notify(0, "READY=1");
}

void notify_reloading(void)
{
    sd_notify(0, "RELOADING=1");
}

void notify_stopping(void)
{
    sd_notify(0, "STOPPING=1");
}

void notify_status(const char *fmt, ...)
{
    char buf[256] = "STATUS=";
    const size_t pfx = sizeof("STATUS=") - 1;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf + pfx, sizeof(buf) - pfx, fmt, ap); /* truncates: one line is enough */
    va_end(ap);
    /* a newline would start another assignment (READY=1, …): keep it one line */
    for (char *p = buf + pfx; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    sd_notify(0, buf);
}

void notify_watchdog(int64_t now_ms)
{
    static bool checked;
    static int64_t interval_ms; /* 0: no watchdog requested */
    static int64_t last_ms;

    if (!checked) {
        uint64_t usec = 0;
        checked = true;
        if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
            interval_ms = (int64_t)(usec / 2000); /* half of WatchdogSec, in ms */
            if (interval_ms < 1)
                interval_ms = 1;
            last_ms = now_ms - interval_ms; /* the first call sends */
        }
    }
    if (interval_ms == 0 || now_ms - last_ms < interval_ms)
        return;
    last_ms = now_ms;
    sd_notify(0, "WATCHDOG=1");
}

#else /* !JD_HAVE_SYSTEMD */

void notify_ready(void)
{
}

void notify_reloading(void)
{
}

void notify_stopping(void)
{
}

void notify_status(const char *fmt, ...)
{
    (void)fmt;
}

void notify_watchdog(int64_t now_ms)
{
    (void)now_ms;
}

#endif
