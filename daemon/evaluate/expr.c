/*
 * expr.c — lexer and precedence-climbing parser for the expression language.
 *
 * Owns the grammar and the checks that need no data: which aggregations take
 * which fields, label names, regex syntax, durations. Precedence, lowest
 * first (as in PromQL): or; and unless; comparisons; + -; * /; unary minus.
 * Evaluation lives in query.c (and the rule engine); this file never reads
 * the store.
 */
#include "evaluate/expr.h"

#include "core/jd.h"
#include "core/ts.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum tok_kind {
    TOK_EOF,
    TOK_IDENT,
    TOK_NUMBER,   /* value in num (pct already applied) */
    TOK_DURATION, /* value in ms */
    TOK_STRING,   /* decoded into str */
    TOK_PUNCT,    /* text in punct */
};

struct tok {
    enum tok_kind kind;
    unsigned col;
    const char *start;
    size_t len;
    double num;
    int64_t ms;
    char punct[3];
    char *str;
};

struct parser {
    const char *text;
    size_t pos;
    struct tok tok; /* current token */
    char *errstr;
    size_t errstr_size;
    bool failed;
    int depth; /* current nesting, bounded by EXPR_MAX_DEPTH */
};

static void expr_fail(struct parser *p, unsigned col, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void expr_fail(struct parser *p, unsigned col, const char *fmt, ...)
{
    if (p->failed)
        return;
    p->failed = true;
    if (!p->errstr || !p->errstr_size)
        return;
    int n = snprintf(p->errstr, p->errstr_size, "col %u: ", col);
    va_list ap;
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < p->errstr_size)
        vsnprintf(p->errstr + n, p->errstr_size - (size_t)n, fmt, ap);
    va_end(ap);
}

/* ----------------------------------------------------------------- lexer */

static void expr_lex(struct parser *p)
{
    const char *t = p->text;
    struct tok *k = &p->tok;

    free(k->str);
    memset(k, 0, sizeof(*k));
    for (;;) {
        while (t[p->pos] && isspace((unsigned char)t[p->pos]))
            p->pos++;
        if (t[p->pos] == '#') { /* comment to end of line */
            while (t[p->pos] && t[p->pos] != '\n')
                p->pos++;
            continue;
        }
        break;
    }
    k->col = (unsigned)p->pos + 1;
    k->start = t + p->pos;
    char c = t[p->pos];
    if (!c) {
        k->kind = TOK_EOF;
        return;
    }
    if (isalpha((unsigned char)c) || c == '_') {
        size_t s = p->pos;
        while (isalnum((unsigned char)t[p->pos]) || t[p->pos] == '_')
            p->pos++;
        k->kind = TOK_IDENT;
        k->len = p->pos - s;
        return;
    }
    if (isdigit((unsigned char)c) || (c == '.' && isdigit((unsigned char)t[p->pos + 1]))) {
        size_t s = p->pos;
        while (isdigit((unsigned char)t[p->pos]) || t[p->pos] == '.')
            p->pos++;
        if ((t[p->pos] == 'e' || t[p->pos] == 'E') &&
            (isdigit((unsigned char)t[p->pos + 1]) ||
             ((t[p->pos + 1] == '+' || t[p->pos + 1] == '-') &&
              isdigit((unsigned char)t[p->pos + 2])))) {
            p->pos += 2;
            while (isdigit((unsigned char)t[p->pos]))
                p->pos++;
        }
        if (isalpha((unsigned char)t[p->pos])) {
            /* a duration: digits glued to units, possibly several (1h30m) */
            while (isalnum((unsigned char)t[p->pos]))
                p->pos++;
            char err[128];
            k->kind = TOK_DURATION;
            k->len = p->pos - s;
            if (ts_parse_duration(t + s, k->len, &k->ms, err, sizeof(err)) != JD_OK)
                expr_fail(p, k->col, "%s", err);
            return;
        }
        char *end;
        errno = 0;
        k->num = strtod(t + s, &end);
        if (end != t + p->pos || errno)
            expr_fail(p, k->col, "invalid number '%.*s'", (int)(p->pos - s), t + s);
        if (t[p->pos] == '%') {
            p->pos++;
            k->num /= 100.0;
        }
        k->kind = TOK_NUMBER;
        k->len = p->pos - s;
        return;
    }
    if (c == '"' || c == '\'') {
        size_t s = ++p->pos, w = 0;
        char *out = malloc(strlen(t + s) + 1);
        if (!out) {
            expr_fail(p, k->col, "out of memory");
            return;
        }
        while (t[p->pos] && t[p->pos] != c) {
            char ch = t[p->pos++];
            if (ch == '\\' && t[p->pos]) {
                char e = t[p->pos++];
                ch = e == 'n' ? '\n' : e == 't' ? '\t' : e;
            }
            out[w++] = ch;
        }
        out[w] = '\0';
        if (t[p->pos] != c) {
            free(out);
            expr_fail(p, k->col, "unterminated string");
            k->kind = TOK_EOF;
            return;
        }
        p->pos++;
        k->kind = TOK_STRING;
        k->str = out;
        k->len = p->pos - s + 1;
        return;
    }
    static const char *const two[] = { ">=", "<=", "==", "!=", "=~", "!~" };
    for (size_t i = 0; i < JD_ARRAY_SIZE(two); i++) {
        if (c == two[i][0] && t[p->pos + 1] == two[i][1]) {
            k->kind = TOK_PUNCT;
            memcpy(k->punct, two[i], 2);
            k->len = 2;
            p->pos += 2;
            return;
        }
    }
    if (strchr("(){}[],.=<>+-*/", c)) {
        k->kind = TOK_PUNCT;
        k->punct[0] = c;
        k->len = 1;
        p->pos++;
        return;
    }
    expr_fail(p, k->col, "unexpected character '%c'", c);
    k->kind = TOK_EOF;
}

static bool expr_is_punct(const struct parser *p, const char *s)
{
    return p->tok.kind == TOK_PUNCT && !strcmp(p->tok.punct, s);
}

static bool expr_is_ident(const struct parser *p, const char *s)
{
    return p->tok.kind == TOK_IDENT && p->tok.len == strlen(s) &&
           !memcmp(p->tok.start, s, p->tok.len);
}

static const char *expr_tok_desc(const struct tok *k, char *buf, size_t size)
{
    if (k->kind == TOK_EOF)
        return "the end of the expression";
    snprintf(buf, size, "'%.*s'", (int)(k->len > 40 ? 40 : k->len), k->start);
    return buf;
}

static bool expr_expect(struct parser *p, const char *punct, const char *what)
{
    char d[64];
    if (expr_is_punct(p, punct)) {
        expr_lex(p);
        return true;
    }
    expr_fail(p, p->tok.col, "expected %s, found %s", what, expr_tok_desc(&p->tok, d, sizeof(d)));
    return false;
}

static char *expr_ident_dup(const struct parser *p)
{
    return strndup(p->tok.start, p->tok.len);
}

/* ---------------------------------------------------------------- tree */

static struct expr_node *expr_node_new(struct parser *p, enum expr_kind kind, unsigned col)
{
    struct expr_node *n = calloc(1, sizeof(*n));
    if (!n) {
        expr_fail(p, col, "out of memory");
        return NULL;
    }
    n->kind = kind;
    n->col = col;
    return n;
}

void expr_free(struct expr_node *n)
{
    if (!n)
        return;
    free(n->type);
    for (size_t i = 0; i < n->nmatchers; i++) {
        free(n->matchers[i].label);
        free(n->matchers[i].value);
        if (n->matchers[i].op == EXPR_MATCH_RE || n->matchers[i].op == EXPR_MATCH_NRE)
            regfree(&n->matchers[i].re);
    }
    free(n->matchers);
    for (size_t i = 0; i < n->nby; i++)
        free(n->by[i]);
    free(n->by);
    expr_free(n->lhs);
    expr_free(n->rhs);
    expr_free(n->arg);
    free(n->func);
    for (size_t i = 0; i < n->nargs; i++) {
        expr_free(n->args[i]);
        if (n->argnames)
            free(n->argnames[i]);
    }
    free(n->args);
    free(n->argnames);
    free(n);
}

/* ---------------------------------------------------------------- parser */

static struct expr_node *expr_parse_or(struct parser *p);

static const char *expr_label_name(const char *s)
{
    return strncmp(s, "props.", 6) ? s : s + 6;
}

static bool expr_valid_label(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
            return false;
    return true;
}

/* label name: IDENT or props.IDENT */
static char *expr_parse_label(struct parser *p)
{
    char d[64];
    if (p->tok.kind != TOK_IDENT) {
        expr_fail(p, p->tok.col, "expected a label name, found %s",
                  expr_tok_desc(&p->tok, d, sizeof(d)));
        return NULL;
    }
    unsigned col = p->tok.col;
    char *name = expr_ident_dup(p);
    expr_lex(p);
    if (name && !strcmp(name, "props") && expr_is_punct(p, ".")) {
        expr_lex(p);
        if (p->tok.kind != TOK_IDENT) {
            free(name);
            expr_fail(p, p->tok.col, "expected a props key after 'props.'");
            return NULL;
        }
        free(name);
        name = expr_ident_dup(p);
        expr_lex(p);
    }
    if (name && !expr_valid_label(expr_label_name(name))) {
        expr_fail(p, col, "'%s' is not a label name ([a-z0-9_]{1,64})", name);
        free(name);
        return NULL;
    }
    return name;
}

/*
 * glibc's regcomp copies the pattern's tree for every bounded or `+`
 * repetition, so a short pattern can ask for gigabytes: " ++++…+" stacks
 * twenty repetitions (a fuzzer found it), "((a{99}){99}){99}" nests three.
 * This bounds the copies before regcomp sees the pattern: a quantifier may
 * not follow another (meaningless in POSIX EREs anyway), a count may not
 * pass 1,000, and the pattern, once repetitions are expanded, may not pass
 * 10,000 atoms. Label values are short; no useful matcher comes near.
 */
#define EXPR_RE_MAX_COUNT 1000
#define EXPR_RE_MAX_ATOMS 10000
#define EXPR_RE_MAX_DEPTH 32

static const char *expr_regex_too_big(const char *re)
{
    size_t size[EXPR_RE_MAX_DEPTH + 1] = { 0 }, last = 0;
    int depth = 0;
    bool quantified = false; /* the previous token was a quantifier */
    for (const char *c = re; *c; c++) {
        size_t mult = 0;
        if (*c == '*' || *c == '?' || *c == '+') {
            mult = *c == '+' ? 2 : 1;
        } else if (*c == '{' && c[1] >= '0' && c[1] <= '9') {
            char *end;
            unsigned long lo = strtoul(c + 1, &end, 10), hi = lo;
            if (*end == ',') { /* {n,m} or the open-ended {n,} */
                end++;
                hi = *end >= '0' && *end <= '9' ? strtoul(end, &end, 10) : lo + 1;
            }
            if (lo > EXPR_RE_MAX_COUNT || hi > EXPR_RE_MAX_COUNT)
                return "a repetition count above 1000";
            mult = hi > 1 ? hi : 1;
            /* end is past the counts, at the brace or at the pattern's end */
            const char *close = strchr(end, '}');
            c = close ? close : c + strlen(c) - 1;
        }
        if (mult) {
            if (quantified)
                return "a quantifier after a quantifier";
            quantified = true;
            size[depth] += last * (mult - 1);
            last *= mult;
        } else {
            quantified = false;
            if (*c == '(') {
                if (depth == EXPR_RE_MAX_DEPTH)
                    return "groups nested too deeply";
                size[++depth] = 0;
                last = 0;
                continue;
            }
            if (*c == ')' && depth > 0) {
                last = size[depth--];
                size[depth] += last;
            } else {
                if (*c == '\\' && c[1])
                    c++;
                else if (*c == '[') /* a bracket expression is one atom: skip to its ']' */
                    for (c += c[1] == '^' ? 2 : 1, c += *c == ']'; *c && *c != ']'; c++)
                        ;
                last = 1;
                size[depth]++;
                if (!*c)
                    break;
            }
        }
        if (size[depth] > EXPR_RE_MAX_ATOMS)
            return "a pattern that expands to more than 10,000 atoms";
    }
    return NULL;
}

static bool expr_parse_matchers(struct parser *p, struct expr_node *n)
{
    char d[64];
    expr_lex(p); /* '{' */
    while (!expr_is_punct(p, "}")) {
        struct expr_matcher m = { 0 };
        unsigned col = p->tok.col;
        if (!(m.label = expr_parse_label(p)))
            return false;
        if (expr_is_punct(p, "="))
            m.op = EXPR_MATCH_EQ;
        else if (expr_is_punct(p, "!="))
            m.op = EXPR_MATCH_NE;
        else if (expr_is_punct(p, "=~"))
            m.op = EXPR_MATCH_RE;
        else if (expr_is_punct(p, "!~"))
            m.op = EXPR_MATCH_NRE;
        else {
            expr_fail(p, p->tok.col, "expected =, !=, =~ or !~ after label '%s', found %s", m.label,
                      expr_tok_desc(&p->tok, d, sizeof(d)));
            free(m.label);
            return false;
        }
        expr_lex(p);
        if (p->tok.kind != TOK_STRING) {
            expr_fail(p, p->tok.col, "expected a quoted value for label '%s'", m.label);
            free(m.label);
            return false;
        }
        m.value = p->tok.str;
        p->tok.str = NULL;
        if (m.op == EXPR_MATCH_RE || m.op == EXPR_MATCH_NRE) {
            /* anchored like PromQL: the whole value must match */
            size_t vl = strlen(m.value);
            const char *big = expr_regex_too_big(m.value);
            if (big) {
                expr_fail(p, p->tok.col, "bad regular expression \"%s\": %s", m.value, big);
                free(m.label);
                free(m.value);
                return false;
            }
            char *anchored = malloc(vl + 5);
            int rc = -1;
            if (anchored) {
                snprintf(anchored, vl + 5, "^(%s)$", m.value);
                rc = regcomp(&m.re, anchored, REG_EXTENDED | REG_NOSUB);
                free(anchored);
            }
            if (rc != 0) {
                char msg[128] = "out of memory";
                if (rc > 0) {
                    regerror(rc, &m.re, msg, sizeof(msg));
                    regfree(&m.re);
                }
                expr_fail(p, p->tok.col, "bad regular expression \"%s\": %s", m.value, msg);
                free(m.label);
                free(m.value);
                return false;
            }
        }
        struct expr_matcher *nm = realloc(n->matchers, (n->nmatchers + 1) * sizeof(*nm));
        if (!nm) {
            expr_fail(p, col, "out of memory");
            free(m.label);
            free(m.value);
            if (m.op == EXPR_MATCH_RE || m.op == EXPR_MATCH_NRE)
                regfree(&m.re);
            return false;
        }
        n->matchers = nm;
        n->matchers[n->nmatchers++] = m;
        expr_lex(p);
        if (expr_is_punct(p, ","))
            expr_lex(p);
        else if (!expr_is_punct(p, "}")) {
            expr_fail(p, p->tok.col, "expected ',' or '}' in label matchers, found %s",
                      expr_tok_desc(&p->tok, d, sizeof(d)));
            return false;
        }
    }
    expr_lex(p);
    return true;
}

/* TYPE [{…}] [.FIELD] [ '[' range ']' ] [offset D] — the caller has seen TYPE. */
static struct expr_node *expr_parse_selector(struct parser *p)
{
    char d[64];
    struct expr_node *n = expr_node_new(p, EXPR_SELECT, p->tok.col);
    if (!n)
        return NULL;
    n->type = expr_ident_dup(p);
    expr_lex(p);
    if (expr_is_punct(p, "{") && !expr_parse_matchers(p, n))
        goto fail;
    if (expr_is_punct(p, ".")) {
        expr_lex(p);
        if (expr_is_ident(p, "value"))
            n->field = EXPR_FIELD_VALUE;
        else if (expr_is_ident(p, "user_id"))
            n->field = EXPR_FIELD_USER_ID;
        else if (expr_is_ident(p, "conversions"))
            n->field = EXPR_FIELD_CONVERSIONS;
        else {
            expr_fail(p, p->tok.col, "unknown field %s (fields: value, user_id, conversions)",
                      expr_tok_desc(&p->tok, d, sizeof(d)));
            goto fail;
        }
        expr_lex(p);
    }
    if (!expr_is_punct(p, "[")) {
        expr_fail(p, p->tok.col, "expected a range after '%s', e.g. %s[1d] or %s[day]", n->type,
                  n->type, n->type);
        goto fail;
    }
    expr_lex(p);
    if (p->tok.kind == TOK_DURATION) {
        n->range = EXPR_RANGE_DURATION;
        n->range_ms = p->tok.ms;
        if (n->range_ms <= 0 || n->range_ms % 60000) {
            expr_fail(p, p->tok.col, "a range is a whole number of minutes (buckets are 1 minute)");
            goto fail;
        }
    } else if (expr_is_ident(p, "hour")) {
        n->range = EXPR_RANGE_HOUR;
    } else if (expr_is_ident(p, "day")) {
        n->range = EXPR_RANGE_DAY;
    } else if (expr_is_ident(p, "week")) {
        n->range = EXPR_RANGE_WEEK;
    } else if (expr_is_ident(p, "month")) {
        n->range = EXPR_RANGE_MONTH;
    } else {
        expr_fail(p, p->tok.col, "expected a duration (30m, 1d) or hour|day|week|month, found %s",
                  expr_tok_desc(&p->tok, d, sizeof(d)));
        goto fail;
    }
    expr_lex(p);
    if (!expr_expect(p, "]", "']' to close the range"))
        goto fail;
    if (expr_is_ident(p, "offset")) {
        expr_lex(p);
        if (p->tok.kind != TOK_DURATION) {
            expr_fail(p, p->tok.col, "expected a duration after 'offset', e.g. offset 1w");
            goto fail;
        }
        n->offset_ms = p->tok.ms;
        if (n->offset_ms % 60000) {
            expr_fail(p, p->tok.col, "an offset is a whole number of minutes");
            goto fail;
        }
        expr_lex(p);
    }
    if (p->failed)
        goto fail;
    return n;
fail:
    expr_free(n);
    return NULL;
}

static const char *const expr_agg_names[] = { "count", "sum",  "avg",     "min",
                                              "max",   "last", "distinct" };

const char *expr_agg_name(enum expr_agg a)
{
    return expr_agg_names[a];
}

static bool expr_parse_by(struct parser *p, struct expr_node *n)
{
    expr_lex(p); /* by */
    if (!expr_expect(p, "(", "'(' after 'by'"))
        return false;
    while (!expr_is_punct(p, ")")) {
        char *l = expr_parse_label(p);
        if (!l)
            return false;
        char **nb = realloc(n->by, (n->nby + 1) * sizeof(*nb));
        if (!nb) {
            free(l);
            expr_fail(p, p->tok.col, "out of memory");
            return false;
        }
        n->by = nb;
        /* store the plain label name: props.tier and tier are the same label */
        char *plain = strdup(expr_label_name(l));
        free(l);
        if (!plain) {
            expr_fail(p, p->tok.col, "out of memory");
            return false;
        }
        n->by[n->nby++] = plain;
        if (expr_is_punct(p, ","))
            expr_lex(p);
        else if (!expr_is_punct(p, ")")) {
            expr_fail(p, p->tok.col, "expected ',' or ')' in by (…)");
            return false;
        }
    }
    expr_lex(p);
    return true;
}

/* AGG [by (…)] ( selector ) [by (…)] */
static struct expr_node *expr_parse_agg(struct parser *p, enum expr_agg agg)
{
    struct expr_node *n = expr_node_new(p, EXPR_AGG, p->tok.col);
    if (!n)
        return NULL;
    n->agg = agg;
    expr_lex(p);
    if (expr_is_ident(p, "by") && !expr_parse_by(p, n))
        goto fail;
    if (!expr_expect(p, "(", "'(' after the aggregation"))
        goto fail;
    if (p->tok.kind != TOK_IDENT) {
        expr_fail(p, p->tok.col, "%s() takes a range selector, e.g. %s(lead[1d])",
                  expr_agg_names[agg], expr_agg_names[agg]);
        goto fail;
    }
    if (!(n->arg = expr_parse_selector(p)))
        goto fail;
    if (!expr_expect(p, ")", "')' after the selector"))
        goto fail;
    if (expr_is_ident(p, "by")) {
        if (n->nby) {
            expr_fail(p, p->tok.col, "'by' given twice");
            goto fail;
        }
        if (!expr_parse_by(p, n))
            goto fail;
    }
    /* which fields each aggregation takes */
    enum expr_field f = n->arg->field;
    if (agg == EXPR_AGG_DISTINCT && f != EXPR_FIELD_USER_ID) {
        expr_fail(p, n->arg->col, "distinct() counts users: write distinct(%s.user_id[…])",
                  n->arg->type);
        goto fail;
    }
    if (agg != EXPR_AGG_DISTINCT && f == EXPR_FIELD_USER_ID) {
        expr_fail(p, n->arg->col, ".user_id can only be counted with distinct()");
        goto fail;
    }
    if (f == EXPR_FIELD_CONVERSIONS &&
        (agg == EXPR_AGG_MIN || agg == EXPR_AGG_MAX || agg == EXPR_AGG_LAST)) {
        expr_fail(p, n->arg->col,
                  "%s() of .conversions is not kept (only their sum): use sum(%s.conversions[…])",
                  expr_agg_names[agg], n->arg->type);
        goto fail;
    }
    if (agg != EXPR_AGG_COUNT && agg != EXPR_AGG_DISTINCT && f != EXPR_FIELD_VALUE &&
        f != EXPR_FIELD_CONVERSIONS) {
        expr_fail(p, n->arg->col, "%s() needs a numeric field: %s(%s.value[…])",
                  expr_agg_names[agg], expr_agg_names[agg], n->arg->type);
        goto fail;
    }
    return n;
fail:
    expr_free(n);
    return NULL;
}

/* NAME ( [name=]expr, … ) — functions belong to the rule engine; the tree is generic. */
static struct expr_node *expr_parse_call(struct parser *p)
{
    struct expr_node *n = expr_node_new(p, EXPR_CALL, p->tok.col);
    if (!n)
        return NULL;
    n->func = expr_ident_dup(p);
    expr_lex(p);
    expr_lex(p); /* '(' */
    while (!expr_is_punct(p, ")") && !p->failed) {
        char *argname = NULL;
        if (p->tok.kind == TOK_IDENT) {
            /* name=value? look ahead without consuming */
            size_t save = p->pos;
            const char *s = p->text + save;
            while (isspace((unsigned char)*s))
                s++;
            if (*s == '=' && s[1] != '=' && s[1] != '~') {
                argname = expr_ident_dup(p);
                expr_lex(p);
                expr_lex(p); /* '=' */
            }
        }
        struct expr_node *a = NULL;
        const char *after = p->text + p->pos;
        while (isspace((unsigned char)*after))
            after++;
        if (p->tok.kind == TOK_DURATION && (*after == ',' || *after == ')')) {
            /* a duration argument: pct_change(x, 1d) */
            if ((a = expr_node_new(p, EXPR_DURATION, p->tok.col)))
                a->range_ms = p->tok.ms;
            expr_lex(p);
        } else if (p->tok.kind == TOK_IDENT && (*after == ',' || *after == ')')) {
            /* a bare name: table(NAME), consecutive(3, day, …) */
            if ((a = expr_node_new(p, EXPR_NAME, p->tok.col)) && !(a->func = expr_ident_dup(p)))
                expr_fail(p, p->tok.col, "out of memory");
            expr_lex(p);
        } else {
            a = expr_parse_or(p);
        }
        if (!a || p->failed) {
            expr_free(a);
            free(argname);
            goto fail;
        }
        struct expr_node **na = realloc(n->args, (n->nargs + 1) * sizeof(*na));
        char **nn = realloc(n->argnames, (n->nargs + 1) * sizeof(*nn));
        if (na)
            n->args = na;
        if (nn)
            n->argnames = nn;
        if (!na || !nn) {
            expr_free(a);
            free(argname);
            expr_fail(p, p->tok.col, "out of memory");
            goto fail;
        }
        n->args[n->nargs] = a;
        n->argnames[n->nargs] = argname;
        n->nargs++;
        if (expr_is_punct(p, ","))
            expr_lex(p);
        else if (!expr_is_punct(p, ")")) {
            expr_fail(p, p->tok.col, "expected ',' or ')' in the arguments of %s()", n->func);
            goto fail;
        }
    }
    if (!expr_expect(p, ")", "')'"))
        goto fail;
    return n;
fail:
    expr_free(n);
    return NULL;
}

static struct expr_node *expr_parse_primary_inner(struct parser *p);

/* Every recursion goes through here, so nesting depth is bounded for any input. */
static struct expr_node *expr_parse_primary(struct parser *p)
{
    if (++p->depth > EXPR_MAX_DEPTH) {
        expr_fail(p, p->tok.col, "expression nested more than %d levels deep", EXPR_MAX_DEPTH);
        p->depth--;
        return NULL;
    }
    struct expr_node *n = expr_parse_primary_inner(p);
    p->depth--;
    return n;
}

static struct expr_node *expr_parse_primary_inner(struct parser *p)
{
    char d[64];
    unsigned col = p->tok.col;

    if (p->failed)
        return NULL;
    if (p->tok.kind == TOK_NUMBER) {
        struct expr_node *n = expr_node_new(p, EXPR_NUMBER, col);
        if (n)
            n->number = p->tok.num;
        expr_lex(p);
        return n;
    }
    if (expr_is_punct(p, "(")) {
        expr_lex(p);
        struct expr_node *n = expr_parse_or(p);
        if (n && !expr_expect(p, ")", "')'")) {
            expr_free(n);
            return NULL;
        }
        return n;
    }
    if (expr_is_punct(p, "-")) {
        expr_lex(p);
        struct expr_node *n = expr_node_new(p, EXPR_NEG, col);
        if (n && !(n->lhs = expr_parse_primary(p))) {
            expr_free(n);
            return NULL;
        }
        return n;
    }
    if (p->tok.kind == TOK_IDENT) {
        for (size_t i = 0; i < JD_ARRAY_SIZE(expr_agg_names); i++) {
            if (expr_is_ident(p, expr_agg_names[i])) {
                /* an aggregation if followed by '(' or 'by'; else a type of that name */
                const char *s = p->text + p->pos;
                while (isspace((unsigned char)*s))
                    s++;
                if (*s == '(' || !strncmp(s, "by", 2))
                    return expr_parse_agg(p, (enum expr_agg)i);
            }
        }
        const char *s = p->text + p->pos;
        while (isspace((unsigned char)*s))
            s++;
        if (*s == '(')
            return expr_parse_call(p);
        return expr_parse_selector(p);
    }
    if (p->tok.kind == TOK_DURATION) {
        expr_fail(p, col, "a duration ('%.*s') is only valid in a range or after offset",
                  (int)p->tok.len, p->tok.start);
        return NULL;
    }
    expr_fail(p, col, "expected a number, a selector or '(', found %s",
              expr_tok_desc(&p->tok, d, sizeof(d)));
    return NULL;
}

static const struct {
    const char *text;
    enum expr_op op;
    int prec;
} expr_ops[] = {
    { "or", EXPR_OP_OR, 1 }, { "and", EXPR_OP_AND, 2 }, { "unless", EXPR_OP_UNLESS, 2 },
    { ">", EXPR_OP_GT, 3 },  { ">=", EXPR_OP_GE, 3 },   { "<", EXPR_OP_LT, 3 },
    { "<=", EXPR_OP_LE, 3 }, { "==", EXPR_OP_EQ, 3 },   { "!=", EXPR_OP_NE, 3 },
    { "+", EXPR_OP_ADD, 4 }, { "-", EXPR_OP_SUB, 4 },   { "*", EXPR_OP_MUL, 5 },
    { "/", EXPR_OP_DIV, 5 },
};

const char *expr_op_name(enum expr_op op)
{
    for (size_t i = 0; i < JD_ARRAY_SIZE(expr_ops); i++)
        if (expr_ops[i].op == op)
            return expr_ops[i].text;
    return "?";
}

static int expr_current_op(const struct parser *p, enum expr_op *op)
{
    for (size_t i = 0; i < JD_ARRAY_SIZE(expr_ops); i++) {
        bool word = isalpha((unsigned char)expr_ops[i].text[0]);
        if ((word && expr_is_ident(p, expr_ops[i].text)) ||
            (!word && expr_is_punct(p, expr_ops[i].text))) {
            *op = expr_ops[i].op;
            return expr_ops[i].prec;
        }
    }
    return 0;
}

/* Precedence climbing: all binary operators are left-associative. */
static struct expr_node *expr_parse_binary(struct parser *p, int min_prec)
{
    struct expr_node *lhs = expr_parse_primary(p);
    enum expr_op op;
    int prec;

    while (lhs && !p->failed && (prec = expr_current_op(p, &op)) >= min_prec && prec > 0) {
        unsigned col = p->tok.col;
        expr_lex(p);
        struct expr_node *rhs = expr_parse_binary(p, prec + 1);
        if (!rhs) {
            expr_free(lhs);
            return NULL;
        }
        struct expr_node *b = expr_node_new(p, EXPR_BINARY, col);
        if (!b) {
            expr_free(lhs);
            expr_free(rhs);
            return NULL;
        }
        b->op = op;
        b->lhs = lhs;
        b->rhs = rhs;
        lhs = b;
    }
    if (p->failed) {
        expr_free(lhs);
        return NULL;
    }
    return lhs;
}

static struct expr_node *expr_parse_or(struct parser *p)
{
    return expr_parse_binary(p, 1);
}

struct expr_node *expr_parse(const char *text, char *errstr, size_t errstr_size)
{
    struct parser p = { text, 0, { 0 }, errstr, errstr_size, false, 0 };
    char d[64];

    expr_lex(&p);
    struct expr_node *n = expr_parse_or(&p);
    if (n && p.tok.kind != TOK_EOF && !p.failed)
        expr_fail(&p, p.tok.col, "unexpected %s after the expression",
                  expr_tok_desc(&p.tok, d, sizeof(d)));
    free(p.tok.str);
    if (p.failed) {
        expr_free(n);
        return NULL;
    }
    return n;
}

/* -------------------------------------------------------------- printing */

struct expr_out {
    char *buf;
    size_t size, len;
};

static void expr_put(struct expr_out *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void expr_put(struct expr_out *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(o->len < o->size ? o->buf + o->len : NULL,
                      o->len < o->size ? o->size - o->len : 0, fmt, ap);
    va_end(ap);
    if (n > 0)
        o->len += (size_t)n;
}

static void expr_print(const struct expr_node *n, struct expr_out *o)
{
    static const char *const match_ops[] = { "=", "!=", "=~", "!~" };
    static const char *const ranges[] = { "", "hour", "day", "week", "month" };
    char dur[32];

    switch (n->kind) {
    case EXPR_NUMBER:
        expr_put(o, "%.17g", n->number);
        break;
    case EXPR_SELECT:
        expr_put(o, "%s", n->type);
        if (n->nmatchers) {
            expr_put(o, "{");
            for (size_t i = 0; i < n->nmatchers; i++) {
                expr_put(o, "%s%s%s\"", i ? "," : "", n->matchers[i].label,
                         match_ops[n->matchers[i].op]);
                for (const char *c = n->matchers[i].value; *c; c++)
                    expr_put(o, "%s%c", *c == '"' || *c == '\\' ? "\\" : "", *c);
                expr_put(o, "\"");
            }
            expr_put(o, "}");
        }
        if (n->field == EXPR_FIELD_VALUE)
            expr_put(o, ".value");
        else if (n->field == EXPR_FIELD_USER_ID)
            expr_put(o, ".user_id");
        else if (n->field == EXPR_FIELD_CONVERSIONS)
            expr_put(o, ".conversions");
        if (n->range == EXPR_RANGE_DURATION) {
            ts_format_duration(n->range_ms, dur, sizeof(dur));
            expr_put(o, "[%s]", dur);
        } else {
            expr_put(o, "[%s]", ranges[n->range]);
        }
        if (n->offset_ms) {
            ts_format_duration(n->offset_ms, dur, sizeof(dur));
            expr_put(o, " offset %s", dur);
        }
        break;
    case EXPR_AGG:
        expr_put(o, "%s", expr_agg_names[n->agg]);
        if (n->nby) {
            expr_put(o, " by (");
            for (size_t i = 0; i < n->nby; i++)
                expr_put(o, "%s%s", i ? ", " : "", n->by[i]);
            expr_put(o, ")");
        }
        expr_put(o, " (");
        expr_print(n->arg, o);
        expr_put(o, ")");
        break;
    case EXPR_BINARY:
        expr_put(o, "(");
        expr_print(n->lhs, o);
        expr_put(o, " %s ", expr_op_name(n->op));
        expr_print(n->rhs, o);
        expr_put(o, ")");
        break;
    case EXPR_NEG:
        expr_put(o, "-");
        expr_print(n->lhs, o);
        break;
    case EXPR_NAME:
        expr_put(o, "%s", n->func);
        break;
    case EXPR_DURATION:
        ts_format_duration(n->range_ms, dur, sizeof(dur));
        expr_put(o, "%s", dur);
        break;
    case EXPR_CALL:
        expr_put(o, "%s(", n->func);
        for (size_t i = 0; i < n->nargs; i++) {
            if (i)
                expr_put(o, ", ");
            if (n->argnames[i])
                expr_put(o, "%s=", n->argnames[i]);
            expr_print(n->args[i], o);
        }
        expr_put(o, ")");
        break;
    }
}

size_t expr_format(const struct expr_node *n, char *buf, size_t size)
{
    struct expr_out o = { buf, size, 0 };
    if (size)
        buf[0] = '\0';
    expr_print(n, &o);
    return o.len;
}
