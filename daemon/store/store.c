/*
 * store.c — the Redis connection, the key builders and the write protocol
 * (claim, flush, gc).
 *
 * Owns every byte journeyd sends to Redis. A flush is one EVALSHA whose
 * arguments are built in a reusable buffer: one encoded record per touched
 * bucket, appended to its chunk (no per-event work, no formatting of user
 * data into command text). Chunks this instance appends to often are
 * compacted later (store_compact()). Reads are in store_read.c.
 * It never logs and never retries on its own: a connection problem is
 * returned as JD_ERR_REDIS and the caller reconnects and re-claims.
 */
#include "store/store_int.h"

#include "aggregate/chunk.h"
#include "core/hash.h"
#include "store_lua.h"

#include <hiredis/hiredis.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A remembered fact about a key ("registered for GC until …", "series indexed"). */
struct store_memo {
    uint64_t h;
    int64_t until;
};

#define STORE_MEMO_CAP (1u << 16)

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
    char *password;
    char *prefix;
    int64_t connect_timeout_ms, command_timeout_ms;
    struct window_retention retention;
    redisContext *ctx;
    char sha_flush[41], sha_claim[41], sha_gc[41], sha_compact[41];
    char maxmemory_policy[32];
    uint64_t round_trips;
    struct store_args args;
    struct store_memo *memo; /* open addressing, cleared on reconnect */
    size_t memo_n;
    /* compaction: appends per chunk since this instance last compacted it */
    struct store_memo *appends; /* until = append count */
    size_t appends_n;
    char (*pending)[320]; /* chunks due for compaction */
    size_t npending;
    /* the chunks of the flush being built: key argument, expiry, key hash */
    struct store_chunkref *refs;
    size_t nrefs, caprefs;
    char chunk_prefix[64]; /* "{P}:c:" */
    size_t chunk_prefix_len;
    bool in_flight; /* a flush was sent and its reply not read yet */
};

struct store_chunkref {
    size_t arg; /* index of the key argument */
    int64_t expiry;
    uint64_t hash;
};

#define STORE_COMPACT_AFTER 16   /* appends before a chunk is compacted */
#define STORE_PENDING_MAX 4096

/* ------------------------------------------------------------------ args */

static bool store_args_reserve(struct store_args *a, size_t bytes)
{
    if (a->len + bytes > a->cap) {
        size_t cap = a->cap ? a->cap : 65536;
        while (cap < a->len + bytes)
            cap *= 2;
        char *b = realloc(a->buf, cap);
        if (!b)
            return false;
        a->buf = b;
        a->cap = cap;
    }
    if (a->n == a->ncap) {
        size_t nc = a->ncap ? a->ncap * 2 : 4096;
        size_t *o = realloc(a->off, nc * sizeof(*o));
        if (!o)
            return false;
        a->off = o;
        size_t *l = realloc(a->alen, nc * sizeof(*l));
        if (!l)
            return false;
        a->alen = l;
        a->ncap = nc;
    }
    return true;
}

static bool store_arg(struct store_args *a, const void *p, size_t n)
{
    if (!store_args_reserve(a, n))
        return false;
    memcpy(a->buf + a->len, p, n);
    a->off[a->n] = a->len;
    a->alen[a->n++] = n;
    a->len += n;
    return true;
}

static size_t store_fmt_i64(char *out, int64_t v)
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

/* Reserve room for an argument written in place; commit it with store_arg_end(). */
static uint8_t *store_arg_begin(struct store_args *a, size_t max)
{
    if (!store_args_reserve(a, max))
        return NULL;
    return (uint8_t *)a->buf + a->len;
}

static void store_arg_end(struct store_args *a, size_t used)
{
    a->off[a->n] = a->len;
    a->alen[a->n++] = used;
    a->len += used;
}

static bool store_arg_i64(struct store_args *a, int64_t v)
{
    char b[24];
    return store_arg(a, b, store_fmt_i64(b, v));
}

static bool store_arg_str(struct store_args *a, const char *s)
{
    return store_arg(a, s, strlen(s));
}

/* Reserve an argument to fill later (a count known only after its items). */
static bool store_arg_slot(struct store_args *a, size_t *slot)
{
    *slot = a->n;
    return store_arg(a, "", 0);
}

static bool store_arg_fill(struct store_args *a, size_t slot, int64_t v)
{
    char b[24];
    size_t n = store_fmt_i64(b, v);
    if (!store_args_reserve(a, n))
        return false;
    memcpy(a->buf + a->len, b, n);
    a->off[slot] = a->len;
    a->alen[slot] = n;
    a->len += n;
    return true;
}

static void store_args_reset(struct store_args *a)
{
    a->len = 0;
    a->n = 0;
}

static const char **store_args_argv(struct store_args *a)
{
    if (a->argv_cap < a->n) {
        const char **v = realloc(a->argv, a->n * sizeof(*v));
        if (!v)
            return NULL;
        a->argv = v;
        a->argv_cap = a->n;
    }
    for (size_t i = 0; i < a->n; i++)
        a->argv[i] = a->buf + a->off[i];
    return a->argv;
}

/* ------------------------------------------------------------------ keys */

const char *store_prefix(const struct store *s)
{
    return s->prefix;
}

const struct window_retention *store_retention(const struct store *s)
{
    return &s->retention;
}

static size_t store_keyf(const struct store *s, char *buf, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static size_t store_keyf(const struct store *s, char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    int n = snprintf(buf, size, "{%s}:", s->prefix);
    va_start(ap, fmt);
    int m = vsnprintf(buf + n, size > (size_t)n ? size - (size_t)n : 0, fmt, ap);
    va_end(ap);
    return (size_t)(n + m);
}

static void store_hex(uint64_t v, char out[17])
{
    static const char hex[] = "0123456789abcdef";
    for (int i = 15; i >= 0; i--) {
        out[i] = hex[v & 0xf];
        v >>= 4;
    }
    out[16] = '\0';
}

size_t store_key_chunk(const struct store *s, char *buf, size_t size, struct jd_str type,
                       uint64_t sid, enum window_res r, int64_t bucket)
{
    /* written by hand: this runs for every chunk of every flush */
    char tmp[400];
    size_t n = s->chunk_prefix_len;
    if (type.n > 128)
        type.n = 128;
    memcpy(tmp, s->chunk_prefix, n);
    memcpy(tmp + n, type.p, type.n);
    n += type.n;
    tmp[n++] = ':';
    store_hex(sid, tmp + n);
    n += 16;
    tmp[n++] = ':';
    tmp[n++] = window_res_char(r);
    n += store_fmt_i64(tmp + n, window_chunk_id(r, bucket));
    tmp[n] = '\0';
    if (size) {
        size_t c = n < size - 1 ? n : size - 1;
        memcpy(buf, tmp, c);
        buf[c] = '\0';
    }
    return n;
}

static size_t store_key_part(const struct store *s, char *buf, size_t size, const char *topic,
                             int32_t partition)
{
    return store_keyf(s, buf, size, "p:%s:%d", topic, (int)partition);
}

static size_t store_key_seen(const struct store *s, char *buf, size_t size, const char *topic,
                             int32_t partition, int64_t slice)
{
    return store_keyf(s, buf, size, "seen:%s:%d:%lld", topic, (int)partition, (long long)slice);
}

/* ---------------------------------------------------------------- memo */

/* Finds the slot of `h` in a memo table (a cleared table is always safe: memos are hints). */
static struct store_memo *store_memo_slot(struct store_memo *tab, size_t *n, uint64_t h,
                                          bool insert)
{
    size_t mask = STORE_MEMO_CAP - 1, i = (size_t)h & mask;
    h |= 1;
    while (tab[i].h) {
        if (tab[i].h == h)
            return &tab[i];
        i = (i + 1) & mask;
    }
    if (!insert)
        return NULL;
    if (*n * 2 > STORE_MEMO_CAP) {
        memset(tab, 0, STORE_MEMO_CAP * sizeof(*tab));
        *n = 0;
        i = (size_t)h & mask;
    }
    (*n)++;
    tab[i].h = h;
    tab[i].until = 0;
    return &tab[i];
}

/* True if `h` is remembered with an `until` beyond `now`. */
static bool store_memo_has(struct store *s, uint64_t h, int64_t now)
{
    const struct store_memo *m = store_memo_slot(s->memo, &s->memo_n, h, false);
    return m && m->until > now;
}

static void store_memo_put(struct store *s, uint64_t h, int64_t until)
{
    struct store_memo *m = store_memo_slot(s->memo, &s->memo_n, h, true);
    m->until = until;
}

/* Counts an append to `key`; queues the chunk for compaction every STORE_COMPACT_AFTER. */
static void store_count_append(struct store *s, const char *key, size_t kl, uint64_t h)
{
    struct store_memo *m = store_memo_slot(s->appends, &s->appends_n, hash_mix64(h), true);
    if (++m->until % STORE_COMPACT_AFTER == 0 && s->npending < STORE_PENDING_MAX &&
        kl < sizeof(s->pending[0])) {
        memcpy(s->pending[s->npending], key, kl);
        s->pending[s->npending++][kl] = '\0';
    }
}

/* -------------------------------------------------------------- address */

enum jd_err store_addr_parse(const char *url, struct store_addr *out, char *errstr,
                             size_t errstr_size)
{
    memset(out, 0, sizeof(*out));
    out->port = 6379;
    if (!strncmp(url, "unix://", 7)) {
        const char *p = url + 7, *q = strchr(p, '?');
        size_t n = q ? (size_t)(q - p) : strlen(p);
        if (n == 0 || n >= sizeof(out->path) || p[0] != '/')
            return jd_errf(JD_ERR_CONFIG, errstr, errstr_size,
                           "redis.url: unix:// needs an absolute socket path");
        memcpy(out->path, p, n);
        if (q && !strncmp(q, "?db=", 4))
            out->db = atoi(q + 4);
        return JD_OK;
    }
    if (strncmp(url, "redis://", 8))
        return jd_errf(JD_ERR_CONFIG, errstr, errstr_size,
                       "redis.url: '%s' must start with redis:// or unix://", url);
    const char *p = url + 8, *at = strchr(p, '@');
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        const char *pw = colon ? colon + 1 : p;
        size_t n = (size_t)(at - pw);
        if (n >= sizeof(out->password))
            return jd_errf(JD_ERR_CONFIG, errstr, errstr_size, "redis.url: password too long");
        memcpy(out->password, pw, n);
        p = at + 1;
    }
    const char *slash = strchr(p, '/');
    size_t hl = slash ? (size_t)(slash - p) : strlen(p);
    const char *colon = memchr(p, ':', hl);
    size_t hostlen = colon ? (size_t)(colon - p) : hl;
    if (hostlen == 0 || hostlen >= sizeof(out->host))
        return jd_errf(JD_ERR_CONFIG, errstr, errstr_size, "redis.url: missing host in '%s'", url);
    memcpy(out->host, p, hostlen);
    if (colon) {
        char *end;
        long port = strtol(colon + 1, &end, 10);
        if (end != p + hl || port <= 0 || port > 65535)
            return jd_errf(JD_ERR_CONFIG, errstr, errstr_size, "redis.url: bad port in '%s'", url);
        out->port = (int)port;
    }
    if (slash && slash[1]) {
        char *end;
        long db = strtol(slash + 1, &end, 10);
        if (*end || db < 0)
            return jd_errf(JD_ERR_CONFIG, errstr, errstr_size, "redis.url: bad db in '%s'", url);
        out->db = (int)db;
    }
    return JD_OK;
}

/* ------------------------------------------------------------ lifecycle */

struct store *store_new(const struct store_opts *opts, char *errstr, size_t errstr_size)
{
    struct store *s = calloc(1, sizeof(*s));
    if (!s) {
        jd_errf(JD_ERR_NOMEM, errstr, errstr_size, "out of memory");
        return NULL;
    }
    if (store_addr_parse(opts->url, &s->addr, errstr, errstr_size) != JD_OK) {
        free(s);
        return NULL;
    }
    s->password = strdup(opts->password && *opts->password ? opts->password : s->addr.password);
    s->prefix = strdup(opts->prefix);
    s->memo = calloc(STORE_MEMO_CAP, sizeof(*s->memo));
    s->appends = calloc(STORE_MEMO_CAP, sizeof(*s->appends));
    s->pending = calloc(STORE_PENDING_MAX, sizeof(*s->pending));
    if (!s->password || !s->prefix || !s->memo || !s->appends || !s->pending) {
        store_destroy(s);
        jd_errf(JD_ERR_NOMEM, errstr, errstr_size, "out of memory");
        return NULL;
    }
    s->connect_timeout_ms = opts->connect_timeout_ms;
    s->command_timeout_ms = opts->command_timeout_ms;
    s->retention = opts->retention;
    s->chunk_prefix_len = store_keyf(s, s->chunk_prefix, sizeof(s->chunk_prefix), "c:");
    return s;
}

void store_destroy(struct store *s)
{
    if (!s)
        return;
    store_disconnect(s);
    free(s->password);
    free(s->prefix);
    free(s->memo);
    free(s->appends);
    free(s->pending);
    free(s->refs);
    free(s->args.buf);
    free(s->args.off);
    free(s->args.alen);
    free(s->args.argv);
    free(s);
}

/* Forget every hint: always safe, needed whenever Redis may not hold what we believe. */
static void store_forget(struct store *s)
{
    memset(s->memo, 0, STORE_MEMO_CAP * sizeof(*s->memo));
    s->memo_n = 0;
}

void store_disconnect(struct store *s)
{
    if (s->ctx) {
        redisFree(s->ctx);
        s->ctx = NULL;
    }
    s->in_flight = false;
    store_forget(s);
}

bool store_is_connected(const struct store *s)
{
    return s->ctx != NULL;
}

const char *store_maxmemory_policy(const struct store *s)
{
    return s->maxmemory_policy;
}

uint64_t store_round_trips(const struct store *s)
{
    return s->round_trips;
}

redisContext *store_ctx(struct store *s)
{
    if (s->in_flight)
        return NULL; /* a reply is pending on the connection: callers must recv first */
    if (s->ctx)
        s->round_trips++;
    return s->ctx;
}

/* Sends one command and reads its reply; NULL means the connection is gone. */
static redisReply *store_cmd(struct store *s, int argc, const char **argv, const size_t *argvlen)
{
    s->round_trips++;
    redisReply *r = redisCommandArgv(s->ctx, argc, argv, argvlen);
    return r;
}

static enum jd_err store_io_error(struct store *s, char *errstr, size_t errstr_size,
                                  const char *what)
{
    jd_errf(JD_ERR_REDIS, errstr, errstr_size, "%s: %s", what,
            s->ctx && s->ctx->errstr[0] ? s->ctx->errstr : "connection lost");
    store_disconnect(s);
    return JD_ERR_REDIS;
}

static enum jd_err store_load_script(struct store *s, const char *body, char sha[41], char *errstr,
                                     size_t errstr_size)
{
    const char *argv[] = { "SCRIPT", "LOAD", body };
    size_t lens[] = { 6, 4, strlen(body) };
    redisReply *r = store_cmd(s, 3, argv, lens);
    if (!r)
        return store_io_error(s, errstr, errstr_size, "SCRIPT LOAD");
    if (r->type != REDIS_REPLY_STRING || r->len != 40) {
        jd_errf(JD_ERR_REDIS, errstr, errstr_size, "SCRIPT LOAD: %s",
                r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
        freeReplyObject(r);
        store_disconnect(s);
        return JD_ERR_REDIS;
    }
    memcpy(sha, r->str, 40);
    sha[40] = '\0';
    freeReplyObject(r);
    return JD_OK;
}

enum jd_err store_connect(struct store *s, char *errstr, size_t errstr_size)
{
    struct timeval ct = { (time_t)(s->connect_timeout_ms / 1000),
                          (suseconds_t)(s->connect_timeout_ms % 1000) * 1000 };
    struct timeval rt = { (time_t)(s->command_timeout_ms / 1000),
                          (suseconds_t)(s->command_timeout_ms % 1000) * 1000 };
    enum jd_err err;
    char db[16];

    store_disconnect(s);
    s->ctx = s->addr.path[0] ? redisConnectUnixWithTimeout(s->addr.path, ct)
                             : redisConnectWithTimeout(s->addr.host, s->addr.port, ct);
    if (!s->ctx || s->ctx->err) {
        const char *where = s->addr.path[0] ? s->addr.path : s->addr.host;
        jd_errf(JD_ERR_REDIS, errstr, errstr_size, "connect to %s: %s", where,
                s->ctx ? s->ctx->errstr : "out of memory");
        store_disconnect(s);
        return JD_ERR_REDIS;
    }
    redisSetTimeout(s->ctx, rt);
    if (!s->addr.path[0])
        redisEnableKeepAlive(s->ctx);
    if (s->password[0]) {
        const char *argv[] = { "AUTH", s->password };
        size_t lens[] = { 4, strlen(s->password) };
        redisReply *r = store_cmd(s, 2, argv, lens);
        if (!r)
            return store_io_error(s, errstr, errstr_size, "AUTH");
        bool ok = r->type == REDIS_REPLY_STATUS;
        if (!ok)
            jd_errf(JD_ERR_REDIS, errstr, errstr_size, "AUTH: %s",
                    r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
        freeReplyObject(r);
        if (!ok) {
            store_disconnect(s);
            return JD_ERR_REDIS;
        }
    }
    if (s->addr.db) {
        snprintf(db, sizeof(db), "%d", s->addr.db);
        const char *argv[] = { "SELECT", db };
        size_t lens[] = { 6, strlen(db) };
        redisReply *r = store_cmd(s, 2, argv, lens);
        if (!r)
            return store_io_error(s, errstr, errstr_size, "SELECT");
        bool ok = r->type == REDIS_REPLY_STATUS;
        freeReplyObject(r);
        if (!ok) {
            store_disconnect(s);
            return jd_errf(JD_ERR_REDIS, errstr, errstr_size, "SELECT %s failed", db);
        }
    }
    if ((err = store_load_script(s, store_lua_flush, s->sha_flush, errstr, errstr_size)) ||
        (err = store_load_script(s, store_lua_claim, s->sha_claim, errstr, errstr_size)) ||
        (err = store_load_script(s, store_lua_gc, s->sha_gc, errstr, errstr_size)) ||
        (err = store_load_script(s, store_lua_compact, s->sha_compact, errstr, errstr_size)))
        return err;

    /* Informational: eviction would silently drop offsets and windows. */
    s->maxmemory_policy[0] = '\0';
    const char *argv[] = { "CONFIG", "GET", "maxmemory-policy" };
    size_t lens[] = { 6, 3, 16 };
    redisReply *r = store_cmd(s, 3, argv, lens);
    if (!r)
        return store_io_error(s, errstr, errstr_size, "CONFIG GET");
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 && r->element[1]->type == REDIS_REPLY_STRING)
        snprintf(s->maxmemory_policy, sizeof(s->maxmemory_policy), "%s", r->element[1]->str);
    freeReplyObject(r);
    return JD_OK;
}

/* Runs a loaded script; reloads it once if Redis lost it (SCRIPT FLUSH, failover). */
static redisReply *store_evalsha(struct store *s, char sha[41], const char *body, int argc,
                                 const char **argv, const size_t *lens)
{
    argv[0] = "EVALSHA";
    argv[1] = sha;
    redisReply *r = store_cmd(s, argc, argv, lens);
    if (r && r->type == REDIS_REPLY_ERROR && !strncmp(r->str, "NOSCRIPT", 8)) {
        freeReplyObject(r);
        if (store_load_script(s, body, sha, NULL, 0) != JD_OK)
            return NULL;
        argv[1] = sha;
        r = store_cmd(s, argc, argv, lens);
    }
    return r;
}

static bool store_parse_i64(const char *p, size_t n, int64_t *out)
{
    char *end;
    char buf[32];
    if (n == 0 || n >= sizeof(buf))
        return false;
    memcpy(buf, p, n);
    buf[n] = '\0';
    long long v = strtoll(buf, &end, 10);
    if (*end)
        return false;
    *out = v;
    return true;
}

/* ----------------------------------------------------------- partitions */

enum jd_err store_claim(struct store *s, const char *topic, int32_t partition, const char *owner,
                        struct store_claim *out, char *errstr, size_t errstr_size)
{
    char meta[320], parts[128];
    const char *argv[6];
    size_t lens[6];

    if (!s->ctx || s->in_flight)
        return jd_errf(s->ctx ? JD_ERR_INVALID : JD_ERR_REDIS, errstr, errstr_size,
                       s->ctx ? "a flush is in flight" : "not connected");
    store_key_part(s, meta, sizeof(meta), topic, partition);
    store_keyf(s, parts, sizeof(parts), "parts");
    argv[2] = "2";
    argv[3] = meta;
    argv[4] = parts;
    argv[5] = owner;
    for (int i = 2; i < 6; i++)
        lens[i] = strlen(argv[i]);
    lens[0] = 7;
    lens[1] = 40;
    redisReply *r = store_evalsha(s, s->sha_claim, store_lua_claim, 6, argv, lens);
    if (!r)
        return store_io_error(s, errstr, errstr_size, "claim");
    enum jd_err err = JD_OK;
    memset(out, 0, sizeof(*out));
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 3 ||
        r->element[0]->type != REDIS_REPLY_INTEGER) {
        err = jd_errf(JD_ERR_REDIS, errstr, errstr_size, "claim %s: %s", meta,
                      r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
        store_disconnect(s);
    } else {
        out->epoch = r->element[0]->integer;
        out->has_next =
            store_parse_i64(r->element[1]->str, r->element[1]->len, &out->next);
        out->has_st = store_parse_i64(r->element[2]->str, r->element[2]->len, &out->st);
    }
    freeReplyObject(r);
    return err;
}

enum jd_err store_load_seen(struct store *s, const char *topic, int32_t partition,
                            int64_t from_slice, int64_t to_slice, store_seen_cb *cb, void *opaque,
                            char *errstr, size_t errstr_size)
{
    char key[320];
    if (!s->ctx || s->in_flight)
        return jd_errf(s->ctx ? JD_ERR_INVALID : JD_ERR_REDIS, errstr, errstr_size,
                       s->ctx ? "a flush is in flight" : "not connected");
    if (to_slice < from_slice)
        return JD_OK;
    if (to_slice - from_slice >= 64)
        from_slice = to_slice - 63;
    for (int64_t sl = from_slice; sl <= to_slice; sl++) {
        store_key_seen(s, key, sizeof(key), topic, partition, sl);
        const char *argv[] = { "GET", key };
        size_t lens[] = { 3, strlen(key) };
        if (redisAppendCommandArgv(s->ctx, 2, argv, lens) != REDIS_OK)
            return store_io_error(s, errstr, errstr_size, "GET seen");
    }
    s->round_trips++;
    enum jd_err err = JD_OK;
    for (int64_t sl = from_slice; sl <= to_slice; sl++) {
        redisReply *r = NULL;
        if (redisGetReply(s->ctx, (void **)&r) != REDIS_OK || !r)
            return store_io_error(s, errstr, errstr_size, "GET seen");
        if (r->type == REDIS_REPLY_STRING && err == JD_OK)
            cb(opaque, sl, r->str, r->len);
        else if (r->type == REDIS_REPLY_ERROR && err == JD_OK)
            err = jd_errf(JD_ERR_REDIS, errstr, errstr_size, "GET seen: %s", r->str);
        freeReplyObject(r);
    }
    return err;
}

/* ---------------------------------------------------------------- flush */

/*
 * Adds one (key, records) pair per chunk touched by one series at one
 * resolution: each bucket delta becomes one record appended to its chunk.
 */
static bool store_add_chunks(struct store *s, const struct agg_series *ser, enum window_res r,
                             size_t *nappend)
{
    struct store_args *a = &s->args;
    const struct agg_delta *d = ser->deltas[r];
    const struct agg_regs *g = ser->regs[r];
    size_t n = ser->ndeltas[r], i = 0;
    char key[320];

    while (i < n) {
        int64_t chunk = window_chunk_id(r, d[i].bucket);
        size_t j = i, max = 0;
        for (; j < n && window_chunk_id(r, d[j].bucket) == chunk; j++)
            max += chunk_record_max(g[j].n);
        size_t kl = store_key_chunk(s, key, sizeof(key), ser->type, ser->sid, r, d[i].bucket);
        if (s->nrefs == s->caprefs) {
            size_t cap = s->caprefs ? 2 * s->caprefs : 1024;
            struct store_chunkref *nr = realloc(s->refs, cap * sizeof(*nr));
            if (!nr)
                return false;
            s->refs = nr;
            s->caprefs = cap;
        }
        s->refs[s->nrefs++] = (struct store_chunkref){
            a->n, window_expiry(&s->retention, r, (chunk + 1) * window_chunk_ms(r)),
            hash64(key, kl, 0x6763)
        };
        if (!store_arg(a, key, kl))
            return false;
        uint8_t *out = store_arg_begin(a, max);
        if (!out)
            return false;
        size_t used = 0;
        for (size_t k = i; k < j; k++)
            used += chunk_put_record(out + used, window_bucket_offset(r, d[k].bucket), &d[k],
                                     g[k].u, g[k].n);
        store_arg_end(a, used);
        (*nappend)++;
        i = j;
    }
    return true;
}

/* The GC index entry of one chunk (skipped when registered and far from expiry). */
static bool store_add_gc(struct store *s, const struct store_chunkref *ref, int64_t max_st,
                         size_t *ngc)
{
    struct store_args *a = &s->args;
    /* near its expiry GC may have removed it and a late event re-created it */
    if (store_memo_has(s, ref->hash, INT64_MIN) && ref->expiry > max_st + JD_MS_DAY)
        return true;
    char *key = a->buf + a->off[ref->arg];
    size_t kl = a->alen[ref->arg];
    if (!store_arg_i64(a, ref->expiry))
        return false;
    /* the key bytes may move when the buffer grows: copy through a local */
    char tmp[400];
    key = a->buf + a->off[ref->arg];
    memcpy(tmp, key, kl < sizeof(tmp) ? kl : sizeof(tmp));
    if (!store_arg(a, tmp, kl))
        return false;
    (*ngc)++;
    return true;
}

enum jd_err store_flush_send(struct store *s, const struct store_flush *f, char *errstr,
                             size_t errstr_size)
{
    struct store_args *a = &s->args;
    char key[320], gc[128], stats[128], parts[128], types[128];
    size_t slot, nappend = 0, nidx = 0, ntypes = 0, ngc = 0;
    int64_t max_st = INT64_MIN;
    size_t nser = agg_nseries(f->agg);

    if (!s->ctx)
        return jd_errf(JD_ERR_REDIS, errstr, errstr_size, "not connected");
    if (s->in_flight)
        return jd_errf(JD_ERR_INVALID, errstr, errstr_size, "a flush is already in flight");
    store_args_reset(a);
    s->nrefs = 0;
    store_keyf(s, gc, sizeof(gc), "gc");
    store_keyf(s, stats, sizeof(stats), "stats");
    store_keyf(s, parts, sizeof(parts), "parts");
    store_keyf(s, types, sizeof(types), "types");

#define ADD(expr)                                                                                  \
    do {                                                                                           \
        if (!(expr))                                                                               \
            goto nomem;                                                                            \
    } while (0)

    ADD(store_arg(a, "", 0)); /* EVALSHA */
    ADD(store_arg(a, "", 0)); /* sha */
    ADD(store_arg_str(a, "4"));
    ADD(store_arg_str(a, gc));
    ADD(store_arg_str(a, stats));
    ADD(store_arg_str(a, parts));
    ADD(store_arg_str(a, types));
    ADD(store_arg_str(a, f->owner));
    ADD(store_arg_i64(a, (int64_t)f->nparts));
    for (size_t i = 0; i < f->nparts; i++) {
        const struct store_part *p = &f->parts[i];
        store_key_part(s, key, sizeof(key), f->topic, p->partition);
        ADD(store_arg_str(a, key));
        ADD(store_arg_i64(a, p->epoch));
        ADD(store_arg_i64(a, p->from));
        ADD(store_arg_i64(a, p->to));
        ADD(store_arg_i64(a, p->st));
        if (p->st > max_st)
            max_st = p->st;
    }

    /* appends: window chunks, then seen-id slices */
    ADD(store_arg_slot(a, &slot));
    for (size_t i = 0; i < nser; i++)
        for (int r = 0; r < WINDOW_NRES; r++)
            ADD(store_add_chunks(s, agg_series_at(f->agg, i), (enum window_res)r, &nappend));
    for (size_t i = 0; i < f->nseen; i++) {
        store_key_seen(s, key, sizeof(key), f->topic, f->seen[i].partition, f->seen[i].slice);
        ADD(store_arg_str(a, key));
        ADD(store_arg(a, f->seen[i].blob, f->seen[i].len));
        nappend++;
    }
    ADD(store_arg_fill(a, slot, (int64_t)nappend));

    /* series index: only series not indexed since the last (re)connect */
    ADD(store_arg_slot(a, &slot));
    for (size_t i = 0; i < nser; i++) {
        const struct agg_series *ser = agg_series_at(f->agg, i);
        if (store_memo_has(s, hash_mix64(ser->sid ^ UINT64_C(0x5e71e5)), INT64_MIN))
            continue;
        char hex[17];
        store_hex(ser->sid, hex);
        store_keyf(s, key, sizeof(key), "s:%.*s", (int)ser->type.n, ser->type.p);
        ADD(store_arg_str(a, key));
        ADD(store_arg_str(a, hex));
        ADD(store_arg(a, ser->labels.p, ser->labels.n));
        nidx++;
    }
    ADD(store_arg_fill(a, slot, (int64_t)nidx));
    ADD(store_arg_slot(a, &slot));
    for (size_t i = 0; i < nser; i++) {
        const struct agg_series *ser = agg_series_at(f->agg, i);
        if (store_memo_has(s, hash64(ser->type.p, ser->type.n, 0x7479706573), INT64_MIN))
            continue;
        bool dup = false;
        for (size_t k = 0; k < i && !dup; k++)
            dup = jd_str_eq(agg_series_at(f->agg, k)->type, ser->type);
        if (dup)
            continue;
        ADD(store_arg(a, ser->type.p, ser->type.n));
        ntypes++;
    }
    ADD(store_arg_fill(a, slot, (int64_t)ntypes));

    /* GC registrations: every chunk and seen slice expires by event time */
    ADD(store_arg_slot(a, &slot));
    for (size_t i = 0; i < s->nrefs; i++)
        ADD(store_add_gc(s, &s->refs[i], max_st, &ngc));
    for (size_t i = 0; i < f->nseen; i++) {
        store_key_seen(s, key, sizeof(key), f->topic, f->seen[i].partition, f->seen[i].slice);
        ADD(store_arg_i64(a, f->seen[i].expiry));
        ADD(store_arg_str(a, key));
        ngc++;
    }
    ADD(store_arg_fill(a, slot, (int64_t)ngc));

    ADD(store_arg_i64(a, (int64_t)f->nstats));
    for (size_t i = 0; i < f->nstats; i++) {
        ADD(store_arg(a, f->stats[i].field, f->stats[i].field_len));
        ADD(store_arg_i64(a, f->stats[i].incr));
    }
#undef ADD

    const char **argv = store_args_argv(a);
    if (!argv)
        goto nomem;
    argv[0] = "EVALSHA";
    argv[1] = s->sha_flush;
    a->alen[0] = 7;
    a->alen[1] = 40;
    if (redisAppendCommandArgv(s->ctx, (int)a->n, argv, a->alen) != REDIS_OK)
        return store_io_error(s, errstr, errstr_size, "flush");
    /* write it all now: Redis runs the script while the caller prepares the next batch */
    int done = 0;
    while (!done)
        if (redisBufferWrite(s->ctx, &done) != REDIS_OK)
            return store_io_error(s, errstr, errstr_size, "flush");
    s->round_trips++;
    s->in_flight = true;
    /*
     * Remember what the batch indexes, registers and appends. These are hints:
     * if the flush fails they are all forgotten (store_flush_recv()).
     */
    for (size_t i = 0; i < nser; i++) {
        const struct agg_series *ser = agg_series_at(f->agg, i);
        store_memo_put(s, hash_mix64(ser->sid ^ UINT64_C(0x5e71e5)), INT64_MAX);
        store_memo_put(s, hash64(ser->type.p, ser->type.n, 0x7479706573), INT64_MAX);
    }
    for (size_t i = 0; i < s->nrefs; i++) {
        store_memo_put(s, s->refs[i].hash, INT64_MAX);
        store_count_append(s, a->buf + a->off[s->refs[i].arg], a->alen[s->refs[i].arg],
                           s->refs[i].hash);
    }
    return JD_OK;

nomem:
    return jd_errf(JD_ERR_NOMEM, errstr, errstr_size, "out of memory building the flush");
}

bool store_flush_in_flight(const struct store *s)
{
    return s->in_flight;
}

enum jd_err store_flush_recv(struct store *s, struct store_refusal *refused, size_t cap,
                             size_t *nrefused, char *errstr, size_t errstr_size)
{
    redisReply *r = NULL;
    *nrefused = 0;
    if (!s->in_flight)
        return jd_errf(JD_ERR_INVALID, errstr, errstr_size, "no flush in flight");
    s->in_flight = false;
    if (redisGetReply(s->ctx, (void **)&r) != REDIS_OK || !r)
        return store_io_error(s, errstr, errstr_size, "flush");
    if (r->type == REDIS_REPLY_ERROR && !strncmp(r->str, "NOSCRIPT", 8)) {
        /* Redis lost the script (SCRIPT FLUSH, failover): nothing ran; the caller re-reads */
        freeReplyObject(r);
        store_load_script(s, store_lua_flush, s->sha_flush, NULL, 0);
        store_forget(s);
        return jd_errf(JD_ERR_GAP, errstr, errstr_size, "flush script was not loaded; re-reading");
    }

    enum jd_err err = JD_OK;
    if (r->type == REDIS_REPLY_STATUS || (r->type == REDIS_REPLY_STRING && !strcmp(r->str, "OK"))) {
        /* applied */
    } else if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
               r->element[1]->type == REDIS_REPLY_ARRAY) {
        const redisReply *list = r->element[1];
        err = JD_ERR_GAP;
        for (size_t i = 0; i < list->elements; i++) {
            const redisReply *e = list->element[i];
            if (e->type != REDIS_REPLY_ARRAY || e->elements != 3)
                continue;
            bool fenced = e->element[1]->type == REDIS_REPLY_STRING &&
                          !strcmp(e->element[1]->str, "FENCED");
            if (fenced)
                err = JD_ERR_FENCED;
            if (*nrefused < cap) {
                struct store_refusal *x = &refused[(*nrefused)++];
                x->part = (size_t)e->element[0]->integer;
                x->why = fenced ? JD_ERR_FENCED : JD_ERR_GAP;
                x->has_next = e->element[2]->type == REDIS_REPLY_STRING &&
                              store_parse_i64(e->element[2]->str, e->element[2]->len, &x->next);
            }
        }
        store_forget(s);
        jd_errf(err, errstr, errstr_size, "flush refused for %zu partition(s)", *nrefused);
    } else {
        /* a script error after writes may have begun: treat as unknown */
        err = jd_errf(JD_ERR_REDIS, errstr, errstr_size, "flush: %s",
                      r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
        store_disconnect(s);
    }
    freeReplyObject(r);
    return err;
}

enum jd_err store_flush(struct store *s, const struct store_flush *f,
                        struct store_refusal *refused, size_t cap, size_t *nrefused, char *errstr,
                        size_t errstr_size)
{
    enum jd_err err = store_flush_send(s, f, errstr, errstr_size);
    *nrefused = 0;
    if (err)
        return err;
    return store_flush_recv(s, refused, cap, nrefused, errstr, errstr_size);
}

size_t store_compact_pending(const struct store *s)
{
    return s->npending;
}

enum jd_err store_compact(struct store *s, size_t max, size_t *done, char *errstr,
                          size_t errstr_size)
{
    size_t n = s->npending < max ? s->npending : max;
    struct store_get *gets = NULL;
    uint8_t **blobs = NULL;
    size_t *lens = NULL;
    const char **argv = NULL;
    size_t *alen = NULL;
    enum jd_err err = JD_OK;

    *done = 0;
    if (!n)
        return JD_OK;
    if (!s->ctx || s->in_flight)
        return jd_errf(s->ctx ? JD_ERR_INVALID : JD_ERR_REDIS, errstr, errstr_size,
                       s->ctx ? "a flush is in flight" : "not connected");
    gets = calloc(n, sizeof(*gets));
    blobs = calloc(n, sizeof(*blobs));
    lens = calloc(n, sizeof(*lens));
    argv = calloc(3 + 3 * n, sizeof(*argv));
    alen = calloc(3 + 3 * n, sizeof(*alen));
    if (!gets || !blobs || !lens || !argv || !alen) {
        err = jd_errf(JD_ERR_NOMEM, errstr, errstr_size, "out of memory");
        goto out;
    }
    /* take the newest entries: the oldest may since have expired */
    for (size_t i = 0; i < n; i++)
        memcpy(gets[i].key, s->pending[s->npending - n + i], sizeof(gets[i].key));
    s->npending -= n;
    if ((err = store_get_many(s, gets, n, errstr, errstr_size)))
        goto out;
    size_t argc = 3, nrep = 0;
    char(*lentxt)[24] = calloc(n, sizeof(*lentxt));
    if (!lentxt) {
        err = jd_errf(JD_ERR_NOMEM, errstr, errstr_size, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        if (!gets[i].value)
            continue; /* expired meanwhile */
        if (chunk_compact(gets[i].value, gets[i].len, &blobs[i], &lens[i]) != JD_OK)
            continue; /* damaged: leave it for a human (readers report it) */
        if (lens[i] >= gets[i].len)
            continue; /* nothing to gain */
        snprintf(lentxt[i], sizeof(lentxt[i]), "%zu", gets[i].len);
        argv[argc] = gets[i].key;
        alen[argc++] = strlen(gets[i].key);
        argv[argc] = lentxt[i];
        alen[argc++] = strlen(lentxt[i]);
        argv[argc] = (const char *)blobs[i];
        alen[argc++] = lens[i];
        nrep++;
    }
    if (nrep) {
        argv[2] = "0";
        alen[2] = 1;
        alen[0] = 7;
        alen[1] = 40;
        redisReply *r = store_evalsha(s, s->sha_compact, store_lua_compact, (int)argc, argv, alen);
        if (!r) {
            err = store_io_error(s, errstr, errstr_size, "compact");
        } else {
            if (r->type == REDIS_REPLY_INTEGER)
                *done = (size_t)r->integer;
            else
                err = jd_errf(JD_ERR_REDIS, errstr, errstr_size, "compact: %s",
                              r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
            freeReplyObject(r);
        }
    }
    free(lentxt);
out:
    if (gets)
        store_gets_free(gets, n);
    for (size_t i = 0; blobs && i < n; i++)
        free(blobs[i]);
    free(gets);
    free(blobs);
    free(lens);
    free(argv);
    free(alen);
    return err;
}

enum jd_err store_gc(struct store *s, size_t limit, size_t *deleted, int64_t *cutoff,
                     char *errstr, size_t errstr_size)
{
    char gc[128], parts[128], meta[128], lim[24];
    const char *argv[7];
    size_t lens[7];

    *deleted = 0;
    *cutoff = INT64_MIN;
    if (!s->ctx || s->in_flight)
        return jd_errf(s->ctx ? JD_ERR_INVALID : JD_ERR_REDIS, errstr, errstr_size,
                       s->ctx ? "a flush is in flight" : "not connected");
    store_keyf(s, gc, sizeof(gc), "gc");
    store_keyf(s, parts, sizeof(parts), "parts");
    store_keyf(s, meta, sizeof(meta), "meta");
    snprintf(lim, sizeof(lim), "%zu", limit);
    argv[2] = "3";
    argv[3] = gc;
    argv[4] = parts;
    argv[5] = meta;
    argv[6] = lim;
    lens[0] = 7;
    lens[1] = 40;
    for (int i = 2; i < 7; i++)
        lens[i] = strlen(argv[i]);
    redisReply *r = store_evalsha(s, s->sha_gc, store_lua_gc, 7, argv, lens);
    if (!r)
        return store_io_error(s, errstr, errstr_size, "gc");
    enum jd_err err = JD_OK;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
        r->element[0]->type == REDIS_REPLY_INTEGER) {
        *deleted = (size_t)r->element[0]->integer;
        if (r->element[1]->type == REDIS_REPLY_STRING)
            store_parse_i64(r->element[1]->str, r->element[1]->len, cutoff);
    } else {
        err = jd_errf(JD_ERR_REDIS, errstr, errstr_size, "gc: %s",
                      r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
    }
    freeReplyObject(r);
    return err;
}
