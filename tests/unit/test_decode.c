/*
 * test_decode.c — unit tests of decode/ (json.c, doc.c, event.c) through event_decode().
 *
 * Table-driven: every row is one message and either the decoded event rendered on one line
 * ("flat|id=e1|type=lead|ts=...|p.key=n:2.5") or the exact DLQ reason (jd_err2name()) plus a
 * word the detail must name. Rows are written with ' for " to stay readable (rows marked raw
 * are taken byte for byte). Covers the flat, Segment `track` and CloudEvents (structured and
 * binary) dialects, every rejection code, exact micros and timestamps, and byte-length limits.
 * Expected instants were worked out by hand and checked with Python's datetime. The robustness
 * tests (deep nesting, garbage, every prefix, random byte flips) assert that the decoder returns
 * success or a DLQ code, never crashes, and that whatever it accepts keeps the event invariants.
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

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- Helpers ----------------------------------------------------------------------------- */

/* A decoder built from the defaults plus `settings`: "name=value" lines joined by '\n'. */
struct dec {
    struct config *cfg;
    struct event_decoder *d;
    struct event *ev;
    char err[JD_ERRSTR_SIZE];
};

/*
 * Everything a test allocates is registered here, so that a failed assertion (which longjmps
 * out of the test) is still cleaned up by the teardown and ASan reports only real leaks.
 */
static void *owned_bufs[16];
static struct dec *owned_decs[4];

static void *own(void *p)
{
    assert_non_null(p);
    for (size_t i = 0; i < JD_ARRAY_SIZE(owned_bufs); i++)
        if (!owned_bufs[i]) {
            owned_bufs[i] = p;
            return p;
        }
    fail_msg("too many live buffers in one test");
    return NULL;
}

static void release(void *p)
{
    for (size_t i = 0; i < JD_ARRAY_SIZE(owned_bufs); i++)
        if (owned_bufs[i] == p)
            owned_bufs[i] = NULL;
    free(p);
}

static void dec_free(struct dec *x)
{
    event_decoder_destroy(x->d);
    config_destroy(x->cfg);
    free(x->ev);
    free(x);
}

static struct dec *dec_open(const char *settings)
{
    char err[JD_ERRSTR_SIZE];
    struct event_decoder_opts o;
    struct dec *x = calloc(1, sizeof(*x));
    size_t slot = 0;

    assert_non_null(x);
    while (slot < JD_ARRAY_SIZE(owned_decs) && owned_decs[slot])
        slot++;
    if (slot == JD_ARRAY_SIZE(owned_decs)) {
        free(x);
        fail_msg("too many live decoders in one test");
    }
    owned_decs[slot] = x;
    x->cfg = config_new();
    assert_non_null(x->cfg);
    if (settings) {
        char *copy = own(strdup(settings)), *save = NULL;
        for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
            char *eq = strchr(l, '=');
            if (!eq)
                fail_msg("bad setting in test table: %s", l);
            *eq = '\0';
            if (config_set(x->cfg, l, eq + 1, err, sizeof(err)) != JD_OK)
                fail_msg("config_set %s: %s", l, err);
        }
        release(copy);
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
    for (size_t i = 0; i < JD_ARRAY_SIZE(owned_decs); i++)
        if (owned_decs[i] == x)
            owned_decs[i] = NULL;
    dec_free(x);
}

/* Teardown of every test: frees whatever a failed test left behind. */
static int release_all(void **state)
{
    (void)state;
    for (size_t i = 0; i < JD_ARRAY_SIZE(owned_bufs); i++) {
        free(owned_bufs[i]);
        owned_bufs[i] = NULL;
    }
    for (size_t i = 0; i < JD_ARRAY_SIZE(owned_decs); i++) {
        if (owned_decs[i])
            dec_free(owned_decs[i]);
        owned_decs[i] = NULL;
    }
    return 0;
}

static enum jd_err dec_run(struct dec *x, const void *buf, size_t len, int64_t now_ms)
{
    x->err[0] = '\0';
    return event_decode(x->d, buf, len, NULL, 0, now_ms, x->ev, x->err, sizeof(x->err));
}

/* A row's message: ' becomes " unless the row is raw. */
static char *row_bytes(const char *in, size_t len, bool raw)
{
    char *s = own(malloc(len + 1));
    memcpy(s, in, len);
    s[len] = '\0';
    for (size_t i = 0; i < len && !raw; i++)
        if (s[i] == '\'')
            s[i] = '"';
    return s;
}

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

/* The event on one line: dialect|id=|type=|ts=[|user=][|ch=][|camp=][|value=micros][|p.k=K:v]. */
static const char *render(const struct event *ev, char *buf, size_t size)
{
    static const char kinds[] = { 's', 'n', 'b' };
    size_t w = 0;

    put(buf, size, &w, "%s|id=%.*s|type=%.*s|ts=%lld", event_dialect_name(ev->dialect),
        (int)ev->event_id.n, ev->event_id.p, (int)ev->type.n, ev->type.p, (long long)ev->ts_ms);
    if (ev->user_id.n)
        put(buf, size, &w, "|user=%.*s", (int)ev->user_id.n, ev->user_id.p);
    if (ev->channel.n)
        put(buf, size, &w, "|ch=%.*s", (int)ev->channel.n, ev->channel.p);
    if (ev->campaign.n)
        put(buf, size, &w, "|camp=%.*s", (int)ev->campaign.n, ev->campaign.p);
    if (ev->has_value)
        put(buf, size, &w, "|value=%lld", (long long)ev->value);
    for (uint32_t i = 0; i < ev->nprops; i++) {
        const struct event_prop *p = &ev->props[i];
        put(buf, size, &w, "|p.%.*s=%c:%.*s", (int)p->key.n, p->key.p, kinds[p->kind],
            (int)p->val.n, p->val.p);
    }
    return buf;
}

static bool is_name(struct jd_str s, size_t max)
{
    if (s.n == 0 || s.n > max)
        return false;
    for (size_t i = 0; i < s.n; i++)
        if (!((s.p[i] >= 'a' && s.p[i] <= 'z') || (s.p[i] >= '0' && s.p[i] <= '9') ||
              s.p[i] == '_'))
            return false;
    return true;
}

static bool has_control(struct jd_str s)
{
    for (size_t i = 0; i < s.n; i++)
        if ((unsigned char)s.p[i] < 0x20)
            return true;
    return false;
}

/* What every accepted event must satisfy, whatever the input was. */
static void check_invariants(const struct event *ev, size_t max_props, const char *ctx)
{
    if (ev->event_id.n < 1 || ev->event_id.n > 128 || has_control(ev->event_id))
        fail_msg("%s: bad event_id", ctx);
    if (!is_name(ev->type, 64))
        fail_msg("%s: bad type '%.*s'", ctx, (int)ev->type.n, ev->type.p);
    if (ev->ts_ms < 0 || ev->ts_ms > TS_MAX_MS)
        fail_msg("%s: ts %lld out of range", ctx, (long long)ev->ts_ms);
    if (ev->user_id.n > 256 || ev->channel.n > 64 || ev->campaign.n > 128 ||
        has_control(ev->user_id) || has_control(ev->channel) || has_control(ev->campaign))
        fail_msg("%s: bad user_id/channel/campaign", ctx);
    if (ev->has_value &&
        (ev->value > EVENT_MAX_VALUE_MICROS || ev->value < -EVENT_MAX_VALUE_MICROS))
        fail_msg("%s: value out of range", ctx);
    if (ev->nprops > max_props)
        fail_msg("%s: %u props", ctx, ev->nprops);
    for (uint32_t i = 0; i < ev->nprops; i++) {
        const struct event_prop *p = &ev->props[i];
        if (!is_name(p->key, 64) || jd_str_eqc(p->key, "channel") || jd_str_eqc(p->key, "campaign"))
            fail_msg("%s: bad prop key", ctx);
        if (i > 0 && jd_str_cmp(ev->props[i - 1].key, p->key) >= 0)
            fail_msg("%s: props not sorted and unique", ctx);
        if (p->kind == EVENT_PROP_STR && (p->val.n > 256 || has_control(p->val)))
            fail_msg("%s: bad prop string", ctx);
    }
}

/* xorshift64*: deterministic, so a failing case can be replayed. */
static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * UINT64_C(2685821657736338717);
}

/* ---- The tables -------------------------------------------------------------------------- */

struct dcase {
    const char *name;
    const char *settings; /* config lines, or NULL for the defaults */
    const char *in;
    size_t len;         /* 0: strlen(in) */
    const char *want;   /* render() of the event, or the jd_err2name() of the rejection */
    const char *detail; /* for rejections: a substring of errstr, or NULL */
    bool raw;           /* take `in` as is (no ' -> ") */
    int64_t now_ms;     /* 0: INT64_MAX (no max_future check) */
};

/* Strings of known byte lengths. */
#define A8   "aaaaaaaa"
#define A32  A8 A8 A8 A8
#define A64  A32 A32
#define A128 A64 A64
#define A256 A128 A128
#define E8   "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9" /* 8 x é = 16 B */
#define E32  E8 E8 E8 E8                                                        /* 64 B */
#define E64  E32 E32                                                            /* 128 B */
#define EU   "\xe2\x82\xac"                                                     /* € = 3 B */
#define EU8  EU EU EU EU EU EU EU EU                                            /* 24 B */
#define EU43 EU8 EU8 EU8 EU8 EU8 EU EU EU                                       /* 129 B */
#define SM   "\xf0\x9f\x98\x80"                                                 /* 😀 = 4 B */
#define SM8  SM SM SM SM SM SM SM SM                                            /* 32 B */
#define SM32 SM8 SM8 SM8 SM8                                                    /* 128 B */
#define SM16 SM8 SM8                                                            /* 64 B */

#define T0     "1795420800000" /* 2026-11-23T08:00:00Z */
#define LEAD   "{'event_id':'e1','type':'lead','ts':" T0
#define LEADR  "flat|id=e1|type=lead|ts=" T0
#define TOUCH  "{'event_id':'e1','type':'touch','ts':" T0 ",'user_id':'u1','channel':'c1'"
#define TOUCHR "flat|id=e1|type=touch|ts=" T0 "|user=u1|ch=c1"
#define P16                                                                                        \
    "'p01':1,'p02':1,'p03':1,'p04':1,'p05':1,'p06':1,'p07':1,'p08':1,'p09':1,'p10':1,'p11':1,"     \
    "'p12':1,'p13':1,'p14':1,'p15':1,'p16':1"
#define P16R                                                                                       \
    "|p.p01=n:1|p.p02=n:1|p.p03=n:1|p.p04=n:1|p.p05=n:1|p.p06=n:1|p.p07=n:1|p.p08=n:1|p.p09=n:1"   \
    "|p.p10=n:1|p.p11=n:1|p.p12=n:1|p.p13=n:1|p.p14=n:1|p.p15=n:1|p.p16=n:1"

#define OK(nm, in, want)                                                                           \
    {                                                                                              \
        nm, NULL, in, 0, want, NULL, false, 0                                                      \
    }
#define OKS(nm, set, in, want)                                                                     \
    {                                                                                              \
        nm, set, in, 0, want, NULL, false, 0                                                       \
    }
#define ERR(nm, in, err, det)                                                                      \
    {                                                                                              \
        nm, NULL, in, 0, err, det, false, 0                                                        \
    }
#define ERRS(nm, set, in, err, det)                                                                \
    {                                                                                              \
        nm, set, in, 0, err, det, false, 0                                                         \
    }

#define VALUE(lit, micros)  OK("value " lit, LEAD ",'value':" lit "}", LEADR "|value=" micros)
#define VALUE_BAD(lit, err) ERR("value " lit, LEAD ",'value':" lit "}", err, "value")
#define TS(lit, ms)                                                                                \
    OK("ts " lit, "{'event_id':'e1','type':'lead','ts':" lit "}", "flat|id=e1|type=lead|ts=" ms)
#define TS_BAD(lit, err) ERR("ts " lit, "{'event_id':'e1','type':'lead','ts':" lit "}", err, "ts")
#define PROPNUM(lit, text)                                                                         \
    OK("props number " lit, LEAD ",'props':{'n':" lit "}}", LEADR "|p.n=n:" text)

/* Valid flat events. */
static const struct dcase flat_ok[] = {
    OK("spec example touch",
       "{'event_id':'01JD3K8Z6Q','type':'touch','ts':'2026-11-23T08:00:00Z','user_id':'u-42',"
       "'channel':'xiaohongshu','campaign':'q4-live','props':{'device':'ios'}}",
       "flat|id=01JD3K8Z6Q|type=touch|ts=1795420800000|user=u-42|ch=xiaohongshu|camp=q4-live"
       "|p.device=s:ios"),
    OK("spec example conversion",
       "{'event_id':'01JD3K9A11','type':'conversion','ts':'2026-11-24T21:13:05Z',"
       "'user_id':'u-42','value':399.0}",
       "flat|id=01JD3K9A11|type=conversion|ts=1795554785000|user=u-42|value=399000000"),
    OK("spec example cost",
       "{'event_id':'01JD3KA000','type':'cost','ts':'2026-11-24T00:00:00Z','channel':'douyin',"
       "'value':1200}",
       "flat|id=01JD3KA000|type=cost|ts=1795478400000|ch=douyin|value=1200000000"),
    OK("custom gauge type", "{'event_id':'e1','type':'ops_capacity','ts':" T0 ",'value':2.5}",
       "flat|id=e1|type=ops_capacity|ts=" T0 "|value=2500000"),
    OK("custom type needs neither user nor channel", LEAD "}", LEADR),
    OK("touch with everything", TOUCH ",'campaign':'k','value':1,'props':{'tier':'gold'}}",
       TOUCHR "|camp=k|value=1000000|p.tier=s:gold"),
    OK("null optional fields are absent",
       LEAD ",'user_id':null,'channel':null,'campaign':null,'utm':null,'value':null,'props':null}",
       LEADR),
    OK("utm.source and utm.campaign fill channel and campaign",
       "{'event_id':'e1','type':'touch','ts':" T0 ",'user_id':'u1','utm':{'source':'wechat',"
       "'medium':'cpc','campaign':'spring','term':'t','content':'c'}}",
       "flat|id=e1|type=touch|ts=" T0 "|user=u1|ch=wechat|camp=spring"),
    OK("utm.campaign does not replace campaign",
       "{'event_id':'e1','type':'touch','ts':" T0 ",'user_id':'u1','campaign':'own',"
       "'utm':{'source':'wechat','campaign':'spring'}}",
       "flat|id=e1|type=touch|ts=" T0 "|user=u1|ch=wechat|camp=own"),
    OK("utm.campaign fills an empty campaign",
       LEAD ",'campaign':'','utm':{'source':'s','campaign':'spring'}}", LEADR "|ch=s|camp=spring"),
    OK("channel present: utm is not used", TOUCH ",'utm':{'source':'wechat','campaign':'x'}}",
       TOUCHR),
    OK("channel present: utm.source is not length-checked", TOUCH ",'utm':{'source':'" A128 "'}}",
       TOUCHR),
    OK("utm.campaign without utm.source is not used", LEAD ",'utm':{'campaign':'spring'}}", LEADR),
    OK("utm.source null: no fallback", LEAD ",'utm':{'source':null,'campaign':'spring'}}", LEADR),
    OK("cost channel from utm.source",
       "{'event_id':'e1','type':'cost','ts':" T0 ",'utm':{'source':'sem_baidu'},'value':10}",
       "flat|id=e1|type=cost|ts=" T0 "|ch=sem_baidu|value=10000000"),
    OK("utm unknown members and empty medium ignored",
       LEAD ",'utm':{'source':'s','x':[1,{}],'medium':'','x':2}}", LEADR "|ch=s"),
    OK("unknown top-level fields of every kind ignored",
       LEAD ",'context':{'a':[1,2,{'b':null}]},'tags':['x'],'n':1e999,'flag':true,'nil':null,"
            "'bad':-0.0e-0}",
       LEADR),
    OK("duplicate unknown keys tolerated", LEAD ",'x':1,'x':2}", LEADR),
    OK("duplicates inside ignored objects tolerated", LEAD ",'ctx':{'event_id':1,'event_id':2}}",
       LEADR),
    OK("props sorted by key", LEAD ",'props':{'zeta':'z','alpha':true,'mid':7,'a_1':false}}",
       LEADR "|p.a_1=b:false|p.alpha=b:true|p.mid=n:7|p.zeta=s:z"),
    OK("props numbers rendered canonically",
       LEAD ",'props':{'a':2.50,'b':3.0,'c':-0.000001,'d':1e2,'e':-0,'f':0.0000005,'g':1.5e-7,"
            "'h':-12.3400,'i':3}}",
       LEADR "|p.a=n:2.5|p.b=n:3|p.c=n:-0.000001|p.d=n:100|p.e=n:0|p.f=n:0.000001|p.g=n:0"
             "|p.h=n:-12.34|p.i=n:3"),
    OK("props empty string and DEL allowed", LEAD ",'props':{'s':'','t':'a\\u007fb'}}",
       LEADR "|p.s=s:|p.t=s:a\x7f"
             "b"),
    OK("props string of 256 bytes", LEAD ",'props':{'s':'" A256 "'}}", LEADR "|p.s=s:" A256),
    OK("props string of 256 bytes in 64 emoji", LEAD ",'props':{'s':'" SM32 SM32 "'}}",
       LEADR "|p.s=s:" SM32 SM32),
    OK("props key of 64 bytes", LEAD ",'props':{'" A64 "':1}}", LEADR "|p." A64 "=n:1"),
    OK("props key charset", LEAD ",'props':{'a_0_z_9':1,'_':2,'0':3}}",
       LEADR "|p.0=n:3|p._=n:2|p.a_0_z_9=n:1"),
    OK("props empty object", LEAD ",'props':{}}", LEADR),
    OK("16 props (limits.max_props default)", LEAD ",'props':{" P16 "}}", LEADR P16R),
    OKS("props limit lowered", "limits.max_props=2", LEAD ",'props':{'b':1,'a':2}}",
        LEADR "|p.a=n:2|p.b=n:1"),
    OK("campaign may be empty", LEAD ",'campaign':''}", LEADR),
    OK("escapes decoded",
       "{'event_id':'a\\/b\\\\c\\u00e9\\ud83d\\ude00\\'','type':'lead','ts':" T0 "}",
       "flat|id=a/b\\c\xc3\xa9" SM "\"|type=lead|ts=" T0),
    OK("raw multibyte UTF-8", LEAD ",'user_id':'\xe7\x94\xa8\xe6\x88\xb7-42'}",
       LEADR "|user=\xe7\x94\xa8\xe6\x88\xb7-42"),
    OK("DEL and C1 controls are not control characters", LEAD ",'user_id':'a\x7f\xc2\x85'}",
       LEADR "|user=a\x7f\xc2\x85"),
    OK("whitespace around tokens",
       " \t\r\n{ 'event_id' : 'e1' ,\n'type':'lead' ,\t'ts' : " T0 " } \r\n", LEADR),
    OK("escaped member names", "{'event\\u005fid':'e1','\\u0074ype':'lead','ts':" T0 "}", LEADR),
    OKS("flat type is not mapped", "events.type_map=lead=conversion", LEAD "}", LEADR),
    OKS("touch types are configurable", "attribution.touch_types=visit",
        "{'event_id':'e1','type':'touch','ts':0}", "flat|id=e1|type=touch|ts=0"),
    OK("specversion-free event named track without 'event' stays flat",
       "{'event_id':'e1','type':'track','ts':0}", "flat|id=e1|type=track|ts=0"),

    /* lengths are bytes */
    OK("event_id 128 bytes", "{'event_id':'" A128 "','type':'lead','ts':0}",
       "flat|id=" A128 "|type=lead|ts=0"),
    OK("event_id 128 bytes in 64 x U+00E9", "{'event_id':'" E64 "','type':'lead','ts':0}",
       "flat|id=" E64 "|type=lead|ts=0"),
    OK("event_id 128 bytes in 32 emoji", "{'event_id':'" SM32 "','type':'lead','ts':0}",
       "flat|id=" SM32 "|type=lead|ts=0"),
    OK("event_id 1 byte", "{'event_id':'x','type':'lead','ts':0}", "flat|id=x|type=lead|ts=0"),
    OK("type 64 bytes", "{'event_id':'e','type':'" A64 "','ts':0}", "flat|id=e|type=" A64 "|ts=0"),
    OK("user_id 256 bytes", LEAD ",'user_id':'" A256 "'}", LEADR "|user=" A256),
    OK("user_id 256 bytes in U+00E9", LEAD ",'user_id':'" E64 E64 "'}", LEADR "|user=" E64 E64),
    OK("channel 64 bytes", LEAD ",'channel':'" A64 "'}", LEADR "|ch=" A64),
    OK("channel 64 bytes in 16 emoji", LEAD ",'channel':'" SM16 "'}", LEADR "|ch=" SM16),
    OK("campaign 128 bytes", LEAD ",'campaign':'" A128 "'}", LEADR "|camp=" A128),
    OK("campaign 128 bytes in U+00E9", LEAD ",'campaign':'" E64 "'}", LEADR "|camp=" E64),
    OK("utm.source 64 bytes as channel", LEAD ",'utm':{'source':'" A64 "'}}", LEADR "|ch=" A64),
    OK("utm.campaign 128 bytes as campaign", LEAD ",'utm':{'source':'s','campaign':'" A128 "'}}",
       LEADR "|ch=s|camp=" A128),

    /* value: exact micros, rounded half away from zero at the 7th decimal */
    VALUE("399.0", "399000000"),
    VALUE("0.1", "100000"),
    VALUE("0.0000005", "1"),
    VALUE("0.00000049", "0"),
    VALUE("0.0000004999999999999", "0"),
    VALUE("-0.0000005", "-1"),
    VALUE("0.0000015", "2"),
    VALUE("123.4567895", "123456790"),
    VALUE("-123.4567895", "-123456790"),
    VALUE("-123.4567894", "-123456789"),
    VALUE("1e2", "100000000"),
    VALUE("1E+2", "100000000"),
    VALUE("100e-2", "1000000"),
    VALUE("-0", "0"),
    VALUE("-0.0", "0"),
    VALUE("0", "0"),
    VALUE("0e999999", "0"),
    VALUE("1e-400", "0"),
    VALUE("12345678.123456", "12345678123456"),
    VALUE("0.30000000000000004", "300000"),
    VALUE("0.1000000000000000000000000000000000000000000000000000000000000000000000009", "100000"),
    VALUE("9e12", "9000000000000000000"),
    VALUE("-9e12", "-9000000000000000000"),
    VALUE("9000000000000", "9000000000000000000"),
    VALUE("9000000000000.0000004", "9000000000000000000"),
    VALUE("0.9e13", "9000000000000000000"),

    /* ts: RFC 3339 or integer epoch milliseconds */
    TS(T0, T0),
    TS("0", "0"),
    TS("1.795e12", "1795000000000"),
    TS("1795420800000.0", T0),
    TS("17954208e5", T0),
    TS("253402300799999", "253402300799999"),
    TS("'2026-11-23T08:00:00Z'", T0),
    TS("'2026-11-23T08:00:00.123Z'", "1795420800123"),
    TS("'2026-11-23T08:00:00.1Z'", "1795420800100"),
    TS("'2026-11-23T08:00:00.123456789Z'", "1795420800123"),
    TS("'2026-11-23T16:00:00+08:00'", T0),
    TS("'2026-11-23T02:30:00-05:30'", T0),
    TS("'2026-11-23T08:00:00-00:00'", T0),
    TS("'2026-11-23t08:00:00z'", T0),
    TS("'2026-11-23 08:00:00Z'", T0),
    TS("'2016-12-31T23:59:60Z'", "1483228799999"),
    TS("'2016-12-31T23:59:60.5Z'", "1483228799999"),
    TS("'2024-02-29T12:00:00Z'", "1709208000000"),
    TS("'1970-01-01T00:00:00Z'", "0"),
    TS("'1970-01-01T01:00:00+01:00'", "0"),
    TS("'9999-12-31T23:59:59.999Z'", "253402300799999"),
    TS("'9999-12-31T23:59:60Z'", "253402300799999"),

    /* numbers as props values */
    PROPNUM("2.5", "2.5"),
    PROPNUM("3", "3"),
    PROPNUM("-0.000001", "-0.000001"),
    PROPNUM("-1e-6", "-0.000001"),
    PROPNUM("1000000", "1000000"),
    PROPNUM("9e12", "9000000000000"),
    PROPNUM("-8999999999999.5", "-8999999999999.5"),
};

/* Rejected flat events: every reason, with the field the detail must name. */
static const struct dcase flat_err[] = {
    { "empty message", NULL, "", 0, "empty", NULL, false, 0 },
    ERRS("too large: max_bytes + 1", "events.max_bytes=64", LEAD "}               ", "too_large",
         "max_bytes"),
    ERRS("too large is checked before parsing", "events.max_bytes=64",
         "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[", "too_large", NULL),

    ERR("truncated object", "{'event_id':'e1','type':'lead'", "json_syntax", "end of input"),
    ERR("truncated in a string", "{'event_id':'e1", "json_syntax", "unterminated"),
    ERR("truncated after a colon", "{'event_id':", "json_syntax", NULL),
    ERR("trailing garbage", LEAD "} x", "json_syntax", "trailing"),
    ERR("two objects", LEAD "}{}", "json_syntax", "trailing"),
    ERR("byte order mark", "\xef\xbb\xbf" LEAD "}", "bad_encoding", "byte order mark"),
    ERR("invalid escape \\x", LEAD ",'a':'\\x41'}", "json_syntax", "escape"),
    ERR("invalid escape \\U", LEAD ",'a':'\\U0041'}", "json_syntax", "escape"),
    ERR("short \\u escape", LEAD ",'a':'\\u12'}", "json_syntax", "escape"),
    ERR("non-hex \\u escape", LEAD ",'a':'\\u12G4'}", "json_syntax", "escape"),
    ERR("escape at the end of input", "{'a':'\\", "json_syntax", NULL),
    ERR("leading zero", LEAD ",'a':01}", "json_syntax", NULL),
    ERR("leading zero in value", LEAD ",'value':00.5}", "json_syntax", NULL),
    ERR("NaN literal", LEAD ",'value':NaN}", "json_syntax", NULL),
    ERR("Infinity literal", LEAD ",'value':Infinity}", "json_syntax", NULL),
    ERR("-Infinity literal", LEAD ",'value':-Infinity}", "json_syntax", "number"),
    ERR("plus sign", LEAD ",'value':+1}", "json_syntax", NULL),
    ERR("dot without digits", LEAD ",'value':1.}", "json_syntax", "number"),
    ERR("leading dot", LEAD ",'value':.5}", "json_syntax", NULL),
    ERR("exponent without digits", LEAD ",'value':1e}", "json_syntax", "number"),
    ERR("hex number", LEAD ",'value':0x10}", "json_syntax", NULL),
    { "single quotes", NULL, "{'event_id':'e1','type':'lead','ts':0}", 0, "json_syntax", NULL, true,
      0 },
    ERR("raw newline in a string", LEAD ",'a':'x\ny'}", "json_syntax", "control character"),
    ERR("raw tab in a string", LEAD ",'a':'x\ty'}", "json_syntax", "control character"),
    ERR("raw newline after an escape", LEAD ",'a':'\\n\ny'}", "json_syntax", "control character"),
    { "raw NUL in a string", NULL, LEAD ",'a':'x\0y'}", sizeof(LEAD ",'a':'x\0y'}") - 1,
      "json_syntax", "control character", false, 0 },
    ERR("trailing comma in object", LEAD ",}", "json_syntax", "member name"),
    ERR("trailing comma in array", LEAD ",'a':[1,]}", "json_syntax", NULL),
    ERR("missing colon", "{'event_id' 'e1'}", "json_syntax", "':'"),
    ERR("missing comma", "{'event_id':'e1' 'type':'lead'}", "json_syntax", NULL),
    ERR("unquoted member name", "{event_id:'e1'}", "json_syntax", "member name"),
    ERR("whitespace only", "  \n\t", "json_syntax", "end of input"),
    ERR("bare word", "event", "bad_encoding", "first byte 0x65"),
    ERR("0xef without the rest of a byte order mark", "\xef{}", "bad_encoding", "first byte 0xef"),
    ERR("a bare JSON value", "null", "not_object", "JSON object"),
    ERR("binary", "\x01\x02", "bad_encoding", "neither JSON nor a MessagePack map"),
    ERR("invalid literal", LEAD ",'a':tru}", "json_syntax", "literal"),
    ERR("capitalised literal", LEAD ",'a':True}", "json_syntax", NULL),
    ERR("comment", LEAD "} // c", "json_syntax", NULL),
    ERR("unclosed array in a field", LEAD ",'a':[1,2}", "json_syntax", NULL),
    ERR("form feed is not JSON whitespace", "\f" LEAD "}", "bad_encoding", "0x0c"),

    ERR("overlong 2-byte sequence", LEAD ",'user_id':'\xc0\xaf'}", "bad_utf8", NULL),
    ERR("overlong 3-byte sequence", LEAD ",'user_id':'\xe0\x80\xaf'}", "bad_utf8", NULL),
    ERR("overlong 4-byte sequence", LEAD ",'user_id':'\xf0\x80\x80\xaf'}", "bad_utf8", NULL),
    ERR("lone high surrogate escape", LEAD ",'user_id':'\\ud800'}", "bad_utf8", "surrogate"),
    ERR("lone low surrogate escape", LEAD ",'user_id':'\\udc00'}", "bad_utf8", "surrogate"),
    ERR("high surrogate then a non-surrogate", LEAD ",'user_id':'\\ud800\\u0041'}", "bad_utf8",
        "surrogate"),
    ERR("two high surrogates", LEAD ",'user_id':'\\ud800\\ud800'}", "bad_utf8", NULL),
    ERR("raw surrogate ED A0 80", LEAD ",'user_id':'\xed\xa0\x80'}", "bad_utf8", NULL),
    ERR("raw surrogate ED BF BF", LEAD ",'user_id':'\xed\xbf\xbf'}", "bad_utf8", NULL),
    ERR("invalid byte FF", LEAD ",'user_id':'\xff'}", "bad_utf8", NULL),
    ERR("invalid byte C1", LEAD ",'user_id':'\xc1\x81'}", "bad_utf8", NULL),
    ERR("lone continuation byte", LEAD ",'user_id':'a\x80'}", "bad_utf8", NULL),
    ERR("truncated sequence", LEAD ",'user_id':'\xe2\x82'}", "bad_utf8", NULL),
    ERR("sequence cut by the quote", LEAD ",'user_id':'\xc3'}", "bad_utf8", NULL),
    ERR("above U+10FFFF", LEAD ",'user_id':'\xf4\x90\x80\x80'}", "bad_utf8", NULL),
    ERR("F5 lead byte", LEAD ",'user_id':'\xf5\x80\x80\x80'}", "bad_utf8", NULL),
    ERR("bad UTF-8 in a member name", LEAD ",'\xff':1}", "bad_utf8", NULL),
    ERR("bad UTF-8 in an ignored field", LEAD ",'x':'\xfe'}", "bad_utf8", NULL),
    ERR("bad UTF-8 after an escape", LEAD ",'x':'\\t\xff'}", "bad_utf8", NULL),
    ERR("bad UTF-8 in a long ASCII run", LEAD ",'x':'abcdefghijklmnop\xffqrstuvwxyz'}", "bad_utf8",
        NULL),

    ERR("top-level array", "[]", "not_object", "object"),
    ERR("top-level array of an event", "[" LEAD "}]", "not_object", NULL),
    ERR("top-level string", "'event'", "not_object", NULL),
    ERR("top-level number", "42", "not_object", NULL),
    ERR("top-level true", "true", "not_object", NULL),
    ERR("top-level null", "null", "not_object", NULL),

    ERR("event_id absent", "{'type':'lead','ts':0}", "missing_field", "event_id"),
    ERR("event_id null", "{'event_id':null,'type':'lead','ts':0}", "missing_field", "event_id"),
    ERR("type absent", "{'event_id':'e1','ts':0}", "missing_field", "type"),
    ERR("type null", "{'event_id':'e1','type':null,'ts':0}", "missing_field", "type"),
    ERR("ts absent", "{'event_id':'e1','type':'lead'}", "missing_field", "ts"),
    ERR("ts null", "{'event_id':'e1','type':'lead','ts':null}", "missing_field", "ts"),
    ERR("empty object", "{}", "missing_field", "event_id"),
    ERR("touch without user_id", "{'event_id':'e1','type':'touch','ts':0,'channel':'c'}",
        "missing_field", "user_id"),
    ERR("touch with user_id null",
        "{'event_id':'e1','type':'touch','ts':0,'channel':'c','user_id':null}", "missing_field",
        "user_id"),
    ERR("conversion without user_id", "{'event_id':'e1','type':'conversion','ts':0,'value':1}",
        "missing_field", "user_id"),
    ERR("touch without channel", "{'event_id':'e1','type':'touch','ts':0,'user_id':'u'}",
        "missing_field", "channel"),
    ERR("touch with channel null",
        "{'event_id':'e1','type':'touch','ts':0,'user_id':'u','channel':null}", "missing_field",
        "channel"),
    ERR("touch with utm.source null",
        "{'event_id':'e1','type':'touch','ts':0,'user_id':'u','utm':{'source':null,"
        "'campaign':'x'}}",
        "missing_field", "channel"),
    ERR("cost without channel", "{'event_id':'e1','type':'cost','ts':0,'value':5}", "missing_field",
        "channel"),
    ERR("cost with utm but no source",
        "{'event_id':'e1','type':'cost','ts':0,'utm':{'medium':'x'}}", "missing_field", "channel"),
    ERRS("configured conversion type needs user_id", "attribution.conversion_types=order",
         "{'event_id':'e1','type':'order','ts':0}", "missing_field", "user_id"),
    ERRS("configured touch type needs channel", "attribution.touch_types=visit",
         "{'event_id':'e1','type':'visit','ts':0,'user_id':'u'}", "missing_field", "channel"),

    ERR("event_id number", "{'event_id':1,'type':'lead','ts':0}", "bad_type", "event_id"),
    ERR("event_id bool", "{'event_id':true,'type':'lead','ts':0}", "bad_type", "event_id"),
    ERR("event_id object", "{'event_id':{},'type':'lead','ts':0}", "bad_type", "event_id"),
    ERR("event_id array", "{'event_id':['e'],'type':'lead','ts':0}", "bad_type", "event_id"),
    ERR("event_id empty", "{'event_id':'','type':'lead','ts':0}", "bad_type", "event_id"),
    ERR("event_id 129 bytes", "{'event_id':'" A128 "a','type':'lead','ts':0}", "bad_type",
        "event_id"),
    ERR("event_id 129 bytes in 43 x U+20AC", "{'event_id':'" EU43 "','type':'lead','ts':0}",
        "bad_type", "event_id"),
    ERR("event_id 129 bytes in 32 emoji + 1", "{'event_id':'" SM32 "a','type':'lead','ts':0}",
        "bad_type", "event_id"),
    ERR("event_id 130 bytes in 65 x U+00E9", "{'event_id':'" E64 "\xc3\xa9','type':'lead','ts':0}",
        "bad_type", "event_id"),
    ERR("event_id with an escaped tab", "{'event_id':'a\\tb','type':'lead','ts':0}", "bad_type",
        "control"),
    ERR("event_id with an escaped NUL", "{'event_id':'a\\u0000b','type':'lead','ts':0}", "bad_type",
        "control"),
    ERR("event_id with U+001F", "{'event_id':'a\\u001f','type':'lead','ts':0}", "bad_type",
        "control"),
    ERR("type number", "{'event_id':'e1','type':1,'ts':0}", "bad_type", "type"),
    ERR("type uppercase", "{'event_id':'e1','type':'Touch','ts':0}", "bad_type", "type"),
    ERR("type with a dash", "{'event_id':'e1','type':'order-completed','ts':0}", "bad_type",
        "type"),
    ERR("type with a space", "{'event_id':'e1','type':'a b','ts':0}", "bad_type", "type"),
    ERR("type with a dot", "{'event_id':'e1','type':'com.shop.x','ts':0}", "bad_type", "type"),
    ERR("type non-ASCII", "{'event_id':'e1','type':'\xc3\xa9','ts':0}", "bad_type", "type"),
    ERR("type empty", "{'event_id':'e1','type':'','ts':0}", "bad_type", "type"),
    ERR("type 65 bytes", "{'event_id':'e1','type':'" A64 "a','ts':0}", "bad_type", "type"),
    ERR("type with a newline", "{'event_id':'e1','type':'lead\\n','ts':0}", "bad_type", "type"),
    ERR("user_id number", LEAD ",'user_id':42}", "bad_type", "user_id"),
    ERR("user_id bool", LEAD ",'user_id':false}", "bad_type", "user_id"),
    ERR("user_id array", LEAD ",'user_id':['u']}", "bad_type", "user_id"),
    ERR("user_id empty", LEAD ",'user_id':''}", "bad_type", "user_id"),
    ERR("user_id 257 bytes", LEAD ",'user_id':'" A256 "a'}", "bad_type", "user_id"),
    ERR("user_id 258 bytes in 129 x U+00E9", LEAD ",'user_id':'" E64 E64 "\xc3\xa9'}", "bad_type",
        "user_id"),
    ERR("user_id with U+0001", LEAD ",'user_id':'\\u0001'}", "bad_type", "control"),
    ERR("channel number", LEAD ",'channel':1}", "bad_type", "channel"),
    ERR("channel object", LEAD ",'channel':{}}", "bad_type", "channel"),
    ERR("channel empty", LEAD ",'channel':''}", "bad_type", "channel"),
    ERR("channel 65 bytes", LEAD ",'channel':'" A64 "a'}", "bad_type", "channel"),
    ERR("channel 65 bytes in 16 emoji + 1", LEAD ",'channel':'" SM16 "a'}", "bad_type", "channel"),
    ERR("channel with a newline", LEAD ",'channel':'a\\nb'}", "bad_type", "control"),
    ERR("campaign number", LEAD ",'campaign':5}", "bad_type", "campaign"),
    ERR("campaign bool", LEAD ",'campaign':false}", "bad_type", "campaign"),
    ERR("campaign 129 bytes", LEAD ",'campaign':'" A128 "a'}", "bad_type", "campaign"),
    ERR("campaign 129 bytes in U+20AC", LEAD ",'campaign':'" EU43 "'}", "bad_type", "campaign"),
    ERR("campaign with a carriage return", LEAD ",'campaign':'\\r'}", "bad_type", "control"),
    ERR("utm string", LEAD ",'utm':'wechat'}", "bad_type", "utm"),
    ERR("utm array", LEAD ",'utm':[]}", "bad_type", "utm"),
    ERR("utm.source number", LEAD ",'utm':{'source':1}}", "bad_type", "utm.source"),
    ERR("utm.medium number (even with a channel)", TOUCH ",'utm':{'medium':1}}", "bad_type",
        "utm.medium"),
    ERR("utm.term bool", TOUCH ",'utm':{'term':true}}", "bad_type", "utm.term"),
    ERR("utm.content object", TOUCH ",'utm':{'content':{}}}", "bad_type", "utm.content"),
    ERR("utm.campaign object", LEAD ",'utm':{'campaign':{}}}", "bad_type", "utm.campaign"),
    ERR("utm.source empty used as channel", LEAD ",'utm':{'source':''}}", "bad_type", "utm.source"),
    ERR("utm.source 65 bytes used as channel", LEAD ",'utm':{'source':'" A64 "a'}}", "bad_type",
        "utm.source"),
    ERR("utm.source with a tab used as channel", LEAD ",'utm':{'source':'a\\tb'}}", "bad_type",
        "utm.source"),
    ERR("utm.campaign 129 bytes used as campaign",
        LEAD ",'utm':{'source':'s','campaign':'" A128 "a'}}", "bad_type", "utm.campaign"),
    ERR("value string", LEAD ",'value':'399'}", "bad_type", "value"),
    ERR("value bool", LEAD ",'value':true}", "bad_type", "value"),
    ERR("value object", LEAD ",'value':{}}", "bad_type", "value"),
    ERR("value array", LEAD ",'value':[1]}", "bad_type", "value"),
    ERR("props array", LEAD ",'props':[]}", "bad_type", "props"),
    ERR("props string", LEAD ",'props':'x'}", "bad_type", "props"),
    ERR("props value null", LEAD ",'props':{'a':null}}", "bad_type", "props.a"),
    ERR("props value object", LEAD ",'props':{'a':{}}}", "bad_type", "props.a"),
    ERR("props value array", LEAD ",'props':{'a':[1]}}", "bad_type", "props.a"),
    ERR("props key uppercase", LEAD ",'props':{'Tier':1}}", "bad_type", "props.Tier"),
    ERR("props key with a dash", LEAD ",'props':{'a-b':1}}", "bad_type", "props"),
    ERR("props key with a dot", LEAD ",'props':{'a.b':1}}", "bad_type", "props"),
    ERR("props key empty", LEAD ",'props':{'':1}}", "bad_type", "props"),
    ERR("props key 65 bytes", LEAD ",'props':{'" A64 "a':1}}", "bad_type", "props"),
    ERR("props key non-ASCII", LEAD ",'props':{'\xc3\xa9':1}}", "bad_type", "props"),
    ERR("props key channel is reserved", LEAD ",'props':{'channel':'x'}}", "bad_type", "channel"),
    ERR("props key campaign is reserved", LEAD ",'props':{'campaign':'x'}}", "bad_type",
        "campaign"),
    ERR("props string 257 bytes", LEAD ",'props':{'s':'" A256 "a'}}", "bad_type", "props.s"),
    ERR("props string 257 bytes in emoji + 1", LEAD ",'props':{'s':'" SM32 SM32 "a'}}", "bad_type",
        "props.s"),
    ERR("props string with a newline", LEAD ",'props':{'s':'a\\nb'}}", "bad_type", "props.s"),
    ERR("17 props (limits.max_props default)", LEAD ",'props':{" P16 ",'p17':1}}", "bad_type",
        "max_props"),
    ERRS("props over a lowered limit", "limits.max_props=2", LEAD ",'props':{'a':1,'b':2,'c':3}}",
         "bad_type", "max_props"),
    ERRS("props with limits.max_props=0", "limits.max_props=0", LEAD ",'props':{'a':1}}",
         "bad_type", "max_props"),

    TS_BAD("'2026-02-30T00:00:00Z'", "bad_ts"),
    TS_BAD("'2025-02-29T00:00:00Z'", "bad_ts"),
    TS_BAD("'2026-04-31T00:00:00Z'", "bad_ts"),
    TS_BAD("'2026-13-01T00:00:00Z'", "bad_ts"),
    TS_BAD("'2026-00-01T00:00:00Z'", "bad_ts"),
    TS_BAD("'2026-11-00T00:00:00Z'", "bad_ts"),
    TS_BAD("'2026-11-23'", "bad_ts"),
    TS_BAD("'2026-11-23T24:00:00Z'", "bad_ts"),
    TS_BAD("'2026-11-23T08:60:00Z'", "bad_ts"),
    TS_BAD("'2026-11-23T08:00:61Z'", "bad_ts"),
    TS_BAD("'2026-11-23T08:00:00'", "bad_ts"),
    TS_BAD("'2026-11-23T08:00:00+24:00'", "bad_ts"),
    TS_BAD("'2026-11-23T08:00:00+08:60'", "bad_ts"),
    TS_BAD("'2026-11-23T08:00:00+08'", "bad_ts"),
    TS_BAD("'2026-11-23T08:00:00+0800'", "bad_ts"),
    TS_BAD("'2026-11-23T08:00:00.Z'", "bad_ts"),
    TS_BAD("'2026-11-23T08:00Z'", "bad_ts"),
    TS_BAD("'2026-11-23T08:00:00Z '", "bad_ts"),
    TS_BAD("' 2026-11-23T08:00:00Z'", "bad_ts"),
    TS_BAD("'2026-11-23X08:00:00Z'", "bad_ts"),
    TS_BAD("'26-11-23T08:00:00Z'", "bad_ts"),
    TS_BAD("'10000-01-01T00:00:00Z'", "bad_ts"),
    TS_BAD("'1969-12-31T23:59:59Z'", "bad_ts"),
    TS_BAD("'1970-01-01T00:00:00+00:01'", "bad_ts"),
    TS_BAD("'9999-12-31T23:59:59-00:01'", "bad_ts"),
    TS_BAD("'1795420800000'", "bad_ts"),
    TS_BAD("''", "bad_ts"),
    TS_BAD("-1", "bad_ts"),
    TS_BAD("-0.5", "bad_ts"),
    TS_BAD("1.5", "bad_ts"),
    TS_BAD("1795420800000.5", "bad_ts"),
    TS_BAD("1e-3", "bad_ts"),
    TS_BAD("253402300800000", "bad_ts"),
    TS_BAD("1e20", "bad_ts"),
    TS_BAD("true", "bad_ts"),
    TS_BAD("{}", "bad_ts"),
    TS_BAD("[0]", "bad_ts"),
    { "ts 1 ms beyond max_future", NULL, "{'event_id':'e1','type':'lead','ts':1795424400001}", 0,
      "bad_ts", "max_future", false, INT64_C(1795420800000) },
    { "ts 1 ms beyond max_future=0", "events.max_future=0",
      "{'event_id':'e1','type':'lead','ts':'2026-11-23T08:00:00.001Z'}", 0, "bad_ts", "max_future",
      false, INT64_C(1795420800000) },

    VALUE_BAD("9.000000000001e12", "bad_value"),
    VALUE_BAD("-9.000000000001e12", "bad_value"),
    VALUE_BAD("9000000000000.0000005", "bad_value"),
    VALUE_BAD("-9000000000000.0000005", "bad_value"),
    VALUE_BAD("9000000000001", "bad_value"),
    VALUE_BAD("1e13", "bad_value"),
    VALUE_BAD("1e400", "bad_value"),
    VALUE_BAD("-1e400", "bad_value"),
    VALUE_BAD("123456789012345678901234567890", "bad_value"),
    ERR("props number above 9e12", LEAD ",'props':{'n':1e13}}", "bad_value", "props.n"),

    ERR("event_id twice", "{'event_id':'e1','event_id':'e2','type':'lead','ts':0}", "duplicate_key",
        "event_id"),
    ERR("event_id twice, second null", "{'event_id':'e1','type':'lead','ts':0,'event_id':null}",
        "duplicate_key", "event_id"),
    ERR("event_id twice via an escape",
        "{'event_id':'e1','event\\u005fid':'e1','type':'lead',"
        "'ts':0}",
        "duplicate_key", "event_id"),
    ERR("type twice", "{'event_id':'e1','type':'lead','type':'lead','ts':0}", "duplicate_key",
        "type"),
    ERR("ts twice", "{'event_id':'e1','type':'lead','ts':0,'ts':0}", "duplicate_key", "ts"),
    ERR("user_id twice", LEAD ",'user_id':'a','user_id':'b'}", "duplicate_key", "user_id"),
    ERR("channel twice", LEAD ",'channel':'a','channel':'b'}", "duplicate_key", "channel"),
    ERR("campaign twice", LEAD ",'campaign':'a','campaign':'b'}", "duplicate_key", "campaign"),
    ERR("value twice", LEAD ",'value':1,'value':1}", "duplicate_key", "value"),
    ERR("utm twice", LEAD ",'utm':{},'utm':{}}", "duplicate_key", "utm"),
    ERR("props twice", LEAD ",'props':{},'props':{}}", "duplicate_key", "props"),
    ERR("props key twice", LEAD ",'props':{'a':1,'b':2,'a':1}}", "duplicate_key", "props.a"),
    ERR("props key twice via an escape", LEAD ",'props':{'a':1,'\\u0061':2}}", "duplicate_key",
        "props.a"),
    ERR("utm.source twice", LEAD ",'utm':{'source':'a','source':'b'}}", "duplicate_key", "source"),
    ERR("utm.medium twice", LEAD ",'utm':{'medium':'a','medium':'b'}}", "duplicate_key", "medium"),
};

/* Segment `track` events. */
#define SEGMAP "events.type_map=Order Completed=conversion\nevents.type_map=Ad Clicked=touch"
#define SEG    "{'type':'track','messageId':'m-1','timestamp':'2026-11-23T08:00:00Z',"
#define SEGR   "segment|id=m-1|type="
#define SEGNAME(ev, want)                                                                          \
    OKS("segment name " ev, SEGMAP, SEG "'event':'" ev "','anonymousId':'a'}",                     \
        SEGR want "|ts=" T0 "|user=a")

static const struct dcase segment[] = {
    OKS("segment track, everything mapped", SEGMAP,
        SEG "'event':'Order Completed','userId':'u-42','anonymousId':'anon-1',"
            "'context':{'campaign':{'source':'douyin','name':'q4-live','medium':'cpc'},"
            "'ip':'1.2.3.4'},'properties':{'revenue':399.0,'value':1,'amount':2,"
            "'Plan Name':'pro','itemCount':3,'coupon':null,'items':[{'sku':'a'}],"
            "'shipping':{'x':1},'gift':true}}",
        SEGR "conversion|ts=" T0 "|user=u-42|ch=douyin|camp=q4-live|value=399000000"
             "|p.gift=b:true|p.item_count=n:3|p.plan_name=s:pro"),
    OKS("segment originalTimestamp when timestamp is absent", SEGMAP,
        "{'type':'track','event':'Signed Up','messageId':'m-1',"
        "'originalTimestamp':'2026-11-23T16:00:00+08:00','anonymousId':'anon-1'}",
        SEGR "signed_up|ts=" T0 "|user=anon-1"),
    OKS("segment originalTimestamp when timestamp is null", SEGMAP,
        "{'type':'track','event':'x','messageId':'m-1','timestamp':null,"
        "'originalTimestamp':" T0 "}",
        SEGR "x|ts=" T0),
    OKS("segment timestamp wins over originalTimestamp", SEGMAP,
        SEG "'event':'x','originalTimestamp':0}", SEGR "x|ts=" T0),
    OKS("segment anonymousId when userId is empty", SEGMAP,
        SEG "'event':'Order Completed','userId':'','anonymousId':'anon-1'}",
        SEGR "conversion|ts=" T0 "|user=anon-1"),
    OKS("segment anonymousId when userId is null", SEGMAP,
        SEG "'event':'Order Completed','userId':null,'anonymousId':'anon-1'}",
        SEGR "conversion|ts=" T0 "|user=anon-1"),
    OKS("segment type_map to touch with a campaign source", SEGMAP,
        SEG "'event':'Ad Clicked','userId':'u','context':{'campaign':{'source':'wechat'}}}",
        SEGR "touch|ts=" T0 "|user=u|ch=wechat"),
    OKS("segment value from properties.value", SEGMAP,
        SEG "'event':'x','properties':{'value':2,'amount':3}}", SEGR "x|ts=" T0 "|value=2000000"),
    OKS("segment value from properties.amount", SEGMAP,
        SEG "'event':'x','properties':{'amount':3.5}}", SEGR "x|ts=" T0 "|value=3500000"),
    OKS("segment revenue null falls back to value", SEGMAP,
        SEG "'event':'x','properties':{'revenue':null,'value':4}}",
        SEGR "x|ts=" T0 "|value=4000000"),
    OKS("segment snake_cased keys collide: the first wins", SEGMAP,
        SEG "'event':'x','properties':{'planName':'a','plan_name':'b','Plan Name':'c'}}",
        SEGR "x|ts=" T0 "|p.plan_name=s:a"),
    OKS("segment unusable properties are skipped", SEGMAP,
        SEG "'event':'x','properties':{'Channel':'x','campaign':'y','big':1e20,'':1,'!!':2,"
            "'long':'" A256 "a','nl':'a\\nb','" A64 "a':1,'ok':1}}",
        SEGR "x|ts=" T0 "|p.ok=n:1"),
    OKS("segment scalar properties keep their kinds", SEGMAP,
        SEG "'event':'x','properties':{'s':'v','n':-2.50,'t':true,'f':false}}",
        SEGR "x|ts=" T0 "|p.f=b:false|p.n=n:-2.5|p.s=s:v|p.t=b:true"),
    OKS("segment skipped properties do not count against max_props", "limits.max_props=2",
        SEG "'event':'x','properties':{'a':1,'b':2,'c':'x\\ny','d':[1]}}",
        SEGR "x|ts=" T0 "|p.a=n:1|p.b=n:2"),
    OKS("segment minimal", SEGMAP,
        "{'type':'track','event':'Page Viewed','messageId':'m','timestamp':0,'anonymousId':'a'}",
        "segment|id=m|type=page_viewed|ts=0|user=a"),
    OKS("segment context without campaign", SEGMAP, SEG "'event':'x','context':{'ip':'x'}}",
        SEGR "x|ts=" T0),
    OKS("segment campaign name may be empty", SEGMAP,
        SEG "'event':'x','context':{'campaign':{'source':'s','name':''}}}",
        SEGR "x|ts=" T0 "|ch=s"),
    OKS("segment flat fields at top level are ignored", SEGMAP,
        SEG "'event':'x','event_id':'no','ts':'bad','user_id':5,'channel':{}}", SEGR "x|ts=" T0),
    SEGNAME("Order Completed", "conversion"),
    SEGNAME("Order Shipped", "order_shipped"),
    SEGNAME("OrderCompleted", "order_completed"),
    SEGNAME("orderCompleted", "order_completed"),
    SEGNAME("order-completed!!", "order_completed"),
    SEGNAME("order_completed", "order_completed"),
    SEGNAME("  Checkout  Step 2 ", "checkout_step_2"),
    SEGNAME("Step2Done", "step2_done"),
    SEGNAME("v2.Signup", "v2_signup"),
    SEGNAME("ORDER", "order"),

    ERRS("segment messageId absent", SEGMAP,
         "{'type':'track','event':'x','timestamp':0,'anonymousId':'a'}", "missing_field",
         "messageId"),
    ERRS("segment no timestamp at all", SEGMAP,
         "{'type':'track','event':'x','messageId':'m','anonymousId':'a'}", "missing_field",
         "originalTimestamp"),
    ERRS("segment conversion without userId or anonymousId", SEGMAP,
         SEG "'event':'Order Completed'}", "missing_field", "anonymousId"),
    ERRS("segment touch without campaign source", SEGMAP, SEG "'event':'Ad Clicked','userId':'u'}",
         "missing_field", "channel"),
    ERRS("segment event null", SEGMAP, SEG "'event':null}", "missing_field", "event"),
    ERRS("segment event number", SEGMAP, SEG "'event':5}", "bad_type", "event"),
    ERRS("segment event that snake_cases to nothing", SEGMAP, SEG "'event':'!!!'}", "bad_type",
         "event"),
    ERRS("segment event that snake_cases beyond 64 bytes", SEGMAP, SEG "'event':'" A64 "a'}",
         "bad_type", "event"),
    ERRS("segment context not an object", SEGMAP, SEG "'event':'x','context':'c'}", "bad_type",
         "context"),
    ERRS("segment context.campaign not an object", SEGMAP,
         SEG "'event':'x','context':{'campaign':[]}}", "bad_type", "context.campaign"),
    ERRS("segment campaign source number", SEGMAP,
         SEG "'event':'x','context':{'campaign':{'source':1}}}", "bad_type", "channel"),
    ERRS("segment properties not an object", SEGMAP, SEG "'event':'x','properties':[]}", "bad_type",
         "properties"),
    ERRS("segment revenue string", SEGMAP, SEG "'event':'x','properties':{'revenue':'399'}}",
         "bad_type", "value"),
    ERRS("segment revenue above 9e12", SEGMAP, SEG "'event':'x','properties':{'revenue':1e13}}",
         "bad_value", "value"),
    ERRS("segment userId number", SEGMAP, SEG "'event':'x','userId':5}", "bad_type", "userId"),
    ERRS("segment timestamp invalid", SEGMAP,
         "{'type':'track','event':'x','messageId':'m','timestamp':'yesterday'}", "bad_ts",
         "timestamp"),
    ERRS("segment more usable properties than max_props", "limits.max_props=2",
         SEG "'event':'x','properties':{'a':1,'b':2,'c':3}}", "bad_type", "max_props"),
    ERRS("segment messageId twice", SEGMAP, SEG "'event':'x','messageId':'m-2'}", "duplicate_key",
         "messageId"),
    ERRS("segment revenue twice", SEGMAP, SEG "'event':'x','properties':{'revenue':1,'revenue':2}}",
         "duplicate_key", "revenue"),
    ERRS("segment campaign source twice", SEGMAP,
         SEG "'event':'x','context':{'campaign':{'source':'a','source':'b'}}}", "duplicate_key",
         "source"),
};

/* CloudEvents 1.0, structured mode. */
#define CEMAP "events.type_map=com.shop.order.completed=conversion"
#define CE    "{'specversion':'1.0','id':'ce-1','source':'/shop','time':'2026-11-23T08:00:00Z',"
#define CER   "cloudevents|id=ce-1|type="

static const struct dcase cloudevents[] = {
    OKS("cloudevents subject becomes user_id", CEMAP,
        CE
        "'type':'com.shop.order.completed','subject':'u-42','datacontenttype':'application/json',"
        "'data':{'value':399,'channel':'web','campaign':'bf','props':{'tier':'gold'}}}",
        CER "conversion|ts=" T0 "|user=u-42|ch=web|camp=bf|value=399000000|p.tier=s:gold"),
    OKS("cloudevents data.user_id wins over subject", CEMAP,
        CE "'type':'com.shop.order.completed','subject':'u-2','data':{'user_id':'u-1'}}",
        CER "conversion|ts=" T0 "|user=u-1"),
    OKS("cloudevents data.user_id null falls back to subject", CEMAP,
        CE "'type':'com.shop.order.completed','subject':'u-2','data':{'user_id':null}}",
        CER "conversion|ts=" T0 "|user=u-2"),
    OKS("cloudevents without data", CEMAP, CE "'type':'lead'}", CER "lead|ts=" T0),
    OKS("cloudevents data null", CEMAP, CE "'type':'lead','data':null}", CER "lead|ts=" T0),
    OKS("cloudevents unmapped type used as is", CEMAP,
        CE "'type':'touch','subject':'u',"
           "'data':{'channel':'c'}}",
        CER "touch|ts=" T0 "|user=u|ch=c"),
    OKS("cloudevents utm fallback inside data", CEMAP,
        CE "'type':'touch','data':{'user_id':'u','utm':{'source':'wechat','campaign':'s'}}}",
        CER "touch|ts=" T0 "|user=u|ch=wechat|camp=s"),
    OKS("cloudevents top-level flat fields ignored", CEMAP,
        CE "'type':'lead','channel':'top','user_id':'top','data':{'channel':'inner'}}",
        CER "lead|ts=" T0 "|ch=inner"),
    OKS("cloudevents event_id/type/ts inside data ignored", CEMAP,
        CE "'type':'lead','data':{'event_id':'x','type':'touch','ts':'bad'}}", CER "lead|ts=" T0),
    OKS("cloudevents time as epoch milliseconds", CEMAP,
        "{'specversion':'1.0','id':'ce-1','time':0,'type':'lead'}",
        "cloudevents|id=ce-1|type=lead|ts=0"),

    ERRS("cloudevents specversion 0.3", CEMAP,
         "{'specversion':'0.3','id':'c','time':0,'type':'lead'}", "bad_type", "specversion"),
    ERRS("cloudevents specversion 1.0 as a number", CEMAP,
         "{'specversion':1.0,'id':'c','time':0,'type':'lead'}", "bad_type", "specversion"),
    ERRS("cloudevents specversion null", CEMAP,
         "{'specversion':null,'id':'c','time':0,'type':'lead'}", "bad_type", "specversion"),
    ERRS("cloudevents specversion 1.0.0", CEMAP,
         "{'specversion':'1.0.0','id':'c','time':0,'type':'lead'}", "bad_type", "specversion"),
    ERRS("cloudevents data a string", CEMAP, CE "'type':'lead','data':'x'}", "bad_type", "data"),
    ERRS("cloudevents id absent", CEMAP, "{'specversion':'1.0','time':0,'type':'lead'}",
         "missing_field", "id"),
    ERRS("cloudevents time absent", CEMAP, "{'specversion':'1.0','id':'c','type':'lead'}",
         "missing_field", "time"),
    ERRS("cloudevents type absent", CEMAP, "{'specversion':'1.0','id':'c','time':0}",
         "missing_field", "type"),
    ERRS("cloudevents unmapped reverse-DNS type", CEMAP, CE "'type':'com.example.signup'}",
         "bad_type", "type"),
    ERRS("cloudevents conversion without subject or user_id", CEMAP,
         CE "'type':'com.shop.order.completed','data':{'value':1}}", "missing_field", "subject"),
    ERRS("cloudevents subject not a string", CEMAP,
         CE "'type':'com.shop.order.completed','subject':5}", "bad_type", "subject"),
    ERRS("cloudevents time invalid", CEMAP,
         "{'specversion':'1.0','id':'c','time':'2026-02-30T00:00:00Z','type':'lead'}", "bad_ts",
         "time"),
    ERRS("cloudevents id twice", CEMAP, CE "'type':'lead','id':'x'}", "duplicate_key", "id"),
    ERRS("cloudevents data.user_id twice", CEMAP,
         CE "'type':'lead','data':{'user_id':'a','user_id':'b'}}", "duplicate_key", "user_id"),
    ERRS("cloudevents bad props inside data", CEMAP, CE "'type':'lead','data':{'props':{'A':1}}}",
         "bad_type", "props"),
};

/* Byte-exact inputs (binary CloudEvents use Kafka headers instead). */
struct hcase {
    const char *name;
    const char *payload; /* JSON, NULL for an empty value */
    const char *hdr[6][2];
    const char *want;
    const char *detail;
};

#define HSV                                                                                        \
    {                                                                                              \
        "ce_specversion", "1.0"                                                                    \
    }
#define HID                                                                                        \
    {                                                                                              \
        "ce_id", "ce-b1"                                                                           \
    }
#define HTIME                                                                                      \
    {                                                                                              \
        "ce_time", "2026-11-23T08:00:00Z"                                                          \
    }
#define BINR "cloudevents-binary|id=ce-b1|type="

static const struct hcase binary[] = {
    { "binary: headers + data payload",
      "{\"channel\":\"web\",\"value\":3,\"props\":{\"k\":\"v\"}}",
      { HSV, HID, HTIME, { "ce_type", "com.shop.order.completed" }, { "ce_subject", "u-1" } },
      BINR "conversion|ts=" T0 "|user=u-1|ch=web|value=3000000|p.k=s:v",
      NULL },
    { "binary: user_id in data wins over ce_subject",
      "{\"user_id\":\"u-9\"}",
      { HSV, HID, HTIME, { "ce_type", "com.shop.order.completed" }, { "ce_subject", "u-1" } },
      BINR "conversion|ts=" T0 "|user=u-9",
      NULL },
    { "binary: empty payload",
      NULL,
      { HSV, HID, HTIME, { "ce_type", "lead" } },
      BINR "lead|ts=" T0,
      NULL },
    { "binary: empty object payload",
      "{}",
      { HSV, HID, HTIME, { "ce_type", "lead" } },
      BINR "lead|ts=" T0,
      NULL },
    { "binary: other headers ignored",
      "{}",
      { { "traceparent", "00-x" }, HSV, HID, HTIME, { "ce_type", "lead" }, { "ce_source", "/x" } },
      BINR "lead|ts=" T0,
      NULL },
    { "binary: ce_time as text epoch is not RFC 3339",
      "{}",
      { HSV, HID, { "ce_time", "1795420800000" }, { "ce_type", "lead" } },
      "bad_ts",
      "ce_time" },
    { "binary: ce_specversion 0.3",
      "{}",
      { { "ce_specversion", "0.3" }, HID, HTIME, { "ce_type", "lead" } },
      "bad_type",
      "ce_specversion" },
    { "binary: ce_specversion null",
      "{}",
      { { "ce_specversion", NULL }, HID, HTIME, { "ce_type", "lead" } },
      "bad_type",
      "ce_specversion" },
    { "binary: ce_id absent",
      "{}",
      { HSV, HTIME, { "ce_type", "lead" } },
      "missing_field",
      "ce_id" },
    { "binary: ce_id null",
      "{}",
      { HSV, { "ce_id", NULL }, HTIME, { "ce_type", "lead" } },
      "missing_field",
      "ce_id" },
    { "binary: ce_type absent", "{}", { HSV, HID, HTIME }, "missing_field", "ce_type" },
    { "binary: ce_time absent",
      "{}",
      { HSV, HID, { "ce_type", "lead" } },
      "missing_field",
      "ce_time" },
    { "binary: ce_type unmapped",
      "{}",
      { HSV, HID, HTIME, { "ce_type", "com.x.y" } },
      "bad_type",
      "ce_type" },
    { "binary: ce_subject invalid UTF-8",
      "{}",
      { HSV, HID, HTIME, { "ce_type", "lead" }, { "ce_subject", "\xc0\xaf" } },
      "bad_utf8",
      "ce_subject" },
    { "binary: ce_id with a control character",
      "{}",
      { HSV, { "ce_id", "a\tb" }, HTIME, { "ce_type", "lead" } },
      "bad_type",
      "ce_id" },
    { "binary: payload an array",
      "[]",
      { HSV, HID, HTIME, { "ce_type", "lead" } },
      "not_object",
      NULL },
    { "binary: payload malformed",
      "{\"a\":",
      { HSV, HID, HTIME, { "ce_type", "lead" } },
      "json_syntax",
      NULL },
    { "binary: conversion without subject",
      "{}",
      { HSV, HID, HTIME, { "ce_type", "com.shop.order.completed" } },
      "missing_field",
      "ce_subject" },
};

/* ---- Row runners ------------------------------------------------------------------------- */

static void check_outcome(struct dec *x, enum jd_err got, const char *want, const char *detail,
                          const char *name)
{
    char buf[8192];
    if (strchr(want, '|')) {
        if (got != JD_OK)
            fail_msg("%s: want ok, got %s: %s", name, jd_err2name(got), x->err);
        render(x->ev, buf, sizeof(buf));
        if (strcmp(buf, want))
            fail_msg("%s:\n  got  %s\n  want %s", name, buf, want);
        check_invariants(x->ev, (size_t)x->cfg->limits.max_props, name);
    } else {
        if (got == JD_OK)
            fail_msg("%s: want %s, got ok: %s", name, want, render(x->ev, buf, sizeof(buf)));
        if (strcmp(jd_err2name(got), want))
            fail_msg("%s: want %s, got %s: %s", name, want, jd_err2name(got), x->err);
        assert_true(jd_err_is_event(got));
        if (x->err[0] == '\0')
            fail_msg("%s: no detail", name);
        if (detail && !strstr(x->err, detail))
            fail_msg("%s: detail '%s' does not mention '%s'", name, x->err, detail);
    }
}

static void run_dcase(void **state)
{
    const struct dcase *c = *state;
    struct dec *x;
    size_t len = c->len ? c->len : strlen(c->in);
    char *in = row_bytes(c->in, len, c->raw);

    x = dec_open(c->settings);
    enum jd_err got = dec_run(x, in, len, c->now_ms ? c->now_ms : INT64_MAX);
    check_outcome(x, got, c->want, c->detail, c->name);
    /* the same bytes again give the same outcome: nothing leaks between messages */
    char first[8192];
    if (got == JD_OK)
        render(x->ev, first, sizeof(first));
    enum jd_err again = dec_run(x, in, len, c->now_ms ? c->now_ms : INT64_MAX);
    assert_int_equal(again, got);
    if (got == JD_OK) {
        char second[8192];
        assert_string_equal(render(x->ev, second, sizeof(second)), first);
    }
    release(in);
    dec_close(x);
}

static void run_hcase(void **state)
{
    const struct hcase *c = *state;
    struct event_header h[6];
    size_t nh = 0;
    struct dec *x;

    for (size_t i = 0; i < 6 && c->hdr[i][0]; i++, nh++) {
        h[nh].name = c->hdr[i][0];
        h[nh].value = c->hdr[i][1];
        h[nh].len = c->hdr[i][1] ? strlen(c->hdr[i][1]) : 0;
    }
    x = dec_open(CEMAP);
    x->err[0] = '\0';
    enum jd_err got = event_decode(x->d, c->payload, c->payload ? strlen(c->payload) : 0, h, nh,
                                   INT64_MAX, x->ev, x->err, sizeof(x->err));
    check_outcome(x, got, c->want, c->detail, c->name);
    dec_close(x);
}

/* ---- Single tests ------------------------------------------------------------------------ */

static void test_null_buffer_is_empty(void **state)
{
    struct dec *x;
    (void)state;
    x = dec_open(NULL);
    assert_string_equal(jd_err2name(dec_run(x, NULL, 0, INT64_MAX)), "empty");
    dec_close(x);
}

/* events.max_bytes exactly: 64 bytes pass, 65 are too_large (the table has the 65). */
static void test_max_bytes_boundary(void **state)
{
    struct dec *x;
    char *in = row_bytes(LEAD "}               ", strlen(LEAD "}               "), false);
    (void)state;
    assert_int_equal(strlen(in), 65);
    x = dec_open("events.max_bytes=64");
    assert_int_equal(dec_run(x, in, 64, INT64_MAX), JD_OK);
    assert_int_equal(dec_run(x, in, 65, INT64_MAX), JD_ERR_EV_TOO_LARGE);
    dec_close(x);
    release(in);
}

static void test_max_future_boundary(void **state)
{
    static const struct {
        const char *settings;
        const char *ts;
        int64_t now;
        enum jd_err want;
    } rows[] = {
        { NULL, "1795424400000", INT64_C(1795420800000), JD_OK }, /* now + 1h */
        { NULL, "1795424400001", INT64_C(1795420800000), JD_ERR_EV_BAD_TS },
        { NULL, "0", INT64_C(1795420800000), JD_OK }, /* the past is always fine */
        { "events.max_future=0", T0, INT64_C(1795420800000), JD_OK },
        { "events.max_future=0", "1795420800001", INT64_C(1795420800000), JD_ERR_EV_BAD_TS },
        { "events.max_future=1d", "'2026-11-24T08:00:00Z'", INT64_C(1795420800000), JD_OK },
        { "events.max_future=1d", "'2026-11-24T08:00:00.001Z'", INT64_C(1795420800000),
          JD_ERR_EV_BAD_TS },
        { NULL, "253402300799999", INT64_MAX, JD_OK }, /* INT64_MAX disables the check */
    };
    (void)state;
    for (size_t i = 0; i < JD_ARRAY_SIZE(rows); i++) {
        char tmpl[256];
        struct dec *x;
        snprintf(tmpl, sizeof(tmpl), "{'event_id':'e1','type':'lead','ts':%s}", rows[i].ts);
        char *in = row_bytes(tmpl, strlen(tmpl), false);
        x = dec_open(rows[i].settings);
        enum jd_err got = dec_run(x, in, strlen(in), rows[i].now);
        if (got != rows[i].want)
            fail_msg("row %zu (%s): got %s: %s", i, rows[i].ts, jd_err2name(got), x->err);
        dec_close(x);
        release(in);
    }
}

/* Nesting up to DOC_MAX_DEPTH levels (the root object counts) is fine; one more is too_deep. */
static void test_depth_boundary(void **state)
{
    static const struct {
        const char *open, *close;
    } kinds[] = { { "[", "]" }, { "{'k':", "}" }, { "[{'k':", "}]" } };
    (void)state;
    for (size_t k = 0; k < JD_ARRAY_SIZE(kinds); k++) {
        size_t per = strchr(kinds[k].open, '[') && strchr(kinds[k].open, '{') ? 2 : 1;
        for (int extra = -1; extra <= 1; extra++) {
            /* levels below the root; the root object is level 1 */
            int levels = DOC_MAX_DEPTH - 1 + extra;
            size_t cap = 256 + (size_t)levels * 16, w = 0;
            char *t = own(malloc(cap));
            struct dec *x;
            assert_non_null(t);
            w += (size_t)snprintf(t + w, cap - w, "%s,'x':", LEAD);
            for (int i = 0; i < levels / (int)per; i++)
                w += (size_t)snprintf(t + w, cap - w, "%s", kinds[k].open);
            w += (size_t)snprintf(t + w, cap - w, "%s", levels % (int)per ? "[1]" : "1");
            for (int i = 0; i < levels / (int)per; i++)
                w += (size_t)snprintf(t + w, cap - w, "%s", kinds[k].close);
            w += (size_t)snprintf(t + w, cap - w, "}");
            char *in = row_bytes(t, w, false);
            x = dec_open(NULL);
            enum jd_err got = dec_run(x, in, w, INT64_MAX);
            const char *want = extra <= 0 ? "ok" : "too_deep";
            if (strcmp(jd_err2name(got), want))
                fail_msg("kind %zu, %d levels: want %s, got %s: %s", k, levels + 1, want,
                         jd_err2name(got), x->err);
            dec_close(x);
            release(in);
            release(t);
        }
    }
}

static char *repeat(const char *unit, size_t times, const char *tail, size_t *len)
{
    size_t ul = strlen(unit), tl = strlen(tail);
    char *s = own(malloc(ul * times + tl + 1));
    for (size_t i = 0; i < times; i++)
        memcpy(s + i * ul, unit, ul);
    memcpy(s + ul * times, tail, tl + 1);
    *len = ul * times + tl;
    return s;
}

/* 100k levels of nesting: rejected as too_deep, and the C stack is never at risk. */
static void test_hostile_deep_nesting(void **state)
{
    static const char *const units[] = { "[", "{\"a\":", "[{\"a\":", "{\"a\":[" };
    struct dec *x;
    (void)state;
    x = dec_open("events.max_bytes=1MiB");
    for (size_t i = 0; i < JD_ARRAY_SIZE(units); i++) {
        size_t len;
        /* at the top level */
        char *s = repeat(units[i], 100000, "", &len);
        assert_string_equal(jd_err2name(dec_run(x, s, len, INT64_MAX)), "too_deep");
        release(s);
        /* inside an ignored field of a valid event */
        s = repeat(units[i], 100000, "", &len);
        char *in = own(malloc(len + 64));
        int n = snprintf(in, len + 64, "{\"event_id\":\"e\",\"x\":%s", s);
        assert_string_equal(jd_err2name(dec_run(x, in, (size_t)n, INT64_MAX)), "too_deep");
        release(in);
        release(s);
    }
    dec_close(x);
}

/* 1 MiB of garbage (max_bytes raised): random bytes, and random JSON tokens. */
static void test_hostile_garbage(void **state)
{
    static const char tokens[] = "{}[]\",:0123456789.eE+-tfnrul \\abc\xc3\xa9";
    const size_t size = 1u << 20;
    char *buf = own(malloc(size));
    uint64_t seed = UINT64_C(0x9E3779B97F4A7C15);
    struct dec *x;
    (void)state;
    assert_non_null(buf);
    x = dec_open("events.max_bytes=2MiB");
    for (int round = 0; round < 8; round++) {
        for (size_t i = 0; i < size; i++) {
            uint64_t r = rng_next(&seed);
            buf[i] = round % 2 ? tokens[r % (sizeof(tokens) - 1)] : (char)(r >> 24);
        }
        if (round >= 4) /* make the JSON parser go deeper than the first byte */
            buf[0] = '{';
        if (round >= 6) {
            static const char head[] = "{\"event_id\":\"e\",\"type\":\"lead\",\"ts\":0,\"x\":\"";
            memcpy(buf, head, sizeof(head) - 1);
        }
        enum jd_err got = dec_run(x, buf, size, INT64_MAX);
        if (got == JD_OK || !jd_err_is_event(got))
            fail_msg("round %d: got %s", round, jd_err2name(got));
    }
    /* garbage over the limit is too_large before anything else */
    dec_close(x);
    x = dec_open(NULL);
    assert_string_equal(jd_err2name(dec_run(x, buf, size, INT64_MAX)), "too_large");
    dec_close(x);
    release(buf);
}

/* Valid events of every JSON dialect, for the prefix, flip and no-leak tests. */
static const char *const seeds[] = {
    "{'event_id':'01JD3K8Z6Q','type':'touch','ts':'2026-11-23T08:00:00.123+08:00','user_id':"
    "'u-\\u00e9\\ud83d\\ude00','channel':'xiaohongshu','campaign':'q4-live','value':-12.5e-1,"
    "'utm':{'source':'x','medium':'m'},'props':{'device':'ios','n':2.5,'b':true},'x':[1,{'y':"
    "null}]}",
    "{'event_id':'01JD3K9A11','type':'conversion','ts':1795554785000,'user_id':'u-42',"
    "'value':399.0}",
    "{'type':'track','event':'Order Completed','messageId':'m-1','timestamp':"
    "'2026-11-23T08:00:00Z','userId':'u-42','context':{'campaign':{'source':'douyin','name':"
    "'q4'}},'properties':{'revenue':399.0,'Plan Name':'pro','itemCount':3,'items':[{}]}}",
    "{'specversion':'1.0','id':'ce-1','source':'/shop','time':'2026-11-23T08:00:00Z','type':"
    "'com.shop.order.completed','subject':'u-42','data':{'value':399,'channel':'web','props':"
    "{'tier':'gold'}}}",
};

/* Every proper prefix of a valid event is rejected with a DLQ code. */
static void test_every_prefix_rejected(void **state)
{
    struct dec *x;
    (void)state;
    x = dec_open(SEGMAP "\n" CEMAP);
    for (size_t s = 0; s < JD_ARRAY_SIZE(seeds); s++) {
        size_t n = strlen(seeds[s]);
        char *in = row_bytes(seeds[s], n, false);
        assert_int_equal(dec_run(x, in, n, INT64_MAX), JD_OK);
        for (size_t len = 0; len < n; len++) {
            /* a copy of exactly `len` bytes, so ASan sees any read past the end */
            char *p = own(malloc(len ? len : 1));
            memcpy(p, in, len);
            enum jd_err got = dec_run(x, p, len, INT64_MAX);
            if (got == JD_OK || !jd_err_is_event(got))
                fail_msg("seed %zu, prefix %zu: got %s", s, len, jd_err2name(got));
            release(p);
        }
        release(in);
    }
    dec_close(x);
}

/* Random byte flips: the outcome is ok or a DLQ code, and what is accepted is sane. */
static void test_random_flips(void **state)
{
    static const char flipset[] = "{}[]\",:\\0123456789.-eE\x80\xff";
    uint64_t seed = UINT64_C(20261123);
    struct dec *x;
    int accepted = 0, rejected = 0;
    (void)state;
    x = dec_open(SEGMAP "\n" CEMAP);
    for (int i = 0; i < 4000; i++) {
        const char *src = seeds[(size_t)i % JD_ARRAY_SIZE(seeds)];
        size_t n = strlen(src);
        char *in = row_bytes(src, n, false);
        int flips = 1 + (int)(rng_next(&seed) % 3);
        for (int f = 0; f < flips; f++) {
            uint64_t r = rng_next(&seed);
            size_t at = (size_t)(r % n);
            /* half the time any byte, else a byte that matters to JSON */
            if ((r >> 32) & 1)
                in[at] = (char)(r >> 40);
            else
                in[at] = flipset[(r >> 40) % (sizeof(flipset) - 1)];
        }
        char ctx[64];
        snprintf(ctx, sizeof(ctx), "flip case %d", i);
        enum jd_err got = dec_run(x, in, n, INT64_MAX);
        if (got == JD_OK) {
            check_invariants(x->ev, 16, ctx);
            accepted++;
        } else if (!jd_err_is_event(got)) {
            fail_msg("%s: got %s", ctx, jd_err2name(got));
        } else {
            rejected++;
        }
        release(in);
    }
    /* both outcomes occur, so the loop really exercised the decoder */
    assert_true(accepted > 100);
    assert_true(rejected > 100);
    dec_close(x);
}

/* The same decoder gives the same answer twice; a rejection leaves nothing behind. */
static void test_no_state_leak(void **state)
{
    char a[8192], b[8192];
    struct dec *x, *fresh;
    (void)state;
    x = dec_open(SEGMAP "\n" CEMAP);
    fresh = dec_open(SEGMAP "\n" CEMAP);
    for (size_t s = 0; s < JD_ARRAY_SIZE(seeds); s++) {
        size_t n = strlen(seeds[s]);
        char *in = row_bytes(seeds[s], n, false);
        assert_int_equal(dec_run(fresh, in, n, INT64_MAX), JD_OK);
        render(fresh->ev, a, sizeof(a));
        /* after every seed and after a rejection, this seed decodes as on a fresh decoder */
        for (size_t t = 0; t < JD_ARRAY_SIZE(seeds); t++) {
            char *other = row_bytes(seeds[t], strlen(seeds[t]), false);
            assert_int_equal(dec_run(x, other, strlen(other), INT64_MAX), JD_OK);
            release(other);
            assert_int_equal(dec_run(x, in, n, INT64_MAX), JD_OK);
            assert_string_equal(render(x->ev, b, sizeof(b)), a);
            assert_int_equal(dec_run(x, "{\"event_id\":\"\\ud800\"}", 21, INT64_MAX),
                             JD_ERR_EV_BAD_UTF8);
            assert_int_equal(dec_run(x, in, n - 1, INT64_MAX), JD_ERR_EV_JSON_SYNTAX);
            assert_int_equal(dec_run(x, in, n, INT64_MAX), JD_OK);
            assert_string_equal(render(x->ev, b, sizeof(b)), a);
        }
        release(in);
    }
    /* a rich event then a minimal one: no props, value, user or channel carried over */
    char *minimal = row_bytes(LEAD "}", strlen(LEAD "}"), false);
    assert_int_equal(dec_run(x, minimal, strlen(minimal), INT64_MAX), JD_OK);
    assert_string_equal(render(x->ev, b, sizeof(b)), LEADR);
    assert_int_equal(x->ev->nprops, 0);
    assert_false(x->ev->has_value);
    release(minimal);
    dec_close(fresh);
    dec_close(x);
}

/*
 * A Segment message with many long property names must not run the decoder out of scratch
 * space: the usable properties at the end are kept.
 */
static void test_segment_many_long_property_names(void **state)
{
    const size_t cap = 64 * 1024;
    char *buf = own(malloc(cap));
    size_t w = 0;
    struct dec *x;
    char r[8192];
    (void)state;
    assert_non_null(buf);
    w += (size_t)snprintf(buf + w, cap - w, "%s",
                          "{\"type\":\"track\",\"event\":\"x\",\"messageId\":\"m\",\"timestamp\":"
                          "0,\"properties\":{");
    for (int i = 0; i < 400; i++) /* names of 100 bytes: never usable, but snake_cased */
        w += (size_t)snprintf(buf + w, cap - w, "\"%s%s%04d\":1,", A64, A32, i);
    for (int i = 0; i < 200; i++) /* tiny names that snake_case to nothing */
        w += (size_t)snprintf(buf + w, cap - w, "%s", "\"!\":1,");
    w += (size_t)snprintf(buf + w, cap - w, "%s", "\"PlanName\":\"pro\",\"n\":5}}");
    assert_true(w < cap);
    x = dec_open(NULL);
    enum jd_err got = dec_run(x, buf, w, INT64_MAX);
    if (got != JD_OK)
        fail_msg("got %s: %s", jd_err2name(got), x->err);
    assert_string_equal(render(x->ev, r, sizeof(r)),
                        "segment|id=m|type=x|ts=0|p.n=n:5|p.plan_name=s:pro");
    dec_close(x);
    release(buf);
}

static void test_format_micros(void **state)
{
    static const struct {
        int64_t micros;
        const char *want;
    } rows[] = {
        { 0, "0" },
        { 1, "0.000001" },
        { -1, "-0.000001" },
        { 2500000, "2.5" },
        { 3000000, "3" },
        { -12340000, "-12.34" },
        { 100000, "0.1" },
        { 123456789, "123.456789" },
        { INT64_C(9000000000000000000), "9000000000000" },
        { INT64_MIN, "-9223372036854.775808" },
        { INT64_MAX, "9223372036854.775807" },
    };
    (void)state;
    for (size_t i = 0; i < JD_ARRAY_SIZE(rows); i++) {
        char buf[24];
        size_t n = event_format_micros(rows[i].micros, buf);
        assert_string_equal(buf, rows[i].want);
        assert_int_equal(n, strlen(rows[i].want));
    }
}

static void test_journey_types_and_dialect_names(void **state)
{
    struct dec *x;
    (void)state;
    x = dec_open("attribution.touch_types=touch,visit");
    assert_true(event_is_journey_type(x->d, JD_STR_LIT("touch")));
    assert_true(event_is_journey_type(x->d, JD_STR_LIT("visit")));
    assert_true(event_is_journey_type(x->d, JD_STR_LIT("conversion")));
    assert_false(event_is_journey_type(x->d, JD_STR_LIT("cost")));
    assert_false(event_is_journey_type(x->d, JD_STR_LIT("touc")));
    dec_close(x);
    assert_string_equal(event_dialect_name(EVENT_DIALECT_FLAT), "flat");
    assert_string_equal(event_dialect_name(EVENT_DIALECT_SEGMENT), "segment");
    assert_string_equal(event_dialect_name(EVENT_DIALECT_CE_STRUCTURED), "cloudevents");
    assert_string_equal(event_dialect_name(EVENT_DIALECT_CE_BINARY), "cloudevents-binary");
}

/* ---- Main -------------------------------------------------------------------------------- */

#define ADD_TABLE(tab, fn, prefix)                                                                 \
    for (size_t i_ = 0; i_ < JD_ARRAY_SIZE(tab); i_++) {                                           \
        char *nm_ = malloc(strlen(prefix) + strlen((tab)[i_].name) + 1);                           \
        if (!nm_)                                                                                  \
            return 1;                                                                              \
        strcpy(nm_, prefix);                                                                       \
        strcat(nm_, (tab)[i_].name);                                                               \
        names[n] = nm_;                                                                            \
        tests[n++] = (struct CMUnitTest){ nm_, fn, NULL, release_all, (void *)&(tab)[i_] };        \
    }

int main(void)
{
    static const struct CMUnitTest fixed[] = {
        cmocka_unit_test_teardown(test_null_buffer_is_empty, release_all),
        cmocka_unit_test_teardown(test_max_bytes_boundary, release_all),
        cmocka_unit_test_teardown(test_max_future_boundary, release_all),
        cmocka_unit_test_teardown(test_depth_boundary, release_all),
        cmocka_unit_test_teardown(test_hostile_deep_nesting, release_all),
        cmocka_unit_test_teardown(test_hostile_garbage, release_all),
        cmocka_unit_test_teardown(test_every_prefix_rejected, release_all),
        cmocka_unit_test_teardown(test_random_flips, release_all),
        cmocka_unit_test_teardown(test_no_state_leak, release_all),
        cmocka_unit_test_teardown(test_segment_many_long_property_names, release_all),
        cmocka_unit_test_teardown(test_format_micros, release_all),
        cmocka_unit_test_teardown(test_journey_types_and_dialect_names, release_all),
    };
    size_t total = JD_ARRAY_SIZE(flat_ok) + JD_ARRAY_SIZE(flat_err) + JD_ARRAY_SIZE(segment) +
                   JD_ARRAY_SIZE(cloudevents) + JD_ARRAY_SIZE(binary) + JD_ARRAY_SIZE(fixed);
    struct CMUnitTest *tests = calloc(total, sizeof(*tests));
    char **names = calloc(total, sizeof(*names));
    size_t n = 0;

    if (!tests || !names)
        return 1;
    ADD_TABLE(flat_ok, run_dcase, "flat ok: ");
    ADD_TABLE(flat_err, run_dcase, "flat rejected: ");
    ADD_TABLE(segment, run_dcase, "");
    ADD_TABLE(cloudevents, run_dcase, "");
    ADD_TABLE(binary, run_hcase, "cloudevents ");
    for (size_t i = 0; i < JD_ARRAY_SIZE(fixed); i++)
        tests[n++] = fixed[i];
    int rc = _cmocka_run_group_tests("decode", tests, n, NULL, NULL);
    for (size_t i = 0; i < total; i++)
        free(names[i]);
    free(names);
    free(tests);
    return rc;
}
