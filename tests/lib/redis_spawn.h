/*
 * redis_spawn.h — a real, private redis-server for one test.
 *
 * Writes a config into a fresh temporary directory (unix socket, no TCP, no
 * persistence unless asked), starts redis-server and waits until it answers.
 * Never a fake: tests that need Redis get the real server, as in hiredis's
 * own test.sh.
 */
#ifndef JD_TEST_REDIS_SPAWN_H
#define JD_TEST_REDIS_SPAWN_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct redis_spawn {
    pid_t pid;
    char dir[256];
    char sock[320];
    char url[400]; /* unix:///…/redis.sock */
};

/** Start a server. @returns 0, or -1 with a message on stderr. */
int redis_spawn_start(struct redis_spawn *r);

/** Stop it (SIGKILL when \p hard) without removing its directory. */
void redis_spawn_kill(struct redis_spawn *r, bool hard);

/** Start it again in the same directory (after redis_spawn_kill()). */
int redis_spawn_restart(struct redis_spawn *r);

/**
 * @brief A fresh connection of the test's own (to read or plant raw keys);
 *        free with redisFree(). Fails the process on error.
 */
struct redisContext *redis_spawn_connect(const struct redis_spawn *r);

struct store;

/**
 * @brief A store on \p r under \p prefix, connected, keeping minute buckets
 *        \p minute_retention_ms (hours 130 days, days 800); free with
 *        store_destroy(). @returns NULL with a message on stderr.
 */
struct store *redis_spawn_store(const struct redis_spawn *r, const char *prefix,
                                int64_t minute_retention_ms);

/** Stop it and remove its directory. */
void redis_spawn_stop(struct redis_spawn *r);

#endif
