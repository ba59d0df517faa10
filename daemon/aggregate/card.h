/*
 * card.h — the cardinality guard: how many event types and series there
 * are, and whether one more may be made.
 *
 * Every new label set of a type becomes a series: an entry in Redis's
 * series index (`s:<type>`), chunks per resolution, and something every
 * rule that selects the type walks at every tick. Label values come from
 * event producers, so without a bound one misbehaving producer (a user id
 * in `campaign`, a timestamp in a prop) grows Redis, the evaluator and the
 * rule results without end. The guard allows at most `limits.types` event
 * types and `limits.series_per_type` series per type; what would exceed
 * either is refused (the caller dead-letters the event, so nothing is lost
 * silently). It knows the index as last loaded plus what this process has
 * admitted since, and does no I/O.
 */
#ifndef JD_CARD_H
#define JD_CARD_H

#include "core/jd.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct card;

enum card_verdict {
    CARD_OK,           /**< known, or new and within the limits (now known) */
    CARD_TYPE_LIMIT,   /**< a new type, and there are limits.types already */
    CARD_SERIES_LIMIT, /**< a new series, and its type has limits.series_per_type already */
    CARD_NOMEM,
};

/** @returns a guard for \p max_types types of \p max_series series each; NULL when out of memory.
 */
struct card *card_new(size_t max_types, size_t max_series);

/** Free \p c; NULL is a no-op. */
void card_destroy(struct card *c);

/**
 * @brief Whether series \p sid of \p type may exist; a new one within the
 *        limits is remembered. Allocates only when a type or series is new.
 */
enum card_verdict card_admit(struct card *c, struct jd_str type, uint64_t sid);

/**
 * @brief Adds what the index holds for \p type: \p n series ids (a union,
 *        so what this process admitted meanwhile stays). The index may hold
 *        more than the limits (they were raised, then lowered): all are
 *        loaded, and nothing new is admitted until it is below them again.
 * @returns false when out of memory.
 */
bool card_load(struct card *c, struct jd_str type, const uint64_t *sids, size_t n);

/**
 * @brief Forgets the series of \p type (it stays a known type), so that a
 *        card_load() that follows replaces them: the index also shrinks, as
 *        GC drops series whose data have all expired.
 */
void card_forget(struct card *c, struct jd_str type);

/** @returns the number of types known. */
size_t card_ntypes(const struct card *c);

/** @returns type \p i's name (0 <= i < card_ntypes()), its number of series in \p nseries. */
struct jd_str card_type_at(const struct card *c, size_t i, size_t *nseries);

/** @returns the number of series of \p type known; 0 for an unknown type. */
size_t card_nseries(const struct card *c, struct jd_str type);

/** @returns the limits the guard was made with. */
size_t card_max_types(const struct card *c);
size_t card_max_series(const struct card *c);

#endif
