/*
 * paths.c — the path set and the ChannelAttribution CSV reader.
 *
 * Owns the channel interning table and the rows. Reading files and deciding
 * what the paths mean are the callers' (journeyctl, report.c).
 */
#include "attribute/paths.h"

#include "core/hash.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct paths *paths_new(void)
{
    return calloc(1, sizeof(struct paths));
}

void paths_destroy(struct paths *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->nnames; i++)
        free(p->names[i]);
    free(p->names);
    free(p->touch);
    free(p->rows);
    free(p->tab);
    free(p);
}

static bool paths_grow_tab(struct paths *p)
{
    size_t nc = p->tabcap ? p->tabcap * 2 : 64;
    uint32_t *t = calloc(nc, sizeof(*t));
    if (!t)
        return false;
    for (size_t i = 0; i < p->nnames; i++) {
        size_t j = (size_t)hash64(p->names[i], strlen(p->names[i]), 0) & (nc - 1);
        while (t[j])
            j = (j + 1) & (nc - 1);
        t[j] = (uint32_t)i + 1;
    }
    free(p->tab);
    p->tab = t;
    p->tabcap = nc;
    return true;
}

uint32_t paths_channel(struct paths *p, struct jd_str name)
{
    if ((p->nnames + 1) * 2 > p->tabcap && !paths_grow_tab(p))
        return UINT32_MAX;
    size_t j = (size_t)hash64(name.p, name.n, 0) & (p->tabcap - 1);
    for (; p->tab[j]; j = (j + 1) & (p->tabcap - 1))
        if (jd_str_eqc(name, p->names[p->tab[j] - 1]))
            return p->tab[j] - 1;
    char *s = malloc(name.n + 1);
    if (!s || p->nnames >= UINT32_MAX - 2 ||
        !jd_reserve((void **)&p->names, &p->capnames, p->nnames + 1, sizeof(*p->names))) {
        free(s);
        return UINT32_MAX;
    }
    if (name.n)
        memcpy(s, name.p, name.n);
    s[name.n] = '\0';
    p->names[p->nnames] = s;
    p->tab[j] = (uint32_t)++p->nnames;
    return (uint32_t)(p->nnames - 1);
}

bool paths_add(struct paths *p, const uint32_t *ch, size_t n, double conv, double value,
               double nulls)
{
    if (n > UINT32_MAX ||
        !jd_reserve((void **)&p->touch, &p->captouch, p->ntouch + n, sizeof(*p->touch)) ||
        !jd_reserve((void **)&p->rows, &p->caprows, p->nrows + 1, sizeof(*p->rows)))
        return false;
    if (n)
        memcpy(p->touch + p->ntouch, ch, n * sizeof(*ch));
    p->rows[p->nrows++] = (struct paths_row){ p->ntouch, (uint32_t)n, conv, value, nulls };
    p->ntouch += n;
    return true;
}

/* ------------------------------------------------------------------ CSV */

#define PATHS_MAX_FIELDS 16

struct csv {
    const char *p, *end, *name;
    size_t line, col0; /* col0: offset of the line's first byte */
    const char *bol;
    char *errstr;
    size_t errstr_size;
};

struct csv_field {
    const char *p; /* raw bytes (quoted fields: between the quotes, "" not undone) */
    size_t n;
    size_t line, col;
    bool quoted;
};

static enum jd_err csv_fail(struct csv *c, size_t line, size_t col, const char *msg)
{
    return jd_errf(JD_ERR_PARSE, c->errstr, c->errstr_size, "%s:%zu:%zu: %s", c->name, line, col,
                   msg);
}

/* Reads one record into f; returns the field count, 0 at the end, -1 on error. */
static int csv_record(struct csv *c, struct csv_field *f, size_t cap)
{
    while (c->p < c->end && (*c->p == '\n' || *c->p == '\r')) { /* blank lines */
        if (*c->p == '\n') {
            c->line++;
            c->bol = c->p + 1;
        }
        c->p++;
    }
    if (c->p >= c->end)
        return 0;
    size_t nf = 0;
    for (;;) {
        if (nf == cap) {
            csv_fail(c, c->line, (size_t)(c->p - c->bol) + 1, "too many columns");
            return -1;
        }
        struct csv_field *x = &f[nf++];
        x->line = c->line;
        x->col = (size_t)(c->p - c->bol) + 1;
        x->quoted = c->p < c->end && *c->p == '"';
        if (x->quoted) {
            const char *q = ++c->p;
            while (c->p < c->end && !(*c->p == '"' && (c->p + 1 >= c->end || c->p[1] != '"'))) {
                if (*c->p == '"')
                    c->p++;
                else if (*c->p == '\n') {
                    csv_fail(c, x->line, x->col, "quoted field runs past the end of the line");
                    return -1;
                }
                c->p++;
            }
            if (c->p >= c->end) {
                csv_fail(c, x->line, x->col, "unterminated quoted field");
                return -1;
            }
            x->p = q;
            x->n = (size_t)(c->p - q);
            c->p++;
        } else {
            x->p = c->p;
            while (c->p < c->end && *c->p != ',' && *c->p != '\n' && *c->p != '\r')
                c->p++;
            x->n = (size_t)(c->p - x->p);
        }
        if (c->p < c->end && *c->p == ',') {
            c->p++;
            continue;
        }
        if (c->p < c->end && *c->p == '\r')
            c->p++;
        if (c->p < c->end && *c->p != '\n') {
            csv_fail(c, c->line, (size_t)(c->p - c->bol) + 1,
                     "expected ',' or the end of the line after a quoted field");
            return -1;
        }
        if (c->p < c->end) {
            c->p++;
            c->line++;
            c->bol = c->p;
        }
        return (int)nf;
    }
}

static bool csv_is(const struct csv_field *f, const char *name)
{
    size_t n = strlen(name);
    return f->n == n && strncmp(f->p, name, n) == 0;
}

static enum jd_err csv_number(struct csv *c, const struct csv_field *f, bool nonneg, double *out)
{
    char buf[64];
    const char *s = f->p;
    size_t n = f->n;
    while (n && (*s == ' ' || *s == '\t'))
        s++, n--;
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    if (n == 0 || n >= sizeof(buf))
        return csv_fail(c, f->line, f->col, n ? "number too long" : "expected a number");
    memcpy(buf, s, n);
    buf[n] = '\0';
    char *end;
    *out = strtod(buf, &end);
    if (*end || !isfinite(*out))
        return csv_fail(c, f->line, f->col, "expected a finite number");
    if (nonneg && *out < 0)
        return csv_fail(c, f->line, f->col, "expected a number >= 0");
    return JD_OK;
}

/* Splits "a > b > c" into channel indices appended to p->touch. */
static enum jd_err csv_path(struct csv *c, struct paths *p, const struct csv_field *f,
                            size_t *ntouch)
{
    const char *s = f->p, *end = f->p + f->n;
    *ntouch = 0;
    while (s < end && *s == ' ')
        s++;
    if (s == end)
        return JD_OK; /* an empty path: conversions with no touch */
    for (;;) {
        const char *a = s;
        while (s < end && *s != '>')
            s++;
        const char *b = s;
        if (a != f->p && a < b && *a == ' ')
            a++; /* "x > y": the name's column is after the one space */
        size_t col = f->col + (size_t)(a - f->p) + f->quoted;
        while (a < b && (*a == ' ' || *a == '\t'))
            a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
            b--;
        if (a == b)
            return csv_fail(c, f->line, col, "empty channel name in path");
        col = f->col + (size_t)(a - f->p) + f->quoted;
        if ((size_t)(b - a) > PATHS_CHANNEL_MAX)
            return csv_fail(c, f->line, col, "channel name longer than 64 bytes");
        for (const char *q = a; q < b; q++)
            if ((unsigned char)*q < 0x20 || *q == '"')
                return csv_fail(c, f->line, col + (size_t)(q - a),
                                "control character or quote in a channel name");
        uint32_t ch = paths_channel(p, (struct jd_str){ a, (size_t)(b - a) });
        if (ch == UINT32_MAX || !jd_reserve((void **)&p->touch, &p->captouch,
                                            p->ntouch + *ntouch + 1, sizeof(*p->touch)))
            return jd_errf(JD_ERR_NOMEM, c->errstr, c->errstr_size, "out of memory");
        p->touch[p->ntouch + (*ntouch)++] = ch;
        if (s == end)
            return JD_OK;
        s++;
    }
}

enum jd_err paths_parse_csv(struct paths *p, const char *buf, size_t len, const char *name,
                            char *errstr, size_t errstr_size)
{
    struct csv c = { buf, buf + len, name, 1, 0, buf, errstr, errstr_size };
    struct csv_field f[PATHS_MAX_FIELDS];
    int col_path = -1, col_conv = -1, col_value = -1, col_null = -1;
    int nf = csv_record(&c, f, PATHS_MAX_FIELDS);
    if (nf < 0)
        return JD_ERR_PARSE;
    if (nf == 0)
        return csv_fail(&c, 1, 1,
                        "empty file: expected the header "
                        "path,total_conversions,total_conversion_value,total_null");
    for (int i = 0; i < nf; i++) {
        if (csv_is(&f[i], "path"))
            col_path = i;
        else if (csv_is(&f[i], "total_conversions"))
            col_conv = i;
        else if (csv_is(&f[i], "total_conversion_value"))
            col_value = i;
        else if (csv_is(&f[i], "total_null"))
            col_null = i;
    }
    if (col_path < 0 || col_conv < 0)
        return csv_fail(&c, f[0].line, 1,
                        "the header needs the columns path and total_conversions "
                        "(total_conversion_value and total_null are optional)");
    while ((nf = csv_record(&c, f, PATHS_MAX_FIELDS)) > 0) {
        int need = JD_MAX(JD_MAX(col_path, col_conv), JD_MAX(col_value, col_null));
        if (nf <= need)
            return csv_fail(&c, f[0].line, f[nf - 1].col + f[nf - 1].n + 2 * f[nf - 1].quoted,
                            "missing columns: the header has more");
        double conv, value = 0, nulls = 0;
        size_t n;
        enum jd_err err;
        if ((err = csv_number(&c, &f[col_conv], true, &conv)) != JD_OK ||
            (col_value >= 0 && (err = csv_number(&c, &f[col_value], false, &value)) != JD_OK) ||
            (col_null >= 0 && (err = csv_number(&c, &f[col_null], true, &nulls)) != JD_OK) ||
            (err = csv_path(&c, p, &f[col_path], &n)) != JD_OK)
            return err;
        if (!jd_reserve((void **)&p->rows, &p->caprows, p->nrows + 1, sizeof(*p->rows)))
            return jd_errf(JD_ERR_NOMEM, errstr, errstr_size, "out of memory");
        p->rows[p->nrows++] = (struct paths_row){ p->ntouch, (uint32_t)n, conv, value, nulls };
        p->ntouch += n;
    }
    return nf < 0 ? JD_ERR_PARSE : JD_OK;
}
