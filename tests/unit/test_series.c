/*
 * test_series.c — unit tests for aggregate/series: the canonical label
 * encoding (channel and campaign merged into the sorted props, empty labels
 * omitted), decoding it back, series ids and their hex form.
 *
 * A property test builds random events and compares the encoding with an
 * independently sorted label list.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "aggregate/series.h"
#include "core/jd.h"
#include "decode/event.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng_state;

static uint64_t splitmix64(void)
{
    uint64_t z = (rng_state += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

/* An event with the given channel, campaign and (sorted) props "k=v". */
static void make_event(struct event *ev, const char *channel, const char *campaign,
                       const char *const *props, size_t nprops)
{
    memset(ev, 0, sizeof(*ev));
    ev->type = JD_STR_LIT("touch");
    ev->channel = jd_str_c(channel);
    ev->campaign = jd_str_c(campaign);
    for (size_t i = 0; i < nprops; i++) {
        const char *eq = strchr(props[i], '=');
        ev->props[i].key = (struct jd_str){ props[i], (size_t)(eq - props[i]) };
        ev->props[i].val = jd_str_c(eq + 1);
    }
    ev->nprops = (uint32_t)nprops;
}

/* Encodes into an exactly-sized heap buffer, so ASan catches any overrun. */
static size_t encode(const struct event *ev, char **out)
{
    *out = malloc(SERIES_LABELS_MAX);
    assert_non_null(*out);
    return series_labels_encode(ev, *out);
}

/* Renders an encoding with '|' between labels and '=' inside, for readable asserts. */
static void render(const char *enc, size_t n, char *buf, size_t size)
{
    size_t w = 0;
    for (size_t i = 0; i < n && w + 1 < size; i++)
        buf[w++] = enc[i] == SERIES_SEP_PAIR ? '|' : enc[i] == SERIES_SEP_VALUE ? '=' : enc[i];
    buf[w] = '\0';
}

static void test_encode_cases(void **state)
{
    static const struct {
        const char *channel, *campaign;
        const char *props[6];
        size_t nprops;
        const char *want;
    } cases[] = {
        { NULL, NULL, { NULL }, 0, "" },
        { "douyin", NULL, { NULL }, 0, "channel=douyin" },
        { NULL, "q4", { NULL }, 0, "campaign=q4" },
        { "douyin", "q4", { NULL }, 0, "campaign=q4|channel=douyin" },
        /* props around, between and after the two fixed labels */
        { "douyin",
          "q4",
          { "a=1", "ca=2", "campaigns=3", "device=ios", "zz=9" },
          5,
          "a=1|ca=2|campaign=q4|campaigns=3|channel=douyin|device=ios|zz=9" },
        { "douyin",
          "q4",
          { "ch=1", "channel_x=2", "channels=3" },
          3,
          "campaign=q4|ch=1|channel=douyin|channel_x=2|channels=3" },
        { NULL, NULL, { "tier=gold" }, 1, "tier=gold" },
        /* empty labels are omitted */
        { "", "", { NULL }, 0, "" },
        { "", "q4", { "a=", "b=x", "c=" }, 3, "b=x|campaign=q4" },
        { "web", "", { "mql=true" }, 1, "channel=web|mql=true" },
        /* values may hold anything but control characters */
        { "sem baidu", "q4/x=y", { "p=a,b" }, 1, "campaign=q4/x=y|channel=sem baidu|p=a,b" },
    };
    (void)state;
    for (size_t i = 0; i < JD_ARRAY_SIZE(cases); i++) {
        struct event ev;
        char *enc, got[512];
        make_event(&ev, cases[i].channel, cases[i].campaign, cases[i].props, cases[i].nprops);
        size_t n = encode(&ev, &enc);
        render(enc, n, got, sizeof(got));
        free(enc);
        if (strcmp(got, cases[i].want) != 0)
            fail_msg("case %zu: got '%s', want '%s'", i, got, cases[i].want);
    }
}

/* The raw bytes use the documented separators. */
static void test_encode_bytes(void **state)
{
    struct event ev;
    static const char *const props[] = { "tier=gold" };
    char *enc;
    (void)state;
    make_event(&ev, "web", NULL, props, 1);
    size_t n = encode(&ev, &enc);
    assert_int_equal(n, strlen("channel\x1fweb\x1etier\x1fgold"));
    assert_memory_equal(enc, "channel\x1fweb\x1etier\x1fgold", n);
    free(enc);
}

static void test_decode(void **state)
{
    const char enc[] = "a\x1f"
                       "1\x1e"
                       "campaign\x1fq4\x1e"
                       "tier\x1f";
    struct series_label out[8];
    (void)state;

    size_t n = series_labels_decode(enc, sizeof(enc) - 1, out, 8);
    assert_int_equal(n, 3);
    assert_true(jd_str_eqc(out[0].name, "a"));
    assert_true(jd_str_eqc(out[0].value, "1"));
    assert_true(jd_str_eqc(out[1].name, "campaign"));
    assert_true(jd_str_eqc(out[1].value, "q4"));
    assert_true(jd_str_eqc(out[2].name, "tier"));
    assert_int_equal(out[2].value.n, 0);
    /* slices point into the encoding */
    assert_ptr_equal(out[1].name.p, enc + 4);

    /* fewer slots than labels: the count is still complete */
    memset(out, 0, sizeof(out));
    assert_int_equal(series_labels_decode(enc, sizeof(enc) - 1, out, 1), 3);
    assert_true(jd_str_eqc(out[0].name, "a"));
    assert_null(out[1].name.p);
    assert_int_equal(series_labels_decode(enc, sizeof(enc) - 1, NULL, 0), 3);

    /* nothing to decode */
    assert_int_equal(series_labels_decode("", 0, out, 8), 0);
    assert_int_equal(series_labels_decode(NULL, 0, out, 8), 0);
}

static void test_series_ids(void **state)
{
    const char l1[] = "channel\x1f"
                      "douyin";
    const char l2[] = "channel\x1f"
                      "wechat";
    (void)state;

    uint64_t a = series_id(JD_STR_LIT("touch"), l1, sizeof(l1) - 1);
    assert_int_equal(a, series_id(JD_STR_LIT("touch"), l1, sizeof(l1) - 1)); /* stable */
    assert_int_not_equal(a, series_id(JD_STR_LIT("lead"), l1, sizeof(l1) - 1));
    assert_int_not_equal(a, series_id(JD_STR_LIT("touch"), l2, sizeof(l2) - 1));
    assert_int_not_equal(a, series_id(JD_STR_LIT("touch"), "", 0));
    assert_int_not_equal(series_id(JD_STR_LIT("touch"), "", 0),
                         series_id(JD_STR_LIT("lead"), "", 0));
    /* moving bytes between the type and the labels changes the id */
    assert_int_not_equal(series_id(JD_STR_LIT("ab"), "c", 1), series_id(JD_STR_LIT("a"), "bc", 2));
    assert_int_not_equal(series_id(JD_STR_LIT("a"), "", 0), series_id(JD_STR_LIT(""), "a", 1));
}

/*
 * Series ids are part of Redis key names: a change of the hash orphans every
 * stored window. These golden values pin them (update only with a data
 * migration).
 */
#define GOLDEN_TOUCH_DOUYIN "dcd85b58e17a1314"
#define GOLDEN_LEAD_EMPTY   "db903bdcc37e31e7"

static void test_series_id_golden(void **state)
{
    const char l1[] = "channel\x1f"
                      "douyin";
    char hex[17];
    (void)state;
    series_id_hex(series_id(JD_STR_LIT("touch"), l1, sizeof(l1) - 1), hex);
    assert_string_equal(hex, GOLDEN_TOUCH_DOUYIN);
    series_id_hex(series_id(JD_STR_LIT("lead"), "", 0), hex);
    assert_string_equal(hex, GOLDEN_LEAD_EMPTY);
}

static void test_hex(void **state)
{
    static const struct {
        uint64_t v;
        const char *want;
    } cases[] = {
        { 0, "0000000000000000" },
        { 1, "0000000000000001" },
        { UINT64_C(0x0123456789abcdef), "0123456789abcdef" },
        { UINT64_C(0xfedcba9876543210), "fedcba9876543210" },
        { UINT64_MAX, "ffffffffffffffff" },
    };
    (void)state;
    for (size_t i = 0; i < JD_ARRAY_SIZE(cases); i++) {
        char out[18];
        memset(out, 'x', sizeof(out));
        series_id_hex(cases[i].v, out);
        assert_string_equal(out, cases[i].want);
        assert_int_equal(out[17], 'x');
    }
}

/* The largest event the decoder can produce fits SERIES_LABELS_MAX. */
static void test_encode_max_size(void **state)
{
    struct event ev;
    char keys[EVENT_MAX_PROPS][65], val[257], chan[65], camp[129];
    (void)state;

    memset(&ev, 0, sizeof(ev));
    memset(val, 'v', 256);
    val[256] = '\0';
    memset(chan, 'c', 64);
    chan[64] = '\0';
    memset(camp, 'k', 128);
    camp[128] = '\0';
    for (int i = 0; i < EVENT_MAX_PROPS; i++) {
        /* 64-byte keys, sorted: "p00…", "p01…", … */
        memset(keys[i], 'z', 64);
        keys[i][0] = 'p';
        keys[i][1] = (char)('0' + i / 10);
        keys[i][2] = (char)('0' + i % 10);
        keys[i][64] = '\0';
        ev.props[i].key = jd_str_c(keys[i]);
        ev.props[i].val = jd_str_c(val);
    }
    ev.nprops = EVENT_MAX_PROPS;
    ev.channel = jd_str_c(chan);
    ev.campaign = jd_str_c(camp);
    char *enc;
    size_t n = encode(&ev, &enc);
    size_t want =
        EVENT_MAX_PROPS * (64 + 1 + 256) + (7 + 1 + 64) + (8 + 1 + 128) + (EVENT_MAX_PROPS + 2 - 1);
    assert_int_equal(n, want);
    assert_true(n <= SERIES_LABELS_MAX);
    struct series_label out[EVENT_MAX_PROPS + 2];
    assert_int_equal(series_labels_decode(enc, n, out, JD_ARRAY_SIZE(out)), EVENT_MAX_PROPS + 2);
    assert_true(jd_str_eqc(out[0].name, "campaign"));
    assert_true(jd_str_eqc(out[1].name, "channel"));
    free(enc);
}

/* ------------------------------------------------------------- property */

struct label_ref {
    const char *name, *value;
};

static int label_ref_cmp(const void *a, const void *b)
{
    const struct label_ref *x = a, *y = b;
    return strcmp(x->name, y->name);
}

static void random_word(char *buf, size_t maxlen, const char *alphabet)
{
    size_t n = 1 + (size_t)(splitmix64() % maxlen), al = strlen(alphabet);
    for (size_t i = 0; i < n; i++)
        buf[i] = alphabet[splitmix64() % al];
    buf[n] = '\0';
}

/* Random events: decode(encode(ev)) is the sorted list of non-empty labels. */
static void test_encode_decode_property(void **state)
{
    /* key alphabet around "campaign"/"channel" so merges are exercised */
    static const char *const stems[] = { "a",         "c",  "ca",   "cam",     "campaigm",
                                         "campaignz", "ch", "chan", "channek", "channelz",
                                         "d",         "z",  "_" };
    (void)state;
    rng_state = 21;
    for (int iter = 0; iter < 20000; iter++) {
        struct event ev;
        char keys[EVENT_MAX_PROPS][80], vals[EVENT_MAX_PROPS][40], chan[40], camp[40];
        struct label_ref want[EVENT_MAX_PROPS + 2];
        size_t nwant = 0, nprops = (size_t)(splitmix64() % 12);

        memset(&ev, 0, sizeof(ev));
        /* build unique keys, then sort them as the decoder guarantees */
        struct label_ref props[EVENT_MAX_PROPS];
        size_t np = 0;
        for (size_t i = 0; i < nprops; i++) {
            char suffix[8];
            random_word(suffix, 3, "abz09_");
            snprintf(keys[np], sizeof(keys[np]), "%s%s", stems[splitmix64() % 13],
                     splitmix64() % 2 ? suffix : "");
            bool dup = !strcmp(keys[np], "campaign") || !strcmp(keys[np], "channel");
            for (size_t j = 0; j < np && !dup; j++)
                dup = !strcmp(keys[j], keys[np]);
            if (dup)
                continue;
            if (splitmix64() % 5 == 0)
                vals[np][0] = '\0';
            else
                random_word(vals[np], 30, "abcXYZ019 -_./:=,");
            props[np] = (struct label_ref){ keys[np], vals[np] };
            np++;
        }
        qsort(props, np, sizeof(*props), label_ref_cmp);
        for (size_t i = 0; i < np; i++) {
            ev.props[i].key = jd_str_c(props[i].name);
            ev.props[i].val = jd_str_c(props[i].value);
        }
        ev.nprops = (uint32_t)np;
        chan[0] = camp[0] = '\0';
        if (splitmix64() % 3)
            random_word(chan, 20, "abcdefgh_");
        if (splitmix64() % 3)
            random_word(camp, 20, "q0123456789-");
        ev.channel = jd_str_c(chan);
        ev.campaign = jd_str_c(camp);

        /* the oracle: all non-empty labels, sorted by name */
        for (size_t i = 0; i < np; i++)
            if (props[i].value[0])
                want[nwant++] = props[i];
        if (chan[0])
            want[nwant++] = (struct label_ref){ "channel", chan };
        if (camp[0])
            want[nwant++] = (struct label_ref){ "campaign", camp };
        qsort(want, nwant, sizeof(*want), label_ref_cmp);

        char *enc;
        size_t n = encode(&ev, &enc);
        struct series_label got[EVENT_MAX_PROPS + 2];
        size_t ng = series_labels_decode(enc, n, got, JD_ARRAY_SIZE(got));
        bool ok = ng == nwant;
        for (size_t i = 0; ok && i < ng; i++)
            ok = jd_str_eqc(got[i].name, want[i].name) && jd_str_eqc(got[i].value, want[i].value);
        if (!ok) {
            char r[2048];
            render(enc, n, r, sizeof(r));
            free(enc);
            fail_msg("iteration %d: encoding '%s' does not match %zu sorted labels", iter, r,
                     nwant);
        }
        /* the encoding is canonical: re-encoding the same labels gives the same bytes */
        char *again;
        size_t n2 = encode(&ev, &again);
        assert_int_equal(n2, n);
        assert_memory_equal(again, enc, n);
        free(again);
        free(enc);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encode_cases),     cmocka_unit_test(test_encode_bytes),
        cmocka_unit_test(test_decode),           cmocka_unit_test(test_series_ids),
        cmocka_unit_test(test_series_id_golden), cmocka_unit_test(test_hex),
        cmocka_unit_test(test_encode_max_size),  cmocka_unit_test(test_encode_decode_property),
    };
    return cmocka_run_group_tests_name("series", tests, NULL, NULL);
}
