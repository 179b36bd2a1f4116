/* Fuzz target: what peers control in the modify/map/sticky/auth addons. The first byte
 * picks the parser, the rest is its input: a Set-Cookie value (mitmproxy's cookie reader,
 * expiry, the Cookie writer, and the stickycookie jar through its hooks), a
 * Proxy-Authorization value (Basic credentials), or a URL for the url setter and
 * pretty_url. Checks they never crash, leak or read past their input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "addon/cookies.h"
#include "addon/httputil.h"
#include "addon/stickycookie.h"
#include "base/alloc.h"
#include "core/options.h"
#include "flow/flow.h"
#include "proto/http/http.h"

static struct mitm_options opts;
static struct mitm_stickycookie *jar;

static struct mitm_flow *flow(const char *path)
{
    struct mitm_flow *f = mitm_flow_new(MITM_FLOW_HTTP, 1.0);
    struct mitm_http_request *r = mitm_http_request_new();
    r->method = mitm_strdup("GET");
    r->scheme = mitm_strdup("http");
    r->authority = mitm_strdup("");
    r->host = mitm_strdup("www.example.com");
    r->port = 80;
    r->path = mitm_strdup(path);
    r->http_version = mitm_strdup("HTTP/1.1");
    mitm_headers_add(&r->headers, "Host", 4, "www.example.com:80", 18);
    f->request = r;
    return f;
}

static void cookies(const uint8_t *d, size_t n)
{
    struct mitm_setcookies c = {0};
    mitm_setcookie_parse((const char *)d, n, &c);
    struct mitm_buf out;
    mitm_buf_init(&out, 0);
    for (size_t i = 0; i < c.n; i++) {
        bool found;
        (void)mitm_setcookie_attr(&c.v[i], "domain", &found);
        (void)mitm_setcookie_expired(&c.v[i], 1.7e9);
        struct mitm_cookie_pair p = {c.v[i].name, c.v[i].value};
        mitm_cookie_format(&p, 1, &out);
    }
    mitm_buf_free(&out);
    mitm_setcookies_free(&c);
    if (memchr(d, 0, n))
        return; /* header values never hold NUL (the HTTP/1 parser refuses it) */
    struct mitm_hook_env env = {.now = 1.7e9, .opts = &opts, .worker = 0};
    struct mitm_flow *f = flow("/");
    f->response = mitm_http_response_make(200, NULL, NULL);
    mitm_headers_add(&f->response->headers, "Set-Cookie", 10, (const char *)d, n);
    mitm_addon_stickycookie.hook(jar, MITM_HOOK_RESPONSE, f, &env);
    mitm_flow_unref(f);
    f = flow("/a/b");
    mitm_addon_stickycookie.hook(jar, MITM_HOOK_REQUEST, f, &env);
    mitm_flow_unref(f);
}

static void basic(const uint8_t *d, size_t n)
{
    struct mitm_buf u, p;
    mitm_buf_init(&u, 0);
    mitm_buf_init(&p, 0);
    (void)mitm_addon_parse_basic((const char *)d, n, &u, &p);
    mitm_buf_free(&u);
    mitm_buf_free(&p);
}

static void url(const uint8_t *d, size_t n)
{
    struct mitm_flow *f = flow("/");
    char err[256];
    if (mitm_addon_set_url(f->request, (const char *)d, n, err, sizeof(err)) == 0) {
        struct mitm_buf out;
        mitm_buf_init(&out, 0);
        mitm_addon_pretty_url(f->request, &out);
        mitm_buf_free(&out);
    }
    mitm_flow_unref(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!jar) {
        mitm_options_init(&opts);
        char err[256];
        mitm_options_set(&opts, "stickycookie", ".", err, sizeof(err));
        mitm_stickycookie_configure(&opts, &jar, err, sizeof(err));
    }
    if (size < 1)
        return 0;
    switch (data[0] % 3) {
    case 0:
        cookies(data + 1, size - 1);
        break;
    case 1:
        basic(data + 1, size - 1);
        break;
    default:
        url(data + 1, size - 1);
        break;
    }
    return 0;
}
