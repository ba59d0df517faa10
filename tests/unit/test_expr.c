/*
 * test_expr.c — unit tests for evaluate/expr: the expression grammar of
 * rules.md ("Expressions").
 *
 * Covers selectors and matchers (=, !=, =~, !~, props.x), fields, ranges
 * (compound durations, hour|day|week|month), offset, the aggregations with
 * `by (...)` before or after the argument, operator precedence and left
 * associativity (checked against a random tree printed with the fewest
 * parentheses), unary minus, % literals, function calls with named
 * arguments, expr_format() round trips, the examples of rules.md, and the
 * column of the error for many malformed inputs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/jd.h"
#include "evaluate/expr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define MS_MIN  INT64_C(60000)
#define MS_HOUR INT64_C(3600000)
#define MS_DAY  INT64_C(86400000)

static uint64_t rng_state;

static uint64_t splitmix64(void)
{
    uint64_t z = (rng_state += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static const char *pick(const char *const *v, size_t n)
{
    return v[splitmix64() % n];
}

#define PICK(arr) pick(arr, JD_ARRAY_SIZE(arr))

static struct expr_node *parse_ok(const char *text)
{
    char err[JD_ERRSTR_SIZE] = "";
    struct expr_node *n = expr_parse(text, err, sizeof(err));
    if (!n)
        fail_msg("'%s' does not parse: %s", text, err);
    return n;
}

/* expr_format into a fresh heap string. */
static char *format(const struct expr_node *n)
{
    size_t len = expr_format(n, NULL, 0);
    char *buf = malloc(len + 1);
    assert_non_null(buf);
    assert_int_equal(expr_format(n, buf, len + 1), len);
    assert_int_equal(strlen(buf), len);
    return buf;
}

/* Structural equality, ignoring columns. */
static bool same_tree(const struct expr_node *a, const struct expr_node *b)
{
    if (!a || !b)
        return a == b;
    if (a->kind != b->kind)
        return false;
    switch (a->kind) {
    case EXPR_NUMBER:
        return a->number == b->number;
    case EXPR_SELECT:
        if (strcmp(a->type, b->type) || a->nmatchers != b->nmatchers || a->field != b->field ||
            a->range != b->range || a->offset_ms != b->offset_ms ||
            (a->range == EXPR_RANGE_DURATION && a->range_ms != b->range_ms))
            return false;
        for (size_t i = 0; i < a->nmatchers; i++)
            if (strcmp(a->matchers[i].label, b->matchers[i].label) ||
                a->matchers[i].op != b->matchers[i].op ||
                strcmp(a->matchers[i].value, b->matchers[i].value))
                return false;
        return true;
    case EXPR_AGG:
        if (a->agg != b->agg || a->nby != b->nby)
            return false;
        for (size_t i = 0; i < a->nby; i++)
            if (strcmp(a->by[i], b->by[i]))
                return false;
        return same_tree(a->arg, b->arg);
    case EXPR_BINARY:
        return a->op == b->op && same_tree(a->lhs, b->lhs) && same_tree(a->rhs, b->rhs);
    case EXPR_NEG:
        return same_tree(a->lhs, b->lhs);
    case EXPR_NAME:
        return !strcmp(a->func, b->func);
    case EXPR_DURATION:
        return a->range_ms == b->range_ms;
    case EXPR_CALL:
        if (strcmp(a->func, b->func) || a->nargs != b->nargs)
            return false;
        for (size_t i = 0; i < a->nargs; i++) {
            const char *x = a->argnames[i], *y = b->argnames[i];
            if ((x == NULL) != (y == NULL) || (x && strcmp(x, y)) ||
                !same_tree(a->args[i], b->args[i]))
                return false;
        }
        return true;
    }
    return false;
}

/* parse -> format -> parse -> format: the same tree and the same text. */
static void check_round_trip(const char *text)
{
    struct expr_node *a = parse_ok(text);
    char *f1 = format(a);
    char err[JD_ERRSTR_SIZE] = "";
    struct expr_node *b = expr_parse(f1, err, sizeof(err));
    if (!b) {
        expr_free(a);
        fail_msg("'%s' formats as '%s', which does not parse: %s", text, f1, err);
    }
    char *f2 = format(b);
    bool same = same_tree(a, b) && !strcmp(f1, f2);
    if (!same)
        fprintf(stderr, "'%s' -> '%s' -> '%s'\n", text, f1, f2);
    free(f1);
    free(f2);
    expr_free(a);
    expr_free(b);
    assert_true(same);
}

/* ------------------------------------------------------------ selectors */

static void test_selector_plain(void **state)
{
    (void)state;
    struct expr_node *n = parse_ok("lead[1d]");
    assert_int_equal(n->kind, EXPR_SELECT);
    assert_int_equal(n->col, 1);
    assert_string_equal(n->type, "lead");
    assert_int_equal(n->nmatchers, 0);
    assert_int_equal(n->field, EXPR_FIELD_NONE);
    assert_int_equal(n->range, EXPR_RANGE_DURATION);
    assert_int_equal(n->range_ms, MS_DAY);
    assert_int_equal(n->offset_ms, 0);
    expr_free(n);
}

static void test_selector_matchers(void **state)
{
    static const struct {
        const char *text;
        const char *label;
        enum expr_match op;
        const char *value;
    } cases[] = {
        { "touch{channel=\"douyin\"}[5m]", "channel", EXPR_MATCH_EQ, "douyin" },
        { "plan_review{result!=\"pass\"}[1w]", "result", EXPR_MATCH_NE, "pass" },
        { "touch{channel=~\"sem_.*\"}[1h]", "channel", EXPR_MATCH_RE, "sem_.*" },
        { "touch{channel!~\"sem_.*|direct\"}[1h]", "channel", EXPR_MATCH_NRE, "sem_.*|direct" },
        { "lead{props.mql=\"true\"}[1d]", "mql", EXPR_MATCH_EQ, "true" },
        { "lead{campaign='q4'}[1d]", "campaign", EXPR_MATCH_EQ, "q4" },
        { "lead{campaign=\"a\\\"b\\\\c\\n\"}[1d]", "campaign", EXPR_MATCH_EQ, "a\"b\\c\n" },
        { "lead{campaign='it''s'}[1d]", NULL, 0, NULL }, /* not SQL quoting: an error */
        { "lead{ channel = \"x\" }[1d]", "channel", EXPR_MATCH_EQ, "x" },
        { "lead{channel=\"\"}[1d]", "channel", EXPR_MATCH_EQ, "" },
    };
    (void)state;
    for (size_t i = 0; i < JD_ARRAY_SIZE(cases); i++) {
        char err[JD_ERRSTR_SIZE] = "";
        struct expr_node *n = expr_parse(cases[i].text, err, sizeof(err));
        if (!cases[i].label) {
            expr_free(n);
            if (n)
                fail_msg("case %zu '%s' parsed", i, cases[i].text);
            continue;
        }
        if (!n)
            fail_msg("case %zu '%s': %s", i, cases[i].text, err);
        bool ok = n->kind == EXPR_SELECT && n->nmatchers == 1 &&
                  !strcmp(n->matchers[0].label, cases[i].label) &&
                  n->matchers[0].op == cases[i].op && !strcmp(n->matchers[0].value, cases[i].value);
        expr_free(n);
        if (!ok)
            fail_msg("case %zu '%s': wrong matcher", i, cases[i].text);
    }
}

static void test_selector_many_matchers(void **state)
{
    (void)state;
    struct expr_node *n =
        parse_ok("lead{props.tier=\"gold\", campaign!=\"q4\", channel=~\"a|b\",}[1d] offset 1h");
    assert_int_equal(n->nmatchers, 3);
    assert_string_equal(n->matchers[0].label, "tier");
    assert_string_equal(n->matchers[1].label, "campaign");
    assert_int_equal(n->matchers[2].op, EXPR_MATCH_RE);
    assert_int_equal(n->offset_ms, MS_HOUR);
    expr_free(n);
    n = parse_ok("lead{}[1d]");
    assert_int_equal(n->nmatchers, 0);
    expr_free(n);
}

/* Regex matchers are compiled anchored: the whole value must match. */
static void test_regex_anchored(void **state)
{
    static const struct {
        const char *re, *value;
        bool match;
    } cases[] = {
        { "sem_.*", "sem_baidu", true },
        { "sem_.*", "xsem_baidu", false },
        { "sem_.*", "sem", false },
        { "sem_.*|direct", "direct", true },
        { "sem_.*|direct", "directx", false },
        { "sem_.*|direct", "xdirect", false },
        { "[a-z]+", "abc", true },
        { "[a-z]+", "abc1", false },
        { "", "", true },
        { "", "a", false },
        { "a{2}", "aa", true },
        { "(q|r)4", "r4", true },
    };
    (void)state;
    for (size_t i = 0; i < JD_ARRAY_SIZE(cases); i++) {
        char text[128];
        snprintf(text, sizeof(text), "touch{channel=~\"%s\"}[1h]", cases[i].re);
        struct expr_node *n = parse_ok(text);
        bool m = regexec(&n->matchers[0].re, cases[i].value, 0, NULL, 0) == 0;
        expr_free(n);
        if (m != cases[i].match)
            fail_msg("case %zu: /%s/ on '%s': %d, want %d", i, cases[i].re, cases[i].value, m,
                     cases[i].match);
    }
}

/*
 * Regression (fuzz_expr, fixed): glibc's regcomp copies the tree for every
 * repetition, and " +++…+(" took 2 GB. Patterns that would expand beyond
 * bounds are refused before regcomp; ordinary ones still compile.
 */
static void test_regex_size_bounded(void **state)
{
    static const struct {
        const char *re, *why; /* why: NULL when it must compile */
    } cases[] = {
        { " ++++++++++++++++++++++++(\xff$\xff", "a quantifier after a quantifier" },
        { "a**", "a quantifier after a quantifier" },
        { "a+?", "a quantifier after a quantifier" },
        { "a{2}{3}", "a quantifier after a quantifier" },
        { "((a{99}){99}){99}", "more than 10,000 atoms" },
        { "(ab|cd){1001}", "a repetition count above 1000" },
        { "x{99999999999999999999}", "a repetition count above 1000" },
        /* an unclosed count must not send the scan past the pattern's end (fuzz_expr) */
        { "wp{6,00066", "bad regular expression" },
        { "wp{6,", "bad regular expression" },
        { "wp{6", "bad regular expression" },
        { "sem_.*|direct", NULL },
        { "[a-z]+", NULL },
        { "a{2,5}b{3,}", NULL },
        { "(q|r){1000}", NULL },
        { "[]a]+[^]b]*c", NULL },
        { "[[:alpha:]]+_[0-9]{1,4}", NULL },
    };
    (void)state;
    for (size_t i = 0; i < JD_ARRAY_SIZE(cases); i++) {
        char text[256], err[JD_ERRSTR_SIZE] = "";
        snprintf(text, sizeof(text), "touch{channel=~\"%s\"}[1h]", cases[i].re);
        struct expr_node *n = expr_parse(text, err, sizeof(err));
        if (!cases[i].why) {
            if (!n)
                fail_msg("case %zu: /%s/ refused: %s", i, cases[i].re, err);
            expr_free(n);
            continue;
        }
        if (n)
            fail_msg("case %zu: /%s/ accepted", i, cases[i].re);
        if (!strstr(err, "bad regular expression") || !strstr(err, cases[i].why))
            fail_msg("case %zu: /%s/: %s", i, cases[i].re, err);
    }
}

static void test_fields_ranges_offsets(void **state)
{
    static const struct {
        const char *text;
        enum expr_field field;
        enum expr_range range;
        int64_t range_ms, offset_ms;
    } cases[] = {
        { "cost.value[1d]", EXPR_FIELD_VALUE, EXPR_RANGE_DURATION, MS_DAY, 0 },
        { "lead.user_id[1d]", EXPR_FIELD_USER_ID, EXPR_RANGE_DURATION, MS_DAY, 0 },
        { "cost{channel=\"x\"}.value[1h30m] offset 1w", EXPR_FIELD_VALUE, EXPR_RANGE_DURATION,
          90 * MS_MIN, 7 * MS_DAY },
        { "lead[90m]", EXPR_FIELD_NONE, EXPR_RANGE_DURATION, 5400000, 0 },
        { "lead[2w3d]", EXPR_FIELD_NONE, EXPR_RANGE_DURATION, 17 * MS_DAY, 0 },
        { "lead[1d12h] offset 30m", EXPR_FIELD_NONE, EXPR_RANGE_DURATION, 36 * MS_HOUR,
          30 * MS_MIN },
        { "lead[hour]", EXPR_FIELD_NONE, EXPR_RANGE_HOUR, 0, 0 },
        { "lead[day]", EXPR_FIELD_NONE, EXPR_RANGE_DAY, 0, 0 },
        { "lead[week] offset 1w", EXPR_FIELD_NONE, EXPR_RANGE_WEEK, 0, 7 * MS_DAY },
        { "lead[month]", EXPR_FIELD_NONE, EXPR_RANGE_MONTH, 0, 0 },
        { "  lead [ 1d ]   offset   1h  ", EXPR_FIELD_NONE, EXPR_RANGE_DURATION, MS_DAY, MS_HOUR },
        { "lead\n[1d]\n", EXPR_FIELD_NONE, EXPR_RANGE_DURATION, MS_DAY, 0 },
    };
    (void)state;
    for (size_t i = 0; i < JD_ARRAY_SIZE(cases); i++) {
        struct expr_node *n = parse_ok(cases[i].text);
        bool ok = n->kind == EXPR_SELECT && n->field == cases[i].field &&
                  n->range == cases[i].range && n->offset_ms == cases[i].offset_ms &&
                  (n->range != EXPR_RANGE_DURATION || n->range_ms == cases[i].range_ms);
        expr_free(n);
        if (!ok)
            fail_msg("case %zu '%s': wrong field, range or offset", i, cases[i].text);
    }
}

/* --------------------------------------------------------- aggregations */

static void test_aggregations(void **state)
{
    static const struct {
        const char *text;
        enum expr_agg agg;
        const char *by[3];
        size_t nby;
        const char *canonical;
    } cases[] = {
        { "count(lead[1d])", EXPR_AGG_COUNT, { NULL }, 0, "count (lead[1d])" },
        { "count(cost.value[1d])", EXPR_AGG_COUNT, { NULL }, 0, "count (cost.value[1d])" },
        { "sum(cost.value[1d])", EXPR_AGG_SUM, { NULL }, 0, "sum (cost.value[1d])" },
        { "avg(cost.value[day])", EXPR_AGG_AVG, { NULL }, 0, "avg (cost.value[day])" },
        { "min(cost.value[1h])", EXPR_AGG_MIN, { NULL }, 0, "min (cost.value[1h])" },
        { "max(cost.value[1h])", EXPR_AGG_MAX, { NULL }, 0, "max (cost.value[1h])" },
        { "last(ops_capacity.value[1d])",
          EXPR_AGG_LAST,
          { NULL },
          0,
          "last (ops_capacity.value[1d])" },
        { "distinct(lead.user_id[1d])",
          EXPR_AGG_DISTINCT,
          { NULL },
          0,
          "distinct (lead.user_id[1d])" },
        { "sum by (channel) (cost.value[1d])",
          EXPR_AGG_SUM,
          { "channel" },
          1,
          "sum by (channel) (cost.value[1d])" },
        { "sum(cost.value[1d]) by (channel)",
          EXPR_AGG_SUM,
          { "channel" },
          1,
          "sum by (channel) (cost.value[1d])" },
        { "count by(channel,campaign)(touch[1d])",
          EXPR_AGG_COUNT,
          { "channel", "campaign" },
          2,
          "count by (channel, campaign) (touch[1d])" },
        { "count by (props.tier, channel) (lead[1d])",
          EXPR_AGG_COUNT,
          { "tier", "channel" },
          2,
          "count by (tier, channel) (lead[1d])" },
        { "count by () (lead[1d])", EXPR_AGG_COUNT, { NULL }, 0, "count (lead[1d])" },
        { "distinct by (channel) (touch.user_id[7d] offset 1d)",
          EXPR_AGG_DISTINCT,
          { "channel" },
          1,
          "distinct by (channel) (touch.user_id[1w] offset 1d)" },
        { "count by (channel) (touch{channel=~\"sem_.*\"}[1d] offset 1w)",
          EXPR_AGG_COUNT,
          { "channel" },
          1,
          "count by (channel) (touch{channel=~\"sem_.*\"}[1d] offset 1w)" },
        /* an aggregation name not followed by '(' or 'by' is an event type */
        { "count(count[1d])", EXPR_AGG_COUNT, { NULL }, 0, "count (count[1d])" },
    };
    (void)state;
    for (size_t i = 0; i < JD_ARRAY_SIZE(cases); i++) {
        struct expr_node *n = parse_ok(cases[i].text);
        bool ok = n->kind == EXPR_AGG && n->agg == cases[i].agg && n->nby == cases[i].nby &&
                  n->arg && n->arg->kind == EXPR_SELECT && n->col == 1;
        for (size_t k = 0; ok && k < cases[i].nby; k++)
            ok = !strcmp(n->by[k], cases[i].by[k]);
        char *f = format(n);
        ok = ok && !strcmp(f, cases[i].canonical);
        if (!ok)
            fprintf(stderr, "case %zu '%s': formatted '%s'\n", i, cases[i].text, f);
        free(f);
        expr_free(n);
        assert_true(ok);
    }
}

static void test_agg_names(void **state)
{
    static const char *const aggs[] = { "count", "sum", "avg", "min", "max", "last", "distinct" };
    (void)state;
    for (size_t i = 0; i < JD_ARRAY_SIZE(aggs); i++)
        assert_string_equal(expr_agg_name((enum expr_agg)i), aggs[i]);
    static const struct {
        enum expr_op op;
        const char *name;
    } ops[] = {
        { EXPR_OP_ADD, "+" },         { EXPR_OP_SUB, "-" },   { EXPR_OP_MUL, "*" },
        { EXPR_OP_DIV, "/" },         { EXPR_OP_GT, ">" },    { EXPR_OP_GE, ">=" },
        { EXPR_OP_LT, "<" },          { EXPR_OP_LE, "<=" },   { EXPR_OP_EQ, "==" },
        { EXPR_OP_NE, "!=" },         { EXPR_OP_AND, "and" }, { EXPR_OP_OR, "or" },
        { EXPR_OP_UNLESS, "unless" },
    };
    for (size_t i = 0; i < JD_ARRAY_SIZE(ops); i++)
        assert_string_equal(expr_op_name(ops[i].op), ops[i].name);
}

/* ------------------------------------------------------------ operators */

static void test_precedence(void **state)
{
    static const struct {
        const char *text, *want;
    } cases[] = {
        { "1 + 2 * 3", "(1 + (2 * 3))" },
        { "1 * 2 + 3", "((1 * 2) + 3)" },
        { "1 - 2 - 3", "((1 - 2) - 3)" },
        { "8 / 4 / 2", "((8 / 4) / 2)" },
        { "8 / 4 * 2", "((8 / 4) * 2)" },
        { "1 - 2 + 3", "((1 - 2) + 3)" },
        { "(1 + 2) * 3", "((1 + 2) * 3)" },
        { "1 < 2 + 3", "(1 < (2 + 3))" },
        { "1 + 2 >= 3 * 4", "((1 + 2) >= (3 * 4))" },
        { "1 == 2 != 3", "((1 == 2) != 3)" },
        { "1 > 2 <= 3", "((1 > 2) <= 3)" },
        { "a[1m] or b[1m] and c[1m]", "(a[1m] or (b[1m] and c[1m]))" },
        { "a[1m] and b[1m] or c[1m]", "((a[1m] and b[1m]) or c[1m])" },
        { "a[1m] unless b[1m] and c[1m]", "((a[1m] unless b[1m]) and c[1m])" },
        { "a[1m] and b[1m] unless c[1m]", "((a[1m] and b[1m]) unless c[1m])" },
        { "a[1m] or b[1m] or c[1m]", "((a[1m] or b[1m]) or c[1m])" },
        { "a[1m] > 1 and b[1m] < 2", "((a[1m] > 1) and (b[1m] < 2))" },
        { "a[1m] > 1 or b[1m] < 2 unless c[1m] == 3",
          "((a[1m] > 1) or ((b[1m] < 2) unless (c[1m] == 3)))" },
        { "1 + 2 > 3 and 4 < 5 or 6", "((((1 + 2) > 3) and (4 < 5)) or 6)" },
        { "-2 * 3", "(-2 * 3)" },
        { "2 * -3", "(2 * -3)" },
        { "2 - -3", "(2 - -3)" },
        { "--2", "--2" },
        { "-(1 + 2)", "-(1 + 2)" },
        { "- count(lead[1d]) + 1", "(-count (lead[1d]) + 1)" },
        { "((1))", "1" },
        { "1+2*3-4/5", "((1 + (2 * 3)) - (4 / 5))" },
    };
    (void)state;
    for (size_t i = 0; i < JD_ARRAY_SIZE(cases); i++) {
        struct expr_node *n = parse_ok(cases[i].text);
        char *f = format(n);
        bool ok = !strcmp(f, cases[i].want);
        if (!ok)
            fprintf(stderr, "case %zu '%s': got '%s', want '%s'\n", i, cases[i].text, f,
                    cases[i].want);
        free(f);
        expr_free(n);
        assert_true(ok);
    }
}

static void test_binary_tree(void **state)
{
    (void)state;
    struct expr_node *n = parse_ok("count(lead[1d]) > 1.2 * count(lead[1d] offset 1w)");
    assert_int_equal(n->kind, EXPR_BINARY);
    assert_int_equal(n->op, EXPR_OP_GT);
    assert_int_equal(n->col, 17);
    assert_int_equal(n->lhs->kind, EXPR_AGG);
    assert_int_equal(n->rhs->kind, EXPR_BINARY);
    assert_int_equal(n->rhs->op, EXPR_OP_MUL);
    assert_int_equal(n->rhs->lhs->kind, EXPR_NUMBER);
    assert_true(n->rhs->lhs->number == 1.2);
    assert_int_equal(n->rhs->rhs->arg->offset_ms, 7 * MS_DAY);
    assert_int_equal(n->rhs->rhs->col, 25);
    expr_free(n);
}

static void test_numbers(void **state)
{
    static const struct {
        const char *text;
        double want;
    } cases[] = {
        { "0", 0 },        { "3", 3 },           { "1.2", 1.2 },  { ".5", 0.5 },  { "1.", 1 },
        { "1e3", 1000 },   { "1.5e-3", 1.5e-3 }, { "2E+2", 200 }, { "20%", 0.2 }, { "150%", 1.5 },
        { "0.5%", 0.005 }, { "100%", 1 },        { "1e2%", 1 },   { "007", 7 },
    };
    (void)state;
    for (size_t i = 0; i < JD_ARRAY_SIZE(cases); i++) {
        struct expr_node *n = parse_ok(cases[i].text);
        bool ok = n->kind == EXPR_NUMBER && n->number == cases[i].want;
        double got = n->number;
        expr_free(n);
        if (!ok)
            fail_msg("case %zu '%s': %.17g, want %.17g", i, cases[i].text, got, cases[i].want);
    }
    /* a sign is unary minus, also on percentages */
    struct expr_node *n = parse_ok("-20%");
    assert_int_equal(n->kind, EXPR_NEG);
    assert_true(n->lhs->number == 0.2);
    expr_free(n);
}

/* ---------------------------------------------------------------- calls */

static void test_calls(void **state)
{
    (void)state;
    struct expr_node *n = parse_ok("ratio(count(plan_review{result=\"pass\"}[week]), "
                                   "count(plan_review[week]), min_denominator=10)");
    assert_int_equal(n->kind, EXPR_CALL);
    assert_string_equal(n->func, "ratio");
    assert_int_equal(n->nargs, 3);
    assert_null(n->argnames[0]);
    assert_null(n->argnames[1]);
    assert_string_equal(n->argnames[2], "min_denominator");
    assert_int_equal(n->args[0]->kind, EXPR_AGG);
    assert_int_equal(n->args[2]->kind, EXPR_NUMBER);
    assert_true(n->args[2]->number == 10);
    char *f = format(n);
    assert_string_equal(f, "ratio(count (plan_review{result=\"pass\"}[week]), count "
                           "(plan_review[week]), min_denominator=10)");
    free(f);
    expr_free(n);

    static const struct {
        const char *text, *want;
    } cases[] = {
        { "absent(touch[15m])", "absent(touch[15m])" },
        { "f()", "f()" },
        { "f(1,)", "f(1)" },
        { "ratio(a[1h], b[1h], min_denominator = 10)", "ratio(a[1h], b[1h], min_denominator=10)" },
        { "f(x=1, y=2)", "f(x=1, y=2)" },
        { "f(g(1), h(k=2))", "f(g(1), h(k=2))" },
        { "f(a[1m] == 1)", "f((a[1m] == 1))" }, /* '==' is not a named argument */
        { "f(1) + f(2) * 2", "(f(1) + (f(2) * 2))" },
        { "-f(1)", "-f(1)" },
        { "ratio(sum by (channel) (credit{model=\"linear\"}.value[1d]), sum by (channel) "
          "(cost.value[1d]))",
          "ratio(sum by (channel) (credit{model=\"linear\"}.value[1d]), sum by (channel) "
          "(cost.value[1d]))" },
    };
    for (size_t i = 0; i < JD_ARRAY_SIZE(cases); i++) {
        n = parse_ok(cases[i].text);
        f = format(n);
        bool ok = !strcmp(f, cases[i].want);
        if (!ok)
            fprintf(stderr, "case %zu '%s': got '%s', want '%s'\n", i, cases[i].text, f,
                    cases[i].want);
        free(f);
        expr_free(n);
        assert_true(ok);
    }
}

/* The expressions rules.md shows (those the parser's tree can hold today). */
static void test_rules_md_examples(void **state)
{
    static const char *const cases[] = {
        "lead[1d]",
        "touch{channel=\"douyin\"}[1d]",
        "plan_review{result!=\"pass\"}[1d]",
        "touch{channel=~\"sem_.*\"}[1d]",
        "cost.value[1d]",
        "count(lead[1d] offset 1w)",
        "sum by (channel) (cost.value[1d])",
        "distinct(lead.user_id[1d])",
        "sum by (channel) (credit{model=\"time_decay\"}.value[1d]) / sum by (channel) "
        "(cost.value[1d])",
        "count by (channel) (touch{channel=~\"sem_.*\"}[1d] offset 1w)",
        "sum(cost.value[day]) / count(lead[day])",
        "count(complaint[1h]) / count(order[1h]) > 0.05",
        "ratio(count(plan_review{result=\"pass\"}[week]), count(plan_review[week]), "
        "min_denominator=10) < 60%",
        "count(session[5m]) > 3 * count(session[5m] offset 1d)",
        "count(lead{props.mql=\"true\"}[1d]) / count(lead[1d]) < 40%",
        "absent(touch[15m])",
        "count(lead[1d]) > 1.2 * count(lead_handled[1d])",
        "sum by (campaign) (cost.value[1d]) > 1.15 * last by (campaign) (budget.value[30d])",
    };
    (void)state;
    for (size_t i = 0; i < JD_ARRAY_SIZE(cases); i++)
        check_round_trip(cases[i]);
}

/*
 * Regression (expr.c, expr_parse_call, fixed): rules.md's functions take arguments the
 * tree cannot hold: table(NAME) takes a bare name, pct_change(expr, D) a
 * duration, consecutive(N, day|week|month|hour, condition) a period. Call
 * arguments are parsed as full expressions, so the name and the period are
 * read as selectors without a range and the duration is refused as "only
 * valid in a range or after offset" — rules.md's own first example and seed
 * rules 1 and 2 do not parse.
 */
static void test_call_name_argument(void **state)
{
    char err[JD_ERRSTR_SIZE] = "";
    (void)state;
    struct expr_node *n =
        expr_parse("count(lead[1d]) > 1.2 * table(ops_capacity_per_day)", err, sizeof(err));
    expr_free(n);
    if (!n)
        fail_msg("%s", err);
}

static void test_call_duration_argument(void **state)
{
    char err[JD_ERRSTR_SIZE] = "";
    (void)state;
    struct expr_node *n = expr_parse("pct_change(count(lead[1d]), 1d) > "
                                     "pct_change(count(lead_handled[1d]), 1d) + 20%",
                                     err, sizeof(err));
    expr_free(n);
    if (!n)
        fail_msg("%s", err);
}

static void test_call_period_argument(void **state)
{
    char err[JD_ERRSTR_SIZE] = "";
    (void)state;
    struct expr_node *n = expr_parse("consecutive(3, day, sum by (channel) "
                                     "(credit{model=\"linear\"}.value[day]) / sum by (channel) "
                                     "(cost.value[day]) < table(roi_baseline))",
                                     err, sizeof(err));
    expr_free(n);
    if (!n)
        fail_msg("%s", err);
}

/*
 * Regression (expr.c, expr_parse_selector, fixed): rules.md gives the credit stream two
 * fields, `.conversions` (fractional) and `.value`; only value and user_id
 * are accepted.
 */
static void test_credit_conversions_field(void **state)
{
    char err[JD_ERRSTR_SIZE] = "";
    (void)state;
    struct expr_node *n =
        expr_parse("sum by (channel) (credit{model=\"linear\"}.conversions[1d])", err, sizeof(err));
    expr_free(n);
    if (!n)
        fail_msg("%s", err);
}

/* ------------------------------------------------------------ round trip */

static void test_round_trip_cases(void **state)
{
    static const char *const cases[] = {
        "1",
        "0.2",
        "20%",
        "1e-7",
        "1.5e+300",
        "-1",
        "lead[1d] offset 7d",
        "lead[1h30m]",
        "lead[1h1m]",
        "lead{props.tier=\"gold\",campaign!=\"q4\"}[week] offset 2w",
        "touch{channel=~\"a|b\"}[day]",
        "count by (channel) (touch[1d]) > 3",
        "(1 + 2) * (3 - 4) / -5",
        "a[1m] unless b[1m] or c[1m] and d[1m]",
        "ratio(a[1h], b[1h], min_denominator=10)",
        "f(g(h(1)))",
        "distinct by (props.tier) (lead.user_id[month])",
    };
    (void)state;
    for (size_t i = 0; i < JD_ARRAY_SIZE(cases); i++)
        check_round_trip(cases[i]);
}

/*
 * Regression (expr.c, expr_print, fixed): matcher values are printed between double
 * quotes without escaping, so a value holding '"' or '\' formats to text
 * that does not parse, or parses to a different regex (`\\.` -> `\.` -> `.`).
 */
static void test_format_escapes_values(void **state)
{
    (void)state;
    check_round_trip("touch{campaign=~\"q4\\\\..*\"}[1d]"); /* the regex q4\..* */
    check_round_trip("touch{campaign=\"say \\\"hi\\\"\"}[1d]");
}

/* Random valid expressions: they parse, and format/parse is a fixed point. */
static void gen_expr(char *buf, size_t size, size_t *w, int depth);

static void put(char *buf, size_t size, size_t *w, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void put(char *buf, size_t size, size_t *w, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + *w, size - *w, fmt, ap);
    va_end(ap);
    assert_true(n >= 0 && (size_t)n < size - *w);
    *w += (size_t)n;
}

static void gen_selector(char *buf, size_t size, size_t *w, const char *field)
{
    static const char *const types[] = { "lead", "touch", "cost", "plan_review", "credit" };
    static const char *const labels[] = { "channel", "campaign", "props.tier",
                                          "result",  "model",    "props.x_1" };
    static const char *const ops[] = { "=", "!=", "=~", "!~" };
    static const char *const values[] = {
        "douyin", "sem_.*", "a b", "x|y", "", "[a-z]+", "q4-2026"
    };
    static const char *const durs[] = {
        "1m", "5m", "1h", "1h30m", "1d", "7d", "1w", "90m", "2w3d"
    };
    static const char *const periods[] = { "hour", "day", "week", "month" };
    static const char *const offsets[] = { "1h", "1d", "1w", "30m", "36h" };

    put(buf, size, w, "%s", PICK(types));
    size_t nm = splitmix64() % 4;
    if (nm || splitmix64() % 8 == 0) {
        put(buf, size, w, "{");
        for (size_t i = 0; i < nm; i++)
            put(buf, size, w, "%s%s%s%s\"%s\"", i ? "," : "", splitmix64() % 2 ? " " : "",
                PICK(labels), PICK(ops), PICK(values));
        put(buf, size, w, "}");
    }
    put(buf, size, w, "%s[%s]", field, splitmix64() % 3 ? PICK(durs) : PICK(periods));
    if (splitmix64() % 3 == 0)
        put(buf, size, w, " offset %s", PICK(offsets));
}

static void gen_agg(char *buf, size_t size, size_t *w)
{
    static const char *const aggs[] = { "count", "sum", "avg", "min", "max", "last", "distinct" };
    static const char *const bys[] = { "channel", "campaign", "props.tier", "channel, campaign" };
    size_t a = splitmix64() % JD_ARRAY_SIZE(aggs);
    const char *field = a == 6   ? ".user_id"
                        : a == 0 ? (splitmix64() % 2 ? ".value" : "")
                                 : ".value";
    int by = (int)(splitmix64() % 3); /* 0 none, 1 before, 2 after */
    const char *labels = PICK(bys);
    put(buf, size, w, "%s", aggs[a]);
    if (by == 1)
        put(buf, size, w, " by (%s)", labels);
    put(buf, size, w, "%s(", splitmix64() % 2 ? " " : "");
    gen_selector(buf, size, w, field);
    put(buf, size, w, ")");
    if (by == 2)
        put(buf, size, w, " by (%s)", labels);
}

static void gen_expr(char *buf, size_t size, size_t *w, int depth)
{
    static const char *const nums[] = { "0",   "1",    "42",   "0.5", "1e3",
                                        "20%", "3.25", "1e-3", "0.1", "150%" };
    static const char *const binops[] = { "+",  "-",  "*",  "/",   ">",  ">=",    "<",
                                          "<=", "==", "!=", "and", "or", "unless" };
    static const char *const funcs[] = { "ratio", "absent", "clamp" };
    unsigned pickk = (unsigned)(splitmix64() % (depth > 3 ? 3 : 7));
    switch (pickk) {
    case 0:
        put(buf, size, w, "%s", PICK(nums));
        break;
    case 1:
        gen_agg(buf, size, w);
        break;
    case 2:
        gen_selector(buf, size, w, splitmix64() % 2 ? "" : ".value");
        break;
    case 3:
    case 4:
        put(buf, size, w, "(");
        gen_expr(buf, size, w, depth + 1);
        put(buf, size, w, ") %s (", PICK(binops));
        gen_expr(buf, size, w, depth + 1);
        put(buf, size, w, ")");
        break;
    case 5:
        put(buf, size, w, "-(");
        gen_expr(buf, size, w, depth + 1);
        put(buf, size, w, ")");
        break;
    default: {
        size_t nargs = splitmix64() % 4;
        put(buf, size, w, "%s(", PICK(funcs));
        for (size_t i = 0; i < nargs; i++) {
            put(buf, size, w, "%s", i ? ", " : "");
            if (i == 2)
                put(buf, size, w, "min_denominator=");
            gen_expr(buf, size, w, depth + 1);
        }
        put(buf, size, w, ")");
        break;
    }
    }
}

static void test_round_trip_property(void **state)
{
    (void)state;
    rng_state = 51;
    for (int i = 0; i < 3000; i++) {
        char text[8192];
        size_t w = 0;
        gen_expr(text, sizeof(text), &w, 0);
        check_round_trip(text);
    }
}

/*
 * Precedence property: a random operator tree printed with the fewest
 * parentheses PromQL needs (lower precedence, or the same precedence on the
 * right, is wrapped) parses back to the same tree, whose canonical form is
 * the fully parenthesised print.
 */
struct ptree {
    int op; /* -1 leaf, -2 negation, else index into binops */
    int leaf;
    struct ptree *l, *r;
};

static const struct {
    const char *text;
    int prec;
} binops[] = {
    { "or", 1 }, { "and", 2 }, { "unless", 2 }, { ">", 3 }, { ">=", 3 }, { "<", 3 }, { "<=", 3 },
    { "==", 3 }, { "!=", 3 },  { "+", 4 },      { "-", 4 }, { "*", 5 },  { "/", 5 },
};

static struct ptree *ptree_gen(int depth)
{
    struct ptree *t = calloc(1, sizeof(*t));
    assert_non_null(t);
    unsigned k = (unsigned)(splitmix64() % (depth >= 6 ? 1 : 6));
    if (k == 0) {
        t->op = -1;
        t->leaf = (int)(splitmix64() % 100);
    } else if (k == 1) {
        t->op = -2;
        t->l = ptree_gen(depth + 1);
    } else {
        t->op = (int)(splitmix64() % JD_ARRAY_SIZE(binops));
        t->l = ptree_gen(depth + 1);
        t->r = ptree_gen(depth + 1);
    }
    return t;
}

static void ptree_free(struct ptree *t)
{
    if (!t)
        return;
    ptree_free(t->l);
    ptree_free(t->r);
    free(t);
}

/* Leaves alternate between numbers and selectors so both kinds are operands. */
static void ptree_leaf(const struct ptree *t, char *buf, size_t size, size_t *w)
{
    if (t->leaf % 3 == 0)
        put(buf, size, w, "s%d[%dm]", t->leaf, t->leaf % 59 + 1); /* < 1h: prints as given */
    else
        put(buf, size, w, "%d", t->leaf);
}

static void ptree_full(const struct ptree *t, char *buf, size_t size, size_t *w)
{
    if (t->op == -1) {
        ptree_leaf(t, buf, size, w);
    } else if (t->op == -2) {
        /* canonical negation: "-" then the operand (a binary one brings its parentheses) */
        put(buf, size, w, "-");
        ptree_full(t->l, buf, size, w);
    } else {
        put(buf, size, w, "(");
        ptree_full(t->l, buf, size, w);
        put(buf, size, w, " %s ", binops[t->op].text);
        ptree_full(t->r, buf, size, w);
        put(buf, size, w, ")");
    }
}

static void ptree_min(const struct ptree *t, int parent_prec, bool right, char *buf, size_t size,
                      size_t *w)
{
    if (t->op == -1) {
        ptree_leaf(t, buf, size, w);
        return;
    }
    if (t->op == -2) {
        /* unary minus binds tighter than any binary operator: its operand is a primary */
        put(buf, size, w, "-");
        ptree_min(t->l, 99, false, buf, size, w);
        return;
    }
    int prec = binops[t->op].prec;
    bool paren = prec < parent_prec || (prec == parent_prec && right);
    if (paren)
        put(buf, size, w, "(");
    ptree_min(t->l, prec, false, buf, size, w);
    put(buf, size, w, " %s ", binops[t->op].text);
    ptree_min(t->r, prec, true, buf, size, w);
    if (paren)
        put(buf, size, w, ")");
}

static void test_precedence_property(void **state)
{
    (void)state;
    rng_state = 52;
    for (int i = 0; i < 5000; i++) {
        char minimal[16384], full[16384];
        size_t wm = 0, wf = 0;
        struct ptree *t = ptree_gen(0);
        ptree_min(t, 0, false, minimal, sizeof(minimal), &wm);
        ptree_full(t, full, sizeof(full), &wf);
        ptree_free(t);
        struct expr_node *n = parse_ok(minimal);
        char *f = format(n);
        bool ok = !strcmp(f, full);
        if (!ok)
            fprintf(stderr, "'%s'\n  parsed as '%s'\n  want      '%s'\n", minimal, f, full);
        free(f);
        expr_free(n);
        assert_true(ok);
    }
}

/* ---------------------------------------------------------------- errors */

static void test_errors(void **state)
{
    static const struct {
        const char *text;
        unsigned col;
        const char *msg;
    } cases[] = {
        { "count(lead[1d)", 14, "expected ']' to close the range, found ')'" },
        { "lead[week", 10, "expected ']' to close the range, found the end of the expression" },
        { "touch{channel=~\"(\"}[1d]", 16, "bad regular expression \"(\"" },
        { "lead{channel=~\"[a-\"}[1d]", 15, "bad regular expression" },
        { "sum(cost[1d])", 5, "sum() needs a numeric field: sum(cost.value[…])" },
        { "avg by (channel) (cost[1d])", 19, "avg() needs a numeric field" },
        { "min(lead[1d])", 5, "min() needs a numeric field" },
        { "max(credit.conversions[1d])", 5, "max() of .conversions is not kept (only their sum)" },
        { "distinct(lead[1d])", 10, "distinct() counts users: write distinct(lead.user_id[…])" },
        { "distinct(lead.value[1d])", 10, "distinct() counts users" },
        { "count(lead.user_id[1d])", 7, ".user_id can only be counted with distinct()" },
        { "max(lead.user_id[1d])", 5, ".user_id can only be counted with distinct()" },
        { "count(lead[1d]) > 5m", 19,
          "a duration ('5m') is only valid in a range or after offset" },
        { "1h", 1, "a duration ('1h') is only valid in a range or after offset" },
        { "count(lead[1d]) foo", 17, "unexpected 'foo' after the expression" },
        { "lead[1d]]", 9, "unexpected ']' after the expression" },
        { "count(lead[1d]) = 5", 17, "unexpected '=' after the expression" },
        { "touch{channel=\"abc}[1d]", 15, "unterminated string" },
        { "touch{channel='abc}[1d]", 15, "unterminated string" },
        { "lead", 5, "expected a range after 'lead', e.g. lead[1d] or lead[day]" },
        { "lead{channel=\"x\"}", 18, "expected a range after 'lead'" },
        { "lead[]", 6, "expected a duration (30m, 1d) or hour|day|week|month, found ']'" },
        { "lead[year]", 6, "expected a duration (30m, 1d) or hour|day|week|month, found 'year'" },
        { "lead[1x]", 6, "unknown unit in duration '1x'" },
        { "lead[1h30]", 6, "unknown unit in duration" },
        { "lead[1.5h]", 6, "unknown unit in duration" },
        { "lead[0s]", 6, "a range is a whole number of minutes (buckets are 1 minute)" },
        { "lead[90s]", 6, "a range is a whole number of minutes (buckets are 1 minute)" },
        { "lead[1h] offset 30s", 17, "an offset is a whole number of minutes" },
        { "lead[1d] offset", 16, "expected a duration after 'offset', e.g. offset 1w" },
        { "lead[1d] offset 1", 17, "expected a duration after 'offset'" },
        { "lead[1d] offset -1h", 17, "expected a duration after 'offset'" },
        { "lead{Channel=\"x\"}[1d]", 6, "'Channel' is not a label name ([a-z0-9_]{1,64})" },
        { "lead{props.Tier=\"x\"}[1d]", 6, "'Tier' is not a label name" },
        { "lead{props.=\"x\"}[1d]", 12, "expected a props key after 'props.'" },
        { "lead{channel}[1d]", 13, "expected =, !=, =~ or !~ after label 'channel', found '}'" },
        { "lead{channel=x}[1d]", 14, "expected a quoted value for label 'channel'" },
        { "lead{channel=\"x\" campaign=\"y\"}[1d]", 18,
          "expected ',' or '}' in label matchers, found 'campaign'" },
        { "lead{\"x\"=\"y\"}[1d]", 6, "expected a label name, found '\"x\"'" },
        { "lead.cost[1d]", 6, "unknown field 'cost' (fields: value, user_id, conversions)" },
        { "lead.[1d]", 6, "unknown field '['" },
        { "count by channel (lead[1d])", 10, "expected '(' after 'by', found 'channel'" },
        { "count by (Channel) (lead[1d])", 11, "'Channel' is not a label name" },
        { "count by (channel lead[1d])", 19, "expected ',' or ')' in by (…)" },
        { "count by (channel) (lead[1d]) by (campaign)", 31, "'by' given twice" },
        { "count(1)", 7, "count() takes a range selector, e.g. count(lead[1d])" },
        { "count((lead[1d]))", 7, "count() takes a range selector" },
        { "count(lead[1d]", 15,
          "expected ')' after the selector, found the end of the expression" },
        { "count(lead[1d] offset 1d offset 1h)", 26,
          "expected ')' after the selector, found 'offset'" },
        { "1 +", 4, "expected a number, a selector or '(', found the end of the expression" },
        { "count(lead[1d]) > > 1", 19, "expected a number, a selector or '(', found '>'" },
        { "5 and", 6, "expected a number, a selector or '(', found the end of the expression" },
        { "", 1, "expected a number, a selector or '(', found the end of the expression" },
        { "   ", 4, "expected a number, a selector or '(', found the end of the expression" },
        { "(1 + 2", 7, "expected ')', found the end of the expression" },
        { "1 $ 2", 3, "unexpected character '$'" },
        { "count(lead[1d]) ! 1", 17, "unexpected character '!'" },
        { "1.2.3", 1, "invalid number '1.2.3'" },
        { "1e999", 1, "invalid number '1e999'" },
        { "ratio(a[1h], b[1h]", 19, "expected ',' or ')' in the arguments of ratio()" },
        { "ratio(a[1h] b[1h])", 13, "expected ',' or ')' in the arguments of ratio()" },
        { "ratio(min_denominator=)", 23, "expected a number, a selector or '(', found ')'" },
        { "- ", 3, "expected a number, a selector or '(', found the end of the expression" },
    };
    (void)state;
    for (size_t i = 0; i < JD_ARRAY_SIZE(cases); i++) {
        char err[JD_ERRSTR_SIZE] = "", want[64];
        struct expr_node *n = expr_parse(cases[i].text, err, sizeof(err));
        if (n) {
            char *f = format(n);
            expr_free(n);
            fprintf(stderr, "case %zu '%s' parsed as '%s'\n", i, cases[i].text, f);
            free(f);
            fail();
        }
        snprintf(want, sizeof(want), "col %u: ", cases[i].col);
        if (strncmp(err, want, strlen(want)) != 0 || !strstr(err, cases[i].msg))
            fail_msg("case %zu '%s': got '%s', want '%s%s'", i, cases[i].text, err, want,
                     cases[i].msg);
    }
    assert_true(JD_ARRAY_SIZE(cases) >= 25);
}

static void test_error_buffers(void **state)
{
    char err[16];
    (void)state;
    /* no errstr at all */
    assert_null(expr_parse("lead[", NULL, 0));
    assert_null(expr_parse("lead[", err, 0));
    /* a short errstr is truncated, never overrun */
    memset(err, 'x', sizeof(err));
    assert_null(expr_parse("count(lead[1d)", err, 10));
    assert_string_equal(err, "col 14: e");
    assert_int_equal(err[10], 'x');
    memset(err, 'x', sizeof(err));
    assert_null(expr_parse("count(lead[1d)", err, 4));
    assert_string_equal(err, "col");
}

/* expr_format is snprintf-like: the full length, a truncated NUL-terminated text. */
static void test_format_truncation(void **state)
{
    char buf[8];
    (void)state;
    struct expr_node *n = parse_ok("count(lead[1d])");
    memset(buf, 'x', sizeof(buf));
    assert_int_equal(expr_format(n, buf, 6), strlen("count (lead[1d])"));
    assert_string_equal(buf, "count");
    assert_int_equal(buf[6], 'x');
    assert_int_equal(expr_format(n, NULL, 0), strlen("count (lead[1d])"));
    expr_free(n);
    expr_free(NULL);
}

/*
 * Regression (expr.c, fixed): the parser recurses once per '(' or unary '-' with no depth
 * limit, so a rule expression of ~50,000 nested parentheses (100 KB, well
 * within a 1 MiB rule file) overflows the stack and crashes the daemon on
 * load or reload. It should fail with an error instead. Run in a child.
 */
static void test_deep_nesting_does_not_crash(void **state)
{
    (void)state;
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        const size_t depth = 1000000;
        char *text = malloc(2 * depth + 2);
        if (!text)
            _exit(3);
        memset(text, '(', depth);
        text[depth] = '1';
        memset(text + depth + 1, ')', depth);
        text[2 * depth + 1] = '\0';
        char err[JD_ERRSTR_SIZE];
        struct expr_node *n = expr_parse(text, err, sizeof(err));
        (void)n; /* a tree or an error are both fine; _exit skips the leak check */
        memset(text, '-', 2 * depth);
        n = expr_parse(text, err, sizeof(err));
        (void)n;
        _exit(0);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("parsing 1,000,000 nested parentheses killed the process (status %#x)", status);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_selector_plain),
        cmocka_unit_test(test_selector_matchers),
        cmocka_unit_test(test_selector_many_matchers),
        cmocka_unit_test(test_regex_anchored),
        cmocka_unit_test(test_regex_size_bounded),
        cmocka_unit_test(test_fields_ranges_offsets),
        cmocka_unit_test(test_aggregations),
        cmocka_unit_test(test_agg_names),
        cmocka_unit_test(test_precedence),
        cmocka_unit_test(test_binary_tree),
        cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_calls),
        cmocka_unit_test(test_rules_md_examples),
        cmocka_unit_test(test_call_name_argument),
        cmocka_unit_test(test_call_duration_argument),
        cmocka_unit_test(test_call_period_argument),
        cmocka_unit_test(test_credit_conversions_field),
        cmocka_unit_test(test_round_trip_cases),
        cmocka_unit_test(test_format_escapes_values),
        cmocka_unit_test(test_round_trip_property),
        cmocka_unit_test(test_precedence_property),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_error_buffers),
        cmocka_unit_test(test_format_truncation),
        cmocka_unit_test(test_deep_nesting_does_not_crash),
    };
    return cmocka_run_group_tests_name("expr", tests, NULL, NULL);
}
