/* Playbooks for the composable stack: mode layers (socks5, reverse), the next-layer step's
 * decisions (raw TCP in a CONNECT tunnel, TCP flows with their hooks) and the timers (idle
 * keep-alive, slowloris, a silent client). Each one also runs with its input split at every
 * byte offset (pb_run_all). */
#include <criterion/criterion.h>
#include <stdio.h>

#include "core/modespec.h"
#include "core/options.h"
#include "playbook.h"
#include "proto/mode/mode.h"

static struct mitm_mode_spec spec;

static void setup(void)
{
    mitm_options_init(&mitm_options);
}

static void teardown(void)
{
    mitm_mode_spec_free(&spec);
    mitm_options_free(&mitm_options);
}

TestSuite(modes, .init = setup, .fini = teardown);

static void use_mode(const char *s)
{
    char err[256];
    mitm_mode_spec_free(&spec);
    cr_assert(mitm_mode_spec_parse(s, &spec, err, sizeof(err)) == 0, "%s", err);
}

static void set(const char *name, const char *value)
{
    char err[256];
    cr_assert(mitm_options_set(&mitm_options, name, value, err, sizeof(err)) == 0, "%s", err);
}

static struct mitm_layer *with_mode(struct mitm_ctx *ctx)
{
    ctx->mode = &spec;
    ctx->proxy_mode = spec.full;
    return mitm_mode_layer_new(ctx);
}

#define SOCKS_OK "\x05\x00\x00\x01\x00\x00\x00\x00\x00\x00"

Test(modes, socks5_connect_then_http)
{
    use_mode("socks5");
    static const struct pb_step s[] = {
        PB_IN(PB_CLIENT, "\x05\x01\x00"),
        PB_EXPECT_SEND(PB_CLIENT, "\x05\x00"),
        PB_IN(PB_CLIENT, "\x05\x01\x00\x03\x0b"
                         "example.com\x00\x50"),
        PB_EXPECT_OPEN("example.com", 80, NULL),
        PB_EXPECT_SEND(PB_CLIENT, SOCKS_OK),
        PB_IN(PB_CLIENT, "GET /x HTTP/1.1\r\nHost: example.com\r\n\r\n"),
        PB_EXPECT_HOOK(REQUESTHEADERS),
        PB_EXPECT_HOOK(REQUEST),
        PB_EXPECT_SEND(PB_SERVER(1), "GET /x HTTP/1.1\r\nHost: example.com\r\n\r\n"),
        PB_IN(PB_SERVER(1), "HTTP/1.1 204 No Content\r\n\r\n"),
        PB_EXPECT_HOOK(RESPONSEHEADERS),
        PB_EXPECT_HOOK(RESPONSE),
        PB_EXPECT_SEND(PB_CLIENT, "HTTP/1.1 204 No Content\r\n\r\n"),
        PB_EXPECT_NOTHING,
        PB_DONE,
    };
    pb_run_all("socks5_http", with_mode, s);
}

Test(modes, socks5_unreachable_gets_reply_04)
{
    use_mode("socks5");
    static const struct pb_step s[] = {
        PB_IN(PB_CLIENT, "\x05\x01\x00\x05\x01\x00\x01\x7f\x00\x00\x01\x00\x50"),
        PB_EXPECT_SEND(PB_CLIENT, "\x05\x00"),
        PB_EXPECT_OPEN("127.0.0.1", 80, "connection refused"),
        PB_EXPECT_SEND(PB_CLIENT, "\x05\x04\x00\x01\x00\x00\x00\x00\x00\x00"),
        PB_EXPECT_CLOSE(PB_CLIENT),
        PB_EXPECT_NOTHING,
        PB_DONE,
    };
    pb_run_all("socks5_unreachable", with_mode, s);
}

Test(modes, reverse_http_opens_first_and_rewrites_host)
{
    use_mode("reverse:http://origin.test:8080");
    static const struct pb_step s[] = {
        PB_EXPECT_OPEN("origin.test", 8080, NULL), /* eager: before any byte */
        PB_IN(PB_CLIENT, "GET /a HTTP/1.1\r\nHost: proxy.test\r\n\r\n"),
        PB_EXPECT_HOOK(REQUESTHEADERS),
        PB_EXPECT_HOOK(REQUEST),
        PB_EXPECT_SEND(PB_SERVER(1), "GET /a HTTP/1.1\r\nHost: origin.test:8080\r\n\r\n"),
        PB_IN(PB_SERVER(1), "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nA"),
        PB_EXPECT_HOOK(RESPONSEHEADERS),
        PB_EXPECT_HOOK(RESPONSE),
        PB_EXPECT_SEND(PB_CLIENT, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nA"),
        PB_EXPECT_NOTHING,
        PB_DONE,
    };
    pb_run_all("reverse_http", with_mode, s);
}

Test(modes, binary_in_connect_becomes_a_tcp_flow)
{
    use_mode("regular");
    static const struct pb_step s[] = {
        PB_IN(PB_CLIENT, "CONNECT db.test:5432 HTTP/1.1\r\n\r\n"),
        PB_EXPECT_HOOK(HTTP_CONNECT),
        PB_EXPECT_OPEN("db.test", 5432, NULL),
        PB_EXPECT_SEND(PB_CLIENT, "HTTP/1.1 200 Connection established\r\n\r\n"),
        PB_IN(PB_CLIENT, "\x00\x00\x00\x08\x04\xd2\x16\x2f"),
        PB_EXPECT_HOOK(TCP_START),
        PB_EXPECT_HOOK(TCP_MESSAGE),
        PB_EXPECT_SEND(PB_SERVER(1), "\x00\x00\x00\x08\x04\xd2\x16\x2f"),
        PB_IN(PB_SERVER(1), "N"),
        PB_EXPECT_HOOK(TCP_MESSAGE),
        PB_EXPECT_SEND(PB_CLIENT, "N"),
        PB_EOF(PB_CLIENT),
        PB_EXPECT_CLOSE(PB_SERVER(1)), /* half: our FIN after the client's */
        PB_EOF(PB_SERVER(1)),
        PB_EXPECT_CLOSE(PB_CLIENT), /* half: the server's FIN */
        PB_EXPECT_CLOSE(PB_CLIENT), /* both directions done: the connections go */
        PB_EXPECT_CLOSE(PB_SERVER(1)),
        PB_EXPECT_HOOK(TCP_END),
        PB_EXPECT_NOTHING,
        PB_DONE,
    };
    pb_run("connect_tcp", with_mode, s, -1, 0); /* a split makes more TCP messages: one run */
}

Test(modes, idle_client_is_closed)
{
    use_mode("regular");
    set("http_idle_timeout", "5");
    static const struct pb_step s[] = {
        PB_IN(PB_CLIENT, "GET http://a.test/ HTTP/1.1\r\nHost: a.test\r\n\r\n"),
        PB_EXPECT_HOOK(REQUESTHEADERS),
        PB_EXPECT_HOOK(REQUEST),
        PB_EXPECT_OPEN("a.test", 80, NULL),
        PB_EXPECT_SEND(PB_SERVER(1), "GET / HTTP/1.1\r\nHost: a.test\r\n\r\n"),
        PB_IN(PB_SERVER(1), "HTTP/1.1 204 No Content\r\n\r\n"),
        PB_EXPECT_HOOK(RESPONSEHEADERS),
        PB_EXPECT_HOOK(RESPONSE),
        PB_EXPECT_SEND(PB_CLIENT, "HTTP/1.1 204 No Content\r\n\r\n"),
        PB_WAIT(4),
        PB_EXPECT_NOTHING,
        PB_WAIT(2),
        PB_EXPECT_CLOSE(PB_CLIENT),
        PB_DONE,
    };
    pb_run_all("idle", with_mode, s);
}

Test(modes, slow_head_gets_408)
{
    use_mode("regular");
    set("http_header_timeout", "10");
    static const struct pb_step s[] = {
        PB_IN(PB_CLIENT, "GET http://a.test/ HTTP/1.1\r\nHost: a.test\r\n"),
        PB_WAIT(9),
        PB_IN(PB_CLIENT, "X-Slow: 1\r\n"), /* still no end of head: the clock runs on */
        PB_WAIT(2),
        PB_EXPECT_SEND_PREFIX(PB_CLIENT, "HTTP/1.1 408 Request Timeout\r\n"),
        PB_EXPECT_CLOSE(PB_CLIENT),
        PB_DONE,
    };
    pb_run_all("slowloris", with_mode, s);
}

Test(modes, silent_client_is_closed)
{
    use_mode("regular");
    set("http_idle_timeout", "3");
    static const struct pb_step s[] = {
        PB_WAIT(2), PB_EXPECT_NOTHING, PB_WAIT(2), PB_EXPECT_CLOSE(PB_CLIENT), PB_DONE,
    };
    pb_run("silent", with_mode, s, -1, 0);
}

/* h2c with prior knowledge (http2_prior_knowledge): python3-h2's preface and SETTINGS, then a
 * GET for /a with :authority proxy.test; the proxy answers in HTTP/2 (its SETTINGS first)
 * and the reverse target gets HTTP/1.1. Split at every offset, the preface may arrive in
 * pieces: the next-layer step waits for all 24 bytes. */
#define H2C_PREFACE_SETTINGS                                                                                 \
    "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"                                                                       \
    "\x00\x00\x2a\x04\x00\x00\x00\x00\x00\x00\x01\x00\x00\x10\x00\x00\x02\x00\x00\x00\x01\x00\x04\x00\x00"   \
    "\xff\xff\x00\x05\x00\x00\x40\x00\x00\x08\x00\x00\x00\x00\x00\x03\x00\x00\x00\x64\x00\x06\x00\x01\x00"   \
    "\x00"
#define H2C_GET_A                                                                                            \
    "\x00\x00\x10\x01\x05\x00\x00\x00\x01\x82\x86\x41\x88\xae\xc3\xf9\xf4\xba\x4a\x84\xff\x44\x82\x60\x7f"
/* our SETTINGS: MAX_CONCURRENT_STREAMS 100, INITIAL_WINDOW_SIZE 1 MiB, MAX_HEADER_LIST_SIZE
 * 64 KiB, MAX_FRAME_SIZE 16 KiB (the ACK and the connection WINDOW_UPDATE follow, in an order
 * that depends on how the input was cut) */
#define H2C_OUR_SETTINGS                                                                                     \
    "\x00\x00\x18\x04\x00\x00\x00\x00\x00\x00\x03\x00\x00\x00\x64\x00\x04\x00\x10\x00\x00\x00\x06\x00\x01"   \
    "\x00\x00\x00\x05\x00\x00\x40\x00"
/* HEADERS :status 200, content-length 1 (after an HPACK table size update), DATA "A", and an
 * empty DATA with END_STREAM */
#define H2C_RESPONSE                                                                                         \
    "\x00\x00\x08\x01\x04\x00\x00\x00\x01\x3f\xe1\x1f\x88\x0f\x0d\x01\x31\x00\x00\x01\x00\x00\x00\x00\x00"   \
    "\x01\x41\x00\x00\x00\x00\x01\x00\x00\x00\x01"

Test(modes, reverse_h2c_prior_knowledge)
{
    use_mode("reverse:http://origin.test:8080");
    set("http2_prior_knowledge", "true");
    static const struct pb_step s[] = {
        PB_EXPECT_OPEN("origin.test", 8080, NULL),
        PB_IN(PB_CLIENT, H2C_PREFACE_SETTINGS),
        PB_EXPECT_SEND_PREFIX(PB_CLIENT, H2C_OUR_SETTINGS),
        PB_IN(PB_CLIENT, H2C_GET_A),
        PB_EXPECT_HOOK(REQUESTHEADERS),
        PB_EXPECT_HOOK(REQUEST),
        /* Host from the rewritten :authority, first */
        PB_EXPECT_SEND(PB_SERVER(1), "GET /a HTTP/1.1\r\nHost: origin.test:8080\r\n\r\n"),
        PB_IN(PB_SERVER(1), "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nA"),
        PB_EXPECT_HOOK(RESPONSEHEADERS),
        PB_EXPECT_HOOK(RESPONSE),
        PB_EXPECT_SEND(PB_CLIENT, H2C_RESPONSE),
        PB_EXPECT_NOTHING,
        PB_DONE,
    };
    pb_run_all("reverse_h2c", with_mode, s);
}

Test(modes, h2c_preface_without_the_option_is_http1)
{
    use_mode("reverse:http://origin.test:8080");
    static const struct pb_step s[] = {
        PB_EXPECT_OPEN("origin.test", 8080, NULL),
        PB_IN(PB_CLIENT, H2C_PREFACE_SETTINGS),
        PB_EXPECT_SEND_PREFIX(PB_CLIENT, "HTTP/1.1 505 HTTP Version Not Supported\r\n"),
        PB_EXPECT_CLOSE(PB_CLIENT),
        PB_DONE,
    };
    pb_run_all("h2c_off", with_mode, s);
}
