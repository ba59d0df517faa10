/*
 * store.c — the Redis connection, the key builders and the write protocol
 * (claim, flush, gc).
 *
 * Owns every byte journeyd sends to Redis. A flush is one EVALSHA whose
 * arguments are built in a reusable buffer (no per-event work, no
 * formatting of user data into command text); reads are in store_read.c.
 * It never logs and never retries on its own: a connection problem is
 * returned as JD_ERR_REDIS and the caller reconnects and re-claims.
 */
#include "store/store_int.h"

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
    char sha_flush[41], sha_claim[41], sha_gc[41];
    char maxmemory_policy[32];
    uint64_t round_trips;
    struct store_args args;
    struct store_memo *memo; /* open addressing, cleared on reconnect */
    size_t memo_n;
};

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

size_t store_key_window(const struct store *s, char *buf, size_t size, struct jd_str type,
                        uint64_t sid, enum window_res r, int64_t bucket)
{
    char hex[17];
    store_hex(sid, hex);
    return store_keyf(s, buf, size, "w:%.*s:%s:%c%lld", (int)type.n, type.p, hex,
                      window_res_char(r), (long long)window_chunk_id(r, bucket));
}

size_t store_key_hll(const struct store *s, char *buf, size_t size, struct jd_str type,
                     uint64_t sid, enum window_res r, int64_t bucket)
{
    char hex[17];
    store_hex(sid, hex);
    return store_keyf(s, buf, size, "u:%.*s:%s:%c%lld", (int)type.n, type.p, hex,
                      window_res_char(r), (long long)window_bucket_index(r, bucket));
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

/* True if `key_hash` is remembered with an `until` beyond `now`. */
static bool store_memo_has(const struct store *s, uint64_t h, int64_t now)
{
    size_t mask = STORE_MEMO_CAP - 1, i = (size_t)h & mask;
    while (s->memo[i].h) {
        if (s->memo[i].h == h)
            return s->memo[i].until > now;
        i = (i + 1) & mask;
    }
    return false;
}

static void store_memo_put(struct store *s, uint64_t h, int64_t until)
{
    size_t mask = STORE_MEMO_CAP - 1, i = (size_t)h & mask;
    if (s->memo_n * 2 > STORE_MEMO_CAP) {
        memset(s->memo, 0, STORE_MEMO_CAP * sizeof(*s->memo)); /* forgetting is always safe */
        s->memo_n = 0;
    }
    while (s->memo[i].h && s->memo[i].h != h)
        i = (i + 1) & mask;
    if (!s->memo[i].h)
        s->memo_n++;
    s->memo[i].h = h | 1;
    s->memo[i].until = until;
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
    if (!s->password || !s->prefix || !s->memo) {
        store_destroy(s);
        jd_errf(JD_ERR_NOMEM, errstr, errstr_size, "out of memory");
        return NULL;
    }
    s->connect_timeout_ms = opts->connect_timeout_ms;
    s->command_timeout_ms = opts->command_timeout_ms;
    s->retention = opts->retention;
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
    free(s->args.buf);
    free(s->args.off);
    free(s->args.alen);
    free(s->args.argv);
    free(s);
}

void store_disconnect(struct store *s)
{
    if (s->ctx) {
        redisFree(s->ctx);
        s->ctx = NULL;
    }
    memset(s->memo, 0, STORE_MEMO_CAP * sizeof(*s->memo));
    s->memo_n = 0;
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
        (err = store_load_script(s, store_lua_gc, s->sha_gc, errstr, errstr_size)))
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

    if (!s->ctx)
        return jd_errf(JD_ERR_REDIS, errstr, errstr_size, "not connected");
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
    if (!s->ctx)
        return jd_errf(JD_ERR_REDIS, errstr, errstr_size, "not connected");
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

/* Adds the chunk keys of one series and resolution; returns false when out of memory. */
static bool store_add_windows(struct store *s, const struct agg_series *ser, enum window_res r,
                              size_t *nkeys)
{
    struct store_args *a = &s->args;
    const struct agg_delta *d = ser->deltas[r];
    size_t n = ser->ndeltas[r], i = 0;
    char key[320];

    while (i < n) {
        int64_t chunk = window_chunk_id(r, d[i].bucket);
        size_t j = i, nb_slot;
        store_key_window(s, key, sizeof(key), ser->type, ser->sid, r, d[i].bucket);
        if (!store_arg_str(a, key) || !store_arg_slot(a, &nb_slot))
            return false;
        for (; j < n && window_chunk_id(r, d[j].bucket) == chunk; j++) {
            const struct agg_delta *x = &d[j];
            char sum[48];
            if (!store_arg_i64(a, window_bucket_offset(r, x->bucket)) ||
                !store_arg_i64(a, x->count) || !store_arg_i64(a, x->vcount))
                return false;
            if (x->vcount) {
                if (!store_arg(a, sum, jd_i128_format(x->sum, sum)) ||
                    !store_arg_i64(a, x->min) || !store_arg_i64(a, x->max) ||
                    !store_arg_i64(a, x->last_ts) || !store_arg_i64(a, x->last))
                    return false;
            } else {
                for (int k = 0; k < 5; k++)
                    if (!store_arg(a, "", 0))
                        return false;
            }
        }
        if (!store_arg_fill(a, nb_slot, (int64_t)(j - i)))
            return false;
        (*nkeys)++;
        i = j;
    }
    return true;
}

enum jd_err store_flush(struct store *s, const struct store_flush *f,
                        struct store_refusal *refused, size_t cap, size_t *nrefused, char *errstr,
                        size_t errstr_size)
{
    struct store_args *a = &s->args;
    char key[320], gc[128], stats[128], parts[128], types[128];
    size_t slot, nkeys = 0, nhll = 0, nidx = 0, ntypes = 0, ngc = 0;
    int64_t max_st = INT64_MIN;
    size_t nser = agg_nseries(f->agg);

    *nrefused = 0;
    if (!s->ctx)
        return jd_errf(JD_ERR_REDIS, errstr, errstr_size, "not connected");
    store_args_reset(a);
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
    ADD(store_arg_i64(a, (int64_t)f->nseen));
    for (size_t i = 0; i < f->nseen; i++) {
        store_key_seen(s, key, sizeof(key), f->topic, f->seen[i].partition, f->seen[i].slice);
        ADD(store_arg_str(a, key));
        ADD(store_arg(a, f->seen[i].blob, f->seen[i].len));
    }

    /* window chunks */
    ADD(store_arg_slot(a, &slot));
    for (size_t i = 0; i < nser; i++)
        for (int r = 0; r < WINDOW_NRES; r++)
            ADD(store_add_windows(s, agg_series_at(f->agg, i), (enum window_res)r, &nkeys));
    ADD(store_arg_fill(a, slot, (int64_t)nkeys));

    /* distinct-user sketches: one record per (series, minute) with users */
    ADD(store_arg_slot(a, &slot));
    for (size_t i = 0; i < nser; i++) {
        const struct agg_series *ser = agg_series_at(f->agg, i);
        for (size_t g = 0; g < ser->nusers; g++) {
            const struct agg_users *u = &ser->users[g];
            for (int r = 0; r < WINDOW_NRES; r++) {
                store_key_hll(s, key, sizeof(key), ser->type, ser->sid, (enum window_res)r,
                              window_bucket_start((enum window_res)r, u->minute));
                ADD(store_arg_str(a, key));
            }
            ADD(store_arg_i64(a, (int64_t)u->n));
            for (size_t k = 0; k < u->n; k++)
                ADD(store_arg(a, u->users[k].p, u->users[k].n));
            nhll++;
        }
    }
    ADD(store_arg_fill(a, slot, (int64_t)nhll));

    /* series index: only series not indexed since the last (re)connect */
    ADD(store_arg_slot(a, &slot));
    for (size_t i = 0; i < nser; i++) {
        const struct agg_series *ser = agg_series_at(f->agg, i);
        uint64_t h = hash_mix64(ser->sid ^ UINT64_C(0x5e71e5));
        if (store_memo_has(s, h, INT64_MIN))
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
        uint64_t h = hash64(ser->type.p, ser->type.n, 0x7479706573);
        if (store_memo_has(s, h, INT64_MIN))
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

    /*
     * GC registrations. A key known to be registered is skipped unless its
     * expiry is near (GC may then have removed it and a late event re-created it).
     */
    ADD(store_arg_slot(a, &slot));
    for (size_t i = 0; i < nser; i++) {
        const struct agg_series *ser = agg_series_at(f->agg, i);
        for (int r = 0; r < WINDOW_NRES; r++) {
            const struct agg_delta *d = ser->deltas[r];
            for (size_t k = 0; k < ser->ndeltas[r]; k++) {
                int64_t chunk = window_chunk_id((enum window_res)r, d[k].bucket);
                if (k && window_chunk_id((enum window_res)r, d[k - 1].bucket) == chunk)
                    continue;
                size_t kl = store_key_window(s, key, sizeof(key), ser->type, ser->sid,
                                             (enum window_res)r, d[k].bucket);
                int64_t exp = window_expiry(&s->retention, (enum window_res)r,
                                            (chunk + 1) * window_chunk_ms((enum window_res)r));
                uint64_t h = hash64(key, kl, 0x6763);
                if (store_memo_has(s, h, max_st + JD_MS_DAY) && exp > max_st + JD_MS_DAY)
                    continue;
                ADD(store_arg_i64(a, exp));
                ADD(store_arg(a, key, kl));
                ngc++;
            }
        }
        for (size_t g = 0; g < ser->nusers; g++) {
            for (int r = 0; r < WINDOW_NRES; r++) {
                int64_t b = window_bucket_start((enum window_res)r, ser->users[g].minute);
                size_t kl = store_key_hll(s, key, sizeof(key), ser->type, ser->sid,
                                          (enum window_res)r, b);
                int64_t exp = window_expiry(&s->retention, (enum window_res)r,
                                            b + window_res_ms((enum window_res)r));
                uint64_t h = hash64(key, kl, 0x6763);
                if (store_memo_has(s, h, max_st + JD_MS_DAY) && exp > max_st + JD_MS_DAY)
                    continue;
                ADD(store_arg_i64(a, exp));
                ADD(store_arg(a, key, kl));
                ngc++;
            }
        }
    }
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
    a->alen[0] = 7;  /* EVALSHA */
    a->alen[1] = 40; /* sha, set by store_evalsha() */
    redisReply *r = store_evalsha(s, s->sha_flush, store_lua_flush, (int)a->n, argv, a->alen);
    if (!r)
        return store_io_error(s, errstr, errstr_size, "flush");

    enum jd_err err = JD_OK;
    if (r->type == REDIS_REPLY_STATUS || (r->type == REDIS_REPLY_STRING && !strcmp(r->str, "OK"))) {
        /* applied: remember what is now indexed and registered */
        for (size_t i = 0; i < nser; i++) {
            const struct agg_series *ser = agg_series_at(f->agg, i);
            store_memo_put(s, hash_mix64(ser->sid ^ UINT64_C(0x5e71e5)), INT64_MAX);
            store_memo_put(s, hash64(ser->type.p, ser->type.n, 0x7479706573), INT64_MAX);
            for (int res = 0; res < WINDOW_NRES; res++)
                for (size_t k = 0; k < ser->ndeltas[res]; k++) {
                    size_t kl = store_key_window(s, key, sizeof(key), ser->type, ser->sid,
                                                 (enum window_res)res, ser->deltas[res][k].bucket);
                    store_memo_put(s, hash64(key, kl, 0x6763), INT64_MAX);
                }
            for (size_t g = 0; g < ser->nusers; g++)
                for (int res = 0; res < WINDOW_NRES; res++) {
                    size_t kl = store_key_hll(
                        s, key, sizeof(key), ser->type, ser->sid, (enum window_res)res,
                        window_bucket_start((enum window_res)res, ser->users[g].minute));
                    store_memo_put(s, hash64(key, kl, 0x6763), INT64_MAX);
                }
        }
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
        jd_errf(err, errstr, errstr_size, "flush refused for %zu partition(s)", *nrefused);
    } else {
        /* a script error after writes may have begun: treat as unknown */
        err = jd_errf(JD_ERR_REDIS, errstr, errstr_size, "flush: %s",
                      r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
        store_disconnect(s);
    }
    freeReplyObject(r);
    return err;

nomem:
    return jd_errf(JD_ERR_NOMEM, errstr, errstr_size, "out of memory building the flush");
}

enum jd_err store_gc(struct store *s, size_t limit, size_t *deleted, int64_t *cutoff,
                     char *errstr, size_t errstr_size)
{
    char gc[128], parts[128], meta[128], lim[24];
    const char *argv[7];
    size_t lens[7];

    *deleted = 0;
    *cutoff = INT64_MIN;
    if (!s->ctx)
        return jd_errf(JD_ERR_REDIS, errstr, errstr_size, "not connected");
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
