/*
 * expr.h — the expression language of rules.md, parsed into a tree.
 *
 *   count by (channel) (touch{channel=~"sem_.*"}[1d] offset 1w)
 *   sum(cost.value[day]) / count(lead[day])
 *
 * Parsing is pure (text in, tree out) and reports errors with the column, so
 * the rule loader can turn them into file:line:col. query.c evaluates the
 * read side against the windowed store; the rule engine extends it.
 */
#ifndef JD_EXPR_H
#define JD_EXPR_H

#include "core/err.h"

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum expr_kind {
    EXPR_NUMBER,   /**< a literal (20% is 0.2) */
    EXPR_SELECT,   /**< a range selector: TYPE{matchers}.FIELD[range] offset D */
    EXPR_AGG,      /**< count/sum/avg/min/max/last/distinct [by (…)] (selector) */
    EXPR_BINARY,   /**< arithmetic, comparison or set operator */
    EXPR_NEG,      /**< unary minus */
    EXPR_CALL,     /**< a function call (rule engine) */
    EXPR_NAME,     /**< a bare name as a function argument: table(NAME), consecutive(3, day, …) */
    EXPR_DURATION, /**< a duration as a function argument: pct_change(x, 1d) (in range_ms) */
};

enum expr_agg {
    EXPR_AGG_COUNT,
    EXPR_AGG_SUM,
    EXPR_AGG_AVG,
    EXPR_AGG_MIN,
    EXPR_AGG_MAX,
    EXPR_AGG_LAST,
    EXPR_AGG_DISTINCT,
};

enum expr_op {
    EXPR_OP_ADD,
    EXPR_OP_SUB,
    EXPR_OP_MUL,
    EXPR_OP_DIV,
    EXPR_OP_GT,
    EXPR_OP_GE,
    EXPR_OP_LT,
    EXPR_OP_LE,
    EXPR_OP_EQ,
    EXPR_OP_NE,
    EXPR_OP_AND,
    EXPR_OP_OR,
    EXPR_OP_UNLESS,
};

enum expr_match {
    EXPR_MATCH_EQ,  /**< = */
    EXPR_MATCH_NE,  /**< != */
    EXPR_MATCH_RE,  /**< =~ (whole value, POSIX extended) */
    EXPR_MATCH_NRE, /**< !~ */
};

enum expr_field {
    EXPR_FIELD_NONE,
    EXPR_FIELD_VALUE,       /**< .value */
    EXPR_FIELD_USER_ID,     /**< .user_id (distinct only) */
    EXPR_FIELD_CONVERSIONS, /**< .conversions (the credit stream's fractional conversions) */
};

enum expr_range {
    EXPR_RANGE_DURATION, /**< [7d] */
    EXPR_RANGE_HOUR,     /**< [hour]: the last complete calendar hour */
    EXPR_RANGE_DAY,      /**< [day] */
    EXPR_RANGE_WEEK,     /**< [week]: ISO week, Monday first */
    EXPR_RANGE_MONTH,    /**< [month] */
};

struct expr_matcher {
    char *label; /**< "channel", "campaign" or a props key ("props." is stripped) */
    enum expr_match op;
    char *value;
    regex_t re; /**< compiled for RE/NRE */
};

struct expr_node {
    enum expr_kind kind;
    unsigned col; /**< 1-based column where the node starts */

    /* EXPR_NUMBER */
    double number;

    /* EXPR_SELECT */
    char *type;
    struct expr_matcher *matchers;
    size_t nmatchers;
    enum expr_field field;
    enum expr_range range;
    int64_t range_ms;  /**< EXPR_RANGE_DURATION */
    int64_t offset_ms; /**< 0 when absent */

    /* EXPR_AGG (arg is the selector) */
    enum expr_agg agg;
    char **by;
    size_t nby;

    /* EXPR_BINARY, EXPR_NEG (lhs), EXPR_AGG (arg) and EXPR_CALL; EXPR_NAME uses func */
    enum expr_op op;
    struct expr_node *lhs, *rhs, *arg;
    char *func;
    struct expr_node **args;
    char **argnames; /**< NULL entries for positional arguments */
    size_t nargs;
};

/**
 * @brief Parse \p text.
 * @returns the root of a new tree (free with expr_free()), or NULL with
 *          "col N: message" in errstr.
 */
struct expr_node *expr_parse(const char *text, char *errstr, size_t errstr_size);

/** Deepest nesting of parentheses, calls and operators the parser accepts. */
#define EXPR_MAX_DEPTH 64

/** Free a tree; NULL is a no-op. */
void expr_free(struct expr_node *n);

/** @returns "count", "sum", … */
const char *expr_agg_name(enum expr_agg a);

/** @returns "+", ">=", "and", … */
const char *expr_op_name(enum expr_op op);

/**
 * @brief Print \p n back as canonical text (for messages and tests).
 * @returns the length that the full text needs (snprintf-style).
 */
size_t expr_format(const struct expr_node *n, char *buf, size_t size);

#endif
