/*
 * loop.c — wires consume -> pipeline -> publish (DLQ) -> store into one
 * single-threaded loop, and decides what to do when a part fails.
 *
 * Owns the order of operations that makes the delivery guarantees hold:
 * partitions are consumed only after being claimed in Redis and positioned
 * at Redis's offsets; a batch's dead letters are acknowledged before the
 * batch is applied; Kafka offsets are stored only after Redis applied them;
 * any doubt about Redis (error, timeout, reconnect) pauses everything and
 * re-claims. Batch N's script runs in Redis while batch N+1 is decoded and
 * prepared; N's outcome is read, then the rules are evaluated (Redis is idle
 * then), then N+1 is sent, so at most one batch is ever in flight and a
 * failure drops both. It owns no data structure of its own.
 */
#include "loop.h"

#include "admin.h"
#include "consume/broker.h"
#include "consume/consume.h"
#include "core/jd.h"
#include "core/log.h"
#include "core/ts.h"
#include "evaluate/rule.h"
#include "evaluator.h"
#include "attribute/attr.h"
#include "observe/notify.h"
#include "pipeline.h"
#include "publish/publish.h"
#include "store/store.h"

#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LOOP_MAX_PARTS   4096
#define LOOP_EXIT_CONFIG 78 /* EX_CONFIG: systemd's RestartPreventExitStatus */
/*
 * A partition Kafka still assigns here although another instance claimed it
 * in Redis (a zombie, or a rebalance this instance has not seen yet) is
 * taken back after this long: fencing keeps totals exact either way, and a
 * real new owner is revoked from us by Kafka well within it.
 */
#define LOOP_FENCED_GRACE_MS 60000

/*
 * How often the cardinality guard re-reads Redis's series index for what
 * other instances added: between two reads, each instance admits new series
 * against what it knows, so a group of k instances can pass a limit by what
 * the other k - 1 add in this time.
 */
#define LOOP_CENSUS_MS 10000

struct loop {
    struct config *cfg;
    const struct loop_opts *opts;
    struct broker *broker;
    struct store *store;
    struct pipeline *pipe;
    struct publish *pub;
    struct consume *cons;
    struct evaluator *ev;
    rd_kafka_message_t **msgs;
    char owner[128];
    char err[JD_ERRSTR_SIZE];
    int64_t backoff_ms, next_redis_try;
    int64_t last_housekeeping, last_progress, last_gc;
    uint64_t logged_gaps, logged_missing, logged_trims; /* pipeline_counters' holes logged */
    int64_t census_at;    /* monotonic: the guard's next census; 0: before the next claim */
    uint64_t progress_ok; /* ok count at the last progress line */
    uint64_t trimmed_ok;  /* ok count when the heap was last trimmed */
    int64_t first_msg_ms; /* first message consumed (monotonic) */
    /* where the loop's time went since the first message, seconds: waiting for
     * messages, decoding and aggregating them, waiting for the previous
     * batch's flush, attributing and sending a batch, evaluating rules
     * (between a flush's answer and the next send) and housekeeping (the
     * "stopped" line) */
    struct {
        double poll, build, wait, send, eval, chores;
    } spent;
    int64_t last_commit_ms; /* last batch applied in Redis */
    uint64_t consumed;
    /* the assignment as the pipeline knows it (consume_assignment_gen()) */
    uint64_t assignment_version;
    uint32_t synced_gen[LOOP_MAX_PARTS];
    int64_t fenced_since[LOOP_MAX_PARTS];   /* monotonic ms; 0: not fenced */
    int64_t claim_retry_at[LOOP_MAX_PARTS]; /* after a failed claim or seek */
    int32_t claim_backoff_ms[LOOP_MAX_PARTS];
    struct admin_stats stats;
    struct admin_src src; /* what /metrics, /-/ready and the status page read */
    struct admin *admin;  /* NULL: http.listen is empty */
    bool notified_ready;
    double sent_at; /* monotonic s: the batch in flight was sent */
};

static void loop_backoff(struct loop *l, int64_t now)
{
    /* 100 ms doubling to 5 s, with jitter so a group does not retry in lockstep */
    l->backoff_ms = l->backoff_ms ? JD_MIN(l->backoff_ms * 2, 5000) : 100;
    l->next_redis_try = now + l->backoff_ms / 2 + rand() % (l->backoff_ms / 2 + 1);
}

/* Stop consuming and retry later; `down`: the connection is in doubt too. */
static void loop_hold(struct loop *l, bool down, const char *msg, const char *what, const char *why)
{
    int64_t now = ts_mono_ms();
    if (down)
        store_disconnect(l->store);
    pipeline_unclaim_all(l->pipe);
    consume_pause(l->cons, NULL, 0);
    loop_backoff(l, now);
    log_error("loop", msg, "during=%s error=%s retry_ms=%lld", what, log_q(why),
              (long long)(l->next_redis_try - now));
}

/* Redis is gone or in doubt: stop consuming, forget claims, reconnect later. */
static void loop_redis_down(struct loop *l, const char *what, const char *why)
{
    loop_hold(l, true, "Redis unavailable: partitions paused", what, why);
}

static void loop_try_connect(struct loop *l)
{
    int64_t now = ts_mono_ms();
    if (store_is_connected(l->store) || now < l->next_redis_try)
        return;
    if (store_connect(l->store, l->err, sizeof(l->err)) != JD_OK) {
        loop_backoff(l, now);
        log_warn("loop", "Redis connect failed", "error=%s retry_ms=%lld", log_q(l->err),
                 (long long)(l->next_redis_try - now));
        return;
    }
    l->backoff_ms = 0;
    l->census_at = 0;              /* the index may be another one now: know it before consuming */
    pipeline_unclaim_all(l->pipe); /* whatever was in flight: re-claim and re-seek */
    const char *policy = store_maxmemory_policy(l->store);
    if (*policy && strcmp(policy, "noeviction"))
        log_warn("loop", "Redis may evict keys: offsets and windows could silently vanish",
                 "maxmemory_policy=%s advice=noeviction", policy);
    char url[1024];
    config_redact_url(l->cfg->redis.url, url, sizeof(url));
    log_info("loop", "Redis connected", "url=%s", log_q(url));
}

/*
 * Bring the pipeline's partition table in line with Kafka's assignment. A
 * partition whose generation changed was revoked and assigned again (maybe
 * within one poll): it is dropped and tracked afresh, so it is re-claimed.
 */
static void loop_assignments(struct loop *l)
{
    uint64_t v = consume_assignment_version(l->cons);
    if (v == l->assignment_version)
        return;
    l->assignment_version = v;
    for (int32_t p = 0; p < LOOP_MAX_PARTS; p++) {
        uint32_t g = consume_assignment_gen(l->cons, p);
        if (g == l->synced_gen[p])
            continue;
        if (l->synced_gen[p])
            pipeline_revoke(l->pipe, p);
        l->synced_gen[p] = 0;
        l->fenced_since[p] = l->claim_retry_at[p] = 0;
        l->claim_backoff_ms[p] = 0;
        if (g && !pipeline_assign(l->pipe, p)) {
            l->assignment_version = 0; /* out of memory: try again next turn */
            continue;
        }
        l->synced_gen[p] = g;
    }
}

/* Rules: one evaluator run, and the watermark it knows for the pipeline's lateness. */
static void loop_evaluate(struct loop *l)
{
    double t = ts_mono_s();
    evaluator_run(l->ev);
    pipeline_set_watermark(l->pipe, evaluator_watermark(l->ev));
    if (l->first_msg_ms)
        l->spent.eval += ts_mono_s() - t;
}

/* Claim one partition and position the consumer where Redis says it resumes. */
static enum jd_err loop_claim_one(struct loop *l, int32_t part)
{
    int64_t offset;
    const char *how = "stored";
    enum jd_err e = pipeline_claim(l->pipe, part, &offset, l->err, sizeof(l->err));
    if (!e && offset < 0) {
        /* first owner ever: pick the start from Kafka and record it before reading */
        int64_t committed;
        how = "first_claim";
        e = consume_start_offset(l->cons, part, &offset, &committed, l->err, sizeof(l->err));
        if (!e && committed >= 0) {
            /* the group read it before: Redis came back empty (or is another Redis) */
            how = "redis_state_lost";
            l->stats.state_lost++;
            log_error("loop",
                      "Redis has no record of a partition this group has consumed: Redis lost "
                      "its state; re-reading what Kafka still holds",
                      "partition=%d committed_offset=%lld resume_offset=%lld", (int)part,
                      (long long)committed, (long long)offset);
        }
        if (!e)
            e = pipeline_pin(l->pipe, part, &offset, l->err, sizeof(l->err));
    }
    if (!e)
        e = consume_seek_resume(l->cons, part, offset, l->err, sizeof(l->err));
    if (e) {
        if (pipeline_part_state(l->pipe, part) == PIPELINE_ACTIVE)
            pipeline_unclaim(l->pipe, part); /* stays paused until claimed again */
        return e;
    }
    log_info("loop", "partition claimed", "partition=%d resume_offset=%lld from=%s", (int)part,
             (long long)offset, how);
    return JD_OK;
}

/* The cardinality guard learns Redis's series index when due; false when Redis went down. */
static bool loop_census(struct loop *l, int64_t now)
{
    if (now < l->census_at)
        return true;
    enum jd_err e = pipeline_census(l->pipe, l->err, sizeof(l->err));
    if (e == JD_ERR_REDIS) {
        loop_redis_down(l, "census", l->err);
        return false;
    }
    l->census_at = now + LOOP_CENSUS_MS;
    if (e) /* the guard knows less: it refuses later than it should, never wrongly */
        log_warn("loop", "cannot read the series index for the cardinality limits", "error=%s",
                 log_q(l->err));
    return true;
}

/* Claim and position every unclaimed partition (needs Redis and no batch in flight). */
static void loop_claim(struct loop *l)
{
    int32_t parts[LOOP_MAX_PARTS];
    int64_t now = ts_mono_ms();
    if (!store_is_connected(l->store) || pipeline_in_flight(l->pipe) || now < l->next_redis_try)
        return;

    if (!l->census_at && !loop_census(l, now))
        return;
    size_t n = JD_MIN(pipeline_partitions(l->pipe, parts, LOOP_MAX_PARTS), LOOP_MAX_PARTS);
    for (size_t i = 0; i < n; i++) {
        int32_t part = parts[i];
        enum pipeline_part_state st = pipeline_part_state(l->pipe, part);
        if (st == PIPELINE_FENCED) {
            if (now - l->fenced_since[part] < LOOP_FENCED_GRACE_MS)
                continue;
            log_warn("loop",
                     "partition still assigned here but owned by another instance: "
                     "taking it back",
                     "partition=%d fenced_for_ms=%lld", (int)part,
                     (long long)(now - l->fenced_since[part]));
        } else if (st != PIPELINE_UNCLAIMED || now < l->claim_retry_at[part]) {
            continue;
        }
        l->fenced_since[part] = 0;
        enum jd_err e = loop_claim_one(l, part);
        if (e == JD_ERR_REDIS) {
            loop_redis_down(l, "claim", l->err);
            return;
        }
        if (e == JD_ERR_FENCED) {
            l->fenced_since[part] = now;
            log_warn("loop", "partition claimed by another instance meanwhile", "partition=%d",
                     (int)part);
        } else if (e) {
            /* per partition, 1 s doubling to 30 s: one bad partition must not stall the rest */
            int32_t *b = &l->claim_backoff_ms[part];
            *b = *b ? JD_MIN(*b * 2, 30000) : 1000;
            l->claim_retry_at[part] = now + *b;
            log_error("loop", "cannot claim partition", "partition=%d error=%s retry_ms=%d",
                      (int)part, log_q(l->err), (int)*b);
        } else {
            l->claim_backoff_ms[part] = 0;
            l->claim_retry_at[part] = 0;
        }
    }
}

static void loop_after_refusal(struct loop *l)
{
    /* Fenced partitions wait for Kafka to reassign them (or the grace period); others re-claim. */
    int32_t parts[LOOP_MAX_PARTS], fenced[LOOP_MAX_PARTS];
    int64_t now = ts_mono_ms();
    size_t nf = 0, n = JD_MIN(pipeline_partitions(l->pipe, parts, LOOP_MAX_PARTS), LOOP_MAX_PARTS);
    for (size_t i = 0; i < n; i++)
        if (pipeline_part_state(l->pipe, parts[i]) == PIPELINE_FENCED) {
            fenced[nf++] = parts[i];
            if (!l->fenced_since[parts[i]])
                l->fenced_since[parts[i]] = now;
        }
    if (nf) {
        consume_pause(l->cons, fenced, nf);
        log_warn("loop", "partitions owned by another instance: paused until reassigned",
                 "count=%zu grace_ms=%d", nf, LOOP_FENCED_GRACE_MS);
    }
}

/* Waits for the batch in flight (if any) and acts on its outcome. */
static void loop_finish(struct loop *l)
{
    if (!pipeline_in_flight(l->pipe))
        return;
    enum jd_err e = pipeline_recv(l->pipe, l->err, sizeof(l->err));
    metrics_hist_observe(&l->stats.flush_seconds, ts_mono_s() - l->sent_at);
    if (e == JD_OK) {
        int32_t parts[LOOP_MAX_PARTS];
        int64_t offs[LOOP_MAX_PARTS];
        l->backoff_ms = 0;
        l->last_commit_ms = ts_mono_ms();
        evaluator_poke(l->ev);
        size_t np = pipeline_positions(l->pipe, parts, offs, LOOP_MAX_PARTS);
        consume_store_offsets(l->cons, parts, offs, np);
    } else if (e == JD_ERR_GAP || e == JD_ERR_FENCED) {
        log_warn("loop", "batch refused by Redis; re-reading from stored offsets", "error=%s",
                 log_q(l->err));
        loop_after_refusal(l);
    } else if (e == JD_ERR_CORRUPT) {
        /* nothing was written; retrying cannot help until someone fixes the key */
        loop_hold(l, false, "Redis holds a key journeyd cannot write: partitions paused", "flush",
                  l->err);
    } else {
        loop_redis_down(l, "flush", l->err);
    }
}

/*
 * Partitions whose every message has been consumed tell Redis so with the
 * batch: a quiet partition then holds the group's watermark no further back
 * than now, instead of at its last event (rules.md, "Evaluation semantics").
 */
static void loop_log_ends(struct loop *l)
{
    int32_t parts[LOOP_MAX_PARTS];
    size_t n = JD_MIN(pipeline_partitions(l->pipe, parts, LOOP_MAX_PARTS), LOOP_MAX_PARTS);
    int64_t now = ts_mono_ms();
    for (size_t i = 0; i < n; i++)
        pipeline_log_end(l->pipe, parts[i], consume_log_end(l->cons, parts[i]), now);
}

/*
 * Runs one batch through the pipeline, then collects the previous batch's
 * outcome (its script ran while this one was decoded), evaluates the rules
 * and sends this one.
 */
static void loop_batch(struct loop *l, ssize_t n)
{
    struct event_header hdrs[64];
    size_t ndlq = 0;
    char detail[512];
    /* one clock reading per batch: events.max_future needs no finer grain */
    int64_t now_wall = ts_now_ms();
    double t0 = ts_mono_s();

    pipeline_begin(l->pipe);
    if (!l->first_msg_ms && n > 0)
        l->first_msg_ms = ts_mono_ms();
    for (ssize_t i = 0; i < n; i++) {
        rd_kafka_message_t *m = l->msgs[i];
        if (m->err) {
            if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                consume_note_eof(l->cons, m->partition, m->offset);
                /* at its end with nothing read: retention deleted all before the log start */
                int64_t start = consume_log_start(l->cons, m->partition);
                if (start > 0 && start >= m->offset)
                    pipeline_log_start(l->pipe, m->partition, m->offset);
            } else
                log_warn("loop", "consumer error", "error=%s detail=%s", rd_kafka_err2name(m->err),
                         log_q(rd_kafka_message_errstr(m)));
            continue;
        }
        consume_note_message(l->cons, m->partition);
        l->consumed++;

        /* headers as the decoder sees them (binary CloudEvents) */
        size_t nh = 0;
        rd_kafka_headers_t *kh = NULL;
        if (rd_kafka_message_headers(m, &kh) == RD_KAFKA_RESP_ERR_NO_ERROR && kh) {
            const char *name;
            const void *val;
            size_t len;
            for (size_t k = 0;
                 nh < JD_ARRAY_SIZE(hdrs) && !rd_kafka_header_get_all(kh, k, &name, &val, &len);
                 k++)
                hdrs[nh++] = (struct event_header){ name, val, len };
        }
        struct pipeline_msg pm = { m->partition, m->offset, m->payload, m->len, hdrs, nh };
        enum jd_err reason = JD_OK;
        enum pipeline_verdict v =
            pipeline_add(l->pipe, &pm, now_wall, &reason, detail, sizeof(detail));
        if (v == PIPELINE_DLQ) {
            if (publish_dlq(l->pub, m, reason, detail, l->err, sizeof(l->err)) != JD_OK) {
                log_error("loop", "cannot queue a dead letter; batch abandoned", "error=%s",
                          log_q(l->err));
                pipeline_abort(l->pipe);
                break;
            }
            ndlq++;
            log_debug("loop", "dead letter", "partition=%d offset=%lld reason=%s detail=%s",
                      (int)m->partition, (long long)m->offset, jd_err2name(reason), log_q(detail));
        } else if (v == PIPELINE_SKIP && reason == JD_ERR_NOMEM) {
            log_error("loop", "out of memory; batch abandoned", "%s", "");
            break;
        }
    }
    loop_log_ends(l);
    if (ndlq && pipeline_pending(l->pipe) &&
        publish_wait(l->pub, 30000, l->err, sizeof(l->err)) != JD_OK) {
        /* the DLQ is unavailable: do not advance past its messages */
        log_error("loop", "dead letters not acknowledged; batch will be re-read", "error=%s",
                  log_q(l->err));
        pipeline_abort(l->pipe); /* its partitions are re-claimed and re-read */
    }
    pipeline_prepare(l->pipe); /* while the previous batch's flush runs */
    double tb = ts_mono_s();
    loop_finish(l); /* a failure here drops this batch too: it continued from that one */
    double tw = ts_mono_s();
    l->spent.build += tb - t0;
    l->spent.wait += tw - tb;
    /*
     * Rules now, while Redis is idle: its flush just answered. Right after the
     * send, the evaluator's reads would wait behind the script, and the loop
     * with them, instead of building the next batch meanwhile.
     */
    loop_evaluate(l);
    tw = ts_mono_s();
    if (pipeline_pending(l->pipe)) {
        l->sent_at = ts_mono_s();
        metrics_hist_observe(&l->stats.batch_seconds, l->sent_at - t0);
        enum jd_err e = pipeline_send(l->pipe, l->err, sizeof(l->err));
        if (e == JD_ERR_REDIS)
            loop_redis_down(l, "flush", l->err);
        else if (e == JD_ERR_CORRUPT)
            loop_hold(l, false, "Redis holds a key journeyd cannot write: partitions paused",
                      "attribution", l->err);
        else if (e)
            log_error("loop", "cannot send the batch; it will be re-read", "error=%s",
                      log_q(l->err));
    }
    l->spent.send += ts_mono_s() - tw;
}

/*
 * A catch-up peaks at the fetch queue plus the batches in flight (README
 * "Sizing"), and glibc keeps most of that mapped after it is freed: once the
 * consumer is near the end again, hand it back. At most every ten seconds
 * (from the progress block) and only after a few batches' worth of events.
 */
static void loop_trim(struct loop *l, long long lag, uint64_t ok)
{
    uint64_t batch = (uint64_t)l->cfg->batch.max_events;
    if (lag < 0 || (uint64_t)lag > batch || ok - l->trimmed_ok < 4 * batch)
        return;
    l->trimmed_ok = ok;
#ifdef __GLIBC__
    malloc_trim(0);
#endif
}

/*
 * Holes in a partition's offsets, at most one line a second: harmless after
 * compaction or transactions, lost events after retention or an offset reset
 * overtook the consumer, so they are never silent.
 */
static void loop_log_gaps(struct loop *l)
{
    const struct pipeline_counters *c = pipeline_counters(l->pipe);
    if (c->starts_trimmed != l->logged_trims) {
        /* a first owner on a topic with retention: expected; after Redis lost its state: the
         * windows before are gone for good */
        log_warn("loop",
                 "Kafka no longer holds the start of a partition read from its beginning: "
                 "windows before its first retained event are incomplete",
                 "partitions=%llu last_partition=%d first_offset=%lld",
                 (unsigned long long)(c->starts_trimmed - l->logged_trims),
                 (int)c->last_trimmed_partition, (long long)c->last_trimmed_first);
        l->logged_trims = c->starts_trimmed;
    }
    if (c->offset_gaps == l->logged_gaps)
        return;
    /* holes of one offset each are a transactional producer's commit markers: no news */
    uint64_t holes = c->offset_gaps - l->logged_gaps;
    enum log_level lvl =
        c->offsets_missing - l->logged_missing == holes ? LOG_LVL_INFO : LOG_LVL_WARN;
    if (log_threshold >= lvl)
        log_write(lvl, "loop",
                  "Kafka skipped offsets of a partition (compaction, transaction markers, "
                  "retention or an offset reset)",
                  "holes=%llu offsets_missing=%llu last_partition=%d last_from=%lld last_to=%lld",
                  (unsigned long long)holes, (unsigned long long)c->offsets_missing,
                  (int)c->last_gap_partition, (long long)c->last_gap_from,
                  (long long)c->last_gap_to);
    l->logged_gaps = c->offset_gaps;
    l->logged_missing = c->offsets_missing;
}

static void loop_housekeeping(struct loop *l, int64_t now)
{
    publish_poll(l->pub);
    loop_finish(l); /* GC and compaction need the connection to themselves */
    if (store_is_connected(l->store) && store_compact_pending(l->store)) {
        size_t done;
        enum jd_err e = store_compact(l->store, 256, &done, l->err, sizeof(l->err));
        if (e == JD_ERR_REDIS)
            loop_redis_down(l, "compact", l->err);
        else if (e)
            log_warn("loop", "chunk compaction failed", "error=%s", log_q(l->err));
    }
    if (store_is_connected(l->store) && !loop_census(l, now))
        return;
    if (store_is_connected(l->store) && now - l->last_gc >= 10000) {
        size_t deleted;
        int64_t cutoff;
        l->last_gc = now;
        enum jd_err e = store_gc(l->store, 10000, &deleted, &cutoff, l->err, sizeof(l->err));
        if (e == JD_ERR_REDIS)
            loop_redis_down(l, "gc", l->err);
        else if (e)
            log_warn("loop", "garbage collection failed", "error=%s", log_q(l->err));
        else if (deleted)
            log_debug("loop", "expired keys deleted", "count=%zu", deleted);
    }
    loop_log_gaps(l);
    if (now - l->last_progress >= 10000) {
        const struct pipeline_counters *c = pipeline_counters(l->pipe);
        int32_t parts[LOOP_MAX_PARTS];
        int64_t offs[LOOP_MAX_PARTS];
        size_t np = pipeline_positions(l->pipe, parts, offs, LOOP_MAX_PARTS);
        double secs = (double)(now - l->last_progress) / 1000.0;
        long long lag = (long long)consume_lag(l->cons, parts, offs, np);
        if (l->last_progress)
            log_info("loop", "progress",
                     "events_per_sec=%.0f ok=%llu dup=%llu dlq=%llu too_old=%llu late=%llu "
                     "partitions=%zu lag=%lld redis=%s",
                     (double)(c->ok - l->progress_ok) / secs, (unsigned long long)c->ok,
                     (unsigned long long)c->dup, (unsigned long long)c->dlq,
                     (unsigned long long)c->too_old, (unsigned long long)c->late,
                     consume_assigned_count(l->cons), lag,
                     store_is_connected(l->store) ? "up" : "down");
        char wm[TS_RFC3339_SIZE] = "none";
        if (evaluator_watermark(l->ev) != INT64_MIN)
            ts_format_rfc3339(evaluator_watermark(l->ev), wm, sizeof(wm));
        notify_status("%.0f events/s, lag %lld, watermark %s, Redis %s",
                      l->last_progress ? (double)(c->ok - l->progress_ok) / secs : 0.0, lag, wm,
                      store_is_connected(l->store) ? "up" : "down");
        const struct attr_counters *ac = pipeline_attr_counters(l->pipe);
        if (l->last_progress && ac)
            log_info("loop", "attribution",
                     "conversions=%llu credits=%llu none=%llu touches=%llu appended_unread=%llu "
                     "dropped_touches=%llu expired_journeys=%llu null_paths=%llu damaged=%llu "
                     "weights_learnt=%llu learn_errors=%llu",
                     (unsigned long long)ac->conversions, (unsigned long long)ac->credits,
                     (unsigned long long)ac->none, (unsigned long long)ac->touches,
                     (unsigned long long)ac->appended, (unsigned long long)ac->dropped,
                     (unsigned long long)ac->expired, (unsigned long long)ac->null_paths,
                     (unsigned long long)ac->corrupt, (unsigned long long)ac->learnt,
                     (unsigned long long)ac->learn_errors);
        l->progress_ok = c->ok;
        l->last_progress = now;
        loop_trim(l, lag, c->ok);
    }
}

/*
 * Compiles the rule files; logs every diagnostic once. NULL when any has an
 * error, the first of which goes to \p why.
 */
static struct ruleset *loop_load_rules(struct loop *l, char *why, size_t why_size)
{
    struct rule_diags d = { 0 };
    int64_t t0 = ts_mono_ms();
    struct window_retention ret = rule_retention(l->cfg);
    struct ruleset *rs = ruleset_load(l->cfg->rules.dirs.v, l->cfg->rules.dirs.n, &ret, &d);
    for (size_t i = 0; i < d.n; i++) {
        if (strstr(d.v[i], ": warning: ")) {
            log_warn("rules", "rule file warning", "diagnostic=%s", log_q(d.v[i]));
            continue;
        }
        log_error("rules", "rule file error", "diagnostic=%s", log_q(d.v[i]));
        if (!*why)
            snprintf(why, why_size, "%s", d.v[i]);
    }
    if (rs)
        log_info("rules", "rules loaded", "rules=%zu groups=%zu files=%zu compile_ms=%lld",
                 rs->nrules, rs->ngroups, rs->nfiles, (long long)(ts_mono_ms() - t0));
    rule_diags_free(&d);
    return rs;
}

/* Records a (re)load's outcome for /metrics and the status page. */
static void loop_reload_result(struct loop *l, bool ok, const char *why)
{
    int64_t now = ts_now_ms();
    l->stats.last_reload_try_ms = now;
    l->stats.last_reload_ok = ok;
    if (ok) {
        l->stats.last_reload_ms = now;
        l->stats.last_reload_error[0] = '\0';
    } else {
        snprintf(l->stats.last_reload_error, sizeof(l->stats.last_reload_error), "%s", why);
        l->stats.reload_failures++;
    }
}

/* SIGHUP or POST /-/reload: all or nothing — a new ruleset only if every file compiles. */
static void loop_reload(void *opaque)
{
    struct loop *l = opaque;
    log_info("loop", "reloading rules (other configuration changes need a restart)", "config=%s",
             log_q(l->opts->config_path ? l->opts->config_path : "(none)"));
    /* before the first READY=1 (partitions not claimed yet) a reload must not announce one */
    if (l->notified_ready)
        notify_reloading();
    l->stats.reloads++;
    /* the whole reload (files read, compiled, swapped in), as operations.md's target counts it */
    double t0 = ts_mono_s();
    char why[512] = "";
    struct ruleset *rs = loop_load_rules(l, why, sizeof(why));
    if (!rs) {
        log_error("rules", "reload failed: the previous rules keep running", "%s", "");
        loop_reload_result(l, false, why);
    } else if (evaluator_set_ruleset(l->ev, rs, l->err, sizeof(l->err))) {
        log_error("rules", "reload failed: the previous rules keep running", "error=%s",
                  log_q(l->err));
        loop_reload_result(l, false, l->err);
    } else {
        loop_reload_result(l, true, NULL);
        log_info("rules", "reloaded", "rules=%zu took_ms=%.1f", rs->nrules,
                 (ts_mono_s() - t0) * 1000.0);
    }
    if (l->notified_ready)
        notify_ready();
}

static int loop_setup(struct loop *l)
{
    char host[64] = "localhost";
    const char *bootstrap = l->cfg->kafka.brokers;

    gethostname(host, sizeof(host) - 1);
    srand((unsigned)(ts_now_ms() ^ getpid()));
    snprintf(l->owner, sizeof(l->owner), "%s:%d:%08x", host, (int)getpid(), (unsigned)rand());

    if (!strcmp(bootstrap, "embedded")) {
        const char *topics[] = { l->cfg->kafka.topics.events, l->cfg->kafka.topics.dlq,
                                 l->cfg->kafka.topics.alerts };
        if (!(l->broker = broker_new(1, l->err, sizeof(l->err))))
            goto fail;
        for (size_t i = 0; i < JD_ARRAY_SIZE(topics); i++)
            if (broker_create_topic(l->broker, topics[i], (int)l->cfg->kafka.embedded_partitions,
                                    l->err, sizeof(l->err)))
                goto fail;
        bootstrap = broker_bootstraps(l->broker);
        log_info("loop", "embedded Kafka broker started", "bootstrap=%s events_topic=%s", bootstrap,
                 l->cfg->kafka.topics.events);
        /* on stdout too, so scripts (and people) can pick it up */
        printf("journeyd: embedded Kafka broker at %s — try: kcat -b %s -P -t %s\n", bootstrap,
               bootstrap, l->cfg->kafka.topics.events);
        fflush(stdout);
    }
    struct store_opts so;
    store_opts_from_config(&so, l->cfg);
    struct ruleset *rs = loop_load_rules(l, l->err, sizeof(l->err));
    if (!rs)
        return LOOP_EXIT_CONFIG;
    if (!(l->store = store_new(&so, l->err, sizeof(l->err))) ||
        !(l->pipe = pipeline_new(l->cfg, l->store, l->owner, l->err, sizeof(l->err))) ||
        !(l->pub = publish_new(l->cfg, bootstrap, l->err, sizeof(l->err)))) {
        ruleset_destroy(rs);
        goto fail;
    }
    if (!(l->ev = evaluator_new(l->cfg, rs, l->pub, l->owner, l->err, sizeof(l->err))) ||
        !(l->cons = consume_new(l->cfg, bootstrap, l->opts->exit_on_eof, l->err, sizeof(l->err))))
        goto fail;
    l->msgs = calloc((size_t)l->cfg->batch.max_events, sizeof(*l->msgs));
    if (!l->msgs) {
        snprintf(l->err, sizeof(l->err), "out of memory");
        goto fail;
    }
    l->stats.started_ms = ts_now_ms();
    loop_reload_result(l, true, NULL);
    l->src = (struct admin_src){
        l->cfg,    l->opts->config_path, l->owner, l->pipe, l->cons, l->store, l->ev,
        &l->stats, loop_reload,          l
    };
    if (*l->cfg->http.listen) {
        if (!(l->admin = admin_new(&l->src, l->err, sizeof(l->err))))
            goto fail;
        log_info("loop", "HTTP listening", "address=%s port=%d", log_q(l->cfg->http.listen),
                 admin_port(l->admin));
    }
    char url[1024];
    config_redact_url(l->cfg->redis.url, url, sizeof(url));
    log_info("loop", "started", "owner=%s group=%s topic=%s redis=%s", l->owner,
             l->cfg->kafka.group, l->cfg->kafka.topics.events, log_q(url));
    return 0;
fail:
    log_error("loop", "startup failed", "error=%s", log_q(l->err));
    return 1;
}

static void loop_teardown(struct loop *l)
{
    /* order: HTTP, consumer (leave group, commit stored offsets), producer (flush), Redis,
     * broker */
    admin_destroy(l->admin);
    consume_destroy(l->cons);
    evaluator_destroy(l->ev); /* before the producer: it waits for its alerts */
    publish_destroy(l->pub);
    pipeline_destroy(l->pipe);
    store_destroy(l->store);
    broker_destroy(l->broker);
    free(l->msgs);
}

int loop_run(struct config *cfg, const struct loop_opts *opts)
{
    struct loop l;
    int rc;

    memset(&l, 0, sizeof(l));
    l.cfg = cfg;
    l.opts = opts;
    if ((rc = loop_setup(&l)) != 0) {
        loop_teardown(&l);
        return rc;
    }
    while (!*opts->stop) {
        int64_t now = ts_mono_ms();
        if (*opts->reload) {
            *opts->reload = 0;
            loop_reload(&l);
        }
        if (l.admin)
            admin_run(l.admin);
        if (!l.notified_ready && admin_ready(&l.src)) {
            l.notified_ready = true;
            notify_ready();
            log_info("loop", "ready", "partitions=%zu", consume_assigned_count(l.cons));
        }
        notify_watchdog(now);
        loop_assignments(&l);
        if (!pipeline_in_flight(l.pipe)) {
            loop_try_connect(&l);
            loop_claim(&l);
        }
        if (consume_failed(l.cons)) {
            rc = 1;
            break;
        }
        /* with a batch in flight, do not wait for more: collect it instead */
        bool waiting = pipeline_in_flight(l.pipe);
        double tp = ts_mono_s();
        ssize_t n = consume_poll(l.cons, l.msgs, (size_t)cfg->batch.max_events,
                                 waiting ? 0 : (int)cfg->batch.max_wait_ms);
        if (l.first_msg_ms)
            l.spent.poll += ts_mono_s() - tp;
        if (n > 0) {
            loop_batch(&l, n);
            for (ssize_t i = 0; i < n; i++)
                rd_kafka_message_destroy(l.msgs[i]);
        } else {
            loop_finish(&l);
            loop_evaluate(&l);
        }
        double th = ts_mono_s();
        now = ts_mono_ms();
        if (now - l.last_housekeeping >= 1000) {
            l.last_housekeeping = now;
            loop_housekeeping(&l, now);
        }
        if (l.first_msg_ms)
            l.spent.chores += ts_mono_s() - th;
        if (opts->exit_on_eof && store_is_connected(l.store) && consume_all_at_eof(l.cons) &&
            !pipeline_pending(l.pipe) && !pipeline_in_flight(l.pipe) &&
            pipeline_all_active(l.pipe)) {
            log_info("loop", "every partition is at its end (--exit-on-eof)", "%s", "");
            /* the data is complete: evaluate up to its last event, as a replay would */
            if (!evaluator_drain(l.ev, (int)(cfg->rules.lease_ttl_ms + 30000)))
                log_warn("loop", "rules not evaluated to the end of the data before exiting", "%s",
                         "");
            break;
        }
    }
    notify_stopping();
    loop_finish(&l); /* drain: the last batch's outcome before leaving */
    loop_log_gaps(&l);
    const struct pipeline_counters *c = pipeline_counters(l.pipe);
    /* the rate the bench reports: first message consumed to last batch applied */
    double span =
        l.last_commit_ms > l.first_msg_ms ? (double)(l.last_commit_ms - l.first_msg_ms) : 0;
    log_info("loop", "stopped",
             "consumed=%llu ok=%llu dup=%llu dlq=%llu too_old=%llu "
             "batches=%llu redis_round_trips=%llu first_to_applied_ms=%.0f "
             "events_per_sec=%.0f poll_s=%.3f build_s=%.3f flush_wait_s=%.3f send_s=%.3f "
             "eval_s=%.3f chores_s=%.3f fetch_wakes=%llu",
             (unsigned long long)l.consumed, (unsigned long long)c->ok, (unsigned long long)c->dup,
             (unsigned long long)c->dlq, (unsigned long long)c->too_old,
             (unsigned long long)c->batches, (unsigned long long)store_round_trips(l.store), span,
             span > 0 ? (double)l.consumed * 1000.0 / span : 0.0, l.spent.poll, l.spent.build,
             l.spent.wait, l.spent.send, l.spent.eval, l.spent.chores,
             (unsigned long long)consume_fetch_wakes(l.cons));
    loop_teardown(&l);
    return rc;
}
