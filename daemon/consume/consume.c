/*
 * consume.c — librdkafka consumer wrapper.
 *
 * Owns the rd_kafka_t consumer handle, the rebalance callback and the
 * per-partition end-of-log flags. It decides nothing about offsets: the loop
 * learns of assignments from consume_take_assigned(), claims them in Redis
 * and tells this module where to seek. Eager (range/roundrobin) assignment
 * is used on purpose: librdkafka 2.0.2's cooperative-sticky assignor can
 * abort around a first assignment.
 */
#include "consume/consume.h"

#include "core/log.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define CONSUME_MAX_PARTS 4096
/* longest a broker request may block the loop (seek, watermark query) */
#define CONSUME_TIMEOUT_MS 5000
/* longest the waker thread waits for a broker's answer (consume_wake()); also how long
 * closing the consumer may wait for it */
#define CONSUME_WAKE_TIMEOUT_MS 2000

struct consume {
    rd_kafka_t *rk;
    rd_kafka_queue_t *queue;
    char *topic;
    bool track_eof;
    bool start_at_end; /* auto.offset.reset=latest: a partition with no stored offset starts at the
                          end */
    bool fatal;
    /*
     * Assignment state, indexed by partition: the generation of the
     * assignment a partition belongs to (0: not assigned). One poll may serve
     * several rebalances, so the loop compares generations rather than
     * replaying assign/revoke events in an order it cannot know.
     */
    uint32_t gen[CONSUME_MAX_PARTS];
    bool assigned[CONSUME_MAX_PARTS];
    bool at_eof[CONSUME_MAX_PARTS];
    int64_t eof_at[CONSUME_MAX_PARTS];   /* the offset at_eof was seen at */
    bool eof_fetched[CONSUME_MAX_PARTS]; /* at_eof comes from a fetch, not a watermark query */
    uint32_t next_gen;
    uint64_t version; /* bumped on every change */
    /*
     * The fetcher's alarm clock (consume_poll()): armed when the queue was
     * found at least half full, rung when a poll leaves it under a quarter.
     * The waker thread then sends each leader of the assigned partitions a
     * request, which wakes that broker's thread.
     */
    int queued_min; /* queued.min.messages as configured */
    bool armed;
    bool sync_ready, waker_started;
    pthread_t waker;
    pthread_mutex_t mu; /* guards what follows */
    pthread_cond_t cv;
    bool ring, stopping;
    int32_t ring_parts[CONSUME_MAX_PARTS]; /* the assigned partitions when rung */
    size_t nring;
    _Atomic uint64_t wakes; /* rings the brokers answered (read without the lock) */
};

static void consume_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    /* syslog levels: 0-3 error, 4 warning, 5-6 info, 7 debug */
    enum log_level l = level <= 3   ? LOG_LVL_ERROR
                       : level == 4 ? LOG_LVL_WARN
                       : level <= 6 ? LOG_LVL_INFO
                                    : LOG_LVL_DEBUG;
    if (log_threshold >= l)
        log_write(l, "kafka", buf, "facility=%s", log_q(fac));
}

void consume_set_log_bridge(rd_kafka_conf_t *conf)
{
    rd_kafka_conf_set_log_cb(conf, consume_log_cb);
}

static void consume_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    struct consume *c = opaque;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char buf[512];
        rd_kafka_fatal_error(rk, buf, sizeof(buf));
        log_error("consume", "fatal Kafka error", "reason=%s", log_q(buf));
        c->fatal = true;
        return;
    }
    /* everything else is retried by librdkafka on its own */
    log_warn("consume", "Kafka error", "error=%s reason=%s", rd_kafka_err2name(err), log_q(reason));
}

static void consume_rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                                 rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    struct consume *c = opaque;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        /*
         * Assign paused: nothing may be applied before the partition is
         * claimed in Redis and positioned at Redis's offset.
         */
        rd_kafka_assign(rk, parts);
        rd_kafka_pause_partitions(rk, parts);
        if (++c->next_gen == 0)
            c->next_gen = 1;
        for (int i = 0; i < parts->cnt; i++) {
            int32_t p = parts->elems[i].partition;
            if (strcmp(parts->elems[i].topic, c->topic))
                continue;
            if (p < 0 || p >= CONSUME_MAX_PARTS) {
                log_error("consume", "partition beyond what journeyd tracks: left paused",
                          "partition=%d max=%d", (int)p, CONSUME_MAX_PARTS - 1);
                continue;
            }
            c->gen[p] = c->next_gen;
            c->assigned[p] = true;
            c->at_eof[p] = false;
        }
        c->version++;
        log_info("consume", "partitions assigned", "count=%d", parts->cnt);
    } else {
        for (int i = 0; i < parts->cnt; i++) {
            int32_t p = parts->elems[i].partition;
            if (p < 0 || p >= CONSUME_MAX_PARTS || !c->assigned[p])
                continue;
            c->gen[p] = 0;
            c->assigned[p] = false;
            c->at_eof[p] = false;
        }
        c->version++;
        rd_kafka_assign(rk, NULL);
        log_info("consume", "partitions revoked", "count=%d reason=%s", parts->cnt,
                 rd_kafka_err2name(err));
    }
}

/*
 * One offsets-for-times request per broker that leads an assigned
 * partition (librdkafka groups them by leader): any request wakes the
 * broker's thread, which then sees the queue below its limits and fetches
 * again. The answer is not needed; the wait for it is bounded, unlike a
 * watermark query's, so a dead broker delays only this thread, and only
 * this long. Returns true when the brokers answered.
 */
static bool consume_wake(struct consume *c, const int32_t *parts, size_t n)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)n);
    for (size_t i = 0; i < n; i++)
        rd_kafka_topic_partition_list_add(l, c->topic, parts[i])->offset = RD_KAFKA_OFFSET_END;
    rd_kafka_resp_err_t e = rd_kafka_offsets_for_times(c->rk, l, CONSUME_WAKE_TIMEOUT_MS);
    rd_kafka_topic_partition_list_destroy(l);
    return !e;
}

/* The waker thread: sleeps until consume_poll() rings, wakes the leaders, counts. */
static void *consume_waker(void *arg)
{
    struct consume *c = arg;
    int32_t parts[CONSUME_MAX_PARTS];

    pthread_mutex_lock(&c->mu);
    while (!c->stopping) {
        if (!c->ring) {
            pthread_cond_wait(&c->cv, &c->mu);
            continue;
        }
        size_t n = c->nring;
        memcpy(parts, c->ring_parts, n * sizeof(*parts));
        c->ring = false;
        pthread_mutex_unlock(&c->mu);
        if (consume_wake(c, parts, n))
            atomic_fetch_add(&c->wakes, 1);
        pthread_mutex_lock(&c->mu);
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

/* Hands the assigned partitions to the waker thread (a ring while it is busy replaces them). */
static void consume_ring(struct consume *c)
{
    pthread_mutex_lock(&c->mu);
    c->nring = 0;
    for (int32_t p = 0; p < CONSUME_MAX_PARTS; p++)
        if (c->assigned[p])
            c->ring_parts[c->nring++] = p;
    c->ring = c->nring > 0;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

uint64_t consume_fetch_wakes(const struct consume *c)
{
    return atomic_load(&c->wakes);
}

static bool consume_conf_set(rd_kafka_conf_t *conf, const char *k, const char *v, char *errstr,
                             size_t errstr_size)
{
    char err[256];
    if (rd_kafka_conf_set(conf, k, v, err, sizeof(err)) != RD_KAFKA_CONF_OK) {
        /* the value is not repeated: it may be a credential (librdkafka's message
         * quotes it only where it is not) */
        jd_errf(JD_ERR_CONFIG, errstr, errstr_size, "kafka.consumer: %s: %s", k, err);
        return false;
    }
    return true;
}

struct consume *consume_new(const struct config *cfg, const char *bootstrap, bool eof, char *errstr,
                            size_t errstr_size)
{
    struct consume *c = calloc(1, sizeof(*c));
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_topic_partition_list_t *topics = NULL;
    char err[512];

    if (!c || !conf || !(c->topic = strdup(cfg->kafka.topics.events))) {
        jd_errf(JD_ERR_NOMEM, errstr, errstr_size, "out of memory");
        goto fail;
    }
    if (pthread_mutex_init(&c->mu, NULL)) {
        jd_errf(JD_ERR_NOMEM, errstr, errstr_size, "cannot create the consumer's lock");
        goto fail;
    }
    if (pthread_cond_init(&c->cv, NULL)) {
        pthread_mutex_destroy(&c->mu);
        jd_errf(JD_ERR_NOMEM, errstr, errstr_size, "cannot create the consumer's lock");
        goto fail;
    }
    c->sync_ready = true;
    c->track_eof = eof;
    /* our defaults first, so kafka.consumer can override any of them */
    const char *defaults[][2] = {
        { "bootstrap.servers", bootstrap },
        { "group.id", cfg->kafka.group },
        { "enable.auto.offset.store", "false" }, /* offsets are stored after Redis applied them */
        { "enable.auto.commit", "true" },
        { "auto.commit.interval.ms", "1000" },
        { "partition.assignment.strategy", "range,roundrobin" },
        { "enable.partition.eof", eof ? "true" : "false" },
        { "auto.offset.reset", "earliest" },
        /*
         * librdkafka 2.0.2 stops fetching once its queue (all partitions
         * together) passes these limits and looks again only when its broker
         * thread next wakes, up to a second later, even if the queue was
         * drained meanwhile (pausing to regulate it ourselves is no better: a
         * pause discards what is queued). So while catching up the queue must
         * hold about a second of work or the loop starves. consume_poll()
         * wakes the fetcher itself instead (the waker thread below), so
         * these limits only bound memory while lagging: 200,000 events kept
         * a catch-up at 440,000 events/s fed (tools/bench.md), where without
         * the waker it ran at about 250,000, a second's worth of queue.
         */
        { "queued.min.messages", "200000" },
        { "queued.max.messages.kbytes", "131072" },
        { "fetch.wait.max.ms", "100" },
        { "client.id", "journeyd" },
    };
    for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++)
        if (!consume_conf_set(conf, defaults[i][0], defaults[i][1], errstr, errstr_size))
            goto fail;
    for (size_t i = 0; i < cfg->kafka.consumer.n; i++) {
        const char *k = cfg->kafka.consumer.keys[i], *v = cfg->kafka.consumer.vals[i];
        if (!strcmp(k, "enable.auto.offset.store") || !strcmp(k, "group.id")) {
            jd_errf(JD_ERR_CONFIG, errstr, errstr_size,
                    "kafka.consumer: %s is managed by journeyd (use kafka.group)", k);
            goto fail;
        }
        if (!consume_conf_set(conf, k, v, errstr, errstr_size))
            goto fail;
        if (!strcmp(k, "auto.offset.reset"))
            c->start_at_end = !strcmp(v, "latest") || !strcmp(v, "end") || !strcmp(v, "largest");
    }
    char qmin[32];
    size_t qmin_size = sizeof(qmin);
    if (rd_kafka_conf_get(conf, "queued.min.messages", qmin, &qmin_size) == RD_KAFKA_CONF_OK)
        c->queued_min = atoi(qmin);
    rd_kafka_conf_set_opaque(conf, c);
    rd_kafka_conf_set_rebalance_cb(conf, consume_rebalance_cb);
    rd_kafka_conf_set_error_cb(conf, consume_error_cb);
    consume_set_log_bridge(conf);

    c->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    if (!c->rk) {
        jd_errf(JD_ERR_KAFKA, errstr, errstr_size, "cannot create the consumer: %s", err);
        goto fail;
    }
    conf = NULL; /* owned by rk now */
    rd_kafka_poll_set_consumer(c->rk);
    if (pthread_create(&c->waker, NULL, consume_waker, c)) {
        jd_errf(JD_ERR_NOMEM, errstr, errstr_size, "cannot start the fetcher's waker thread");
        goto fail;
    }
    c->waker_started = true;
    c->queue = rd_kafka_queue_get_consumer(c->rk);
    topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, c->topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(c->rk, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (e) {
        jd_errf(JD_ERR_KAFKA, errstr, errstr_size, "subscribe to %s: %s", c->topic,
                rd_kafka_err2str(e));
        goto fail;
    }
    return c;
fail:
    if (conf)
        rd_kafka_conf_destroy(conf);
    consume_destroy(c);
    return NULL;
}

void consume_destroy(struct consume *c)
{
    if (!c)
        return;
    if (c->waker_started) {
        pthread_mutex_lock(&c->mu);
        c->stopping = true;
        pthread_cond_signal(&c->cv);
        pthread_mutex_unlock(&c->mu);
        pthread_join(c->waker, NULL);
    }
    if (c->sync_ready) {
        pthread_mutex_destroy(&c->mu);
        pthread_cond_destroy(&c->cv);
    }
    if (c->queue)
        rd_kafka_queue_destroy(c->queue);
    if (c->rk) {
        rd_kafka_consumer_close(c->rk); /* leaves the group, commits stored offsets */
        rd_kafka_destroy(c->rk);
    }
    free(c->topic);
    free(c);
}

ssize_t consume_poll(struct consume *c, rd_kafka_message_t **msgs, size_t max, int timeout_ms)
{
    /*
     * rd_kafka_consume_batch_queue() waits for the whole timeout unless it can
     * fill the batch. Take what is already fetched without waiting; block (for
     * a single message) only when nothing is there. While a batch is being
     * applied the fetcher keeps filling the queue, so batches grow with load.
     * librdkafka 2.0.2's fetcher, once the queue passed queued.min.messages,
     * sleeps up to a second: when the queue was half full and this poll
     * leaves it under a quarter, the waker thread wakes it.
     */
    if (c->queued_min > 0 && rd_kafka_queue_length(c->queue) >= (size_t)c->queued_min / 2)
        c->armed = true;
    ssize_t n = rd_kafka_consume_batch_queue(c->queue, 0, msgs, max);
    if (c->armed && rd_kafka_queue_length(c->queue) < (size_t)c->queued_min / 4) {
        c->armed = false;
        consume_ring(c);
    }
    if (n == 0 && max > 0) {
        n = rd_kafka_consume_batch_queue(c->queue, timeout_ms, msgs, 1);
        if (n == 1 && max > 1) {
            ssize_t more = rd_kafka_consume_batch_queue(c->queue, 0, msgs + 1, max - 1);
            if (more > 0)
                n += more;
        }
    }
    return n;
}

uint64_t consume_assignment_version(const struct consume *c)
{
    return c->version;
}

uint32_t consume_assignment_gen(const struct consume *c, int32_t partition)
{
    return partition >= 0 && partition < CONSUME_MAX_PARTS ? c->gen[partition] : 0;
}

enum jd_err consume_start_offset(struct consume *c, int32_t partition, int64_t *offset,
                                 int64_t *committed, char *errstr, size_t errstr_size)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_t *tp = rd_kafka_topic_partition_list_add(l, c->topic, partition);
    rd_kafka_resp_err_t e = rd_kafka_committed(c->rk, l, CONSUME_TIMEOUT_MS);
    if (!e)
        e = tp->err;
    *committed = tp->offset >= 0 ? tp->offset : -1;
    rd_kafka_topic_partition_list_destroy(l);
    if (e)
        return jd_errf(JD_ERR_KAFKA, errstr, errstr_size, "committed offset of %s [%d]: %s",
                       c->topic, (int)partition, rd_kafka_err2str(e));
    *offset = 0;
    if (c->start_at_end && *committed < 0) {
        int64_t lo, hi;
        e = rd_kafka_query_watermark_offsets(c->rk, c->topic, partition, &lo, &hi,
                                             CONSUME_TIMEOUT_MS);
        if (e)
            return jd_errf(JD_ERR_KAFKA, errstr, errstr_size, "watermarks of %s [%d]: %s", c->topic,
                           (int)partition, rd_kafka_err2str(e));
        *offset = hi;
    }
    return JD_OK;
}

enum jd_err consume_seek_resume(struct consume *c, int32_t partition, int64_t offset, char *errstr,
                                size_t errstr_size)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_t *tp = rd_kafka_topic_partition_list_add(l, c->topic, partition);
    enum jd_err ret = JD_OK;

    /* the logical beginning, not 0: Kafka may have deleted offset 0, and a seek out of range
     * would follow auto.offset.reset (latest: to the end) */
    tp->offset = offset > 0 ? offset : RD_KAFKA_OFFSET_BEGINNING;
    /* seek purges messages fetched from the old position */
    rd_kafka_error_t *e = rd_kafka_seek_partitions(c->rk, l, CONSUME_TIMEOUT_MS);
    if (e) {
        ret = jd_errf(JD_ERR_KAFKA, errstr, errstr_size, "seek partition %d: %s", (int)partition,
                      rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
    } else if (tp->err) {
        ret = jd_errf(JD_ERR_KAFKA, errstr, errstr_size, "seek partition %d: %s", (int)partition,
                      rd_kafka_err2str(tp->err));
    } else {
        rd_kafka_resume_partitions(c->rk, l);
        /* librdkafka reports a partition's end once per offset: if a fetch that raced the
         * pause on assignment reported it already, a seek back to that very offset gets
         * no second report, so a partition resumed at its end is marked so here */
        int64_t lo, hi;
        if (partition >= 0 && partition < CONSUME_MAX_PARTS) {
            c->at_eof[partition] = offset >= 0 &&
                                   !rd_kafka_query_watermark_offsets(
                                       c->rk, c->topic, partition, &lo, &hi, CONSUME_TIMEOUT_MS) &&
                                   offset >= hi;
            c->eof_at[partition] = offset;
            c->eof_fetched[partition] = false;
        }
    }
    rd_kafka_topic_partition_list_destroy(l);
    return ret;
}

void consume_pause(struct consume *c, const int32_t *partitions, size_t n)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)(n ? n : 16));
    if (n) {
        for (size_t i = 0; i < n; i++)
            rd_kafka_topic_partition_list_add(l, c->topic, partitions[i]);
    } else {
        for (int32_t p = 0; p < CONSUME_MAX_PARTS; p++)
            if (c->assigned[p])
                rd_kafka_topic_partition_list_add(l, c->topic, p);
    }
    if (l->cnt)
        rd_kafka_pause_partitions(c->rk, l);
    rd_kafka_topic_partition_list_destroy(l);
}

void consume_store_offsets(struct consume *c, const int32_t *parts, const int64_t *offsets,
                           size_t n)
{
    if (!n)
        return;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)n);
    for (size_t i = 0; i < n; i++)
        if (parts[i] >= 0 && parts[i] < CONSUME_MAX_PARTS && c->assigned[parts[i]])
            rd_kafka_topic_partition_list_add(l, c->topic, parts[i])->offset = offsets[i];
    /* best effort: Kafka's copy is only for lag monitoring */
    if (l->cnt)
        rd_kafka_offsets_store(c->rk, l);
    rd_kafka_topic_partition_list_destroy(l);
}

/* The watermarks of the client's last fetch response for \p partition (cached, no request). */
static bool consume_cached_marks(const struct consume *c, int32_t partition, int64_t *lo,
                                 int64_t *hi)
{
    return !rd_kafka_get_watermark_offsets(c->rk, c->topic, partition, lo, hi);
}

void consume_note_eof(struct consume *c, int32_t partition, int64_t offset)
{
    if (partition >= 0 && partition < CONSUME_MAX_PARTS) {
        c->at_eof[partition] = true;
        c->eof_at[partition] = offset;
        c->eof_fetched[partition] = true;
    }
}

int64_t consume_log_start(const struct consume *c, int32_t partition)
{
    int64_t lo, hi;
    return consume_cached_marks(c, partition, &lo, &hi) && lo >= 0 ? lo : -1;
}

void consume_note_message(struct consume *c, int32_t partition)
{
    if (partition >= 0 && partition < CONSUME_MAX_PARTS)
        c->at_eof[partition] = false;
}

bool consume_all_at_eof(const struct consume *c)
{
    size_t n = 0;
    for (int32_t p = 0; p < CONSUME_MAX_PARTS; p++) {
        if (!c->assigned[p])
            continue;
        /*
         * An end seen on a seek comes from a watermark query, which under
         * broker faults librdkafka 2.0.2 can answer too low
         * (tests/integration/test_faults.py): the log end of the last fetch
         * response must confirm it. An end a fetch reported stands (it may be
         * a transaction's last stable offset, short of the log end).
         */
        if (!c->at_eof[p])
            return false;
        int64_t end = consume_log_end(c, p); /* -1: no fetch response yet */
        if (!c->eof_fetched[p] && (end < 0 || c->eof_at[p] < end))
            return false;
        n++;
    }
    return n > 0;
}

size_t consume_assigned_count(const struct consume *c)
{
    size_t n = 0;
    for (int32_t p = 0; p < CONSUME_MAX_PARTS; p++)
        n += c->assigned[p];
    return n;
}

int64_t consume_lag(const struct consume *c, const int32_t *parts, const int64_t *next, size_t n)
{
    int64_t lag = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t hi = consume_log_end(c, parts[i]);
        if (hi < 0)
            return -1;
        if (hi > next[i])
            lag += hi - next[i];
    }
    return lag;
}

int64_t consume_log_end(const struct consume *c, int32_t partition)
{
    int64_t lo, hi;
    return consume_cached_marks(c, partition, &lo, &hi) && hi >= 0 ? hi : -1;
}

bool consume_failed(const struct consume *c)
{
    return c->fatal;
}
