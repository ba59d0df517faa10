/*
 * ctl_replay.c — `journeyctl replay`: a backtest of rules over a file of events.
 *
 * Reads NDJSON events (or the lines `kcat -C -J` prints: their payload and
 * headers are the message), decodes them with the daemon's decoder, feeds
 * them to a backtest in file order and prints every alert message, one JSON
 * value per line, in publishing order. At the end of the file the watermark
 * moves to the last event time. Progress goes to stderr every few seconds.
 */
#include "core/config.h"
#include "core/ts.h"
#include "decode/event.h"
#include "evaluate/backtest.h"
#include "evaluate/rule.h"
#include "tools/ctl.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct ctl_replay {
    FILE *out;
    uint64_t printed;
};

static enum jd_err ctl_replay_print(void *opaque, const struct engine_msg *m, char *errstr,
                                    size_t errstr_size)
{
    struct ctl_replay *r = opaque;
    (void)errstr;
    (void)errstr_size;
    fwrite(m->json, 1, m->len, r->out);
    fputc('\n', r->out);
    r->printed++;
    return JD_OK;
}

static int64_t ctl_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * One input line as a message: a kcat -J envelope gives its payload and
 * headers (kept in \p hdrs, which the caller frees with json_decref).
 */
static bool ctl_unwrap_kcat(const char *line, size_t n, const char **msg, size_t *len,
                            struct event_header *headers, size_t *nheaders, json_t **hold)
{
    *hold = NULL;
    *nheaders = 0;
    if (n < 10 || strncmp(line, "{\"topic\"", 8))
        return false;
    json_t *o = json_loadb(line, n, 0, NULL);
    json_t *p = o ? json_object_get(o, "payload") : NULL;
    if (!json_is_string(p)) {
        json_decref(o);
        return false;
    }
    *msg = json_string_value(p);
    *len = json_string_length(p);
    json_t *h = json_object_get(o, "headers");
    for (size_t i = 0; json_is_array(h) && i + 1 < json_array_size(h) && *nheaders < 32; i += 2) {
        json_t *k = json_array_get(h, i), *v = json_array_get(h, i + 1);
        if (!json_is_string(k))
            continue;
        headers[*nheaders].name = json_string_value(k);
        headers[*nheaders].value = json_is_string(v) ? json_string_value(v) : NULL;
        headers[*nheaders].len = json_is_string(v) ? json_string_length(v) : 0;
        (*nheaders)++;
    }
    *hold = o;
    return true;
}

int ctl_replay(const char *cfgpath, int argc, char **argv)
{
    static const struct option longopts[] = {
        { "rules", required_argument, NULL, 'r' },
        { "lateness", required_argument, NULL, 'l' },
        { "external-url", required_argument, NULL, 'u' },
        { "quiet", no_argument, NULL, 'q' },
        { NULL, 0, NULL, 0 },
    };
    char *paths[64];
    size_t npaths = 0;
    const char *lateness_text = NULL, *url = "";
    bool quiet = false;
    char err[JD_ERRSTR_SIZE];
    int opt, rc = 1;
    struct rule_diags diags = { 0 };
    struct ruleset *rs = NULL;
    struct backtest *bt = NULL;
    struct event_decoder *dec = NULL;
    struct event *ev = NULL;
    char *line = NULL;
    FILE *in = NULL;
    struct config *cfg = ctl_config(cfgpath);

    optind = 1;
    while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        if (opt == 'r' && npaths < JD_ARRAY_SIZE(paths))
            paths[npaths++] = optarg;
        else if (opt == 'l')
            lateness_text = optarg;
        else if (opt == 'u')
            url = optarg;
        else if (opt == 'q')
            quiet = true;
        else
            goto usage;
    }
    if (!npaths || argc - optind > 1)
        goto usage;
    if (!cfg)
        return EXIT_CONFIG;
    int64_t lateness = cfg->rules.lateness_ms;
    if (lateness_text &&
        ts_parse_duration(lateness_text, strlen(lateness_text), &lateness, err, sizeof(err))) {
        fprintf(stderr, "journeyctl replay: --lateness: %s\n", err);
        goto usage;
    }
    struct window_retention ret = rule_retention(cfg);
    if (!(rs = ruleset_load(paths, npaths, &ret, &diags))) {
        for (size_t i = 0; i < diags.n; i++)
            fprintf(stderr, "%s\n", diags.v[i]);
        rc = EXIT_CONFIG;
        goto out;
    }
    const char *name = optind < argc ? argv[optind] : "-";
    if (!(in = strcmp(name, "-") ? fopen(name, "r") : stdin)) {
        fprintf(stderr, "journeyctl replay: %s: cannot open\n", name);
        goto out;
    }
    struct ctl_replay r = { stdout, 0 };
    struct engine_opts eo = { cfg->kafka.topics.alerts, url, (size_t)cfg->limits.series_per_rule };
    struct event_decoder_opts dopts;
    event_decoder_opts_from_config(&dopts, cfg);
    size_t cap = (size_t)cfg->events.max_bytes * 6 + 1024;
    if (!(bt = backtest_new(rs, lateness, &eo, ctl_replay_print, &r, err, sizeof(err))) ||
        !(dec = event_decoder_new(&dopts, err, sizeof(err))) || !(ev = malloc(sizeof(*ev))) ||
        !(line = malloc(cap))) {
        fprintf(stderr, "journeyctl replay: %s\n", bt && dec ? "out of memory" : err);
        goto out;
    }
    uint64_t lineno = 0, bad = 0;
    int64_t next_progress = ctl_now_ms() + 5000;
    while (fgets(line, (int)cap, in)) {
        size_t n = strlen(line);
        lineno++;
        while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        if (!n)
            continue;
        const char *msg = line;
        size_t len = n, nh = 0;
        struct event_header hdrs[32];
        json_t *hold = NULL;
        ctl_unwrap_kcat(line, n, &msg, &len, hdrs, &nh, &hold);
        enum jd_err e = event_decode(dec, msg, len, hdrs, nh, INT64_MAX, ev, err, sizeof(err));
        if (e) {
            if (bad++ < 10)
                fprintf(stderr, "%s:%llu: skipped: %s: %s\n", name, (unsigned long long)lineno,
                        jd_err2name(e), err);
        } else if ((e = backtest_event(bt, ev, err, sizeof(err)))) {
            json_decref(hold);
            fprintf(stderr, "journeyctl replay: %s\n", err);
            goto out;
        }
        json_decref(hold);
        if (!quiet && ctl_now_ms() >= next_progress) {
            char wm[TS_RFC3339_SIZE];
            ts_format_rfc3339(backtest_stats(bt)->watermark, wm, sizeof(wm));
            fprintf(stderr, "replay: %llu lines, watermark %s, %llu messages\n",
                    (unsigned long long)lineno, wm, (unsigned long long)r.printed);
            next_progress = ctl_now_ms() + 5000;
        }
    }
    const struct backtest_stats *st = backtest_stats(bt);
    if (st->last_ts != INT64_MIN && backtest_advance(bt, st->last_ts, err, sizeof(err))) {
        fprintf(stderr, "journeyctl replay: %s\n", err);
        goto out;
    }
    if (!quiet)
        fprintf(stderr,
                "replay: %llu events (%llu late, %llu duplicate, %llu invalid), %llu ticks, "
                "%llu messages\n",
                (unsigned long long)st->events, (unsigned long long)st->late,
                (unsigned long long)st->duplicates, (unsigned long long)bad,
                (unsigned long long)st->ticks, (unsigned long long)st->messages);
    if (st->rule_errors)
        fprintf(stderr, "replay: %llu rule evaluations failed; the first: %s\n",
                (unsigned long long)st->rule_errors, st->first_rule_error);
    rc = st->rule_errors ? 1 : 0;
    goto out;
usage:
    fprintf(stderr, "usage: journeyctl [-c FILE] replay --rules DIR|FILE... [--lateness D] "
                    "[--external-url URL] [--quiet] [EVENTS.ndjson|-]\n");
    rc = EXIT_USAGE;
out:
    if (in && in != stdin)
        fclose(in);
    free(line);
    free(ev);
    event_decoder_destroy(dec);
    backtest_destroy(bt);
    ruleset_destroy(rs);
    rule_diags_free(&diags);
    config_destroy(cfg);
    return rc;
}
