/* CVE-2025-23217: the web UI must never be reachable as a proxied destination, or any page
 * the proxied browser loads could reach the API through the proxy. This addon, last in the
 * workers' chain (after every addon that may rewrite the destination), answers a request
 * for the web server's address itself with 403 and a log line naming the client. */
#include "ui/web/web-int.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "addon/addon.h"
#include "base/log.h"
#include "core/options.h"

static bool targets_web(const struct web *w, const struct mitm_http_request *r, const char *web_host)
{
    if (!r || !r->host || r->port != w->guard_port)
        return false;
    size_t n = strlen(r->host);
    /* a wildcard bind (0.0.0.0, ::) answers on every local address: refuse loopback names and
     * every address the request names directly would need the interface list; loopback and the
     * bound address cover what a browser page can reach without knowing the host's IPs */
    return strcasecmp(r->host, w->guard_host) == 0 || web_is_local_host(r->host, n) ||
           (web_host && strcasecmp(r->host, web_host) == 0);
}

static void hook(void *state, enum mitm_hook h, void *arg, const struct mitm_hook_env *env)
{
    if (h != MITM_HOOK_REQUEST)
        return;
    struct mitm_flow *f = arg;
    const struct web *w = state;
    if (!f || f->loaded || f->response || !targets_web(w, f->request, env->opts->web_host))
        return;
    mitm_hook_log(env, MITM_LOG_WARN,
                  "Refused a proxied request to the mitmc web UI at %s:%u (CVE-2025-23217).",
                  f->request->host, (unsigned)f->request->port);
    static const char body[] = "mitmc: the web UI cannot be reached through the proxy.\n";
    mitm_addon_respond(f, 403, "Forbidden", "text/plain; charset=utf-8", NULL, body, sizeof(body) - 1);
}

const struct mitm_addon web_guard_addon = {"webguard", hook};
