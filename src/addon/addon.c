#include "addon/addon.h"
#include "addon/blocklist.h"
#include "addon/builtin.h"
#include "addon/crl.h"
#include "addon/mapremote.h"
#include "addon/maplocal.h"
#include "addon/modify.h"
#include "addon/proxyauth.h"
#include "addon/save.h"
#include "addon/stickyauth.h"
#include "addon/stickycookie.h"
#include "addon/upstreamauth.h"
#include "addon/onboarding.h"
#include "addon/serverplayback.h"

#include "base/alloc.h"
#include "base/buf.h"
#include "proto/http/http.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <stdarg.h>
#include <stdlib.h>

#include "base/log.h"

#define MAX_ADDONS 64

struct mitm_addons {
    const struct mitm_addon *a[MAX_ADDONS];
    void *state[MAX_ADDONS];
    size_t n;
};

struct mitm_addons *mitm_addons_new(void)
{
    return mitm_calloc(1, sizeof(struct mitm_addons));
}

void mitm_addons_free(struct mitm_addons *r)
{
    free(r);
}

void mitm_addons_add(struct mitm_addons *r, const struct mitm_addon *a, void *state)
{
    if (r->n < MAX_ADDONS) {
        r->a[r->n] = a;
        r->state[r->n++] = state;
    }
}

void mitm_addons_insert_before(struct mitm_addons *r, const struct mitm_addon *before,
                               const struct mitm_addon *a, void *state)
{
    size_t at = 0;
    while (at < r->n && r->a[at] != before)
        at++;
    if (r->n >= MAX_ADDONS)
        return;
    memmove(&r->a[at + 1], &r->a[at], (r->n - at) * sizeof(r->a[0]));
    memmove(&r->state[at + 1], &r->state[at], (r->n - at) * sizeof(r->state[0]));
    r->a[at] = a;
    r->state[at] = state;
    r->n++;
}

void mitm_addons_run(const struct mitm_addons *r, enum mitm_hook h, void *arg,
                     const struct mitm_hook_env *env)
{
    for (size_t i = 0; r && i < r->n; i++)
        r->a[i]->hook(r->state[i], h, arg, env);
}

void mitm_addons_add_builtin(struct mitm_addons *r, const struct mitm_builtin_addons *b,
                             struct mitm_serverplayback *sp, const struct mitm_cert_signer *signer)
{
    static const struct mitm_builtin_addons none;
    if (!b)
        b = &none;
    /* mitmproxy's default_addons() order, without the addons mitmc does not have */
    mitm_addons_add(r, &mitm_addon_blocklist, b->blocklist);
    mitm_addons_add(r, &mitm_addon_anticache, NULL);
    mitm_addons_add(r, &mitm_addon_anticomp, NULL);
    mitm_addons_add(r, &mitm_addon_disable_h2c, NULL);
    mitm_addons_add(r, &mitm_addon_onboarding, NULL);
    mitm_addons_add(r, &mitm_addon_proxyauth, b->proxyauth);
    mitm_addons_add(r, &mitm_addon_serverplayback, sp); /* mitmproxy: after clientplayback */
    mitm_addons_add(r, &mitm_addon_mapremote, b->mapremote);
    mitm_addons_add(r, &mitm_addon_maplocal, b->maplocal);
    mitm_addons_add(r, &mitm_addon_modifybody, b->modifybody);
    mitm_addons_add(r, &mitm_addon_modifyheaders, b->modifyheaders);
    mitm_addons_add(r, &mitm_addon_stickyauth, b->stickyauth);
    mitm_addons_add(r, &mitm_addon_stickycookie, b->stickycookie);
    mitm_addons_add(r, &mitm_addon_save, b->save);       /* -w: written in the hook, on the worker */
    mitm_addons_add(r, &mitm_addon_crl, (void *)signer); /* mitmproxy's tlsconfig request hook */
    mitm_addons_add(r, &mitm_addon_upstream_auth, b->upstream_auth);
    mitm_addons_add(r, &mitm_addon_update_alt_svc, NULL);
}

void mitm_hook_log(const struct mitm_hook_env *env, int level, const char *fmt, ...)
{
    char *msg = NULL;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&msg, fmt, ap) < 0)
        msg = NULL;
    va_end(ap);
    if (!msg)
        return;
    if (env && env->log)
        env->log(env->log_arg, level, msg);
    else
        mitm_log((enum mitm_log_level)level, NULL, "%s", msg);
    free(msg);
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
