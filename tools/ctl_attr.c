/*
 * ctl_attr.c — `journeyctl attribution`: the attribution report.
 *
 *   journeyctl [-c FILE] attribution [--from T] [--to T] [--conversion-type T]
 *              [--by channel|campaign] [--model M]... [--format F] [--output FILE]
 *   journeyctl [-c FILE] attribution --paths FILE.csv [--model M]... [--order K] ...
 *
 * Live (the default) it reads the window [from, to) from Redis: the
 * rule-based models from the credit stream, markov and shapley by their
 * batch definition over the window's path statistics, spend from `cost`
 * events. With --paths it reads ChannelAttribution's path data instead and
 * computes every model's batch definition (attribution.md) on it. The
 * settings (models, direct channels, position weights, Markov order) come
 * from the config. Owns the command line and I/O; the arithmetic is
 * attribute/report.c's, the reads the store's and the query engine's.
 */
#include "attribute/pathstat.h"
#include "attribute/paths.h"
#include "attribute/report.h"
#include "core/ts.h"
#include "evaluate/expr.h"
#include "evaluate/query.h"
#include "store/store.h"
#include "tools/ctl.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Path files beyond this are refused rather than read into memory. */
#define CTL_ATTR_MAX_FILE (1024L * 1024 * 1024)

static void ctl_attr_usage(FILE *out)
{
    fputs("usage: journeyctl [-c FILE] attribution [--from T] [--to T] [--conversion-type T]\n"
          "                  [--by channel|campaign] [--model M]... [--order K]\n"
          "                  [--format table|csv|json|svg] [--output FILE]\n"
          "       journeyctl [-c FILE] attribution --paths FILE.csv [--model M]... [--order K]\n"
          "                  [--format table|csv|json|svg] [--output FILE]\n"
          "  --from, --to   the window, whole hours (RFC 3339 or unix seconds; default:\n"
          "                 the 30 days to the end of the current hour; at most\n"
          "                 windows.retention.day)\n"
          "  --conversion-type T  default: the first of attribution.conversion_types\n"
          "  --by campaign  one row per channel and campaign (rule-based models)\n"
          "  --paths FILE   aggregated paths in ChannelAttribution's format\n"
          "                 (path,total_conversions,total_conversion_value,total_null)\n"
          "  --model M      only these models (repeatable; default: attribution.models)\n"
          "  --order K      Markov order 1-3 (default: attribution.markov.order)\n"
          "  --format F     table (default), csv (long form), json or svg (a chart)\n"
          "  --output FILE  write there instead of stdout\n",
          out);
}

static bool ctl_attr_is_ctype(const struct config *cfg, const char *type)
{
    for (size_t i = 0; i < cfg->attribution.conversion_types.n; i++)
        if (!strcmp(cfg->attribution.conversion_types.v[i], type))
            return true;
    return false;
}

/* Reads a whole file; NULL after printing why. */
static char *ctl_attr_slurp(const char *path, size_t *len)
{
    FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    char *buf = NULL;
    size_t cap = 0;
    *len = 0;
    if (!f) {
        fprintf(stderr, "journeyctl: %s: %s\n", path, strerror(errno));
        return NULL;
    }
    for (;;) {
        if (*len + 65536 > cap) {
            if (cap >= CTL_ATTR_MAX_FILE) {
                fprintf(stderr, "journeyctl: %s: larger than 1 GiB\n", path);
                goto fail;
            }
            char *nb = realloc(buf, cap = cap ? cap * 2 : 1 << 20);
            if (!nb) {
                fprintf(stderr, "journeyctl: %s: out of memory\n", path);
                goto fail;
            }
            buf = nb;
        }
        size_t n = fread(buf + *len, 1, cap - *len, f);
        *len += n;
        if (n == 0)
            break;
    }
    if (ferror(f)) {
        fprintf(stderr, "journeyctl: %s: %s\n", path, strerror(errno));
        goto fail;
    }
    if (f != stdin)
        fclose(f);
    return buf;
fail:
    if (f != stdin)
        fclose(f);
    free(buf);
    return NULL;
}

static void ctl_attr_opts(const struct config *cfg, struct report_opts *o)
{
    report_opts_default(o);
    for (int m = 0; m < MODEL_N; m++)
        o->models[m] = false;
    for (size_t i = 0; i < cfg->attribution.models.n; i++) {
        enum model_id m;
        if (model_from_name(jd_str_c(cfg->attribution.models.v[i]), &m))
            o->models[m] = true;
    }
    o->markov_order = (int)cfg->attribution.markov_order;
    o->params.first_weight = cfg->attribution.first_weight;
    o->params.last_weight = cfg->attribution.last_weight;
    o->params.half_life_ms = cfg->attribution.half_life_ms;
    o->direct = (const char *const *)cfg->attribution.direct_channels.v;
    o->ndirect = cfg->attribution.direct_channels.n;
}

/* ------------------------------------------------------------ live mode */

struct ctl_attr_live {
    struct store *store;
    const char *ctype;
    int64_t from, to;
    bool by_campaign;
    struct report *r;
    char err[JD_ERRSTR_SIZE];
};

static const char *ctl_attr_label(const struct query_sample *s, const char *name)
{
    for (size_t i = 0; i < s->nlabels; i++)
        if (!strcmp(s->labels[i].name, name))
            return s->labels[i].value;
    return "";
}

/* Evaluates \p text at the window's end; the result is the caller's to free. */
static bool ctl_attr_eval(struct ctl_attr_live *l, const char *text, struct query_result *res)
{
    struct expr_node *e = expr_parse(text, l->err, sizeof(l->err));
    bool ok = e && query_eval(l->store, NULL, e, l->to, res, l->err, sizeof(l->err)) == JD_OK;
    expr_free(e);
    return ok;
}

/* The rule-based models from the credit stream: field 0 conversions, 1 value. */
static bool ctl_attr_credits(struct ctl_attr_live *l, const bool *models, int field)
{
    char q[512];
    struct query_result res = { 0 };
    snprintf(q, sizeof(q), "sum by (model, channel%s) (credit{conversion_type=\"%s\"}.%s[%lldm])",
             l->by_campaign ? ", campaign" : "", l->ctype, field ? "value" : "conversions",
             (long long)((l->to - l->from) / JD_MS_MINUTE));
    if (!ctl_attr_eval(l, q, &res))
        return false;
    for (size_t i = 0; i < res.n; i++) {
        const struct query_sample *x = &res.v[i];
        enum model_id m;
        if (!model_from_name(jd_str_c(ctl_attr_label(x, "model")), &m) || !models[m])
            continue;
        /* markov and shapley come from the window's paths, but for (none) */
        const char *ch = ctl_attr_label(x, "channel");
        if (model_is_data_driven(m) && strcmp(ch, MODEL_NONE_CHANNEL) != 0)
            continue;
        struct report_row *row = report_row(l->r, m, ch, ctl_attr_label(x, "campaign"));
        if (!row) {
            query_result_free(&res);
            return jd_errf(JD_ERR_NOMEM, l->err, sizeof(l->err), "out of memory"), false;
        }
        *(field ? &row->value : &row->conversions) += x->value;
    }
    query_result_free(&res);
    return true;
}

/* markov and shapley: the batch definition over the window's path statistics. */
static bool ctl_attr_paths(struct ctl_attr_live *l, const struct report_opts *o)
{
    int64_t h0 = l->from / JD_MS_HOUR, h1 = l->to / JD_MS_HOUR;
    size_t n = (size_t)(h1 - h0);
    struct store_get *gets = calloc(n + 1, sizeof(*gets));
    char(*keys)[STORE_KEY_MAX] = calloc(n + 1, sizeof(*keys));
    struct paths *p = paths_new();
    struct report dd = { 0 };
    struct report_opts od = *o;
    bool ok = false;
    if (!gets || !keys || !p) {
        jd_errf(JD_ERR_NOMEM, l->err, sizeof(l->err), "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        store_key_paths(l->store, keys[i], sizeof(keys[i]), (h0 + (int64_t)i) * JD_MS_HOUR);
        gets[i].key = keys[i];
    }
    if (store_get_many(l->store, gets, n, l->err, sizeof(l->err)) != JD_OK)
        goto out;
    for (size_t i = 0; i < n; i++) {
        char e[256];
        if (gets[i].value &&
            pathstat_fold(p, gets[i].value, gets[i].len, l->ctype, e, sizeof(e)) != JD_OK) {
            jd_errf(JD_ERR_CORRUPT, l->err, sizeof(l->err), "%s: %s", gets[i].key, e);
            goto out;
        }
    }
    for (int m = 0; m < MODEL_N; m++)
        od.models[m] = o->models[m] && model_is_data_driven((enum model_id)m);
    if (report_from_paths(p, &od, &dd, l->err, sizeof(l->err)) != JD_OK)
        goto out;
    for (size_t i = 0; i < dd.nrows; i++) {
        const struct report_row *x = &dd.rows[i];
        struct report_row *row = report_row(l->r, x->model, x->channel, "");
        if (!row) {
            jd_errf(JD_ERR_NOMEM, l->err, sizeof(l->err), "out of memory");
            goto out;
        }
        row->conversions += x->conversions;
        row->value += x->value;
    }
    /* the chain's diagnostics go with the report */
    l->r->markov_order = dd.markov_order;
    l->r->p_conv = dd.p_conv;
    l->r->markov_states = dd.markov_states;
    l->r->re_channels = dd.re_channels;
    l->r->re = dd.re;
    l->r->re_value = dd.re_value;
    l->r->nre = dd.nre;
    dd.re_channels = NULL;
    dd.re = dd.re_value = NULL;
    dd.nre = 0;
    l->r->npaths = 0; /* p holds records (per hour and batch), not distinct paths */
    ok = true;
out:
    if (gets)
        store_gets_free(gets, n);
    free(gets);
    free(keys);
    report_free(&dd);
    paths_destroy(p);
    return ok;
}

/* Spend per channel (and campaign) from `cost` events, onto every row. */
static bool ctl_attr_spend(struct ctl_attr_live *l)
{
    char q[256];
    struct query_result res = { 0 };
    snprintf(q, sizeof(q), "sum by (channel%s) (cost.value[%lldm])",
             l->by_campaign ? ", campaign" : "", (long long)((l->to - l->from) / JD_MS_MINUTE));
    if (!ctl_attr_eval(l, q, &res))
        return false;
    for (size_t k = 0; k < l->r->nrows; k++) {
        struct report_row *row = &l->r->rows[k];
        /* markov and shapley credit channels only: their rows take every campaign's spend */
        bool any_campaign = !l->by_campaign || model_is_data_driven(row->model);
        for (size_t i = 0; i < res.n; i++)
            if (!strcmp(ctl_attr_label(&res.v[i], "channel"), row->channel) &&
                (any_campaign || !strcmp(ctl_attr_label(&res.v[i], "campaign"), row->campaign))) {
                row->has_spend = true;
                row->spend += res.v[i].value;
            }
    }
    query_result_free(&res);
    return true;
}

static int ctl_attr_live(const struct config *cfg, const struct report_opts *o,
                         struct ctl_attr_live *l, struct report *r)
{
    struct store_opts so;
    l->r = r;
    store_opts_from_config(&so, cfg);
    if (!(l->store = store_new(&so, l->err, sizeof(l->err))) ||
        store_connect(l->store, l->err, sizeof(l->err)) != JD_OK) {
        fprintf(stderr, "journeyctl: %s\n", l->err);
        return 1;
    }
    free(r->conversion_type);
    if (!(r->conversion_type = strdup(l->ctype))) {
        fprintf(stderr, "journeyctl: out of memory\n");
        return 1;
    }
    for (int m = 0; m < MODEL_N; m++)
        r->models[m] = o->models[m];
    bool any_dd = o->models[MODEL_MARKOV] || o->models[MODEL_SHAPLEY];
    if (!ctl_attr_credits(l, o->models, 0) || !ctl_attr_credits(l, o->models, 1) ||
        (any_dd && !ctl_attr_paths(l, o)) || !ctl_attr_spend(l)) {
        fprintf(stderr, "journeyctl attribution: %s\n", l->err);
        return 1;
    }
    /* every model credits every conversion: the totals are any one model's */
    int first = 0;
    while (first < MODEL_N && !o->models[first])
        first++;
    for (size_t i = 0; i < r->nrows; i++)
        if ((int)r->rows[i].model == first) {
            r->total_conversions += r->rows[i].conversions;
            r->total_value += r->rows[i].value;
        }
    report_sort(r);
    return 0;
}

int ctl_attribution(const char *cfgpath, int argc, char **argv)
{
    static const struct option longopts[] = {
        { "paths", required_argument, NULL, 'p' },
        { "model", required_argument, NULL, 'm' },
        { "order", required_argument, NULL, 'k' },
        { "format", required_argument, NULL, 'f' },
        { "output", required_argument, NULL, 'o' },
        { "help", no_argument, NULL, 'h' },
        { "from", required_argument, NULL, 'F' },
        { "to", required_argument, NULL, 'T' },
        { "conversion-type", required_argument, NULL, 'C' },
        { "by", required_argument, NULL, 'B' },
        { NULL, 0, NULL, 0 },
    };
    const char *paths_file = NULL, *output = NULL, *from_s = NULL, *to_s = NULL, *ctype = NULL;
    struct ctl_attr_live live = { 0 };
    enum report_format fmt = REPORT_TABLE;
    bool only[MODEL_N] = { false }, any_only = false;
    int order = 0, rc = EXIT_USAGE, c;
    char err[1024], title[512];
    struct report r = { 0 };
    struct report_opts o;
    struct paths *p = NULL;
    struct config *cfg = NULL;
    char *buf = NULL;
    size_t len;
    FILE *out = stdout;

    optind = 1;
    while ((c = getopt_long(argc, argv, "o:", longopts, NULL)) != -1) {
        enum model_id m;
        switch (c) {
        case 'p':
            paths_file = optarg;
            break;
        case 'm':
            if (!model_from_name(jd_str_c(optarg), &m)) {
                fprintf(stderr,
                        "journeyctl attribution: unknown model '%s' (first_touch, last_touch, "
                        "last_non_direct, linear, position_based, time_decay, markov, shapley)\n",
                        optarg);
                return EXIT_USAGE;
            }
            only[m] = any_only = true;
            break;
        case 'k':
            order = atoi(optarg);
            if (order < 1 || order > 3) {
                fprintf(stderr, "journeyctl attribution: --order must be 1, 2 or 3\n");
                return EXIT_USAGE;
            }
            break;
        case 'f':
            if (!report_format_from_name(optarg, &fmt)) {
                fprintf(stderr, "journeyctl attribution: --format is table, csv, json or svg\n");
                return EXIT_USAGE;
            }
            break;
        case 'o':
            output = optarg;
            break;
        case 'F':
            from_s = optarg;
            break;
        case 'T':
            to_s = optarg;
            break;
        case 'C':
            ctype = optarg;
            break;
        case 'B':
            if (strcmp(optarg, "channel") && strcmp(optarg, "campaign")) {
                fprintf(stderr, "journeyctl attribution: --by is channel or campaign\n");
                return EXIT_USAGE;
            }
            live.by_campaign = !strcmp(optarg, "campaign");
            break;
        case 'h':
            ctl_attr_usage(stdout);
            return 0;
        default:
            ctl_attr_usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (optind < argc) {
        ctl_attr_usage(stderr);
        return EXIT_USAGE;
    }
    /* the default window ends with the current hour, so what arrived minutes
     * ago is in the report; path statistics are kept by the hour */
    live.to = (ts_now_ms() / JD_MS_HOUR + 1) * JD_MS_HOUR;
    const char *const bounds[2] = { to_s, from_s };
    int64_t *const at[2] = { &live.to, &live.from };
    for (int k = 0; k < 2; k++) {
        if (k == 1)
            live.from = live.to - 30 * JD_MS_DAY;
        if (bounds[k] && ts_parse_time_arg(bounds[k], at[k], err, sizeof(err)) != JD_OK) {
            fprintf(stderr, "journeyctl attribution: --%s: %s\n", k ? "from" : "to", err);
            return EXIT_USAGE;
        }
        if (*at[k] % JD_MS_HOUR) {
            fprintf(stderr,
                    "journeyctl attribution: --%s: not a whole hour (path statistics "
                    "are kept by the hour)\n",
                    k ? "from" : "to");
            return EXIT_USAGE;
        }
    }
    if (live.from >= live.to) {
        fprintf(stderr, "journeyctl attribution: --from must be before --to\n");
        return EXIT_USAGE;
    }
    if (paths_file && (from_s || to_s || ctype || live.by_campaign)) {
        fprintf(stderr, "journeyctl attribution: --from, --to, --conversion-type and --by "
                        "select from the live data; a --paths file is reported whole\n");
        return EXIT_USAGE;
    }
    if (!(cfg = ctl_config(cfgpath)))
        return EXIT_CONFIG;
    if (!paths_file && live.to - live.from > cfg->windows.retention_day_ms) {
        fprintf(stderr,
                "journeyctl attribution: the window is longer than windows.retention.day "
                "(%lld days): path statistics and credits are not kept longer\n",
                (long long)(cfg->windows.retention_day_ms / JD_MS_DAY));
        rc = EXIT_USAGE;
        goto out;
    }
    if (ctype && !ctl_attr_is_ctype(cfg, ctype)) {
        fprintf(stderr,
                "journeyctl attribution: --conversion-type %s: not one of "
                "attribution.conversion_types in %s\n",
                ctype, cfgpath ? cfgpath : "the configuration");
        rc = EXIT_USAGE;
        goto out;
    }
    ctl_attr_opts(cfg, &o);
    if (any_only)
        memcpy(o.models, only, sizeof(only));
    if (order)
        o.markov_order = order;
    rc = 1;
    if (!paths_file) {
        char f[TS_RFC3339_SIZE], t[TS_RFC3339_SIZE];
        live.ctype = ctype                                 ? ctype
                     : cfg->attribution.conversion_types.n ? cfg->attribution.conversion_types.v[0]
                                                           : "conversion";
        if (ctl_attr_live(cfg, &o, &live, &r) != 0)
            goto out;
        ts_format_rfc3339(live.from, f, sizeof(f));
        ts_format_rfc3339(live.to, t, sizeof(t));
        snprintf(title, sizeof(title), "Attribution of %s, %s to %s", live.ctype, f, t);
        goto write;
    }
    if (!(p = paths_new())) {
        fprintf(stderr, "journeyctl: out of memory\n");
        goto out;
    }
    if (!(buf = ctl_attr_slurp(paths_file, &len)))
        goto out;
    if (paths_parse_csv(p, buf, len, paths_file, err, sizeof(err)) != JD_OK) {
        fprintf(stderr, "%s\n", err);
        goto out;
    }
    if (o.models[MODEL_TIME_DECAY])
        fprintf(stderr, "journeyctl attribution: time_decay needs touch times, which path data "
                        "has not: left out\n");
    if (report_from_paths(p, &o, &r, err, sizeof(err)) != JD_OK) {
        fprintf(stderr, "journeyctl attribution: %s\n", err);
        goto out;
    }
write:
    if (output && !(out = fopen(output, "w"))) {
        fprintf(stderr, "journeyctl: %s: %s\n", output, strerror(errno));
        out = stdout;
        goto out;
    }
    if (paths_file)
        snprintf(title, sizeof(title), "Attribution of %s (markov order %d)", paths_file,
                 o.markov_order);
    if (report_write(&r, fmt, title, out, err, sizeof(err)) != JD_OK) {
        fprintf(stderr, "journeyctl attribution: %s\n", err);
        goto out;
    }
    if (output)
        fprintf(stderr, "journeyctl attribution: wrote %s\n", output);
    rc = 0;
out:
    if (out != stdout && fclose(out) != 0 && rc == 0) {
        fprintf(stderr, "journeyctl: %s: %s\n", output, strerror(errno));
        rc = 1;
    }
    report_free(&r);
    store_destroy(live.store);
    paths_destroy(p);
    free(buf);
    config_destroy(cfg);
    return rc;
}
