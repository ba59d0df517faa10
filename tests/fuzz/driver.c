/*
 * driver.c — runs a fuzz target over files, without libFuzzer: the corpus
 * and every crasher found become regression tests in the normal and ASan
 * builds. Arguments are files or directories (their regular files, one
 * level). Prints TAP, one case per file.
 */
#include "fuzz.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int driver_n;

static void driver_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        printf("not ok %d - %s: cannot open\n", ++driver_n, path);
        return;
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc(n > 0 ? (size_t)n : 1);
    size_t got = buf ? fread(buf, 1, n > 0 ? (size_t)n : 0, f) : 0;
    fclose(f);
    if (!buf) {
        printf("not ok %d - %s: out of memory\n", ++driver_n, path);
        return;
    }
    LLVMFuzzerTestOneInput(buf, got);
    free(buf);
    printf("ok %d - %s (%zu bytes)\n", ++driver_n, path, got);
    fflush(stdout);
}

static int driver_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void driver_dir(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *e;
    char **names = NULL;
    size_t n = 0;
    if (!d) {
        printf("not ok %d - %s: cannot open\n", ++driver_n, path);
        return;
    }
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char **v = realloc(names, (n + 1) * sizeof(*names));
        size_t len = strlen(path) + strlen(e->d_name) + 2;
        if (!v || !(v[n] = malloc(len)))
            abort();
        names = v;
        snprintf(names[n++], len, "%s/%s", path, e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof(*names), driver_cmp); /* same order on every machine */
    for (size_t i = 0; i < n; i++) {
        driver_file(names[i]);
        free(names[i]);
    }
    free(names);
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode))
            driver_dir(argv[i]);
        else
            driver_file(argv[i]);
    }
    printf("1..%d\n", driver_n);
    return 0;
}
