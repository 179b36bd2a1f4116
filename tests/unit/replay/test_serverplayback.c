#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/options.h"
#include "addon/serverplayback.h"
#include "flow/flowfile.h"
#include "helpers.h"

static struct mitm_options o;
static struct mitm_serverplayback *sp;
static char err[512];

static void setup(void)
{
    memset(&o, 0, sizeof(o));
    mitm_options_init(&o);
    sp = NULL;
    err[0] = 0;
}

static void teardown(void)
{
    mitm_serverplayback_free(sp);
    mitm_options_free(&o);
}

TestSuite(sp, .init = setup, .fini = teardown);

static void set(const char *name, const char *value)
{
    cr_assert_eq(mitm_options_set(&o, name, value, err, sizeof(err)), 0, "%s", err);
}

/* Index the flow (dropping our reference) in a fresh index if none exists. */
static void add(struct mitm_flow *f)
{
    if (!sp)
        sp = mitm_serverplayback_new(&o);
    cr_assert_eq(mitm_serverplayback_add(sp, &f, 1), 1);
    mitm_flow_unref(f);
}

static struct mitm_flow *recorded(const char *path, const char *const *headers, const char *body,
                                  const char *answer)
{
    struct mitm_flow *f = req_flow("GET", "http", "example.com", 80, path, headers, body);
    add_response(f, 200, HDRS("Content-Length", "1"), answer, 500.0);
    return f;
}

/* Does a request for path (+headers, body) find a recorded answer? Returns the answer's
 * body (static buffer) or NULL. */
static const char *lookup_full(const char *method, const char *host, unsigned port, const char *path,
                               const char *const *headers, const char *body)
{
    static char out[256];
    struct mitm_flow *q = req_flow(method, "http", host, port, path, headers, body);
    struct mitm_flow *a = mitm_serverplayback_next(sp, q);
    mitm_flow_unref(q);
    if (!a)
        return NULL;
    snprintf(out, sizeof(out), "%.*s", (int)a->response->content.len,
             (const char *)mitm_buf_data(&a->response->content));
    mitm_flow_unref(a);
    return out;
}

static const char *lookup(const char *path, const char *const *headers, const char *body)
{
    return lookup_full("GET", "example.com", 80, path, headers, body);
}

Test(sp, match_consumes_in_order)
{
    add(recorded("/a", NULL, NULL, "1"));
    add(recorded("/a", NULL, NULL, "2"));
    add(recorded("/b", NULL, NULL, "3"));
    cr_assert_eq(mitm_serverplayback_count(sp), 3);
    cr_assert_null(lookup("/c", NULL, NULL));
    cr_assert_null(lookup_full("POST", "example.com", 80, "/a", NULL, NULL), "the method is part of the key");
    cr_assert_str_eq(lookup("/a", NULL, NULL), "1");
    cr_assert_eq(mitm_serverplayback_count(sp), 2);
    cr_assert_str_eq(lookup("/a", NULL, NULL), "2", "recording order");
    cr_assert_null(lookup("/a", NULL, NULL), "each recorded response answers once");
    cr_assert_str_eq(lookup("/b", NULL, NULL), "3");
    cr_assert_eq(mitm_serverplayback_count(sp), 0);
}

Test(sp, reuse_and_nopop_keep_responses)
{
    set("server_replay_reuse", "true");
    add(recorded("/a", NULL, NULL, "1"));
    add(recorded("/a", NULL, NULL, "2"));
    for (int i = 0; i < 3; i++)
        cr_assert_str_eq(lookup("/a", NULL, NULL), "1");
    cr_assert_eq(mitm_serverplayback_count(sp), 2);
    set("server_replay_reuse", "false");
    set("server_replay_nopop", "true");
    cr_assert_str_eq(lookup("/a", NULL, NULL), "1", "nopop is the deprecated alias");
    cr_assert_eq(mitm_serverplayback_count(sp), 2);
}

Test(sp, scheme_host_port_and_pretty_host)
{
    add(recorded("/", HDRS("Host", "example.com"), NULL, "h"));
    cr_assert_null(lookup_full("GET", "example.com", 81, "/", HDRS("Host", "example.com"), NULL));
    cr_assert_null(lookup_full("GET", "example.com", 80, "/", HDRS("Host", "other.com"), NULL));
    /* pretty_host: the Host header wins over the connection host; a port in it is cut off */
    cr_assert_str_eq(lookup_full("GET", "10.0.0.1", 80, "/", HDRS("Host", "example.com:80"), NULL), "h");
    struct mitm_flow *s = req_flow("GET", "https", "example.com", 80, "/", HDRS("Host", "example.com"), NULL);
    add_response(s, 200, NULL, "s", 1);
    add(s);
    cr_assert_null(lookup_full("GET", "example.com", 80, "/", HDRS("Host", "example.com"), NULL),
                   "the scheme is part of the key");
}

Test(sp, ignore_host_and_port)
{
    set("server_replay_ignore_host", "true");
    add(recorded("/", HDRS("Host", "a.com"), NULL, "1"));
    cr_assert_str_eq(lookup_full("GET", "b.com", 80, "/", HDRS("Host", "b.com"), NULL), "1");
    add(recorded("/", HDRS("Host", "a.com"), NULL, "2"));
    cr_assert_null(lookup_full("GET", "a.com", 8080, "/", HDRS("Host", "a.com:8080"), NULL));
    set("server_replay_ignore_port", "true");
    mitm_serverplayback_free(sp);
    sp = NULL;
    add(recorded("/", HDRS("Host", "a.com"), NULL, "3"));
    cr_assert_str_eq(lookup_full("GET", "z.com", 8080, "/", HDRS("Host", "z.com:8080"), NULL), "3");
}

Test(sp, query_params)
{
    add(recorded("/q?a=1&t=100", NULL, NULL, "1"));
    cr_assert_null(lookup("/q?a=1&t=200", NULL, NULL));
    cr_assert_null(lookup("/q?t=100&a=1", NULL, NULL), "parameter order counts, as in mitmproxy");
    cr_assert_str_eq(lookup("/q?a=%31&t=1%30%30", NULL, NULL), "1", "compared percent-decoded");
    mitm_serverplayback_free(sp);
    sp = NULL;
    set("server_replay_ignore_params", "t");
    set("server_replay_ignore_params", "x y");
    add(recorded("/q?a=1&t=100", NULL, NULL, "2"));
    cr_assert_str_eq(lookup("/q?a=1&t=200&x+y=5", NULL, NULL), "2", "ignored names are decoded first");
    add(recorded("/q?a=1", NULL, NULL, "3"));
    cr_assert_null(lookup("/q?a=2&t=1", NULL, NULL));
    cr_assert_str_eq(lookup("/q?a=1&&", NULL, NULL), "3", "empty pairs are skipped (parse_qsl)");
}

Test(sp, path_params_and_fragment_ignored)
{
    add(recorded("/dir;v=1/file;jsessionid=1", NULL, NULL, "1"));
    cr_assert_null(lookup("/dir;v=2/file", NULL, NULL), "params of inner segments stay in the path");
    cr_assert_str_eq(lookup("/dir;v=1/file;jsessionid=2", NULL, NULL), "1",
                     "params of the last segment do not");
}

Test(sp, content)
{
    add(recorded("/p", NULL, "body-1", "1"));
    cr_assert_null(lookup("/p", NULL, "body-2"));
    cr_assert_null(lookup("/p", NULL, NULL));
    cr_assert_str_eq(lookup("/p", NULL, "body-1"), "1");
    set("server_replay_ignore_content", "true");
    mitm_serverplayback_free(sp);
    sp = NULL;
    add(recorded("/p", NULL, "body-1", "2"));
    cr_assert_str_eq(lookup("/p", NULL, "other"), "2");
}

Test(sp, payload_params_urlencoded)
{
    const char *const *form = HDRS("Content-Type", "application/x-www-form-urlencoded; charset=utf-8");
    set("server_replay_ignore_payload_params", "ts");
    add(recorded("/f", form, "user=bob&ts=1", "1"));
    cr_assert_null(lookup("/f", form, "user=eve&ts=1"));
    cr_assert_str_eq(lookup("/f", form, "user=bob&ts=2"), "1");
    add(recorded("/f", form, "user=bob&ts=1", "2"));
    cr_assert_null(lookup("/f", NULL, "user=bob&ts=2"), "not a form without its content type");
}

Test(sp, payload_params_multipart)
{
    const char *const *ct = HDRS("Content-Type", "multipart/form-data; boundary=XyZ");
    const char *b1 =
        "--XyZ\r\nContent-Disposition: form-data; name=\"user\"\r\n\r\nbob\r\n"
        "--XyZ\r\nContent-Disposition: form-data; name=\"nonce\"\r\nContent-Type: text/plain\r\n\r\n"
        "111\r\n--XyZ--\r\n";
    const char *b2 =
        "--XyZ\r\nContent-Disposition: form-data; name=\"user\"\r\n\r\nbob\r\n"
        "--XyZ\r\nContent-Disposition: form-data; name=\"nonce\"\r\nContent-Type: text/plain\r\n\r\n"
        "222\r\n--XyZ--\r\n";
    const char *b3 = "--XyZ\r\nContent-Disposition: form-data; name=\"user\"\r\n\r\neve\r\n"
                     "--XyZ\r\nContent-Disposition: form-data; name=\"nonce\"\r\n\r\n111\r\n--XyZ--\r\n";
    set("server_replay_ignore_payload_params", "nonce");
    add(recorded("/m", ct, b1, "1"));
    cr_assert_null(lookup("/m", ct, b3));
    cr_assert_str_eq(lookup("/m", ct, b2), "1");
}

Test(sp, use_headers)
{
    set("server_replay_use_headers", "x-user");
    add(recorded("/u", HDRS("X-User", "bob"), NULL, "bob"));
    add(recorded("/u", NULL, NULL, "none"));
    cr_assert_null(lookup("/u", HDRS("X-User", "eve"), NULL));
    cr_assert_str_eq(lookup("/u", HDRS("x-user", "bob"), NULL), "bob", "names are case-insensitive");
    cr_assert_str_eq(lookup("/u", HDRS("Other", "1"), NULL), "none", "absent matches absent");
    add(recorded("/u", HDRS("X-User", "a", "X-User", "b"), NULL, "two"));
    cr_assert_null(lookup("/u", HDRS("X-User", "a"), NULL));
    cr_assert_str_eq(lookup("/u", HDRS("X-User", "a, b"), NULL), "two", "values joined with \", \"");
}

Test(sp, flows_without_response_never_answer)
{
    struct mitm_flow *nr = req_flow("GET", "http", "example.com", 80, "/n", NULL, NULL);
    add(nr);
    add(recorded("/n", NULL, NULL, "1"));
    struct mitm_flow *streamed = recorded("/s", NULL, NULL, "x");
    streamed->response->content_missing = true;
    add(streamed);
    cr_assert_eq(mitm_serverplayback_count(sp), 3, "they are counted, as in mitmproxy");
    cr_assert_str_eq(lookup("/n", NULL, NULL), "1", "the response-less one is skipped");
    cr_assert_null(lookup("/s", NULL, NULL), "a response whose body was not kept cannot answer");
    cr_assert_eq(mitm_serverplayback_count(sp), 0);
}

Test(sp, non_http_flows_ignored)
{
    sp = mitm_serverplayback_new(&o);
    struct mitm_flow *t = mitm_flow_new(MITM_FLOW_TCP, 1);
    cr_assert_eq(mitm_serverplayback_add(sp, &t, 1), 0);
    mitm_flow_unref(t);
    cr_assert_eq(mitm_serverplayback_count(sp), 0);
}

/* ---- the request hook: answers, extra modes ---- */

static struct mitm_flow *run_request(const char *path)
{
    struct mitm_flow *f = req_flow("GET", "http", "example.com", 80, path, NULL, NULL);
    mitm_serverplayback_request(sp, f, &(struct mitm_hook_env){.now = 2000.0, .worker = -1});
    return f;
}

Test(sp, request_hook_answers_with_a_copy)
{
    struct mitm_flow *r = req_flow("GET", "http", "example.com", 80, "/a", NULL, NULL);
    add_response(r, 201, HDRS("Content-Length", "5", "X-Rec", "1"), "hello", 500.0);
    add(r);
    struct mitm_flow *f = run_request("/a");
    cr_assert_not_null(f->response);
    cr_assert_eq(f->response->status_code, 201);
    cr_assert_str_eq(f->response->reason, "Created");
    cr_assert_eq(f->response->content.len, 5);
    cr_assert_eq(memcmp(mitm_buf_data(&f->response->content), "hello", 5), 0);
    size_t n;
    cr_assert_not_null(mitm_headers_get(&f->response->headers, "x-rec", &n));
    cr_assert_str_eq(f->is_replay, "response");
    cr_assert_not(f->killed);
    mitm_flow_unref(f);
    /* the index is empty now: mitmproxy forwards everything, whatever server_replay_extra says */
    set("server_replay_extra", "404");
    f = run_request("/a");
    cr_assert_null(f->response);
    cr_assert_null(f->is_replay);
    mitm_flow_unref(f);
}

Test(sp, extra_modes)
{
    add(recorded("/known", NULL, NULL, "k"));
    struct mitm_flow *f = run_request("/unknown");
    cr_assert_null(f->response, "forward: the request goes upstream");
    cr_assert_not(f->killed);
    mitm_flow_unref(f);
    static const char *const codes[] = {"204", "400", "404", "500"};
    for (size_t i = 0; i < 4; i++) {
        set("server_replay_extra", codes[i]);
        f = run_request("/unknown");
        cr_assert_not_null(f->response);
        cr_assert_eq(f->response->status_code, atoi(codes[i]));
        cr_assert_eq(f->response->content.len, 0);
        size_t n;
        const char *cl = mitm_headers_get(&f->response->headers, "content-length", &n);
        cr_assert(cl && n == 1 && cl[0] == '0');
        cr_assert_str_eq(f->is_replay, "response");
        mitm_flow_unref(f);
    }
    set("server_replay_extra", "kill");
    f = run_request("/unknown");
    cr_assert(f->killed);
    cr_assert_null(f->response);
    mitm_flow_unref(f);
    set("server_replay_extra", "forward");
    set("server_replay_kill_extra", "true");
    f = run_request("/unknown");
    cr_assert(f->killed, "the deprecated kill_extra still kills");
    mitm_flow_unref(f);
    cr_assert_eq(mitm_serverplayback_count(sp), 1, "unmatched requests consume nothing");
    cr_assert_neq(mitm_options_set(&o, "server_replay_extra", "302", err, sizeof(err)), 0, "not a choice");
}

/* ---- refresh ---- */

static const char *hget(const struct mitm_http_response *r, const char *name, size_t idx)
{
    static char out[4][256];
    static int k;
    long i = -1;
    for (size_t j = 0; j <= idx; j++) {
        i = mitm_headers_find(&r->headers, name, (size_t)(i + 1));
        if (i < 0)
            return NULL;
    }
    k = (k + 1) % 4;
    snprintf(out[k], sizeof(out[k]), "%.*s", (int)r->headers.v[i].value_len, r->headers.v[i].value);
    return out[k];
}

Test(sp, refresh_shifts_dates_and_cookies)
{
    struct mitm_flow *f = req_flow("GET", "http", "e.com", 80, "/", NULL, NULL);
    add_response(f, 200,
                 HDRS("Date", "Sun, 06 Nov 1994 08:49:37 GMT", "Expires", "0", "Last-Modified",
                      "Sat, 05 Nov 1994 08:49:37 GMT", "Set-Cookie",
                      "sid=abc; Path=/; Expires=Mon, 07 Nov 1994 08:49:37 GMT; HttpOnly", "Set-Cookie",
                      "bad=1; expires=someday; Secure", "Set-Cookie",
                      "novalue=; Expires=Mon, 07 Nov 1994 08:49:37 GMT"),
                 NULL, 784111777.0);
    mitm_serverplayback_refresh(f->response, 784111777.0 + 86400 + 0.5);
    const struct mitm_http_response *r = f->response;
    cr_assert_str_eq(hget(r, "date", 0), "Mon, 07 Nov 1994 08:49:37 GMT");
    cr_assert_str_eq(hget(r, "expires", 0), "0", "not a date: left alone");
    cr_assert_str_eq(hget(r, "last-modified", 0), "Sun, 06 Nov 1994 08:49:37 GMT");
    cr_assert_str_eq(hget(r, "set-cookie", 0),
                     "sid=abc; Path=/; Expires=Tue, 08 Nov 1994 08:49:37 GMT; HttpOnly");
    cr_assert_str_eq(hget(r, "set-cookie", 1), "bad=1; Secure", "an unparseable expires is dropped");
    cr_assert_str_eq(hget(r, "set-cookie", 2), "novalue=; Expires=Mon, 07 Nov 1994 08:49:37 GMT",
                     "a cookie without a value is left as it is (mitmproxy's ValueError)");
    cr_assert_eq(r->headers.n, 6);
    cr_assert_str_eq(r->headers.v[0].name, "Date", "position and spelling kept");
    mitm_flow_unref(f);
}

Test(sp, request_hook_refresh_option)
{
    struct mitm_flow *r = req_flow("GET", "http", "example.com", 80, "/d", NULL, NULL);
    add_response(r, 200, HDRS("Date", "Sun, 06 Nov 1994 08:49:37 GMT"), NULL, 784111777.0);
    add(r);
    struct mitm_flow *f = req_flow("GET", "http", "example.com", 80, "/d", NULL, NULL);
    mitm_serverplayback_request(sp, f, &(struct mitm_hook_env){.now = 784111777.0 + 60, .worker = -1});
    cr_assert_str_eq(hget(f->response, "date", 0), "Sun, 06 Nov 1994 08:50:37 GMT");
    mitm_flow_unref(f);
    set("server_replay_refresh", "false");
    set("server_replay_reuse", "true");
    mitm_serverplayback_free(sp);
    sp = NULL;
    r = req_flow("GET", "http", "example.com", 80, "/d", NULL, NULL);
    add_response(r, 200, HDRS("Date", "Sun, 06 Nov 1994 08:49:37 GMT"), NULL, 784111777.0);
    add(r);
    f = req_flow("GET", "http", "example.com", 80, "/d", NULL, NULL);
    mitm_serverplayback_request(sp, f, &(struct mitm_hook_env){.now = 784111777.0 + 60, .worker = -1});
    cr_assert_str_eq(hget(f->response, "date", 0), "Sun, 06 Nov 1994 08:49:37 GMT");
    mitm_flow_unref(f);
    /* the recorded response itself never changes */
    f = req_flow("GET", "http", "example.com", 80, "/d", NULL, NULL);
    struct mitm_flow *a = mitm_serverplayback_next(sp, f);
    cr_assert_str_eq(hget(a->response, "date", 0), "Sun, 06 Nov 1994 08:49:37 GMT");
    mitm_flow_unref(a);
    mitm_flow_unref(f);
}

/* ---- files ---- */

static char *write_file(const void *data, size_t len)
{
    char *path = strdup("/tmp/mitmc-sp-XXXXXX");
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, data, len), (ssize_t)len);
    close(fd);
    return path;
}

static char *flow_file(struct mitm_flow **flows, size_t n, size_t cut)
{
    struct mitm_buf b;
    mitm_buf_init(&b, 0);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(mitm_flowfile_encode(flows[i], &b, err, sizeof(err)), 0, "%s", err);
    char *p = write_file(mitm_buf_data(&b), b.len - cut);
    mitm_buf_free(&b);
    return p;
}

Test(sp, read_files_and_configure)
{
    struct mitm_flow *fl[2] = {recorded("/one", HDRS("Host", "example.com"), NULL, "1"),
                               recorded("/two", HDRS("Host", "example.com"), NULL, "2")};
    char *good = flow_file(fl, 2, 0);
    char *truncated = flow_file(fl, 2, 3);
    char *garbage = write_file("hello world\n", 12);
    mitm_flow_unref(fl[0]);
    mitm_flow_unref(fl[1]);

    struct mitm_flowvec v = {0};
    cr_assert_eq(mitm_serverplayback_read_file(good, &v, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(v.n, 2);
    cr_assert_str_eq(v.v[1]->request->path, "/two");
    cr_assert_eq(mitm_serverplayback_read_file(truncated, &v, err, sizeof(err)), -1);
    cr_assert(strncmp(err, truncated, strlen(truncated)) == 0 && strstr(err, "truncated"), "%s", err);
    cr_assert_eq(v.n, 2, "nothing added on error");
    cr_assert_eq(mitm_serverplayback_read_file(garbage, &v, err, sizeof(err)), -1);
    cr_assert(strncmp(err, garbage, strlen(garbage)) == 0 && strlen(err) > strlen(garbage) + 2, "%s", err);
    cr_assert_eq(mitm_serverplayback_read_file("/nonexistent/x.mitm", &v, err, sizeof(err)), -1);
    cr_assert_str_eq(err, "/nonexistent/x.mitm: No such file or directory");
    mitm_serverplayback_flows_free(&v);
    cr_assert_eq(v.n, 0);

    struct mitm_serverplayback *sp = (struct mitm_serverplayback *)1;
    cr_assert_eq(mitm_serverplayback_configure(&o, &sp, err, sizeof(err)), 0, "no -S: nothing to do");
    cr_assert_null(sp);
    set("server_replay", good);
    set("server_replay", good);
    cr_assert_eq(mitm_serverplayback_configure(&o, &sp, err, sizeof(err)), 0, "%s", err);
    cr_assert_not_null(sp);
    cr_assert_eq(mitm_serverplayback_count(sp), 4, "every file, in order");
    /* the addon answers through the index it was added with */
    struct mitm_flow *f =
        req_flow("GET", "http", "example.com", 80, "/two", HDRS("Host", "example.com"), NULL);
    struct mitm_hook_env env = {.now = 1e9, .opts = &o, .worker = -1};
    mitm_addon_serverplayback.hook(sp, MITM_HOOK_REQUEST, f, &env);
    cr_assert_not_null(f->response);
    cr_assert_str_eq(f->is_replay, "response");
    mitm_flow_unref(f);
    mitm_serverplayback_free(sp);
    set("server_replay", garbage);
    cr_assert_eq(mitm_serverplayback_configure(&o, &sp, err, sizeof(err)), -1);
    cr_assert_null(sp);

    unlink(good);
    unlink(truncated);
    unlink(garbage);
    free(good);
    free(truncated);
    free(garbage);
}
