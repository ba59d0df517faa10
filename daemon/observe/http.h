/*
 * http.h — a small HTTP/1.1 server (libmicrohttpd) driven by the event loop.
 *
 * No thread of its own: http_run() serves whatever is ready without
 * blocking, once per loop turn, and the handler runs on the loop's thread.
 * Handlers may therefore read the daemon's state without locks, and a stuck
 * loop shows as an unanswered /-/healthy — which is what a liveness probe
 * should see. A request waits at most one loop turn (batch.max_wait_ms, or
 * one batch).
 */
#ifndef JD_HTTP_H
#define JD_HTTP_H

#include "core/err.h"
#include "observe/metrics.h"

#include <stddef.h>

/** What a handler answers: status, content type and body (the server frees nothing of it). */
struct http_reply {
    int status;
    const char *content_type;
    struct metrics_buf body; /**< freed by the server after sending */
    const char *allow;       /**< for 405: the Allow header */
};

/**
 * Called for every complete request. \p method is "GET", "POST", …; \p path
 * excludes the query string. Fill \p r (status defaults to 200, type to text/plain).
 */
typedef void(http_handler)(void *opaque, const char *method, const char *path,
                           struct http_reply *r);

struct http;

/**
 * @brief Listen on \p listen ("host:port", "[v6]:port" or ":port"; port 0
 *        picks a free one).
 * @returns NULL with errstr when the address is invalid or cannot be bound.
 */
struct http *http_new(const char *listen, http_handler *h, void *opaque, char *errstr,
                      size_t errstr_size);

/** Stop listening and free; NULL is a no-op. */
void http_destroy(struct http *s);

/** Serve what is ready, without blocking. */
void http_run(struct http *s);

/** @returns the bound port (useful with port 0). */
int http_port(const struct http *s);

#endif
