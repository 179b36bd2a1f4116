/* map_remote: see mapremote.h. */
#include "addon/mapremote.h"
#include "addon/httputil.h"
#include "addon/pyre.h"
#include "addon/spec.h"
#include "base/alloc.h"
#include "base/err.h"
#include "base/log.h"
#include "core/options.h"
#include "filter/filter.h"

#include <stdlib.h>
#include <string.h>

struct remote_spec {
    struct mitm_filter *filter;
    struct mitm_pyre *re;
    struct mitm_pytemplate *tpl;
};

struct mitm_mapremote {
    struct remote_spec *v;
    size_t n;
};

void mitm_mapremote_free(struct mitm_mapremote *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n; i++) {
        mitm_filter_free(m->v[i].filter);
        mitm_pyre_free(m->v[i].re);
        mitm_pytemplate_free(m->v[i].tpl);
    }
    free(m->v);
    free(m);
}

/* "Invalid <what> 'text' (why)" with text as Python's repr. */
static void invalid(char *err, size_t errlen, const char *what, struct mitm_slice text, const char *why)
{
    struct mitm_buf r;
    mitm_buf_init(&r, 0);
    mitm_py_repr(text.base, text.len, false, &r);
    mitm_errf(err, errlen, "Invalid %s %.*s (%s)", what, (int)r.len, (const char *)mitm_buf_data(&r), why);
    mitm_buf_free(&r);
}

static int parse_one(const char *option, struct remote_spec *s, char *err, size_t errlen)
{
    struct mitm_slice subj, repl;
    char why[512];
    if (mitm_spec_parse(option, &s->filter, &subj, &repl, err, errlen) < 0)
        return -1;
    if (!(s->re = mitm_pyre_compile(subj.base, subj.len, 0, why, sizeof(why)))) {
        invalid(err, errlen, "regular expression", subj, why);
        return -1;
    }
    if (!(s->tpl = mitm_pytemplate_compile((const char *)repl.base, repl.len, s->re, why, sizeof(why)))) {
        invalid(err, errlen, "replacement", repl, why);
        return -1;
    }
    return 0;
}

int mitm_mapremote_configure(const struct mitm_options *o, struct mitm_mapremote **out, char *err,
                             size_t errlen)
{
    *out = NULL;
    if (!o->map_remote.n)
        return 0;
    struct mitm_mapremote *m = mitm_calloc(1, sizeof(*m));
    m->v = mitm_calloc(o->map_remote.n, sizeof(*m->v));
    for (size_t i = 0; i < o->map_remote.n; i++) {
        char why[1024];
        if (parse_one(o->map_remote.v[i], &m->v[m->n++], why, sizeof(why)) < 0) {
            mitm_errf(err, errlen, "Cannot parse map_remote option %s: %s", o->map_remote.v[i], why);
            mitm_mapremote_free(m);
            return -1;
        }
    }
    *out = m;
    return 0;
}

static void map_one(const struct remote_spec *s, struct mitm_flow *f, const struct mitm_hook_env *env)
{
    struct mitm_buf url, next;
    mitm_buf_init(&url, 0);
    mitm_buf_init(&next, 0);
    mitm_addon_pretty_url(f->request, &url);
    long n = mitm_pyre_sub(s->re, s->tpl, mitm_buf_data(&url), url.len, &next);
    char why[256];
    /* setting .url also rewrites the Host header: only when the URL really changed */
    if (n > 0 && !mitm_slice_eq(mitm_buf_slice(&url), mitm_buf_slice(&next)) &&
        mitm_addon_set_url(f->request, (const char *)mitm_buf_data(&next), next.len, why, sizeof(why)) < 0)
        mitm_hook_log(env, MITM_LOG_WARN, "map_remote: cannot send %.*s to %.*s: %s", (int)url.len,
                      (const char *)mitm_buf_data(&url), (int)next.len, (const char *)mitm_buf_data(&next),
                      why);
    mitm_buf_free(&url);
    mitm_buf_free(&next);
}

static void hook(void *state, enum mitm_hook h, void *arg, const struct mitm_hook_env *env)
{
    struct mitm_mapremote *m = state;
    struct mitm_flow *f = arg;
    if (!m || h != MITM_HOOK_REQUEST || !f->request || f->response || mitm_addon_flow_dead(f))
        return;
    for (size_t i = 0; i < m->n; i++)
        if (!m->v[i].filter || mitm_filter_match(m->v[i].filter, f))
            map_one(&m->v[i], f, env);
}

const struct mitm_addon mitm_addon_mapremote = {"mapremote", hook};
