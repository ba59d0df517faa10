/*
 * store.h — everything journeyd keeps in Redis, behind one module.
 *
 * Writes happen in atomic scripts (claim, flush, gc, compact); reads are
 * pipelined batches. Key layout (all under one hash tag, `{prefix}`, so every
 * script is single-slot):
 *
 *   {P}:c:TYPE:SID:<m|h|d><chunk>   string window chunk: appended bucket records
 *                                         (counts, exact sums, min/max/last and
 *                                         distinct-user sketches; aggregate/chunk.h)
 *   {P}:s:TYPE                      hash  series id -> canonical labels
 *   {P}:types                       set   event types seen
 *   {P}:p:TOPIC:PARTITION           hash  owner, epoch, next (offset), st (stream time;
 *                                         absent until the partition applied an event),
 *                                         st0 (earliest event time applied), wt (Redis
 *                                         clock at its last claim or batch)
 *   {P}:parts                       set   the partition hashes
 *   {P}:seen:TOPIC:PARTITION:SLICE  string 16-byte fingerprints of applied event ids
 *   {P}:gc                          zset  key -> event time after which it may go
 *   {P}:stats                       hash  exactly-once counters (ok:TYPE, dup, dlq, …)
 *   {P}:meta                        hash  gc_cutoff
 *   {P}:j:TOPIC:PARTITION:FP        string a user's journey (attribute/journey.h; FP: the
 *                                         32-hex fingerprint of the user id)
 *   {P}:jx:TOPIC:PARTITION          zset  expiry bucket id -> event time it ends at
 *   {P}:jb:TOPIC:PARTITION:ID       string 32-hex FPs of journeys due in the bucket
 *   {P}:jxo:TOPIC:PARTITION         string "ID OFFSET": how far a due bucket was read
 *   {P}:ps:HOUR                     string path statistics of the hour (attribute/pathstat.h)
 *
 * Nothing here logs: errors come back as values with a message.
 */
#ifndef JD_STORE_H
#define JD_STORE_H

#include "aggregate/agg.h"
#include "aggregate/window.h"
#include "core/config.h"
#include "core/err.h"
#include "core/jd.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Longest key prefix and topic name the store accepts. */
#define STORE_PREFIX_MAX 32
#define STORE_TOPIC_MAX  249
/** Room for any key: `{P}:seen:TOPIC:PARTITION:SLICE` is the longest (321 bytes). */
#define STORE_KEY_MAX 400

/** Where Redis is, parsed from redis.url. */
struct store_addr {
    char host[256];
    int port;
    char path[512]; /**< unix socket path ("" for TCP) */
    int db;
    char username[256]; /**< from the URL, if any (ACL user) */
    char password[256]; /**< from the URL, if any */
};

/**
 * @brief Parse `redis://[[user]:password@]host[:port][/db]` (or the older
 *        `redis://password@host`) or `unix:///path/to.sock[?db=N]`.
 *        Error messages never repeat the password.
 */
enum jd_err store_addr_parse(const char *url, struct store_addr *out, char *errstr,
                             size_t errstr_size);

struct store_opts {
    const char *url;
    const char *username; /**< ACL user, overrides the URL's; may be NULL or "" */
    const char *password; /**< overrides the URL's; may be NULL or "" */
    const char *prefix;
    int64_t connect_timeout_ms;
    int64_t command_timeout_ms;
    struct window_retention retention;
};

/** Fill \p o from the `redis.*` and `windows.*` settings (strings borrowed from \p cfg). */
void store_opts_from_config(struct store_opts *o, const struct config *cfg);

struct store;

/**
 * @brief A store handle (not yet connected). Strings in \p opts are copied.
 * @returns NULL with errstr on a bad URL or out of memory.
 */
struct store *store_new(const struct store_opts *opts, char *errstr, size_t errstr_size);

/** Close and free; NULL is a no-op. */
void store_destroy(struct store *s);

/**
 * @brief (Re)connect, authenticate, select the database and load the scripts.
 *
 * After any failure the caller must treat the outcome of in-flight writes as
 * unknown and re-claim its partitions.
 */
enum jd_err store_connect(struct store *s, char *errstr, size_t errstr_size);

/** Drop the connection (the next call needs store_connect()). */
void store_disconnect(struct store *s);

/** @returns true while the connection is believed healthy. */
bool store_is_connected(const struct store *s);

/** @returns the configured `maxmemory-policy` seen at connect ("" if unknown). */
const char *store_maxmemory_policy(const struct store *s);

/** @returns the number of Redis round trips made so far. */
uint64_t store_round_trips(const struct store *s);

/**
 * @brief Compact up to \p max chunks that this instance appended to often:
 *        read them, fold their records (chunk_compact()) and replace them if
 *        nothing was appended meanwhile. Two round trips per 32 chunks,
 *        so that memory stays near 10 MB whatever the backlog.
 * @param done set to the number of chunks replaced.
 */
enum jd_err store_compact(struct store *s, size_t max, size_t *done, char *errstr,
                          size_t errstr_size);

/** @returns how many chunks are waiting for compaction. */
size_t store_compact_pending(const struct store *s);

/* ----------------------------------------------------------- partitions */

struct store_claim {
    int64_t epoch;
    bool has_next;
    int64_t next; /**< offset to resume from */
    bool has_st;
    int64_t st; /**< partition stream time (max event time applied), ms */
};

/**
 * @brief Become the owner of \p topic / \p partition: bump its epoch and
 *        read where it stands. Fences every earlier writer.
 */
enum jd_err store_claim(struct store *s, const char *topic, int32_t partition, const char *owner,
                        struct store_claim *out, char *errstr, size_t errstr_size);

/**
 * @brief Record \p *offset as where \p topic / \p partition starts, unless
 *        an offset is stored already (then *offset is set to it). Only the
 *        claimant of \p epoch may pin.
 * @returns JD_OK, JD_ERR_FENCED (claimed by someone else since), JD_ERR_REDIS.
 */
enum jd_err store_pin(struct store *s, const char *topic, int32_t partition, const char *owner,
                      int64_t epoch, int64_t *offset, char *errstr, size_t errstr_size);

/** Called by store_load_seen() once per stored slice. */
typedef void(store_seen_cb)(void *opaque, int64_t slice, const void *blob, size_t len);

/**
 * @brief Read the persisted seen-id slices [from_slice, to_slice] of a partition.
 * @note At most 64 slices per call.
 */
enum jd_err store_load_seen(struct store *s, const char *topic, int32_t partition,
                            int64_t from_slice, int64_t to_slice, store_seen_cb *cb, void *opaque,
                            char *errstr, size_t errstr_size);

/* ---------------------------------------------------------------- flush */

/** One partition's progress in a batch: messages [from, to) were consumed. */
struct store_part {
    int32_t partition;
    int64_t epoch;
    int64_t from, to;
    int64_t st; /**< stream time after the batch (INT64_MIN: none yet, left unset) */
    int64_t t0; /**< earliest event time in the batch (INT64_MIN: none) */
    /**
     * The consumer found the partition at its log end, caught_up_age_ms
     * before the flush. Recorded as `ct` by Redis's clock: every event
     * produced before then has been applied (rules.md, watermark). A part
     * with from == to carries only this.
     */
    bool caught_up;
    int64_t caught_up_age_ms;
};

/** Fingerprints to append to one seen slice. */
struct store_seen {
    int32_t partition;
    int64_t slice;
    int64_t expiry; /**< stream time after which the slice may be deleted */
    const unsigned char *blob;
    size_t len;
};

struct store_stat {
    const char *field;
    size_t field_len;
    int64_t incr;
};

/**
 * A whole value written with a batch (a journey), or deleted when \p del.
 * SET replaces a key of any type: read every put's key in the same batch with
 * store_get_many(), which refuses one of another type.
 */
struct store_put {
    struct jd_str key;
    struct jd_str value; /**< ignored when del */
    bool del;
};

/** A member of a sorted set (the expiry index): set to \p score, or removed when \p del. */
struct store_zput {
    struct jd_str key, member;
    int64_t score; /**< ignored when del */
    bool del;
};

/** Bytes appended with a batch besides the window chunks (path statistics). */
struct store_append {
    struct jd_str key, bytes;
    int64_t expiry; /**< event time after which GC may delete the key */
};

struct store_flush {
    const char *topic;
    const char *owner;
    const struct store_part *parts;
    size_t nparts;
    const struct store_seen *seen;
    size_t nseen;
    const struct agg *agg; /**< sealed */
    const struct store_stat *stats;
    size_t nstats;
    const struct store_put *puts; /**< journeys: SET or DEL, in order */
    size_t nputs;
    const struct store_zput *zputs; /**< the expiry index (runs of one key go as one command) */
    size_t nzputs;
    const struct store_append *appends; /**< path statistics */
    size_t nappends;
    /** journeys: touch records appended to keys not read in this batch (type-checked) */
    const struct store_put *jappends;
    size_t njappends;
};

/** Why a partition's part of a batch was refused. */
struct store_refusal {
    size_t part;     /**< index into store_flush.parts */
    enum jd_err why; /**< JD_ERR_FENCED or JD_ERR_GAP */
    bool has_next;
    int64_t next; /**< the stored offset to resume from */
};

/**
 * @brief Apply a batch atomically (one script, one round trip):
 *        store_flush_send() then store_flush_recv().
 * @returns JD_OK when applied; JD_ERR_GAP/JD_ERR_FENCED when refused with
 *          nothing written (details in \p refused); JD_ERR_CORRUPT when a key
 *          holds something the batch cannot be written to (nothing written;
 *          errstr names the key); JD_ERR_REDIS when the outcome is unknown
 *          (connection lost: disconnect, reconnect, re-claim).
 */
enum jd_err store_flush(struct store *s, const struct store_flush *f, struct store_refusal *refused,
                        size_t cap, size_t *nrefused, char *errstr, size_t errstr_size);

/**
 * @brief Send a batch's script without waiting for Redis to run it, so the
 *        caller can prepare the next batch meanwhile. \p f and the agg it
 *        points to may be reused as soon as this returns. Until
 *        store_flush_recv(), no other store call may be made.
 * @returns JD_OK (sent), JD_ERR_REDIS (connection lost), JD_ERR_NOMEM.
 */
enum jd_err store_flush_send(struct store *s, const struct store_flush *f, char *errstr,
                             size_t errstr_size);

/** @brief Read the outcome of the flush sent last (same returns as store_flush()). */
enum jd_err store_flush_recv(struct store *s, struct store_refusal *refused, size_t cap,
                             size_t *nrefused, char *errstr, size_t errstr_size);

/** @returns true between store_flush_send() and store_flush_recv(). */
bool store_flush_in_flight(const struct store *s);

/**
 * @brief Delete what the oldest partition stream time has retired, and drop
 *        from the series index the series left without data (gc.lua).
 * @param limit most keys per call.
 */
enum jd_err store_gc(struct store *s, size_t limit, size_t *deleted, int64_t *cutoff, char *errstr,
                     size_t errstr_size);

/* ----------------------------------------------------------------- reads */

/** A series of one type. */
struct store_series {
    uint64_t sid;
    char *labels; /**< canonical encoding, NUL-terminated (owned by the list) */
    size_t labels_len;
};

/**
 * @brief List the series of \p type.
 * @returns JD_OK with a malloc'd array (free with store_series_free()).
 */
enum jd_err store_list_series(struct store *s, const char *type, struct store_series **out,
                              size_t *n, char *errstr, size_t errstr_size);

/** Free a list from store_list_series(); NULL is a no-op. */
void store_series_free(struct store_series *list, size_t n);

/** An event type of the series index and how many series it has. */
struct store_census {
    char *type; /**< NUL-terminated (owned by the array) */
    int64_t nseries;
};

/**
 * @brief Every event type of the series index with its number of series
 *        (one round trip after the type list).
 * @returns JD_OK with a malloc'd array (free with store_census_free()).
 */
enum jd_err store_series_census(struct store *s, struct store_census **out, size_t *n, char *errstr,
                                size_t errstr_size);

/** Free an array from store_series_census(); NULL is a no-op. */
void store_census_free(struct store_census *v, size_t n);

/**
 * @brief Copy \p n series of \p list into a new list (free with store_series_free()).
 * @returns false when out of memory (then *out is NULL).
 */
bool store_series_dup(const struct store_series *list, size_t n, struct store_series **out);

/**
 * A pipelined GET: point key at the name; the value comes back owned by the
 * request. Keys are the caller's (a batch keeps tens of thousands of them in
 * one buffer rather than in fixed-size arrays).
 */
struct store_get {
    const char *key; /**< NUL-terminated, borrowed */
    char *value;     /**< out: NULL when the key does not exist; free with store_gets_free() */
    size_t len;
};

/**
 * Run \p n GETs in one round trip.
 * @returns JD_ERR_CORRUPT when a key holds something other than a string
 *          (the flush writes whole values with SET, which would replace it).
 */
enum jd_err store_get_many(struct store *s, struct store_get *gets, size_t n, char *errstr,
                           size_t errstr_size);

/** Free the values of \p n requests. */
void store_gets_free(struct store_get *gets, size_t n);

/* ------------------------------------------------------------- journeys */

/**
 * The 32-hex fingerprint of a user id that names its journey (plus NUL);
 * \p a and \p b (may be NULL) get its halves as numbers, which order like
 * the hex.
 */
void store_user_fp(struct jd_str user, char out[33], uint64_t *a, uint64_t *b);

/** `{P}:j:TOPIC:PARTITION:FP`: the journey of user \p fp on \p partition. */
size_t store_key_journey(const struct store *s, char *buf, size_t size, const char *topic,
                         int32_t partition, const char fp[33]);

/** `{P}:jx:TOPIC:PARTITION`: the partition's expiry buckets, scored by their end. */
size_t store_key_journey_index(const struct store *s, char *buf, size_t size, const char *topic,
                               int32_t partition);

/** `{P}:jb:TOPIC:PARTITION:` (the bucket id follows): the fingerprints of a bucket. */
size_t store_key_journey_bucket(const struct store *s, char *buf, size_t size, const char *topic,
                                int32_t partition);

/** `{P}:jxo:TOPIC:PARTITION`: "BUCKET OFFSET", how far its earliest due bucket was read. */
size_t store_key_journey_progress(const struct store *s, char *buf, size_t size, const char *topic,
                                  int32_t partition);

/** `{P}:ps:HOUR`: path statistics of the hour starting at \p hour (ms). */
size_t store_key_paths(const struct store *s, char *buf, size_t size, int64_t hour);

/**
 * One expiry read: the next slice of the partition's buckets that end at or
 * before \p st, earliest first. The keys are the caller's (store_key_journey_*).
 */
struct store_expiry {
    const char *index, *progress, *prefix;
    int64_t st;
    char (*done)[24]; /**< out: buckets read to their end (kept across calls; free()) */
    size_t ndone, capdone;
    char partial[24]; /**< out: the bucket the slice stopped in ("" if none) */
    int64_t resume;   /**< out: where to resume \p partial */
    char (*fps)[33];  /**< out: the slice's fingerprints (kept across calls; free()) */
    size_t n, cap;
};

/**
 * Run \p n expiry reads in one round trip, at most \p limit fingerprints each.
 * @returns JD_ERR_CORRUPT when a key holds something else.
 */
enum jd_err store_expiry_read(struct store *s, struct store_expiry *q, size_t n, size_t limit,
                              char *errstr, size_t errstr_size);

/** Read a field of the stats hash (0 when absent). */
enum jd_err store_stat_get(struct store *s, const char *field, int64_t *out, char *errstr,
                           size_t errstr_size);

/** Read the GC cutoff (event time below which buckets may be gone; INT64_MIN if none). */
enum jd_err store_gc_cutoff(struct store *s, int64_t *out, char *errstr, size_t errstr_size);

/* ------------------------------------------------------------------ keys */

/** `{P}:c:TYPE:SID:<r><chunk>` for the chunk holding \p bucket. */
size_t store_key_chunk(const struct store *s, char *buf, size_t size, struct jd_str type,
                       uint64_t sid, enum window_res r, int64_t bucket);

/** @returns the retention the store was configured with. */
const struct window_retention *store_retention(const struct store *s);

/** @returns the key prefix ("jd"). */
const char *store_prefix(const struct store *s);

/* ------------------------------------------------------------ evaluator */

/** One partition's progress, as the group-wide watermark needs it. */
struct store_progress {
    int32_t partition;
    bool has_st, has_st0, has_wt;
    int64_t st;  /**< max event time applied */
    int64_t st0; /**< earliest event time applied */
    int64_t wt;  /**< Redis clock at its last claim or batch, ms */
    bool has_ct;
    int64_t ct; /**< Redis clock when last found at its log end, ms */
};

/**
 * @brief Read every partition's progress for \p topic and Redis's clock, in
 *        one round trip. Partitions beyond \p cap are left out (counted in *n).
 */
enum jd_err store_progress(struct store *s, const char *topic, struct store_progress *out,
                           size_t cap, size_t *n, int64_t *now_ms, char *errstr,
                           size_t errstr_size);

/**
 * @brief Take (or keep) the evaluator lease `{P}:lease` for \p ttl_ms.
 * @param held set to whether \p owner holds it now.
 */
enum jd_err store_lease(struct store *s, const char *owner, int64_t ttl_ms, bool *held,
                        char *errstr, size_t errstr_size);

/** Give the lease up if \p owner holds it, so that another instance takes over at once. */
enum jd_err store_lease_release(struct store *s, const char *owner, char *errstr,
                                size_t errstr_size);

/** The evaluator's saved state (`{P}:eval`). */
struct store_evalstate {
    char *engine; /**< the engine's document (engine_save()); NULL: none saved */
    size_t engine_len;
    bool has_wm;
    int64_t wm;       /**< the watermark last evaluated against */
    int64_t hb_seq;   /**< heartbeat messages sent */
    int64_t hb_since; /**< the heartbeat's startsAt (0: never sent) */
};

/** Read the saved state; fields never saved come back empty. Free with store_evalstate_free(). */
enum jd_err store_eval_load(struct store *s, struct store_evalstate *out, char *errstr,
                            size_t errstr_size);

/** Free what store_eval_load() filled; NULL is a no-op. */
void store_evalstate_free(struct store_evalstate *st);

/**
 * @brief Save \p st (engine NULL: keep the saved one) if \p owner holds the
 *        lease, renewing it for \p ttl_ms.
 * @returns JD_OK, JD_ERR_FENCED (the lease is someone else's: nothing
 *          written), JD_ERR_REDIS.
 */
enum jd_err store_eval_save(struct store *s, const char *owner, int64_t ttl_ms,
                            const struct store_evalstate *st, char *errstr, size_t errstr_size);

#endif
