/*
 * template.c — compiler and renderer of annotation templates.
 *
 * Owns the template grammar, the compiled form (literal parts and typed
 * expression trees, all in one allocation list freed together) and the
 * number formats of pct, humanize and printf. It borrows the numbers and
 * labels of a rendering and keeps nothing between calls. Every check that
 * can fail happens at compile time, so rendering is total: it writes
 * snprintf-style into the caller's buffer and never allocates.
 */
#include "evaluate/template.h"

#include "core/jd.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum tpl_type { TPL_NUM, TPL_STR };

enum tpl_kind {
    TPL_LIT_NUM,
    TPL_LIT_STR,
    TPL_VALUE,
    TPL_THRESHOLD,
    TPL_LABEL,
    TPL_NEG,
    TPL_ADD,
    TPL_SUB,
    TPL_MUL,
    TPL_DIV,
    TPL_PCT,
    TPL_HUMANIZE,
    TPL_PRINTF,
    TPL_TITLE,
    TPL_UPPER,
    TPL_LOWER
};

struct tpl_node {
    enum tpl_kind kind;
    enum tpl_type type;
    unsigned col;
    double num;             /* TPL_LIT_NUM */
    const char *str;        /* TPL_LIT_STR text, TPL_LABEL name */
    struct tpl_node *a, *b; /* operands; a function's (last) argument */
    /* TPL_PRINTF: the format split around its one conversion, "%%" undone */
    const char *pre, *post;
    char conv;     /* 0 (none), 's', 'd' or a floating conversion */
    char spec[40]; /* the numeric conversion rebuilt for snprintf */
};

struct tpl_part {
    const char *lit; /* literal text, or NULL for an action */
    size_t len;
    const struct tpl_node *expr;
};

/* Every node and string of a template hangs off one list, so errors free nothing by hand. */
struct tpl_mem {
    struct tpl_mem *next;
    max_align_t data[];
};

struct template
{
    struct tpl_part *parts;
    size_t nparts, cap;
    struct tpl_mem *mem;
    bool is_static;
};

static const struct {
    const char *name;
    enum tpl_kind kind;
    enum tpl_type arg;
} tpl_funcs[] = {
    { "pct", TPL_PCT, TPL_NUM },       { "humanize", TPL_HUMANIZE, TPL_NUM },
    { "printf", TPL_PRINTF, TPL_STR }, { "title", TPL_TITLE, TPL_STR },
    { "toUpper", TPL_UPPER, TPL_STR }, { "toLower", TPL_LOWER, TPL_STR },
};

/* ================================================================ compile */

enum tok_kind {
    TOK_EOF,   /* end of the text (the action is unclosed), or after an error */
    TOK_END,   /* "}}" */
    TOK_NUM,   /* num */
    TOK_STR,   /* decoded into str */
    TOK_VAR,   /* var; a label's name in start/len */
    TOK_IDENT, /* start/len */
    TOK_PUNCT, /* one of ( ) , + - * / */
};

struct tok {
    enum tok_kind kind;
    unsigned col;
    const char *start;
    size_t len;
    double num;
    char *str;
    enum tpl_kind var;
    char punct;
};

struct tpl_parser {
    const char *text;
    size_t pos;
    unsigned action_col; /* where the current "{{" is */
    struct tok tok;
    struct template *t;
    int depth;
    bool failed;
    char *errstr;
    size_t errstr_size;
};

/* Records the first error only; @returns NULL, so parsers can `return tpl_fail(...)`. */
static __attribute__((format(printf, 3, 4))) void *tpl_fail(struct tpl_parser *p, unsigned col,
                                                            const char *fmt, ...)
{
    va_list ap;
    int n;

    if (!p->failed && p->errstr && p->errstr_size &&
        (n = snprintf(p->errstr, p->errstr_size, "col %u: ", col)) > 0 &&
        (size_t)n < p->errstr_size) {
        va_start(ap, fmt);
        vsnprintf(p->errstr + n, p->errstr_size - (size_t)n, fmt, ap);
        va_end(ap);
    }
    p->failed = true;
    p->tok.kind = TOK_EOF;
    return NULL;
}

/* Zeroed memory owned by the template under construction. */
static void *tpl_alloc(struct tpl_parser *p, size_t n)
{
    struct tpl_mem *m = calloc(1, sizeof(*m) + n);
    if (!m)
        return tpl_fail(p, p->action_col, "out of memory");
    m->next = p->t->mem;
    p->t->mem = m;
    return m->data;
}

static char *tpl_strndup(struct tpl_parser *p, const char *s, size_t n)
{
    char *d = tpl_alloc(p, n + 1);
    if (d)
        memcpy(d, s, n);
    return d;
}

static bool tpl_is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static size_t tpl_ident_len(const char *s)
{
    size_t n = 0;
    if (isalpha((unsigned char)s[0]) || s[0] == '_')
        while (isalnum((unsigned char)s[n]) || s[n] == '_')
            n++;
    return n;
}

/* "…" with \" \\ \n \t, or `raw`. */
static void tpl_lex_string(struct tpl_parser *p, struct tok *k)
{
    const char *t = p->text;
    char q = t[p->pos++];
    size_t w = 0, end = p->pos;

    while (t[end] && t[end] != q) /* size the copy: the text up to the closing quote */
        end += t[end] == '\\' && q == '"' && t[end + 1] ? 2 : 1;
    char *out = tpl_alloc(p, end - p->pos + 1);

    k->kind = TOK_STR;
    k->str = out;
    while (out && t[p->pos] != q) {
        char c = t[p->pos++];
        if (!c) {
            tpl_fail(p, k->col, "unterminated string");
            return;
        }
        if (c == '\\' && q == '"') {
            c = t[p->pos];
            if (!c || !strchr("\"\\nt", c)) {
                tpl_fail(p, (unsigned)p->pos, "unknown escape '\\%c' (use \\\" \\\\ \\n \\t)",
                         c ? c : ' ');
                return;
            }
            p->pos++;
            c = c == 'n' ? '\n' : c == 't' ? '\t' : c;
        }
        out[w++] = c;
    }
    p->pos++;
}

static void tpl_lex_var(struct tpl_parser *p, struct tok *k)
{
    const char *v = p->text + p->pos + 1;
    size_t n = tpl_ident_len(v);

    k->kind = TOK_VAR;
    p->pos += 1 + n;
    if (n == 5 && !memcmp(v, "value", 5)) {
        k->var = TPL_VALUE;
    } else if (n == 9 && !memcmp(v, "threshold", 9)) {
        k->var = TPL_THRESHOLD;
    } else if (n == 6 && !memcmp(v, "labels", 6)) {
        k->var = TPL_LABEL;
        k->start = v + 7;
        k->len = v[6] == '.' ? tpl_ident_len(k->start) : 0;
        if (!k->len)
            tpl_fail(p, k->col, "expected $labels.NAME");
        p->pos += 1 + k->len;
    } else if (!n) {
        tpl_fail(p, k->col, "expected a variable name after '$'");
    } else {
        tpl_fail(p, k->col, "unknown variable '$%.*s' (known: $value, $threshold, $labels.NAME)",
                 (int)JD_MIN(n, 40), v);
    }
}

static void tpl_lex_number(struct tpl_parser *p, struct tok *k)
{
    const char *t = p->text;
    size_t s = p->pos;
    char tmp[64], *end;

    /* take every character glued to the number, so that "2x" is one bad number */
    while (isalnum((unsigned char)t[p->pos]) || t[p->pos] == '.' || t[p->pos] == '_' ||
           ((t[p->pos] == '+' || t[p->pos] == '-') && strchr("eE", t[p->pos - 1])))
        p->pos++;
    size_t n = JD_MIN(p->pos - s, sizeof(tmp) - 1);
    memcpy(tmp, t + s, n);
    tmp[n] = '\0';
    errno = 0;
    k->kind = TOK_NUM;
    k->num = strtod(tmp, &end); /* decimal only: the charset check keeps out hex and "inf" */
    if (p->pos - s != n || tmp[strspn(tmp, "0123456789.eE+-")] || *end || errno)
        tpl_fail(p, k->col, "invalid number '%s'", tmp);
}

/* Reads the next token of the current action. */
static void tpl_lex(struct tpl_parser *p)
{
    const char *t = p->text;
    struct tok *k = &p->tok;

    memset(k, 0, sizeof(*k));
    if (p->failed)
        return;
    while (tpl_is_space(t[p->pos]))
        p->pos++;
    k->col = (unsigned)p->pos + 1;
    k->start = t + p->pos;
    char c = t[p->pos];
    if (!c)
        return;
    if (c == '}' && t[p->pos + 1] == '}') {
        k->kind = TOK_END;
        p->pos += 2;
    } else if ((k->len = tpl_ident_len(t + p->pos))) {
        k->kind = TOK_IDENT;
        p->pos += k->len;
    } else if (isdigit((unsigned char)c) || (c == '.' && isdigit((unsigned char)t[p->pos + 1]))) {
        tpl_lex_number(p, k);
    } else if (c == '"' || c == '`') {
        tpl_lex_string(p, k);
    } else if (c == '$') {
        tpl_lex_var(p, k);
    } else if (strchr("(),+-*/", c)) {
        k->kind = TOK_PUNCT;
        k->punct = c;
        p->pos++;
    } else {
        tpl_fail(p, k->col,
                 isprint((unsigned char)c) ? "unexpected character '%c'" : "unexpected byte 0x%02x",
                 (unsigned char)c);
    }
}

static bool tpl_is_punct(const struct tpl_parser *p, char c)
{
    return p->tok.kind == TOK_PUNCT && p->tok.punct == c;
}

/* The current token is not \p what; at the end of the text, "{{" is unclosed. */
static void *tpl_unexpected(struct tpl_parser *p, const char *what)
{
    const struct tok *k = &p->tok;

    if (k->kind == TOK_EOF)
        return tpl_fail(p, p->action_col, "unclosed action: '{{' without '}}'");
    if (k->kind == TOK_STR)
        return tpl_fail(p, k->col, "expected %s, found a string", what);
    return tpl_fail(p, k->col, "expected %s, found '%.*s'", what,
                    (int)JD_MIN((size_t)(p->text + p->pos - k->start), 40), k->start);
}

static struct tpl_node *tpl_node(struct tpl_parser *p, enum tpl_kind kind, enum tpl_type type,
                                 unsigned col)
{
    struct tpl_node *n = tpl_alloc(p, sizeof(*n));
    if (n) {
        n->kind = kind;
        n->type = type;
        n->col = col;
    }
    return n;
}

/*
 * Splits printf's format \p s around its one conversion into \p n. Only
 * what can be checked here is accepted, and the spec later given to
 * snprintf is rebuilt from the parsed pieces, never the user's text.
 */
static struct tpl_node *tpl_parse_fmt(struct tpl_parser *p, unsigned col, const char *s,
                                      struct tpl_node *n)
{
    char *lit = tpl_alloc(p, strlen(s) + 1), flags[6] = "", width_txt[12] = "";
    size_t w = 0, conv_at = 0;
    int width = 0, prec = -1;

    for (size_t i = 0; lit && s[i]; i++) {
        if (s[i] != '%' || s[i + 1] == '%') {
            lit[w++] = s[i];
            i += s[i] == '%';
            continue;
        }
        const char *spec = s + i++;
        if (n->conv)
            return tpl_fail(p, col, "printf: only one conversion is allowed");
        for (; s[i] && strchr("-+ 0#", s[i]); i++)
            if (!strchr(flags, s[i]))
                flags[strlen(flags)] = s[i];
        for (; isdigit((unsigned char)s[i]) && width <= 64; i++)
            width = width * 10 + (s[i] - '0');
        if (s[i] == '.')
            for (prec = 0, i++; isdigit((unsigned char)s[i]); i++)
                prec = JD_MIN(prec * 10 + (s[i] - '0'), 99);
        char c = s[i];
        int len = (int)(s + i + (c != 0) - spec);
        if (width > 64 || prec > 64)
            return tpl_fail(p, col, "printf: width and precision are at most 64");
        if (!c || !strchr("fFeEgGds", c))
            return tpl_fail(p, col,
                            "printf: unsupported conversion '%.*s' (use %%f %%e %%g %%d %%s)", len,
                            spec);
        if ((c == 's' && (*flags || width || prec >= 0)) ||
            (c == 'd' && (strchr(flags, '#') || prec >= 0)))
            return tpl_fail(p, col, "printf: %%%c does not take the flags or precision of '%.*s'",
                            c, len, spec);
        n->conv = c;
        if (width)
            snprintf(width_txt, sizeof(width_txt), "%d", width);
        /* %d of a double: rounded half away from zero at render time, printed with %.0f */
        if (c == 'd' || prec < 0)
            prec = c == 'd' ? 0 : 6;
        snprintf(n->spec, sizeof(n->spec), "%%%s%s.%d%c", flags, width_txt, prec,
                 c == 'd' ? 'f' : c);
        conv_at = w;
    }
    if (!lit || !(n->pre = tpl_strndup(p, lit, n->conv ? conv_at : w)))
        return NULL;
    n->post = n->conv ? lit + conv_at : "";
    return n;
}

/* Checks a call's arguments against its function and builds its node. */
static struct tpl_node *tpl_make_call(struct tpl_parser *p, size_t fi, unsigned col,
                                      struct tpl_node *const *args, size_t nargs)
{
    struct tpl_node *n = tpl_node(p, tpl_funcs[fi].kind, TPL_STR, col);
    struct tpl_node *arg = nargs ? args[nargs - 1] : NULL;
    enum tpl_type want = tpl_funcs[fi].arg;
    char what[48];

    snprintf(what, sizeof(what), "%s", tpl_funcs[fi].name);
    if (n && n->kind == TPL_PRINTF) {
        if (nargs == 0 || args[0]->kind != TPL_LIT_STR)
            return tpl_fail(p, nargs ? args[0]->col : col,
                            "printf needs a string literal as its format");
        if (!tpl_parse_fmt(p, args[0]->col, args[0]->str, n))
            return NULL;
        if (nargs != (n->conv ? 2u : 1u))
            return tpl_fail(p, col, "printf: the format has %d conversion%s but %zu argument%s",
                            n->conv != 0, n->conv ? "" : "s", nargs - 1, nargs == 2 ? "" : "s");
        if (!n->conv)
            return n;
        want = n->conv == 's' ? TPL_STR : TPL_NUM;
        snprintf(what, sizeof(what), "printf: %%%c", n->conv);
    } else if (n && nargs != 1) {
        return tpl_fail(p, col, "%s takes 1 argument, found %zu", what, nargs);
    }
    if (n && arg->type != want)
        return tpl_fail(p, arg->col, "%s needs %s, found %s", what,
                        want == TPL_NUM ? "a number" : "a string",
                        arg->type == TPL_NUM ? "a number" : "a string");
    if (n)
        n->a = arg;
    return n;
}

static struct tpl_node *tpl_parse_binary(struct tpl_parser *p, int level);

static bool tpl_starts_expr(const struct tpl_parser *p)
{
    enum tok_kind k = p->tok.kind;
    return k == TOK_NUM || k == TOK_STR || k == TOK_VAR || k == TOK_IDENT || tpl_is_punct(p, '(') ||
           tpl_is_punct(p, '-');
}

/*
 * `f(a, b)`, or the prefix form `f a b` whose arguments run to the end of
 * the action or of the enclosing parentheses (`pct $v - 1` is pct($v - 1)).
 */
static struct tpl_node *tpl_parse_call(struct tpl_parser *p)
{
    unsigned col = p->tok.col;
    struct tpl_node *args[3];
    size_t fi = 0, nargs = 0;

    while (fi < JD_ARRAY_SIZE(tpl_funcs) && (strlen(tpl_funcs[fi].name) != p->tok.len ||
                                             memcmp(tpl_funcs[fi].name, p->tok.start, p->tok.len)))
        fi++;
    if (fi == JD_ARRAY_SIZE(tpl_funcs))
        return tpl_fail(p, col, "unknown function '%.*s' (known: %s)", (int)JD_MIN(p->tok.len, 40),
                        p->tok.start, "pct, humanize, printf, title, toUpper, toLower");
    /* call style only when '(' touches the name: `pct ($a - 1)` is the prefix form */
    bool paren = p->text[p->pos] == '(';
    tpl_lex(p);
    if (paren)
        tpl_lex(p);
    while (paren ? !tpl_is_punct(p, ')') : tpl_starts_expr(p)) {
        if (paren && nargs > 0 && !tpl_is_punct(p, ','))
            return tpl_unexpected(p, "',' or ')'");
        if (paren && nargs > 0)
            tpl_lex(p);
        if (nargs == JD_ARRAY_SIZE(args))
            return tpl_fail(p, col, "%s: too many arguments", tpl_funcs[fi].name);
        if (!(args[nargs++] = tpl_parse_binary(p, 0)))
            return NULL;
    }
    if (paren)
        tpl_lex(p);
    return p->failed ? NULL : tpl_make_call(p, fi, col, args, nargs);
}

static struct tpl_node *tpl_parse_primary(struct tpl_parser *p)
{
    struct tok *k = &p->tok;
    struct tpl_node *n = NULL;

    switch (k->kind) {
    case TOK_NUM:
        if ((n = tpl_node(p, TPL_LIT_NUM, TPL_NUM, k->col)))
            n->num = k->num;
        break;
    case TOK_STR:
        if ((n = tpl_node(p, TPL_LIT_STR, TPL_STR, k->col)))
            n->str = k->str;
        break;
    case TOK_VAR:
        n = tpl_node(p, k->var, k->var == TPL_LABEL ? TPL_STR : TPL_NUM, k->col);
        if (n && k->var == TPL_LABEL)
            n->str = tpl_strndup(p, k->start, k->len);
        break;
    case TOK_IDENT:
        return tpl_parse_call(p);
    default:
        if (!tpl_is_punct(p, '('))
            return tpl_unexpected(p, "a number, a string, a variable or a function");
        tpl_lex(p);
        if ((n = tpl_parse_binary(p, 0)) && !tpl_is_punct(p, ')'))
            return tpl_unexpected(p, "')'");
        break;
    }
    tpl_lex(p);
    return p->failed ? NULL : n;
}

/* Levels, loosest first: 0 is + -, 1 is * /, 2 is unary minus over a primary. */
static struct tpl_node *tpl_parse_binary(struct tpl_parser *p, int level)
{
    struct tpl_node *lhs, *rhs, *n;
    unsigned col = p->tok.col;

    if (level == 2) {
        if (++p->depth > TEMPLATE_MAX_DEPTH)
            return tpl_fail(p, col, "nesting deeper than %d", TEMPLATE_MAX_DEPTH);
        if (!tpl_is_punct(p, '-')) {
            n = tpl_parse_primary(p);
        } else {
            tpl_lex(p);
            if ((lhs = tpl_parse_binary(p, 2)) && lhs->type != TPL_NUM)
                tpl_fail(p, col, "'-' needs a number, found a string");
            if ((n = p->failed ? NULL : tpl_node(p, TPL_NEG, TPL_NUM, col)))
                n->a = lhs;
        }
        p->depth--;
        return p->failed ? NULL : n;
    }
    lhs = tpl_parse_binary(p, level + 1);
    while (lhs && p->tok.kind == TOK_PUNCT && strchr(level ? "*/" : "+-", p->tok.punct)) {
        char op = p->tok.punct;
        col = p->tok.col;
        tpl_lex(p);
        if ((rhs = tpl_parse_binary(p, level + 1)) &&
            (lhs->type != TPL_NUM || rhs->type != TPL_NUM))
            return tpl_fail(p, col, "'%c' needs numbers, found a string", op);
        enum tpl_kind kind = op == '+'   ? TPL_ADD
                             : op == '-' ? TPL_SUB
                             : op == '*' ? TPL_MUL
                                         : TPL_DIV;
        if (!(n = p->failed ? NULL : tpl_node(p, kind, TPL_NUM, col)))
            return NULL;
        n->a = lhs;
        n->b = rhs;
        lhs = n;
    }
    return lhs;
}

/* Appends a literal (copied; empty ones are dropped) or an action. */
static void tpl_add_part(struct tpl_parser *p, const char *lit, size_t len,
                         const struct tpl_node *expr)
{
    struct template *t = p->t;
    if (p->failed || (lit && !len))
        return;
    if (!jd_reserve((void **)&t->parts, &t->cap, t->nparts + 1, sizeof(*t->parts)) ||
        (lit && !(lit = tpl_strndup(p, lit, len))))
        tpl_fail(p, p->action_col, "out of memory");
    else
        t->parts[t->nparts++] = (struct tpl_part){ .lit = lit, .len = len, .expr = expr };
}

/* Compiles the action whose "{{" is at p->pos; leaves p->pos after its "}}". */
static struct tpl_node *tpl_parse_action(struct tpl_parser *p)
{
    struct tpl_node *n = NULL;

    p->action_col = (unsigned)p->pos + 1;
    p->pos += 2;
    tpl_lex(p);
    if (p->tok.kind == TOK_END)
        tpl_fail(p, p->action_col, "empty action");
    else if ((n = tpl_parse_binary(p, 0)) && p->tok.kind != TOK_END)
        tpl_unexpected(p, "'}}'");
    return p->failed ? NULL : n;
}

struct template *template_compile(const char *text, char *errstr, size_t errstr_size)
{
    struct tpl_parser p = { .text = text, .errstr = errstr, .errstr_size = errstr_size };
    size_t n = strlen(text);

    if (n > TEMPLATE_MAX_TEXT)
        return tpl_fail(&p, TEMPLATE_MAX_TEXT + 1, "template longer than %d bytes",
                        TEMPLATE_MAX_TEXT);
    if (!(p.t = calloc(1, sizeof(*p.t))))
        return tpl_fail(&p, 1, "out of memory");
    p.t->is_static = true;
    while (!p.failed && p.pos < n) {
        const char *open = strstr(text + p.pos, "{{");
        size_t end = open ? (size_t)(open - text) : n;

        tpl_add_part(&p, text + p.pos, end - p.pos, NULL);
        if (!open)
            break;
        p.pos = end;
        tpl_add_part(&p, NULL, 0, tpl_parse_action(&p));
        p.t->is_static = false;
    }
    if (p.failed) {
        template_destroy(p.t);
        return NULL;
    }
    return p.t;
}

void template_destroy(struct template *t)
{
    if (!t)
        return;
    while (t->mem) {
        struct tpl_mem *next = t->mem->next;
        free(t->mem);
        t->mem = next;
    }
    free(t->parts);
    free(t);
}

bool template_is_static(const struct template *t)
{
    return t->is_static;
}

/* ================================================================= render */

/* Room for one formatted number: %f of 1e308 with a width and precision of 64 fits. */
#define TPL_TMP 400

/* snprintf-style output: counts every byte, stores those that fit before the NUL. */
struct sink {
    char *buf;
    size_t cap, len; /* cap: bytes storable before the NUL */
};

static void sink_put(struct sink *s, const char *p, size_t n)
{
    if (s->len < s->cap)
        memcpy(s->buf + s->len, p, JD_MIN(n, s->cap - s->len));
    s->len += n;
}

static void sink_puts(struct sink *s, const char *p)
{
    sink_put(s, p, strlen(p));
}

size_t template_format_number(double v, char *buf, size_t size)
{
    char tmp[32];

    if (!isfinite(v))
        return (size_t)snprintf(buf, size, "%s", TEMPLATE_ABSENT);
    v += 0.0; /* -0 becomes 0 */
    if (v == trunc(v) && fabs(v) < 1e15)
        return (size_t)snprintf(buf, size, "%.0f", v);
    for (int prec = 1; prec <= 17; prec++)
        if (snprintf(tmp, sizeof(tmp), "%.*g", prec, v) > 0 && strtod(tmp, NULL) == v)
            break;
    return (size_t)snprintf(buf, size, "%s", tmp);
}

/* 0.23 -> "23%": whole percents from 10 % up, below that up to one decimal (0.055 -> "5.5%"). */
static const char *tpl_pct(double x, char tmp[static TPL_TMP])
{
    double p = x * 100, r = fabs(p) >= 10 ? round(p) : round(p * 10) / 10 + 0.0;

    if (!isfinite(p))
        return TEMPLATE_ABSENT;
    int n = snprintf(tmp, TPL_TMP - 1, fabs(p) >= 10 ? "%.0f" : "%.1f", r);
    if (n >= 2 && !strcmp(tmp + n - 2, ".0"))
        n -= 2;
    memcpy(tmp + n, "%", 2);
    return tmp;
}

/*
 * Prometheus's humanize (SI prefixes, %.4g), except that a value rounding
 * up to 1000 takes the next prefix: "1M", not "1000k".
 */
static const char *tpl_humanize(double v, char tmp[static TPL_TMP])
{
    static const char *const up[] = { "", "k", "M", "G", "T", "P", "E", "Z", "Y" };
    static const char *const down[] = { "", "m", "u", "n", "p", "f", "a", "z", "y" };
    int k = 0;

    if (!isfinite(v))
        return TEMPLATE_ABSENT;
    for (; v != 0 && fabs(v) >= 1000 && k < 8; k++)
        v /= 1000;
    for (; v != 0 && fabs(v) < 1 && k > -8; k--)
        v *= 1000;
    snprintf(tmp, TPL_TMP, "%.4g", v);
    if (fabs(strtod(tmp, NULL)) >= 1000 && k < 8) {
        v /= 1000;
        k++;
    }
    snprintf(tmp, TPL_TMP, "%.4g%s", v + 0.0, k >= 0 ? up[k] : down[-k]);
    return tmp;
}

/* ASCII only: other UTF-8 bytes pass through unchanged. */
static void tpl_map_case(struct sink *s, size_t from, enum tpl_kind kind)
{
    bool in_word = false;
    for (size_t i = from; i < JD_MIN(s->len, s->cap); i++) {
        unsigned char c = (unsigned char)s->buf[i];
        if (kind == TPL_UPPER || (kind == TPL_TITLE && !in_word))
            s->buf[i] = (char)toupper(c);
        else if (kind == TPL_LOWER)
            s->buf[i] = (char)tolower(c);
        in_word = isalnum(c) || c == '_' || c >= 0x80; /* Go's strings.Title word characters */
    }
}

static const char *tpl_label(const struct template_ctx *ctx, const char *name)
{
    for (size_t i = 0; i < ctx->nlabels; i++)
        if (ctx->labels[i].name && ctx->labels[i].value && !strcmp(ctx->labels[i].name, name))
            return ctx->labels[i].value;
    return "";
}

/* A number node's value; NaN stands for "absent". */
static double tpl_eval_num(const struct tpl_node *n, const struct template_ctx *ctx)
{
    switch (n->kind) {
    case TPL_LIT_NUM:
        return n->num;
    case TPL_VALUE:
        return ctx->has_value ? ctx->value : NAN;
    case TPL_THRESHOLD:
        return ctx->has_threshold ? ctx->threshold : NAN;
    case TPL_NEG:
        return -tpl_eval_num(n->a, ctx);
    case TPL_ADD:
        return tpl_eval_num(n->a, ctx) + tpl_eval_num(n->b, ctx);
    case TPL_SUB:
        return tpl_eval_num(n->a, ctx) - tpl_eval_num(n->b, ctx);
    case TPL_MUL:
        return tpl_eval_num(n->a, ctx) * tpl_eval_num(n->b, ctx);
    case TPL_DIV: {
        double d = tpl_eval_num(n->b, ctx);
        return d == 0 ? NAN : tpl_eval_num(n->a, ctx) / d; /* rules.md: x/0 has no value */
    }
    default:
        return NAN;
    }
}

/* Writes a node's text: strings as they are, numbers as template_format_number() does. */
static void tpl_eval(const struct tpl_node *n, const struct template_ctx *ctx, struct sink *s)
{
    size_t from = s->len;
    char tmp[TPL_TMP];
    double v;

    switch (n->kind) {
    case TPL_LIT_STR:
        sink_puts(s, n->str);
        break;
    case TPL_LABEL:
        sink_puts(s, tpl_label(ctx, n->str));
        break;
    case TPL_PCT:
        sink_puts(s, tpl_pct(tpl_eval_num(n->a, ctx), tmp));
        break;
    case TPL_HUMANIZE:
        sink_puts(s, tpl_humanize(tpl_eval_num(n->a, ctx), tmp));
        break;
    case TPL_PRINTF:
        sink_puts(s, n->pre);
        v = n->conv && n->conv != 's' ? tpl_eval_num(n->a, ctx) : 0;
        if (n->conv == 's')
            tpl_eval(n->a, ctx, s);
        else if (n->conv && !isfinite(v))
            sink_puts(s, TEMPLATE_ABSENT);
        else if (n->conv &&
                 snprintf(tmp, sizeof(tmp), n->spec, n->conv == 'd' ? round(v) + 0.0 : v))
            sink_puts(s, tmp);
        sink_puts(s, n->post);
        break;
    case TPL_TITLE:
    case TPL_UPPER:
    case TPL_LOWER:
        tpl_eval(n->a, ctx, s);
        tpl_map_case(s, from, n->kind);
        break;
    default:
        sink_put(s, tmp, template_format_number(tpl_eval_num(n, ctx), tmp, sizeof(tmp)));
        break;
    }
}

size_t template_render(const struct template *t, const struct template_ctx *ctx, char *buf,
                       size_t size)
{
    static const struct template_ctx none;
    struct sink s = { .buf = buf, .cap = buf && size ? size - 1 : 0 };

    for (size_t i = 0; i < t->nparts; i++) {
        if (t->parts[i].lit)
            sink_put(&s, t->parts[i].lit, t->parts[i].len);
        else
            tpl_eval(t->parts[i].expr, ctx ? ctx : &none, &s);
    }
    if (buf && size)
        buf[JD_MIN(s.len, s.cap)] = '\0';
    return s.len;
}
