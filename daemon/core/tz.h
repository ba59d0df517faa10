/*
 * tz.h — IANA time zones read from TZif files, and local calendar periods in them.
 *
 * The rule language counts per local hour, day, ISO week and month of a named zone. glibc can
 * only convert in one process-wide zone (TZ + tzset), so this module reads TZif data itself and
 * keeps every zone in its own immutable object. Only tz_load() touches the file system; all
 * other functions are pure functions of the loaded zone and their arguments.
 *
 * Instants are milliseconds since the Unix epoch (UTC, POSIX time: no leap seconds). The
 * supported range is at least the years 1900..2200; outside it results stay defined but are
 * only as good as the zone data.
 *
 * Period semantics. A local period (hour, day, ISO week from Monday, month) begins at the last
 * instant at which local wall-clock time reaches the period's first wall-clock value, and lasts
 * until the next period begins. Hence:
 *  - a local day is 23, 24 or 25 hours long across DST changes;
 *  - a skipped local midnight (DST jump at 00:00) makes the day begin at the transition instant;
 *  - a repeated local midnight makes the day begin at its first occurrence;
 *  - a repeated hour (DST end) forms one two-hour "hour"; a skipped hour, or a calendar day that
 *    was skipped entirely (Pacific/Apia, 2011-12-30), is a period of zero length that begins
 *    where the next one does. tz_period_start() never returns one (no instant lies in it).
 *
 * tz_period_add() moves by calendar labels, like clock and calendar arithmetic: 2 days after
 * Apia's 2011-12-29 is 2011-12-31, and 2 hours after New York's 01:00 on a spring-forward day is
 * 03:00. So where a label was skipped, adding 1 and adding 2 give the same instant, and repeated
 * "+1" steps pass over the empty period instead of counting it.
 */
#ifndef JD_TZ_H
#define JD_TZ_H

#include "core/err.h"

#include <stddef.h>
#include <stdint.h>

/** A loaded time zone. Immutable once loaded; safe to share between threads. */
struct tz;

/** The local calendar periods. */
enum tz_period {
    TZ_HOUR,  /**< local clock hour */
    TZ_DAY,   /**< local calendar day, from local midnight */
    TZ_WEEK,  /**< ISO week, from Monday 00:00 local */
    TZ_MONTH, /**< local calendar month, from the 1st 00:00 local */
};

/**
 * @brief Load the zone \p name from $TZDIR (when set and non-empty) or /usr/share/zoneinfo.
 *
 * \p name must be a relative IANA name such as "Europe/Berlin" or "Etc/UTC": non-empty, at most
 * 255 bytes, made of [A-Za-z0-9_+/-] and without "..". "UTC" and "Z" are built in and need no
 * file. Zones with leap-second tables ("right/...") are rejected: journeyd uses POSIX time.
 *
 * @param name        zone name; copied.
 * @param errstr      filled with a message on failure (may be NULL).
 * @param errstr_size size of \p errstr.
 * @returns a new zone owned by the caller (free with tz_destroy()), or NULL on failure: invalid
 *          name, no such zone, unreadable file, malformed data, or out of memory.
 */
struct tz *tz_load(const char *name, char *errstr, size_t errstr_size);

/**
 * @brief Parse a zone from TZif bytes (RFC 8536 versions 1 to 4), without any I/O.
 *
 * Uses the 64-bit data of version 2+ files and their POSIX TZ footer for instants at and after
 * the last transition (or for all instants when there are no transitions). Safe on arbitrary
 * input: malformed data is reported, never read out of bounds.
 *
 * @param name        name reported by tz_name() and in messages; copied.
 * @param tzif        the file contents; only read during the call.
 * @param len         size of \p tzif in bytes.
 * @param errstr      filled with a message on failure (may be NULL).
 * @param errstr_size size of \p errstr.
 * @returns a new zone owned by the caller (free with tz_destroy()), or NULL if the data is
 *          malformed or unsupported, or memory ran out.
 */
struct tz *tz_parse(const char *name, const void *tzif, size_t len, char *errstr,
                    size_t errstr_size);

/**
 * @brief Free a zone returned by tz_load() or tz_parse().
 * @param tz the zone; NULL is a no-op.
 */
void tz_destroy(struct tz *tz);

/**
 * @brief The zone's name as given to tz_load() or tz_parse().
 * @returns a string owned by \p tz, valid until tz_destroy().
 */
const char *tz_name(const struct tz *tz);

/**
 * @brief UTC offset in effect at an instant.
 * @param tz     the zone (not NULL).
 * @param utc_ms instant, milliseconds since the Unix epoch.
 * @returns seconds east of Greenwich (e.g. 3600 for CET, -18000 for EST).
 */
int32_t tz_offset_at(const struct tz *tz, int64_t utc_ms);

/**
 * @brief Start of the local calendar period that contains an instant.
 * @param tz     the zone (not NULL).
 * @param p      the kind of period.
 * @param utc_ms instant, milliseconds since the Unix epoch.
 * @returns the first instant of the period, as UTC milliseconds; never after \p utc_ms.
 */
int64_t tz_period_start(const struct tz *tz, enum tz_period p, int64_t utc_ms);

/**
 * @brief Start of the period \p n periods after (n < 0: before) the one containing \p utc_ms.
 *
 * tz_period_add(tz, TZ_DAY, t, 1) is the start of the next local day, 23, 24 or 25 hours after
 * the start of t's day; n = 0 gives tz_period_start(). Periods are counted by calendar label, so
 * a skipped (zero-length) hour or day still counts as one (see the top of this file).
 *
 * @param tz     the zone (not NULL).
 * @param p      the kind of period.
 * @param utc_ms an instant inside (or at the start of) the reference period.
 * @param n      number of periods to move.
 * @returns the start of the target period, as UTC milliseconds (saturated at the int64 range).
 */
int64_t tz_period_add(const struct tz *tz, enum tz_period p, int64_t utc_ms, int n);

#endif
