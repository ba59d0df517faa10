/*
 * evaluator.c — rule evaluation inside the daemon (see evaluator.h).
 *
 * Owns the lease life cycle, the watermark as this instance knows it, the
 * engine and its persisted state, the heartbeat alert and the rule of "save
 * only what Kafka acknowledged". The engine (evaluate/engine.c) decides
 * what fires; the store (store_eval.c) keeps the lease and state; publish.c
 * produces. It handles its own failures: each is logged once here, then
 * retried with backoff, never fatal.
 */
#include "evaluator.h"

#include "core/jd.h"
#include "core/log.h"
#include "core/ts.h"
#include "evaluate/engine.h"
#include "evaluate/qcache.h"
#include "evaluate/watermark.h"
#include "publish/alertmsg.h"
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EVALUATOR_MAX_PARTS    4096
#define EVALUATOR_PROGRESS_MS  100 /* read the partitions' progress at least this often */
#define EVALUATOR_POKED_MS     20  /* and after a batch, at most this often (Redis round trips) */
#define EVALUATOR_TICK_BUDGET  256 /* ticks per run, so that consuming goes on meanwhile */
#define EVALUATOR_HEARTBEAT    "JourneydHeartbeat"
#define EVALUATOR_HEARTBEAT_MS 60000
/* what one run may keep of what it read (qcache.h): hour and day chunks, series lists */
#define EVALUATOR_CACHE_BYTES (64u << 20)

struct evaluator {
    const struct config *cfg;
    struct ruleset *rs;
    struct engine *eng;
    struct store *store; /* its own connection */
    struct qcache *qc;   /* in front of store, for one run of ticks */
    struct publish *pub;
    char owner[128];
    char url[512];
    bool leader;
    bool awaiting;    /* messages produced; save once they are acknowledged */
    bool poked;       /* a batch was applied: progress is worth reading */
    bool draining;    /* evaluator_drain(): the data is complete */
    int64_t next_try; /* monotonic ms: reconnect or retry after a failure */
    int64_t backoff_ms;
    int64_t next_lease; /* monotonic ms */
    int64_t next_progress;
    int64_t last_progress; /* monotonic ms of the last read */
    int64_t wm;            /* INT64_MIN: unknown */
    int64_t now;           /* Redis's clock at the last progress read */
    int64_t hb_seq, hb_since, hb_minute;
    uint64_t produced; /* messages produced during this run */
    uint64_t messages;
    struct evaluator_status st;
    int64_t *group_wall_ms; /* behind st.group_wall_ms, one per group of rs */
    double *group_secs;
    struct store_progress *prog;
    int64_t rule_warn_ms; /* monotonic ms of the last "rule not evaluated" line */
    uint64_t rule_quiet;  /* such failures not logged since (the metrics count each) */
    char err[JD_ERRSTR_SIZE];
};

/*
 * A failing rule fails at every tick, and catching up evaluates thousands of
 * ticks a second: one line per 10 s, saying how many went unlogged, tells as
 * much (each failure is still counted, with its last error, per rule).
 */
#define EVALUATOR_RULE_WARN_MS 10000

static void evaluator_backoff(struct evaluator *ev)
{
    ev->backoff_ms = ev->backoff_ms ? JD_MIN(ev->backoff_ms * 2, 5000) : 200;
    ev->next_try = ts_mono_ms() + ev->backoff_ms;
}

/* Stop leading: whatever was evaluated but not saved is forgotten (the next leader redoes it). */
static void evaluator_step_down(struct evaluator *ev, const char *why)
{
    if (ev->leader)
        log_warn("evaluator", "no longer evaluating rules", "reason=%s", log_q(why));
    ev->leader = false;
    ev->awaiting = false;
    engine_reset(ev->eng);
    ev->wm = INT64_MIN;
}

/* Redis failed under us: drop the connection and leadership, retry later. */
static void evaluator_redis_failed(struct evaluator *ev, const char *what)
{
    log_error("evaluator", "Redis failed; rule evaluation paused", "during=%s error=%s", what,
              log_q(ev->err));
    store_disconnect(ev->store);
    evaluator_step_down(ev, "Redis connection lost");
    evaluator_backoff(ev);
}

/* Load the saved state into the engine: what the last leader had published and saved. */
static enum jd_err evaluator_load(struct evaluator *ev)
{
    struct store_evalstate st;
    enum jd_err e = store_eval_load(ev->store, &st, ev->err, sizeof(ev->err));
    if (e)
        return e;
    engine_reset(ev->eng);
    if (st.engine && engine_load(ev->eng, st.engine, st.engine_len, ev->err, sizeof(ev->err))) {
        /* an unreadable state is not a reason to stop alerting: start afresh, loudly */
        log_error("evaluator", "saved rule state unreadable; starting from scratch", "error=%s",
                  log_q(ev->err));
        engine_reset(ev->eng);
    }
    ev->wm = st.has_wm ? st.wm : INT64_MIN;
    ev->hb_seq = st.hb_seq;
    ev->hb_since = st.hb_since;
    store_evalstate_free(&st);
    /* the watermark went back to the saved one: read progress again before judging */
    ev->poked = true;
    ev->next_progress = 0;
    return JD_OK;
}

static enum jd_err evaluator_save(struct evaluator *ev)
{
    struct store_evalstate st = { 0 };
    enum jd_err e = engine_save(ev->eng, &st.engine, &st.engine_len, ev->err, sizeof(ev->err));
    if (e)
        return e;
    st.has_wm = ev->wm != INT64_MIN;
    st.wm = ev->wm;
    st.hb_seq = ev->hb_seq;
    st.hb_since = ev->hb_since;
    e = store_eval_save(ev->store, ev->owner, ev->cfg->rules.lease_ttl_ms, &st, ev->err,
                        sizeof(ev->err));
    store_evalstate_free(&st);
    if (!e)
        ev->next_lease = ts_mono_ms() + ev->cfg->rules.lease_ttl_ms / 3; /* saving renewed it */
    return e;
}

static enum jd_err evaluator_produce(void *opaque, const struct engine_msg *m, char *errstr,
                                     size_t errstr_size)
{
    struct evaluator *ev = opaque;
    char at[TS_RFC3339_SIZE];
    enum jd_err e = publish_alert(ev->pub, m->key, m->json, m->len, m->hdr_names, m->hdr_values,
                                  m->nhdrs, errstr, errstr_size);
    if (e)
        return e;
    ev->produced++;
    ev->messages++;
    *(m->firing ? &ev->st.msgs_firing : &ev->st.msgs_resolved) += 1;
    struct evaluator_recent *r = &ev->st.recent[ev->st.recent_next];
    *r = (struct evaluator_recent){
        .tick = m->tick, .wall_ms = ts_now_ms(), .firing = m->firing, .seq = m->seq
    };
    snprintf(r->group, sizeof(r->group), "%s", m->group);
    snprintf(r->alert, sizeof(r->alert), "%s", m->alert);
    snprintf(r->fingerprint, sizeof(r->fingerprint), "%s", m->key);
    ev->st.recent_next = (ev->st.recent_next + 1) % EVALUATOR_RECENT;
    if (ev->st.nrecent < EVALUATOR_RECENT)
        ev->st.nrecent++;
    ts_format_rfc3339(m->tick, at, sizeof(at));
    log_info("evaluator", "alert", "alertname=%s status=%s seq=%llu fingerprint=%s at=%s", m->alert,
             m->firing ? "firing" : "resolved", (unsigned long long)m->seq, m->key, at);
    return JD_OK;
}

/* The always-firing heartbeat, once per minute of Redis's clock. */
static enum jd_err evaluator_heartbeat(struct evaluator *ev, int64_t minute)
{
    struct alertmsg_label labels[] = { { "alertname", EVALUATOR_HEARTBEAT },
                                       { "severity", "info" } };
    char wm[TS_RFC3339_SIZE] = "none yet", desc[256], summary[128], fp[ALERTMSG_FP_HEX_SIZE];
    char *json = NULL;
    size_t len = 0;
    struct alertmsg_headers hdrs;

    if (ev->wm != INT64_MIN)
        ts_format_rfc3339(ev->wm, wm, sizeof(wm));
    snprintf(summary, sizeof(summary), "journeyd is evaluating %zu rules", ev->rs->nrules);
    snprintf(desc, sizeof(desc),
             "Always firing while journeyd evaluates rules (watermark %s). If these messages "
             "stop, alerts are not being evaluated.",
             wm);
    struct alertmsg_label ann[] = { { "description", desc }, { "summary", summary } };
    if (!ev->hb_since)
        ev->hb_since = minute;
    struct alertmsg m = {
        .status = ALERTMSG_FIRING,
        .state = "firing",
        .alertname = EVALUATOR_HEARTBEAT,
        .labels = labels,
        .nlabels = JD_ARRAY_SIZE(labels),
        .annotations = ann,
        .nannotations = JD_ARRAY_SIZE(ann),
        .starts_at_ms = ev->hb_since,
        .evaluated_at_ms = minute,
        /* the value: how far event time trails the clock, in seconds */
        .has_value = ev->wm != INT64_MIN,
        .value = ev->wm != INT64_MIN ? (double)(ev->now - ev->wm) / 1000.0 : 0,
        .group = "journeyd",
        .file = "",
        .expr = "vector(1)",
        .seq = (uint64_t)ev->hb_seq + 1,
        .receiver = ev->cfg->kafka.topics.alerts,
        .external_url = ev->url,
    };
    alertmsg_fingerprint_hex(alertmsg_fingerprint(labels, JD_ARRAY_SIZE(labels)), fp);
    enum jd_err e = alertmsg_format(&m, &json, &len, ev->err, sizeof(ev->err));
    if (!e)
        e = alertmsg_headers(&m, fp, &hdrs, ev->err, sizeof(ev->err));
    if (!e) {
        const char *hn[ALERTMSG_NHEADERS], *hv[ALERTMSG_NHEADERS];
        for (size_t i = 0; i < ALERTMSG_NHEADERS; i++) {
            hn[i] = hdrs.h[i].name;
            hv[i] = hdrs.h[i].value;
        }
        e = publish_alert(ev->pub, fp, json, len, hn, hv, ALERTMSG_NHEADERS, ev->err,
                          sizeof(ev->err));
    }
    free(json);
    if (!e) {
        ev->hb_seq++;
        ev->produced++;
        ev->hb_minute = minute;
    }
    return e;
}

/* Holds, takes or loses the lease. @returns false when Redis failed. */
static bool evaluator_lease(struct evaluator *ev, int64_t now)
{
    bool held;
    if (now < ev->next_lease)
        return true;
    if (store_lease(ev->store, ev->owner, ev->cfg->rules.lease_ttl_ms, &held, ev->err,
                    sizeof(ev->err))) {
        evaluator_redis_failed(ev, "lease");
        return false;
    }
    ev->next_lease = now + ev->cfg->rules.lease_ttl_ms / 3;
    if (held && !ev->leader) {
        if (evaluator_load(ev)) {
            evaluator_redis_failed(ev, "load state");
            return false;
        }
        ev->leader = true;
        ev->next_progress = 0;
        /* a new leader's heartbeat waits for the next minute, unless none was ever sent */
        ev->hb_minute = ev->hb_seq ? INT64_MAX : INT64_MIN;
        log_info("evaluator", "evaluating rules (lease taken)", "owner=%s rules=%zu groups=%zu",
                 ev->owner, ev->rs->nrules, ev->rs->ngroups);
    } else if (!held && ev->leader) {
        evaluator_step_down(ev, "lease held by another instance");
    }
    return true;
}

/* Messages produced earlier: once all are acknowledged, save. @returns true when settled. */
static bool evaluator_settle(struct evaluator *ev)
{
    bool settled;
    enum jd_err e = publish_alerts_settled(ev->pub, &settled, ev->err, sizeof(ev->err));
    if (!settled)
        return false;
    ev->awaiting = false;
    if (e) {
        /* not published: forget the unsaved ticks and evaluate them again */
        log_error("evaluator", "alert messages not delivered; re-evaluating", "error=%s",
                  log_q(ev->err));
        if (evaluator_load(ev))
            evaluator_redis_failed(ev, "reload state");
        evaluator_backoff(ev);
        return false;
    }
    if ((e = evaluator_save(ev))) {
        if (e == JD_ERR_FENCED)
            evaluator_step_down(ev, ev->err);
        else
            evaluator_redis_failed(ev, "save state");
        return false;
    }
    return true;
}

static bool evaluator_progress(struct evaluator *ev, int64_t now)
{
    size_t n;
    bool due = now >= ev->next_progress ||
               (ev->poked && (ev->draining || now - ev->last_progress >= EVALUATOR_POKED_MS));
    if (!due)
        return true;
    if (store_progress(ev->store, ev->cfg->kafka.topics.events, ev->prog, EVALUATOR_MAX_PARTS, &n,
                       &ev->now, ev->err, sizeof(ev->err))) {
        evaluator_redis_failed(ev, "progress");
        return false;
    }
    ev->poked = false;
    ev->next_progress = now + EVALUATOR_PROGRESS_MS;
    ev->last_progress = now;
    n = JD_MIN(n, EVALUATOR_MAX_PARTS);
    struct watermark_opts wo = { ev->cfg->rules.lateness_ms, ev->cfg->rules.idle_timeout_ms };
    int64_t wm = watermark_compute(ev->prog, n, ev->now, ev->wm, &wo);
    if (ev->draining) {
        /* every partition is at its end: event time has reached the last event */
        int64_t end = watermark_data_end(ev->prog, n);
        if (end > wm)
            wm = end;
    }
    if (wm != INT64_MIN && ev->wm == INT64_MIN && engine_last_tick(ev->eng, 0) == INT64_MIN) {
        /* the very first watermark: event time starts with the data, as in a replay */
        int64_t start = watermark_data_start(ev->prog, n);
        if (start != INT64_MIN)
            engine_start(ev->eng, start);
    }
    ev->wm = wm;
    return true;
}

/* Evaluates the ticks the watermark has passed (a bounded number per run). */
static void evaluator_ticks(struct evaluator *ev)
{
    size_t g;
    int64_t tick;
    for (int k = 0; k < EVALUATOR_TICK_BUDGET && ev->wm != INT64_MIN &&
                    engine_next(ev->eng, ev->wm, &g, &tick);
         k++) {
        double t0 = ts_mono_s();
        enum jd_err e =
            engine_eval(ev->eng, g, tick, evaluator_produce, ev, ev->err, sizeof(ev->err));
        double took = ts_mono_s() - t0;
        metrics_hist_observe(&ev->st.group_seconds, took);
        ev->group_secs[g] = took;
        ev->group_wall_ms[g] = ts_now_ms();
        ev->st.ticks++;
        if (e == JD_ERR_INVALID || e == JD_ERR_RANGE || e == JD_ERR_UNSUPPORTED) {
            ev->st.rule_errors++;
            int64_t now = ts_mono_ms();
            if (ev->rule_warn_ms && now - ev->rule_warn_ms < EVALUATOR_RULE_WARN_MS) {
                ev->rule_quiet++;
            } else {
                log_warn("evaluator", "rule not evaluated at this tick",
                         "error=%s not_logged_since=%llu", log_q(ev->err),
                         (unsigned long long)ev->rule_quiet);
                ev->rule_warn_ms = now;
                ev->rule_quiet = 0;
            }
        } else if (e == JD_ERR_REDIS) {
            evaluator_redis_failed(ev, "evaluate");
            return;
        } else if (e) {
            /* the producer refused: what this run evaluated is not saved; redo it later */
            log_error("evaluator", "cannot publish alert; re-evaluating later", "error=%s",
                      log_q(ev->err));
            if (evaluator_load(ev))
                evaluator_redis_failed(ev, "reload state");
            evaluator_backoff(ev);
            return;
        }
    }
}

void evaluator_run(struct evaluator *ev)
{
    int64_t now = ts_mono_ms();
    if (now < ev->next_try)
        return;
    if (!store_is_connected(ev->store)) {
        if (store_connect(ev->store, ev->err, sizeof(ev->err))) {
            log_warn("evaluator", "Redis connect failed", "error=%s", log_q(ev->err));
            evaluator_backoff(ev);
            return;
        }
        ev->next_lease = 0;
    }
    /* the lease first: it must not lapse while Kafka takes its time with our alerts */
    if (!evaluator_lease(ev, now))
        return;
    if (ev->awaiting && !evaluator_settle(ev))
        return;
    if (!ev->leader || !evaluator_progress(ev, now))
        return;
    ev->produced = 0;
    uint64_t before = ev->st.ticks;
    evaluator_ticks(ev);
    qcache_clear(ev->qc); /* batches are applied before the next run */
    if (!ev->leader || now < ev->next_try)
        return;         /* failed and handled */
    ev->backoff_ms = 0; /* the run went through: the next failure backs off afresh */
    int64_t minute = ev->now - ev->now % EVALUATOR_HEARTBEAT_MS;
    if (ev->hb_minute == INT64_MAX)
        ev->hb_minute = minute;
    if (minute > ev->hb_minute && evaluator_heartbeat(ev, minute)) {
        log_error("evaluator", "cannot publish the heartbeat", "error=%s", log_q(ev->err));
        evaluator_backoff(ev);
    }
    if (ev->produced) {
        ev->awaiting = true; /* saved once Kafka has them */
    } else if (ev->st.ticks != before) {
        enum jd_err e = evaluator_save(ev);
        if (e == JD_ERR_FENCED)
            evaluator_step_down(ev, ev->err);
        else if (e)
            evaluator_redis_failed(ev, "save state");
    }
}

bool evaluator_drain(struct evaluator *ev, int timeout_ms)
{
    /* the timeout bounds waiting (for the lease, for Kafka), not evaluating: it restarts
     * whenever ticks advance, however many a long backfill has */
    int64_t deadline = ts_mono_ms() + timeout_ms;
    uint64_t ticks = ev->st.ticks;
    ev->draining = true;
    ev->poked = true;
    while (ts_mono_ms() < deadline) {
        evaluator_run(ev);
        size_t g;
        int64_t tick;
        if (ev->leader && !ev->poked && !ev->awaiting &&
            (ev->wm == INT64_MIN || !engine_next(ev->eng, ev->wm, &g, &tick)))
            return true;
        if (ev->st.ticks != ticks) {
            ticks = ev->st.ticks;
            deadline = ts_mono_ms() + timeout_ms;
        }
        if (ev->awaiting || !ev->leader || ts_mono_ms() < ev->next_try)
            publish_wait(ev->pub, 100, ev->err, sizeof(ev->err));
    }
    return false;
}

void evaluator_poke(struct evaluator *ev)
{
    ev->poked = true;
}

int64_t evaluator_watermark(const struct evaluator *ev)
{
    return ev->leader ? ev->wm : INT64_MIN;
}

const struct ruleset *evaluator_ruleset(const struct evaluator *ev)
{
    return ev->rs;
}

/* Per-group timings for \p rs, carried over by group name from the rules in force. */
static bool evaluator_group_stats(const struct evaluator *ev, const struct ruleset *rs,
                                  int64_t **wall_out, double **secs_out)
{
    size_t n = rs->ngroups ? rs->ngroups : 1;
    int64_t *wall = calloc(n, sizeof(*wall));
    double *secs = calloc(n, sizeof(*secs));
    if (!wall || !secs) {
        free(wall);
        free(secs);
        return false;
    }
    for (size_t i = 0; i < rs->ngroups && ev->rs; i++)
        for (size_t k = 0; k < ev->rs->ngroups; k++)
            if (!strcmp(rs->groups[i].name, ev->rs->groups[k].name)) {
                wall[i] = ev->group_wall_ms[k];
                secs[i] = ev->group_secs[k];
            }
    *wall_out = wall;
    *secs_out = secs;
    return true;
}

static void evaluator_set_group_stats(struct evaluator *ev, int64_t *wall, double *secs)
{
    free(ev->group_wall_ms);
    free(ev->group_secs);
    ev->st.group_wall_ms = ev->group_wall_ms = wall;
    ev->st.group_last_seconds = ev->group_secs = secs;
}

enum jd_err evaluator_set_ruleset(struct evaluator *ev, struct ruleset *rs, char *errstr,
                                  size_t errstr_size)
{
    int64_t *wall;
    double *secs;
    if (!evaluator_group_stats(ev, rs, &wall, &secs)) {
        ruleset_destroy(rs);
        return jd_errf(JD_ERR_NOMEM, errstr, errstr_size, "out of memory");
    }
    enum jd_err e = engine_set_ruleset(ev->eng, rs, errstr, errstr_size);
    if (e) {
        free(wall);
        free(secs);
        ruleset_destroy(rs);
        return e;
    }
    evaluator_set_group_stats(ev, wall, secs);
    ruleset_destroy(ev->rs);
    ev->rs = rs;
    return JD_OK;
}

const struct evaluator_status *evaluator_status(struct evaluator *ev)
{
    ev->st.leader = ev->leader;
    return &ev->st;
}

const struct engine *evaluator_engine(const struct evaluator *ev)
{
    return ev->eng;
}

struct evaluator *evaluator_new(const struct config *cfg, struct ruleset *rs, struct publish *pub,
                                const char *owner, char *errstr, size_t errstr_size)
{
    struct evaluator *ev = calloc(1, sizeof(*ev));
    if (!ev || !(ev->prog = calloc(EVALUATOR_MAX_PARTS, sizeof(*ev->prog)))) {
        jd_errf(JD_ERR_NOMEM, errstr, errstr_size, "out of memory");
        goto fail;
    }
    ev->cfg = cfg;
    int64_t *wall;
    double *secs;
    if (!evaluator_group_stats(ev, rs, &wall, &secs)) {
        jd_errf(JD_ERR_NOMEM, errstr, errstr_size, "out of memory");
        goto fail;
    }
    evaluator_set_group_stats(ev, wall, secs);
    ev->rs = rs;
    ev->pub = pub;
    ev->wm = INT64_MIN;
    snprintf(ev->owner, sizeof(ev->owner), "%s", owner);
    if (*cfg->http.external_url)
        snprintf(ev->url, sizeof(ev->url), "%s", cfg->http.external_url);
    else if (*cfg->http.listen)
        snprintf(ev->url, sizeof(ev->url), "http://%s", cfg->http.listen);
    struct store_opts so;
    store_opts_from_config(&so, cfg);
    struct engine_opts eo = { cfg->kafka.topics.alerts, ev->url,
                              (size_t)cfg->limits.series_per_rule };
    if (!(ev->store = store_new(&so, errstr, errstr_size)))
        goto fail;
    if (!(ev->qc = qcache_new(query_source_store(ev->store), EVALUATOR_CACHE_BYTES))) {
        jd_errf(JD_ERR_NOMEM, errstr, errstr_size, "out of memory");
        goto fail;
    }
    if (!(ev->eng = engine_new(rs, qcache_source(ev->qc), &eo, errstr, errstr_size)))
        goto fail;
    return ev;
fail:
    if (ev)
        ev->rs = NULL;
    evaluator_destroy(ev);
    ruleset_destroy(rs);
    return NULL;
}

void evaluator_destroy(struct evaluator *ev)
{
    if (!ev)
        return;
    if (ev->leader && store_is_connected(ev->store)) {
        /* what was produced but not saved would be redone by the next leader (same seq) */
        if (ev->awaiting) {
            publish_wait(ev->pub, 5000, ev->err, sizeof(ev->err));
            if (evaluator_settle(ev))
                log_info("evaluator", "rule state saved", "ticks=%llu messages=%llu",
                         (unsigned long long)ev->st.ticks, (unsigned long long)ev->messages);
        }
        store_lease_release(ev->store, ev->owner, ev->err, sizeof(ev->err));
    }
    engine_destroy(ev->eng);
    qcache_destroy(ev->qc);
    store_destroy(ev->store);
    ruleset_destroy(ev->rs);
    free(ev->group_wall_ms);
    free(ev->group_secs);
    free(ev->prog);
    free(ev);
}
