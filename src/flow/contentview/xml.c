/* The XML/HTML view (mitmproxy's xml_html.py). */
#include "flow/contentview/contentview-int.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "flow/export.h"

/* mitmproxy's xml_html.py: tokenize into text and tags, then indent opening tags' contents by
 * 2 (not inside xml, doctype, html), keeping <a>text</a> and <a></a> on one line. */
enum { TOK_TEXT, TOK_TAG };
struct xtok {
    int kind;
    const char *p;
    size_t n;
    char tag[64]; /* lower-cased name, "<empty>" if none */
    bool comment, cdata, closing, selfclosing, opening;
};

static const char *const void_elements[] = {"area", "base",  "br",     "col",    "embed",
                                            "hr",   "img",   "input",  "keygen", "link",
                                            "meta", "param", "source", "track",  "wbr"};

static bool tagchar(char c)
{
    return isalnum((unsigned char)c) || c == '.' || c == '_' || c == ':' || c == '-';
}

/* REGEX_TAG = [a-zA-Z0-9._:\-]+(?!=), first match. */
static void tag_name(struct xtok *t)
{
    const char *p = t->p, *end = t->p + t->n;
    while (p < end) {
        if (!tagchar(*p)) {
            p++;
            continue;
        }
        const char *e = p;
        while (e < end && tagchar(*e))
            e++;
        if (e < end && *e == '=')
            e--;
        if (e > p) {
            size_t l = (size_t)(e - p) < sizeof(t->tag) - 1 ? (size_t)(e - p) : sizeof(t->tag) - 1;
            for (size_t i = 0; i < l; i++)
                t->tag[i] = (char)tolower((unsigned char)p[i]);
            t->tag[l] = 0;
            return;
        }
        p += 1;
        while (p < end && tagchar(*p))
            p++;
    }
    snprintf(t->tag, sizeof(t->tag), "<empty>");
}

static bool starts(const char *p, size_t n, const char *s)
{
    size_t l = strlen(s);
    return n >= l && memcmp(p, s, l) == 0;
}

static bool ends(const char *p, size_t n, const char *s)
{
    size_t l = strlen(s);
    return n >= l && memcmp(p + n - l, s, l) == 0;
}

static void classify(struct xtok *t)
{
    tag_name(t);
    t->comment = starts(t->p, t->n, "<!--");
    t->cdata = starts(t->p, t->n, "<![CDATA[");
    t->closing = starts(t->p, t->n, "</");
    bool v = false;
    for (size_t i = 0; i < sizeof(void_elements) / sizeof(*void_elements); i++)
        v = v || strcmp(t->tag, void_elements[i]) == 0;
    t->selfclosing = t->comment || t->cdata || ends(t->p, t->n, "/>") || v;
    t->opening = !t->closing && !t->selfclosing;
}

static bool blank(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isspace((unsigned char)p[i]))
            return false;
    return true;
}

static size_t tokenize(const char *d, size_t n, struct xtok **out)
{
    size_t cap = 64, k = 0, i = 0;
    struct xtok *v = mitm_alloc(cap * sizeof(*v));
    while (i < n) {
        if (k + 1 >= cap)
            v = mitm_realloc(v, (cap *= 2) * sizeof(*v));
        const char *lt = memchr(d + i, '<', n - i);
        size_t e = lt ? (size_t)(lt - d) : n;
        if (e > i && !blank(d + i, e - i))
            v[k++] = (struct xtok){.kind = TOK_TEXT, .p = d + i, .n = e - i};
        if (e >= n)
            break;
        /* a tag: to '>' (comments to "-->", CDATA to "]]>") */
        size_t s = e, j = e;
        struct xtok t = {.kind = TOK_TAG, .p = d + s};
        for (;;) {
            const char *gt = memchr(d + j, '>', n - j);
            j = gt ? (size_t)(gt - d) + 1 : n;
            t.n = j - s;
            bool done = starts(t.p, t.n, "<!--")        ? ends(t.p, t.n, "-->")
                        : starts(t.p, t.n, "<![CDATA[") ? ends(t.p, t.n, "]]>")
                                                        : ends(t.p, t.n, ">");
            if (done || j >= n)
                break;
        }
        if (!blank(t.p, t.n)) {
            classify(&t);
            v[k++] = t;
        }
        i = j;
    }
    *out = v;
    return k;
}

static bool inline_text(const struct xtok *a, const struct xtok *b, const struct xtok *c)
{
    return a && b && c && a->kind == TOK_TAG && b->kind == TOK_TEXT && c->kind == TOK_TAG && a->opening &&
           !memchr(b->p, '\n', b->n) && c->closing && strcmp(a->tag, c->tag) == 0;
}

static bool is_inline(const struct xtok *p2, const struct xtok *p1, const struct xtok *t,
                      const struct xtok *n1, const struct xtok *n2)
{
    if (t->kind == TOK_TEXT)
        return inline_text(p1, t, n1);
    if (inline_text(p2, p1, t) || inline_text(t, n1, n2))
        return true;
    if (n1 && n1->kind == TOK_TAG && t->opening && n1->closing && strcmp(t->tag, n1->tag) == 0)
        return true;
    if (p1 && p1->kind == TOK_TAG && p1->opening && t->closing && strcmp(p1->tag, t->tag) == 0)
        return true;
    return false;
}

static bool ws_tab(char c)
{
    return c == ' ' || c == '\t';
}

/* indent_text: textwrap.dedent(" " * 32 + data).strip(), then textwrap.indent with the prefix
 * (at most 32 columns). Lines are split at \n as textwrap does. */
static void indent_text(const char *p, size_t n, size_t indent, struct mitm_buf *out)
{
    if (indent > 32)
        indent = 32;
    /* the margin: textwrap's common leading [ \t]* of non-blank lines; the first line's
     * indentation is 32 spaces plus its own */
    struct mitm_buf first;
    mitm_buf_init(&first, 0);
    const char *margin = NULL;
    size_t mlen = 0;
    bool is_first = true;
    for (const char *l = p;;) {
        const char *e = memchr(l, '\n', (size_t)(p + n - l));
        e = e ? e : p + n;
        size_t w = 0;
        while (l + w < e && ws_tab(l[w]))
            w++;
        if (l + w < e) {
            const char *ind = l;
            size_t il = w;
            if (is_first) {
                mitm_buf_append(&first, "                                ", 32);
                mitm_buf_append(&first, l, w);
                ind = (const char *)mitm_buf_data(&first);
                il = first.len;
            }
            if (!margin) {
                margin = ind, mlen = il;
            } else {
                size_t c = 0;
                while (c < mlen && c < il && margin[c] == ind[c])
                    c++;
                mlen = c;
            }
        }
        is_first = false;
        if (e >= p + n)
            break;
        l = e + 1;
    }
    /* dedent the lines after the first (strip() removes the first line's indentation) */
    struct mitm_buf d;
    mitm_buf_init(&d, 0);
    is_first = true;
    for (const char *l = p;;) {
        const char *e = memchr(l, '\n', (size_t)(p + n - l));
        e = e ? e : p + n;
        size_t w = 0;
        while (l + w < e && ws_tab(l[w]))
            w++;
        size_t drop = 0;
        if (l + w == e)
            drop = w; /* whitespace-only lines become empty */
        else if (!is_first && margin && w >= mlen && memcmp(l, margin, mlen) == 0)
            drop = mlen;
        mitm_buf_append(&d, l + drop, (size_t)(e - l) - drop);
        is_first = false;
        if (e >= p + n)
            break;
        mitm_buf_append(&d, "\n", 1);
        l = e + 1;
    }
    mitm_buf_free(&first);
    const char *s = (const char *)mitm_buf_data(&d), *se = s + d.len;
    while (s < se && isspace((unsigned char)*s))
        s++;
    while (se > s && isspace((unsigned char)se[-1]))
        se--;
    for (const char *l = s; l < se;) {
        const char *e = memchr(l, '\n', (size_t)(se - l));
        e = e ? e + 1 : se;
        if (!blank(l, (size_t)(e - l)))
            for (size_t i = 0; i < indent; i++)
                mitm_buf_append(out, " ", 1);
        mitm_buf_append(out, l, (size_t)(e - l));
        l = e;
    }
    mitm_buf_free(&d);
}

static bool no_indent(const char *tag)
{
    return strcmp(tag, "xml") == 0 || strcmp(tag, "doctype") == 0 || strcmp(tag, "html") == 0;
}

static int render(struct mitm_cv_result *r, const uint8_t *d, size_t n, const struct mitm_cv_meta *m)
{
    (void)m;
    for (size_t i = 0; i < n;) {
        size_t l = mitm_utf8_seq(d + i, n - i);
        if (l == 0)
            return -1; /* decode("utf8", "xmlcharrefreplace") raises */
        i += l;
    }
    struct xtok *t;
    size_t k = tokenize((const char *)d, n, &t);
    struct mitm_buf out;
    mitm_buf_init(&out, 0);
    char stack[17][64];
    size_t depth = 0, indent = 0;
    for (size_t i = 0; i < k; i++) {
        const struct xtok *p2 = i >= 2 ? &t[i - 2] : NULL, *p1 = i >= 1 ? &t[i - 1] : NULL;
        const struct xtok *n1 = i + 1 < k ? &t[i + 1] : NULL, *n2 = i + 2 < k ? &t[i + 2] : NULL;
        const struct xtok *x = &t[i];
        bool inl = is_inline(p2, p1, x, n1, n2);
        if (x->kind == TOK_TAG && x->opening) {
            indent_text(x->p, x->n, indent, &out);
            if (!inl)
                mitm_buf_append(&out, "\n", 1);
            if (depth <= 16) {
                snprintf(stack[depth++], 64, "%s", x->tag);
                if (!no_indent(x->tag))
                    indent += 2;
            }
        } else if (x->kind == TOK_TAG && x->closing) {
            size_t at = depth;
            while (at > 0 && strcmp(stack[at - 1], x->tag) != 0)
                at--;
            if (at > 0) {
                while (depth >= at) {
                    if (!no_indent(stack[depth - 1]))
                        indent -= 2;
                    depth--;
                    if (depth < at)
                        break;
                }
            }
            if (inl)
                mitm_buf_append(&out, x->p, x->n);
            else
                indent_text(x->p, x->n, indent, &out);
            mitm_buf_append(&out, "\n", 1);
        } else if (x->kind == TOK_TAG) {
            indent_text(x->p, x->n, indent, &out);
            mitm_buf_append(&out, "\n", 1);
        } else if (inl) {
            const char *s = x->p, *e = x->p + x->n;
            while (s < e && isspace((unsigned char)*s))
                s++;
            while (e > s && isspace((unsigned char)e[-1]))
                e--;
            mitm_buf_append(&out, s, (size_t)(e - s));
        } else {
            indent_text(x->p, x->n, indent, &out);
            mitm_buf_append(&out, "\n", 1);
        }
    }
    free(t);
    mitm_cv_escaped_lines(r, &out);
    return 0;
}

static double priority(const uint8_t *d, size_t n, const char *t, const struct mitm_cv_meta *m)
{
    (void)m;
    if (!n)
        return 0;
    if (strcmp(t, "text/xml") == 0 || strcmp(t, "text/html") == 0)
        return 1;
    /* strutils.is_xml: first non-whitespace byte is '<' */
    size_t i = 0;
    while (i < n && mitm_cv_is_space((char)d[i]))
        i++;
    return i < n && d[i] == '<' ? 0.4 : 0;
}

const struct mitm_cv_view mitm_cv_view_xml = {"xml/html", "XML/HTML", render, priority};
