/* Headers multimap, URLs, error pages, mitmdump flow lines. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "core/options.h"
#include "base/alloc.h"
#include "flow/flow.h"
#include "proto/http/h1conn.h"
#include "proto/http/http.h"
#include "ui/dump/dump.h"

Test(headers, order_case_and_duplicates_kept)
{
    struct mitm_headers h;
    mitm_headers_init(&h);
    mitm_headers_add(&h, "X-A", 3, "1", 1);
    mitm_headers_add(&h, "x-a", 3, "2", 1);
    mitm_headers_add(&h, "Host", 4, "h", 1);
    cr_assert_eq(mitm_headers_count(&h, "X-a"), 2);
    size_t len;
    cr_assert_str_eq(mitm_headers_get(&h, "x-A", &len), "1");
    mitm_headers_set(&h, "X-A", "9", 1);
    cr_assert_eq(h.n, 2, "set drops the later duplicates");
    cr_assert_str_eq(h.v[0].name, "X-A", "set keeps the first name's spelling and position");
    cr_assert_str_eq(h.v[0].value, "9");
    cr_assert_eq(mitm_headers_remove(&h, "host"), 1);
    cr_assert_eq(h.n, 1);
    struct mitm_headers c;
    mitm_headers_copy(&c, &h);
    cr_assert_eq(c.n, 1);
    cr_assert_str_eq(c.v[0].name, "X-A");
    mitm_headers_free(&c);
    mitm_headers_free(&h);
}

static struct mitm_http_request *req(const char *scheme, const char *host, uint16_t port, const char *path)
{
    struct mitm_http_request *r = mitm_http_request_new();
    r->method = mitm_strdup("GET");
    r->scheme = mitm_strdup(scheme);
    r->host = mitm_strdup(host);
    r->port = port;
    r->path = mitm_strdup(path);
    r->http_version = mitm_strdup("HTTP/1.1");
    return r;
}

Test(url, default_ports_ipv6_and_showhost)
{
    char u[256];
    struct mitm_http_request *r = req("http", "example.com", 80, "/a?b");
    mitm_http_request_url(r, false, u, sizeof(u));
    cr_assert_str_eq(u, "http://example.com/a?b");
    r->port = 8080;
    mitm_http_request_url(r, false, u, sizeof(u));
    cr_assert_str_eq(u, "http://example.com:8080/a?b");
    mitm_headers_add(&r->headers, "Host", 4, "alias.test", 10);
    mitm_http_request_url(r, true, u, sizeof(u));
    cr_assert_str_eq(u, "http://alias.test/a?b");
    mitm_http_request_free(r);
    r = req("https", "::1", 443, "/");
    mitm_http_request_url(r, false, u, sizeof(u));
    cr_assert_str_eq(u, "https://[::1]/");
    mitm_http_request_free(r);
}

Test(error_page, escapes_and_frames)
{
    struct mitm_h1_limits lim = {0};
    struct mitm_http_codec *h1 = mitm_h1conn_new(MITM_CODEC_SERVER, NULL, NULL, &lim, 0, false, NULL, NULL);
    struct mitm_http_response *r = mitm_http_codec_error_response(h1, 502, "bad <host> & \"x\"");
    mitm_http_codec_free(h1);
    cr_assert_str_eq(r->http_version, "HTTP/1.1");
    cr_assert_eq(r->status_code, 502);
    cr_assert_str_eq(r->reason, "Bad Gateway");
    const char *body = (const char *)mitm_buf_data(&r->content);
    cr_assert(strstr(body, "bad &lt;host&gt; &amp; &quot;x&quot;") != NULL);
    size_t len;
    const char *cl = mitm_headers_get(&r->headers, "content-length", &len);
    cr_assert_eq((size_t)atoi(cl), r->content.len);
    cr_assert_str_eq(mitm_headers_get(&r->headers, "connection", &len), "close");
    mitm_http_response_free(r);
}

Test(dump, pretty_size_like_mitmproxy)
{
    char s[16];
    mitm_pretty_size(6, s);
    cr_assert_str_eq(s, "6b");
    mitm_pretty_size(1023, s);
    cr_assert_str_eq(s, "1023b");
    mitm_pretty_size(1024, s);
    cr_assert_str_eq(s, "1.0k");
    mitm_pretty_size(1229, s);
    cr_assert_str_eq(s, "1.2k");
    mitm_pretty_size(102400, s);
    cr_assert_str_eq(s, "100k");
    mitm_pretty_size(35651584, s);
    cr_assert_str_eq(s, "34.0m");
}

static struct mitm_flow *flow_200(void)
{
    struct mitm_flow *f = mitm_flow_new(MITM_FLOW_HTTP, 1.0);
    f->client_conn.peer_host = mitm_strdup("127.0.0.1");
    f->client_conn.peer_port = 40848;
    f->request = req("http", "127.0.0.1", 18091, "/index.html");
    f->response = mitm_http_response_new();
    f->response->http_version = mitm_strdup("HTTP/1.0");
    f->response->status_code = 200;
    f->response->reason = mitm_strdup("OK");
    mitm_buf_append(&f->response->content, "abcdef", 6);
    return f;
}

Test(dump, detail1_lines_match_mitmdump)
{
    struct mitm_dump_style st = {.flow_detail = 1, .columns = 80, .lines_cutoff = 70};
    struct mitm_flow *f = flow_200();
    struct mitm_buf out;
    mitm_buf_init(&out, 0);
    mitm_dump_format(&st, f, &out);
    /* as Debian's mitmdump 8.1.1 printed it (reference §8) */
    const char *want = "127.0.0.1:40848: GET http://127.0.0.1:18091/index.html HTTP/1.1\n"
                       "     << HTTP/1.0 200 OK 6b\n";
    cr_assert_eq(out.len, strlen(want));
    cr_assert_eq(memcmp(mitm_buf_data(&out), want, out.len), 0, "got: %.*s", (int)out.len,
                 mitm_buf_data(&out));
    mitm_buf_free(&out);
    mitm_flow_unref(f);
}

Test(dump, error_line_and_detail2_headers)
{
    struct mitm_dump_style st = {.flow_detail = 2, .columns = 80, .lines_cutoff = 70};
    struct mitm_flow *f = mitm_flow_new(MITM_FLOW_HTTP, 1.0);
    f->client_conn.peer_host = mitm_strdup("127.0.0.1");
    f->client_conn.peer_port = 40862;
    f->request = req("http", "127.0.0.1", 1, "/");
    mitm_headers_add(&f->request->headers, "Host", 4, "127.0.0.1:1", 11);
    mitm_flow_set_error(f, "Error connecting to 127.0.0.1:1: connection refused", 2.0);
    struct mitm_buf out;
    mitm_buf_init(&out, 0);
    mitm_dump_format(&st, f, &out);
    const char *want = "127.0.0.1:40862: GET http://127.0.0.1:1/\n"
                       "    Host: 127.0.0.1:1\n"
                       " << Error connecting to 127.0.0.1:1: connection refused\n";
    cr_assert_eq(memcmp(mitm_buf_data(&out), want, strlen(want)), 0, "got: %.*s", (int)out.len,
                 mitm_buf_data(&out));
    cr_assert_eq(out.len, strlen(want));
    mitm_buf_free(&out);
    mitm_flow_unref(f);
}

Test(dump, long_url_truncated_at_detail1)
{
    struct mitm_dump_style st = {.flow_detail = 1, .columns = 80, .lines_cutoff = 70};
    struct mitm_flow *f = flow_200();
    free(f->request->path);
    f->request->path = mitm_strdup("/0123456789012345678901234567890123456789012345678901234567890123456789");
    struct mitm_buf out;
    mitm_buf_init(&out, 0);
    mitm_dump_format(&st, f, &out);
    /* max(80 - 25, 50) = 55 characters of URL, then an ellipsis */
    const char *want =
        "127.0.0.1:40848: GET http://127.0.0.1:18091/01234567890123456789012345678901\xe2\x80\xa6 HTTP/1.1\n";
    cr_assert_eq(memcmp(mitm_buf_data(&out), want, strlen(want)), 0, "got: %.*s", (int)out.len,
                 mitm_buf_data(&out));
    mitm_buf_free(&out);
    mitm_flow_unref(f);
}

Test(uuid, version4_and_unique)
{
    char a[MITM_UUID_LEN + 1], b[MITM_UUID_LEN + 1];
    mitm_uuid4(a);
    mitm_uuid4(b);
    cr_assert_eq(strlen(a), 36);
    cr_assert_eq(a[14], '4');
    cr_assert(strchr("89ab", a[19]) != NULL);
    cr_assert_str_neq(a, b);
}
