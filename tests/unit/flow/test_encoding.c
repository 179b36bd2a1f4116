#include <brotli/decode.h>
#include <brotli/encode.h>
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "flow/encoding.h"
#include "proto/http/http.h"

#define CAP (64u << 20)

/* Deterministic compressible-but-not-trivial data: words from a small LCG. */
static uint8_t *sample(size_t n)
{
    static const char *const words[] = {"alpha ", "beta ", "gamma ", "delta\n", "\x00\xff", "{\"k\": 1}"};
    uint8_t *p = malloc(n);
    uint32_t x = 12345;
    size_t i = 0;
    while (i < n) {
        x = x * 1103515245u + 12345u;
        const char *w = words[(x >> 16) % 6];
        size_t wl = (x >> 16) % 6 == 4 ? 2 : strlen(w);
        for (size_t j = 0; j < wl && i < n; j++)
            p[i++] = (uint8_t)w[j];
    }
    return p;
}

static void round_trip(const char *ce, size_t n)
{
    uint8_t *in = sample(n);
    struct mitm_buf enc, dec;
    char err[256];
    cr_assert_eq(mitm_encode(ce, in, n, CAP, &enc, err, sizeof(err)), 0, "encode %s: %s", ce, err);
    cr_assert_eq(mitm_decode(ce, mitm_buf_data(&enc), enc.len, CAP, &dec, err, sizeof(err)), 0,
                 "decode %s: %s", ce, err);
    cr_assert_eq(dec.len, n, "%s: %zu bytes back, want %zu", ce, dec.len, n);
    cr_assert_eq(memcmp(mitm_buf_data(&dec), in, n), 0, "%s: bytes differ", ce);
    mitm_buf_free(&enc);
    mitm_buf_free(&dec);
    free(in);
}

Test(encoding, round_trip_every_codec)
{
    const char *codecs[] = {"gzip", "deflate", "br", "zstd", "identity", "none", "", "deflateraw", "x-gzip"};
    const size_t sizes[] = {1, 100, 70000, 1 << 20};
    for (size_t c = 0; c < sizeof(codecs) / sizeof(codecs[0]); c++)
        for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++)
            round_trip(codecs[c], sizes[s]);
}

Test(encoding, encoded_bytes_are_real_codec_output)
{
    /* what we encode, the reference libraries decode (not only our own decoder) */
    uint8_t *in = sample(5000);
    struct mitm_buf enc;
    char err[256];
    uint8_t out[5000];

    cr_assert_eq(mitm_encode("gzip", in, 5000, CAP, &enc, err, sizeof(err)), 0);
    cr_assert_eq(mitm_buf_data(&enc)[0], 0x1f);
    cr_assert_eq(mitm_buf_data(&enc)[1], 0x8b);
    z_stream zs = {0};
    cr_assert_eq(inflateInit2(&zs, 15 + 16), Z_OK);
    zs.next_in = (Bytef *)mitm_buf_data(&enc);
    zs.avail_in = (uInt)enc.len;
    zs.next_out = out;
    zs.avail_out = sizeof(out);
    cr_assert_eq(inflate(&zs, Z_FINISH), Z_STREAM_END);
    cr_assert_eq(zs.total_out, 5000);
    inflateEnd(&zs);
    cr_assert_eq(memcmp(out, in, 5000), 0);
    mitm_buf_free(&enc);

    cr_assert_eq(mitm_encode("deflate", in, 5000, CAP, &enc, err, sizeof(err)), 0);
    uLongf ol = sizeof(out);
    cr_assert_eq(uncompress(out, &ol, mitm_buf_data(&enc), enc.len), Z_OK, "deflate output is zlib-wrapped");
    cr_assert_eq(ol, 5000);
    mitm_buf_free(&enc);

    cr_assert_eq(mitm_encode("br", in, 5000, CAP, &enc, err, sizeof(err)), 0);
    size_t bl = sizeof(out);
    cr_assert_eq(BrotliDecoderDecompress(enc.len, mitm_buf_data(&enc), &bl, out),
                 BROTLI_DECODER_RESULT_SUCCESS);
    cr_assert_eq(bl, 5000);
    cr_assert_eq(memcmp(out, in, 5000), 0);
    mitm_buf_free(&enc);

    cr_assert_eq(mitm_encode("zstd", in, 5000, CAP, &enc, err, sizeof(err)), 0);
    cr_assert_eq(ZSTD_decompress(out, sizeof(out), mitm_buf_data(&enc), enc.len), 5000);
    cr_assert_eq(memcmp(out, in, 5000), 0);
    mitm_buf_free(&enc);
    free(in);
}

static size_t raw_deflate(const uint8_t *in, size_t n, uint8_t *out, size_t cap, int wbits)
{
    z_stream zs = {0};
    cr_assert_eq(deflateInit2(&zs, 6, Z_DEFLATED, wbits, 8, Z_DEFAULT_STRATEGY), Z_OK);
    zs.next_in = (Bytef *)in;
    zs.avail_in = (uInt)n;
    zs.next_out = out;
    zs.avail_out = (uInt)cap;
    cr_assert_eq(deflate(&zs, Z_FINISH), Z_STREAM_END);
    size_t len = zs.total_out;
    deflateEnd(&zs);
    return len;
}

Test(encoding, deflate_accepts_zlib_and_raw_gzip_accepts_zlib)
{
    const char *text = "raw deflate without zlib header, as some servers send it";
    uint8_t comp[256];
    struct mitm_buf out;
    char err[256];
    size_t n = raw_deflate((const uint8_t *)text, strlen(text), comp, sizeof(comp), -15);
    cr_assert_eq(mitm_decode("deflate", comp, n, CAP, &out, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(out.len, strlen(text));
    cr_assert_eq(memcmp(mitm_buf_data(&out), text, out.len), 0);
    mitm_buf_free(&out);

    n = raw_deflate((const uint8_t *)text, strlen(text), comp, sizeof(comp), 15);
    cr_assert_eq(mitm_decode("gzip", comp, n, CAP, &out, err, sizeof(err)), 0, "gzip auto-detects zlib: %s",
                 err);
    cr_assert_eq(out.len, strlen(text));
    mitm_buf_free(&out);
}

Test(encoding, chained_codings_decode_right_to_left)
{
    const char *text = "first gzip, then br on top of it";
    uint8_t gz[256];
    size_t gzlen = raw_deflate((const uint8_t *)text, strlen(text), gz, sizeof(gz), 15 + 16);
    uint8_t br[512];
    size_t brlen = sizeof(br);
    cr_assert(BrotliEncoderCompress(5, 22, BROTLI_MODE_GENERIC, gzlen, gz, &brlen, br));
    struct mitm_buf out;
    char err[256];
    cr_assert_eq(mitm_decode("gzip, br", br, brlen, CAP, &out, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(out.len, strlen(text));
    cr_assert_eq(memcmp(mitm_buf_data(&out), text, out.len), 0);
    mitm_buf_free(&out);
    /* the other order must fail: br data is not gzip */
    cr_assert_eq(mitm_decode("br, gzip", br, brlen, CAP, &out, err, sizeof(err)), -1);
    cr_assert_eq(strncmp(err, "gzip: ", 6), 0, "got: %s", err);
    cr_assert_eq(out.len, 0);

    /* encode applies left to right: "gzip, br" encoded is br(gzip(x)) */
    struct mitm_buf enc, step;
    cr_assert_eq(mitm_encode(" GZIP ,Br", (const uint8_t *)text, strlen(text), CAP, &enc, err, sizeof(err)),
                 0);
    cr_assert_eq(mitm_decode("br", mitm_buf_data(&enc), enc.len, CAP, &step, err, sizeof(err)), 0);
    cr_assert_eq(mitm_buf_data(&step)[0], 0x1f, "inner layer is gzip");
    mitm_buf_free(&step);
    cr_assert_eq(mitm_decode("identity, gzip,,br", mitm_buf_data(&enc), enc.len, CAP, &out, err, sizeof(err)),
                 0);
    cr_assert_eq(out.len, strlen(text));
    mitm_buf_free(&out);
    mitm_buf_free(&enc);
}

Test(encoding, unknown_and_corrupt_inputs_fail_with_reason)
{
    struct mitm_buf out;
    char err[256];
    const uint8_t junk[] = "this is not compressed at all, not even a little";
    cr_assert_eq(mitm_decode("compress", junk, sizeof(junk), CAP, &out, err, sizeof(err)), -1);
    cr_assert_str_eq(err, "unknown content encoding: compress");
    cr_assert_eq(mitm_decode("gzip, utf8", junk, sizeof(junk), CAP, &out, err, sizeof(err)), -1);
    cr_assert_str_eq(err, "unknown content encoding: utf8");

    cr_assert_eq(mitm_decode("gzip", junk, sizeof(junk), CAP, &out, err, sizeof(err)), -1);
    cr_assert_str_eq(err, "gzip: incorrect header check");
    cr_assert_eq(mitm_decode("deflate", junk, sizeof(junk), CAP, &out, err, sizeof(err)), -1);
    cr_assert_eq(strncmp(err, "deflate: ", 9), 0, "got: %s", err);
    cr_assert_eq(mitm_decode("br", junk, sizeof(junk), CAP, &out, err, sizeof(err)), -1);
    cr_assert_eq(strncmp(err, "br: ", 4), 0, "got: %s", err);
    cr_assert_eq(mitm_decode("zstd", junk, sizeof(junk), CAP, &out, err, sizeof(err)), -1);
    cr_assert_str_eq(err, "zstd: Unknown frame descriptor");
    cr_assert_eq(out.len, 0);
    cr_assert_null(out.mem);
}

Test(encoding, truncated_streams)
{
    uint8_t *in = sample(20000);
    char err[256];
    const char *strict[] = {"deflate", "br", "zstd"};
    for (size_t i = 0; i < 3; i++) {
        struct mitm_buf enc, out;
        cr_assert_eq(mitm_encode(strict[i], in, 20000, CAP, &enc, err, sizeof(err)), 0);
        cr_assert_eq(mitm_decode(strict[i], mitm_buf_data(&enc), enc.len - 3, CAP, &out, err, sizeof(err)),
                     -1, "%s cut short must fail", strict[i]);
        cr_assert_neq(strstr(err, strict[i]), NULL, "got: %s", err);
        mitm_buf_free(&enc);
    }
    /* gzip is lenient like Python's decompressobj: the bytes decoded so far */
    struct mitm_buf enc, out;
    cr_assert_eq(mitm_encode("gzip", in, 20000, CAP, &enc, err, sizeof(err)), 0);
    cr_assert_eq(mitm_decode("gzip", mitm_buf_data(&enc), enc.len / 2, CAP, &out, err, sizeof(err)), 0, "%s",
                 err);
    cr_assert_gt(out.len, 0);
    cr_assert_lt(out.len, 20000);
    cr_assert_eq(memcmp(mitm_buf_data(&out), in, out.len), 0);
    mitm_buf_free(&out);
    mitm_buf_free(&enc);
    free(in);
}

Test(encoding, empty_input_is_empty_output)
{
    const char *codecs[] = {"gzip", "deflate", "br", "zstd", "identity"};
    for (size_t i = 0; i < 5; i++) {
        struct mitm_buf out;
        char err[64];
        cr_assert_eq(mitm_decode(codecs[i], (const uint8_t *)"", 0, CAP, &out, err, sizeof(err)), 0);
        cr_assert_eq(out.len, 0);
        mitm_buf_free(&out);
    }
}

Test(encoding, cap_is_exact)
{
    uint8_t *in = sample(10000);
    struct mitm_buf enc, out;
    char err[256];
    const char *codecs[] = {"gzip", "deflate", "br", "zstd", "identity"};
    for (size_t i = 0; i < 5; i++) {
        cr_assert_eq(mitm_encode(codecs[i], in, 10000, CAP, &enc, err, sizeof(err)), 0);
        cr_assert_eq(mitm_decode(codecs[i], mitm_buf_data(&enc), enc.len, 10000, &out, err, sizeof(err)), 0,
                     "%s: exactly the cap is allowed: %s", codecs[i], err);
        cr_assert_eq(out.len, 10000);
        mitm_buf_free(&out);
        cr_assert_eq(mitm_decode(codecs[i], mitm_buf_data(&enc), enc.len, 9999, &out, err, sizeof(err)), -1);
        cr_assert_str_eq(err, "decompressed body exceeds 9999 bytes", "%s", codecs[i]);
        cr_assert_null(out.mem);
        mitm_buf_free(&enc);
    }
    cr_assert_eq(mitm_encode("identity", in, 10000, 100, &enc, err, sizeof(err)), -1);
    cr_assert_str_eq(err, "encoded body exceeds 100 bytes");
    cr_assert_eq(mitm_encode("gzip", in, 10000, 100, &enc, err, sizeof(err)), -1);
    cr_assert_str_eq(err, "encoded body exceeds 100 bytes");
    free(in);
}

Test(encoding, zstd_concatenated_frames)
{
    uint8_t frames[256];
    size_t a = ZSTD_compress(frames, sizeof(frames), "hello ", 6, 1);
    size_t b = ZSTD_compress(frames + a, sizeof(frames) - a, "world", 5, 1);
    cr_assert(!ZSTD_isError(a) && !ZSTD_isError(b));
    struct mitm_buf out;
    char err[128];
    cr_assert_eq(mitm_decode("zstd", frames, a + b, CAP, &out, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(out.len, 11);
    cr_assert_eq(memcmp(mitm_buf_data(&out), "hello world", 11), 0);
    mitm_buf_free(&out);
}

/* 1 GiB of zeros through deflate is about 1 MiB of gzip (Z_RLE: same size as level 9
 * with the default strategy, in a third of the time). */
static uint8_t *gzip_bomb(size_t *len)
{
    static uint8_t zeros[1 << 20];
    size_t cap = 4u << 20;
    uint8_t *out = malloc(cap);
    z_stream zs = {0};
    cr_assert_eq(deflateInit2(&zs, 9, Z_DEFLATED, 15 + 16, 9, Z_RLE), Z_OK);
    zs.next_out = out;
    zs.avail_out = (uInt)cap;
    for (int i = 0; i < 1024; i++) {
        zs.next_in = zeros;
        zs.avail_in = sizeof(zeros);
        cr_assert_eq(deflate(&zs, i == 1023 ? Z_FINISH : Z_NO_FLUSH), i == 1023 ? Z_STREAM_END : Z_OK);
        cr_assert_eq(zs.avail_in, 0);
    }
    cr_assert_eq(zs.total_in, 1ul << 30);
    *len = zs.total_out;
    deflateEnd(&zs);
    return out;
}

Test(encoding, gzip_bomb_refused_at_cap, .timeout = 60)
{
    size_t len;
    uint8_t *bomb = gzip_bomb(&len);
    cr_assert_lt(len, 2u << 20, "bomb is %zu bytes", len);
    struct mitm_buf out;
    char err[128];
    cr_assert_eq(mitm_decode("gzip", bomb, len, 10u << 20, &out, err, sizeof(err)), -1);
    cr_assert_str_eq(err, "decompressed body exceeds 10485760 bytes");
    cr_assert_null(out.mem);
    cr_assert_eq(out.len, 0);
    /* chained: the cap holds for every stage */
    cr_assert_eq(mitm_decode("gzip, identity", bomb, len, 1000, &out, err, sizeof(err)), -1);
    cr_assert_str_eq(err, "decompressed body exceeds 1000 bytes");
    free(bomb);
}

Test(encoding, message_content_helper)
{
    const char *text = "<html>decoded</html>";
    uint8_t gz[256];
    size_t gzlen = raw_deflate((const uint8_t *)text, strlen(text), gz, sizeof(gz), 15 + 16);
    struct mitm_http_response *r = mitm_http_response_new();
    mitm_buf_append(&r->content, gz, gzlen);
    struct mitm_buf store;
    struct mitm_slice body;

    /* no Content-Encoding: raw bytes, nothing stored */
    cr_assert(mitm_encoding_response_content(r, CAP, &store, &body));
    cr_assert_eq(body.len, gzlen);
    cr_assert_eq(store.len, 0);
    mitm_buf_free(&store);

    mitm_headers_add(&r->headers, "Content-Encoding", 16, "GZIP", 4);
    cr_assert(mitm_encoding_response_content(r, CAP, &store, &body));
    cr_assert_eq(body.len, strlen(text));
    cr_assert_eq(memcmp(body.base, text, body.len), 0);
    mitm_buf_free(&store);

    /* decoding past the cap falls back to the raw bytes */
    cr_assert(mitm_encoding_response_content(r, 5, &store, &body));
    cr_assert_eq(body.len, gzlen);
    cr_assert_eq(memcmp(body.base, gz, gzlen), 0);
    mitm_buf_free(&store);

    /* a second Content-Encoding field chains: "gzip, br" */
    mitm_headers_add(&r->headers, "content-encoding", 16, "br", 2);
    cr_assert(mitm_encoding_response_content(r, CAP, &store, &body));
    cr_assert_eq(body.len, gzlen, "not br data: raw bytes");
    mitm_buf_free(&store);

    r->content_missing = true;
    cr_assert_not(mitm_encoding_response_content(r, CAP, &store, &body));
    cr_assert_eq(body.len, 0);
    mitm_buf_free(&store);
    mitm_http_response_free(r);

    struct mitm_http_request *q = mitm_http_request_new();
    mitm_headers_add(&q->headers, "Content-Encoding", 16, "identity", 8);
    mitm_buf_append(&q->content, "abc", 3);
    cr_assert(mitm_encoding_request_content(q, CAP, &store, &body));
    cr_assert_eq(body.len, 3);
    cr_assert_eq(memcmp(body.base, "abc", 3), 0);
    mitm_buf_free(&store);
    mitm_http_request_free(q);
}

Test(encoding, zstd_window_bounded_by_cap)
{
    /* a frame with a 1 MiB window and no content size: fine under a 4 MiB cap,
     * refused (before the window is allocated) under a 64 KiB cap */
    uint8_t *in = sample(300000);
    ZSTD_CCtx *cc = ZSTD_createCCtx();
    ZSTD_CCtx_setParameter(cc, ZSTD_c_windowLog, 20);
    ZSTD_CCtx_setParameter(cc, ZSTD_c_contentSizeFlag, 0);
    size_t bound = ZSTD_compressBound(300000);
    uint8_t *z = malloc(bound);
    ZSTD_outBuffer ob = {z, bound, 0};
    ZSTD_inBuffer ib = {in, 300000, 0};
    cr_assert_eq(ZSTD_compressStream2(cc, &ob, &ib, ZSTD_e_end), 0);
    ZSTD_freeCCtx(cc);
    struct mitm_buf out;
    char err[128];
    cr_assert_eq(mitm_decode("zstd", z, ob.pos, 4u << 20, &out, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(out.len, 300000);
    mitm_buf_free(&out);
    cr_assert_eq(mitm_decode("zstd", z, ob.pos, 64u << 10, &out, err, sizeof(err)), -1);
    cr_assert_str_eq(err, "zstd: Frame requires too much memory for decoding");
    free(z);
    free(in);
}
