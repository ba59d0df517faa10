/*
 * test_template.c — unit tests for evaluate/template: the annotation
 * templates of rules.md and alerts.md.
 *
 * Covers the spec example, literal text, $value/$threshold/$labels, number
 * printing (shortest round trip, checked on random doubles), absent values
 * and division by zero, arithmetic precedence, pct, humanize, printf (and
 * every rejected format), the case functions, call and prefix styles, every
 * compile error with its column, the size and depth limits, and truncated
 * rendering (each output a prefix of the full text, always NUL-terminated).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/err.h"
#include "core/jd.h"
#include "evaluate/template.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct template_label labels[] = {
    { "alertname", "LeadsOutpaceOpsCapacity" },
    { "channel", "douyin" },
    { "team", "growth-ops" },
    { "phrase", "hello big-world_x 9lives" },
    { "utf8", "\xe6\xb8\xa0\xe9\x81\x93"
              "a" },
    { "quote", "say \"hi\"" },
};

static struct template_ctx ctx_of(double value, double threshold)
{
    return (struct template_ctx){ .has_value = true,
                                  .value = value,
                                  .has_threshold = true,
                                  .threshold = threshold,
                                  .labels = labels,
                                  .nlabels = JD_ARRAY_SIZE(labels) };
}

static struct template *compile_ok(const char *text)
{
    char err[JD_ERRSTR_SIZE] = "";
    struct template *t = template_compile(text, err, sizeof(err));
    if (!t)
        fail_msg("'%s' does not compile: %s", text, err);
    return t;
}

/* Renders \p text and checks the output, the returned length and the sizing call. */
static void check_ctx(const char *text, const struct template_ctx *ctx, const char *want)
{
    struct template *t = compile_ok(text);
    char buf[1024];
    size_t n = template_render(t, ctx, buf, sizeof(buf));
    if (strcmp(buf, want))
        fail_msg("'%s' rendered '%s', want '%s'", text, buf, want);
    assert_int_equal(n, strlen(want));
    assert_int_equal(template_render(t, ctx, NULL, 0), n);
    template_destroy(t);
}

static void check(const char *text, double value, double threshold, const char *want)
{
    struct template_ctx ctx = ctx_of(value, threshold);
    check_ctx(text, &ctx, want);
}

static void check_err(const char *text, const char *want)
{
    char err[JD_ERRSTR_SIZE] = "";
    struct template *t = template_compile(text, err, sizeof(err));
    if (t) {
        template_destroy(t);
        fail_msg("'%s' compiled; want error '%s'", text, want);
    }
    if (strcmp(err, want))
        fail_msg("'%s': error '%s', want '%s'", text, err, want);
}

static void test_spec_example(void **state)
{
    (void)state;
    const char *text = "lead growth exceeds ops capacity by {{ pct($value / $threshold - 1) }}";
    check(text, 1845, 1500, "lead growth exceeds ops capacity by 23%");
    check("lead growth exceeds ops capacity by {{ pct ($value / $threshold - 1) }}", 1845, 1500,
          "lead growth exceeds ops capacity by 23%");
    check("by {{pct $value / $threshold - 1}}", 1845, 1500, "by 23%");
    check("{{ $value }} leads vs {{ $threshold }} ({{ humanize $value }})", 1845, 1500,
          "1845 leads vs 1500 (1.845k)");
}

static void test_literal_text(void **state)
{
    (void)state;
    const char *statics[] = { "", "plain text", "a } b }} c {", "{ {", "multi\nline" };
    for (size_t i = 0; i < JD_ARRAY_SIZE(statics); i++) {
        struct template *t = compile_ok(statics[i]);
        assert_true(template_is_static(t));
        template_destroy(t);
        check(statics[i], 1, 1, statics[i]);
    }
    struct template *t = compile_ok("x {{ 1 }}");
    assert_false(template_is_static(t));
    template_destroy(t);
    t = compile_ok("{{ \"only a string\" }}");
    assert_false(template_is_static(t));
    template_destroy(t);
    check("{{ \"{{\" }} and }}", 1, 1, "{{ and }}");
    check("{{1}}{{2}}", 0, 0, "12");
    check("a{{\n  $value\n}}b", 7, 0, "a7b");
    template_destroy(NULL);
}

static void test_numbers(void **state)
{
    (void)state;
    static const struct {
        double v;
        const char *want;
    } cases[] = {
        { 1845, "1845" },
        { 0, "0" },
        { -0.0, "0" },
        { 1500, "1500" },
        { -42, "-42" },
        { 0.1, "0.1" },
        { 0.25, "0.25" },
        { -2.5, "-2.5" },
        { 1.0 / 3, "0.3333333333333333" },
        { 2.0 / 3, "0.6666666666666666" },
        { 0.1 + 0.2, "0.30000000000000004" },
        { 123456789012345, "123456789012345" },
        { 1e15, "1e+15" },
        { 1e20, "1e+20" },
        { 1e-7, "1e-07" },
        { 1234.5678, "1234.5678" },
        { 5e-324, "5e-324" },
        { 1.7976931348623157e308, "1.7976931348623157e+308" },
        { INFINITY, "n/a" },
        { NAN, "n/a" },
    };
    char buf[32];
    for (size_t i = 0; i < JD_ARRAY_SIZE(cases); i++) {
        size_t n = template_format_number(cases[i].v, buf, sizeof(buf));
        if (strcmp(buf, cases[i].want))
            fail_msg("%.17g printed '%s', want '%s'", cases[i].v, buf, cases[i].want);
        assert_int_equal(n, strlen(cases[i].want));
        check("{{ $value }}", cases[i].v, 0, cases[i].want);
    }
    check("{{ 1.5e3 }} {{ .5 }} {{ 2E-1 }} {{ 007 }}", 0, 0, "1500 0.5 0.2 7");
    assert_int_equal(template_format_number(1845, NULL, 0), 4);
}

/* Shortest round trip: what is printed reads back as the same double, and one digit less does not.
 */
static void test_numbers_round_trip(void **state)
{
    (void)state;
    uint64_t x = UINT64_C(0x9e3779b97f4a7c15);
    char buf[32], shorter[400];
    for (int i = 0; i < 20000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        double v;
        if (i % 2) {
            memcpy(&v, &x, sizeof(v));
        } else {
            v = (double)(x % 1000000) / (double)(1 + (x >> 40) % 1000);
        }
        if (!isfinite(v))
            continue;
        template_format_number(v, buf, sizeof(buf));
        if (strtod(buf, NULL) != v)
            fail_msg("%.17g printed '%s', which reads back as %.17g", v, buf, strtod(buf, NULL));
        if (strchr(buf, '.') && !strchr(buf, 'e'))
            assert_int_not_equal(buf[strlen(buf) - 1], '0');
        if (v == trunc(v) && fabs(v) < 1e15)
            continue;
        int digits = 0; /* significant digits of the mantissa */
        for (const char *p = buf + strcspn(buf, "123456789"); *p && *p != 'e'; p++)
            digits += *p >= '0' && *p <= '9';
        for (int prec = 1; prec < digits; prec++) {
            snprintf(shorter, sizeof(shorter), "%.*g", prec, v);
            if (strtod(shorter, NULL) == v)
                fail_msg("%.17g printed '%s' but '%s' is shorter", v, buf, shorter);
        }
    }
}

static void test_absent(void **state)
{
    (void)state;
    struct template_ctx none = { .labels = labels, .nlabels = JD_ARRAY_SIZE(labels) };
    check_ctx("{{ $value }}/{{ $threshold }}", &none, "n/a/n/a");
    check_ctx("{{ $value + 1 }} {{ -$value }} {{ $value * 0 }}", &none, "n/a n/a n/a");
    check_ctx("{{ pct($value / $threshold - 1) }}", &none, "n/a");
    check_ctx("{{ humanize $value }} {{ printf \"%.2f\" $value }} {{ printf \"[%d]\" $threshold }}",
              &none, "n/a n/a [n/a]");
    check_ctx("{{ $labels.channel }}", &none, "douyin");
    check_ctx("{{ $value }}", NULL, "n/a");
    check_ctx("[{{ $labels.channel }}]", NULL, "[]");
    struct template_ctx half = ctx_of(1845, 0);
    half.has_threshold = false;
    check_ctx("{{ $value }} {{ pct($value / $threshold - 1) }}", &half, "1845 n/a");
    /* division by zero has no value (rules.md), whatever the sign */
    check("{{ $value / 0 }} {{ -1 / 0 }} {{ 0 / 0 }} {{ pct($value / $threshold) }}", 5, 0,
          "n/a n/a n/a n/a");
    check("{{ 1e308 * 10 }} {{ humanize(1e308 * 10) }} {{ pct(1e307) }}", 0, 0, "n/a n/a n/a");
    check("{{ 1 / 0 * 0 + 1 }}", 0, 0, "n/a");
}

static void test_arithmetic(void **state)
{
    (void)state;
    check("{{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ 10 - 4 - 3 }} {{ 8 / 4 / 2 }}", 0, 0, "7 9 3 1");
    check("{{ -$value }} {{ - -2 }} {{ -(1 - 3) * 2 }} {{ 2 * -3 }} {{ 2--3 }}", 5, 0,
          "-5 2 4 -6 5");
    check("{{ $value - $threshold }} {{ $value / $threshold }}", 1845, 1500, "345 1.23");
    check("{{ 1 - 0.9 }}", 0, 0, "0.09999999999999998");
    check("{{ ((((1)))) }}", 0, 0, "1");
}

static void test_pct(void **state)
{
    (void)state;
    static const struct {
        double x;
        const char *want;
    } cases[] = {
        { 0.23, "23%" },   { 0.2307, "23%" },  { 0.05, "5%" },      { 0.055, "5.5%" },
        { 0, "0%" },       { -0.0001, "0%" },  { 0.00049, "0%" },   { 0.0005, "0.1%" },
        { 0.125, "13%" },  { -0.125, "-13%" }, { -0.23, "-23%" },   { 1, "100%" },
        { 0.0996, "10%" }, { 1.5, "150%" },    { 0.099, "9.9%" },   { -0.055, "-5.5%" },
        { 0.1, "10%" },    { 0.0999, "10%" },  { 12.345, "1235%" }, { 0.015, "1.5%" },
    };
    char text[64];
    for (size_t i = 0; i < JD_ARRAY_SIZE(cases); i++) {
        snprintf(text, sizeof(text), "{{ pct %.17g }}", cases[i].x);
        check(text, 0, 0, cases[i].want);
        check("{{ pct($value) }}", cases[i].x, 0, cases[i].want);
    }
}

static void test_humanize(void **state)
{
    (void)state;
    static const struct {
        double v;
        const char *want;
    } cases[] = {
        { 1845, "1.845k" }, { 1234567, "1.235M" },   { 0.012, "12m" },       { 0, "0" },
        { 1, "1" },         { 999, "999" },          { 1000, "1k" },         { 999999, "1M" },
        { 999.99, "1k" },   { 12345.678, "12.35k" }, { -1845, "-1.845k" },   { 0.000001, "1u" },
        { 1.5e-9, "1.5n" }, { 0.5, "500m" },         { 0.0009999999, "1m" }, { 2.5e12, "2.5T" },
        { 1e30, "1e+06Y" }, { 1e-30, "1e-06y" },     { 123.456, "123.5" },
    };
    for (size_t i = 0; i < JD_ARRAY_SIZE(cases); i++) {
        check("{{ humanize($value) }}", cases[i].v, 0, cases[i].want);
        check("{{ humanize $value }}", cases[i].v, 0, cases[i].want);
    }
}

static void test_printf(void **state)
{
    (void)state;
    check("{{ printf \"%.2f\" $value }}", 1845, 0, "1845.00");
    check("{{ printf(\"%.2f\", $value) }}", 1845, 0, "1845.00");
    check("{{ printf \"%.1f%%\" $value * 100 }}", 0.2307, 0, "23.1%");
    check("{{ printf \"%d\" 2.5 }} {{ printf(\"%d\", -2.5) }} {{ printf \"%d\" (-0.4) }}", 0, 0,
          "3 -3 0");
    /* in the prefix form '-' after an argument is binary, as everywhere */
    check_err("{{ printf \"%d\" -2.5 }}", "col 16: '-' needs numbers, found a string");
    check("{{ printf \"%5.1f|\" 1.5 }}{{ printf \"%-6d|\" 2 }}{{ printf \"%+d\" 7 }}", 0, 0,
          "  1.5|2     |+7");
    check("{{ printf \"%05d\" 42 }} {{ printf \"% d\" 42 }} {{ printf \"%#.0f\" 3 }}", 0, 0,
          "00042  42 3.");
    check("{{ printf \"%e\" 1845 }} {{ printf \"%.3E\" 1845 }} {{ printf \"%g\" 0.0001 }}", 0, 0,
          "1.845000e+03 1.845E+03 0.0001");
    check("{{ printf \"%G\" 1e-10 }} {{ printf \"%F\" 1.5 }} {{ printf \"%f\" 1.5 }}", 0, 0,
          "1E-10 1.500000 1.500000");
    check("{{ printf \"team %s!\" $labels.team }}", 0, 0, "team growth-ops!");
    check("{{ printf \"%s!\" toUpper $labels.team }}", 0, 0, "GROWTH-OPS!");
    check("{{ printf \"100%%\" }} {{ printf(\"plain\") }}", 0, 0, "100% plain");
    check("{{ printf \"%.1f\" $value / 1000 }}k", 1845, 0, "1.8k");
    check("{{ printf \"%s\" \"%n%s\" }}", 0, 0, "%n%s"); /* arguments are data, never formats */
    check("{{ printf \"%.64f\" 1 }}", 0, 0,
          "1.0000000000000000000000000000000000000000000000000000000000000000");
    char big[512];
    int n = snprintf(big, sizeof(big), "%64.64f", 1.7976931348623157e308);
    assert_true(n > 300 && (size_t)n < sizeof(big));
    check("{{ printf \"%64.64f\" 1.7976931348623157e308 }}", 0, 0, big);
}

static void test_printf_rejected(void **state)
{
    (void)state;
    check_err("{{ printf \"%n\" $value }}",
              "col 11: printf: unsupported conversion '%n' (use %f %e %g %d %s)");
    check_err("{{ printf \"%s %s\" $labels.a $labels.b }}",
              "col 11: printf: only one conversion is allowed");
    check_err("{{ printf \"%*d\" 3 $value }}",
              "col 11: printf: unsupported conversion '%*' (use %f %e %g %d %s)");
    check_err("{{ printf \"%x\" 1 }}",
              "col 11: printf: unsupported conversion '%x' (use %f %e %g %d %s)");
    check_err("{{ printf \"%ld\" 1 }}",
              "col 11: printf: unsupported conversion '%l' (use %f %e %g %d %s)");
    check_err("{{ printf \"%1$d\" 1 }}",
              "col 11: printf: unsupported conversion '%1$' (use %f %e %g %d %s)");
    check_err("{{ printf \"50%\" }}",
              "col 11: printf: unsupported conversion '%' (use %f %e %g %d %s)");
    check_err("{{ printf \"%.2s\" $labels.a }}",
              "col 11: printf: %s does not take the flags or precision of '%.2s'");
    check_err("{{ printf \"%-5s\" $labels.a }}",
              "col 11: printf: %s does not take the flags or precision of '%-5s'");
    check_err("{{ printf \"%#d\" 1 }}",
              "col 11: printf: %d does not take the flags or precision of '%#d'");
    check_err("{{ printf \"%.2d\" 1 }}",
              "col 11: printf: %d does not take the flags or precision of '%.2d'");
    check_err("{{ printf \"%100f\" 1 }}", "col 11: printf: width and precision are at most 64");
    check_err("{{ printf \"%.65f\" 1 }}", "col 11: printf: width and precision are at most 64");
    check_err("{{ printf \"%.99999999999f\" 1 }}",
              "col 11: printf: width and precision are at most 64");
    check_err("{{ printf \"%d\" $labels.a }}", "col 16: printf: %d needs a number, found a string");
    check_err("{{ printf \"%s\" $value }}", "col 16: printf: %s needs a string, found a number");
    check_err("{{ printf $labels.a }}", "col 11: printf needs a string literal as its format");
    check_err("{{ printf(\"%\" + \"d\", 1) }}", "col 15: '+' needs numbers, found a string");
    check_err("{{ printf }}", "col 4: printf needs a string literal as its format");
    check_err("{{ printf \"%d\" }}", "col 4: printf: the format has 1 conversion but 0 arguments");
    check_err("{{ printf \"x\" 1 }}", "col 4: printf: the format has 0 conversions but 1 argument");
    check_err("{{ printf \"%d\" 1 2 }}",
              "col 4: printf: the format has 1 conversion but 2 arguments");
}

static void test_labels_and_case(void **state)
{
    (void)state;
    check("{{ $labels.channel }}/{{ $labels.missing }}/{{ $labels.team }}", 0, 0,
          "douyin//growth-ops");
    check("{{ toUpper $labels.channel }} {{ toLower(\"MiXeD\") }} {{ title $labels.phrase }}", 0, 0,
          "DOUYIN mixed Hello Big-World_x 9lives");
    check("{{ toUpper $labels.utf8 }}", 0, 0,
          "\xe6\xb8\xa0\xe9\x81\x93"
          "A");
    check("{{ title \"\xc3\xa9t\xc3\xa9 x\" }}", 0, 0, "\xc3\xa9t\xc3\xa9 X");
    check("{{ toLower(title($labels.channel)) }} {{ toUpper (printf \"%s\" $labels.channel) }}", 0,
          0, "douyin DOUYIN");
    check("{{ $labels.quote }}", 0, 0, "say \"hi\"");
    struct template_ctx odd = { .labels = (const struct template_label[]){ { "a", NULL },
                                                                           { NULL, "x" },
                                                                           { "a", "second" } },
                                .nlabels = 3 };
    check_ctx("[{{ $labels.a }}]", &odd, "[second]");
}

static void test_strings(void **state)
{
    (void)state;
    check("{{ \"a\\\"b\\\\c\" }}", 0, 0, "a\"b\\c");
    check("{{ \"tab\\tnl\\n\" }}", 0, 0, "tab\tnl\n");
    check("{{ `raw \\n \"q\" }}` }}", 0, 0, "raw \\n \"q\" }}");
    check("{{ \"}}\" }}", 0, 0, "}}");
    check("{{ \"\" }}", 0, 0, "");
}

static void test_errors(void **state)
{
    (void)state;
    static const struct {
        const char *text, *err;
    } cases[] = {
        { "{{ $foo }}",
          "col 4: unknown variable '$foo' (known: $value, $threshold, $labels.NAME)" },
        { "{{ $Value }}",
          "col 4: unknown variable '$Value' (known: $value, $threshold, $labels.NAME)" },
        { "x {{ foo(1) }}",
          "col 6: unknown function 'foo' (known: pct, humanize, printf, title, toUpper, toLower)" },
        { "{{ value }}",
          "col 4: unknown function 'value' (known: pct, humanize, printf, title, toUpper, "
          "toLower)" },
        { "ab {{ $value", "col 4: unclosed action: '{{' without '}}'" },
        { "ab {{ pct(", "col 4: unclosed action: '{{' without '}}'" },
        { "{{ 1 }} {{", "col 9: unclosed action: '{{' without '}}'" },
        { "{{ $value }", "col 11: unexpected character '}'" },
        { "{{ }}", "col 1: empty action" },
        { "x{{}}", "col 2: empty action" },
        { "{{ 1 + }}", "col 8: expected a number, a string, a variable or a function, found '}}'" },
        { "{{ (1 + 2 }}", "col 11: expected ')', found '}}'" },
        { "{{ ) }}", "col 4: expected a number, a string, a variable or a function, found ')'" },
        { "{{ $value $value }}", "col 11: expected '}}', found '$value'" },
        { "{{ 1 \"s\" }}", "col 6: expected '}}', found a string" },
        { "{{ pct(1 2) }}", "col 10: expected ',' or ')', found '2'" },
        { "{{ pct(1,) }}",
          "col 10: expected a number, a string, a variable or a function, found ')'" },
        { "{{ $labels }}", "col 4: expected $labels.NAME" },
        { "{{ $labels. }}", "col 4: expected $labels.NAME" },
        { "{{ $labels.9x }}", "col 4: expected $labels.NAME" },
        { "{{ $ }}", "col 4: expected a variable name after '$'" },
        { "{{ \"abc }}", "col 4: unterminated string" },
        { "{{ `abc }}", "col 4: unterminated string" },
        { "{{ \"a\\qb\" }}", "col 6: unknown escape '\\q' (use \\\" \\\\ \\n \\t)" },
        { "{{ \"a\\", "col 6: unknown escape '\\ ' (use \\\" \\\\ \\n \\t)" },
        { "{{ 1.2.3 }}", "col 4: invalid number '1.2.3'" },
        { "{{ 2x }}", "col 4: invalid number '2x'" },
        { "{{ 0x10 }}", "col 4: invalid number '0x10'" },
        { "{{ 1e }}", "col 4: invalid number '1e'" },
        { "{{ 1e", "col 4: invalid number '1e'" },
        { "{{ 1e-", "col 4: invalid number '1e-'" },
        { "{{ # }}", "col 4: unexpected character '#'" },
        { "{{ 1 {{ 2 }}", "col 6: unexpected character '{'" },
        { "{{ \x01 }}", "col 4: unexpected byte 0x01" },
        { "{{ $labels.a + 1 }}", "col 14: '+' needs numbers, found a string" },
        { "{{ 2 * \"x\" }}", "col 6: '*' needs numbers, found a string" },
        { "{{ -$labels.a }}", "col 4: '-' needs a number, found a string" },
        { "{{ pct($labels.a) }}", "col 8: pct needs a number, found a string" },
        { "{{ humanize \"1\" }}", "col 13: humanize needs a number, found a string" },
        { "{{ toUpper $value }}", "col 12: toUpper needs a string, found a number" },
        { "{{ pct(1, 2) }}", "col 4: pct takes 1 argument, found 2" },
        { "{{ pct }}", "col 4: pct takes 1 argument, found 0" },
        { "{{ title() }}", "col 4: title takes 1 argument, found 0" },
        { "{{ printf(\"%d\", 1, 2, 3) }}", "col 4: printf: too many arguments" },
        { "{{ pct(1) + 1 }}", "col 11: '+' needs numbers, found a string" },
        { "line one\n{{ $nope }}", "col 13: unknown variable '$nope' (known: $value, $threshold, "
                                   "$labels.NAME)" },
    };
    for (size_t i = 0; i < JD_ARRAY_SIZE(cases); i++)
        check_err(cases[i].text, cases[i].err);
}

static void test_error_buffers(void **state)
{
    (void)state;
    char small[8];
    assert_null(template_compile("{{ $nope }}", NULL, 0));
    assert_null(template_compile("{{ $nope }}", small, 0));
    assert_null(template_compile("{{ $nope }}", small, sizeof(small)));
    assert_string_equal(small, "col 4: ");
    assert_null(template_compile("{{ $nope }}", small, 4));
    assert_string_equal(small, "col");
}

static void test_limits(void **state)
{
    (void)state;
    char *text = malloc(TEMPLATE_MAX_TEXT + 2);
    assert_non_null(text);
    memset(text, 'a', TEMPLATE_MAX_TEXT + 1);
    text[TEMPLATE_MAX_TEXT] = '\0';
    struct template *t = compile_ok(text);
    assert_int_equal(template_render(t, NULL, NULL, 0), TEMPLATE_MAX_TEXT);
    template_destroy(t);
    text[TEMPLATE_MAX_TEXT] = 'a';
    text[TEMPLATE_MAX_TEXT + 1] = '\0';
    check_err(text, "col 4097: template longer than 4096 bytes");
    free(text);

    /* depth: the value itself is level 1, each '(' or unary '-' one more */
    char deep[256];
    for (int d = TEMPLATE_MAX_DEPTH - 1; d <= TEMPLATE_MAX_DEPTH; d++) {
        int n = snprintf(deep, sizeof(deep), "{{ ");
        for (int i = 0; i < d; i++)
            deep[n++] = '(';
        deep[n++] = '1';
        for (int i = 0; i < d; i++)
            deep[n++] = ')';
        snprintf(deep + n, sizeof(deep) - (size_t)n, " }}");
        if (d < TEMPLATE_MAX_DEPTH)
            check(deep, 0, 0, "1");
        else
            check_err(deep, "col 36: nesting deeper than 32");
    }
    char minus[256] = "{{ ";
    for (int i = 0; i < TEMPLATE_MAX_DEPTH; i++)
        strcat(minus, "-");
    strcat(minus, "1 }}");
    check_err(minus, "col 36: nesting deeper than 32");
    minus[3] = ' ';
    check(minus, 0, 0, "-1");
    check_err("{{ pct(pct(pct(1))) }}", "col 12: pct needs a number, found a string");

    /* a long left-associative chain is not nesting */
    char chain[4096] = "{{ 0";
    for (int i = 0; i < 1000; i++)
        strcat(chain, "+1");
    strcat(chain, " }}");
    check(chain, 0, 0, "1000");
}

/* Every buffer size gives a NUL-terminated prefix of the full text and the full length. */
static void test_truncation(void **state)
{
    (void)state;
    struct template_ctx ctx = ctx_of(1845, 1500);
    struct template *t = compile_ok(
        "{{ title $labels.phrase }}: {{ pct($value / $threshold - 1) }} ({{ printf \"%8.2f\" "
        "$value }}, {{ toUpper (printf \"<%s>\" $labels.team) }}) {{ humanize $value }}");
    char full[256], buf[256];
    size_t len = template_render(t, &ctx, full, sizeof(full));
    assert_string_equal(full, "Hello Big-World_x 9lives: 23% ( 1845.00, <GROWTH-OPS>) 1.845k");
    for (size_t size = 0; size <= len + 1; size++) {
        memset(buf, 'Z', sizeof(buf));
        assert_int_equal(template_render(t, &ctx, buf, size), len);
        if (size == 0) {
            assert_int_equal(buf[0], 'Z');
            continue;
        }
        assert_int_equal(strlen(buf), JD_MIN(len, size - 1));
        assert_memory_equal(buf, full, strlen(buf));
        assert_int_equal(buf[size], 'Z'); /* nothing written past size */
    }
    template_destroy(t);

    char tiny[10];
    struct template *t2 = compile_ok("lead growth exceeds ops capacity by {{ pct 0.23 }}");
    assert_int_equal(template_render(t2, NULL, tiny, sizeof(tiny)), 39);
    assert_string_equal(tiny, "lead grow");
    assert_int_equal(template_render(t2, NULL, tiny, 1), 39);
    assert_string_equal(tiny, "");
    template_destroy(t2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec_example),
        cmocka_unit_test(test_literal_text),
        cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_numbers_round_trip),
        cmocka_unit_test(test_absent),
        cmocka_unit_test(test_arithmetic),
        cmocka_unit_test(test_pct),
        cmocka_unit_test(test_humanize),
        cmocka_unit_test(test_printf),
        cmocka_unit_test(test_printf_rejected),
        cmocka_unit_test(test_labels_and_case),
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_error_buffers),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_truncation),
    };
    return cmocka_run_group_tests_name("template", tests, NULL, NULL);
}
