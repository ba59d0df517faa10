/*
 * query.c — evaluates expression trees against the windowed store.
 *
 * Owns the read-side semantics: which series a selector matches, how a
 * range becomes buckets, how buckets combine into counts, sums, extremes,
 * last values and distinct users, and how vectors combine under operators.
 * Reads go through store.h: per selector, one round trip lists the series
 * and one fetches every chunk the range needs; records are folded here.
 */
#include "evaluate/query.h"

#include "evaluate/query_int.h"

#include "aggregate/agg.h"
#include "aggregate/chunk.h"
#include "aggregate/hll.h"
#include "aggregate/series.h"
#include "aggregate/window.h"
#include "core/hash.h"
#include "core/ts.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A matched series with its labels decoded. */
struct query_series {
    uint64_t sid;
    char *enc;
    struct series_label labels[EVENT_MAX_PROPS + 2];
    size_t nlabels;
    struct agg_delta acc; /* every bucket of the range, folded */
    size_t group;         /* index of its output group */
};

/* ---------------------------------------------------------- results */

void query_result_free(struct query_result *r)
{
    for (size_t i = 0; i < r->n; i++) {
        for (size_t k = 0; k < r->v[i].nlabels; k++) {
            free(r->v[i].labels[k].name);
            free(r->v[i].labels[k].value);
        }
        free(r->v[i].labels);
    }
    free(r->v);
    memset(r, 0, sizeof(*r));
}

bool query_push(struct query_result *r, struct query_sample *s)
{
    struct query_sample *v = realloc(r->v, (r->n + 1) * sizeof(*v));
    if (!v)
        return false;
    r->v = v;
    r->v[r->n++] = *s;
    return true;
}

bool query_copy_labels(struct query_sample *dst, const struct query_label *src, size_t n)
{
    dst->labels = n ? calloc(n, sizeof(*dst->labels)) : NULL;
    dst->nlabels = 0;
    if (n && !dst->labels)
        return false;
    for (size_t i = 0; i < n; i++) {
        dst->labels[i].name = strdup(src[i].name);
        dst->labels[i].value = strdup(src[i].value);
        dst->nlabels++;
        if (!dst->labels[i].name || !dst->labels[i].value)
            return false;
    }
    return true;
}

void query_sample_free(struct query_sample *s)
{
    for (size_t k = 0; k < s->nlabels; k++) {
        free(s->labels[k].name);
        free(s->labels[k].value);
    }
    free(s->labels);
}

/* Canonical text of a label set, for matching vectors ("a=1\x1eb=2"). */
size_t query_labels_key(const struct query_sample *s, char *buf, size_t size)
{
    size_t w = 0;
    if (size)
        buf[0] = '\0';
    for (size_t i = 0; i < s->nlabels; i++) {
        int n = snprintf(size > w ? buf + w : NULL, size > w ? size - w : 0, "%s%s\x1f%s",
                         i ? "\x1e" : "", s->labels[i].name, s->labels[i].value);
        if (n > 0)
            w += (size_t)n;
    }
    return w;
}

static int query_sample_cmp(const void *a, const void *b)
{
    char ka[4096], kb[4096];
    query_labels_key(a, ka, sizeof(ka));
    query_labels_key(b, kb, sizeof(kb));
    return strcmp(ka, kb);
}

static int query_label_cmp(const void *a, const void *b)
{
    return strcmp(((const struct query_label *)a)->name, ((const struct query_label *)b)->name);
}

void query_sort(struct query_result *r)
{
    if (r->n > 1)
        qsort(r->v, r->n, sizeof(*r->v), query_sample_cmp);
}

enum jd_err query_nomem(struct query_ctx *c)
{
    return jd_errf(JD_ERR_NOMEM, c->errstr, c->errstr_size, "out of memory");
}

size_t query_format_value(const struct query_sample *s, char *buf, size_t size)
{
    if (s->kind == QUERY_INT || s->kind == QUERY_MICROS) {
        jd_i128 m = s->micros;
        if (s->kind == QUERY_INT)
            return jd_i128_format(m, buf) > size ? 0 : strlen(buf);
        bool neg = m < 0;
        jd_i128 mag = neg ? -m : m;
        char ip[48];
        jd_i128_format(mag / 1000000, ip);
        int frac = (int)(mag % 1000000);
        if (!frac)
            return (size_t)snprintf(buf, size, "%s%s", neg ? "-" : "", ip);
        char f[8];
        snprintf(f, sizeof(f), "%06d", frac);
        size_t fl = 6;
        while (f[fl - 1] == '0')
            fl--;
        return (size_t)snprintf(buf, size, "%s%s.%.*s", neg ? "-" : "", ip, (int)fl, f);
    }
    if (isnan(s->value))
        return (size_t)snprintf(buf, size, "NaN");
    /* shortest text that reads back as the same double */
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, size, "%.*g", prec, s->value);
        if (strtod(buf, NULL) == s->value)
            break;
    }
    return strlen(buf);
}

/* ---------------------------------------------------------- ranges */

static enum jd_err query_range(struct query_ctx *c, const struct expr_node *sel, int64_t *from,
                               int64_t *to)
{
    int64_t t = c->at - sel->offset_ms;
    if (sel->range == EXPR_RANGE_DURATION) {
        *from = t - sel->range_ms;
        *to = t;
        return JD_OK;
    }
    enum tz_period p = sel->range == EXPR_RANGE_HOUR   ? TZ_HOUR
                       : sel->range == EXPR_RANGE_DAY  ? TZ_DAY
                       : sel->range == EXPR_RANGE_WEEK ? TZ_WEEK
                                                       : TZ_MONTH;
    const struct tz *tz = c->env->tz;
    if (!tz)
        return jd_errf(JD_ERR_INVALID, c->errstr, c->errstr_size,
                       "calendar ranges need a timezone");
    /* the last complete period before t: it ends where the period holding t starts */
    *to = tz_period_start(tz, p, t);
    *from = tz_period_add(tz, p, *to, -1);
    return JD_OK;
}

/* ---------------------------------------------------------- selection */

static bool query_label_value(const struct query_series *s, const char *name, struct jd_str *out)
{
    for (size_t i = 0; i < s->nlabels; i++)
        if (jd_str_eqc(s->labels[i].name, name)) {
            *out = s->labels[i].value;
            return true;
        }
    *out = JD_STR_NULL;
    return false;
}

static bool query_matches(const struct expr_node *sel, const struct query_series *s)
{
    for (size_t i = 0; i < sel->nmatchers; i++) {
        const struct expr_matcher *m = &sel->matchers[i];
        const char *name = strncmp(m->label, "props.", 6) ? m->label : m->label + 6;
        struct jd_str v;
        char buf[512];
        query_label_value(s, name, &v);
        bool hit;
        switch (m->op) {
        case EXPR_MATCH_EQ:
            hit = jd_str_eqc(v, m->value);
            break;
        case EXPR_MATCH_NE:
            hit = !jd_str_eqc(v, m->value);
            break;
        default:
            snprintf(buf, sizeof(buf), "%.*s", (int)v.n, v.p ? v.p : "");
            hit = regexec(&m->re, buf, 0, NULL, 0) == 0;
            if (m->op == EXPR_MATCH_NRE)
                hit = !hit;
        }
        if (!hit)
            return false;
    }
    return true;
}

static void query_series_free(struct query_series *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(s[i].enc);
    free(s);
}

static enum jd_err query_select(struct query_ctx *c, const struct expr_node *sel,
                                struct query_series **out, size_t *nout)
{
    struct store_series *all = NULL;
    size_t n = 0, k = 0;
    const struct query_source *src = &c->env->src;
    enum jd_err err =
        src->ops->list_series(src->self, sel->type, &all, &n, c->errstr, c->errstr_size);
    *out = NULL;
    *nout = 0;
    if (err)
        return err;
    struct query_series *m = n ? calloc(n, sizeof(*m)) : NULL;
    if (n && !m) {
        store_series_free(all, n);
        return jd_errf(JD_ERR_NOMEM, c->errstr, c->errstr_size, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        struct query_series *s = &m[k];
        s->sid = all[i].sid;
        s->enc = all[i].labels;
        all[i].labels = NULL;
        s->nlabels =
            series_labels_decode(s->enc, strlen(s->enc), s->labels, JD_ARRAY_SIZE(s->labels));
        if (s->nlabels > JD_ARRAY_SIZE(s->labels))
            s->nlabels = JD_ARRAY_SIZE(s->labels);
        if (query_matches(sel, s))
            k++;
        else
            free(s->enc);
    }
    store_series_free(all, n);
    *out = m;
    *nout = k;
    return JD_OK;
}

/* ---------------------------------------------------------- buckets */

/*
 * Refuses ranges that reach into chunks garbage collection may already have
 * removed: GC deletes a chunk once the oldest partition stream time passes
 * its end plus the retention of its resolution.
 */
static enum jd_err query_check_kept(struct query_ctx *c, const struct expr_node *sel,
                                    const struct window_piece *pieces, size_t np)
{
    static const char *const names[] = { "minute", "hour", "day" };
    const struct window_retention *ret = c->env->src.ops->retention(c->env->src.self);
    for (size_t i = 0; i < np && c->gc_cutoff != INT64_MIN; i++) {
        enum window_res r = pieces[i].res;
        int64_t chunk_end = (window_chunk_id(r, pieces[i].start) + 1) * window_chunk_ms(r);
        if (window_expiry(ret, r, chunk_end) > c->gc_cutoff)
            continue;
        char t[TS_RFC3339_SIZE], cut[TS_RFC3339_SIZE];
        ts_format_rfc3339(pieces[i].start, t, sizeof(t));
        ts_format_rfc3339(c->gc_cutoff, cut, sizeof(cut));
        return jd_errf(JD_ERR_RANGE, c->errstr, c->errstr_size,
                       "%s: the range needs %s buckets from %s, which retention no longer keeps "
                       "(windows.retention.%s; event time has reached %s)",
                       sel->type, names[r], t, names[r], cut);
    }
    return JD_OK;
}

/* One chunk to read for one series, and which of its buckets the range covers. */
struct query_read {
    size_t series;
    uint64_t mask; /* bit b: bucket offset b is inside the range */
};

/*
 * Fetches every chunk of [from, to) for every series in one round trip and
 * folds the records of covered buckets: statistics into each series' delta,
 * sketch updates (when `regs` is given) into its group's registers.
 */
static enum jd_err query_read_chunks(struct query_ctx *c, const struct expr_node *sel,
                                     struct query_series *ser, size_t nser,
                                     const struct window_piece *pieces, size_t np, uint8_t **regs)
{
    struct store_get *gets = NULL;
    char(*keys)[STORE_KEY_MAX] = NULL;
    struct query_read *reads = NULL;
    size_t ng = 0;
    enum jd_err err = JD_OK;
    struct jd_str type = jd_str_c(sel->type);

    if (nser == 0 || np == 0)
        return JD_OK;
    gets = calloc(nser * np, sizeof(*gets));
    keys = malloc(nser * np * sizeof(*keys));
    reads = calloc(nser * np, sizeof(*reads));
    if (!gets || !keys || !reads) {
        err = jd_errf(JD_ERR_NOMEM, c->errstr, c->errstr_size, "out of memory");
        goto out;
    }
    for (size_t s = 0; s < nser; s++) {
        for (size_t i = 0; i < np;) {
            enum window_res r = pieces[i].res;
            int64_t chunk = window_chunk_id(r, pieces[i].start);
            c->env->src.ops->key_chunk(c->env->src.self, keys[ng], sizeof(keys[ng]), type,
                                       ser[s].sid, r, pieces[i].start);
            gets[ng].key = keys[ng];
            reads[ng].series = s;
            for (; i < np && pieces[i].res == r && window_chunk_id(r, pieces[i].start) == chunk;
                 i++)
                reads[ng].mask |= UINT64_C(1) << window_bucket_offset(r, pieces[i].start);
            ng++;
        }
    }
    if ((err = c->env->src.ops->get_many(c->env->src.self, gets, ng, c->errstr, c->errstr_size)))
        goto out;
    for (size_t g = 0; g < ng && !err; g++) {
        struct chunk_iter it;
        struct chunk_rec rec;
        struct query_series *qs = &ser[reads[g].series];
        int rc;
        if (!gets[g].value)
            continue;
        chunk_iter_init(&it, gets[g].value, gets[g].len);
        while ((rc = chunk_next(&it, &rec)) == 1) {
            if (!(reads[g].mask >> rec.offset & 1))
                continue;
            if (!agg_delta_merge_checked(&qs->acc, &rec.d)) {
                rc = -1;
                break;
            }
            if (regs)
                chunk_rec_apply(&rec, regs[qs->group]);
        }
        if (rc < 0)
            err =
                jd_errf(JD_ERR_REDIS, c->errstr, c->errstr_size,
                        "chunk %s is damaged (not written by this journeyd version?)", gets[g].key);
    }
out:
    if (gets)
        store_gets_free(gets, ng);
    free(gets);
    free(keys);
    free(reads);
    return err;
}

/* ---------------------------------------------------------- aggregation */

static bool query_label_in(char *const *by, size_t nby, struct jd_str name)
{
    for (size_t i = 0; i < nby; i++)
        if (jd_str_eqc(name, by[i]))
            return true;
    return false;
}

/* The group key of a series: the values of the `by` labels, in `by` order. */
static size_t query_group_key(const struct query_series *s, char *const *by, size_t nby, char *buf,
                              size_t size)
{
    size_t w = 0;
    if (size)
        buf[0] = '\0';
    for (size_t i = 0; i < nby; i++) {
        struct jd_str v;
        query_label_value(s, by[i], &v);
        int n = snprintf(buf + w, size > w ? size - w : 0, "%.*s\x1e", (int)v.n, v.p ? v.p : "");
        if (n > 0)
            w += (size_t)n;
    }
    return w;
}

static bool query_value_of(enum expr_agg agg, enum expr_field field, const struct agg_delta *a,
                           struct query_sample *out)
{
    if (field == EXPR_FIELD_CONVERSIONS && agg != EXPR_AGG_COUNT) {
        /* the credit stream's fractional conversions: exact micro-units */
        out->kind = QUERY_MICROS;
        out->micros = a->wsum;
        out->value = (double)a->wsum / 1e6;
        if (agg == EXPR_AGG_AVG) {
            if (!a->count)
                return false;
            out->kind = QUERY_FLOAT;
            out->value /= (double)a->count;
        }
        return agg == EXPR_AGG_SUM || agg == EXPR_AGG_AVG;
    }
    switch (agg) {
    case EXPR_AGG_COUNT:
        out->kind = QUERY_INT;
        out->micros = field == EXPR_FIELD_VALUE ? a->vcount : a->count;
        out->value = (double)out->micros;
        return true;
    case EXPR_AGG_SUM:
        out->kind = QUERY_MICROS;
        out->micros = a->sum;
        out->value = (double)a->sum / 1e6;
        return true;
    case EXPR_AGG_AVG:
        if (!a->vcount)
            return false;
        out->kind = QUERY_FLOAT;
        out->value = (double)a->sum / 1e6 / (double)a->vcount;
        return true;
    case EXPR_AGG_MIN:
    case EXPR_AGG_MAX:
    case EXPR_AGG_LAST:
        if (!a->vcount)
            return false;
        out->kind = QUERY_MICROS;
        out->micros = agg == EXPR_AGG_MIN ? a->min : agg == EXPR_AGG_MAX ? a->max : a->last;
        out->value = (double)out->micros / 1e6;
        return true;
    case EXPR_AGG_DISTINCT:
        return false; /* from the sketch, by the caller */
    }
    return false;
}

/* A slot of query_assign_groups()' table of group keys. */
struct query_group_slot {
    uint64_t hash;
    size_t group1; /* group + 1; 0: empty */
};

/*
 * Assigns every series to an output group, numbered in order of first
 * appearance; returns the number of groups. One pass: a table of group-key
 * hashes (open addressing, \p tab of \p cap slots, a power of two at least
 * twice \p nser, zeroed) finds a series' group; a group's key is rebuilt from
 * its first series only to confirm a hash match. Ten thousand series in a
 * thousand groups took tens of millions of key builds before.
 */
static size_t query_assign_groups(struct query_series *ser, size_t nser, bool bare, char **by,
                                  size_t nby, size_t *first_of_group, struct query_group_slot *tab,
                                  size_t cap)
{
    char ki[4096], kj[4096];
    size_t ngroups = 0;
    for (size_t i = 0; i < nser; i++) {
        ser[i].group = SIZE_MAX;
        struct query_group_slot *slot = NULL;
        uint64_t h = 0;
        if (!bare) {
            size_t n = query_group_key(&ser[i], by, nby, ki, sizeof(ki));
            h = hash64(ki, n < sizeof(ki) ? n : sizeof(ki) - 1, 0x67726f7570);
            for (size_t k = (size_t)h & (cap - 1);; k = (k + 1) & (cap - 1)) {
                slot = &tab[k];
                if (!slot->group1)
                    break;
                if (slot->hash != h)
                    continue;
                query_group_key(&ser[first_of_group[slot->group1 - 1]], by, nby, kj, sizeof(kj));
                if (!strcmp(ki, kj)) {
                    ser[i].group = slot->group1 - 1;
                    break;
                }
            }
        }
        if (ser[i].group == SIZE_MAX) {
            first_of_group[ngroups] = i;
            ser[i].group = ngroups++;
            if (slot)
                *slot = (struct query_group_slot){ h, ngroups };
        }
    }
    return ngroups;
}

static enum jd_err query_eval_agg(struct query_ctx *c, const struct expr_node *e,
                                  struct query_result *out)
{
    const struct expr_node *sel = e->kind == EXPR_AGG ? e->arg : e;
    bool bare = e->kind == EXPR_SELECT;
    bool distinct = !bare && e->agg == EXPR_AGG_DISTINCT;
    char **by = bare ? NULL : e->by;
    size_t nby = bare ? 0 : e->nby;
    struct query_series *ser = NULL;
    struct window_piece *pieces = NULL;
    size_t *first = NULL, nser = 0, np = 0, ngroups = 0, cap = 0;
    struct query_group_slot *tab = NULL;
    struct agg_delta *acc = NULL;
    uint8_t **regs = NULL;
    int64_t from = 0, to = 0;
    enum jd_err err;

    if (bare && sel->field == EXPR_FIELD_USER_ID)
        return jd_errf(JD_ERR_INVALID, c->errstr, c->errstr_size,
                       "col %u: %s.user_id needs distinct(): distinct(%s.user_id[…])", sel->col,
                       sel->type, sel->type);
    if ((err = query_range(c, sel, &from, &to)))
        return err;
    size_t pcap = window_plan_max(from, to);
    if (pcap && !(pieces = malloc(pcap * sizeof(*pieces)))) {
        err = jd_errf(JD_ERR_NOMEM, c->errstr, c->errstr_size, "out of memory");
        goto out;
    }
    if ((err = window_plan(from, to, pieces, pcap, &np, c->errstr, c->errstr_size)) ||
        (err = query_check_kept(c, sel, pieces, np)) || (err = query_select(c, sel, &ser, &nser)))
        goto out;
    for (cap = 16; cap < 2 * nser; cap <<= 1)
        ;
    if (nser && (!(first = calloc(nser, sizeof(*first))) || !(tab = calloc(cap, sizeof(*tab))))) {
        err = jd_errf(JD_ERR_NOMEM, c->errstr, c->errstr_size, "out of memory");
        goto out;
    }
    ngroups = query_assign_groups(ser, nser, bare, by, nby, first, tab, cap);
    if (distinct) {
        regs = calloc(ngroups ? ngroups : 1, sizeof(*regs));
        for (size_t g = 0; regs && g < ngroups; g++)
            if (!(regs[g] = calloc(1, HLL_REGS))) {
                err = jd_errf(JD_ERR_NOMEM, c->errstr, c->errstr_size, "out of memory");
                goto out;
            }
        if (!regs) {
            err = jd_errf(JD_ERR_NOMEM, c->errstr, c->errstr_size, "out of memory");
            goto out;
        }
    }
    if ((err = query_read_chunks(c, sel, ser, nser, pieces, np, regs)))
        goto out;
    if (!(acc = calloc(ngroups ? ngroups : 1, sizeof(*acc)))) {
        err = jd_errf(JD_ERR_NOMEM, c->errstr, c->errstr_size, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < nser; i++) /* in series order within each group, as before */
        agg_delta_merge(&acc[ser[i].group], &ser[i].acc);

    for (size_t g = 0; g < ngroups && !err; g++) {
        struct query_sample smp = { 0 };
        if (distinct) {
            int64_t d = (int64_t)llround(hll_estimate(regs[g]));
            if (d == 0 && nby)
                continue;
            smp.kind = QUERY_INT;
            smp.micros = d;
            smp.value = (double)d;
        } else {
            bool has = sel->field == EXPR_FIELD_VALUE ? acc[g].vcount > 0 : acc[g].count > 0;
            enum expr_agg a =
                bare ? (sel->field == EXPR_FIELD_VALUE || sel->field == EXPR_FIELD_CONVERSIONS
                            ? EXPR_AGG_SUM
                            : EXPR_AGG_COUNT)
                     : e->agg;
            if (!has || !query_value_of(a, sel->field, &acc[g], &smp))
                continue;
        }
        /* the group's labels: every label for bare selectors, the `by` labels otherwise */
        const struct query_series *rep = &ser[first[g]];
        struct query_label lab[EVENT_MAX_PROPS + 2];
        size_t nl = 0;
        bool ok = true;
        for (size_t k = 0; k < rep->nlabels; k++) {
            const struct series_label *l = &rep->labels[k];
            if (!bare && !query_label_in(by, nby, l->name))
                continue;
            lab[nl].name = strndup(l->name.p, l->name.n);
            lab[nl].value = strndup(l->value.p, l->value.n);
            ok &= lab[nl].name && lab[nl].value;
            nl++;
        }
        ok = ok && query_copy_labels(&smp, lab, nl);
        for (size_t k = 0; k < nl; k++) {
            free(lab[k].name);
            free(lab[k].value);
        }
        if (!ok || !query_push(out, &smp)) {
            query_sample_free(&smp);
            err = jd_errf(JD_ERR_NOMEM, c->errstr, c->errstr_size, "out of memory");
        }
    }
    /* without `by`, count/sum/distinct over nothing is 0, not "no data" */
    if (!err && !bare && nby == 0 && out->n == 0 && !c->no_zero_fill &&
        (e->agg == EXPR_AGG_COUNT || e->agg == EXPR_AGG_SUM || e->agg == EXPR_AGG_DISTINCT)) {
        struct query_sample z = { 0 };
        z.kind = e->agg == EXPR_AGG_SUM ? QUERY_MICROS : QUERY_INT;
        if (!query_push(out, &z))
            err = jd_errf(JD_ERR_NOMEM, c->errstr, c->errstr_size, "out of memory");
    }
out:
    for (size_t g = 0; regs && g < ngroups; g++)
        free(regs[g]);
    free(regs);
    free(first);
    free(tab);
    free(acc);
    free(pieces);
    query_series_free(ser, nser);
    return err;
}

enum jd_err query_eval_node(struct query_ctx *c, const struct expr_node *e,
                            struct query_result *out)
{
    memset(out, 0, sizeof(*out));
    switch (e->kind) {
    case EXPR_NUMBER: {
        struct query_sample s = { 0 };
        s.kind = QUERY_FLOAT;
        s.value = e->number;
        out->scalar = true;
        if (!query_push(out, &s))
            return query_nomem(c);
        return JD_OK;
    }
    case EXPR_SELECT:
    case EXPR_AGG:
        return query_eval_agg(c, e, out);
    case EXPR_NEG: {
        enum jd_err err = query_eval_node(c, e->lhs, out);
        if (!err && out->table) {
            out->scale = -out->scale;
            out->shift = -out->shift;
        }
        for (size_t i = 0; !err && i < out->n; i++) {
            out->v[i].value = -out->v[i].value;
            out->v[i].micros = -out->v[i].micros;
        }
        return err;
    }
    case EXPR_BINARY:
        return query_eval_binary(c, e, out);
    case EXPR_NAME:
    case EXPR_DURATION:
        return jd_errf(JD_ERR_INVALID, c->errstr, c->errstr_size,
                       "col %u: a name or duration is only valid as a function argument", e->col);
    case EXPR_CALL:
        return query_eval_call(c, e, out);
    }
    return JD_ERR_INVALID;
}

/* ---------------------------------------------------------- sources */

static enum jd_err query_store_list(void *self, const char *type, struct store_series **out,
                                    size_t *n, char *errstr, size_t errstr_size)
{
    return store_list_series(self, type, out, n, errstr, errstr_size);
}

static size_t query_store_key(const void *self, char *buf, size_t size, struct jd_str type,
                              uint64_t sid, enum window_res r, int64_t bucket)
{
    return store_key_chunk(self, buf, size, type, sid, r, bucket);
}

static enum jd_err query_store_get(void *self, struct store_get *gets, size_t n, char *errstr,
                                   size_t errstr_size)
{
    return store_get_many(self, gets, n, errstr, errstr_size);
}

static enum jd_err query_store_cutoff(void *self, int64_t *out, char *errstr, size_t errstr_size)
{
    return store_gc_cutoff(self, out, errstr, errstr_size);
}

static const struct window_retention *query_store_retention(const void *self)
{
    return store_retention(self);
}

static const struct query_source_ops query_store_ops = {
    query_store_list, query_store_key, query_store_get, query_store_cutoff, query_store_retention,
};

struct query_source query_source_store(struct store *store)
{
    return (struct query_source){ &query_store_ops, store };
}

/* ---------------------------------------------------------- entry points */

/* Turns a table result into rows (for printing) and drops series without a value. */
static enum jd_err query_finish(struct query_ctx *c, struct query_result *out)
{
    if (out->table) {
        const struct query_table *t = out->table;
        double scale = out->scale, shift = out->shift;
        query_result_free(out);
        for (size_t i = 0; i < t->nrows; i++) {
            struct query_sample s = { 0 };
            struct query_label lab[QUERY_TABLE_MAX_BY];
            size_t nl = 0;
            for (size_t k = 0; k < t->nby && k < QUERY_TABLE_MAX_BY; k++)
                if (t->rows[i].values[k][0])
                    lab[nl++] = (struct query_label){ t->by[k], t->rows[i].values[k] };
            qsort(lab, nl, sizeof(*lab), query_label_cmp);
            s.kind = QUERY_FLOAT;
            s.value = scale * t->rows[i].value + shift;
            if (!query_copy_labels(&s, lab, nl) || !query_push(out, &s)) {
                query_sample_free(&s);
                return query_nomem(c);
            }
        }
    }
    size_t k = 0;
    for (size_t i = 0; i < out->n; i++) {
        if (out->v[i].none)
            query_sample_free(&out->v[i]);
        else
            out->v[k++] = out->v[i];
    }
    out->n = k;
    query_sort(out);
    return JD_OK;
}

enum jd_err query_eval_env(const struct query_env *env, const struct expr_node *e, int64_t at_ms,
                           struct query_result *out, char *errstr, size_t errstr_size)
{
    struct query_ctx c = { env, at_ms, INT64_MIN, 0, errstr, errstr_size };
    enum jd_err err;

    memset(out, 0, sizeof(*out));
    if ((err = env->src.ops->gc_cutoff(env->src.self, &c.gc_cutoff, errstr, errstr_size)))
        return err;
    if ((err = query_eval_node(&c, e, out)) || (err = query_finish(&c, out))) {
        query_result_free(out);
        return err;
    }
    return JD_OK;
}

enum jd_err query_eval(struct store *store, const struct tz *tz, const struct expr_node *e,
                       int64_t at_ms, struct query_result *out, char *errstr, size_t errstr_size)
{
    struct query_env env = { query_source_store(store), tz, NULL, 0 };
    return query_eval_env(&env, e, at_ms, out, errstr, errstr_size);
}
