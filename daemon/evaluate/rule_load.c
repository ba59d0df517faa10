/*
 * rule_load.c — rule files from disk, and the diagnostics list.
 *
 * Owns finding rule files (a file, or a directory's *.yaml in name order),
 * reading them under the size cap and collecting messages. Compiling them
 * is rule.c's.
 */
#include "evaluate/rule.h"

#include "core/ydoc.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ diagnostics */

void rule_diags_free(struct rule_diags *d)
{
    for (size_t i = 0; i < d->n; i++)
        free(d->v[i]);
    free(d->v);
    memset(d, 0, sizeof(*d));
}

void rule_diag(struct rule_diags *d, bool warning, const char *file, unsigned line, unsigned col,
               const char *fmt, ...)
{
    char msg[1024], full[1400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (line)
        snprintf(full, sizeof(full), "%s:%u:%u: %s: %s", file, line, col,
                 warning ? "warning" : "error", msg);
    else
        snprintf(full, sizeof(full), "%s: %s: %s", file, warning ? "warning" : "error", msg);
    if (warning)
        d->warnings++;
    else
        d->errors++;
    char *s = strdup(full);
    if (!s || !jd_reserve((void **)&d->v, &d->cap, d->n + 1, sizeof(*d->v))) {
        free(s);
        return; /* the count still says there was an error */
    }
    d->v[d->n++] = s;
}

static int rule_name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool rule_is_yaml(const char *name)
{
    size_t n = strlen(name);
    return name[0] != '.' &&
           ((n > 5 && !strcmp(name + n - 5, ".yaml")) || (n > 4 && !strcmp(name + n - 4, ".yml")));
}

/* Adds \p path (a file, or a directory's YAML files in name order) to the list. */
static bool rule_collect(const char *path, char ***list, size_t *n, size_t *cap,
                         struct rule_diags *diags)
{
    DIR *d = opendir(path);
    if (!d) {
        if (errno != ENOTDIR) {
            rule_diag(diags, false, path, 0, 0, "cannot read: %s", strerror(errno));
            return true;
        }
        char *s = strdup(path);
        if (!s || !jd_reserve((void **)list, cap, *n + 1, sizeof(**list))) {
            free(s);
            return false;
        }
        (*list)[(*n)++] = s;
        return true;
    }
    size_t first = *n;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!rule_is_yaml(de->d_name))
            continue;
        size_t len = strlen(path) + strlen(de->d_name) + 2;
        char *s = malloc(len);
        if (!s || !jd_reserve((void **)list, cap, *n + 1, sizeof(**list))) {
            free(s);
            closedir(d);
            return false;
        }
        snprintf(s, len, "%s%s%s", path, path[strlen(path) - 1] == '/' ? "" : "/", de->d_name);
        (*list)[(*n)++] = s;
    }
    closedir(d);
    if (*n > first) /* an empty directory leaves *list NULL: nothing to sort */
        qsort(*list + first, *n - first, sizeof(**list), rule_name_cmp);
    return true;
}

struct ruleset *ruleset_load(char *const *paths, size_t npaths, const struct window_retention *ret,
                             struct rule_diags *diags)
{
    char **names = NULL, **bufs = NULL;
    size_t *lens = NULL, n = 0, cap = 0;
    struct ruleset *rs = NULL;
    bool ok = true;

    for (size_t i = 0; i < npaths && ok; i++)
        ok = rule_collect(paths[i], &names, &n, &cap, diags);
    if (ok && n > RULE_MAX_FILES) {
        rule_diag(diags, false, "rules", 0, 0, "more than %d rule files", RULE_MAX_FILES);
        goto out;
    }
    if (!ok || (n && (!(bufs = calloc(n, sizeof(*bufs))) || !(lens = calloc(n, sizeof(*lens)))))) {
        rule_diag(diags, false, "rules", 0, 0, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        FILE *fp = fopen(names[i], "rb");
        if (!fp) {
            rule_diag(diags, false, names[i], 0, 0, "cannot read: %s", strerror(errno));
            continue;
        }
        bufs[i] = malloc(YDOC_MAX_BYTES + 1);
        lens[i] = bufs[i] ? fread(bufs[i], 1, YDOC_MAX_BYTES + 1, fp) : 0;
        if (!bufs[i])
            rule_diag(diags, false, names[i], 0, 0, "out of memory");
        else if (ferror(fp))
            rule_diag(diags, false, names[i], 0, 0, "cannot read: %s", strerror(errno));
        else if (lens[i] > YDOC_MAX_BYTES)
            rule_diag(diags, false, names[i], 0, 0, "larger than %u bytes", YDOC_MAX_BYTES);
        fclose(fp);
    }
    if (!diags->errors)
        rs = ruleset_parse(names, (const char *const *)bufs, lens, n, ret, diags);
out:
    for (size_t i = 0; i < n; i++) {
        free(names[i]);
        if (bufs)
            free(bufs[i]);
    }
    free(names);
    free(bufs);
    free(lens);
    return rs;
}
