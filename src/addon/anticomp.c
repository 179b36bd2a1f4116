/* anticomp: ask servers for uncompressed bodies (mitmproxy addons/anticomp.py). */
#include "addon/addon.h"
#include "core/options.h"
#include "proto/http/http.h"

static void hook(enum mitm_hook h, struct mitm_flow *f, const struct mitm_options *o)
{
    if (h != MITM_HOOK_REQUEST || !o->anticomp || !f->request)
        return;
    mitm_headers_set(&f->request->headers, "Accept-Encoding", "identity", 8);
}

const struct mitm_addon mitm_addon_anticomp = {"anticomp", hook};
