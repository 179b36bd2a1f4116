/* stickyauth: see stickyauth.h. */
#include "addon/stickyauth.h"
#include "addon/httputil.h"
#include "addon/lru.h"
#include "addon/spec.h"
#include "base/alloc.h"
#include "core/options.h"
#include "filter/filter.h"
#include "proto/http/http.h"

#include <pthread.h>
#include <stdlib.h>

struct mitm_stickyauth {
    struct mitm_filter *flt;
    pthread_mutex_t lock;
    struct mitm_lru *hosts; /* host -> Authorization */
};

int mitm_stickyauth_configure(const struct mitm_options *o, struct mitm_stickyauth **out, char *err,
                              size_t errlen)
{
    *out = NULL;
    if (!o->stickyauth || !*o->stickyauth)
        return 0;
    struct mitm_filter *f = mitm_spec_filter(mitm_slice_str(o->stickyauth), err, errlen);
    if (!f)
        return -1;
    struct mitm_stickyauth *s = mitm_calloc(1, sizeof(*s));
    s->flt = f;
    pthread_mutex_init(&s->lock, NULL);
    s->hosts = mitm_lru_new(MITM_STICKYAUTH_MAX_HOSTS, MITM_STICKYAUTH_MAX_BYTES);
    *out = s;
    return 0;
}

void mitm_stickyauth_free(struct mitm_stickyauth *s)
{
    if (!s)
        return;
    mitm_filter_free(s->flt);
    mitm_lru_free(s->hosts);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

static void auth_hook(void *state, enum mitm_hook h, void *arg, const struct mitm_hook_env *env)
{
    (void)env;
    struct mitm_stickyauth *s = state;
    struct mitm_flow *f = arg;
    if (!s || h != MITM_HOOK_REQUEST || !f->request || !f->request->host)
        return;
    struct mitm_http_request *r = f->request;
    struct mitm_slice host = mitm_slice_str(r->host);
    struct mitm_buf v;
    mitm_buf_init(&v, 0);
    if (mitm_addon_header_joined(&r->headers, "authorization", &v)) {
        pthread_mutex_lock(&s->lock);
        mitm_lru_put(s->hosts, host, mitm_buf_slice(&v));
        pthread_mutex_unlock(&s->lock);
    } else if (mitm_filter_match(s->flt, f)) {
        struct mitm_slice got;
        pthread_mutex_lock(&s->lock);
        if (mitm_lru_get(s->hosts, host, &got))
            mitm_buf_append(&v, got.base, got.len);
        pthread_mutex_unlock(&s->lock);
        if (v.len)
            mitm_headers_set(&r->headers, "authorization", (const char *)mitm_buf_data(&v), v.len);
    }
    mitm_buf_free(&v);
}

const struct mitm_addon mitm_addon_stickyauth = {"stickyauth", auth_hook};
