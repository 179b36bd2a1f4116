/* anticache: strip the conditional request headers that let a server answer 304, so the
 * full response passes through the proxy (mitmproxy addons/anticache.py). */
#include "addon/addon.h"
#include "core/options.h"
#include "proto/http/http.h"

static void hook(void *state, enum mitm_hook h, void *arg, const struct mitm_hook_env *env)
{
    (void)state;
    struct mitm_flow *f = arg;
    const struct mitm_options *o = env->opts;
    if (h != MITM_HOOK_REQUEST || !o->anticache || !f->request)
        return;
    mitm_headers_remove(&f->request->headers, "if-modified-since");
    mitm_headers_remove(&f->request->headers, "if-none-match");
}

const struct mitm_addon mitm_addon_anticache = {"anticache", hook};
