/*
 * ydoc.c — libyaml event stream -> ydoc tree.
 *
 * Owns YAML syntax, limits and positions. It does not know what a config key
 * or a rule is: callers walk the tree and report their own errors with the
 * node's line and column. All nodes of a document live in one arena and are
 * freed together.
 */
#include "core/ydoc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <yaml.h>

struct ydoc {
    char *name;
    struct ydoc_node *root;
    /* arena: every allocation is a block on this list */
    void **blocks;
    size_t nblocks, capblocks;
    size_t nnodes;
};

static void *ydoc_alloc(struct ydoc *doc, size_t size)
{
    if (doc->nblocks == doc->capblocks) {
        size_t cap = doc->capblocks ? doc->capblocks * 2 : 64;
        void **b = realloc(doc->blocks, cap * sizeof(*b));
        if (!b)
            return NULL;
        doc->blocks = b;
        doc->capblocks = cap;
    }
    void *p = calloc(1, size ? size : 1);
    if (p)
        doc->blocks[doc->nblocks++] = p;
    return p;
}

/* A container under construction: children collected in a growable array. */
struct ydoc_frame {
    struct ydoc_node *node;
    struct ydoc_node **items;
    size_t n, cap;
};

static bool ydoc_frame_push(struct ydoc_frame *f, struct ydoc_node *child)
{
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 8;
        struct ydoc_node **it = realloc(f->items, cap * sizeof(*it));
        if (!it)
            return false;
        f->items = it;
        f->cap = cap;
    }
    f->items[f->n++] = child;
    return true;
}

static bool ydoc_scalar_eq(const struct ydoc_node *a, const struct ydoc_node *b)
{
    return a->kind == YDOC_SCALAR && b->kind == YDOC_SCALAR && a->len == b->len &&
           !memcmp(a->str, b->str, a->len);
}

/* Sentinel meaning "could not check" (allocation failure). */
static const struct ydoc_node ydoc_nomem_marker;

static int ydoc_key_cmp(const void *a, const void *b)
{
    const struct ydoc_node *x = *(const struct ydoc_node *const *)a;
    const struct ydoc_node *y = *(const struct ydoc_node *const *)b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->str, y->str, n);
    if (c)
        return c;
    if (x->len != y->len)
        return x->len < y->len ? -1 : 1;
    /* equal keys: order by position so the later one is reported */
    return x->line != y->line ? (x->line < y->line ? -1 : 1) : (x->col < y->col ? -1 : 1);
}

/*
 * Finds a repeated key in a finished mapping by sorting the keys: O(n log n),
 * so a hostile file with a huge mapping cannot make the check quadratic.
 * @returns the later duplicate, NULL if none.
 */
static const struct ydoc_node *ydoc_find_dup(const struct ydoc_frame *f)
{
    size_t nk = f->n / 2;
    const struct ydoc_node *dup = NULL;
    if (nk < 2)
        return NULL;
    const struct ydoc_node **keys = malloc(nk * sizeof(*keys));
    if (!keys)
        return &ydoc_nomem_marker;
    for (size_t i = 0; i < nk; i++)
        keys[i] = f->items[2 * i];
    qsort(keys, nk, sizeof(*keys), ydoc_key_cmp);
    for (size_t i = 1; i < nk && !dup; i++)
        if (ydoc_scalar_eq(keys[i - 1], keys[i]))
            dup = keys[i];
    free(keys);
    return dup;
}

static unsigned ydoc_first_line(const struct ydoc_frame *f, const struct ydoc_node *dup)
{
    for (size_t i = 0; i < f->n; i += 2)
        if (ydoc_scalar_eq(f->items[i], dup))
            return f->items[i]->line;
    return dup->line;
}

static const char *ydoc_event_what(yaml_event_type_t t)
{
    switch (t) {
    case YAML_SCALAR_EVENT:
        return "a value";
    case YAML_SEQUENCE_START_EVENT:
        return "a list";
    case YAML_MAPPING_START_EVENT:
        return "a mapping";
    case YAML_ALIAS_EVENT:
        return "an alias";
    default:
        return "something else";
    }
}

/* Accepts only the YAML core tags; anything else could mean a type we do not model. */
static bool ydoc_tag_ok(const yaml_char_t *tag)
{
    static const char *const ok[] = { "tag:yaml.org,2002:str",   "tag:yaml.org,2002:int",
                                      "tag:yaml.org,2002:float", "tag:yaml.org,2002:bool",
                                      "tag:yaml.org,2002:null",  "tag:yaml.org,2002:map",
                                      "tag:yaml.org,2002:seq" };
    if (!tag)
        return true;
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        if (!strcmp((const char *)tag, ok[i]))
            return true;
    return false;
}

struct ydoc *ydoc_parse(const char *name, const char *buf, size_t len, char *errstr,
                        size_t errstr_size)
{
    yaml_parser_t parser;
    yaml_event_t ev;
    struct ydoc *doc = NULL;
    struct ydoc_frame stack[YDOC_MAX_DEPTH + 1];
    int depth = 0, docs = 0;
    bool parser_ok = false, have_event = false, ok = false;

    memset(stack, 0, sizeof(stack));
    if (len > YDOC_MAX_BYTES) {
        jd_errf(JD_ERR_INVALID, errstr, errstr_size, "%s: file is larger than %u bytes", name,
                YDOC_MAX_BYTES);
        return NULL;
    }
    doc = calloc(1, sizeof(*doc));
    if (!doc || !(doc->name = strdup(name))) {
        jd_errf(JD_ERR_NOMEM, errstr, errstr_size, "%s: out of memory", name);
        goto out;
    }
    if (!yaml_parser_initialize(&parser)) {
        jd_errf(JD_ERR_NOMEM, errstr, errstr_size, "%s: cannot initialise the YAML parser", name);
        goto out;
    }
    parser_ok = true;
    yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);

    for (;;) {
        if (!yaml_parser_parse(&parser, &ev)) {
            jd_errf(JD_ERR_PARSE, errstr, errstr_size, "%s:%zu:%zu: %s%s%s", name,
                    parser.problem_mark.line + 1, parser.problem_mark.column + 1,
                    parser.problem ? parser.problem : "YAML syntax error",
                    parser.context ? " " : "", parser.context ? parser.context : "");
            goto out;
        }
        have_event = true;
        unsigned line = (unsigned)ev.start_mark.line + 1, col = (unsigned)ev.start_mark.column + 1;
        struct ydoc_node *node = NULL;

        switch (ev.type) {
        case YAML_STREAM_END_EVENT:
            ok = true;
            goto out;
        case YAML_DOCUMENT_START_EVENT:
            if (++docs > 1) {
                jd_errf(JD_ERR_PARSE, errstr, errstr_size,
                        "%s:%u:%u: only one YAML document per file", name, line, col);
                goto out;
            }
            break;
        case YAML_ALIAS_EVENT:
            jd_errf(JD_ERR_PARSE, errstr, errstr_size,
                    "%s:%u:%u: aliases (*name) are not allowed; write the value out", name, line,
                    col);
            goto out;
        case YAML_SCALAR_EVENT:
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT: {
            const yaml_char_t *anchor = ev.type == YAML_SCALAR_EVENT ? ev.data.scalar.anchor
                                        : ev.type == YAML_SEQUENCE_START_EVENT
                                            ? ev.data.sequence_start.anchor
                                            : ev.data.mapping_start.anchor;
            const yaml_char_t *tag = ev.type == YAML_SCALAR_EVENT ? ev.data.scalar.tag
                                     : ev.type == YAML_SEQUENCE_START_EVENT
                                         ? ev.data.sequence_start.tag
                                         : ev.data.mapping_start.tag;
            if (anchor) {
                jd_errf(JD_ERR_PARSE, errstr, errstr_size,
                        "%s:%u:%u: anchors (&%s) are not allowed", name, line, col, anchor);
                goto out;
            }
            if (!ydoc_tag_ok(tag)) {
                jd_errf(JD_ERR_PARSE, errstr, errstr_size, "%s:%u:%u: unsupported tag %s", name,
                        line, col, tag);
                goto out;
            }
            if (++doc->nnodes > YDOC_MAX_NODES) {
                jd_errf(JD_ERR_PARSE, errstr, errstr_size, "%s:%u:%u: more than %d YAML nodes",
                        name, line, col, YDOC_MAX_NODES);
                goto out;
            }
            node = ydoc_alloc(doc, sizeof(*node));
            if (!node)
                goto nomem;
            node->line = line;
            node->col = col;
            if (ev.type == YAML_SCALAR_EVENT) {
                node->kind = YDOC_SCALAR;
                node->len = ev.data.scalar.length;
                char *s = ydoc_alloc(doc, node->len + 1);
                if (!s)
                    goto nomem;
                memcpy(s, ev.data.scalar.value, node->len);
                node->str = s;
                node->plain = ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE && !tag;
            } else {
                node->kind = ev.type == YAML_SEQUENCE_START_EVENT ? YDOC_SEQ : YDOC_MAP;
                if (depth >= YDOC_MAX_DEPTH) {
                    jd_errf(JD_ERR_PARSE, errstr, errstr_size,
                            "%s:%u:%u: nesting deeper than %d levels", name, line, col,
                            YDOC_MAX_DEPTH);
                    goto out;
                }
            }
            /* attach to the parent (or become the root) */
            if (depth > 0) {
                struct ydoc_frame *f = &stack[depth];
                if (f->node->kind == YDOC_MAP && f->n % 2 == 0) {
                    if (node->kind != YDOC_SCALAR) {
                        jd_errf(JD_ERR_PARSE, errstr, errstr_size,
                                "%s:%u:%u: a mapping key must be a plain value, not %s", name, line,
                                col, ydoc_event_what(ev.type));
                        goto out;
                    }
                }
                if (!ydoc_frame_push(f, node))
                    goto nomem;
            } else {
                doc->root = node;
            }
            if (node->kind != YDOC_SCALAR) {
                depth++;
                stack[depth] = (struct ydoc_frame){ .node = node };
            }
            break;
        }
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT: {
            struct ydoc_frame *f = &stack[depth];
            struct ydoc_node *n = f->node;
            const struct ydoc_node *dup = n->kind == YDOC_MAP ? ydoc_find_dup(f) : NULL;
            if (dup == &ydoc_nomem_marker)
                goto nomem;
            if (dup) {
                jd_errf(JD_ERR_PARSE, errstr, errstr_size,
                        "%s:%u:%u: duplicate key '%s' (also at line %u)", name, dup->line, dup->col,
                        dup->str, ydoc_first_line(f, dup));
                goto out;
            }
            n->n = f->n;
            if (f->n) {
                n->items = ydoc_alloc(doc, f->n * sizeof(*n->items));
                if (!n->items)
                    goto nomem;
                memcpy(n->items, f->items, f->n * sizeof(*n->items));
            }
            free(f->items);
            f->items = NULL;
            depth--;
            break;
        }
        default:
            break;
        }
        yaml_event_delete(&ev);
        have_event = false;
    }

nomem:
    jd_errf(JD_ERR_NOMEM, errstr, errstr_size, "%s: out of memory", name);
out:
    if (have_event)
        yaml_event_delete(&ev);
    if (parser_ok)
        yaml_parser_delete(&parser);
    for (int i = 0; i <= YDOC_MAX_DEPTH; i++)
        free(stack[i].items);
    if (!ok) {
        ydoc_destroy(doc);
        return NULL;
    }
    return doc;
}

struct ydoc *ydoc_load(const char *path, char *errstr, size_t errstr_size)
{
    struct stat st;
    struct ydoc *doc = NULL;
    char *buf = NULL;
    FILE *f = fopen(path, "rb");

    if (!f) {
        jd_errf(JD_ERR_IO, errstr, errstr_size, "%s: %s", path, strerror(errno));
        return NULL;
    }
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        jd_errf(JD_ERR_IO, errstr, errstr_size, "%s: not a regular file", path);
        goto out;
    }
    if ((size_t)st.st_size > YDOC_MAX_BYTES) {
        jd_errf(JD_ERR_INVALID, errstr, errstr_size, "%s: file is larger than %u bytes", path,
                YDOC_MAX_BYTES);
        goto out;
    }
    buf = malloc((size_t)st.st_size + 1);
    if (!buf) {
        jd_errf(JD_ERR_NOMEM, errstr, errstr_size, "%s: out of memory", path);
        goto out;
    }
    size_t got = fread(buf, 1, (size_t)st.st_size, f);
    if (got != (size_t)st.st_size) {
        jd_errf(JD_ERR_IO, errstr, errstr_size, "%s: short read", path);
        goto out;
    }
    doc = ydoc_parse(path, buf, got, errstr, errstr_size);
out:
    free(buf);
    fclose(f);
    return doc;
}

void ydoc_destroy(struct ydoc *doc)
{
    if (!doc)
        return;
    for (size_t i = 0; i < doc->nblocks; i++)
        free(doc->blocks[i]);
    free(doc->blocks);
    free(doc->name);
    free(doc);
}

const struct ydoc_node *ydoc_root(const struct ydoc *doc)
{
    return doc->root;
}

const char *ydoc_name(const struct ydoc *doc)
{
    return doc->name;
}

bool ydoc_is_null(const struct ydoc_node *n)
{
    return n->kind == YDOC_SCALAR && n->plain &&
           (n->len == 0 || !strcmp(n->str, "~") || !strcmp(n->str, "null") ||
            !strcmp(n->str, "Null") || !strcmp(n->str, "NULL"));
}
