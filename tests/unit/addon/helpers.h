/* Shared by the addon tests: options from "name=value" strings, hand-made flows, a hook
 * environment that records what the addon logged, and headers as text. */
#ifndef MITM_TEST_ADDON_HELPERS_H
#define MITM_TEST_ADDON_HELPERS_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "addon/addon.h"
#include "base/alloc.h"
#include "base/buf.h"
#include "core/options.h"
#include "flow/flow.h"
#include "proto/http/http.h"

#define HDRS(...) ((const char *const[]){__VA_ARGS__, NULL})
#define NOHDRS    ((const char *const[]){NULL})

/* Options: the defaults plus each "name=value" of list (NULL-terminated), as --set. */
static inline void opts_with(struct mitm_options *o, const char *const *list)
{
    memset(o, 0, sizeof(*o));
    mitm_options_init(o);
    for (size_t i = 0; list && list[i]; i++) {
        const char *eq = strchr(list[i], '=');
        cr_assert_not_null(eq, "%s", list[i]);
        char *name = mitm_strndup(list[i], (size_t)(eq - list[i]));
        char err[256];
        cr_assert_eq(mitm_options_set(o, name, eq + 1, err, sizeof(err)), 0, "%s: %s", list[i], err);
        free(name);
    }
}

/* What the addons logged through the env (one line each, "LEVEL message\n"). */
static struct mitm_buf test_log;

static inline void test_log_fn(void *arg, int level, const char *msg)
{
    (void)arg;
    mitm_buf_printf(&test_log, "%d %s\n", level, msg);
}

static inline const char *logged(void)
{
    mitm_buf_append(&test_log, "", 1);
    test_log.len--;
    return (const char *)mitm_buf_data(&test_log);
}

static inline struct mitm_hook_env env_for(const struct mitm_options *o, double now)
{
    return (struct mitm_hook_env){.now = now, .opts = o, .worker = 0, .log = test_log_fn, .log_arg = NULL};
}

/* A flow with request "METHOD scheme://host:port path" (origin form), headers (NULL-ended
 * name, value pairs) and body; the client connection is regular mode from 10.0.0.1:5000. */
static inline struct mitm_flow *mkflow(const char *method, const char *scheme, const char *host,
                                       unsigned port, const char *path, const char *const *headers,
                                       const char *body)
{
    struct mitm_flow *f = mitm_flow_new(MITM_FLOW_HTTP, 1000.0);
    struct mitm_http_request *r = mitm_http_request_new();
    r->method = mitm_strdup(method);
    r->scheme = mitm_strdup(scheme);
    r->authority = mitm_strdup("");
    r->host = mitm_strdup(host);
    r->port = (uint16_t)port;
    r->path = mitm_strdup(path);
    r->http_version = mitm_strdup("HTTP/1.1");
    r->form = strcmp(method, "CONNECT") == 0 ? MITM_TARGET_AUTHORITY : MITM_TARGET_ORIGIN;
    for (size_t i = 0; headers && headers[i]; i += 2)
        mitm_headers_add(&r->headers, headers[i], strlen(headers[i]), headers[i + 1], strlen(headers[i + 1]));
    if (body)
        mitm_buf_append(&r->content, body, strlen(body));
    r->timestamp_start = r->timestamp_end = 1000.0;
    f->request = r;
    f->client_conn.peer_host = mitm_strdup("10.0.0.1");
    f->client_conn.peer_port = 5000;
    f->client_conn.timestamp_start = 999.0;
    f->client_conn.proxy_mode = mitm_strdup("regular");
    return f;
}

/* The flow now has a response from a server (server_conn filled in). */
static inline void server_response(struct mitm_flow *f, int status, const char *const *headers,
                                   const char *body)
{
    struct mitm_http_response *r = mitm_http_response_new();
    r->http_version = mitm_strdup("HTTP/1.1");
    r->status_code = status;
    r->reason = mitm_strdup(mitm_http_reason(status));
    for (size_t i = 0; headers && headers[i]; i += 2)
        mitm_headers_add(&r->headers, headers[i], strlen(headers[i]), headers[i + 1], strlen(headers[i + 1]));
    if (body)
        mitm_buf_append(&r->content, body, strlen(body));
    r->timestamp_start = r->timestamp_end = 1001.0;
    mitm_http_response_free(f->response);
    f->response = r;
    free(f->server_conn.peer_host);
    f->server_conn.peer_host = mitm_strdup("192.0.2.1");
    f->server_conn.timestamp_start = 1000.5;
}

static inline void set_mode(struct mitm_flow *f, const char *mode)
{
    free(f->client_conn.proxy_mode);
    f->client_conn.proxy_mode = mitm_strdup(mode);
}

/* Headers as "Name: value\n" lines (a static buffer, valid until the next call). */
static inline const char *hdrtext(const struct mitm_headers *h)
{
    static char out[8192];
    size_t n = 0;
    out[0] = 0;
    for (size_t i = 0; i < h->n && n < sizeof(out); i++)
        n += (size_t)snprintf(out + n, sizeof(out) - n, "%.*s: %.*s\n", (int)h->v[i].name_len, h->v[i].name,
                              (int)h->v[i].value_len, h->v[i].value);
    return out;
}

/* The body as a NUL-terminated string (static buffer). */
static inline const char *bodytext(const struct mitm_buf *b)
{
    static char out[65536];
    snprintf(out, sizeof(out), "%.*s", (int)b->len, (const char *)mitm_buf_data(b));
    return out;
}

/* flow.metadata[key] as its tnetstring text, or NULL. */
static inline const char *meta(const struct mitm_flow *f, const char *key)
{
    static char out[1024];
    const struct mitm_meta *m = mitm_flow_meta_get(f, key);
    if (!m)
        return NULL;
    snprintf(out, sizeof(out), "%.*s", (int)m->tns_len, (const char *)m->tns);
    return out;
}

#endif
