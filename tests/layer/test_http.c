/* Playbooks for the HTTP layer in regular (explicit proxy) mode. Each one also runs with
 * its input split at every byte offset (pb_run_all). */
#include <criterion/criterion.h>
#include <string.h>

#include "core/options.h"
#include "playbook.h"
#include "proto/http/layer.h"

static void setup(void)
{
    mitm_options_init(&mitm_options);
}

static void teardown(void)
{
    mitm_options_free(&mitm_options);
}

TestSuite(http, .init = setup, .fini = teardown);

#define GET_ABS                                                                                              \
    "GET http://example.com/path?q=1 HTTP/1.1\r\nHost: example.com\r\nX-Dup: a\r\nx-dup: b\r\n\r\n"
#define GET_UP  "GET /path?q=1 HTTP/1.1\r\nHost: example.com\r\nX-Dup: a\r\nx-dup: b\r\n\r\n"
#define RESP_CL "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nSet-Cookie: a\r\nset-cookie: b\r\n\r\nhello"

Test(http, simple_get_absolute_form)
{
    static const struct pb_step s[] = {
        PB_IN(PB_CLIENT, GET_ABS),
        PB_EXPECT_HOOK(REQUESTHEADERS),
        PB_EXPECT_HOOK(REQUEST),
        PB_EXPECT_OPEN("example.com", 80, NULL),
        PB_EXPECT_SEND(PB_SERVER(1), GET_UP),
        PB_IN(PB_SERVER(1), RESP_CL),
        PB_EXPECT_HOOK(RESPONSEHEADERS),
        PB_EXPECT_HOOK(RESPONSE),
        PB_EXPECT_SEND(PB_CLIENT, RESP_CL),
        PB_EXPECT_NOTHING,
        PB_DONE,
    };
    pb_run_all("simple_get", pb_regular, s);
}

Test(http, keep_alive_reuses_server_connection)
{
    static const struct pb_step s[] = {
        PB_IN(PB_CLIENT, GET_ABS),
        PB_EXPECT_HOOK(REQUESTHEADERS),
        PB_EXPECT_HOOK(REQUEST),
        PB_EXPECT_OPEN("example.com", 80, NULL),
        PB_EXPECT_SEND(PB_SERVER(1), GET_UP),
        PB_IN(PB_SERVER(1), RESP_CL),
        PB_EXPECT_HOOK(RESPONSEHEADERS),
        PB_EXPECT_HOOK(RESPONSE),
        PB_EXPECT_SEND(PB_CLIENT, RESP_CL),
        PB_IN(PB_CLIENT,
              "POST http://example.com/p HTTP/1.1\r\nHost: example.com\r\nContent-Length: 3\r\n\r\nabc"),
        PB_EXPECT_HOOK(REQUESTHEADERS),
        PB_EXPECT_HOOK(REQUEST),
        PB_EXPECT_SEND(PB_SERVER(1), "POST /p HTTP/1.1\r\nHost: example.com\r\nContent-Length: 3\r\n\r\nabc"),
        PB_IN(PB_SERVER(1), "HTTP/1.1 204 No Content\r\n\r\n"),
        PB_EXPECT_HOOK(RESPONSEHEADERS),
        PB_EXPECT_HOOK(RESPONSE),
        PB_EXPECT_SEND(PB_CLIENT, "HTTP/1.1 204 No Content\r\n\r\n"),
        PB_EXPECT_NOTHING,
        PB_DONE,
    };
    pb_run_all("keep_alive", pb_regular, s);
}

Test(http, origin_form_uses_host_header)
{
    static const struct pb_step s[] = {
        PB_IN(PB_CLIENT, "OPTIONS * HTTP/1.1\r\nHost: example.com:8081\r\n\r\n"),
        PB_EXPECT_HOOK(REQUESTHEADERS),
        PB_EXPECT_HOOK(REQUEST),
        PB_EXPECT_OPEN("example.com", 8081, NULL),
        PB_EXPECT_SEND(PB_SERVER(1), "OPTIONS * HTTP/1.1\r\nHost: example.com:8081\r\n\r\n"),
        PB_IN(PB_SERVER(1), "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
        PB_EXPECT_HOOK(RESPONSEHEADERS),
        PB_EXPECT_HOOK(RESPONSE),
        PB_EXPECT_SEND(PB_CLIENT, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
        PB_DONE,
    };
    pb_run_all("options_star", pb_regular, s);
}

#define CHUNKED_RESP "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-T: 1\r\n\r\n"

Test(http, chunked_response_with_trailers)
{
    static const struct pb_step s[] = {
        PB_IN(PB_CLIENT, GET_ABS),
        PB_EXPECT_HOOK(REQUESTHEADERS),
        PB_EXPECT_HOOK(REQUEST),
        PB_EXPECT_OPEN("example.com", 80, NULL),
        PB_EXPECT_SEND(PB_SERVER(1), GET_UP),
        PB_IN(PB_SERVER(1), CHUNKED_RESP),
        PB_EXPECT_HOOK(RESPONSEHEADERS),
        PB_EXPECT_HOOK(RESPONSE),
        PB_EXPECT_SEND(PB_CLIENT, CHUNKED_RESP),
        PB_DONE,
    };
    pb_run_all("chunked", pb_regular, s);
}

Test(http, http10_client_gets_no_chunks)
{
    static const struct pb_step s[] = {
        PB_IN(PB_CLIENT, "GET http://example.com/ HTTP/1.0\r\n\r\n"),
        PB_EXPECT_HOOK(REQUESTHEADERS),
        PB_EXPECT_HOOK(REQUEST),
        PB_EXPECT_OPEN("example.com", 80, NULL),
        PB_EXPECT_SEND(PB_SERVER(1), "GET / HTTP/1.0\r\n\r\n"),
        PB_IN(PB_SERVER(1), "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
        PB_EXPECT_HOOK(RESPONSEHEADERS),
        PB_EXPECT_HOOK(RESPONSE),
        PB_EXPECT_SEND(PB_CLIENT, "HTTP/1.1 200 OK\r\n\r\nhello"),
        PB_EXPECT_CLOSE(PB_CLIENT),
        PB_EXPECT_CLOSE(PB_SERVER(1)),
        PB_DONE,
    };
    pb_run_all("http10", pb_regular, s);
}

Test(http, smuggling_refused_before_any_upstream)
{
    static const struct pb_step s[] = {
        PB_IN(PB_CLIENT, "POST http://example.com/ HTTP/1.1\r\nHost: example.com\r\nContent-Length: 3\r\n"
                         "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
        PB_EXPECT_SEND_PREFIX(PB_CLIENT, "HTTP/1.1 400 Bad Request\r\n"),
        PB_EXPECT_CLOSE(PB_CLIENT),
        PB_DONE,
    };
    pb_run_all("smuggling", pb_regular, s);
}

Test(http, connect_error_gives_502_and_error_hook)
{
    static const struct pb_step s[] = {
        PB_IN(PB_CLIENT, GET_ABS),
        PB_EXPECT_HOOK(REQUESTHEADERS),
        PB_EXPECT_HOOK(REQUEST),
        PB_EXPECT_OPEN("example.com", 80, "connection refused"),
        PB_EXPECT_HOOK(ERROR), /* before the client has the 502: -w has the flow first */
        PB_EXPECT_SEND_PREFIX(PB_CLIENT, "HTTP/1.1 502 Bad Gateway\r\n"),
        PB_EXPECT_CLOSE(PB_CLIENT),
        PB_DONE,
    };
    pb_run("connect_error", pb_regular, s, -1, 0);
}

Test(http, expect_100_continue_answered_by_proxy)
{
    static const struct pb_step s[] = {
        PB_IN(PB_CLIENT, "PUT http://example.com/u HTTP/1.1\r\nHost: example.com\r\nExpect: 100-continue\r\n"
                         "Content-Length: 4\r\n\r\n"),
        PB_EXPECT_HOOK(REQUESTHEADERS),
        PB_EXPECT_SEND(PB_CLIENT, "HTTP/1.1 100 Continue\r\n\r\n"),
        PB_IN(PB_CLIENT, "data"),
        PB_EXPECT_HOOK(REQUEST),
        PB_EXPECT_OPEN("example.com", 80, NULL),
        PB_EXPECT_SEND(PB_SERVER(1), "PUT /u HTTP/1.1\r\nHost: example.com\r\nContent-Length: 4\r\n\r\ndata"),
        PB_IN(PB_SERVER(1), "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"),
        PB_EXPECT_HOOK(RESPONSEHEADERS),
        PB_EXPECT_HOOK(RESPONSE),
        PB_EXPECT_SEND(PB_CLIENT, "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"),
        PB_DONE,
    };
    pb_run_all("expect", pb_regular, s);
}

Test(http, pipelined_requests_answered_in_order)
{
    static const struct pb_step s[] = {
        PB_IN(PB_CLIENT, "GET http://example.com/1 HTTP/1.1\r\nHost: example.com\r\n\r\n"
                         "GET http://example.com/2 HTTP/1.1\r\nHost: example.com\r\n\r\n"),
        PB_EXPECT_HOOK(REQUESTHEADERS),
        PB_EXPECT_HOOK(REQUEST),
        PB_EXPECT_OPEN("example.com", 80, NULL),
        PB_EXPECT_SEND(PB_SERVER(1), "GET /1 HTTP/1.1\r\nHost: example.com\r\n\r\n"),
        PB_IN(PB_SERVER(1), "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n1"),
        PB_EXPECT_HOOK(RESPONSEHEADERS),
        PB_EXPECT_HOOK(RESPONSE),
        PB_EXPECT_SEND(PB_CLIENT, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n1"),
        PB_EXPECT_HOOK(REQUESTHEADERS),
        PB_EXPECT_HOOK(REQUEST),
        PB_EXPECT_SEND(PB_SERVER(1), "GET /2 HTTP/1.1\r\nHost: example.com\r\n\r\n"),
        PB_IN(PB_SERVER(1), "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n2"),
        PB_EXPECT_HOOK(RESPONSEHEADERS),
        PB_EXPECT_HOOK(RESPONSE),
        PB_EXPECT_SEND(PB_CLIENT, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n2"),
        PB_EXPECT_NOTHING,
        PB_DONE,
    };
    pb_run_all("pipelining", pb_regular, s);
}

Test(http, server_closes_mid_body)
{
    static const struct pb_step s[] = {
        PB_IN(PB_CLIENT, GET_ABS),
        PB_EXPECT_HOOK(REQUESTHEADERS),
        PB_EXPECT_HOOK(REQUEST),
        PB_EXPECT_OPEN("example.com", 80, NULL),
        PB_EXPECT_SEND(PB_SERVER(1), GET_UP),
        PB_IN(PB_SERVER(1), "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"),
        PB_EXPECT_HOOK(RESPONSEHEADERS),
        PB_RST(PB_SERVER(1)),
        PB_EXPECT_HOOK(ERROR), /* before the client has the 502: -w has the flow first */
        PB_EXPECT_SEND_PREFIX(PB_CLIENT, "HTTP/1.1 502 Bad Gateway\r\n"),
        PB_EXPECT_CLOSE(PB_CLIENT),
        PB_DONE,
    };
    pb_run("server_closes", pb_regular, s, -1, 0);
}

Test(http, read_until_close_response)
{
    static const struct pb_step s[] = {
        PB_IN(PB_CLIENT, GET_ABS),
        PB_EXPECT_HOOK(REQUESTHEADERS),
        PB_EXPECT_HOOK(REQUEST),
        PB_EXPECT_OPEN("example.com", 80, NULL),
        PB_EXPECT_SEND(PB_SERVER(1), GET_UP),
        PB_IN(PB_SERVER(1), "HTTP/1.0 200 OK\r\n\r\nuntil close"),
        PB_EXPECT_HOOK(RESPONSEHEADERS),
        PB_EOF(PB_SERVER(1)),
        PB_EXPECT_HOOK(RESPONSE),
        PB_EXPECT_SEND(PB_CLIENT, "HTTP/1.0 200 OK\r\n\r\nuntil close"),
        PB_EXPECT_CLOSE(PB_CLIENT),
        PB_EXPECT_CLOSE(PB_SERVER(1)),
        PB_DONE,
    };
    pb_run_all("until_close", pb_regular, s);
}

Test(http, connect_then_plain_http_in_tunnel)
{
    static const struct pb_step s[] = {
        PB_IN(PB_CLIENT, "CONNECT example.com:8080 HTTP/1.1\r\nHost: example.com:8080\r\n\r\n"),
        PB_EXPECT_HOOK(HTTP_CONNECT),
        PB_EXPECT_OPEN("example.com", 8080, NULL),
        PB_EXPECT_SEND(PB_CLIENT, "HTTP/1.1 200 Connection established\r\n\r\n"),
        PB_IN(PB_CLIENT, "GET /in HTTP/1.1\r\nHost: example.com:8080\r\n\r\n"),
        PB_EXPECT_HOOK(REQUESTHEADERS),
        PB_EXPECT_HOOK(REQUEST),
        PB_EXPECT_SEND(PB_SERVER(1), "GET /in HTTP/1.1\r\nHost: example.com:8080\r\n\r\n"),
        PB_IN(PB_SERVER(1), "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
        PB_EXPECT_HOOK(RESPONSEHEADERS),
        PB_EXPECT_HOOK(RESPONSE),
        PB_EXPECT_SEND(PB_CLIENT, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
        PB_DONE,
    };
    pb_run_all("connect", pb_regular, s);
}

Test(http, client_disconnect_while_waiting_for_response)
{
    static const struct pb_step s[] = {
        PB_IN(PB_CLIENT, GET_ABS),
        PB_EXPECT_HOOK(REQUESTHEADERS),
        PB_EXPECT_HOOK(REQUEST),
        PB_EXPECT_OPEN("example.com", 80, NULL),
        PB_EXPECT_SEND(PB_SERVER(1), GET_UP),
        PB_RST(PB_CLIENT),
        PB_EXPECT_CLOSE(PB_SERVER(1)),
        PB_EXPECT_HOOK(ERROR),
        PB_DONE,
    };
    pb_run_all("client_gone", pb_regular, s);
}

/* stream_large_bodies: the head goes at once, each body piece when the next one comes, and
 * the last piece only after the response hook, where -w writes the flow: no client gets a
 * streamed response's last byte before its record is in the file. */
Test(http, streamed_response_holds_its_last_piece)
{
    char err[256];
    cr_assert(mitm_options_set(&mitm_options, "stream_large_bodies", "3", err, sizeof(err)) == 0, "%s", err);
    static const struct pb_step s[] = {
        PB_IN(PB_CLIENT, GET_ABS),
        PB_EXPECT_HOOK(REQUESTHEADERS),
        PB_EXPECT_HOOK(REQUEST),
        PB_EXPECT_OPEN("example.com", 80, NULL),
        PB_EXPECT_SEND(PB_SERVER(1), GET_UP),
        PB_IN(PB_SERVER(1), "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n01234"),
        PB_EXPECT_HOOK(RESPONSEHEADERS),
        PB_EXPECT_SEND(PB_CLIENT, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n"),
        PB_IN(PB_SERVER(1), "56789"),
        PB_EXPECT_SEND(PB_CLIENT, "01234"),
        PB_EXPECT_HOOK(RESPONSE),
        PB_EXPECT_SEND(PB_CLIENT, "56789"),
        PB_EXPECT_NOTHING,
        PB_DONE,
    };
    pb_run("stream_cl", pb_regular, s, -1, 0);
}

Test(http, streamed_chunked_response_ends_after_its_hook)
{
    char err[256];
    cr_assert(mitm_options_set(&mitm_options, "stream_large_bodies", "3", err, sizeof(err)) == 0, "%s", err);
    static const struct pb_step s[] = {
        PB_IN(PB_CLIENT, GET_ABS),
        PB_EXPECT_HOOK(REQUESTHEADERS),
        PB_EXPECT_HOOK(REQUEST),
        PB_EXPECT_OPEN("example.com", 80, NULL),
        PB_EXPECT_SEND(PB_SERVER(1), GET_UP),
        PB_IN(PB_SERVER(1), "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nabcdef\r\n"),
        PB_EXPECT_HOOK(RESPONSEHEADERS),
        PB_EXPECT_SEND(PB_CLIENT, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"),
        PB_IN(PB_SERVER(1), "0\r\n\r\n"),
        PB_EXPECT_HOOK(RESPONSE),
        PB_EXPECT_SEND(PB_CLIENT, "6\r\nabcdef\r\n0\r\n\r\n"),
        PB_EXPECT_NOTHING,
        PB_DONE,
    };
    pb_run("stream_chunked", pb_regular, s, -1, 0);
}

/* A slow client sends its head one byte at a time (after two empty lines, which RFC 9112
 * §2.2 lets a server skip): the head is searched only in the bytes that arrived since the
 * last search, and parsed once it is whole. */
Test(http, head_arriving_byte_by_byte)
{
    static const char head[] = "\r\n\r\n" GET_ABS;
    enum { N = sizeof(head) - 1 };
    static struct pb_step s[N + 16];
    int k = 0;
    for (int i = 0; i < N; i++)
        s[k++] = (struct pb_step){.type = PB_DATA, .conn = PB_CLIENT, .data = head + i, .len = 1};
    const struct pb_step rest[] = {
        PB_EXPECT_HOOK(REQUESTHEADERS),
        PB_EXPECT_HOOK(REQUEST),
        PB_EXPECT_OPEN("example.com", 80, NULL),
        PB_EXPECT_SEND(PB_SERVER(1), GET_UP),
        PB_IN(PB_SERVER(1), RESP_CL),
        PB_EXPECT_HOOK(RESPONSEHEADERS),
        PB_EXPECT_HOOK(RESPONSE),
        PB_EXPECT_SEND(PB_CLIENT, RESP_CL),
        PB_EXPECT_NOTHING,
        PB_DONE,
    };
    memcpy(s + k, rest, sizeof(rest));
    pb_run("byte_by_byte", pb_regular, s, -1, 0);
}

/* A request line that grows past the line limit is refused while still incomplete, even
 * when it arrives in pieces (the head search does not wait for a blank line then). */
Test(http, long_request_line_in_pieces_is_refused_early)
{
    cr_assert_eq(mitm_options_set(&mitm_options, "http_max_line_size", "8k", NULL, 0), 0);
    static char line[12000];
    memcpy(line, "GET http://example.com/", 23);
    memset(line + 23, 'a', sizeof(line) - 23);
    static struct pb_step s[8];
    s[0] = (struct pb_step){.type = PB_DATA, .conn = PB_CLIENT, .data = line, .len = 4000};
    s[1] = (struct pb_step){.type = PB_DATA, .conn = PB_CLIENT, .data = line + 4000, .len = 4000};
    s[2] = (struct pb_step){.type = PB_DATA, .conn = PB_CLIENT, .data = line + 8000, .len = 4000};
    s[3] = (struct pb_step){
        .type = PB_SEND, .conn = PB_CLIENT, .data = "HTTP/1.1 414", .len = 12, .prefix = true};
    s[4] = (struct pb_step){.type = PB_CLOSE, .conn = PB_CLIENT};
    s[5] = (struct pb_step){.type = PB_END}; /* no flow yet: no error hook */
    pb_run("long_line", pb_regular, s, -1, 0);
}
