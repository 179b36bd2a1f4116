/* update_alt_svc (mitmproxy addons/update_alt_svc.py): in reverse mode, an Alt-Svc header
 * of the target would send clients around the proxy; every "host:port" in it is rewritten
 * to ":<the port the client connected to>", unless keep_alt_svc_header. */
#include "addon/addon.h"
#include "base/buf.h"
#include "core/options.h"
#include "proto/http/http.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

static bool host_char(char c)
{
    return isalnum((unsigned char)c) || c == '.' || c == '-';
}

/* mitmproxy's re.sub(r"([a-zA-Z0-9.-]*:\d{1,5})", ":PORT", v): each match is the longest
 * run of host characters, a ':' and 1..5 digits (a sixth digit is left as it is). */
static void rewrite(const char *v, size_t n, unsigned port, struct mitm_buf *out)
{
    char rep[16];
    int rl = snprintf(rep, sizeof(rep), ":%u", port);
    size_t i = 0;
    while (i < n) {
        size_t h = i;
        while (h < n && host_char(v[h]))
            h++;
        size_t d = h + 1, digits = 0;
        while (h < n && v[h] == ':' && d < n && isdigit((unsigned char)v[d]) && digits < 5)
            d++, digits++;
        if (h < n && v[h] == ':' && digits) {
            mitm_buf_append(out, rep, (size_t)rl);
            i = d;
        } else if (h > i) {
            mitm_buf_append(out, v + i, h - i);
            i = h;
        } else {
            mitm_buf_append(out, v + i, 1);
            i++;
        }
    }
}

static void hook(void *state, enum mitm_hook h, void *arg, const struct mitm_hook_env *env)
{
    (void)state;
    struct mitm_flow *f = arg;
    if (h != MITM_HOOK_RESPONSEHEADERS || env->opts->keep_alt_svc_header || !f->response)
        return;
    const char *mode = f->client_conn.proxy_mode;
    if (!mode || strncmp(mode, "reverse:", 8) != 0)
        return;
    size_t len;
    const char *v = mitm_headers_get(&f->response->headers, "alt-svc", &len);
    if (!v)
        return;
    struct mitm_buf out;
    mitm_buf_init(&out, 0);
    rewrite(v, len, f->client_conn.sock_port, &out);
    mitm_headers_set(&f->response->headers, "alt-svc", (const char *)mitm_buf_data(&out), out.len);
    mitm_buf_free(&out);
}

const struct mitm_addon mitm_addon_update_alt_svc = {"update_alt_svc", hook};
