#include "core/services.h"
#include "base/alloc.h"

#include <stdlib.h>

struct mitm_optsnap *mitm_optsnap_new(const struct mitm_options *o)
{
    struct mitm_optsnap *s = mitm_calloc(1, sizeof(*s));
    s->refs = 1;
    mitm_options_copy(&s->o, o);
    return s;
}

struct mitm_optsnap *mitm_optsnap_ref(struct mitm_optsnap *s)
{
    __atomic_add_fetch(&s->refs, 1, __ATOMIC_RELAXED);
    return s;
}

void mitm_optsnap_unref(struct mitm_optsnap *s)
{
    if (!s || __atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL) > 0)
        return;
    mitm_options_free(&s->o);
    free(s);
}

void mitm_services_init(struct mitm_services *svc, const struct mitm_options *o)
{
    svc->addons = NULL;
    svc->tls = NULL;
    svc->next = NULL;
    pthread_mutex_init(&svc->lock, NULL);
    svc->opts = mitm_optsnap_new(o);
}

void mitm_services_deinit(struct mitm_services *svc)
{
    mitm_optsnap_unref(svc->opts);
    svc->opts = NULL;
    pthread_mutex_destroy(&svc->lock);
}

struct mitm_optsnap *mitm_services_options(const struct mitm_services *svc)
{
    struct mitm_services *m = (struct mitm_services *)svc; /* the lock only */
    pthread_mutex_lock(&m->lock);
    struct mitm_optsnap *s = mitm_optsnap_ref(m->opts);
    pthread_mutex_unlock(&m->lock);
    return s;
}

void mitm_services_set_options(struct mitm_services *svc, const struct mitm_options *o)
{
    struct mitm_optsnap *n = mitm_optsnap_new(o);
    pthread_mutex_lock(&svc->lock);
    struct mitm_optsnap *old = svc->opts;
    svc->opts = n;
    pthread_mutex_unlock(&svc->lock);
    mitm_optsnap_unref(old);
}
