/* Flow builders shared by the replay tests. */
#ifndef MITM_TEST_REPLAY_HELPERS_H
#define MITM_TEST_REPLAY_HELPERS_H

#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "flow/flow.h"
#include "proto/http/http.h"

/* An HTTP flow with a request "METHOD scheme://host:port path" carrying headers (a
 * NULL-terminated list of "Name", "value" pairs) and body (may be NULL). */
static inline struct mitm_flow *req_flow(const char *method, const char *scheme, const char *host,
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
    r->form = MITM_TARGET_ABSOLUTE;
    for (size_t i = 0; headers && headers[i]; i += 2)
        mitm_headers_add(&r->headers, headers[i], strlen(headers[i]), headers[i + 1], strlen(headers[i + 1]));
    if (body)
        mitm_buf_append(&r->content, body, strlen(body));
    r->timestamp_start = r->timestamp_end = 1000.0;
    f->request = r;
    return f;
}

/* Attach a response (status, headers as above, body) recorded at time ts. */
static inline void add_response(struct mitm_flow *f, int status, const char *const *headers, const char *body,
                                double ts)
{
    struct mitm_http_response *r = mitm_http_response_new();
    r->http_version = mitm_strdup("HTTP/1.1");
    r->status_code = status;
    r->reason = mitm_strdup(mitm_http_reason(status));
    for (size_t i = 0; headers && headers[i]; i += 2)
        mitm_headers_add(&r->headers, headers[i], strlen(headers[i]), headers[i + 1], strlen(headers[i + 1]));
    if (body)
        mitm_buf_append(&r->content, body, strlen(body));
    r->timestamp_start = r->timestamp_end = ts;
    f->response = r;
}

#define HDRS(...) ((const char *const[]){__VA_ARGS__, NULL})

#endif
