/*
 * attr_learn.c — the data-driven models' weights, learnt from the path
 * statistics of the training window (Markov removal effects, Shapley values).
 *
 * Owns only the learning pass; the statistics are written by attr.c's
 * batches (pathstat.c's format), the maths is markov.c's and shapley.c's.
 */
#include "attribute/attr_int.h"
#include "attribute/markov.h"
#include "attribute/paths.h"
#include "attribute/shapley.h"
#include "core/ts.h"

#include <stdlib.h>

/* The weights of one model from \p w per channel of \p p. */
static bool attr_learnt(struct attr *a, enum model_id m, const struct paths *p, const double *w)
{
    return attr_set_weights(a, m, (const char *const *)p->names, w, p->nnames);
}

enum jd_err attr_learn(struct attr *a, int64_t st, char *errstr, size_t errstr_size)
{
    const struct config *cfg = a->cfg;
    int64_t first = ts_floor_div(st - cfg->attribution.training_window_ms, JD_MS_HOUR);
    int64_t last = ts_floor_div(st - 1, JD_MS_HOUR);
    size_t nh = last >= first ? (size_t)(last - first + 1) : 0;
    struct paths *p = paths_new();
    struct markov *mk = NULL;
    struct markov_result res = { 0 };
    double *phi = NULL, *phiv = NULL;
    char(*keys)[STORE_KEY_MAX] = calloc(nh + 1, sizeof(*keys));
    enum jd_err err = JD_ERR_NOMEM;
    if (!p || !keys || !attr_gets(a, nh + 1))
        goto nomem;
    for (size_t h = 0; h < nh; h++) {
        store_key_paths(a->store, keys[h], sizeof(keys[h]), (first + (int64_t)h) * JD_MS_HOUR);
        a->gets[h].key = keys[h];
    }
    if ((err = store_get_many(a->store, a->gets, nh, errstr, errstr_size)) != JD_OK)
        goto out;
    for (size_t h = 0; h < nh; h++) {
        char e[128];
        if (!a->gets[h].value)
            continue;
        enum jd_err fe = pathstat_fold(p, a->gets[h].value, a->gets[h].len, NULL, e, sizeof(e));
        if (fe == JD_ERR_NOMEM)
            goto nomem;
        a->c.corrupt += fe == JD_ERR_CORRUPT;
    }
    size_t n = p->nnames ? p->nnames : 1;
    if (!(phi = calloc(n, sizeof(*phi))) || !(phiv = calloc(n, sizeof(*phiv))) ||
        !(mk = markov_new((int)cfg->attribution.markov_order)))
        goto nomem;
    for (size_t i = 0; i < p->nrows; i++) {
        const struct paths_row *r = &p->rows[i];
        shapley_add_set(phi, phiv, p->touch + r->off, r->n, r->conv, r->value);
        if (!markov_add_path(mk, p->touch + r->off, r->n, r->conv, r->value, r->nulls))
            goto nomem;
    }
    if ((err = markov_solve(mk, p->nnames, &res, errstr, errstr_size)) != JD_OK)
        goto out;
    if (!attr_learnt(a, MODEL_MARKOV, p, res.re) || !attr_learnt(a, MODEL_SHAPLEY, p, phi))
        goto nomem;
    a->c.learnt++;
    err = JD_OK;
    goto out;
nomem:
    err = jd_errf(JD_ERR_NOMEM, errstr, errstr_size, "out of memory learning weights");
out:
    if (a->capgets >= nh)
        store_gets_free(a->gets, nh);
    if (err != JD_OK && err != JD_ERR_REDIS)
        a->c.learn_errors++;
    markov_result_free(&res);
    markov_destroy(mk);
    free(phi);
    free(phiv);
    free(keys);
    paths_destroy(p);
    return err;
}
