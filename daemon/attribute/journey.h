/*
 * journey.h — one user's journey: the touches that may still earn credit,
 * and when each conversion type last converted.
 *
 * Kept in Redis as MessagePack (one value per user and partition): an
 * optional whole journey, then the touches appended since, in arrival order:
 *
 *   [1, [[ts, channel, campaign], ...], [[conversion_type, ts], ...]]
 *   [2, ts, channel, campaign] ...
 *
 * touches oldest first (ties keep their arrival order), conversions one per
 * type. A touch that needs no decision is appended as a record (a few dozen
 * bytes, no read); whoever next reads the journey replays the records through
 * journey_touch() — the same cap and lookback, so the result is the journey
 * the touches would have made one by one — and writes it back whole. A
 * journey lives while it has either: a conversion without touches still
 * decides, in `reset` mode, which late touches a later conversion of its type
 * may see. The codec takes and gives bytes (no I/O); journey_decode() of
 * journey_encode() is exact, and anything else is refused as damaged.
 * Eligibility (attribution.md): a conversion at tc sees the touches with
 * tc − lookback ≤ ts ≤ tc, and in `reset` mode only those after the
 * previous conversion of its type. A journey keeps at most `max_touches`
 * touches (the newest) and none older than its newest minus the lookback.
 * Steady state allocates nothing: a journey is reset and reused.
 */
#ifndef JD_JOURNEY_H
#define JD_JOURNEY_H

#include "core/err.h"
#include "core/jd.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JOURNEY_VERSION 1 /**< tag of a whole journey */
#define JOURNEY_RECORD  2 /**< tag of an appended touch */

struct journey_touch {
    int64_t ts;
    struct jd_str channel, campaign; /**< in the journey's arena */
};

struct journey_conv {
    struct jd_str type; /**< in the journey's arena */
    int64_t ts;
};

struct journey {
    struct journey_touch *t; /**< oldest first */
    size_t n, cap;
    struct journey_conv *c;
    size_t nc, capc;
    char *arena;
    size_t alen, acap;
};

enum journey_mode { JOURNEY_RESET, JOURNEY_INDEPENDENT };

/** @returns true when \p j has neither touches nor conversions (nothing to keep). */
static inline bool journey_is_empty(const struct journey *j)
{
    return !j->n && !j->nc;
}

/**
 * @returns the latest event time of \p j, touch or conversion (INT64_MIN
 *          when empty): the journey is due for expiry a lookback after it.
 */
int64_t journey_last_activity(const struct journey *j);

/** Empty \p j, keeping its memory. */
void journey_reset(struct journey *j);

/** Free \p j's memory (the struct itself is the caller's). */
void journey_free(struct journey *j);

/** What a journey keeps (journey_touch()), and what loading one found. */
struct journey_limits {
    size_t max_touches;
    int64_t lookback_ms;
    uint64_t dropped; /**< out: touches the replayed records dropped (added to) */
    size_t records;   /**< out: appended records replayed by the last decode */
};

/**
 * @brief Load \p buf (a whole journey from journey_encode() and/or records
 *        from journey_encode_record()) into \p j (reset first), replaying the
 *        records with \p lim's cap and lookback.
 * @returns JD_OK, JD_ERR_CORRUPT (errstr says what is wrong) or JD_ERR_NOMEM.
 */
enum jd_err journey_decode(struct journey *j, const void *buf, size_t len,
                           struct journey_limits *lim, char *errstr, size_t errstr_size);

/** @returns the bytes journey_encode_record() writes for this touch. */
size_t journey_record_size(int64_t ts, struct jd_str channel, struct jd_str campaign);

/** Write a touch record to append to a stored journey; returns its length. */
size_t journey_encode_record(uint8_t *out, int64_t ts, struct jd_str channel,
                             struct jd_str campaign);

/** @returns the bytes journey_encode() writes for \p j. */
size_t journey_encoded_size(const struct journey *j);

/** Write \p j's encoding to \p out (journey_encoded_size() bytes); returns the length. */
size_t journey_encode(const struct journey *j, uint8_t *out);

/**
 * @brief Add a touch (strings copied), in time order, then drop what the
 *        lookback and the cap no longer keep.
 * @param dropped incremented by the touches dropped (the new one included,
 *        when it is itself too old or beyond the cap).
 * @returns false when out of memory.
 */
bool journey_touch(struct journey *j, int64_t ts, struct jd_str channel, struct jd_str campaign,
                   size_t max_touches, int64_t lookback_ms, uint64_t *dropped);

/**
 * @brief The touches a conversion of \p type at \p tc is credited to, then
 *        record the conversion (its type's last conversion time moves to
 *        max(previous, tc)).
 * @param idx out: indices into j->t, oldest first (room for j->n).
 * @returns the number of eligible touches (0: credit `(none)`), or
 *          SIZE_MAX when out of memory.
 */
size_t journey_convert(struct journey *j, struct jd_str type, int64_t tc, enum journey_mode mode,
                       int64_t lookback_ms, size_t *idx);

/** @returns the newest touch time (INT64_MIN when there is none). */
int64_t journey_last_touch(const struct journey *j);

/**
 * @brief The journey's null path: its touches after its last conversion of
 *        any type (all of them if it never converted).
 * @returns their number; their indices into j->t go to \p idx (room for j->n).
 */
size_t journey_null_path(const struct journey *j, size_t *idx);

#endif
