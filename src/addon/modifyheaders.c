/* modify_headers (-H): see modify.h. */
#include "addon/modify.h"
#include "addon/modify-int.h"
#include "addon/httputil.h"
#include "addon/pyre.h"
#include "addon/spec.h"
#include "base/alloc.h"
#include "base/err.h"
#include "base/log.h"
#include "core/options.h"
#include "filter/filter.h"
#include "flow/encoding.h"
#include "proto/http/http.h"

#include <stdlib.h>
#include <string.h>

#define MAX_SPECS_ON_STACK 64

static void run_headers(const struct mitm_modify *m, const struct mitm_flow *f, struct mitm_headers *h)
{
    bool stack[MAX_SPECS_ON_STACK];
    bool *match = m->n <= MAX_SPECS_ON_STACK ? stack : mitm_calloc(m->n, sizeof(bool));
    /* every filter sees the flow as it was before this run */
    for (size_t i = 0; i < m->n; i++)
        match[i] = !m->v[i].filter || mitm_filter_match(m->v[i].filter, f);
    for (size_t i = 0; i < m->n; i++) {
        if (!match[i])
            continue;
        char *name = mitm_strndup((const char *)mitm_buf_data(&m->v[i].subject), m->v[i].subject.len);
        mitm_headers_remove(h, name);
        free(name);
    }
    for (size_t i = 0; i < m->n; i++)
        if (match[i] && m->v[i].value.len)
            mitm_headers_add(h, (const char *)mitm_buf_data(&m->v[i].subject), m->v[i].subject.len,
                             (const char *)mitm_buf_data(&m->v[i].value), m->v[i].value.len);
    if (match != stack)
        free(match);
}

static void headers_hook(void *state, enum mitm_hook h, void *arg, const struct mitm_hook_env *env)
{
    (void)env;
    struct mitm_modify *m = state;
    if (!m || (h != MITM_HOOK_REQUESTHEADERS && h != MITM_HOOK_RESPONSEHEADERS))
        return; /* other hooks carry other payloads than a flow */
    struct mitm_flow *f = arg;
    if (!f->request || mitm_addon_flow_dead(f))
        return;
    /* a response an addon made in the request hooks gets responseheaders too (stream.c) */
    if (h == MITM_HOOK_REQUESTHEADERS && !f->response)
        run_headers(m, f, &f->request->headers);
    else if (h == MITM_HOOK_RESPONSEHEADERS && f->response)
        run_headers(m, f, &f->response->headers);
}

const struct mitm_addon mitm_addon_modifyheaders = {"modifyheaders", headers_hook};
