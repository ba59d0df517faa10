/*
 * credit.c — from eligible touches to exact per-model credits.
 *
 * Owns the grouping of touches by (channel, campaign) and the call into
 * model_weights()/model_apportion(). Where touches and weights come from
 * is the caller's.
 */
#include "attribute/credit.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct credit {
    struct credit_opts o;
    size_t cap;              /* max_touches */
    struct model_touch *mt;  /* per touch */
    double *w, *scratch;     /* per touch */
    double *chw;             /* per distinct channel */
    size_t *group;           /* per touch: its (channel, campaign) group */
    size_t *gfirst;          /* per group: its first touch */
    double *gw;              /* per group */
    int64_t *gconv, *gvalue; /* per group */
};

struct credit *credit_new(const struct credit_opts *o)
{
    struct credit *c = calloc(1, sizeof(*c));
    size_t n = o->max_touches ? o->max_touches : 1;
    if (!c)
        return NULL;
    c->o = *o;
    c->cap = n;
    c->mt = calloc(n, sizeof(*c->mt));
    c->w = calloc(n, sizeof(*c->w));
    c->scratch = calloc(n, sizeof(*c->scratch));
    c->chw = calloc(n, sizeof(*c->chw));
    c->group = calloc(n, sizeof(*c->group));
    c->gfirst = calloc(n, sizeof(*c->gfirst));
    c->gw = calloc(n, sizeof(*c->gw));
    c->gconv = calloc(n, sizeof(*c->gconv));
    c->gvalue = calloc(n, sizeof(*c->gvalue));
    if (!c->mt || !c->w || !c->scratch || !c->chw || !c->group || !c->gfirst || !c->gw ||
        !c->gconv || !c->gvalue) {
        credit_destroy(c);
        return NULL;
    }
    return c;
}

void credit_destroy(struct credit *c)
{
    if (!c)
        return;
    free(c->mt);
    free(c->w);
    free(c->scratch);
    free(c->chw);
    free(c->group);
    free(c->gfirst);
    free(c->gw);
    free(c->gconv);
    free(c->gvalue);
    free(c);
}

size_t credit_max_out(const struct credit *c)
{
    return MODEL_N * c->cap;
}

static bool credit_is_direct(const struct credit *c, struct jd_str ch)
{
    for (size_t i = 0; i < c->o.ndirect; i++)
        if (jd_str_eqc(ch, c->o.direct[i]))
            return true;
    return false;
}

size_t credit_compute(struct credit *c, const struct journey_touch *t, const size_t *idx, size_t n,
                      int64_t tc, int64_t value, const struct credit_weights *w,
                      struct credit_out *out)
{
    size_t nout = 0, ngroups = 0, nch = 0;
    if (n == 0) {
        for (int m = 0; m < MODEL_N; m++)
            if (c->o.models[m])
                out[nout++] = (struct credit_out){ (enum model_id)m, JD_STR_LIT(MODEL_NONE_CHANNEL),
                                                   JD_STR_NULL, JD_MICROS, value };
        return nout;
    }
    if (n > c->cap) { /* the newest max_touches */
        idx += n - c->cap;
        n = c->cap;
    }
    /* channel indices (distinct channels) and (channel, campaign) groups */
    for (size_t i = 0; i < n; i++) {
        const struct journey_touch *ti = &t[idx[i]];
        size_t ch = nch, g = ngroups;
        for (size_t k = 0; k < i; k++) {
            const struct journey_touch *tk = &t[idx[k]];
            if (jd_str_eq(tk->channel, ti->channel)) {
                ch = c->mt[k].ch;
                if (jd_str_eq(tk->campaign, ti->campaign)) {
                    g = c->group[k];
                    break;
                }
            }
        }
        if (ch == nch)
            nch++;
        if (g == ngroups)
            c->gfirst[ngroups++] = i;
        c->group[i] = g;
        c->mt[i] = (struct model_touch){ ti->ts, (uint32_t)ch, credit_is_direct(c, ti->channel) };
    }
    for (int m = 0; m < MODEL_N; m++) {
        if (!c->o.models[m])
            continue;
        const double *chw = NULL;
        if (model_is_data_driven((enum model_id)m) && w && w->lookup) {
            for (size_t i = 0; i < n; i++)
                c->chw[c->mt[i].ch] = w->lookup(w->self, (enum model_id)m, t[idx[i]].channel);
            chw = c->chw;
        }
        model_weights((enum model_id)m, &c->o.params, c->mt, n, tc, chw, c->w, c->scratch);
        for (size_t g = 0; g < ngroups; g++)
            c->gw[g] = 0;
        for (size_t i = 0; i < n; i++)
            c->gw[c->group[i]] += c->w[i];
        model_apportion(c->gw, ngroups, JD_MICROS, c->gconv);
        model_apportion(c->gw, ngroups, value, c->gvalue);
        for (size_t g = 0; g < ngroups; g++) {
            if (!c->gconv[g] && !c->gvalue[g])
                continue;
            const struct journey_touch *tg = &t[idx[c->gfirst[g]]];
            out[nout++] = (struct credit_out){ (enum model_id)m, tg->channel, tg->campaign,
                                               c->gconv[g], c->gvalue[g] };
        }
    }
    return nout;
}
