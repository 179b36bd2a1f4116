/* stickycookie: see stickycookie.h. */
#include "addon/stickycookie.h"
#include "addon/cookies.h"
#include "addon/httputil.h"
#include "addon/spec.h"
#include "base/alloc.h"
#include "core/options.h"
#include "filter/filter.h"
#include "proto/http/http.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* One (domain, port, path) entry of the cookie jar with its cookies in order. */
struct origin {
    char *domain, *path;
    unsigned port;
    struct mitm_cookie_pair *cookies;
    size_t n;
    size_t bytes;
};

struct mitm_stickycookie {
    struct mitm_filter *flt;
    pthread_mutex_t lock;
    struct origin *jar; /* oldest first */
    size_t njar, jar_bytes;
};

int mitm_stickycookie_configure(const struct mitm_options *o, struct mitm_stickycookie **out, char *err,
                                size_t errlen)
{
    *out = NULL;
    if (!o->stickycookie || !*o->stickycookie)
        return 0;
    struct mitm_filter *f = mitm_spec_filter(mitm_slice_str(o->stickycookie), err, errlen);
    if (!f)
        return -1;
    struct mitm_stickycookie *s = mitm_calloc(1, sizeof(*s));
    s->flt = f;
    pthread_mutex_init(&s->lock, NULL);
    *out = s;
    return 0;
}

static void origin_clear(struct origin *o)
{
    for (size_t i = 0; i < o->n; i++) {
        free(o->cookies[i].key);
        free(o->cookies[i].value);
    }
    free(o->cookies);
    free(o->domain);
    free(o->path);
}

void mitm_stickycookie_free(struct mitm_stickycookie *s)
{
    if (!s)
        return;
    mitm_filter_free(s->flt);
    for (size_t i = 0; i < s->njar; i++)
        origin_clear(&s->jar[i]);
    free(s->jar);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

/* http.cookiejar.is_HDN */
static bool is_hdn(const char *t)
{
    size_t n = strlen(t);
    if (!n || t[0] == '.' || t[n - 1] == '.')
        return false;
    size_t d = n;
    while (d > 0 && t[d - 1] >= '0' && t[d - 1] <= '9')
        d--;
    return !(d < n && d > 0 && t[d - 1] == '.'); /* IPV4_RE: \.\d+$ */
}

static bool cookiejar_domain_match(const char *a, const char *b)
{
    if (strcasecmp(a, b) == 0)
        return true;
    if (!is_hdn(a))
        return false;
    size_t al = strlen(a), bl = strlen(b);
    if (bl >= al || strcasecmp(a + al - bl, b) != 0) /* A has the form NB, N not empty */
        return false;
    char *lower = mitm_strdup(b + (bl ? 1 : 0));
    bool ok = b[0] == '.' && is_hdn(lower);
    free(lower);
    return ok;
}

bool mitm_stickycookie_domain_match(const char *a, const char *b)
{
    if (cookiejar_domain_match(a, b))
        return true;
    size_t s = strspn(b, "."), n = strlen(b);
    while (n > s && b[n - 1] == '.')
        n--;
    char *stripped = mitm_strndup(b + s, n - s);
    bool ok = cookiejar_domain_match(a, stripped);
    free(stripped);
    return ok;
}

static size_t pair_bytes(const char *k, const char *v)
{
    return strlen(k) + (v ? strlen(v) : 0) + 16;
}

static void jar_drop(struct mitm_stickycookie *s, size_t i)
{
    s->jar_bytes -= s->jar[i].bytes;
    origin_clear(&s->jar[i]);
    memmove(&s->jar[i], &s->jar[i + 1], (s->njar - i - 1) * sizeof(*s->jar));
    s->njar--;
}

static long jar_find(const struct mitm_stickycookie *s, const char *domain, unsigned port, const char *path)
{
    for (size_t i = 0; i < s->njar; i++)
        if (s->jar[i].port == port && strcmp(s->jar[i].domain, domain) == 0 &&
            strcmp(s->jar[i].path, path) == 0)
            return (long)i;
    return -1;
}

static void cookie_del(struct mitm_stickycookie *s, long oi, const char *name)
{
    struct origin *o = &s->jar[oi];
    for (size_t k = 0; k < o->n; k++) {
        if (strcmp(o->cookies[k].key, name) != 0)
            continue;
        size_t b = pair_bytes(o->cookies[k].key, o->cookies[k].value);
        o->bytes -= b;
        s->jar_bytes -= b;
        free(o->cookies[k].key);
        free(o->cookies[k].value);
        memmove(&o->cookies[k], &o->cookies[k + 1], (o->n - k - 1) * sizeof(*o->cookies));
        o->n--;
        break;
    }
    if (!o->n)
        jar_drop(s, (size_t)oi);
}

/* jar[(domain, port, path)][name] = value, within the bounds. Entries keep the order they
 * were made in (a Python dict's), which is the order of the Cookie header; the oldest
 * goes first when the jar is full. */
static void cookie_set(struct mitm_stickycookie *s, const char *domain, unsigned port, const char *path,
                       const char *name, const char *value)
{
    size_t b = pair_bytes(name, value);
    if (b > MITM_STICKYCOOKIE_MAX_BYTES / 4)
        return;
    long oi = jar_find(s, domain, port, path);
    if (oi >= 0) {
        struct origin *o = &s->jar[oi];
        for (size_t k = 0; k < o->n; k++)
            if (strcmp(o->cookies[k].key, name) == 0) { /* an update keeps its place */
                size_t old = pair_bytes(o->cookies[k].key, o->cookies[k].value);
                free(o->cookies[k].value);
                o->cookies[k].value = value ? mitm_strdup(value) : NULL;
                o->bytes += b - old;
                s->jar_bytes += b - old;
                goto Bound;
            }
    } else {
        if (s->njar == MITM_STICKYCOOKIE_MAX_ORIGINS)
            jar_drop(s, 0);
        s->jar = mitm_realloc(s->jar, (s->njar + 1) * sizeof(*s->jar));
        s->jar[s->njar] = (struct origin){mitm_strdup(domain), mitm_strdup(path), port, NULL, 0, 0};
        oi = (long)s->njar++;
    }
    struct origin *o = &s->jar[oi];
    if (o->n == MITM_STICKYCOOKIE_MAX_COOKIES) {
        size_t ob = pair_bytes(o->cookies[0].key, o->cookies[0].value);
        o->bytes -= ob;
        s->jar_bytes -= ob;
        free(o->cookies[0].key);
        free(o->cookies[0].value);
        memmove(&o->cookies[0], &o->cookies[1], (o->n - 1) * sizeof(*o->cookies));
        o->n--;
    }
    o->cookies = mitm_realloc(o->cookies, (o->n + 1) * sizeof(*o->cookies));
    o->cookies[o->n++] = (struct mitm_cookie_pair){mitm_strdup(name), value ? mitm_strdup(value) : NULL};
    o->bytes += b;
    s->jar_bytes += b;
Bound:
    while (s->jar_bytes > MITM_STICKYCOOKIE_MAX_BYTES && s->njar > 1)
        jar_drop(s, 0);
}

static void store_cookie(struct mitm_stickycookie *s, const struct mitm_flow *f,
                         const struct mitm_setcookie *c, double now)
{
    const struct mitm_http_request *r = f->request;
    bool found;
    const char *domain = mitm_setcookie_attr(c, "domain", &found);
    if (!found || !domain)
        domain = found ? "" : r->host;
    const char *path = mitm_setcookie_attr(c, "path", &found);
    if (!found || !path)
        path = found ? "" : "/";
    if (!mitm_stickycookie_domain_match(r->host, domain))
        return;
    if (mitm_setcookie_expired(c, now)) {
        long oi = jar_find(s, domain, r->port, path);
        if (oi >= 0)
            cookie_del(s, oi, c->name);
    } else {
        cookie_set(s, domain, r->port, path, c->name, c->value);
    }
}

static void cookie_response(struct mitm_stickycookie *s, struct mitm_flow *f, double now)
{
    const struct mitm_headers *h = &f->response->headers;
    struct mitm_setcookies all = {0};
    for (long i = mitm_headers_find(h, "set-cookie", 0); i >= 0;
         i = mitm_headers_find(h, "set-cookie", (size_t)i + 1))
        mitm_setcookie_parse(h->v[i].value, h->v[i].value_len, &all);
    pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i < all.n; i++)
        store_cookie(s, f, &all.v[i], now);
    pthread_mutex_unlock(&s->lock);
    mitm_setcookies_free(&all);
}

static void cookie_request(struct mitm_stickycookie *s, struct mitm_flow *f)
{
    struct mitm_http_request *r = f->request;
    if (!mitm_filter_match(s->flt, f))
        return;
    struct mitm_buf v;
    mitm_buf_init(&v, 0);
    const char *path = r->path ? r->path : "";
    pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i < s->njar; i++) {
        const struct origin *o = &s->jar[i];
        if (!mitm_stickycookie_domain_match(r->host, o->domain) || r->port != o->port ||
            strncmp(path, o->path, strlen(o->path)) != 0)
            continue;
        if (v.len)
            mitm_buf_append(&v, "; ", 2);
        mitm_cookie_format(o->cookies, o->n, &v);
    }
    pthread_mutex_unlock(&s->lock);
    if (v.len) {
        mitm_addon_meta_true(f, "stickycookie");
        mitm_headers_set(&r->headers, "cookie", (const char *)mitm_buf_data(&v), v.len);
    }
    mitm_buf_free(&v);
}

static void cookie_hook(void *state, enum mitm_hook h, void *arg, const struct mitm_hook_env *env)
{
    struct mitm_stickycookie *s = state;
    if (!s || (h != MITM_HOOK_RESPONSE && h != MITM_HOOK_REQUEST))
        return; /* other hooks carry other payloads than a flow */
    struct mitm_flow *f = arg;
    if (!f->request || !f->request->host)
        return;
    if (h == MITM_HOOK_RESPONSE && f->response)
        cookie_response(s, f, env->now);
    else if (h == MITM_HOOK_REQUEST)
        cookie_request(s, f);
}

const struct mitm_addon mitm_addon_stickycookie = {"stickycookie", cookie_hook};
