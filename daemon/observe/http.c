/*
 * http.c — libmicrohttpd in "external select" mode: the server owns the
 * listening socket and the connections, the loop calls http_run(). Request
 * bodies are not read (no endpoint takes one): a small one is skipped, one
 * announced larger is answered 413, and a chunked one that grows larger
 * closes the connection, so a client cannot hold one by streaming a body.
 * What each path means is the handler's business (admin.c).
 */
#include "observe/http.h"

#include "core/log.h"

#include <microhttpd.h>
#include <stdarg.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define HTTP_MAX_CONNECTIONS 32
#define HTTP_MAX_PER_IP      8 /* one host (a scanner, a stuck script) cannot take them all */
#define HTTP_TIMEOUT_S       10
#define HTTP_MAX_BODY        4096

struct http {
    struct MHD_Daemon *d;
    http_handler *h;
    void *opaque;
    int port;
};

static enum MHD_Result http_answer(void *cls, struct MHD_Connection *conn, const char *url,
                                   const char *method, const char *version, const char *upload_data,
                                   size_t *upload_data_size, void **con_cls)
{
    struct http *s = cls;
    (void)version;
    (void)upload_data;
    /* the request's state is a number, not an allocation: 1 + the body bytes seen */
    uintptr_t seen = (uintptr_t)*con_cls;
    struct http_reply r = { .status = 200, .content_type = "text/plain; charset=utf-8" };
    if (!seen) {
        /* headers only so far: a POST body (if any) follows in later calls; one announced
         * too large is answered now (libmicrohttpd 0.9.75 cannot answer in mid-upload) */
        const char *cl =
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        *con_cls = (void *)(uintptr_t)1;
        if (!cl || strtoull(cl, NULL, 10) <= HTTP_MAX_BODY)
            return MHD_YES;
        r.status = 413;
        metrics_printf(&r.body, "request body larger than %d bytes\n", HTTP_MAX_BODY);
    } else if (*upload_data_size) {
        seen += *upload_data_size;
        *upload_data_size = 0; /* ignore request bodies */
        *con_cls = (void *)seen;
        /* a chunked body that grows past the limit: the connection is closed */
        return seen - 1 <= HTTP_MAX_BODY ? MHD_YES : MHD_NO;
    } else {
        s->h(s->opaque, method, url, &r);
    }
    if (r.body.oom) {
        metrics_buf_free(&r.body);
        r.status = 500;
        r.content_type = "text/plain; charset=utf-8";
    }
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        r.body.n, r.body.n ? r.body.p : (void *)"", MHD_RESPMEM_MUST_COPY);
    metrics_buf_free(&r.body);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r.content_type);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (r.allow)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, r.allow);
    enum MHD_Result ret = MHD_queue_response(conn, (unsigned)r.status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* The library's own complaints (a client that misbehaves, a socket error), as log lines. */
static void http_log(void *cls, const char *fmt, va_list ap)
{
    char buf[512];
    (void)cls;
    vsnprintf(buf, sizeof(buf), fmt, ap);
    buf[strcspn(buf, "\n")] = '\0';
    log_warn("http", "libmicrohttpd", "detail=%s", log_q(buf));
}

/* Splits "host:port", "[v6]:port" or ":port" and resolves it (numeric or by name). */
static struct addrinfo *http_resolve(const char *listen, char *errstr, size_t errstr_size)
{
    char host[256] = "", port[16];
    const char *colon;
    if (listen[0] == '[') {
        const char *end = strchr(listen, ']');
        if (!end || end[1] != ':' || (size_t)(end - listen - 1) >= sizeof(host))
            goto bad;
        memcpy(host, listen + 1, (size_t)(end - listen - 1));
        host[end - listen - 1] = '\0';
        colon = end + 1;
    } else {
        if (!(colon = strrchr(listen, ':')) || (size_t)(colon - listen) >= sizeof(host))
            goto bad;
        memcpy(host, listen, (size_t)(colon - listen));
        host[colon - listen] = '\0';
    }
    if (strlen(colon + 1) == 0 || strlen(colon + 1) >= sizeof(port) ||
        strspn(colon + 1, "0123456789") != strlen(colon + 1))
        goto bad;
    snprintf(port, sizeof(port), "%s", colon + 1);
    struct addrinfo hints = { .ai_family = AF_UNSPEC,
                              .ai_socktype = SOCK_STREAM,
                              .ai_flags = AI_PASSIVE },
                    *res = NULL;
    int rc = getaddrinfo(host[0] ? host : NULL, port, &hints, &res);
    if (rc) {
        snprintf(errstr, errstr_size, "http.listen '%s': %s", listen, gai_strerror(rc));
        return NULL;
    }
    return res;
bad:
    snprintf(errstr, errstr_size, "http.listen '%s': expected host:port, [v6]:port or :port",
             listen);
    return NULL;
}

struct http *http_new(const char *listen, http_handler *h, void *opaque, char *errstr,
                      size_t errstr_size)
{
    struct addrinfo *ai = http_resolve(listen, errstr, errstr_size);
    if (!ai)
        return NULL;
    struct http *s = calloc(1, sizeof(*s));
    if (!s) {
        freeaddrinfo(ai);
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    s->h = h;
    s->opaque = opaque;
    unsigned flags = MHD_USE_ERROR_LOG | (ai->ai_family == AF_INET6 ? MHD_USE_IPv6 : 0);
    /* the logger first, so that even option errors go through it */
    s->d =
        MHD_start_daemon(flags, 0, NULL, NULL, http_answer, s, MHD_OPTION_EXTERNAL_LOGGER, http_log,
                         NULL, MHD_OPTION_SOCK_ADDR, ai->ai_addr, MHD_OPTION_CONNECTION_LIMIT,
                         (unsigned)HTTP_MAX_CONNECTIONS, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
                         (unsigned)HTTP_MAX_PER_IP, MHD_OPTION_CONNECTION_TIMEOUT,
                         (unsigned)HTTP_TIMEOUT_S, MHD_OPTION_END);
    freeaddrinfo(ai);
    if (!s->d) {
        snprintf(errstr, errstr_size, "http.listen '%s': cannot listen (address in use?)", listen);
        free(s);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? (int)info->port : 0;
    return s;
}

void http_destroy(struct http *s)
{
    if (!s)
        return;
    if (s->d)
        MHD_stop_daemon(s->d);
    free(s);
}

void http_run(struct http *s)
{
    MHD_run(s->d);
}

int http_port(const struct http *s)
{
    return s->port;
}
