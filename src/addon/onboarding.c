/* onboarding: see onboarding.h. */
#include "addon/onboarding.h"
#include "core/options.h"
#include "base/alloc.h"
#include "base/buf.h"
#include "proto/http/http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char PAGE[] =
    "<!DOCTYPE html>\n<html>\n<head>\n<meta charset=\"utf-8\">\n<title>mitmproxy</title>\n</head>\n<body>\n"
    "<h1>Install mitmproxy's Certificate Authority</h1>\n"
    "<p>If you can see this page, your traffic is passing through mitmproxy (mitmc). To intercept HTTPS, "
    "install the CA certificate below and mark it as trusted.</p>\n"
    "<ul>\n"
    "<li><h2>Windows</h2><p><a href=\"/cert/p12\">Get mitmproxy-ca-cert.p12</a>: double-click it, choose "
    "\"Local Machine\", then place it in \"Trusted Root Certification Authorities\".</p></li>\n"
    "<li><h2>Linux</h2><p><a href=\"/cert/pem\">Get mitmproxy-ca-cert.pem</a>: on Debian and Ubuntu, "
    "<code>sudo mv mitmproxy-ca-cert.pem /usr/local/share/ca-certificates/mitmproxy.crt &amp;&amp; sudo "
    "update-ca-certificates</code>.</p></li>\n"
    "<li><h2>macOS</h2><p><a href=\"/cert/pem\">Get mitmproxy-ca-cert.pem</a>: open it in Keychain Access, "
    "then set \"When using this certificate\" to \"Always Trust\".</p></li>\n"
    "<li><h2>iOS</h2><p><a href=\"/cert/pem\">Get mitmproxy-ca-cert.pem</a>: install the profile in "
    "Settings, "
    "then enable full trust under General &gt; About &gt; Certificate Trust Settings.</p></li>\n"
    "<li><h2>Android</h2><p><a href=\"/cert/cer\">Get mitmproxy-ca-cert.cer</a>: Settings &gt; Security &gt; "
    "Encryption &amp; credentials &gt; Install a certificate &gt; CA certificate.</p></li>\n"
    "<li><h2>Firefox</h2><p><a href=\"/cert/pem\">Get mitmproxy-ca-cert.pem</a>: Settings &gt; Privacy &amp; "
    "Security &gt; Certificates &gt; View Certificates &gt; Authorities &gt; Import, then trust it to "
    "identify "
    "websites.</p></li>\n"
    "</ul>\n"
    "<p>Other platforms: the certificate is in the proxy's confdir as mitmproxy-ca-cert.pem.</p>\n"
    "</body>\n</html>\n";

/* Serve confdir/mitmproxy-ca-cert.<ext>: the public certificate only. */
static void serve_cert(struct mitm_flow *f, const struct mitm_options *o, const char *ext, const char *ctype)
{
    char *confdir = mitm_options_confdir(o);
    char name[64], path[4096], disp[128];
    snprintf(name, sizeof(name), "mitmproxy-ca-cert.%s", ext);
    snprintf(path, sizeof(path), "%s/%s", confdir, name);
    free(confdir);
    FILE *fp = fopen(path, "rb");
    uint8_t *buf = mitm_alloc(MITM_ONBOARDING_FILE_MAX);
    size_t n = fp ? fread(buf, 1, MITM_ONBOARDING_FILE_MAX, fp) : 0;
    bool ok = fp && !ferror(fp) && n < MITM_ONBOARDING_FILE_MAX;
    if (fp)
        fclose(fp);
    if (!ok) {
        char msg[256];
        int m = snprintf(msg, sizeof(msg), "Cannot read %s\n", name);
        mitm_addon_respond(f, 404, "Not Found", "text/plain", NULL, msg, (size_t)m);
    } else {
        snprintf(disp, sizeof(disp), "attachment; filename=%s", name);
        mitm_addon_respond(f, 200, "OK", ctype, disp, buf, n);
    }
    free(buf);
}

static void hook(void *state, enum mitm_hook h, void *arg, const struct mitm_hook_env *env)
{
    (void)state;
    struct mitm_flow *f = arg;
    const struct mitm_options *o = env->opts;
    if (h != MITM_HOOK_REQUEST || !o->onboarding || !f->request || f->response || f->loaded ||
        !f->request->host || strcasecmp(f->request->host, o->onboarding_host) != 0)
        return;
    const char *path = f->request->path ? f->request->path : "/";
    size_t plen = strcspn(path, "?#");
#define IS(p) (plen == strlen(p) && strncmp(path, p, plen) == 0)
    if (IS("/") || IS(""))
        mitm_addon_respond(f, 200, "OK", "text/html; charset=utf-8", NULL, PAGE, sizeof(PAGE) - 1);
    else if (IS("/cert/pem"))
        serve_cert(f, o, "pem", "application/x-x509-ca-cert");
    else if (IS("/cert/cer"))
        serve_cert(f, o, "cer", "application/x-x509-ca-cert");
    else if (IS("/cert/p12"))
        serve_cert(f, o, "p12", "application/x-pkcs12");
    else
        mitm_addon_respond(f, 404, "Not Found", "text/plain", NULL, "Not Found\n", 10);
#undef IS
}

const struct mitm_addon mitm_addon_onboarding = {"onboarding", hook};
