/* upstream_auth: the spec, its error, and the header per proxy mode. */
#include "helpers.h"

#include "addon/upstreamauth.h"

static char err[1024];

static void upstream(const char *mode, const char *scheme, const char *want)
{
    struct mitm_options o;
    opts_with(&o, HDRS("upstream_auth=user:pass"));
    struct mitm_upstream_auth *u;
    cr_assert_eq(mitm_upstream_auth_configure(&o, &u, err, sizeof(err)), 0, "%s", err);
    struct mitm_flow *f =
        mkflow("GET", scheme, "h", 80, "/", HDRS("Proxy-Authorization", "old", "Authorization", "old"), NULL);
    set_mode(f, mode);
    struct mitm_hook_env env = env_for(&o, 1.0);
    mitm_addon_upstream_auth.hook(u, MITM_HOOK_REQUESTHEADERS, f, &env);
    cr_assert_str_eq(hdrtext(&f->request->headers), want, "%s %s", mode, scheme);
    mitm_flow_unref(f);
    mitm_upstream_auth_free(u);
    mitm_options_free(&o);
}

Test(upstream_auth, headers_per_mode)
{
    upstream("upstream:http://proxy:3128", "http",
             "Proxy-Authorization: Basic dXNlcjpwYXNz\nAuthorization: old\n");
    upstream("upstream:http://proxy:3128", "https", "Proxy-Authorization: old\nAuthorization: old\n");
    upstream("reverse:http://backend:80", "http",
             "Proxy-Authorization: old\nAuthorization: Basic dXNlcjpwYXNz\n");
    upstream("reverse:https://backend", "https",
             "Proxy-Authorization: old\nAuthorization: Basic dXNlcjpwYXNz\n");
    upstream("regular", "http", "Proxy-Authorization: old\nAuthorization: old\n");
}

Test(upstream_auth, spec)
{
    char *v = mitm_upstream_auth_header("user:pass", err, sizeof(err));
    cr_assert_str_eq(v, "Basic dXNlcjpwYXNz");
    free(v);
    v = mitm_upstream_auth_header("a:", err, sizeof(err));
    cr_assert_str_eq(v, "Basic YTo=", "an empty password is fine");
    free(v);
    v = mitm_upstream_auth_header("x\na:b", err, sizeof(err));
    cr_assert_not_null(v, "re.search finds '.+:' on a later line");
    free(v);
    cr_assert_null(mitm_upstream_auth_header(":pass", err, sizeof(err)));
    cr_assert_str_eq(err, "Invalid upstream auth specification: :pass");
    cr_assert_null(mitm_upstream_auth_header("foo", err, sizeof(err)));
    struct mitm_options o;
    opts_with(&o, HDRS("upstream_auth=foo"));
    struct mitm_upstream_auth *u = (void *)1;
    cr_assert_eq(mitm_upstream_auth_configure(&o, &u, err, sizeof(err)), -1);
    cr_assert_null(u);
    cr_assert_str_eq(err, "Invalid upstream auth specification: foo");
    mitm_options_free(&o);
    opts_with(&o, HDRS("upstream_auth=u:p"));
    cr_assert_eq(mitm_upstream_auth_configure(&o, &u, err, sizeof(err)), 0);
    cr_assert_str_eq(mitm_upstream_auth_value(u), "Basic dTpw");
    mitm_upstream_auth_free(u);
    mitm_options_free(&o);
}
