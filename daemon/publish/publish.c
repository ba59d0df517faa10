/*
 * publish.c — the producer handle and its delivery accounting.
 *
 * Owns the idempotent producer, dead-letter formatting and the "has every
 * message been acknowledged" question the loop asks before committing a
 * batch. It never decides to drop anything: failures are reported upward.
 */
#include "publish/publish.h"

#include "consume/consume.h"
#include "core/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* longest publish_dlq() waits for room in a full producer queue */
#define PUBLISH_QUEUE_WAIT_MS 5000

struct publish {
    rd_kafka_t *rk;
    char *dlq_topic, *alerts_topic;
    /* held from the start so that librdkafka looks their leaders up at once (see publish_new) */
    rd_kafka_topic_t *dlq_rkt, *alerts_rkt;
    uint64_t delivered, failed;
    /* alerts: queued and not yet reported on, and failures since the last check */
    uint64_t alerts_outstanding, alerts_failed, alerts_delivered;
    char last_error[256], alert_error[256];
};

/* The per-message opaque that tells an alert's delivery report from a dead letter's. */
static char publish_alert_mark;

static void publish_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    struct publish *p = opaque;
    (void)rk;
    if (m->_private == &publish_alert_mark) {
        p->alerts_outstanding--;
        if (m->err) {
            p->alerts_failed++;
            snprintf(p->alert_error, sizeof(p->alert_error), "%s", rd_kafka_err2str(m->err));
        } else {
            p->alerts_delivered++;
        }
        return;
    }
    if (m->err) {
        p->failed++;
        snprintf(p->last_error, sizeof(p->last_error), "%s", rd_kafka_err2str(m->err));
    } else {
        p->delivered++;
    }
}

struct publish *publish_new(const struct config *cfg, const char *bootstrap, char *errstr,
                            size_t errstr_size)
{
    struct publish *p = calloc(1, sizeof(*p));
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char err[512];

    if (!p || !conf || !(p->dlq_topic = strdup(cfg->kafka.topics.dlq)) ||
        !(p->alerts_topic = strdup(cfg->kafka.topics.alerts))) {
        jd_errf(JD_ERR_NOMEM, errstr, errstr_size, "out of memory");
        goto fail;
    }
    const char *defaults[][2] = {
        { "bootstrap.servers", bootstrap },
        { "enable.idempotence", "true" },
        { "acks", "all" },
        { "linger.ms", "5" },
        { "message.timeout.ms", "300000" },
        { "client.id", "journeyd" },
    };
    for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++)
        if (rd_kafka_conf_set(conf, defaults[i][0], defaults[i][1], err, sizeof(err))) {
            jd_errf(JD_ERR_CONFIG, errstr, errstr_size, "producer: %s", err);
            goto fail;
        }
    for (size_t i = 0; i < cfg->kafka.producer.n; i++)
        if (rd_kafka_conf_set(conf, cfg->kafka.producer.keys[i], cfg->kafka.producer.vals[i], err,
                              sizeof(err))) {
            jd_errf(JD_ERR_CONFIG, errstr, errstr_size, "kafka.producer: %s: %s",
                    cfg->kafka.producer.keys[i], err); /* the value may be a credential */
            goto fail;
        }
    rd_kafka_conf_set_opaque(conf, p);
    rd_kafka_conf_set_dr_msg_cb(conf, publish_dr_cb);
    consume_set_log_bridge(conf);
    p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    if (!p->rk) {
        jd_errf(JD_ERR_KAFKA, errstr, errstr_size, "cannot create the producer: %s", err);
        goto fail;
    }
    /*
     * A topic handle makes librdkafka look its leader up and connect now, in
     * the background. Otherwise the first dead letter pays for it, while the
     * batch that holds it waits for its acknowledgement: 250-400 ms on a
     * local broker (tools/bench.md), more on a remote one.
     */
    p->dlq_rkt = rd_kafka_topic_new(p->rk, p->dlq_topic, NULL);
    p->alerts_rkt = rd_kafka_topic_new(p->rk, p->alerts_topic, NULL);
    if (!p->dlq_rkt || !p->alerts_rkt) /* only the head start is lost */
        log_warn("publish", "cannot look the DLQ and alerts topics up in advance", "error=%s",
                 rd_kafka_err2name(rd_kafka_last_error()));
    return p;
fail:
    if (conf && !(p && p->rk))
        rd_kafka_conf_destroy(conf);
    publish_destroy(p);
    return NULL;
}

void publish_destroy(struct publish *p)
{
    if (!p)
        return;
    if (p->rk) {
        rd_kafka_flush(p->rk, 10000);
        int left = rd_kafka_outq_len(p->rk);
        if (left)
            log_warn("publish", "messages still unsent at exit", "count=%d", left);
        if (p->dlq_rkt)
            rd_kafka_topic_destroy(p->dlq_rkt);
        if (p->alerts_rkt)
            rd_kafka_topic_destroy(p->alerts_rkt);
        rd_kafka_destroy(p->rk);
    }
    free(p->dlq_topic);
    free(p->alerts_topic);
    free(p);
}

enum jd_err publish_dlq(struct publish *p, const rd_kafka_message_t *src, enum jd_err reason,
                        const char *detail, char *errstr, size_t errstr_size)
{
    rd_kafka_headers_t *in = NULL, *hdrs;
    char part[16], off[24];
    const char *topic = src->rkt ? rd_kafka_topic_name(src->rkt) : "";

    if (rd_kafka_message_headers(src, &in) == RD_KAFKA_RESP_ERR_NO_ERROR && in)
        hdrs = rd_kafka_headers_copy(in); /* the original headers, unchanged */
    else
        hdrs = rd_kafka_headers_new(6);
    snprintf(part, sizeof(part), "%d", (int)src->partition);
    snprintf(off, sizeof(off), "%lld", (long long)src->offset);
    const char *name = jd_err2name(reason);
    rd_kafka_header_add(hdrs, "journeyd.error", -1, name, -1);
    rd_kafka_header_add(hdrs, "journeyd.detail", -1, detail, -1);
    rd_kafka_header_add(hdrs, "journeyd.source.topic", -1, topic, -1);
    rd_kafka_header_add(hdrs, "journeyd.source.partition", -1, part, -1);
    rd_kafka_header_add(hdrs, "journeyd.source.offset", -1, off, -1);

    /* backpressure, bounded: a DLQ that stays full fails the batch, which is re-read later */
    for (int waited = 0;; waited += 100) {
        rd_kafka_resp_err_t e = rd_kafka_producev(
            p->rk, RD_KAFKA_V_TOPIC(p->dlq_topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_KEY(src->key, src->key_len), RD_KAFKA_V_VALUE(src->payload, src->len),
            RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_END);
        if (!e)
            return JD_OK; /* the producer owns hdrs now */
        if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL && waited < PUBLISH_QUEUE_WAIT_MS) {
            rd_kafka_poll(p->rk, 100); /* wait for acknowledgements */
            continue;
        }
        rd_kafka_headers_destroy(hdrs);
        return jd_errf(JD_ERR_KAFKA, errstr, errstr_size, "produce to %s: %s", p->dlq_topic,
                       rd_kafka_err2str(e));
    }
}

enum jd_err publish_wait(struct publish *p, int timeout_ms, char *errstr, size_t errstr_size)
{
    rd_kafka_resp_err_t e = rd_kafka_flush(p->rk, timeout_ms);
    if (p->failed) {
        p->failed = 0;
        return jd_errf(JD_ERR_KAFKA, errstr, errstr_size, "delivery to %s failed: %s", p->dlq_topic,
                       p->last_error);
    }
    if (e == RD_KAFKA_RESP_ERR__TIMED_OUT)
        return jd_errf(JD_ERR_TIMEOUT, errstr, errstr_size,
                       "%d message(s) to %s not acknowledged within %d ms",
                       rd_kafka_outq_len(p->rk), p->dlq_topic, timeout_ms);
    return JD_OK;
}

void publish_poll(struct publish *p)
{
    rd_kafka_poll(p->rk, 0);
}

uint64_t publish_dlq_delivered(const struct publish *p)
{
    return p->delivered;
}

enum jd_err publish_alert(struct publish *p, const char *key, const void *value, size_t len,
                          const char *const *hdr_names, const char *const *hdr_values, size_t nhdrs,
                          char *errstr, size_t errstr_size)
{
    rd_kafka_headers_t *hdrs = rd_kafka_headers_new(nhdrs + 1);
    for (size_t i = 0; i < nhdrs; i++)
        rd_kafka_header_add(hdrs, hdr_names[i], -1, hdr_values[i], -1);
    for (int waited = 0;; waited += 100) {
        rd_kafka_resp_err_t e = rd_kafka_producev(
            p->rk, RD_KAFKA_V_TOPIC(p->alerts_topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_KEY(key, strlen(key)), RD_KAFKA_V_VALUE((void *)value, len),
            RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_OPAQUE(&publish_alert_mark), RD_KAFKA_V_END);
        if (!e) {
            p->alerts_outstanding++;
            return JD_OK;
        }
        if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL && waited < PUBLISH_QUEUE_WAIT_MS) {
            rd_kafka_poll(p->rk, 100);
            continue;
        }
        rd_kafka_headers_destroy(hdrs);
        return jd_errf(JD_ERR_KAFKA, errstr, errstr_size, "produce to %s: %s", p->alerts_topic,
                       rd_kafka_err2str(e));
    }
}

enum jd_err publish_alerts_settled(struct publish *p, bool *settled, char *errstr,
                                   size_t errstr_size)
{
    rd_kafka_poll(p->rk, 0);
    *settled = p->alerts_outstanding == 0;
    if (*settled && p->alerts_failed) {
        p->alerts_failed = 0;
        return jd_errf(JD_ERR_KAFKA, errstr, errstr_size, "alert delivery to %s failed: %s",
                       p->alerts_topic, p->alert_error);
    }
    return JD_OK;
}

uint64_t publish_alerts_delivered(const struct publish *p)
{
    return p->alerts_delivered;
}
