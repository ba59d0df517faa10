/*
 * mpack.c — an allocation-free MessagePack reader filling a struct doc.
 *
 * Owns MessagePack syntax only. Every declared length is checked against the
 * bytes that remain before it is used, so a header claiming 4 GiB costs
 * nothing; container counts are checked the same way (each element needs at
 * least one byte). Strings must be UTF-8; ext values are kept as opaque
 * nodes so they can be skipped. Tests encode with msgpack-c, an independent
 * implementation, so the two check each other.
 */
#include "decode/doc.h"

#include <string.h>

struct mpack_frame {
    uint32_t idx;       /* container node */
    uint32_t remaining; /* elements (maps: keys + values) still to read */
    bool is_map;
};

static uint64_t mpack_be(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

enum jd_err mpack_parse(struct doc *d, const char *buf, size_t len, char *errstr,
                        size_t errstr_size)
{
    const unsigned char *b = (const unsigned char *)buf;
    struct mpack_frame stack[DOC_MAX_DEPTH];
    int depth = 0;
    size_t pos = 0;
    const char *key = NULL;
    uint32_t key_len = 0;
    bool key_bad = false;

#define MPACK_FAIL(code, what)                                                                     \
    return jd_errf(code, errstr, errstr_size, "%s at byte %zu", what, pos)
#define MPACK_NEED(k)                                                                              \
    do {                                                                                           \
        if ((k) > len - pos)                                                                       \
            MPACK_FAIL(JD_ERR_EV_MSGPACK_SYNTAX, "truncated input");                               \
    } while (0)

    doc_reset(d);
    if (len + 2 > d->cap)
        return jd_errf(JD_ERR_EV_TOO_LARGE, errstr, errstr_size, "message of %zu bytes", len);

    for (;;) {
        bool reading_key =
            depth > 0 && stack[depth - 1].is_map && stack[depth - 1].remaining % 2 == 0;
        MPACK_NEED(1);
        unsigned c = b[pos];
        size_t hdr = 1;
        uint64_t slen = 0, count = 0;
        enum doc_type type;
        union {
            int64_t i;
            uint64_t u;
            double d;
            bool b;
        } num = { 0 };

        if (c <= 0x7f) {
            type = DOC_INT;
            num.i = c;
        } else if (c >= 0xe0) {
            type = DOC_INT;
            num.i = (int8_t)c;
        } else if (c >= 0x80 && c <= 0x8f) {
            type = DOC_OBJ;
            count = c & 0x0f;
        } else if (c >= 0x90 && c <= 0x9f) {
            type = DOC_ARR;
            count = c & 0x0f;
        } else if (c >= 0xa0 && c <= 0xbf) {
            type = DOC_STR;
            slen = c & 0x1f;
        } else {
            switch (c) {
            case 0xc0:
                type = DOC_NULL;
                break;
            case 0xc2:
            case 0xc3:
                type = DOC_BOOL;
                num.b = c == 0xc3;
                break;
            case 0xc4:
            case 0xc5:
            case 0xc6: {
                int w = c == 0xc4 ? 1 : c == 0xc5 ? 2 : 4;
                MPACK_NEED(1 + (size_t)w);
                type = DOC_BIN;
                slen = mpack_be(b + pos + 1, w);
                hdr += (size_t)w;
                break;
            }
            case 0xc7:
            case 0xc8:
            case 0xc9: {
                int w = c == 0xc7 ? 1 : c == 0xc8 ? 2 : 4;
                MPACK_NEED(2 + (size_t)w);
                type = DOC_OTHER;
                slen = mpack_be(b + pos + 1, w);
                hdr += (size_t)w + 1; /* length, then the ext type byte */
                break;
            }
            case 0xca: {
                MPACK_NEED(5);
                uint32_t bits = (uint32_t)mpack_be(b + pos + 1, 4);
                float f;
                memcpy(&f, &bits, 4);
                type = DOC_FLOAT;
                num.d = f;
                hdr += 4;
                break;
            }
            case 0xcb: {
                MPACK_NEED(9);
                uint64_t bits = mpack_be(b + pos + 1, 8);
                memcpy(&num.d, &bits, 8);
                type = DOC_FLOAT;
                hdr += 8;
                break;
            }
            case 0xcc:
            case 0xcd:
            case 0xce:
            case 0xcf: {
                int w = 1 << (c - 0xcc);
                MPACK_NEED(1 + (size_t)w);
                uint64_t u = mpack_be(b + pos + 1, w);
                if (u > (uint64_t)INT64_MAX) {
                    type = DOC_UINT;
                    num.u = u;
                } else {
                    type = DOC_INT;
                    num.i = (int64_t)u;
                }
                hdr += (size_t)w;
                break;
            }
            case 0xd0:
            case 0xd1:
            case 0xd2:
            case 0xd3: {
                int w = 1 << (c - 0xd0);
                MPACK_NEED(1 + (size_t)w);
                uint64_t u = mpack_be(b + pos + 1, w);
                /* sign-extend from w bytes */
                if (w < 8 && (u >> (w * 8 - 1)) & 1)
                    u |= ~UINT64_C(0) << (w * 8);
                type = DOC_INT;
                memcpy(&num.i, &u, 8);
                hdr += (size_t)w;
                break;
            }
            case 0xd4:
            case 0xd5:
            case 0xd6:
            case 0xd7:
            case 0xd8:
                type = DOC_OTHER;
                slen = (uint64_t)1 << (c - 0xd4);
                hdr += 1; /* ext type byte */
                break;
            case 0xd9:
            case 0xda:
            case 0xdb: {
                int w = c == 0xd9 ? 1 : c == 0xda ? 2 : 4;
                MPACK_NEED(1 + (size_t)w);
                type = DOC_STR;
                slen = mpack_be(b + pos + 1, w);
                hdr += (size_t)w;
                break;
            }
            case 0xdc:
            case 0xdd:
            case 0xde:
            case 0xdf: {
                int w = (c == 0xdc || c == 0xde) ? 2 : 4;
                MPACK_NEED(1 + (size_t)w);
                type = c <= 0xdd ? DOC_ARR : DOC_OBJ;
                count = mpack_be(b + pos + 1, w);
                hdr += (size_t)w;
                break;
            }
            default: /* 0xc1 is never used */
                MPACK_FAIL(JD_ERR_EV_MSGPACK_SYNTAX, "invalid type byte");
            }
        }
        MPACK_NEED(hdr);
        if (slen > len - pos - hdr)
            MPACK_FAIL(JD_ERR_EV_MSGPACK_SYNTAX, "declared length exceeds the message");
        const char *data = buf + pos + hdr;
        size_t start = pos;
        pos += hdr + (size_t)slen;

        if (type == DOC_STR && !doc_utf8_valid(data, (size_t)slen)) {
            pos = start;
            MPACK_FAIL(JD_ERR_EV_BAD_UTF8, "invalid UTF-8 in string");
        }
        if (reading_key) {
            /* a map key: remember it for the value that follows */
            stack[depth - 1].remaining--;
            if (type == DOC_STR) {
                key = data;
                key_len = (uint32_t)slen;
                key_bad = false;
            } else if (type == DOC_OBJ || type == DOC_ARR) {
                pos = start;
                MPACK_FAIL(JD_ERR_EV_MSGPACK_SYNTAX, "a map key must not be a container");
            } else {
                key = NULL;
                key_len = 0;
                key_bad = true;
            }
            continue;
        }

        if (d->n >= d->cap)
            MPACK_FAIL(JD_ERR_EV_MSGPACK_SYNTAX, "too many values");
        uint32_t idx = d->n++;
        struct doc_node *n = &d->nodes[idx];
        memset(n, 0, sizeof(*n));
        n->type = (uint8_t)type;
        n->key = key;
        n->key_len = key_len;
        n->flags = key_bad ? DOC_F_BADKEY : 0;
        key = NULL;
        key_len = 0;
        key_bad = false;
        if (type == DOC_STR || type == DOC_BIN || type == DOC_OTHER) {
            n->s = data;
            n->len = (uint32_t)slen;
        } else {
            memcpy(&n->num, &num, sizeof(num));
        }
        if (depth > 0) {
            d->nodes[stack[depth - 1].idx].count++;
            stack[depth - 1].remaining--;
        }

        if (type == DOC_OBJ || type == DOC_ARR) {
            uint64_t elems = type == DOC_OBJ ? count * 2 : count;
            if (elems > len - pos)
                MPACK_FAIL(JD_ERR_EV_MSGPACK_SYNTAX, "declared count exceeds the message");
            if (elems > 0) {
                if (depth >= DOC_MAX_DEPTH)
                    MPACK_FAIL(JD_ERR_EV_TOO_DEEP, "nesting too deep");
                stack[depth++] = (struct mpack_frame){ idx, (uint32_t)elems, type == DOC_OBJ };
                continue;
            }
        }
        n->end = idx + 1;

        /* close every container whose elements are all read */
        while (depth > 0 && stack[depth - 1].remaining == 0) {
            d->nodes[stack[depth - 1].idx].end = d->n;
            depth--;
        }
        if (depth == 0) {
            if (pos != len)
                MPACK_FAIL(JD_ERR_EV_MSGPACK_SYNTAX, "trailing bytes after the object");
            return JD_OK;
        }
    }
#undef MPACK_FAIL
#undef MPACK_NEED
}
