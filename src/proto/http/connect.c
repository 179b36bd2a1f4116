/* The CONNECT filter: see connect.h. */
#include "proto/http/connect.h"
#include "base/alloc.h"
#include "base/buf.h"
#include "base/log.h"
#include "layer/cfilter.h"
#include "proto/http/http.h"
#include "proto/http1/h1.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The proxy's answer head may be this large. */
#define HEAD_CAP ((size_t)64 << 10)

struct connect_filter {
    struct mitm_cfilter base;
    char *auth;
    bool host_header, tunnel;
    struct mitm_buf in; /* the answer head as it arrives */
};

static void target(const struct mitm_conn *c, char *out, size_t cap)
{
    bool v6 = strchr(c->host, ':') != NULL;
    snprintf(out, cap, v6 ? "[%s]:%u" : "%s:%u", c->host, c->port);
}

static void connect_start(struct mitm_cfilter *f)
{
    struct connect_filter *cf = (struct connect_filter *)f;
    char t[300], head[1200];
    target(f->conn, t, sizeof(t));
    int n = snprintf(head, sizeof(head), "CONNECT %s HTTP/1.1\r\n", t);
    if (cf->host_header)
        n += snprintf(head + n, sizeof(head) - (size_t)n, "Host: %s\r\n", t);
    if (cf->auth)
        n += snprintf(head + n, sizeof(head) - (size_t)n, "Proxy-Authorization: %s\r\n", cf->auth);
    n += snprintf(head + n, sizeof(head) - (size_t)n, "\r\n");
    mitm_cfilter_down(f, head, (size_t)n);
}

static void refused(struct connect_filter *cf, const char *why)
{
    struct mitm_conn *c = cf->base.conn;
    char t[300], msg[700];
    target(c, t, sizeof(t));
    snprintf(msg, sizeof(msg), "Upstream proxy %s:%u refused the CONNECT to %s: %s",
             c->via_host ? c->via_host : "?", c->via_port, t, why);
    mitm_cfilter_log(&cf->base, MITM_LOG_INFO, "%s", msg);
    mitm_cfilter_fail(&cf->base, msg);
}

static void connect_recv(struct mitm_cfilter *f, struct mitm_slice data)
{
    struct connect_filter *cf = (struct connect_filter *)f;
    if (cf->tunnel) {
        mitm_cfilter_up(f, data);
        return;
    }
    if (f->failed)
        return;
    if (mitm_buf_append(&cf->in, data.base, data.len) < 0) {
        refused(cf, "answer head too large");
        return;
    }
    struct mitm_h1_limits lim = {.max_line = HEAD_CAP, .max_head = HEAD_CAP, .validate = true};
    struct mitm_http_response *r = mitm_http_response_new();
    const char *reason = NULL;
    ssize_t n = mitm_h1_parse_response_head(mitm_buf_data(&cf->in), cf->in.len, &lim, r, &reason);
    if (n == MITM_INCOMPLETE) {
        mitm_http_response_free(r);
        return;
    }
    if (n < 0) {
        mitm_http_response_free(r);
        refused(cf, reason ? reason : "malformed answer");
        return;
    }
    if (r->status_code < 200 || r->status_code > 299) {
        char why[300];
        snprintf(why, sizeof(why), "%d %s", r->status_code, r->reason ? r->reason : "");
        mitm_http_response_free(r);
        refused(cf, why);
        return;
    }
    mitm_http_response_free(r);
    cf->tunnel = true;
    size_t len;
    uint8_t *all = mitm_buf_steal(&cf->in, &len);
    mitm_cfilter_ready(f);
    if ((size_t)n < len) /* the tunnel's first bytes came with the head */
        mitm_cfilter_up(f, mitm_slice(all + n, len - (size_t)n));
    free(all);
}

static void connect_closed(struct mitm_cfilter *f, bool half)
{
    struct connect_filter *cf = (struct connect_filter *)f;
    if (!cf->tunnel) {
        refused(cf, "the proxy closed the connection");
        return;
    }
    mitm_cfilter_up_closed(f, half);
}

static void connect_send(struct mitm_cfilter *f, struct mitm_slice data)
{
    if (((struct connect_filter *)f)->tunnel)
        mitm_cfilter_down(f, data.base, data.len);
}

static void connect_close(struct mitm_cfilter *f, bool half)
{
    mitm_cfilter_down_close(f, half);
}

static void connect_destroy(struct mitm_cfilter *f)
{
    struct connect_filter *cf = (struct connect_filter *)f;
    free(cf->auth);
    mitm_buf_free(&cf->in);
    free(cf);
}

static const struct mitm_cfilter_vt connect_vt = {.name = "http-connect",
                                                  .start = connect_start,
                                                  .recv = connect_recv,
                                                  .closed = connect_closed,
                                                  .send = connect_send,
                                                  .close = connect_close,
                                                  .destroy = connect_destroy};

void mitm_http_connect_push(struct mitm_ctx *ctx, struct mitm_conn *conn, const char *proxy_auth,
                            bool host_header)
{
    struct connect_filter *cf = mitm_calloc(1, sizeof(*cf));
    cf->base.vt = &connect_vt;
    cf->auth = proxy_auth ? mitm_strdup(proxy_auth) : NULL;
    cf->host_header = host_header;
    mitm_buf_init(&cf->in, HEAD_CAP);
    mitm_cfilter_push(ctx, conn, &cf->base);
}

void mitm_http_basic_auth(const char *userpass, char *out, size_t cap)
{
    size_t n = strlen(userpass);
    size_t need = 6 + 4 * ((n + 2) / 3) + 1;
    if (cap < need || n > 4096) {
        if (cap)
            out[0] = 0;
        return;
    }
    memcpy(out, "Basic ", 6);
    EVP_EncodeBlock((unsigned char *)out + 6, (const unsigned char *)userpass, (int)n);
}
