/* WebSocket extensions and permessage-deflate (src/proto/ws/deflate.c): the header grammar, the
 * parameter rules of RFC 7692 §7, negotiation, inflating and deflating alone and inside the
 * parser and writer, and the decompression cap. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/http/http.h"
#include "proto/ws/ws.h"
#include "ws_helpers.h"

#define H(...) ((const char *const[]){__VA_ARGS__, NULL})

static void hdrs(struct mitm_headers *h, const char *const *kv)
{
    mitm_headers_init(h);
    for (size_t i = 0; kv[i]; i += 2)
        mitm_headers_add(h, kv[i], strlen(kv[i]), kv[i + 1], strlen(kv[i + 1]));
}

/* The parsed extensions as "name;p=v;q|name2" (or "ERR:reason"). */
static char *exts(const char *const *kv)
{
    struct mitm_headers h;
    hdrs(&h, kv);
    struct mitm_ws_extensions e;
    const char *reason;
    struct mitm_buf b;
    mitm_buf_init(&b, 0);
    if (mitm_ws_extensions_parse(&h, &e, &reason) < 0) {
        mitm_buf_printf(&b, "ERR:%s", reason);
        cr_assert_eq(e.n, 0);
    } else {
        for (size_t i = 0; i < e.n; i++) {
            mitm_buf_printf(&b, "%s%s", i ? "|" : "", e.v[i].name);
            for (size_t j = 0; j < e.v[i].nparams; j++) {
                mitm_buf_printf(&b, ";%s", e.v[i].params[j].name);
                if (e.v[i].params[j].value)
                    mitm_buf_printf(&b, "=%s", e.v[i].params[j].value);
            }
        }
    }
    mitm_ws_extensions_free(&e);
    mitm_headers_free(&h);
    size_t n;
    return (char *)mitm_buf_steal(&b, &n);
}

static void ext_is(const char *const *kv, const char *want)
{
    char *got = exts(kv);
    cr_assert_str_eq(got, want);
    free(got);
}

#define EXT "Sec-WebSocket-Extensions"

Test(ws_deflate, extension_header_grammar)
{
    ext_is(H("Host", "x"), "");
    ext_is(H(EXT, "permessage-deflate"), "permessage-deflate");
    /* what browsers send */
    ext_is(H(EXT, "permessage-deflate; client_max_window_bits"), "permessage-deflate;client_max_window_bits");
    ext_is(H(EXT, "permessage-deflate;server_max_window_bits=10 ; client_no_context_takeover, "
                  "x-webkit-deflate-frame"),
           "permessage-deflate;server_max_window_bits=10;client_no_context_takeover|x-webkit-deflate-frame");
    /* quoted values are unquoted (§9.1: they must then be tokens); several fields form one list */
    ext_is(H(EXT, "permessage-deflate; server_max_window_bits=\"1\\2\"", EXT, "foo, ,bar;a"),
           "permessage-deflate;server_max_window_bits=12|foo|bar;a");
    ext_is(H(EXT, ", ,"), "");
    ext_is(H(EXT, "a; b = c"), "a;b=c");
    ext_is(H(EXT, "a; b=\"c"), "ERR:unterminated quoted string in Sec-WebSocket-Extensions");
    ext_is(H(EXT, "a; b=\"c d\""), "ERR:quoted extension parameter value is not a token");
    ext_is(H(EXT, "a; b=\"\""), "ERR:quoted extension parameter value is not a token");
    ext_is(H(EXT, "a; =c"), "ERR:extension parameter name is not a token");
    ext_is(H(EXT, "a; b="), "ERR:extension parameter value is not a token");
    ext_is(H(EXT, ";a"), "ERR:extension name is not a token");
    ext_is(H(EXT, "a b"), "ERR:unexpected character in Sec-WebSocket-Extensions");
    ext_is(H(EXT, "a, b, c", EXT, "d;e=\"f\"; g"), "a|b|c|d;e=f;g");
}

Test(ws_deflate, extension_caps)
{
    char big[1024] = "x";
    for (int i = 1; i < MITM_WS_MAX_EXTENSIONS + 1; i++)
        strcat(big, ",x");
    ext_is(H(EXT, big), "ERR:too many extensions in Sec-WebSocket-Extensions");
    strcpy(big, "x");
    for (int i = 0; i < MITM_WS_MAX_EXT_PARAMS + 1; i++)
        strcat(big, ";p");
    ext_is(H(EXT, big), "ERR:too many extension parameters");
}

/* Parse the first extension of value as a permessage-deflate offer or response. */
static const char *pmd(const char *value, bool offer, struct mitm_ws_pmd *out)
{
    struct mitm_headers h;
    hdrs(&h, H(EXT, value));
    struct mitm_ws_extensions e;
    const char *reason;
    cr_assert_eq(mitm_ws_extensions_parse(&h, &e, &reason), 0, "%s", value);
    int rc = mitm_ws_pmd_parse(&e.v[0], offer, out, &reason);
    mitm_ws_extensions_free(&e);
    mitm_headers_free(&h);
    return rc == 0 ? "ok" : reason;
}

Test(ws_deflate, pmd_parameter_rules)
{
    struct mitm_ws_pmd p;
    cr_assert_str_eq(pmd("permessage-deflate", true, &p), "ok");
    cr_assert_eq(p.server_max_window_bits, 0);
    cr_assert_eq(mitm_ws_pmd_window_bits(&p, true), 15);
    cr_assert_str_eq(pmd("permessage-deflate; client_max_window_bits", true, &p), "ok");
    cr_assert_eq(p.client_max_window_bits, MITM_WS_PMD_BITS_NO_VALUE);
    cr_assert_eq(mitm_ws_pmd_window_bits(&p, true), 15);
    cr_assert_str_eq(pmd("permessage-deflate; client_max_window_bits", false, &p),
                     "permessage-deflate max_window_bits is not a number from 8 to 15");
    cr_assert_str_eq(pmd("permessage-deflate; server_max_window_bits=8; client_max_window_bits=15;"
                         " server_no_context_takeover; client_no_context_takeover",
                         false, &p),
                     "ok");
    cr_assert_eq(p.server_max_window_bits, 8);
    cr_assert_eq(p.client_max_window_bits, 15);
    cr_assert(p.server_no_context_takeover && p.client_no_context_takeover);
    cr_assert_eq(mitm_ws_pmd_window_bits(&p, false), 8);
    cr_assert(mitm_ws_pmd_no_context_takeover(&p, false));
    const char *bad[] = {"server_max_window_bits",    "server_max_window_bits=7",
                         "server_max_window_bits=16", "server_max_window_bits=010",
                         "server_max_window_bits=09", "server_max_window_bits=x"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char v[128];
        snprintf(v, sizeof(v), "permessage-deflate; %s", bad[i]);
        cr_assert_str_eq(pmd(v, true, &p), "permessage-deflate max_window_bits is not a number from 8 to 15",
                         "%s", bad[i]);
    }
    cr_assert_str_eq(pmd("permessage-deflate; server_max_window_bits=\"10\"", true, &p), "ok");
    cr_assert_eq(p.server_max_window_bits, 10);
    cr_assert_str_eq(pmd("permessage-deflate; server_no_context_takeover=1", true, &p),
                     "permessage-deflate no_context_takeover parameter with a value");
    cr_assert_str_eq(
        pmd("permessage-deflate; client_no_context_takeover; client_no_context_takeover", true, &p),
        "repeated permessage-deflate parameter");
    cr_assert_str_eq(pmd("permessage-deflate; foo", true, &p), "unknown permessage-deflate parameter");
    cr_assert_str_eq(pmd("x-webkit-deflate-frame", true, &p), "not permessage-deflate");
}

/* Negotiate: req offers, resp answers. Returns "ok pmd" / "ok" / the reason. */
static char result[256];
static const char *negotiate(const char *offer, const char *answer, struct mitm_ws_negotiated *keep)
{
    struct mitm_headers a, b;
    hdrs(&a, offer ? H(EXT, offer) : H("Host", "x"));
    hdrs(&b, answer ? H(EXT, answer) : H("Host", "x"));
    struct mitm_ws_negotiated n;
    const char *reason;
    int rc = mitm_ws_negotiate(&a, &b, &n, &reason);
    mitm_headers_free(&a);
    mitm_headers_free(&b);
    if (rc < 0) {
        cr_assert_eq(n.ext.n, 0);
        return reason;
    }
    snprintf(result, sizeof(result), "ok%s %zu", n.pmd ? " pmd" : "", n.ext.n);
    if (keep)
        *keep = n;
    else
        mitm_ws_negotiated_free(&n);
    return result;
}

Test(ws_deflate, negotiation)
{
    struct mitm_ws_negotiated n;
    cr_assert_str_eq(negotiate(NULL, NULL, NULL), "ok 0");
    cr_assert_str_eq(negotiate("permessage-deflate; client_max_window_bits", NULL, NULL), "ok 0");
    cr_assert_str_eq(negotiate("permessage-deflate; client_max_window_bits", "permessage-deflate", &n),
                     "ok pmd 1");
    cr_assert_eq(n.pmd_index, 0);
    mitm_ws_negotiated_free(&n);
    cr_assert_str_eq(negotiate("permessage-deflate; client_max_window_bits",
                               "permessage-deflate; client_max_window_bits=10; server_no_context_takeover",
                               &n),
                     "ok pmd 1");
    cr_assert_eq(n.params.client_max_window_bits, 10);
    cr_assert(n.params.server_no_context_takeover);
    mitm_ws_negotiated_free(&n);
    /* an unknown extension is listed for the layer to warn about; deflate still applies */
    cr_assert_str_eq(negotiate("foo, permessage-deflate", "foo; x=1, permessage-deflate", &n), "ok pmd 2");
    cr_assert_eq(n.pmd_index, 1);
    cr_assert_str_eq(n.ext.v[0].name, "foo");
    mitm_ws_negotiated_free(&n);
    cr_assert_str_eq(negotiate("foo", "foo", &n), "ok 1");
    cr_assert_eq(n.pmd_index, SIZE_MAX);
    mitm_ws_negotiated_free(&n);
    /* rejections */
    cr_assert_str_eq(negotiate(NULL, "permessage-deflate", NULL),
                     "permessage-deflate accepted but not offered");
    cr_assert_str_eq(negotiate("permessage-deflate", "permessage-deflate, permessage-deflate", NULL),
                     "permessage-deflate accepted twice");
    cr_assert_str_eq(negotiate("permessage-deflate", "permessage-deflate; server_max_window_bits=16", NULL),
                     "permessage-deflate max_window_bits is not a number from 8 to 15");
    cr_assert_str_eq(negotiate("permessage-deflate", "permessage-deflate; client_max_window_bits=10", NULL),
                     "permessage-deflate response has client_max_window_bits that was not offered");
    cr_assert_str_eq(negotiate("permessage-deflate; client_max_window_bits=9",
                               "permessage-deflate; client_max_window_bits=10", NULL),
                     "permessage-deflate response has a larger client_max_window_bits than offered");
    cr_assert_str_eq(negotiate("permessage-deflate; server_max_window_bits=10",
                               "permessage-deflate; server_max_window_bits=11", NULL),
                     "permessage-deflate response has a larger server_max_window_bits than offered");
    cr_assert_str_eq(negotiate("permessage-deflate; server_max_window_bits=10", "permessage-deflate", NULL),
                     "permessage-deflate response lacks the server_max_window_bits that was asked for");
    cr_assert_str_eq(negotiate("permessage-deflate; server_no_context_takeover", "permessage-deflate", NULL),
                     "permessage-deflate response lacks the server_no_context_takeover that was asked for");
    cr_assert_str_eq(negotiate("permessage-deflate", "permessage-deflate; x", NULL),
                     "unknown permessage-deflate parameter");
    cr_assert_str_eq(negotiate("permessage-deflate", "a b", NULL),
                     "unexpected character in Sec-WebSocket-Extensions");
    /* the server may pick any of several offers, and may restrict itself unasked */
    cr_assert_str_eq(negotiate("permessage-deflate; server_max_window_bits=10, permessage-deflate",
                               "permessage-deflate; server_max_window_bits=12; server_no_context_takeover",
                               NULL),
                     "ok pmd 1");
    /* an offer that does not parse counts as absent */
    cr_assert_str_eq(negotiate("permessage-deflate; bogus", "permessage-deflate", NULL),
                     "permessage-deflate accepted but not offered");
}

/* ---- inflater and deflater ---- */

static void roundtrip(int bits, bool nct)
{
    struct mitm_ws_deflater *d = mitm_ws_deflater_new(bits, nct);
    struct mitm_ws_inflater *z = mitm_ws_inflater_new(bits, nct);
    cr_assert(d && z);
    size_t prev = SIZE_MAX;
    for (int m = 0; m < 4; m++) {
        char msg[3000];
        for (size_t i = 0; i < sizeof(msg); i++)
            msg[i] = "the quick brown fox jumps over the lazy dog "[i % 44];
        struct mitm_buf c, out;
        mitm_buf_init(&c, 0);
        mitm_buf_init(&out, 0);
        /* in two pieces, as two frames would be */
        cr_assert_eq(mitm_ws_deflate(d, (const uint8_t *)msg, 1000, false, &c), 0);
        cr_assert_eq(mitm_ws_deflate(d, (const uint8_t *)msg + 1000, sizeof(msg) - 1000, true, &c), 0);
        uint16_t code;
        const char *why;
        cr_assert_eq(mitm_ws_inflate_message(z, mitm_buf_data(&c), c.len, 1 << 20, &out, &code, &why), 0,
                     "bits %d: %s", bits, why);
        cr_assert(mitm_slice_eq(mitm_buf_slice(&out), mitm_slice(msg, sizeof(msg))), "bits %d message %d",
                  bits, m);
        /* with context takeover, later copies compress to almost nothing */
        if (m == 1 && !nct && bits >= 12)
            cr_assert_lt(c.len, prev, "bits %d: context takeover", bits);
        if (nct && m > 0)
            cr_assert_eq(c.len, prev, "no context takeover: every message compresses alike");
        prev = c.len;
        mitm_buf_free(&c);
        mitm_buf_free(&out);
    }
    mitm_ws_deflater_free(d);
    mitm_ws_inflater_free(z);
}

Test(ws_deflate, roundtrip_every_window)
{
    for (int bits = 8; bits <= 15; bits++) {
        roundtrip(bits, false);
        roundtrip(bits, true);
    }
}

Test(ws_deflate, empty_message_is_one_zero_byte)
{
    struct mitm_ws_deflater *d = mitm_ws_deflater_new(15, false);
    struct mitm_buf c;
    mitm_buf_init(&c, 0);
    cr_assert_eq(mitm_ws_deflate(d, NULL, 0, true, &c), 0);
    cr_assert(mitm_slice_eq(mitm_buf_slice(&c), mitm_slice("\x00", 1)));
    mitm_buf_free(&c);
    mitm_ws_deflater_free(d);
}

Test(ws_deflate, inflate_errors_and_bomb)
{
    struct mitm_ws_inflater *z = mitm_ws_inflater_new(15, false);
    struct mitm_buf out;
    mitm_buf_init(&out, 0);
    uint16_t code = 0;
    const char *why = NULL;
    cr_assert_eq(mitm_ws_inflate_message(z, (const uint8_t *)"\xff\xff\xff", 3, 100, &out, &code, &why), -1);
    cr_assert_eq(code, 1007);
    mitm_ws_inflater_free(z);
    mitm_buf_free(&out);

    /* 16 MiB of zeros compress to ~16 KiB; with a 1 MiB cap inflation stops at the cap */
    struct mitm_ws_deflater *d = mitm_ws_deflater_new(15, false);
    uint8_t *zeros = calloc(1, 16 << 20);
    struct mitm_buf c;
    mitm_buf_init(&c, 0);
    cr_assert_eq(mitm_ws_deflate(d, zeros, 16 << 20, true, &c), 0);
    cr_assert_lt(c.len, 64 << 10);
    z = mitm_ws_inflater_new(15, false);
    mitm_buf_init(&out, 0);
    cr_assert_eq(mitm_ws_inflate_message(z, mitm_buf_data(&c), c.len, 1 << 20, &out, &code, &why), -1);
    cr_assert_eq(code, 1009);
    cr_assert_leq(out.len, 1 << 20);
    free(zeros);
    mitm_buf_free(&c);
    mitm_buf_free(&out);
    mitm_ws_inflater_free(z);
    mitm_ws_deflater_free(d);
}

/* ---- inside the parser: RFC 7692 §7.2.3 examples (the bytes checked against Python's zlib) ---- */

static const struct mitm_ws_pmd dflt = {0};
static const struct ws_conf pmd_from_server = {.from_client = false, .pmd = &dflt};

static void expect(const struct ws_conf *c, const char *hex, const char *want)
{
    size_t n;
    uint8_t *in = ws_hex(hex, &n);
    char *got = ws_transcript_all_splits(c, in, n);
    cr_assert_str_eq(got, want, "input %s: got %s", hex, got);
    free(got);
    free(in);
}

Test(ws_deflate, parser_rfc7692_examples)
{
    /* §7.2.3.1 "Hello" in one compressed frame */
    expect(&pmd_from_server, "c1 07 f2 48 cd c9 c9 07 00", "T1z:Hello$");
    /* §7.2.3.1 the same message in two frames: each frame gives what its bits decode to */
    expect(&pmd_from_server, "41 03 f2 48 cd 80 04 c9 c9 07 00", "T1z:He|T1z:llo$");
    /* §7.2.3.2 the second message uses the first's context */
    expect(&pmd_from_server, "c1 07 f2 48 cd c9 c9 07 00 c1 05 f2 00 11 00 00", "T1z:Hello$T1z:Hello$");
    /* §7.2.3.3 a stored (uncompressed) DEFLATE block */
    expect(&pmd_from_server, "c1 0b 00 05 00 fa ff 48 65 6c 6c 6f 00", "T1z:Hello$");
    /* §7.2.3.4 BFINAL: the tail is ignored and the next message starts a new stream */
    expect(&pmd_from_server, "c1 07 f3 48 cd c9 c9 07 00 c1 07 f2 48 cd c9 c9 07 00", "T1z:Hello$T1z:Hello$");
    /* §7.2.3.5 two DEFLATE blocks in one message */
    expect(&pmd_from_server, "c1 0d f2 48 05 00 00 00 ff ff ca c9 c9 07 00", "T1z:Hello$");
    /* §7.2.3.6 an empty message */
    expect(&pmd_from_server, "c1 01 00", "T1z:$");
    expect(&pmd_from_server, "c2 00", "T2z:$");
    /* uncompressed messages stay allowed, and control frames pass between compressed fragments */
    expect(&pmd_from_server, "81 02 68 69 41 03 f2 48 cd 89 00 80 04 c9 c9 07 00",
           "T1:hi$T1z:He|C9:|T1z:llo$");
}

Test(ws_deflate, parser_rejections)
{
    expect(&pmd_from_server, "41 03 f2 48 cd c0 04 c9 c9 07 00",
           "T1z:He|E1002:RSV1 set on a continuation frame");
    expect(&pmd_from_server, "c9 00", "E1002:RSV1 set on a control frame");
    expect(&pmd_from_server, "e1 00", "E1002:RSV2 or RSV3 set without an extension that defines them");
    expect(&pmd_from_server, "c1 03 ff ff ff", "E1007:compressed message is not valid DEFLATE data");
    /* UTF-8 is checked after inflating: 00 03 00 fc ff c3 28 61 is a stored block "\xc3(a" */
    expect(&pmd_from_server, "c1 08 00 03 00 fc ff c3 28 61", "E1007:text message is not valid UTF-8");
    expect(&pmd_from_server, "c2 08 00 03 00 fc ff c3 28 61", "T2z:\\xc3(a$");
}

/* Which error wins depends only on the bytes, never on how they were split: the one at the
 * earliest decoded byte (expect() runs every split). */
Test(ws_deflate, error_order_is_positional)
{
    struct mitm_ws_limits lim = {.max_message = 4};
    struct ws_conf c = {.from_client = false, .lim = &lim, .pmd = &dflt};
    /* stored block "\xc3(aaaaa": bad UTF-8 at byte 1, inside the cap */
    expect(&c, "c1 0c 00 07 00 f8 ff c3 28 61 61 61 61 61", "E1007:text message is not valid UTF-8");
    /* "abcdef\xff": the cap is hit before the bad byte */
    expect(&c, "c1 0c 00 07 00 f8 ff 61 62 63 64 65 66 ff",
           "E1009:message inflates to more than the message size limit");
    /* "abcdefg" then an invalid block type: the data before the bad bits counts first */
    expect(&c, "c2 0e 00 07 00 f8 ff 61 62 63 64 65 66 67 ff ff",
           "E1009:message inflates to more than the message size limit");
    expect(&pmd_from_server, "c2 0e 00 07 00 f8 ff 61 62 63 64 65 66 67 ff ff",
           "E1007:compressed message is not valid DEFLATE data");
}

Test(ws_deflate, parser_bomb_is_capped)
{
    struct mitm_ws_limits lim = {.max_message = 100000};
    struct ws_conf c = {.from_client = true, .lim = &lim, .pmd = &dflt};
    struct mitm_ws_writer w;
    mitm_ws_writer_init(&w, true, &dflt);
    uint8_t *zeros = calloc(1, 1 << 20);
    static const uint8_t key[4] = {1, 2, 3, 4};
    struct mitm_buf b, t;
    mitm_buf_init(&b, 0);
    mitm_buf_init(&t, 0);
    cr_assert_eq(mitm_ws_writer_data(&w, &b, MITM_WS_BINARY, zeros, 1 << 20, true, key), 0);
    cr_assert_lt(b.len, 4096); /* a small frame ... */
    ws_transcript(&c, mitm_buf_data(&b), b.len, b.len, &t);
    cr_assert(
        mitm_slice_eq(mitm_buf_slice(&t), mitm_slice_str("E1009:message inflates to more than the message "
                                                         "size limit")),
        "%.*s", (int)(t.len > 200 ? 200 : t.len), (const char *)mitm_buf_data(&t)); /* ... that is capped */
    mitm_buf_free(&b);
    mitm_buf_free(&t);
    free(zeros);
    mitm_ws_writer_free(&w);
}

/* The writer's output parses back, in both roles, with and without context takeover, for messages
 * larger than the inflater's output chunk, at many splits. */
static void writer_to_parser(bool client, const struct mitm_ws_pmd *params)
{
    struct mitm_ws_writer w;
    mitm_ws_writer_init(&w, client, params);
    struct mitm_buf b, want;
    mitm_buf_init(&b, 0);
    mitm_buf_init(&want, 0);
    static const uint8_t key[4] = {0xde, 0xad, 0xbe, 0xef};
    char *big = malloc(40000);
    for (size_t i = 0; i < 40000; i++)
        big[i] = (char)('a' + (i * 7 + i / 100) % 26);
    for (int m = 0; m < 3; m++) {
        cr_assert_eq(mitm_ws_writer_data(&w, &b, MITM_WS_TEXT, (const uint8_t *)big, 20000, false, key), 0);
        cr_assert_eq(
            mitm_ws_writer_data(&w, &b, MITM_WS_TEXT, (const uint8_t *)big + 20000, 20000, true, key), 0);
        cr_assert_eq(mitm_ws_writer_data(&w, &b, MITM_WS_BINARY, (const uint8_t *)"xyz", 3, true, key), 0);
        mitm_buf_append(&want, "T1z:", 4);
        mitm_buf_append(&want, big, 20000);
        mitm_buf_append(&want, "|T1z:", 5);
        mitm_buf_append(&want, big + 20000, 20000);
        mitm_buf_append(&want, "$T2z:xyz$", 9);
        /* an empty last frame after a flushed one: the deflater ends the message with 00 */
        cr_assert_eq(mitm_ws_writer_data(&w, &b, MITM_WS_BINARY, (const uint8_t *)"abc", 3, false, key), 0);
        cr_assert_eq(mitm_ws_writer_data(&w, &b, MITM_WS_BINARY, NULL, 0, true, key), 0);
        mitm_buf_append(&want, "T2z:abc|T2z:$", 13);
    }
    struct ws_conf c = {.from_client = client, .pmd = params};
    for (size_t split = 0; split <= b.len; split += 1 + split / 3) {
        struct mitm_buf t;
        mitm_buf_init(&t, 0);
        ws_transcript(&c, mitm_buf_data(&b), b.len, split, &t);
        cr_assert(mitm_slice_eq(mitm_buf_slice(&t), mitm_buf_slice(&want)), "split %zu: %.*s", split,
                  (int)(t.len > 100 ? 100 : t.len), (const char *)mitm_buf_data(&t));
        mitm_buf_free(&t);
    }
    free(big);
    mitm_buf_free(&b);
    mitm_buf_free(&want);
    mitm_ws_writer_free(&w);
}

Test(ws_deflate, writer_output_parses_back)
{
    struct mitm_ws_pmd nct = {.server_no_context_takeover = true,
                              .client_no_context_takeover = true,
                              .server_max_window_bits = 9,
                              .client_max_window_bits = 8};
    writer_to_parser(true, &dflt);
    writer_to_parser(false, &dflt);
    writer_to_parser(true, &nct);
    writer_to_parser(false, &nct);
}
