/* stickycookie with mitmproxy's cookie parser and formatter: mitmproxy's test_stickycookie
 * cases, the jar's keys and bounds, the Cookie header it writes, expiry, and the jar under
 * several threads. */
#include "helpers.h"

#include "addon/cookies.h"
#include "addon/stickycookie.h"

#include <pthread.h>

static char err[1024];

static inline struct mitm_stickycookie *conf(struct mitm_options *o, const char *flt)
{
    char set[256];
    snprintf(set, sizeof(set), "stickycookie=%s", flt);
    opts_with(o, HDRS(set));
    struct mitm_stickycookie *s = NULL;
    cr_assert_eq(mitm_stickycookie_configure(o, &s, err, sizeof(err)), 0, "%s", err);
    return s;
}

static inline void hook(const struct mitm_addon *a, void *s, const struct mitm_options *o, enum mitm_hook h,
                        struct mitm_flow *f, double now)
{
    struct mitm_hook_env env = env_for(o, now);
    a->hook(s, h, f, &env);
}

/* A response from host:80 carrying Set-Cookie values (NULL-ended), run through the
 * stickycookie response hook at time now. */
static void respond(struct mitm_stickycookie *s, const struct mitm_options *o, const char *host,
                    const char *const *setc, double now)
{
    struct mitm_flow *f = mkflow("GET", "http", host, 80, "/", NOHDRS, NULL);
    server_response(f, 200, NOHDRS, NULL);
    for (size_t i = 0; setc[i]; i++)
        mitm_headers_add(&f->response->headers, "Set-Cookie", 10, setc[i], strlen(setc[i]));
    hook(&mitm_addon_stickycookie, s, o, MITM_HOOK_RESPONSE, f, now);
    mitm_flow_unref(f);
}

/* The Cookie header a request to host:port path gets (NULL if none). */
static const char *cookie_for(struct mitm_stickycookie *s, const struct mitm_options *o, const char *host,
                              unsigned port, const char *path, const char *const *hdrs)
{
    static char out[4096];
    struct mitm_flow *f = mkflow("GET", "http", host, port, path, hdrs, NULL);
    hook(&mitm_addon_stickycookie, s, o, MITM_HOOK_REQUEST, f, 1e9);
    size_t n;
    const char *v = mitm_headers_get(&f->request->headers, "cookie", &n);
    if (v) {
        snprintf(out, sizeof(out), "%.*s", (int)n, v);
        cr_assert_eq(mitm_headers_count(&f->request->headers, "cookie"), 1);
        cr_assert_str_eq(meta(f, "stickycookie"), "4:true!");
    } else {
        cr_assert_null(meta(f, "stickycookie"));
    }
    mitm_flow_unref(f);
    return v ? out : NULL;
}

Test(stickycookie, domain_match)
{
    cr_assert(mitm_stickycookie_domain_match("www.google.com", ".google.com"));
    cr_assert(mitm_stickycookie_domain_match("google.com", ".google.com"));
    cr_assert(!mitm_stickycookie_domain_match("www.google.com", "google.com"),
              "RFC 2965: no leading dot, no subdomains");
    cr_assert(mitm_stickycookie_domain_match("google.com", "google.com."), "the second try strips the dots");
    cr_assert(mitm_stickycookie_domain_match("WWW.Google.COM", ".google.com"));
    cr_assert(!mitm_stickycookie_domain_match("google.com", "www.google.com"));
    cr_assert(!mitm_stickycookie_domain_match("evilgoogle.com", ".google.com"));
    cr_assert(!mitm_stickycookie_domain_match("a.google.com.evil", ".google.com"),
              "mitmc: the domain must be a suffix (CPython's rfind would accept it)");
    cr_assert(mitm_stickycookie_domain_match("10.0.0.1", "10.0.0.1"));
    cr_assert(!mitm_stickycookie_domain_match("1.10.0.0.1", ".10.0.0.1"),
              "an IP address only matches itself");
}

Test(stickycookie, configure)
{
    struct mitm_options o;
    opts_with(&o, HDRS("stickycookie=~b"));
    struct mitm_stickycookie *s = (void *)1;
    cr_assert_eq(mitm_stickycookie_configure(&o, &s, err, sizeof(err)), -1);
    cr_assert(strncmp(err, "Invalid filter expression: '~b' (", 33) == 0, "%s", err);
    mitm_options_free(&o);
    s = conf(&o, "foo");
    cr_assert_not_null(s);
    mitm_stickycookie_free(s);
    mitm_options_free(&o);
    opts_with(&o, NULL);
    cr_assert_eq(mitm_stickycookie_configure(&o, &s, err, sizeof(err)), 0);
    cr_assert_null(s, "None: off");
    mitm_options_free(&o);
}

Test(stickycookie, simple)
{
    struct mitm_options o;
    struct mitm_stickycookie *s = conf(&o, ".*");
    struct mitm_flow *f = mkflow("GET", "http", "example.com", 80, "/", NOHDRS, NULL);
    server_response(f, 200, HDRS("set-cookie", "foo=bar"), NULL);
    hook(&mitm_addon_stickycookie, s, &o, MITM_HOOK_REQUEST, f, 1.0);
    hook(&mitm_addon_stickycookie, s, &o, MITM_HOOK_RESPONSE, f, 1.0);
    cr_assert_null(mitm_headers_get(&f->request->headers, "cookie", &(size_t){0}));
    mitm_flow_unref(f);
    cr_assert_str_eq(cookie_for(s, &o, "example.com", 80, "/x", NOHDRS), "foo=bar");
    cr_assert_str_eq(cookie_for(s, &o, "example.com", 80, "/x", HDRS("Cookie", "mine=1", "cookie", "two=2")),
                     "foo=bar", "the Cookie header is replaced, as mitmproxy does");
    cr_assert_null(cookie_for(s, &o, "example.com", 8080, "/", NOHDRS), "another port");
    cr_assert_null(cookie_for(s, &o, "other.com", 80, "/", NOHDRS), "another host");
    mitm_stickycookie_free(s);
    mitm_options_free(&o);
}

Test(stickycookie, keys_paths_and_filter)
{
    struct mitm_options o;
    struct mitm_stickycookie *s = conf(&o, "~d google");
    const char *c = "SSID=mooo; domain=.google.com, FOO=bar; Domain=.google.com; Path=/; "
                    "Expires=Wed, 13-Jan-2021 22:23:01 GMT; Secure; ";
    respond(s, &o, "host", HDRS(c), 1.7e9);
    cr_assert_null(cookie_for(s, &o, "www.google.com", 80, "/", NOHDRS), "the domain does not match 'host'");
    respond(s, &o, "www.google.com", HDRS(c), 1.7e9);
    cr_assert_str_eq(cookie_for(s, &o, "mail.google.com", 80, "/", NOHDRS), "SSID=mooo",
                     "FOO expired in 2021: not kept; SSID goes to the whole domain");
    respond(s, &o, "www.google.com", HDRS("P=1; Path=/app"), 1.7e9);
    cr_assert_str_eq(cookie_for(s, &o, "www.google.com", 80, "/app/x?y", NOHDRS), "SSID=mooo; P=1");
    cr_assert_str_eq(cookie_for(s, &o, "www.google.com", 80, "/ap", NOHDRS), "SSID=mooo",
                     "the path is a prefix");
    cr_assert_null(cookie_for(s, &o, "www.example.com", 80, "/", NOHDRS),
                   "the filter decides who gets cookies");
    mitm_stickycookie_free(s);
    mitm_options_free(&o);
}

Test(stickycookie, multiple_weird_overwrite_delete)
{
    struct mitm_options o;
    struct mitm_stickycookie *s = conf(&o, ".*");
    respond(s, &o, "www.google.com", HDRS("somecookie=test; Path=/", "othercookie=helloworld; Path=/"), 1.0);
    cr_assert_str_eq(cookie_for(s, &o, "www.google.com", 80, "/", NOHDRS),
                     "somecookie=test; othercookie=helloworld");
    respond(s, &o, "www.google.com", HDRS("foo/bar=hello", "foo:bar=world", "foo@bar=fizz"), 1.0);
    cr_assert_str_eq(cookie_for(s, &o, "www.google.com", 80, "/", NOHDRS),
                     "somecookie=test; othercookie=helloworld; foo/bar=hello; foo:bar=world; foo@bar=fizz");
    respond(s, &o, "www.google.com", HDRS("somecookie=newvalue; Path=/"), 1.0);
    cr_assert_str_eq(
        cookie_for(s, &o, "www.google.com", 80, "/", NOHDRS),
        "somecookie=newvalue; othercookie=helloworld; foo/bar=hello; foo:bar=world; foo@bar=fizz",
        "an update keeps its place");
    respond(s, &o, "www.google.com",
            HDRS("somecookie=; Expires=Thu, 01-Jan-1970 00:00:00 GMT", "othercookie=x; Max-Age=0",
                 "foo/bar=; max-age=-1", "foo:bar=; Max-Age=5", "foo@bar=; Expires=garbage; Max-Age=0"),
            1.0);
    cr_assert_str_eq(
        cookie_for(s, &o, "www.google.com", 80, "/", NOHDRS), "foo:bar=; foo@bar=",
        "deleted by Expires and Max-Age; an unparseable Expires never expires, Max-Age is then ignored");
    mitm_stickycookie_free(s);
    mitm_options_free(&o);
}

Test(stickycookie, quoting)
{
    struct mitm_options o;
    struct mitm_stickycookie *s = conf(&o, ".*");
    respond(s, &o, "h.test", HDRS("q=\"a b\\\"c\"", "flag", "sp=x;y=1"), 1.0);
    cr_assert_str_eq(cookie_for(s, &o, "h.test", 80, "/", NOHDRS), "q=\"a b\\\"c\"; flag; sp=x",
                     "quoted values are quoted again; a bare name stays bare; y=1 is an attribute");
    mitm_stickycookie_free(s);
    mitm_options_free(&o);
}

Test(stickycookie, bounded)
{
    struct mitm_options o;
    struct mitm_stickycookie *s = conf(&o, ".*");
    char host[64], v[64];
    for (int i = 0; i < MITM_STICKYCOOKIE_MAX_ORIGINS + 10; i++) {
        snprintf(host, sizeof(host), "h%d.test", i);
        respond(s, &o, host, HDRS("a=1"), 1.0);
    }
    cr_assert_null(cookie_for(s, &o, "h0.test", 80, "/", NOHDRS), "the oldest entries went first");
    cr_assert_str_eq(cookie_for(s, &o, "h20.test", 80, "/", NOHDRS), "a=1");
    for (int i = 0; i < MITM_STICKYCOOKIE_MAX_COOKIES + 5; i++) {
        snprintf(v, sizeof(v), "c%d=1", i);
        respond(s, &o, "many.test", HDRS(v), 1.0);
    }
    const char *all = cookie_for(s, &o, "many.test", 80, "/", NOHDRS);
    cr_assert(strncmp(all, "c5=1; c6=1", 10) == 0, "%.40s", all);
    mitm_stickycookie_free(s);
    mitm_options_free(&o);
}

static struct mitm_stickycookie *shared;
static struct mitm_options shared_o;

static void *worker(void *arg)
{
    long id = (long)arg;
    for (int i = 0; i < 300; i++) {
        char host[32], v[32];
        snprintf(host, sizeof(host), "w%ld-%d.test", id, i % 50);
        snprintf(v, sizeof(v), "k%d=%d", i % 7, i);
        respond(shared, &shared_o, host, HDRS(v), 1.0);
        cookie_for(shared, &shared_o, host, 80, "/", NOHDRS);
    }
    return NULL;
}

Test(stickycookie, workers_share_the_jar)
{
    shared = conf(&shared_o, ".*");
    pthread_t t[4];
    for (long i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, worker, (void *)i);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    cr_assert_not_null(cookie_for(shared, &shared_o, "w3-49.test", 80, "/", NOHDRS));
    mitm_stickycookie_free(shared);
    mitm_options_free(&shared_o);
}

/* ---- the cookie parser, against mitmproxy's parse_set_cookie_header ---- */

static const char *parsed(const char *line)
{
    static char out[1024];
    struct mitm_setcookies c = {0};
    mitm_setcookie_parse(line, strlen(line), &c);
    size_t n = 0;
    out[0] = 0;
    for (size_t i = 0; i < c.n; i++) {
        n += (size_t)snprintf(out + n, sizeof(out) - n, "%s[%s=%s", i ? " " : "", c.v[i].name,
                              c.v[i].value ? c.v[i].value : "None");
        for (size_t k = 0; k < c.v[i].nattrs; k++)
            n += (size_t)snprintf(out + n, sizeof(out) - n, "; %s=%s", c.v[i].attrs[k].key,
                                  c.v[i].attrs[k].value ? c.v[i].attrs[k].value : "None");
        n += (size_t)snprintf(out + n, sizeof(out) - n, "]");
    }
    mitm_setcookies_free(&c);
    return out;
}

Test(cookies, parse_like_mitmproxy)
{
    cr_assert_str_eq(parsed("one=uno"), "[one=uno]");
    cr_assert_str_eq(parsed("one=un\x20"), "[one=un ]");
    cr_assert_str_eq(parsed("one=uno; foo"), "[one=uno; foo=None]");
    cr_assert_str_eq(parsed("mun=1.390.f60; expires=sun, 11-oct-2015 12:38:31 gmt; path=/; domain=b.aol.com"),
                     "[mun=1.390.f60; expires=sun, 11-oct-2015 12:38:31 gmt; path=/; domain=b.aol.com]");
    cr_assert_str_eq(parsed("rpb=190%3d1%2616726%3d1%2634832%3d1%2634874%3d1; domain=.rubiconproject.com; "
                            "expires=mon, 11-may-2015 21:54:57 gmt; path=/"),
                     "[rpb=190%3d1%2616726%3d1%2634832%3d1%2634874%3d1; domain=.rubiconproject.com; "
                     "expires=mon, 11-may-2015 21:54:57 gmt; path=/]");
    cr_assert_str_eq(parsed("foo=bar, doo=dar"), "[foo=bar] [doo=dar]");
    cr_assert_str_eq(parsed("foo=bar, doo=dar; Path=/"), "[foo=bar] [doo=dar; Path=/]");
    cr_assert_str_eq(parsed("foo=\"bar, baz\"; x"), "[foo=bar, baz; x=None]");
    cr_assert_str_eq(parsed("foo=\"a\\\"b"), "[foo=a\"b]", "an unterminated quote ends the value");
    cr_assert_str_eq(parsed(""), "");
    cr_assert_str_eq(parsed(" a =b"), "[a =b]", "only leading whitespace goes from a name");
}

Test(cookies, format_like_mitmproxy)
{
    struct mitm_cookie_pair p[] = {{"a", "b"}, {"c", NULL}, {"d", "e f"}, {"g", "h\"i\\"}, {"j", ""}};
    struct mitm_buf b;
    mitm_buf_init(&b, 0);
    mitm_cookie_format(p, 5, &b);
    cr_assert_str_eq(bodytext(&b), "a=b; c; d=\"e f\"; g=\"h\\\"i\\\\\"; j=");
    mitm_buf_free(&b);
}
