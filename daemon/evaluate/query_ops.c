/*
 * query_ops.c — how vectors combine: operators, the rule functions and rule
 * conditions.
 *
 * Owns label-set matching, arithmetic (exact while both sides are exact),
 * comparisons as filters that remember what they compared with ($threshold),
 * `and/or/unless`, table lookups, ratio(), pct_change(), absent() and
 * consecutive(). "No value" (division by zero, a ratio under its
 * min_denominator, a table without row or default) is carried as a sample
 * marked `none`, so a rule can tell it from a series that is simply absent.
 * Reading windows is query.c's business.
 */
#include "evaluate/query_int.h"

#include "core/tz.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Label-set keys of a whole result, computed once for matching. */
struct query_keys {
    char **k;
    size_t n;
};

static void query_keys_free(struct query_keys *ks)
{
    for (size_t i = 0; i < ks->n; i++)
        free(ks->k[i]);
    free(ks->k);
    ks->k = NULL;
    ks->n = 0;
}

static bool query_keys_build(const struct query_result *r, struct query_keys *ks)
{
    ks->n = 0;
    ks->k = r->n ? calloc(r->n, sizeof(*ks->k)) : NULL;
    if (r->n && !ks->k)
        return false;
    for (size_t i = 0; i < r->n; i++) {
        size_t len = query_labels_key(&r->v[i], NULL, 0);
        if (!(ks->k[i] = malloc(len + 1))) {
            ks->n = i;
            query_keys_free(ks);
            return false;
        }
        query_labels_key(&r->v[i], ks->k[i], len + 1);
    }
    ks->n = r->n;
    return true;
}

/* Index of the sample of \p ks with key \p key, or SIZE_MAX. */
static size_t query_keys_find(const struct query_keys *ks, const char *key)
{
    for (size_t i = 0; i < ks->n; i++)
        if (!strcmp(ks->k[i], key))
            return i;
    return SIZE_MAX;
}

/* ---------------------------------------------------------- tables */

bool query_table_lookup(const struct query_table *t, const struct query_label *labels,
                        size_t nlabels, double *out)
{
    for (size_t r = 0; r < t->nrows; r++) {
        bool hit = true;
        for (size_t b = 0; b < t->nby && hit; b++) {
            const char *v = "";
            for (size_t i = 0; i < nlabels; i++)
                if (!strcmp(labels[i].name, t->by[b]))
                    v = labels[i].value;
            hit = !strcmp(v, t->rows[r].values[b]);
        }
        if (hit) {
            *out = t->rows[r].value;
            return true;
        }
    }
    if (!t->has_default)
        return false;
    *out = t->dflt;
    return true;
}

/* A table result's value for a series, as a scalar sample (none when missing). */
static struct query_sample query_table_sample(const struct query_result *tab,
                                              const struct query_sample *for_series)
{
    struct query_sample s = { 0 };
    double v;
    s.kind = QUERY_FLOAT;
    if (query_table_lookup(tab->table, for_series->labels, for_series->nlabels, &v)) {
        s.value = tab->scale * v + tab->shift;
        s.has_tableval = true;
        s.tableval = v;
    } else {
        s.none = true;
    }
    return s;
}

/* ---------------------------------------------------------- arithmetic */

static bool query_is_cmp(enum expr_op op)
{
    return op >= EXPR_OP_GT && op <= EXPR_OP_NE;
}

static bool query_is_set(enum expr_op op)
{
    return op == EXPR_OP_AND || op == EXPR_OP_OR || op == EXPR_OP_UNLESS;
}

static bool query_cmp(enum expr_op op, double a, double b)
{
    switch (op) {
    case EXPR_OP_GT:
        return a > b;
    case EXPR_OP_GE:
        return a >= b;
    case EXPR_OP_LT:
        return a < b;
    case EXPR_OP_LE:
        return a <= b;
    case EXPR_OP_EQ:
        return a == b;
    case EXPR_OP_NE:
        return a != b;
    default:
        return false;
    }
}

/* Arithmetic on two values into out's value; sets out->none on division by zero. */
static void query_arith(enum expr_op op, const struct query_sample *a, const struct query_sample *b,
                        struct query_sample *out)
{
    bool exact = a->kind != QUERY_FLOAT && b->kind != QUERY_FLOAT;
    out->kind = QUERY_FLOAT;
    out->none = a->none || b->none;
    /* a table value scaled or shifted by plain numbers stays that table's value */
    if (a->has_tableval != b->has_tableval) {
        out->has_tableval = true;
        out->tableval = a->has_tableval ? a->tableval : b->tableval;
    }
    if (out->none)
        return;
    switch (op) {
    case EXPR_OP_ADD:
    case EXPR_OP_SUB:
        if (exact) {
            /* int and micros: add in micros, keep exact */
            jd_i128 x = a->kind == QUERY_INT ? a->micros * 1000000 : a->micros;
            jd_i128 y = b->kind == QUERY_INT ? b->micros * 1000000 : b->micros;
            out->micros = op == EXPR_OP_ADD ? x + y : x - y;
            out->kind = QUERY_MICROS;
            if (a->kind == QUERY_INT && b->kind == QUERY_INT) {
                out->kind = QUERY_INT;
                out->micros /= 1000000;
                out->value = (double)out->micros;
            } else {
                out->value = (double)out->micros / 1e6;
            }
            return;
        }
        out->value = op == EXPR_OP_ADD ? a->value + b->value : a->value - b->value;
        return;
    case EXPR_OP_MUL:
        out->value = a->value * b->value;
        return;
    case EXPR_OP_DIV:
        if (b->value == 0)
            out->none = true;
        else
            out->value = a->value / b->value;
        return;
    default:
        out->none = true;
    }
}

/*
 * One pair of a binary operation. \p keep is the side whose labels (and, for
 * comparisons, value) the result keeps. Comparisons drop pairs that do not
 * hold unless \p keep_false (rule conditions), recording the outcome in *truth.
 */
static enum jd_err query_pair(struct query_ctx *c, enum expr_op op, const struct query_sample *a,
                              const struct query_sample *b, const struct query_sample *keep,
                              const struct query_sample *other, bool keep_false,
                              struct query_result *out, enum query_truth *truth)
{
    struct query_sample res = { 0 };
    enum query_truth t = QUERY_TRUE;
    if (query_is_cmp(op)) {
        if (a->none || b->none)
            t = QUERY_NO_DATA;
        else if (!query_cmp(op, a->value, b->value))
            t = QUERY_FALSE;
        if (t != QUERY_TRUE && !keep_false)
            return JD_OK;
        res = *keep;
        res.labels = NULL;
        res.nlabels = 0;
        res.has_threshold = !other->none;
        res.threshold = other->has_tableval ? other->tableval : other->value;
        res.has_tableval = false;
    } else {
        query_arith(op, a, b, &res);
        /* a threshold survives arithmetic with plain numbers (x > 5) * 100 */
        res.has_threshold = keep->has_threshold;
        res.threshold = keep->threshold;
    }
    if (!query_copy_labels(&res, keep->labels, keep->nlabels) || !query_push(out, &res)) {
        query_sample_free(&res);
        return query_nomem(c);
    }
    if (truth)
        *truth = t;
    return JD_OK;
}

/* Applies a scalar operation to a table result (scale/shift), when it stays affine. */
static enum jd_err query_table_affine(struct query_ctx *c, const struct expr_node *e,
                                      struct query_result *tab, double k, bool table_left,
                                      struct query_result *out)
{
    double s = tab->scale, h = tab->shift;
    switch (e->op) {
    case EXPR_OP_ADD:
        h += k;
        break;
    case EXPR_OP_SUB:
        if (table_left) {
            h -= k;
        } else {
            s = -s;
            h = k - h;
        }
        break;
    case EXPR_OP_MUL:
        s *= k;
        h *= k;
        break;
    case EXPR_OP_DIV:
        if (table_left && k != 0) {
            s /= k;
            h /= k;
            break;
        }
        /* fall through */
    default:
        return jd_errf(JD_ERR_INVALID, c->errstr, c->errstr_size,
                       "col %u: a per-label table() can only be scaled or shifted by numbers, or "
                       "compared with series",
                       e->col);
    }
    *out = *tab;
    memset(tab, 0, sizeof(*tab));
    out->scale = s;
    out->shift = h;
    return JD_OK;
}

static enum jd_err query_set_op(struct query_ctx *c, enum expr_op op, struct query_result *l,
                                struct query_result *r, struct query_result *out)
{
    struct query_keys kl = { 0 }, kr = { 0 };
    enum jd_err err = JD_OK;
    if (!query_keys_build(l, &kl) || !query_keys_build(r, &kr)) {
        err = query_nomem(c);
        goto out;
    }
    for (size_t i = 0; i < l->n; i++) {
        size_t j = query_keys_find(&kr, kl.k[i]);
        bool in_r = j != SIZE_MAX && !r->v[j].none;
        if ((op == EXPR_OP_UNLESS) == in_r)
            continue;
        if (op == EXPR_OP_AND && l->v[i].none)
            continue;
        if (!query_push(out, &l->v[i])) {
            err = query_nomem(c);
            goto out;
        }
        l->v[i].labels = NULL;
        l->v[i].nlabels = 0;
    }
    for (size_t j = 0; op == EXPR_OP_OR && j < r->n; j++) {
        if (query_keys_find(&kl, kr.k[j]) != SIZE_MAX)
            continue;
        if (!query_push(out, &r->v[j])) {
            err = query_nomem(c);
            goto out;
        }
        r->v[j].labels = NULL;
        r->v[j].nlabels = 0;
    }
out:
    query_keys_free(&kl);
    query_keys_free(&kr);
    return err;
}

/*
 * The vector part of a binary operation on evaluated operands. \p truth,
 * when given, receives one entry per output sample (rule conditions keep
 * failing comparisons).
 */
static enum jd_err query_combine(struct query_ctx *c, const struct expr_node *e,
                                 struct query_result *l, struct query_result *r,
                                 struct query_result *out, enum query_truth **truth)
{
    struct query_keys kr = { 0 };
    enum jd_err err = JD_OK;
    bool keep_false = truth != NULL;
    enum query_truth *tv = NULL;
    size_t cap = (l->scalar ? r->n : l->n) + 1;

    if (query_is_set(e->op)) {
        if (l->scalar || r->scalar || l->table || r->table)
            return jd_errf(JD_ERR_INVALID, c->errstr, c->errstr_size,
                           "col %u: '%s' needs series on both sides, not numbers or tables", e->col,
                           expr_op_name(e->op));
        return query_set_op(c, e->op, l, r, out);
    }
    if (l->table && r->table)
        return jd_errf(JD_ERR_INVALID, c->errstr, c->errstr_size,
                       "col %u: '%s' between two tables: compare a series with a table instead",
                       e->col, expr_op_name(e->op));
    if ((l->table && r->scalar) || (r->table && l->scalar)) {
        if (query_is_cmp(e->op))
            return jd_errf(JD_ERR_INVALID, c->errstr, c->errstr_size,
                           "col %u: comparing a table with a number: compare a series instead",
                           e->col);
        return l->table ? query_table_affine(c, e, l, r->v[0].value, true, out)
                        : query_table_affine(c, e, r, l->v[0].value, false, out);
    }
    if (truth && !(tv = calloc(cap, sizeof(*tv))))
        return query_nomem(c);
    out->scalar = l->scalar && r->scalar;

    if (l->table || r->table) {
        /* each series against its own row of the table */
        struct query_result *ser = l->table ? r : l, *tab = l->table ? l : r;
        for (size_t i = 0; i < ser->n && !err; i++) {
            struct query_sample t = query_table_sample(tab, &ser->v[i]);
            const struct query_sample *a = l->table ? &t : &ser->v[i];
            const struct query_sample *b = l->table ? &ser->v[i] : &t;
            err = query_pair(c, e->op, a, b, &ser->v[i], &t, keep_false, out,
                             tv ? &tv[out->n] : NULL);
        }
        goto out;
    }
    if (l->scalar || r->scalar) {
        struct query_result *ser = l->scalar ? r : l;
        const struct query_sample *num = l->scalar ? &l->v[0] : &r->v[0];
        for (size_t i = 0; i < ser->n && !err; i++) {
            const struct query_sample *a = l->scalar ? num : &ser->v[i];
            const struct query_sample *b = l->scalar ? &ser->v[i] : num;
            const struct query_sample *keep = out->scalar ? a : &ser->v[i];
            err = query_pair(c, e->op, a, b, keep, keep == a ? b : a, keep_false, out,
                             tv ? &tv[out->n] : NULL);
        }
        goto out;
    }
    /* series on both sides: pairs with equal label sets */
    if (!query_keys_build(r, &kr)) {
        err = query_nomem(c);
        goto out;
    }
    for (size_t i = 0; i < l->n && !err; i++) {
        size_t klen = query_labels_key(&l->v[i], NULL, 0);
        char *k = malloc(klen + 1);
        if (!k) {
            err = query_nomem(c);
            break;
        }
        query_labels_key(&l->v[i], k, klen + 1);
        size_t j = query_keys_find(&kr, k);
        free(k);
        if (j != SIZE_MAX)
            err = query_pair(c, e->op, &l->v[i], &r->v[j], &l->v[i], &r->v[j], keep_false, out,
                             tv ? &tv[out->n] : NULL);
    }
out:
    query_keys_free(&kr);
    if (err) {
        free(tv);
        return err;
    }
    if (truth)
        *truth = tv;
    return JD_OK;
}

enum jd_err query_eval_binary(struct query_ctx *c, const struct expr_node *e,
                              struct query_result *out)
{
    struct query_result l = { 0 }, r = { 0 };
    enum jd_err err;
    if (!(err = query_eval_node(c, e->lhs, &l)) && !(err = query_eval_node(c, e->rhs, &r)))
        err = query_combine(c, e, &l, &r, out, NULL);
    query_result_free(&l);
    query_result_free(&r);
    return err;
}

/* ---------------------------------------------------------- functions */

static const struct expr_node *query_arg(const struct expr_node *e, const char *name, size_t pos)
{
    for (size_t i = 0; i < e->nargs; i++)
        if (e->argnames[i] && !strcmp(e->argnames[i], name))
            return e->args[i];
    size_t k = 0;
    for (size_t i = 0; i < e->nargs; i++)
        if (!e->argnames[i] && k++ == pos)
            return e->args[i];
    return NULL;
}

static enum jd_err query_fn_table(struct query_ctx *c, const struct expr_node *e,
                                  struct query_result *out)
{
    const struct expr_node *a = query_arg(e, "name", 0);
    for (size_t i = 0; a && a->kind == EXPR_NAME && i < c->env->ntables; i++) {
        const struct query_table *t = &c->env->tables[i];
        if (strcmp(t->name, a->func))
            continue;
        if (t->nby == 0) {
            struct query_sample s = { 0 };
            s.kind = QUERY_FLOAT;
            s.value = s.tableval = t->dflt;
            s.has_tableval = true;
            s.none = !t->has_default;
            out->scalar = true;
            return query_push(out, &s) ? JD_OK : query_nomem(c);
        }
        out->table = t;
        out->scale = 1;
        out->shift = 0;
        return JD_OK;
    }
    return jd_errf(JD_ERR_INVALID, c->errstr, c->errstr_size, "col %u: unknown table %s",
                   a ? a->col : e->col, a && a->kind == EXPR_NAME ? a->func : "(none)");
}

/* Evaluates \p e at another instant (pct_change, consecutive). */
static enum jd_err query_eval_at(struct query_ctx *c, const struct expr_node *e, int64_t at,
                                 struct query_result *out)
{
    struct query_ctx sub = *c;
    sub.at = at;
    return query_eval_node(&sub, e, out);
}

static enum jd_err query_fn_ratio(struct query_ctx *c, const struct expr_node *e,
                                  struct query_result *out)
{
    const struct expr_node *num = query_arg(e, "numerator", 0),
                           *den = query_arg(e, "denominator", 1);
    const struct expr_node *min = query_arg(e, "min_denominator", 2);
    struct query_result l = { 0 }, r = { 0 };
    struct expr_node div = { 0 };
    enum jd_err err;

    div.kind = EXPR_BINARY;
    div.op = EXPR_OP_DIV;
    div.col = e->col;
    if ((err = query_eval_node(c, num, &l)) || (err = query_eval_node(c, den, &r)))
        goto out;
    if (min) {
        /* a denominator below the minimum is no value, not a small one */
        for (size_t i = 0; i < r.n; i++)
            if (!r.v[i].none && r.v[i].value < min->number)
                r.v[i].none = true;
    }
    err = query_combine(c, &div, &l, &r, out, NULL);
out:
    query_result_free(&l);
    query_result_free(&r);
    return err;
}

static enum jd_err query_fn_pct_change(struct query_ctx *c, const struct expr_node *e,
                                       struct query_result *out)
{
    const struct expr_node *x = query_arg(e, "expr", 0), *d = query_arg(e, "offset", 1);
    struct query_result now = { 0 }, then = { 0 }, q = { 0 }, one = { 0 };
    struct expr_node div = { 0 }, sub = { 0 };
    struct query_sample s1 = { 0 };
    enum jd_err err;

    div.kind = sub.kind = EXPR_BINARY;
    div.op = EXPR_OP_DIV;
    sub.op = EXPR_OP_SUB;
    div.col = sub.col = e->col;
    s1.kind = QUERY_INT;
    s1.micros = 1;
    s1.value = 1;
    one.scalar = true;
    if ((err = query_eval_node(c, x, &now)) ||
        (err = query_eval_at(c, x, c->at - d->range_ms, &then)))
        goto out;
    if (!query_push(&one, &s1)) {
        err = query_nomem(c);
        goto out;
    }
    if (!(err = query_combine(c, &div, &now, &then, &q, NULL)))
        err = query_combine(c, &sub, &q, &one, out, NULL);
out:
    query_result_free(&now);
    query_result_free(&then);
    query_result_free(&q);
    query_result_free(&one);
    return err;
}

static enum jd_err query_fn_absent(struct query_ctx *c, const struct expr_node *e,
                                   struct query_result *out)
{
    const struct expr_node *x = query_arg(e, "expr", 0);
    struct query_result r = { 0 };
    enum jd_err err;

    c->no_zero_fill++;
    err = query_eval_node(c, x, &r);
    c->no_zero_fill--;
    if (err)
        return err;
    bool any = false;
    for (size_t i = 0; i < r.n; i++)
        any |= !r.v[i].none;
    query_result_free(&r);
    if (any)
        return JD_OK;
    /* like Prometheus: the result carries the selector's equality matchers as labels */
    const struct expr_node *sel = x;
    while (sel && sel->kind == EXPR_AGG)
        sel = sel->arg;
    struct query_label lab[16];
    size_t nl = 0;
    for (size_t i = 0; sel && sel->kind == EXPR_SELECT && i < sel->nmatchers && nl < 16; i++)
        if (sel->matchers[i].op == EXPR_MATCH_EQ)
            lab[nl++] = (struct query_label){ sel->matchers[i].label, sel->matchers[i].value };
    struct query_sample s = { 0 };
    s.kind = QUERY_INT;
    s.micros = 1;
    s.value = 1;
    if (!query_copy_labels(&s, lab, nl) || !query_push(out, &s)) {
        query_sample_free(&s);
        return query_nomem(c);
    }
    return JD_OK;
}

static enum tz_period query_period(const char *name)
{
    return !strcmp(name, "hour")   ? TZ_HOUR
           : !strcmp(name, "day")  ? TZ_DAY
           : !strcmp(name, "week") ? TZ_WEEK
                                   : TZ_MONTH;
}

static enum jd_err query_fn_consecutive(struct query_ctx *c, const struct expr_node *e,
                                        struct query_result *out)
{
    const struct expr_node *nn = query_arg(e, "n", 0), *per = query_arg(e, "period", 1);
    const struct expr_node *cond = query_arg(e, "condition", 2);
    struct query_result first = { 0 };
    struct query_keys kf = { 0 };
    bool *alive = NULL;
    enum jd_err err;

    if (nn->kind != EXPR_NUMBER || per->kind != EXPR_NAME)
        return jd_errf(JD_ERR_INVALID, c->errstr, c->errstr_size,
                       "col %u: consecutive(N, period, condition)", e->col);
    if (!c->env->tz)
        return jd_errf(JD_ERR_INVALID, c->errstr, c->errstr_size,
                       "col %u: consecutive() needs a timezone", e->col);
    enum tz_period p = query_period(per->func);
    int n = (int)nn->number;
    int64_t start = tz_period_start(c->env->tz, p, c->at);
    /* period k back ends where period k-1 back starts: evaluate "as of" that end */
    if ((err = query_eval_at(c, cond, start, &first)))
        return err;
    if (!query_keys_build(&first, &kf) || (first.n && !(alive = calloc(first.n, sizeof(*alive))))) {
        err = query_nomem(c);
        goto out;
    }
    for (size_t i = 0; i < first.n; i++)
        alive[i] = !first.v[i].none;
    for (int k = 1; k < n && !err; k++) {
        struct query_result r = { 0 };
        struct query_keys kr = { 0 };
        int64_t at = tz_period_add(c->env->tz, p, start, -k);
        if ((err = query_eval_at(c, cond, at, &r)))
            break;
        if (!query_keys_build(&r, &kr)) {
            err = query_nomem(c);
        } else {
            for (size_t i = 0; i < first.n; i++) {
                size_t j = query_keys_find(&kr, kf.k[i]);
                alive[i] = alive[i] && j != SIZE_MAX && !r.v[j].none;
            }
        }
        query_keys_free(&kr);
        query_result_free(&r);
    }
    for (size_t i = 0; i < first.n && !err; i++) {
        if (!alive[i])
            continue;
        if (!query_push(out, &first.v[i])) {
            err = query_nomem(c);
            break;
        }
        first.v[i].labels = NULL;
        first.v[i].nlabels = 0;
    }
out:
    free(alive);
    query_keys_free(&kf);
    query_result_free(&first);
    return err;
}

enum jd_err query_eval_call(struct query_ctx *c, const struct expr_node *e,
                            struct query_result *out)
{
    /*
     * Argument kinds are checked when an expression is compiled (rule_check_expr);
     * this only keeps an unchecked tree from reaching a missing argument.
     */
    static const struct {
        const char *name;
        size_t npos;
    } arity[] = {
        { "table", 1 }, { "ratio", 2 }, { "pct_change", 2 }, { "absent", 1 }, { "consecutive", 3 }
    };
    for (size_t i = 0; i < JD_ARRAY_SIZE(arity); i++) {
        size_t npos = 0;
        for (size_t k = 0; k < e->nargs; k++)
            npos += !e->argnames[k];
        if (!strcmp(e->func, arity[i].name) && npos != arity[i].npos)
            return jd_errf(JD_ERR_INVALID, c->errstr, c->errstr_size,
                           "col %u: %s() takes %zu arguments", e->col, e->func, arity[i].npos);
    }
    if (!strcmp(e->func, "table"))
        return query_fn_table(c, e, out);
    if (!strcmp(e->func, "ratio"))
        return query_fn_ratio(c, e, out);
    if (!strcmp(e->func, "pct_change"))
        return query_fn_pct_change(c, e, out);
    if (!strcmp(e->func, "absent"))
        return query_fn_absent(c, e, out);
    if (!strcmp(e->func, "consecutive"))
        return query_fn_consecutive(c, e, out);
    return jd_errf(JD_ERR_INVALID, c->errstr, c->errstr_size, "col %u: unknown function %s()",
                   e->col, e->func);
}

/* ---------------------------------------------------------- conditions */

static enum jd_err query_cond(struct query_ctx *c, const struct expr_node *e,
                              struct query_result *out, enum query_truth **truth)
{
    enum jd_err err = JD_OK;
    struct query_result l = { 0 }, r = { 0 };
    enum query_truth *tl = NULL, *tr = NULL, *tv = NULL;

    memset(out, 0, sizeof(*out));
    *truth = NULL;
    if (e->kind == EXPR_BINARY && query_is_cmp(e->op)) {
        if (!(err = query_eval_node(c, e->lhs, &l)) && !(err = query_eval_node(c, e->rhs, &r)))
            err = query_combine(c, e, &l, &r, out, truth);
        goto out;
    }
    if (e->kind == EXPR_BINARY && query_is_set(e->op)) {
        /* combine the truths: a series absent on one side counts as false there */
        struct query_keys kl = { 0 }, kr = { 0 };
        if ((err = query_cond(c, e->lhs, &l, &tl)) || (err = query_cond(c, e->rhs, &r, &tr)))
            goto out;
        if (!query_keys_build(&l, &kl) || !query_keys_build(&r, &kr) ||
            !(tv = calloc(l.n + r.n + 1, sizeof(*tv)))) {
            query_keys_free(&kl);
            query_keys_free(&kr);
            err = query_nomem(c);
            goto out;
        }
        for (size_t i = 0; i < l.n && !err; i++) {
            size_t j = query_keys_find(&kr, kl.k[i]);
            enum query_truth a = tl[i], b = j == SIZE_MAX ? QUERY_FALSE : tr[j], t;
            if (e->op == EXPR_OP_AND)
                t = a == QUERY_TRUE && b == QUERY_TRUE                              ? QUERY_TRUE
                    : a == QUERY_NO_DATA || (a == QUERY_TRUE && b == QUERY_NO_DATA) ? QUERY_NO_DATA
                                                                                    : QUERY_FALSE;
            else if (e->op == EXPR_OP_OR)
                t = a == QUERY_TRUE || b == QUERY_TRUE ? QUERY_TRUE
                    : a == QUERY_NO_DATA               ? QUERY_NO_DATA
                                                       : QUERY_FALSE;
            else
                t = b == QUERY_TRUE ? QUERY_FALSE : a;
            tv[out->n] = t;
            if (!query_push(out, &l.v[i]))
                err = query_nomem(c);
            else
                l.v[i].labels = NULL, l.v[i].nlabels = 0;
        }
        for (size_t j = 0; e->op == EXPR_OP_OR && j < r.n && !err; j++) {
            if (query_keys_find(&kl, kr.k[j]) != SIZE_MAX)
                continue;
            tv[out->n] = tr[j];
            if (!query_push(out, &r.v[j]))
                err = query_nomem(c);
            else
                r.v[j].labels = NULL, r.v[j].nlabels = 0;
        }
        query_keys_free(&kl);
        query_keys_free(&kr);
        if (!err) {
            *truth = tv;
            tv = NULL;
        }
        goto out;
    }
    /* any other expression holds for the series it returns */
    if ((err = query_eval_node(c, e, out)))
        goto out;
    if (out->table) {
        err = jd_errf(JD_ERR_INVALID, c->errstr, c->errstr_size,
                      "col %u: a rule condition cannot be a bare table()", e->col);
        goto out;
    }
    if (!(*truth = calloc(out->n + 1, sizeof(**truth)))) {
        err = query_nomem(c);
        goto out;
    }
    for (size_t i = 0; i < out->n; i++)
        (*truth)[i] = out->v[i].none ? QUERY_NO_DATA : QUERY_TRUE;
out:
    free(tl);
    free(tr);
    free(tv);
    query_result_free(&l);
    query_result_free(&r);
    if (err) {
        free(*truth);
        *truth = NULL;
        query_result_free(out);
    }
    return err;
}

enum jd_err query_eval_cond(const struct query_env *env, const struct expr_node *e, int64_t at_ms,
                            struct query_result *out, enum query_truth **truth, char *errstr,
                            size_t errstr_size)
{
    struct query_ctx c = { env, at_ms, INT64_MIN, 0, errstr, errstr_size };
    enum jd_err err;

    memset(out, 0, sizeof(*out));
    *truth = NULL;
    if ((err = env->src.ops->gc_cutoff(env->src.self, &c.gc_cutoff, errstr, errstr_size)))
        return err;
    if ((err = query_cond(&c, e, out, truth)))
        return err;
    if (out->scalar) {
        /* a rule over plain numbers is one series without labels */
        out->scalar = false;
    }
    /* sort samples and truths together */
    for (size_t i = 1; i < out->n; i++) {
        char ka[4096], kb[4096];
        for (size_t j = i; j > 0; j--) {
            query_labels_key(&out->v[j - 1], ka, sizeof(ka));
            query_labels_key(&out->v[j], kb, sizeof(kb));
            if (strcmp(ka, kb) <= 0)
                break;
            struct query_sample ts = out->v[j];
            out->v[j] = out->v[j - 1];
            out->v[j - 1] = ts;
            enum query_truth tt = (*truth)[j];
            (*truth)[j] = (*truth)[j - 1];
            (*truth)[j - 1] = tt;
        }
    }
    return JD_OK;
}
