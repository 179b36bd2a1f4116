/* WebSocket framing (src/proto/ws/frame.c, message.c, handshake.c): the parser at every split
 * offset, each rejection with its close code, the writers, messages and the handshake checks. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/http/http.h"
#include "proto/ws/ws.h"
#include "ws_helpers.h"

static const struct ws_conf from_server = {.from_client = false};
static const struct ws_conf from_client = {.from_client = true};

/* Parse hex at every split; the transcript must be want. */
static void expect(const struct ws_conf *c, const char *hex, const char *want)
{
    size_t n;
    uint8_t *in = ws_hex(hex, &n);
    char *got = ws_transcript_all_splits(c, in, n);
    cr_assert_str_eq(got, want, "input %s", hex);
    free(got);
    free(in);
}

/* The same for bytes already in memory. */
static void expect_bytes(const struct ws_conf *c, const uint8_t *in, size_t n, const char *want)
{
    char *got = ws_transcript_all_splits(c, in, n);
    cr_assert_str_eq(got, want);
    free(got);
}

/* ---- RFC 6455 §5.7 examples ---- */

Test(ws_frame, rfc_examples)
{
    expect(&from_server, "81 05 48 65 6c 6c 6f", "T1:Hello$");              /* unmasked text */
    expect(&from_client, "81 85 37 fa 21 3d 7f 9f 4d 51 58", "T1:Hello$");  /* masked text */
    expect(&from_server, "01 03 48 65 6c 80 02 6c 6f", "T1:Hel|T1:lo$");    /* fragmented */
    expect(&from_server, "89 05 48 65 6c 6c 6f", "C9:Hello|");              /* ping */
    expect(&from_client, "8a 85 37 fa 21 3d 7f 9f 4d 51 58", "C10:Hello|"); /* masked pong */
    expect(&from_server, "82 00", "T2:$");                                  /* empty binary */
    expect(&from_server, "88 00", "C8:1005:|");                             /* close, no code */
    expect(&from_server, "88 02 03 e8", "C8:1000:|");
    expect(&from_server, "88 05 03 e9 62 79 65", "C8:1001:bye|");
}

Test(ws_frame, lengths_16_and_64_bit)
{
    size_t n = 4 + 256;
    uint8_t *in = malloc(n);
    memcpy(in, "\x82\x7e\x01\x00", 4);
    memset(in + 4, 'a', 256);
    struct mitm_buf want;
    mitm_buf_init(&want, 0);
    mitm_buf_append(&want, "T2:", 3);
    mitm_buf_append(&want, in + 4, 256);
    mitm_buf_append(&want, "$", 2); /* with the NUL */
    expect_bytes(&from_server, in, n, (const char *)mitm_buf_data(&want));
    free(in);
    mitm_buf_free(&want);

    /* 64 KiB: 64-bit length; fed whole and in two halves (not every split: it is big) */
    n = 10 + 65536;
    in = malloc(n);
    memcpy(in, "\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00", 10);
    memset(in + 10, 'b', 65536);
    struct mitm_buf a, b;
    mitm_buf_init(&a, 0);
    mitm_buf_init(&b, 0);
    ws_transcript(&from_server, in, n, n, &a);
    ws_transcript(&from_server, in, n, 5, &b);
    cr_assert_eq(a.len, 3 + 65536 + 1);
    cr_assert(mitm_slice_eq(mitm_buf_slice(&a), mitm_buf_slice(&b)));
    mitm_buf_free(&a);
    mitm_buf_free(&b);
    free(in);
}

/* ---- rejections, each with its close code ---- */

Test(ws_frame, reserved_opcodes)
{
    const char *ops[] = {"83 00", "84 00", "85 00", "86 00", "87 00",
                         "8b 00", "8c 00", "8d 00", "8e 00", "8f 00"};
    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
        expect(&from_server, ops[i], "E1002:reserved opcode");
}

Test(ws_frame, rsv_bits)
{
    expect(&from_server, "c1 00", "E1002:RSV1 set without permessage-deflate");
    expect(&from_server, "a1 00", "E1002:RSV2 or RSV3 set without an extension that defines them");
    expect(&from_server, "91 00", "E1002:RSV2 or RSV3 set without an extension that defines them");
}

Test(ws_frame, control_frame_rules)
{
    expect(&from_server, "09 00", "E1002:fragmented control frame");
    expect(&from_server, "08 00", "E1002:fragmented control frame");
    expect(&from_server, "89 7e 00 7e", "E1002:control frame payload longer than 125 bytes");
    /* 125 is fine */
    uint8_t in[127] = {0x8a, 0x7d};
    memset(in + 2, 'p', 125);
    char want[140];
    snprintf(want, sizeof(want), "C10:%.*s|", 125, (const char *)in + 2);
    expect_bytes(&from_server, in, sizeof(in), want);
}

Test(ws_frame, fragmentation_rules)
{
    expect(&from_server, "80 01 61", "E1002:continuation frame without a message to continue");
    expect(&from_server, "00 01 61", "E1002:continuation frame without a message to continue");
    expect(&from_server, "01 01 61 81 01 62", "T1:a|E1002:new data frame inside a fragmented message");
    expect(&from_server, "02 01 61 82 01 62", "T2:a|E1002:new data frame inside a fragmented message");
    /* §5.4: control frames may come between the fragments */
    expect(&from_server, "01 01 61 89 01 70 00 01 62 8a 00 80 01 63", "T1:a|C9:p|T1:b|C10:|T1:c$");
    /* and a finished message may be followed by a new one */
    expect(&from_server, "01 01 61 80 01 62 82 01 63", "T1:a|T1:b$T2:c$");
}

Test(ws_frame, length_encodings)
{
    /* §5.2 "the minimal number of bytes MUST be used": refused like wsproto */
    expect(&from_server, "82 7e 00 7d", "E1002:16-bit payload length below 126 (not minimal)");
    expect(&from_server, "82 7f 00 00 00 00 00 00 ff ff",
           "E1002:64-bit payload length below 65536 (not minimal)");
    expect(&from_server, "82 7f 80 00 00 00 00 00 00 00", "E1002:64-bit payload length with the top bit set");
    expect(&from_server, "82 7f ff ff ff ff ff ff ff ff", "E1002:64-bit payload length with the top bit set");
}

Test(ws_frame, masking_by_role)
{
    expect(&from_server, "81 81 00 00 00 00 61", "E1002:masked frame from the server");
    expect(&from_client, "81 01 61", "E1002:unmasked frame from the client");
    expect(&from_client, "89 00", "E1002:unmasked frame from the client");
    /* an all-zero key is still a masked frame */
    expect(&from_client, "81 81 00 00 00 00 61", "T1:a$");
}

Test(ws_frame, utf8_in_text_messages)
{
    expect(&from_server, "81 02 c3 a9", "T1:\\xc3\\xa9$");
    /* a character split between fragments is fine (§8.1 is about the whole message) */
    expect(&from_server, "01 01 c3 80 01 a9", "T1:\\xc3|T1:\\xa9$");
    /* invalid bytes fail at once, before the message ends */
    expect(&from_server, "01 03 61 ff 62", "E1007:text message is not valid UTF-8");
    expect(&from_server, "01 01 c3 80 01 41", "T1:\\xc3|E1007:text message is not valid UTF-8");
    /* a sequence cut by the end of the message */
    expect(&from_server, "81 01 c3", "E1007:text message ends inside a UTF-8 sequence");
    expect(&from_server, "01 02 e2 82 80 00",
           "T1:\\xe2\\x82|E1007:text message ends inside a UTF-8 sequence");
    /* binary is not checked */
    expect(&from_server, "82 02 ff fe", "T2:\\xff\\xfe$");
    /* overlong, surrogate, beyond U+10FFFF */
    expect(&from_server, "81 02 c0 80", "E1007:text message is not valid UTF-8");
    expect(&from_server, "81 03 ed a0 80", "E1007:text message is not valid UTF-8");
    expect(&from_server, "81 04 f4 90 80 80", "E1007:text message is not valid UTF-8");
}

Test(ws_frame, close_payloads)
{
    expect(&from_server, "88 01 03", "E1002:close frame with a 1-byte payload");
    int bad[] = {0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char hex[32];
        snprintf(hex, sizeof(hex), "88 02 %02x %02x", bad[i] >> 8, bad[i] & 0xff);
        expect(&from_server, hex, "E1002:close frame with an invalid close code");
    }
    int good[] = {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010,
                  1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        char hex[32], want[32];
        snprintf(hex, sizeof(hex), "88 02 %02x %02x", good[i] >> 8, good[i] & 0xff);
        snprintf(want, sizeof(want), "C8:%d:|", good[i]);
        expect(&from_server, hex, want);
    }
    expect(&from_server, "88 04 03 e8 c3 a9", "C8:1000:\\xc3\\xa9|");
    expect(&from_server, "88 04 03 e8 ff 61", "E1007:close reason is not valid UTF-8");
    expect(&from_server, "88 03 03 e8 c3", "E1007:close reason is not valid UTF-8");
}

Test(ws_frame, after_close_everything_is_ignored)
{
    expect(&from_server, "88 02 03 e8 81 01 61 ff ff ff", "C8:1000:|");
    struct mitm_ws_parser p;
    mitm_ws_parser_init(&p, false, NULL, NULL);
    struct mitm_ws_event ev;
    cr_assert_eq(mitm_ws_parse(&p, (const uint8_t *)"\x88\x00", 2, &ev), 2);
    cr_assert_eq(ev.type, MITM_WS_EV_CONTROL);
    cr_assert(mitm_ws_parser_closed(&p));
    cr_assert_eq(mitm_ws_parse(&p, (const uint8_t *)"\x03\x04", 2, &ev), 2);
    cr_assert_eq(ev.type, MITM_WS_EV_NONE);
    mitm_ws_parser_free(&p);
}

Test(ws_frame, caps)
{
    struct mitm_ws_limits lim = {.max_frame = 4, .max_message = 6};
    struct ws_conf c = {.from_client = false, .lim = &lim};
    expect(&c, "82 04 61 62 63 64", "T2:abcd$");
    expect(&c, "82 05 61 62 63 64 65", "E1009:frame larger than the frame size limit");
    /* the message cap counts every fragment, and fires at the header that would exceed it */
    expect(&c, "02 04 61 62 63 64 80 02 65 66", "T2:abcd|T2:ef$");
    expect(&c, "02 04 61 62 63 64 80 03 65 66 67",
           "T2:abcd|E1009:message larger than the message size limit");
    /* control frames are not messages: only the 125-byte rule applies */
    expect(&c, "89 05 61 62 63 64 65", "C9:abcde|");
    /* defaults: zero fields */
    struct mitm_ws_limits zero = {0, 0};
    struct mitm_ws_parser p;
    mitm_ws_parser_init(&p, false, &zero, NULL);
    cr_assert_eq(p.lim.max_frame, MITM_WS_DEFAULT_MAX_FRAME);
    cr_assert_eq(p.lim.max_message, MITM_WS_DEFAULT_MAX_MESSAGE);
    mitm_ws_parser_free(&p);
}

/* A frame announcing 1 GiB is streamed: its pieces arrive as they come, and nothing the size of
 * the frame is ever allocated (the parser holds a 16 KiB scratch buffer at most). */
Test(ws_frame, huge_frame_streams)
{
    struct mitm_ws_limits lim = {.max_frame = UINT64_MAX, .max_message = UINT64_MAX};
    struct mitm_ws_parser p;
    mitm_ws_parser_init(&p, true, &lim, NULL);
    uint8_t hdr[14];
    static const uint8_t key[4] = {1, 2, 3, 4};
    size_t hn = mitm_ws_frame_header(hdr, true, 0, MITM_WS_BINARY, (uint64_t)1 << 30, key);
    cr_assert_eq(hn, 14);
    struct mitm_ws_event ev;
    cr_assert_eq(mitm_ws_parse(&p, hdr, hn, &ev), (ssize_t)hn);
    cr_assert_eq(ev.type, MITM_WS_EV_NONE);
    static uint8_t chunk[65536];
    for (size_t i = 0; i < sizeof(chunk); i++)
        chunk[i] = (uint8_t)(i ^ key[i & 3]); /* masked i */
    uint64_t seen = 0;
    for (int round = 0; round < 64; round++) { /* 4 MiB of the 1 GiB */
        size_t off = 0;
        while (off < sizeof(chunk)) {
            ssize_t n = mitm_ws_parse(&p, chunk + off, sizeof(chunk) - off, &ev);
            cr_assert_geq(n, 0);
            off += (size_t)n;
            if (ev.type == MITM_WS_EV_NONE)
                break;
            cr_assert_eq(ev.type, MITM_WS_EV_DATA);
            cr_assert_leq(ev.data.len, MITM_WS_CHUNK);
            for (size_t i = 0; i < ev.data.len; i++)
                cr_assert_eq(ev.data.base[i], (uint8_t)(seen + i), "unmasked byte %zu", (size_t)(seen + i));
            seen += ev.data.len;
            cr_assert_eq(ev.frame->length, (uint64_t)1 << 30);
        }
    }
    cr_assert_eq(seen, 64 * sizeof(chunk));
    mitm_ws_parser_free(&p);
}

Test(ws_frame, mask_offsets_across_splits)
{
    /* 200 masked bytes: the key's phase must follow the payload offset whatever the split */
    uint8_t in[2 + 2 + 4 + 200];
    static const uint8_t key[4] = {0xa1, 0xb2, 0xc3, 0xd4};
    size_t hn = mitm_ws_frame_header(in, true, 0, MITM_WS_BINARY, 200, key);
    cr_assert_eq(hn, 8);
    char want[2 * 200 * 4 + 16] = "T2:";
    for (int i = 0; i < 200; i++) {
        uint8_t c = (uint8_t)('A' + i % 26);
        in[hn + (size_t)i] = c ^ key[i & 3];
        snprintf(want + strlen(want), sizeof(want) - strlen(want), "%c", c);
    }
    strcat(want, "$");
    expect_bytes(&from_client, in, sizeof(in), want);
}

/* ---- writers ---- */

Test(ws_frame, header_encodings)
{
    uint8_t h[14];
    static const uint8_t key[4] = {9, 8, 7, 6};
    cr_assert_eq(mitm_ws_frame_header(h, true, 0, 1, 0, NULL), 2);
    cr_assert_eq(h[0], 0x81);
    cr_assert_eq(h[1], 0x00);
    cr_assert_eq(mitm_ws_frame_header(h, false, 0x40, 2, 125, NULL), 2);
    cr_assert_eq(h[0], 0x42);
    cr_assert_eq(h[1], 125);
    cr_assert_eq(mitm_ws_frame_header(h, true, 0, 2, 126, NULL), 4);
    cr_assert_eq(memcmp(h, "\x82\x7e\x00\x7e", 4), 0);
    cr_assert_eq(mitm_ws_frame_header(h, true, 0, 2, 65535, NULL), 4);
    cr_assert_eq(memcmp(h, "\x82\x7e\xff\xff", 4), 0);
    cr_assert_eq(mitm_ws_frame_header(h, true, 0, 2, 65536, key), 14);
    cr_assert_eq(memcmp(h, "\x82\xff\x00\x00\x00\x00\x00\x01\x00\x00\x09\x08\x07\x06", 14), 0);
}

Test(ws_frame, write_and_parse_back)
{
    static const uint8_t key[4] = {0x37, 0xfa, 0x21, 0x3d};
    struct mitm_buf b;
    mitm_buf_init(&b, 0);
    cr_assert_eq(mitm_ws_write_frame(&b, true, 0, MITM_WS_TEXT, (const uint8_t *)"Hello", 5, key), 0);
    /* the RFC's masked example, byte for byte */
    size_t n;
    uint8_t *want = ws_hex("81 85 37 fa 21 3d 7f 9f 4d 51 58", &n);
    cr_assert(mitm_slice_eq(mitm_buf_slice(&b), mitm_slice(want, n)));
    free(want);
    mitm_buf_consume(&b, b.len);
    cr_assert_eq(mitm_ws_write_control(&b, MITM_WS_PING, (const uint8_t *)"p", 1, NULL), 0);
    cr_assert_eq(mitm_ws_write_close(&b, 1001, "bye", 3, NULL), 0);
    expect_bytes(&from_server, mitm_buf_data(&b), b.len, "C9:p|C8:1001:bye|");
    uint8_t big[126] = {0};
    cr_assert_eq(mitm_ws_write_control(&b, MITM_WS_PING, big, 126, NULL), -1);
    cr_assert_eq(mitm_ws_write_control(&b, MITM_WS_TEXT, big, 1, NULL), -1);
    mitm_buf_free(&b);
}

Test(ws_frame, close_writer_follows_wsproto)
{
    struct mitm_buf b;
    mitm_buf_init(&b, 0);
    cr_assert_eq(mitm_ws_write_close(&b, 1005, "dropped", 7, NULL), 0); /* no status: empty */
    cr_assert_eq(mitm_ws_write_close(&b, 0, NULL, 0, NULL), 0);
    cr_assert_eq(mitm_ws_write_close(&b, 1006, "x", 1, NULL), 0); /* local only -> 1000 */
    cr_assert_eq(mitm_ws_write_close(&b, 1015, NULL, 0, NULL), 0);
    expect_bytes(&from_server, mitm_buf_data(&b), b.len, "C8:1005:|");
    mitm_buf_consume(&b, 2);
    expect_bytes(&from_server, mitm_buf_data(&b), b.len, "C8:1005:|");
    mitm_buf_consume(&b, 2);
    expect_bytes(&from_server, mitm_buf_data(&b), b.len, "C8:1000:x|");
    mitm_buf_consume(&b, b.len);
    /* a reason over 123 bytes is cut at a character boundary: 61 two-byte characters fit (122) */
    char reason[200];
    for (int i = 0; i < 100; i++)
        memcpy(reason + 2 * i, "\xc3\xa9", 2);
    cr_assert_eq(mitm_ws_write_close(&b, 4000, reason, 200, NULL), 0);
    cr_assert_eq(b.len, 2 + 2 + 122);
    mitm_buf_free(&b);
}

Test(ws_frame, writer_fragments_and_masks)
{
    struct mitm_ws_writer w;
    mitm_ws_writer_init(&w, true, NULL);
    struct mitm_buf b;
    mitm_buf_init(&b, 0);
    static const uint8_t k1[4] = {1, 2, 3, 4}, k2[4] = {5, 6, 7, 8};
    cr_assert_eq(mitm_ws_writer_data(&w, &b, MITM_WS_TEXT, (const uint8_t *)"ab", 2, false, k1), 0);
    cr_assert_eq(mitm_ws_writer_data(&w, &b, MITM_WS_TEXT, (const uint8_t *)"cd", 2, true, k2), 0);
    cr_assert_eq(mitm_ws_writer_data(&w, &b, MITM_WS_BINARY, (const uint8_t *)"e", 1, true, k1), 0);
    cr_assert_eq(mitm_ws_writer_data(&w, &b, MITM_WS_BINARY, (const uint8_t *)"e", 1, true, NULL), -1);
    expect_bytes(&from_client, mitm_buf_data(&b), b.len, "T1:ab|T1:cd$T2:e$");
    mitm_buf_free(&b);
    mitm_ws_writer_free(&w);
}

/* ---- messages ---- */

Test(ws_frame, assembler_keeps_frame_boundaries)
{
    size_t n;
    uint8_t *in = ws_hex("01 03 48 65 6c 89 00 00 00 80 02 6c 6f 82 00", &n);
    struct mitm_ws_parser p;
    struct mitm_ws_assembler a;
    mitm_ws_parser_init(&p, false, NULL, NULL);
    mitm_ws_assembler_init(&a, 0);
    size_t off = 0, done = 0;
    for (;;) {
        struct mitm_ws_event ev;
        ssize_t r = mitm_ws_parse(&p, in + off, n - off, &ev);
        cr_assert_geq(r, 0);
        off += (size_t)r;
        if (ev.type == MITM_WS_EV_NONE)
            break;
        if (mitm_ws_assembler_feed(&a, &ev) == 1) {
            if (done == 0) {
                cr_assert_eq(a.opcode, MITM_WS_TEXT);
                cr_assert(mitm_slice_eq(mitm_buf_slice(&a.content), mitm_slice_str("Hello")));
                cr_assert_eq(a.nframes, 3);
                cr_assert_eq(a.frames[0], 3);
                cr_assert_eq(a.frames[1], 0);
                cr_assert_eq(a.frames[2], 2);
            } else {
                cr_assert_eq(a.opcode, MITM_WS_BINARY);
                cr_assert_eq(a.content.len, 0);
                cr_assert_eq(a.nframes, 1);
            }
            done++;
        }
    }
    cr_assert_eq(done, 2);
    mitm_ws_assembler_free(&a);
    mitm_ws_parser_free(&p);
    free(in);
}

Test(ws_frame, assembler_cap)
{
    struct mitm_ws_assembler a;
    mitm_ws_assembler_init(&a, 4);
    struct mitm_ws_frame f = {.fin = true, .opcode = MITM_WS_BINARY, .length = 5};
    struct mitm_ws_event ev = {
        .type = MITM_WS_EV_DATA, .frame = &f, .opcode = MITM_WS_BINARY, .data = mitm_slice("12345", 5)};
    cr_assert_eq(mitm_ws_assembler_feed(&a, &ev), -1);
    mitm_ws_assembler_reset(&a);
    ev.data.len = 4;
    cr_assert_eq(mitm_ws_assembler_feed(&a, &ev), 0);
    ev.type = MITM_WS_EV_FRAME_END;
    ev.message_end = true;
    cr_assert_eq(mitm_ws_assembler_feed(&a, &ev), 1);
    mitm_ws_assembler_free(&a);
}

static void plan(const uint64_t *frames, size_t nframes, uint64_t len, const char *want)
{
    struct mitm_ws_fragments it;
    mitm_ws_fragments_init(&it, frames, nframes, len);
    char got[256] = "";
    uint64_t off, n, expect_off = 0;
    bool fin = false;
    while (mitm_ws_fragments_next(&it, &off, &n, &fin)) {
        cr_assert_eq(off, expect_off);
        expect_off += n;
        snprintf(got + strlen(got), sizeof(got) - strlen(got), "%llu%s", (unsigned long long)n,
                 fin ? "" : ",");
    }
    cr_assert(fin);
    cr_assert_eq(expect_off, len);
    cr_assert_str_eq(got, want);
}

Test(ws_frame, fragments_like_mitmproxy)
{
    static const uint64_t orig[] = {3, 0, 2};
    plan(orig, 3, 5, "3,0,2"); /* same length: same frames */
    plan(orig, 3, 6, "6");     /* changed: FRAGMENT_SIZE pieces */
    plan(NULL, 0, 0, "0");
    plan(NULL, 0, 4000, "4000");
    plan(NULL, 0, 4001, "4000,1");
    plan(NULL, 0, 8000, "4000,4000");
    plan(NULL, 0, 8001, "4000,4000,1");
    static const uint64_t one[] = {7};
    plan(one, 1, 7, "7");
    static const uint64_t empty[] = {0};
    plan(empty, 1, 0, "0");
}

/* ---- handshake ---- */

static void hdrs(struct mitm_headers *h, const char *const *kv)
{
    mitm_headers_init(h);
    for (size_t i = 0; kv[i]; i += 2)
        mitm_headers_add(h, kv[i], strlen(kv[i]), kv[i + 1], strlen(kv[i + 1]));
}

#define H(...) ((const char *const[]){__VA_ARGS__, NULL})

Test(ws_frame, accept_key)
{
    char out[29];
    mitm_ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", 24, out); /* RFC 6455 §1.3 */
    cr_assert_str_eq(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

static const char *req_check(const char *const *kv)
{
    struct mitm_headers h;
    hdrs(&h, kv);
    const char *reason = NULL;
    int rc = mitm_ws_check_request(&h, &reason);
    mitm_headers_free(&h);
    return rc == 0 ? "ok" : reason;
}

Test(ws_frame, check_request)
{
#define KEY "Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="
#define VER "Sec-WebSocket-Version", "13"
    cr_assert_str_eq(req_check(H("Upgrade", "websocket", "Connection", "Upgrade", KEY, VER)), "ok");
    cr_assert_str_eq(req_check(H("Upgrade", "WebSocket", "Connection", "keep-alive, upgrade", KEY, VER)),
                     "ok");
    cr_assert_str_eq(req_check(H("Connection", "Upgrade", KEY, VER)),
                     "Upgrade header does not name websocket");
    cr_assert_str_eq(req_check(H("Upgrade", "h2c", "Connection", "Upgrade", KEY, VER)),
                     "Upgrade header does not name websocket");
    cr_assert_str_eq(req_check(H("Upgrade", "websocket", "Connection", "close", KEY, VER)),
                     "Connection header lacks the upgrade token");
    cr_assert_str_eq(req_check(H("Upgrade", "websocket", "Connection", "Upgrade", VER)),
                     "missing Sec-WebSocket-Key");
    cr_assert_str_eq(req_check(H("Upgrade", "websocket", "Connection", "Upgrade", KEY, KEY, VER)),
                     "repeated Sec-WebSocket-Key");
    cr_assert_str_eq(req_check(H("Upgrade", "websocket", "Connection", "Upgrade", "Sec-WebSocket-Key",
                                 "dGhlIHNhbXBsZSBub25jZQ=", VER)),
                     "Sec-WebSocket-Key is not 16 bytes in base64");
    cr_assert_str_eq(req_check(H("Upgrade", "websocket", "Connection", "Upgrade", "Sec-WebSocket-Key",
                                 "dGhlIHNhbXBsZSBub25j*Q==", VER)),
                     "Sec-WebSocket-Key is not 16 bytes in base64");
    cr_assert_str_eq(req_check(H("Upgrade", "websocket", "Connection", "Upgrade", KEY)),
                     "missing Sec-WebSocket-Version");
    cr_assert_str_eq(
        req_check(H("Upgrade", "websocket", "Connection", "Upgrade", KEY, "Sec-WebSocket-Version", "8")),
        "unsupported Sec-WebSocket-Version (only 13)");
    cr_assert_str_eq(req_check(H("Upgrade", "websocket", "Connection", "Upgrade", KEY, VER, VER)),
                     "repeated Sec-WebSocket-Version");
}

static const char *resp_check(int status, const char *const *req, const char *const *resp)
{
    struct mitm_headers a, b;
    hdrs(&a, req);
    hdrs(&b, resp);
    const char *reason = NULL;
    int rc = mitm_ws_check_response(status, &a, &b, &reason);
    mitm_headers_free(&a);
    mitm_headers_free(&b);
    return rc == 0 ? "ok" : reason;
}

Test(ws_frame, check_response)
{
    const char *const *req = H(KEY, VER, "Sec-WebSocket-Protocol", "chat, superchat");
#define ACC "Sec-WebSocket-Accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
#define UPG "Upgrade", "websocket", "Connection", "Upgrade"
    cr_assert_str_eq(resp_check(101, req, H(UPG, ACC)), "ok");
    cr_assert_str_eq(resp_check(101, req, H(UPG, ACC, "Sec-WebSocket-Protocol", "chat")), "ok");
    cr_assert_str_eq(resp_check(200, req, H(UPG, ACC)), "response status is not 101");
    cr_assert_str_eq(resp_check(101, req, H("Upgrade", "websocket, h2c", "Connection", "Upgrade", ACC)),
                     "response Upgrade header is not websocket");
    cr_assert_str_eq(resp_check(101, req, H("Upgrade", "websocket", ACC)),
                     "response Connection header lacks the upgrade token");
    cr_assert_str_eq(resp_check(101, req, H(UPG)), "missing Sec-WebSocket-Accept");
    cr_assert_str_eq(resp_check(101, req, H(UPG, ACC, ACC)), "repeated Sec-WebSocket-Accept");
    cr_assert_str_eq(resp_check(101, req, H(UPG, "Sec-WebSocket-Accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo")),
                     "Sec-WebSocket-Accept does not match the key");
    cr_assert_str_eq(resp_check(101, H(VER), H(UPG, ACC)), "request has no single Sec-WebSocket-Key");
    cr_assert_str_eq(resp_check(101, req, H(UPG, ACC, "Sec-WebSocket-Protocol", "Chat")),
                     "response selects a Sec-WebSocket-Protocol the request did not offer");
    cr_assert_str_eq(resp_check(101, req, H(UPG, ACC, "Sec-WebSocket-Protocol", "chat, superchat")),
                     "response Sec-WebSocket-Protocol is not one protocol");
    cr_assert_str_eq(resp_check(101, H(KEY), H(UPG, ACC, "Sec-WebSocket-Protocol", "chat")),
                     "response selects a Sec-WebSocket-Protocol the request did not offer");
}

static bool upgrade(int status, const char *const *req, const char *const *resp)
{
    struct mitm_headers a, b;
    hdrs(&a, req);
    hdrs(&b, resp);
    bool r = mitm_ws_is_upgrade(status, &a, &b);
    mitm_headers_free(&a);
    mitm_headers_free(&b);
    return r;
}

Test(ws_frame, is_upgrade_like_mitmproxy)
{
    cr_assert(upgrade(101, H(VER), H("Upgrade", "WebSocket")));
    /* no accept or Connection check: mitmproxy relays such a 101 as WebSocket too */
    cr_assert(upgrade(101, H(VER), H("Upgrade", "websocket", "Connection", "close")));
    cr_assert_not(upgrade(200, H(VER), H("Upgrade", "websocket")));
    cr_assert_not(upgrade(101, H("Sec-WebSocket-Version", "8"), H("Upgrade", "websocket")));
    cr_assert_not(upgrade(101, H(VER), H("Upgrade", "h2c")));
    cr_assert_not(upgrade(101, H(VER, VER), H("Upgrade", "websocket"))); /* "13, 13" */
    cr_assert_not(upgrade(101, H(VER), H("Upgrade", "websocket", "Upgrade", "websocket")));
}

/* ---- UTF-8 and close codes ---- */

Test(ws_frame, utf8_validator)
{
    struct {
        const char *s;
        bool ok;
    } cases[] = {
        {"", true},
        {"plain ascii text that is longer than eight bytes", true},
        {"\xc2\x80", true},
        {"\xdf\xbf", true},
        {"\xe0\xa0\x80", true},
        {"\xed\x9f\xbf", true},      /* U+D7FF */
        {"\xee\x80\x80", true},      /* U+E000 */
        {"\xef\xbf\xbf", true},      /* U+FFFF */
        {"\xf0\x90\x80\x80", true},  /* U+10000 */
        {"\xf4\x8f\xbf\xbf", true},  /* U+10FFFF */
        {"\x80", false},             /* lone continuation */
        {"\xc1\xbf", false},         /* overlong */
        {"\xe0\x9f\xbf", false},     /* overlong */
        {"\xf0\x8f\xbf\xbf", false}, /* overlong */
        {"\xed\xa0\x80", false},     /* surrogate */
        {"\xed\xbf\xbf", false},     /* surrogate */
        {"\xf4\x90\x80\x80", false}, /* > U+10FFFF */
        {"\xf5\x80\x80\x80", false},
        {"\xff", false},
        {"\xc3", false}, /* truncated */
        {"\xe2\x82", false},
        {"abcdefgh\xc3(", false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        cr_assert_eq(mitm_ws_utf8_valid((const uint8_t *)cases[i].s, strlen(cases[i].s)), cases[i].ok,
                     "case %zu", i);
    /* fed one byte at a time */
    uint32_t st = 0;
    const char *euro = "\xe2\x82\xac";
    for (int i = 0; i < 3; i++)
        cr_assert(mitm_ws_utf8_feed(&st, (const uint8_t *)euro + i, 1));
    cr_assert_eq(st, 0);
}

Test(ws_frame, close_code_names)
{
    cr_assert_str_eq(mitm_ws_close_code_name(1000), "NORMAL_CLOSURE");
    cr_assert_str_eq(mitm_ws_close_code_name(1002), "PROTOCOL_ERROR");
    cr_assert_str_eq(mitm_ws_close_code_name(1006), "ABNORMAL_CLOSURE");
    cr_assert_str_eq(mitm_ws_close_code_name(1009), "MESSAGE_TOO_BIG");
    cr_assert_str_eq(mitm_ws_close_code_name(1015), "TLS_HANDSHAKE_FAILED");
    cr_assert_null(mitm_ws_close_code_name(1004));
    cr_assert_null(mitm_ws_close_code_name(1014));
    cr_assert_null(mitm_ws_close_code_name(4000));
}
