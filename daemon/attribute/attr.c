/*
 * attr.c — the attribution stage: a batch's journey events against the
 * journeys in Redis.
 *
 * Owns the batch's queue of journey events, the per-partition expiry
 * schedule, the data-driven weight tables and the choice, per user of a
 * batch, between appending its touches and reading its journey. Journey
 * rules are journey.c's, the credit split credit.c's, record formats
 * pathstat.c's, when journeys are due expiry.c's, what is known of them
 * jcache.c's, learning attr_learn.c's; writes leave through the batch flush
 * (store_flush.c), reads through store_get_many() and expiry_read().
 */
#include "attribute/attr_int.h"

#include "aggregate/series.h"
#include "core/ts.h"

#include <stdlib.h>
#include <string.h>

struct attr *attr_new(const struct config *cfg, struct store *store, char *errstr,
                      size_t errstr_size)
{
    struct attr *a = calloc(1, sizeof(*a));
    struct credit_opts co = { 0 };
    if (!a)
        goto nomem;
    a->cfg = cfg;
    a->store = store;
    a->topic = cfg->kafka.topics.events;
    a->mode =
        strcmp(cfg->attribution.journey_mode, "independent") ? JOURNEY_RESET : JOURNEY_INDEPENDENT;
    a->lookback = cfg->attribution.lookback_ms;
    a->max_touches = (size_t)cfg->attribution.max_touches;
    a->lim = (struct journey_limits){ a->max_touches, a->lookback, 0, 0 };
    for (size_t i = 0; i < cfg->attribution.models.n; i++) {
        enum model_id m;
        if (model_from_name(jd_str_c(cfg->attribution.models.v[i]), &m))
            co.models[m] = true;
    }
    co.params = (struct model_params){ cfg->attribution.first_weight, cfg->attribution.last_weight,
                                       cfg->attribution.half_life_ms };
    co.direct = (const char *const *)cfg->attribution.direct_channels.v;
    co.ndirect = cfg->attribution.direct_channels.n;
    co.max_touches = a->max_touches;
    if (!(a->credit = credit_new(&co)) || !(a->ps = pathstat_new()) ||
        !(a->x = expiry_new(store, a->topic)) ||
        !(a->jc = jcache_new(4 * (size_t)cfg->batch.max_events)) ||
        !(a->idx = calloc(a->max_touches + 1, sizeof(*a->idx))) ||
        !(a->path = calloc(a->max_touches + 1, sizeof(*a->path))) ||
        !(a->out = calloc(credit_max_out(a->credit) + MODEL_N, sizeof(*a->out))) ||
        !(a->credited = tally_new((size_t)cfg->limits.metric_labels, 2 * MODEL_N)))
        goto nomem;
    return a;
nomem:
    attr_destroy(a);
    jd_errf(JD_ERR_NOMEM, errstr, errstr_size, "out of memory");
    return NULL;
}

static void attr_weights_free(struct attr_weights *w)
{
    for (size_t i = 0; i < w->n; i++)
        free(w->names[i]);
    free(w->names);
    free(w->w);
    memset(w, 0, sizeof(*w));
}

void attr_destroy(struct attr *a)
{
    if (!a)
        return;
    for (int m = 0; m < MODEL_N; m++)
        attr_weights_free(&a->weights[m]);
    credit_destroy(a->credit);
    tally_destroy(a->credited);
    pathstat_destroy(a->ps);
    journey_free(&a->j);
    expiry_destroy(a->x);
    jcache_destroy(a->jc);
    free(a->users);
    free(a->japps);
    free(a->ev);
    free(a->arena);
    free(a->order);
    free(a->keys);
    free(a->keys2);
    free(a->gets);
    free(a->kbuf);
    free(a->idx);
    free(a->out);
    free(a->path);
    free(a->bytes);
    free(a->put_off);
    free(a->put_len);
    free(a->puts);
    free(a->apps);
    free(a->pskeys);
    free(a);
}

bool attr_wants(const struct attr *a, struct jd_str type)
{
    const struct config_list *l[2] = { &a->cfg->attribution.touch_types,
                                       &a->cfg->attribution.conversion_types };
    for (int k = 0; k < 2; k++)
        for (size_t i = 0; i < l[k]->n; i++)
            if (jd_str_eqc(type, l[k]->v[i]))
                return true;
    return false;
}

static bool attr_is_conversion(const struct attr *a, struct jd_str type)
{
    const struct config_list *l = &a->cfg->attribution.conversion_types;
    for (size_t i = 0; i < l->n; i++)
        if (jd_str_eqc(type, l->v[i]))
            return true;
    return false;
}

static size_t attr_copy(struct attr *a, struct jd_str s)
{
    if (s.n) /* absent fields are empty slices without bytes */
        memcpy(a->arena + a->alen, s.p, s.n);
    a->alen += s.n;
    return a->alen - s.n;
}

bool attr_add(struct attr *a, int32_t partition, const struct event *ev, int64_t st)
{
    size_t need = ev->user_id.n + ev->channel.n + ev->campaign.n + ev->type.n;
    if (!jd_reserve((void **)&a->ev, &a->capev, a->nev + 1, sizeof(*a->ev)) ||
        !jd_reserve((void **)&a->arena, &a->acap, a->alen + need, 1))
        return false;
    struct attr_ev *e = &a->ev[a->nev];
    memset(e, 0, sizeof(*e));
    e->partition = partition;
    e->conversion = attr_is_conversion(a, ev->type);
    e->ts = ev->ts_ms;
    e->st = st;
    e->has_value = ev->has_value;
    e->value = ev->has_value ? ev->value : 0;
    e->luser = (uint16_t)ev->user_id.n;
    e->user = attr_copy(a, ev->user_id);
    e->lchannel = (uint16_t)ev->channel.n;
    e->channel = attr_copy(a, ev->channel);
    e->lcampaign = (uint16_t)ev->campaign.n;
    e->campaign = attr_copy(a, ev->campaign);
    e->ltype = (uint16_t)ev->type.n;
    e->type = attr_copy(a, ev->type);
    a->nev++;
    a->prepared = false; /* an event after attr_prepare(): prepare again */
    return true;
}

bool attr_pending(const struct attr *a)
{
    return a->nev > 0;
}

void attr_reset(struct attr *a)
{
    a->nev = a->alen = 0;
    a->prepared = false;
}

const struct attr_counters *attr_counters(const struct attr *a)
{
    return &a->c;
}

bool attr_set_weights(struct attr *a, enum model_id model, const char *const *channels,
                      const double *w, size_t n)
{
    struct attr_weights nw = { calloc(n + 1, sizeof(char *)), calloc(n + 1, sizeof(double)), 0 };
    if (!nw.names || !nw.w)
        goto fail;
    for (; nw.n < n; nw.n++) {
        if (!(nw.names[nw.n] = strdup(channels[nw.n])))
            goto fail;
        nw.w[nw.n] = w[nw.n];
    }
    attr_weights_free(&a->weights[model]);
    a->weights[model] = nw;
    return true;
fail:
    attr_weights_free(&nw);
    return false;
}

static double attr_lookup(void *self, enum model_id m, struct jd_str channel)
{
    const struct attr_weights *w = &((const struct attr *)self)->weights[m];
    for (size_t i = 0; i < w->n; i++)
        if (jd_str_eqc(channel, w->names[i]))
            return w->w[i];
    return 0;
}

static struct jd_str attr_str(const struct attr *a, size_t off, size_t len)
{
    return (struct jd_str){ len ? a->arena + off : NULL, len };
}

/* --------------------------------------------------------------- a batch */

/* Drops what the last attr_run() staged (its batch is not applied, or is being redone). */
static void attr_drop_staged(struct attr *a)
{
    jcache_discard(a->jc);
    tally_discard(a->credited);
    a->null_staged = 0;
}

/* Touch records a journey may gather before a read writes it back whole. */
#define ATTR_MAX_RECORDS 32

/* Canonical credit labels (series.h): campaign, channel, conversion_type, model. */
static size_t attr_labels(char *buf, struct jd_str campaign, struct jd_str channel,
                          struct jd_str ctype, const char *model)
{
    const struct {
        const char *name;
        struct jd_str v;
    } l[] = { { "campaign", campaign },
              { "channel", channel },
              { "conversion_type", ctype },
              { "model", jd_str_c(model) } };
    size_t w = 0;
    for (size_t i = 0; i < JD_ARRAY_SIZE(l); i++) {
        if (!l[i].v.n)
            continue;
        if (w)
            buf[w++] = SERIES_SEP_PAIR;
        size_t n = strlen(l[i].name);
        memcpy(buf + w, l[i].name, n);
        w += n;
        buf[w++] = SERIES_SEP_VALUE;
        memcpy(buf + w, l[i].v.p, l[i].v.n);
        w += l[i].v.n;
    }
    return w;
}

static bool attr_put(struct attr *a, const char *key, bool del)
{
    if (!jd_reserve((void **)&a->puts, &a->capputs, a->nputs + 1, sizeof(*a->puts)) ||
        !jd_reserve((void **)&a->put_off, &a->capputoff, a->nputs + 1, sizeof(*a->put_off)) ||
        !jd_reserve((void **)&a->put_len, &a->capputlen, a->nputs + 1, sizeof(*a->put_len)))
        return false;
    a->puts[a->nputs] = (struct store_put){ jd_str_c(key), JD_STR_NULL, del };
    a->put_off[a->nputs] = a->blen;
    a->put_len[a->nputs] = 0;
    a->nputs++;
    return true;
}

/* Encodes the journey as the value of the last put. */
static bool attr_encode(struct attr *a)
{
    size_t n = journey_encoded_size(&a->j);
    if (!jd_reserve((void **)&a->bytes, &a->bcap, a->blen + n, 1))
        return false;
    a->put_off[a->nputs - 1] = a->blen;
    a->put_len[a->nputs - 1] = journey_encode(&a->j, a->bytes + a->blen);
    a->blen += a->put_len[a->nputs - 1];
    return true;
}

/* Loads a journey read back, replaying its records; a damaged one is counted and replaced. */
static bool attr_load(struct attr *a, const struct store_get *g)
{
    char err[128];
    journey_reset(&a->j);
    a->lim.records = 0;
    if (!g->value)
        return true;
    a->lim.dropped = 0;
    enum jd_err e = journey_decode(&a->j, g->value, g->len, &a->lim, err, sizeof(err));
    a->c.dropped += a->lim.dropped;
    if (e == JD_ERR_CORRUPT)
        a->c.corrupt++;
    return e != JD_ERR_NOMEM;
}

/* Notes what the batch leaves of journey (\p partition, \p fa:\p fb) for jcache. */
static bool attr_note(struct attr *a, int32_t partition, uint64_t fa, uint64_t fb, int64_t last,
                      uint32_t nrec)
{
    return jcache_stage(a->jc, partition, fa, fb, (struct jcache_entry){ last, nrec });
}

/* The journey in hand as it is left: written whole, so no records. */
static bool attr_note_journey(struct attr *a, int32_t partition, uint64_t fa, uint64_t fb)
{
    return attr_note(a, partition, fa, fb,
                     journey_is_empty(&a->j) ? INT64_MIN : journey_last_activity(&a->j), 0);
}

/*
 * A fingerprint's numeric halves back from its hex (store_user_fp()); false
 * for anything journeyd did not write (its key is another user's).
 */
static bool attr_fp_halves(const char fp[32], uint64_t *fa, uint64_t *fb)
{
    uint64_t h[2] = { 0, 0 };
    for (int i = 0; i < 32; i++) {
        char c = fp[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
        h[i / 16] = h[i / 16] << 4 | (uint64_t)(c <= '9' ? c - '0' : c - 'a' + 10);
    }
    *fa = h[0];
    *fb = h[1];
    return true;
}

static bool attr_convert(struct attr *a, const struct attr_ev *e, struct agg *agg)
{
    struct jd_str type = attr_str(a, e->type, e->ltype);
    size_t n = journey_convert(&a->j, type, e->ts, a->mode, a->lookback, a->idx);
    if (n == SIZE_MAX)
        return false;
    struct credit_weights w = { attr_lookup, a };
    size_t nout = credit_compute(a->credit, a->j.t, a->idx, n, e->ts, e->value, &w, a->out);
    for (size_t i = 0; i < nout; i++) {
        const struct credit_out *c = &a->out[i];
        size_t ln = attr_labels(a->labels, c->campaign, c->channel, type, model_name(c->model));
        struct jd_str ct = JD_STR_LIT(ATTR_CREDIT_TYPE);
        if (!agg_add_credit(agg, series_id(ct, a->labels, ln), ct, (struct jd_str){ a->labels, ln },
                            e->ts, c->value, c->conversions))
            return false;
        tally_add(a->credited, c->channel.p, c->channel.n, c->model, c->conversions);
        tally_add(a->credited, c->channel.p, c->channel.n, MODEL_N + c->model, c->value);
    }
    a->c.conversions++;
    a->c.credits += nout;
    if (!n) {
        a->c.none++;
        return true;
    }
    for (size_t i = 0; i < n; i++)
        a->path[i] = a->j.t[a->idx[i]].channel;
    return pathstat_add(a->ps, e->ts, type, a->path, n, 1, e->value, 0);
}

/* @returns true when the journey in hand is due at stream time \p st. */
static bool attr_due(const struct attr *a, int64_t st)
{
    return !journey_is_empty(&a->j) && journey_last_activity(&a->j) + a->lookback < st;
}

/* The journey in hand expires: its touches after its last conversion are a null path. */
static bool attr_expire_now(struct attr *a)
{
    size_t n = journey_null_path(&a->j, a->idx);
    for (size_t i = 0; i < n; i++)
        a->path[i] = a->j.t[a->idx[i]].channel;
    if (n && !pathstat_add(a->ps, journey_last_touch(&a->j), JD_STR_NULL, a->path, n, 0, 0, 1))
        return false;
    a->c.expired++;
    a->null_staged += n > 0;
    journey_reset(&a->j);
    return true;
}

/*
 * One user's events of the batch, \p order[u->start, to), against journey
 * \p g; \p st is the partition's stream time after the batch. The journey is
 * listed under its due time again when that moved to another bucket, or when
 * u->relist (a bucket listing it is being read, and may go with this batch).
 */
static bool attr_user(struct attr *a, const struct attr_user *u, const struct store_get *g,
                      size_t to, int64_t st, struct agg *agg)
{
    const struct attr_ev *first = &a->ev[a->order[u->start]];
    if (!attr_load(a, g))
        return false;
    int64_t was = journey_is_empty(&a->j)
                      ? INT64_MIN
                      : expiry_bucket(journey_last_activity(&a->j) + a->lookback);
    for (size_t k = u->start; k < to; k++) {
        const struct attr_ev *e = &a->ev[a->order[k]];
        /* due before this event in offset order: expired there, whatever the batching */
        if (attr_due(a, e->st) && !attr_expire_now(a))
            return false;
        if (!e->conversion) {
            a->c.touches++;
            if (!journey_touch(&a->j, e->ts, attr_str(a, e->channel, e->lchannel),
                               attr_str(a, e->campaign, e->lcampaign), a->max_touches, a->lookback,
                               &a->c.dropped))
                return false;
        } else if (!attr_convert(a, e, agg)) {
            return false;
        }
    }
    if (!attr_note_journey(a, first->partition, first->fa, first->fb))
        return false;
    if (!journey_is_empty(&a->j)) {
        int64_t due = journey_last_activity(&a->j) + a->lookback;
        return attr_put(a, g->key, false) && attr_encode(a) &&
               ((!u->relist && expiry_bucket(due) == was) ||
                expiry_register(a->x, first->partition, first->fp, due, st));
    }
    return !g->value || attr_put(a, g->key, true);
}

/*
 * Whether user \p u's touches, order[u->start, to), can be appended to its
 * journey unread: jcache knows the journey, the user converts nothing in the
 * batch, no event finds the journey due (attr_user() expires it there), and
 * its records stay few (a read writes it back whole). Fills u->was, ->last
 * and ->nrec for attr_append().
 */
static bool attr_appendable(struct attr *a, struct attr_user *u, size_t to)
{
    const struct attr_ev *first = &a->ev[a->order[u->start]];
    struct jcache_entry e;
    if (!jcache_get(a->jc, first->partition, first->fa, first->fb, &e))
        return false;
    u->was = u->last = e.last;
    u->nrec = e.nrec;
    for (size_t k = u->start; k < to; k++) {
        const struct attr_ev *ev = &a->ev[a->order[k]];
        if (ev->conversion || (u->last != INT64_MIN && u->last + a->lookback < ev->st))
            return false;
        /* journey_touch() always keeps the newest touch: the last activity is the max */
        u->last = JD_MAX(u->last, ev->ts);
        u->nrec++;
    }
    return u->nrec <= ATTR_MAX_RECORDS;
}

/*
 * The records of every user whose touches are appended unread (u->get ==
 * SIZE_MAX), in a->bytes; key and value are parked as offsets (kbuf and
 * bytes may still move) until attr_run() is done.
 */
static bool attr_encode_appends(struct attr *a, size_t nusers)
{
    for (size_t i = 0; i < nusers; i++) {
        const struct attr_user *u = &a->users[i];
        if (u->get != SIZE_MAX)
            continue;
        size_t off = a->blen;
        for (size_t k = u->start; k < a->users[i + 1].start; k++) {
            const struct attr_ev *e = &a->ev[a->order[k]];
            struct jd_str ch = attr_str(a, e->channel, e->lchannel);
            struct jd_str camp = attr_str(a, e->campaign, e->lcampaign);
            if (!jd_reserve((void **)&a->bytes, &a->bcap,
                            a->blen + journey_record_size(e->ts, ch, camp), 1))
                return false;
            a->blen += journey_encode_record(a->bytes + a->blen, e->ts, ch, camp);
        }
        if (!jd_reserve((void **)&a->japps, &a->capjapps, a->njapps + 1, sizeof(*a->japps)))
            return false;
        a->japps[a->njapps++] =
            (struct store_put){ { (const char *)(uintptr_t)u->key, strlen(a->kbuf + u->key) },
                                { (const char *)(uintptr_t)off, a->blen - off },
                                false };
    }
    return true;
}

/*
 * User \p u's touches appended to its journey as records (encoded already:
 * one write, no read); listed again like attr_user() would, from what jcache
 * knew.
 */
static bool attr_append(struct attr *a, const struct attr_user *u, size_t to, int64_t st)
{
    const struct attr_ev *first = &a->ev[a->order[u->start]];
    /* counted here, not when encoded: a batch prepared and then dropped is prepared again */
    a->c.touches += to - u->start;
    a->c.appended += to - u->start;
    int64_t due = u->last + a->lookback;
    bool moved = u->was == INT64_MIN || expiry_bucket(due) != expiry_bucket(u->was + a->lookback);
    return attr_note(a, first->partition, first->fa, first->fb, u->last, u->nrec) &&
           ((!moved && !u->relist) || expiry_register(a->x, first->partition, first->fp, due, st));
}

/*
 * A journey listed in a due bucket: when the partition's stream time \p st
 * has passed its due time, its null path, then gone. One touched since is
 * not due: it is listed in a later bucket too.
 */
static bool attr_expire(struct attr *a, const struct store_get *g, int32_t partition,
                        const char *fp, int64_t st)
{
    uint64_t fa, fb;
    bool known = attr_fp_halves(fp, &fa, &fb); /* else no note: only a read is lost */
    if (!g->value) /* gone already: expired or emptied by its user's events */
        return !known || attr_note(a, partition, fa, fb, INT64_MIN, 0);
    if (!attr_load(a, g))
        return false;
    if (!journey_is_empty(&a->j) && !attr_due(a, st))
        /* touched since; written back whole if it had records */
        return (!known || attr_note_journey(a, partition, fa, fb)) &&
               (!a->lim.records || (attr_put(a, g->key, false) && attr_encode(a)));
    return attr_expire_now(a) && attr_put(a, g->key, true) &&
           (!known || attr_note(a, partition, fa, fb, INT64_MIN, 0));
}

/* The user (partition, fp) of this batch, or SIZE_MAX (users are sorted by both). */
static size_t attr_user_of(const struct attr *a, size_t nusers, int32_t partition, const char *fp)
{
    size_t lo = 0, hi = nusers;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct attr_ev *e = &a->ev[a->order[a->users[mid].start]];
        int c =
            e->partition != partition ? (e->partition < partition ? -1 : 1) : memcmp(e->fp, fp, 32);
        if (c == 0)
            return mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return SIZE_MAX;
}

bool attr_gets(struct attr *a, size_t n)
{
    size_t cap = a->capgets;
    if (!jd_reserve((void **)&a->gets, &cap, n, sizeof(*a->gets)))
        return false;
    memset(a->gets + a->capgets, 0, (cap - a->capgets) * sizeof(*a->gets));
    a->capgets = cap;
    return true;
}

/* The key of the journey of \p fp on \p part, at kbuf offset *\p off (kbuf may move). */
static bool attr_key_journey(struct attr *a, size_t *off, int32_t part, const char fp[33])
{
    if (!jd_reserve((void **)&a->kbuf, &a->kcap, a->klen + STORE_KEY_MAX, 1))
        return false;
    size_t n = store_key_journey(a->store, a->kbuf + a->klen, STORE_KEY_MAX, a->topic, part, fp);
    *off = a->klen;
    a->klen += n + 1;
    return true;
}

/* Names gets[i] the key at kbuf offset \p off (made a pointer by attr_keys_fix()). */
static void attr_get_key(struct attr *a, size_t i, size_t off)
{
    a->gets[i].key = (const char *)(uintptr_t)off;
}

/* Turns the first \p n gets' key offsets into pointers (kbuf no longer moves). */
static void attr_keys_fix(struct attr *a, size_t n)
{
    for (size_t i = 0; i < n; i++)
        a->gets[i].key = a->kbuf + (uintptr_t)a->gets[i].key;
}

/*
 * Finds the batch's users and which journeys must be read (*\p ngets of
 * them, u->get numbering them); returns the number of users (SIZE_MAX when
 * out of memory).
 */
static size_t attr_users(struct attr *a, size_t *ngets)
{
    size_t nusers = 0;
    *ngets = 0;
    if (!jd_reserve((void **)&a->order, &a->caporder, a->nev + 1, sizeof(*a->order)) ||
        !jd_reserve((void **)&a->users, &a->capusers, a->nev + 1, sizeof(*a->users)))
        return SIZE_MAX;
    for (size_t i = 0; i < a->nev; i++) {
        struct attr_ev *e = &a->ev[i];
        store_user_fp(attr_str(a, e->user, e->luser), e->fp, &e->fa, &e->fb);
    }
    if (!attr_sort(a))
        return SIZE_MAX;
    for (size_t k = 0; k < a->nev; k++) {
        const struct attr_ev *e = &a->ev[a->order[k]], *p = k ? &a->ev[a->order[k - 1]] : NULL;
        if (p && p->partition == e->partition && p->fa == e->fa && p->fb == e->fb)
            continue;
        struct attr_user *u = &a->users[nusers++];
        *u = (struct attr_user){ .start = k };
        if (!attr_key_journey(a, &u->key, e->partition, e->fp))
            return SIZE_MAX;
    }
    a->users[nusers].start = a->nev;
    for (size_t i = 0; i < nusers; i++) {
        struct attr_user *u = &a->users[i];
        u->get = SIZE_MAX;
        if (!attr_appendable(a, u, a->users[i + 1].start))
            u->get = (*ngets)++; /* named in attr_run(): attr_learn() uses the gets too */
    }
    return nusers;
}

static int64_t attr_st(const struct attr_part *parts, size_t nparts, int32_t partition)
{
    for (size_t i = 0; i < nparts; i++)
        if (parts[i].partition == partition)
            return parts[i].st;
    return INT64_MIN;
}

/* Path statistics: one block per hour touched, kept as long as day buckets. */
static bool attr_path_blocks(struct attr *a)
{
    size_t nh = pathstat_nhours(a->ps), cap = a->cappskeys;
    if (!jd_reserve((void **)&a->apps, &a->capapps, nh + 1, sizeof(*a->apps)) ||
        !jd_reserve((void **)&a->pskeys, &cap, nh + 1, sizeof(*a->pskeys)))
        return false;
    a->cappskeys = cap;
    for (size_t h = 0; h < nh; h++) {
        int64_t hour;
        struct jd_str bytes;
        if (!pathstat_hour(a->ps, h, &hour, &bytes) ||
            !jd_reserve((void **)&a->bytes, &a->bcap, a->blen + bytes.n, 1))
            return false;
        memcpy(a->bytes + a->blen, bytes.p, bytes.n);
        store_key_paths(a->store, a->pskeys[h], sizeof(a->pskeys[h]), hour);
        /* the offset is parked in .p until the bytes stop moving */
        a->apps[h] = (struct store_append){ jd_str_c(a->pskeys[h]),
                                            { (const char *)(uintptr_t)a->blen, bytes.n },
                                            hour + JD_MS_HOUR + a->cfg->windows.retention_day_ms };
        a->blen += bytes.n;
    }
    a->napps = nh;
    return true;
}

/* Appends the expiry's writes to the batch's (after the fix-ups of attr_run()). */
static bool attr_expiry_writes(struct attr *a, struct expiry_writes *xw)
{
    if (!expiry_writes(a->x, xw) ||
        !jd_reserve((void **)&a->puts, &a->capputs, a->nputs + xw->nputs + 1, sizeof(*a->puts)) ||
        !jd_reserve((void **)&a->apps, &a->capapps, a->napps + xw->nappends + 1, sizeof(*a->apps)))
        return false;
    memcpy(a->puts + a->nputs, xw->puts, xw->nputs * sizeof(*a->puts));
    a->nputs += xw->nputs;
    memcpy(a->apps + a->napps, xw->appends, xw->nappends * sizeof(*a->apps));
    a->napps += xw->nappends;
    return true;
}

bool attr_prepare(struct attr *a)
{
    /* what an attr_run() whose batch was never sent learnt (the batch in flight, if any, was
     * sent: its journeys are known already, its credits count once it is applied) */
    jcache_discard(a->jc);
    a->blen = a->njapps = a->klen = 0;
    a->prepared = false;
    if ((a->nusers = attr_users(a, &a->nread)) == SIZE_MAX || !attr_encode_appends(a, a->nusers))
        return false;
    a->prepared = true;
    return true;
}

enum jd_err attr_run(struct attr *a, const struct attr_part *parts, size_t nparts, struct agg *agg,
                     struct attr_writes *out, char *errstr, size_t errstr_size)
{
    enum jd_err err;
    size_t nusers, ngets = 0, nread;
    bool ok = true;
    struct expiry_writes xw;
    memset(out, 0, sizeof(*out));
    /* 1. the batch's users (each with its events in offset order), and the records of those
     *    appended unread (attr_prepare(), maybe done while the previous flush ran); then a
     *    slice of each partition's due journeys: those not users of this batch are read too */
    tally_discard(a->credited); /* a batch that was not applied */
    a->null_staged = 0;
    if (!a->prepared && !attr_prepare(a))
        goto nomem;
    a->prepared = false;
    nusers = a->nusers;
    nread = a->nread;
    if (!attr_gets(a, nread + 1))
        goto nomem;
    for (size_t i = 0; i < nusers; i++)
        if (a->users[i].get != SIZE_MAX)
            attr_get_key(a, a->users[i].get, a->users[i].key);
    a->nputs = a->napps = 0;
    pathstat_reset(a->ps);
    expiry_begin(a->x);
    for (size_t i = 0; i < nparts; i++)
        if (!expiry_want(a->x, parts[i].partition, parts[i].st))
            goto nomem;
    if ((err = expiry_read(a->x, errstr, errstr_size)) != JD_OK)
        return err;
    ngets = nread;
    for (size_t q = 0; q < expiry_nreads(a->x); q++) {
        int32_t part;
        int64_t st;
        size_t n;
        const char(*fps)[33] = expiry_slice(a->x, q, &part, &st, &n);
        if (!attr_gets(a, ngets + n + 1))
            goto nomem;
        for (size_t m = 0; m < n; m++) {
            size_t u = attr_user_of(a, nusers, part, fps[m]);
            if (u != SIZE_MAX) {
                a->users[u].relist = true; /* the batch decides about this one */
                continue;
            }
            size_t off;
            if (!attr_key_journey(a, &off, part, fps[m]))
                goto nomem;
            attr_get_key(a, ngets++, off);
        }
    }

    /* 2. one read for all of them */
    attr_keys_fix(a, ngets);
    if ((err = store_get_many(a->store, a->gets, ngets, errstr, errstr_size)) != JD_OK)
        return err;

    /* 3. the users' events, then the expired journeys, then the path blocks */
    int64_t st = INT64_MIN;
    for (size_t i = 0; i < nusers && ok; i++) {
        const struct attr_user *u = &a->users[i];
        const struct attr_ev *e = &a->ev[a->order[u->start]];
        if (!i || e->partition != a->ev[a->order[a->users[i - 1].start]].partition)
            st = attr_st(parts, nparts, e->partition);
        ok = u->get == SIZE_MAX ? attr_append(a, u, a->users[i + 1].start, st)
                                : attr_user(a, u, &a->gets[u->get], a->users[i + 1].start, st, agg);
    }
    for (size_t q = 0, g = nread; q < expiry_nreads(a->x) && ok; q++) {
        int32_t part;
        size_t n;
        const char(*fps)[33] = expiry_slice(a->x, q, &part, &st, &n);
        for (size_t m = 0; m < n && ok; m++)
            if (attr_user_of(a, nusers, part, fps[m]) == SIZE_MAX)
                ok = attr_expire(a, &a->gets[g++], part, fps[m], st);
    }
    if (!ok || !attr_path_blocks(a))
        goto nomem;
    for (size_t i = 0; i < a->napps; i++)
        a->apps[i].bytes.p = (const char *)a->bytes + (uintptr_t)a->apps[i].bytes.p;
    for (size_t i = 0; i < a->nputs; i++)
        if (!a->puts[i].del)
            a->puts[i].value =
                (struct jd_str){ (const char *)a->bytes + a->put_off[i], a->put_len[i] };
    for (size_t i = 0; i < a->njapps; i++) {
        a->japps[i].key.p = a->kbuf + (uintptr_t)a->japps[i].key.p;
        a->japps[i].value.p = (const char *)a->bytes + (uintptr_t)a->japps[i].value.p;
    }
    if (!attr_expiry_writes(a, &xw))
        goto nomem;
    store_gets_free(a->gets, ngets); /* the keys stay: they are the puts' keys */
    *out = (struct attr_writes){ a->puts, a->nputs, xw.zputs, xw.nzputs,
                                 a->apps, a->napps, a->japps, a->njapps };
    return JD_OK;
nomem:
    store_gets_free(a->gets, ngets);
    return jd_errf(JD_ERR_NOMEM, errstr, errstr_size, "out of memory attributing the batch");
}

void attr_sent(struct attr *a)
{
    jcache_commit(a->jc);
}

void attr_commit(struct attr *a)
{
    tally_commit(a->credited);
    a->c.null_paths += a->null_staged;
    a->null_staged = 0;
}

void attr_discard(struct attr *a)
{
    attr_drop_staged(a);
    jcache_forget(a->jc, -1);
}

void attr_forget(struct attr *a, int32_t partition)
{
    if (a)
        jcache_forget(a->jc, partition);
}

const struct tally *attr_credit_tally(const struct attr *a)
{
    return a->credited;
}
