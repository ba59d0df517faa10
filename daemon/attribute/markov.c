/*
 * markov.c — transition counting and the exact removal-effect solve.
 *
 * Owns the state table (tuples of up to three channel indices, interned in
 * an open-addressed table), the transition table and the solver. Knows
 * nothing of channel names or where the counts come from.
 */
#include "attribute/markov.h"

#include "core/hash.h"
#include "core/jd.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct markov_tuple {
    uint32_t ch[MARKOV_MAX_ORDER];
    uint8_t n; /* 0: start */
};

struct markov_edge {
    uint32_t from;
    uint32_t to; /* a state index, or MARKOV_TO_CONV / MARKOV_TO_NULL */
    double count, value;
};

struct markov {
    int order;
    struct markov_tuple *states;
    size_t nstates, capstates;
    uint32_t *stab; /* open addressing: state index + 1, 0 empty */
    size_t stabcap;
    struct markov_edge *edges;
    size_t nedges, capedges;
    uint32_t *etab; /* edge index + 1 */
    size_t etabcap;
};

static uint64_t markov_tuple_hash(const struct markov_tuple *t)
{
    uint64_t h = t->n;
    for (unsigned i = 0; i < t->n; i++)
        h = hash_mix64(h * 31 + t->ch[i] + 1);
    return hash_mix64(h);
}

static bool markov_tuple_eq(const struct markov_tuple *a, const struct markov_tuple *b)
{
    if (a->n != b->n)
        return false;
    for (unsigned i = 0; i < a->n; i++)
        if (a->ch[i] != b->ch[i])
            return false;
    return true;
}

static uint64_t markov_edge_hash(uint32_t from, uint32_t to)
{
    return hash_mix64(((uint64_t)from << 32) ^ to ^ UINT64_C(0x9e3779b97f4a7c15));
}

/* Grows an open-addressed table of indices + 1 (of edges or of states). */
static bool markov_rehash(uint32_t **tab, size_t *cap, size_t n, const struct markov *m, bool edges)
{
    size_t nc = *cap ? *cap * 2 : 64;
    uint32_t *t = calloc(nc, sizeof(*t));
    if (!t)
        return false;
    for (size_t i = 0; i < n; i++) {
        uint64_t h = edges ? markov_edge_hash(m->edges[i].from, m->edges[i].to)
                           : markov_tuple_hash(&m->states[i]);
        size_t j = (size_t)h & (nc - 1);
        while (t[j])
            j = (j + 1) & (nc - 1);
        t[j] = (uint32_t)i + 1;
    }
    free(*tab);
    *tab = t;
    *cap = nc;
    return true;
}

/* Returns the index of \p t, adding it; UINT32_MAX when out of memory. */
static uint32_t markov_state(struct markov *m, const struct markov_tuple *t)
{
    if ((m->nstates + 1) * 2 > m->stabcap &&
        !markov_rehash(&m->stab, &m->stabcap, m->nstates, m, false))
        return UINT32_MAX;
    size_t j = (size_t)markov_tuple_hash(t) & (m->stabcap - 1);
    for (; m->stab[j]; j = (j + 1) & (m->stabcap - 1))
        if (markov_tuple_eq(&m->states[m->stab[j] - 1], t))
            return m->stab[j] - 1;
    if (m->nstates >= MARKOV_TO_NULL - 1 ||
        !jd_reserve((void **)&m->states, &m->capstates, m->nstates + 1, sizeof(*m->states)))
        return UINT32_MAX;
    m->states[m->nstates] = *t;
    m->stab[j] = (uint32_t)++m->nstates;
    return (uint32_t)(m->nstates - 1);
}

static bool markov_edge_add(struct markov *m, uint32_t from, uint32_t to, double count,
                            double value)
{
    if ((m->nedges + 1) * 2 > m->etabcap &&
        !markov_rehash(&m->etab, &m->etabcap, m->nedges, m, true))
        return false;
    size_t j = (size_t)markov_edge_hash(from, to) & (m->etabcap - 1);
    for (; m->etab[j]; j = (j + 1) & (m->etabcap - 1)) {
        struct markov_edge *e = &m->edges[m->etab[j] - 1];
        if (e->from == from && e->to == to) {
            e->count += count;
            e->value += value;
            return true;
        }
    }
    if (!jd_reserve((void **)&m->edges, &m->capedges, m->nedges + 1, sizeof(*m->edges)))
        return false;
    m->edges[m->nedges] = (struct markov_edge){ from, to, count, value };
    m->etab[j] = (uint32_t)++m->nedges;
    return true;
}

struct markov *markov_new(int order)
{
    if (order < 1 || order > MARKOV_MAX_ORDER)
        return NULL;
    struct markov *m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    m->order = order;
    struct markov_tuple start = { .n = 0 };
    if (markov_state(m, &start) != 0) {
        markov_destroy(m);
        return NULL;
    }
    return m;
}

void markov_destroy(struct markov *m)
{
    if (!m)
        return;
    free(m->states);
    free(m->stab);
    free(m->edges);
    free(m->etab);
    free(m);
}

int markov_order(const struct markov *m)
{
    return m->order;
}

bool markov_add(struct markov *m, const uint32_t *from, size_t nfrom, uint32_t to, double count,
                double value)
{
    if (nfrom > (size_t)m->order || !(count > 0))
        return nfrom <= (size_t)m->order;
    struct markov_tuple f = { .n = (uint8_t)nfrom };
    if (nfrom)
        memcpy(f.ch, from, nfrom * sizeof(*from));
    uint32_t fi = markov_state(m, &f);
    if (fi == UINT32_MAX)
        return false;
    uint32_t ti = to;
    if (to != MARKOV_TO_CONV && to != MARKOV_TO_NULL) {
        /* The next state: the last `order` channels after this one. */
        struct markov_tuple t = { .n = 0 };
        size_t keep = nfrom + 1 > (size_t)m->order ? (size_t)m->order - 1 : nfrom;
        for (size_t i = nfrom - keep; i < nfrom; i++)
            t.ch[t.n++] = from[i];
        t.ch[t.n++] = to;
        ti = markov_state(m, &t);
        if (ti == UINT32_MAX)
            return false;
    }
    return markov_edge_add(m, fi, ti, count, to == MARKOV_TO_CONV ? value : 0);
}

bool markov_add_path(struct markov *m, const uint32_t *ch, size_t n, double conv, double value,
                     double nulls)
{
    uint32_t win[MARKOV_MAX_ORDER];
    size_t nwin = 0;
    double through = conv + nulls;
    if (n == 0 || !(through > 0))
        return true;
    for (size_t i = 0; i < n; i++) {
        if (nwin && win[nwin - 1] == ch[i])
            continue; /* consecutive repeats collapse */
        if (!markov_add(m, win, nwin, ch[i], through, 0))
            return false;
        if (nwin == (size_t)m->order) {
            memmove(win, win + 1, (nwin - 1) * sizeof(*win));
            nwin--;
        }
        win[nwin++] = ch[i];
    }
    return markov_add(m, win, nwin, MARKOV_TO_CONV, conv, value) &&
           markov_add(m, win, nwin, MARKOV_TO_NULL, nulls, 0);
}

/* The chain in solver form: per state, its transient successors with
 * probabilities (CSR), and b (conversion) / bv (value) terms. */
struct markov_sys {
    size_t n;
    size_t *rowp;
    uint32_t *col;
    double *p;
    double *b, *bv;
    double *x, *y;
    bool *off; /* removed: fixed at 0 */
};

static void markov_sys_free(struct markov_sys *s)
{
    free(s->rowp);
    free(s->col);
    free(s->p);
    free(s->b);
    free(s->bv);
    free(s->x);
    free(s->y);
    free(s->off);
}

static enum jd_err markov_sys_build(const struct markov *m, struct markov_sys *s)
{
    size_t n = m->nstates;
    double *out = calloc(n, sizeof(*out));
    s->n = n;
    s->rowp = calloc(n + 1, sizeof(*s->rowp));
    s->col = malloc((m->nedges + 1) * sizeof(*s->col));
    s->p = malloc((m->nedges + 1) * sizeof(*s->p));
    s->b = calloc(n, sizeof(*s->b));
    s->bv = calloc(n, sizeof(*s->bv));
    s->x = calloc(n, sizeof(*s->x));
    s->y = calloc(n, sizeof(*s->y));
    s->off = calloc(n, sizeof(*s->off));
    if (!out || !s->rowp || !s->col || !s->p || !s->b || !s->bv || !s->x || !s->y || !s->off) {
        free(out);
        return JD_ERR_NOMEM;
    }
    for (size_t i = 0; i < m->nedges; i++) {
        const struct markov_edge *e = &m->edges[i];
        out[e->from] += e->count;
        if (e->to < MARKOV_TO_NULL)
            s->rowp[e->from + 1]++;
    }
    for (size_t i = 0; i < n; i++)
        s->rowp[i + 1] += s->rowp[i];
    size_t *fill = calloc(n, sizeof(*fill));
    if (!fill) {
        free(out);
        return JD_ERR_NOMEM;
    }
    for (size_t i = 0; i < m->nedges; i++) {
        const struct markov_edge *e = &m->edges[i];
        double tot = out[e->from];
        if (e->to == MARKOV_TO_CONV) {
            s->b[e->from] += e->count / tot;
            s->bv[e->from] += e->value / tot;
        } else if (e->to != MARKOV_TO_NULL) {
            size_t k = s->rowp[e->from] + fill[e->from]++;
            s->col[k] = e->to;
            s->p[k] = e->count / tot;
        }
    }
    free(fill);
    free(out);
    return JD_OK;
}

/* Gauss–Seidel on x = Q·x + b and y = Q·y + bv with the removed states at
 * 0, later states first (values flow back from the absorbing end).
 * Returns the sweeps, 0 when it did not converge. */
static uint64_t markov_sys_solve(struct markov_sys *s)
{
    const uint64_t max_sweeps = 1000000;
    for (size_t i = 0; i < s->n; i++)
        s->x[i] = s->y[i] = 0;
    for (uint64_t sweep = 1; sweep <= max_sweeps; sweep++) {
        bool moved = false;
        for (size_t i = s->n; i-- > 0;) {
            if (s->off[i])
                continue;
            double x = s->b[i], y = s->bv[i];
            for (size_t k = s->rowp[i]; k < s->rowp[i + 1]; k++) {
                x += s->p[k] * s->x[s->col[k]];
                y += s->p[k] * s->y[s->col[k]];
            }
            if (fabs(x - s->x[i]) > 1e-15 * fabs(x) || fabs(y - s->y[i]) > 1e-15 * fabs(y))
                moved = true;
            s->x[i] = x;
            s->y[i] = y;
        }
        if (!moved)
            return sweep;
    }
    return 0;
}

static bool markov_has_channel(const struct markov_tuple *t, uint32_t c)
{
    for (unsigned i = 0; i < t->n; i++)
        if (t->ch[i] == c)
            return true;
    return false;
}

static double markov_effect(double base, double removed)
{
    if (!(base > 0))
        return 0;
    double re = 1 - removed / base;
    return re > 0 ? re : 0; /* removal never helps; a negative is rounding */
}

enum jd_err markov_solve(const struct markov *m, size_t nch, struct markov_result *out,
                         char *errstr, size_t errstr_size)
{
    struct markov_sys s = { 0 };
    enum jd_err err = JD_ERR_NOMEM;
    memset(out, 0, sizeof(*out));
    out->nch = nch;
    out->re = calloc(nch ? nch : 1, sizeof(*out->re));
    out->re_value = calloc(nch ? nch : 1, sizeof(*out->re_value));
    if (!out->re || !out->re_value || (err = markov_sys_build(m, &s)) != JD_OK)
        goto fail;
    out->nstates = m->nstates - 1; /* not start */
    uint64_t sw = markov_sys_solve(&s);
    if (!sw)
        goto diverged;
    out->sweeps += sw;
    out->p_conv = s.x[0];
    out->value = s.y[0];
    for (size_t c = 0; c < nch; c++) {
        bool any = false;
        for (size_t i = 1; i < m->nstates; i++)
            any |= s.off[i] = markov_has_channel(&m->states[i], (uint32_t)c);
        if (!any)
            continue;
        if (!(sw = markov_sys_solve(&s)))
            goto diverged;
        out->sweeps += sw;
        out->re[c] = markov_effect(out->p_conv, s.x[0]);
        out->re_value[c] = markov_effect(out->value, s.y[0]);
    }
    markov_sys_free(&s);
    return JD_OK;
diverged:
    err =
        jd_errf(JD_ERR_RANGE, errstr, errstr_size,
                "markov: the chain did not converge in 1,000,000 sweeps (%zu states)", m->nstates);
fail:
    if (err == JD_ERR_NOMEM)
        jd_errf(err, errstr, errstr_size, "markov: out of memory (%zu states)", m->nstates);
    markov_sys_free(&s);
    markov_result_free(out);
    return err;
}

void markov_result_free(struct markov_result *r)
{
    free(r->re);
    free(r->re_value);
    r->re = r->re_value = NULL;
}
