/*
 * store_int.h — the store's internals, shared by store.c, store_flush.c and
 * store_read.c and by nothing else.
 */
#ifndef JD_STORE_INT_H
#define JD_STORE_INT_H

#include "store/store.h"

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stdint.h>

/* A remembered fact about a key ("registered for GC until …", "series indexed"). */
struct store_memo {
    uint64_t h;
    int64_t until;
};

#define STORE_MEMO_CAP (1u << 17)

/* Reusable argument vector: bytes in one buffer, arguments as offsets. */
struct store_args {
    char *buf;
    size_t len, cap;
    size_t *off, *alen;
    size_t n, ncap;
    const char **argv;
    size_t argv_cap;
};

struct store {
    struct store_addr addr;
    char *username; /* "" : AUTH with the password alone */
    char *password;
    char *prefix;
    int64_t connect_timeout_ms, command_timeout_ms;
    struct window_retention retention;
    redisContext *ctx;
    char sha_flush[41], sha_claim[41], sha_pin[41], sha_gc[41], sha_compact[41];
    char sha_lease[41], sha_evalsave[41], sha_progress[41], sha_expiry[41];
    char maxmemory_policy[32];
    int64_t max_bulk_len; /* Redis's proto-max-bulk-len */
    uint64_t round_trips;
    struct store_args args;
    struct store_memo *memo; /* open addressing, cleared on reconnect */
    size_t memo_n;
    /* compaction: appends per chunk since this instance last compacted it */
    struct store_memo *appends; /* until = append count */
    size_t appends_n;
    char (*pending)[STORE_KEY_MAX]; /* chunks due for compaction */
    size_t npending;
    /* the chunks of the flush being built: key argument, expiry, key hash */
    struct store_chunkref *refs;
    size_t nrefs, caprefs;
    char chunk_prefix[64]; /* "{P}:c:" */
    size_t chunk_prefix_len;
    bool in_flight; /* a flush was sent and its reply not read yet */
    char *cmd;      /* store_append_argv()'s RESP buffer, kept across commands */
    size_t capcmd;
    char jkey[STORE_KEY_MAX]; /* "{P}:j:" */
    size_t jkey_len;
};

struct store_chunkref {
    size_t arg; /* index of the key argument */
    int64_t expiry;
    uint64_t hash;
};

#define STORE_DEFAULT_MAX_BULK (INT64_C(512) * 1024 * 1024)

#define STORE_COMPACT_AFTER 16 /* appends before a chunk is compacted */
#define STORE_PENDING_MAX   4096

/* ------------------------------------------------------ shared helpers */

static inline size_t store_fmt_i64(char *out, int64_t v)
{
    char tmp[24];
    size_t n = 0, w = 0;
    uint64_t mag = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[n++] = (char)('0' + mag % 10);
        mag /= 10;
    } while (mag);
    if (v < 0)
        out[w++] = '-';
    while (n)
        out[w++] = tmp[--n];
    return w;
}

/**
 * @brief Queue one command on the connection (hiredis's output buffer; sent
 *        with the next write), formatted here: hiredis's own formatter costs
 *        more than the rest of a 40,000-command read.
 * @returns false when out of memory or not connected (nothing queued).
 */
bool store_append_argv(struct store *s, size_t argc, const char **argv, const size_t *lens);

/** printf into a key under the deployment's hash tag: "{P}:" + fmt. */
size_t store_keyf(const struct store *s, char *buf, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/** 16 lowercase hex digits of v, NUL-terminated. */
void store_hex(uint64_t v, char out[17]);

/** `{P}:p:TOPIC:PARTITION` */
size_t store_key_part(const struct store *s, char *buf, size_t size, const char *topic,
                      int32_t partition);

/** `{P}:seen:TOPIC:PARTITION:SLICE` */
size_t store_key_seen(const struct store *s, char *buf, size_t size, const char *topic,
                      int32_t partition, int64_t slice);

/** Memo hints: "h is known until"; forgetting them is always safe. */
bool store_memo_has(struct store *s, uint64_t h, int64_t now);
void store_memo_put(struct store *s, uint64_t h, int64_t until);
void store_forget(struct store *s);

/** Count an append to a chunk; queues it for compaction every STORE_COMPACT_AFTER. */
void store_count_append(struct store *s, const char *key, size_t kl, uint64_t h);

/** Queue a chunk for compaction now (it grew large); \p h is its key hash. */
void store_queue_compact(struct store *s, const char *key, size_t kl, uint64_t h);

/** Report a lost connection (and drop it). @returns JD_ERR_REDIS. */
enum jd_err store_io_error(struct store *s, char *errstr, size_t errstr_size, const char *what);

/** SCRIPT LOAD \p body into \p sha. */
enum jd_err store_load_script(struct store *s, const char *body, char sha[41], char *errstr,
                              size_t errstr_size);

/** EVALSHA (reloading the script once on NOSCRIPT). argv[0..1] are filled in. */
redisReply *store_evalsha(struct store *s, char sha[41], const char *body, int argc,
                          const char **argv, const size_t *lens);

/** Parse a decimal int64 of exactly n bytes. */
bool store_parse_i64(const char *p, size_t n, int64_t *out);

/**
 * @brief The live connection for one round trip (counted), or NULL when
 *        disconnected. Valid until the next store_* call.
 */
redisContext *store_ctx(struct store *s);

#endif
