/* stickyauth: mitmproxy's test_stickyauth cases and the bounded store. */
#include "helpers.h"

#include "addon/stickyauth.h"

static char err[1024];

static inline struct mitm_stickyauth *conf(struct mitm_options *o, const char *flt)
{
    char set[256];
    snprintf(set, sizeof(set), "stickyauth=%s", flt);
    opts_with(o, HDRS(set));
    struct mitm_stickyauth *s = NULL;
    cr_assert_eq(mitm_stickyauth_configure(o, &s, err, sizeof(err)), 0, "%s", err);
    return s;
}

static inline void hook(const struct mitm_addon *a, void *s, const struct mitm_options *o, enum mitm_hook h,
                        struct mitm_flow *f, double now)
{
    struct mitm_hook_env env = env_for(o, now);
    a->hook(s, h, f, &env);
}

/* ---- stickyauth ---- */

static const char *auth_for(struct mitm_stickyauth *s, const struct mitm_options *o, const char *host,
                            const char *const *hdrs)
{
    static char out[512];
    struct mitm_flow *f = mkflow("GET", "http", host, 80, "/", hdrs, NULL);
    hook(&mitm_addon_stickyauth, s, o, MITM_HOOK_REQUEST, f, 1.0);
    snprintf(out, sizeof(out), "%s", hdrtext(&f->request->headers));
    mitm_flow_unref(f);
    return out;
}

Test(stickyauth, remembers_per_host)
{
    struct mitm_options o;
    opts_with(&o, HDRS("stickyauth=~x"));
    struct mitm_stickyauth *s = (void *)1;
    cr_assert_eq(mitm_stickyauth_configure(&o, &s, err, sizeof(err)), -1);
    cr_assert(strncmp(err, "Invalid filter expression: '~x'", 31) == 0, "%s", err);
    mitm_options_free(&o);

    s = conf(&o, "~d a.test");
    cr_assert_str_eq(auth_for(s, &o, "a.test", NOHDRS), "", "nothing stored yet");
    cr_assert_str_eq(auth_for(s, &o, "a.test", HDRS("Authorization", "Basic one", "authorization", "two")),
                     "Authorization: Basic one\nauthorization: two\n", "a request with the header keeps it");
    cr_assert_str_eq(auth_for(s, &o, "a.test", HDRS("X", "y")), "X: y\nauthorization: Basic one, two\n",
                     "the stored value, joined as Headers[] does");
    cr_assert_str_eq(auth_for(s, &o, "A.test", NOHDRS), "", "per host, exactly");
    auth_for(s, &o, "b.test", HDRS("Authorization", "b"));
    cr_assert_str_eq(auth_for(s, &o, "b.test", NOHDRS), "",
                     "stored whatever the filter, added only if it matches");
    struct mitm_flow *f = mkflow("GET", "http", "a.test", 80, "/", NOHDRS, NULL);
    hook(&mitm_addon_stickyauth, s, &o, MITM_HOOK_REQUESTHEADERS, f, 1.0);
    cr_assert_str_eq(hdrtext(&f->request->headers), "", "the request hook only");
    mitm_flow_unref(f);
    mitm_stickyauth_free(s);
    mitm_options_free(&o);
}

Test(stickyauth, bounded)
{
    struct mitm_options o;
    struct mitm_stickyauth *s = conf(&o, ".*");
    char host[32];
    for (int i = 0; i < MITM_STICKYAUTH_MAX_HOSTS + 10; i++) {
        snprintf(host, sizeof(host), "h%d", i);
        auth_for(s, &o, host, HDRS("Authorization", "x"));
    }
    cr_assert_str_eq(auth_for(s, &o, "h0", NOHDRS), "", "the least recently used host went first");
    cr_assert_str_eq(auth_for(s, &o, "h20", NOHDRS), "authorization: x\n");
    mitm_stickyauth_free(s);
    mitm_options_free(&o);
}
