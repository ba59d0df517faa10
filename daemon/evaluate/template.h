/*
 * template.h — annotation templates of rules.md / alerts.md.
 *
 *   lead growth exceeds ops capacity by {{ pct($value / $threshold - 1) }}
 *
 * Literal text with `{{ … }}` actions. An action is one expression over
 * `$value`, `$threshold` (numbers, possibly absent), `$labels.NAME` (string,
 * "" when absent), number literals, string literals ("…" with \" \\ \n \t,
 * or `raw`), `+ - * /`, parentheses, unary minus, and the functions
 *
 *   pct X         0.23 -> "23%"; below 10 % one decimal is kept: 0.055 -> "5.5%"
 *                 (halves round away from zero)
 *   humanize X    SI prefixes, 4 significant digits: 1845 -> "1.845k",
 *                 0.012 -> "12m" (Prometheus's, but 999999 -> "1M", not "1000k")
 *   printf F X    F a string literal with at most one conversion:
 *                 %[-+ 0#][width][.prec](f|F|e|E|g|G) or %[-+ 0][width]d for a
 *                 number (%d rounds half away from zero), plain %s for a string
 *   title X, toUpper X, toLower X   ASCII case mapping of a string
 *
 * written `f(x, y)` or `f x y`; the prefix form takes every expression up to
 * the end of the action or of the enclosing parentheses as its arguments
 * (`pct $value - 1` is `pct($value - 1)`; so `printf "%d" -2` subtracts from
 * the format string, an error: write `(-2)`). A literal "{{" is `{{ "{{" }}`.
 *
 * Templates are compiled once (every syntax, name, type and printf-format
 * error is found there) and rendered many times; rendering cannot fail.
 */
#ifndef JD_TEMPLATE_H
#define JD_TEMPLATE_H

#include <stdbool.h>
#include <stddef.h>

/** Longest template text accepted, in bytes. */
#define TEMPLATE_MAX_TEXT 4096

/** Deepest nesting of parentheses, calls and unary minus in one action. */
#define TEMPLATE_MAX_DEPTH 32

/** What a number that is absent (or not finite) renders as. */
#define TEMPLATE_ABSENT "n/a"

/** A label visible as `$labels.NAME`; both strings borrowed. */
struct template_label {
    const char *name;
    const char *value;
};

/** The values one rendering sees; everything borrowed for the call only. */
struct template_ctx {
    bool has_value;
    double value; /**< `$value`: the alert's value */
    bool has_threshold;
    double threshold; /**< `$threshold`: the right-hand side of the comparison */
    const struct template_label *labels;
    size_t nlabels;
};

struct template;

/**
 * @brief Compile \p text (at most TEMPLATE_MAX_TEXT bytes).
 *
 * Unknown variables or functions, bad syntax, type errors (arithmetic on a
 * string, pct of a string, …), printf formats other than one checked
 * conversion, an unclosed `{{` and the size limits are errors reported as
 * "col N: message", N being the 1-based byte offset in \p text (newlines
 * count as one byte; the rule loader turns it into file:line:col).
 * @returns an immutable compiled template owned by the caller (free with
 *          template_destroy()), or NULL with errstr filled.
 */
struct template *template_compile(const char *text, char *errstr, size_t errstr_size);

/** Free \p t; NULL is a no-op. */
void template_destroy(struct template *t);

/** @returns true when \p t has no actions (it renders to its literal text). */
bool template_is_static(const struct template *t);

/**
 * @brief Render \p t with \p ctx (NULL: no values, no labels) into \p buf,
 *        snprintf-style.
 *
 * Absent numbers, division by zero and any other non-finite result render
 * as TEMPLATE_ABSENT, wherever they appear (including printf conversions).
 * @returns the length the full text needs (excluding the NUL); at most
 *          size - 1 bytes are written and \p buf is always NUL-terminated
 *          when \p size > 0. \p buf may be NULL when \p size is 0.
 */
size_t template_render(const struct template *t, const struct template_ctx *ctx, char *buf,
                       size_t size);

/**
 * @brief Format \p v as templates print a bare number: integral values below
 *        1e15 without a decimal point ("1845"), others in the shortest "%g"
 *        form that reads back as the same double ("0.1", "1e+20"); -0 is
 *        "0"; a non-finite \p v is TEMPLATE_ABSENT. Alert messages use it for
 *        their numbers too, so an annotation and the JSON agree.
 * @returns the length needed, snprintf-style (25 bytes always suffice).
 */
size_t template_format_number(double v, char *buf, size_t size);

#endif
