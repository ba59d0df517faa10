/*
 * expiry.c — the due-time buckets of journeys (expiry.h).
 *
 * Owns each partition's read schedule (stream time of its next look) and a
 * batch's reads and registrations, and turns them into the flush's writes.
 * The key layout and the read script are store_journey.c's; what expiring a
 * journey means (its null path) is attr.c's.
 */
#include "attribute/expiry.h"

#include "core/ts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* GC may delete a bucket this long after its end if it was never read (a safety net) */
#define EXPIRY_GC_MS (7 * JD_MS_DAY)

struct expiry_reg {
    int32_t partition;
    int64_t bucket;
    char fp[32];
};

/* The keys of one read, and what it found. */
struct expiry_q {
    int32_t partition;
    char index[STORE_KEY_MAX], progress[STORE_KEY_MAX], prefix[STORE_KEY_MAX];
    char pos[48];
};

/* One run of registrations: a (partition, bucket) and its keys. */
struct expiry_run {
    char key[STORE_KEY_MAX], index[STORE_KEY_MAX], member[24];
};

struct expiry {
    struct store *store;
    const char *topic;
    int64_t *next; /* by partition: stream time of the next look */
    size_t capnext;
    struct store_expiry *sq; /* this batch's reads */
    struct expiry_q *q;
    size_t nq, capsq, capq;
    struct expiry_reg *regs;
    size_t nregs, capregs;
    struct expiry_run *runs;
    size_t capruns;
    char (*gone)[STORE_KEY_MAX + 24]; /* buckets read to their end */
    size_t capgone;
    char *bytes;
    size_t capbytes;
    struct store_put *puts;
    struct store_zput *zputs;
    struct store_append *apps;
    size_t capputs, capzputs, capapps;
};

struct expiry *expiry_new(struct store *store, const char *topic)
{
    struct expiry *x = calloc(1, sizeof(*x));
    if (!x)
        return NULL;
    x->store = store;
    x->topic = topic;
    return x;
}

void expiry_destroy(struct expiry *x)
{
    if (!x)
        return;
    for (size_t i = 0; i < x->capsq; i++) {
        free(x->sq[i].fps);
        free(x->sq[i].done);
    }
    free(x->sq);
    free(x->q);
    free(x->next);
    free(x->regs);
    free(x->runs);
    free(x->gone);
    free(x->bytes);
    free(x->puts);
    free(x->zputs);
    free(x->apps);
    free(x);
}

void expiry_begin(struct expiry *x)
{
    x->nq = x->nregs = 0;
}

int64_t expiry_bucket(int64_t due)
{
    return ts_floor_div(due, EXPIRY_BUCKET_MS);
}

bool expiry_want(struct expiry *x, int32_t partition, int64_t st)
{
    size_t need = (size_t)partition + 1, cap = x->capnext, capsq = x->capsq;
    if (st == INT64_MIN || partition < 0)
        return true;
    if (need > cap) {
        if (!jd_reserve((void **)&x->next, &cap, need, sizeof(*x->next)))
            return false;
        for (size_t i = x->capnext; i < cap; i++)
            x->next[i] = INT64_MIN;
        x->capnext = cap;
    }
    if (st < x->next[partition])
        return true;
    if (!jd_reserve((void **)&x->sq, &x->capsq, x->nq + 1, sizeof(*x->sq)))
        return false;
    memset(x->sq + capsq, 0, (x->capsq - capsq) * sizeof(*x->sq)); /* fps: none yet */
    if (!jd_reserve((void **)&x->q, &x->capq, x->nq + 1, sizeof(*x->q)))
        return false;
    struct expiry_q *q = &x->q[x->nq];
    struct store_expiry *s = &x->sq[x->nq++];
    q->partition = partition;
    store_key_journey_index(x->store, q->index, sizeof(q->index), x->topic, partition);
    store_key_journey_progress(x->store, q->progress, sizeof(q->progress), x->topic, partition);
    store_key_journey_bucket(x->store, q->prefix, sizeof(q->prefix), x->topic, partition);
    s->st = st; /* its keys are pointed at in expiry_read(): x->q may still move */
    /* no other bucket can become due before the one holding st ends: registrations go there
     * or later */
    x->next[partition] = (expiry_bucket(st) + 1) * EXPIRY_BUCKET_MS;
    return true;
}

static int expiry_fp_cmp(const void *a, const void *b)
{
    return memcmp(a, b, 32);
}

enum jd_err expiry_read(struct expiry *x, char *errstr, size_t errstr_size)
{
    if (!x->nq)
        return JD_OK;
    for (size_t i = 0; i < x->nq; i++) {
        x->sq[i].index = x->q[i].index;
        x->sq[i].progress = x->q[i].progress;
        x->sq[i].prefix = x->q[i].prefix;
    }
    enum jd_err err = store_expiry_read(x->store, x->sq, x->nq, EXPIRY_SLICE, errstr, errstr_size);
    if (err) {
        for (size_t i = 0; i < x->nq; i++)
            x->next[x->q[i].partition] = INT64_MIN; /* look again next batch */
        return err;
    }
    for (size_t i = 0; i < x->nq; i++) {
        struct store_expiry *s = &x->sq[i];
        /* something was due: there may be more; look again next batch */
        if (s->ndone || s->partial[0])
            x->next[x->q[i].partition] = INT64_MIN;
        /* a journey listed twice (re-registered after its key was deleted) expires once */
        if (s->n)
            qsort(s->fps, s->n, sizeof(*s->fps), expiry_fp_cmp);
        size_t w = 0;
        for (size_t k = 0; k < s->n; k++)
            if (!w || memcmp(s->fps[w - 1], s->fps[k], 32))
                memmove(s->fps[w++], s->fps[k], sizeof(*s->fps));
        s->n = w;
    }
    return JD_OK;
}

size_t expiry_nreads(const struct expiry *x)
{
    return x->nq;
}

const char (*expiry_slice(const struct expiry *x, size_t i, int32_t *partition, int64_t *st,
                          size_t *n))[33]
{
    *partition = x->q[i].partition;
    *st = x->sq[i].st;
    *n = x->sq[i].n;
    return (const char(*)[33])x->sq[i].fps;
}

bool expiry_register(struct expiry *x, int32_t partition, const char *fp, int64_t due, int64_t st)
{
    if (!jd_reserve((void **)&x->regs, &x->capregs, x->nregs + 1, sizeof(*x->regs)))
        return false;
    int64_t b = expiry_bucket(due);
    /* a bucket already due may be being read: the one holding st is not */
    if (st != INT64_MIN && b < expiry_bucket(st))
        b = expiry_bucket(st);
    struct expiry_reg *r = &x->regs[x->nregs++];
    r->partition = partition;
    r->bucket = b;
    memcpy(r->fp, fp, 32);
    return true;
}

static int expiry_reg_cmp(const void *a, const void *b)
{
    const struct expiry_reg *p = a, *q = b;
    if (p->partition != q->partition)
        return p->partition < q->partition ? -1 : 1;
    return p->bucket < q->bucket ? -1 : p->bucket > q->bucket;
}

static bool expiry_reserve_out(struct expiry *x, size_t nputs, size_t nzputs, size_t napps)
{
    return jd_reserve((void **)&x->puts, &x->capputs, nputs + 1, sizeof(*x->puts)) &&
           jd_reserve((void **)&x->zputs, &x->capzputs, nzputs + 1, sizeof(*x->zputs)) &&
           jd_reserve((void **)&x->apps, &x->capapps, napps + 1, sizeof(*x->apps)) &&
           jd_reserve((void **)&x->runs, &x->capruns, napps + 1, sizeof(*x->runs));
}

bool expiry_writes(struct expiry *x, struct expiry_writes *out)
{
    size_t nputs = 0, nzputs = 0, nruns = 0, ngone = 0, ng = 0;
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < x->nq; i++)
        ngone += x->sq[i].ndone;
    if (x->nregs) /* none yet: no array either */
        qsort(x->regs, x->nregs, sizeof(*x->regs), expiry_reg_cmp);
    for (size_t i = 0; i < x->nregs; i++)
        nruns += !i || expiry_reg_cmp(&x->regs[i - 1], &x->regs[i]);
    if (!expiry_reserve_out(x, x->nq + ngone, ngone + nruns, nruns) ||
        !jd_reserve((void **)&x->gone, &x->capgone, ngone + 1, sizeof(*x->gone)) ||
        !jd_reserve((void **)&x->bytes, &x->capbytes, 32 * x->nregs + 1, 1))
        return false;

    /* reads: buckets read to their end go (with their index entries), progress is kept */
    for (size_t i = 0; i < x->nq; i++) {
        struct expiry_q *q = &x->q[i];
        const struct store_expiry *s = &x->sq[i];
        for (size_t k = 0; k < s->ndone; k++, ng++) {
            snprintf(x->gone[ng], sizeof(x->gone[ng]), "%s%s", q->prefix, s->done[k]);
            x->puts[nputs++] = (struct store_put){ jd_str_c(x->gone[ng]), JD_STR_NULL, true };
            x->zputs[nzputs++] =
                (struct store_zput){ jd_str_c(q->index), jd_str_c(s->done[k]), 0, true };
        }
        if (s->partial[0]) {
            int n = snprintf(q->pos, sizeof(q->pos), "%s %lld", s->partial, (long long)s->resume);
            x->puts[nputs++] =
                (struct store_put){ jd_str_c(q->progress), { q->pos, (size_t)n }, false };
        } else if (s->ndone) {
            x->puts[nputs++] = (struct store_put){ jd_str_c(q->progress), JD_STR_NULL, true };
        }
    }

    /* registrations: one append and one index entry per (partition, bucket) */
    size_t w = 0, r = 0;
    for (size_t i = 0; i < x->nregs; i++) {
        const struct expiry_reg *g = &x->regs[i];
        memcpy(x->bytes + 32 * i, g->fp, 32);
        if (i + 1 < x->nregs && !expiry_reg_cmp(g, &x->regs[i + 1]))
            continue;
        struct expiry_run *run = &x->runs[r];
        size_t kl =
            store_key_journey_bucket(x->store, run->key, sizeof(run->key), x->topic, g->partition);
        snprintf(run->key + kl, sizeof(run->key) - kl, "%lld", (long long)g->bucket);
        snprintf(run->member, sizeof(run->member), "%lld", (long long)g->bucket);
        store_key_journey_index(x->store, run->index, sizeof(run->index), x->topic, g->partition);
        int64_t end = (g->bucket + 1) * EXPIRY_BUCKET_MS;
        x->apps[r] = (struct store_append){ jd_str_c(run->key),
                                            { x->bytes + 32 * w, 32 * (i + 1 - w) },
                                            end + EXPIRY_GC_MS };
        x->zputs[nzputs++] =
            (struct store_zput){ jd_str_c(run->index), jd_str_c(run->member), end, false };
        w = i + 1;
        r++;
    }
    *out = (struct expiry_writes){ x->puts, nputs, x->zputs, nzputs, x->apps, r };
    return true;
}
