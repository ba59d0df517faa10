/*
 * report_write.c — a report as a table, long-form CSV, JSON or an SVG chart.
 *
 * Owns only formatting. Rows are laid out as a grid of (channel, campaign)
 * keys × computed models; the csv header is attribution.md's contract.
 */
#include "attribute/chart.h"
#include "attribute/report.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Keys (rows sorted by channel, campaign) × models, with cell lookups. */
struct report_grid {
    const struct report_row **key; /* first row of each key */
    size_t nkeys;
    enum model_id model[MODEL_N];
    size_t nmodels;
    const struct report_row **cell; /* nkeys × nmodels, NULL: no row */
};

static void report_grid_free(struct report_grid *g)
{
    free(g->key);
    free(g->cell);
}

static bool report_grid_build(const struct report *r, struct report_grid *g)
{
    memset(g, 0, sizeof(*g));
    for (int m = 0; m < MODEL_N; m++)
        if (r->models[m])
            g->model[g->nmodels++] = (enum model_id)m;
    g->key = malloc((r->nrows + 1) * sizeof(*g->key));
    if (!g->key)
        return false;
    for (size_t i = 0; i < r->nrows; i++) {
        const struct report_row *x = &r->rows[i];
        const struct report_row *last = g->nkeys ? g->key[g->nkeys - 1] : NULL;
        if (!last || strcmp(last->channel, x->channel) || strcmp(last->campaign, x->campaign))
            g->key[g->nkeys++] = x;
    }
    g->cell = calloc(g->nkeys * g->nmodels + 1, sizeof(*g->cell));
    if (!g->cell)
        return false;
    for (size_t i = 0, k = 0; i < r->nrows; i++) {
        const struct report_row *x = &r->rows[i];
        while (k + 1 < g->nkeys && x >= g->key[k + 1])
            k++;
        for (size_t m = 0; m < g->nmodels; m++)
            if (g->model[m] == x->model)
                g->cell[k * g->nmodels + m] = x;
    }
    return true;
}

static const struct report_row *report_any_spend(const struct report_grid *g, size_t k)
{
    for (size_t m = 0; m < g->nmodels; m++) {
        const struct report_row *x = g->cell[k * g->nmodels + m];
        if (x && x->has_spend)
            return x;
    }
    return NULL;
}

static void report_key_name(const struct report_row *x, char *buf, size_t size)
{
    if (x->campaign[0])
        snprintf(buf, size, "%s/%s", x->channel, x->campaign);
    else
        snprintf(buf, size, "%s", x->channel);
}

static void report_table_block(const struct report_grid *g, FILE *out, const char *what, int field,
                               int width, bool spend)
{
    char name[200];
    fprintf(out, "\n%-*s", width, what);
    for (size_t m = 0; m < g->nmodels; m++)
        fprintf(out, " %15s", model_name(g->model[m]));
    if (field == 1 && spend)
        fprintf(out, " %15s", "spend");
    fputc('\n', out);
    double tot[MODEL_N] = { 0 };
    for (size_t k = 0; k < g->nkeys; k++) {
        report_key_name(g->key[k], name, sizeof(name));
        fprintf(out, "%-*s", width, name);
        const struct report_row *sp = report_any_spend(g, k);
        for (size_t m = 0; m < g->nmodels; m++) {
            const struct report_row *x = g->cell[k * g->nmodels + m];
            double v = !x                    ? NAN
                       : field == 0          ? x->conversions
                       : field == 1          ? x->value
                       : sp && sp->spend > 0 ? x->value / sp->spend
                                             : NAN;
            if (isnan(v))
                fprintf(out, " %15s", "-");
            else
                fprintf(out, " %15.*f", field == 2 ? 3 : 2, v);
            if (x && field != 2)
                tot[m] += v;
        }
        if (field == 1 && spend)
            sp ? fprintf(out, " %15.2f", sp->spend) : fprintf(out, " %15s", "-");
        fputc('\n', out);
    }
    if (field == 2)
        return;
    fprintf(out, "%-*s", width, "total");
    for (size_t m = 0; m < g->nmodels; m++)
        fprintf(out, " %15.2f", tot[m]);
    fputc('\n', out);
}

static void report_table(const struct report *r, const struct report_grid *g, const char *title,
                         FILE *out)
{
    char name[200];
    int width = 12;
    bool spend = false;
    for (size_t k = 0; k < g->nkeys; k++) {
        report_key_name(g->key[k], name, sizeof(name));
        width = JD_MAX(width, (int)strlen(name) + 1);
        spend |= report_any_spend(g, k) != NULL;
    }
    if (title)
        fprintf(out, "%s\n", title);
    fprintf(out, "%.17g conversions worth %.2f", r->total_conversions, r->total_value);
    if (r->npaths)
        fprintf(out, " over %zu paths", r->npaths);
    if (r->conversion_type && r->conversion_type[0])
        fprintf(out, " (%s)", r->conversion_type);
    fputc('\n', out);
    report_table_block(g, out, "conversions", 0, width, spend);
    report_table_block(g, out, "value", 1, width, spend);
    if (spend)
        report_table_block(g, out, "roi", 2, width, spend);
    if (r->nre) {
        fprintf(out,
                "\nmarkov order %d: P(conversion) %.6f over %zu states; removal effects "
                "(conversions, value)\n",
                r->markov_order, r->p_conv, r->markov_states);
        bool *done = calloc(r->nre, sizeof(*done));
        for (size_t k = 0; done && k < r->nre; k++) { /* largest first */
            size_t best = SIZE_MAX;
            for (size_t c = 0; c < r->nre; c++)
                if (!done[c] && (best == SIZE_MAX || r->re[c] > r->re[best]))
                    best = c;
            done[best] = true;
            fprintf(out, "  %-*s %.6f  %.6f\n", width, r->re_channels[best], r->re[best],
                    r->re_value[best]);
        }
        free(done);
    }
}

static void report_num(FILE *out, double v)
{
    if (isfinite(v))
        fprintf(out, "%.17g", v);
}

static void report_csv_field(FILE *out, const char *s)
{
    if (!strpbrk(s, ",\"\n\r")) {
        fputs(s, out);
        return;
    }
    fputc('"', out);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', out);
        fputc(*s, out);
    }
    fputc('"', out);
}

static void report_csv(const struct report *r, FILE *out)
{
    fputs("conversion_type,model,channel,campaign,conversions,value,spend,roi\n", out);
    for (size_t i = 0; i < r->nrows; i++) {
        const struct report_row *x = &r->rows[i];
        report_csv_field(out, r->conversion_type ? r->conversion_type : "");
        fprintf(out, ",%s,", model_name(x->model));
        report_csv_field(out, x->channel);
        fputc(',', out);
        report_csv_field(out, x->campaign);
        fprintf(out, ",%.17g,%.17g,", x->conversions, x->value);
        if (x->has_spend) {
            report_num(out, x->spend);
            fputc(',', out);
            if (x->spend > 0)
                report_num(out, x->value / x->spend);
        } else
            fputc(',', out);
        fputc('\n', out);
    }
}

static json_t *report_json(const struct report *r)
{
    json_t *root = json_object(), *rows = json_array(), *models = json_array();
    if (!root || !rows || !models) {
        json_decref(root);
        json_decref(rows);
        json_decref(models);
        return NULL;
    }
    json_object_set_new(root, "conversion_type",
                        json_string(r->conversion_type ? r->conversion_type : ""));
    json_object_set_new(root, "total_conversions", json_real(r->total_conversions));
    json_object_set_new(root, "total_value", json_real(r->total_value));
    for (int m = 0; m < MODEL_N; m++)
        if (r->models[m])
            json_array_append_new(models, json_string(model_name((enum model_id)m)));
    json_object_set_new(root, "models", models);
    for (size_t i = 0; i < r->nrows; i++) {
        const struct report_row *x = &r->rows[i];
        json_t *o = json_pack("{s:s, s:s, s:s, s:f, s:f}", "model", model_name(x->model), "channel",
                              x->channel, "campaign", x->campaign, "conversions", x->conversions,
                              "value", x->value);
        if (o && x->has_spend) {
            json_object_set_new(o, "spend", json_real(x->spend));
            if (x->spend > 0)
                json_object_set_new(o, "roi", json_real(x->value / x->spend));
        }
        json_array_append_new(rows, o);
    }
    json_object_set_new(root, "rows", rows);
    if (r->nre) {
        json_t *mk = json_object(), *re = json_object(), *rev = json_object();
        for (size_t c = 0; c < r->nre; c++) {
            json_object_set_new(re, r->re_channels[c], json_real(r->re[c]));
            json_object_set_new(rev, r->re_channels[c], json_real(r->re_value[c]));
        }
        json_object_set_new(mk, "order", json_integer(r->markov_order));
        json_object_set_new(mk, "p_conversion", json_real(r->p_conv));
        json_object_set_new(mk, "states", json_integer((json_int_t)r->markov_states));
        json_object_set_new(mk, "removal_effects", re);
        json_object_set_new(mk, "removal_effects_value", rev);
        json_object_set_new(root, "markov", mk);
    }
    return root;
}

static enum jd_err report_svg(const struct report_grid *g, const char *title, FILE *out)
{
    enum jd_err err = JD_ERR_NOMEM;
    char **names = calloc(g->nkeys + 1, sizeof(*names));
    const char *series[MODEL_N];
    double *v = malloc((g->nkeys * g->nmodels + 1) * 2 * sizeof(*v));
    char *svg = NULL;
    size_t len;
    if (!names || !v)
        goto out;
    for (size_t k = 0; k < g->nkeys; k++) {
        char name[200];
        report_key_name(g->key[k], name, sizeof(name));
        if (!(names[k] = strdup(name)))
            goto out;
    }
    size_t ncell = g->nkeys * g->nmodels;
    for (size_t m = 0; m < g->nmodels; m++)
        series[m] = model_name(g->model[m]);
    for (size_t i = 0; i < ncell; i++) {
        v[i] = g->cell[i] ? g->cell[i]->conversions : NAN;
        v[ncell + i] = g->cell[i] ? g->cell[i]->value : NAN;
    }
    struct chart_panel panels[2] = {
        { "Attributed conversions", v, "" },
        { "Attributed value", v + ncell, "" },
    };
    struct chart c = { title ? title : "Attribution by channel and model",
                       (const char *const *)names,
                       g->nkeys,
                       series,
                       g->nmodels,
                       panels,
                       2 };
    if (!(svg = chart_svg(&c, &len)))
        goto out;
    err = fwrite(svg, 1, len, out) == len ? JD_OK : JD_ERR_IO;
out:
    for (size_t k = 0; names && k < g->nkeys; k++)
        free(names[k]);
    free(names);
    free(v);
    free(svg);
    return err;
}

enum jd_err report_write(const struct report *r, enum report_format f, const char *title, FILE *out,
                         char *errstr, size_t errstr_size)
{
    struct report_grid g;
    enum jd_err err = JD_OK;
    json_t *j = NULL;
    if (!report_grid_build(r, &g)) {
        err = JD_ERR_NOMEM;
        goto out;
    }
    switch (f) {
    case REPORT_TABLE:
        report_table(r, &g, title, out);
        break;
    case REPORT_CSV:
        report_csv(r, out);
        break;
    case REPORT_JSON:
        if (!(j = report_json(r)) ||
            json_dumpf(j, out, JSON_INDENT(2) | JSON_REAL_PRECISION(17)) != 0)
            err = j ? JD_ERR_IO : JD_ERR_NOMEM;
        else
            fputc('\n', out);
        break;
    case REPORT_SVG:
        err = report_svg(&g, title, out);
        break;
    }
    if (err == JD_OK && (fflush(out) != 0 || ferror(out)))
        err = JD_ERR_IO;
out:
    json_decref(j);
    report_grid_free(&g);
    if (err != JD_OK)
        jd_errf(err, errstr, errstr_size, "%s",
                err == JD_ERR_IO ? "cannot write the report" : "out of memory");
    return err;
}
