/*
 * test_ydoc.c — unit tests for core/ydoc: the YAML tree with line:col marks.
 *
 * Covers node kinds, positions, plain vs quoted scalars, nulls, the refusal
 * of anchors/aliases/custom tags (so a billion-laughs file fails at its first
 * anchor), duplicate keys, multiple documents, the depth/node/byte limits,
 * ydoc_load() on real files, and a fuzz pass over random YAML-ish bytes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/jd.h"
#include "core/ydoc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static uint64_t rng_state;

static uint64_t splitmix64(void)
{
    uint64_t z = (rng_state += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static struct ydoc *parse(const char *text, char *err, size_t size)
{
    return ydoc_parse("t.yaml", text, strlen(text), err, size);
}

static void assert_scalar(const struct ydoc_node *n, const char *str, bool plain, unsigned line,
                          unsigned col)
{
    assert_non_null(n);
    assert_int_equal(n->kind, YDOC_SCALAR);
    assert_string_equal(n->str, str);
    assert_int_equal(n->len, strlen(str));
    assert_int_equal(n->plain, plain);
    assert_int_equal(n->line, line);
    assert_int_equal(n->col, col);
    assert_null(n->items);
    assert_int_equal(n->n, 0);
}

/* ------------------------------------------------------------ the tree */

static void test_tree_and_positions(void **state)
{
    const char *text = "a: 1\n"
                       "b:\n"
                       "  c: [x, 'y']\n"
                       "  d: \"z\"\n";
    char err[JD_ERRSTR_SIZE] = "";
    (void)state;

    struct ydoc *doc = parse(text, err, sizeof(err));
    assert_non_null(doc);
    assert_string_equal(ydoc_name(doc), "t.yaml");
    const struct ydoc_node *root = ydoc_root(doc);
    assert_non_null(root);
    assert_int_equal(root->kind, YDOC_MAP);
    assert_null(root->str);
    assert_int_equal(root->line, 1);
    assert_int_equal(root->col, 1);
    assert_int_equal(root->n, 4); /* 2 pairs */
    assert_scalar(root->items[0], "a", true, 1, 1);
    assert_scalar(root->items[1], "1", true, 1, 4);
    assert_scalar(root->items[2], "b", true, 2, 1);

    const struct ydoc_node *b = root->items[3];
    assert_int_equal(b->kind, YDOC_MAP);
    assert_int_equal(b->line, 3);
    assert_int_equal(b->col, 3);
    assert_int_equal(b->n, 4);
    assert_scalar(b->items[0], "c", true, 3, 3);
    const struct ydoc_node *c = b->items[1];
    assert_int_equal(c->kind, YDOC_SEQ);
    assert_int_equal(c->line, 3);
    assert_int_equal(c->col, 6);
    assert_int_equal(c->n, 2);
    assert_scalar(c->items[0], "x", true, 3, 7);
    assert_scalar(c->items[1], "y", false, 3, 10);
    assert_scalar(b->items[2], "d", true, 4, 3);
    assert_scalar(b->items[3], "z", false, 4, 6);
    ydoc_destroy(doc);
}

static void test_block_sequence_and_scalars(void **state)
{
    const char *text = "key:\n"
                       "  - a\n"
                       "  - |\n"
                       "    lit\n"
                       "  - []\n"
                       "  - {}\n";
    (void)state;
    struct ydoc *doc = parse(text, NULL, 0);
    assert_non_null(doc);
    const struct ydoc_node *seq = ydoc_root(doc)->items[1];
    assert_int_equal(seq->kind, YDOC_SEQ);
    assert_int_equal(seq->line, 2);
    assert_int_equal(seq->col, 3);
    assert_int_equal(seq->n, 4);
    assert_scalar(seq->items[0], "a", true, 2, 5);
    assert_scalar(seq->items[1], "lit\n", false, 3, 5); /* a block scalar is not plain */
    assert_int_equal(seq->items[2]->kind, YDOC_SEQ);
    assert_int_equal(seq->items[2]->n, 0);
    assert_int_equal(seq->items[3]->kind, YDOC_MAP);
    assert_int_equal(seq->items[3]->n, 0);
    ydoc_destroy(doc);
}

/* Scalars keep their length: an escaped NUL does not cut them short. */
static void test_scalar_length_with_nul(void **state)
{
    (void)state;
    struct ydoc *doc = parse("a: \"x\\0y\"\n", NULL, 0);
    assert_non_null(doc);
    const struct ydoc_node *v = ydoc_root(doc)->items[1];
    assert_int_equal(v->len, 3);
    assert_memory_equal(v->str, "x\0y", 4); /* and NUL-terminated */
    ydoc_destroy(doc);
}

static void test_root_kinds(void **state)
{
    static const struct {
        const char *text;
        int kind; /* -1: no root */
    } cases[] = {
        { "", -1 },
        { "# only a comment\n", -1 },
        { "\n\n", -1 },
        { "hello\n", YDOC_SCALAR },
        { "- 1\n- 2\n", YDOC_SEQ },
        { "{a: 1}", YDOC_MAP },
        { "%YAML 1.1\n---\na: 1\n", YDOC_MAP },
        { "a: 1\n...\n", YDOC_MAP },
        { "!!map {a: 1}", YDOC_MAP }, /* core tags are fine */
    };
    (void)state;
    for (size_t i = 0; i < JD_ARRAY_SIZE(cases); i++) {
        char err[JD_ERRSTR_SIZE] = "";
        struct ydoc *doc = parse(cases[i].text, err, sizeof(err));
        if (!doc)
            fail_msg("case %zu: %s", i, err);
        const struct ydoc_node *root = ydoc_root(doc);
        int kind = root ? (int)root->kind : -1;
        ydoc_destroy(doc);
        if (kind != cases[i].kind)
            fail_msg("case %zu: root kind %d, want %d", i, kind, cases[i].kind);
    }
}

static void test_is_null(void **state)
{
    static const struct {
        const char *value; /* the text after "a: " */
        bool null;
    } cases[] = {
        { "", true },
        { "~", true },
        { "null", true },
        { "Null", true },
        { "NULL", true },
        { "nULL", false },
        { "none", false },
        { "'null'", false },
        { "\"\"", false },
        { "''", false },
        { "0", false },
        { "false", false },
        { "!!str null", false },
        { "[]", false },
        { "{}", false },
        { "\"~\"", false },
    };
    (void)state;
    for (size_t i = 0; i < JD_ARRAY_SIZE(cases); i++) {
        char text[64];
        snprintf(text, sizeof(text), "a: %s\n", cases[i].value);
        struct ydoc *doc = parse(text, NULL, 0);
        assert_non_null(doc);
        bool got = ydoc_is_null(ydoc_root(doc)->items[1]);
        ydoc_destroy(doc);
        if (got != cases[i].null)
            fail_msg("case %zu '%s': ydoc_is_null %d, want %d", i, cases[i].value, got,
                     cases[i].null);
    }
}

/* Keys that only look alike are distinct; the same key in two maps is fine. */
static void test_no_false_duplicates(void **state)
{
    static const char *const cases[] = {
        "a: 1\nab: 2\nb: 3\n", "a: {x: 1}\nb: {x: 2}\n", "- {k: 1}\n- {k: 2}\n",
        "x: 1\nX: 2\n",        "'a b': 1\na: 2\n",
    };
    (void)state;
    for (size_t i = 0; i < JD_ARRAY_SIZE(cases); i++) {
        char err[JD_ERRSTR_SIZE] = "";
        struct ydoc *doc = parse(cases[i], err, sizeof(err));
        if (!doc)
            fail_msg("case %zu: %s", i, err);
        ydoc_destroy(doc);
    }
}

/* --------------------------------------------------------------- errors */

static void test_errors(void **state)
{
    static const struct {
        const char *text;
        const char *want; /* exact prefix of the message, or a substring after '*' */
    } cases[] = {
        { "a: &x 1\n", "t.yaml:1:4: anchors (&x) are not allowed" },
        { "&k a: 1\n", "t.yaml:1:1: anchors (&k) are not allowed" },
        { "a: &m {x: 1}\n", "t.yaml:1:4: anchors (&m) are not allowed" },
        { "a: 1\nb: *x\n", "t.yaml:2:4: aliases (*name) are not allowed" },
        { "[*a]\n", "t.yaml:1:2: aliases (*name) are not allowed" },
        { "a: !foo 1\n", "t.yaml:1:4: unsupported tag !foo" },
        { "a: !!binary aGk=\n", "t.yaml:1:4: unsupported tag tag:yaml.org,2002:binary" },
        { "a: !!python/object x\n", "t.yaml:1:4: unsupported tag" },
        { "! x\n", "t.yaml:1:1: unsupported tag" },
        { "a: 1\nb: 2\na: 3\n", "t.yaml:3:1: duplicate key 'a' (also at line 1)" },
        { "a: 1\n'a': 2\n", "t.yaml:2:1: duplicate key 'a' (also at line 1)" },
        { "x: {y: 1, y: 2}\n", "t.yaml:1:11: duplicate key 'y' (also at line 1)" },
        { "s:\n  k: 1\n  j: 2\n  k: 3\n", "t.yaml:4:3: duplicate key 'k' (also at line 2)" },
        { "a: 1\n---\nb: 2\n", "t.yaml:2:1: only one YAML document per file" },
        { "a: 1\n...\n---\nb: 2\n", "t.yaml:3:1: only one YAML document per file" },
        { "? [a]\n: 1\n", "t.yaml:1:3: a mapping key must be a plain value, not a list" },
        { "{[1]: 2}", "t.yaml:1:2: a mapping key must be a plain value, not a list" },
        { "? {a: 1}\n: 2\n", "t.yaml:1:3: a mapping key must be a plain value, not a mapping" },
        { "a: [1, 2\n", "*t.yaml:2:1: did not find expected ',' or ']'" },
        { "a:\n\tb: 1\n", "*t.yaml:2:1: " },
        { "a: 'open\n", "*t.yaml:" },
        { "a: b: c\n", "*t.yaml:1:5: " },
    };
    (void)state;
    for (size_t i = 0; i < JD_ARRAY_SIZE(cases); i++) {
        char err[JD_ERRSTR_SIZE] = "";
        struct ydoc *doc = parse(cases[i].text, err, sizeof(err));
        if (doc) {
            ydoc_destroy(doc);
            fail_msg("case %zu: parsed, want error '%s'", i, cases[i].want);
        }
        const char *want = cases[i].want;
        bool ok =
            want[0] == '*' ? strstr(err, want + 1) != NULL : strncmp(err, want, strlen(want)) == 0;
        if (!ok)
            fail_msg("case %zu: error '%s', want '%s'", i, err, want);
    }
}

static void test_errors_without_errstr(void **state)
{
    (void)state;
    assert_null(ydoc_parse("t.yaml", "a: &x 1", 7, NULL, 0));
    assert_null(ydoc_parse("t.yaml", "a: [", 4, NULL, 0));
}

/* A small errstr is truncated, never overrun. */
static void test_error_truncated(void **state)
{
    char err[12];
    (void)state;
    memset(err, 'x', sizeof(err));
    assert_null(parse("a: 1\na: 2\n", err, 8));
    assert_string_equal(err, "t.yaml:");
    assert_int_equal(err[8], 'x');
}

/* The classic entity-expansion bomb is refused at its first anchor, at once. */
static void test_billion_laughs_fails_fast(void **state)
{
    size_t cap = 1 << 16, len = 0;
    char *text = malloc(cap);
    char err[JD_ERRSTR_SIZE] = "";
    (void)state;

    assert_non_null(text);
    len += (size_t)snprintf(text + len, cap - len, "l0: &l0 [\"lol\"");
    for (int k = 0; k < 9; k++)
        len += (size_t)snprintf(text + len, cap - len, ", \"lol\"");
    len += (size_t)snprintf(text + len, cap - len, "]\n");
    for (int lvl = 1; lvl < 10; lvl++) {
        len += (size_t)snprintf(text + len, cap - len, "l%d: &l%d [*l%d", lvl, lvl, lvl - 1);
        for (int k = 0; k < 9; k++)
            len += (size_t)snprintf(text + len, cap - len, ", *l%d", lvl - 1);
        len += (size_t)snprintf(text + len, cap - len, "]\n");
    }
    struct ydoc *doc = ydoc_parse("bomb.yaml", text, len, err, sizeof(err));
    free(text);
    assert_null(doc);
    /* refused at the first anchor's position: nothing was expanded (tests do not time) */
    assert_string_equal(err, "bomb.yaml:1:5: anchors (&l0) are not allowed");
}

/* Aliases are refused even without any anchor to expand (no lookup happens). */
static void test_many_aliases_fail_fast(void **state)
{
    size_t n = 100000, cap = n * 4 + 16, len = 0;
    char *text = malloc(cap);
    char err[JD_ERRSTR_SIZE] = "";
    (void)state;

    assert_non_null(text);
    len += (size_t)snprintf(text + len, cap - len, "[1");
    for (size_t i = 0; i < n; i++)
        len += (size_t)snprintf(text + len, cap - len, ",*a");
    len += (size_t)snprintf(text + len, cap - len, "]");
    struct ydoc *doc = ydoc_parse("t.yaml", text, len, err, sizeof(err));
    free(text);
    assert_null(doc);
    /* at the first alias: the other 99,999 were never looked at */
    assert_non_null(strstr(err, "t.yaml:1:4: aliases"));
}

/* --------------------------------------------------------------- limits */

static char *nested_seqs(int depth)
{
    char *s = malloc((size_t)depth * 2 + 1);
    assert_non_null(s);
    memset(s, '[', (size_t)depth);
    memset(s + depth, ']', (size_t)depth);
    s[depth * 2] = '\0';
    return s;
}

static void test_depth_limit(void **state)
{
    char err[JD_ERRSTR_SIZE] = "", want[128];
    (void)state;

    char *ok = nested_seqs(YDOC_MAX_DEPTH);
    struct ydoc *doc = parse(ok, err, sizeof(err));
    free(ok);
    if (!doc)
        fail_msg("%d levels refused: %s", YDOC_MAX_DEPTH, err);
    /* walk down to the innermost list */
    const struct ydoc_node *n = ydoc_root(doc);
    int levels = 1;
    while (n->n) {
        n = n->items[0];
        levels++;
    }
    assert_int_equal(levels, YDOC_MAX_DEPTH);
    ydoc_destroy(doc);

    char *deep = nested_seqs(YDOC_MAX_DEPTH + 1);
    doc = parse(deep, err, sizeof(err));
    free(deep);
    assert_null(doc);
    snprintf(want, sizeof(want), "t.yaml:1:%d: nesting deeper than %d levels", YDOC_MAX_DEPTH + 1,
             YDOC_MAX_DEPTH);
    assert_string_equal(err, want);
}

/* Block style too: 100 nested mappings fail at the 65th level's line. */
static void test_depth_limit_block(void **state)
{
    size_t cap = 100 * 220, len = 0;
    char *text = malloc(cap), err[JD_ERRSTR_SIZE] = "", want[128];
    (void)state;
    assert_non_null(text);
    for (int lvl = 0; lvl < 100; lvl++)
        len += (size_t)snprintf(text + len, cap - len, "%*sk:\n", 2 * lvl, "");
    len += (size_t)snprintf(text + len, cap - len, "%*sk: v\n", 200, "");
    struct ydoc *doc = ydoc_parse("t.yaml", text, len, err, sizeof(err));
    free(text);
    assert_null(doc);
    snprintf(want, sizeof(want), "t.yaml:%d:%d: nesting deeper than %d levels", YDOC_MAX_DEPTH + 1,
             2 * YDOC_MAX_DEPTH + 1, YDOC_MAX_DEPTH);
    assert_string_equal(err, want);
}

/* A flow list of `items` scalars: 1 + items nodes. */
static char *flat_list(size_t items, size_t *len)
{
    char *s = malloc(items * 2 + 2);
    size_t w = 0;
    assert_non_null(s);
    s[w++] = '[';
    for (size_t i = 0; i < items; i++) {
        s[w++] = '0';
        s[w++] = i + 1 < items ? ',' : ']';
    }
    s[w] = '\0';
    *len = w;
    return s;
}

static void test_node_limit(void **state)
{
    char err[JD_ERRSTR_SIZE] = "";
    size_t len;
    (void)state;

    char *ok = flat_list(YDOC_MAX_NODES - 1, &len);
    struct ydoc *doc = ydoc_parse("t.yaml", ok, len, err, sizeof(err));
    free(ok);
    if (!doc)
        fail_msg("%d nodes refused: %s", YDOC_MAX_NODES, err);
    assert_int_equal(ydoc_root(doc)->n, YDOC_MAX_NODES - 1);
    ydoc_destroy(doc);

    char *big = flat_list(YDOC_MAX_NODES, &len);
    doc = ydoc_parse("t.yaml", big, len, err, sizeof(err));
    free(big);
    assert_null(doc);
    assert_non_null(strstr(err, "more than 200000 YAML nodes"));
    assert_int_equal(strncmp(err, "t.yaml:1:", 9), 0);
}

static void test_byte_limit(void **state)
{
    char err[JD_ERRSTR_SIZE] = "";
    char *buf = malloc(YDOC_MAX_BYTES + 1);
    (void)state;

    assert_non_null(buf);
    /* exactly the limit: a key and a comment padding the rest */
    memset(buf, ' ', YDOC_MAX_BYTES + 1);
    memcpy(buf, "a: 1\n#", 6);
    buf[YDOC_MAX_BYTES - 1] = '\n';
    struct ydoc *doc = ydoc_parse("t.yaml", buf, YDOC_MAX_BYTES, err, sizeof(err));
    if (!doc) {
        free(buf);
        fail_msg("%u bytes refused: %s", YDOC_MAX_BYTES, err);
    }
    ydoc_destroy(doc);

    doc = ydoc_parse("t.yaml", buf, YDOC_MAX_BYTES + 1, err, sizeof(err));
    free(buf);
    assert_null(doc);
    assert_string_equal(err, "t.yaml: file is larger than 1048576 bytes");
}

/* Duplicate detection on a huge mapping (a quadratic scan would run into the test
 * timeout) names the later key. */
static void test_large_mapping(void **state)
{
    size_t n = 50000, cap = n * 24, len = 0; /* about 750 KB */
    char *text = malloc(cap), err[JD_ERRSTR_SIZE] = "", want[128];
    (void)state;

    assert_non_null(text);
    for (size_t i = 0; i < n; i++)
        len += (size_t)snprintf(text + len, cap - len, "key%zu: %zu\n", (i * 7919) % n, i);
    struct ydoc *doc = ydoc_parse("t.yaml", text, len, err, sizeof(err));
    if (!doc) {
        free(text);
        fail_msg("unique keys refused: %s", err);
    }
    assert_int_equal(ydoc_root(doc)->n, 2 * n);
    ydoc_destroy(doc);

    /* repeat the key of line 1 at the end */
    len += (size_t)snprintf(text + len, cap - len, "key0: again\n");
    doc = ydoc_parse("t.yaml", text, len, err, sizeof(err));
    free(text);
    assert_null(doc);
    snprintf(want, sizeof(want), "t.yaml:%zu:1: duplicate key 'key0' (also at line 1)", n + 1);
    assert_string_equal(err, want);
}

/* Random YAML-ish bytes: either a tree or a positioned error, never a crash or a leak. */
static void test_fuzz(void **state)
{
    static const char alphabet[] = "ab01 :-,[]{}'\"&*!#?|>\n\t\\%.~";
    char text[256];
    (void)state;
    rng_state = 7;
    for (int i = 0; i < 20000; i++) {
        size_t len = (size_t)(splitmix64() % sizeof(text));
        for (size_t k = 0; k < len; k++)
            text[k] = alphabet[splitmix64() % (sizeof(alphabet) - 1)];
        char err[JD_ERRSTR_SIZE] = "";
        struct ydoc *doc = ydoc_parse("f.yaml", text, len, err, sizeof(err));
        if (doc) {
            ydoc_destroy(doc);
        } else if (strncmp(err, "f.yaml:", 7) != 0) {
            fail_msg("input %d: error without a position: '%s'", i, err);
        }
    }
}

/* ------------------------------------------------------------ ydoc_load */

static char tmpdir[64];

static int make_tmpdir(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_ydoc.XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int remove_tmpdir(void **state)
{
    static const char *const files[] = { "ok.yaml", "bad.yaml", "empty.yaml", "huge.yaml" };
    char path[128];
    (void)state;
    for (size_t i = 0; i < JD_ARRAY_SIZE(files); i++) {
        snprintf(path, sizeof(path), "%s/%s", tmpdir, files[i]);
        unlink(path);
    }
    return rmdir(tmpdir);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

static void test_load(void **state)
{
    char path[128], err[JD_ERRSTR_SIZE] = "", want[256];
    (void)state;

    snprintf(path, sizeof(path), "%s/ok.yaml", tmpdir);
    write_file(path, "a:\n  b: [1, 2]\n");
    struct ydoc *doc = ydoc_load(path, err, sizeof(err));
    if (!doc)
        fail_msg("%s", err);
    assert_string_equal(ydoc_name(doc), path);
    assert_int_equal(ydoc_root(doc)->items[1]->items[1]->n, 2);
    ydoc_destroy(doc);

    /* errors carry the path */
    snprintf(path, sizeof(path), "%s/bad.yaml", tmpdir);
    write_file(path, "a: 1\nb: &x 2\n");
    assert_null(ydoc_load(path, err, sizeof(err)));
    snprintf(want, sizeof(want), "%s:2:4: anchors (&x) are not allowed", path);
    assert_string_equal(err, want);

    /* an empty file is an empty document */
    snprintf(path, sizeof(path), "%s/empty.yaml", tmpdir);
    write_file(path, "");
    doc = ydoc_load(path, err, sizeof(err));
    assert_non_null(doc);
    assert_null(ydoc_root(doc));
    ydoc_destroy(doc);
}

static void test_load_errors(void **state)
{
    char path[128], err[JD_ERRSTR_SIZE] = "";
    (void)state;

    snprintf(path, sizeof(path), "%s/missing.yaml", tmpdir);
    assert_null(ydoc_load(path, err, sizeof(err)));
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, "No such file"));

    assert_null(ydoc_load(tmpdir, err, sizeof(err)));
    assert_non_null(strstr(err, "not a regular file"));

    /* the size is checked before reading (a sparse file costs nothing) */
    snprintf(path, sizeof(path), "%s/huge.yaml", tmpdir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(ftruncate(fileno(f), (off_t)YDOC_MAX_BYTES + 1), 0);
    fclose(f);
    assert_null(ydoc_load(path, err, sizeof(err)));
    assert_non_null(strstr(err, "larger than 1048576 bytes"));
}

static void test_destroy_null(void **state)
{
    (void)state;
    ydoc_destroy(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tree_and_positions),
        cmocka_unit_test(test_block_sequence_and_scalars),
        cmocka_unit_test(test_scalar_length_with_nul),
        cmocka_unit_test(test_root_kinds),
        cmocka_unit_test(test_is_null),
        cmocka_unit_test(test_no_false_duplicates),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_errors_without_errstr),
        cmocka_unit_test(test_error_truncated),
        cmocka_unit_test(test_billion_laughs_fails_fast),
        cmocka_unit_test(test_many_aliases_fail_fast),
        cmocka_unit_test(test_depth_limit),
        cmocka_unit_test(test_depth_limit_block),
        cmocka_unit_test(test_node_limit),
        cmocka_unit_test(test_byte_limit),
        cmocka_unit_test(test_large_mapping),
        cmocka_unit_test(test_fuzz),
        cmocka_unit_test(test_load),
        cmocka_unit_test(test_load_errors),
        cmocka_unit_test(test_destroy_null),
    };
    return cmocka_run_group_tests_name("ydoc", tests, make_tmpdir, remove_tmpdir);
}
