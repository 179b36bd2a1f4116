/* mitm_flowfile_encode writes records without a tree; these tests hold it byte for byte to the
 * tree path it replaced (mitm_tns_write of mitm_flowfile_to_tns) over every fixture flow and
 * over hand-built flows that set every field the record has. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "flow/flow.h"
#include "flow/flowfile.h"
#include "proto/http/http.h"
#include "util.h"

extern const char *flow_fixtures_dir;

/* Encode f both ways and compare; returns the number of bytes. */
static size_t same(const struct mitm_flow *f)
{
    struct mitm_buf tree, direct;
    mitm_buf_init(&tree, 0);
    mitm_buf_init(&direct, 0);
    char err[256] = "";
    struct mitm_tns *d = mitm_flowfile_to_tns(f, err, sizeof(err));
    cr_assert(d, "to_tns: %s", err);
    cr_assert_eq(mitm_tns_write(&tree, d), 0);
    mitm_tns_free(d);
    cr_assert_eq(mitm_flowfile_encode(f, &direct, err, sizeof(err)), 0, "encode: %s", err);
    if (tree.len != direct.len || memcmp(mitm_buf_data(&tree), mitm_buf_data(&direct), tree.len) != 0) {
        size_t i = 0;
        while (i < tree.len && i < direct.len && mitm_buf_data(&tree)[i] == mitm_buf_data(&direct)[i])
            i++;
        size_t from = i > 40 ? i - 40 : 0;
        cr_assert_fail(
            "flow %s: records differ at byte %zu (tree %zu bytes, direct %zu)\n tree:   %.80s\n direct: "
            "%.80s",
            f->id, i, tree.len, direct.len, mitm_buf_data(&tree) + from, mitm_buf_data(&direct) + from);
    }
    size_t n = tree.len;
    mitm_buf_free(&tree);
    mitm_buf_free(&direct);
    return n;
}

static size_t same_file(const char *name)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", flow_fixtures_dir, name);
    size_t len, n = 0;
    char *data = t_read_file(path, &len);
    cr_assert(data, "%s", path);
    struct mitm_flowfile_reader *r = mitm_flowfile_open_mem(data, len);
    for (int guard = 0; guard < 10000; guard++) {
        struct mitm_flow *f = NULL;
        char err[256];
        int rc = mitm_flowfile_next(r, &f, err, sizeof(err));
        if (rc == MITM_FLOWFILE_FLOW) {
            same(f);
            mitm_flow_unref(f);
            n++;
        } else if (rc != MITM_FLOWFILE_ERROR) {
            break;
        }
    }
    mitm_flowfile_close(r);
    free(data);
    return n;
}

Test(flowfile_encode, fixture_files)
{
    static const char *const names[] = {
        "flows-old.mitm",       "flows-v21.mitm",
        "mitmdump-8.1.1.flows", "mitmdump-8.1.1-websocket.flows",
        "websocket-old.mitm",   "websocket-old.v21.mitm",
        "websocket-v21.mitm",
    };
    size_t total = 0;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        total += same_file(names[i]);
    cr_assert_gt(total, 10, "only %zu fixture flows", total);
}

Test(flowfile_encode, plain_and_response)
{
    struct mitm_flow *f = t_flow("GET", "http", "example.com", 80, "/", NULL, 0, "Host", "example.com", NULL);
    same(f);
    t_response(f, 200, "hello", 5, "Content-Length", "5", NULL);
    same(f);
    mitm_flow_unref(f);
}

static void tls_conn(struct mitm_conn_info *c, bool server)
{
    c->tls = true;
    mitm_strlist_add(&c->certificate_list, "-----BEGIN CERTIFICATE-----\nMIIB\n", 33);
    mitm_strlist_add(&c->alpn_offers, "h2", 2);
    mitm_strlist_add(&c->alpn_offers, "http/1.1", 8);
    mitm_strlist_add(&c->cipher_list, "TLS_AES_128_GCM_SHA256", 22);
    c->alpn = mitm_strdup("h2");
    c->alpn_len = 2;
    c->cipher = mitm_strdup("TLS_AES_256_GCM_SHA384");
    c->tls_version = mitm_strdup("TLSv1.3");
    c->sni = mitm_strdup("example.com");
    c->timestamp_start = 1700000000.125;
    c->timestamp_end = 1700000003.5;
    c->timestamp_tls_setup = 1700000000.25;
    c->error = mitm_strdup("connection reset");
    free(c->peer_host);
    c->peer_host = mitm_strdup("10.0.0.1");
    c->peer_port = 443;
    free(c->sock_host);
    c->sock_host = mitm_strdup("::1");
    c->sock_port = 51234;
    if (server) {
        free(c->address_host);
        c->address_host = mitm_strdup("example.com");
        c->address_port = 443;
        c->timestamp_tcp_setup = 1700000000.2;
        c->via_scheme = mitm_strdup("https");
        c->via_host = mitm_strdup("proxy.local");
        c->via_port = 8080;
    } else {
        c->mitmcert = mitm_strdup("-----BEGIN CERTIFICATE-----\nleaf\n");
        free(c->proxy_mode);
        c->proxy_mode = mitm_strdup("upstream:https://proxy.local:8080");
    }
}

static struct mitm_headers *trailers(void)
{
    struct mitm_headers *h = mitm_alloc(sizeof(*h));
    mitm_headers_init(h);
    mitm_headers_add(h, "grpc-status", 11, "0", 1);
    mitm_headers_add(h, "x-bin", 5, "\xff\x00z", 3);
    return h;
}

Test(flowfile_encode, every_field)
{
    struct mitm_flow *f = t_flow("POST", "https", "example.com", 443, "/upload?q=\xc3\xa9", "body\0bytes", 10,
                                 "Host", "example.com", "Content-Type", "text/plain", NULL);
    t_response(f, 404, "", 0, "Server", "x", NULL);
    tls_conn(&f->client_conn, false);
    tls_conn(&f->server_conn, true);
    same(f);
    f->request->trailers = trailers();
    f->response->trailers = trailers();
    f->request->content_missing = true;
    f->response->content_missing = true;
    f->request->timestamp_end = 0;
    f->response->timestamp_end = 1700000009.0;
    mitm_flow_set_error(f, "Connection killed.", 1700000010.75);
    f->intercepted = true;
    free(f->marked);
    f->marked = mitm_strdup(":star:");
    free(f->comment);
    f->comment = mitm_strdup("a comment with \xe2\x82\xac");
    f->is_replay = mitm_strdup("request");
    f->timestamp_created = 1e16;
    same(f);
    /* metadata: one of each type (as mitm_tns_write spells them: the encoder copies the stored
     * bytes, the tree re-wrote them), and a repeated key (kept at its first place, last value) */
    mitm_flow_meta_set(f, "s", "3:abc;", 6);
    mitm_flow_meta_set(f, "n", "2:-5#", 5);
    mitm_flow_meta_set(f, "d", "21:1:a;1:1#1:b;6:1500.0^}", 25);
    f->metadata = mitm_realloc(f->metadata, (f->n_metadata + 1) * sizeof(*f->metadata));
    f->metadata[f->n_metadata].key = mitm_strdup("s");
    f->metadata[f->n_metadata].tns = (uint8_t *)mitm_strdup("0:~");
    f->metadata[f->n_metadata++].tns_len = 3;
    same(f);
    mitm_flow_unref(f);
}

Test(flowfile_encode, websocket)
{
    struct mitm_flow *f =
        t_flow("GET", "http", "example.com", 80, "/ws", NULL, 0, "Upgrade", "websocket", NULL);
    t_response(f, 101, NULL, 0, "Upgrade", "websocket", NULL);
    f->websocket = mitm_websocket_new();
    same(f);
    mitm_websocket_add(f->websocket, 1, true, "hi", 2, 1700000001.5);
    struct mitm_websocket_message *m = mitm_websocket_add(f->websocket, 2, false, "\x00\x01", 2, 1700000002);
    m->dropped = true;
    m->injected = true;
    same(f);
    mitm_websocket_set_close(f->websocket, false, 1000, "bye\0x", 5, 1700000003.25);
    same(f);
    mitm_flow_unref(f);
}

Test(flowfile_encode, tcp)
{
    struct mitm_flow *f = mitm_flow_new(MITM_FLOW_TCP, 1700000000.5);
    same(f);
    f->messages = mitm_calloc(3, sizeof(*f->messages));
    for (size_t i = 0; i < 3; i++) {
        f->messages[i].from_client = i % 2 == 0;
        f->messages[i].content = (uint8_t *)mitm_strdup(i ? "data" : "");
        f->messages[i].len = i ? 4 : 0;
        f->messages[i].timestamp = 1700000000.5 + (double)i / 3;
    }
    f->n_messages = 3;
    mitm_flow_set_error(f, "peer closed", 1700000004);
    same(f);
    mitm_flow_unref(f);
}

Test(flowfile_encode, many_headers)
{
    /* more containers than the encoder keeps on its stack */
    struct mitm_flow *f = t_flow("GET", "http", "example.com", 80, "/", NULL, 0, NULL);
    for (int i = 0; i < 1000; i++) {
        char v[16];
        int n = snprintf(v, sizeof(v), "%d", i * 7919);
        mitm_headers_add(&f->request->headers, "x-h", 3, v, (size_t)n);
    }
    same(f);
    mitm_flow_unref(f);
}

Test(flowfile_encode, errors)
{
    struct mitm_flow *f = t_flow("GET", "http", "example.com", 80, "/", "0123456789", 10, NULL);
    size_t n = same(f);
    char err[256];
    struct mitm_buf b;
    mitm_buf_init(&b, n - 1);
    cr_assert_eq(mitm_flowfile_encode(f, &b, err, sizeof(err)), -1);
    cr_assert(strstr(err, "buffer cap"), "%s", err);
    mitm_buf_free(&b);
    mitm_buf_init(&b, n);
    cr_assert_eq(mitm_flowfile_encode(f, &b, err, sizeof(err)), 0);
    cr_assert_eq(b.len, n);
    mitm_buf_free(&b);

    mitm_flow_meta_set(f, "bad", "5:abc;", 6);
    mitm_buf_init(&b, 0);
    cr_assert_eq(mitm_flowfile_encode(f, &b, err, sizeof(err)), -1);
    cr_assert(strstr(err, "metadata[bad]"), "%s", err);
    cr_assert_null(mitm_flowfile_to_tns(f, err, sizeof(err)));
    mitm_buf_free(&b);
    mitm_flow_unref(f);
}
