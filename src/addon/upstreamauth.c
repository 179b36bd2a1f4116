/* upstream_auth: see upstreamauth.h. */
#include "addon/upstreamauth.h"
#include "addon/httputil.h"
#include "base/alloc.h"
#include "base/err.h"
#include "core/options.h"
#include "proto/http/http.h"

#include <stdlib.h>
#include <string.h>

struct mitm_upstream_auth {
    char *value;
};

char *mitm_upstream_auth_header(const char *spec, char *err, size_t errlen)
{
    /* re.search(".+:", spec): a ':' after at least one character that is not a newline */
    const char *colon = NULL;
    for (const char *p = spec, *line = spec; *p && !colon; p++) {
        if (*p == '\n')
            line = p + 1;
        else if (*p == ':' && p > line)
            colon = p;
    }
    if (!colon) {
        mitm_errf(err, errlen, "Invalid upstream auth specification: %s", spec);
        return NULL;
    }
    struct mitm_buf b;
    mitm_buf_init(&b, 0);
    mitm_buf_append(&b, "Basic ", 6);
    mitm_addon_base64(spec, strlen(spec), &b);
    size_t n;
    return (char *)mitm_buf_steal(&b, &n);
}

int mitm_upstream_auth_configure(const struct mitm_options *o, struct mitm_upstream_auth **out, char *err,
                                 size_t errlen)
{
    *out = NULL;
    if (!o->upstream_auth)
        return 0;
    char *v = mitm_upstream_auth_header(o->upstream_auth, err, errlen);
    if (!v)
        return -1;
    *out = mitm_calloc(1, sizeof(**out));
    (*out)->value = v;
    return 0;
}

void mitm_upstream_auth_free(struct mitm_upstream_auth *u)
{
    if (!u)
        return;
    free(u->value);
    free(u);
}

const char *mitm_upstream_auth_value(const struct mitm_upstream_auth *u)
{
    return u->value;
}

static void hook(void *state, enum mitm_hook h, void *arg, const struct mitm_hook_env *env)
{
    (void)env;
    struct mitm_upstream_auth *u = state;
    struct mitm_flow *f = arg;
    if (!u || h != MITM_HOOK_REQUESTHEADERS || !f->request)
        return;
    struct mitm_http_request *r = f->request;
    if (mitm_addon_mode_is(f, "upstream") && r->scheme && strcmp(r->scheme, "http") == 0)
        mitm_headers_set(&r->headers, "Proxy-Authorization", u->value, strlen(u->value));
    else if (mitm_addon_mode_is(f, "reverse"))
        mitm_headers_set(&r->headers, "Authorization", u->value, strlen(u->value));
}

const struct mitm_addon mitm_addon_upstream_auth = {"upstream_auth", hook};
