/* disable_h2c (mitmproxy addons/disable_h2c.py): mitmc speaks HTTP/2 only over TLS, so an
 * HTTP/1.1 request that asks to upgrade to cleartext HTTP/2 loses the upgrade headers: a
 * server that accepted it would start sending HTTP/2 frames past the proxy's HTTP layer.
 * A prior-knowledge preface that reaches the request hook is killed. */
#include "addon/addon.h"
#include "base/log.h"
#include "proto/http/http.h"

#include <string.h>

static void hook(void *state, enum mitm_hook h, void *arg, const struct mitm_hook_env *env)
{
    (void)state;
    if (h != MITM_HOOK_REQUEST)
        return;
    struct mitm_flow *f = arg;
    struct mitm_http_request *r = f->request;
    if (!r)
        return;
    size_t n;
    const char *up = mitm_headers_get(&r->headers, "upgrade", &n);
    if (up && n == 3 && memcmp(up, "h2c", 3) == 0) { /* mitmproxy compares the value exactly */
        mitm_hook_log(env, MITM_LOG_WARN,
                      "HTTP/2 cleartext connections (h2c upgrade requests) are currently not supported.");
        mitm_headers_remove(&r->headers, "upgrade");
        mitm_headers_remove(&r->headers, "connection");
        mitm_headers_remove(&r->headers, "http2-settings");
    }
    if (r->method && strcmp(r->method, "PRI") == 0 && r->path && strcmp(r->path, "*") == 0 &&
        r->http_version && strcmp(r->http_version, "HTTP/2.0") == 0) {
        f->killed = true;
        mitm_hook_log(env, MITM_LOG_WARN,
                      "Initiating HTTP/2 connections with prior knowledge are currently not supported.");
    }
}

const struct mitm_addon mitm_addon_disable_h2c = {"disable_h2c", hook};
