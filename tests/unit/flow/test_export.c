/* Export formats: the exact strings of mitmproxy's test/mitmproxy/addons/test_export.py. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "flow/export.h"
#include "flow/flow.h"
#include "proto/http/http.h"
#include "util.h"

static char *export(const char *fmt, struct mitm_flow *f, bool preserve, int *rc)
{
    struct mitm_buf b;
    mitm_buf_init(&b, 1 << 20);
    char err[256] = "";
    *rc = mitm_export(fmt, f, preserve, &b, err, sizeof(err));
    if (*rc != 0) {
        mitm_buf_free(&b);
        return strdup(err);
    }
    size_t n;
    return (char *)mitm_buf_steal(&b, &n);
}

static void expect(const char *fmt, struct mitm_flow *f, bool preserve, const char *want)
{
    int rc;
    char *got = export(fmt, f, preserve, &rc);
    cr_assert_eq(rc, 0, "%s: %s", fmt, got);
    cr_assert_str_eq(got, want);
    free(got);
}

static void expect_err(const char *fmt, struct mitm_flow *f, const char *want)
{
    int rc;
    char *got = export(fmt, f, false, &rc);
    cr_assert_eq(rc, -1, "%s unexpectedly succeeded: %s", fmt, got);
    cr_assert_str_eq(got, want);
    free(got);
}

static struct mitm_flow *get_request(void)
{
    return t_flow("GET", "http", "address", 22, "/path?a=foo&a=bar&b=baz", "", 0, "header", "qvalue",
                  "content-length", "0", NULL);
}

static struct mitm_flow *post_request(const char *body)
{
    return t_flow("POST", "http", "address", 22, "/path", body, body ? strlen(body) : 0, NULL);
}

Test(curl, get)
{
    struct mitm_flow *f = get_request();
    expect("curl", f, false, "curl -H 'header: qvalue' 'http://address:22/path?a=foo&a=bar&b=baz'");
    mitm_flow_unref(f);
}

Test(curl, post)
{
    struct mitm_flow *f = post_request("nobinarysupport");
    expect("curl", f, false, "curl -X POST http://address:22/path -d nobinarysupport");
    mitm_flow_unref(f);
}

Test(curl, post_without_content_has_content_length_0)
{
    struct mitm_flow *f = post_request(NULL);
    f->request->content_missing = true;
    expect("curl", f, false, "curl -H 'content-length: 0' -X POST http://address:22/path");
    mitm_flow_unref(f);
}

Test(curl, binary_utf8_body_fails)
{
    uint8_t bin[256];
    for (int i = 0; i < 256; i++)
        bin[i] = (uint8_t)i;
    struct mitm_flow *f = t_flow("POST", "http", "address", 22, "/path", bin, 256, "Content-Type",
                                 "application/json; charset=utf-8", NULL);
    expect_err("curl", f, "Request content must be valid unicode");
    expect_err("httpie", f, "Request content must be valid unicode");
    mitm_flow_unref(f);
}

Test(curl, binary_latin1_body_is_printf_escaped)
{
    /* no charset: Latin-1, as mitmproxy; \x01 and the newline become printf escapes, 0xe9 é */
    struct mitm_flow *f = t_flow("POST", "http", "address", 22, "/path", "a\x01\xe9\n", 4, NULL);
    expect("curl", f, false, "curl -X POST http://address:22/path -d \"$(printf 'a\\x01\xc3\xa9\\x0a')\"");
    mitm_flow_unref(f);
}

Test(curl, patch)
{
    struct mitm_flow *f = t_flow("PATCH", "http", "address", 22, "/path?query=param", "content", 7, "header",
                                 "qvalue", "content-length", "7", NULL);
    expect("curl", f, false,
           "curl -H 'header: qvalue' -X PATCH 'http://address:22/path?query=param' -d content");
    mitm_flow_unref(f);
}

Test(curl, single_quotes_in_body)
{
    struct mitm_flow *f = post_request("'&#");
    expect("curl", f, false, "curl -X POST http://address:22/path -d ''\"'\"'&#'");
    mitm_flow_unref(f);
}

Test(curl, expand_escaped)
{
    struct mitm_flow *f = post_request("foo\nbar");
    expect("curl", f, false, "curl -X POST http://address:22/path -d \"$(printf 'foo\\x0abar')\"");
    mitm_flow_unref(f);
}

Test(curl, strip_unnecessary)
{
    struct mitm_flow *f = t_flow("GET", "http", "address", 22, "/path?a=foo&a=bar&b=baz", "", 0, "host",
                                 "address", ":authority", "address", "accept-encoding", "br", NULL);
    expect("curl", f, false, "curl --compressed 'http://address:22/path?a=foo&a=bar&b=baz'");
    mitm_flow_unref(f);
}

Test(curl, correct_host_used_and_preserve_ip)
{
    struct mitm_flow *f = get_request();
    mitm_headers_set(&f->request->headers, "host", "domain:22", 9);
    f->server_conn.peer_host = strdup("192.168.0.1");
    expect("curl", f, false,
           "curl -H 'header: qvalue' -H 'host: domain:22' 'http://domain:22/path?a=foo&a=bar&b=baz'");
    expect("curl", f, true,
           "curl --resolve 'domain:22:[192.168.0.1]' -H 'header: qvalue' -H 'host: domain:22' "
           "'http://domain:22/path?a=foo&a=bar&b=baz'");
    expect("httpie", f, false,
           "http GET 'http://domain:22/path?a=foo&a=bar&b=baz' 'header: qvalue' 'host: domain:22'");
    mitm_flow_unref(f);
}

Test(curl, gzip_body_is_decoded)
{
    static const uint8_t gz[] = {0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0xcb, 0x48, 0xcd,
                                 0xc9, 0xc9, 0x07, 0x00, 0x86, 0xa6, 0x10, 0x36, 0x05, 0x00, 0x00, 0x00};
    struct mitm_flow *f = t_flow("PUT", "https", "example.com", 443, "/x", gz, sizeof(gz), "Content-Encoding",
                                 "gzip", "Content-Length", "25", NULL);
    expect("curl", f, false, "curl -X PUT https://example.com/x -d hello");
    expect("raw_request", f, false, "PUT /x HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello");
    mitm_flow_unref(f);
}

Test(httpie, formats)
{
    struct mitm_flow *f = get_request();
    expect("httpie", f, false, "http GET 'http://address:22/path?a=foo&a=bar&b=baz' 'header: qvalue'");
    mitm_flow_unref(f);
    f = post_request("nobinarysupport");
    expect("httpie", f, false, "http POST http://address:22/path <<< nobinarysupport");
    mitm_flow_unref(f);
    f = t_flow("PATCH", "http", "address", 22, "/path?query=param", "content", 7, "header", "qvalue",
               "content-length", "7", NULL);
    expect("httpie", f, false,
           "http PATCH 'http://address:22/path?query=param' 'header: qvalue' <<< content");
    mitm_flow_unref(f);
}

Test(raw, request_response_and_both)
{
    struct mitm_flow *f = get_request();
    expect("raw_request", f, false,
           "GET /path?a=foo&a=bar&b=baz HTTP/1.1\r\nheader: qvalue\r\ncontent-length: 0\r\n\r\n");
    expect_err("raw_response", f, "Can't export flow with no response.");
    expect("raw", f, false,
           "GET /path?a=foo&a=bar&b=baz HTTP/1.1\r\nheader: qvalue\r\ncontent-length: 0\r\n\r\n");
    t_response(f, 404, "Test Response Body", 18, "header-response", "svalue", "content-length", "18", NULL);
    expect(
        "raw_response", f, false,
        "HTTP/1.1 404 Not Found\r\nheader-response: svalue\r\ncontent-length: 18\r\n\r\nTest Response Body");
    expect(
        "raw", f, false,
        "GET /path?a=foo&a=bar&b=baz HTTP/1.1\r\nheader: qvalue\r\ncontent-length: 0\r\n\r\n\r\n\r\n"
        "HTTP/1.1 404 Not Found\r\nheader-response: svalue\r\ncontent-length: 18\r\n\r\nTest Response Body");
    f->request->content_missing = true;
    expect_err("raw_request", f, "Request content missing.");
    expect(
        "raw", f, false,
        "HTTP/1.1 404 Not Found\r\nheader-response: svalue\r\ncontent-length: 18\r\n\r\nTest Response Body");
    f->response->content_missing = true;
    expect_err("raw", f, "Can't export flow with no request or response.");
    mitm_flow_unref(f);
}

/* mitmproxy's test_export.py test_websocket, with the exact bytes of export.raw. */
Test(raw, websocket_messages)
{
    struct mitm_flow *f = get_request();
    t_response(f, 101, "", 0, "upgrade", "websocket", NULL);
    f->websocket = mitm_websocket_new();
    expect("raw", f, false,
           "GET /path?a=foo&a=bar&b=baz HTTP/1.1\r\nheader: qvalue\r\ncontent-length: 0\r\n\r\n\r\n\r\n"
           "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\n\r\n\r\n\r\n");
    mitm_websocket_add(f->websocket, 2, true, "hello binary", 12, 1.0);
    mitm_websocket_add(f->websocket, 1, true, "hello text", 10, 2.0);
    mitm_websocket_add(f->websocket, 1, false, "it's me", 7, 3.0);
    expect("raw", f, false,
           "GET /path?a=foo&a=bar&b=baz HTTP/1.1\r\nheader: qvalue\r\ncontent-length: 0\r\n\r\n\r\n\r\n"
           "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\n\r\n\r\n\r\n"
           "[OUTGOING] hello binary\n[OUTGOING] hello text\n[INCOMING] it's me");
    /* only with both request and response, as mitmproxy */
    f->request->content_missing = true;
    expect("raw", f, false, "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\n\r\n");
    mitm_flow_unref(f);
}

Test(raw, head_keeps_nonzero_content_length)
{
    struct mitm_flow *f = t_flow("HEAD", "http", "address", 22, "/path", NULL, 0, NULL);
    t_response(f, 200, NULL, 0, "content-length", "7", NULL);
    expect("raw_response", f, false, "HTTP/1.1 200 OK\r\ncontent-length: 7\r\n\r\n");
    mitm_flow_unref(f);
}

Test(raw, absolute_form_and_chunked)
{
    struct mitm_flow *f =
        t_flow("POST", "http", "example.com", 80, "/up", "abc", 3, "Transfer-Encoding", "chunked", NULL);
    mitm_str_set(&f->request->authority, "example.com", 11);
    expect("raw_request", f, false,
           "POST http://example.com/up HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n");
    mitm_flow_unref(f);
}

Test(export, tcp_and_unknown_format)
{
    struct mitm_flow *f = mitm_flow_new(MITM_FLOW_TCP, 1);
    expect_err("curl", f, "Can't export flow with no request.");
    expect_err("raw_response", f, "Can't export flow with no response.");
    expect_err("raw", f, "Can't export flow with no request or response.");
    expect_err("nonexistent", f, "No such export format: nonexistent");
    mitm_flow_unref(f);
    size_t n;
    const char *const *v = mitm_export_formats(&n);
    cr_assert_eq(n, 5);
    cr_assert_str_eq(v[0], "curl");
    cr_assert_str_eq(v[4], "raw_response");
}

Test(export, shell_quote)
{
    struct {
        const char *in, *out;
    } cases[] = {
        {"", "''"},           {"abc-_@%+=:,./9", "abc-_@%+=:,./9"},
        {"a b", "'a b'"},     {"it's", "'it'\"'\"'s'"},
        {"$HOME", "'$HOME'"}, {"\xc3\xa9", "'\xc3\xa9'"},
        {"a\nb", "'a\nb'"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct mitm_buf b;
        mitm_buf_init(&b, 0);
        mitm_export_shell_quote(&b, cases[i].in, strlen(cases[i].in));
        cr_assert_eq(b.len, strlen(cases[i].out), "case %zu", i);
        cr_assert(memcmp(mitm_buf_data(&b), cases[i].out, b.len) == 0, "case %zu", i);
        mitm_buf_free(&b);
    }
}

Test(export, charsets)
{
    cr_assert_eq(mitm_charset_of("text/html; charset=UTF-8", 24, MITM_CHARSET_LATIN1), MITM_CHARSET_UTF8);
    cr_assert_eq(mitm_charset_of("text/html; charset=\"iso-8859-1\"", 31, MITM_CHARSET_UTF8),
                 MITM_CHARSET_LATIN1);
    cr_assert_eq(mitm_charset_of("application/vnd.api+json", 24, MITM_CHARSET_LATIN1), MITM_CHARSET_UTF8);
    cr_assert_eq(mitm_charset_of("text/plain", 10, MITM_CHARSET_LATIN1), MITM_CHARSET_LATIN1);
    cr_assert_eq(mitm_charset_of("text/plain; charset=koi8-r", 26, MITM_CHARSET_LATIN1), MITM_CHARSET_OTHER);
    struct mitm_buf b;
    mitm_buf_init(&b, 0);
    cr_assert_eq(mitm_charset_decode(MITM_CHARSET_UTF8, (const uint8_t *)"\xed\xa0\x80", 3, &b),
                 -1); /* surrogate */
    cr_assert_eq(mitm_charset_decode(MITM_CHARSET_UTF8, (const uint8_t *)"\xc0\xaf", 2, &b),
                 -1); /* overlong */
    b.len = 0;
    cr_assert_eq(mitm_charset_encode(MITM_CHARSET_LATIN1, (const uint8_t *)"\xc3\xa9x", 3, &b), 0);
    cr_assert_eq(b.len, 2);
    cr_assert_eq(mitm_buf_data(&b)[0], 0xe9);
    cr_assert_eq(mitm_charset_encode(MITM_CHARSET_LATIN1, (const uint8_t *)"\xe2\x82\xac", 3, &b),
                 -1); /* euro */
    mitm_buf_free(&b);
}
