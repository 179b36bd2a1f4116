#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "base/log.h"
#include "flow/flow.h"
#include "flow/flowfile.h"
#include "proto/http/http.h"

extern const char *flow_fixtures_dir;

#define MAX_FLOWS 16

struct loaded {
    struct mitm_flow *f[MAX_FLOWS];
    size_t n;
    int last; /* the result that ended reading */
    char err[512];
    size_t skipped;
};

static void loaded_free(struct loaded *l)
{
    for (size_t i = 0; i < l->n; i++)
        mitm_flow_unref(l->f[i]);
    l->n = 0;
}

static void read_reader(struct mitm_flowfile_reader *r, struct loaded *l)
{
    memset(l, 0, sizeof(*l));
    for (int guard = 0; guard < 64; guard++) {
        struct mitm_flow *f = NULL;
        l->last = mitm_flowfile_next(r, &f, l->err, sizeof(l->err));
        if (l->last != MITM_FLOWFILE_FLOW) {
            cr_assert_null(f);
            break;
        }
        cr_assert_lt(l->n, MAX_FLOWS);
        l->f[l->n++] = f;
    }
    l->skipped = mitm_flowfile_skipped(r);
    cr_assert_eq(mitm_flowfile_count(r), l->n);
}

static uint8_t *slurp(const char *name, size_t *len)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", flow_fixtures_dir, name);
    FILE *fp = fopen(path, "rb");
    cr_assert_not_null(fp, "%s: %s", path, strerror(errno));
    uint8_t *buf = malloc(1 << 20);
    *len = fread(buf, 1, 1 << 20, fp);
    fclose(fp);
    return buf;
}

static void read_file(const char *name, struct loaded *l)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", flow_fixtures_dir, name);
    int fd = open(path, O_RDONLY);
    cr_assert_geq(fd, 0, "%s: %s", path, strerror(errno));
    struct mitm_flowfile_reader *r = mitm_flowfile_open(fd);
    read_reader(r, l);
    mitm_flowfile_close(r);
    close(fd);
}

static void read_mem(const void *p, size_t len, struct loaded *l)
{
    struct mitm_flowfile_reader *r = mitm_flowfile_open_mem(p, len);
    read_reader(r, l);
    mitm_flowfile_close(r);
}

/* ---- exact-value helpers ---- */

static void assert_bytes(const void *got, size_t glen, const char *want, size_t wlen, const char *what)
{
    cr_assert_eq(glen, wlen, "%s: length %zu, want %zu (%.*s)", what, glen, wlen, (int)glen,
                 (const char *)got);
    cr_assert_eq(memcmp(got, want, wlen), 0, "%s: got %.*s", what, (int)glen, (const char *)got);
}

#define ASSERT_STR(got, want)  cr_assert_str_eq((got) ? (got) : "(null)", want, "%s", #got)
#define ASSERT_BODY(buf, want) assert_bytes(mitm_buf_data(&(buf)), (buf).len, want, sizeof(want) - 1, #buf)

static void assert_headers(const struct mitm_headers *h, const char *const *pairs, size_t n)
{
    cr_assert_eq(h->n, n, "header count %zu, want %zu", h->n, n);
    for (size_t i = 0; i < n; i++) {
        assert_bytes(h->v[i].name, h->v[i].name_len, pairs[2 * i], strlen(pairs[2 * i]), "header name");
        assert_bytes(h->v[i].value, h->v[i].value_len, pairs[2 * i + 1], strlen(pairs[2 * i + 1]),
                     "header value");
    }
}
#define HEADERS(h, ...)                                                                                      \
    do {                                                                                                     \
        static const char *const p_[] = {__VA_ARGS__};                                                       \
        assert_headers(h, p_, sizeof(p_) / sizeof(p_[0]) / 2);                                               \
    } while (0)

static void assert_strlist(const struct mitm_strlist *l, const char *const *want, size_t n)
{
    cr_assert_eq(l->n, n);
    for (size_t i = 0; i < n; i++)
        assert_bytes(l->v[i], l->lens[i], want[i], strlen(want[i]), "list item");
}
#define STRLIST(l, ...)                                                                                      \
    do {                                                                                                     \
        static const char *const p_[] = {__VA_ARGS__};                                                       \
        assert_strlist(l, p_, sizeof(p_) / sizeof(p_[0]));                                                   \
    } while (0)

/* ---- field-by-field equality of two flows ---- */

static bool str_eq(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static bool mem_eq(const void *a, size_t al, const void *b, size_t bl)
{
    return al == bl && (al == 0 || memcmp(a, b, al) == 0);
}

static bool strlist_eq(const struct mitm_strlist *a, const struct mitm_strlist *b)
{
    if (a->n != b->n)
        return false;
    for (size_t i = 0; i < a->n; i++)
        if (!mem_eq(a->v[i], a->lens[i], b->v[i], b->lens[i]))
            return false;
    return true;
}

static bool headers_eq(const struct mitm_headers *a, const struct mitm_headers *b)
{
    if (!a || !b)
        return a == b;
    if (a->n != b->n)
        return false;
    for (size_t i = 0; i < a->n; i++)
        if (!mem_eq(a->v[i].name, a->v[i].name_len, b->v[i].name, b->v[i].name_len) ||
            !mem_eq(a->v[i].value, a->v[i].value_len, b->v[i].value, b->v[i].value_len))
            return false;
    return true;
}

#define EQ(cond)                                                                                             \
    do {                                                                                                     \
        if (!(cond)) {                                                                                       \
            cr_log_error("differs: %s", #cond);                                                              \
            return false;                                                                                    \
        }                                                                                                    \
    } while (0)

static bool conn_eq(const struct mitm_conn_info *a, const struct mitm_conn_info *b)
{
    EQ(!strcmp(a->id, b->id));
    EQ(str_eq(a->peer_host, b->peer_host) && a->peer_port == b->peer_port);
    EQ(str_eq(a->sock_host, b->sock_host) && a->sock_port == b->sock_port);
    EQ(str_eq(a->address_host, b->address_host) && a->address_port == b->address_port);
    EQ(str_eq(a->error, b->error) && a->tls == b->tls);
    EQ(strlist_eq(&a->certificate_list, &b->certificate_list));
    EQ((!a->alpn && !b->alpn) || (a->alpn && b->alpn && mem_eq(a->alpn, a->alpn_len, b->alpn, b->alpn_len)));
    EQ(strlist_eq(&a->alpn_offers, &b->alpn_offers) && strlist_eq(&a->cipher_list, &b->cipher_list));
    EQ(str_eq(a->cipher, b->cipher) && str_eq(a->tls_version, b->tls_version) && str_eq(a->sni, b->sni));
    EQ(a->timestamp_start == b->timestamp_start && a->timestamp_end == b->timestamp_end);
    EQ(a->timestamp_tls_setup == b->timestamp_tls_setup && a->timestamp_tcp_setup == b->timestamp_tcp_setup);
    EQ(str_eq(a->mitmcert, b->mitmcert) && str_eq(a->proxy_mode, b->proxy_mode));
    EQ(str_eq(a->via_scheme, b->via_scheme) && str_eq(a->via_host, b->via_host) &&
       a->via_port == b->via_port);
    return true;
}

static bool websocket_eq(const struct mitm_websocket_data *a, const struct mitm_websocket_data *b)
{
    if (!a || !b)
        return a == b;
    EQ(a->n_messages == b->n_messages && a->closed_by_client == b->closed_by_client);
    EQ(a->close_code == b->close_code && a->timestamp_end == b->timestamp_end);
    EQ(!a->close_reason == !b->close_reason &&
       mem_eq(a->close_reason, a->close_reason_len, b->close_reason, b->close_reason_len));
    for (size_t i = 0; i < a->n_messages; i++) {
        const struct mitm_websocket_message *x = &a->messages[i], *y = &b->messages[i];
        EQ(x->type == y->type && x->from_client == y->from_client && x->timestamp == y->timestamp);
        EQ(x->dropped == y->dropped && x->injected == y->injected &&
           mem_eq(x->content, x->len, y->content, y->len));
    }
    return true;
}

static bool flows_eq(const struct mitm_flow *a, const struct mitm_flow *b)
{
    EQ(a->type == b->type && !strcmp(a->id, b->id));
    EQ(conn_eq(&a->client_conn, &b->client_conn) && conn_eq(&a->server_conn, &b->server_conn));
    EQ((!a->error && !b->error) || (a->error && b->error && str_eq(a->error->msg, b->error->msg) &&
                                    a->error->timestamp == b->error->timestamp));
    EQ(a->intercepted == b->intercepted && str_eq(a->is_replay, b->is_replay));
    EQ(str_eq(a->marked, b->marked) && str_eq(a->comment, b->comment));
    EQ(a->timestamp_created == b->timestamp_created && a->n_metadata == b->n_metadata);
    for (size_t i = 0; i < a->n_metadata; i++) {
        EQ(str_eq(a->metadata[i].key, b->metadata[i].key));
        EQ(mem_eq(a->metadata[i].tns, a->metadata[i].tns_len, b->metadata[i].tns, b->metadata[i].tns_len));
    }
    EQ(!a->request == !b->request && !a->response == !b->response && a->n_messages == b->n_messages);
    EQ(websocket_eq(a->websocket, b->websocket));
    if (a->request) {
        const struct mitm_http_request *x = a->request, *y = b->request;
        EQ(str_eq(x->method, y->method) && str_eq(x->scheme, y->scheme) &&
           str_eq(x->authority, y->authority));
        EQ(str_eq(x->host, y->host) && x->port == y->port && str_eq(x->path, y->path));
        EQ(str_eq(x->http_version, y->http_version) && x->form == y->form);
        EQ(headers_eq(&x->headers, &y->headers) && headers_eq(x->trailers, y->trailers));
        EQ(x->content_missing == y->content_missing);
        EQ(mem_eq(mitm_buf_data(&x->content), x->content.len, mitm_buf_data(&y->content), y->content.len));
        EQ(x->timestamp_start == y->timestamp_start && x->timestamp_end == y->timestamp_end);
    }
    if (a->response) {
        const struct mitm_http_response *x = a->response, *y = b->response;
        EQ(str_eq(x->http_version, y->http_version) && x->status_code == y->status_code);
        EQ(str_eq(x->reason, y->reason));
        EQ(headers_eq(&x->headers, &y->headers) && headers_eq(x->trailers, y->trailers));
        EQ(x->content_missing == y->content_missing);
        EQ(mem_eq(mitm_buf_data(&x->content), x->content.len, mitm_buf_data(&y->content), y->content.len));
        EQ(x->timestamp_start == y->timestamp_start && x->timestamp_end == y->timestamp_end);
    }
    for (size_t i = 0; i < a->n_messages; i++) {
        EQ(a->messages[i].from_client == b->messages[i].from_client);
        EQ(mem_eq(a->messages[i].content, a->messages[i].len, b->messages[i].content, b->messages[i].len));
        EQ(a->messages[i].timestamp == b->messages[i].timestamp);
    }
    return true;
}

/* ---- files captured with Debian's mitmdump 8.1.1 (version 17) ---- */

Test(flowfile, mitmdump_8_1_1_capture)
{
    struct loaded l;
    read_file("mitmdump-8.1.1.flows", &l);
    cr_assert_eq(l.last, MITM_FLOWFILE_EOF, "%s", l.err);
    cr_assert_eq(l.n, 5);
    cr_assert_eq(l.skipped, 0);

    struct mitm_flow *f = l.f[0];
    cr_assert_eq(f->type, MITM_FLOW_HTTP);
    ASSERT_STR(f->id, "35a7909f-97c8-4d4b-a186-654077f97e5d");
    cr_assert_eq(f->timestamp_created, 1795266014.6687553);
    ASSERT_STR(f->client_conn.id, "770aaadd-22bc-4e96-8add-4d16d1bdcfc5");
    ASSERT_STR(f->client_conn.peer_host, "127.0.0.1");
    cr_assert_eq(f->client_conn.peer_port, 46470);
    ASSERT_STR(f->client_conn.sock_host, "127.0.0.1");
    cr_assert_eq(f->client_conn.sock_port, 35219);
    cr_assert_eq(f->client_conn.timestamp_start, 1795266014.666447);
    ASSERT_STR(f->client_conn.proxy_mode, "regular"); /* added by the 17 -> 18 migration */
    cr_assert_not(f->client_conn.tls);
    cr_assert_null(f->client_conn.sni);
    ASSERT_STR(f->server_conn.id, "547a21d0-2d09-42f3-8203-b40d6783e086");
    ASSERT_STR(f->server_conn.address_host, "127.0.0.1");
    cr_assert_eq(f->server_conn.address_port, 36869);
    ASSERT_STR(f->server_conn.peer_host, "127.0.0.1"); /* was ip_address */
    cr_assert_eq(f->server_conn.peer_port, 36869);
    cr_assert_eq(f->server_conn.sock_port, 42296); /* was source_address */
    cr_assert_eq(f->server_conn.timestamp_tcp_setup, 1795266014.6698506);
    cr_assert_null(f->server_conn.via_host);
    ASSERT_STR(f->marked, "");
    ASSERT_STR(f->comment, "");
    cr_assert_null(f->is_replay);
    cr_assert_null(f->error);

    struct mitm_http_request *rq = f->request;
    ASSERT_STR(rq->method, "GET");
    ASSERT_STR(rq->scheme, "http");
    ASSERT_STR(rq->authority, "");
    ASSERT_STR(rq->host, "127.0.0.1");
    cr_assert_eq(rq->port, 36869);
    ASSERT_STR(rq->path, "/hello?x=1");
    ASSERT_STR(rq->http_version, "HTTP/1.1");
    HEADERS(&rq->headers, "Host", "127.0.0.1:36869", "User-Agent", "curl/7.88.1", "Accept", "*/*",
            "Proxy-Connection", "Keep-Alive");
    cr_assert_eq(rq->content.len, 0);
    cr_assert_not(rq->content_missing);
    cr_assert_null(rq->trailers);
    cr_assert_eq(rq->timestamp_start, 1795266014.6685452);
    cr_assert_eq(rq->timestamp_end, 1795266014.669042);
    struct mitm_http_response *rs = f->response;
    cr_assert_eq(rs->status_code, 200);
    ASSERT_STR(rs->reason, "OK");
    ASSERT_STR(rs->http_version, "HTTP/1.1");
    HEADERS(&rs->headers, "Server", "BaseHTTP/0.6 Python/3.11.2", "Date", "Sat, 21 Nov 2026 13:00:14 GMT",
            "Content-Type", "text/plain", "X-Dup", "one", "X-Dup", "two", "Content-Length", "31");
    ASSERT_BODY(rs->content, "hello from upstream /hello?x=1\n");
    cr_assert_eq(rs->timestamp_start, 1795266014.6704118);
    cr_assert_eq(rs->timestamp_end, 1795266014.6707776);

    /* POST with a body */
    rq = l.f[1]->request;
    ASSERT_STR(rq->method, "POST");
    ASSERT_STR(rq->path, "/submit");
    HEADERS(&rq->headers, "Host", "127.0.0.1:36869", "User-Agent", "curl/7.88.1", "Accept", "*/*",
            "Proxy-Connection", "Keep-Alive", "Content-Type", "application/x-www-form-urlencoded",
            "Content-Length", "9");
    ASSERT_BODY(rq->content, "a=1&b=two");
    cr_assert_eq(l.f[1]->response->status_code, 201);
    ASSERT_STR(l.f[1]->response->reason, "Created");
    ASSERT_BODY(l.f[1]->response->content, "got 9 bytes\n");

    /* gzip response: content is kept encoded */
    rs = l.f[2]->response;
    HEADERS(&l.f[2]->request->headers, "Host", "127.0.0.1:36869", "User-Agent", "curl/7.88.1", "Accept",
            "*/*", "Accept-Encoding", "deflate, gzip, br, zstd", "Proxy-Connection", "Keep-Alive");
    size_t ce_len;
    const char *ce = mitm_headers_get(&rs->headers, "content-encoding", &ce_len);
    assert_bytes(ce, ce_len, "gzip", 4, "content-encoding");
    cr_assert_eq(rs->content.len, 40);
    uint8_t plain[256];
    uLongf plain_len = sizeof(plain);
    z_stream z = {0};
    cr_assert_eq(inflateInit2(&z, 16 + MAX_WBITS), Z_OK);
    z.next_in = (Bytef *)mitm_buf_data(&rs->content);
    z.avail_in = (uInt)rs->content.len;
    z.next_out = plain;
    z.avail_out = (uInt)plain_len;
    cr_assert_eq(inflate(&z, Z_FINISH), Z_STREAM_END);
    inflateEnd(&z);
    assert_bytes(plain, z.total_out,
                 "hello gzip world\nhello gzip world\nhello gzip world\nhello gzip world\n", 68,
                 "gunzipped body");

    /* 404 */
    cr_assert_eq(l.f[3]->response->status_code, 404);
    ASSERT_STR(l.f[3]->response->reason, "Not Found");
    ASSERT_STR(l.f[3]->request->path, "/missing");
    ASSERT_BODY(l.f[3]->response->content, "not found\n");

    /* duplicate request headers keep order and spelling */
    HEADERS(&l.f[4]->request->headers, "Host", "127.0.0.1:36869", "User-Agent", "curl/7.88.1",
            "Proxy-Connection", "Keep-Alive", "X-Multi", "first", "X-Multi", "second", "Accept", "*/*");
    ASSERT_STR(l.f[4]->id, "e788a613-a0b6-4fd7-9aec-80a50313d4ec");
    loaded_free(&l);
}

/* ---- hand-built version 21 (make_v21.py) ---- */

Test(flowfile, version_21_every_field)
{
    struct loaded l;
    read_file("flows-v21.mitm", &l);
    cr_assert_eq(l.last, MITM_FLOWFILE_EOF, "%s", l.err);
    cr_assert_eq(l.n, 3, "https, tcp, plain (dns skipped)");
    cr_assert_eq(l.skipped, 1);

    struct mitm_flow *f = l.f[0];
    ASSERT_STR(f->id, "11111111-1111-4111-8111-111111111111");
    ASSERT_STR(f->error->msg, "Connection killed.");
    cr_assert_eq(f->error->timestamp, 1700000002.25);
    ASSERT_STR(f->is_replay, "request");
    ASSERT_STR(f->marked, ":default:");
    ASSERT_STR(f->comment, "a comment \xe2\x9c\x93");
    cr_assert_eq(f->timestamp_created, 1700000000.123456);
    cr_assert_not(f->intercepted);
    /* metadata in file order (make_v21.py writes dicts reversed, like mitmproxy) */
    cr_assert_eq(f->n_metadata, 4);
    ASSERT_STR(f->metadata[0].key, "raw");
    assert_bytes(f->metadata[0].tns, f->metadata[0].tns_len, "2:\x00\xff,", 5, "metadata raw");
    ASSERT_STR(f->metadata[1].key, "nested");
    const char nested[] = "28:1:a;20:1:1#3:2.5^0:~4:true!]}";
    assert_bytes(f->metadata[1].tns, f->metadata[1].tns_len, nested, sizeof(nested) - 1, "metadata nested");
    ASSERT_STR(f->metadata[2].key, "n");
    assert_bytes(f->metadata[2].tns, f->metadata[2].tns_len, "1:3#", 4, "metadata n");
    ASSERT_STR(f->metadata[3].key, "note");
    assert_bytes(f->metadata[3].tns, f->metadata[3].tns_len, "2:hi;", 5, "metadata note");

    const struct mitm_conn_info *c = &f->client_conn;
    ASSERT_STR(c->id, "00000000-0000-4000-8000-000000000001");
    ASSERT_STR(c->peer_host, "127.0.0.1");
    cr_assert_eq(c->peer_port, 50000);
    cr_assert_eq(c->sock_port, 8080);
    cr_assert(c->tls);
    cr_assert_eq(c->certificate_list.n, 1);
    cr_assert(strstr(c->certificate_list.v[0], "-----BEGIN CERTIFICATE-----\nMIIBhDCC"));
    assert_bytes(c->alpn, c->alpn_len, "h2", 2, "alpn");
    STRLIST(&c->alpn_offers, "h2", "http/1.1");
    ASSERT_STR(c->cipher, "TLS_AES_128_GCM_SHA256");
    STRLIST(&c->cipher_list, "TLS_AES_128_GCM_SHA256", "TLS_CHACHA20_POLY1305_SHA256");
    ASSERT_STR(c->tls_version, "TLSv1.3");
    ASSERT_STR(c->sni, "example.com");
    cr_assert_eq(c->timestamp_start, 1700000000.5);
    cr_assert_eq(c->timestamp_end, 1700000003.0);
    cr_assert_eq(c->timestamp_tls_setup, 1700000000.625);
    cr_assert(strstr(c->mitmcert, "-----END CERTIFICATE-----\n"));
    ASSERT_STR(c->proxy_mode, "upstream:http://proxy.local:3128");
    c = &f->server_conn;
    ASSERT_STR(c->address_host, "example.com");
    cr_assert_eq(c->address_port, 443);
    ASSERT_STR(c->peer_host, "10.0.0.2");
    ASSERT_STR(c->sock_host, "10.0.0.1");
    cr_assert_eq(c->sock_port, 40000);
    ASSERT_STR(c->error, "peer closed");
    cr_assert_eq(c->certificate_list.n, 2);
    STRLIST(&c->alpn_offers, "h2");
    cr_assert_eq(c->cipher_list.n, 0);
    ASSERT_STR(c->tls_version, "TLSv1.2");
    cr_assert_eq(c->timestamp_tcp_setup, 1700000000.8);
    ASSERT_STR(c->via_scheme, "http");
    ASSERT_STR(c->via_host, "proxy.local");
    cr_assert_eq(c->via_port, 3128);
    cr_assert_null(c->mitmcert);

    const struct mitm_http_request *rq = f->request;
    ASSERT_STR(rq->method, "POST");
    ASSERT_STR(rq->scheme, "https");
    ASSERT_STR(rq->authority, "example.com");
    ASSERT_STR(rq->path, "/api?x=1");
    ASSERT_STR(rq->http_version, "HTTP/2.0");
    cr_assert_eq(rq->form, MITM_TARGET_ABSOLUTE);
    HEADERS(&rq->headers, ":authority", "example.com", "accept", "*/*", "X-Dup", "1", "x-dup", "2");
    ASSERT_BODY(rq->content, "q=1&r=\x00\x01");
    cr_assert_not_null(rq->trailers);
    HEADERS(rq->trailers, "grpc-status", "0");
    const struct mitm_http_response *rs = f->response;
    cr_assert_eq(rs->status_code, 502);
    ASSERT_STR(rs->reason, "Bad Gateway");
    ASSERT_BODY(rs->content, "{\"ok\": true}");
    HEADERS(rs->trailers, "x-checksum", "abc", "x-checksum", "def");
    cr_assert_eq(rs->timestamp_end, 1700000002.0);

    f = l.f[1];
    cr_assert_eq(f->type, MITM_FLOW_TCP);
    cr_assert_null(f->request);
    cr_assert(f->intercepted);
    ASSERT_STR(f->marked, "\xf0\x9f\x94\xb4");
    cr_assert_eq(f->n_messages, 2);
    cr_assert(f->messages[0].from_client);
    assert_bytes(f->messages[0].content, f->messages[0].len, "hello\r\n", 7, "tcp message 0");
    cr_assert_eq(f->messages[0].timestamp, 1700000005.25);
    cr_assert_not(f->messages[1].from_client);
    assert_bytes(f->messages[1].content, f->messages[1].len, "\x00\x01\x02", 3, "tcp message 1");
    cr_assert_null(f->server_conn.peer_host);
    cr_assert_null(f->server_conn.sock_host);

    f = l.f[2];
    cr_assert(f->request->content_missing, "content None = missing");
    cr_assert_null(f->response);
    cr_assert_eq(f->request->timestamp_end, 0);
    ASSERT_STR(f->client_conn.peer_host, "::1"); /* IPv6 4-tuple */
    cr_assert_eq(f->client_conn.peer_port, 50001);
    cr_assert_eq(f->server_conn.timestamp_start, 0);
    cr_assert_eq(f->timestamp_created, 946681203.0);
    loaded_free(&l);
}

/* ---- older versions, migrated like compat.py ---- */

Test(flowfile, migrations_from_old_versions)
{
    struct loaded l;
    read_file("flows-old.mitm", &l);
    cr_assert_eq(l.last, MITM_FLOWFILE_EOF, "%s", l.err);
    cr_assert_eq(l.n, 5, "v5, the v11 WebSocket flow (merged), v12, v18 tcp, v20");
    cr_assert_eq(l.skipped, 0);

    /* version 5: the values Debian's mitmproxy 8.1.1 gives after its own migration */
    struct mitm_flow *f = l.f[0];
    ASSERT_STR(f->id, "55555555-5555-4555-8555-555555555555");
    ASSERT_STR(f->marked, ":default:");                       /* 12 -> 13 */
    ASSERT_STR(f->comment, "");                               /* 13 -> 14 */
    ASSERT_STR(f->is_replay, "response");                     /* 8 -> 9 */
    cr_assert_eq(f->timestamp_created, 1500000001.0);         /* 15 -> 16 */
    ASSERT_STR(f->request->authority, "");                    /* 8 -> 9 */
    cr_assert_null(f->request->trailers);                     /* 7 -> 8 */
    cr_assert_eq(f->response->timestamp_start, 1500000001.5); /* 13 -> 14 fix */
    cr_assert_eq(f->response->timestamp_end, 1500000002.5);
    ASSERT_STR(f->request->method, "PUT");
    ASSERT_BODY(f->request->content, "abc");
    const struct mitm_conn_info *c = &f->client_conn;
    ASSERT_STR(c->id, "55555555-0000-4000-8000-000000000001");
    ASSERT_STR(c->peer_host, "127.0.0.1"); /* address -> peername */
    cr_assert_eq(c->peer_port, 51000);
    ASSERT_STR(c->sock_host, ""); /* 9 -> 10: ("", 0) */
    cr_assert_eq(c->sock_port, 0);
    cr_assert(c->tls);                                  /* ssl_established -> tls_established -> tls */
    cr_assert_eq(c->timestamp_tls_setup, 1500000000.5); /* timestamp_ssl_setup */
    assert_bytes(c->alpn, c->alpn_len, "http/1.1", 8, "alpn");
    STRLIST(&c->alpn_offers, "http/1.1");
    ASSERT_STR(c->cipher, "ECDHE-RSA-AES128-GCM-SHA256");
    STRLIST(&c->cipher_list, "ECDHE-RSA-AES128-GCM-SHA256");
    cr_assert_eq(c->certificate_list.n, 0);
    ASSERT_STR(c->sni, "old.example");
    ASSERT_STR(c->proxy_mode, "regular");
    cr_assert_not_null(c->mitmcert);
    c = &f->server_conn;
    ASSERT_STR(c->peer_host, "93.184.216.34"); /* ip_address */
    ASSERT_STR(c->sock_host, "192.168.1.2");   /* source_address */
    cr_assert_eq(c->sock_port, 52000);
    ASSERT_STR(c->address_host, "old.example");
    cr_assert_eq(c->certificate_list.n, 1); /* cert */
    cr_assert_null(c->cipher);
    cr_assert_eq(c->cipher_list.n, 0);
    STRLIST(&c->alpn_offers, "http/1.1");
    cr_assert_eq(c->timestamp_tls_setup, 1500000000.4);
    cr_assert_null(c->via_host);

    /* version 11 WebSocket flow: its handshake (the v12 record) never passes the 11 -> 12
     * step, so compat.py's stand-in handshake carries the messages */
    f = l.f[1];
    ASSERT_STR(f->id, "11111111-0000-4000-8000-00000000000b");
    ASSERT_STR(f->request->host, "unknown");
    ASSERT_STR(f->request->path, "/");
    cr_assert_null(f->response);
    cr_assert_not_null(f->websocket);
    cr_assert_eq(f->websocket->n_messages, 1);
    cr_assert_eq(f->websocket->closed_by_client, 1);
    cr_assert_eq(f->websocket->close_code, 1000);
    cr_assert_eq(f->n_metadata, 1);
    ASSERT_STR(f->metadata[0].key, "duplicated");

    /* version 12: marked bool -> "", mode dropped, the WebSocket dict kept */
    f = l.f[2];
    ASSERT_STR(f->id, "12121212-1212-4212-8212-121212121212");
    ASSERT_STR(f->marked, "");
    ASSERT_STR(f->error->msg, "closed");
    cr_assert_eq(f->timestamp_created, 1600000000.5);
    cr_assert(f->response->content_missing);
    cr_assert_eq(f->response->status_code, 101);
    ASSERT_STR(f->server_conn.peer_host, "10.1.1.1");
    ASSERT_STR(f->client_conn.sock_host, "127.0.0.1");
    cr_assert_eq(f->client_conn.sock_port, 8080);
    cr_assert_eq(f->n_metadata, 1);
    ASSERT_STR(f->metadata[0].key, "websocket");
    cr_assert_eq(f->websocket->n_messages, 1);
    cr_assert_eq(f->websocket->messages[0].type, 1);
    cr_assert(f->websocket->messages[0].from_client);
    cr_assert_not(f->websocket->messages[0].injected); /* 14 -> 15 */
    assert_bytes(f->websocket->messages[0].content, f->websocket->messages[0].len, "hi", 2, "ws message");

    /* version 18 TCP: bytes hosts decoded, sni True -> the address host */
    f = l.f[3];
    cr_assert_eq(f->type, MITM_FLOW_TCP);
    ASSERT_STR(f->comment, "old tcp");
    ASSERT_STR(f->server_conn.address_host, "tcp.example");
    cr_assert_eq(f->server_conn.address_port, 7);
    ASSERT_STR(f->server_conn.sni, "tcp.example");
    ASSERT_STR(f->server_conn.sock_host, "10.2.2.2");
    ASSERT_STR(f->server_conn.peer_host, "10.1.1.1");
    ASSERT_STR(f->client_conn.peer_host, "127.0.0.1");
    cr_assert_eq(f->client_conn.peer_port, 54000);
    cr_assert_eq(f->n_messages, 2);
    assert_bytes(f->messages[1].content, f->messages[1].len, "pong", 4, "tcp message");

    /* version 20: QUIC -> QUICv1 */
    f = l.f[4];
    ASSERT_STR(f->client_conn.tls_version, "QUICv1");
    ASSERT_STR(f->server_conn.tls_version, "QUICv1");
    loaded_free(&l);
}

/* ---- round trips ---- */

static void round_trip(const char *name, size_t want_flows)
{
    struct loaded a, b;
    read_file(name, &a);
    cr_assert_eq(a.n, want_flows);
    char path[] = "/tmp/mitmc-flowfile-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    unlink(path);
    char err[256];
    for (size_t i = 0; i < a.n; i++)
        cr_assert_eq(mitm_flowfile_write(fd, a.f[i], err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(lseek(fd, 0, SEEK_SET), 0);
    struct mitm_flowfile_reader *r = mitm_flowfile_open(fd);
    read_reader(r, &b);
    mitm_flowfile_close(r);
    close(fd);
    cr_assert_eq(b.last, MITM_FLOWFILE_EOF, "%s", b.err);
    cr_assert_eq(b.n, a.n);
    for (size_t i = 0; i < a.n; i++) {
        cr_assert(flows_eq(a.f[i], b.f[i]), "%s: flow %zu changed in a round trip", name, i);
        /* and writing again gives the same bytes */
        struct mitm_buf x, y;
        mitm_buf_init(&x, 0);
        mitm_buf_init(&y, 0);
        cr_assert_eq(mitm_flowfile_encode(a.f[i], &x, err, sizeof(err)), 0);
        cr_assert_eq(mitm_flowfile_encode(b.f[i], &y, err, sizeof(err)), 0);
        cr_assert(mitm_slice_eq(mitm_buf_slice(&x), mitm_buf_slice(&y)));
        mitm_buf_free(&x);
        mitm_buf_free(&y);
    }
    loaded_free(&a);
    loaded_free(&b);
}

Test(flowfile, round_trip_v17_capture)
{
    round_trip("mitmdump-8.1.1.flows", 5);
}

Test(flowfile, round_trip_v21)
{
    round_trip("flows-v21.mitm", 3);
}

Test(flowfile, round_trip_migrated)
{
    round_trip("flows-old.mitm", 5);
}

/* Order-insensitive deep equality of two trees (our writer's order differs from
 * mitmproxy's reversed one). */
static bool tns_eq(const struct mitm_tns *a, const struct mitm_tns *b)
{
    if (a->type != b->type)
        return false;
    switch (a->type) {
    case MITM_TNS_BYTES:
    case MITM_TNS_STR:
        return mitm_slice_eq(a->v.s, b->v.s);
    case MITM_TNS_INT:
        return a->v.i == b->v.i;
    case MITM_TNS_FLOAT:
        return a->v.f == b->v.f;
    case MITM_TNS_BOOL:
        return a->v.b == b->v.b;
    case MITM_TNS_NULL:
        return true;
    case MITM_TNS_LIST:
        if (a->n != b->n)
            return false;
        for (size_t i = 0; i < a->n; i++)
            if (!tns_eq(a->items[i], b->items[i]))
                return false;
        return true;
    case MITM_TNS_DICT:
        if (a->n != b->n)
            return false;
        for (size_t i = 0; i < a->n; i++) {
            char key[64];
            snprintf(key, sizeof(key), "%.*s", (int)a->items[2 * i]->v.s.len, a->items[2 * i]->v.s.base);
            const struct mitm_tns *bv = mitm_tns_get(b, key);
            if (!bv || !tns_eq(a->items[2 * i + 1], bv)) {
                cr_log_error("key %s differs", key);
                return false;
            }
        }
        return true;
    }
    return false;
}

/* The writer's record has exactly the keys and types of the reference's version 21
 * (as make_v21.py wrote them from reference §10): str vs bytes, None vs float, ... */
Test(flowfile, writer_matches_reference_layout)
{
    size_t len;
    uint8_t *file = slurp("flows-v21.mitm", &len);
    struct loaded l;
    read_mem(file, len, &l);
    cr_assert_eq(l.n, 3);
    size_t off = 0;
    /* record 0 is the https flow, record 2 the tcp one (record 1 is dns) */
    for (int rec = 0; rec < 3; rec++) {
        struct mitm_tns *want;
        ssize_t n = mitm_tns_parse(file + off, len - off, NULL, &want, NULL);
        cr_assert_gt(n, 0);
        if (rec != 1) {
            char err[256];
            struct mitm_tns *got = mitm_flowfile_to_tns(l.f[rec == 0 ? 0 : 1], err, sizeof(err));
            cr_assert_not_null(got, "%s", err);
            cr_assert(tns_eq(got, want), "record %d differs from the reference layout", rec);
            mitm_tns_free(got);
        }
        mitm_tns_free(want);
        off += (size_t)n;
    }
    loaded_free(&l);
    free(file);
}

/* ---- damaged files ---- */

Test(flowfile, truncated_at_every_offset)
{
    mitm_log_set_level(MITM_LOG_ERROR); /* the dns record's "skipped" warning, once per cut */
    size_t len;
    uint8_t *file = slurp("flows-v21.mitm", &len);
    /* record boundaries, and how many flows precede each */
    size_t ends[8], n_ends = 0, off = 0;
    while (off < len) {
        ssize_t n = mitm_tns_frame_size(file + off, len - off, 0, NULL);
        cr_assert_gt(n, 0);
        off += (size_t)n;
        ends[n_ends++] = off;
    }
    cr_assert_eq(n_ends, 4);
    static const size_t flows_before[] = {1, 1, 2, 3}; /* record 1 is a skipped dns flow */
    for (size_t cut = 0; cut <= len; cut++) {
        struct loaded l;
        read_mem(file, cut, &l);
        size_t complete = 0;
        while (complete < n_ends && ends[complete] <= cut)
            complete++;
        size_t want = complete ? flows_before[complete - 1] : 0;
        cr_assert_eq(l.n, want, "cut at %zu: %zu flows, want %zu", cut, l.n, want);
        bool boundary = cut == 0 || (complete && ends[complete - 1] == cut);
        if (boundary) {
            cr_assert_eq(l.last, MITM_FLOWFILE_EOF, "cut at %zu: %d %s", cut, l.last, l.err);
        } else {
            cr_assert_eq(l.last, MITM_FLOWFILE_TRUNCATED, "cut at %zu: %d %s", cut, l.last, l.err);
            char msg[256];
            snprintf(msg, sizeof(msg),
                     "file truncated at byte %zu: the last record is incomplete; %zu flows were read", cut,
                     want);
            cr_assert_str_eq(l.err, msg);
        }
        loaded_free(&l);
    }
    free(file);
}

Test(flowfile, truncated_file_through_fd)
{
    size_t len;
    uint8_t *file = slurp("mitmdump-8.1.1.flows", &len);
    char path[] = "/tmp/mitmc-flowfile-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    unlink(path);
    size_t cut = 7831 + 100; /* inside the 5th record */
    cr_assert_eq(write(fd, file, cut), (ssize_t)cut);
    lseek(fd, 0, SEEK_SET);
    struct mitm_flowfile_reader *r = mitm_flowfile_open(fd);
    struct loaded l;
    read_reader(r, &l);
    cr_assert_eq(l.n, 4);
    cr_assert_eq(l.last, MITM_FLOWFILE_TRUNCATED);
    cr_assert_str_eq(l.err, "file truncated at byte 7931: the last record is incomplete; 4 flows were read");
    cr_assert_eq(mitm_flowfile_offset(r), 7831, "the offset to truncate the file to");
    struct mitm_flow *f = NULL;
    cr_assert_eq(mitm_flowfile_next(r, &f, NULL, 0), MITM_FLOWFILE_EOF);
    mitm_flowfile_close(r);
    close(fd);
    loaded_free(&l);
    free(file);
}

Test(flowfile, garbage_is_an_error_with_offset)
{
    struct loaded l;
    read_mem("hello world", 11, &l);
    cr_assert_eq(l.last, MITM_FLOWFILE_ERROR);
    cr_assert_str_eq(l.err,
                     "flow file corrupt at byte 0: not a tnetstring: missing or invalid length prefix");

    /* a good record followed by garbage: the flow, then an error at the garbage */
    size_t len;
    uint8_t *file = slurp("mitmdump-8.1.1.flows", &len);
    memcpy(file + 1967, "x99:", 4);
    struct mitm_flowfile_reader *r = mitm_flowfile_open_mem(file, len);
    read_reader(r, &l);
    cr_assert_eq(l.n, 1);
    cr_assert_eq(l.last, MITM_FLOWFILE_ERROR);
    cr_assert_str_eq(l.err,
                     "flow file corrupt at byte 1967: not a tnetstring: missing or invalid length prefix");
    struct mitm_flow *f = NULL;
    char err[256];
    cr_assert_eq(mitm_flowfile_next(r, &f, err, sizeof(err)), MITM_FLOWFILE_ERROR,
                 "errors in framing are sticky");
    cr_assert_str_eq(err, l.err);
    mitm_flowfile_close(r);
    loaded_free(&l);

    /* damage inside a record: the nested error names its byte */
    memcpy(file + 1967, "1965", 4);
    file[1978] = '?'; /* the tag of "4:type;", the first key of the second record */
    read_mem(file, len, &l);
    cr_assert_eq(l.n, 1);
    cr_assert_str_eq(l.err, "flow file corrupt at byte 1978: not a tnetstring: unknown type tag");
    loaded_free(&l);

    /* not a dict */
    read_mem("0:~", 3, &l);
    cr_assert_eq(l.last, MITM_FLOWFILE_ERROR);
    cr_assert_str_eq(l.err, "flow file corrupt at byte 0: the record is not a dict");
    loaded_free(&l);
    free(file);
}

Test(flowfile, bad_field_skips_one_record)
{
    /* request.method is an int: an error naming the field; the next record still loads */
    size_t len;
    uint8_t *file = slurp("mitmdump-8.1.1.flows", &len);
    uint8_t *p = memmem(file, 1967, "6:method;3:GET,", 15);
    cr_assert_not_null(p);
    memcpy(p, "6:method;3:123#", 15);
    struct mitm_flowfile_reader *r = mitm_flowfile_open_mem(file, len);
    struct mitm_flow *f = NULL;
    char err[256];
    cr_assert_eq(mitm_flowfile_next(r, &f, err, sizeof(err)), MITM_FLOWFILE_ERROR);
    cr_assert_str_eq(err, "flow record at byte 0: request.method: expected bytes or str");
    cr_assert_eq(mitm_flowfile_next(r, &f, err, sizeof(err)), MITM_FLOWFILE_FLOW);
    ASSERT_STR(f->request->method, "POST");
    mitm_flow_unref(f);
    mitm_flowfile_close(r);
    free(file);
}

Test(flowfile, versions_out_of_range)
{
    char err[256];
    struct mitm_flow *f = (void *)1;
    struct mitm_tns *rec;
    const char *newer = "38:7:version;2:22#4:type;4:http;2:id;1:x;}";
    cr_assert_gt(mitm_tns_parse((const uint8_t *)newer, strlen(newer), NULL, &rec, NULL), 0);
    cr_assert_eq(mitm_flowfile_from_tns(rec, &f, err, sizeof(err)), -1);
    cr_assert_null(f);
    cr_assert_str_eq(err, "flow file version 22 is newer than this mitmc supports (up to 21)");
    mitm_tns_free(rec);

    struct loaded l;
    read_mem(newer, strlen(newer), &l);
    cr_assert_eq(l.last, MITM_FLOWFILE_ERROR);
    cr_assert_str_eq(
        l.err, "flow record at byte 0: flow file version 22 is newer than this mitmc supports (up to 21)");

    const char *tuple = "36:7:version;9:1:0#2:11#]4:type;4:http;}";
    cr_assert_gt(mitm_tns_parse((const uint8_t *)tuple, strlen(tuple), NULL, &rec, NULL), 0);
    cr_assert_eq(mitm_flowfile_from_tns(rec, &f, err, sizeof(err)), -1);
    cr_assert(strstr(err, "flow file version (0, 11) is too old"), "%s", err);
    mitm_tns_free(rec);

    const char *none = "14:4:type;4:http;}";
    cr_assert_gt(mitm_tns_parse((const uint8_t *)none, strlen(none), NULL, &rec, NULL), 0);
    cr_assert_eq(mitm_flowfile_from_tns(rec, &f, err, sizeof(err)), -1);
    cr_assert_str_eq(err, "version: missing or not an int: not a mitmproxy flow");
    mitm_tns_free(rec);
}

Test(flowfile, har_is_detected)
{
    struct loaded l;
    read_mem("{\"log\": {}}", 11, &l);
    cr_assert_eq(l.last, MITM_FLOWFILE_HAR);
    read_mem("\xef\xbb\xbf{\"log\": {}}", 14, &l);
    cr_assert_eq(l.last, MITM_FLOWFILE_HAR);
    read_mem("", 0, &l);
    cr_assert_eq(l.last, MITM_FLOWFILE_EOF, "an empty file has no flows and no error");
}

Test(flowfile, record_cap)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/mitmdump-8.1.1.flows", flow_fixtures_dir);
    int fd = open(path, O_RDONLY);
    cr_assert_geq(fd, 0);
    struct mitm_flowfile_reader *r = mitm_flowfile_open(fd);
    mitm_flowfile_set_max_record(r, 1000);
    struct loaded l;
    read_reader(r, &l);
    cr_assert_eq(l.last, MITM_FLOWFILE_ERROR);
    cr_assert_str_eq(l.err, "flow file corrupt at byte 0: tnetstring value larger than the size cap");
    mitm_flowfile_close(r);
    close(fd);
}

Test(flowfile, write_errors)
{
    struct mitm_flow *f = mitm_flow_new(MITM_FLOW_HTTP, 1.0);
    char err[256];
    cr_assert_eq(mitm_flowfile_write(1, f, err, sizeof(err)), -1, "a flow without a request is refused");
    cr_assert(strstr(err, "has no request"));
    f->request = mitm_http_request_new();
    int p[2];
    cr_assert_eq(pipe(p), 0);
    close(p[1]);
    cr_assert_eq(mitm_flowfile_write(p[1], f, err, sizeof(err)), -1);
    cr_assert(strstr(err, "Bad file descriptor"), "%s", err);
    close(p[0]);
    /* bad metadata bytes are reported, not written */
    f->metadata = calloc(1, sizeof(*f->metadata));
    f->metadata[0].key = strdup("k");
    f->metadata[0].tns = (uint8_t *)strdup("5:ab,");
    f->metadata[0].tns_len = 5;
    f->n_metadata = 1;
    struct mitm_buf b;
    mitm_buf_init(&b, 0);
    cr_assert_eq(mitm_flowfile_encode(f, &b, err, sizeof(err)), -1);
    cr_assert_str_eq(err, "metadata[k]: value is not one tnetstring");
    mitm_buf_free(&b);
    mitm_flow_unref(f);
}

/* A fresh flow (as the proxy makes them) written and read back keeps every field. */
Test(flowfile, new_flow_round_trip)
{
    struct mitm_flow *f = mitm_flow_new(MITM_FLOW_HTTP, 1700000000.25);
    struct mitm_http_request *r = f->request = mitm_http_request_new();
    mitm_str_set(&r->method, "CONNECT", 7);
    mitm_str_set(&r->scheme, "http", 4);
    mitm_str_set(&r->authority, "example.com:443", 15);
    mitm_str_set(&r->host, "example.com", 11);
    mitm_str_set(&r->path, "", 0);
    mitm_str_set(&r->http_version, "HTTP/1.1", 8);
    r->port = 443;
    r->form = MITM_TARGET_AUTHORITY;
    r->timestamp_start = 1700000000.5;
    mitm_headers_add(&r->headers, "Host", 4, "example.com:443", 15);
    mitm_flow_set_error(f, "Client disconnected.", 1700000001.0);
    mitm_str_set(&f->client_conn.peer_host, "192.0.2.1", 9);
    f->client_conn.peer_port = 1234;
    f->client_conn.timestamp_start = 1700000000.0;
    struct mitm_buf b;
    mitm_buf_init(&b, 0);
    char err[256];
    cr_assert_eq(mitm_flowfile_encode(f, &b, err, sizeof(err)), 0, "%s", err);
    struct loaded l;
    read_mem(mitm_buf_data(&b), b.len, &l);
    cr_assert_eq(l.n, 1, "%s", l.err);
    /* proxy_mode NULL is written as "regular" (mitmproxy needs one) */
    ASSERT_STR(l.f[0]->client_conn.proxy_mode, "regular");
    free(l.f[0]->client_conn.proxy_mode);
    l.f[0]->client_conn.proxy_mode = NULL;
    cr_assert(flows_eq(f, l.f[0]));
    loaded_free(&l);
    mitm_buf_free(&b);
    mitm_flow_unref(f);
}

/* Many records and a body larger than the read buffer, through a pipe fed in small
 * chunks by a thread (partial reads, buffer growth and compaction). */
struct feeder {
    int fd;
    const uint8_t *p;
    size_t len;
};

static void *feed(void *arg)
{
    struct feeder *fd = arg;
    for (size_t off = 0; off < fd->len;) {
        size_t n = fd->len - off < 777 ? fd->len - off : 777;
        ssize_t w = write(fd->fd, fd->p + off, n);
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    close(fd->fd);
    return NULL;
}

Test(flowfile, many_records_through_a_pipe)
{
    size_t len;
    uint8_t *file = slurp("mitmdump-8.1.1.flows", &len);
    struct mitm_flowfile_reader *r = mitm_flowfile_open_mem(file, len);
    struct mitm_flow *big = NULL;
    char err[256];
    cr_assert_eq(mitm_flowfile_next(r, &big, err, sizeof(err)), MITM_FLOWFILE_FLOW);
    mitm_flowfile_close(r);
    /* a 300 KB body, bigger than the first read buffer */
    mitm_buf_free(&big->response->content);
    for (int i = 0; i < 300 * 1024 / 16; i++)
        mitm_buf_append(&big->response->content, "0123456789abcdef", 16);
    struct mitm_buf all;
    mitm_buf_init(&all, 0);
    const int copies = 40;
    for (int i = 0; i < copies; i++)
        mitm_buf_append(&all, file, len);
    cr_assert_eq(mitm_flowfile_encode(big, &all, err, sizeof(err)), 0);
    mitm_buf_append(&all, file, len);

    int p[2];
    cr_assert_eq(pipe(p), 0);
    struct feeder fd = {p[1], mitm_buf_data(&all), all.len};
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, feed, &fd), 0);
    r = mitm_flowfile_open(p[0]);
    size_t n = 0;
    int rc;
    struct mitm_flow *f;
    while ((rc = mitm_flowfile_next(r, &f, err, sizeof(err))) == MITM_FLOWFILE_FLOW) {
        cr_assert_lt(n, (size_t)(copies + 1) * 5 + 1);
        if (n == (size_t)copies * 5)
            cr_assert(flows_eq(f, big), "the big flow survives");
        else
            cr_assert_str_eq(f->request->path,
                             ((const char *[]){"/hello?x=1", "/submit", "/gzip", "/missing",
                                               "/dup"})[n > (size_t)copies * 5 ? (n - 1) % 5 : n % 5]);
        mitm_flow_unref(f);
        n++;
    }
    cr_assert_eq(rc, MITM_FLOWFILE_EOF, "%s", err);
    cr_assert_eq(n, (size_t)(copies + 1) * 5 + 1);
    cr_assert_eq(mitm_flowfile_offset(r), all.len);
    mitm_flowfile_close(r);
    pthread_join(t, NULL);
    close(p[0]);
    mitm_buf_free(&all);
    mitm_flow_unref(big);
    free(file);
}
