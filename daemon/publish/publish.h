/*
 * publish.h — what journeyd writes to Kafka: dead letters (and, with the rule
 * engine, alerts), through one idempotent producer.
 *
 * A dead letter is the original message, unchanged (key, value, headers),
 * plus `journeyd.error` (the machine code), `journeyd.detail` (human text)
 * and `journeyd.source.{topic,partition,offset}`. The loop waits for every
 * dead letter of a batch to be acknowledged before the batch's offsets are
 * applied in Redis: a bad message is never silently lost.
 */
#ifndef JD_PUBLISH_H
#define JD_PUBLISH_H

#include "core/config.h"
#include "core/err.h"

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stdint.h>

struct publish;

/** @returns a producer for \p bootstrap, or NULL with errstr. */
struct publish *publish_new(const struct config *cfg, const char *bootstrap, char *errstr,
                            size_t errstr_size);

/** Flush (bounded wait) and free; NULL is a no-op. */
void publish_destroy(struct publish *p);

/**
 * @brief Queue \p src for the DLQ topic with its reason. Copies everything.
 *        While the producer queue is full, waits for room (up to 5 s).
 * @returns JD_OK, or JD_ERR_KAFKA (queue still full, or rejected).
 */
enum jd_err publish_dlq(struct publish *p, const rd_kafka_message_t *src, enum jd_err reason,
                        const char *detail, char *errstr, size_t errstr_size);

/**
 * @brief Wait until everything queued so far is acknowledged.
 * @returns JD_OK, JD_ERR_TIMEOUT, or JD_ERR_KAFKA if a delivery failed since
 *          the last call (the caller must not advance past those messages).
 */
enum jd_err publish_wait(struct publish *p, int timeout_ms, char *errstr, size_t errstr_size);

/** Serve delivery reports without blocking. */
void publish_poll(struct publish *p);

/**
 * @brief Queue one alert message (engine.h's struct engine_msg) for the
 *        alerts topic, keyed by its fingerprint. Copies everything. While the
 *        producer queue is full, waits for room (up to 5 s).
 * @returns JD_OK, or JD_ERR_KAFKA.
 */
enum jd_err publish_alert(struct publish *p, const char *key, const void *value, size_t len,
                          const char *const *hdr_names, const char *const *hdr_values, size_t nhdrs,
                          char *errstr, size_t errstr_size);

/**
 * @brief Serve delivery reports, then tell whether every alert queued so far
 *        has been reported on.
 * @param settled set to true when none is outstanding.
 * @returns JD_OK, or JD_ERR_KAFKA when settled and at least one alert since
 *          the last such answer was not delivered (the caller must not count
 *          those messages as published).
 */
enum jd_err publish_alerts_settled(struct publish *p, bool *settled, char *errstr,
                                   size_t errstr_size);

/** @returns alert messages acknowledged so far. */
uint64_t publish_alerts_delivered(const struct publish *p);

/** @returns dead letters acknowledged so far. */
uint64_t publish_dlq_delivered(const struct publish *p);

#endif
