/* Fuzz target: the chunked body decoder. The first input byte picks the validation mode and a
 * trailer cap; the rest is the body, decoded whole and again split at a data-derived offset.
 * Both runs must agree on outcome, payload, consumed bytes and trailers (abort otherwise), and
 * the payload re-encoded with the chunk writers must decode back to itself. */
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

struct run {
    struct mitm_buf payload, trailers;
    size_t consumed;
    bool done, error;
};

static void body_init(struct mitm_h1_body *b, const struct mitm_h1_limits *lim)
{
    struct mitm_http_request *r = mitm_http_request_new();
    mitm_str_set(&r->http_version, "HTTP/1.1", 8);
    mitm_headers_add(&r->headers, "Transfer-Encoding", 17, "chunked", 7);
    const char *reason;
    CHECK(mitm_h1_request_framing(r, lim, b, &reason) == 0 && b->kind == MITM_H1_BODY_CHUNKED);
    mitm_http_request_free(r);
}

static void feed(struct mitm_h1_body *b, const uint8_t *in, size_t len, struct run *run)
{
    size_t off = 0;
    for (size_t iter = 0; off < len && !run->done && !run->error && iter < 2 * len + 4; iter++) {
        struct mitm_slice d;
        bool done = false;
        const char *reason = NULL;
        ssize_t r = mitm_h1_body_decode(b, in + off, len - off, &d, &done, &reason);
        if (r < 0) {
            CHECK(r == MITM_PARSE_ERROR && reason);
            run->error = true;
            return;
        }
        CHECK((size_t)r <= len - off);
        CHECK(d.len == 0 || (d.base >= in + off && d.base + d.len <= in + off + (size_t)r));
        mitm_buf_append(&run->payload, d.base, d.len);
        off += (size_t)r;
        run->consumed += (size_t)r;
        run->done = done;
        CHECK(r > 0 || done);
    }
    CHECK(off == len || run->done || run->error);
}

static void run_split(const uint8_t *in, size_t len, size_t split, const struct mitm_h1_limits *lim,
                      struct run *run)
{
    struct mitm_h1_body b;
    body_init(&b, lim);
    memset(run, 0, sizeof(*run));
    mitm_buf_init(&run->payload, 0);
    mitm_buf_init(&run->trailers, 0);
    feed(&b, in, split, run);
    feed(&b, in + split, len - split, run);
    if (run->done && b.trailers)
        mitm_h1_write_last_chunk(&run->trailers, b.trailers);
    mitm_h1_body_free(&b);
}

static void run_free(struct run *r)
{
    mitm_buf_free(&r->payload);
    mitm_buf_free(&r->trailers);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    struct mitm_h1_limits lim = {
        .max_line = 1024, .max_head = data[0] & 1 ? 64 : 16384, .validate = (data[0] & 2) == 0};
    const uint8_t *in = data + 1;
    size_t len = size - 1;
    size_t split = len ? ((size_t)data[0] * 2654435761u) % (len + 1) : 0;
    struct run whole, parts;
    run_split(in, len, len, &lim, &whole);
    run_split(in, len, split, &lim, &parts);
    CHECK(whole.error == parts.error && whole.done == parts.done);
    if (!whole.error) {
        CHECK(whole.consumed == parts.consumed);
        CHECK(mitm_slice_eq(mitm_buf_slice(&whole.payload), mitm_buf_slice(&parts.payload)));
        CHECK(mitm_slice_eq(mitm_buf_slice(&whole.trailers), mitm_buf_slice(&parts.trailers)));
    }
    if (whole.done) {
        /* re-encode and decode again: same payload, whole input consumed */
        struct mitm_buf enc;
        mitm_buf_init(&enc, 0);
        mitm_h1_write_chunk(&enc, mitm_buf_data(&whole.payload), whole.payload.len);
        mitm_h1_write_last_chunk(&enc, NULL);
        struct run again;
        run_split(mitm_buf_data(&enc), enc.len, enc.len / 2, &lim, &again);
        CHECK(again.done && !again.error && again.consumed == enc.len);
        CHECK(mitm_slice_eq(mitm_buf_slice(&whole.payload), mitm_buf_slice(&again.payload)));
        run_free(&again);
        mitm_buf_free(&enc);
    }
    run_free(&whole);
    run_free(&parts);
    return 0;
}
