/* Necessary conditions of a filter, for narrowing a store's query (filter.h). */
#include "filter/filter.h"

#include <ctype.h>
#include <string.h>

#include "filter/node.h"

/* A regex made of literals, "." and escaped punctuation, maybe anchored, as a LIKE pattern
 * that contains every string the regex finds. Returns false for anything else (classes,
 * quantifiers, alternation): no term then. */
static bool regex_like(const char *re, char *out, size_t cap)
{
    size_t o = 0;
    if (cap < 3)
        return false;
    out[o++] = '%';
    const char *p = re;
    if (*p == '^')
        p++;
    for (; *p; p++) {
        char c = *p;
        if (c == '$' && !p[1])
            break;
        if (c == '\\') {
            p++;
            if (!*p || isalnum((unsigned char)*p)) /* \d \w \b ...: not a literal */
                return false;
            c = *p;
        } else if (c == '.') {
            if (o + 2 >= cap)
                return false;
            out[o++] = '_';
            continue;
        } else if (strchr("^$*+?()[]{}|", c)) {
            return false;
        }
        if (o + 4 >= cap)
            return false;
        if (c == '%' || c == '_' || c == '\\')
            out[o++] = '\\';
        out[o++] = (char)tolower((unsigned char)c);
    }
    out[o++] = '%';
    out[o] = 0;
    return true;
}

static size_t add(const struct fnode *n, struct mitm_filter_term *out, size_t k, size_t cap)
{
    if (k >= cap)
        return k;
    switch (n->kind) {
    case K_AND:
        for (size_t i = 0; i < n->n; i++)
            k = add(n->kids[i], out, k, cap);
        return k;
    case K_DOMAIN:
    case K_METHOD:
        if (n->src && regex_like(n->src, out[k].like, sizeof(out[k].like))) {
            out[k].kind = n->kind == K_DOMAIN ? 'd' : 'm';
            out[k].num = 0;
            k++;
        }
        return k;
    case K_CODE:
        out[k].kind = 'c';
        out[k].like[0] = 0;
        out[k].num = n->num;
        return k + 1;
    default:
        return k;
    }
}

size_t mitm_filter_terms(const struct mitm_filter *f, struct mitm_filter_term *out, size_t cap)
{
    return f && f->root ? add(f->root, out, 0, cap) : 0;
}
