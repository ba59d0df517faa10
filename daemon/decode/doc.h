/*
 * doc.h — a parsed message as a flat array of nodes, reused for every message.
 *
 * The JSON parser (json.c) and the MessagePack parser (mpack.c) both fill a
 * `struct doc`; the event mapper (event.c) reads it without knowing which
 * encoding it came from. Nodes are stored in pre-order and every node knows
 * where its subtree ends, so skipping an ignored field is O(1). Strings are
 * slices of the input unless they had escapes, in which case they were
 * decoded into the doc's scratch buffer. Nothing is allocated per message:
 * capacity is fixed by doc_new() from the largest accepted message.
 */
#ifndef JD_DOC_H
#define JD_DOC_H

#include "core/err.h"
#include "core/jd.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Deepest nesting accepted; deeper input is rejected as `too_deep`. */
#define DOC_MAX_DEPTH 32

enum doc_type {
    DOC_NULL,
    DOC_BOOL,
    DOC_INT,     /**< msgpack signed integer: num.i */
    DOC_UINT,    /**< msgpack unsigned integer above INT64_MAX: num.u */
    DOC_FLOAT,   /**< msgpack float: num.d */
    DOC_NUMTEXT, /**< JSON number: its text in s/len, converted on demand */
    DOC_STR,     /**< UTF-8 string in s/len */
    DOC_BIN,     /**< msgpack bin */
    DOC_ARR,
    DOC_OBJ,
    DOC_OTHER, /**< msgpack ext: kept only so it can be skipped */
};

#define DOC_F_BADKEY 0x1 /**< object member whose msgpack key is not a string */

struct doc_node {
    const char *key; /**< member name in the parent object (NULL in arrays) */
    const char *s;   /**< string/number text, or NULL */
    union {
        int64_t i;
        uint64_t u;
        double d;
        bool b;
    } num;
    uint32_t key_len;
    uint32_t len;   /**< bytes in s */
    uint32_t end;   /**< index one past the last node of this subtree */
    uint32_t count; /**< children of an object/array */
    uint8_t type;   /**< enum doc_type */
    uint8_t flags;  /**< DOC_F_* */
};

struct doc {
    struct doc_node *nodes; /**< nodes[0] is the root after a successful parse */
    uint32_t n, cap;
    char *scratch; /**< decoded strings (escapes) live here */
    size_t scratch_len, scratch_cap;
};

/**
 * @brief Allocate a doc able to hold any message of up to \p max_bytes.
 * @returns NULL when out of memory. Free with doc_destroy().
 */
struct doc *doc_new(size_t max_bytes);

/** Free \p d; NULL is a no-op. */
void doc_destroy(struct doc *d);

/** Forget the previous message (keeps the memory). */
static inline void doc_reset(struct doc *d)
{
    d->n = 0;
    d->scratch_len = 0;
}

/** @returns the member \p name of object node \p obj, or NULL. */
const struct doc_node *doc_get(const struct doc *d, const struct doc_node *obj, const char *name);

/** @returns the index of \p node's first child (valid only if count > 0). */
static inline uint32_t doc_first_child(const struct doc *d, const struct doc_node *node)
{
    return (uint32_t)(node - d->nodes) + 1;
}

/** @returns true if \p s[0..n) is valid UTF-8 (no surrogates, no overlongs). */
bool doc_utf8_valid(const char *s, size_t n);

/**
 * @brief Convert a number node to an integer scaled by 10^scale, exactly:
 *        scale 6 gives micros (rounded half away from zero), scale 0 an integer.
 * @param exact set to whether no rounding happened (may be NULL).
 * @returns JD_OK, JD_ERR_RANGE when |result| > \p limit, or JD_ERR_INVALID
 *          when the node is not a finite number.
 */
enum jd_err doc_num_scaled(const struct doc_node *n, int scale, int64_t limit, int64_t *out,
                           bool *exact);

/** @returns true if \p n is any numeric node. */
static inline bool doc_is_number(const struct doc_node *n)
{
    return n->type == DOC_INT || n->type == DOC_UINT || n->type == DOC_FLOAT ||
           n->type == DOC_NUMTEXT;
}

/**
 * @brief Parse one JSON text (RFC 8259) into \p d.
 * @returns JD_OK, or JD_ERR_EV_JSON_SYNTAX / _BAD_UTF8 / _TOO_DEEP with the
 *          byte offset and reason in errstr.
 */
enum jd_err json_parse(struct doc *d, const char *buf, size_t len, char *errstr,
                       size_t errstr_size);

/**
 * @brief Parse one MessagePack object into \p d (trailing bytes are an error).
 * @returns JD_OK, or JD_ERR_EV_MSGPACK_SYNTAX / _BAD_UTF8 / _TOO_DEEP.
 */
enum jd_err mpack_parse(struct doc *d, const char *buf, size_t len, char *errstr,
                        size_t errstr_size);

#endif
