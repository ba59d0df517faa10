/*
 * test_msgpack.c — unit tests of decode/mpack.c through event_decode(), with messages encoded
 * by msgpack-c (an independent implementation) rather than by hand.
 *
 * Each row is a small program for the encoder ("{ event_id e1 ts i64:0 }", see mp_pack()) and
 * either the JSON text of the same event — both must decode to the identical event — or the
 * exact DLQ reason (jd_err2name()). Covers every integer width, float32/float64, bin and ext
 * values, non-string keys, lying length headers, nesting, trailing bytes, NaN/Inf, invalid
 * UTF-8 and the events.encoding switch. Hostile inputs (every prefix, random byte flips,
 * 100k levels of nesting) must give a DLQ code and never crash.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "core/config.h"
#include "core/err.h"
#include "core/ts.h"
#include "decode/doc.h"
#include "decode/event.h"

#include <msgpack.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- Decoders ---------------------------------------------------------------------------- */

struct dec {
    struct config *cfg;
    struct event_decoder *d;
    struct event *ev;
    char err[JD_ERRSTR_SIZE];
};

/* Live decoders and buffers, freed by the teardown if an assertion longjmps out of a test. */
static struct dec *live_decs[4];
static msgpack_sbuffer *live_bufs[4];
static char *live_text[4];

static void dec_free(struct dec *x)
{
    event_decoder_destroy(x->d);
    config_destroy(x->cfg);
    free(x->ev);
    free(x);
}

/* Defaults plus `settings`: "name=value" lines joined by '\n'. */
static struct dec *dec_open(const char *settings)
{
    char err[JD_ERRSTR_SIZE], line[256];
    struct event_decoder_opts o;
    struct dec *x = calloc(1, sizeof(*x));
    size_t slot = 0;

    assert_non_null(x);
    while (slot < JD_ARRAY_SIZE(live_decs) && live_decs[slot])
        slot++;
    if (slot == JD_ARRAY_SIZE(live_decs)) {
        free(x);
        fail_msg("too many decoders in one test");
    }
    live_decs[slot] = x;
    x->cfg = config_new();
    assert_non_null(x->cfg);
    for (const char *s = settings; s && *s;) {
        size_t n = strcspn(s, "\n");
        assert_true(n < sizeof(line));
        memcpy(line, s, n);
        line[n] = '\0';
        s += n + (s[n] == '\n');
        char *eq = strchr(line, '=');
        if (!eq)
            fail_msg("bad setting in test table: %s", line);
        *eq = '\0';
        if (config_set(x->cfg, line, eq + 1, err, sizeof(err)) != JD_OK)
            fail_msg("config_set %s: %s", line, err);
    }
    event_decoder_opts_from_config(&o, x->cfg);
    x->d = event_decoder_new(&o, err, sizeof(err));
    if (!x->d)
        fail_msg("event_decoder_new: %s", err);
    x->ev = calloc(1, sizeof(*x->ev));
    assert_non_null(x->ev);
    return x;
}

static void dec_close(struct dec *x)
{
    for (size_t i = 0; i < JD_ARRAY_SIZE(live_decs); i++)
        if (live_decs[i] == x)
            live_decs[i] = NULL;
    dec_free(x);
}

static enum jd_err dec_run(struct dec *x, const void *buf, size_t len)
{
    x->err[0] = '\0';
    return event_decode(x->d, buf, len, NULL, 0, INT64_MAX, x->ev, x->err, sizeof(x->err));
}

/* ---- The encoder program ----------------------------------------------------------------- */

/*
 * A program is a sequence of space-separated tokens, packed with msgpack-c:
 *   { ... }  a map (the pair count is counted)     [ ... ]  an array
 *   nil true false
 *   i:N      msgpack_pack_int64 (the smallest form)  i8: i16: i32: i64:  a fixed-width int
 *   u:N      msgpack_pack_uint64 (the smallest form) u8: u16: u32: u64:  a fixed-width uint
 *   f32:X f64:X (strtod: "nan", "inf", "-inf" too)
 *   s:TEXT   a str (also any other bare token)       b:TEXT  a bin
 *   sn:N bn:N   a str / bin of N bytes ('a')         x:T:TEXT  ext of type T;  xn:T:N  N bytes
 *   raw:HEX  bytes written as they are (counts as one element)
 * TEXT is percent-decoded ("Order%20Completed", "%FF").
 */
static size_t pct_decode(const char *s, char *out)
{
    size_t w = 0;
    for (; *s; s++) {
        unsigned v;
        if (s[0] == '%' && s[1] && s[2] && sscanf(s + 1, "%2x", &v) == 1) {
            out[w++] = (char)v;
            s += 2;
        } else {
            out[w++] = *s;
        }
    }
    return w;
}

static bool mp_scalar(msgpack_packer *pk, msgpack_sbuffer *sb, const char *t)
{
    char text[512];
    size_t n;
    const char *colon = strchr(t, ':');
    const char *arg = colon ? colon + 1 : "";
    size_t plen = colon ? (size_t)(colon - t) : 0;

#define PFX(p) (plen == strlen(p) && !strncmp(t, p, plen))
    if (!strcmp(t, "nil"))
        return msgpack_pack_nil(pk) == 0;
    if (!strcmp(t, "true"))
        return msgpack_pack_true(pk) == 0;
    if (!strcmp(t, "false"))
        return msgpack_pack_false(pk) == 0;
    if (PFX("i"))
        return msgpack_pack_int64(pk, strtoll(arg, NULL, 10)) == 0;
    if (PFX("i8"))
        return msgpack_pack_fix_int8(pk, (int8_t)strtol(arg, NULL, 10)) == 0;
    if (PFX("i16"))
        return msgpack_pack_fix_int16(pk, (int16_t)strtol(arg, NULL, 10)) == 0;
    if (PFX("i32"))
        return msgpack_pack_fix_int32(pk, (int32_t)strtol(arg, NULL, 10)) == 0;
    if (PFX("i64"))
        return msgpack_pack_fix_int64(pk, strtoll(arg, NULL, 10)) == 0;
    if (PFX("u"))
        return msgpack_pack_uint64(pk, strtoull(arg, NULL, 10)) == 0;
    if (PFX("u8"))
        return msgpack_pack_fix_uint8(pk, (uint8_t)strtoul(arg, NULL, 10)) == 0;
    if (PFX("u16"))
        return msgpack_pack_fix_uint16(pk, (uint16_t)strtoul(arg, NULL, 10)) == 0;
    if (PFX("u32"))
        return msgpack_pack_fix_uint32(pk, (uint32_t)strtoul(arg, NULL, 10)) == 0;
    if (PFX("u64"))
        return msgpack_pack_fix_uint64(pk, strtoull(arg, NULL, 10)) == 0;
    if (PFX("f32"))
        return msgpack_pack_float(pk, strtof(arg, NULL)) == 0;
    if (PFX("f64"))
        return msgpack_pack_double(pk, strtod(arg, NULL)) == 0;
    if (PFX("raw")) {
        for (const char *h = arg; h[0] && h[1]; h += 2) {
            unsigned v;
            if (sscanf(h, "%2x", &v) != 1)
                return false;
            char c = (char)v;
            msgpack_sbuffer_write(sb, &c, 1);
        }
        return true;
    }
    if (PFX("sn") || PFX("bn")) {
        size_t len = strtoul(arg, NULL, 10);
        char *fill = malloc(len ? len : 1);
        if (!fill)
            return false;
        memset(fill, 'a', len);
        int rc = t[0] == 's' ? msgpack_pack_str_with_body(pk, fill, len)
                             : msgpack_pack_bin_with_body(pk, fill, len);
        free(fill);
        return rc == 0;
    }
    if (PFX("x") || PFX("xn")) {
        char *end;
        long type = strtol(arg, &end, 10);
        if (*end != ':')
            return false;
        if (PFX("x")) {
            n = pct_decode(end + 1, text);
            return msgpack_pack_ext_with_body(pk, text, n, (int8_t)type) == 0;
        }
        size_t len = strtoul(end + 1, NULL, 10);
        char *fill = calloc(1, len ? len : 1);
        if (!fill)
            return false;
        int rc = msgpack_pack_ext_with_body(pk, fill, len, (int8_t)type);
        free(fill);
        return rc == 0;
    }
    if (PFX("b")) {
        n = pct_decode(arg, text);
        return msgpack_pack_bin_with_body(pk, text, n) == 0;
    }
    n = pct_decode(PFX("s") ? arg : t, text);
    return msgpack_pack_str_with_body(pk, text, n) == 0;
#undef PFX
}

/* Packs values until `close` (or the end); returns how many, or -1 on a bad program. */
static long mp_values(msgpack_sbuffer *out, const char **cur, char close)
{
    msgpack_packer pk;
    long count = 0;
    msgpack_packer_init(&pk, out, msgpack_sbuffer_write);

    for (;;) {
        char tok[512];
        while (**cur == ' ')
            (*cur)++;
        size_t n = strcspn(*cur, " ");
        if (n == 0)
            return close ? -1 : count;
        if (n >= sizeof(tok))
            return -1;
        memcpy(tok, *cur, n);
        tok[n] = '\0';
        *cur += n;
        if (n == 1 && (tok[0] == '}' || tok[0] == ']'))
            return tok[0] == close ? count : -1;
        if (n == 1 && (tok[0] == '{' || tok[0] == '[')) {
            msgpack_sbuffer child;
            msgpack_sbuffer_init(&child);
            long k = mp_values(&child, cur, tok[0] == '{' ? '}' : ']');
            bool ok = k >= 0 && (tok[0] == '[' || k % 2 == 0);
            if (ok)
                ok = (tok[0] == '{' ? msgpack_pack_map(&pk, (size_t)k / 2)
                                    : msgpack_pack_array(&pk, (size_t)k)) == 0;
            if (ok && child.size)
                msgpack_sbuffer_write(out, child.data, child.size);
            msgpack_sbuffer_destroy(&child);
            if (!ok)
                return -1;
        } else if (!mp_scalar(&pk, out, tok)) {
            return -1;
        }
        count++;
    }
}

/* Encodes `prog` into a buffer owned by the test (released by mp_free or the teardown). */
static msgpack_sbuffer *mp_pack(const char *prog)
{
    msgpack_sbuffer *sb = msgpack_sbuffer_new();
    size_t slot = 0;
    assert_non_null(sb);
    while (slot < JD_ARRAY_SIZE(live_bufs) && live_bufs[slot])
        slot++;
    if (slot == JD_ARRAY_SIZE(live_bufs)) {
        msgpack_sbuffer_free(sb);
        fail_msg("too many buffers in one test");
    }
    live_bufs[slot] = sb;
    const char *cur = prog;
    if (mp_values(sb, &cur, 0) < 0)
        fail_msg("bad msgpack program in test table: %s", prog);
    return sb;
}

static void mp_free(msgpack_sbuffer *sb)
{
    for (size_t i = 0; i < JD_ARRAY_SIZE(live_bufs); i++)
        if (live_bufs[i] == sb)
            live_bufs[i] = NULL;
    msgpack_sbuffer_free(sb);
}

/* A JSON row with ' for ". */
static char *json_text(const char *tmpl)
{
    char *s = strdup(tmpl);
    size_t slot = 0;
    assert_non_null(s);
    for (char *p = s; *p; p++)
        if (*p == '\'')
            *p = '"';
    while (slot < JD_ARRAY_SIZE(live_text) && live_text[slot])
        slot++;
    if (slot == JD_ARRAY_SIZE(live_text)) {
        free(s);
        fail_msg("too many texts in one test");
    }
    live_text[slot] = s;
    return s;
}

static void text_free(char *s)
{
    for (size_t i = 0; i < JD_ARRAY_SIZE(live_text); i++)
        if (live_text[i] == s)
            live_text[i] = NULL;
    free(s);
}

static int release_all(void **state)
{
    (void)state;
    for (size_t i = 0; i < JD_ARRAY_SIZE(live_decs); i++) {
        if (live_decs[i])
            dec_free(live_decs[i]);
        live_decs[i] = NULL;
    }
    for (size_t i = 0; i < JD_ARRAY_SIZE(live_bufs); i++) {
        if (live_bufs[i])
            msgpack_sbuffer_free(live_bufs[i]);
        live_bufs[i] = NULL;
    }
    for (size_t i = 0; i < JD_ARRAY_SIZE(live_text); i++) {
        free(live_text[i]);
        live_text[i] = NULL;
    }
    return 0;
}

/* ---- Rendering and invariants ------------------------------------------------------------ */

static void put(char *buf, size_t size, size_t *w, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void put(char *buf, size_t size, size_t *w, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + *w, size - *w, fmt, ap);
    va_end(ap);
    assert_true(n >= 0 && (size_t)n < size - *w);
    *w += (size_t)n;
}

/* Every field of the event on one line, so two decodes can be compared exactly. */
static const char *render(const struct event *ev, char *buf, size_t size)
{
    static const char kinds[] = { 's', 'n', 'b' };
    size_t w = 0;
    put(buf, size, &w, "%s|id=%.*s|type=%.*s|ts=%lld|user=%.*s|ch=%.*s|camp=%.*s",
        event_dialect_name(ev->dialect), (int)ev->event_id.n, ev->event_id.p, (int)ev->type.n,
        ev->type.p, (long long)ev->ts_ms, (int)ev->user_id.n, ev->user_id.p, (int)ev->channel.n,
        ev->channel.p, (int)ev->campaign.n, ev->campaign.p);
    if (ev->has_value)
        put(buf, size, &w, "|value=%lld", (long long)ev->value);
    for (uint32_t i = 0; i < ev->nprops; i++)
        put(buf, size, &w, "|p.%.*s=%c:%.*s", (int)ev->props[i].key.n, ev->props[i].key.p,
            kinds[ev->props[i].kind], (int)ev->props[i].val.n, ev->props[i].val.p);
    return buf;
}

static bool sane_str(struct jd_str s, size_t min, size_t max)
{
    if (s.n < min || s.n > max)
        return false;
    for (size_t i = 0; i < s.n; i++)
        if ((unsigned char)s.p[i] < 0x20)
            return false;
    return true;
}

static void check_invariants(const struct event *ev, const char *ctx)
{
    bool ok = sane_str(ev->event_id, 1, 128) && sane_str(ev->type, 1, 64) &&
              sane_str(ev->user_id, 0, 256) && sane_str(ev->channel, 0, 64) &&
              sane_str(ev->campaign, 0, 128) && ev->ts_ms >= 0 && ev->ts_ms <= TS_MAX_MS &&
              ev->nprops <= 16;
    for (size_t i = 0; ok && i < ev->type.n; i++)
        ok = (ev->type.p[i] >= 'a' && ev->type.p[i] <= 'z') ||
             (ev->type.p[i] >= '0' && ev->type.p[i] <= '9') || ev->type.p[i] == '_';
    if (ev->has_value)
        ok = ok && ev->value <= EVENT_MAX_VALUE_MICROS && ev->value >= -EVENT_MAX_VALUE_MICROS;
    for (uint32_t i = 1; ok && i < ev->nprops; i++)
        ok = jd_str_cmp(ev->props[i - 1].key, ev->props[i].key) < 0;
    if (!ok)
        fail_msg("%s: accepted event breaks an invariant", ctx);
}

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * UINT64_C(2685821657736338717);
}

/* ---- Tables ------------------------------------------------------------------------------ */

struct mcase {
    const char *name;
    const char *settings; /* NULL: defaults */
    const char *prog;     /* the msgpack program */
    const char *want;     /* the same event as JSON ('{...}'), or a jd_err2name() */
    const char *detail;   /* for rejections: a substring of the detail, or NULL */
};

#define A8     "aaaaaaaa"
#define A32    A8 A8 A8 A8
#define A128   A32 A32 A32 A32
#define BASE   "event_id e1 type lead ts i:1795420800000"
#define BASEJ  "'event_id':'e1','type':'lead','ts':1795420800000"
#define CEMAP  "events.type_map=com.shop.order.completed=conversion"
#define SEGMAP "events.type_map=Order Completed=conversion"

#define SAME(nm, prog, json)                                                                       \
    {                                                                                              \
        nm, NULL, prog, json, NULL                                                                 \
    }
#define SAMES(nm, set, prog, json)                                                                 \
    {                                                                                              \
        nm, set, prog, json, NULL                                                                  \
    }
#define BAD(nm, prog, err, det)                                                                    \
    {                                                                                              \
        nm, NULL, prog, err, det                                                                   \
    }
#define BADS(nm, set, prog, err, det)                                                              \
    {                                                                                              \
        nm, set, prog, err, det                                                                    \
    }
#define VALUE(tok, json)                                                                           \
    SAME("value " tok, "{ " BASE " value " tok " }", "{" BASEJ ",'value':" json "}")
#define VALUE_BAD(tok, err) BAD("value " tok, "{ " BASE " value " tok " }", err, "value")
#define TS(tok, json)                                                                              \
    SAME("ts " tok, "{ event_id e1 type lead ts " tok " }",                                        \
         "{'event_id':'e1','type':'lead','ts':" json "}")
#define TS_BAD(tok) BAD("ts " tok, "{ event_id e1 type lead ts " tok " }", "bad_ts", "ts")

static const struct mcase same[] = {
    SAME("flat minimal", "{ " BASE " }", "{" BASEJ "}"),
    SAME("flat spec touch",
         "{ event_id 01JD3K8Z6Q type touch ts s:2026-11-23T08:00:00Z user_id u-42 channel "
         "xiaohongshu campaign q4-live props { device ios } }",
         "{'event_id':'01JD3K8Z6Q','type':'touch','ts':'2026-11-23T08:00:00Z','user_id':'u-42',"
         "'channel':'xiaohongshu','campaign':'q4-live','props':{'device':'ios'}}"),
    SAME("flat with every field",
         "{ event_id e-%C3%A9 type touch ts s:2026-11-23T16:00:00+08:00 user_id u1 utm { source "
         "wechat campaign spring medium cpc } value f64:399.5 props { tier gold n f64:2.5 vip true "
         "k i:-3 } extra [ i:1 { a nil } ] }",
         "{'event_id':'e-\\u00e9','type':'touch','ts':'2026-11-23T16:00:00+08:00','user_id':'u1',"
         "'utm':{'source':'wechat','campaign':'spring','medium':'cpc'},'value':399.5,'props':"
         "{'tier':'gold','n':2.5,'vip':true,'k':-3},'extra':[1,{'a':null}]}"),
    SAMES("cloudevents structured", CEMAP,
          "{ specversion s:1.0 id ce-1 source /shop time s:2026-11-23T08:00:00Z type "
          "com.shop.order.completed subject u-42 data { value i:399 channel web props { tier gold "
          "} } }",
          "{'specversion':'1.0','id':'ce-1','source':'/shop','time':'2026-11-23T08:00:00Z','type':"
          "'com.shop.order.completed','subject':'u-42','data':{'value':399,'channel':'web','props':"
          "{'tier':'gold'}}}"),
    SAMES("cloudevents data.user_id over subject", CEMAP,
          "{ specversion s:1.0 id c time i:0 type com.shop.order.completed subject s data { "
          "user_id d } }",
          "{'specversion':'1.0','id':'c','time':0,'type':'com.shop.order.completed','subject':'s',"
          "'data':{'user_id':'d'}}"),
    SAMES("segment track", SEGMAP,
          "{ type track event Order%20Completed messageId m-1 timestamp s:2026-11-23T08:00:00Z "
          "userId u-42 context { campaign { source douyin name q4 } } properties { revenue "
          "f64:399 Plan%20Name pro itemCount i:3 i:7 ignored } }",
          "{'type':'track','event':'Order Completed','messageId':'m-1','timestamp':"
          "'2026-11-23T08:00:00Z','userId':'u-42','context':{'campaign':{'source':'douyin',"
          "'name':'q4'}},'properties':{'revenue':399,'Plan Name':'pro','itemCount':3}}"),
    SAME("nil fields are absent",
         "{ " BASE " user_id nil channel nil campaign nil value nil props nil utm nil }",
         "{" BASEJ "}"),
    SAME("map16 at the top level",
         "{ " BASE " a i:1 b i:2 c i:3 d i:4 e i:5 f i:6 g i:7 h i:8 i i:9 j i:10 k i:11 l i:12 "
         "m i:13 n i:14 }",
         "{" BASEJ "}"),
    SAME("map32 at the top level", "raw:df00000003 event_id e1 type lead ts i:1795420800000",
         "{" BASEJ "}"),
    SAME("map16 in props", "{ " BASE " props raw:de0001a16ba176 }",
         "{" BASEJ ",'props':{'k':'v'}}"),
    SAME("str8 event_id of 128 bytes", "{ event_id sn:128 type lead ts i:0 }",
         "{'event_id':'" A128 "','type':'lead','ts':0}"),
    SAME("str16 user_id of 256 bytes", "{ " BASE " user_id sn:256 }",
         "{" BASEJ ",'user_id':'" A128 A128 "'}"),
    SAME("str16 ignored", "{ " BASE " x sn:300 }", "{" BASEJ "}"),
    SAME("str32 value", "{ event_id raw:db000000026531 type lead ts i:1795420800000 }",
         "{" BASEJ "}"),
    SAME("bin8 / bin16 / bin32 ignored", "{ " BASE " a bn:10 b bn:300 c raw:c600000001ff }",
         "{" BASEJ "}"),
    SAME("bin with invalid UTF-8 ignored", "{ " BASE " blob b:%FF%C0 }", "{" BASEJ "}"),
    SAME("array16 / array32 ignored", "{ " BASE " a raw:dc0001c0 b raw:dd00000002c0c3 }",
         "{" BASEJ "}"),
    SAME("fixext 1/2/4/8/16 ignored",
         "{ " BASE " a x:1:a b x:1:ab c x:1:abcd d x:1:abcdefgh e x:1:abcdefghijklmnop }",
         "{" BASEJ "}"),
    SAME("ext8 / ext16 ignored", "{ " BASE " a x:7:abc b xn:7:300 }", "{" BASEJ "}"),
    SAME("timestamp ext ignored", "{ " BASE " at x:-1:%00%00%00%01 }", "{" BASEJ "}"),
    SAME("ext inside an ignored array", "{ " BASE " x [ x:1:ab xn:2:300 nil { k x:3:a } ] }",
         "{" BASEJ "}"),
    SAME("non-string keys inside utm are skipped", "{ " BASE " utm { i:1 x source s nil y } }",
         "{" BASEJ ",'utm':{'source':'s'}}"),
    SAME("empty map and array ignored", "{ " BASE " a { } b [ ] }", "{" BASEJ "}"),

    /* integer forms */
    VALUE("i:5", "5"),
    VALUE("i:127", "127"),
    VALUE("i:-5", "-5"),
    VALUE("i:-32", "-32"),
    VALUE("i8:5", "5"),
    VALUE("i8:-100", "-100"),
    VALUE("i8:-128", "-128"),
    VALUE("i16:-30000", "-30000"),
    VALUE("i16:32767", "32767"),
    VALUE("i32:-2000000000", "-2000000000"),
    VALUE("i64:-9000000000000", "-9000000000000"),
    VALUE("i64:9000000000000", "9000000000000"),
    VALUE("i:-9000000000000", "-9000000000000"),
    VALUE("u8:200", "200"),
    VALUE("u16:60000", "60000"),
    VALUE("u32:4000000000", "4000000000"),
    VALUE("u64:9000000000000", "9000000000000"),
    VALUE("u64:0", "0"),
    VALUE("u:255", "255"),
    /* floats */
    VALUE("f32:2.5", "2.5"),
    VALUE("f32:0.1", "0.1"),
    VALUE("f32:-1024.25", "-1024.25"),
    VALUE("f64:399", "399.0"),
    VALUE("f64:0.1", "0.1"),
    VALUE("f64:123.456789", "123.456789"),
    VALUE("f64:-0", "-0"),
    VALUE("f64:1e-7", "1e-7"),
    VALUE("f64:9e12", "9e12"),
    VALUE("f64:-9e12", "-9e12"),
    SAME("props float32 and float64", "{ " BASE " props { a f32:2.5 b f64:-12.34 c f64:3 } }",
         "{" BASEJ ",'props':{'a':2.5,'b':-12.34,'c':3}}"),
    SAME("props integer forms", "{ " BASE " props { a i8:-1 b u16:65535 c i64:-9000000000000 } }",
         "{" BASEJ ",'props':{'a':-1,'b':65535,'c':-9000000000000}}"),
    /* ts forms */
    TS("u64:1795420800000", "1795420800000"),
    TS("i64:1795420800000", "1795420800000"),
    TS("u32:0", "0"),
    TS("i:0", "0"),
    TS("f64:1795420800000", "1795420800000.0"),
    TS("f32:16777216", "16777216"),
    TS("u64:253402300799999", "253402300799999"),
    TS("s:2026-11-23T08:00:00.123Z", "'2026-11-23T08:00:00.123Z'"),

    /* encoding forced either way */
    SAMES("events.encoding=msgpack", "events.encoding=msgpack", "{ " BASE " }", "{" BASEJ "}"),
    SAMES("events.encoding=msgpack, map32", "events.encoding=msgpack",
          "raw:df00000003 event_id e1 type lead ts i:1795420800000", "{" BASEJ "}"),
};

static const struct mcase bad[] = {
    BAD("bin event_id", "{ event_id b:e1 type lead ts i:0 }", "bad_type", "event_id"),
    BAD("bin type", "{ event_id e1 type b:lead ts i:0 }", "bad_type", "type"),
    BAD("bin ts", "{ event_id e1 type lead ts b:0 }", "bad_ts", "ts"),
    BAD("bin user_id", "{ " BASE " user_id b:u }", "bad_type", "user_id"),
    BAD("bin channel", "{ " BASE " channel b:c }", "bad_type", "channel"),
    BAD("bin campaign", "{ " BASE " campaign b:c }", "bad_type", "campaign"),
    BAD("bin utm.source", "{ " BASE " utm { source b:s } }", "bad_type", "utm.source"),
    BAD("bin value", "{ " BASE " value b:1 }", "bad_type", "value"),
    BAD("bin props value", "{ " BASE " props { k b:v } }", "bad_type", "props.k"),
    BADS("bin specversion", CEMAP, "{ specversion b:1.0 id c time i:0 type lead }", "bad_type",
         "specversion"),
    BAD("ext event_id", "{ event_id x:1:e1 type lead ts i:0 }", "bad_type", "event_id"),
    BAD("ext value", "{ " BASE " value x:1:abcd }", "bad_type", "value"),
    BAD("ext props value", "{ " BASE " props { k x:1:a } }", "bad_type", "props.k"),
    BAD("ext ts", "{ event_id e1 type lead ts x:-1:%00%00%00%01 }", "bad_ts", "ts"),
    BAD("array props", "{ " BASE " props [ ] }", "bad_type", "props"),
    BAD("int key at the top level", "{ " BASE " i:1 x }", "bad_type", "keys"),
    BAD("negative int key at the top level", "{ i:-1 x " BASE " }", "bad_type", "keys"),
    BAD("nil key at the top level", "{ " BASE " nil x }", "bad_type", "keys"),
    BAD("bool key at the top level", "{ " BASE " true x }", "bad_type", "keys"),
    BAD("float key at the top level", "{ " BASE " f64:1.5 x }", "bad_type", "keys"),
    BAD("bin key at the top level", "{ " BASE " b:event_id x }", "bad_type", "keys"),
    BAD("ext key at the top level", "{ " BASE " x:1:a x }", "bad_type", "keys"),
    BAD("int key in props", "{ " BASE " props { i:1 x } }", "bad_type", "props"),
    BAD("map as a key", "{ " BASE " { } x }", "msgpack_syntax", "key"),
    BAD("array as a key", "{ [ ] x " BASE " }", "msgpack_syntax", "key"),

    BAD("str32 declaring 0xFFFFFFFF", "{ " BASE " x raw:dbffffffff6162 }", "msgpack_syntax",
        "declared length"),
    BAD("str32 event_id declaring 0xFFFFFFFF", "{ event_id raw:dbffffffff6531 }", "msgpack_syntax",
        NULL),
    BAD("bin32 declaring 0xFFFFFFFF", "{ " BASE " x raw:c6ffffffff00 }", "msgpack_syntax",
        "declared length"),
    BAD("ext32 declaring 0xFFFFFFFF", "{ " BASE " x raw:c9ffffffff0100 }", "msgpack_syntax",
        "declared length"),
    BAD("array32 declaring 0xFFFFFFFF", "{ " BASE " x raw:ddffffffffc0c0 }", "msgpack_syntax",
        "declared count"),
    BAD("map32 declaring 0xFFFFFFFF", "{ " BASE " x raw:dfffffffffa161c0 }", "msgpack_syntax",
        "declared count"),
    BAD("top-level map32 declaring 0xFFFFFFFF", "raw:dfffffffff event_id e1", "msgpack_syntax",
        "declared count"),
    BAD("top-level map16 declaring 0xFFFF", "raw:deffff event_id e1", "msgpack_syntax",
        "declared count"),
    BAD("fixmap declaring more pairs than sent", "raw:85 " BASE, "msgpack_syntax", NULL),
    BAD("str8 declaring 200", "{ " BASE " x raw:d9c8616263 }", "msgpack_syntax", NULL),
    BAD("str16 declaring 0xFFFF", "{ " BASE " x raw:daffff61 }", "msgpack_syntax", NULL),
    BAD("fixstr longer than the message", "{ " BASE " x raw:bf61 }", "msgpack_syntax", NULL),
    BAD("str32 header cut short", "{ " BASE " x raw:dbffff }", "msgpack_syntax", "truncated"),
    BAD("float64 cut short", "{ " BASE " x raw:cb40 }", "msgpack_syntax", "truncated"),
    BAD("uint64 cut short", "{ " BASE " x raw:cf0001 }", "msgpack_syntax", "truncated"),
    BAD("fixext16 cut short", "{ " BASE " x raw:d801616263 }", "msgpack_syntax", NULL),
    BAD("0xc1 is never used", "{ " BASE " x raw:c1 }", "msgpack_syntax", "type byte"),
    BAD("trailing nil", "{ " BASE " } nil", "msgpack_syntax", "trailing"),
    BAD("two maps", "{ " BASE " } { }", "msgpack_syntax", "trailing"),
    BAD("trailing zero byte", "{ " BASE " } raw:00", "msgpack_syntax", "trailing"),

    VALUE_BAD("u64:18446744073709551615", "bad_value"),
    VALUE_BAD("u64:9223372036854775808", "bad_value"),
    VALUE_BAD("i64:-9223372036854775808", "bad_value"),
    VALUE_BAD("i64:9000000000001", "bad_value"),
    VALUE_BAD("u64:9000000000001", "bad_value"),
    VALUE_BAD("f64:9.000000000001e12", "bad_value"),
    VALUE_BAD("f64:nan", "bad_value"),
    VALUE_BAD("f64:-nan", "bad_value"),
    VALUE_BAD("f32:nan", "bad_value"),
    VALUE_BAD("f64:inf", "bad_value"),
    VALUE_BAD("f64:-inf", "bad_value"),
    VALUE_BAD("f32:inf", "bad_value"),
    VALUE_BAD("f32:1e13", "bad_value"),
    BAD("props NaN", "{ " BASE " props { k f64:nan } }", "bad_value", "props.k"),
    BAD("props uint64 above INT64_MAX", "{ " BASE " props { k u64:18446744073709551615 } }",
        "bad_value", "props.k"),
    TS_BAD("u64:18446744073709551615"),
    TS_BAD("i64:-9223372036854775808"),
    TS_BAD("i:-1"),
    TS_BAD("i8:-1"),
    TS_BAD("u64:253402300800000"),
    TS_BAD("f32:1.5"),
    TS_BAD("f64:-0.5"),
    TS_BAD("f64:nan"),
    TS_BAD("f64:inf"),
    TS_BAD("true"),
    TS_BAD("s:2026-02-30T00:00:00Z"),

    BAD("invalid UTF-8 in a str value", "{ " BASE " user_id s:%C0%AF }", "bad_utf8", NULL),
    BAD("surrogate in a str value", "{ " BASE " x s:%ED%A0%80 }", "bad_utf8", NULL),
    BAD("invalid UTF-8 in a key", "{ " BASE " s:%FF i:1 }", "bad_utf8", NULL),
    BAD("invalid UTF-8 deep in an ignored array", "{ " BASE " x [ [ s:ok s:%F8%88%80%80%80 ] ] }",
        "bad_utf8", NULL),
    BAD("invalid UTF-8 cut at the end of a str", "{ " BASE " x s:a%E2%82 }", "bad_utf8", NULL),

    BAD("event_id twice", "{ " BASE " event_id e2 }", "duplicate_key", "event_id"),
    BAD("props key twice", "{ " BASE " props { k i:1 k i:2 } }", "duplicate_key", "props.k"),
    BAD("empty map", "{ }", "missing_field", "event_id"),
    BAD("ts missing", "{ event_id e1 type lead }", "missing_field", "ts"),
    BAD("str8 event_id of 129 bytes", "{ event_id sn:129 type lead ts i:0 }", "bad_type",
        "event_id"),
    BAD("str16 user_id of 257 bytes", "{ " BASE " user_id sn:257 }", "bad_type", "user_id"),
    BAD("conversion without user_id", "{ event_id e1 type conversion ts i:0 }", "missing_field",
        "user_id"),
    BADS("too large", "events.max_bytes=64", "{ " BASE " x sn:40 }", "too_large", "max_bytes"),
    BADS("cloudevents specversion 0.3", CEMAP, "{ specversion s:0.3 id c time i:0 type lead }",
         "bad_type", "specversion"),

    /* sniffing and events.encoding */
    BAD("a top-level msgpack array is neither JSON nor a map", "[ " BASE " ]", "bad_encoding",
        "first byte 0x9"),
    BAD("a top-level str is neither JSON nor a map", "s:abc", "bad_encoding", "first byte 0xa3"),
    BADS("forced msgpack: top-level array", "events.encoding=msgpack", "[ ]", "not_object", NULL),
    BADS("forced msgpack: top-level str", "events.encoding=msgpack", "s:{}", "not_object", NULL),
    BADS("forced msgpack: top-level nil", "events.encoding=msgpack", "nil", "not_object", NULL),
    BADS("forced msgpack: top-level int", "events.encoding=msgpack", "i:7", "not_object", NULL),
    BADS("forced msgpack: JSON text", "events.encoding=msgpack",
         "raw:7b226576656e745f6964223a226531227d", "msgpack_syntax", NULL),
    BADS("forced json: a msgpack map", "events.encoding=json", "{ " BASE " }", "json_syntax", NULL),
};

/* ---- Row runners ------------------------------------------------------------------------- */

static void run_same(void **state)
{
    const struct mcase *c = *state;
    char a[8192], b[8192];
    struct dec *mp = dec_open(c->settings);
    struct dec *js =
        dec_open(strstr(c->settings ? c->settings : "", "encoding") ? NULL : c->settings);
    msgpack_sbuffer *sb = mp_pack(c->prog);
    char *json = json_text(c->want);

    enum jd_err e = dec_run(js, json, strlen(json));
    if (e != JD_OK)
        fail_msg("%s: the JSON form is rejected: %s: %s", c->name, jd_err2name(e), js->err);
    render(js->ev, b, sizeof(b));
    e = dec_run(mp, sb->data, sb->size);
    if (e != JD_OK)
        fail_msg("%s: got %s: %s", c->name, jd_err2name(e), mp->err);
    render(mp->ev, a, sizeof(a));
    if (strcmp(a, b))
        fail_msg("%s:\n  msgpack %s\n  json    %s", c->name, a, b);
    check_invariants(mp->ev, c->name);
    text_free(json);
    mp_free(sb);
    dec_close(js);
    dec_close(mp);
}

static void run_bad(void **state)
{
    const struct mcase *c = *state;
    char r[8192];
    struct dec *x = dec_open(c->settings);
    msgpack_sbuffer *sb = mp_pack(c->prog);

    enum jd_err e = dec_run(x, sb->data, sb->size);
    if (e == JD_OK)
        fail_msg("%s: want %s, got ok: %s", c->name, c->want, render(x->ev, r, sizeof(r)));
    if (strcmp(jd_err2name(e), c->want))
        fail_msg("%s: want %s, got %s: %s", c->name, c->want, jd_err2name(e), x->err);
    if (!x->err[0] || (c->detail && !strstr(x->err, c->detail)))
        fail_msg("%s: detail '%s' does not mention '%s'", c->name, x->err,
                 c->detail ? c->detail : "anything");
    mp_free(sb);
    dec_close(x);
}

/* ---- Single tests ------------------------------------------------------------------------ */

/* The rows rely on msgpack-c choosing these forms; check it, so each row tests what it says. */
static void test_encoder_forms(void **state)
{
    static const struct {
        const char *prog;
        const char *hex; /* the first bytes */
    } rows[] = {
        { "i:5", "05" },
        { "i:-5", "fb" },
        { "i:-32", "e0" },
        { "i8:5", "d005" },
        { "i8:-100", "d09c" },
        { "i16:-30000", "d18ad0" },
        { "i32:-2000000000", "d288ca6c00" },
        { "i64:-1", "d3ffffffffffffffff" },
        { "u8:200", "ccc8" },
        { "u16:60000", "cdea60" },
        { "u32:4000000000", "ceee6b2800" },
        { "u64:7", "cf0000000000000007" },
        { "u64:18446744073709551615", "cfffffffffffffffff" },
        { "f32:2.5", "ca40200000" },
        { "f64:399", "cb4078f00000000000" },
        { "sn:40", "d928" },
        { "sn:300", "da012c" },
        { "bn:10", "c40a" },
        { "bn:300", "c5012c" },
        { "x:1:a", "d40161" },
        { "x:1:abcdefghijklmnop", "d801" },
        { "x:7:abc", "c70307" },
        { "xn:7:300", "c8012c07" },
        { "{ a i:1 b i:2 c i:3 d i:4 e i:5 f i:6 g i:7 h i:8 i i:9 j i:10 k i:11 l i:12 m i:13 "
          "n i:14 o i:15 p i:16 }",
          "de0010" },
        { "{ a nil }", "81a161c0" },
    };
    (void)state;
    for (size_t i = 0; i < JD_ARRAY_SIZE(rows); i++) {
        msgpack_sbuffer *sb = mp_pack(rows[i].prog);
        char hex[64] = { 0 };
        size_t want = strlen(rows[i].hex) / 2;
        assert_true(sb->size >= want);
        for (size_t k = 0; k < want; k++)
            snprintf(hex + 2 * k, 3, "%02x", (unsigned char)sb->data[k]);
        if (strcmp(hex, rows[i].hex))
            fail_msg("%s: encoded as %s, want %s", rows[i].prog, hex, rows[i].hex);
        mp_free(sb);
    }
}

/* A message at exactly events.max_bytes decodes; one byte more is too_large. */
static void test_max_bytes_boundary(void **state)
{
    struct dec *x = dec_open("events.max_bytes=64");
    msgpack_sbuffer *sb = mp_pack("{ " BASE " x sn:1 }");
    char prog[128], buf[128] = { 0 };
    (void)state;
    /* pad the ignored string so that the whole message is 64 bytes */
    snprintf(prog, sizeof(prog), "{ %s x sn:%zu }", BASE, 1 + (64 - sb->size));
    mp_free(sb);
    sb = mp_pack(prog);
    assert_int_equal(sb->size, 64);
    assert_int_equal(dec_run(x, sb->data, sb->size), JD_OK);
    memcpy(buf, sb->data, sb->size);
    assert_int_equal(dec_run(x, buf, 65), JD_ERR_EV_TOO_LARGE);
    mp_free(sb);
    dec_close(x);
}

/* DOC_MAX_DEPTH levels (the root map counts) decode; one more is too_deep. */
static void test_depth_boundary(void **state)
{
    (void)state;
    for (int extra = -1; extra <= 1; extra++) {
        int levels = DOC_MAX_DEPTH - 1 + extra; /* below the root */
        char prog[1024];
        size_t w = (size_t)snprintf(prog, sizeof(prog), "{ %s x", BASE);
        for (int i = 0; i < levels; i++)
            w += (size_t)snprintf(prog + w, sizeof(prog) - w, i % 2 ? " { k" : " [");
        w += (size_t)snprintf(prog + w, sizeof(prog) - w, " i:1");
        for (int i = levels - 1; i >= 0; i--)
            w += (size_t)snprintf(prog + w, sizeof(prog) - w, i % 2 ? " }" : " ]");
        snprintf(prog + w, sizeof(prog) - w, " }");
        struct dec *x = dec_open(NULL);
        msgpack_sbuffer *sb = mp_pack(prog);
        enum jd_err e = dec_run(x, sb->data, sb->size);
        const char *want = extra <= 0 ? "ok" : "too_deep";
        if (strcmp(jd_err2name(e), want))
            fail_msg("%d levels: want %s, got %s: %s", levels + 1, want, jd_err2name(e), x->err);
        mp_free(sb);
        dec_close(x);
    }
}

/* 100k levels of arrays or maps: too_deep, never a crash. */
static void test_hostile_deep_nesting(void **state)
{
    static const struct {
        const char *settings;
        const char *head; /* hex, before the nesting */
        const char *unit; /* one level */
    } rows[] = {
        { NULL, "81a178", "91" },                /* {x: [[[[...  */
        { NULL, "81a178", "81a161" },            /* {x: {a: {a: ... */
        { NULL, "", "81a161" },                  /* {a: {a: ... from the top */
        { NULL, "81a178", "dc0001" },            /* array16 */
        { NULL, "81a178", "df00000001a161" },    /* map32 */
        { "events.encoding=msgpack", "", "91" }, /* a top-level array, forced */
        { "events.encoding=msgpack", "", "dd00000001" },
    };
    (void)state;
    for (size_t r = 0; r < JD_ARRAY_SIZE(rows); r++) {
        struct dec *x = dec_open(rows[r].settings ? "events.max_bytes=2MiB\nevents.encoding=msgpack"
                                                  : "events.max_bytes=2MiB");
        size_t hl = strlen(rows[r].head) / 2, ul = strlen(rows[r].unit) / 2;
        size_t len = hl + ul * 100000 + 1;
        unsigned char *buf = malloc(len);
        assert_non_null(buf);
        for (size_t i = 0; i < hl; i++)
            sscanf(rows[r].head + 2 * i, "%2hhx", &buf[i]);
        for (size_t k = 0; k < 100000; k++)
            for (size_t i = 0; i < ul; i++)
                sscanf(rows[r].unit + 2 * i, "%2hhx", &buf[hl + k * ul + i]);
        buf[len - 1] = 0xc0;
        enum jd_err e = dec_run(x, buf, len);
        free(buf);
        if (e != JD_ERR_EV_TOO_DEEP)
            fail_msg("row %zu: want too_deep, got %s: %s", r, jd_err2name(e), x->err);
        dec_close(x);
    }
}

static const char *const seeds[] = {
    "{ event_id 01JD3K8Z6Q type touch ts s:2026-11-23T08:00:00Z user_id u-42 channel "
    "xiaohongshu campaign q4 value f64:399.5 props { device ios n f32:2.5 b true i i16:-300 } "
    "utm { source s } x [ bn:3 x:1:ab u64:18446744073709551615 nil ] }",
    "{ event_id e1 type conversion ts u64:1795420800000 user_id u value i32:-70000 }",
    "{ specversion s:1.0 id ce-1 time i:0 type com.shop.order.completed subject u data { value "
    "f64:1.5 channel web } }",
};

/* Every proper prefix of a valid message is rejected with a DLQ code. */
static void test_every_prefix_rejected(void **state)
{
    struct dec *x = dec_open(CEMAP);
    (void)state;
    for (size_t s = 0; s < JD_ARRAY_SIZE(seeds); s++) {
        msgpack_sbuffer *sb = mp_pack(seeds[s]);
        assert_int_equal(dec_run(x, sb->data, sb->size), JD_OK);
        for (size_t len = 0; len < sb->size; len++) {
            char *p = malloc(len ? len : 1); /* exactly len bytes, for ASan */
            assert_non_null(p);
            memcpy(p, sb->data, len);
            enum jd_err e = dec_run(x, p, len);
            free(p);
            if (e == JD_OK || !jd_err_is_event(e))
                fail_msg("seed %zu, prefix %zu: got %s", s, len, jd_err2name(e));
        }
        mp_free(sb);
    }
    dec_close(x);
}

/* Random byte flips: ok or a DLQ code, and whatever is accepted is a sane event. */
static void test_random_flips(void **state)
{
    static const unsigned char special[] = { 0xc1, 0xdb, 0xdf, 0xdd, 0xc6, 0xc9, 0xcb, 0xcf,
                                             0xff, 0x00, 0x80, 0x90, 0xa0, 0xc0, 0x7f, 0xd8 };
    uint64_t seed = UINT64_C(0x5EED0001);
    struct dec *x = dec_open(CEMAP);
    int accepted = 0, rejected = 0;
    (void)state;
    for (int i = 0; i < 3000; i++) {
        msgpack_sbuffer *sb = mp_pack(seeds[(size_t)i % JD_ARRAY_SIZE(seeds)]);
        int flips = 1 + (int)(rng_next(&seed) % 3);
        for (int f = 0; f < flips; f++) {
            uint64_t r = rng_next(&seed);
            size_t at = (size_t)(r % sb->size);
            sb->data[at] =
                (r >> 32) & 1 ? (char)(r >> 40) : (char)special[(r >> 40) % sizeof(special)];
        }
        char ctx[48];
        snprintf(ctx, sizeof(ctx), "flip case %d", i);
        enum jd_err e = dec_run(x, sb->data, sb->size);
        if (e == JD_OK) {
            check_invariants(x->ev, ctx);
            accepted++;
        } else if (!jd_err_is_event(e)) {
            fail_msg("%s: got %s", ctx, jd_err2name(e));
        } else {
            rejected++;
        }
        mp_free(sb);
    }
    assert_true(accepted > 100);
    assert_true(rejected > 100);
    dec_close(x);
}

/* The same decoder alternates encodings and dialects without carrying anything over. */
static void test_alternating_encodings(void **state)
{
    char first[8192], again[8192];
    struct dec *x = dec_open(CEMAP);
    msgpack_sbuffer *sb = mp_pack(seeds[0]);
    char *json = json_text("{'event_id':'j','type':'lead','ts':0}");
    (void)state;
    assert_int_equal(dec_run(x, sb->data, sb->size), JD_OK);
    render(x->ev, first, sizeof(first));
    for (int i = 0; i < 3; i++) {
        assert_int_equal(dec_run(x, json, strlen(json)), JD_OK);
        assert_string_equal(render(x->ev, again, sizeof(again)),
                            "flat|id=j|type=lead|ts=0|user=|ch=|camp=");
        assert_int_equal(dec_run(x, sb->data, sb->size - 1), JD_ERR_EV_MSGPACK_SYNTAX);
        assert_int_equal(dec_run(x, sb->data, sb->size), JD_OK);
        assert_string_equal(render(x->ev, again, sizeof(again)), first);
    }
    text_free(json);
    mp_free(sb);
    dec_close(x);
}

/* ---- Main -------------------------------------------------------------------------------- */

int main(void)
{
    static const struct CMUnitTest fixed[] = {
        cmocka_unit_test_teardown(test_encoder_forms, release_all),
        cmocka_unit_test_teardown(test_max_bytes_boundary, release_all),
        cmocka_unit_test_teardown(test_depth_boundary, release_all),
        cmocka_unit_test_teardown(test_hostile_deep_nesting, release_all),
        cmocka_unit_test_teardown(test_every_prefix_rejected, release_all),
        cmocka_unit_test_teardown(test_random_flips, release_all),
        cmocka_unit_test_teardown(test_alternating_encodings, release_all),
    };
    size_t total = JD_ARRAY_SIZE(same) + JD_ARRAY_SIZE(bad) + JD_ARRAY_SIZE(fixed), n = 0;
    struct CMUnitTest *tests = calloc(total, sizeof(*tests));
    char **names = calloc(total, sizeof(*names));

    if (!tests || !names)
        return 1;
    for (size_t i = 0; i < JD_ARRAY_SIZE(same) + JD_ARRAY_SIZE(bad); i++) {
        bool ok = i < JD_ARRAY_SIZE(same);
        const struct mcase *c = ok ? &same[i] : &bad[i - JD_ARRAY_SIZE(same)];
        size_t len = strlen(c->name) + 32;
        if (!(names[n] = malloc(len)))
            return 1;
        snprintf(names[n], len, "%s: %s", ok ? "same as JSON" : "rejected", c->name);
        tests[n] =
            (struct CMUnitTest){ names[n], ok ? run_same : run_bad, NULL, release_all, (void *)c };
        n++;
    }
    for (size_t i = 0; i < JD_ARRAY_SIZE(fixed); i++)
        tests[n++] = fixed[i];
    int rc = _cmocka_run_group_tests("msgpack", tests, n, NULL, NULL);
    for (size_t i = 0; i < total; i++)
        free(names[i]);
    free(names);
    free(tests);
    return rc;
}
