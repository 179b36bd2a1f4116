/* block_list: see blocklist.h. */
#include "addon/blocklist.h"
#include "addon/httputil.h"
#include "addon/spec.h"
#include "base/alloc.h"
#include "base/err.h"
#include "core/options.h"
#include "filter/filter.h"
#include "proto/http/http.h"

#include <stdlib.h>
#include <string.h>

#define NO_RESPONSE 444 /* mitmproxy's status_codes.NO_RESPONSE */

struct block_spec {
    struct mitm_filter *filter;
    int status;
};

struct mitm_blocklist {
    struct block_spec *v;
    size_t n;
};

void mitm_blocklist_free(struct mitm_blocklist *b)
{
    if (!b)
        return;
    for (size_t i = 0; i < b->n; i++)
        mitm_filter_free(b->v[i].filter);
    free(b->v);
    free(b);
}

static int parse_one(const char *option, struct block_spec *s, char *err, size_t errlen)
{
    struct mitm_slice parts[3];
    if (mitm_spec_split(option, parts) != 2) {
        mitm_errf(err, errlen, "Invalid number of parameters (2 are expected)");
        return -1;
    }
    long status;
    if (!mitm_py_int(parts[1], &status) || status < 100 || status > 999) {
        mitm_errf(err, errlen, "Invalid HTTP status code: %.*s", (int)parts[1].len,
                  (const char *)parts[1].base);
        return -1;
    }
    s->status = (int)status;
    return (s->filter = mitm_spec_filter(parts[0], err, errlen)) ? 0 : -1;
}

int mitm_blocklist_configure(const struct mitm_options *o, struct mitm_blocklist **out, char *err,
                             size_t errlen)
{
    *out = NULL;
    if (!o->block_list.n)
        return 0;
    struct mitm_blocklist *b = mitm_calloc(1, sizeof(*b));
    b->v = mitm_calloc(o->block_list.n, sizeof(*b->v));
    for (size_t i = 0; i < o->block_list.n; i++) {
        char why[1024];
        if (parse_one(o->block_list.v[i], &b->v[b->n++], why, sizeof(why)) < 0) {
            mitm_errf(err, errlen, "Cannot parse block_list option %s: %s", o->block_list.v[i], why);
            mitm_blocklist_free(b);
            return -1;
        }
    }
    *out = b;
    return 0;
}

static void hook(void *state, enum mitm_hook h, void *arg, const struct mitm_hook_env *env)
{
    struct mitm_blocklist *b = state;
    struct mitm_flow *f = arg;
    if (!b || h != MITM_HOOK_REQUEST || !f->request || f->response || mitm_addon_flow_dead(f))
        return;
    for (size_t i = 0; i < b->n; i++) {
        if (!mitm_filter_match(b->v[i].filter, f))
            continue;
        /* as mitmproxy, every matching spec acts: the last status wins, a kill wins over all */
        mitm_addon_meta_true(f, "blocklisted");
        if (b->v[i].status == NO_RESPONSE) {
            f->killed = true;
        } else {
            static const char *const hdrs[] = {"Server", MITM_ADDON_SERVER};
            mitm_http_response_free(f->response);
            f->response = mitm_addon_make_response(b->v[i].status, hdrs, 1, "", 0, env->now);
        }
    }
}

const struct mitm_addon mitm_addon_blocklist = {"blocklist", hook};
