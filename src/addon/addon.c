#include "addon/addon.h"
#include "addon/crl.h"
#include "addon/onboarding.h"
#include "addon/serverplayback.h"

#include "base/alloc.h"
#include "base/buf.h"
#include "proto/http/http.h"

#include <stddef.h>
#include <stdio.h>

#define MAX_ADDONS 64

static const struct mitm_addon *addons[MAX_ADDONS];
static size_t n_addons;

void mitm_addons_register(const struct mitm_addon *a)
{
    if (n_addons < MAX_ADDONS)
        addons[n_addons++] = a;
}

void mitm_addons_clear(void)
{
    n_addons = 0;
}

void mitm_addons_run(enum mitm_hook h, struct mitm_flow *f, const struct mitm_options *o)
{
    for (size_t i = 0; i < n_addons; i++)
        addons[i]->hook(h, f, o);
}

void mitm_addons_register_builtin(void)
{
    mitm_addons_register(&mitm_addon_anticache);
    mitm_addons_register(&mitm_addon_anticomp);
    mitm_addons_register(&mitm_addon_onboarding);
    mitm_addons_register(&mitm_addon_serverplayback); /* mitmproxy: after clientplayback (no hook here) */
    mitm_addons_register(&mitm_addon_crl);            /* mitmproxy's tlsconfig request hook */
}

void mitm_addon_respond(struct mitm_flow *f, int status, const char *reason, const char *ctype,
                        const char *disposition, const void *body, size_t len)
{
    struct mitm_http_response *r = mitm_http_response_new();
    r->http_version = mitm_strdup("HTTP/1.1");
    r->status_code = status;
    r->reason = mitm_strdup(reason);
    mitm_headers_set(&r->headers, "Content-Type", ctype, strlen(ctype));
    if (disposition)
        mitm_headers_set(&r->headers, "Content-Disposition", disposition, strlen(disposition));
    char cl[32];
    int n = snprintf(cl, sizeof(cl), "%zu", len);
    mitm_headers_set(&r->headers, "Content-Length", cl, (size_t)n);
    mitm_buf_append(&r->content, body, len);
    r->timestamp_start = r->timestamp_end = f->request->timestamp_end;
    mitm_http_response_free(f->response);
    f->response = r;
}
