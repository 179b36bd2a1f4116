/* Fuzz target: the body decoders (flow/encoding.h) over arbitrary bytes. The first input byte
 * picks the Content-Encoding (low 4 bits: every coding, case variants, chains, unknown names)
 * and the decompression cap (bits 4-6: 0 bytes to 1 MiB); the rest is the encoded body.
 * Checks the contract of mitm_decode: a success never holds more than cap bytes, a failure
 * leaves out empty with a reason, the same input decodes the same way, and a larger cap
 * never turns a success into a failure or changes its bytes. Then, with the body as the
 * payload, every encoder's output decodes back to the payload, and the message path
 * (mitm_encoding_message_content) returns either the decoded bytes or the raw ones. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "flow/encoding.h"
#include "proto/http/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                                             \
    do {                                                                                                     \
        if (!(c))                                                                                            \
            abort();                                                                                         \
    } while (0)

#define BIG_CAP       ((size_t)1 << 20)
#define MAX_ROUNDTRIP 2048 /* payload bytes run through every encoder */

static const char *const codings[16] = {
    NULL,    "identity", "gzip",     "x-gzip",  "deflate",       "deflateraw",     "br",    "zstd",
    "GZIP ", "none",     "gzip, br", "br,zstd", "zstd, deflate", "identity, gzip", "bogus", "gzip,,br",
};

static const size_t caps[8] = {0, 1, 2, 100, 1000, 4096, 65536, BIG_CAP};

struct result {
    int rc;
    struct mitm_buf out;
    char err[256];
};

static void decode(const char *ce, const uint8_t *in, size_t len, size_t cap, struct result *r)
{
    memset(r, 0, sizeof(*r));
    r->rc = mitm_decode(ce, in, len, cap, &r->out, r->err, sizeof(r->err));
    CHECK(r->rc == 0 || r->rc == -1);
    if (r->rc == 0) {
        CHECK(r->out.len <= cap);
    } else {
        CHECK(r->out.len == 0 && r->err[0] != 0);
        CHECK(memchr(r->err, 0, sizeof(r->err)) != NULL);
    }
}

static bool same_bytes(const struct mitm_buf *a, const struct mitm_buf *b)
{
    return a->len == b->len && (a->len == 0 || memcmp(mitm_buf_data(a), mitm_buf_data(b), a->len) == 0);
}

static void roundtrip(const char *ce, const uint8_t *p, size_t len)
{
    struct mitm_buf enc, dec;
    char err[256];
    memset(&enc, 0, sizeof(enc));
    memset(&dec, 0, sizeof(dec));
    CHECK(mitm_encode(ce, p, len, BIG_CAP, &enc, err, sizeof(err)) == 0);
    /* every stage of a chain is capped, and an inner stage may be larger than the payload */
    CHECK(mitm_decode(ce, mitm_buf_data(&enc), enc.len, BIG_CAP, &dec, err, sizeof(err)) == 0);
    CHECK(dec.len == len && (len == 0 || memcmp(mitm_buf_data(&dec), p, len) == 0));
    mitm_buf_free(&enc);
    mitm_buf_free(&dec);
}

static void message(const char *ce, const uint8_t *p, size_t len, size_t cap)
{
    struct mitm_headers h;
    mitm_headers_init(&h);
    if (ce)
        mitm_headers_add(&h, "Content-Encoding", 16, ce, strlen(ce));
    struct mitm_buf content, storage;
    mitm_buf_init(&content, 0);
    mitm_buf_append(&content, p, len);
    mitm_buf_init(&storage, 0);
    struct mitm_slice body;
    CHECK(mitm_encoding_message_content(&h, &content, false, cap, &storage, &body));
    bool raw = body.len == len && (len == 0 || memcmp(body.base, mitm_buf_data(&content), len) == 0);
    /* decoded: the bytes are storage's (an empty view may point at any "" literal) */
    CHECK(raw || (body.len == storage.len && body.len <= cap &&
                  (body.len == 0 || body.base == mitm_buf_data(&storage))));
    mitm_buf_free(&storage);
    mitm_buf_init(&storage, 0);
    CHECK(!mitm_encoding_message_content(&h, &content, true, cap, &storage, &body));
    CHECK(body.len == 0);
    mitm_buf_free(&storage);
    mitm_buf_free(&content);
    mitm_headers_free(&h);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    const char *ce = codings[data[0] & 15];
    size_t cap = caps[(data[0] >> 4) & 7];
    const uint8_t *in = data + 1;
    size_t len = size - 1;

    struct result a, b, big;
    decode(ce, in, len, cap, &a);
    decode(ce, in, len, cap, &b);
    CHECK(a.rc == b.rc && same_bytes(&a.out, &b.out) && strcmp(a.err, b.err) == 0);
    decode(ce, in, len, BIG_CAP, &big);
    if (a.rc == 0)
        CHECK(big.rc == 0 && same_bytes(&a.out, &big.out));
    mitm_buf_free(&a.out);
    mitm_buf_free(&b.out);
    mitm_buf_free(&big.out);

    /* the encoders, with the input as payload */
    static const char *const encoders[] = {"identity", "gzip", "deflate", "br", "zstd", "gzip, br"};
    size_t plen = len < MAX_ROUNDTRIP ? len : MAX_ROUNDTRIP;
    for (size_t i = 0; i < sizeof(encoders) / sizeof(encoders[0]); i++)
        roundtrip(encoders[i], in, plen);

    message(ce, in, len, cap);
    return 0;
}
