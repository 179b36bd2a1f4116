/* Fuzz target: HTTP/1 request and response heads, then framing and body decoding of the
 * bytes after the head. Invariants checked (abort on violation): the consumed count is within
 * the input, decoding never reads past its input, and a parsed head serialised again parses
 * back to the same method, target, version, status and fields. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/http/http.h"
#include "proto/http1/h1.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                                             \
    do {                                                                                                     \
        if (!(c))                                                                                            \
            abort();                                                                                         \
    } while (0)

static void same_headers(const struct mitm_headers *a, const struct mitm_headers *b)
{
    CHECK(a->n == b->n);
    for (size_t i = 0; i < a->n; i++) {
        CHECK(mitm_slice_eq(mitm_slice(a->v[i].name, a->v[i].name_len),
                            mitm_slice(b->v[i].name, b->v[i].name_len)));
        CHECK(mitm_slice_eq(mitm_slice(a->v[i].value, a->v[i].value_len),
                            mitm_slice(b->v[i].value, b->v[i].value_len)));
    }
}

/* Decode the body bytes in two pieces (split derived from the data), bounded. */
static void decode_body(struct mitm_h1_body *b, const uint8_t *in, size_t len)
{
    size_t split = len ? in[0] % (len + 1) : 0;
    size_t off = 0;
    for (int piece = 0; piece < 2; piece++) {
        size_t end = piece == 0 ? split : len;
        for (size_t iter = 0; off < end && iter < len + 4; iter++) {
            struct mitm_slice d;
            bool done = false;
            const char *reason = NULL;
            ssize_t r = mitm_h1_body_decode(b, in + off, end - off, &d, &done, &reason);
            if (r < 0) {
                CHECK(r == MITM_PARSE_ERROR && reason);
                return;
            }
            CHECK((size_t)r <= end - off);
            CHECK(d.len == 0 || (d.base >= in + off && d.base + d.len <= in + off + (size_t)r));
            off += (size_t)r;
            if (done)
                return;
            CHECK(r > 0);
        }
    }
}

static void request(const uint8_t *data, size_t size, const struct mitm_h1_limits *lim)
{
    struct mitm_http_request *req = mitm_http_request_new();
    int status = 0;
    const char *reason = NULL;
    ssize_t n = mitm_h1_parse_request_head(data, size, lim, req, &status, &reason);
    if (n == MITM_PARSE_ERROR) {
        CHECK(reason && status >= 400 && status < 600);
        goto Exit;
    }
    if (n == MITM_INCOMPLETE)
        goto Exit;
    CHECK(n > 0 && (size_t)n <= size);

    struct mitm_buf out;
    mitm_buf_init(&out, 0);
    mitm_h1_write_request_head(&out, req, req->form);
    struct mitm_http_request *again = mitm_http_request_new();
    ssize_t m = mitm_h1_parse_request_head(mitm_buf_data(&out), out.len, lim, again, &status, &reason);
    /* the serialisation never has skipped blank lines or OWS, so it is no longer than the input
     * except for the ": " and CRLFs it normalises; allow the limits to differ by that */
    if (m > 0) {
        CHECK((size_t)m == out.len);
        CHECK(strcmp(req->method, again->method) == 0 && strcmp(req->path, again->path) == 0);
        CHECK(strcmp(req->http_version, again->http_version) == 0 && req->form == again->form);
        CHECK(strcmp(req->authority, again->authority) == 0 && req->port == again->port);
        same_headers(&req->headers, &again->headers);
    } else {
        CHECK(m == MITM_PARSE_ERROR && (status == 414 || status == 431));
    }
    mitm_http_request_free(again);
    mitm_buf_free(&out);

    struct mitm_h1_body b;
    if (mitm_h1_request_framing(req, lim, &b, &reason) == 0) {
        decode_body(&b, data + n, size - (size_t)n);
        mitm_h1_body_free(&b);
    } else {
        CHECK(reason);
    }
Exit:
    mitm_http_request_free(req);
}

static void response(const uint8_t *data, size_t size, const struct mitm_h1_limits *lim)
{
    static const char *const methods[] = {"GET", "HEAD", "CONNECT"};
    struct mitm_http_response *resp = mitm_http_response_new();
    const char *reason = NULL;
    ssize_t n = mitm_h1_parse_response_head(data, size, lim, resp, &reason);
    if (n <= 0) {
        CHECK(n == MITM_INCOMPLETE || (n == MITM_PARSE_ERROR && reason));
        goto Exit;
    }
    CHECK((size_t)n <= size);
    struct mitm_buf out;
    mitm_buf_init(&out, 0);
    mitm_h1_write_response_head(&out, resp);
    struct mitm_http_response *again = mitm_http_response_new();
    ssize_t m = mitm_h1_parse_response_head(mitm_buf_data(&out), out.len, lim, again, &reason);
    if (m > 0) {
        CHECK((size_t)m == out.len && resp->status_code == again->status_code);
        CHECK(strcmp(resp->reason, again->reason) == 0);
        same_headers(&resp->headers, &again->headers);
    }
    mitm_http_response_free(again);
    mitm_buf_free(&out);

    struct mitm_h1_body b;
    if (mitm_h1_response_framing(methods[size % 3], resp, lim, &b, &reason) == 0) {
        decode_body(&b, data + n, size - (size_t)n);
        mitm_h1_body_free(&b);
    } else {
        CHECK(reason);
    }
Exit:
    mitm_http_response_free(resp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* odd sizes use tiny limits so the 414/431 paths are exercised too */
    size_t line = size & 1 ? 64 : 8192, head = size & 1 ? 256 : 65536;
    struct mitm_h1_limits strict = {line, head, true}, lenient = {line, head, false};
    request(data, size, &strict);
    request(data, size, &lenient);
    response(data, size, &strict);
    response(data, size, &lenient);
    return 0;
}
