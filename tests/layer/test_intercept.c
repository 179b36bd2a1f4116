/* Playbooks for held hooks (intercept): the driver keeps a hook unanswered until the user
 * resumes or kills the flow, or the client leaves. The layer waiting for the reply must
 * queue whatever arrives meanwhile and go on in order once it comes. Each one also runs
 * with its input split at every byte offset (pb_run_all). */
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

TestSuite(intercept, .init = setup, .fini = teardown);

#define GET1    "GET http://example.com/1 HTTP/1.1\r\nHost: example.com\r\n\r\n"
#define GET2    "GET http://example.com/2 HTTP/1.1\r\nHost: example.com\r\n\r\n"
#define UP1     "GET /1 HTTP/1.1\r\nHost: example.com\r\n\r\n"
#define UP1_ED  "GET /1 HTTP/1.1\r\nHost: example.com\r\nX-Edited: yes\r\n\r\n"
#define UP2     "GET /2 HTTP/1.1\r\nHost: example.com\r\n\r\n"
#define RESP_A  "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na"
#define RESP_B  "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nb"
#define RESP_A2 "HTTP/1.1 201 OK\r\nContent-Length: 1\r\n\r\na"

/* The request waits at its request hook while the client pipelines a second one: nothing
 * reaches a server until the resume, the edit travels with the first request, and the
 * second follows in order. */
Test(intercept, late_reply_with_data_arriving_meanwhile)
{
    static const struct pb_step s[] = {
        PB_IN(PB_CLIENT, GET1),
        PB_EXPECT_HOOK(REQUESTHEADERS),
        PB_EXPECT_HOLD(REQUEST),
        PB_IN(PB_CLIENT, GET2),
        PB_EXPECT_NOTHING,
        PB_RESUME_ADDING("X-Edited", "yes"),
        PB_EXPECT_OPEN("example.com", 80, NULL),
        PB_EXPECT_SEND(PB_SERVER(1), UP1_ED),
        PB_IN(PB_SERVER(1), RESP_A),
        PB_EXPECT_HOOK(RESPONSEHEADERS),
        PB_EXPECT_HOOK(RESPONSE),
        PB_EXPECT_SEND(PB_CLIENT, RESP_A),
        PB_EXPECT_HOOK(REQUESTHEADERS),
        PB_EXPECT_HOOK(REQUEST),
        PB_EXPECT_SEND(PB_SERVER(1), UP2),
        PB_IN(PB_SERVER(1), RESP_B),
        PB_EXPECT_HOOK(RESPONSEHEADERS),
        PB_EXPECT_HOOK(RESPONSE),
        PB_EXPECT_SEND(PB_CLIENT, RESP_B),
        PB_EXPECT_NOTHING,
        PB_DONE,
    };
    pb_run_all("late_reply", pb_regular, s);
}

/* Held at its response: the server's connection stays, the client sees nothing until the
 * resume, then the edited status. */
Test(intercept, response_held_and_edited)
{
    static const struct pb_step s[] = {
        PB_IN(PB_CLIENT, GET1),
        PB_EXPECT_HOOK(REQUESTHEADERS),
        PB_EXPECT_HOOK(REQUEST),
        PB_EXPECT_OPEN("example.com", 80, NULL),
        PB_EXPECT_SEND(PB_SERVER(1), UP1),
        PB_IN(PB_SERVER(1), RESP_A),
        PB_EXPECT_HOOK(RESPONSEHEADERS),
        PB_EXPECT_HOLD(RESPONSE),
        PB_EXPECT_NOTHING,
        PB_RESUME_STATUS(201),
        PB_EXPECT_SEND(PB_CLIENT, RESP_A2),
        PB_EXPECT_NOTHING,
        PB_DONE,
    };
    pb_run_all("response_held", pb_regular, s);
}

/* Killed while held: no server is ever asked, the flow ends with its error hook and the
 * client connection closes without a response (mitmproxy's flow.kill). */
Test(intercept, kill_while_held)
{
    /* clang-format off */
    static const struct pb_step s[] = {
        PB_IN(PB_CLIENT, GET1),
        PB_EXPECT_HOOK(REQUESTHEADERS),
        PB_EXPECT_HOLD(REQUEST),
        PB_KILL_HELD, /* the user's X */
        PB_EXPECT_HOOK(ERROR),
        PB_EXPECT_CLOSE(PB_CLIENT),
        PB_EXPECT_NOTHING,
        PB_DONE,
    };
    /* clang-format on */
    pb_run_all("kill_held", pb_regular, s);
}

/* The client leaves while its request is held: the close waits in the paused layer's
 * queue (nothing goes out), and when the driver gives the hook up the layer stops waiting
 * without emitting anything or leaking (ASan). The driver then ends the flow with
 * "Client disconnected." (src/io/session.c release_held). */
Test(intercept, client_leaves_while_held)
{
    static const struct pb_step s[] = {
        PB_IN(PB_CLIENT, GET1),  PB_EXPECT_HOOK(REQUESTHEADERS),
        PB_EXPECT_HOLD(REQUEST), PB_RST(PB_CLIENT),
        PB_EXPECT_NOTHING,       PB_DROP_HELD,
        PB_EXPECT_NOTHING,       PB_DONE,
    };
    pb_run_all("client_leaves", pb_regular, s);
}

/* Killed while its response is held: the client gets none of it and its connection closes;
 * as mitmproxy's check_killed after the response hook, no error hook runs (the flow was
 * handed to the main thread at its response). */
Test(intercept, kill_while_response_held)
{
    static const struct pb_step s[] = {
        PB_IN(PB_CLIENT, GET1),
        PB_EXPECT_HOOK(REQUESTHEADERS),
        PB_EXPECT_HOOK(REQUEST),
        PB_EXPECT_OPEN("example.com", 80, NULL),
        PB_EXPECT_SEND(PB_SERVER(1), UP1),
        PB_IN(PB_SERVER(1), RESP_A),
        PB_EXPECT_HOOK(RESPONSEHEADERS),
        PB_EXPECT_HOLD(RESPONSE),
        PB_KILL_HELD,
        PB_EXPECT_CLOSE(PB_CLIENT),
        PB_EXPECT_CLOSE(PB_SERVER(1)), /* not reused: a killed exchange leaves it unknown */
        PB_EXPECT_NOTHING,
        PB_DONE,
    };
    pb_run_all("kill_response_held", pb_regular, s);
}
