/*
 * store.c — the Redis connection, the key builders and the write protocol
 * (claim, flush, gc).
 *
 * Owns the connection, the key names, the memo hints, and the small scripts:
 * claim, gc and compaction (chunks this instance appends to often are
 * folded and replaced with a compare-and-set). The flush script's arguments
 * are built in store_flush.c; reads are in store_read.c.
 * It never logs and never retries on its own: a connection problem is
 * returned as JD_ERR_REDIS and the caller reconnects and re-claims.
 */
#include "store/store_int.h"

#include "aggregate/chunk.h"
#include "core/config.h"
#include "core/hash.h"
#include "store_lua.h"

#include <hiredis/hiredis.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* config_validate() holds names to what the key buffers have room for */
_Static_assert(CONFIG_PREFIX_MAX <= STORE_PREFIX_MAX && CONFIG_TOPIC_MAX <= STORE_TOPIC_MAX,
               "config limits exceed the store's key buffers");

/* ------------------------------------------------------------------ keys */

const char *store_prefix(const struct store *s)
{
    return s->prefix;
}

const struct window_retention *store_retention(const struct store *s)
{
    return &s->retention;
}

size_t store_keyf(const struct store *s, char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    int n = snprintf(buf, size, "{%s}:", s->prefix);
    va_start(ap, fmt);
    int m = vsnprintf(buf + n, size > (size_t)n ? size - (size_t)n : 0, fmt, ap);
    va_end(ap);
    return (size_t)(n + m);
}

bool store_append_argv(struct store *s, size_t argc, const char **argv, const size_t *lens)
{
    /* "*N\r\n" then "$LEN\r\nBYTES\r\n" per argument; 24 bytes bound each number */
    size_t need = 26;
    for (size_t i = 0; i < argc; i++)
        need += lens[i] + 27;
    if (!s->ctx || !jd_reserve((void **)&s->cmd, &s->capcmd, need, 1))
        return false;
    char *w = s->cmd;
    *w++ = '*';
    w += store_fmt_i64(w, (int64_t)argc);
    *w++ = '\r';
    *w++ = '\n';
    for (size_t i = 0; i < argc; i++) {
        *w++ = '$';
        w += store_fmt_i64(w, (int64_t)lens[i]);
        *w++ = '\r';
        *w++ = '\n';
        if (lens[i])
            memcpy(w, argv[i], lens[i]);
        w += lens[i];
        *w++ = '\r';
        *w++ = '\n';
    }
    return redisAppendFormattedCommand(s->ctx, s->cmd, (size_t)(w - s->cmd)) == REDIS_OK;
}

void store_hex(uint64_t v, char out[17])
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
    char tmp[STORE_KEY_MAX];
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

size_t store_key_part(const struct store *s, char *buf, size_t size, const char *topic,
                      int32_t partition)
{
    return store_keyf(s, buf, size, "p:%s:%d", topic, (int)partition);
}

size_t store_key_seen(const struct store *s, char *buf, size_t size, const char *topic,
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
bool store_memo_has(struct store *s, uint64_t h, int64_t now)
{
    const struct store_memo *m = store_memo_slot(s->memo, &s->memo_n, h, false);
    return m && m->until > now;
}

void store_memo_put(struct store *s, uint64_t h, int64_t until)
{
    struct store_memo *m = store_memo_slot(s->memo, &s->memo_n, h, true);
    m->until = until;
}

/* Counts an append to `key`; queues the chunk for compaction every STORE_COMPACT_AFTER. */
void store_count_append(struct store *s, const char *key, size_t kl, uint64_t h)
{
    struct store_memo *m = store_memo_slot(s->appends, &s->appends_n, hash_mix64(h), true);
    if (++m->until % STORE_COMPACT_AFTER == 0)
        store_queue_compact(s, key, kl, h);
}

void store_queue_compact(struct store *s, const char *key, size_t kl, uint64_t h)
{
    struct store_memo *m = store_memo_slot(s->appends, &s->appends_n, hash_mix64(h), true);
    m->until = 0; /* the count restarts from the compacted chunk */
    if (s->npending < STORE_PENDING_MAX && kl < sizeof(s->pending[0])) {
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
    char shown[1024]; /* the URL as messages may show it: without its password */
    config_redact_url(url, shown, sizeof(shown));
    if (strncmp(url, "redis://", 8))
        /* without its scheme the URL cannot be redacted: it is not shown if it may hold one */
        return strchr(url, '@')
                   ? jd_errf(JD_ERR_CONFIG, errstr, errstr_size,
                             "redis.url must start with redis:// or unix:// (not "
                             "shown: it may hold a password)")
                   : jd_errf(JD_ERR_CONFIG, errstr, errstr_size,
                             "redis.url: '%s' must start with redis:// or unix://", shown);
    const char *p = url + 8, *at = strrchr(p, '@');
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        const char *pw = colon ? colon + 1 : p;
        size_t n = (size_t)(at - pw), un = colon ? (size_t)(colon - p) : 0;
        if (n >= sizeof(out->password))
            return jd_errf(JD_ERR_CONFIG, errstr, errstr_size, "redis.url: password too long");
        if (un >= sizeof(out->username))
            return jd_errf(JD_ERR_CONFIG, errstr, errstr_size, "redis.url: user name too long");
        memcpy(out->password, pw, n);
        memcpy(out->username, p, un);
        p = at + 1;
    }
    const char *slash = strchr(p, '/');
    size_t hl = slash ? (size_t)(slash - p) : strlen(p);
    const char *colon = memchr(p, ':', hl);
    size_t hostlen = colon ? (size_t)(colon - p) : hl;
    if (hostlen == 0 || hostlen >= sizeof(out->host))
        return jd_errf(JD_ERR_CONFIG, errstr, errstr_size, "redis.url: missing host in '%s'",
                       shown);
    memcpy(out->host, p, hostlen);
    if (colon) {
        char *end;
        long port = strtol(colon + 1, &end, 10);
        if (end != p + hl || port <= 0 || port > 65535)
            return jd_errf(JD_ERR_CONFIG, errstr, errstr_size, "redis.url: bad port in '%s'",
                           shown);
        out->port = (int)port;
    }
    if (slash && slash[1]) {
        char *end;
        long db = strtol(slash + 1, &end, 10);
        if (*end || db < 0)
            return jd_errf(JD_ERR_CONFIG, errstr, errstr_size, "redis.url: bad db in '%s'", shown);
        out->db = (int)db;
    }
    return JD_OK;
}

/* ------------------------------------------------------------ lifecycle */

void store_opts_from_config(struct store_opts *o, const struct config *cfg)
{
    *o = (struct store_opts){ cfg->redis.url,
                              cfg->redis.username,
                              cfg->redis.password,
                              cfg->redis.prefix,
                              cfg->redis.connect_timeout_ms,
                              cfg->redis.command_timeout_ms,
                              { { cfg->windows.retention_minute_ms, cfg->windows.retention_hour_ms,
                                  cfg->windows.retention_day_ms } } };
}

struct store *store_new(const struct store_opts *opts, char *errstr, size_t errstr_size)
{
    struct store *s = calloc(1, sizeof(*s));
    if (!s) {
        jd_errf(JD_ERR_NOMEM, errstr, errstr_size, "out of memory");
        return NULL;
    }
    if (!*opts->prefix || strlen(opts->prefix) > STORE_PREFIX_MAX) {
        free(s);
        jd_errf(JD_ERR_CONFIG, errstr, errstr_size, "key prefix must be 1 to %d bytes",
                STORE_PREFIX_MAX);
        return NULL;
    }
    if (store_addr_parse(opts->url, &s->addr, errstr, errstr_size) != JD_OK) {
        free(s);
        return NULL;
    }
    s->username = strdup(opts->username && *opts->username ? opts->username : s->addr.username);
    s->password = strdup(opts->password && *opts->password ? opts->password : s->addr.password);
    s->prefix = strdup(opts->prefix);
    s->memo = calloc(STORE_MEMO_CAP, sizeof(*s->memo));
    s->appends = calloc(STORE_MEMO_CAP, sizeof(*s->appends));
    s->pending = calloc(STORE_PENDING_MAX, sizeof(*s->pending));
    if (!s->username || !s->password || !s->prefix || !s->memo || !s->appends || !s->pending) {
        store_destroy(s);
        jd_errf(JD_ERR_NOMEM, errstr, errstr_size, "out of memory");
        return NULL;
    }
    s->connect_timeout_ms = opts->connect_timeout_ms;
    s->command_timeout_ms = opts->command_timeout_ms;
    s->retention = opts->retention;
    s->max_bulk_len = STORE_DEFAULT_MAX_BULK;
    s->chunk_prefix_len = store_keyf(s, s->chunk_prefix, sizeof(s->chunk_prefix), "c:");
    s->jkey_len = store_keyf(s, s->jkey, sizeof(s->jkey), "j:");
    return s;
}

void store_destroy(struct store *s)
{
    if (!s)
        return;
    store_disconnect(s);
    free(s->username);
    free(s->password);
    free(s->prefix);
    free(s->memo);
    free(s->appends);
    free(s->pending);
    free(s->refs);
    free(s->args.buf);
    free(s->cmd);
    free(s->args.off);
    free(s->args.alen);
    free(s->args.argv);
    free(s);
}

/* Forget every hint: always safe, needed whenever Redis may not hold what we believe. */
void store_forget(struct store *s)
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

enum jd_err store_io_error(struct store *s, char *errstr, size_t errstr_size, const char *what)
{
    jd_errf(JD_ERR_REDIS, errstr, errstr_size, "%s: %s", what,
            s->ctx && s->ctx->errstr[0] ? s->ctx->errstr : "connection lost");
    store_disconnect(s);
    return JD_ERR_REDIS;
}

enum jd_err store_load_script(struct store *s, const char *body, char sha[41], char *errstr,
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

/* CONFIG GET one parameter ("" when CONFIG is disabled or the name unknown). */
static enum jd_err store_config_get(struct store *s, const char *name, char *out, size_t size,
                                    char *errstr, size_t errstr_size)
{
    const char *argv[] = { "CONFIG", "GET", name };
    size_t lens[] = { 6, 3, strlen(name) };
    out[0] = '\0';
    redisReply *r = store_cmd(s, 3, argv, lens);
    if (!r)
        return store_io_error(s, errstr, errstr_size, "CONFIG GET");
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
        r->element[1]->type == REDIS_REPLY_STRING)
        snprintf(out, size, "%s", r->element[1]->str);
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
    if (s->password[0] || s->username[0]) {
        /* an ACL user: AUTH user password (Redis 6+); else the default user's password */
        const char *argv[] = { "AUTH", s->username, s->password };
        size_t lens[] = { 4, strlen(s->username), strlen(s->password) };
        int argc = 3;
        if (!s->username[0]) {
            argv[1] = s->password;
            lens[1] = lens[2];
            argc = 2;
        }
        redisReply *r = store_cmd(s, argc, argv, lens);
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
        (err = store_load_script(s, store_lua_pin, s->sha_pin, errstr, errstr_size)) ||
        (err = store_load_script(s, store_lua_gc, s->sha_gc, errstr, errstr_size)) ||
        (err = store_load_script(s, store_lua_compact, s->sha_compact, errstr, errstr_size)) ||
        (err = store_load_script(s, store_lua_lease, s->sha_lease, errstr, errstr_size)) ||
        (err = store_load_script(s, store_lua_evalsave, s->sha_evalsave, errstr, errstr_size)) ||
        (err = store_load_script(s, store_lua_progress, s->sha_progress, errstr, errstr_size)) ||
        (err = store_load_script(s, store_lua_expiry, s->sha_expiry, errstr, errstr_size)))
        return err;

    /* Informational: eviction would silently drop offsets and windows. */
    if ((err = store_config_get(s, "maxmemory-policy", s->maxmemory_policy,
                                sizeof(s->maxmemory_policy), errstr, errstr_size)))
        return err;
    /* The flush refuses appends that Redis would fail halfway through the batch. */
    char v[32];
    if ((err = store_config_get(s, "proto-max-bulk-len", v, sizeof(v), errstr, errstr_size)))
        return err;
    if (!store_parse_i64(v, strlen(v), &s->max_bulk_len) || s->max_bulk_len <= 0)
        s->max_bulk_len = STORE_DEFAULT_MAX_BULK;
    return JD_OK;
}

/* Runs a loaded script; reloads it once if Redis lost it (SCRIPT FLUSH, failover). */
redisReply *store_evalsha(struct store *s, char sha[41], const char *body, int argc,
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

bool store_parse_i64(const char *p, size_t n, int64_t *out)
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
    char meta[STORE_KEY_MAX], parts[128];
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
        out->has_next = store_parse_i64(r->element[1]->str, r->element[1]->len, &out->next);
        out->has_st = store_parse_i64(r->element[2]->str, r->element[2]->len, &out->st);
    }
    freeReplyObject(r);
    return err;
}

enum jd_err store_pin(struct store *s, const char *topic, int32_t partition, const char *owner,
                      int64_t epoch, int64_t *offset, char *errstr, size_t errstr_size)
{
    char meta[STORE_KEY_MAX], ep[24], off[24];
    const char *argv[7];
    size_t lens[7];

    if (!s->ctx || s->in_flight)
        return jd_errf(s->ctx ? JD_ERR_INVALID : JD_ERR_REDIS, errstr, errstr_size,
                       s->ctx ? "a flush is in flight" : "not connected");
    store_key_part(s, meta, sizeof(meta), topic, partition);
    argv[2] = "1";
    argv[3] = meta;
    argv[4] = owner;
    argv[5] = ep;
    argv[6] = off;
    lens[0] = 7;
    lens[1] = 40;
    lens[2] = 1;
    lens[3] = strlen(meta);
    lens[4] = strlen(owner);
    lens[5] = store_fmt_i64(ep, epoch);
    lens[6] = store_fmt_i64(off, *offset);
    redisReply *r = store_evalsha(s, s->sha_pin, store_lua_pin, 7, argv, lens);
    if (!r)
        return store_io_error(s, errstr, errstr_size, "pin");
    enum jd_err err = JD_OK;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 1 &&
        r->element[0]->type == REDIS_REPLY_STRING && !strcmp(r->element[0]->str, "FENCED")) {
        err = jd_errf(JD_ERR_FENCED, errstr, errstr_size, "%s is owned by another instance", meta);
    } else if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
               r->element[1]->type == REDIS_REPLY_STRING &&
               store_parse_i64(r->element[1]->str, r->element[1]->len, offset)) {
        /* pinned (or pinned before) */
    } else {
        err = jd_errf(JD_ERR_REDIS, errstr, errstr_size, "pin %s: %s", meta,
                      r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
        store_disconnect(s);
    }
    freeReplyObject(r);
    return err;
}

enum jd_err store_load_seen(struct store *s, const char *topic, int32_t partition,
                            int64_t from_slice, int64_t to_slice, store_seen_cb *cb, void *opaque,
                            char *errstr, size_t errstr_size)
{
    char key[STORE_KEY_MAX];
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
        if (!store_append_argv(s, 2, argv, lens))
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

size_t store_compact_pending(const struct store *s)
{
    return s->npending;
}

/*
 * Chunks read and rewritten per round: each is over 256 KiB, so a round
 * holds about 10 MB however long the backlog (a catch-up over a million
 * users queues hundreds).
 */
#define STORE_COMPACT_ROUND 32

static enum jd_err store_compact_round(struct store *s, size_t n, size_t *done, char *errstr,
                                       size_t errstr_size)
{
    struct store_get *gets = NULL;
    uint8_t **blobs = NULL;
    size_t *lens = NULL;
    const char **argv = NULL;
    size_t *alen = NULL;
    enum jd_err err = JD_OK;

    *done = 0;
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
        gets[i].key = s->pending[s->npending - n + i]; /* nothing adds to it before we return */
    s->npending -= n;
    if ((err = store_get_many(s, gets, n, errstr, errstr_size)))
        goto out;
    size_t argc = 3, nrep = 0;
    for (size_t i = 0; i < n; i++) {
        if (!gets[i].value)
            continue; /* expired meanwhile */
        if (chunk_compact(gets[i].value, gets[i].len, &blobs[i], &lens[i]) != JD_OK)
            continue; /* damaged: leave it for a human (readers report it) */
        if (lens[i] >= gets[i].len)
            continue; /* nothing to gain */
        argv[argc] = gets[i].key;
        alen[argc++] = strlen(gets[i].key);
        argv[argc] = gets[i].value; /* compared byte for byte before replacing */
        alen[argc++] = gets[i].len;
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

enum jd_err store_compact(struct store *s, size_t max, size_t *done, char *errstr,
                          size_t errstr_size)
{
    enum jd_err err = JD_OK;

    *done = 0;
    while (max && s->npending && err == JD_OK) {
        size_t n = s->npending < max ? s->npending : max, d = 0;
        if (n > STORE_COMPACT_ROUND)
            n = STORE_COMPACT_ROUND;
        err = store_compact_round(s, n, &d, errstr, errstr_size);
        *done += d;
        max -= n;
    }
    return err;
}

enum jd_err store_gc(struct store *s, size_t limit, size_t *deleted, int64_t *cutoff, char *errstr,
                     size_t errstr_size)
{
    char gc[128], parts[128], meta[128], lim[24], daylen[24];
    const char *argv[8];
    size_t lens[8];

    *deleted = 0;
    *cutoff = INT64_MIN;
    if (!s->ctx || s->in_flight)
        return jd_errf(s->ctx ? JD_ERR_INVALID : JD_ERR_REDIS, errstr, errstr_size,
                       s->ctx ? "a flush is in flight" : "not connected");
    store_keyf(s, gc, sizeof(gc), "gc");
    store_keyf(s, parts, sizeof(parts), "parts");
    store_keyf(s, meta, sizeof(meta), "meta");
    snprintf(lim, sizeof(lim), "%zu", limit);
    snprintf(daylen, sizeof(daylen), "%lld", (long long)window_chunk_ms(WINDOW_DAY));
    argv[2] = "3";
    argv[3] = gc;
    argv[4] = parts;
    argv[5] = meta;
    argv[6] = lim;
    argv[7] = daylen;
    lens[0] = 7;
    lens[1] = 40;
    for (int i = 2; i < 8; i++)
        lens[i] = strlen(argv[i]);
    redisReply *r = store_evalsha(s, s->sha_gc, store_lua_gc, 8, argv, lens);
    if (!r)
        return store_io_error(s, errstr, errstr_size, "gc");
    enum jd_err err = JD_OK;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
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
