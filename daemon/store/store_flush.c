/*
 * store_flush.c — builds and runs the atomic flush script (flush.lua).
 *
 * Owns the flush's argument layout: one encoded record per touched bucket,
 * appended to its chunk; seen-id slices; the series index; GC registrations;
 * counters; the partitions' new offsets. Arguments are built in a reusable
 * buffer (no per-event work, no formatting of user data into command text).
 * The send and the reply are separate calls so the loop can decode the
 * next batch while Redis runs this one.
 */
#include "store/store_int.h"

#include "aggregate/chunk.h"
#include "core/hash.h"
#include "store_lua.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ args */

static bool store_args_reserve(struct store_args *a, size_t bytes)
{
    if (a->len + bytes > a->cap) {
        size_t cap = a->cap ? a->cap : 65536;
        while (cap < a->len + bytes)
            cap *= 2;
        char *b = realloc(a->buf, cap);
        if (!b)
            return false;
        a->buf = b;
        a->cap = cap;
    }
    if (a->n == a->ncap) {
        size_t nc = a->ncap ? a->ncap * 2 : 4096;
        size_t *o = realloc(a->off, nc * sizeof(*o));
        if (!o)
            return false;
        a->off = o;
        size_t *l = realloc(a->alen, nc * sizeof(*l));
        if (!l)
            return false;
        a->alen = l;
        a->ncap = nc;
    }
    return true;
}

static bool store_arg(struct store_args *a, const void *p, size_t n)
{
    if (!store_args_reserve(a, n))
        return false;
    if (n) /* an empty label set has no bytes, and maybe no pointer */
        memcpy(a->buf + a->len, p, n);
    a->off[a->n] = a->len;
    a->alen[a->n++] = n;
    a->len += n;
    return true;
}

/* Reserve room for an argument written in place; commit it with store_arg_end(). */
static uint8_t *store_arg_begin(struct store_args *a, size_t max)
{
    if (!store_args_reserve(a, max))
        return NULL;
    return (uint8_t *)a->buf + a->len;
}

static void store_arg_end(struct store_args *a, size_t used)
{
    a->off[a->n] = a->len;
    a->alen[a->n++] = used;
    a->len += used;
}

static bool store_arg_i64(struct store_args *a, int64_t v)
{
    char b[24];
    return store_arg(a, b, store_fmt_i64(b, v));
}

static bool store_arg_str(struct store_args *a, const char *s)
{
    return store_arg(a, s, strlen(s));
}

/* Reserve an argument to fill later (a count known only after its items). */
static bool store_arg_slot(struct store_args *a, size_t *slot)
{
    *slot = a->n;
    return store_arg(a, "", 0);
}

static bool store_arg_fill(struct store_args *a, size_t slot, int64_t v)
{
    char b[24];
    size_t n = store_fmt_i64(b, v);
    if (!store_args_reserve(a, n))
        return false;
    memcpy(a->buf + a->len, b, n);
    a->off[slot] = a->len;
    a->alen[slot] = n;
    a->len += n;
    return true;
}

static void store_args_reset(struct store_args *a)
{
    a->len = 0;
    a->n = 0;
}

static const char **store_args_argv(struct store_args *a)
{
    if (a->argv_cap < a->n) {
        const char **v = realloc(a->argv, a->n * sizeof(*v));
        if (!v)
            return NULL;
        a->argv = v;
        a->argv_cap = a->n;
    }
    for (size_t i = 0; i < a->n; i++)
        a->argv[i] = a->buf + a->off[i];
    return a->argv;
}

/*
 * Adds one (key, records) pair per chunk touched by one series at one
 * resolution: each bucket delta becomes one record appended to its chunk.
 */
static bool store_add_chunks(struct store *s, const struct agg_series *ser, enum window_res r,
                             size_t *nappend)
{
    struct store_args *a = &s->args;
    const struct agg_delta *d = ser->deltas[r];
    const struct agg_regs *g = ser->regs[r];
    size_t n = ser->ndeltas[r], i = 0;
    char key[STORE_KEY_MAX];

    while (i < n) {
        int64_t chunk = window_chunk_id(r, d[i].bucket);
        size_t j = i, max = 0;
        for (; j < n && window_chunk_id(r, d[j].bucket) == chunk; j++)
            max += chunk_record_max(g[j].n);
        size_t kl = store_key_chunk(s, key, sizeof(key), ser->type, ser->sid, r, d[i].bucket);
        if (s->nrefs == s->caprefs) {
            size_t cap = s->caprefs ? 2 * s->caprefs : 1024;
            struct store_chunkref *nr = realloc(s->refs, cap * sizeof(*nr));
            if (!nr)
                return false;
            s->refs = nr;
            s->caprefs = cap;
        }
        s->refs[s->nrefs++] = (struct store_chunkref){
            a->n, window_expiry(&s->retention, r, (chunk + 1) * window_chunk_ms(r)),
            hash64(key, kl, 0x6763)
        };
        if (!store_arg(a, key, kl))
            return false;
        uint8_t *out = store_arg_begin(a, max);
        if (!out)
            return false;
        size_t used = 0;
        for (size_t k = i; k < j; k++)
            used += chunk_put_record(out + used, window_bucket_offset(r, d[k].bucket), &d[k],
                                     g[k].u, g[k].n);
        store_arg_end(a, used);
        (*nappend)++;
        i = j;
    }
    return true;
}

/* The GC index entry of one chunk (skipped when registered and far from expiry). */
static bool store_add_gc(struct store *s, const struct store_chunkref *ref, int64_t max_st,
                         size_t *ngc)
{
    struct store_args *a = &s->args;
    /* near its expiry GC may have removed it and a late event re-created it */
    if (store_memo_has(s, ref->hash, INT64_MIN) && ref->expiry > max_st + JD_MS_DAY)
        return true;
    char *key = a->buf + a->off[ref->arg];
    size_t kl = a->alen[ref->arg];
    if (!store_arg_i64(a, ref->expiry))
        return false;
    /* the key bytes may move when the buffer grows: copy through a local */
    char tmp[STORE_KEY_MAX];
    key = a->buf + a->off[ref->arg];
    memcpy(tmp, key, kl < sizeof(tmp) ? kl : sizeof(tmp));
    if (!store_arg(a, tmp, kl))
        return false;
    (*ngc)++;
    return true;
}

/*
 * The memo of a series' index entry, per day chunk: the entry is written
 * again when the series enters a new one. GC drops the entries of series
 * whose newest day chunk has expired (gc.lua), and data that comes back
 * later always lands in a newer chunk, so it is indexed again at once.
 */
static uint64_t store_index_memo(const struct agg_series *ser)
{
    int64_t chunk = INT64_MIN;
    for (size_t i = 0; i < ser->ndeltas[WINDOW_DAY]; i++)
        chunk = JD_MAX(chunk, window_chunk_id(WINDOW_DAY, ser->deltas[WINDOW_DAY][i].bucket));
    return hash_mix64(ser->sid ^ UINT64_C(0x5e71e5) ^ hash_mix64((uint64_t)chunk));
}

enum jd_err store_flush_send(struct store *s, const struct store_flush *f, char *errstr,
                             size_t errstr_size)
{
    struct store_args *a = &s->args;
    char key[STORE_KEY_MAX], gc[128], stats[128], parts[128], types[128];
    size_t slot, nappend = 0, nidx = 0, ntypes = 0, ngc = 0;
    int64_t max_st = INT64_MIN;
    size_t nser = agg_nseries(f->agg);

    if (!s->ctx)
        return jd_errf(JD_ERR_REDIS, errstr, errstr_size, "not connected");
    if (s->in_flight)
        return jd_errf(JD_ERR_INVALID, errstr, errstr_size, "a flush is already in flight");
    store_args_reset(a);
    s->nrefs = 0;
    store_keyf(s, gc, sizeof(gc), "gc");
    store_keyf(s, stats, sizeof(stats), "stats");
    store_keyf(s, parts, sizeof(parts), "parts");
    store_keyf(s, types, sizeof(types), "types");

#define ADD(expr)                                                                                  \
    do {                                                                                           \
        if (!(expr))                                                                               \
            goto nomem;                                                                            \
    } while (0)

    ADD(store_arg(a, "", 0)); /* EVALSHA */
    ADD(store_arg(a, "", 0)); /* sha */
    ADD(store_arg_str(a, "4"));
    ADD(store_arg_str(a, gc));
    ADD(store_arg_str(a, stats));
    ADD(store_arg_str(a, parts));
    ADD(store_arg_str(a, types));
    ADD(store_arg_str(a, f->owner));
    ADD(store_arg_i64(a, s->max_bulk_len));
    ADD(store_arg_i64(a, (int64_t)f->nparts));
    for (size_t i = 0; i < f->nparts; i++) {
        const struct store_part *p = &f->parts[i];
        store_key_part(s, key, sizeof(key), f->topic, p->partition);
        ADD(store_arg_str(a, key));
        ADD(store_arg_i64(a, p->epoch));
        ADD(store_arg_i64(a, p->from));
        ADD(store_arg_i64(a, p->to));
        /* unknown (no valid event yet): left unset, so GC does not wait for it */
        ADD(p->st == INT64_MIN ? store_arg(a, "", 0) : store_arg_i64(a, p->st));
        ADD(p->t0 == INT64_MIN ? store_arg(a, "", 0) : store_arg_i64(a, p->t0));
        ADD(!p->caught_up ? store_arg(a, "", 0) : store_arg_i64(a, p->caught_up_age_ms));
        if (p->st > max_st)
            max_st = p->st;
    }

    /* appends: window chunks, then seen-id slices */
    ADD(store_arg_slot(a, &slot));
    for (size_t i = 0; i < nser; i++)
        for (int r = 0; r < WINDOW_NRES; r++)
            ADD(store_add_chunks(s, agg_series_at(f->agg, i), (enum window_res)r, &nappend));
    for (size_t i = 0; i < f->nseen; i++) {
        store_key_seen(s, key, sizeof(key), f->topic, f->seen[i].partition, f->seen[i].slice);
        ADD(store_arg_str(a, key));
        ADD(store_arg(a, f->seen[i].blob, f->seen[i].len));
        nappend++;
    }
    for (size_t i = 0; i < f->nappends; i++) {
        ADD(store_arg(a, f->appends[i].key.p, f->appends[i].key.n));
        ADD(store_arg(a, f->appends[i].bytes.p, f->appends[i].bytes.n));
        nappend++;
    }
    ADD(store_arg_fill(a, slot, (int64_t)nappend));

    /* series index: only series not indexed in this day chunk since the last (re)connect */
    ADD(store_arg_slot(a, &slot));
    for (size_t i = 0; i < nser; i++) {
        const struct agg_series *ser = agg_series_at(f->agg, i);
        if (store_memo_has(s, store_index_memo(ser), INT64_MIN))
            continue;
        char hex[17];
        store_hex(ser->sid, hex);
        store_keyf(s, key, sizeof(key), "s:%.*s", (int)ser->type.n, ser->type.p);
        ADD(store_arg_str(a, key));
        ADD(store_arg_str(a, hex));
        ADD(store_arg(a, ser->labels.p, ser->labels.n));
        nidx++;
    }
    ADD(store_arg_fill(a, slot, (int64_t)nidx));
    ADD(store_arg_slot(a, &slot));
    /*
     * A batch has few types but may have 100,000 series: compare with the
     * types listed so far, not with every earlier series (quadratic, and most
     * of a 10,000-label-set batch's flush). Past the list's size, the old scan.
     */
    struct jd_str listed[64];
    for (size_t i = 0; i < nser; i++) {
        const struct agg_series *ser = agg_series_at(f->agg, i);
        if (store_memo_has(s, hash64(ser->type.p, ser->type.n, 0x7479706573), INT64_MIN))
            continue;
        bool dup = false;
        for (size_t k = 0; k < ntypes && k < JD_ARRAY_SIZE(listed) && !dup; k++)
            dup = jd_str_eq(listed[k], ser->type);
        for (size_t k = 0; k < i && !dup && ntypes >= JD_ARRAY_SIZE(listed); k++)
            dup = jd_str_eq(agg_series_at(f->agg, k)->type, ser->type);
        if (dup)
            continue;
        if (ntypes < JD_ARRAY_SIZE(listed))
            listed[ntypes] = ser->type;
        ADD(store_arg(a, ser->type.p, ser->type.n));
        ntypes++;
    }
    ADD(store_arg_fill(a, slot, (int64_t)ntypes));

    /* GC registrations: every chunk and seen slice expires by event time */
    ADD(store_arg_slot(a, &slot));
    for (size_t i = 0; i < s->nrefs; i++)
        ADD(store_add_gc(s, &s->refs[i], max_st, &ngc));
    for (size_t i = 0; i < f->nseen; i++) {
        store_key_seen(s, key, sizeof(key), f->topic, f->seen[i].partition, f->seen[i].slice);
        ADD(store_arg_i64(a, f->seen[i].expiry));
        ADD(store_arg_str(a, key));
        ngc++;
    }
    for (size_t i = 0; i < f->nappends; i++) {
        ADD(store_arg_i64(a, f->appends[i].expiry));
        ADD(store_arg(a, f->appends[i].key.p, f->appends[i].key.n));
        ngc++;
    }
    ADD(store_arg_fill(a, slot, (int64_t)ngc));

    ADD(store_arg_i64(a, (int64_t)f->nstats));
    for (size_t i = 0; i < f->nstats; i++) {
        ADD(store_arg(a, f->stats[i].field, f->stats[i].field_len));
        ADD(store_arg_i64(a, f->stats[i].incr));
    }
    /* whole values: SETs, then DELs; then the sorted-set members */
    for (int del = 0; del < 2; del++) {
        ADD(store_arg_slot(a, &slot));
        size_t n = 0;
        for (size_t i = 0; i < f->nputs; i++) {
            if (f->puts[i].del != (bool)del)
                continue;
            ADD(store_arg(a, f->puts[i].key.p, f->puts[i].key.n));
            if (!del)
                ADD(store_arg(a, f->puts[i].value.p, f->puts[i].value.n));
            n++;
        }
        ADD(store_arg_fill(a, slot, (int64_t)n));
    }
    ADD(store_arg_i64(a, (int64_t)f->njappends));
    for (size_t i = 0; i < f->njappends; i++) {
        ADD(store_arg(a, f->jappends[i].key.p, f->jappends[i].key.n));
        ADD(store_arg(a, f->jappends[i].value.p, f->jappends[i].value.n));
    }
    /* members grouped by key (runs of one key: one command per run in the script) */
    for (int del = 0; del < 2; del++) {
        size_t ngroups = 0, nslot, n = 0;
        const struct store_zput *run = NULL;
        ADD(store_arg_slot(a, &slot));
        for (size_t i = 0; i < f->nzputs; i++) {
            const struct store_zput *z = &f->zputs[i];
            if (z->del != (bool)del)
                continue;
            if (!run || !jd_str_eq(run->key, z->key)) {
                if (run)
                    ADD(store_arg_fill(a, nslot, (int64_t)n));
                ADD(store_arg(a, z->key.p, z->key.n));
                ADD(store_arg_slot(a, &nslot));
                run = z;
                n = 0;
                ngroups++;
            }
            if (!del)
                ADD(store_arg_i64(a, z->score));
            ADD(store_arg(a, z->member.p, z->member.n));
            n++;
        }
        if (run)
            ADD(store_arg_fill(a, nslot, (int64_t)n));
        ADD(store_arg_fill(a, slot, (int64_t)ngroups));
    }
#undef ADD

    const char **argv = store_args_argv(a);
    if (!argv)
        goto nomem;
    argv[0] = "EVALSHA";
    argv[1] = s->sha_flush;
    a->alen[0] = 7;
    a->alen[1] = 40;
    if (!store_append_argv(s, a->n, argv, a->alen))
        return store_io_error(s, errstr, errstr_size, "flush");
    /* write it all now: Redis runs the script while the caller prepares the next batch */
    int done = 0;
    while (!done)
        if (redisBufferWrite(s->ctx, &done) != REDIS_OK)
            return store_io_error(s, errstr, errstr_size, "flush");
    s->round_trips++;
    s->in_flight = true;
    /*
     * Remember what the batch indexes, registers and appends. These are hints:
     * if the flush fails they are all forgotten (store_flush_recv()).
     */
    for (size_t i = 0; i < nser; i++) {
        const struct agg_series *ser = agg_series_at(f->agg, i);
        store_memo_put(s, store_index_memo(ser), INT64_MAX);
        store_memo_put(s, hash64(ser->type.p, ser->type.n, 0x7479706573), INT64_MAX);
    }
    for (size_t i = 0; i < s->nrefs; i++) {
        store_memo_put(s, s->refs[i].hash, INT64_MAX);
        store_count_append(s, a->buf + a->off[s->refs[i].arg], a->alen[s->refs[i].arg],
                           s->refs[i].hash);
    }
    return JD_OK;

nomem:
    return jd_errf(JD_ERR_NOMEM, errstr, errstr_size, "out of memory building the flush");
}

/* A reply {"TAG", {...}} from flush.lua. */
static bool store_reply_is(const redisReply *r, const char *tag)
{
    return r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
           r->element[0]->type == REDIS_REPLY_STRING && !strcmp(r->element[0]->str, tag) &&
           r->element[1]->type == REDIS_REPLY_ARRAY;
}

bool store_flush_in_flight(const struct store *s)
{
    return s->in_flight;
}

enum jd_err store_flush_recv(struct store *s, struct store_refusal *refused, size_t cap,
                             size_t *nrefused, char *errstr, size_t errstr_size)
{
    redisReply *r = NULL;
    *nrefused = 0;
    if (!s->in_flight)
        return jd_errf(JD_ERR_INVALID, errstr, errstr_size, "no flush in flight");
    s->in_flight = false;
    if (redisGetReply(s->ctx, (void **)&r) != REDIS_OK || !r)
        return store_io_error(s, errstr, errstr_size, "flush");
    if (r->type == REDIS_REPLY_ERROR && !strncmp(r->str, "NOSCRIPT", 8)) {
        /* Redis lost the script (SCRIPT FLUSH, failover): nothing ran; the caller re-reads */
        freeReplyObject(r);
        store_load_script(s, store_lua_flush, s->sha_flush, NULL, 0);
        store_forget(s);
        return jd_errf(JD_ERR_GAP, errstr, errstr_size, "flush script was not loaded; re-reading");
    }

    enum jd_err err = JD_OK;
    if (r->type == REDIS_REPLY_STATUS || (r->type == REDIS_REPLY_STRING && !strcmp(r->str, "OK"))) {
        /* applied */
    } else if (store_reply_is(r, "OK")) {
        /* applied; these chunks grew large: compact them before their next appends */
        const redisReply *list = r->element[1];
        for (size_t i = 0; i < list->elements; i++) {
            long long q = list->element[i]->integer;
            if (list->element[i]->type == REDIS_REPLY_INTEGER && q >= 0 && (size_t)q < s->nrefs) {
                size_t arg = s->refs[q].arg;
                store_queue_compact(s, s->args.buf + s->args.off[arg], s->args.alen[arg],
                                    s->refs[q].hash);
            }
        }
    } else if (store_reply_is(r, "REFUSED")) {
        const redisReply *list = r->element[1];
        err = JD_ERR_GAP;
        for (size_t i = 0; i < list->elements; i++) {
            const redisReply *e = list->element[i];
            if (e->type != REDIS_REPLY_ARRAY || e->elements != 3)
                continue;
            bool fenced =
                e->element[1]->type == REDIS_REPLY_STRING && !strcmp(e->element[1]->str, "FENCED");
            if (fenced)
                err = JD_ERR_FENCED;
            if (*nrefused < cap) {
                struct store_refusal *x = &refused[(*nrefused)++];
                x->part = (size_t)e->element[0]->integer;
                x->why = fenced ? JD_ERR_FENCED : JD_ERR_GAP;
                x->has_next = e->element[2]->type == REDIS_REPLY_STRING &&
                              store_parse_i64(e->element[2]->str, e->element[2]->len, &x->next);
            }
        }
        store_forget(s);
        jd_errf(err, errstr, errstr_size, "flush refused for %zu partition(s)", *nrefused);
    } else if (r->type == REDIS_REPLY_ERROR && strstr(r->str, "JDBADKEY")) {
        /* refused before any write: the connection is fine, the data is not */
        err = jd_errf(JD_ERR_CORRUPT, errstr, errstr_size, "flush refused: %s",
                      strstr(r->str, "JDBADKEY"));
        store_forget(s);
    } else {
        /* a script error after writes may have begun: treat as unknown */
        err = jd_errf(JD_ERR_REDIS, errstr, errstr_size, "flush: %s",
                      r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
        store_disconnect(s);
    }
    freeReplyObject(r);
    return err;
}

enum jd_err store_flush(struct store *s, const struct store_flush *f, struct store_refusal *refused,
                        size_t cap, size_t *nrefused, char *errstr, size_t errstr_size)
{
    enum jd_err err = store_flush_send(s, f, errstr, errstr_size);
    *nrefused = 0;
    if (err)
        return err;
    return store_flush_recv(s, refused, cap, nrefused, errstr, errstr_size);
}
