/* crl: see crl.h. */
#include "addon/crl.h"
#include "base/log.h"
#include "flow/flow-t.h"
#include "cert/leaf.h"
#include "proto/http/http.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* state: the signer (const struct mitm_cert_signer *), or NULL. */
static void hook(void *state, enum mitm_hook h, void *arg, const struct mitm_hook_env *env)
{
    const struct mitm_cert_signer *signer = state;
    struct mitm_flow *f = arg;
    if (h != MITM_HOOK_REQUEST || !signer || !f->request || f->response || f->error || f->loaded ||
        !f->request->path)
        return;
    const char *path = f->request->path, *magic = mitm_cert_signer_crl_path(signer);
    size_t plen = strlen(path), mlen = strlen(magic);
    if (plen < mlen || memcmp(path + plen - mlen, magic, mlen) != 0)
        return;
    char err[256];
    size_t len = 0;
    uint8_t *der = mitm_cert_signer_crl_der(signer, (time_t)env->now, &len, err, sizeof(err));
    if (!der) {
        mitm_hook_log(env, MITM_LOG_ERROR, "cannot answer the CRL request for %s: %s", path, err);
        return; /* the request goes upstream, as without this addon */
    }
    mitm_addon_respond(f, 200, "OK", "application/pkix-crl", NULL, der, len);
    free(der);
}

const struct mitm_addon mitm_addon_crl = {"crl", hook};
