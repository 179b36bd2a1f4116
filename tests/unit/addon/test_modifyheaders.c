/* modify_headers: mitmproxy's test_modifyheaders cases, the hooks it runs in, @file values,
 * escapes and every configure error. */
#include "helpers.h"

#include "addon/modify.h"

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

Test(modifyheaders, set_replace_and_remove)
{
    struct mitm_options o;
    struct mitm_modify *m = conf(&o, false, HDRS("/~q/one/two", "/~s/one/three"), NULL);
    struct mitm_flow *f =
        mkflow("GET", "http", "h", 80, "/", HDRS("one", "xxx", "Other", "1", "ONE", "y"), NULL);
    H(m, &o, MITM_HOOK_REQUESTHEADERS, f);
    cr_assert_str_eq(hdrtext(&f->request->headers), "Other: 1\none: two\n",
                     "every 'one' removed, then one added");
    server_response(f, 200, HDRS("one", "xxx"), NULL);
    H(m, &o, MITM_HOOK_RESPONSEHEADERS, f);
    cr_assert_str_eq(hdrtext(&f->response->headers), "one: three\n");
    mitm_flow_unref(f);
    mitm_modify_free(m);
    mitm_options_free(&o);

    m = conf(&o, false, HDRS("/~s/one/two", "/~s/one/three"), NULL);
    f = mkflow("GET", "http", "h", 80, "/", HDRS("one", "xxx"), NULL);
    server_response(f, 200, HDRS("one", "xxx"), NULL);
    H(m, &o, MITM_HOOK_RESPONSEHEADERS, f);
    cr_assert_str_eq(hdrtext(&f->response->headers), "one: two\none: three\n");
    cr_assert_str_eq(hdrtext(&f->request->headers), "one: xxx\n");
    mitm_flow_unref(f);
    mitm_modify_free(m);
    mitm_options_free(&o);

    m = conf(&o, false, HDRS("/one/"), NULL);
    f = mkflow("GET", "http", "h", 80, "/", HDRS("one", "xxx", "two", "2"), NULL);
    H(m, &o, MITM_HOOK_REQUESTHEADERS, f);
    cr_assert_str_eq(hdrtext(&f->request->headers), "two: 2\n", "an empty value removes");
    server_response(f, 200, HDRS("One", "xxx"), NULL);
    H(m, &o, MITM_HOOK_RESPONSEHEADERS, f);
    cr_assert_str_eq(hdrtext(&f->response->headers), "");
    mitm_flow_unref(f);
    mitm_modify_free(m);
    mitm_options_free(&o);
}

Test(modifyheaders, filters_see_the_unmodified_flow)
{
    /* mitmproxy issue 4245: the header named in the filter is the one replaced. (mitmproxy's
     * test writes "...Mozilla.+$", which relies on "." eating the "\r" of its header block;
     * mitmc's filters see "\n" line ends, see src/filter/match.c.) */
    struct mitm_options o;
    struct mitm_modify *m =
        conf(&o, false, HDRS("/~hq ^user-agent:.+Mozilla/user-agent/Definitely not Mozilla ;)"), NULL);
    struct mitm_flow *f =
        mkflow("GET", "http", "h", 80, "/", HDRS("user-agent", "Hello, it's me, Mozilla"), NULL);
    H(m, &o, MITM_HOOK_REQUESTHEADERS, f);
    cr_assert_str_eq(hdrtext(&f->request->headers), "user-agent: Definitely not Mozilla ;)\n");
    mitm_flow_unref(f);
    mitm_modify_free(m);
    mitm_options_free(&o);
    /* two specs: the second's filter is judged before the first ran */
    m = conf(&o, false, HDRS("/~hq X-A/X-A/", "/~hq X-A/X-B/seen"), NULL);
    f = mkflow("GET", "http", "h", 80, "/", HDRS("X-A", "1"), NULL);
    H(m, &o, MITM_HOOK_REQUESTHEADERS, f);
    cr_assert_str_eq(hdrtext(&f->request->headers), "X-B: seen\n");
    mitm_flow_unref(f);
    mitm_modify_free(m);
    mitm_options_free(&o);
}

Test(modifyheaders, taken_killed_and_hooks)
{
    struct mitm_options o;
    struct mitm_modify *m = conf(&o, false, HDRS("/content-length/42"), NULL);
    struct mitm_flow *f = mkflow("GET", "http", "h", 80, "/", NOHDRS, NULL);
    server_response(f, 200, NOHDRS, NULL);
    H(m, &o, MITM_HOOK_REQUESTHEADERS, f);
    cr_assert_str_eq(hdrtext(&f->request->headers), "",
                     "a flow with a response: requestheaders does nothing");
    f->killed = true;
    H(m, &o, MITM_HOOK_RESPONSEHEADERS, f);
    cr_assert_str_eq(hdrtext(&f->response->headers), "", "a killed flow");
    f->killed = false;
    H(m, &o, MITM_HOOK_RESPONSE, f);
    cr_assert_str_eq(hdrtext(&f->response->headers), "", "a server's response: only responseheaders");
    H(m, &o, MITM_HOOK_REQUEST, f);
    cr_assert_str_eq(hdrtext(&f->request->headers), "", "not the request hook (mitmproxy 8: request)");
    mitm_flow_unref(f);
    /* a response an addon made (no server): the core runs responseheaders for it too
     * (src/proto/http/stream.c), and the response hook leaves it alone as for any other */
    f = mkflow("GET", "http", "h", 80, "/", NOHDRS, NULL);
    f->response = mitm_http_response_make(404, NULL, NULL);
    H(m, &o, MITM_HOOK_RESPONSE, f);
    cr_assert_str_eq(hdrtext(&f->response->headers), "Content-Length: 0\n", "response: untouched");
    H(m, &o, MITM_HOOK_RESPONSEHEADERS, f);
    cr_assert_str_eq(hdrtext(&f->response->headers), "content-length: 42\n");
    H(m, &o, MITM_HOOK_RESPONSEHEADERS, f);
    cr_assert_str_eq(hdrtext(&f->response->headers), "content-length: 42\n", "twice is the same as once");
    mitm_flow_unref(f);
    mitm_modify_free(m);
    mitm_options_free(&o);
}

Test(modifyheaders, at_file_and_escapes)
{
    char spec[128];
    snprintf(spec, sizeof(spec), "|~q|one|@%s", tmpfile_with("two\n"));
    struct mitm_options o;
    struct mitm_modify *m = conf(&o, false, HDRS(spec, "/X-Esc/a\\x41\\tb"), NULL);
    unlink(tmp); /* read once at configure time */
    struct mitm_flow *f = mkflow("GET", "http", "h", 80, "/", HDRS("one", "xxx"), NULL);
    H(m, &o, MITM_HOOK_REQUESTHEADERS, f);
    cr_assert_str_eq(hdrtext(&f->request->headers), "one: two\nX-Esc: aA\tb\n",
                     "the file's newline is dropped");
    mitm_flow_unref(f);
    mitm_modify_free(m);
    mitm_options_free(&o);
}

Test(modifyheaders, configure_errors)
{
    bad(false, "/",
        "Cannot parse modify_headers option /: Invalid number of parameters (2 or 3 are expected)", false);
    bad(false, "/~q/foo/@/nonexistent/x",
        "Cannot parse modify_headers option /~q/foo/@/nonexistent/x: Invalid file path: /nonexistent/x "
        "([Errno 2] "
        "No such file or directory: '/nonexistent/x')",
        false);
    bad(false, "/~q/fo\\x/v",
        "Cannot parse modify_headers option /~q/fo\\x/v: invalid \\x escape at position 2", false);
    bad(false, "/x/v\\x", "Cannot parse modify_headers option /x/v\\x: invalid \\x escape at position 1",
        false);
    bad(false, "/~zz/a/b", "Cannot parse modify_headers option /~zz/a/b: Invalid filter expression: '~zz' (",
        true);
    /* mitmc: what an HTTP/1 head cannot carry */
    bad(false, "/Bad Name/v",
        "Cannot parse modify_headers option /Bad Name/v: Invalid header name: not an HTTP token", false);
    bad(false, "//v", "Cannot parse modify_headers option //v: Invalid header name: not an HTTP token",
        false);
    bad(false, "/X/a\\r\\nInjected: 1",
        "Cannot parse modify_headers option /X/a\\r\\nInjected: 1: Invalid header value: holds CR, LF or NUL",
        false);
    struct mitm_options o;
    struct mitm_modify *m = conf(&o, false, HDRS("/foo/bar/vo/ing/"), NULL);
    struct mitm_flow *f = mkflow("GET", "http", "h", 80, "/", NOHDRS, NULL);
    H(m, &o, MITM_HOOK_REQUESTHEADERS, f);
    cr_assert_str_eq(hdrtext(&f->request->headers), "", "filter 'foo' does not match");
    mitm_flow_unref(f);
    f = mkflow("GET", "http", "foo", 80, "/", NOHDRS, NULL);
    H(m, &o, MITM_HOOK_REQUESTHEADERS, f);
    cr_assert_str_eq(hdrtext(&f->request->headers), "bar: vo/ing/\n", "the third separator is in the value");
    mitm_flow_unref(f);
    mitm_modify_free(m);
    mitm_options_free(&o);
}
