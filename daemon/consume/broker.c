/*
 * broker.c — owns the mock cluster and the client handle that hosts it.
 *
 * librdkafka attaches a mock cluster to a client instance; a bare producer
 * handle with no bootstrap servers serves as that host. Its own (useless)
 * connection warnings are silenced; everything else is librdkafka's.
 */
#include "consume/broker.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdlib.h>
#include <string.h>

struct broker {
    rd_kafka_t *host;
    rd_kafka_mock_cluster_t *mcluster;
};

static void broker_quiet_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    (void)level;
    (void)fac;
    (void)buf;
}

struct broker *broker_new(int nbrokers, char *errstr, size_t errstr_size)
{
    struct broker *b = calloc(1, sizeof(*b));
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char err[256];

    if (!b || !conf) {
        jd_errf(JD_ERR_NOMEM, errstr, errstr_size, "out of memory");
        goto fail;
    }
    rd_kafka_conf_set_log_cb(conf, broker_quiet_log);
    b->host = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    if (!b->host) {
        jd_errf(JD_ERR_KAFKA, errstr, errstr_size, "embedded broker: %s", err);
        goto fail;
    }
    conf = NULL;
    b->mcluster = rd_kafka_mock_cluster_new(b->host, nbrokers);
    if (!b->mcluster) {
        jd_errf(JD_ERR_KAFKA, errstr, errstr_size,
                "embedded broker: cannot start the mock cluster");
        goto fail;
    }
    return b;
fail:
    if (conf)
        rd_kafka_conf_destroy(conf);
    broker_destroy(b);
    return NULL;
}

enum jd_err broker_create_topic(struct broker *b, const char *topic, int partitions, char *errstr,
                                size_t errstr_size)
{
    rd_kafka_resp_err_t e = rd_kafka_mock_topic_create(b->mcluster, topic, partitions, 1);
    if (e && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
        return jd_errf(JD_ERR_KAFKA, errstr, errstr_size, "create topic %s: %s", topic,
                       rd_kafka_err2str(e));
    return JD_OK;
}

const char *broker_bootstraps(const struct broker *b)
{
    return rd_kafka_mock_cluster_bootstraps(b->mcluster);
}

void broker_destroy(struct broker *b)
{
    if (!b)
        return;
    if (b->mcluster)
        rd_kafka_mock_cluster_destroy(b->mcluster);
    if (b->host)
        rd_kafka_destroy(b->host);
    free(b);
}
