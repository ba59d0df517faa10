/*
 * attr.h — the attribution stage of a batch: journeys in, credits out.
 *
 *   decode/validate -> de-dup -> attr_add() ... attr_run() -> (flush)
 *
 * The pipeline hands every touch and conversion of a batch to attr_add().
 * attr_prepare(), while the previous batch's flush runs, groups them by user
 * and encodes the touches appended unread (jcache.h). attr_run(), just
 * before the batch's flush, loads the other journeys of the batch's users
 * (one pipelined read; the previous batch's flush has been acknowledged, so
 * Redis holds its writes), applies the events in offset
 * order, adds each conversion's credits under every model to the batch's
 * aggregate as the `credit` stream, and returns what the flush must write
 * with the batch: the journeys (SET, or DEL once empty), their expiry
 * buckets (expiry.h) and the hour blocks of path statistics. A journey
 * expires when its partition's stream time passes its last activity plus
 * the lookback: its unconverted touches become a null path. That moment is
 * a point in the partition's offset order — a user's next event after it
 * meets an expired journey, whichever batch either falls in — so batching,
 * restarts and re-reads never change a credit. Everything goes in the
 * batch's one atomic script, so the exactly-once guarantee covers
 * attribution too.
 *
 * Journeys belong to a partition (`{P}:j:TOPIC:PARTITION:FP`): a user's
 * events must share a partition (producers key by user) to share a journey.
 */
#ifndef JD_ATTR_H
#define JD_ATTR_H

#include "aggregate/agg.h"
#include "attribute/model.h"
#include "core/config.h"
#include "core/err.h"
#include "decode/event.h"
#include "store/store.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** The stream credits are written to (attribution.md). */
#define ATTR_CREDIT_TYPE "credit"

/** What a batch's flush must write for attribution (valid until attr_reset()). */
struct attr_writes {
    const struct store_put *puts;
    size_t nputs;
    const struct store_zput *zputs;
    size_t nzputs;
    const struct store_append *appends;
    size_t nappends;
    const struct store_put *jappends; /**< touch records appended to journeys unread */
    size_t njappends;
};

/** Totals since start (for logs and metrics). */
struct attr_counters {
    uint64_t touches, conversions, credits, none; /**< none: conversions without a touch */
    uint64_t dropped;  /**< touches beyond max_touches or the lookback (counted when replayed) */
    uint64_t appended; /**< touches appended to their journey unread (jcache.h) */
    uint64_t expired, null_paths, corrupt;
    uint64_t learnt;       /**< times the data-driven weights were recomputed */
    uint64_t learn_errors; /**< recomputations that failed (the weights stayed) */
};

struct attr;

/**
 * @brief The stage for \p cfg (borrowed; must outlive it) over \p store.
 * @returns NULL with errstr when out of memory.
 */
struct attr *attr_new(const struct config *cfg, struct store *store, char *errstr,
                      size_t errstr_size);

/** Free \p a; NULL is a no-op. */
void attr_destroy(struct attr *a);

/** @returns true if events of \p type are touches or conversions. */
bool attr_wants(const struct attr *a, struct jd_str type);

/**
 * @brief Queue \p ev (a touch or conversion with a user_id) of \p partition
 *        for the batch being built (strings copied).
 * @param st the partition's stream time with \p ev applied (its max event
 *        time so far, in offset order): journeys due before it expire first.
 * @returns false when out of memory.
 */
bool attr_add(struct attr *a, int32_t partition, const struct event *ev, int64_t st);

/** @returns true if the batch being built holds journey events. */
bool attr_pending(const struct attr *a);

/** Forget the batch being built (abandoned, or flushed). */
void attr_reset(struct attr *a);

/** A partition of the batch and its stream time after it (INT64_MIN: none). */
struct attr_part {
    int32_t partition;
    int64_t st;
};

/**
 * @brief The part of attr_run() that needs nothing from Redis: group the
 *        batch's events by user, decide whose touches are appended unread
 *        and encode their records. May run while the previous batch's flush
 *        is in flight (after its attr_sent()): it counts on that batch's
 *        journeys as written, and if that flush fails, attr_discard()
 *        forgets them and this batch is dropped with it. attr_run() calls it
 *        when it did not run.
 * @returns false when out of memory.
 */
bool attr_prepare(struct attr *a);

/**
 * @brief Attribute the batch: read journeys, add credits to \p agg (not
 *        sealed yet) and fill \p out. No store call may be in flight.
 * @returns JD_OK, JD_ERR_REDIS (read failed: the batch must be dropped),
 *          JD_ERR_NOMEM.
 */
enum jd_err attr_run(struct attr *a, const struct attr_part *parts, size_t nparts, struct agg *agg,
                     struct attr_writes *out, char *errstr, size_t errstr_size);

/**
 * @brief Set the data-driven weights of \p model (markov: removal effects,
 *        shapley: Shapley values) per channel name (copied). Until set, a
 *        conversion's distinct channels share equally.
 * @returns false when out of memory (the old weights stay).
 */
bool attr_set_weights(struct attr *a, enum model_id model, const char *const *channels,
                      const double *w, size_t n);

/**
 * @brief Learn the data-driven weights from the path statistics of the
 *        training window before \p st (attribution.training_window): the
 *        Markov removal effects (attribution.markov.order) and the Shapley
 *        values, by channel. One round trip; no store call may be in flight.
 * @returns JD_OK (weights replaced), JD_ERR_REDIS, JD_ERR_NOMEM or
 *          JD_ERR_RANGE (the chain did not converge; the old weights stay).
 *          Damaged blocks are skipped and counted.
 */
enum jd_err attr_learn(struct attr *a, int64_t st, char *errstr, size_t errstr_size);

/** @returns the totals. */
const struct attr_counters *attr_counters(const struct attr *a);

/**
 * @brief The last attr_run()'s batch was sent: the next batch's attr_prepare()
 *        counts on its journeys as written (jcache.h), until attr_discard().
 */
void attr_sent(struct attr *a);

/** The last attr_run()'s batch was applied in Redis: its credits count in attr_credit_tally(). */
void attr_commit(struct attr *a);

/**
 * @brief The last attr_run()'s batch was not applied, or may have been
 *        without a word back: forget its credits and null paths, and what
 *        is known of journeys (jcache.h), since Redis may now hold either.
 */
void attr_discard(struct attr *a);

/**
 * @brief \p partition (−1: every one) was claimed afresh: another instance
 *        may have written its journeys meanwhile, so forget what is known of
 *        them (they are read again before touches are appended unread).
 */
void attr_forget(struct attr *a, int32_t partition);

struct tally;

/**
 * @returns credits applied since start by channel: column m (enum model_id)
 *          holds micro-conversions, column MODEL_N + m the value in micros.
 */
const struct tally *attr_credit_tally(const struct attr *a);

#endif
