/* The HTTP/2 codec (src/proto/http2/h2conn.c) against itself: a client-role codec (the proxy
 * toward an h2 server) and a server-role codec (the proxy toward an h2 client) pumped into
 * each other over memory, so translation, flow control and resets are checked on the
 * neutral events both sides produce. */
#include <criterion/criterion.h>
#include <string.h>

#include "base/alloc.h"
#include "core/options.h"
#include "layer/layer.h"
#include "proto/http/http.h"
#include "proto/http2/h2conn.h"

#define MAX_EVENTS 256

struct side {
    struct mitm_layer layer;
    struct mitm_http_codec *codec;
    struct mitm_http_event *ev[MAX_EVENTS];
    size_t n;
    size_t data; /* DATA bytes seen */
};

static void noop_handle(struct mitm_layer *l, const struct mitm_event *ev)
{
    (void)l;
    (void)ev;
}

static void noop_destroy(struct mitm_layer *l)
{
    (void)l;
}

static const struct mitm_layer_vt vt = {.name = "owner", .handle = noop_handle, .destroy = noop_destroy};

static void collect(void *arg, struct mitm_http_codec *c, struct mitm_http_event *ev)
{
    (void)c;
    struct side *s = arg;
    if (ev->type == MITM_HTTP_REQUEST_DATA || ev->type == MITM_HTTP_RESPONSE_DATA)
        s->data += ev->len;
    cr_assert(s->n < MAX_EVENTS);
    s->ev[s->n++] = ev;
}

static struct mitm_options opts;
static struct mitm_ctx ctx;
static struct mitm_conn *upstream;
static struct side proxy_c, proxy_s; /* client role (toward a server), server role (toward a client) */

static void setup(void)
{
    mitm_options_init(&opts);
    mitm_ctx_init(&ctx, &opts);
    upstream = mitm_ctx_conn_new(&ctx, "origin.test", 443);
    upstream->state = MITM_CONN_OPEN;
    mitm_layer_init(&proxy_c.layer, &vt, &ctx, NULL);
    mitm_layer_init(&proxy_s.layer, &vt, &ctx, NULL);
    proxy_s.codec = mitm_h2conn_new(MITM_CODEC_SERVER, &proxy_s.layer, upstream, NULL, collect, &proxy_s);
    proxy_c.codec = mitm_h2conn_new(MITM_CODEC_CLIENT, &proxy_c.layer, ctx.client, NULL, collect, &proxy_c);
}

static void teardown(void)
{
    struct side *all[] = {&proxy_c, &proxy_s};
    for (int k = 0; k < 2; k++) {
        mitm_http_codec_free(all[k]->codec);
        for (size_t i = 0; i < all[k]->n; i++)
            mitm_http_event_free(all[k]->ev[i]);
        mitm_layer_deinit(&all[k]->layer);
        memset(all[k], 0, sizeof(*all[k]));
    }
    mitm_ctx_free(&ctx);
    mitm_options_free(&opts);
}

/* Deliver every queued SEND to the other codec until both are quiet. */
static void pump(void)
{
    for (int guard = 0; guard < 1000; guard++) {
        struct mitm_cmd *c = mitm_ctx_next_cmd(&ctx);
        if (!c)
            return;
        if (c->type == MITM_CMD_SEND) {
            struct side *to = c->origin == &proxy_c.layer ? &proxy_s : &proxy_c;
            mitm_http_codec_feed(to->codec, c->data, c->len);
        }
        mitm_cmd_free(c);
    }
    cr_assert_fail("pump did not settle");
}

static struct mitm_http_event *find(struct side *s, enum mitm_http_ev_type t, uint32_t sid)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->ev[i]->type == t && (!sid || s->ev[i]->stream_id == sid))
            return s->ev[i];
    return NULL;
}

static const char *hget(const struct mitm_headers *h, const char *name)
{
    size_t len;
    const char *v = mitm_headers_get(h, name, &len);
    return v ? v : "(none)";
}

/* An HTTP/1-shaped request, as stream.c hands it to a codec. */
static void send_request(uint32_t sid, const char *method, bool end)
{
    struct mitm_http_event *e = mitm_http_event_new(MITM_HTTP_REQUEST_HEADERS, sid);
    struct mitm_http_request *r = e->req = mitm_http_request_new();
    r->method = mitm_strdup(method);
    r->scheme = mitm_strdup("https");
    r->authority = mitm_strdup("");
    r->host = mitm_strdup("origin.test");
    r->port = 443;
    r->path = mitm_strdup("/p?q=1");
    r->http_version = mitm_strdup("HTTP/1.1");
    mitm_headers_add(&r->headers, "Host", 4, "origin.test", 11);
    mitm_headers_add(&r->headers, "Connection", 10, "keep-alive, X-Hop", 17);
    mitm_headers_add(&r->headers, "X-Hop", 5, "1", 1);
    mitm_headers_add(&r->headers, "Transfer-Encoding", 17, "chunked", 7);
    mitm_headers_add(&r->headers, "Cookie", 6, "a=1; b=2", 8);
    mitm_headers_add(&r->headers, "X-Keep", 6, "Yes", 3);
    e->end_stream = end;
    mitm_http_codec_send(proxy_c.codec, e);
}

TestSuite(h2conn, .init = setup, .fini = teardown);

Test(h2conn, request_translated_both_ways_with_trailers)
{
    pump(); /* prefaces and SETTINGS */
    send_request(7, "POST", false);
    mitm_http_codec_send(proxy_c.codec,
                         mitm_http_event_data(MITM_HTTP_REQUEST_DATA, 7, (const uint8_t *)"body", 4));
    struct mitm_http_event *end = mitm_http_event_new(MITM_HTTP_REQUEST_END, 7);
    end->trailers = mitm_calloc(1, sizeof(*end->trailers));
    mitm_headers_add(end->trailers, "X-Sum", 5, "42", 2);
    mitm_http_codec_send(proxy_c.codec, end);
    pump();
    struct mitm_http_event *h = find(&proxy_s, MITM_HTTP_REQUEST_HEADERS, 0);
    cr_assert(h);
    uint32_t sid = h->stream_id;
    cr_assert_eq(sid, 1, "the first client stream of the connection");
    const struct mitm_http_request *r = h->req;
    cr_assert_str_eq(r->method, "POST");
    cr_assert_str_eq(r->scheme, "https");
    cr_assert_str_eq(r->authority, "origin.test", "Host became :authority");
    cr_assert_str_eq(r->host, "origin.test");
    cr_assert_eq(r->port, 443);
    cr_assert_str_eq(r->path, "/p?q=1");
    cr_assert_str_eq(r->http_version, "HTTP/2.0");
    cr_assert_str_eq(hget(&r->headers, "cookie"), "a=1; b=2", "crumbs split out, joined in");
    cr_assert_str_eq(hget(&r->headers, "x-keep"), "Yes");
    cr_assert_eq(mitm_headers_count(&r->headers, "cookie"), 1);
    const char *gone[] = {"host", "connection", "x-hop", "transfer-encoding"};
    for (size_t i = 0; i < 4; i++)
        cr_assert_null(mitm_headers_get(&r->headers, gone[i], NULL), "%s must not cross to HTTP/2", gone[i]);
    struct mitm_http_event *d = find(&proxy_s, MITM_HTTP_REQUEST_DATA, sid);
    cr_assert(d && d->len == 4 && memcmp(d->data, "body", 4) == 0);
    struct mitm_http_event *e = find(&proxy_s, MITM_HTTP_REQUEST_END, sid);
    cr_assert(e && e->trailers);
    cr_assert_str_eq(hget(e->trailers, "x-sum"), "42");

    /* the response back, with the layer's id 7 on the client-role side */
    struct mitm_http_event *rh = mitm_http_event_new(MITM_HTTP_RESPONSE_HEADERS, sid);
    rh->resp = mitm_http_response_new();
    rh->resp->http_version = mitm_strdup("HTTP/1.1");
    rh->resp->status_code = 201;
    rh->resp->reason = mitm_strdup("Created");
    mitm_headers_add(&rh->resp->headers, "Keep-Alive", 10, "timeout=5", 9);
    mitm_headers_add(&rh->resp->headers, "Content-Length", 14, "2", 1);
    mitm_http_codec_send(proxy_s.codec, rh);
    mitm_http_codec_send(proxy_s.codec,
                         mitm_http_event_data(MITM_HTTP_RESPONSE_DATA, sid, (const uint8_t *)"ok", 2));
    mitm_http_codec_send(proxy_s.codec, mitm_http_event_new(MITM_HTTP_RESPONSE_END, sid));
    pump();
    struct mitm_http_event *resp = find(&proxy_c, MITM_HTTP_RESPONSE_HEADERS, 7);
    cr_assert(resp);
    cr_assert_eq(resp->resp->status_code, 201);
    cr_assert_str_eq(resp->resp->http_version, "HTTP/2.0");
    cr_assert_str_eq(resp->resp->reason, "", "HTTP/2 has no reason phrase");
    cr_assert_null(mitm_headers_get(&resp->resp->headers, "keep-alive", NULL));
    cr_assert(find(&proxy_c, MITM_HTTP_RESPONSE_END, 7));
    cr_assert_eq(proxy_c.data, 2);
    cr_assert(mitm_http_codec_reusable(proxy_c.codec));
}

Test(h2conn, a_stream_window_opens_only_when_consumed)
{
    pump();
    send_request(1, "PUT", false);
    size_t total = 3u << 20; /* three times the stream window we announce */
    uint8_t *chunk = mitm_calloc(1, 64 * 1024);
    for (size_t sent = 0; sent < total; sent += 64 * 1024)
        mitm_http_codec_send(proxy_c.codec,
                             mitm_http_event_data(MITM_HTTP_REQUEST_DATA, 1, chunk, 64 * 1024));
    free(chunk);
    mitm_http_codec_send(proxy_c.codec, mitm_http_event_new(MITM_HTTP_REQUEST_END, 1));
    pump();
    /* nobody consumed: the sender stops at the stream's window (1 MiB) */
    cr_assert_eq(proxy_s.data, 1u << 20, "got %zu", proxy_s.data);
    /* a second stream is not held back by the first */
    send_request(2, "GET", true);
    pump();
    struct mitm_http_event *second = NULL;
    for (size_t i = 0; i < proxy_s.n; i++)
        if (proxy_s.ev[i]->type == MITM_HTTP_REQUEST_HEADERS && proxy_s.ev[i]->stream_id == 3)
            second = proxy_s.ev[i];
    cr_assert(second, "stream 3 arrived while stream 1 waits");
    size_t acked = 0;
    for (int round = 0; round < 20 && proxy_s.data < total; round++) {
        mitm_http_codec_consumed(proxy_s.codec, 1, proxy_s.data - acked); /* what stream.c handled */
        acked = proxy_s.data;
        pump();
        cr_assert(proxy_s.data > acked, "the window opened again");
    }
    cr_assert_eq(proxy_s.data, total);
    cr_assert(find(&proxy_s, MITM_HTTP_REQUEST_END, 1));
}

Test(h2conn, cancel_resets_one_stream_only)
{
    pump();
    send_request(1, "GET", true);
    send_request(2, "GET", true);
    pump();
    mitm_http_codec_cancel(proxy_c.codec, 1); /* the proxy gives up stream 1 upstream */
    pump();
    struct mitm_http_event *err = find(&proxy_s, MITM_HTTP_REQUEST_ERROR, 1);
    cr_assert(err, "the h2 peer learns stream 1 was reset");
    cr_assert(strstr(err->msg, "reset by client (CANCEL)"), "%s", err->msg);
    cr_assert_null(find(&proxy_s, MITM_HTTP_REQUEST_ERROR, 3));
    cr_assert_null(find(&proxy_c, MITM_HTTP_RESPONSE_ERROR, 1), "no error back for our own cancel");
    cr_assert(mitm_http_codec_reusable(proxy_c.codec));
}
