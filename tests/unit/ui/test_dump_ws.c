/* mitmdump's lines for WebSocket and TCP messages (src/ui/dump/dump.c): synthetic flows at each
 * flow_detail, and the flows Debian's mitmdump 8.1.1 captured replayed through the same hooks as
 * `mitmdump -nr` (eventsequence.py), compared with what 8.1.1 printed. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/alloc.h"
#include "flow/flow.h"
#include "flow/flowfile.h"
#include "proto/http/http.h"
#include "ui/dump/dump.h"

extern const char *flow_fixtures_dir;

static struct mitm_flow *ws_flow(const char *client, uint16_t cport, const char *server, uint16_t sport)
{
    struct mitm_flow *f = mitm_flow_new(MITM_FLOW_HTTP, 1.0);
    f->client_conn.peer_host = client ? mitm_strdup(client) : NULL;
    f->client_conn.peer_port = cport;
    f->server_conn.address_host = server ? mitm_strdup(server) : NULL;
    f->server_conn.address_port = sport;
    f->request = mitm_http_request_new();
    mitm_str_set(&f->request->path, "/chat?x=1", 9);
    f->websocket = mitm_websocket_new();
    return f;
}

static void expect_msg(const struct mitm_dump_style *st, const struct mitm_flow *f, size_t i,
                       const char *want)
{
    struct mitm_buf b;
    mitm_buf_init(&b, 0);
    mitm_dump_format_message(st, f, i, &b);
    mitm_buf_append(&b, "", 1);
    cr_assert_str_eq((const char *)mitm_buf_data(&b), want);
    mitm_buf_free(&b);
}

static void expect_end(const struct mitm_dump_style *st, const struct mitm_flow *f, const char *want)
{
    struct mitm_buf b;
    mitm_buf_init(&b, 0);
    if (f->type == MITM_FLOW_TCP)
        mitm_dump_format_tcp_error(st, f, &b);
    else
        mitm_dump_format_websocket_end(st, f, &b);
    mitm_buf_append(&b, "", 1);
    cr_assert_str_eq((const char *)mitm_buf_data(&b), want);
    mitm_buf_free(&b);
}

Test(dump_ws, message_lines_by_detail)
{
    struct mitm_flow *f = ws_flow("127.0.0.1", 40000, "example.com", 443);
    mitm_websocket_add(f->websocket, 1, true, "hello", 5, 2.0);
    mitm_websocket_add(f->websocket, 2, false, "\x00\x01", 2, 3.0);
    for (int d = 1; d <= 2; d++) {
        struct mitm_dump_style st = {.flow_detail = d, .columns = 80, .lines_cutoff = 512};
        expect_msg(&st, f, 0, "127.0.0.1:40000 -> WebSocket text message -> example.com:443/chat?x=1\n");
        expect_msg(&st, f, 1, "127.0.0.1:40000 <- WebSocket binary message <- example.com:443/chat?x=1\n");
    }
    struct mitm_dump_style st = {.flow_detail = 3, .columns = 80, .lines_cutoff = 512};
    expect_msg(&st, f, 0,
               "127.0.0.1:40000 -> WebSocket text message -> example.com:443/chat?x=1\n\n    hello\n\n");
    expect_msg(&st, f, 1,
               "127.0.0.1:40000 <- WebSocket binary message <- example.com:443/chat?x=1\n\n"
               "    0000000000 00 01                                             ..\n\n");
    st.flow_detail = 0;
    expect_msg(&st, f, 0, "");
    st.flow_detail = 1;
    expect_msg(&st, f, 2, ""); /* out of range */
    /* colours never apply to these lines (mitmproxy echoes them unstyled) */
    st.color = true;
    expect_msg(&st, f, 0, "127.0.0.1:40000 -> WebSocket text message -> example.com:443/chat?x=1\n");
    mitm_flow_unref(f);
}

Test(dump_ws, cut_at_the_line_cutoff)
{
    struct mitm_flow *f = ws_flow("127.0.0.1", 1, "h", 2);
    mitm_websocket_add(f->websocket, 1, false, "a\nb\nc\nd", 7, 2.0);
    struct mitm_dump_style st = {.flow_detail = 3, .columns = 80, .lines_cutoff = 2};
    expect_msg(&st, f, 0,
               "127.0.0.1:1 <- WebSocket text message <- h:2/chat?x=1\n\n    a\n    b\n    (cut off)\n\n");
    st.flow_detail = 4;
    expect_msg(&st, f, 0,
               "127.0.0.1:1 <- WebSocket text message <- h:2/chat?x=1\n\n    a\n    b\n    c\n    d\n\n");
    mitm_flow_unref(f);
}

/* human.format_address */
Test(dump_ws, addresses_like_mitmproxy)
{
    struct {
        const char *host;
        const char *want;
    } cases[] = {
        {"10.1.2.3", "10.1.2.3:80 "},
        {"0.0.0.0", "*:80 "},
        {"::", "*:80 "},
        {"::ffff:127.0.0.1", "127.0.0.1:80 "},
        {"2001:DB8:0:0:1:0:0:1", "[2001:db8::1:0:0:1]:80 "},
        {"2001:db8:0:1:0:0:0:1", "[2001:db8:0:1::1]:80 "},
        {"::1", "[::1]:80 "},
        {"fe80::1%eth0", "[fe80::1%eth0]:80 "},
        {"fe80:0:0:0:0:0:0:0", "[fe80::]:80 "},
        {"1:2:3:4:5:6:7:8", "[1:2:3:4:5:6:7:8]:80 "},
        {"1:0:3:4:5:6:7:8", "[1:0:3:4:5:6:7:8]:80 "}, /* a single zero group is not compressed */
        {"example.com", "example.com:80 "},
        {NULL, "<no address> "},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct mitm_flow *f = ws_flow(cases[i].host, 80, "s", 1);
        mitm_websocket_add(f->websocket, 1, true, "", 0, 2.0);
        struct mitm_dump_style st = {.flow_detail = 1};
        char want[128];
        snprintf(want, sizeof(want), "%s-> WebSocket text message -> s:1/chat?x=1\n", cases[i].want);
        expect_msg(&st, f, 0, want);
        mitm_flow_unref(f);
    }
}

Test(dump_ws, websocket_end)
{
    struct mitm_flow *f = ws_flow("127.0.0.1", 1, "srv", 8080);
    struct mitm_dump_style st = {.flow_detail = 1};
    mitm_websocket_set_close(f->websocket, true, 1000, "bye", 3, 5.0);
    expect_end(&st, f, "WebSocket connection closed by client: 1000 bye\n");
    mitm_websocket_set_close(f->websocket, false, 1001, "", 0, 5.0);
    expect_end(&st, f, "WebSocket connection closed by server: 1001 \n");
    mitm_websocket_set_close(f->websocket, true, 1005, NULL, 0, 5.0);
    expect_end(&st, f, "WebSocket connection closed by client: 1005 None\n");
    mitm_websocket_set_close(f->websocket, false, 1002, "", 0, 5.0);
    expect_end(&st, f, "Error in WebSocket connection to srv:8080: WebSocket Error: PROTOCOL_ERROR\n");
    mitm_websocket_set_close(f->websocket, false, 4000, "custom", 6, 5.0);
    expect_end(
        &st, f,
        "Error in WebSocket connection to srv:8080: WebSocket Error: UNKNOWN_ERROR=4000 (reason: custom)\n");
    mitm_websocket_set_close(f->websocket, false, 1014, "gw", 2, 5.0);
    expect_end(
        &st, f,
        "Error in WebSocket connection to srv:8080: WebSocket Error: UNKNOWN_ERROR=1014 (reason: gw)\n");
    mitm_websocket_set_close(f->websocket, false, -1, NULL, 0, 5.0);
    expect_end(&st, f, "Error in WebSocket connection to srv:8080: WebSocket Error: UNKNOWN_ERROR=None\n");
    /* closed_by_client None counts as the server, as Python's truthiness */
    f->websocket->closed_by_client = -1;
    f->websocket->close_code = 1000;
    expect_end(&st, f, "WebSocket connection closed by server: 1000 None\n");
    st.color = true;
    f->websocket->close_code = 1006;
    expect_end(
        &st, f,
        "\x1b[31mError in WebSocket connection to srv:8080: WebSocket Error: ABNORMAL_CLOSURE\x1b[0m\n");
    st.flow_detail = 0;
    expect_end(&st, f, "");
    mitm_flow_unref(f);
}

Test(dump_ws, tcp_messages_and_errors)
{
    struct mitm_flow *f = mitm_flow_new(MITM_FLOW_TCP, 1.0);
    f->client_conn.peer_host = mitm_strdup("127.0.0.1");
    f->client_conn.peer_port = 5000;
    f->server_conn.address_host = mitm_strdup("10.0.0.2");
    f->server_conn.address_port = 22;
    f->messages = mitm_calloc(2, sizeof(*f->messages));
    f->messages[0] = (struct mitm_tcp_message){true, mitm_memdup("SSH-2.0\r\n", 9), 9, 1.0};
    f->messages[1] = (struct mitm_tcp_message){false, mitm_memdup("\x01\x02", 2), 2, 2.0};
    f->n_messages = 2;
    struct mitm_dump_style st = {.flow_detail = 2, .lines_cutoff = 512};
    expect_msg(&st, f, 0, "127.0.0.1:5000 -> tcp -> 10.0.0.2:22\n");
    expect_msg(&st, f, 1, "127.0.0.1:5000 <- tcp <- 10.0.0.2:22\n");
    st.flow_detail = 3;
    expect_msg(&st, f, 0, "127.0.0.1:5000 -> tcp -> 10.0.0.2:22\n\n    SSH-2.0\n\n");
    expect_end(&st, f, "");
    mitm_flow_set_error(f, "Connection reset by peer", 3.0);
    expect_end(&st, f, "Error in TCP connection to 10.0.0.2:22: Connection reset by peer\n");
    /* QUIC streams name their stream ids (metadata) */
    f->client_conn.tls_version = mitm_strdup("QUICv1");
    f->metadata = mitm_calloc(2, sizeof(*f->metadata));
    f->metadata[0] = (struct mitm_meta){mitm_strdup("quic_stream_id_client"), mitm_memdup("1:4#", 4), 4};
    f->metadata[1] = (struct mitm_meta){mitm_strdup("quic_stream_id_server"), mitm_memdup("2:12#", 5), 5};
    f->n_metadata = 2;
    st.flow_detail = 1;
    expect_msg(&st, f, 1, "127.0.0.1:5000 <- quic stream 4 <- mitmproxy <- quic stream 12 <- 10.0.0.2:22\n");
    mitm_flow_unref(f);
}

/* ---- against Debian's mitmdump 8.1.1 (tests/unit/flow/fixtures/make_ws_capture.py) ---- */

/* What `mitmdump -nr` prints for a flow: its hooks in eventsequence.py's order. */
static void replay_hooks(const struct mitm_dump_style *st, const struct mitm_flow *f, struct mitm_buf *b)
{
    if (f->type == MITM_FLOW_HTTP) {
        mitm_dump_format(st, f, b); /* response (or error) */
        for (size_t i = 0; f->websocket && i < f->websocket->n_messages; i++)
            mitm_dump_format_message(st, f, i, b);
        mitm_dump_format_websocket_end(st, f, b);
    } else {
        for (size_t i = 0; i < f->n_messages; i++)
            mitm_dump_format_message(st, f, i, b);
        mitm_dump_format_tcp_error(st, f, b);
    }
}

static char *slurp(const char *name, size_t *len)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", flow_fixtures_dir, name);
    FILE *fp = fopen(path, "rb");
    cr_assert_not_null(fp, "%s", path);
    char *buf = malloc(1 << 20);
    *len = fread(buf, 1, (1 << 20) - 1, fp);
    buf[*len] = 0;
    fclose(fp);
    return buf;
}

Test(dump_ws, same_lines_as_mitmdump_8_1_1)
{
    size_t len;
    char *file = slurp("mitmdump-8.1.1-websocket.flows", &len);
    struct mitm_flowfile_reader *r = mitm_flowfile_open_mem(file, len);
    struct mitm_flow *flows[8];
    size_t n = 0;
    char err[256];
    while (n < 8 && mitm_flowfile_next(r, &flows[n], err, sizeof(err)) == MITM_FLOWFILE_FLOW)
        n++;
    mitm_flowfile_close(r);
    cr_assert_eq(n, 4);
    for (int d = 1; d <= 4; d++) {
        /* 8.1.1 cut bodies at 70 lines (mitmproxy 12: content_view_lines_cutoff, 512) and joined
         * content lines with \r\n (12: \n); the capture's contents are all shorter */
        struct mitm_dump_style st = {.flow_detail = d, .columns = 80, .lines_cutoff = 70};
        struct mitm_buf got;
        mitm_buf_init(&got, 0);
        for (size_t i = 0; i < n; i++)
            replay_hooks(&st, flows[i], &got);
        char name[64];
        snprintf(name, sizeof(name), "mitmdump-8.1.1-websocket.d%d.txt", d);
        size_t wl;
        char *want = slurp(name, &wl);
        /* \r\n -> \n */
        size_t o = 0;
        for (size_t i = 0; i < wl; i++)
            if (!(want[i] == '\r' && i + 1 < wl && want[i + 1] == '\n'))
                want[o++] = want[i];
        want[o] = 0;
        mitm_buf_append(&got, "", 1);
        cr_assert_str_eq((const char *)mitm_buf_data(&got), want, "flow_detail %d", d);
        free(want);
        mitm_buf_free(&got);
    }
    for (size_t i = 0; i < n; i++)
        mitm_flow_unref(flows[i]);
    free(file);
}
