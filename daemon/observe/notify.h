/*
 * notify.h — systemd's service notification protocol (sd_notify(3)) for
 * Type=notify: readiness, reloads, shutdown, a one-line status and the
 * watchdog. Every call is a no-op when journeyd was built without
 * libsystemd or is not run by systemd (no NOTIFY_SOCKET). Single-threaded:
 * call from the event loop's thread. Nothing is logged or allocated.
 */
#ifndef JD_NOTIFY_H
#define JD_NOTIFY_H

#include <stdint.h>

/** READY=1: partitions are being consumed (or the daemon is otherwise up). */
void notify_ready(void);

/** RELOADING=1 before a reload; follow with notify_ready() when done. */
void notify_reloading(void);

/** STOPPING=1 as the drain begins. */
void notify_stopping(void);

/**
 * STATUS=…: the one line `systemctl status` shows (printf format). Cut to
 * about 250 bytes; newlines become spaces.
 */
void notify_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/**
 * @brief WATCHDOG=1 when due: at most every half of WatchdogSec
 *        (WATCHDOG_USEC, read on the first call, which also sends), judged by
 *        \p now_ms (monotonic ms). Call from the event loop, so a stuck loop
 *        is what the watchdog catches; cheap when nothing is due or no
 *        watchdog is configured.
 */
void notify_watchdog(int64_t now_ms);

#endif
