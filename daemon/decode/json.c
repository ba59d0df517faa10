/*
 * json.c — a strict, allocation-free JSON parser filling a struct doc.
 *
 * Owns JSON syntax only (RFC 8259): UTF-8 is validated everywhere, escapes
 * (including surrogate pairs) are decoded into the doc's scratch buffer, and
 * numbers are checked against the grammar but kept as text so that event.c
 * can convert them exactly. Nesting is iterative with a fixed stack, so a
 * hostile depth cannot exhaust the C stack. This runs once per message on
 * the hot path: strings are scanned with a byte-class table.
 */
#include "decode/doc.h"

#include <stdio.h>
#include <string.h>

/* Byte classes inside a string: 0 plain ASCII, 1 quote/backslash, 2 control, 3 non-ASCII. */
static const unsigned char json_str_class[256] = {
    /* 0x00-0x1f: control characters must be escaped */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
};

struct json_p {
    struct doc *d;
    const char *buf;
    size_t len, pos;
    char *errstr;
    size_t errstr_size;
};

static enum jd_err json_fail(struct json_p *p, enum jd_err err, const char *what)
{
    return jd_errf(err, p->errstr, p->errstr_size, "%s at byte %zu", what, p->pos);
}

static void json_skip_ws(struct json_p *p)
{
    while (p->pos < p->len) {
        char c = p->buf[p->pos];
        if (c != ' ' && c != '\n' && c != '\r' && c != '\t')
            break;
        p->pos++;
    }
}

static int json_hex4(const char *s)
{
    int v = 0;
    for (int i = 0; i < 4; i++) {
        char c = s[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= c - '0';
        else if (c >= 'a' && c <= 'f')
            v |= c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            v |= c - 'A' + 10;
        else
            return -1;
    }
    return v;
}

static size_t json_put_utf8(char *out, uint32_t cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/*
 * Parses the string starting after its opening quote. On success out and outlen
 * point at the decoded bytes: a slice of the input when there were no escapes,
 * else a copy in the doc's scratch buffer.
 */
static enum jd_err json_string(struct json_p *p, const char **out, uint32_t *outlen)
{
    const char *b = p->buf;
    size_t start = p->pos, i = p->pos;
    bool non_ascii = false;

    for (;;) {
        while (i < p->len && json_str_class[(unsigned char)b[i]] == 0)
            i++;
        if (i >= p->len) {
            p->pos = i;
            return json_fail(p, JD_ERR_EV_JSON_SYNTAX, "unterminated string");
        }
        unsigned char cls = json_str_class[(unsigned char)b[i]];
        if (cls == 3) {
            non_ascii = true;
            i++;
            continue;
        }
        if (cls == 2) {
            p->pos = i;
            return json_fail(p, JD_ERR_EV_JSON_SYNTAX, "control character in string");
        }
        break; /* quote or backslash */
    }
    if (b[i] == '"') {
        if (non_ascii && !doc_utf8_valid(b + start, i - start)) {
            p->pos = start;
            return json_fail(p, JD_ERR_EV_BAD_UTF8, "invalid UTF-8 in string");
        }
        *out = b + start;
        *outlen = (uint32_t)(i - start);
        p->pos = i + 1;
        return JD_OK;
    }

    /* escapes: decode into scratch, validating the raw UTF-8 parts as we go */
    struct doc *d = p->d;
    char *dst = d->scratch + d->scratch_len;
    size_t w = 0, run = start;
    while (i < p->len) {
        unsigned char c = (unsigned char)b[i];
        if (c == '"' || c == '\\') {
            if (i > run) {
                if (!doc_utf8_valid(b + run, i - run)) {
                    p->pos = run;
                    return json_fail(p, JD_ERR_EV_BAD_UTF8, "invalid UTF-8 in string");
                }
                memcpy(dst + w, b + run, i - run);
                w += i - run;
            }
            if (c == '"') {
                d->scratch_len += w;
                *out = dst;
                *outlen = (uint32_t)w;
                p->pos = i + 1;
                return JD_OK;
            }
            if (i + 1 >= p->len) {
                p->pos = i;
                return json_fail(p, JD_ERR_EV_JSON_SYNTAX, "unterminated escape");
            }
            char e = b[i + 1];
            i += 2;
            switch (e) {
            case '"':
            case '\\':
            case '/':
                dst[w++] = e;
                break;
            case 'b':
                dst[w++] = '\b';
                break;
            case 'f':
                dst[w++] = '\f';
                break;
            case 'n':
                dst[w++] = '\n';
                break;
            case 'r':
                dst[w++] = '\r';
                break;
            case 't':
                dst[w++] = '\t';
                break;
            case 'u': {
                int hi = i + 4 <= p->len ? json_hex4(b + i) : -1;
                if (hi < 0) {
                    p->pos = i;
                    return json_fail(p, JD_ERR_EV_JSON_SYNTAX, "bad \\u escape");
                }
                i += 4;
                uint32_t cp = (uint32_t)hi;
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    int lo = (i + 6 <= p->len && b[i] == '\\' && b[i + 1] == 'u')
                                 ? json_hex4(b + i + 2)
                                 : -1;
                    if (lo < 0xDC00 || lo > 0xDFFF) {
                        p->pos = i;
                        return json_fail(p, JD_ERR_EV_BAD_UTF8, "lone surrogate in \\u escape");
                    }
                    i += 6;
                    cp = 0x10000 + ((cp - 0xD800) << 10) + ((uint32_t)lo - 0xDC00);
                } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                    p->pos = i;
                    return json_fail(p, JD_ERR_EV_BAD_UTF8, "lone surrogate in \\u escape");
                }
                w += json_put_utf8(dst + w, cp);
                break;
            }
            default:
                p->pos = i - 1;
                return json_fail(p, JD_ERR_EV_JSON_SYNTAX, "invalid escape");
            }
            run = i;
            continue;
        }
        if (c < 0x20) {
            p->pos = i;
            return json_fail(p, JD_ERR_EV_JSON_SYNTAX, "control character in string");
        }
        i++;
    }
    p->pos = i;
    return json_fail(p, JD_ERR_EV_JSON_SYNTAX, "unterminated string");
}

/* Checks the number grammar; the text is kept for exact conversion later. */
static enum jd_err json_number(struct json_p *p, struct doc_node *n)
{
    const char *b = p->buf;
    size_t i = p->pos, start = i;

    if (i < p->len && b[i] == '-')
        i++;
    if (i >= p->len)
        goto bad;
    if (b[i] == '0') {
        i++;
    } else if (b[i] >= '1' && b[i] <= '9') {
        while (i < p->len && b[i] >= '0' && b[i] <= '9')
            i++;
    } else {
        goto bad;
    }
    if (i < p->len && b[i] == '.') {
        i++;
        if (i >= p->len || b[i] < '0' || b[i] > '9')
            goto bad;
        while (i < p->len && b[i] >= '0' && b[i] <= '9')
            i++;
    }
    if (i < p->len && (b[i] == 'e' || b[i] == 'E')) {
        i++;
        if (i < p->len && (b[i] == '+' || b[i] == '-'))
            i++;
        if (i >= p->len || b[i] < '0' || b[i] > '9')
            goto bad;
        while (i < p->len && b[i] >= '0' && b[i] <= '9')
            i++;
    }
    n->type = DOC_NUMTEXT;
    n->s = b + start;
    n->len = (uint32_t)(i - start);
    p->pos = i;
    return JD_OK;
bad:
    p->pos = i;
    return json_fail(p, JD_ERR_EV_JSON_SYNTAX, "invalid number");
}

static bool json_literal(struct json_p *p, const char *lit, size_t n)
{
    if (p->len - p->pos < n || memcmp(p->buf + p->pos, lit, n))
        return false;
    p->pos += n;
    return true;
}

enum jd_err json_parse(struct doc *d, const char *buf, size_t len, char *errstr, size_t errstr_size)
{
    struct json_p p = { d, buf, len, 0, errstr, errstr_size };
    uint32_t stack[DOC_MAX_DEPTH]; /* indices of open containers */
    int depth = 0;
    enum jd_err err;

    doc_reset(d);
    if (len + 64 > d->scratch_cap)
        return jd_errf(JD_ERR_EV_TOO_LARGE, errstr, errstr_size, "message of %zu bytes", len);
    if (len >= 3 && (unsigned char)buf[0] == 0xEF && (unsigned char)buf[1] == 0xBB &&
        (unsigned char)buf[2] == 0xBF)
        return json_fail(&p, JD_ERR_EV_JSON_SYNTAX, "byte order mark not allowed");
    json_skip_ws(&p);

    for (;;) {
        const char *key = NULL;
        uint32_t key_len = 0;

        /* in an object, a member starts with its name */
        if (depth > 0 && d->nodes[stack[depth - 1]].type == DOC_OBJ) {
            if (p.pos >= len || buf[p.pos] != '"')
                return json_fail(&p, JD_ERR_EV_JSON_SYNTAX, "expected a member name");
            p.pos++;
            if ((err = json_string(&p, &key, &key_len)))
                return err;
            json_skip_ws(&p);
            if (p.pos >= len || buf[p.pos] != ':')
                return json_fail(&p, JD_ERR_EV_JSON_SYNTAX, "expected ':'");
            p.pos++;
            json_skip_ws(&p);
        }
        if (p.pos >= len)
            return json_fail(&p, JD_ERR_EV_JSON_SYNTAX, "unexpected end of input");
        if (d->n >= d->cap)
            return json_fail(&p, JD_ERR_EV_JSON_SYNTAX, "too many values");

        uint32_t idx = d->n++;
        struct doc_node *n = &d->nodes[idx];
        memset(n, 0, sizeof(*n));
        n->key = key;
        n->key_len = key_len;
        if (depth > 0)
            d->nodes[stack[depth - 1]].count++;

        char c = buf[p.pos];
        bool opened = false;
        switch (c) {
        case '{':
        case '[':
            if (depth >= DOC_MAX_DEPTH)
                return json_fail(&p, JD_ERR_EV_TOO_DEEP, "nesting too deep");
            n->type = c == '{' ? DOC_OBJ : DOC_ARR;
            stack[depth++] = idx;
            p.pos++;
            json_skip_ws(&p);
            if (p.pos < len && buf[p.pos] == (c == '{' ? '}' : ']')) {
                p.pos++;
                depth--;
                n->end = d->n;
            } else {
                opened = true;
            }
            break;
        case '"':
            p.pos++;
            n->type = DOC_STR;
            if ((err = json_string(&p, &n->s, &n->len)))
                return err;
            break;
        case 't':
        case 'f':
            n->type = DOC_BOOL;
            n->num.b = c == 't';
            if (!json_literal(&p, c == 't' ? "true" : "false", c == 't' ? 4 : 5))
                return json_fail(&p, JD_ERR_EV_JSON_SYNTAX, "invalid literal");
            break;
        case 'n':
            n->type = DOC_NULL;
            if (!json_literal(&p, "null", 4))
                return json_fail(&p, JD_ERR_EV_JSON_SYNTAX, "invalid literal");
            break;
        default:
            if (c == '-' || (c >= '0' && c <= '9')) {
                if ((err = json_number(&p, n)))
                    return err;
            } else {
                return json_fail(&p, JD_ERR_EV_JSON_SYNTAX, "unexpected character");
            }
        }
        if (opened)
            continue;
        n->end = idx + 1; /* a scalar, or an empty container */

        /* after a value: close containers, or find the separator */
        for (;;) {
            json_skip_ws(&p);
            if (depth == 0) {
                if (p.pos != len)
                    return json_fail(&p, JD_ERR_EV_JSON_SYNTAX, "trailing characters");
                return JD_OK;
            }
            struct doc_node *top = &d->nodes[stack[depth - 1]];
            char close = top->type == DOC_OBJ ? '}' : ']';
            if (p.pos >= len)
                return json_fail(&p, JD_ERR_EV_JSON_SYNTAX, "unexpected end of input");
            if (buf[p.pos] == ',') {
                p.pos++;
                json_skip_ws(&p);
                break;
            }
            if (buf[p.pos] != close)
                return json_fail(&p, JD_ERR_EV_JSON_SYNTAX,
                                 close == '}' ? "expected ',' or '}'" : "expected ',' or ']'");
            p.pos++;
            top->end = d->n;
            depth--;
        }
    }
}
