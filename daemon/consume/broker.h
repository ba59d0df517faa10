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

/** Stop the brokers; NULL is a no-op. */
void broker_destroy(struct broker *b);

#endif
