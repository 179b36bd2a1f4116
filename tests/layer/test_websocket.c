/* WebSocket layer playbooks: an upgrade through the HTTP layer hands both connections to the
 * WebSocket layer (or to the TCP layer for another protocol). Without ctx->random (playbooks)
 * masking keys are zeros, so the bytes toward the server are fixed. Every DATA step is also
 * replayed split at every byte offset (pb_run_all). */
#include <criterion/criterion.h>

#include "core/options.h"
#include "playbook.h"

static void setup(void)
{
    mitm_options_init(&mitm_options);
}

static void teardown(void)
{
    mitm_options_free(&mitm_options);
}

TestSuite(websocket, .init = setup, .fini = teardown);

#define UPGRADE_ABS                                                                                          \
    "GET http://example.com/ws HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n"                      \
    "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: "          \
    "13\r\n\r\n"
#define UPGRADE_UP                                                                                           \
    "GET /ws HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n"                                        \
    "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: "          \
    "13\r\n\r\n"
#define RESP_101                                                                                             \
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"                      \
    "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"

/* "Hello" masked with 37 fa 21 3d (RFC 6455 §5.7), and the same unmasked. */
#define C_HELLO "\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58"
#define S_HELLO "\x81\x05Hello"
#define Z_HELLO "\x81\x85\x00\x00\x00\x00Hello" /* toward the server with the playbook's zero key */
#define C_FRAG1 "\x01\x83\x00\x00\x00\x00Hel"   /* "Hel" + "lo" in two frames */
#define C_FRAG2 "\x80\x82\x00\x00\x00\x00lo"
#define S_FRAG1 "\x01\x03Hel"
#define S_FRAG2 "\x80\x02lo"
#define C_PING  "\x89\x80\x11\x22\x33\x44"
#define Z_PING  "\x89\x80\x00\x00\x00\x00"
#define S_PONG  "\x8a\x00"
#define C_CLOSE "\x88\x82\x00\x00\x00\x00\x03\xe8" /* 1000 */
#define S_CLOSE "\x88\x02\x03\xe8"

#define HANDSHAKE                                                                                            \
    PB_IN(PB_CLIENT, UPGRADE_ABS), PB_EXPECT_HOOK(REQUESTHEADERS), PB_EXPECT_HOOK(REQUEST),                  \
        PB_EXPECT_OPEN("example.com", 80, NULL), PB_EXPECT_SEND(PB_SERVER(1), UPGRADE_UP),                   \
        PB_IN(PB_SERVER(1), RESP_101), PB_EXPECT_HOOK(RESPONSEHEADERS), PB_EXPECT_HOOK(RESPONSE),            \
        PB_EXPECT_SEND(PB_CLIENT, RESP_101), PB_EXPECT_HOOK(WEBSOCKET_START)

Test(websocket, messages_both_ways_and_close)
{
    static const struct pb_step s[] = {
        HANDSHAKE,
        PB_IN(PB_CLIENT, C_HELLO),
        PB_EXPECT_HOOK(WEBSOCKET_MESSAGE),
        PB_EXPECT_SEND(PB_SERVER(1), Z_HELLO),
        PB_IN(PB_SERVER(1), S_HELLO),
        PB_EXPECT_HOOK(WEBSOCKET_MESSAGE),
        PB_EXPECT_SEND(PB_CLIENT, S_HELLO),
        PB_IN(PB_CLIENT, C_FRAG1 C_PING C_FRAG2),
        PB_EXPECT_SEND(PB_SERVER(1), Z_PING), /* control frames go on at once */
        PB_EXPECT_HOOK(WEBSOCKET_MESSAGE),
        PB_EXPECT_SEND(PB_SERVER(1), C_FRAG1 C_FRAG2), /* the same frame boundaries */
        PB_IN(PB_SERVER(1), S_PONG S_FRAG1 S_FRAG2),
        PB_EXPECT_SEND(PB_CLIENT, S_PONG),
        PB_EXPECT_HOOK(WEBSOCKET_MESSAGE),
        PB_EXPECT_SEND(PB_CLIENT, S_FRAG1 S_FRAG2),
        PB_IN(PB_CLIENT, C_CLOSE),
        PB_EXPECT_SEND(PB_SERVER(1), C_CLOSE),
        PB_EXPECT_SEND(PB_CLIENT, S_CLOSE),
        PB_EXPECT_CLOSE(PB_SERVER(1)),
        PB_EXPECT_CLOSE(PB_CLIENT),
        PB_EXPECT_HOOK(WEBSOCKET_END),
        PB_EXPECT_NOTHING,
        PB_DONE,
    };
    pb_run_all("ws_messages", pb_regular, s);
}

Test(websocket, two_messages_in_one_read_and_early_data)
{
    static const struct pb_step s[] = {
        PB_IN(PB_CLIENT, UPGRADE_ABS),
        PB_EXPECT_HOOK(REQUESTHEADERS),
        PB_EXPECT_HOOK(REQUEST),
        PB_EXPECT_OPEN("example.com", 80, NULL),
        PB_EXPECT_SEND(PB_SERVER(1), UPGRADE_UP),
        PB_IN(PB_SERVER(1), RESP_101 S_HELLO),
        PB_EXPECT_HOOK(RESPONSEHEADERS),
        PB_EXPECT_HOOK(RESPONSE),
        PB_EXPECT_SEND(PB_CLIENT, RESP_101),
        PB_EXPECT_HOOK(WEBSOCKET_START),
        PB_EXPECT_HOOK(WEBSOCKET_MESSAGE), /* the frame behind the 101 head */
        PB_EXPECT_SEND(PB_CLIENT, S_HELLO),
        PB_IN(PB_CLIENT, C_HELLO C_HELLO),
        PB_EXPECT_HOOK(WEBSOCKET_MESSAGE),
        PB_EXPECT_SEND(PB_SERVER(1), Z_HELLO),
        PB_EXPECT_HOOK(WEBSOCKET_MESSAGE),
        PB_EXPECT_SEND(PB_SERVER(1), Z_HELLO),
        PB_EXPECT_NOTHING,
        PB_DONE,
    };
    pb_run_all("ws_batch", pb_regular, s);
}

Test(websocket, unmasked_client_frame_is_1002)
{
    static const struct pb_step s[] = {
        HANDSHAKE,
        PB_IN(PB_CLIENT, S_HELLO),
        PB_EXPECT_SEND_PREFIX(PB_SERVER(1), "\x88\xa0\x00\x00\x00\x00\x03\xea"), /* 1002 + 30-byte reason */
        PB_EXPECT_SEND_PREFIX(PB_CLIENT, "\x88\x20\x03\xea"),
        PB_EXPECT_CLOSE(PB_SERVER(1)),
        PB_EXPECT_CLOSE(PB_CLIENT),
        PB_EXPECT_HOOK(WEBSOCKET_END),
        PB_EXPECT_NOTHING,
        PB_DONE,
    };
    pb_run_all("ws_unmasked", pb_regular, s);
}

Test(websocket, connection_lost_is_1006)
{
    static const struct pb_step s[] = {
        HANDSHAKE,
        PB_RST(PB_SERVER(1)),
        PB_EXPECT_SEND(PB_CLIENT, "\x88\x02\x03\xe8"), /* 1006 is local: 1000 on the wire (wsproto) */
        PB_EXPECT_CLOSE(PB_CLIENT),
        PB_EXPECT_HOOK(WEBSOCKET_END),
        PB_EXPECT_NOTHING,
        PB_DONE,
    };
    pb_run_all("ws_lost", pb_regular, s);
}

Test(websocket, other_101_is_raw_tcp)
{
    static const struct pb_step s[] = {
        PB_IN(PB_CLIENT, "GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\nUpgrade: foo\r\n"
                         "Connection: Upgrade\r\n\r\n"),
        PB_EXPECT_HOOK(REQUESTHEADERS),
        PB_EXPECT_HOOK(REQUEST),
        PB_EXPECT_OPEN("example.com", 80, NULL),
        PB_EXPECT_SEND_PREFIX(PB_SERVER(1), "GET / HTTP/1.1\r\n"),
        PB_IN(PB_SERVER(1), "HTTP/1.1 101 Switching Protocols\r\nUpgrade: foo\r\n\r\nbanner"),
        PB_EXPECT_HOOK(RESPONSEHEADERS),
        PB_EXPECT_HOOK(RESPONSE),
        PB_EXPECT_SEND(PB_CLIENT, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: foo\r\n\r\n"),
        PB_EXPECT_HOOK(TCP_START),
        PB_EXPECT_HOOK(TCP_MESSAGE),
        PB_EXPECT_SEND(PB_CLIENT, "banner"),
        PB_IN(PB_CLIENT, "GET / HTTP/1.1\r\n\r\n"),
        PB_EXPECT_HOOK(TCP_MESSAGE),
        PB_EXPECT_SEND(PB_SERVER(1), "GET / HTTP/1.1\r\n\r\n"),
        PB_EXPECT_NOTHING,
        PB_DONE,
    };
    pb_run("tcp_101", pb_regular, s, -1, 0); /* TCP messages follow the reads: no splits */
}
