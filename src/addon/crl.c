/* crl: see crl.h. */
#include "addon/crl.h"
#include "base/log.h"
#include "cert/leaf.h"
#include "proto/http/http.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Set on the main thread before workers start, read-only afterwards. */
static const struct mitm_cert_signer *signer;

void mitm_addon_crl_set_signer(const struct mitm_cert_signer *s)
{
    signer = s;
}

static void hook(enum mitm_hook h, struct mitm_flow *f, const struct mitm_options *o)
{
    (void)o;
    if (h != MITM_HOOK_REQUEST || !signer || !f->request || f->response || f->error || !f->request->path)
        return;
    const char *path = f->request->path, *magic = mitm_cert_signer_crl_path(signer);
    size_t plen = strlen(path), mlen = strlen(magic);
    if (plen < mlen || memcmp(path + plen - mlen, magic, mlen) != 0)
        return;
    char err[256];
    size_t len = 0;
    uint8_t *der = mitm_cert_signer_crl_der(signer, time(NULL), &len, err, sizeof(err));
    if (!der) {
        mitm_log(MITM_LOG_ERROR, NULL, "cannot answer the CRL request for %s: %s", path, err);
        return; /* the request goes upstream, as without this addon */
    }
    mitm_addon_respond(f, 200, "OK", "application/pkix-crl", NULL, der, len);
    free(der);
}

const struct mitm_addon mitm_addon_crl = {"crl", hook};
