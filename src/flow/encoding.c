#include "flow/encoding.h"
#include "base/err.h"
#include "base/alloc.h"
#include "proto/http/http.h"

#include <brotli/decode.h>
#include <brotli/encode.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>
#include <zstd.h>

/* A chain longer than this is refused: no real server stacks more than two codings,
 * and each stage costs a full pass over the body. */
#define MAX_CHAIN 8

enum codec { C_IDENTITY, C_GZIP, C_DEFLATE, C_BR, C_ZSTD };

enum { ENC_OK = 0, ENC_ERR = -1 };

/* Output under construction. mem never grows beyond limit = cap + 1 bytes, so crossing
 * the cap is seen without ever holding more than one byte past it. */
struct sink {
    uint8_t *mem;
    size_t len, alloc, cap, limit;
    bool decoding; /* picks the wording of the cap error */
};

/* Format the error and return ENC_ERR, for `return fail(...)`. */
#define fail(err, errlen, ...) (mitm_errf((err), (errlen), __VA_ARGS__), ENC_ERR)

static void sink_init(struct sink *s, size_t cap, bool decoding)
{
    memset(s, 0, sizeof(*s));
    s->cap = cap;
    s->limit = cap == SIZE_MAX ? SIZE_MAX : cap + 1;
    s->decoding = decoding;
}

static int too_big(const struct sink *s, char *err, size_t errlen)
{
    return fail(err, errlen, "%s body exceeds %zu bytes", s->decoding ? "decompressed" : "encoded", s->cap);
}

/* Make sure there is free room at mem + len. hint sizes the first allocation (a
 * multiple of the input size: the usual compression ratio). */
static int sink_room(struct sink *s, size_t hint, char *err, size_t errlen)
{
    if (s->len > s->cap)
        return too_big(s, err, errlen);
    if (s->len < s->alloc)
        return ENC_OK;
    size_t want;
    if (s->alloc == 0)
        want = hint < 4096 ? 4096 : hint;
    else
        want = s->alloc > SIZE_MAX / 2 ? SIZE_MAX : s->alloc * 2;
    if (want > s->limit)
        want = s->limit;
    uint8_t *m = realloc(s->mem, want);
    if (!m)
        return fail(err, errlen, "out of memory for a %zu byte body", want);
    s->mem = m;
    s->alloc = want;
    return ENC_OK;
}

static void sink_free(struct sink *s)
{
    free(s->mem);
    s->mem = NULL;
    s->len = s->alloc = 0;
}

/* Hand the bytes to a mitm_buf (keeping its room for a NUL: alloc > len). */
static int sink_to_buf(struct sink *s, struct mitm_buf *out, char *err, size_t errlen)
{
    mitm_buf_init(out, s->cap);
    if (s->len == 0) {
        sink_free(s);
        return ENC_OK;
    }
    if (s->len == s->alloc) {
        uint8_t *m = realloc(s->mem, s->len + 1);
        if (!m)
            return fail(err, errlen, "out of memory");
        s->mem = m;
        s->alloc = s->len + 1;
    }
    out->mem = s->mem;
    out->len = s->len;
    out->alloc = s->alloc;
    s->mem = NULL;
    s->len = s->alloc = 0;
    return ENC_OK;
}

static size_t first_hint(size_t inlen)
{
    return inlen > SIZE_MAX / 4 ? SIZE_MAX : inlen * 4;
}

/* ---- zlib (gzip, deflate) ---- */

/* Inflate with the given window bits. lenient: a stream that ends early yields what
 * was decoded so far (Python's zlib.decompressobj, which mitmproxy uses for gzip). */
static int inflate_run(const uint8_t *in, size_t len, int wbits, bool lenient, const char *name,
                       struct sink *s, char *err, size_t errlen)
{
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    if (inflateInit2(&zs, wbits) != Z_OK)
        return fail(err, errlen, "%s: cannot initialise zlib", name);
    size_t left = len;
    zs.next_in = (Bytef *)in;
    int rc = ENC_OK;
    for (;;) {
        if (zs.avail_in == 0 && left) {
            zs.avail_in = left > UINT_MAX ? UINT_MAX : (uInt)left;
            left -= zs.avail_in;
        }
        if ((rc = sink_room(s, first_hint(len), err, errlen)) != ENC_OK)
            break;
        size_t room = s->alloc - s->len;
        zs.next_out = s->mem + s->len;
        zs.avail_out = room > UINT_MAX ? UINT_MAX : (uInt)room;
        uInt before = zs.avail_out;
        int zr = inflate(&zs, Z_NO_FLUSH);
        s->len += before - zs.avail_out;
        if (s->len > s->cap) {
            rc = too_big(s, err, errlen);
            break;
        }
        if (zr == Z_STREAM_END)
            break; /* bytes after the end of the stream are ignored, as zlib/Python do */
        if (zr != Z_OK && zr != Z_BUF_ERROR) {
            rc = fail(err, errlen, "%s: %s", name, zs.msg ? zs.msg : "corrupt stream");
            break;
        }
        if (zs.avail_in == 0 && left == 0 && zs.avail_out > 0) {
            /* all input given and room left, yet no end of stream: cut short */
            if (!lenient)
                rc = fail(err, errlen, "%s: truncated stream", name);
            break;
        }
    }
    inflateEnd(&zs);
    return rc;
}

static int decode_gzip(const uint8_t *in, size_t len, struct sink *s, char *err, size_t errlen)
{
    /* 15 + 32: zlib detects a gzip or a zlib header by itself, as mitmproxy's wbits=47 */
    return inflate_run(in, len, 15 + 32, true, "gzip", s, err, errlen);
}

static int decode_deflate(const uint8_t *in, size_t len, struct sink *s, char *err, size_t errlen)
{
    int rc = inflate_run(in, len, 15, false, "deflate", s, err, errlen);
    if (rc == ENC_OK || s->len > s->cap)
        return rc;
    s->len = 0; /* not zlib-wrapped: retry as raw deflate (what many servers send) */
    return inflate_run(in, len, -15, false, "deflate", s, err, errlen);
}

static int deflate_run(const uint8_t *in, size_t len, int wbits, const char *name, struct sink *s, char *err,
                       size_t errlen)
{
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    if (deflateInit2(&zs, 1, Z_DEFLATED, wbits, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return fail(err, errlen, "%s: cannot initialise zlib", name);
    size_t left = len;
    zs.next_in = (Bytef *)in;
    int rc = ENC_OK;
    for (;;) {
        if (zs.avail_in == 0 && left) {
            zs.avail_in = left > UINT_MAX ? UINT_MAX : (uInt)left;
            left -= zs.avail_in;
        }
        if ((rc = sink_room(s, len / 2 + 64, err, errlen)) != ENC_OK)
            break;
        size_t room = s->alloc - s->len;
        zs.next_out = s->mem + s->len;
        zs.avail_out = room > UINT_MAX ? UINT_MAX : (uInt)room;
        uInt before = zs.avail_out;
        int zr = deflate(&zs, left ? Z_NO_FLUSH : Z_FINISH);
        s->len += before - zs.avail_out;
        if (s->len > s->cap) {
            rc = too_big(s, err, errlen);
            break;
        }
        if (zr == Z_STREAM_END)
            break;
        if (zr != Z_OK && zr != Z_BUF_ERROR) {
            rc = fail(err, errlen, "%s: %s", name, zs.msg ? zs.msg : "compression failed");
            break;
        }
    }
    deflateEnd(&zs);
    return rc;
}

/* ---- brotli ---- */

static int decode_br(const uint8_t *in, size_t len, struct sink *s, char *err, size_t errlen)
{
    BrotliDecoderState *st = BrotliDecoderCreateInstance(NULL, NULL, NULL);
    if (!st)
        return fail(err, errlen, "br: cannot initialise decoder");
    const uint8_t *next_in = in;
    size_t avail_in = len;
    int rc = ENC_OK;
    for (;;) {
        if ((rc = sink_room(s, first_hint(len), err, errlen)) != ENC_OK)
            break;
        size_t avail_out = s->alloc - s->len;
        uint8_t *next_out = s->mem + s->len;
        BrotliDecoderResult r =
            BrotliDecoderDecompressStream(st, &avail_in, &next_in, &avail_out, &next_out, NULL);
        s->len = (size_t)(next_out - s->mem);
        if (s->len > s->cap) {
            rc = too_big(s, err, errlen);
            break;
        }
        if (r == BROTLI_DECODER_RESULT_SUCCESS)
            break;
        if (r == BROTLI_DECODER_RESULT_NEEDS_MORE_INPUT) {
            rc = fail(err, errlen, "br: truncated stream");
            break;
        }
        if (r == BROTLI_DECODER_RESULT_ERROR) {
            rc = fail(err, errlen, "br: %s", BrotliDecoderErrorString(BrotliDecoderGetErrorCode(st)));
            break;
        }
        /* NEEDS_MORE_OUTPUT: loop and grow */
    }
    BrotliDecoderDestroyInstance(st);
    return rc;
}

static int encode_br(const uint8_t *in, size_t len, struct sink *s, char *err, size_t errlen)
{
    BrotliEncoderState *st = BrotliEncoderCreateInstance(NULL, NULL, NULL);
    if (!st)
        return fail(err, errlen, "br: cannot initialise encoder");
    BrotliEncoderSetParameter(st, BROTLI_PARAM_QUALITY, 0);
    const uint8_t *next_in = in;
    size_t avail_in = len;
    int rc = ENC_OK;
    while (!BrotliEncoderIsFinished(st)) {
        if ((rc = sink_room(s, len / 2 + 64, err, errlen)) != ENC_OK)
            break;
        size_t avail_out = s->alloc - s->len;
        uint8_t *next_out = s->mem + s->len;
        if (!BrotliEncoderCompressStream(st, BROTLI_OPERATION_FINISH, &avail_in, &next_in, &avail_out,
                                         &next_out, NULL)) {
            rc = fail(err, errlen, "br: compression failed");
            break;
        }
        s->len = (size_t)(next_out - s->mem);
        if (s->len > s->cap) {
            rc = too_big(s, err, errlen);
            break;
        }
    }
    BrotliEncoderDestroyInstance(st);
    return rc;
}

/* ---- zstd ---- */

static int decode_zstd(const uint8_t *in, size_t len, struct sink *s, char *err, size_t errlen)
{
    ZSTD_DCtx *dc = ZSTD_createDCtx();
    if (!dc)
        return fail(err, errlen, "zstd: cannot initialise decoder");
    /* The decoder allocates the window a frame asks for (up to 128 MiB by default)
     * before producing a byte: refuse windows larger than the cap needs, so a few bytes
     * of input cannot claim more memory than the cap allows (RFC 8878 §3.1.1.1.2). */
    int wlog = 10;
    while (wlog < 27 && ((size_t)1 << wlog) < s->cap)
        wlog++;
    ZSTD_DCtx_setParameter(dc, ZSTD_d_windowLogMax, wlog);
    ZSTD_inBuffer ib = {in, len, 0};
    int rc = ENC_OK;
    for (;;) {
        if ((rc = sink_room(s, first_hint(len), err, errlen)) != ENC_OK)
            break;
        ZSTD_outBuffer ob = {s->mem + s->len, s->alloc - s->len, 0};
        size_t r = ZSTD_decompressStream(dc, &ob, &ib);
        s->len += ob.pos;
        if (ZSTD_isError(r)) {
            rc = fail(err, errlen, "zstd: %s", ZSTD_getErrorName(r));
            break;
        }
        if (s->len > s->cap) {
            rc = too_big(s, err, errlen);
            break;
        }
        /* r == 0: a frame is complete; more input means another frame follows, which
         * Python's zstd.decompress concatenates too */
        if (r == 0 && ib.pos == ib.size)
            break;
        if (ib.pos == ib.size && ob.pos < ob.size) {
            rc = fail(err, errlen, "zstd: truncated stream");
            break;
        }
    }
    ZSTD_freeDCtx(dc);
    return rc;
}

static int encode_zstd(const uint8_t *in, size_t len, struct sink *s, char *err, size_t errlen)
{
    ZSTD_CCtx *cc = ZSTD_createCCtx();
    if (!cc)
        return fail(err, errlen, "zstd: cannot initialise encoder");
    ZSTD_CCtx_setParameter(cc, ZSTD_c_compressionLevel, 1);
    ZSTD_CCtx_setPledgedSrcSize(cc, len);
    ZSTD_inBuffer ib = {in, len, 0};
    int rc = ENC_OK;
    for (;;) {
        if ((rc = sink_room(s, len / 2 + 64, err, errlen)) != ENC_OK)
            break;
        ZSTD_outBuffer ob = {s->mem + s->len, s->alloc - s->len, 0};
        size_t r = ZSTD_compressStream2(cc, &ob, &ib, ZSTD_e_end);
        s->len += ob.pos;
        if (ZSTD_isError(r)) {
            rc = fail(err, errlen, "zstd: %s", ZSTD_getErrorName(r));
            break;
        }
        if (s->len > s->cap) {
            rc = too_big(s, err, errlen);
            break;
        }
        if (r == 0)
            break;
    }
    ZSTD_freeCCtx(cc);
    return rc;
}

/* ---- chains ---- */

static int copy_identity(const uint8_t *in, size_t len, struct sink *s, char *err, size_t errlen)
{
    if (len > s->cap)
        return too_big(s, err, errlen);
    if (len == 0)
        return ENC_OK;
    /* the first allocation is max(4096, len) bounded by cap + 1, so it fits len */
    if (sink_room(s, len, err, errlen) != ENC_OK)
        return ENC_ERR;
    memcpy(s->mem, in, len);
    s->len = len;
    return ENC_OK;
}

static bool token_is(const char *p, size_t n, const char *name)
{
    return strlen(name) == n && strncasecmp(p, name, n) == 0;
}

/* Split "gzip, br" into codecs in the order they were applied. Returns the count, or -1
 * (err set) on an unknown name or an overlong chain. Empty list elements are skipped
 * (RFC 9110 §5.6.1: recipients accept empty elements). */
static int parse_chain(const char *ce, enum codec *v, char *err, size_t errlen)
{
    int n = 0;
    const char *p = ce ? ce : "";
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        const char *start = p;
        while (*p && *p != ',')
            p++;
        const char *end = p;
        while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
            end--;
        size_t tl = (size_t)(end - start);
        if (tl == 0)
            continue;
        enum codec c;
        if (token_is(start, tl, "identity") || token_is(start, tl, "none"))
            continue;
        else if (token_is(start, tl, "gzip") || token_is(start, tl, "x-gzip"))
            c = C_GZIP;
        else if (token_is(start, tl, "deflate") || token_is(start, tl, "deflateraw"))
            c = C_DEFLATE;
        else if (token_is(start, tl, "br"))
            c = C_BR;
        else if (token_is(start, tl, "zstd"))
            c = C_ZSTD;
        else
            return fail(err, errlen, "unknown content encoding: %.*s", tl > 64 ? 64 : (int)tl, start);
        if (n == MAX_CHAIN)
            return fail(err, errlen, "more than %d content encodings", MAX_CHAIN);
        v[n++] = c;
    }
    return n;
}

static int run_codec(enum codec c, bool decoding, const uint8_t *in, size_t len, struct sink *s, char *err,
                     size_t errlen)
{
    if (decoding && len == 0)
        return ENC_OK; /* mitmproxy: empty input decodes to b"" for every codec */
    switch (c) {
    case C_GZIP:
        return decoding ? decode_gzip(in, len, s, err, errlen)
                        : deflate_run(in, len, 15 + 16, "gzip", s, err, errlen);
    case C_DEFLATE:
        return decoding ? decode_deflate(in, len, s, err, errlen)
                        : deflate_run(in, len, 15, "deflate", s, err, errlen);
    case C_BR:
        return decoding ? decode_br(in, len, s, err, errlen) : encode_br(in, len, s, err, errlen);
    case C_ZSTD:
        return decoding ? decode_zstd(in, len, s, err, errlen) : encode_zstd(in, len, s, err, errlen);
    case C_IDENTITY:
        break;
    }
    return copy_identity(in, len, s, err, errlen);
}

static int transcode(bool decoding, const char *ce, const uint8_t *in, size_t len, size_t cap,
                     struct mitm_buf *out, char *err, size_t errlen)
{
    enum codec chain[MAX_CHAIN];
    mitm_buf_init(out, cap);
    if (err && errlen)
        err[0] = 0;
    int n = parse_chain(ce, chain, err, errlen);
    if (n < 0)
        return ENC_ERR;
    struct sink cur, prev;
    sink_init(&prev, cap, decoding);
    if (n == 0) {
        if (copy_identity(in, len, &prev, err, errlen) != ENC_OK)
            goto Fail;
    }
    for (int i = 0; i < n; i++) {
        enum codec c = chain[decoding ? n - 1 - i : i];
        sink_init(&cur, cap, decoding);
        const uint8_t *src = i == 0 ? in : prev.mem;
        size_t srclen = i == 0 ? len : prev.len;
        int rc = run_codec(c, decoding, src ? src : (const uint8_t *)"", srclen, &cur, err, errlen);
        sink_free(&prev);
        prev = cur;
        if (rc != ENC_OK)
            goto Fail;
    }
    if (sink_to_buf(&prev, out, err, errlen) != ENC_OK)
        goto Fail;
    return ENC_OK;
Fail:
    sink_free(&prev);
    return ENC_ERR;
}

int mitm_decode(const char *content_encoding, const uint8_t *in, size_t len, size_t cap, struct mitm_buf *out,
                char *err, size_t errlen)
{
    return transcode(true, content_encoding, in, len, cap, out, err, errlen);
}

int mitm_encode(const char *content_encoding, const uint8_t *in, size_t len, size_t cap, struct mitm_buf *out,
                char *err, size_t errlen)
{
    return transcode(false, content_encoding, in, len, cap, out, err, errlen);
}

/* ---- message bodies ---- */

bool mitm_encoding_message_content(const struct mitm_headers *headers, const struct mitm_buf *content,
                                   bool missing, size_t cap, struct mitm_buf *storage,
                                   struct mitm_slice *body)
{
    mitm_buf_init(storage, 0);
    *body = mitm_slice("", 0);
    if (missing)
        return false;
    struct mitm_slice raw = mitm_buf_slice(content);
    *body = raw;
    if (mitm_headers_find(headers, "content-encoding", 0) < 0)
        return true;
    /* Headers.get joins repeated fields with ", " (RFC 9110 §5.3) */
    struct mitm_buf ce;
    mitm_buf_init(&ce, 0);
    for (long i = mitm_headers_find(headers, "content-encoding", 0); i >= 0;
         i = mitm_headers_find(headers, "content-encoding", (size_t)i + 1)) {
        if (ce.len)
            mitm_buf_append(&ce, ", ", 2);
        mitm_buf_append(&ce, headers->v[i].value, headers->v[i].value_len);
    }
    mitm_buf_append(&ce, "", 1); /* NUL */
    if (mitm_decode((const char *)mitm_buf_data(&ce), raw.base, raw.len, cap, storage, NULL, 0) == 0)
        *body = mitm_buf_slice(storage);
    mitm_buf_free(&ce);
    return true;
}

bool mitm_encoding_request_content(const struct mitm_http_request *r, size_t cap, struct mitm_buf *storage,
                                   struct mitm_slice *body)
{
    return mitm_encoding_message_content(&r->headers, &r->content, r->content_missing, cap, storage, body);
}

bool mitm_encoding_response_content(const struct mitm_http_response *r, size_t cap, struct mitm_buf *storage,
                                    struct mitm_slice *body)
{
    return mitm_encoding_message_content(&r->headers, &r->content, r->content_missing, cap, storage, body);
}
