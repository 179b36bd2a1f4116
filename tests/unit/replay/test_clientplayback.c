#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "addon/clientplayback.h"
#include "core/options.h"
#include "flow/flowfile.h"
#include "helpers.h"

static char err[512];

/* Serialise f (dropping our reference); returns the bytes (static) or NULL with err. */
static const char *ser(struct mitm_flow *f)
{
    static char out[4096];
    struct mitm_buf b;
    mitm_buf_init(&b, 0);
    err[0] = 0;
    int rc = mitm_clientplayback_serialize(f, &b, err, sizeof(err));
    mitm_flow_unref(f);
    if (rc < 0) {
        mitm_buf_free(&b);
        return NULL;
    }
    cr_assert_lt(b.len, sizeof(out));
    memcpy(out, mitm_buf_data(&b), b.len);
    out[b.len] = 0;
    mitm_buf_free(&b);
    return out;
}

Test(cp, get_absolute_form)
{
    struct mitm_flow *f = req_flow("GET", "http", "example.com", 80, "/path?q=1",
                                   HDRS("Host", "example.com", "Accept", "*/*"), NULL);
    f->request->form = MITM_TARGET_ORIGIN; /* recorded from a transparent/reverse client */
    cr_assert_str_eq(ser(f),
                     "GET http://example.com/path?q=1 HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n");
    f = req_flow("GET", "http", "127.0.0.1", 8080, "", HDRS("Host", "127.0.0.1:8080"), NULL);
    cr_assert_str_eq(ser(f), "GET http://127.0.0.1:8080/ HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n");
    f = req_flow("HEAD", "http", "::1", 81, "/", HDRS("Host", "[::1]:81"), NULL);
    cr_assert_str_eq(ser(f), "HEAD http://[::1]:81/ HTTP/1.1\r\nHost: [::1]:81\r\n\r\n");
}

Test(cp, destination_is_host_and_port_not_authority)
{
    struct mitm_flow *f = req_flow("GET", "http", "10.1.2.3", 8000, "/", HDRS("Host", "example.com"), NULL);
    free(f->request->authority);
    f->request->authority = strdup("example.com"); /* e.g. rewritten by map_remote before saving */
    cr_assert_str_eq(ser(f), "GET http://10.1.2.3:8000/ HTTP/1.1\r\nHost: example.com\r\n\r\n");
}

Test(cp, body_with_content_length)
{
    struct mitm_flow *f = req_flow("POST", "http", "e.com", 80, "/p",
                                   HDRS("Host", "e.com", "Content-Length", "999", "X-A", "1"), "hello");
    cr_assert_str_eq(
        ser(f), "POST http://e.com/p HTTP/1.1\r\nHost: e.com\r\nContent-Length: 5\r\nX-A: 1\r\n\r\nhello",
        "a stale Content-Length is corrected in place");
    f = req_flow("POST", "http", "e.com", 80, "/p", HDRS("Host", "e.com"), "abc");
    cr_assert_str_eq(ser(f), "POST http://e.com/p HTTP/1.1\r\nHost: e.com\r\ncontent-length: 3\r\n\r\nabc");
    f = req_flow("POST", "http", "e.com", 80, "/p", HDRS("Host", "e.com", "Content-Length", "0"), NULL);
    cr_assert_str_eq(ser(f), "POST http://e.com/p HTTP/1.1\r\nHost: e.com\r\nContent-Length: 0\r\n\r\n");
}

Test(cp, chunked_original_gets_content_length)
{
    struct mitm_flow *f =
        req_flow("PUT", "http", "e.com", 80, "/c",
                 HDRS("Host", "e.com", "Transfer-Encoding", "chunked", "X-B", "2"), "0123456789");
    f->request->trailers = calloc(1, sizeof(*f->request->trailers));
    mitm_headers_add(f->request->trailers, "X-T", 3, "1", 1);
    cr_assert_str_eq(
        ser(f),
        "PUT http://e.com/c HTTP/1.1\r\nHost: e.com\r\nX-B: 2\r\ncontent-length: 10\r\n\r\n0123456789");
    f = req_flow("POST", "http", "e.com", 80, "/c", HDRS("Host", "e.com", "Transfer-Encoding", "chunked"),
                 NULL);
    cr_assert_str_eq(ser(f), "POST http://e.com/c HTTP/1.1\r\nHost: e.com\r\ncontent-length: 0\r\n\r\n",
                     "an empty chunked body still gets a length");
}

Test(cp, http2_request_becomes_http11_with_host)
{
    struct mitm_flow *f = req_flow("GET", "https", "example.com", 443, "/x", HDRS("accept", "*/*"), NULL);
    free(f->request->http_version);
    f->request->http_version = strdup("HTTP/2.0");
    free(f->request->authority);
    f->request->authority = strdup("example.com");
    cr_assert_str_eq(ser(f),
                     "GET https://example.com/x HTTP/1.1\r\nHost: example.com\r\naccept: */*\r\n\r\n");
    f = req_flow("GET", "http", "example.com", 8080, "/x", NULL, NULL);
    free(f->request->http_version);
    f->request->http_version = strdup("HTTP/1.0");
    cr_assert_str_eq(ser(f), "GET http://example.com:8080/x HTTP/1.0\r\nHost: example.com:8080\r\n\r\n");
}

Test(cp, rejects)
{
    struct mitm_flow *t = mitm_flow_new(MITM_FLOW_TCP, 1);
    cr_assert_null(ser(t));
    cr_assert_str_eq(err, "Can only replay HTTP flows.");
    struct mitm_flow *f = mitm_flow_new(MITM_FLOW_HTTP, 1);
    cr_assert_null(ser(f));
    cr_assert_str_eq(err, "Can't replay flow with missing request.");
    f = req_flow("POST", "http", "e.com", 80, "/", HDRS("Host", "e.com"), NULL);
    f->request->content_missing = true;
    cr_assert_null(ser(f));
    cr_assert_str_eq(err, "Can't replay flow with missing content.");
    f = req_flow("GET", "http", "e.com", 80, "/", HDRS("Host", "e.com"), NULL);
    f->intercepted = true;
    cr_assert_null(ser(f));
    cr_assert_str_eq(err, "Can't replay intercepted flow.");
    f = req_flow("CONNECT", "http", "e.com", 443, "", NULL, NULL);
    cr_assert_null(ser(f));
    cr_assert_str_eq(err, "Can't replay CONNECT requests.");
    f = req_flow("OPTIONS", "http", "e.com", 80, "*", HDRS("Host", "e.com"), NULL);
    cr_assert_null(ser(f));
    f = req_flow("GET", "http", "e.com", 80, "/", HDRS("Host", "e.com", "Bad Name", "x"), NULL);
    cr_assert_null(ser(f), "our own parser would refuse it");
    cr_assert(strncmp(err, "Can't replay flow: ", 19) == 0, "%s", err);
    f = req_flow("G(T", "http", "e.com", 80, "/", HDRS("Host", "e.com"), NULL);
    cr_assert_null(ser(f));
}

/* ---- the queue ---- */

static size_t n_injected;
static char injected[8][256];

static char injected_ids[8][MITM_UUID_LEN + 1];

static void fake_inject(void *arg, uint8_t *data, size_t len, const char *id)
{
    cr_assert_eq(arg, (void *)&n_injected);
    cr_assert_lt(n_injected, 8);
    snprintf(injected_ids[n_injected], sizeof(injected_ids[0]), "%s", id);
    cr_assert_lt(n_injected, 8);
    snprintf(injected[n_injected++], sizeof(injected[0]), "%.*s", (int)len, (const char *)data);
    free(data);
}

static char *write_flows(struct mitm_flow **flows, size_t n)
{
    struct mitm_buf b;
    mitm_buf_init(&b, 0);
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(mitm_flowfile_encode(flows[i], &b, err, sizeof(err)), 0, "%s", err);
        mitm_flow_unref(flows[i]);
    }
    char *path = strdup("/tmp/mitmc-cp-XXXXXX");
    int fd = mkstemp(path);
    cr_assert_eq(write(fd, mitm_buf_data(&b), b.len), (ssize_t)b.len);
    close(fd);
    mitm_buf_free(&b);
    return path;
}

static struct mitm_flow *replayed(const char *is_replay, const char *peer)
{
    struct mitm_flow *f = req_flow("GET", "http", "e.com", 80, "/", NULL, NULL);
    f->is_replay = is_replay ? strdup(is_replay) : NULL;
    f->client_conn.peer_host = strdup(peer);
    return f;
}

static void feed(const char *is_replay, const char *peer)
{
    struct mitm_flow *f = replayed(is_replay, peer);
    mitm_clientplayback_on_flow(f);
    mitm_flow_unref(f);
}

static char *three_flows(void)
{
    struct mitm_flow *fl[4] = {
        req_flow("GET", "http", "e.com", 80, "/1", HDRS("Host", "e.com"), NULL),
        mitm_flow_new(MITM_FLOW_TCP, 1), /* skipped with a warning */
        req_flow("POST", "http", "e.com", 80, "/2", HDRS("Host", "e.com"), "b"),
        req_flow("GET", "http", "e.com", 80, "/3", HDRS("Host", "e.com"), NULL),
    };
    add_response(fl[0], 200, NULL, "recorded", 1); /* the old response is not sent anywhere */
    return write_flows(fl, 4);
}

Test(cp, queue_concurrency_one)
{
    struct mitm_options o = {0};
    mitm_options_init(&o);
    char *path = three_flows();
    cr_assert(mitm_clientplayback_done(), "nothing started: done");
    mitm_options_set(&o, "client_replay", path, NULL, 0);
    n_injected = 0;
    cr_assert_eq(mitm_clientplayback_start_with(fake_inject, &n_injected, &o, err, sizeof(err)), 0, "%s",
                 err);
    cr_assert_eq(n_injected, 1, "one at a time");
    cr_assert_str_eq(injected[0], "GET http://e.com/1 HTTP/1.1\r\nHost: e.com\r\n\r\n");
    cr_assert_eq(mitm_clientplayback_count(), 3);
    cr_assert_not(mitm_clientplayback_done());
    feed(NULL, "127.0.0.1");
    feed("response", "127.0.0.1"); /* a real client's flow answered by server replay */
    cr_assert_eq(n_injected, 1, "flows of real clients do not count");
    feed("request", "");
    cr_assert_eq(n_injected, 2);
    cr_assert_str_eq(injected[1],
                     "POST http://e.com/2 HTTP/1.1\r\nHost: e.com\r\ncontent-length: 1\r\n\r\nb");
    feed("response", ""); /* our replay, answered by server replay */
    cr_assert_eq(n_injected, 3);
    cr_assert_eq(mitm_clientplayback_count(), 1);
    feed("request", "");
    cr_assert(mitm_clientplayback_done());
    feed("request", "");
    cr_assert_eq(n_injected, 3, "extra flows change nothing");
    cr_assert(mitm_clientplayback_done());
    mitm_clientplayback_stop();
    mitm_options_free(&o);
    unlink(path);
    free(path);
}

Test(cp, queue_unlimited_and_stop)
{
    struct mitm_options o = {0};
    mitm_options_init(&o);
    char *path = three_flows();
    mitm_options_set(&o, "client_replay", path, NULL, 0);
    mitm_options_set(&o, "client_replay_concurrency", "-1", NULL, 0);
    n_injected = 0;
    cr_assert_eq(mitm_clientplayback_start_with(fake_inject, &n_injected, &o, err, sizeof(err)), 0, "%s",
                 err);
    cr_assert_eq(n_injected, 3, "all at once");
    cr_assert_str_eq(injected[2], "GET http://e.com/3 HTTP/1.1\r\nHost: e.com\r\n\r\n");
    feed("request", "");
    cr_assert_eq(mitm_clientplayback_count(), 2);
    mitm_clientplayback_stop();
    cr_assert(mitm_clientplayback_done());
    /* concurrency 1 again, stopped with requests still queued: they are freed, never sent */
    mitm_options_set(&o, "client_replay_concurrency", "1", NULL, 0);
    n_injected = 0;
    cr_assert_eq(mitm_clientplayback_start_with(fake_inject, &n_injected, &o, err, sizeof(err)), 0, "%s",
                 err);
    mitm_clientplayback_stop();
    cr_assert_eq(n_injected, 1);
    mitm_options_free(&o);
    unlink(path);
    free(path);
}

Test(cp, start_errors)
{
    struct mitm_options o = {0};
    mitm_options_init(&o);
    n_injected = 0;
    cr_assert_eq(mitm_clientplayback_start_with(fake_inject, &n_injected, &o, err, sizeof(err)), 0,
                 "no -C: nothing to do");
    cr_assert(mitm_clientplayback_done());
    mitm_options_set(&o, "client_replay_concurrency", "2", NULL, 0);
    mitm_options_set(&o, "client_replay", "/nonexistent.mitm", NULL, 0);
    cr_assert_eq(mitm_clientplayback_start_with(fake_inject, &n_injected, &o, err, sizeof(err)), -1);
    cr_assert_str_eq(err, "Currently the only valid client_replay_concurrency values are -1 and 1.");
    mitm_options_set(&o, "client_replay_concurrency", "1", NULL, 0);
    cr_assert_eq(mitm_clientplayback_start_with(fake_inject, &n_injected, &o, err, sizeof(err)), -1);
    cr_assert_str_eq(err, "/nonexistent.mitm: No such file or directory");
    cr_assert_eq(n_injected, 0);
    cr_assert(mitm_clientplayback_done());
    mitm_options_free(&o);
}

/* replay.client from a UI: stored flows are queued with their ids (replayed in place), the
 * ones that cannot be replayed are skipped, and a later add joins the running queue. */
Test(cp, add_flows_keeps_ids)
{
    struct mitm_flow *a = req_flow("GET", "http", "e.com", 80, "/a", HDRS("Host", "e.com"), NULL);
    struct mitm_flow *tcp = mitm_flow_new(MITM_FLOW_TCP, 1);
    struct mitm_flow *b = req_flow("GET", "http", "e.com", 80, "/b", HDRS("Host", "e.com"), NULL);
    struct mitm_flow *fl[] = {a, tcp, b};
    n_injected = 0;
    cr_assert_eq(mitm_clientplayback_add(fake_inject, &n_injected, 1, fl, 3), 2, "the TCP flow is skipped");
    cr_assert_eq(n_injected, 1, "concurrency 1: one in flight");
    cr_assert_str_eq(injected_ids[0], a->id);
    cr_assert_eq(mitm_clientplayback_add(fake_inject, &n_injected, 1, &a, 1), 1);
    cr_assert_eq(n_injected, 1, "queued behind the one in flight");
    cr_assert_eq(mitm_clientplayback_count(), 3);
    feed("request", "");
    cr_assert_eq(n_injected, 2);
    cr_assert_str_eq(injected_ids[1], b->id);
    cr_assert_str_eq(injected[1], "GET http://e.com/b HTTP/1.1\r\nHost: e.com\r\n\r\n");
    feed("request", "");
    cr_assert_str_eq(injected_ids[2], a->id);
    feed("request", "");
    cr_assert(mitm_clientplayback_done());
    mitm_clientplayback_stop();
    mitm_flow_unref(a);
    mitm_flow_unref(tcp);
    mitm_flow_unref(b);
}
