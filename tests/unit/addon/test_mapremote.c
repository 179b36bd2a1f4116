/* map_remote: mitmproxy's test_mapremote cases plus the URL parts, the Host header, the
 * order of specs, templates and every configure error. */
#include "helpers.h"

#include "addon/mapremote.h"

static char err[2048];

static struct mitm_mapremote *conf(struct mitm_options *o, const char *const *specs)
{
    char sets[8][512];
    const char *list[9] = {0};
    for (size_t i = 0; specs[i]; i++) {
        snprintf(sets[i], sizeof(sets[i]), "map_remote=%s", specs[i]);
        list[i] = sets[i];
    }
    opts_with(o, list);
    struct mitm_mapremote *m = NULL;
    cr_assert_eq(mitm_mapremote_configure(o, &m, err, sizeof(err)), 0, "%s", err);
    return m;
}

static void run(struct mitm_mapremote *m, const struct mitm_options *o, struct mitm_flow *f)
{
    struct mitm_hook_env env = env_for(o, 1.0);
    test_log.len = 0;
    mitm_addon_mapremote.hook(m, MITM_HOOK_REQUEST, f, &env);
}

static const char *url(const struct mitm_flow *f)
{
    static char out[512];
    char hp[300];
    const struct mitm_http_request *r = f->request;
    bool def =
        (!strcmp(r->scheme, "http") && r->port == 80) || (!strcmp(r->scheme, "https") && r->port == 443);
    snprintf(hp, sizeof(hp), def ? "%s" : "%s:%u", r->host, r->port);
    snprintf(out, sizeof(out), "%s://%s%s", r->scheme, hp, r->path);
    return out;
}

Test(mapremote, simple)
{
    struct mitm_options o;
    struct mitm_mapremote *m = conf(&o, HDRS(":example.org/images/:mitmproxy.org/img/"));
    struct mitm_flow *f = mkflow("GET", "https", "example.org", 443, "/images/test.jpg", NOHDRS, NULL);
    run(m, &o, f);
    cr_assert_str_eq(url(f), "https://mitmproxy.org/img/test.jpg");
    cr_assert_str_eq(hdrtext(&f->request->headers), "", "no Host header: none is added");
    mitm_flow_unref(f);
    mitm_mapremote_free(m);
    mitm_options_free(&o);
}

Test(mapremote, host_header_follows)
{
    struct mitm_options o;
    struct mitm_mapremote *m = conf(&o, HDRS("|http://[^/]+|http://example.com:4444"));
    struct mitm_flow *f = mkflow("GET", "http", "example.org", 80, "/example",
                                 HDRS("Accept", "*/*", "host", "example.org"), NULL);
    run(m, &o, f);
    cr_assert_str_eq(url(f), "http://example.com:4444/example");
    cr_assert_str_eq(hdrtext(&f->request->headers), "Accept: */*\nhost: example.com:4444\n",
                     "the Host header keeps its place and spelling");
    mitm_flow_unref(f);
    mitm_mapremote_free(m);
    mitm_options_free(&o);
}

Test(mapremote, matches_pretty_url_from_the_host_header)
{
    struct mitm_options o;
    struct mitm_mapremote *m = conf(&o, HDRS("|^http://front.test/(.*)$|https://back.test:8443/v2/\\1"));
    /* a request inside a tunnel or in transparent mode: host is an address, Host the name */
    struct mitm_flow *f = mkflow("GET", "http", "10.0.0.9", 80, "/a?b=c", HDRS("Host", "front.test"), NULL);
    run(m, &o, f);
    cr_assert_str_eq(url(f), "https://back.test:8443/v2/a?b=c");
    cr_assert_str_eq(hdrtext(&f->request->headers), "Host: back.test:8443\n");
    mitm_flow_unref(f);
    mitm_mapremote_free(m);
    mitm_options_free(&o);
}

Test(mapremote, specs_apply_in_order_with_filters)
{
    struct mitm_options o;
    struct mitm_mapremote *m =
        conf(&o, HDRS("|~m POST|a.test|nope.test", "|a.test|b.test", "|b.test|c.test"));
    struct mitm_flow *f = mkflow("GET", "http", "a.test", 80, "/", HDRS("Host", "a.test"), NULL);
    run(m, &o, f);
    cr_assert_str_eq(url(f), "http://c.test/", "each spec sees the URL the one before made");
    mitm_flow_unref(f);
    mitm_mapremote_free(m);
    mitm_options_free(&o);
}

Test(mapremote, left_alone)
{
    struct mitm_options o;
    struct mitm_mapremote *m = conf(&o, HDRS(":example.org:mitmproxy.org"));
    struct mitm_flow *f = mkflow("GET", "https", "example.org", 443, "/x", HDRS("Host", "example.org"), NULL);
    f->killed = true;
    run(m, &o, f);
    cr_assert_str_eq(url(f), "https://example.org/x", "a killed flow");
    f->killed = false;
    server_response(f, 200, NOHDRS, NULL);
    run(m, &o, f);
    cr_assert_str_eq(url(f), "https://example.org/x", "a flow with a response");
    mitm_http_response_free(f->response);
    f->response = NULL;
    struct mitm_hook_env env = env_for(&o, 1.0);
    mitm_addon_mapremote.hook(m, MITM_HOOK_REQUESTHEADERS, f, &env);
    cr_assert_str_eq(url(f), "https://example.org/x", "only the request hook");
    mitm_addon_mapremote.hook(NULL, MITM_HOOK_REQUEST, f, &env);
    cr_assert_str_eq(url(f), "https://example.org/x", "no state: off");
    mitm_flow_unref(f);
    mitm_mapremote_free(m);
    mitm_options_free(&o);
}

Test(mapremote, unchanged_url_keeps_the_host_header)
{
    struct mitm_options o;
    /* the URL is rebuilt the same: mitmproxy only sets .url when it changed */
    struct mitm_mapremote *m = conf(&o, HDRS("|(example)|\\1"));
    struct mitm_flow *f = mkflow("GET", "http", "10.0.0.1", 80, "/", HDRS("Host", "example.org:80"), NULL);
    run(m, &o, f);
    cr_assert_str_eq(f->request->host, "10.0.0.1");
    cr_assert_str_eq(hdrtext(&f->request->headers), "Host: example.org:80\n");
    mitm_flow_unref(f);
    mitm_mapremote_free(m);
    mitm_options_free(&o);
}

Test(mapremote, bad_new_url_is_logged_and_ignored)
{
    struct mitm_options o;
    struct mitm_mapremote *m = conf(&o, HDRS("|http://example.org|nohost"));
    struct mitm_flow *f = mkflow("GET", "http", "example.org", 80, "/p", HDRS("Host", "example.org"), NULL);
    run(m, &o, f);
    cr_assert_str_eq(url(f), "http://example.org/p");
    cr_assert_str_eq(logged(),
                     "1 map_remote: cannot send http://example.org/p to nohost/p: No hostname given\n");
    mitm_flow_unref(f);
    mitm_mapremote_free(m);
    mitm_options_free(&o);
}

static void bad(const char *spec, const char *msg, bool prefix)
{
    struct mitm_options o;
    char set[600];
    snprintf(set, sizeof(set), "map_remote=%s", spec);
    opts_with(&o, HDRS(set));
    struct mitm_mapremote *m = (void *)1;
    cr_assert_eq(mitm_mapremote_configure(&o, &m, err, sizeof(err)), -1, "%s", spec);
    cr_assert_null(m);
    if (prefix)
        cr_assert(strncmp(err, msg, strlen(msg)) == 0, "%s", err);
    else
        cr_assert_str_eq(err, msg, "%s", spec);
    mitm_options_free(&o);
}

Test(mapremote, configure)
{
    struct mitm_options o;
    struct mitm_mapremote *m = conf(&o, HDRS("one/two/three"));
    mitm_mapremote_free(m);
    mitm_options_free(&o);
    bad("/foo/+/three",
        "Cannot parse map_remote option /foo/+/three: Invalid regular expression '+' (quantifier does not "
        "follow a "
        "repeatable item at position 0)",
        false);
    bad("/", "Cannot parse map_remote option /: Invalid number of parameters (2 or 3 are expected)", false);
    bad("|~nope|a|b", "Cannot parse map_remote option |~nope|a|b: Invalid filter expression: '~nope' (",
        true);
    bad("||a|b", "Cannot parse map_remote option ||a|b: Empty filter expression", false);
    bad("|a|\\q",
        "Cannot parse map_remote option |a|\\q: Invalid replacement '\\\\q' (bad escape \\q at position 0)",
        false);
    bad("|(a)|\\2",
        "Cannot parse map_remote option |(a)|\\2: Invalid replacement '\\\\2' (invalid group reference 2 at "
        "position 1)",
        false);
}
