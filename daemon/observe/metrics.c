/*
 * metrics.c — writes Prometheus text exposition: families, escaped samples,
 * cumulative histograms and the process_* families read from /proc.
 *
 * Owns formatting only. Which metrics exist, and where their values live,
 * is admin.c's business.
 */
#include "observe/metrics.h"

#include <dirent.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

const double metrics_latency_bounds[METRICS_LATENCY_BUCKETS] = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
};

void metrics_buf_free(struct metrics_buf *b)
{
    free(b->p);
    memset(b, 0, sizeof(*b));
}

static bool metrics_grow(struct metrics_buf *b, size_t need)
{
    if (b->oom)
        return false;
    if (b->n + need + 1 <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->n + need + 1)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
        b->oom = true;
        return false;
    }
    b->p = p;
    b->cap = cap;
    return true;
}

static void metrics_vprintf(struct metrics_buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0 || !metrics_grow(b, (size_t)n))
        return;
    vsnprintf(b->p + b->n, (size_t)n + 1, fmt, ap);
    b->n += (size_t)n;
}

void metrics_printf(struct metrics_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    metrics_vprintf(b, fmt, ap);
    va_end(ap);
}

static void metrics_putc(struct metrics_buf *b, char c)
{
    if (metrics_grow(b, 1)) {
        b->p[b->n++] = c;
        b->p[b->n] = '\0';
    }
}

void metrics_html(struct metrics_buf *b, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '<':
            metrics_printf(b, "&lt;");
            break;
        case '>':
            metrics_printf(b, "&gt;");
            break;
        case '&':
            metrics_printf(b, "&amp;");
            break;
        case '"':
            metrics_printf(b, "&quot;");
            break;
        case '\'':
            metrics_printf(b, "&#39;");
            break;
        default:
            metrics_putc(b, *s);
        }
    }
}

void metrics_family(struct metrics_buf *b, const char *name, const char *type, const char *help)
{
    /* HELP text escapes backslash and newline; ours are constants without either */
    metrics_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void metrics_value(struct metrics_buf *b, double v)
{
    if (isnan(v))
        metrics_printf(b, "NaN");
    else if (isinf(v))
        metrics_printf(b, v > 0 ? "+Inf" : "-Inf");
    else if (v == floor(v) && fabs(v) < 9e15)
        metrics_printf(b, "%.0f", v);
    else
        metrics_printf(b, "%.17g", v);
}

void metrics_sample(struct metrics_buf *b, const char *name, const char *const *kv, double value)
{
    metrics_printf(b, "%s", name);
    if (kv && kv[0]) {
        metrics_putc(b, '{');
        for (size_t i = 0; kv[i] && kv[i + 1]; i += 2) {
            metrics_printf(b, "%s%s=\"", i ? "," : "", kv[i]);
            for (const char *s = kv[i + 1]; *s; s++) {
                if (*s == '\\' || *s == '"')
                    metrics_printf(b, "\\%c", *s);
                else if (*s == '\n')
                    metrics_printf(b, "\\n");
                else
                    metrics_putc(b, *s);
            }
            metrics_putc(b, '"');
        }
        metrics_putc(b, '}');
    }
    metrics_putc(b, ' ');
    metrics_value(b, value);
    metrics_putc(b, '\n');
}

void metrics_hist_observe(struct metrics_hist *h, double v)
{
    size_t i = 0;
    while (i < METRICS_LATENCY_BUCKETS && v > metrics_latency_bounds[i])
        i++;
    h->counts[i]++;
    h->count++;
    h->sum += v;
}

void metrics_hist_write(struct metrics_buf *b, const char *name, const char *help,
                        const struct metrics_hist *h)
{
    char sname[160], le[32];
    uint64_t cum = 0;
    metrics_family(b, name, "histogram", help);
    snprintf(sname, sizeof(sname), "%s_bucket", name);
    for (size_t i = 0; i <= METRICS_LATENCY_BUCKETS; i++) {
        cum += h->counts[i];
        if (i < METRICS_LATENCY_BUCKETS)
            snprintf(le, sizeof(le), "%g", metrics_latency_bounds[i]);
        else
            snprintf(le, sizeof(le), "+Inf");
        const char *kv[] = { "le", le, NULL };
        metrics_sample(b, sname, kv, (double)cum);
    }
    snprintf(sname, sizeof(sname), "%s_sum", name);
    metrics_sample(b, sname, NULL, h->sum);
    snprintf(sname, sizeof(sname), "%s_count", name);
    metrics_sample(b, sname, NULL, (double)h->count);
}

/* Fields 14, 15 (utime, stime), 22 (starttime), 23 (vsize), 24 (rss) of /proc/self/stat. */
static bool metrics_proc_stat(double *cpu, double *start, double *vsize, double *rss)
{
    char buf[1024];
    FILE *f = fopen("/proc/self/stat", "r");
    if (!f)
        return false;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    if (!p)
        return false;
    unsigned long long v[24] = { 0 };
    int k = 0;
    for (char *tok = strtok(p + 2, " "); tok && k < 24; tok = strtok(NULL, " "))
        v[k++] = strtoull(tok, NULL, 10);
    if (k < 22)
        return false;
    /* v[0] is field 3 (state) */
    double hz = (double)sysconf(_SC_CLK_TCK);
    *cpu = (double)(v[11] + v[12]) / hz;
    double boot = 0;
    if ((f = fopen("/proc/stat", "r"))) {
        char line[256];
        while (fgets(line, sizeof(line), f))
            if (!strncmp(line, "btime ", 6))
                boot = strtod(line + 6, NULL);
        fclose(f);
    }
    *start = boot + (double)v[19] / hz;
    *vsize = (double)v[20];
    *rss = (double)v[21] * (double)sysconf(_SC_PAGESIZE);
    return true;
}

void metrics_process(struct metrics_buf *b)
{
    double cpu, start, vsize, rss;
    if (metrics_proc_stat(&cpu, &start, &vsize, &rss)) {
        metrics_family(b, "process_cpu_seconds_total", "counter",
                       "Total user and system CPU time spent in seconds.");
        metrics_sample(b, "process_cpu_seconds_total", NULL, cpu);
        metrics_family(b, "process_resident_memory_bytes", "gauge",
                       "Resident memory size in bytes.");
        metrics_sample(b, "process_resident_memory_bytes", NULL, rss);
        metrics_family(b, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.");
        metrics_sample(b, "process_virtual_memory_bytes", NULL, vsize);
        metrics_family(b, "process_start_time_seconds", "gauge",
                       "Start time of the process since unix epoch in seconds.");
        metrics_sample(b, "process_start_time_seconds", NULL, start);
    }
    DIR *d = opendir("/proc/self/fd");
    if (d) {
        double n = -1; /* the directory's own descriptor */
        while (readdir(d))
            n++;
        closedir(d);
        metrics_family(b, "process_open_fds", "gauge", "Number of open file descriptors.");
        metrics_sample(b, "process_open_fds", NULL, n - 2); /* . and .. */
    }
    struct rlimit rl;
    if (!getrlimit(RLIMIT_NOFILE, &rl)) {
        metrics_family(b, "process_max_fds", "gauge", "Maximum number of open file descriptors.");
        metrics_sample(b, "process_max_fds", NULL,
                       rl.rlim_cur == RLIM_INFINITY ? INFINITY : (double)rl.rlim_cur);
    }
}
