/*
 * main.c — journeyd's command line: options, configuration, signals.
 *
 * Owns process concerns only: parsing flags, assembling the configuration
 * (defaults < file < environment < flags), installing signal handlers that
 * set flags, and handing over to loop_run(). Exit codes: 0 ok, 1 runtime
 * failure, 2 usage, 78 invalid configuration (EX_CONFIG).
 */
#include "core/config.h"
#include "core/jd.h"
#include "core/log.h"
#include "evaluate/rule.h"
#include "loop.h"
#include "store/store.h"

#include <getopt.h>
#include <malloc.h>
#include <hiredis/hiredis.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <msgpack.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <yaml.h>

#define EXIT_USAGE  2
#define EXIT_CONFIG 78

extern char **environ;

static volatile sig_atomic_t main_stop, main_reload;

static void main_on_signal(int sig)
{
    if (sig == SIGHUP)
        main_reload = 1;
    else
        main_stop = 1;
}

static void main_usage(FILE *out)
{
    fputs("usage: journeyd [-c FILE] [options]\n"
          "\n"
          "Consumes journey events from Kafka into exactly-once windows in Redis.\n"
          "\n"
          "  -c, --config FILE      YAML config (see config/README.md)\n"
          "      --check-config     validate config and rule files, then exit (0 ok, 78 invalid)\n"
          "      --dump-config      print the effective config (secrets redacted) and exit\n"
          "      --config-reference print the config reference (Markdown) and exit\n"
          "      --set KEY=VALUE    override a config key (e.g. --set kafka.group=g2,\n"
          "                         --set kafka.consumer.fetch.wait.max.ms=10)\n"
          "  -X PROP=VALUE          librdkafka property for consumer and producer (as kcat)\n"
          "      --exit-on-eof      stop cleanly once every assigned partition is at its end\n"
          "      --log-level LEVEL  error|warn|info|debug\n"
          "      --log-format FMT   logfmt|json\n"
          "      --version          print versions (journeyd and its libraries)\n"
          "  -h, --help             this text\n"
          "\n"
          "Environment: JOURNEYD_<SECTION>_<KEY> (e.g. JOURNEYD_REDIS_URL) overrides the file.\n",
          out);
}

static void main_version(void)
{
    printf("journeyd %s\n", JD_VERSION);
    printf("librdkafka %s\n", rd_kafka_version_str());
    printf("hiredis %d.%d.%d\n", HIREDIS_MAJOR, HIREDIS_MINOR, HIREDIS_PATCH);
    printf("msgpack-c %s\n", msgpack_version());
    printf("libyaml %s\n", yaml_get_version_string());
    printf("jansson %s\n", jansson_version_str());
}

/* Compiles every rule file as the engine will; prints each error and warning once. */
static int main_check_rules(const struct config *cfg)
{
    struct rule_diags d = { 0 };
    struct window_retention ret = rule_retention(cfg);
    struct ruleset *rs = ruleset_load(cfg->rules.dirs.v, cfg->rules.dirs.n, &ret, &d);
    for (size_t i = 0; i < d.n; i++)
        fprintf(stderr, "%s\n", d.v[i]);
    if (rs)
        fprintf(stderr, "rules: %zu rules in %zu groups from %zu files\n", rs->nrules, rs->ngroups,
                rs->nfiles);
    int bad = rs ? 0 : 1;
    ruleset_destroy(rs);
    rule_diags_free(&d);
    return bad;
}

int main(int argc, char **argv)
{
    enum { OPT_CHECK = 256, OPT_DUMP, OPT_REF, OPT_SET, OPT_EOF, OPT_LEVEL, OPT_FORMAT, OPT_VER };
    static const struct option longopts[] = {
        { "config", required_argument, NULL, 'c' },
        { "check-config", no_argument, NULL, OPT_CHECK },
        { "dump-config", no_argument, NULL, OPT_DUMP },
        { "config-reference", no_argument, NULL, OPT_REF },
        { "set", required_argument, NULL, OPT_SET },
        { "exit-on-eof", no_argument, NULL, OPT_EOF },
        { "log-level", required_argument, NULL, OPT_LEVEL },
        { "log-format", required_argument, NULL, OPT_FORMAT },
        { "version", no_argument, NULL, OPT_VER },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *path = NULL;
    bool check = false, dump = false, exit_on_eof = false;
    /* flags are applied after file and environment, in the order given */
    const char *sets[256], *xprops[256];
    size_t nsets = 0, nx = 0;
    int opt, rc = 0;
    char err[8192];
    struct config *cfg = NULL;

    while ((opt = getopt_long(argc, argv, "c:X:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            path = optarg;
            break;
        case 'X':
            if (nx < JD_ARRAY_SIZE(xprops))
                xprops[nx++] = optarg;
            break;
        case OPT_SET:
            if (nsets < JD_ARRAY_SIZE(sets))
                sets[nsets++] = optarg;
            break;
        case OPT_LEVEL:
            if (nsets + 1 < JD_ARRAY_SIZE(sets)) {
                static char buf[64];
                snprintf(buf, sizeof(buf), "log.level=%s", optarg);
                sets[nsets++] = buf;
            }
            break;
        case OPT_FORMAT:
            if (nsets + 1 < JD_ARRAY_SIZE(sets)) {
                static char buf2[64];
                snprintf(buf2, sizeof(buf2), "log.format=%s", optarg);
                sets[nsets++] = buf2;
            }
            break;
        case OPT_CHECK:
            check = true;
            break;
        case OPT_DUMP:
            dump = true;
            break;
        case OPT_REF:
            config_write_reference(stdout);
            return 0;
        case OPT_EOF:
            exit_on_eof = true;
            break;
        case OPT_VER:
            main_version();
            return 0;
        case 'h':
            main_usage(stdout);
            return 0;
        default:
            main_usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "journeyd: unexpected argument '%s'\n", argv[optind]);
        main_usage(stderr);
        return EXIT_USAGE;
    }

    if (!(cfg = config_new())) {
        fprintf(stderr, "journeyd: out of memory\n");
        return 1;
    }
    bool bad = false;
    if (path && config_load_file(cfg, path, err, sizeof(err)) != JD_OK) {
        fprintf(stderr, "%s\n", err);
        bad = true;
    }
    if (config_apply_env(cfg, environ, err, sizeof(err)) != JD_OK) {
        fprintf(stderr, "%s\n", err);
        bad = true;
    }
    for (size_t i = 0; i < nsets; i++) {
        const char *eq = strchr(sets[i], '=');
        char key[128];
        if (!eq || (size_t)(eq - sets[i]) >= sizeof(key)) {
            fprintf(stderr, "--set expects KEY=VALUE, got '%s'\n", sets[i]);
            bad = true;
            continue;
        }
        memcpy(key, sets[i], (size_t)(eq - sets[i]));
        key[eq - sets[i]] = '\0';
        if (config_set(cfg, key, eq + 1, err, sizeof(err)) != JD_OK) {
            fprintf(stderr, "--set: %s\n", err);
            bad = true;
        }
    }
    for (size_t i = 0; i < nx; i++)
        if (config_set_kafka_prop(cfg, xprops[i], err, sizeof(err)) != JD_OK) {
            fprintf(stderr, "%s\n", err);
            bad = true;
        }
    if (!bad && config_validate(cfg, err, sizeof(err)) != JD_OK) {
        fprintf(stderr, "%s%s%s\n", path ? path : "", path ? ": " : "", err);
        bad = true;
    }
    struct store_addr addr;
    if (!bad && store_addr_parse(cfg->redis.url, &addr, err, sizeof(err)) != JD_OK) {
        fprintf(stderr, "%s\n", err);
        bad = true;
    }
    if (!bad && config_resolve_secrets(cfg, err, sizeof(err)) != JD_OK) {
        fprintf(stderr, "%s\n", err);
        bad = true;
    }
    if (!bad && check && main_check_rules(cfg))
        bad = true;
    if (bad) {
        rc = EXIT_CONFIG;
        goto out;
    }
    if (check) {
        printf("%s: OK\n", path ? path : "(defaults)");
        goto out;
    }
    if (dump) {
        config_dump(cfg, stdout);
        goto out;
    }

    enum log_level level;
    enum log_format fmt;
    log_level_parse(cfg->log.level, &level);
    log_format_parse(cfg->log.format, &fmt);
    log_configure(level, fmt);

    /*
     * Every flush builds a command of a few MB; by default glibc would hand
     * that memory back after each batch and page-fault it in again for the
     * next. Keep it: the daemon's working set is steady.
     */
    mallopt(M_MMAP_THRESHOLD, 64 << 20);
    mallopt(M_TRIM_THRESHOLD, 256 << 20);

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = main_on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct loop_opts lo = { exit_on_eof, &main_stop, &main_reload, path };
    rc = loop_run(cfg, &lo);
out:
    config_destroy(cfg);
    return rc;
}
