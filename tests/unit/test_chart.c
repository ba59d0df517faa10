/*
 * test_chart.c — unit tests for attribute/chart: the SVG grouped bar chart.
 *
 * Every rendering is checked for well-formed XML by a small checker here
 * (balanced tags, known entities only, valid UTF-8, no control characters)
 * and, when /usr/bin/xmllint exists, by xmllint. Covers escaping of every
 * caller text, one bar per finite value (NAN and ±INFINITY draw nothing),
 * 0 groups / 0 series / 0 panels / all zeros / negative values (bars hang
 * from the zero line), nice y axes with 4–6 compact tick labels, exact
 * tooltips, the palette cycling, width growing with the bar count, long,
 * wide and invalid UTF-8 labels, determinism, independence from LC_NUMERIC,
 * and the example report chart (written to $CHART_EXAMPLE when set).
 *
 * Built with -DCHART_TEST_WRAP_REALLOC -Wl,--wrap=realloc it also fails
 * every realloc in turn and expects NULL without leaks.
 */
#define _POSIX_C_SOURCE 200809L

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "attribute/chart.h"

#include <locale.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define N(a) (sizeof(a) / sizeof((a)[0]))

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0, len = strlen(needle);
    for (const char *p = strstr(hay, needle); p; p = strstr(p + len, needle))
        n++;
    return n;
}

/* Valid UTF-8 without C0 controls other than tab and newline. */
static bool utf8_ok(const unsigned char *p)
{
    while (*p) {
        size_t n = *p < 0x80 ? 1 : (*p & 0xE0) == 0xC0 ? 2 : (*p & 0xF0) == 0xE0 ? 3 : 4;
        if (*p >= 0xF5 || (*p >= 0x80 && *p < 0xC2) || (*p < 0x20 && *p != '\n' && *p != '\t'))
            return false;
        for (size_t i = 1; i < n; i++)
            if ((p[i] & 0xC0) != 0x80)
                return false;
        p += n;
    }
    return true;
}

/* Balanced elements under one <svg> root, entities limited to what chart.c writes. */
static void check_balanced(const char *svg)
{
    char stack[16][32];
    int depth = 0, roots = 0;
    assert_true(utf8_ok((const unsigned char *)svg));
    assert_non_null(strstr(svg, "<svg xmlns=\"http://www.w3.org/2000/svg\""));
    for (const char *p = svg; *p; p++) {
        if (*p == '&') {
            static const char *const ent[] = { "&amp;", "&lt;", "&gt;", "&quot;", "&#39;" };
            bool known = false;
            for (size_t i = 0; i < N(ent); i++)
                known |= strncmp(p, ent[i], strlen(ent[i])) == 0;
            assert_true(known);
            continue;
        }
        if (*p == '>')
            fail_msg("stray '>' at offset %td", p - svg);
        if (*p != '<')
            continue;
        bool closing = p[1] == '/';
        const char *name = p + 1 + closing;
        size_t n = strspn(name, "abcdefghijklmnopqrstuvwxyz");
        assert_true(n > 0 && n < 32);
        const char *end = strchr(name, '>');
        assert_non_null(end);
        assert_null(memchr(name, '<', (size_t)(end - name)));
        if (closing) {
            assert_true(depth > 0);
            depth--;
            assert_int_equal(strlen(stack[depth]), n);
            assert_memory_equal(stack[depth], name, n);
        } else if (end[-1] != '/') {
            assert_true(depth < 16);
            if (depth == 0)
                roots++;
            memcpy(stack[depth], name, n);
            stack[depth++][n] = '\0';
        }
        p = end;
    }
    assert_int_equal(depth, 0);
    assert_int_equal(roots, 1);
}

static void check_xmllint(const char *svg, size_t len)
{
    if (access("/usr/bin/xmllint", X_OK) != 0)
        return;
    FILE *f = popen("/usr/bin/xmllint --noout -", "w");
    assert_non_null(f);
    assert_int_equal(fwrite(svg, 1, len, f), len);
    assert_int_equal(pclose(f), 0);
}

/* chart_svg() with the checks every rendering must pass. */
static char *render(const struct chart *c, size_t *len)
{
    size_t n = 0;
    char *svg = chart_svg(c, &n);
    assert_non_null(svg);
    assert_int_equal(strlen(svg), n);
    assert_null(strstr(svg, "<script"));
    assert_null(strstr(svg, "href"));
    assert_non_null(strstr(svg, "font-family=\"sans-serif\""));
    check_balanced(svg);
    check_xmllint(svg, n);
    if (len)
        *len = n;
    return svg;
}

static size_t bars(const char *svg)
{
    return count(svg, "<rect class=\"bar\"");
}

/* The geometry of the bar whose tooltip holds \p tooltip. */
static void bar_at(const char *svg, const char *tooltip, double *y, double *h, double *w)
{
    const char *t = strstr(svg, tooltip);
    assert_non_null(t);
    const char *r = t;
    while (r > svg && strncmp(r, "<rect class=\"bar\"", 17) != 0)
        r--;
    double x;
    assert_int_equal(sscanf(r,
                            "<rect class=\"bar\" x=\"%lf\" y=\"%lf\" width=\"%lf\" height=\"%lf\"",
                            &x, y, w, h),
                     4);
}

static double zero_line(const char *svg)
{
    const char *p = strstr(svg, "stroke=\"#777777\"");
    assert_non_null(p);
    while (strncmp(p, "<line", 5) != 0)
        p--;
    double x, y;
    assert_int_equal(sscanf(p, "<line x1=\"%lf\" y1=\"%lf\"", &x, &y), 2);
    return y;
}

static double svg_width(const char *svg)
{
    double w;
    const char *p = strstr(svg, " width=\"");
    assert_non_null(p);
    assert_int_equal(sscanf(p, " width=\"%lf\"", &w), 1);
    return w;
}

static const char *const groups3[] = { "douyin", "wechat", "direct" };
static const char *const series2[] = { "linear", "markov" };

static void test_chart_normal(void **state)
{
    (void)state;
    const double conv[] = { 120, 80, 95.5, 102, 3, 0 };
    const double val[] = { 1200.5, 900, 1500, 1450, 40, 0 };
    const struct chart_panel panels[] = { { "Attributed conversions", conv, "" },
                                          { "Attributed value", val, " ¥" } };
    const struct chart c = { "Attribution", groups3, 3, series2, 2, panels, 2 };
    size_t len;
    char *svg = render(&c, &len);
    assert_int_equal(bars(svg), 12);
    assert_int_equal(count(svg, "<g>"), 2);
    assert_int_equal(count(svg, ">Attributed conversions</text>"), 1);
    assert_int_equal(count(svg, "<title>Attribution</title>"), 1);
    assert_int_equal(count(svg, ">linear</text>"), 1); /* legend */
    assert_int_equal(count(svg, ">markov</text>"), 1);
    assert_int_equal(count(svg, ">douyin</text>"), 2); /* one x label a panel */
    assert_non_null(strstr(svg, "<title>markov · wechat: 102</title>"));
    assert_non_null(strstr(svg, "<title>linear · douyin: 1200.5 ¥</title>"));
    assert_non_null(strstr(svg, ">1.5k ¥</text>")); /* value axis: 0 .. 1.5k by 500 */
    assert_non_null(strstr(svg, ">500 ¥</text>"));
    assert_non_null(strstr(svg, ">125</text>")); /* conversions: 0 .. 125 by 25 */
    assert_null(strstr(svg, "transform"));       /* short labels lie flat */
    assert_int_equal(svg[len - 1], '\n');
    free(svg);
}

static void test_chart_escapes_every_text(void **state)
{
    (void)state;
    const char *const g[] = { "a<b&\"c\"", "x'y>z" };
    const char *const s[] = { "it's <m>", "&amp;" };
    const double v[] = { 1.5, 2, 3, 4 };
    const struct chart_panel p[] = { { "P&L <q>", v, "<u>" } };
    const struct chart c = { "R&D \"q\" <x>", g, 2, s, 2, p, 1 };
    char *svg = render(&c, NULL);
    assert_int_equal(count(svg, "a&lt;b&amp;&quot;c&quot;"), 3); /* label + 2 tooltips */
    assert_int_equal(count(svg, "x&#39;y&gt;z"), 3);
    assert_int_equal(count(svg, "it&#39;s &lt;m&gt;"), 3); /* legend + 2 tooltips */
    assert_int_equal(count(svg, "&amp;amp;"), 3);
    assert_int_equal(count(svg, "R&amp;D &quot;q&quot; &lt;x&gt;"), 2); /* <title> + heading */
    assert_int_equal(count(svg, ">P&amp;L &lt;q&gt;</text>"), 1);
    assert_non_null(strstr(svg, "<title>it&#39;s &lt;m&gt; · a&lt;b&amp;&quot;c&quot;: 1.5&lt;u&gt;"
                                "</title>"));
    assert_non_null(strstr(svg, ">4&lt;u&gt;</text>"));
    assert_null(strstr(svg, "a<b"));
    assert_null(strstr(svg, "it's"));
    free(svg);
}

static void test_chart_one_bar_per_finite_value(void **state)
{
    (void)state;
    const double v[] = { 1, NAN, INFINITY, 4, -INFINITY, 0, NAN, -2 };
    const double allnan[] = { NAN, NAN, NAN, NAN, NAN, NAN, NAN, NAN };
    const char *const g[] = { "g0", "g1", "g2", "g3" };
    const struct chart_panel p[] = { { "some", v, "" },
                                     { "none", allnan, "" },
                                     { "null", NULL, "" } };
    const struct chart c = { NULL, g, 4, series2, 2, p, 3 };
    char *svg = render(&c, NULL);
    assert_int_equal(bars(svg), 4);
    assert_null(strstr(svg, "inf"));
    assert_null(strstr(svg, "nan"));
    assert_null(strstr(svg, "markov · g0:")); /* NAN */
    assert_null(strstr(svg, "linear · g1:")); /* INFINITY */
    assert_null(strstr(svg, "linear · g2:")); /* -INFINITY */
    assert_non_null(strstr(svg, "<title>markov · g3: -2</title>"));
    assert_int_equal(count(svg, ">g2</text>"), 3); /* groups are labelled without bars */
    free(svg);
}

static void test_chart_empty(void **state)
{
    (void)state;
    const double v[] = { 0 };
    const struct chart_panel p[] = { { "empty", v, NULL } };
    const struct chart shapes[] = {
        { "no groups", NULL, 0, series2, 2, p, 1 },
        { "no series", groups3, 3, NULL, 0, p, 1 },
        { NULL, NULL, 0, NULL, 0, p, 1 },
        { "no panels", groups3, 3, series2, 2, NULL, 0 },
        { NULL, NULL, 0, NULL, 0, NULL, 0 },
    };
    for (size_t i = 0; i < N(shapes); i++) {
        char *svg = render(&shapes[i], NULL);
        assert_int_equal(bars(svg), 0);
        if (shapes[i].npanels) { /* y axis 0 .. 1 */
            assert_non_null(strstr(svg, ">0</text>"));
            assert_non_null(strstr(svg, ">1</text>"));
        }
        assert_true(svg_width(svg) >= 360);
        free(svg);
    }
}

static void test_chart_all_zero(void **state)
{
    (void)state;
    const double v[] = { 0, 0, 0, 0, 0, 0 };
    const struct chart_panel p[] = { { "zeros", v, "" } };
    const struct chart c = { "zeros", groups3, 3, series2, 2, p, 1 };
    char *svg = render(&c, NULL);
    assert_int_equal(bars(svg), 6);
    assert_int_equal(count(svg, "height=\"0.00\""), 6);
    assert_int_equal(count(svg, "text-anchor=\"end\" fill=\"#555555\""), 6); /* 0 .. 1 by 0.2 */
    assert_non_null(strstr(svg, ">0.2</text>"));
    assert_non_null(strstr(svg, ">1</text>"));
    free(svg);
}

static void test_chart_negative(void **state)
{
    (void)state;
    const double v[] = { -300, 700, 120, -50.25, 0, 10 };
    const struct chart_panel p[] = { { "net", v, "" } };
    const struct chart c = { "net", groups3, 3, series2, 2, p, 1 };
    char *svg = render(&c, NULL);
    assert_int_equal(bars(svg), 6);
    const char *ticks[] = { ">-500</text>", ">-250</text>", ">0</text>",
                            ">250</text>",  ">500</text>",  ">750</text>" };
    for (size_t i = 0; i < N(ticks); i++)
        assert_non_null(strstr(svg, ticks[i]));
    double zero = zero_line(svg), y, h, w;
    bar_at(svg, "· douyin: -300<", &y, &h, &w);
    assert_true(fabs(y - zero) < 0.01 && h > 0);
    double hneg = h;
    bar_at(svg, "· douyin: 700<", &y, &h, &w);
    assert_true(fabs(y + h - zero) < 0.01 && h > 0);
    assert_true(fabs(h / hneg - 7.0 / 3.0) < 0.01);
    bar_at(svg, "· wechat: -50.25<", &y, &h, &w);
    assert_true(fabs(y - zero) < 0.01 && h > 0);
    free(svg);
}

/* The y axis for a single value: ticks from 0 to a nice max, 4–6 of them. */
static char *axis_of(double max, const char *unit)
{
    const double v[] = { max };
    const char *const g[] = { "g" };
    const char *const s[] = { "s" };
    const struct chart_panel p[] = { { "p", v, unit } };
    const struct chart c = { NULL, g, 1, s, 1, p, 1 };
    char *svg = chart_svg(&c, NULL);
    assert_non_null(svg);
    return svg;
}

static void test_chart_nice_ticks(void **state)
{
    (void)state;
    static const struct {
        double max;
        const char *top, *other;
    } cases[] = {
        { 3.4e6, ">4M</text>", ">1M</text>" },  { 1200, ">1.25k</text>", ">250</text>" },
        { 0.37, ">0.4</text>", ">0.1</text>" }, { 1, ">1</text>", ">0.2</text>" },
        { 9, ">10</text>", ">2</text>" },       { 2.5e9, ">2.5B</text>", ">500M</text>" },
        { 7.3e12, ">8T</text>", ">2T</text>" }, { 0.012, ">0.0125</text>", ">0.0025</text>" },
        { 101, ">125</text>", ">25</text>" },   { 5e-7, ">5e-07</text>", ">1e-07</text>" },
    };
    for (size_t i = 0; i < N(cases); i++) {
        char *svg = axis_of(cases[i].max, "");
        if (!strstr(svg, cases[i].top) || !strstr(svg, cases[i].other))
            fail_msg("max %g: no %s or %s", cases[i].max, cases[i].top, cases[i].other);
        free(svg);
    }
    /* 4–6 gridlines for maxima over many decades, the top one at or above the value */
    for (double max = 1e-3; max < 1e12; max *= 1.37) {
        char *svg = axis_of(max, "%");
        size_t n = count(svg, "text-anchor=\"end\" fill=\"#555555\"");
        assert_true(n >= 4 && n <= 6);
        double y, h, w;
        bar_at(svg, "<title>s · g: ", &y, &h, &w);
        assert_true(h > 0 && h <= 200.001);
        check_balanced(svg);
        free(svg);
    }
}

static void test_chart_tooltip_full_precision(void **state)
{
    (void)state;
    const double v[] = { 12.345678, 1234567.89 };
    const char *const g[] = { "wechat" };
    const struct chart_panel p[] = { { "t", v, "" } };
    const struct chart c = { NULL, g, 1, series2, 2, p, 1 };
    char *svg = render(&c, NULL);
    assert_non_null(strstr(svg, "<title>linear · wechat: 12.3457</title>"));
    assert_non_null(strstr(svg, "<title>markov · wechat: 1.23457e+06</title>"));
    free(svg);
}

static void test_chart_palette_cycles(void **state)
{
    (void)state;
    const char *const s[] = { "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9" };
    double v[10];
    for (size_t i = 0; i < N(v); i++)
        v[i] = (double)i + 1;
    const char *const g[] = { "g" };
    const struct chart_panel p[] = { { "t", v, "" } };
    const struct chart c = { NULL, g, 1, s, 10, p, 1 };
    char *svg = render(&c, NULL);
    /* Okabe-Ito: 8 colours, then again translucent; legend + bar each */
    assert_int_equal(count(svg, "fill=\"#0072B2\""), 4);
    assert_int_equal(count(svg, "fill=\"#000000\""), 2);
    assert_int_equal(count(svg, "fill-opacity=\"0.5\""), 4);
    assert_non_null(strstr(svg, "fill=\"#E69F00\" fill-opacity=\"0.5\"><title>s9"));
    free(svg);
}

static void test_chart_width_grows(void **state)
{
    (void)state;
    enum { G = 60, S = 8 };
    static char names[G][8];
    static const char *g[G];
    static double v[G * S];
    const char *const s[S] = { "a", "b", "c", "d", "e", "f", "g", "h" };
    for (size_t i = 0; i < G; i++) {
        snprintf(names[i], sizeof(names[i]), "c%zu", i);
        g[i] = names[i];
    }
    for (size_t i = 0; i < G * S; i++)
        v[i] = (double)(i % 17);
    const struct chart_panel p[] = { { "t", v, "" } };
    struct chart c = { "wide", g, G, s, S, p, 1 };
    char *svg = render(&c, NULL);
    assert_int_equal(bars(svg), G * S);
    assert_true(svg_width(svg) >= G * S * 6);
    for (const char *r = strstr(svg, "<rect class=\"bar\""); r;
         r = strstr(r + 1, "<rect class=\"bar\"")) {
        double x, y, w, h;
        assert_int_equal(
            sscanf(r, "<rect class=\"bar\" x=\"%lf\" y=\"%lf\" width=\"%lf\" height=\"%lf\"", &x,
                   &y, &w, &h),
            4);
        assert_true(w >= 6);
    }
    free(svg);
    c.ngroups = 2; /* small charts stay small */
    svg = render(&c, NULL);
    assert_true(svg_width(svg) < 1000);
    free(svg);
}

static void test_chart_long_and_odd_labels(void **state)
{
    (void)state;
    const char *const g[] = {
        "sem_baidu_brand_campaign_2026_q4_north_china_mobile_search_ads_x", /* 64 bytes */
        "小红书种草笔记投放渠道小红书种草笔记投放渠道小红书",               /* 21 × 3 bytes */
        "bad \xff\xfe utf8 \xc3",
        "ctl\x01\x1f",
        "\xef\xbf\xbe",
    };
    assert_int_equal(strlen(g[0]), 64);
    const double v[] = { 1, 2, 3, 4, 5 };
    const char *const s[] = { "only" };
    const struct chart_panel p[] = { { "t", v, "" } };
    const struct chart c = { NULL, g, N(g), s, 1, p, 1 };
    char *svg = render(&c, NULL);
    assert_int_equal(bars(svg), 5);
    assert_non_null(strstr(svg, "transform=\"rotate(-45"));
    /* cut to 15 em with "…" (23 narrow or 14 wide characters), the full name in a <title> */
    assert_non_null(strstr(svg, ">sem_baidu_brand_campaig…<title>"
                                "sem_baidu_brand_campaign_2026_q4_north_china_mobile_search_ads_x"
                                "</title></text>"));
    assert_non_null(strstr(svg, ">小红书种草笔记投放渠道小红书…<title>"));
    assert_non_null(strstr(svg, ">bad \xef\xbf\xbd\xef\xbf\xbd utf8 \xef\xbf\xbd</text>"));
    assert_non_null(strstr(svg, ">ctl\xef\xbf\xbd\xef\xbf\xbd</text>"));
    assert_non_null(strstr(svg, ">\xef\xbf\xbd</text>"));
    /* rotated labels get room below the plot and to the left */
    double y, h, w;
    bar_at(svg, "<title>only · sem_baidu", &y, &h, &w);
    assert_true(svg_width(svg) > 360);
    free(svg);
}

static void test_chart_deterministic(void **state)
{
    (void)state;
    const double v[] = { 1.25, NAN, -3, 4e6, 0, 7 };
    const struct chart_panel p[] = { { "a", v, "" }, { "b", v, "%" } };
    const struct chart c = { "same", groups3, 3, series2, 2, p, 2 };
    size_t n1, n2;
    char *a = render(&c, &n1), *b = render(&c, &n2);
    assert_int_equal(n1, n2);
    assert_memory_equal(a, b, n1);
    free(a);
    free(b);
}

static void test_chart_ignores_numeric_locale(void **state)
{
    (void)state;
    const double v[] = { 1.25, 2.5, 0.125, 3.75, 1e6 / 3, 0.5 };
    const struct chart_panel p[] = { { "a", v, "" } };
    const struct chart c = { "locale", groups3, 3, series2, 2, p, 1 };
    size_t n1, n2;
    char *a = render(&c, &n1);
    static const char *const names[] = { "de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8",
                                         "ru_RU.UTF-8" };
    const char *got = NULL;
    for (size_t i = 0; !got && i < N(names); i++)
        got = setlocale(LC_NUMERIC, names[i]);
    if (!got) { /* no comma-decimal locale installed: nothing to compare against */
        print_message("# no de_DE/fr_FR/ru_RU locale installed; locale independence unchecked\n");
        free(a);
        return;
    }
    char *b = chart_svg(&c, &n2);
    setlocale(LC_NUMERIC, "C");
    assert_non_null(b);
    assert_int_equal(n1, n2);
    assert_memory_equal(a, b, n1);
    free(a);
    free(b);
}

static void test_chart_example(void **state)
{
    (void)state;
    const char *const g[] = { "douyin", "wechat",   "sem_baidu", "xiaohongshu",
                              "live",   "referral", "direct",    "(none)" };
    const char *const s[] = { "first_touch",    "last_touch", "last_non_direct", "linear",
                              "position_based", "time_decay", "markov",          "shapley" };
    /* per channel a base volume, per model a tilt */
    const double base[] = { 412, 305, 268, 190, 122, 64, 230, 18 };
    const double tilt[][8] = {
        { 1.30, 0.70, 0.80, 1.00, 1.15, 0.85, 1.05, 1.02 }, /* douyin: opens journeys */
        { 0.80, 1.25, 1.20, 1.00, 0.95, 1.10, 0.98, 1.01 },
        { 1.10, 0.95, 1.05, 1.00, 1.05, 0.97, 1.08, 1.06 },
        { 1.35, 0.60, 0.70, 1.00, 1.10, 0.80, 1.12, 1.09 },
        { 0.70, 1.40, 1.50, 1.00, 0.90, 1.25, 0.92, 0.95 },
        { 0.90, 1.10, 1.15, 1.00, 1.00, 1.05, 1.00, 0.99 },
        { 0.60, 1.50, 0.00, 1.00, 0.85, 1.30, 0.70, 0.75 }, /* direct: skipped by lnd */
        { 1.00, 1.00, 1.00, 1.00, 1.00, 1.00, 1.00, 1.00 },
    };
    double v[2][64];
    for (size_t gi = 0; gi < 8; gi++)
        for (size_t si = 0; si < 8; si++) {
            v[0][gi * 8 + si] = round(base[gi] * tilt[gi][si] * 10) / 10;
            v[1][gi * 8 + si] = round(base[gi] * tilt[gi][si] * 186.4) / 100;
        }
    v[1][7 * 8 + 6] = NAN; /* (none) has no markov value */
    const struct chart_panel p[] = { { "Attributed conversions", v[0], "" },
                                     { "Attributed value", v[1], " ¥" } };
    const struct chart c = {
        "Attribution by channel and model, 2026-11-16 – 2026-11-22", g, 8, s, 8, p, 2
    };
    size_t len;
    char *svg = render(&c, &len);
    assert_int_equal(bars(svg), 127);
    const char *path = getenv("CHART_EXAMPLE");
    if (path) {
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        assert_int_equal(fwrite(svg, 1, len, f), len);
        assert_int_equal(fclose(f), 0);
    }
    free(svg);
}

#ifdef CHART_TEST_WRAP_REALLOC
void *__real_realloc(void *p, size_t n);
void *__wrap_realloc(void *p, size_t n);
static long realloc_budget = -1; /* reallocs left before one fails; -1: no limit */

void *__wrap_realloc(void *p, size_t n)
{
    if (realloc_budget == 0)
        return NULL;
    if (realloc_budget > 0)
        realloc_budget--;
    return __real_realloc(p, n);
}

static void test_chart_out_of_memory(void **state)
{
    (void)state;
    static double v[40 * 8];
    static const char *g[40];
    for (size_t i = 0; i < N(v); i++)
        v[i] = (double)i;
    for (size_t i = 0; i < N(g); i++)
        g[i] = "a fairly long channel name with <escapes> & more";
    const char *const s[] = { "a", "b", "c", "d", "e", "f", "g", "h" };
    const struct chart_panel p[] = { { "t", v, "" }, { "u", v, "" } };
    const struct chart c = { "oom", g, 40, s, 8, p, 2 };
    long fails = 0;
    for (long budget = 0;; budget++) {
        realloc_budget = budget;
        size_t len = 12345;
        char *svg = chart_svg(&c, &len);
        realloc_budget = -1;
        if (svg) {
            free(svg);
            break;
        }
        assert_int_equal(len, 12345);
        fails++;
    }
    assert_true(fails >= 3);
}
#endif

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chart_normal),
        cmocka_unit_test(test_chart_escapes_every_text),
        cmocka_unit_test(test_chart_one_bar_per_finite_value),
        cmocka_unit_test(test_chart_empty),
        cmocka_unit_test(test_chart_all_zero),
        cmocka_unit_test(test_chart_negative),
        cmocka_unit_test(test_chart_nice_ticks),
        cmocka_unit_test(test_chart_tooltip_full_precision),
        cmocka_unit_test(test_chart_palette_cycles),
        cmocka_unit_test(test_chart_width_grows),
        cmocka_unit_test(test_chart_long_and_odd_labels),
        cmocka_unit_test(test_chart_deterministic),
        cmocka_unit_test(test_chart_ignores_numeric_locale),
        cmocka_unit_test(test_chart_example),
#ifdef CHART_TEST_WRAP_REALLOC
        cmocka_unit_test(test_chart_out_of_memory),
#endif
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
