/* The built-in set: one configure for every front end, stopping at the first bad option,
 * and the registry calling the addons in mitmproxy's order (seen through what each one
 * leaves to the next). */
#include "helpers.h"

#include "addon/builtin.h"

static char err[2048];

static struct mitm_addons *registry(struct mitm_builtin_addons *b, struct mitm_options *o,
                                    const char *const *sets)
{
    opts_with(o, sets);
    memset(b, 0, sizeof(*b));
    cr_assert_eq(mitm_builtin_addons_configure(b, o, 10.0, err, sizeof(err)), 0, "%s", err);
    struct mitm_addons *r = mitm_addons_new();
    mitm_addons_add_builtin(r, b, NULL, NULL);
    return r;
}

static void run(struct mitm_addons *r, const struct mitm_options *o, enum mitm_hook h, struct mitm_flow *f)
{
    struct mitm_hook_env env = env_for(o, 10.0);
    mitm_addons_run(r, h, f, &env);
}

Test(builtin, first_error_stops_and_frees)
{
    struct mitm_options o;
    opts_with(&o, HDRS("map_remote=|a|b", "modify_headers=|x", "stickycookie=.*"));
    struct mitm_builtin_addons b = {0};
    cr_assert_eq(mitm_builtin_addons_configure(&b, &o, 10.0, err, sizeof(err)), -1);
    cr_assert_str_eq(
        err, "Cannot parse modify_headers option |x: Invalid number of parameters (2 or 3 are expected)");
    cr_assert_null(b.mapremote, "what was made is freed");
    cr_assert_null(b.stickycookie);
    mitm_builtin_addons_free(&b);
    mitm_options_free(&o);
    opts_with(&o, NULL);
    cr_assert_eq(mitm_builtin_addons_configure(&b, &o, 10.0, err, sizeof(err)), 0);
    struct mitm_builtin_addons zero = {0};
    cr_assert(memcmp(&b, &zero, sizeof(b)) == 0, "the defaults turn every one of them off");
    mitm_options_free(&o);
}

Test(builtin, no_states_no_effect)
{
    struct mitm_options o;
    opts_with(&o, NULL);
    struct mitm_addons *r = mitm_addons_new();
    mitm_addons_add_builtin(r, NULL, NULL, NULL);
    struct mitm_flow *f = mkflow("GET", "http", "h", 80, "/", HDRS("Host", "h"), NULL);
    for (enum mitm_hook h = 0; h < MITM_HOOK__COUNT; h++)
        run(r, &o, h, f);
    cr_assert_null(f->response);
    cr_assert_str_eq(hdrtext(&f->request->headers), "Host: h\n");
    mitm_flow_unref(f);
    mitm_addons_free(r);
    mitm_options_free(&o);
}

Test(builtin, mitmproxys_order)
{
    struct mitm_options o;
    struct mitm_builtin_addons b;
    struct mitm_addons *r =
        registry(&b, &o,
                 HDRS("block_list=|~d blocked.test|403", "map_remote=|//a.test|//blocked.test",
                      "map_remote=|//b.test|//c.test", "modify_headers=|~d c.test|X-Seen|c",
                      "modify_headers=|~d blocked.test|X-Blocked|1", "proxyauth=any", "stickyauth=.*",
                      "upstream_auth=u:p"));
    /* blocklist runs before map_remote: a request mapped to blocked.test is not blocked */
    struct mitm_flow *f = mkflow("GET", "http", "a.test", 80, "/",
                                 HDRS("Host", "a.test", "Proxy-Authorization", "Basic dTpw"), NULL);
    run(r, &o, MITM_HOOK_REQUESTHEADERS, f);
    cr_assert_str_eq(hdrtext(&f->request->headers), "Host: a.test\n", "proxyauth took its header");
    run(r, &o, MITM_HOOK_REQUEST, f);
    cr_assert_null(f->response);
    cr_assert_str_eq(f->request->host, "blocked.test");
    mitm_flow_unref(f);
    /* modify_headers (requestheaders) runs before map_remote (request) */
    f = mkflow("GET", "http", "b.test", 80, "/", HDRS("Host", "b.test", "Proxy-Authorization", "Basic dTpw"),
               NULL);
    run(r, &o, MITM_HOOK_REQUESTHEADERS, f);
    run(r, &o, MITM_HOOK_REQUEST, f);
    cr_assert_str_eq(hdrtext(&f->request->headers), "Host: c.test\n", "X-Seen was judged on b.test");
    mitm_flow_unref(f);
    /* a blocked request's answer gets the responseheaders run of modify_headers (the core
     * runs responseheaders, then response, for a response an addon made) */
    f = mkflow("GET", "http", "blocked.test", 80, "/",
               HDRS("Host", "blocked.test", "Proxy-Authorization", "Basic dTpw"), NULL);
    run(r, &o, MITM_HOOK_REQUESTHEADERS, f);
    run(r, &o, MITM_HOOK_REQUEST, f);
    cr_assert_eq(f->response->status_code, 403);
    run(r, &o, MITM_HOOK_RESPONSEHEADERS, f);
    run(r, &o, MITM_HOOK_RESPONSE, f);
    cr_assert_str_eq(hdrtext(&f->response->headers),
                     "Server: mitmc/" MITM_VERSION "\ncontent-length: 0\nX-Blocked: 1\n");
    mitm_flow_unref(f);
    /* proxyauth's 407 (requestheaders) keeps the later addons out */
    f = mkflow("GET", "http", "blocked.test", 80, "/", HDRS("Host", "blocked.test"), NULL);
    run(r, &o, MITM_HOOK_REQUESTHEADERS, f);
    run(r, &o, MITM_HOOK_REQUEST, f);
    cr_assert_eq(f->response->status_code, 407);
    cr_assert_str_eq(hdrtext(&f->request->headers), "Host: blocked.test\n");
    mitm_flow_unref(f);
    mitm_addons_free(r);
    mitm_builtin_addons_free(&b);
    mitm_options_free(&o);
}

/* save sits after modify_body and stickycookie (mitmproxy's default_addons): the -w
 * record holds what they did to the response in its response hook. */
Test(builtin, save_writes_after_the_modifying_addons)
{
    char file[64] = "/tmp/mitmc-builtin-save-XXXXXX", set[96];
    int fd = mkstemp(file);
    cr_assert_geq(fd, 0);
    snprintf(set, sizeof(set), "save_stream_file=%s", file);
    struct mitm_options o;
    struct mitm_builtin_addons b;
    struct mitm_addons *r =
        registry(&b, &o, HDRS(set, "modify_body=|~s|ok|changed-by-modify-body", "save_stream_fsync=0"));
    struct mitm_flow *f = mkflow("GET", "http", "a.test", 80, "/", HDRS("Host", "a.test"), NULL);
    server_response(f, 200, NULL, "ok");
    run(r, &o, MITM_HOOK_RESPONSEHEADERS, f);
    run(r, &o, MITM_HOOK_RESPONSE, f);
    mitm_flow_unref(f);
    char buf[4096];
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    cr_assert_gt(n, 0, "the flow was written at its response hook");
    buf[n] = 0;
    cr_assert_not_null(memmem(buf, (size_t)n, "changed-by-modify-body", 22), "written after modify_body ran");
    close(fd);
    unlink(file);
    mitm_addons_free(r);
    mitm_builtin_addons_free(&b);
    mitm_options_free(&o);
}
