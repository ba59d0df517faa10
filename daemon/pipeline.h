/*
 * pipeline.h — the stages between a consumed message and the windowed store.
 *
 *   message -> decode/validate -> de-duplicate -> aggregate -> (commit) store
 *
 * A pipeline tracks the partitions this instance owns (claim epoch, position,
 * stream time, seen ids) and turns a batch of messages into one atomic flush.
 * It knows nothing of librdkafka: messages arrive as struct pipeline_msg and
 * the caller (loop.c, or a test) does the Kafka side — seeking where the
 * pipeline says, publishing the DLQ records it hands back.
 */
#ifndef JD_PIPELINE_H
#define JD_PIPELINE_H

#include "core/config.h"
#include "core/err.h"
#include "decode/event.h"
#include "store/store.h"

#include <stdbool.h>
#include <stdint.h>

/** A consumed message, as the pipeline sees it. */
struct pipeline_msg {
    int32_t partition;
    int64_t offset;
    const void *value;
    size_t len;
    const struct event_header *headers;
    size_t nheaders;
};

/** What became of one message. */
enum pipeline_verdict {
    PIPELINE_SKIP,    /**< not ours (unclaimed partition, or before the claimed position) */
    PIPELINE_OK,      /**< aggregated */
    PIPELINE_DUP,     /**< event_id seen within the dedup window: dropped, counted */
    PIPELINE_TOO_OLD, /**< older than the longest retention: dropped, counted */
    PIPELINE_DLQ,     /**< invalid: the caller must publish it to the DLQ before commit */
};

enum pipeline_part_state {
    PIPELINE_UNCLAIMED, /**< assigned by Kafka, not (yet) claimed in Redis */
    PIPELINE_ACTIVE,    /**< claimed; messages are applied */
    PIPELINE_FENCED,    /**< another instance claimed it; wait for a new assignment */
};

/** Totals since start (for logs and metrics). */
struct pipeline_counters {
    uint64_t ok, dup, dlq, too_old, late, skipped;
    uint64_t batches, refused, flush_errors;
    /*
     * Offsets Kafka never delivered within a claimed partition: compaction and
     * transaction markers make such holes, and so do retention and an offset
     * reset overtaking the consumer (events lost before journeyd saw them).
     */
    uint64_t offset_gaps, offsets_missing;
    int32_t last_gap_partition;
    int64_t last_gap_from, last_gap_to; /* [from, to): the offsets of the last hole */
    /* Partitions read from their beginning whose first offsets Kafka had deleted already. */
    uint64_t starts_trimmed;
    int32_t last_trimmed_partition;
    int64_t last_trimmed_first; /* the first offset Kafka still held */
};

/** Outcome columns of pipeline_event_tally() (exclusive: a late event is not also ok). */
enum pipeline_outcome {
    PIPELINE_OUTCOME_OK,
    PIPELINE_OUTCOME_LATE, /**< applied, but behind the watermark */
    PIPELINE_OUTCOME_DUP,
    PIPELINE_OUTCOME_TOO_OLD,
    PIPELINE_NOUTCOMES
};

struct pipeline;
struct card;

/**
 * @brief Build a pipeline over \p store (borrowed) with identity \p owner.
 * @param cfg borrowed; must outlive the pipeline.
 */
struct pipeline *pipeline_new(const struct config *cfg, struct store *store, const char *owner,
                              char *errstr, size_t errstr_size);

/** Free \p p; NULL is a no-op. */
void pipeline_destroy(struct pipeline *p);

/**
 * @brief Kafka assigned \p partition to us: track it as unclaimed. If the
 *        batch being built holds any of it, that whole batch is abandoned
 *        (its partitions are re-claimed): one aggregate mixes them all.
 * @returns false when out of memory (the partition stays untracked).
 */
bool pipeline_assign(struct pipeline *p, int32_t partition);

/** Kafka took \p partition away: forget it (abandoning the batch being built, as above). */
void pipeline_revoke(struct pipeline *p, int32_t partition);

/**
 * @brief Claim \p partition in Redis (fencing earlier owners, whatever its
 *        state: UNCLAIMED, or FENCED when taking it back) and reload its seen
 *        ids. The caller must then seek the partition to *offset. Not while
 *        a batch is in flight.
 * @param offset set to the stored resume offset, or -1 when none is stored:
 *        the caller then picks a start and records it with pipeline_pin().
 */
enum jd_err pipeline_claim(struct pipeline *p, int32_t partition, int64_t *offset, char *errstr,
                           size_t errstr_size);

/**
 * @brief Record where a freshly claimed partition without a stored offset
 *        starts, so that a restart before its first batch resumes there
 *        rather than at a log end that has moved on.
 * @param offset in: the chosen start; out: the start to seek to (the one
 *        already recorded, if any).
 * @returns JD_OK, JD_ERR_FENCED (claimed by another instance meanwhile),
 *          JD_ERR_REDIS.
 */
enum jd_err pipeline_pin(struct pipeline *p, int32_t partition, int64_t *offset, char *errstr,
                         size_t errstr_size);

/** @returns the state of \p partition (UNCLAIMED for unknown partitions). */
enum pipeline_part_state pipeline_part_state(const struct pipeline *p, int32_t partition);

/** @returns true if at least one partition is tracked and every tracked one is ACTIVE. */
bool pipeline_all_active(const struct pipeline *p);

/** @returns the number of tracked partitions; fills up to \p cap ids into \p out. */
size_t pipeline_partitions(const struct pipeline *p, int32_t *out, size_t cap);

/**
 * @brief Bring the cardinality guard (card.h) up to date with Redis's series
 *        index: a type whose number of series differs from what this process
 *        knows (other instances made some, GC dropped some, or after a start)
 *        is read again and replaces it. Needs the connection to itself (no
 *        batch in flight).
 * @returns JD_OK, JD_ERR_REDIS, JD_ERR_NOMEM.
 */
enum jd_err pipeline_census(struct pipeline *p, char *errstr, size_t errstr_size);

/** @returns the cardinality guard, for metrics. */
const struct card *pipeline_card(const struct pipeline *p);

/** Start a batch. */
void pipeline_begin(struct pipeline *p);

/**
 * @brief Process one message of the batch.
 * @param now_ms wall clock, only for the events.max_future check.
 * @param reason, detail on PIPELINE_DLQ: the DLQ code and human text
 *        (detail holds at least 256 bytes).
 */
enum pipeline_verdict pipeline_add(struct pipeline *p, const struct pipeline_msg *m, int64_t now_ms,
                                   enum jd_err *reason, char *detail, size_t detail_size);

/** @returns true if the current batch holds anything to commit. */
bool pipeline_pending(const struct pipeline *p);

/**
 * @brief Do the batch's work that needs nothing from Redis (attr_prepare())
 *        while the previous batch's flush runs; pipeline_send() does the rest.
 */
void pipeline_prepare(struct pipeline *p);

/**
 * @brief Send the batch's atomic flush without waiting for it; the batch
 *        becomes "in flight" and a new one can be built meanwhile (Redis runs
 *        the script while the next batch is decoded). At most one is in flight.
 * @returns JD_OK (also when there was nothing to send), JD_ERR_REDIS (the
 *          batch's partitions go back to UNCLAIMED), JD_ERR_NOMEM.
 */
enum jd_err pipeline_send(struct pipeline *p, char *errstr, size_t errstr_size);

/**
 * @brief Wait for the in-flight batch's outcome.
 *
 * On success its partitions advance. On any failure nothing of it was
 * applied, and it and the batch built since (which continued from it) are
 * dropped: their partitions go back to UNCLAIMED (or FENCED), and the caller
 * re-claims them and seeks them to Redis's offsets.
 * @returns JD_OK (also when nothing was in flight), JD_ERR_GAP / JD_ERR_FENCED
 *          (refused), JD_ERR_CORRUPT (refused: a key in Redis cannot take the
 *          batch), JD_ERR_REDIS (unknown outcome: reconnect).
 */
enum jd_err pipeline_recv(struct pipeline *p, char *errstr, size_t errstr_size);

/** @returns true while a batch awaits its outcome. */
bool pipeline_in_flight(const struct pipeline *p);

/** pipeline_recv(), pipeline_send(), pipeline_recv(): apply the batch and wait. */
enum jd_err pipeline_commit(struct pipeline *p, char *errstr, size_t errstr_size);

/** Abandon the batch being built (e.g. the DLQ could not be written): its partitions are
 * re-claimed. */
void pipeline_abort(struct pipeline *p);

/** \p partition back to UNCLAIMED (to be claimed again), abandoning the batch being built if it
 * holds any of it. */
void pipeline_unclaim(struct pipeline *p, int32_t partition);

/** Every tracked partition back to UNCLAIMED, both batches dropped (after a Redis reconnect). */
void pipeline_unclaim_all(struct pipeline *p);

/**
 * @brief Offsets Redis has applied per partition (to store in Kafka for lag monitoring).
 * @returns the number filled.
 */
size_t pipeline_positions(const struct pipeline *p, int32_t *parts, int64_t *offsets, size_t cap);

/** @returns \p partition's stream time as applied in Redis (INT64_MIN: none or untracked). */
int64_t pipeline_stream_time(const struct pipeline *p, int32_t partition);

/**
 * @brief Tell the pipeline the group's watermark (rules.md): from then on an
 *        event behind it counts as late. Before the first call, "late" means
 *        behind its own partition's stream time minus the lateness.
 */
void pipeline_set_watermark(struct pipeline *p, int64_t wm);

/**
 * @brief The consumer's view of \p partition's log end offset (-1: unknown),
 *        read at \p mono_ms. When everything before it has been consumed,
 *        the batch being built reports the partition as at its end (with no
 *        events of its own, it is added for that alone), so that the group's
 *        watermark does not wait for the next event of a quiet partition.
 */
void pipeline_log_end(struct pipeline *p, int32_t partition, int64_t end_offset, int64_t mono_ms);

/**
 * @brief Kafka's log of \p partition starts at \p start_offset, and the
 *        consumer found nothing before its end: a partition read from its
 *        beginning (position 0) moves there with the next batch, so its
 *        stored offset, lag and log-end reports are right even before its
 *        first message. Anything else is left alone.
 */
void pipeline_log_start(struct pipeline *p, int32_t partition, int64_t start_offset);

/** @returns the totals. */
const struct pipeline_counters *pipeline_counters(const struct pipeline *p);

struct tally;

/** @returns events applied in Redis by type × enum pipeline_outcome (tally.h). */
const struct tally *pipeline_event_tally(const struct pipeline *p);

/** @returns dead letters of applied batches by reason: JD_EV_REASONS counts, indexed by
 *          jd_err_event_index() (err.h). */
const uint64_t *pipeline_dlq_reasons(const struct pipeline *p);

/** @returns the value of applied `cost` events by channel, in micros (one column). */
const struct tally *pipeline_spend_tally(const struct pipeline *p);

/** @returns applied credits by channel × (model: conversions, model: value), attr.h; NULL without
 * attribution. */
const struct tally *pipeline_credit_tally(const struct pipeline *p);

struct attr_counters;

/** @returns the attribution stage's totals (attr.h), NULL when no model is configured. */
const struct attr_counters *pipeline_attr_counters(const struct pipeline *p);

#endif
