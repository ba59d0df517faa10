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
#include <stdio.h>
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

/* ------------------------------------------------------------ faults */

static const struct {
    const char *name;
    int16_t key;
} broker_apis[] = {
    { "Produce", 0 },      { "Fetch", 1 },       { "ListOffsets", 2 },      { "Metadata", 3 },
    { "OffsetCommit", 8 }, { "OffsetFetch", 9 }, { "FindCoordinator", 10 }, { "JoinGroup", 11 },
    { "Heartbeat", 12 },   { "LeaveGroup", 13 }, { "SyncGroup", 14 },
};

static bool broker_api(const char *name, int16_t *key)
{
    for (size_t i = 0; i < sizeof(broker_apis) / sizeof(broker_apis[0]); i++)
        if (!strcmp(broker_apis[i].name, name)) {
            *key = broker_apis[i].key;
            return true;
        }
    return false;
}

static bool broker_err(const char *name, rd_kafka_resp_err_t *err)
{
    const struct rd_kafka_err_desc *d;
    size_t n;
    rd_kafka_get_err_descs(&d, &n);
    for (size_t i = 0; i < n; i++)
        if (d[i].name && !strcmp(d[i].name, name)) {
            *err = d[i].code;
            return true;
        }
    return false;
}

enum jd_err broker_fault(struct broker *b, const char *line, char *errstr, size_t errstr_size)
{
    char verb[32], a[256], c[64];
    int id, n;
    int16_t key;
    rd_kafka_resp_err_t err;
    rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR_NO_ERROR;

    if (sscanf(line, "%31s", verb) != 1)
        return jd_errf(JD_ERR_INVALID, errstr, errstr_size, "empty command");
    if (!strcmp(verb, "down") && sscanf(line, "%*s %d", &id) == 1)
        e = rd_kafka_mock_broker_set_down(b->mcluster, id);
    else if (!strcmp(verb, "up") && sscanf(line, "%*s %d", &id) == 1)
        e = rd_kafka_mock_broker_set_up(b->mcluster, id);
    else if (!strcmp(verb, "rtt") && sscanf(line, "%*s %d %d", &id, &n) == 2)
        e = rd_kafka_mock_broker_set_rtt(b->mcluster, id, n);
    else if (!strcmp(verb, "errors") && sscanf(line, "%*s %255s %d %63s", a, &n, c) == 3) {
        if (!broker_api(a, &key))
            return jd_errf(JD_ERR_INVALID, errstr, errstr_size, "unknown API %s", a);
        if (!broker_err(c, &err))
            return jd_errf(JD_ERR_INVALID, errstr, errstr_size, "unknown error %s", c);
        if (n < 1 || n > 1000)
            return jd_errf(JD_ERR_INVALID, errstr, errstr_size, "count %d not in 1..1000", n);
        rd_kafka_resp_err_t errs[1000];
        for (int i = 0; i < n; i++)
            errs[i] = err;
        rd_kafka_mock_push_request_errors_array(b->mcluster, key, (size_t)n, errs);
    } else if (!strcmp(verb, "leader") && sscanf(line, "%*s %255s %d %d", a, &n, &id) == 3)
        e = rd_kafka_mock_partition_set_leader(b->mcluster, a, n, id);
    else if (!strcmp(verb, "coordinator") && sscanf(line, "%*s %255s %d", a, &id) == 2)
        e = rd_kafka_mock_coordinator_set(b->mcluster, "group", a, id);
    else
        return jd_errf(JD_ERR_INVALID, errstr, errstr_size, "cannot read command: %s", line);
    if (e)
        return jd_errf(JD_ERR_INVALID, errstr, errstr_size, "%s: %s", verb, rd_kafka_err2str(e));
    return JD_OK;
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
