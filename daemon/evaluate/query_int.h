/*
 * query_int.h — what query.c (selectors, ranges, aggregation) and
 * query_ops.c (operators, functions, rule conditions) share. Private to
 * the evaluator: nothing outside daemon/evaluate includes it.
 */
#ifndef JD_QUERY_INT_H
#define JD_QUERY_INT_H

#include "evaluate/query.h"

struct query_ctx {
    const struct query_env *env;
    int64_t at;
    int64_t gc_cutoff;
    unsigned no_zero_fill; /* inside absent(): an aggregation over nothing is no data, not 0 */
    char *errstr;
    size_t errstr_size;
};

/** Evaluate any node (query.c). */
enum jd_err query_eval_node(struct query_ctx *c, const struct expr_node *e,
                            struct query_result *out);

/** Operators (query_ops.c). */
enum jd_err query_eval_binary(struct query_ctx *c, const struct expr_node *e,
                              struct query_result *out);

/** Function calls (query_ops.c). */
enum jd_err query_eval_call(struct query_ctx *c, const struct expr_node *e,
                            struct query_result *out);

/** Append a sample (ownership of its labels moves into \p r). */
bool query_push(struct query_result *r, struct query_sample *s);

/** Deep-copy \p n labels into \p dst. */
bool query_copy_labels(struct query_sample *dst, const struct query_label *src, size_t n);

/** Free a sample's labels. */
void query_sample_free(struct query_sample *s);

/** Canonical text of a sample's label set, for matching ("a\x1f1\x1eb\x1f2"). */
size_t query_labels_key(const struct query_sample *s, char *buf, size_t size);

/** Sort samples by label set. */
void query_sort(struct query_result *r);

/** jd_errf(JD_ERR_NOMEM, …) on the context. */
enum jd_err query_nomem(struct query_ctx *c);

#endif
