/*
 * attr_int.h — the attribution stage's state, shared by its files (attr.c
 * runs batches, attr_learn.c learns the data-driven weights). Not an API.
 */
#ifndef JD_ATTR_INT_H
#define JD_ATTR_INT_H

#include "attribute/attr.h"
#include "attribute/credit.h"
#include "attribute/expiry.h"
#include "attribute/jcache.h"
#include "attribute/journey.h"
#include "attribute/pathstat.h"
#include "core/tally.h"

struct attr_ev {
    int32_t partition;
    bool conversion;
    bool has_value;
    int64_t ts, value;
    int64_t st;                           /* the partition's stream time with this event */
    size_t user, channel, campaign, type; /* arena offsets */
    uint16_t luser, lchannel, lcampaign, ltype;
    uint64_t fa, fb; /* the user's fingerprint; fp is its hex, so both sort alike */
    char fp[33];
};

/* A sort key of attr_sort(): the event's partition and fingerprint's high half. */
struct attr_key {
    uint64_t fa;
    uint32_t part, idx;
};

/* One user of a batch (its events are order[start, next user's start)). */
struct attr_user {
    size_t start;
    size_t key;    /* its journey's key: an offset into kbuf */
    size_t get;    /* its read among the gets; SIZE_MAX: its touches are appended */
    int64_t was;   /* appending: the journey's last activity before the batch */
    int64_t last;  /* appending: ... and after it */
    uint32_t nrec; /* appending: its records after the batch */
    bool relist;   /* listed in a bucket read now, so list it again */
};

struct attr_weights {
    char **names;
    double *w;
    size_t n;
};

struct attr {
    const struct config *cfg;
    struct store *store;
    const char *topic;
    enum journey_mode mode;
    int64_t lookback;
    size_t max_touches;
    struct credit *credit;
    struct attr_weights weights[MODEL_N];
    struct attr_counters c;
    struct tally *credited; /* by channel: conversions per model, then value per model */
    uint64_t null_staged;   /* null paths of the batch not yet applied */
    /* the batch being built */
    struct attr_ev *ev;
    size_t nev, capev;
    char *arena;
    size_t alen, acap;
    /* attr_run()'s working memory, kept across batches */
    struct jcache *jc;
    struct journey_limits lim;
    size_t *order, caporder;
    struct attr_key *keys, *keys2;
    size_t capkeys, capkeys2;
    uint32_t hist[12][256]; /* attr_sort()'s digit counts */
    struct store_get *gets;
    size_t capgets;
    char *kbuf; /* journey keys (offsets until attr_keys_fix()); the writes keep them */
    size_t klen, kcap;
    struct expiry *x;
    struct attr_user *users;
    size_t capusers;
    bool prepared; /* attr_prepare() ran for the batch being built */
    size_t nusers, nread;
    struct journey j;
    size_t *idx;
    struct credit_out *out;
    struct jd_str *path;
    struct pathstat *ps;
    uint8_t *bytes; /* encoded journeys and path blocks */
    size_t blen, bcap;
    size_t *put_off, *put_len, capputoff, capputlen;
    struct store_put *puts;
    size_t nputs, capputs;
    struct store_put *japps; /* touch records appended (the value parked as an offset) */
    size_t njapps, capjapps;
    struct store_append *apps;
    size_t napps, capapps;
    char (*pskeys)[STORE_KEY_MAX];
    size_t cappskeys;
    char labels[512];
};

/**
 * @brief Orders the batch's events (a->ev, fingerprints filled) by
 *        partition, user fingerprint and arrival into a->order (attr_sort.c).
 * @returns false when out of memory.
 */
bool attr_sort(struct attr *a);

/** Make room for \p n gets (new ones zeroed); false when out of memory. */
bool attr_gets(struct attr *a, size_t n);

#endif
