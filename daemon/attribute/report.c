/*
 * report.c — batch attribution over a path set, and the report renderers.
 *
 * Owns the report rows and their formats. The per-path arithmetic is
 * model.c's, the chain solve markov.c's, the chart drawing chart.c's.
 */
#include "attribute/report.h"

#include "attribute/markov.h"
#include "attribute/shapley.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const report_direct_default[] = { "direct" };

void report_opts_default(struct report_opts *o)
{
    memset(o, 0, sizeof(*o));
    for (int m = 0; m < MODEL_N; m++)
        o->models[m] = true;
    o->markov_order = 1;
    o->params = (struct model_params){ 0.4, 0.4, 7 * JD_MS_DAY };
    o->direct = report_direct_default;
    o->ndirect = 1;
}

struct report_row *report_row(struct report *r, enum model_id m, const char *channel,
                              const char *campaign)
{
    for (size_t i = r->nrows; i-- > 0;) {
        struct report_row *x = &r->rows[i];
        if (x->model == m && strcmp(x->channel, channel) == 0 && strcmp(x->campaign, campaign) == 0)
            return x;
    }
    if (!jd_reserve((void **)&r->rows, &r->caprows, r->nrows + 1, sizeof(*r->rows)))
        return NULL;
    struct report_row *x = &r->rows[r->nrows];
    memset(x, 0, sizeof(*x));
    x->model = m;
    x->channel = strdup(channel);
    x->campaign = strdup(campaign);
    if (!x->channel || !x->campaign) {
        free(x->channel);
        free(x->campaign);
        return NULL;
    }
    r->nrows++;
    return x;
}

static int report_row_cmp(const void *a, const void *b)
{
    const struct report_row *x = a, *y = b;
    int c = strcmp(x->channel, y->channel);
    if (!c)
        c = strcmp(x->campaign, y->campaign);
    return c ? c : (int)x->model - (int)y->model;
}

void report_sort(struct report *r)
{
    if (r->nrows)
        qsort(r->rows, r->nrows, sizeof(*r->rows), report_row_cmp);
}

void report_free(struct report *r)
{
    for (size_t i = 0; i < r->nrows; i++) {
        free(r->rows[i].channel);
        free(r->rows[i].campaign);
    }
    for (size_t i = 0; i < r->nre; i++)
        free(r->re_channels[i]);
    free(r->rows);
    free(r->re_channels);
    free(r->re);
    free(r->re_value);
    free(r->conversion_type);
    memset(r, 0, sizeof(*r));
}

/* ------------------------------------------------------------ computing */

/* Per-model, per-channel accumulators over a path set. */
struct report_acc {
    double *conv[MODEL_N], *value[MODEL_N];
};

static enum jd_err report_heuristics(const struct paths *p, const struct report_opts *o,
                                     struct report_acc *acc)
{
    size_t cap = 0;
    struct model_touch *t = NULL;
    double *w = NULL, *scratch = NULL;
    bool *direct = calloc(p->nnames + 1, sizeof(*direct));
    enum jd_err err = JD_ERR_NOMEM;
    if (!direct)
        goto out;
    for (size_t c = 0; c < p->nnames; c++)
        for (size_t d = 0; d < o->ndirect; d++)
            direct[c] |= strcmp(p->names[c], o->direct[d]) == 0;
    for (size_t i = 0; i < p->nrows; i++) {
        const struct paths_row *row = &p->rows[i];
        if (row->n == 0)
            continue;
        if (row->n > cap) {
            cap = row->n;
            free(t);
            free(w);
            free(scratch);
            t = malloc(cap * sizeof(*t));
            w = malloc(cap * sizeof(*w));
            scratch = malloc(cap * sizeof(*scratch));
            if (!t || !w || !scratch)
                goto out;
        }
        for (uint32_t k = 0; k < row->n; k++) {
            uint32_t ch = p->touch[row->off + k];
            t[k] = (struct model_touch){ 0, ch, direct[ch] };
        }
        for (int m = 0; m < MODEL_N; m++) {
            if (!acc->conv[m] || model_is_data_driven((enum model_id)m) || m == MODEL_TIME_DECAY)
                continue;
            model_weights((enum model_id)m, &o->params, t, row->n, 0, NULL, w, scratch);
            for (uint32_t k = 0; k < row->n; k++) {
                acc->conv[m][t[k].ch] += row->conv * w[k];
                acc->value[m][t[k].ch] += row->value * w[k];
            }
        }
    }
    err = JD_OK;
out:
    free(t);
    free(w);
    free(scratch);
    free(direct);
    return err;
}

/* Shares of \p total in proportion to \p weight (by \p fallback when all weigh 0). */
static void report_normalise(const double *weight, const double *fallback, size_t n, double total,
                             double *out)
{
    double sum = 0, fsum = 0;
    for (size_t c = 0; c < n; c++) {
        sum += weight[c];
        fsum += fallback[c];
    }
    for (size_t c = 0; c < n; c++)
        out[c] = sum > 0 ? weight[c] / sum * total : fsum > 0 ? fallback[c] / fsum * total : 0;
}

static enum jd_err report_markov(const struct paths *p, const struct report_opts *o,
                                 struct report_acc *acc, const double *shap, const double *shapv,
                                 double conv, double value, struct report *out, char *errstr,
                                 size_t errstr_size)
{
    struct markov_result res = { 0 };
    struct markov *m = markov_new(o->markov_order);
    enum jd_err err = JD_ERR_NOMEM;
    if (!m) {
        err = jd_errf(JD_ERR_INVALID, errstr, errstr_size, "markov order %d: must be 1, 2 or 3",
                      o->markov_order);
        goto out;
    }
    for (size_t i = 0; i < p->nrows; i++) {
        const struct paths_row *row = &p->rows[i];
        if (!markov_add_path(m, p->touch + row->off, row->n, row->conv, row->value, row->nulls))
            goto nomem;
    }
    if ((err = markov_solve(m, p->nnames, &res, errstr, errstr_size)) != JD_OK)
        goto out;
    report_normalise(res.re, shap, p->nnames, conv, acc->conv[MODEL_MARKOV]);
    report_normalise(res.re_value, shapv, p->nnames, value, acc->value[MODEL_MARKOV]);
    out->markov_order = o->markov_order;
    out->p_conv = res.p_conv;
    out->markov_states = res.nstates;
    out->re_channels = calloc(p->nnames + 1, sizeof(*out->re_channels));
    if (!out->re_channels)
        goto nomem;
    for (size_t c = 0; c < p->nnames; c++) {
        if (!(out->re_channels[c] = strdup(p->names[c])))
            goto nomem;
        out->nre = c + 1;
    }
    out->re = res.re;
    out->re_value = res.re_value;
    res.re = res.re_value = NULL;
    err = JD_OK;
    goto out;
nomem:
    err = jd_errf(JD_ERR_NOMEM, errstr, errstr_size, "out of memory");
out:
    markov_result_free(&res);
    markov_destroy(m);
    return err;
}

enum jd_err report_from_paths(const struct paths *p, const struct report_opts *o,
                              struct report *out, char *errstr, size_t errstr_size)
{
    struct report_acc acc = { 0 };
    double none_conv = 0, none_value = 0, conv = 0, value = 0;
    size_t n = p->nnames ? p->nnames : 1;
    enum jd_err err = JD_ERR_NOMEM;
    double *shap = calloc(n, sizeof(*shap)), *shapv = calloc(n, sizeof(*shapv));
    if (!shap || !shapv)
        goto nomem;
    if (!out->conversion_type && !(out->conversion_type = strdup("")))
        goto nomem;
    for (int m = 0; m < MODEL_N; m++) {
        out->models[m] = o->models[m] && m != MODEL_TIME_DECAY;
        if (out->models[m] && (!(acc.conv[m] = calloc(n, sizeof(double))) ||
                               !(acc.value[m] = calloc(n, sizeof(double)))))
            goto nomem;
    }
    for (size_t i = 0; i < p->nrows; i++) {
        const struct paths_row *row = &p->rows[i];
        if (row->n == 0) {
            none_conv += row->conv;
            none_value += row->value;
            continue;
        }
        conv += row->conv;
        value += row->value;
        shapley_add_set(shap, shapv, p->touch + row->off, row->n, row->conv, row->value);
    }
    out->npaths = p->nrows;
    out->total_conversions = conv + none_conv;
    out->total_value = value + none_value;
    if ((err = report_heuristics(p, o, &acc)) != JD_OK)
        goto nomem;
    if (acc.conv[MODEL_SHAPLEY]) {
        memcpy(acc.conv[MODEL_SHAPLEY], shap, n * sizeof(double));
        memcpy(acc.value[MODEL_SHAPLEY], shapv, n * sizeof(double));
    }
    if (acc.conv[MODEL_MARKOV] && (err = report_markov(p, o, &acc, shap, shapv, conv, value, out,
                                                       errstr, errstr_size)) != JD_OK)
        goto out;
    for (int m = 0; m < MODEL_N; m++) {
        if (!acc.conv[m])
            continue;
        for (size_t c = 0; c < p->nnames; c++) {
            struct report_row *row = report_row(out, (enum model_id)m, p->names[c], "");
            if (!row)
                goto nomem;
            row->conversions += acc.conv[m][c];
            row->value += acc.value[m][c];
        }
        if (none_conv > 0 || none_value != 0) {
            struct report_row *row = report_row(out, (enum model_id)m, MODEL_NONE_CHANNEL, "");
            if (!row)
                goto nomem;
            row->conversions += none_conv;
            row->value += none_value;
        }
    }
    report_sort(out);
    err = JD_OK;
    goto out;
nomem:
    err = jd_errf(JD_ERR_NOMEM, errstr, errstr_size, "out of memory");
out:
    for (int m = 0; m < MODEL_N; m++) {
        free(acc.conv[m]);
        free(acc.value[m]);
    }
    free(shap);
    free(shapv);
    return err;
}

bool report_format_from_name(const char *name, enum report_format *out)
{
    static const char *const names[] = { "table", "csv", "json", "svg" };
    for (size_t i = 0; i < JD_ARRAY_SIZE(names); i++)
        if (strcmp(name, names[i]) == 0) {
            *out = (enum report_format)i;
            return true;
        }
    return false;
}
