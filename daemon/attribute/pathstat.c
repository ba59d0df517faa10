/*
 * pathstat.c — per-batch path statistics and their stored records.
 *
 * Owns the in-batch table (hour, path) -> (conversions, value, nulls), the
 * record encoding and folding records into a path set. Where records are
 * stored is the store's business; what they teach, markov.c's and
 * shapley.c's.
 */
#include "attribute/pathstat.h"

#include "attribute/mpk.h"
#include "core/hash.h"
#include "core/ts.h"

#include <stdlib.h>
#include <string.h>

struct pathstat_entry {
    int64_t hour;
    size_t off, len; /* type 0x1e path in the arena; path: channels joined by 0x1f */
    size_t tlen;
    uint32_t nch;
    int64_t conv, value, nulls;
    uint64_t h;
};

struct pathstat {
    struct pathstat_entry *e;
    size_t n, cap;
    uint32_t *tab; /* entry index + 1 */
    size_t tabcap;
    char *arena;
    size_t alen, acap;
    int64_t *hours;
    size_t nhours, caphours;
    uint8_t *out;
    size_t outcap;
};

struct pathstat *pathstat_new(void)
{
    return calloc(1, sizeof(struct pathstat));
}

void pathstat_destroy(struct pathstat *ps)
{
    if (!ps)
        return;
    free(ps->e);
    free(ps->tab);
    free(ps->arena);
    free(ps->hours);
    free(ps->out);
    free(ps);
}

void pathstat_reset(struct pathstat *ps)
{
    ps->n = ps->alen = ps->nhours = 0;
    if (ps->tab)
        memset(ps->tab, 0, ps->tabcap * sizeof(*ps->tab));
}

static bool pathstat_grow(struct pathstat *ps)
{
    size_t nc = ps->tabcap ? ps->tabcap * 2 : 256;
    uint32_t *t = calloc(nc, sizeof(*t));
    if (!t)
        return false;
    for (size_t i = 0; i < ps->n; i++) {
        size_t j = (size_t)ps->e[i].h & (nc - 1);
        while (t[j])
            j = (j + 1) & (nc - 1);
        t[j] = (uint32_t)i + 1;
    }
    free(ps->tab);
    ps->tab = t;
    ps->tabcap = nc;
    return true;
}

bool pathstat_add(struct pathstat *ps, int64_t ts, struct jd_str type, const struct jd_str *ch,
                  size_t n, int64_t conv, int64_t value, int64_t nulls)
{
    if (n > PATHSTAT_MAX_PATH) { /* the newest */
        ch += n - PATHSTAT_MAX_PATH;
        n = PATHSTAT_MAX_PATH;
    }
    size_t len = type.n + 1;
    for (size_t i = 0; i < n; i++)
        len += ch[i].n + 1;
    if (!jd_reserve((void **)&ps->arena, &ps->acap, ps->alen + len + 1, 1))
        return false;
    char *key = ps->arena + ps->alen;
    if (type.n)
        memcpy(key, type.p, type.n);
    key[type.n] = '\x1e';
    size_t w = type.n + 1;
    for (size_t i = 0; i < n; i++) {
        if (i)
            key[w++] = '\x1f';
        if (ch[i].n)
            memcpy(key + w, ch[i].p, ch[i].n);
        w += ch[i].n;
    }
    int64_t hour = ts_floor_div(ts, JD_MS_HOUR) * JD_MS_HOUR;
    uint64_t h = hash64(key, w, (uint64_t)hour);
    if ((ps->n + 1) * 2 > ps->tabcap && !pathstat_grow(ps))
        return false;
    size_t j = (size_t)h & (ps->tabcap - 1);
    for (; ps->tab[j]; j = (j + 1) & (ps->tabcap - 1)) {
        struct pathstat_entry *e = &ps->e[ps->tab[j] - 1];
        if (e->h == h && e->hour == hour && e->len == w && !memcmp(ps->arena + e->off, key, w)) {
            e->conv += conv;
            e->value += value;
            e->nulls += nulls;
            return true;
        }
    }
    if (!jd_reserve((void **)&ps->e, &ps->cap, ps->n + 1, sizeof(*ps->e)))
        return false;
    bool new_hour = true;
    for (size_t i = 0; i < ps->nhours && new_hour; i++)
        new_hour = ps->hours[i] != hour;
    if (new_hour) {
        if (!jd_reserve((void **)&ps->hours, &ps->caphours, ps->nhours + 1, sizeof(*ps->hours)))
            return false;
        ps->hours[ps->nhours++] = hour;
    }
    ps->e[ps->n] =
        (struct pathstat_entry){ hour, ps->alen, w, type.n, (uint32_t)n, conv, value, nulls, h };
    ps->tab[j] = (uint32_t)++ps->n;
    ps->alen += w;
    return true;
}

size_t pathstat_nhours(const struct pathstat *ps)
{
    return ps->nhours;
}

bool pathstat_hour(struct pathstat *ps, size_t i, int64_t *hour, struct jd_str *bytes)
{
    size_t need = 0;
    *hour = ps->hours[i];
    for (size_t k = 0; k < ps->n; k++) {
        const struct pathstat_entry *e = &ps->e[k];
        if (e->hour == *hour)
            need += 1 + 3 + mpk_arr_size(e->nch) + e->len + 3 * e->nch + mpk_int_size(e->conv) +
                    mpk_int_size(e->value) + mpk_int_size(e->nulls);
    }
    if (!jd_reserve((void **)&ps->out, &ps->outcap, need + 1, 1))
        return false;
    size_t w = 0;
    for (size_t k = 0; k < ps->n; k++) {
        const struct pathstat_entry *e = &ps->e[k];
        if (e->hour != *hour)
            continue;
        const char *p = ps->arena + e->off, *end = p + e->len;
        w += mpk_put_arr(ps->out + w, 5);
        w += mpk_put_str(ps->out + w, (struct jd_str){ p, e->tlen });
        p += e->tlen + 1;
        w += mpk_put_arr(ps->out + w, e->nch);
        for (uint32_t c = 0; c < e->nch; c++) {
            const char *q = memchr(p, '\x1f', (size_t)(end - p));
            if (!q)
                q = end;
            w += mpk_put_str(ps->out + w, (struct jd_str){ p, (size_t)(q - p) });
            p = q + 1;
        }
        w += mpk_put_int(ps->out + w, e->conv);
        w += mpk_put_int(ps->out + w, e->value);
        w += mpk_put_int(ps->out + w, e->nulls);
    }
    *bytes = (struct jd_str){ (const char *)ps->out, w };
    return true;
}

enum jd_err pathstat_fold(struct paths *p, const void *buf, size_t len, const char *type,
                          char *errstr, size_t errstr_size)
{
    struct mpk_rd r = { buf, (const uint8_t *)buf + len };
    uint32_t ch[PATHSTAT_MAX_PATH];
    while (r.p < r.end) {
        size_t n, nch;
        int64_t conv, value, nulls;
        struct jd_str t;
        if (!mpk_get_arr(&r, &n) || n != 5 || !mpk_get_str(&r, &t) || !mpk_get_arr(&r, &nch) ||
            nch > PATHSTAT_MAX_PATH)
            goto corrupt;
        for (size_t i = 0; i < nch; i++) {
            struct jd_str s;
            if (!mpk_get_str(&r, &s) || s.n == 0)
                goto corrupt;
            if ((ch[i] = paths_channel(p, s)) == UINT32_MAX)
                goto nomem;
        }
        if (!mpk_get_int(&r, &conv) || !mpk_get_int(&r, &value) || !mpk_get_int(&r, &nulls) ||
            conv < 0 || nulls < 0)
            goto corrupt;
        if (type && t.n && !jd_str_eqc(t, type))
            continue; /* another conversion type's (its channels were checked all the same) */
        if (!paths_add(p, ch, nch, (double)conv, (double)value / 1e6, (double)nulls))
            goto nomem;
    }
    return JD_OK;
corrupt:
    return jd_errf(JD_ERR_CORRUPT, errstr, errstr_size, "path statistics damaged at byte %zu",
                   (size_t)(r.p - (const uint8_t *)buf));
nomem:
    return jd_errf(JD_ERR_NOMEM, errstr, errstr_size, "out of memory");
}
