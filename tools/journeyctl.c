/*
 * journeyctl — the operator's tool: query the windows, check config,
 * events and rules, test and backtest rules, run a throwaway broker.
 *
 *   journeyctl [-c FILE] query 'EXPR' [--at TIME] [--format table|json] [--tz ZONE]
 *   journeyctl [-c FILE] check config FILE
 *   journeyctl [-c FILE] check events [--json] [FILE|-]...
 *   journeyctl [-c FILE] check rules FILE|DIR...
 *   journeyctl [-c FILE] test rules [--tap] FILE...
 *   journeyctl [-c FILE] replay --rules DIR|FILE... [--lateness D] [EVENTS|-]
 *   journeyctl [-c FILE] attribution [--from T] [--to T] [--by ...] [--format F] ...
 *   journeyctl [-c FILE] attribution --paths FILE.csv [--format F] ...
 *   journeyctl broker [--partitions N] [--brokers N] [--topic NAME]...
 *
 * It reads the same config and JOURNEYD_* environment as the daemon and
 * shares its decoder, store and evaluator (the core library): what
 * journeyctl says about an event or a window is what journeyd does.
 */
#include "consume/broker.h"
#include "core/config.h"
#include "core/jd.h"
#include "core/ts.h"
#include "core/tz.h"
#include "decode/event.h"
#include "evaluate/expr.h"
#include "evaluate/query.h"
#include "evaluate/rule.h"
#include "store/store.h"
#include "tools/ctl.h"

#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern char **environ;

static void ctl_usage(FILE *out)
{
    fputs("usage: journeyctl [-c FILE] COMMAND ...\n"
          "\n"
          "  query 'EXPR' [--at TIME] [--format table|json] [--tz ZONE]\n"
          "        evaluate an expression against the live windows (TIME: RFC 3339 or unix\n"
          "        seconds, a whole minute; default: the end of the current minute)\n"
          "  check config FILE        validate a config file (exit 0 ok, 78 invalid)\n"
          "  check rules FILE|DIR...  compile rule files; errors and warnings as file:line:col\n"
          "        (ranges checked against the retention of -c FILE, or the defaults)\n"
          "  test rules [--tap] [--events-out DIR] FILE...\n"
          "        run rule unit tests (rules/tests/*.test.yaml; exit 1 if any fails)\n"
          "  replay --rules DIR|FILE... [--lateness D] [--external-url URL] [--quiet]\n"
          "        [EVENTS|-]\n"
          "        backtest: run the rules over NDJSON events (or kcat -J lines) in event\n"
          "        time and print the alert messages they would publish, one per line\n"
          "  attribution [--from T] [--to T] [--conversion-type T] [--by channel|campaign]\n"
          "        [--model M]... [--order K] [--format table|csv|json|svg] [--output FILE]\n"
          "        attribution report, every model side by side, over the live data\n"
          "        (default: the 30 days to the end of the current hour)\n"
          "  attribution --paths FILE.csv [--model M]... [--order K] [--format F] ...\n"
          "        the same over ChannelAttribution path data\n"
          "  check events [--json] [FILE|-]...\n"
          "        decode and validate NDJSON events as journeyd would (exit 1 if any is bad)\n"
          "  broker [--partitions N] [--brokers N] [--topic NAME]...\n"
          "        run an in-memory Kafka-protocol broker until stdin closes or SIGTERM\n"
          "\n"
          "  -c FILE   the daemon's config (redis.url, prefix, events.*); JOURNEYD_* env applies\n",
          out);
}

struct config *ctl_config(const char *path)
{
    char err[8192];
    struct config *cfg = config_new();
    if (!cfg) {
        fprintf(stderr, "journeyctl: out of memory\n");
        return NULL;
    }
    if ((path && config_load_file(cfg, path, err, sizeof(err)) != JD_OK) ||
        config_apply_env(cfg, environ, err, sizeof(err)) != JD_OK ||
        config_validate(cfg, err, sizeof(err)) != JD_OK ||
        config_resolve_secrets(cfg, err, sizeof(err)) != JD_OK) {
        fprintf(stderr, "%s\n", err);
        config_destroy(cfg);
        return NULL;
    }
    return cfg;
}

/* ------------------------------------------------------------------ query */

static void ctl_print_table(const struct query_result *r)
{
    char v[64];
    if (r->n == 0) {
        printf("(no data)\n");
        return;
    }
    if (r->scalar) {
        query_format_value(&r->v[0], v, sizeof(v));
        printf("%s\n", v);
        return;
    }
    /* columns: every label name that appears, then the value */
    const char *cols[128];
    size_t ncols = 0, width[129];
    for (size_t i = 0; i < r->n; i++)
        for (size_t k = 0; k < r->v[i].nlabels; k++) {
            bool seen = false;
            for (size_t c = 0; c < ncols && !seen; c++)
                seen = !strcmp(cols[c], r->v[i].labels[k].name);
            if (!seen && ncols < 128)
                cols[ncols++] = r->v[i].labels[k].name;
        }
    for (size_t c = 0; c < ncols; c++) {
        width[c] = strlen(cols[c]);
        for (size_t i = 0; i < r->n; i++)
            for (size_t k = 0; k < r->v[i].nlabels; k++)
                if (!strcmp(r->v[i].labels[k].name, cols[c]) &&
                    strlen(r->v[i].labels[k].value) > width[c])
                    width[c] = strlen(r->v[i].labels[k].value);
    }
    for (size_t c = 0; c < ncols; c++)
        printf("%-*s  ", (int)width[c], cols[c]);
    printf("value\n");
    for (size_t i = 0; i < r->n; i++) {
        for (size_t c = 0; c < ncols; c++) {
            const char *val = "";
            for (size_t k = 0; k < r->v[i].nlabels; k++)
                if (!strcmp(r->v[i].labels[k].name, cols[c]))
                    val = r->v[i].labels[k].value;
            printf("%-*s  ", (int)width[c], val);
        }
        query_format_value(&r->v[i], v, sizeof(v));
        printf("%s\n", v);
    }
}

static void ctl_print_json(const struct query_result *r, int64_t at)
{
    char v[64], ts[32];
    /* Prometheus API: [unix_seconds, "value"] */
    snprintf(ts, sizeof(ts), "%.3f", (double)at / 1000.0);
    json_t *res = json_array();
    if (r->scalar && r->n) {
        query_format_value(&r->v[0], v, sizeof(v));
        json_decref(res);
        res = json_pack("[f,s]", (double)at / 1000.0, v);
    } else {
        for (size_t i = 0; i < r->n; i++) {
            json_t *metric = json_object();
            for (size_t k = 0; k < r->v[i].nlabels; k++)
                json_object_set_new(metric, r->v[i].labels[k].name,
                                    json_string(r->v[i].labels[k].value));
            query_format_value(&r->v[i], v, sizeof(v));
            json_array_append_new(
                res, json_pack("{s:o,s:[f,s]}", "metric", metric, "value", (double)at / 1000.0, v));
        }
    }
    json_t *doc = json_pack("{s:s,s:{s:s,s:o}}", "status", "success", "data", "resultType",
                            r->scalar ? "scalar" : "vector", "result", res);
    char *text = json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(17));
    printf("%s\n", text);
    free(text);
    json_decref(doc);
}

static int ctl_query(const char *cfgpath, int argc, char **argv)
{
    static const struct option longopts[] = { { "at", required_argument, NULL, 'a' },
                                              { "format", required_argument, NULL, 'f' },
                                              { "tz", required_argument, NULL, 'z' },
                                              { NULL, 0, NULL, 0 } };
    const char *at_s = NULL, *format = "table", *zone = "UTC";
    char err[JD_ERRSTR_SIZE];
    int opt, rc = 1;
    struct config *cfg = NULL;
    struct store *store = NULL;
    struct expr_node *e = NULL;
    struct tz *tz = NULL;
    struct query_result res = { 0 };

    optind = 1;
    while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        if (opt == 'a')
            at_s = optarg;
        else if (opt == 'f')
            format = optarg;
        else if (opt == 'z')
            zone = optarg;
        else
            return EXIT_USAGE;
    }
    if (optind != argc - 1 || (strcmp(format, "table") && strcmp(format, "json"))) {
        fprintf(stderr, "usage: journeyctl query 'EXPR' [--at TIME] [--format table|json] "
                        "[--tz ZONE]\n");
        return EXIT_USAGE;
    }
    const char *text = argv[optind];
    /* by default the end of the current minute, so what arrived seconds ago
     * counts: buckets are whole minutes */
    int64_t at = (ts_now_ms() / JD_MS_MINUTE + 1) * JD_MS_MINUTE;
    if (at_s && ts_parse_time_arg(at_s, &at, err, sizeof(err)) != JD_OK) {
        fprintf(stderr, "--at: %s\n", err);
        return EXIT_USAGE;
    }
    if (at % JD_MS_MINUTE) {
        fprintf(stderr, "--at: %s is not a whole minute (the finest bucket is 1 minute)\n", at_s);
        return EXIT_USAGE;
    }
    /* the checks a rule file gets: known functions with the right arguments */
    if (!(e = expr_parse(text, err, sizeof(err))) ||
        rule_check_expr(e, NULL, 0, err, sizeof(err)) != JD_OK) {
        fprintf(stderr, "query: %s\n  %s\n", err, text);
        unsigned col = 0;
        if (sscanf(err, "col %u", &col) == 1 && col > 0)
            fprintf(stderr, "  %*s^\n", (int)col - 1, "");
        expr_free(e);
        return EXIT_USAGE;
    }
    if (!(tz = tz_load(zone, err, sizeof(err)))) {
        fprintf(stderr, "--tz: %s\n", err);
        goto out;
    }
    if (!(cfg = ctl_config(cfgpath))) {
        rc = EXIT_CONFIG;
        goto out;
    }
    struct store_opts so;
    store_opts_from_config(&so, cfg);
    if (!(store = store_new(&so, err, sizeof(err))) ||
        store_connect(store, err, sizeof(err)) != JD_OK) {
        fprintf(stderr, "journeyctl: %s\n", err);
        goto out;
    }
    if (query_eval(store, tz, e, at, &res, err, sizeof(err)) != JD_OK) {
        fprintf(stderr, "query: %s\n", err);
        goto out;
    }
    if (!strcmp(format, "json")) {
        ctl_print_json(&res, at);
    } else {
        char t[TS_RFC3339_SIZE];
        ts_format_rfc3339(at, t, sizeof(t));
        printf("# at %s (%s)\n", t, tz_name(tz));
        ctl_print_table(&res);
    }
    rc = 0;
out:
    query_result_free(&res);
    expr_free(e);
    tz_destroy(tz);
    store_destroy(store);
    config_destroy(cfg);
    return rc;
}

/* ------------------------------------------------------------------ check */

static json_t *ctl_event_json(const struct event *ev)
{
    char v[24];
    json_t *o = json_object();
    json_object_set_new(o, "event_id", json_stringn(ev->event_id.p, ev->event_id.n));
    json_object_set_new(o, "type", json_stringn(ev->type.p, ev->type.n));
    json_object_set_new(o, "ts", json_integer(ev->ts_ms));
    if (ev->user_id.n)
        json_object_set_new(o, "user_id", json_stringn(ev->user_id.p, ev->user_id.n));
    if (ev->channel.n)
        json_object_set_new(o, "channel", json_stringn(ev->channel.p, ev->channel.n));
    if (ev->campaign.n)
        json_object_set_new(o, "campaign", json_stringn(ev->campaign.p, ev->campaign.n));
    if (ev->has_value) {
        event_format_micros(ev->value, v);
        json_object_set_new(o, "value", json_real(strtod(v, NULL)));
    }
    if (ev->nprops) {
        json_t *p = json_object();
        for (uint32_t i = 0; i < ev->nprops; i++) {
            const struct event_prop *pr = &ev->props[i];
            char key[72];
            snprintf(key, sizeof(key), "%.*s", (int)pr->key.n, pr->key.p);
            json_t *val = pr->kind == EVENT_PROP_STR    ? json_stringn(pr->val.p, pr->val.n)
                          : pr->kind == EVENT_PROP_BOOL ? json_boolean(pr->val.n == 4)
                                                        : json_real(strtod(pr->val.p, NULL));
            json_object_set_new(p, key, val);
        }
        json_object_set_new(o, "props", p);
    }
    json_object_set_new(o, "dialect", json_string(event_dialect_name(ev->dialect)));
    return o;
}

static int ctl_check_events(const char *cfgpath, int argc, char **argv)
{
    bool as_json = false;
    int first = 0, bad = 0, total = 0;
    char err[JD_ERRSTR_SIZE];
    struct config *cfg = ctl_config(cfgpath);
    struct event_decoder_opts opts;
    struct event_decoder *dec = NULL;
    struct event *ev = malloc(sizeof(*ev));

    if (!cfg || !ev) {
        free(ev);
        config_destroy(cfg);
        return EXIT_CONFIG;
    }
    if (argc > 0 && !strcmp(argv[0], "--json")) {
        as_json = true;
        first = 1;
    }
    event_decoder_opts_from_config(&opts, cfg);
    if (!(dec = event_decoder_new(&opts, err, sizeof(err)))) {
        fprintf(stderr, "%s\n", err);
        free(ev);
        config_destroy(cfg);
        return 1;
    }
    size_t cap = (size_t)cfg->events.max_bytes * 4 + 1024;
    char *line = malloc(cap);
    for (int f = first; line && (f < argc || (f == first && argc == first)); f++) {
        const char *name = f < argc ? argv[f] : "-";
        FILE *in = strcmp(name, "-") ? fopen(name, "r") : stdin;
        if (!in) {
            fprintf(stderr, "%s: cannot open\n", name);
            bad++;
            continue;
        }
        int lineno = 0;
        while (fgets(line, (int)cap, in)) {
            size_t n = strlen(line);
            lineno++;
            while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
                line[--n] = '\0';
            if (!n)
                continue;
            total++;
            enum jd_err e = event_decode(dec, line, n, NULL, 0, INT64_MAX, ev, err, sizeof(err));
            if (e)
                bad++;
            if (as_json) {
                json_t *o = e ? json_pack("{s:s,s:i,s:b,s:s,s:s}", "file", name, "line", lineno,
                                          "ok", 0, "error", jd_err2name(e), "detail", err)
                              : json_pack("{s:s,s:i,s:b,s:o}", "file", name, "line", lineno, "ok",
                                          1, "event", ctl_event_json(ev));
                char *t = json_dumps(o, JSON_COMPACT);
                printf("%s\n", t);
                free(t);
                json_decref(o);
            } else if (e) {
                printf("%s:%d: %s: %s\n", name, lineno, jd_err2name(e), err);
            }
        }
        if (in != stdin)
            fclose(in);
    }
    if (!as_json)
        printf("%d event(s), %d invalid\n", total, bad);
    free(line);
    free(ev);
    event_decoder_destroy(dec);
    config_destroy(cfg);
    return bad ? 1 : 0;
}

static int ctl_check(const char *cfgpath, int argc, char **argv)
{
    char err[8192];
    if (argc >= 1 && !strcmp(argv[0], "events"))
        return ctl_check_events(cfgpath, argc - 1, argv + 1);
    if (argc >= 1 && !strcmp(argv[0], "rules"))
        return ctl_check_rules(cfgpath, argc - 1, argv + 1);
    if (argc == 2 && !strcmp(argv[0], "config")) {
        struct config *cfg = config_new();
        struct store_addr addr;
        int rc = 0;
        printf("Checking %s\n", argv[1]);
        if (!cfg || config_load_file(cfg, argv[1], err, sizeof(err)) != JD_OK ||
            config_validate(cfg, err, sizeof(err)) != JD_OK ||
            store_addr_parse(cfg->redis.url, &addr, err, sizeof(err)) != JD_OK) {
            printf("  FAILED:\n%s\n", err);
            rc = EXIT_CONFIG;
        } else {
            printf("  SUCCESS\n");
        }
        config_destroy(cfg);
        return rc;
    }
    fprintf(stderr, "usage: journeyctl check config FILE | check events [--json] [FILE|-]...\n");
    return EXIT_USAGE;
}

/* ----------------------------------------------------------------- broker */

static volatile sig_atomic_t ctl_stop;

static void ctl_on_signal(int sig)
{
    (void)sig;
    ctl_stop = 1;
}

static int ctl_broker(int argc, char **argv)
{
    static const struct option longopts[] = { { "partitions", required_argument, NULL, 'p' },
                                              { "topic", required_argument, NULL, 't' },
                                              { "brokers", required_argument, NULL, 'b' },
                                              { NULL, 0, NULL, 0 } };
    const char *topics[64];
    size_t ntopics = 0;
    int partitions = 8, nbrokers = 1, opt;
    char err[JD_ERRSTR_SIZE];

    optind = 1;
    while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        if (opt == 'p')
            partitions = atoi(optarg);
        else if (opt == 'b')
            nbrokers = atoi(optarg);
        else if (opt == 't' && ntopics < JD_ARRAY_SIZE(topics))
            topics[ntopics++] = optarg;
        else
            return EXIT_USAGE;
    }
    if (partitions < 1 || nbrokers < 1) {
        fprintf(stderr, "journeyctl broker: --partitions and --brokers must be >= 1\n");
        return EXIT_USAGE;
    }
    struct broker *b = broker_new(nbrokers, err, sizeof(err));
    if (!b) {
        fprintf(stderr, "journeyctl broker: %s\n", err);
        return 1;
    }
    for (size_t i = 0; i < ntopics; i++)
        if (broker_create_topic(b, topics[i], partitions, err, sizeof(err)) != JD_OK) {
            fprintf(stderr, "journeyctl broker: %s\n", err);
            broker_destroy(b);
            return 1;
        }
    printf("BROKERS=%s\n", broker_bootstraps(b));
    fflush(stdout);
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = ctl_on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    /* runs until stdin closes (the parent went away) or a signal; each line read is a
     * fault command (broker.h), answered "ok" or "error: ..." on stdout */
    char line[512];
    while (!ctl_stop && fgets(line, sizeof(line), stdin)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (!line[0])
            continue;
        if (broker_fault(b, line, err, sizeof(err)))
            printf("error: %s\n", err);
        else
            printf("ok\n");
        fflush(stdout);
    }
    broker_destroy(b);
    return 0;
}

int main(int argc, char **argv)
{
    const char *cfgpath = NULL;
    int i = 1;
    while (i < argc && argv[i][0] == '-') {
        if (!strcmp(argv[i], "-c") && i + 1 < argc) {
            cfgpath = argv[i + 1];
            i += 2;
        } else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            ctl_usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--version")) {
            printf("journeyctl %s\n", JD_VERSION);
            return 0;
        } else {
            break;
        }
    }
    if (i >= argc) {
        ctl_usage(stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[i];
    if (!strcmp(cmd, "query"))
        return ctl_query(cfgpath, argc - i, argv + i);
    if (!strcmp(cmd, "check"))
        return ctl_check(cfgpath, argc - i - 1, argv + i + 1);
    if (!strcmp(cmd, "test") && i + 1 < argc && !strcmp(argv[i + 1], "rules"))
        return ctl_test_rules(cfgpath, argc - i - 2, argv + i + 2);
    if (!strcmp(cmd, "replay"))
        return ctl_replay(cfgpath, argc - i, argv + i);
    if (!strcmp(cmd, "attribution"))
        return ctl_attribution(cfgpath, argc - i, argv + i);
    if (!strcmp(cmd, "broker"))
        return ctl_broker(argc - i, argv + i);
    fprintf(stderr, "journeyctl: unknown command '%s'\n", cmd);
    ctl_usage(stderr);
    return EXIT_USAGE;
}
