/*
 * broker.h — an in-process Kafka-protocol broker (librdkafka's mock cluster).
 *
 * `kafka.brokers: embedded` runs one so a newcomer needs no Kafka at all:
 * it listens on 127.0.0.1 (real TCP), so kcat and any other client can
 * produce to it. It keeps at most ~5 MB per partition and forgets data on
 * exit: a demo and test tool, not storage.
 */
#ifndef JD_BROKER_H
#define JD_BROKER_H

#include "core/err.h"

#include <stddef.h>

struct broker;

/**
 * @brief Start \p nbrokers mock brokers.
 * @returns NULL with errstr on failure; stop with broker_destroy().
 */
struct broker *broker_new(int nbrokers, char *errstr, size_t errstr_size);

/** Create \p topic with \p partitions partitions (replication factor 1). */
enum jd_err broker_create_topic(struct broker *b, const char *topic, int partitions, char *errstr,
                                size_t errstr_size);

/** @returns "127.0.0.1:PORT[,…]" (valid until broker_destroy()). */
const char *broker_bootstraps(const struct broker *b);

/**
 * @brief Apply one fault command to the mock cluster (tests drive it over
 *        `journeyctl broker`'s standard input). \p line is one of:
 *        - `down ID`, `up ID`: broker ID (1-based) stops or starts answering;
 *        - `rtt ID MS`: broker ID answers MS milliseconds late;
 *        - `errors API N ERROR`: the next N requests of API (Produce, Fetch,
 *          ListOffsets, Metadata, OffsetCommit, OffsetFetch, FindCoordinator,
 *          JoinGroup, Heartbeat, LeaveGroup, SyncGroup) fail with ERROR, a
 *          librdkafka error name without its RD_KAFKA_RESP_ERR_ prefix;
 *        - `leader TOPIC PARTITION ID`: move a partition's leadership;
 *        - `coordinator GROUP ID`: move a group's coordinator.
 * @returns JD_OK, or JD_ERR_INVALID with the reason in \p errstr.
 */
enum jd_err broker_fault(struct broker *b, const char *line, char *errstr, size_t errstr_size);

/** Stop the brokers; NULL is a no-op. */
void broker_destroy(struct broker *b);

#endif
