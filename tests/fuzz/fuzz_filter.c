/* Fuzz target: parse an arbitrary filter expression and match it against fixed HTTP
 * and TCP flows. Checks that the parser never crashes or leaks on any input, that
 * errors always come with a message, and that matching never fails on binary bodies. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "filter/filter.h"
#include "flow/flow.h"
#include "proto/http/http.h"

static struct mitm_flow *http, *tcp;

static void hdr(struct mitm_headers *h, const char *n, const char *v)
{
    mitm_headers_add(h, n, strlen(n), v, strlen(v));
}

static void setup(void)
{
    http = mitm_flow_new(MITM_FLOW_HTTP, 1.0);
    struct mitm_http_request *q = mitm_http_request_new();
    q->method = mitm_strdup("POST");
    q->scheme = mitm_strdup("https");
    q->authority = mitm_strdup("");
    q->host = mitm_strdup("example.com");
    q->port = 443;
    q->path = mitm_strdup("/api/v1?q=1");
    q->http_version = mitm_strdup("HTTP/1.1");
    hdr(&q->headers, "Host", "example.com");
    hdr(&q->headers, "Content-Type", "application/json");
    mitm_buf_append(&q->content, "{\"k\": \"\xff\xfe\"}", 12);
    http->request = q;
    struct mitm_http_response *s = mitm_http_response_new();
    s->http_version = mitm_strdup("HTTP/1.1");
    s->status_code = 200;
    s->reason = mitm_strdup("OK");
    hdr(&s->headers, "Content-Type", "text/html");
    hdr(&s->headers, "Content-Encoding", "gzip"); /* not really gzip: exercises the fallback */
    mitm_buf_append(&s->content, "<html>\x00\x80</html>", 15);
    http->response = s;
    http->client_conn.peer_host = mitm_strdup("127.0.0.1");
    http->client_conn.peer_port = 5555;
    http->server_conn.address_host = mitm_strdup("example.com");
    http->server_conn.address_port = 443;
    free(http->marked);
    http->marked = mitm_strdup(":default:");
    free(http->comment);
    http->comment = mitm_strdup("a comment\nsecond line");
    http->metadata = mitm_calloc(1, sizeof(*http->metadata));
    http->metadata[0] = (struct mitm_meta){mitm_strdup("k"), mitm_memdup("1:v;", 4), 4};
    http->n_metadata = 1;

    tcp = mitm_flow_new(MITM_FLOW_TCP, 1.0);
    tcp->messages = mitm_calloc(1, sizeof(*tcp->messages));
    tcp->messages[0] = (struct mitm_tcp_message){true, mitm_memdup("hello", 5), 5, 1.0};
    tcp->n_messages = 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!http)
        setup();
    if (size > 4096)
        return 0;
    char *expr = mitm_strndup((const char *)data, size);
    char err[256];
    err[0] = 0;
    struct mitm_filter *f = mitm_filter_parse(expr, err, sizeof(err));
    if (f) {
        (void)mitm_filter_match(f, http);
        (void)mitm_filter_match(f, tcp);
        mitm_filter_free(f);
    } else if (err[0] == 0) {
        abort(); /* every refusal names its reason */
    }
    free(expr);
    return 0;
}
