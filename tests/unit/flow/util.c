#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "proto/http/http.h"

static void add_headers(struct mitm_headers *h, va_list ap)
{
    for (;;) {
        const char *k = va_arg(ap, const char *);
        if (!k)
            break;
        const char *v = va_arg(ap, const char *);
        mitm_headers_add(h, k, strlen(k), v, strlen(v));
    }
}

struct mitm_flow *t_flow(const char *method, const char *scheme, const char *host, unsigned port,
                         const char *path, const void *body, size_t blen, ...)
{
    struct mitm_flow *f = mitm_flow_new(MITM_FLOW_HTTP, 1700000000.25);
    struct mitm_http_request *r = mitm_http_request_new();
    f->request = r;
    mitm_str_set(&r->method, method, strlen(method));
    mitm_str_set(&r->scheme, scheme, strlen(scheme));
    mitm_str_set(&r->authority, "", 0);
    mitm_str_set(&r->host, host, strlen(host));
    r->port = (uint16_t)port;
    mitm_str_set(&r->path, path, strlen(path));
    mitm_str_set(&r->http_version, "HTTP/1.1", 8);
    r->form = MITM_TARGET_ORIGIN;
    if (body)
        mitm_buf_append(&r->content, body, blen);
    va_list ap;
    va_start(ap, blen);
    add_headers(&r->headers, ap);
    va_end(ap);
    r->timestamp_start = 1700000000.25;
    r->timestamp_end = 1700000000.5;
    return f;
}

void t_response(struct mitm_flow *f, int status, const void *body, size_t blen, ...)
{
    struct mitm_http_response *r = mitm_http_response_new();
    f->response = r;
    r->status_code = status;
    const char *reason = mitm_http_reason(status);
    mitm_str_set(&r->reason, reason, strlen(reason));
    mitm_str_set(&r->http_version, "HTTP/1.1", 8);
    if (body)
        mitm_buf_append(&r->content, body, blen);
    va_list ap;
    va_start(ap, blen);
    add_headers(&r->headers, ap);
    va_end(ap);
    r->timestamp_start = 1700000000.75;
    r->timestamp_end = 1700000001.0;
}

char *t_read_file(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return NULL;
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    char *p = mitm_alloc((size_t)n + 1);
    *len = fread(p, 1, (size_t)n, fp);
    p[*len] = 0;
    fclose(fp);
    return p;
}
