#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "clienthello_fixtures.h"
#include "proto/tls/clienthello.h"

/* ---- helpers: build ClientHellos byte by byte ---- */

struct msg {
    uint8_t b[70000];
    size_t n;
};

static void put(struct msg *m, const void *p, size_t n)
{
    cr_assert_leq(m->n + n, sizeof(m->b));
    memcpy(m->b + m->n, p, n);
    m->n += n;
}

static void put8(struct msg *m, unsigned v)
{
    uint8_t b = (uint8_t)v;
    put(m, &b, 1);
}

static void put16(struct msg *m, unsigned v)
{
    put8(m, v >> 8);
    put8(m, v & 0xff);
}

/* A ClientHello body (RFC 8446 §4.1.2) with the given extensions block (raw bytes,
 * without the 2-byte length; ext == NULL: no extensions block at all). */
static void hello_body(struct msg *m, const uint8_t *ext, size_t extlen)
{
    m->n = 0;
    put16(m, 0x0303);
    for (int i = 0; i < 32; i++)
        put8(m, i);
    put8(m, 0);  /* session id */
    put16(m, 4); /* cipher suites */
    put16(m, 0x1301);
    put16(m, 0xc02f);
    put8(m, 1); /* compression methods */
    put8(m, 0);
    if (ext) {
        put16(m, (unsigned)extlen);
        put(m, ext, extlen);
    }
}

/* Wrap body in a handshake header and records of at most frag bytes. */
static void wrap(struct msg *out, const struct msg *body, size_t frag)
{
    struct msg hs = {.n = 0};
    put8(&hs, 1);
    put8(&hs, (unsigned)(body->n >> 16));
    put16(&hs, body->n & 0xffff);
    put(&hs, body->b, body->n);
    out->n = 0;
    for (size_t off = 0; off < hs.n; off += frag) {
        size_t k = hs.n - off < frag ? hs.n - off : frag;
        put8(out, 22);
        put16(out, 0x0301);
        put16(out, (unsigned)k);
        put(out, hs.b + off, k);
    }
}

static ssize_t parse_ext(const uint8_t *ext, size_t extlen, struct mitm_clienthello *ch)
{
    static struct msg body, rec;
    hello_body(&body, ext, extlen);
    wrap(&rec, &body, 16384);
    return mitm_tls_parse_clienthello(rec.b, rec.n, ch);
}

/* ---- real ClientHellos ---- */

static const uint16_t sv13[] = {0x0304, 0x0303, 0x0302, 0x0301};
static const uint16_t ext13[] = {0, 11, 10, 35, 16, 22, 23, 13, 43, 45, 51};

Test(clienthello, openssl_tls13_sni_alpn)
{
    struct mitm_clienthello ch;
    ssize_t rc =
        mitm_tls_parse_clienthello(ch_s_client_tls13_sni_alpn, sizeof(ch_s_client_tls13_sni_alpn), &ch);
    cr_assert_eq(rc, 330);
    cr_assert_eq(ch.record_version, 0x0301);
    cr_assert_eq(ch.legacy_version, 0x0303);
    cr_assert_eq(ch.hello_len, 321);
    cr_assert_eq(ch.session_id_len, 32);
    cr_assert_str_eq(ch.sni, "x.test");
    cr_assert_eq(ch.alpn_count, 2);
    cr_assert(mitm_slice_eq(ch.alpn[0], mitm_slice_str("h2")));
    cr_assert(mitm_slice_eq(ch.alpn[1], mitm_slice_str("http/1.1")));
    cr_assert(mitm_tls_clienthello_has_alpn(&ch, "http/1.1", 8));
    cr_assert_not(mitm_tls_clienthello_has_alpn(&ch, "http/1.0", 8));
    cr_assert_eq(ch.cipher_suite_count, 31);
    cr_assert_eq(ch.cipher_suites[0], 0x1302);
    cr_assert_eq(ch.cipher_suites[30], 0x00ff);
    cr_assert_eq(ch.extension_count, sizeof(ext13) / sizeof(ext13[0]));
    cr_assert_arr_eq(ch.extensions, ext13, sizeof(ext13));
    cr_assert_eq(ch.supported_version_count, 4);
    cr_assert_arr_eq(ch.supported_versions, sv13, sizeof(sv13));
    cr_assert_null(ch.error);
    mitm_tls_clienthello_free(&ch);
    cr_assert_null(ch.sni);
}

Test(clienthello, openssl_tls12_only)
{
    struct mitm_clienthello ch;
    ssize_t rc =
        mitm_tls_parse_clienthello(ch_s_client_tls12_sni_alpn, sizeof(ch_s_client_tls12_sni_alpn), &ch);
    cr_assert_eq(rc, 221);
    cr_assert_str_eq(ch.sni, "x.test");
    cr_assert_eq(ch.session_id_len, 0);
    cr_assert_eq(ch.cipher_suite_count, 28);
    cr_assert_eq(ch.cipher_suites[0], 0xc02c);
    cr_assert_eq(ch.extension_count, 8);
    cr_assert_eq(ch.supported_version_count, 0);
    cr_assert_null(ch.supported_versions);
    cr_assert_eq(ch.alpn_count, 2);
    mitm_tls_clienthello_free(&ch);
}

Test(clienthello, openssl_no_sni_no_alpn)
{
    struct mitm_clienthello ch;
    ssize_t rc = mitm_tls_parse_clienthello(ch_s_client_nosni, sizeof(ch_s_client_nosni), &ch);
    cr_assert_eq(rc, 297);
    cr_assert_null(ch.sni);
    cr_assert_eq(ch.alpn_count, 0);
    cr_assert_null(ch.alpn_raw);
    cr_assert_eq(ch.extension_count, 9);
    cr_assert_eq(ch.supported_version_count, 4);
    mitm_tls_clienthello_free(&ch);
}

Test(clienthello, openssl_fragmented_over_six_records)
{
    struct mitm_clienthello ch;
    ssize_t rc = mitm_tls_parse_clienthello(ch_s_client_fragmented, sizeof(ch_s_client_fragmented), &ch);
    cr_assert_eq(rc, 355);
    cr_assert_eq(ch.hello_len, 321);
    cr_assert_str_eq(ch.sni, "x.test");
    cr_assert_eq(ch.alpn_count, 2);
    cr_assert_arr_eq(ch.extensions, ext13, sizeof(ext13));
    mitm_tls_clienthello_free(&ch);
}

/* Every prefix is INCOMPLETE, the full input is complete, and bytes after the hello's
 * last record are not consumed. */
static void check_every_split(const uint8_t *data, size_t len)
{
    struct mitm_clienthello ch;
    for (size_t n = 0; n < len; n++) {
        ssize_t rc = mitm_tls_parse_clienthello(data, n, &ch);
        cr_assert_eq(rc, MITM_INCOMPLETE, "prefix of %zu/%zu bytes: got %zd", n, len, rc);
        cr_assert_null(ch.sni);
        cr_assert_null(ch.cipher_suites);
    }
    uint8_t *more = malloc(len + 7);
    memcpy(more, data, len);
    memcpy(more + len, "\x17\x03\x03\x00\x02hi", 7); /* whatever follows is not ours */
    cr_assert_eq(mitm_tls_parse_clienthello(more, len + 7, &ch), (ssize_t)len);
    mitm_tls_clienthello_free(&ch);
    free(more);
}

Test(clienthello, split_at_every_offset)
{
    check_every_split(ch_s_client_tls13_sni_alpn, sizeof(ch_s_client_tls13_sni_alpn));
    check_every_split(ch_s_client_tls12_sni_alpn, sizeof(ch_s_client_tls12_sni_alpn));
    check_every_split(ch_s_client_nosni, sizeof(ch_s_client_nosni));
    check_every_split(ch_s_client_fragmented, sizeof(ch_s_client_fragmented));
}

Test(clienthello, refragmented_one_byte_records)
{
    /* Reassembly from 1-byte records: RFC 8446 §5.1 allows any fragmentation. */
    static struct msg body, rec;
    const uint8_t *src = ch_s_client_tls13_sni_alpn;
    body.n = 0;
    put(&body, src + 9, sizeof(ch_s_client_tls13_sni_alpn) - 9); /* skip record + hs header */
    wrap(&rec, &body, 1);
    cr_assert_eq(rec.n, 6 * (321 + 4));
    struct mitm_clienthello ch;
    cr_assert_eq(mitm_tls_parse_clienthello(rec.b, rec.n, &ch), (ssize_t)rec.n);
    cr_assert_str_eq(ch.sni, "x.test");
    cr_assert_arr_eq(ch.extensions, ext13, sizeof(ext13));
    mitm_tls_clienthello_free(&ch);
    cr_assert_eq(mitm_tls_parse_clienthello(rec.b, rec.n - 1, &ch), MITM_INCOMPLETE);
}

Test(clienthello, looks_like_tls)
{
    cr_assert(mitm_tls_is_clienthello_start((const uint8_t *)"\x16\x03\x01", 3));
    cr_assert(mitm_tls_is_clienthello_start((const uint8_t *)"\x16\x03\x00", 3));
    cr_assert(mitm_tls_is_clienthello_start((const uint8_t *)"\x16\x03\x03\x01", 4));
    cr_assert_not(mitm_tls_is_clienthello_start((const uint8_t *)"\x16\x03\x04", 3));
    cr_assert_not(mitm_tls_is_clienthello_start((const uint8_t *)"\x16\x02\x01", 3));
    cr_assert_not(mitm_tls_is_clienthello_start((const uint8_t *)"GET / HTTP/1.1", 14));
    cr_assert_not(mitm_tls_is_clienthello_start((const uint8_t *)"\x16\x03", 2), "needs 3 bytes");
    cr_assert_not(mitm_tls_is_clienthello_start(NULL, 0));
}

/* ---- malformed input ---- */

static void expect_error(const uint8_t *data, size_t len, const char *reason_part)
{
    struct mitm_clienthello ch;
    ssize_t rc = mitm_tls_parse_clienthello(data, len, &ch);
    cr_assert_eq(rc, MITM_PARSE_ERROR, "expected a parse error (%s), got %zd", reason_part, rc);
    cr_assert_not_null(ch.error);
    cr_assert(strstr(ch.error, reason_part), "reason '%s' lacks '%s'", ch.error, reason_part);
    cr_assert_null(ch.sni);
    cr_assert_null(ch.extensions);
    cr_assert_null(ch.cipher_suites);
}

static uint8_t *fixture_copy(size_t *len)
{
    *len = sizeof(ch_s_client_tls13_sni_alpn);
    uint8_t *p = malloc(*len);
    memcpy(p, ch_s_client_tls13_sni_alpn, *len);
    return p;
}

Test(clienthello, record_level_errors)
{
    size_t n;
    uint8_t *p = fixture_copy(&n);
    expect_error((const uint8_t *)"GET / HTTP/1.1\r\n", 16, "not a TLS handshake record");
    expect_error((const uint8_t *)"\x16\x02", 2, "version");
    expect_error((const uint8_t *)"\x16\x03\x09", 3, "version");
    expect_error((const uint8_t *)"\x16\x03\x01\x00\x00", 5, "empty or oversized");
    expect_error((const uint8_t *)"\x16\x03\x01\x48\x01", 5, "empty or oversized");
    expect_error((const uint8_t *)"\x16\x03\x01\x00\x04\x02", 6, "not a ClientHello"); /* ServerHello */
    /* ClientHello length above the cap is refused as soon as the header is seen. */
    expect_error((const uint8_t *)"\x16\x03\x01\x00\x04\x01\x01\x00\x01", 9, "larger than the cap");
    free(p);

    /* A non-handshake record between fragments. */
    uint8_t frag[sizeof(ch_s_client_fragmented)];
    memcpy(frag, ch_s_client_fragmented, sizeof(frag));
    frag[69] = 0x17; /* second record header: 5 + 64 */
    expect_error(frag, sizeof(frag), "non-handshake record");
}

Test(clienthello, body_level_errors)
{
    size_t n;
    uint8_t *p = fixture_copy(&n);
    /* Offsets: record 5 + handshake 4 = 9: version at 9, random 11..42, sid len 43. */
    p[9] = 0x02;
    expect_error(p, n, "not 3.x");
    free(p);

    p = fixture_copy(&n);
    p[43] = 33;
    expect_error(p, n, "session id");
    free(p);

    /* Handshake length shorter than the body: extensions overrun the message. */
    p = fixture_copy(&n);
    p[8] = (uint8_t)(p[8] - 10);
    expect_error(p, n, "extensions");
    free(p);

    /* Every truncated body re-framed consistently is an error, never a crash. */
    static struct msg body, rec;
    for (size_t cut = 0; cut < 321; cut++) {
        body.n = 0;
        put(&body, ch_s_client_tls13_sni_alpn + 9, cut);
        wrap(&rec, &body, 16384);
        struct mitm_clienthello ch;
        ssize_t rc = mitm_tls_parse_clienthello(rec.b, rec.n, &ch);
        if (cut == 133) { /* right after compression_methods: a valid hello without extensions */
            cr_assert_eq(rc, (ssize_t)rec.n);
            cr_assert_eq(ch.extension_count, 0);
            mitm_tls_clienthello_free(&ch);
            continue;
        }
        cr_assert_eq(rc, MITM_PARSE_ERROR, "body cut at %zu", cut);
    }
}

Test(clienthello, no_extensions_block_is_valid)
{
    struct mitm_clienthello ch;
    ssize_t rc = parse_ext(NULL, 0, &ch);
    cr_assert_gt(rc, 0);
    cr_assert_eq(ch.extension_count, 0);
    cr_assert_eq(ch.cipher_suite_count, 2);
    cr_assert_eq(ch.cipher_suites[1], 0xc02f);
    cr_assert_null(ch.sni);
    mitm_tls_clienthello_free(&ch);
}

Test(clienthello, extension_errors)
{
    struct mitm_clienthello ch;
    /* Duplicate extension type (RFC 8446 §4.2). */
    static const uint8_t dup[] = {0x00, 0x17, 0x00, 0x00, 0x00, 0x17, 0x00, 0x00};
    cr_assert_eq(parse_ext(dup, sizeof(dup), &ch), MITM_PARSE_ERROR);
    cr_assert(strstr(ch.error, "duplicate"));

    /* SNI with a NUL byte, a space, and an empty name. */
    static const uint8_t nul[] = {0, 0, 0, 8, 0, 6, 0, 0, 3, 'a', 0, 'b'};
    cr_assert_eq(parse_ext(nul, sizeof(nul), &ch), MITM_PARSE_ERROR);
    cr_assert(strstr(ch.error, "non-printable"));
    static const uint8_t space[] = {0, 0, 0, 8, 0, 6, 0, 0, 3, 'a', ' ', 'b'};
    cr_assert_eq(parse_ext(space, sizeof(space), &ch), MITM_PARSE_ERROR);
    static const uint8_t empty[] = {0, 0, 0, 5, 0, 3, 0, 0, 0};
    cr_assert_eq(parse_ext(empty, sizeof(empty), &ch), MITM_PARSE_ERROR);

    /* Two host_names (RFC 6066 §3). */
    static const uint8_t two[] = {0, 0, 0, 12, 0, 10, 0, 0, 2, 'a', 'b', 0, 0, 2, 'c', 'd'};
    cr_assert_eq(parse_ext(two, sizeof(two), &ch), MITM_PARSE_ERROR);
    cr_assert(strstr(ch.error, "two host_name"));

    /* Unknown name type is skipped; the host_name after it is kept. */
    static const uint8_t other[] = {0, 0, 0, 12, 0, 10, 7, 0, 2, 'z', 'z', 0, 0, 2, 'c', 'd'};
    cr_assert_gt(parse_ext(other, sizeof(other), &ch), 0);
    cr_assert_str_eq(ch.sni, "cd");
    mitm_tls_clienthello_free(&ch);

    /* ALPN with an empty protocol name (RFC 7301 §3.1), and a truncated one. */
    static const uint8_t alpn0[] = {0, 16, 0, 6, 0, 4, 2, 'h', '2', 0};
    cr_assert_eq(parse_ext(alpn0, sizeof(alpn0), &ch), MITM_PARSE_ERROR);
    cr_assert(strstr(ch.error, "ALPN"));
    static const uint8_t alpnt[] = {0, 16, 0, 5, 0, 3, 3, 'h', '2'};
    cr_assert_eq(parse_ext(alpnt, sizeof(alpnt), &ch), MITM_PARSE_ERROR);

    /* supported_versions of odd length. */
    static const uint8_t sv[] = {0, 43, 0, 4, 3, 3, 4, 3};
    cr_assert_eq(parse_ext(sv, sizeof(sv), &ch), MITM_PARSE_ERROR);

    /* Extension length running past the block. */
    static const uint8_t over[] = {0, 23, 0, 9, 0};
    cr_assert_eq(parse_ext(over, sizeof(over), &ch), MITM_PARSE_ERROR);
    cr_assert(strstr(ch.error, "truncated extension"));
}

Test(clienthello, alpn_cap)
{
    /* 64 protocols are kept, the 65th is refused. */
    static struct msg ext;
    for (int count = 64; count <= 65; count++) {
        ext.n = 0;
        put16(&ext, 16);
        put16(&ext, (unsigned)(2 + count * 2));
        put16(&ext, (unsigned)(count * 2));
        for (int i = 0; i < count; i++) {
            put8(&ext, 1);
            put8(&ext, (unsigned)('A' + i % 26));
        }
        struct mitm_clienthello ch;
        ssize_t rc = parse_ext(ext.b, ext.n, &ch);
        if (count == 64) {
            cr_assert_gt(rc, 0);
            cr_assert_eq(ch.alpn_count, 64);
            cr_assert_eq(ch.alpn[63].base[0], 'A' + 63 % 26);
            mitm_tls_clienthello_free(&ch);
        } else {
            cr_assert_eq(rc, MITM_PARSE_ERROR);
        }
    }
}

Test(clienthello, large_hello_over_many_records)
{
    /* A 40 KB hello (huge padding extension) spanning three full records is accepted. */
    static struct msg ext, body, rec;
    ext.n = 0;
    put16(&ext, 0);
    put16(&ext, 7);
    put16(&ext, 5);
    put8(&ext, 0);
    put16(&ext, 2);
    put(&ext, "ok", 2);
    put16(&ext, 21); /* padding, RFC 7685 */
    put16(&ext, 40000);
    static uint8_t zeros[40000];
    put(&ext, zeros, sizeof(zeros));
    hello_body(&body, ext.b, ext.n);
    wrap(&rec, &body, 16384);
    struct mitm_clienthello ch;
    cr_assert_eq(mitm_tls_parse_clienthello(rec.b, rec.n, &ch), (ssize_t)rec.n);
    cr_assert_str_eq(ch.sni, "ok");
    mitm_tls_clienthello_free(&ch);
}
