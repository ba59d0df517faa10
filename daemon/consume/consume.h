/*
 * consume.h — the Kafka consumer: group membership, batches, positions.
 *
 * Partitions are assigned *paused*: the loop first claims each one in Redis
 * and seeks it to the offset stored there (never Kafka's committed offset,
 * never its own in-memory position), then resumes it. Offsets are stored in
 * Kafka only after Redis applied them, for lag monitoring.
 */
#ifndef JD_CONSUME_H
#define JD_CONSUME_H

#include "core/config.h"
#include "core/err.h"

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stdint.h>

struct consume;

/**
 * @brief Create a consumer in group cfg->kafka.group for the events topic.
 * @param bootstrap the broker list (the embedded broker's, or kafka.brokers).
 * @param eof track partition ends (for --exit-on-eof).
 */
struct consume *consume_new(const struct config *cfg, const char *bootstrap, bool eof, char *errstr,
                            size_t errstr_size);

/** Leave the group (committing stored offsets) and free; NULL is a no-op. */
void consume_destroy(struct consume *c);

/**
 * @brief Take up to \p max messages already fetched; if there are none, wait
 *        up to \p timeout_ms for the next one (rebalances are served inside).
 *        Each returned message must be destroyed by the caller.
 * @returns the number of messages, or -1 on error.
 */
ssize_t consume_poll(struct consume *c, rd_kafka_message_t **msgs, size_t max, int timeout_ms);

/**
 * @returns how often the fetcher was woken (the brokers answered the waking
 *          request): librdkafka 2.0.2 stops fetching
 *          once its queue passes queued.min.messages and looks again only up
 *          to a second later, so when a poll drains a queue that was full,
 *          a thread of this module sends each leader broker a request.
 */
uint64_t consume_fetch_wakes(const struct consume *c);

/** @returns a number that changes whenever the assignment changes. */
uint64_t consume_assignment_version(const struct consume *c);

/**
 * @brief The assignment generation \p partition belongs to: 0 when not
 *        assigned; a new value each time it is (re)assigned. Assigned
 *        partitions are paused until consume_seek_resume().
 */
uint32_t consume_assignment_gen(const struct consume *c, int32_t partition);

/**
 * @brief Where a partition Redis has no record of starts: 0, the beginning
 *        (consume_seek_resume() goes to the first offset Kafka still holds),
 *        or the log's high watermark when auto.offset.reset says latest —
 *        unless the group has committed an offset for it (\p committed, else
 *        -1): then this group consumed it before and Redis lost what it
 *        applied, so it starts at the beginning whatever the reset policy,
 *        re-reading rather than skipping. Asks the broker (blocks up to 5 s
 *        per question).
 *
 *        The beginning is never taken from a low watermark: under broker
 *        faults librdkafka 2.0.2's watermark query can answer the high one
 *        for both, and a partition would start at its end.
 */
enum jd_err consume_start_offset(struct consume *c, int32_t partition, int64_t *offset,
                                 int64_t *committed, char *errstr, size_t errstr_size);

/**
 * @brief Seek \p partition to \p offset (0 or less: the first offset Kafka
 *        still holds, whatever auto.offset.reset says) and resume
 *        fetching it (blocks up to 5 s, and as long again to learn whether
 *        \p offset is the end of the log).
 */
enum jd_err consume_seek_resume(struct consume *c, int32_t partition, int64_t offset, char *errstr,
                                size_t errstr_size);

/** Stop fetching \p partition (n = 0: every assigned partition). */
void consume_pause(struct consume *c, const int32_t *partitions, size_t n);

/** Record applied offsets in Kafka (committed in the background). */
void consume_store_offsets(struct consume *c, const int32_t *parts, const int64_t *offsets,
                           size_t n);

/** Note an end-of-partition event (offset is where the end is). */
void consume_note_eof(struct consume *c, int32_t partition, int64_t offset);

/**
 * @brief \p partition's log start offset as of the client's last fetch
 *        response (cached, no request; the broker's answer, not a watermark
 *        query's); -1 when not known yet.
 */
int64_t consume_log_start(const struct consume *c, int32_t partition);

/** Note a message of \p partition (it is no longer at its end). */
void consume_note_message(struct consume *c, int32_t partition);

/**
 * @returns true if something is assigned and every assigned partition is at
 *          its end, as the last fetch response of each confirms.
 */
bool consume_all_at_eof(const struct consume *c);

/** @returns the number of assigned partitions. */
size_t consume_assigned_count(const struct consume *c);

/**
 * @brief Sum over assigned partitions of (high watermark - next offset),
 *        from the client's cached watermarks; -1 when unknown.
 */
int64_t consume_lag(const struct consume *c, const int32_t *parts, const int64_t *next, size_t n);

/**
 * @brief \p partition's log end offset as of the client's last fetch
 *        response (cached, no request); -1 when not known yet. With the
 *        consumer's position there, every message the broker held then has
 *        been handed over.
 */
int64_t consume_log_end(const struct consume *c, int32_t partition);

/** @returns true once librdkafka reported a fatal error (the loop must stop). */
bool consume_failed(const struct consume *c);

/** Route librdkafka's logs through log.h (used for every client we create). */
void consume_set_log_bridge(rd_kafka_conf_t *conf);

#endif
