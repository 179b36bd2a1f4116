/* map_local: see maplocal.h. */
#include "addon/maplocal.h"
#include "addon/httputil.h"
#include "addon/mimetypes.h"
#include "addon/pyre.h"
#include "addon/spec.h"
#include "base/alloc.h"
#include "base/err.h"
#include "base/log.h"
#include "base/slice.h"
#include "core/options.h"
#include "filter/filter.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct local_spec {
    struct mitm_filter *filter;
    struct mitm_pyre *re;
    char *path; /* resolved */
};

struct mitm_maplocal {
    struct local_spec *v;
    size_t n;
    struct mitm_mimetypes *types;
};

/* A list of candidate paths (bytes; a NUL from %00 makes one that never exists). */
struct cands {
    struct mitm_buf *v;
    size_t n;
};

void mitm_maplocal_free(struct mitm_maplocal *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n; i++) {
        mitm_filter_free(m->v[i].filter);
        mitm_pyre_free(m->v[i].re);
        free(m->v[i].path);
    }
    free(m->v);
    mitm_mimetypes_free(m->types);
    free(m);
}

static int parse_one(const char *option, struct local_spec *s, char *err, size_t errlen)
{
    struct mitm_slice subj, repl;
    char why[512];
    if (mitm_spec_parse(option, &s->filter, &subj, &repl, err, errlen) < 0)
        return -1;
    if (!(s->re = mitm_pyre_compile(subj.base, subj.len, 0, why, sizeof(why)))) {
        struct mitm_buf r;
        mitm_buf_init(&r, 0);
        mitm_py_repr(subj.base, subj.len, false, &r);
        mitm_errf(err, errlen, "Invalid regular expression %.*s (%s)", (int)r.len,
                  (const char *)mitm_buf_data(&r), why);
        mitm_buf_free(&r);
        return -1;
    }
    char *given = mitm_strndup((const char *)repl.base, repl.len);
    char *full = mitm_options_expanduser(given);
    char resolved[PATH_MAX];
    int rc = 0;
    if (!realpath(full, resolved)) {
        int e = errno;
        /* Python's resolve(strict=True) names the first component that is missing */
        char *bad = mitm_strdup(full);
        struct stat st;
        for (char *p = bad + (bad[0] == '/'); *p; p++) {
            if (*p != '/')
                continue;
            *p = 0;
            if (lstat(bad, &st) < 0) {
                e = errno;
                break;
            }
            *p = '/';
        }
        struct mitm_buf r;
        mitm_buf_init(&r, 0);
        mitm_py_repr(bad, strlen(bad), false, &r);
        free(bad);
        mitm_errf(err, errlen, "Invalid file path: %s ([Errno %d] %s: %.*s)", given, e, strerror(e),
                  (int)r.len, (const char *)mitm_buf_data(&r));
        mitm_buf_free(&r);
        rc = -1;
    } else {
        s->path = mitm_strdup(resolved);
    }
    free(given);
    free(full);
    return rc;
}

int mitm_maplocal_configure(const struct mitm_options *o, struct mitm_maplocal **out, char *err,
                            size_t errlen)
{
    *out = NULL;
    if (!o->map_local.n)
        return 0;
    struct mitm_maplocal *m = mitm_calloc(1, sizeof(*m));
    m->v = mitm_calloc(o->map_local.n, sizeof(*m->v));
    for (size_t i = 0; i < o->map_local.n; i++) {
        char why[1024];
        if (parse_one(o->map_local.v[i], &m->v[m->n++], why, sizeof(why)) < 0) {
            mitm_errf(err, errlen, "Cannot parse map_local option %s: %s", o->map_local.v[i], why);
            mitm_maplocal_free(m);
            return -1;
        }
    }
    m->types = mitm_mimetypes_new(true);
    *out = m;
    return 0;
}

/* ---- candidates ---- */

static void cands_add(struct cands *c, const void *p, size_t n, const char *tail)
{
    c->v = mitm_realloc(c->v, (c->n + 1) * sizeof(*c->v));
    struct mitm_buf *b = &c->v[c->n++];
    mitm_buf_init(b, 0);
    mitm_buf_append(b, p, n);
    if (tail)
        mitm_buf_append(b, tail, strlen(tail));
    mitm_buf_append(b, "", 1); /* a NUL after the path, for stat() and open() */
    b->len--;
}

static void cands_free(struct cands *c)
{
    for (size_t i = 0; i < c->n; i++)
        mitm_buf_free(&c->v[i]);
    free(c->v);
    c->v = NULL;
    c->n = 0;
}

/* Length of the valid UTF-8 sequence at s (1 for ASCII), or 0 (the maximal invalid
 * prefix length is returned in *bad, at least 1). */
static size_t utf8_seq(const uint8_t *s, size_t n, size_t *bad)
{
    uint8_t c = s[0];
    size_t len = c < 0x80                   ? 1
                 : (c >= 0xc2 && c <= 0xdf) ? 2
                 : (c >= 0xe0 && c <= 0xef) ? 3
                 : (c >= 0xf0 && c <= 0xf4) ? 4
                                            : 0;
    *bad = 1;
    if (len <= 1)
        return len;
    for (size_t i = 1; i < len; i++) {
        uint8_t lo = 0x80, hi = 0xbf;
        if (i == 1) {
            lo = c == 0xe0 ? 0xa0 : c == 0xf0 ? 0x90 : 0x80;
            hi = c == 0xed ? 0x9f : c == 0xf4 ? 0x8f : 0xbf;
        }
        if (i >= n || s[i] < lo || s[i] > hi) {
            *bad = i; /* the maximal subpart is replaced by one U+FFFD */
            return 0;
        }
    }
    return len;
}

/* urllib.parse.unquote: %XX runs decoded as UTF-8 with errors="replace". */
static void unquote(const uint8_t *s, size_t n, struct mitm_buf *out)
{
    struct mitm_buf run;
    mitm_buf_init(&run, 0);
    for (size_t i = 0; i <= n; i++) {
        int pct = mitm_pct_at(s, n, i);
        if (pct >= 0) {
            uint8_t b = (uint8_t)pct;
            mitm_buf_append(&run, &b, 1);
            i += 2;
            continue;
        }
        const uint8_t *r = mitm_buf_data(&run);
        for (size_t k = 0; k < run.len;) {
            size_t bad, l = utf8_seq(r + k, run.len - k, &bad);
            if (l) {
                mitm_buf_append(out, r + k, l);
                k += l;
            } else {
                mitm_buf_append(out, "\xef\xbf\xbd", 3);
                k += bad;
            }
        }
        run.len = 0;
        if (i < n)
            mitm_buf_append(out, s + i, 1);
    }
    mitm_buf_free(&run);
}

/* re.sub(r"[^0-9a-zA-Z\-_.=(),/]", "_", s): one "_" per character (a valid UTF-8 sequence,
 * or a byte that is not part of one). */
static void escape_name(const uint8_t *s, size_t n, struct mitm_buf *out)
{
    for (size_t i = 0; i < n;) {
        uint8_t c = s[i];
        if ((c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') ||
            (c && strchr("-_.=(),/", c))) {
            mitm_buf_append(out, &c, 1);
            i++;
            continue;
        }
        size_t bad, l = c ? utf8_seq(s + i, n - i, &bad) : 1;
        mitm_buf_append(out, "_", 1);
        i += l ? l : 1;
    }
}

/* _safe_path_join(root, untrusted): root + "/" + the components of untrusted ("" and "."
 * dropped, as pathlib does); false for an absolute path or a ".." component. */
static bool safe_join(const char *root, const uint8_t *u, size_t n, struct mitm_buf *out)
{
    mitm_buf_init(out, 0);
    if (n && u[0] == '/')
        return false;
    mitm_buf_append(out, root, strlen(root));
    for (size_t i = 0; i < n;) {
        const uint8_t *slash = memchr(u + i, '/', n - i);
        size_t end = slash ? (size_t)(slash - u) : n, len = end - i;
        if (len == 2 && u[i] == '.' && u[i + 1] == '.') {
            mitm_buf_free(out);
            return false;
        }
        if (len && !(len == 1 && u[i] == '.')) {
            if (out->len == 0 || mitm_buf_data(out)[out->len - 1] != '/')
                mitm_buf_append(out, "/", 1);
            mitm_buf_append(out, u + i, len);
        }
        i = end + 1;
    }
    return true;
}

/* file_candidates(url, spec), in order of preference. */
static void file_candidates(const struct local_spec *s, const struct mitm_buf *url, struct cands *c)
{
    unsigned g = mitm_pyre_groups(s->re);
    size_t ov[4];
    const uint8_t *u = mitm_buf_data(url);
    if (mitm_pyre_search(s->re, u, url->len, ov, g ? 1 : 0) != 1)
        return;
    const uint8_t *suf = NULL;
    size_t sl = 0;
    if (g) {
        if (ov[2] != SIZE_MAX) {
            suf = u + ov[2];
            sl = ov[3] - ov[2];
        }
    } else {
        suf = u + ov[1];
        sl = url->len - ov[1];
        const uint8_t *q = memchr(suf, '?', sl);
        if (q)
            sl = (size_t)(q - suf);
        while (sl && suf[0] == '/')
            suf++, sl--;
        while (sl && suf[sl - 1] == '/')
            sl--;
    }
    if (!sl) {
        cands_add(c, s->path, strlen(s->path), strcmp(s->path, "/") ? "/index.html" : "index.html");
        return;
    }
    struct mitm_buf dec, esc, j[4];
    mitm_buf_init(&dec, 0);
    mitm_buf_init(&esc, 0);
    unquote(suf, sl, &dec);
    escape_name(mitm_buf_data(&dec), dec.len, &esc);
    bool differs = !mitm_slice_eq(mitm_buf_slice(&dec), mitm_buf_slice(&esc));
    struct mitm_buf *src[2] = {&dec, &esc};
    size_t nj = 0;
    bool ok = true;
    for (size_t k = 0; k < (differs ? 2u : 1u) && ok; k++) {
        struct mitm_buf withindex;
        mitm_buf_init(&withindex, 0);
        mitm_buf_append(&withindex, mitm_buf_data(src[k]), src[k]->len);
        mitm_buf_append(&withindex, "/index.html", 11);
        ok = safe_join(s->path, mitm_buf_data(src[k]), src[k]->len, &j[nj]);
        nj += ok;
        ok = ok && safe_join(s->path, mitm_buf_data(&withindex), withindex.len, &j[nj]);
        nj += ok;
        mitm_buf_free(&withindex);
    }
    for (size_t k = 0; k < nj; k++) {
        if (ok)
            cands_add(c, mitm_buf_data(&j[k]), j[k].len, NULL);
        mitm_buf_free(&j[k]);
    }
    mitm_buf_free(&dec);
    mitm_buf_free(&esc);
}

static bool is_file(const struct mitm_buf *p)
{
    struct stat st;
    return !memchr(mitm_buf_data(p), 0, p->len) && stat((const char *)mitm_buf_data(p), &st) == 0 &&
           S_ISREG(st.st_mode);
}

/* Answer f from the first existing candidate. Returns true if it did. */
static bool serve(const struct mitm_maplocal *m, const struct cands *c, struct mitm_flow *f,
                  const struct mitm_hook_env *env)
{
    for (size_t i = 0; i < c->n; i++) {
        if (!is_file(&c->v[i]))
            continue;
        const char *path = (const char *)mitm_buf_data(&c->v[i]);
        struct mitm_buf body;
        mitm_buf_init(&body, 0);
        char why[512];
        if (mitm_spec_read_file(path, mitm_spec_file_cap(env->opts), &body, why, sizeof(why)) < 0) {
            mitm_hook_log(env, MITM_LOG_WARN, "Could not read file: %s", why);
            return false; /* mitmproxy goes on with the next spec */
        }
        const char *type = mitm_mimetypes_guess(m->types, path);
        const char *hdrs[] = {"Server", MITM_ADDON_SERVER, "Content-Type", type};
        f->response =
            mitm_addon_make_response(200, hdrs, type ? 2 : 1, mitm_buf_data(&body), body.len, env->now);
        mitm_buf_free(&body);
        return true;
    }
    return false;
}

static void not_found(struct mitm_flow *f, const struct cands *all, const struct mitm_hook_env *env)
{
    f->response = mitm_addon_make_response(404, NULL, 0, "", 0, env->now);
    struct mitm_buf list;
    mitm_buf_init(&list, 0);
    for (size_t i = 0; i < all->n; i++) {
        if (i)
            mitm_buf_append(&list, ", ", 2);
        mitm_buf_append(&list, mitm_buf_data(&all->v[i]), all->v[i].len);
    }
    mitm_hook_log(env, MITM_LOG_INFO, "None of the local file candidates exist: %.*s", (int)list.len,
                  (const char *)mitm_buf_data(&list));
    mitm_buf_free(&list);
}

static void hook(void *state, enum mitm_hook h, void *arg, const struct mitm_hook_env *env)
{
    struct mitm_maplocal *m = state;
    struct mitm_flow *f = arg;
    if (!m || h != MITM_HOOK_REQUEST || !f->request || f->response || mitm_addon_flow_dead(f))
        return;
    struct mitm_buf url;
    mitm_buf_init(&url, 0);
    mitm_addon_pretty_url(f->request, &url);
    size_t all = 0;
    struct cands every = {0};
    for (size_t i = 0; i < m->n && !f->response; i++) {
        const struct local_spec *s = &m->v[i];
        if ((s->filter && !mitm_filter_match(s->filter, f)) ||
            mitm_pyre_search(s->re, mitm_buf_data(&url), url.len, NULL, 0) != 1)
            continue;
        struct cands c = {0};
        struct stat st;
        if (stat(s->path, &st) == 0 && S_ISREG(st.st_mode))
            cands_add(&c, s->path, strlen(s->path), NULL);
        else
            file_candidates(s, &url, &c);
        for (size_t k = 0; k < c.n; k++)
            cands_add(&every, mitm_buf_data(&c.v[k]), c.v[k].len, NULL);
        all += c.n;
        serve(m, &c, f, env);
        cands_free(&c);
    }
    if (!f->response && all)
        not_found(f, &every, env);
    cands_free(&every);
    mitm_buf_free(&url);
}

const struct mitm_addon mitm_addon_maplocal = {"maplocal", hook};
