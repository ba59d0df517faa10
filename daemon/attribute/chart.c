/*
 * chart.c — layout and SVG serialisation of the grouped bar chart.
 *
 * Owns the geometry (bar and group widths, nice y axes, label rotation,
 * legend wrapping), the compact tick labels, XML escaping and the growable
 * output buffer. Owns no I/O and no data: it reads the caller's struct chart
 * and returns a malloc'd string. Numbers go through snprintf with the decimal
 * point forced back to '.', so the output never depends on LC_NUMERIC. Text
 * widths are estimates (no font metrics): 0.6 em a character, 1 em for wide
 * (CJK, emoji) ones. Out of memory is sticky in the buffer: after a failed
 * realloc every append is a no-op and chart_svg() frees and returns NULL.
 */
#include "attribute/chart.h"

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHART_PLOT_H     200.0 /* height of a panel's plot area */
#define CHART_PLOT_MIN   360.0 /* narrowest plot area */
#define CHART_PLOT_AIM   720.0 /* plot width bars are sized for, before the clamps */
#define CHART_BAR_MIN    6.0
#define CHART_BAR_MAX    28.0
#define CHART_GAP        14.0 /* between groups */
#define CHART_MARGIN     16.0 /* left edge of titles and legend; right margin */
#define CHART_FONT       11.0 /* ticks, group labels, legend */
#define CHART_SIN45      0.70710678
#define CHART_MAX_GROUP  15.0 /* em a name may take; wider ones are cut and end in "…" */
#define CHART_MAX_SERIES 17.0
#define CHART_MAX_TITLE  64.0
#define CHART_MAX_UNIT   8.0
#define CHART_INTERVALS  5 /* at most, so 4–6 gridlines */

/* Okabe & Ito, "Color Universal Design" (2008); later cycles are drawn translucent. */
static const char *const chart_palette[] = { "#0072B2", "#E69F00", "#009E73", "#D55E00",
                                             "#56B4E9", "#CC79A7", "#F0E442", "#000000" };
#define CHART_NCOLOURS (sizeof(chart_palette) / sizeof(chart_palette[0]))

/* Append a string literal. */
#define CHART_LIT(b, s) chart_put((b), (s), sizeof(s) - 1)

struct chart_buf {
    char *p;
    size_t len, cap;
    bool oom;
};

/* A formatted number, returned by value so that it can be a printf argument (C11 6.2.4p8). */
struct chart_num {
    char s[48];
};

/* A y axis: lo + i * step for i = 0..n. */
struct chart_axis {
    double lo, hi, step;
    int n;
};

/* x geometry shared by the panels. */
struct chart_geom {
    double left, plotw, bw, gw, label_h;
    bool rotate;
};

static bool chart_reserve(struct chart_buf *b, size_t n)
{
    if (b->oom)
        return false;
    if (b->cap - b->len > n)
        return true;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap - b->len <= n) {
        if (cap > SIZE_MAX / 2)
            goto fail;
        cap *= 2;
    }
    char *p = realloc(b->p, cap);
    if (!p)
        goto fail;
    b->p = p;
    b->cap = cap;
    return true;
fail:
    b->oom = true;
    return false;
}

static void chart_put(struct chart_buf *b, const char *s, size_t n)
{
    if (!chart_reserve(b, n))
        return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static __attribute__((format(printf, 2, 3))) void chart_printf(struct chart_buf *b, const char *fmt,
                                                               ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        b->oom = true;
    if (n < 0 || !chart_reserve(b, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* Undo the locale: in snprintf's output the decimal point, if any, is what separates the
 * leading digits from the next ones (before an exponent or a unit suffix). */
static struct chart_num chart_point(struct chart_num n)
{
    char *p = n.s + strspn(n.s, "+-0123456789");
    size_t k = strcspn(p, "0123456789");
    if (*p && *p != 'e' && p[k]) {
        *p = '.';
        memmove(p + 1, p + k, strlen(p + k) + 1);
    }
    return n;
}

/* A coordinate. */
static struct chart_num chart_f(double x)
{
    struct chart_num n;
    snprintf(n.s, sizeof(n.s), "%.2f", x);
    return chart_point(n);
}

/* A value at full precision, for tooltips. */
static struct chart_num chart_g(double x)
{
    struct chart_num n;
    snprintf(n.s, sizeof(n.s), "%.6g", x);
    return chart_point(n);
}

/* A compact tick label: 0, 250, 1.25k, 3M, 0.05; just enough decimals for a multiple of a
 * nice step. */
static struct chart_num chart_tick(double t, double step)
{
    static const double scale[] = { 1e12, 1e9, 1e6, 1e3, 1 };
    static const char *const suffix[] = { "T", "B", "M", "k", "" };
    struct chart_num n;
    double a = fabs(t);
    if (a < step * 1e-6)
        t = a = 0;
    if (a >= 1e15 || (a > 0 && a < 1e-4)) {
        snprintf(n.s, sizeof(n.s), "%.3g", t);
        return chart_point(n);
    }
    size_t u = 0;
    while (u < 4 && a < scale[u])
        u++;
    int d = 0;
    for (double x = t / scale[u]; d < 6 && fabs(x - round(x)) > 1e-6 * fmax(1, fabs(x)); x *= 10)
        d++;
    snprintf(n.s, sizeof(n.s), "%.*f%s", d, t / scale[u], suffix[u]);
    return chart_point(n);
}

/* Decode the UTF-8 sequence at \p p (not at its NUL) into *cp; malformed sequences (1 byte) and
 * characters XML 1.0 forbids become U+FFFD. @returns the bytes consumed. */
static size_t chart_utf8(const unsigned char *p, uint32_t *cp)
{
    static const uint32_t least[] = { 0, 0, 0x80, 0x800, 0x10000 };
    size_t n = p[0] < 0x80                   ? 1
               : p[0] >= 0xC2 && p[0] < 0xE0 ? 2
               : p[0] >= 0xE0 && p[0] < 0xF0 ? 3
               : p[0] >= 0xF0 && p[0] < 0xF5 ? 4
                                             : 0;
    uint32_t c = n == 1 ? p[0] : p[0] & (0x7Fu >> n);
    *cp = 0xFFFD;
    if (!n)
        return 1;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 1;
        c = c << 6 | (p[i] & 0x3Fu);
    }
    if (c < least[n] || c > 0x10FFFF || (c >= 0xD800 && c < 0xE000))
        return 1;
    if ((c >= 0x20 || c == 0x9 || c == 0xA || c == 0xD) && c != 0xFFFE && c != 0xFFFF)
        *cp = c;
    return n;
}

/* The estimated width of \p c in em: 1 for wide (CJK, emoji), else 0.6. */
static double chart_em(uint32_t c)
{
    bool wide = (c >= 0x1100 && c <= 0x115F) || (c >= 0x2E80 && c <= 0xA4CF) ||
                (c >= 0xAC00 && c <= 0xD7A3) || (c >= 0xF900 && c <= 0xFAFF) ||
                (c >= 0xFE30 && c <= 0xFE4F) || (c >= 0xFF00 && c <= 0xFF60) ||
                (c >= 0xFFE0 && c <= 0xFFE6) || (c >= 0x1F300 && c <= 0x1FAFF) ||
                (c >= 0x20000 && c <= 0x3FFFD);
    return wide ? 1.0 : 0.6;
}

/* Append \p s (NULL: "") XML-escaped to \p b, or only measure it when \p b is NULL. With
 * \p maxem > 0 a wider text is cut to fit with a "…"; *cut (if not NULL) says whether it was.
 * @returns the estimated width in em. */
static double chart_text(struct chart_buf *b, const char *s, double maxem, bool *cut)
{
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    double total = 0, w = 0;
    uint32_t cp;
    for (const unsigned char *q = p; *q; total += chart_em(cp))
        q += chart_utf8(q, &cp);
    bool cutting = maxem > 0 && total > maxem;
    for (size_t n; *p; p += n, w += chart_em(cp)) {
        n = chart_utf8(p, &cp);
        if (cutting && w + chart_em(cp) > maxem - 1)
            break;
        const char *ent = cp == '&'      ? "&amp;"
                          : cp == '<'    ? "&lt;"
                          : cp == '>'    ? "&gt;"
                          : cp == '"'    ? "&quot;"
                          : cp == '\''   ? "&#39;"
                          : cp == 0xFFFD ? "\xEF\xBF\xBD"
                                         : NULL;
        if (b)
            chart_put(b, ent ? ent : (const char *)p, ent ? strlen(ent) : n);
    }
    if (cut)
        *cut = cutting;
    if (cutting && b)
        CHART_LIT(b, "\xE2\x80\xA6");
    return cutting ? w + 1 : w;
}

/* Close an open <text> element with \p s cut to \p maxem, the whole of it as a tooltip if cut. */
static void chart_text_end(struct chart_buf *b, const char *s, double maxem)
{
    bool cut;
    chart_text(b, s, maxem, &cut);
    if (cut) {
        CHART_LIT(b, "<title>");
        chart_text(b, s, 0, NULL);
        CHART_LIT(b, "</title>");
    }
    CHART_LIT(b, "</text>\n");
}

/* ` fill="…"` for series \p s, translucent on odd trips round the palette. */
static void chart_fill(struct chart_buf *b, size_t s)
{
    chart_printf(b, " fill=\"%s\"%s", chart_palette[s % CHART_NCOLOURS],
                 (s / CHART_NCOLOURS) % 2 ? " fill-opacity=\"0.5\"" : "");
}

/* The y axis of \p p: min(0, least value) .. max(0, greatest), widened to multiples of the
 * smallest nice step (1, 2, 2.5, 5 × 10^k) giving at most CHART_INTERVALS intervals. */
static struct chart_axis chart_axis_of(const struct chart *c, const struct chart_panel *p)
{
    static const double mult[] = { 1, 2, 2.5, 5 };
    struct chart_axis a = { 0, 1, 0.2, 5 };
    double mn = 0, mx = 0;
    for (size_t i = 0; p->v && i < c->ngroups * c->nseries; i++) {
        if (isfinite(p->v[i])) {
            mn = fmin(mn, fmax(p->v[i], -1e300));
            mx = fmax(mx, fmin(p->v[i], 1e300));
        }
    }
    if (mx - mn < 1e-300)
        return a;
    double mag = pow(10, floor(log10((mx - mn) / CHART_INTERVALS)));
    for (int k = 0; k < 64; k++) {
        double step = mag * mult[k % 4] * pow(10, k / 4);
        double lo = floor(mn / step + 1e-9), hi = ceil(mx / step - 1e-9);
        if (hi - lo <= CHART_INTERVALS) {
            a = (struct chart_axis){ lo * step, hi * step, step, (int)(hi - lo) };
            break;
        }
    }
    return a;
}

/* Lay out the legend from y = \p y, wrapping before \p maxx; draws it unless \p b is NULL.
 * @returns the number of rows. */
static int chart_legend(struct chart_buf *b, const struct chart *c, double y, double maxx)
{
    double x = CHART_MARGIN;
    int rows = c->nseries ? 1 : 0;
    for (size_t s = 0; s < c->nseries; s++) {
        double w = 17 + chart_text(NULL, c->series[s], CHART_MAX_SERIES, NULL) * CHART_FONT;
        if (x > CHART_MARGIN && x + w > maxx) {
            x = CHART_MARGIN;
            y += 20;
            rows++;
        }
        if (b) {
            chart_printf(b, "<rect x=\"%s\" y=\"%s\" width=\"12\" height=\"12\"", chart_f(x).s,
                         chart_f(y).s);
            chart_fill(b, s);
            chart_printf(b, "/><text x=\"%s\" y=\"%s\" fill=\"#333333\">", chart_f(x + 17).s,
                         chart_f(y + 10).s);
            chart_text_end(b, c->series[s], CHART_MAX_SERIES);
        }
        x += w + 16;
    }
    return rows;
}

/* One panel from y = \p y0: title, gridlines with tick labels, bars, zero line, group labels. */
static void chart_panel(struct chart_buf *b, const struct chart *c, const struct chart_panel *p,
                        const struct chart_geom *g, double y0)
{
    struct chart_axis a = chart_axis_of(c, p);
    double top = y0 + 26, bottom = top + CHART_PLOT_H, right = g->left + g->plotw;
    double k0 = round(a.lo / a.step), yzero = top + a.hi / (a.hi - a.lo) * CHART_PLOT_H;
    chart_printf(b,
                 "<g>\n<text x=\"%s\" y=\"%s\" font-size=\"13\" font-weight=\"bold\" "
                 "fill=\"#222222\">",
                 chart_f(CHART_MARGIN).s, chart_f(y0 + 14).s);
    chart_text_end(b, p->title, CHART_MAX_TITLE);
    for (int i = 0; i <= a.n; i++) {
        double t = (k0 + i) * a.step, y = top + (a.n - i) * CHART_PLOT_H / a.n;
        if (fabs(t) > a.step * 1e-6)
            chart_printf(b, "<line x1=\"%s\" y1=\"%s\" x2=\"%s\" y2=\"%s\" stroke=\"#e3e3e3\"/>",
                         chart_f(g->left).s, chart_f(y).s, chart_f(right).s, chart_f(y).s);
        chart_printf(b, "<text x=\"%s\" y=\"%s\" text-anchor=\"end\" fill=\"#555555\">%s",
                     chart_f(g->left - 6).s, chart_f(y + 4).s, chart_tick(t, a.step).s);
        chart_text_end(b, p->unit, CHART_MAX_UNIT);
    }
    for (size_t gi = 0; gi < c->ngroups; gi++) {
        double gx = g->left + gi * g->gw, cx = gx + g->gw / 2;
        for (size_t s = 0; s < c->nseries; s++) {
            double v = p->v ? p->v[gi * c->nseries + s] : NAN;
            if (!isfinite(v))
                continue;
            double yv = top + (a.hi - fmax(a.lo, fmin(a.hi, v))) / (a.hi - a.lo) * CHART_PLOT_H;
            double x = gx + (g->gw - c->nseries * g->bw) / 2 + s * g->bw;
            chart_printf(b, "<rect class=\"bar\" x=\"%s\" y=\"%s\" width=\"%s\" height=\"%s\"",
                         chart_f(x).s, chart_f(fmin(yv, yzero)).s,
                         chart_f(g->bw > 8 ? g->bw - 1 : g->bw).s, chart_f(fabs(yzero - yv)).s);
            chart_fill(b, s);
            CHART_LIT(b, "><title>");
            chart_text(b, c->series[s], 0, NULL);
            CHART_LIT(b, " \xC2\xB7 ");
            chart_text(b, c->groups[gi], 0, NULL);
            chart_printf(b, ": %s", chart_g(v).s);
            chart_text(b, p->unit, 0, NULL);
            CHART_LIT(b, "</title></rect>\n");
        }
        double ly = bottom + (g->rotate ? 12 : 16);
        chart_printf(b, "<text x=\"%s\" y=\"%s\" fill=\"#333333\" text-anchor=\"%s\"",
                     chart_f(cx).s, chart_f(ly).s, g->rotate ? "end" : "middle");
        if (g->rotate)
            chart_printf(b, " transform=\"rotate(-45 %s %s)\"", chart_f(cx).s, chart_f(ly).s);
        CHART_LIT(b, ">");
        chart_text_end(b, c->groups[gi], CHART_MAX_GROUP);
    }
    chart_printf(b, "<line x1=\"%s\" y1=\"%s\" x2=\"%s\" y2=\"%s\" stroke=\"#777777\"/>\n</g>\n",
                 chart_f(g->left).s, chart_f(yzero).s, chart_f(right).s, chart_f(yzero).s);
}

char *chart_svg(const struct chart *c, size_t *len)
{
    struct chart_buf b = { NULL, 0, 0, false };
    struct chart_geom g = { 0, 0, CHART_BAR_MIN, 0, 24, false };
    size_t ng = c->ngroups, ns = c->nseries;
    if (ng && ns)
        g.bw = fmin(CHART_BAR_MAX,
                    fmax(CHART_BAR_MIN, (CHART_PLOT_AIM - ng * CHART_GAP) / ((double)ng * ns)));
    g.gw = fmax(ns * g.bw + CHART_GAP, ng ? CHART_PLOT_MIN / ng : 0);
    g.plotw = fmax(ng * g.gw, CHART_PLOT_MIN);

    /* group labels lie flat when they fit under their group, else they turn by 45° */
    double lblw = 0;
    for (size_t i = 0; i < ng; i++)
        lblw = fmax(lblw, chart_text(NULL, c->groups[i], CHART_MAX_GROUP, NULL) * CHART_FONT);
    g.rotate = lblw > g.gw - 6;
    if (g.rotate)
        g.label_h = lblw * CHART_SIN45 + 24;

    /* the widest tick label sets the left margin, as does the first rotated group label */
    double tickw = 0;
    for (size_t pi = 0; pi < c->npanels; pi++) {
        struct chart_axis a = chart_axis_of(c, &c->panels[pi]);
        double unitw = chart_text(NULL, c->panels[pi].unit, CHART_MAX_UNIT, NULL);
        for (int i = 0; i <= a.n; i++) {
            struct chart_num t = chart_tick((round(a.lo / a.step) + i) * a.step, a.step);
            tickw = fmax(tickw, (strlen(t.s) * 0.6 + unitw) * CHART_FONT);
        }
    }
    g.left = fmax(48, tickw + 14);
    if (g.rotate)
        g.left = fmax(g.left, lblw * CHART_SIN45 - g.gw / 2 + 8);

    double width = g.left + g.plotw + CHART_MARGIN;
    if (c->title)
        width = fmax(width, chart_text(NULL, c->title, CHART_MAX_TITLE, NULL) * 16 + 32);
    double ylegend = c->title ? 46 : 14;
    int rows = chart_legend(NULL, c, ylegend, width - CHART_MARGIN);
    double y = ylegend + rows * 20 + (rows ? 6 : 0);
    double panel_h = 26 + CHART_PLOT_H + g.label_h + 16;
    double height = y + c->npanels * panel_h + 4;

    chart_printf(
        &b,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%s\" height=\"%s\" "
        "viewBox=\"0 0 %s %s\" font-family=\"sans-serif\" font-size=\"11\" role=\"img\">\n",
        chart_f(width).s, chart_f(height).s, chart_f(width).s, chart_f(height).s);
    if (c->title) {
        CHART_LIT(&b, "<title>");
        chart_text(&b, c->title, 0, NULL);
        CHART_LIT(&b, "</title>\n");
    }
    CHART_LIT(&b, "<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n");
    if (c->title) {
        chart_printf(&b,
                     "<text x=\"%s\" y=\"30\" font-size=\"16\" font-weight=\"bold\" "
                     "fill=\"#111111\">",
                     chart_f(CHART_MARGIN).s);
        chart_text_end(&b, c->title, CHART_MAX_TITLE);
    }
    chart_legend(&b, c, ylegend, width - CHART_MARGIN);
    for (size_t pi = 0; pi < c->npanels; pi++)
        chart_panel(&b, c, &c->panels[pi], &g, y + pi * panel_h);
    CHART_LIT(&b, "</svg>\n");
    if (b.oom)
        goto fail;
    if (len)
        *len = b.len;
    return b.p;
fail:
    free(b.p);
    return NULL;
}
