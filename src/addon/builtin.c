/* The configured built-in addons: see builtin.h. */
#include "addon/builtin.h"
#include "addon/blocklist.h"
#include "addon/mapremote.h"
#include "addon/maplocal.h"
#include "addon/modify.h"
#include "addon/proxyauth.h"
#include "addon/save.h"
#include "addon/stickyauth.h"
#include "addon/stickycookie.h"
#include "addon/upstreamauth.h"

#include <string.h>

int mitm_builtin_addons_configure(struct mitm_builtin_addons *b, const struct mitm_options *o, double now,
                                  char *err, size_t errlen)
{
    /* mitmproxy's addon order, which is also the order its configure hooks report in */
    int rc = mitm_blocklist_configure(o, &b->blocklist, err, errlen);
    if (rc == 0)
        rc = mitm_proxyauth_configure(o, &b->proxyauth, err, errlen);
    if (rc == 0)
        rc = mitm_mapremote_configure(o, &b->mapremote, err, errlen);
    if (rc == 0)
        rc = mitm_maplocal_configure(o, &b->maplocal, err, errlen);
    if (rc == 0)
        rc = mitm_modify_configure(o, true, &b->modifybody, err, errlen);
    if (rc == 0)
        rc = mitm_modify_configure(o, false, &b->modifyheaders, err, errlen);
    if (rc == 0)
        rc = mitm_stickyauth_configure(o, &b->stickyauth, err, errlen);
    if (rc == 0)
        rc = mitm_stickycookie_configure(o, &b->stickycookie, err, errlen);
    if (rc == 0)
        rc = mitm_save_configure(o, now, &b->save, err, errlen);
    if (rc == 0)
        rc = mitm_upstream_auth_configure(o, &b->upstream_auth, err, errlen);
    if (rc < 0)
        mitm_builtin_addons_free(b);
    return rc;
}

void mitm_builtin_addons_free(struct mitm_builtin_addons *b)
{
    mitm_blocklist_free(b->blocklist);
    mitm_proxyauth_free(b->proxyauth);
    mitm_mapremote_free(b->mapremote);
    mitm_maplocal_free(b->maplocal);
    mitm_modify_free(b->modifybody);
    mitm_modify_free(b->modifyheaders);
    mitm_stickyauth_free(b->stickyauth);
    mitm_stickycookie_free(b->stickycookie);
    mitm_save_free(b->save);
    mitm_upstream_auth_free(b->upstream_auth);
    memset(b, 0, sizeof(*b));
}
