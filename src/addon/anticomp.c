/* anticomp: ask servers for uncompressed bodies (mitmproxy addons/anticomp.py). */
#include "addon/addon.h"
#include "core/options.h"
#include "proto/http/http.h"

static void hook(void *state, enum mitm_hook h, void *arg, const struct mitm_hook_env *env)
{
    (void)state;
    struct mitm_flow *f = arg;
    const struct mitm_options *o = env->opts;
    if (h != MITM_HOOK_REQUEST || !o->anticomp || !f->request)
        return;
    mitm_headers_set(&f->request->headers, "Accept-Encoding", "identity", 8);
}

const struct mitm_addon mitm_addon_anticomp = {"anticomp", hook};
