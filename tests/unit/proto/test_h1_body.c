/* HTTP/1 body framing and the chunked decoder (src/proto/http1/h1_body.c). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/http/http.h"
#include "proto/http1/h1.h"

static const struct mitm_h1_limits strict = {.max_line = 1024, .max_head = 4096, .validate = true};
static const struct mitm_h1_limits lenient = {.max_line = 1024, .max_head = 4096, .validate = false};

/* ---- framing ---- */

static struct mitm_http_request *req_with(const char *version, const char *const *hdrs)
{
    struct mitm_http_request *r = mitm_http_request_new();
    r->method = strdup("POST");
    r->http_version = strdup(version);
    for (size_t i = 0; hdrs && hdrs[i]; i += 2)
        mitm_headers_add(&r->headers, hdrs[i], strlen(hdrs[i]), hdrs[i + 1], strlen(hdrs[i + 1]));
    return r;
}

/* Request framing; returns 0/-1 and fills kind/remaining. */
static int req_framing(const char *version, const struct mitm_h1_limits *lim, enum mitm_h1_body_kind *kind,
                       uint64_t *remaining, const char *const *hdrs)
{
    struct mitm_http_request *r = req_with(version, hdrs);
    struct mitm_h1_body b;
    const char *reason = NULL;
    int rc = mitm_h1_request_framing(r, lim, &b, &reason);
    if (rc == 0) {
        *kind = b.kind;
        *remaining = b.remaining;
        mitm_h1_body_free(&b);
    } else {
        cr_assert_not_null(reason);
    }
    mitm_http_request_free(r);
    return rc;
}

#define H(...) ((const char *const[]){__VA_ARGS__, NULL})

static void req_ok(const char *const *hdrs, enum mitm_h1_body_kind want, uint64_t want_len)
{
    enum mitm_h1_body_kind kind;
    uint64_t rem;
    cr_assert_eq(req_framing("HTTP/1.1", &strict, &kind, &rem, hdrs), 0, "%s: %s", hdrs[0], hdrs[1]);
    cr_assert_eq(kind, want, "%s: %s", hdrs[0], hdrs[1]);
    cr_assert_eq(rem, want_len);
}

static void req_bad(const char *version, const struct mitm_h1_limits *lim, const char *const *hdrs)
{
    enum mitm_h1_body_kind kind;
    uint64_t rem;
    cr_assert_eq(req_framing(version, lim, &kind, &rem, hdrs), -1, "%s: %s", hdrs[0], hdrs[1]);
}

Test(h1_framing, request_content_length)
{
    enum mitm_h1_body_kind kind;
    uint64_t rem;
    cr_assert_eq(req_framing("HTTP/1.1", &strict, &kind, &rem, NULL), 0);
    cr_assert_eq(kind, MITM_H1_BODY_NONE, "a request without CL/TE has no body");
    req_ok(H("Content-Length", "5"), MITM_H1_BODY_LENGTH, 5);
    req_ok(H("content-LENGTH", "0"), MITM_H1_BODY_LENGTH, 0);
    req_ok(H("Content-Length", "007"), MITM_H1_BODY_LENGTH, 7);
    req_ok(H("Content-Length", "5", "Content-Length", "5"), MITM_H1_BODY_LENGTH, 5);
    req_ok(H("Content-Length", "5, 5", "Content-Length", "5"), MITM_H1_BODY_LENGTH, 5);
    req_ok(H("Content-Length", "9223372036854775807"), MITM_H1_BODY_LENGTH, 9223372036854775807ull);
    req_bad("HTTP/1.1", &strict, H("Content-Length", "5", "Content-Length", "6"));
    req_bad("HTTP/1.1", &strict, H("Content-Length", "5, 6"));
    req_bad("HTTP/1.1", &strict, H("Content-Length", "5,"));
    req_bad("HTTP/1.1", &strict, H("Content-Length", ""));
    req_bad("HTTP/1.1", &strict, H("Content-Length", "abc"));
    req_bad("HTTP/1.1", &strict, H("Content-Length", "-1"));
    req_bad("HTTP/1.1", &strict, H("Content-Length", "+5"));
    req_bad("HTTP/1.1", &strict, H("Content-Length", "5 5"));
    req_bad("HTTP/1.1", &strict, H("Content-Length", "0x10"));
    req_bad("HTTP/1.1", &strict, H("Content-Length", "9223372036854775808"));
    req_bad("HTTP/1.1", &strict, H("Content-Length", "99999999999999999999999"));
    req_bad("HTTP/1.1", &lenient, H("Content-Length", "5", "Content-Length", "6"));
}

static bool te_chunked(const char *const *hdrs)
{
    struct mitm_http_request *r = req_with("HTTP/1.1", hdrs);
    bool c = mitm_h1_te_chunked(&r->headers);
    mitm_http_request_free(r);
    return c;
}

/* What a writer frames forwarded headers with: the same reading as the framing functions. */
Test(h1_framing, te_chunked_for_writers)
{
    cr_assert(te_chunked(H("Transfer-Encoding", "chunked")));
    cr_assert(te_chunked(H("Transfer-Encoding", "gzip", "Transfer-Encoding", "chunked")),
              "two fields, one list");
    cr_assert(te_chunked(H("Transfer-Encoding", "gzip , Chunked ")));
    cr_assert(!te_chunked(H("Transfer-Encoding", "chunked", "Transfer-Encoding", "gzip")));
    cr_assert(!te_chunked(H("Transfer-Encoding", "chunked,")), "invalid: never read as chunked");
    cr_assert(!te_chunked(H("Content-Length", "5")));
}

Test(h1_framing, request_transfer_encoding)
{
    req_ok(H("Transfer-Encoding", "chunked"), MITM_H1_BODY_CHUNKED, 0);
    req_ok(H("transfer-encoding", "CHUNKED"), MITM_H1_BODY_CHUNKED, 0);
    req_ok(H("Transfer-Encoding", "gzip, chunked"), MITM_H1_BODY_CHUNKED, 0);
    req_ok(H("Transfer-Encoding", "gzip", "Transfer-Encoding", "chunked"), MITM_H1_BODY_CHUNKED, 0);
    /* empty list elements: refused (as mitmproxy), so no upstream reads another framing */
    req_bad("HTTP/1.1", &strict, H("Transfer-Encoding", ", chunked ,"));
    req_bad("HTTP/1.1", &strict, H("Transfer-Encoding", "chunked,"));
    req_bad("HTTP/1.1", &strict, H("Transfer-Encoding", "gzip,,chunked"));
    req_ok(H("Transfer-Encoding", "gzip ,chunked"), MITM_H1_BODY_CHUNKED, 0);
    req_bad("HTTP/1.1", &strict, H("Transfer-Encoding", "chunked, gzip"));
    req_bad("HTTP/1.1", &strict, H("Transfer-Encoding", "chunked", "Transfer-Encoding", "gzip"));
    req_bad("HTTP/1.1", &strict, H("Transfer-Encoding", "chunked, chunked"));
    req_bad("HTTP/1.1", &strict, H("Transfer-Encoding", "gzip"));
    req_bad("HTTP/1.1", &strict, H("Transfer-Encoding", ""));
    req_bad("HTTP/1.1", &strict, H("Transfer-Encoding", "xchunked"));
    req_bad("HTTP/1.1", &strict, H("Transfer-Encoding", "foo, chunked"));
    req_bad("HTTP/1.1", &strict, H("Transfer-Encoding", "chunked\x0b"));
    req_bad("HTTP/1.1", &strict, H("Transfer-Encoding", "\"chunked\""));
    req_bad("HTTP/1.0", &strict, H("Transfer-Encoding", "chunked"));
    req_bad("HTTP/1.0", &lenient, H("Transfer-Encoding", "chunked"));
    /* RFC 9112 §6.3: CL + TE is refused when validating, else TE wins */
    req_bad("HTTP/1.1", &strict, H("Content-Length", "5", "Transfer-Encoding", "chunked"));
    req_bad("HTTP/1.1", &strict, H("Transfer-Encoding", "chunked", "Content-Length", "x"));
    struct mitm_http_request *r =
        req_with("HTTP/1.1", H("Content-Length", "4", "Transfer-Encoding", "chunked"));
    struct mitm_h1_body b;
    const char *reason = NULL;
    cr_assert_eq(mitm_h1_request_framing(r, &strict, &b, &reason), -1);
    cr_assert_str_eq(reason, "Content-Length and Transfer-Encoding both present");
    mitm_http_request_free(r);
    enum mitm_h1_body_kind kind;
    uint64_t rem;
    cr_assert_eq(req_framing("HTTP/1.1", &lenient, &kind, &rem,
                             H("Content-Length", "5", "Transfer-Encoding", "chunked")),
                 0);
    cr_assert_eq(kind, MITM_H1_BODY_CHUNKED);
}

static int resp_framing(const char *method, int code, const char *version, const struct mitm_h1_limits *lim,
                        enum mitm_h1_body_kind *kind, uint64_t *rem, const char *const *hdrs)
{
    struct mitm_http_response *r = mitm_http_response_new();
    r->status_code = code;
    r->http_version = strdup(version);
    for (size_t i = 0; hdrs && hdrs[i]; i += 2)
        mitm_headers_add(&r->headers, hdrs[i], strlen(hdrs[i]), hdrs[i + 1], strlen(hdrs[i + 1]));
    struct mitm_h1_body b;
    const char *reason = NULL;
    int rc = mitm_h1_response_framing(method, r, lim, &b, &reason);
    if (rc == 0) {
        *kind = b.kind;
        *rem = b.remaining;
        mitm_h1_body_free(&b);
    } else {
        cr_assert_not_null(reason);
    }
    mitm_http_response_free(r);
    return rc;
}

static void resp_kind(const char *method, int code, const char *version, const char *const *hdrs,
                      enum mitm_h1_body_kind want, uint64_t want_len)
{
    enum mitm_h1_body_kind kind;
    uint64_t rem;
    cr_assert_eq(resp_framing(method, code, version, &strict, &kind, &rem, hdrs), 0, "%s %d", method, code);
    cr_assert_eq(kind, want, "%s %d: kind %d", method, code, kind);
    cr_assert_eq(rem, want_len);
}

Test(h1_framing, response)
{
    resp_kind("GET", 200, "HTTP/1.1", H("Content-Length", "12"), MITM_H1_BODY_LENGTH, 12);
    resp_kind("GET", 200, "HTTP/1.1", H("Transfer-Encoding", "chunked"), MITM_H1_BODY_CHUNKED, 0);
    resp_kind("GET", 200, "HTTP/1.1", H("Transfer-Encoding", "gzip"), MITM_H1_BODY_CLOSE, 0);
    resp_kind("GET", 200, "HTTP/1.1", H("Transfer-Encoding", "chunked, gzip"), MITM_H1_BODY_CLOSE, 0);
    resp_kind("GET", 200, "HTTP/1.1", H("Transfer-Encoding", "br, chunked"), MITM_H1_BODY_CHUNKED, 0);
    resp_kind("GET", 200, "HTTP/1.0", H("Transfer-Encoding", "chunked"), MITM_H1_BODY_CLOSE, 0);
    resp_kind("GET", 200, "HTTP/1.1", NULL, MITM_H1_BODY_CLOSE, 0);
    resp_kind("GET", 200, "HTTP/1.0", NULL, MITM_H1_BODY_CLOSE, 0);
    /* RFC 9112 §6.3 rules 1 and 2 win over any header */
    resp_kind("HEAD", 200, "HTTP/1.1", H("Content-Length", "12"), MITM_H1_BODY_NONE, 0);
    resp_kind("HEAD", 200, "HTTP/1.1", H("Transfer-Encoding", "chunked"), MITM_H1_BODY_NONE, 0);
    resp_kind("GET", 100, "HTTP/1.1", NULL, MITM_H1_BODY_NONE, 0);
    resp_kind("GET", 101, "HTTP/1.1", H("Content-Length", "3"), MITM_H1_BODY_NONE, 0);
    resp_kind("GET", 199, "HTTP/1.1", NULL, MITM_H1_BODY_NONE, 0);
    resp_kind("GET", 204, "HTTP/1.1", H("Content-Length", "3"), MITM_H1_BODY_NONE, 0);
    resp_kind("GET", 304, "HTTP/1.1", H("Content-Length", "3"), MITM_H1_BODY_NONE, 0);
    resp_kind("CONNECT", 200, "HTTP/1.1", H("Content-Length", "3"), MITM_H1_BODY_NONE, 0);
    resp_kind("CONNECT", 299, "HTTP/1.1", NULL, MITM_H1_BODY_NONE, 0);
    resp_kind("CONNECT", 407, "HTTP/1.1", H("Content-Length", "3"), MITM_H1_BODY_LENGTH, 3);
    resp_kind("GET", 205, "HTTP/1.1", H("Content-Length", "0"), MITM_H1_BODY_LENGTH, 0);

    enum mitm_h1_body_kind kind;
    uint64_t rem;
    cr_assert_eq(resp_framing("GET", 200, "HTTP/1.1", &strict, &kind, &rem,
                              H("Content-Length", "1", "Transfer-Encoding", "chunked")),
                 -1);
    cr_assert_eq(resp_framing("GET", 200, "HTTP/1.1", &lenient, &kind, &rem,
                              H("Content-Length", "1", "Transfer-Encoding", "chunked")),
                 0);
    cr_assert_eq(kind, MITM_H1_BODY_CHUNKED);
    cr_assert_eq(resp_framing("GET", 200, "HTTP/1.1", &strict, &kind, &rem, H("Content-Length", "1, 2")), -1);
    cr_assert_eq(resp_framing("GET", 200, "HTTP/1.1", &strict, &kind, &rem, H("Content-Length", "x")), -1);
    cr_assert_eq(resp_framing("GET", 200, "HTTP/1.1", &strict, &kind, &rem,
                              H("Transfer-Encoding", "chunked, chunked")),
                 -1);
    cr_assert_eq(resp_framing("GET", 200, "HTTP/1.1", NULL, &kind, &rem, H("Content-Length", "4")), 0);
    cr_assert_eq(kind, MITM_H1_BODY_LENGTH);
}

/* ---- decoding ---- */

struct result {
    struct mitm_buf payload;
    size_t consumed;
    bool done;
    bool error;
    const char *reason;
    struct mitm_buf trailers; /* serialised as name ": " value "\n" */
};

static struct mitm_h1_body body_of(enum mitm_h1_body_kind kind, uint64_t len,
                                   const struct mitm_h1_limits *lim)
{
    struct mitm_http_request *r = mitm_http_request_new();
    r->http_version = strdup("HTTP/1.1");
    if (kind == MITM_H1_BODY_CHUNKED)
        mitm_headers_add(&r->headers, "Transfer-Encoding", 17, "chunked", 7);
    if (kind == MITM_H1_BODY_LENGTH) {
        char cl[32];
        snprintf(cl, sizeof(cl), "%llu", (unsigned long long)len);
        mitm_headers_add(&r->headers, "Content-Length", 14, cl, strlen(cl));
    }
    struct mitm_h1_body b;
    const char *reason;
    cr_assert_eq(mitm_h1_request_framing(r, lim, &b, &reason), 0);
    cr_assert_eq(b.kind, kind);
    mitm_http_request_free(r);
    return b;
}

/* Feed in[0..len) until all of it is consumed, done, or an error. Bounded loop. */
static void feed(struct mitm_h1_body *b, const uint8_t *in, size_t len, struct result *res)
{
    size_t off = 0;
    for (size_t iter = 0; iter < 2 * len + 4 && !res->done && !res->error; iter++) {
        struct mitm_slice data;
        bool done = false;
        const char *reason = NULL;
        ssize_t r = mitm_h1_body_decode(b, in + off, len - off, &data, &done, &reason);
        if (r == MITM_PARSE_ERROR) {
            cr_assert_not_null(reason);
            res->error = true;
            res->reason = reason;
            return;
        }
        cr_assert_geq(r, 0);
        cr_assert_leq((size_t)r, len - off);
        if (data.len) {
            cr_assert(data.base >= in + off && data.base + data.len <= in + off + (size_t)r,
                      "payload slice must point into the consumed input");
            mitm_buf_append(&res->payload, data.base, data.len);
        }
        off += (size_t)r;
        res->consumed += (size_t)r;
        res->done = done;
        if (off == len)
            return;
        cr_assert(r > 0 || done, "no progress without done");
    }
    cr_assert(off == len || res->done || res->error, "decode loop did not finish");
}

static void finish(struct mitm_h1_body *b, struct result *res)
{
    if (b->trailers) {
        for (size_t i = 0; i < b->trailers->n; i++)
            mitm_buf_printf(&res->trailers, "%s: %s\n", b->trailers->v[i].name, b->trailers->v[i].value);
        cr_assert_gt(b->trailers->n, 0);
    }
    mitm_h1_body_free(b);
}

static void result_init(struct result *res)
{
    memset(res, 0, sizeof(*res));
    mitm_buf_init(&res->payload, 0);
    mitm_buf_init(&res->trailers, 0);
}

static void result_free(struct result *res)
{
    mitm_buf_free(&res->payload);
    mitm_buf_free(&res->trailers);
}

static void decode_split(const char *in, size_t len, size_t k, const struct mitm_h1_limits *lim,
                         struct result *res)
{
    struct mitm_h1_body b = body_of(MITM_H1_BODY_CHUNKED, 0, lim);
    result_init(res);
    feed(&b, (const uint8_t *)in, k, res);
    if (!res->done && !res->error)
        feed(&b, (const uint8_t *)in + k, len - k, res);
    finish(&b, res);
}

static void assert_same(const struct result *a, const struct result *b, size_t k)
{
    cr_assert_eq(a->error, b->error, "split %zu: error differs (%s)", k, b->reason ? b->reason : "");
    cr_assert_eq(a->done, b->done, "split %zu", k);
    if (!a->error) {
        cr_assert_eq(a->consumed, b->consumed, "split %zu", k);
        cr_assert(mitm_slice_eq(mitm_buf_slice(&a->payload), mitm_buf_slice(&b->payload)), "split %zu", k);
        cr_assert(mitm_slice_eq(mitm_buf_slice(&a->trailers), mitm_buf_slice(&b->trailers)), "split %zu", k);
    }
}

/* Decode whole, then split in two at every offset and byte by byte: same payload, trailers,
 * consumed count and outcome. Returns the whole result (caller frees). */
static struct result check_all_splits(const char *in, size_t len, const struct mitm_h1_limits *lim)
{
    struct result whole;
    decode_split(in, len, len, lim, &whole);
    for (size_t k = 0; k <= len; k++) {
        struct result part;
        decode_split(in, len, k, lim, &part);
        assert_same(&whole, &part, k);
        result_free(&part);
    }
    struct mitm_h1_body b = body_of(MITM_H1_BODY_CHUNKED, 0, lim);
    struct result bytes;
    result_init(&bytes);
    for (size_t i = 0; i < len && !bytes.done && !bytes.error; i++)
        feed(&b, (const uint8_t *)in + i, 1, &bytes);
    finish(&b, &bytes);
    assert_same(&whole, &bytes, (size_t)-1);
    result_free(&bytes);
    return whole;
}

static void expect_chunked(const char *in, const char *payload, const char *trailers, size_t consumed)
{
    struct result r = check_all_splits(in, strlen(in), &strict);
    cr_assert(!r.error, "%s: %s", in, r.reason);
    cr_assert(r.done, "%s", in);
    cr_assert_eq(r.consumed, consumed, "%s: consumed %zu", in, r.consumed);
    cr_assert_eq(r.payload.len, strlen(payload), "%s", in);
    cr_assert_eq(memcmp(mitm_buf_data(&r.payload), payload, r.payload.len), 0);
    cr_assert_eq(r.trailers.len, strlen(trailers), "%s: trailers %.*s", in, (int)r.trailers.len,
                 mitm_buf_data(&r.trailers));
    cr_assert_eq(memcmp(mitm_buf_data(&r.trailers), trailers, r.trailers.len), 0);
    result_free(&r);
}

static void expect_chunked_error(const char *in, size_t len, const struct mitm_h1_limits *lim)
{
    struct result r = check_all_splits(in, len, lim);
    cr_assert(r.error, "expected a chunked error for %s", in);
    result_free(&r);
}

Test(h1_chunked, basic_and_next_message)
{
    const char *in = "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\nGET / HTTP/1.1\r\n";
    expect_chunked(in, "hello world", "", strlen(in) - 16);
    expect_chunked("0\r\n\r\n", "", "", 5);
}

Test(h1_chunked, extensions_case_and_lf)
{
    expect_chunked("5;a=b;c=\"d e\"\r\nhello\r\nA ; x\r\n0123456789\r\n0;last\r\n\r\n", "hello0123456789", "",
                   51);
    expect_chunked("000a\r\n0123456789\r\n00\r\n\r\n", "0123456789", "", 24);
    expect_chunked("3\nabc\n0\n\n", "abc", "", 9);
    expect_chunked("3\t\r\nabc\r\n0\r\n\r\n", "abc", "", 14);
    expect_chunked("3;\x80\xff\tx\r\nabc\r\n0\r\n\r\n", "abc", "", 18);
}

Test(h1_chunked, trailers)
{
    const char *in = "4\r\nwiki\r\n0\r\nX-Checksum: abc\r\nx-other:  1 2 \r\nX-Checksum: d\r\n\r\nNEXT";
    expect_chunked(in, "wiki", "X-Checksum: abc\nx-other: 1 2\nX-Checksum: d\n", strlen(in) - 4);
    expect_chunked("0\nA: b\n\n", "", "A: b\n", 8);
}

Test(h1_chunked, errors)
{
#define E(s) expect_chunked_error(s, sizeof(s) - 1, &strict)
    E("g\r\n");
    E("\r\n");
    E("\n");
    E(";ext\r\n");
    E(" 5\r\nhello\r\n0\r\n\r\n");
    E("5x\r\nhello\r\n0\r\n\r\n");
    E("5 5\r\nhello\r\n0\r\n\r\n");
    E("5\rX\nhello\r\n0\r\n\r\n");
    E("5;a\rb\r\nhello\r\n0\r\n\r\n");
    E("5;a\x01\r\nhello\r\n0\r\n\r\n");
    E("5;a\0\r\nhello\r\n0\r\n\r\n");
    E("5\r\nhelloX\r\n0\r\n\r\n");
    E("5\r\nhello\rX0\r\n\r\n");
    E("5\r\nhello\r\n0\r\nX: a\rb\r\n\r\n");
    E("5\r\nhello\r\n0\r\n\rX\r\n");
    E("5\r\nhello\r\n0\r\nX: a\r\n b\r\n\r\n");
    E("5\r\nhello\r\n0\r\nX : a\r\n\r\n");
    E("5\r\nhello\r\n0\r\nNoColon\r\n\r\n");
    E("5\r\nhello\r\n0\r\nX: \x01\r\n\r\n");
    E("10000000000000000\r\n");
    E("8000000000000000\r\n");
#undef E
}

Test(h1_chunked, size_limits)
{
    /* 2^63 - 1 is accepted as a size (the data then never finishes here) */
    struct mitm_h1_body b = body_of(MITM_H1_BODY_CHUNKED, 0, &strict);
    struct result r;
    result_init(&r);
    feed(&b, (const uint8_t *)"7fffffffffffffff\r\nab", 20, &r);
    cr_assert(!r.error);
    cr_assert_eq(b.remaining, 0x7fffffffffffffffull - 2);
    cr_assert_eq(r.payload.len, 2);
    mitm_h1_body_free(&b);
    result_free(&r);

    /* a chunk-size line is capped at 4 KiB */
    static char line[5000];
    memcpy(line, "1;", 2);
    memset(line + 2, 'x', sizeof(line) - 2);
    expect_chunked_error(line, sizeof(line), &strict);
    memset(line, '0', sizeof(line));
    expect_chunked_error(line, sizeof(line), &strict);

    /* trailers are capped by max_trailer (lim->max_head), even if they never end */
    struct mitm_h1_limits small = {.max_line = 64, .max_head = 32, .validate = true};
    const char *t = "0\r\nX: 012345678901234567890123456\r\n\r\n"; /* 32 bytes of trailer line */
    struct result ok = check_all_splits(t, strlen(t), &small);
    cr_assert(!ok.error && ok.done, "%s", ok.reason);
    result_free(&ok);
    const char *t2 = "0\r\nX: 0123456789012345678901234567\r\n\r\n";
    expect_chunked_error(t2, strlen(t2), &small);
    const char *t3 = "0\r\nX: 01234567890123456789012345678901234567890123456789";
    expect_chunked_error(t3, strlen(t3), &small);
}

Test(h1_chunked, lenient_trailers_and_sticky_error)
{
    const char *in = "1\r\na\r\n0\r\nX : a\r\n b\r\n\r\n";
    struct result r = check_all_splits(in, strlen(in), &lenient);
    cr_assert(!r.error && r.done);
    cr_assert_eq(r.trailers.len, strlen("X: a b\n"));
    cr_assert_eq(memcmp(mitm_buf_data(&r.trailers), "X: a b\n", r.trailers.len), 0);
    result_free(&r);

    struct mitm_h1_body b = body_of(MITM_H1_BODY_CHUNKED, 0, &strict);
    struct mitm_slice data;
    bool done;
    const char *reason = NULL;
    cr_assert_eq(mitm_h1_body_decode(&b, (const uint8_t *)"z", 1, &data, &done, &reason), MITM_PARSE_ERROR);
    cr_assert_str_eq(reason, "Invalid chunk size");
    reason = NULL;
    cr_assert_eq(mitm_h1_body_decode(&b, (const uint8_t *)"0\r\n\r\n", 5, &data, &done, &reason),
                 MITM_PARSE_ERROR);
    cr_assert_not_null(reason);
    mitm_h1_body_free(&b);
}

Test(h1_chunked, caller_takes_trailers)
{
    struct mitm_h1_body b = body_of(MITM_H1_BODY_CHUNKED, 0, &strict);
    struct result r;
    result_init(&r);
    const char *in = "0\r\nA: 1\r\n\r\n";
    feed(&b, (const uint8_t *)in, strlen(in), &r);
    cr_assert(r.done);
    struct mitm_headers *t = b.trailers;
    b.trailers = NULL;
    cr_assert_eq(t->n, 1);
    mitm_h1_body_free(&b);
    mitm_headers_free(t);
    free(t);
    result_free(&r);
    /* done is sticky and consumes nothing more */
    struct mitm_slice data;
    bool done = false;
    const char *reason;
    b = body_of(MITM_H1_BODY_CHUNKED, 0, &strict);
    cr_assert_eq(mitm_h1_body_decode(&b, (const uint8_t *)"0\r\n\r\nX", 6, &data, &done, &reason), 5);
    cr_assert(done);
    cr_assert_eq(mitm_h1_body_decode(&b, (const uint8_t *)"X", 1, &data, &done, &reason), 0);
    cr_assert(done);
    cr_assert_eq(data.len, 0);
    mitm_h1_body_free(&b);
}

Test(h1_body, length_none_close)
{
    struct mitm_h1_body b = body_of(MITM_H1_BODY_LENGTH, 7, &strict);
    struct mitm_slice data;
    bool done;
    const char *reason;
    cr_assert_eq(mitm_h1_body_decode(&b, (const uint8_t *)"abc", 3, &data, &done, &reason), 3);
    cr_assert(!done);
    cr_assert_eq(data.len, 3);
    cr_assert_eq(mitm_h1_body_decode(&b, (const uint8_t *)"defgNEXT", 8, &data, &done, &reason), 4);
    cr_assert(done);
    cr_assert_eq(memcmp(data.base, "defg", 4), 0);
    cr_assert_eq(mitm_h1_body_decode(&b, (const uint8_t *)"NEXT", 4, &data, &done, &reason), 0);
    cr_assert(done);
    mitm_h1_body_free(&b);

    b = body_of(MITM_H1_BODY_LENGTH, 0, &strict);
    cr_assert_eq(mitm_h1_body_decode(&b, (const uint8_t *)"GET", 3, &data, &done, &reason), 0);
    cr_assert(done);
    mitm_h1_body_free(&b);

    b = body_of(MITM_H1_BODY_NONE, 0, &strict);
    cr_assert_eq(mitm_h1_body_decode(&b, (const uint8_t *)"GET", 3, &data, &done, &reason), 0);
    cr_assert(done);
    cr_assert_eq(data.len, 0);
    mitm_h1_body_free(&b);

    struct mitm_http_response *resp = mitm_http_response_new();
    resp->status_code = 200;
    resp->http_version = strdup("HTTP/1.0");
    cr_assert_eq(mitm_h1_response_framing("GET", resp, &strict, &b, &reason), 0);
    cr_assert_eq(b.kind, MITM_H1_BODY_CLOSE);
    cr_assert_eq(mitm_h1_body_decode(&b, (const uint8_t *)"0\r\n\r\n", 5, &data, &done, &reason), 5);
    cr_assert(!done);
    cr_assert_eq(data.len, 5);
    mitm_h1_body_free(&b);
    mitm_http_response_free(resp);
}

Test(h1_chunked, writers_roundtrip)
{
    struct mitm_buf out;
    mitm_buf_init(&out, 0);
    static uint8_t big[300];
    memset(big, 'z', sizeof(big));
    mitm_h1_write_chunk(&out, (const uint8_t *)"hello", 5);
    mitm_h1_write_chunk(&out, (const uint8_t *)"", 0);
    mitm_h1_write_chunk(&out, big, sizeof(big));
    struct mitm_headers t;
    mitm_headers_init(&t);
    mitm_headers_add(&t, "X-T", 3, "v 1", 3);
    mitm_headers_add(&t, "x-t", 3, "", 0);
    mitm_h1_write_last_chunk(&out, &t);
    mitm_headers_free(&t);
    const char *head = "5\r\nhello\r\n12c\r\n";
    cr_assert_eq(memcmp(mitm_buf_data(&out), head, strlen(head)), 0);
    const char *tail = "\r\n0\r\nX-T: v 1\r\nx-t: \r\n\r\n";
    cr_assert_eq(out.len, strlen(head) + sizeof(big) + strlen(tail));
    cr_assert_eq(memcmp(mitm_buf_data(&out) + out.len - strlen(tail), tail, strlen(tail)), 0);

    struct result r = check_all_splits((const char *)mitm_buf_data(&out), out.len, &strict);
    cr_assert(r.done && !r.error);
    cr_assert_eq(r.consumed, out.len);
    cr_assert_eq(r.payload.len, 305);
    cr_assert_eq(memcmp(mitm_buf_data(&r.payload), "hello", 5), 0);
    cr_assert_eq(r.trailers.len, strlen("X-T: v 1\nx-t: \n"));
    result_free(&r);
    mitm_buf_free(&out);

    mitm_buf_init(&out, 0);
    mitm_h1_write_last_chunk(&out, NULL);
    cr_assert_eq(out.len, 5);
    cr_assert_eq(memcmp(mitm_buf_data(&out), "0\r\n\r\n", 5), 0);
    mitm_buf_free(&out);
}
