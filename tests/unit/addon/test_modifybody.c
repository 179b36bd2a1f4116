/* modify_body: mitmproxy's test_modifybody cases, encoded and streamed bodies, lengths,
 * literal replacements, @file values and every configure error. */
#include "helpers.h"

#include "addon/modify.h"
#include "flow/encoding.h"

static char err[2048];

static inline struct mitm_modify *conf(struct mitm_options *o, bool body, const char *const *specs,
                                       const char *more)
{
    char sets[8][512];
    const char *list[10] = {0};
    size_t i = 0;
    for (; specs[i]; i++) {
        snprintf(sets[i], sizeof(sets[i]), "%s=%s", body ? "modify_body" : "modify_headers", specs[i]);
        list[i] = sets[i];
    }
    list[i] = more;
    opts_with(o, list);
    struct mitm_modify *m = NULL;
    cr_assert_eq(mitm_modify_configure(o, body, &m, err, sizeof(err)), 0, "%s", err);
    return m;
}

static inline void hook(const struct mitm_addon *a, struct mitm_modify *m, const struct mitm_options *o,
                        enum mitm_hook h, struct mitm_flow *f)
{
    struct mitm_hook_env env = env_for(o, 1.0);
    a->hook(m, h, f, &env);
}

#define H(m, o, h, f) hook(&mitm_addon_modifyheaders, m, o, h, f)
#define B(m, o, h, f) hook(&mitm_addon_modifybody, m, o, h, f)

static char tmp[64];

static inline const char *tmpfile_with(const char *content)
{
    strcpy(tmp, "/tmp/mitmc-modify-XXXXXX");
    int fd = mkstemp(tmp);
    cr_assert(write(fd, content, strlen(content)) == (ssize_t)strlen(content));
    close(fd);
    return tmp;
}

static inline void bad(bool body, const char *spec, const char *msg, bool prefix)
{
    struct mitm_options o;
    char set[600];
    snprintf(set, sizeof(set), "%s=%s", body ? "modify_body" : "modify_headers", spec);
    opts_with(&o, HDRS(set));
    struct mitm_modify *m = (void *)1;
    cr_assert_eq(mitm_modify_configure(&o, body, &m, err, sizeof(err)), -1, "%s", spec);
    cr_assert_null(m);
    if (prefix)
        cr_assert(strncmp(err, msg, strlen(msg)) == 0, "%s", err);
    else
        cr_assert_str_eq(err, msg, "%s", spec);
    mitm_options_free(&o);
}

Test(modifybody, request_and_response)
{
    struct mitm_options o;
    struct mitm_modify *m = conf(&o, true, HDRS("/~q/foo/bar", "/~s/foo/baz"), NULL);
    struct mitm_flow *f = mkflow("POST", "http", "h", 80, "/", HDRS("Content-Length", "9"), "foo-foo-x");
    B(m, &o, MITM_HOOK_REQUEST, f);
    cr_assert_str_eq(bodytext(&f->request->content), "bar-bar-x");
    cr_assert_str_eq(hdrtext(&f->request->headers), "Content-Length: 9\n");
    server_response(f, 200, HDRS("Content-Length", "3"), "foo");
    B(m, &o, MITM_HOOK_RESPONSE, f);
    cr_assert_str_eq(bodytext(&f->response->content), "baz");
    cr_assert_str_eq(bodytext(&f->request->content), "bar-bar-x",
                     "the response hook leaves the request alone");
    mitm_flow_unref(f);
    mitm_modify_free(m);
    mitm_options_free(&o);
}

Test(modifybody, lengths_literal_replacement_dotall)
{
    struct mitm_options o;
    struct mitm_modify *m = conf(&o, true, HDRS("/a.b/\\1<\\g<0>>", "/(?i)X/"), NULL);
    struct mitm_flow *f = mkflow("POST", "http", "h", 80, "/", HDRS("content-length", "6"), "a\nbxXy");
    B(m, &o, MITM_HOOK_REQUEST, f);
    /* the replacement is taken literally (mitmproxy 12): "\1" is the byte 0x01 by the
     * bytes escapes, and \g<0> stays text */
    cr_assert_eq(f->request->content.len, 9);
    cr_assert(memcmp(mitm_buf_data(&f->request->content), "\x01<\\g<0>>y", 9) == 0);
    cr_assert_str_eq(hdrtext(&f->request->headers), "content-length: 9\n", "updated, spelling kept");
    mitm_flow_unref(f);
    f = mkflow("POST", "http", "h", 80, "/", HDRS("Transfer-Encoding", "chunked"), "xx");
    B(m, &o, MITM_HOOK_REQUEST, f);
    cr_assert_str_eq(bodytext(&f->request->content), "");
    cr_assert_str_eq(hdrtext(&f->request->headers), "Transfer-Encoding: chunked\n",
                     "no Content-Length with TE");
    mitm_flow_unref(f);
    f = mkflow("GET", "http", "h", 80, "/", NOHDRS, NULL);
    B(m, &o, MITM_HOOK_REQUEST, f);
    cr_assert_str_eq(hdrtext(&f->request->headers), "",
                     "nothing replaced: the message is left as it was (mitmproxy adds content-length: 0)");
    mitm_flow_unref(f);
    mitm_modify_free(m);
    mitm_options_free(&o);
}

Test(modifybody, encoded_bodies)
{
    struct mitm_options o;
    struct mitm_modify *m = conf(&o, true, HDRS("/~s/hello/goodbye"), NULL);
    struct mitm_buf gz;
    mitm_buf_init(&gz, 0);
    cr_assert_eq(mitm_encode("gzip", (const uint8_t *)"hello world", 11, 1 << 20, &gz, err, sizeof(err)), 0);
    struct mitm_flow *f = mkflow("GET", "http", "h", 80, "/", NOHDRS, NULL);
    server_response(f, 200, HDRS("Content-Encoding", "gzip", "Content-Length", "1"), NULL);
    mitm_buf_append(&f->response->content, mitm_buf_data(&gz), gz.len);
    B(m, &o, MITM_HOOK_RESPONSE, f);
    struct mitm_buf plain;
    mitm_buf_init(&plain, 0);
    cr_assert_eq(mitm_decode("gzip", mitm_buf_data(&f->response->content), f->response->content.len, 1 << 20,
                             &plain, err, sizeof(err)),
                 0);
    cr_assert_str_eq(bodytext(&plain), "goodbye world", "decoded, replaced, encoded again");
    char cl[64];
    snprintf(cl, sizeof(cl), "Content-Encoding: gzip\nContent-Length: %zu\n", f->response->content.len);
    cr_assert_str_eq(hdrtext(&f->response->headers), cl);
    mitm_buf_free(&plain);
    mitm_flow_unref(f);
    /* undecodable: left alone with a warning */
    f = mkflow("GET", "http", "h", 80, "/", NOHDRS, NULL);
    server_response(f, 200, HDRS("Content-Encoding", "br"), "hello, not brotli");
    test_log.len = 0;
    B(m, &o, MITM_HOOK_RESPONSE, f);
    cr_assert_str_eq(bodytext(&f->response->content), "hello, not brotli");
    cr_assert(strstr(logged(), "1 modify_body: cannot decode the body"), "%s", logged());
    mitm_flow_unref(f);
    mitm_buf_free(&gz);
    mitm_modify_free(m);
    mitm_options_free(&o);
}

Test(modifybody, streamed_taken_and_killed)
{
    struct mitm_options o;
    struct mitm_modify *m = conf(&o, true, HDRS("/foo/bar"), "stream_large_bodies=1k");
    struct mitm_flow *f = mkflow("POST", "http", "h", 80, "/", NOHDRS, NULL);
    f->request->content_missing = true;
    f->request->stream = true;
    test_log.len = 0;
    B(m, &o, MITM_HOOK_REQUEST, f);
    cr_assert_str_eq(logged(), "1 modify_body: the request body was streamed and is not modified\n");
    server_response(f, 200, NOHDRS, "foo");
    B(m, &o, MITM_HOOK_REQUEST, f);
    cr_assert_str_eq(bodytext(&f->response->content), "foo", "request hook with a response: nothing");
    f->killed = true;
    B(m, &o, MITM_HOOK_RESPONSE, f);
    cr_assert_str_eq(bodytext(&f->response->content), "foo", "killed: nothing");
    f->killed = false;
    B(m, &o, MITM_HOOK_RESPONSE, f);
    cr_assert_str_eq(bodytext(&f->response->content), "bar");
    mitm_flow_unref(f);
    mitm_modify_free(m);
    mitm_options_free(&o);
}

Test(modifybody, at_file)
{
    char spec[128];
    snprintf(spec, sizeof(spec), "|one|@%s", tmpfile_with("two\n"));
    struct mitm_options o;
    struct mitm_modify *m = conf(&o, true, HDRS(spec), NULL);
    unlink(tmp);
    struct mitm_flow *f = mkflow("POST", "http", "h", 80, "/", NOHDRS, "one");
    B(m, &o, MITM_HOOK_REQUEST, f);
    cr_assert_str_eq(bodytext(&f->request->content), "two\n", "a body replacement keeps the file's bytes");
    mitm_flow_unref(f);
    mitm_modify_free(m);
    mitm_options_free(&o);
}

Test(modifybody, configure_errors)
{
    bad(true, "/[/two",
        "Cannot parse modify_body option /[/two: Invalid regular expression b'[' (missing terminating ] for "
        "character class at position 1)",
        false);
    bad(true, "|a(|b",
        "Cannot parse modify_body option |a(|b: Invalid regular expression b'a(' (missing closing "
        "parenthesis at position 2)",
        false);
    bad(true, "|a|@/nonexistent",
        "Cannot parse modify_body option |a|@/nonexistent: Invalid file path: /nonexistent", true);
    bad(true, "/", "Cannot parse modify_body option /: Invalid number of parameters (2 or 3 are expected)",
        false);
    struct mitm_options o;
    struct mitm_modify *m = conf(&o, true, HDRS("/X Y/\\r\\n"), NULL);
    cr_assert_not_null(m, "body specs take any bytes");
    mitm_modify_free(m);
    mitm_options_free(&o);
}
