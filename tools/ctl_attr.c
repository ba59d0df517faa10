/*
 * ctl_attr.c — `journeyctl attribution`: the attribution report.
 *
 *   journeyctl [-c FILE] attribution --paths FILE.csv [--model M]... [--order K]
 *              [--format table|csv|json|svg] [--output FILE]
 *
 * With --paths it reads ChannelAttribution's path data and computes every
 * model's batch definition (attribution.md) on it; the settings (models,
 * direct channels, position weights, Markov order) come from the config.
 * Owns the command line and file I/O; the arithmetic is attribute/report.c's.
 */
#include "attribute/paths.h"
#include "attribute/report.h"
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
    fputs("usage: journeyctl [-c FILE] attribution --paths FILE.csv [--model M]... [--order K]\n"
          "                  [--format table|csv|json|svg] [--output FILE]\n"
          "  --paths FILE   aggregated paths in ChannelAttribution's format\n"
          "                 (path,total_conversions,total_conversion_value,total_null)\n"
          "  --model M      only these models (repeatable; default: attribution.models)\n"
          "  --order K      Markov order 1-3 (default: attribution.markov.order)\n"
          "  --format F     table (default), csv (long form), json or svg (a chart)\n"
          "  --output FILE  write there instead of stdout\n",
          out);
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

static int ctl_attr_opts(const struct config *cfg, struct report_opts *o)
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
        { NULL, 0, NULL, 0 },
    };
    const char *paths_file = NULL, *output = NULL;
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
        case 'h':
            ctl_attr_usage(stdout);
            return 0;
        default:
            ctl_attr_usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (optind < argc || !paths_file) {
        if (!paths_file)
            fprintf(stderr, "journeyctl attribution: live reports come with the journeys "
                            "store; for now give --paths FILE.csv\n");
        ctl_attr_usage(stderr);
        return EXIT_USAGE;
    }
    if (!(cfg = ctl_config(cfgpath)))
        return EXIT_CONFIG;
    ctl_attr_opts(cfg, &o);
    if (any_only)
        memcpy(o.models, only, sizeof(only));
    if (order)
        o.markov_order = order;
    rc = 1;
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
    if (output && !(out = fopen(output, "w"))) {
        fprintf(stderr, "journeyctl: %s: %s\n", output, strerror(errno));
        out = stdout;
        goto out;
    }
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
    paths_destroy(p);
    free(buf);
    config_destroy(cfg);
    return rc;
}
