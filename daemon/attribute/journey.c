/*
 * journey.c — a journey's touches and conversions, and its MessagePack form.
 *
 * Owns the byte format (a fixed layout, so a small strict reader and writer
 * here rather than a general MessagePack library) and the eligibility rules.
 * Which journeys to load, and what the credits are, is attr.c's business.
 */
#include "attribute/journey.h"

#include "attribute/mpk.h"
#include "core/ts.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void journey_reset(struct journey *j)
{
    j->n = j->nc = j->alen = 0;
}

void journey_free(struct journey *j)
{
    free(j->t);
    free(j->c);
    free(j->arena);
    memset(j, 0, sizeof(*j));
}

/* Makes room for \p need more arena bytes; every slice is rebased when the arena moves. */
static bool journey_room(struct journey *j, size_t need)
{
    if (j->alen + need <= j->acap)
        return true;
    /* slices become offsets across the move (the old block must not be touched) */
    uintptr_t base = (uintptr_t)j->arena;
    size_t cap = j->acap;
    if (!jd_reserve((void **)&j->arena, &cap, j->alen + need, 1))
        return false;
    j->acap = cap;
#define JOURNEY_REBASE(s)                                                                          \
    if ((s).n)                                                                                     \
        (s).p = j->arena + ((uintptr_t)(s).p - base);
    for (size_t i = 0; i < j->n; i++) {
        JOURNEY_REBASE(j->t[i].channel)
        JOURNEY_REBASE(j->t[i].campaign)
    }
    for (size_t i = 0; i < j->nc; i++)
        JOURNEY_REBASE(j->c[i].type)
#undef JOURNEY_REBASE
    return true;
}

/* Copies \p s into room made by journey_room(). */
static struct jd_str journey_copy(struct journey *j, struct jd_str s)
{
    if (!s.n)
        return JD_STR_NULL;
    memcpy(j->arena + j->alen, s.p, s.n);
    j->alen += s.n;
    return (struct jd_str){ j->arena + j->alen - s.n, s.n };
}

/* ------------------------------------------------------------- encoding */

size_t journey_encoded_size(const struct journey *j)
{
    size_t n = 1 + 1 + mpk_arr_size(j->n) + mpk_arr_size(j->nc);
    for (size_t i = 0; i < j->n; i++)
        n += 1 + mpk_int_size(j->t[i].ts) + mpk_str_size(j->t[i].channel.n) +
             mpk_str_size(j->t[i].campaign.n);
    for (size_t i = 0; i < j->nc; i++)
        n += 1 + mpk_str_size(j->c[i].type.n) + mpk_int_size(j->c[i].ts);
    return n;
}

size_t journey_encode(const struct journey *j, uint8_t *out)
{
    size_t w = mpk_put_arr(out, 3);
    w += mpk_put_int(out + w, JOURNEY_VERSION);
    w += mpk_put_arr(out + w, j->n);
    for (size_t i = 0; i < j->n; i++) {
        w += mpk_put_arr(out + w, 3);
        w += mpk_put_int(out + w, j->t[i].ts);
        w += mpk_put_str(out + w, j->t[i].channel);
        w += mpk_put_str(out + w, j->t[i].campaign);
    }
    w += mpk_put_arr(out + w, j->nc);
    for (size_t i = 0; i < j->nc; i++) {
        w += mpk_put_arr(out + w, 2);
        w += mpk_put_str(out + w, j->c[i].type);
        w += mpk_put_int(out + w, j->c[i].ts);
    }
    return w;
}

size_t journey_record_size(int64_t ts, struct jd_str channel, struct jd_str campaign)
{
    return 2 + mpk_int_size(ts) + mpk_str_size(channel.n) + mpk_str_size(campaign.n);
}

size_t journey_encode_record(uint8_t *out, int64_t ts, struct jd_str channel,
                             struct jd_str campaign)
{
    size_t w = mpk_put_arr(out, 4);
    w += mpk_put_int(out + w, JOURNEY_RECORD);
    w += mpk_put_int(out + w, ts);
    w += mpk_put_str(out + w, channel);
    w += mpk_put_str(out + w, campaign);
    return w;
}

/* ------------------------------------------------------------- decoding */

/* An event time journeyd could have stored (events.md's range): replay subtracts from it. */
static bool journey_ts_ok(int64_t ts)
{
    return ts >= 0 && ts <= TS_MAX_MS;
}

/* The records after the whole journey (if any), each replayed as the touch it was. */
static enum jd_err journey_replay(struct journey *j, struct mpk_rd *r, struct journey_limits *lim)
{
    while (r->p < r->end) {
        size_t n;
        int64_t tag, ts;
        struct jd_str ch, camp;
        if (!mpk_get_arr(r, &n) || n != 4 || !mpk_get_int(r, &tag) || tag != JOURNEY_RECORD ||
            !mpk_get_int(r, &ts) || !journey_ts_ok(ts) || !mpk_get_str(r, &ch) ||
            !mpk_get_str(r, &camp))
            return JD_ERR_CORRUPT;
        if (!journey_touch(j, ts, ch, camp, lim->max_touches, lim->lookback_ms, &lim->dropped))
            return JD_ERR_NOMEM;
        lim->records++;
    }
    return JD_OK;
}

enum jd_err journey_decode(struct journey *j, const void *buf, size_t len,
                           struct journey_limits *lim, char *errstr, size_t errstr_size)
{
    struct mpk_rd r = { buf, (const uint8_t *)buf + len }, head = r;
    size_t n, nt, nc;
    int64_t version;
    enum jd_err e;
    journey_reset(j);
    lim->records = 0;
    if (!mpk_get_arr(&head, &n))
        goto corrupt;
    if (n == 4) /* records only: the journey began after its last whole write */
        goto replay;
    if (n != 3 || !mpk_get_int(&head, &version))
        goto corrupt;
    if (version != JOURNEY_VERSION)
        return jd_errf(JD_ERR_CORRUPT, errstr, errstr_size, "journey format %lld unknown",
                       (long long)version);
    r = head;
    if (!mpk_get_arr(&r, &nt) || nt > len)
        goto corrupt;
    if (!jd_reserve((void **)&j->t, &j->cap, nt, sizeof(*j->t)))
        goto nomem;
    for (size_t i = 0; i < nt; i++) {
        struct jd_str ch, camp;
        int64_t ts;
        if (!mpk_get_arr(&r, &n) || n != 3 || !mpk_get_int(&r, &ts) || !journey_ts_ok(ts) ||
            !mpk_get_str(&r, &ch) || !mpk_get_str(&r, &camp) || (j->n && ts < j->t[j->n - 1].ts))
            goto corrupt;
        if (!journey_room(j, ch.n + camp.n))
            goto nomem;
        j->t[j->n++] = (struct journey_touch){ ts, journey_copy(j, ch), journey_copy(j, camp) };
    }
    if (!mpk_get_arr(&r, &nc) || nc > len)
        goto corrupt;
    if (!jd_reserve((void **)&j->c, &j->capc, nc, sizeof(*j->c)))
        goto nomem;
    for (size_t i = 0; i < nc; i++) {
        struct jd_str type;
        int64_t ts;
        if (!mpk_get_arr(&r, &n) || n != 2 || !mpk_get_str(&r, &type) || !mpk_get_int(&r, &ts) ||
            !journey_ts_ok(ts))
            goto corrupt;
        if (!journey_room(j, type.n))
            goto nomem;
        j->c[j->nc++] = (struct journey_conv){ journey_copy(j, type), ts };
    }
replay:
    if ((e = journey_replay(j, &r, lim)) == JD_ERR_NOMEM)
        goto nomem;
    if (e != JD_OK)
        goto corrupt;
    return JD_OK;
corrupt:
    journey_reset(j);
    return jd_errf(JD_ERR_CORRUPT, errstr, errstr_size, "journey damaged at byte %zu of %zu",
                   (size_t)(r.p - (const uint8_t *)buf), len);
nomem:
    journey_reset(j);
    return jd_errf(JD_ERR_NOMEM, errstr, errstr_size, "out of memory loading a journey");
}

/* ------------------------------------------------------------ the rules */

int64_t journey_last_activity(const struct journey *j)
{
    int64_t last = j->n ? j->t[j->n - 1].ts : INT64_MIN;
    for (size_t i = 0; i < j->nc; i++)
        last = JD_MAX(last, j->c[i].ts);
    return last;
}

int64_t journey_last_touch(const struct journey *j)
{
    return j->n ? j->t[j->n - 1].ts : INT64_MIN;
}

/* Drops touches [0, k). */
static void journey_drop_oldest(struct journey *j, size_t k)
{
    memmove(j->t, j->t + k, (j->n - k) * sizeof(*j->t));
    j->n -= k;
}

bool journey_touch(struct journey *j, int64_t ts, struct jd_str channel, struct jd_str campaign,
                   size_t max_touches, int64_t lookback_ms, uint64_t *dropped)
{
    if (!jd_reserve((void **)&j->t, &j->cap, j->n + 1, sizeof(*j->t)))
        return false;
    size_t at = j->n; /* after every touch at or before ts: ties keep arrival order */
    while (at > 0 && j->t[at - 1].ts > ts)
        at--;
    if (!journey_room(j, channel.n + campaign.n))
        return false;
    struct journey_touch nt = { ts, journey_copy(j, channel), journey_copy(j, campaign) };
    memmove(j->t + at + 1, j->t + at, (j->n - at) * sizeof(*j->t));
    j->t[at] = nt;
    j->n++;
    size_t k = 0;
    int64_t newest = j->t[j->n - 1].ts;
    while (k < j->n && j->t[k].ts < newest - lookback_ms)
        k++;
    if (j->n - k > max_touches)
        k = j->n - max_touches;
    *dropped += k;
    journey_drop_oldest(j, k);
    return true;
}

size_t journey_convert(struct journey *j, struct jd_str type, int64_t tc, enum journey_mode mode,
                       int64_t lookback_ms, size_t *idx)
{
    struct journey_conv *prev = NULL;
    for (size_t i = 0; i < j->nc; i++)
        if (jd_str_eq(j->c[i].type, type))
            prev = &j->c[i];
    size_t n = 0;
    for (size_t i = 0; i < j->n; i++) {
        int64_t ts = j->t[i].ts;
        if (ts > tc || ts < tc - lookback_ms)
            continue;
        if (mode == JOURNEY_RESET && prev && ts <= prev->ts)
            continue;
        idx[n++] = i;
    }
    if (prev) {
        if (tc > prev->ts)
            prev->ts = tc;
        return n;
    }
    if (!jd_reserve((void **)&j->c, &j->capc, j->nc + 1, sizeof(*j->c)))
        return SIZE_MAX;
    if (!journey_room(j, type.n))
        return SIZE_MAX;
    j->c[j->nc++] = (struct journey_conv){ journey_copy(j, type), tc };
    return n;
}

size_t journey_null_path(const struct journey *j, size_t *idx)
{
    int64_t last = INT64_MIN;
    for (size_t i = 0; i < j->nc; i++)
        last = JD_MAX(last, j->c[i].ts);
    size_t n = 0;
    for (size_t i = 0; i < j->n; i++)
        if (j->t[i].ts > last)
            idx[n++] = i;
    return n;
}
