/*
 * ydoc.h — a YAML document as a small immutable tree with file:line:col marks.
 *
 * Built from libyaml's event API (never its document API), so that anchors,
 * aliases and custom tags are refused before they can expand, and so that
 * every node keeps the position a human needs in an error message. Used by
 * the config loader and the rule loader.
 */
#ifndef JD_YDOC_H
#define JD_YDOC_H

#include "core/err.h"

#include <stdbool.h>
#include <stddef.h>

/** Hard limits; beyond them the file is refused with a clear message. */
#define YDOC_MAX_BYTES (1u << 20) /* 1 MiB */
#define YDOC_MAX_DEPTH 64
#define YDOC_MAX_NODES 200000

enum ydoc_kind {
    YDOC_SCALAR,
    YDOC_SEQ,
    YDOC_MAP,
};

struct ydoc_node {
    enum ydoc_kind kind;
    unsigned line, col;       /**< 1-based position of the node's first character */
    const char *str;          /**< scalar text, NUL-terminated (NULL for containers) */
    size_t len;               /**< scalar length in bytes */
    bool plain;               /**< scalar was unquoted (may be a number, bool or null) */
    struct ydoc_node **items; /**< seq: n items; map: keys at [2i], values at [2i+1] */
    size_t n;                 /**< seq: item count; map: 2 * pair count */
};

struct ydoc;

/**
 * @brief Parse one YAML document from \p buf.
 *
 * Duplicate mapping keys, anchors, aliases, tags other than the core ones,
 * multiple documents, and input over the limits are errors.
 * @param name file name used in messages ("config/journeyd.yaml").
 * @returns a new document (free with ydoc_destroy()), or NULL with
 *          "name:line:col: message" in errstr.
 */
struct ydoc *ydoc_parse(const char *name, const char *buf, size_t len, char *errstr,
                        size_t errstr_size);

/** @brief Read and parse \p path (size-capped before reading). */
struct ydoc *ydoc_load(const char *path, char *errstr, size_t errstr_size);

/** Free \p doc and every node; NULL is a no-op. */
void ydoc_destroy(struct ydoc *doc);

/** @returns the root node, or NULL for an empty document. Valid until ydoc_destroy(). */
const struct ydoc_node *ydoc_root(const struct ydoc *doc);

/** @returns the name given to ydoc_parse(). */
const char *ydoc_name(const struct ydoc *doc);

/** @returns true if \p n is a plain scalar spelling YAML null (~, null, empty). */
bool ydoc_is_null(const struct ydoc_node *n);

#endif
