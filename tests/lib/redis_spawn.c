/*
 * redis_spawn.c — starts and stops a private redis-server for tests.
 */
#include "redis_spawn.h"

#include "core/ts.h"
#include "store/store.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <fcntl.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int redis_spawn_exec(struct redis_spawn *r)
{
    char conf[400];
    snprintf(conf, sizeof(conf), "%s/redis.conf", r->dir);
    r->pid = fork();
    if (r->pid < 0)
        return -1;
    if (r->pid == 0) {
        /*
         * Die with the test, and keep the test runner's pipes out of the server:
         * a test that aborts must not leave a server holding meson's output open.
         */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int null = open("/dev/null", O_RDWR);
        if (null >= 0) {
            dup2(null, 0);
            dup2(null, 1);
            dup2(null, 2);
        }
        execlp("redis-server", "redis-server", conf, (char *)NULL);
        fprintf(stderr, "redis_spawn: cannot run redis-server: %s (apt-get install redis-server)\n",
                strerror(errno));
        _exit(127);
    }
    /* wait until it answers PING (up to ~10 s) */
    for (int i = 0; i < 200; i++) {
        struct timeval tv = { 0, 200000 };
        redisContext *c = redisConnectUnixWithTimeout(r->sock, tv);
        if (c && !c->err) {
            redisReply *rep = redisCommand(c, "PING");
            bool ok = rep && rep->type == REDIS_REPLY_STATUS;
            if (rep)
                freeReplyObject(rep);
            redisFree(c);
            if (ok)
                return 0;
        } else if (c) {
            redisFree(c);
        }
        int st;
        if (waitpid(r->pid, &st, WNOHANG) == r->pid) {
            fprintf(stderr, "redis_spawn: redis-server exited early (see %s/redis.log)\n", r->dir);
            r->pid = 0;
            return -1;
        }
        struct timespec ts = { 0, 50000000 };
        nanosleep(&ts, NULL);
    }
    fprintf(stderr, "redis_spawn: redis-server did not answer on %s\n", r->sock);
    return -1;
}

int redis_spawn_start(struct redis_spawn *r)
{
    char conf[400];
    memset(r, 0, sizeof(*r));
    snprintf(r->dir, sizeof(r->dir), "/tmp/jd-redis-XXXXXX");
    if (!mkdtemp(r->dir)) {
        perror("redis_spawn: mkdtemp");
        return -1;
    }
    snprintf(r->sock, sizeof(r->sock), "%s/redis.sock", r->dir);
    snprintf(r->url, sizeof(r->url), "unix://%s", r->sock);
    snprintf(conf, sizeof(conf), "%s/redis.conf", r->dir);
    FILE *f = fopen(conf, "w");
    if (!f) {
        perror("redis_spawn: config");
        return -1;
    }
    fprintf(f,
            "port 0\nunixsocket %s\nunixsocketperm 700\ndir %s\nlogfile %s/redis.log\n"
            "save \"\"\nappendonly yes\nappendfsync everysec\nmaxmemory-policy noeviction\n",
            r->sock, r->dir, r->dir);
    fclose(f);
    return redis_spawn_exec(r);
}

void redis_spawn_kill(struct redis_spawn *r, bool hard)
{
    if (r->pid > 0) {
        kill(r->pid, hard ? SIGKILL : SIGTERM);
        waitpid(r->pid, NULL, 0);
        r->pid = 0;
    }
}

int redis_spawn_restart(struct redis_spawn *r)
{
    unlink(r->sock);
    return redis_spawn_exec(r);
}

void redis_spawn_stop(struct redis_spawn *r)
{
    char cmd[512];
    redis_spawn_kill(r, false);
    if (r->dir[0] && !strncmp(r->dir, "/tmp/jd-redis-", 14)) {
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", r->dir);
        if (system(cmd) != 0)
            fprintf(stderr, "redis_spawn: could not remove %s\n", r->dir);
    }
}

struct redisContext *redis_spawn_connect(const struct redis_spawn *r)
{
    struct timeval tv = { 5, 0 };
    redisContext *c = redisConnectUnixWithTimeout(r->sock, tv);
    if (!c || c->err) {
        fprintf(stderr, "redis_spawn: cannot connect to %s: %s\n", r->sock,
                c ? c->errstr : "out of memory");
        exit(1);
    }
    return c;
}

struct store *redis_spawn_store(const struct redis_spawn *r, const char *prefix,
                                int64_t minute_retention_ms)
{
    char err[JD_ERRSTR_SIZE];
    struct store_opts o = { .url = r->url,
                            .prefix = prefix,
                            .connect_timeout_ms = 2000,
                            .command_timeout_ms = 5000,
                            .retention = {
                                { minute_retention_ms, 130 * JD_MS_DAY, 800 * JD_MS_DAY } } };
    struct store *s = store_new(&o, err, sizeof(err));
    if (!s || store_connect(s, err, sizeof(err)) != JD_OK) {
        fprintf(stderr, "redis_spawn_store: %s\n", err);
        store_destroy(s);
        return NULL;
    }
    return s;
}
