/* Cookies as mitmproxy reads and writes them: see cookies.h. The reader is a port of
 * mitmproxy's _read_set_cookie_pairs with its offsets, so odd headers split the same way. */
#include "addon/cookies.h"
#include "addon/spec.h"
#include "base/alloc.h"
#include "base/date.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct reader {
    const char *s;
    size_t n;
};

/* _read_until(s, start, term): the text up to one of term, and the offset of that
 * character (n + 1 when start is already at the end). */
static size_t read_until(const struct reader *r, size_t start, const char *term, struct mitm_slice *out)
{
    if (start == r->n) {
        *out = mitm_slice("", 0);
        return start + 1;
    }
    for (size_t i = start; i < r->n; i++)
        if (strchr(term, r->s[i]) && r->s[i]) {
            *out = mitm_slice(r->s + start, i - start);
            return i;
        }
    *out = mitm_slice(r->s + start, start < r->n ? r->n - start : 0);
    return r->n;
}

/* _read_quoted_string(s, start): s[start] is '"'; backslash escapes anything. */
static size_t read_quoted(const struct reader *r, size_t start, struct mitm_buf *out)
{
    bool esc = false;
    size_t i = start;
    for (i = start + 1; i < r->n; i++) {
        char c = r->s[i];
        if (esc) {
            mitm_buf_append(out, &c, 1);
            esc = false;
        } else if (c == '"') {
            break;
        } else if (c == '\\') {
            esc = true;
        } else {
            mitm_buf_append(out, &c, 1);
        }
    }
    if (i == r->n)
        i = r->n - 1; /* Python's loop variable stops at the last index (or stays at start) */
    return i + 1;
}

static size_t read_value(const struct reader *r, size_t start, const char *delims, struct mitm_buf *out)
{
    out->len = 0;
    if (start >= r->n)
        return start;
    if (r->s[start] == '"')
        return read_quoted(r, start, out);
    struct mitm_slice v;
    size_t off = read_until(r, start, delims, &v);
    mitm_buf_append(out, v.base, v.len);
    return off;
}

/* str.lstrip(): Python's whitespace (ASCII part). */
static struct mitm_slice lstrip(struct mitm_slice s)
{
    while (s.len && (strchr(" \t\n\r\v\f\x1c\x1d\x1e\x1f", s.base[0]) && s.base[0]))
        s.base++, s.len--;
    return s;
}

struct pairs {
    struct mitm_cookie_pair *v;
    size_t n;
};

static void pairs_add(struct pairs *p, struct mitm_slice k, const struct mitm_buf *v)
{
    p->v = mitm_realloc(p->v, (p->n + 1) * sizeof(*p->v));
    p->v[p->n].key = mitm_strndup((const char *)k.base, k.len);
    p->v[p->n].value = v ? mitm_strndup((const char *)mitm_buf_data(v), v->len) : NULL;
    p->n++;
}

/* A finished group of pairs becomes a cookie (the first pair; the rest are attributes). */
static void emit(struct pairs *p, struct mitm_setcookies *out)
{
    if (!p->n) {
        free(p->v);
        *p = (struct pairs){0};
        return;
    }
    out->v = mitm_realloc(out->v, (out->n + 1) * sizeof(*out->v));
    struct mitm_setcookie *c = &out->v[out->n++];
    c->name = p->v[0].key;
    c->value = p->v[0].value;
    c->nattrs = p->n - 1;
    c->attrs = c->nattrs ? mitm_alloc(c->nattrs * sizeof(*c->attrs)) : NULL;
    if (c->nattrs)
        memcpy(c->attrs, p->v + 1, c->nattrs * sizeof(*c->attrs));
    free(p->v);
    *p = (struct pairs){0};
}

void mitm_setcookie_parse(const char *line, size_t n, struct mitm_setcookies *out)
{
    struct reader r = {line, n};
    struct pairs cur = {0};
    struct mitm_buf rhs, trail;
    mitm_buf_init(&rhs, 0);
    mitm_buf_init(&trail, 0);
    size_t off = 0, groups = 0;
    for (;;) {
        struct mitm_slice lhs;
        off = read_until(&r, off, ";=,", &lhs);
        lhs = lstrip(lhs);
        if (off < n && line[off] == '=') {
            off = read_value(&r, off + 1, ";,", &rhs);
            if (lhs.len == 7 && strncasecmp((const char *)lhs.base, "expires", 7) == 0 && rhs.len <= 3) {
                /* the date's comma: read on ("Wed, 21 Oct ...") */
                off = read_value(&r, off + 1, ";,", &trail);
                mitm_buf_append(&rhs, ",", 1);
                mitm_buf_append(&rhs, mitm_buf_data(&trail), trail.len);
            }
            pairs_add(&cur, lhs, &rhs);
        } else if (lhs.len) {
            pairs_add(&cur, lhs, NULL);
        }
        if (off < n && line[off] == ',') {
            emit(&cur, out);
            groups++;
        }
        off++;
        if (off >= n)
            break;
    }
    if (cur.n || !groups)
        emit(&cur, out);
    free(cur.v);
    mitm_buf_free(&rhs);
    mitm_buf_free(&trail);
}

void mitm_setcookies_free(struct mitm_setcookies *c)
{
    for (size_t i = 0; i < c->n; i++) {
        free(c->v[i].name);
        free(c->v[i].value);
        for (size_t k = 0; k < c->v[i].nattrs; k++) {
            free(c->v[i].attrs[k].key);
            free(c->v[i].attrs[k].value);
        }
        free(c->v[i].attrs);
    }
    free(c->v);
    c->v = NULL;
    c->n = 0;
}

const char *mitm_setcookie_attr(const struct mitm_setcookie *c, const char *key, bool *found)
{
    *found = false;
    const char *v = NULL;
    for (size_t i = 0; i < c->nattrs; i++)
        if (strcasecmp(c->attrs[i].key, key) == 0) {
            *found = true;
            v = c->attrs[i].value;
        }
    return v;
}

bool mitm_setcookie_expired(const struct mitm_setcookie *c, double now)
{
    bool found;
    const char *v = mitm_setcookie_attr(c, "expires", &found);
    if (found) {
        long long t;
        /* an unparseable date: no expiry at all (max-age is not consulted) */
        return v && mitm_date_parse_rfc2822(v, strlen(v), &t) == 0 && (double)t <= now;
    }
    v = mitm_setcookie_attr(c, "max-age", &found);
    long age;
    return found && v && mitm_py_int(mitm_slice_str(v), &age) && age <= 0;
}

static bool has_special(const char *v)
{
    for (const unsigned char *p = (const unsigned char *)v; *p; p++)
        if (strchr("\",;\\", *p) || *p < 0x21 || *p > 0x7e)
            return true;
    return false;
}

void mitm_cookie_format(const struct mitm_cookie_pair *pairs, size_t n, struct mitm_buf *out)
{
    for (size_t i = 0; i < n; i++) {
        if (i)
            mitm_buf_append(out, "; ", 2);
        mitm_buf_append(out, pairs[i].key, strlen(pairs[i].key));
        const char *v = pairs[i].value;
        if (!v)
            continue;
        mitm_buf_append(out, "=", 1);
        if (!has_special(v)) {
            mitm_buf_append(out, v, strlen(v));
            continue;
        }
        mitm_buf_append(out, "\"", 1);
        for (const char *p = v; *p; p++) {
            if (*p == '"' || *p == '\\')
                mitm_buf_append(out, "\\", 1);
            mitm_buf_append(out, p, 1);
        }
        mitm_buf_append(out, "\"", 1);
    }
}
