/* The intercept addon (intercept.h). */
#include "addon/intercept.h"
#include "base/alloc.h"
#include "filter/filter.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

/* A compiled filter shared by the hooks that are matching with it. */
struct shared_filter {
    int refs; /* atomic */
    struct mitm_filter *f;
};

struct mitm_intercept {
    pthread_mutex_t lock;
    struct shared_filter *filter; /* NULL: none */
    bool active;
};

static void filter_unref(struct shared_filter *sf)
{
    if (sf && __atomic_sub_fetch(&sf->refs, 1, __ATOMIC_ACQ_REL) == 0) {
        mitm_filter_free(sf->f);
        free(sf);
    }
}

struct mitm_intercept *mitm_intercept_new(void)
{
    struct mitm_intercept *ic = mitm_calloc(1, sizeof(*ic));
    pthread_mutex_init(&ic->lock, NULL);
    return ic;
}

void mitm_intercept_free(struct mitm_intercept *ic)
{
    if (!ic)
        return;
    filter_unref(ic->filter);
    pthread_mutex_destroy(&ic->lock);
    free(ic);
}

int mitm_intercept_set_filter(struct mitm_intercept *ic, const char *expr, bool *active, char *err,
                              size_t errlen)
{
    struct shared_filter *sf = NULL;
    if (expr && *expr) {
        char why[400];
        struct mitm_filter *f = mitm_filter_parse(expr, why, sizeof(why));
        if (!f) {
            snprintf(err, errlen, "Invalid intercept filter: %s", why);
            return -1;
        }
        sf = mitm_calloc(1, sizeof(*sf));
        sf->refs = 1;
        sf->f = f;
    }
    pthread_mutex_lock(&ic->lock);
    struct shared_filter *old = ic->filter;
    ic->filter = sf;
    ic->active = sf != NULL;
    pthread_mutex_unlock(&ic->lock);
    filter_unref(old);
    if (active)
        *active = sf != NULL;
    return 0;
}

void mitm_intercept_set_active(struct mitm_intercept *ic, bool on)
{
    pthread_mutex_lock(&ic->lock);
    ic->active = on;
    pthread_mutex_unlock(&ic->lock);
}

static void hook(void *state, enum mitm_hook h, void *arg, const struct mitm_hook_env *env)
{
    (void)env;
    if (h != MITM_HOOK_REQUEST && h != MITM_HOOK_RESPONSE && h != MITM_HOOK_WEBSOCKET_MESSAGE &&
        h != MITM_HOOK_TCP_MESSAGE)
        return;
    struct mitm_intercept *ic = state;
    struct mitm_flow *f = arg;
    if (f->is_replay || f->loaded || f->killed) /* mitmproxy: never a replay; only live flows wait */
        return;
    pthread_mutex_lock(&ic->lock);
    struct shared_filter *sf = ic->active ? ic->filter : NULL;
    if (sf)
        __atomic_add_fetch(&sf->refs, 1, __ATOMIC_ACQ_REL);
    pthread_mutex_unlock(&ic->lock);
    if (!sf)
        return;
    if (mitm_filter_match(sf->f, f))
        f->intercepted = true;
    filter_unref(sf);
}

const struct mitm_addon mitm_addon_intercept = {"intercept", hook};
