#include "addon/addon.h"
#include "addon/onboarding.h"
#include "addon/serverplayback.h"

#include <stddef.h>

#define MAX_ADDONS 64

static const struct mitm_addon *addons[MAX_ADDONS];
static size_t n_addons;

void mitm_addons_register(const struct mitm_addon *a)
{
    if (n_addons < MAX_ADDONS)
        addons[n_addons++] = a;
}

void mitm_addons_clear(void)
{
    n_addons = 0;
}

void mitm_addons_run(enum mitm_hook h, struct mitm_flow *f, const struct mitm_options *o)
{
    for (size_t i = 0; i < n_addons; i++)
        addons[i]->hook(h, f, o);
}

void mitm_addons_register_builtin(void)
{
    mitm_addons_register(&mitm_addon_anticache);
    mitm_addons_register(&mitm_addon_anticomp);
    mitm_addons_register(&mitm_addon_onboarding);
    mitm_addons_register(&mitm_addon_serverplayback); /* mitmproxy: after clientplayback (no hook here) */
}
