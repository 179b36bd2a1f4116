/* Server replay: see serverplayback.h. Behaviour follows mitmproxy's
 * addons/serverplayback.py and http.Response.refresh(). */
#include "base/slice.h"
#include "addon/serverplayback.h"
#include "addon/httputil.h"
#include "core/options.h"
#include "base/alloc.h"
#include "base/date.h"
#include "base/log.h"
#include "flow/flow.h"
#include "flow/flowfile.h"
#include "proto/http/http.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

/* ---- reading flow files ---------------------------------------------------------- */

static void push_flow(struct mitm_flowvec *v, struct mitm_flow *f)
{
    v->v = mitm_realloc(v->v, (v->n + 1) * sizeof(*v->v));
    v->v[v->n++] = f;
}

void mitm_serverplayback_flows_free(struct mitm_flowvec *v)
{
    for (size_t i = 0; i < v->n; i++)
        mitm_flow_unref(v->v[i]);
    free(v->v);
    v->v = NULL;
    v->n = 0;
}

int mitm_serverplayback_read_file(const char *path, struct mitm_flowvec *out, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    struct mitm_flowfile_reader *r = mitm_flowfile_open(fd);
    struct mitm_flowvec got = {0};
    char why[512] = "";
    int rc = 0;
    for (;;) {
        struct mitm_flow *f = NULL;
        int k = mitm_flowfile_next(r, &f, why, sizeof(why));
        if (k == MITM_FLOWFILE_FLOW) {
            push_flow(&got, f);
            continue;
        }
        if (k == MITM_FLOWFILE_HAR)
            snprintf(why, sizeof(why), "HAR files cannot be replayed yet (convert them to a flow file)");
        if (k != MITM_FLOWFILE_EOF) {
            snprintf(err, errlen, "%s: %s", path, why);
            rc = -1;
        }
        break;
    }
    mitm_flowfile_close(r);
    close(fd);
    if (rc < 0) {
        mitm_serverplayback_flows_free(&got);
        return -1;
    }
    for (size_t i = 0; i < got.n; i++)
        push_flow(out, got.v[i]);
    free(got.v);
    return 0;
}

/* ---- the match key ----------------------------------------------------------------- */

/* Each part of the key is a tag byte, a length and the bytes: distinct parts can never run
 * together, as the parts of mitmproxy's repr() of a list cannot. */
static void put(struct mitm_buf *out, char tag, const void *p, size_t n)
{
    uint8_t hdr[9];
    hdr[0] = (uint8_t)tag;
    for (int i = 0; i < 8; i++)
        hdr[1 + i] = (uint8_t)((uint64_t)n >> (8 * i));
    mitm_buf_append(out, hdr, sizeof(hdr));
    mitm_buf_append(out, p, n);
}

static bool in_list(const struct mitm_strvec *l, const char *s, size_t n)
{
    for (size_t i = 0; i < l->n; i++)
        if (strlen(l->v[i]) == n && memcmp(l->v[i], s, n) == 0)
            return true;
    return false;
}

/* urllib.parse.parse_qsl(q, keep_blank_values=True) (separator "&"), emitting each pair
 * whose name is not in ignore as tags kt/vt. Returns the number of pairs emitted. */
static size_t put_qsl(struct mitm_buf *out, const char *q, size_t n, const struct mitm_strvec *ignore,
                      char kt, char vt)
{
    struct mitm_buf k, v;
    mitm_buf_init(&k, 0);
    mitm_buf_init(&v, 0);
    size_t emitted = 0;
    for (size_t i = 0; i <= n;) {
        const char *amp = memchr(q + i, '&', n - i);
        size_t end = amp ? (size_t)(amp - q) : n;
        if (end > i) {
            const char *eq = memchr(q + i, '=', end - i);
            size_t klen = eq ? (size_t)(eq - (q + i)) : end - i;
            k.len = v.len = 0;
            mitm_buf_unquote_plus(&k, q + i, klen);
            if (eq)
                mitm_buf_unquote_plus(&v, eq + 1, end - i - klen - 1);
            if (!in_list(ignore, (const char *)mitm_buf_data(&k), k.len)) {
                put(out, kt, mitm_buf_data(&k), k.len);
                put(out, vt, mitm_buf_data(&v), v.len);
                emitted++;
            }
        }
        i = end + 1;
    }
    mitm_buf_free(&k);
    mitm_buf_free(&v);
    return emitted;
}

/* The path of urllib's urlparse(url): the request path without "?query", "#fragment"
 * and the ";params" of its last segment. */
static size_t url_path_len(const char *path)
{
    size_t n = strcspn(path, "?#");
    const char *slash = NULL;
    for (size_t i = 0; i < n; i++)
        if (path[i] == '/')
            slash = path + i;
    const char *from = slash ? slash : path;
    const char *semi = memchr(from, ';', n - (size_t)(from - path));
    return semi ? (size_t)(semi - path) : n;
}

/* ":" followed by the digits of a port 0..65535 and nothing else. */
static bool valid_port(const char *s)
{
    if (s[0] != ':' || !s[1] || strspn(s + 1, "0123456789") != strlen(s + 1))
        return false;
    size_t lead = strspn(s + 1, "0"); /* int("00080") == 80 */
    return strlen(s + 1 + lead) <= 5 && atol(s + 1) <= 65535;
}

static bool is_h2(const struct mitm_http_request *r)
{
    return r->http_version &&
           (strncmp(r->http_version, "HTTP/2", 6) == 0 || strncmp(r->http_version, "HTTP/3", 6) == 0);
}

/* mitmproxy's Request.pretty_host: the host of the Host header (h2: the authority) when
 * there is one (url.parse_authority with check=False: the whole value when it does not
 * parse), else the destination host. */
static void put_pretty_host(struct mitm_buf *out, const struct mitm_http_request *r)
{
    struct mitm_buf hv;
    mitm_buf_init(&hv, 0);
    char *a = NULL;
    if (is_h2(r) && r->authority && r->authority[0])
        a = mitm_strdup(r->authority);
    else if (mitm_addon_header_joined(&r->headers, "host", &hv) && hv.len)
        a = mitm_strndup((const char *)mitm_buf_data(&hv), hv.len);
    mitm_buf_free(&hv);
    if (!a) {
        put(out, 'h', r->host ? r->host : "", r->host ? strlen(r->host) : 0);
        return;
    }
    /* ^(?P<host>[^:]+|\[.+\])(?::(?P<port>\d+))?$, a valid port; else the whole value */
    size_t n = strlen(a), hl = n;
    const char *hs = a;
    if (a[0] == '[') {
        const char *rb = strrchr(a, ']');
        const char *after = rb ? rb + 1 : NULL;
        if (rb && rb > a + 1 && (!*after || valid_port(after))) {
            hs = a + 1;
            hl = (size_t)(rb - a) - 1;
        }
    } else {
        const char *colon = strchr(a, ':');
        if (colon && colon > a && valid_port(colon))
            hl = (size_t)(colon - a);
    }
    put(out, 'h', hs, hl);
    free(a);
}

static const char *content_type(const struct mitm_http_request *r, struct mitm_buf *tmp)
{
    if (!mitm_addon_header_joined(&r->headers, "content-type", tmp))
        return "";
    mitm_buf_append(tmp, "", 1);
    return (const char *)mitm_buf_data(tmp);
}

static bool contains_ci(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (const char *p = hay; *p; p++)
        if (strncasecmp(p, needle, n) == 0)
            return true;
    return false;
}

/* The boundary parameter of a Content-Type as mitmproxy's parse_content_type reads it
 * (split on ";" and "=", whitespace stripped, quotes kept). */
static bool boundary_of(const char *ct, const char **b, size_t *bl)
{
    const char *semi = strchr(ct, ';');
    const char *slash = strchr(ct, '/');
    if (!slash || (semi && slash > semi))
        return false;
    while (semi) {
        const char *p = semi + 1;
        const char *next = strchr(p, ';');
        size_t seg = next ? (size_t)(next - p) : strlen(p);
        const char *eq = memchr(p, '=', seg);
        if (eq) {
            const char *ks = p, *ke = eq;
            while (ks < ke && (*ks == ' ' || *ks == '\t'))
                ks++;
            while (ke > ks && (ke[-1] == ' ' || ke[-1] == '\t'))
                ke--;
            const char *vs = eq + 1, *ve = p + seg;
            while (vs < ve && (*vs == ' ' || *vs == '\t'))
                vs++;
            while (ve > vs && (ve[-1] == ' ' || ve[-1] == '\t'))
                ve--;
            if (ke - ks == 8 && memcmp(ks, "boundary", 8) == 0) {
                *b = vs; /* the last boundary= wins, as in a Python dict */
                *bl = (size_t)(ve - vs);
            }
        }
        semi = next;
    }
    return *b != NULL;
}

/* Lines of s[0..n) as bytes.splitlines() cuts them (\r\n, \n or \r). */
struct line {
    const char *p;
    size_t n;
};

static size_t split_lines(const char *s, size_t n, struct line **out)
{
    size_t cnt = 0, cap = 0;
    *out = NULL;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && s[j] != '\r' && s[j] != '\n')
            j++;
        if (cnt == cap) {
            cap = cap ? cap * 2 : 8;
            *out = mitm_realloc(*out, cap * sizeof(**out));
        }
        (*out)[cnt++] = (struct line){s + i, j - i};
        if (j < n && s[j] == '\r' && j + 1 < n && s[j + 1] == '\n')
            j++;
        i = j + 1;
    }
    return cnt;
}

/* The first name="..." (preceded by a word boundary) in a line. */
static bool part_name(const struct line *l, const char **name, size_t *nl)
{
    for (size_t i = 0; i + 6 < l->n; i++) {
        if (memcmp(l->p + i, "name=\"", 6) != 0)
            continue;
        char prev = i ? l->p[i - 1] : ' ';
        bool word = (prev >= 'a' && prev <= 'z') || (prev >= 'A' && prev <= 'Z') ||
                    (prev >= '0' && prev <= '9') || prev == '_';
        if (word)
            continue;
        const char *q = memchr(l->p + i + 6, '"', l->n - i - 6);
        if (q && q > l->p + i + 6) {
            *name = l->p + i + 6;
            *nl = (size_t)(q - *name);
            return true;
        }
    }
    return false;
}

/* One multipart section (mitmproxy multipart.decode_multipart): returns 1 and appends a
 * field, 0 if the section holds none, -1 if it has no blank line (mitmproxy's ValueError:
 * the whole form is then unreadable). */
static int multipart_section(const char *s, size_t n, const struct mitm_strvec *ignore,
                             struct mitm_buf *fields)
{
    struct line *ls;
    size_t cnt = split_lines(s, n, &ls);
    int rc = 0;
    const char *name;
    size_t nl;
    if (cnt > 1 && !(ls[0].n >= 2 && memcmp(ls[0].p, "--", 2) == 0) && part_name(&ls[1], &name, &nl)) {
        size_t blank = 2;
        while (blank < cnt && ls[blank].n)
            blank++;
        if (blank == cnt) {
            rc = -1;
        } else {
            rc = 1;
            if (!in_list(ignore, name, nl)) {
                put(fields, 'F', name, nl);
                size_t total = 0;
                for (size_t i = blank + 1; i < cnt; i++)
                    total += ls[i].n;
                uint8_t hdr[9] = {'G'};
                for (int i = 0; i < 8; i++)
                    hdr[1 + i] = (uint8_t)((uint64_t)total >> (8 * i));
                mitm_buf_append(fields, hdr, sizeof(hdr));
                for (size_t i = blank + 1; i < cnt; i++) /* the lines joined without separators */
                    mitm_buf_append(fields, ls[i].p, ls[i].n);
            }
        }
    }
    free(ls);
    return rc;
}

/* Multipart form fields minus ignored names into out; returns the number of fields the
 * form has (0: not a readable multipart form). */
static size_t put_multipart(struct mitm_buf *out, const struct mitm_http_request *r, const char *ct,
                            const struct mitm_strvec *ignore)
{
    const char *b = NULL;
    size_t bl = 0;
    if (!contains_ci(ct, "multipart/form-data") || r->content_missing || !boundary_of(ct, &b, &bl))
        return 0;
    char *delim = mitm_alloc(bl + 3);
    memcpy(delim, "--", 2);
    memcpy(delim + 2, b, bl);
    size_t dl = bl + 2;
    const char *s = (const char *)mitm_buf_data(&r->content);
    size_t n = r->content.len, fields = 0;
    struct mitm_buf tmp;
    mitm_buf_init(&tmp, 0);
    for (size_t i = 0; i <= n;) {
        const char *hit = dl ? memmem(s + i, n - i, delim, dl) : NULL;
        size_t end = hit ? (size_t)(hit - s) : n;
        int k = multipart_section(s + i, end - i, ignore, &tmp);
        if (k < 0) {
            fields = 0;
            break;
        }
        fields += (size_t)k;
        i = end + dl;
        if (!hit)
            break;
    }
    if (fields)
        mitm_buf_append(out, mitm_buf_data(&tmp), tmp.len);
    mitm_buf_free(&tmp);
    free(delim);
    return fields;
}

static void put_content(struct mitm_buf *out, const struct mitm_http_request *r, const struct mitm_options *o)
{
    if (o->server_replay_ignore_content)
        return;
    const struct mitm_strvec *ign = &o->server_replay_ignore_payload_params;
    if (ign->n) {
        struct mitm_buf ctb;
        mitm_buf_init(&ctb, 0);
        const char *ct = content_type(r, &ctb);
        bool done = put_multipart(out, r, ct, ign) > 0;
        if (!done && contains_ci(ct, "application/x-www-form-urlencoded") && !r->content_missing) {
            /* an empty form falls through to the raw body, as in mitmproxy */
            struct mitm_buf form;
            mitm_buf_init(&form, 0);
            size_t all = put_qsl(&form, (const char *)mitm_buf_data(&r->content), r->content.len,
                                 &(struct mitm_strvec){0}, 'U', 'W');
            if (all) {
                put_qsl(out, (const char *)mitm_buf_data(&r->content), r->content.len, ign, 'U', 'W');
                done = true;
            }
            mitm_buf_free(&form);
        }
        mitm_buf_free(&ctb);
        if (done)
            return;
    }
    if (r->content_missing)
        put(out, 'n', "", 0); /* str(None) */
    else
        put(out, 'c', mitm_buf_data(&r->content), r->content.len);
}

void mitm_serverplayback_key(const struct mitm_http_request *r, const struct mitm_options *o,
                             struct mitm_buf *out)
{
    const char *path = r->path ? r->path : "";
    put(out, 's', r->scheme ? r->scheme : "", r->scheme ? strlen(r->scheme) : 0);
    put(out, 'm', r->method ? r->method : "", r->method ? strlen(r->method) : 0);
    put(out, 'p', path, url_path_len(path));
    put_content(out, r, o);
    if (!o->server_replay_ignore_host)
        put_pretty_host(out, r);
    if (!o->server_replay_ignore_port) {
        uint8_t port[2] = {(uint8_t)(r->port >> 8), (uint8_t)r->port};
        put(out, 'o', port, 2);
    }
    const char *q = strchr(path, '?');
    if (q) {
        q++;
        put_qsl(out, q, strcspn(q, "#"), &o->server_replay_ignore_params, 'k', 'v');
    }
    const struct mitm_strvec *uh = &o->server_replay_use_headers;
    if (uh->n) {
        struct mitm_buf hv;
        mitm_buf_init(&hv, 0);
        for (size_t i = 0; i < uh->n; i++) {
            put(out, 'H', uh->v[i], strlen(uh->v[i]));
            if (mitm_addon_header_joined(&r->headers, uh->v[i], &hv))
                put(out, 'x', mitm_buf_data(&hv), hv.len);
            else
                put(out, 'X', "", 0); /* None */
        }
        mitm_buf_free(&hv);
    }
}

/* ---- the index ----------------------------------------------------------------------- */

struct entry {
    uint8_t *key;
    size_t key_len;
    uint64_t hash;
    struct mitm_flow **flows; /* FIFO: flows[head..n) */
    size_t head, n, cap;
    struct entry *next; /* bucket chain */
};

struct mitm_serverplayback {
    pthread_mutex_t lock;
    const struct mitm_options *o;
    struct entry **buckets;
    size_t nbuckets;
    size_t nkeys;  /* keys with at least one flow (mitmproxy: len(flowmap)) */
    size_t nflows; /* flows in all lists */
};

static uint64_t fnv1a(const uint8_t *p, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 1099511628211ull;
    }
    return h;
}

struct mitm_serverplayback *mitm_serverplayback_new(const struct mitm_options *o)
{
    struct mitm_serverplayback *sp = mitm_calloc(1, sizeof(*sp));
    pthread_mutex_init(&sp->lock, NULL);
    sp->o = o;
    sp->nbuckets = 64;
    sp->buckets = mitm_calloc(sp->nbuckets, sizeof(*sp->buckets));
    return sp;
}

static void entry_free(struct entry *e)
{
    for (size_t i = e->head; i < e->n; i++)
        mitm_flow_unref(e->flows[i]);
    free(e->flows);
    free(e->key);
    free(e);
}

void mitm_serverplayback_free(struct mitm_serverplayback *sp)
{
    if (!sp)
        return;
    for (size_t b = 0; b < sp->nbuckets; b++)
        for (struct entry *e = sp->buckets[b], *n; e; e = n) {
            n = e->next;
            entry_free(e);
        }
    free(sp->buckets);
    pthread_mutex_destroy(&sp->lock);
    free(sp);
}

void mitm_serverplayback_clear(struct mitm_serverplayback *sp)
{
    pthread_mutex_lock(&sp->lock);
    for (size_t b = 0; b < sp->nbuckets; b++) {
        for (struct entry *e = sp->buckets[b], *n; e; e = n) {
            n = e->next;
            entry_free(e); /* a worker holding an answer keeps its own reference */
        }
        sp->buckets[b] = NULL;
    }
    sp->nkeys = sp->nflows = 0;
    pthread_mutex_unlock(&sp->lock);
}

static struct entry **find(struct mitm_serverplayback *sp, const uint8_t *key, size_t len, uint64_t h)
{
    struct entry **pp = &sp->buckets[h % sp->nbuckets];
    for (; *pp; pp = &(*pp)->next)
        if ((*pp)->hash == h && (*pp)->key_len == len && memcmp((*pp)->key, key, len) == 0)
            break;
    return pp;
}

static void grow(struct mitm_serverplayback *sp)
{
    size_t nb = sp->nbuckets * 4;
    struct entry **b = mitm_calloc(nb, sizeof(*b));
    for (size_t i = 0; i < sp->nbuckets; i++)
        for (struct entry *e = sp->buckets[i], *n; e; e = n) {
            n = e->next;
            e->next = b[e->hash % nb];
            b[e->hash % nb] = e;
        }
    free(sp->buckets);
    sp->buckets = b;
    sp->nbuckets = nb;
}

size_t mitm_serverplayback_add(struct mitm_serverplayback *sp, struct mitm_flow *const *flows, size_t n)
{
    size_t added = 0;
    struct mitm_buf key;
    mitm_buf_init(&key, 0);
    pthread_mutex_lock(&sp->lock);
    for (size_t i = 0; i < n; i++) {
        struct mitm_flow *f = flows[i];
        if (f->type != MITM_FLOW_HTTP || !f->request)
            continue;
        key.len = 0;
        key.off = 0;
        mitm_serverplayback_key(f->request, sp->o, &key);
        uint64_t h = fnv1a(mitm_buf_data(&key), key.len);
        struct entry **pp = find(sp, mitm_buf_data(&key), key.len, h);
        if (!*pp) {
            struct entry *e = mitm_calloc(1, sizeof(*e));
            e->key = mitm_memdup(mitm_buf_data(&key), key.len);
            e->key_len = key.len;
            e->hash = h;
            *pp = e;
            sp->nkeys++;
        }
        struct entry *e = *pp;
        if (e->n == e->cap) {
            e->cap = e->cap ? e->cap * 2 : 2;
            e->flows = mitm_realloc(e->flows, e->cap * sizeof(*e->flows));
        }
        e->flows[e->n++] = mitm_flow_ref(f);
        sp->nflows++;
        added++;
        if (sp->nkeys > sp->nbuckets)
            grow(sp);
    }
    pthread_mutex_unlock(&sp->lock);
    mitm_buf_free(&key);
    return added;
}

size_t mitm_serverplayback_count(struct mitm_serverplayback *sp)
{
    pthread_mutex_lock(&sp->lock);
    size_t n = sp->nflows;
    pthread_mutex_unlock(&sp->lock);
    return n;
}

/* A recorded flow can answer if it has a response whose body was kept. */
static bool answers(const struct mitm_flow *f)
{
    return f->response && !f->response->content_missing;
}

/* Under the lock: mitmproxy's next_flow on the entry at *pp. */
static struct mitm_flow *take(struct mitm_serverplayback *sp, struct entry **pp, bool reuse)
{
    struct entry *e = *pp;
    struct mitm_flow *ret = NULL;
    if (reuse) {
        for (size_t i = e->head; i < e->n && !ret; i++)
            if (answers(e->flows[i]))
                ret = mitm_flow_ref(e->flows[i]);
        return ret;
    }
    while (e->head < e->n && !ret) { /* pop until one can answer; the others are dropped */
        struct mitm_flow *f = e->flows[e->head++];
        sp->nflows--;
        if (answers(f))
            ret = f; /* the index's reference becomes the caller's */
        else
            mitm_flow_unref(f);
    }
    if (e->head == e->n) {
        *pp = e->next;
        entry_free(e);
        sp->nkeys--;
    }
    return ret;
}

struct mitm_flow *mitm_serverplayback_next(struct mitm_serverplayback *sp, const struct mitm_flow *f)
{
    if (!f->request)
        return NULL;
    struct mitm_buf key;
    mitm_buf_init(&key, 0);
    mitm_serverplayback_key(f->request, sp->o, &key);
    uint64_t h = fnv1a(mitm_buf_data(&key), key.len);
    bool reuse = sp->o->server_replay_reuse || sp->o->server_replay_nopop;
    pthread_mutex_lock(&sp->lock);
    struct entry **pp = find(sp, mitm_buf_data(&key), key.len, h);
    struct mitm_flow *ret = *pp ? take(sp, pp, reuse) : NULL;
    pthread_mutex_unlock(&sp->lock);
    mitm_buf_free(&key);
    return ret;
}

/* ---- refresh ----------------------------------------------------------------------- */

/* Replace a header's value (keeping name, position and spelling). */
static void set_value(struct mitm_header *h, const char *v, size_t vlen)
{
    char *mem = mitm_alloc(h->name_len + vlen + 2);
    memcpy(mem, h->name, h->name_len);
    mem[h->name_len] = 0;
    memcpy(mem + h->name_len + 1, v, vlen);
    mem[h->name_len + 1 + vlen] = 0;
    free(h->name);
    h->name = mem;
    h->value = mem + h->name_len + 1;
    h->value_len = vlen;
}

static bool shift_date(const char *v, size_t n, double delta, char *out, size_t cap)
{
    long long t;
    if (mitm_date_parse_rfc2822(v, n, &t) < 0)
        return false;
    return mitm_date_format_imf((long long)floor((double)t + delta), out, cap) > 0;
}

/* cookies.refresh_set_cookie_header for one Set-Cookie value: the expires attribute moves
 * by delta; an unparseable one is dropped. Returns false to keep the value as it is (no
 * name or value: mitmproxy's ValueError). */
static bool refresh_cookie(const char *v, size_t n, double delta, struct mitm_buf *out)
{
    const char *end = v + n, *semi = memchr(v, ';', n);
    const char *pair_end = semi ? semi : end, *eq = memchr(v, '=', (size_t)(pair_end - v));
    const char *ne, *ve;
    if (!eq)
        return false;
    const char *ns = mitm_trim_ows(v, eq, &ne), *vs = mitm_trim_ows(eq + 1, pair_end, &ve);
    if (ns == ne || vs == ve)
        return false;
    mitm_buf_append(out, v, (size_t)(pair_end - v));
    for (const char *p = semi; p && p < end;) {
        const char *next = memchr(p + 1, ';', (size_t)(end - p - 1));
        const char *seg_end = next ? next : end, *aeq = memchr(p + 1, '=', (size_t)(seg_end - p - 1));
        const char *ke, *ae;
        const char *ks = mitm_trim_ows(p + 1, aeq ? aeq : seg_end, &ke);
        if (aeq && ke - ks == 7 && strncasecmp(ks, "expires", 7) == 0) {
            const char *as = mitm_trim_ows(aeq + 1, seg_end, &ae);
            char date[64];
            if (shift_date(as, (size_t)(ae - as), delta, date, sizeof(date))) {
                mitm_buf_append(out, p, (size_t)(as - p));
                mitm_buf_append(out, date, strlen(date));
                mitm_buf_append(out, ae, (size_t)(seg_end - ae));
            } /* else: dropped */
        } else {
            mitm_buf_append(out, p, (size_t)(seg_end - p));
        }
        p = next;
    }
    return true;
}

void mitm_serverplayback_refresh(struct mitm_http_response *r, double now)
{
    double delta = now - r->timestamp_start;
    static const char *const names[] = {"date", "expires", "last-modified"};
    for (size_t k = 0; k < 3; k++) {
        long i = mitm_headers_find(&r->headers, names[k], 0);
        char date[64];
        if (i >= 0 && shift_date(r->headers.v[i].value, r->headers.v[i].value_len, delta, date, sizeof(date)))
            mitm_headers_set(&r->headers, names[k], date, strlen(date));
    }
    struct mitm_buf nv;
    mitm_buf_init(&nv, 0);
    for (long i = mitm_headers_find(&r->headers, "set-cookie", 0); i >= 0;
         i = mitm_headers_find(&r->headers, "set-cookie", (size_t)i + 1)) {
        nv.len = nv.off = 0;
        struct mitm_header *h = &r->headers.v[i];
        if (refresh_cookie(h->value, h->value_len, delta, &nv))
            set_value(h, (const char *)mitm_buf_data(&nv), nv.len);
    }
    mitm_buf_free(&nv);
}

/* ---- the request hook ------------------------------------------------------------------ */

static struct mitm_headers *copy_headers(const struct mitm_headers *h)
{
    if (!h)
        return NULL;
    struct mitm_headers *c = mitm_calloc(1, sizeof(*c));
    mitm_headers_copy(c, h);
    return c;
}

static struct mitm_http_response *copy_response(const struct mitm_http_response *r)
{
    struct mitm_http_response *c = mitm_http_response_new();
    c->http_version = mitm_strdup(r->http_version ? r->http_version : "HTTP/1.1");
    c->status_code = r->status_code;
    c->reason = mitm_strdup(r->reason ? r->reason : "");
    mitm_headers_free(&c->headers);
    mitm_headers_copy(&c->headers, &r->headers);
    mitm_buf_append(&c->content, mitm_buf_data(&r->content), r->content.len);
    c->content_missing = r->content_missing;
    c->trailers = copy_headers(r->trailers);
    c->timestamp_start = r->timestamp_start;
    c->timestamp_end = r->timestamp_end;
    return c;
}

static void set_replay(struct mitm_flow *f)
{
    free(f->is_replay);
    f->is_replay = mitm_strdup("response");
}

void mitm_serverplayback_request(struct mitm_serverplayback *sp, struct mitm_flow *f,
                                 const struct mitm_hook_env *env)
{
    double now = env->now;
    if (!f->request || f->response)
        return;
    pthread_mutex_lock(&sp->lock);
    bool empty = sp->nkeys == 0;
    pthread_mutex_unlock(&sp->lock);
    if (empty)
        return;
    const struct mitm_options *o = sp->o;
    struct mitm_flow *rec = mitm_serverplayback_next(sp, f);
    if (rec) {
        struct mitm_http_response *r = copy_response(rec->response);
        mitm_flow_unref(rec);
        if (o->server_replay_refresh)
            mitm_serverplayback_refresh(r, now);
        f->response = r;
        set_replay(f);
        return;
    }
    char url[2048];
    if (o->server_replay_kill_extra || strcmp(o->server_replay_extra, "kill") == 0) {
        mitm_http_request_url(f->request, false, url, sizeof(url));
        mitm_hook_log(env, MITM_LOG_WARN, "server_playback: killed non-replay request %s", url);
        f->killed = true;
    } else if (strcmp(o->server_replay_extra, "forward") != 0) {
        int status = atoi(o->server_replay_extra);
        mitm_http_request_url(f->request, false, url, sizeof(url));
        mitm_hook_log(env, MITM_LOG_WARN, "server_playback: returned %d non-replay request %s", status, url);
        f->response = mitm_http_response_make(status, NULL, NULL);
        f->response->timestamp_start = f->response->timestamp_end = now;
        set_replay(f);
    }
}

/* ---- configuration and the addon --------------------------------------------------- */

int mitm_serverplayback_configure(const struct mitm_options *o, struct mitm_serverplayback **out, char *err,
                                  size_t errlen)
{
    *out = NULL;
    if (o->server_replay_kill_extra)
        mitm_log(MITM_LOG_WARN, NULL,
                 "server_replay_kill_extra has been deprecated, please update your config to use "
                 "server_replay_extra='kill'.");
    if (o->server_replay_nopop)
        mitm_log(MITM_LOG_ERROR, NULL,
                 "server_replay_nopop has been renamed to server_replay_reuse, please update your config.");
    if (!o->server_replay.n)
        return 0;
    struct mitm_flowvec flows = {0};
    for (size_t i = 0; i < o->server_replay.n; i++)
        if (mitm_serverplayback_read_file(o->server_replay.v[i], &flows, err, errlen) < 0) {
            mitm_serverplayback_flows_free(&flows);
            return -1;
        }
    *out = mitm_serverplayback_new(o);
    mitm_serverplayback_add(*out, flows.v, flows.n);
    mitm_serverplayback_flows_free(&flows);
    return 0;
}

/* state: the index (struct mitm_serverplayback *), or NULL. */
static void hook(void *state, enum mitm_hook h, void *arg, const struct mitm_hook_env *env)
{
    struct mitm_serverplayback *sp = state;
    if (h != MITM_HOOK_REQUEST || !sp)
        return;
    mitm_serverplayback_request(sp, arg, env);
}

const struct mitm_addon mitm_addon_serverplayback = {"serverplayback", hook};
