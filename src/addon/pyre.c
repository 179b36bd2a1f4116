/* Python re semantics on PCRE2: see pyre.h. The template rules follow CPython's
 * re._parser.parse_template (3.11), the substitution loop re.sub's (3.7+): after an empty
 * match the next one may not be empty at the same position, after a non-empty one it may. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "addon/pyre.h"
#include "base/alloc.h"
#include "base/err.h"

#include <pcre2.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TEMPLATE_GROUP 99 /* \NN: two digits at most, as Python */

struct mitm_pyre {
    pcre2_code *code;
    pcre2_match_context *mctx;
    unsigned groups;
    bool text;
};

enum item_kind { LIT, GROUP };

struct item {
    enum item_kind kind;
    size_t off, len; /* LIT: bytes in lit */
    unsigned group;  /* GROUP */
};

struct mitm_pytemplate {
    struct item *items;
    size_t n;
    struct mitm_buf lit;
};

struct mitm_pyre *mitm_pyre_compile(const void *pat, size_t len, unsigned flags, char *err, size_t errlen)
{
    uint32_t opts = 0;
    if (flags & MITM_PYRE_DOTALL)
        opts |= PCRE2_DOTALL;
    if (!(flags & MITM_PYRE_BYTES))
        opts |= PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF | PCRE2_ALT_BSUX;
    int code;
    PCRE2_SIZE off;
    pcre2_code *re = pcre2_compile(pat, len, opts, &code, &off, NULL);
    if (!re) {
        PCRE2_UCHAR msg[256];
        if (pcre2_get_error_message(code, msg, sizeof(msg)) < 0)
            snprintf((char *)msg, sizeof(msg), "error %d", code);
        mitm_errf(err, errlen, "%s at position %zu", (const char *)msg, (size_t)off);
        return NULL;
    }
    (void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* an optimisation only */
    struct mitm_pyre *p = mitm_calloc(1, sizeof(*p));
    p->code = re;
    p->mctx = pcre2_match_context_create(NULL);
    pcre2_set_match_limit(p->mctx, MITM_PYRE_MATCH_LIMIT);
    uint32_t n = 0;
    pcre2_pattern_info(re, PCRE2_INFO_CAPTURECOUNT, &n);
    p->groups = n;
    p->text = !(flags & MITM_PYRE_BYTES);
    return p;
}

void mitm_pyre_free(struct mitm_pyre *re)
{
    if (!re)
        return;
    pcre2_match_context_free(re->mctx);
    pcre2_code_free(re->code);
    free(re);
}

unsigned mitm_pyre_groups(const struct mitm_pyre *re)
{
    return re->groups;
}

/* One pcre2_match from start; rc as pcre2_match. */
static int match_at(const struct mitm_pyre *re, const void *s, size_t n, size_t start, uint32_t opts,
                    pcre2_match_data *md)
{
    return pcre2_match(re->code, (PCRE2_SPTR)(n ? s : ""), n, start, opts, md, re->mctx);
}

int mitm_pyre_search(const struct mitm_pyre *re, const void *s, size_t n, size_t *ov, unsigned ngroups)
{
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re->code, NULL);
    int rc = match_at(re, s, n, 0, 0, md), ret = 0;
    if (rc >= 0 || rc == PCRE2_ERROR_PARTIAL) {
        const PCRE2_SIZE *v = pcre2_get_ovector_pointer(md);
        uint32_t pairs = pcre2_get_ovector_count(md);
        for (unsigned g = 0; ov && g <= ngroups; g++) {
            bool set = g < pairs && (rc == 0 || (int)g < rc) && v[2 * g] != PCRE2_UNSET;
            ov[2 * g] = set ? v[2 * g] : SIZE_MAX;
            ov[2 * g + 1] = set ? v[2 * g + 1] : SIZE_MAX;
        }
        ret = 1;
    } else if (rc != PCRE2_ERROR_NOMATCH) {
        ret = -1;
    }
    pcre2_match_data_free(md);
    return ret;
}

/* ---- templates ---- */

static void add_lit(struct mitm_pytemplate *t, const void *p, size_t n)
{
    if (!n)
        return;
    if (t->n && t->items[t->n - 1].kind == LIT) {
        t->items[t->n - 1].len += n;
    } else {
        t->items = mitm_realloc(t->items, (t->n + 1) * sizeof(*t->items));
        t->items[t->n++] = (struct item){LIT, t->lit.len, n, 0};
    }
    mitm_buf_append(&t->lit, p, n);
}

static void add_group(struct mitm_pytemplate *t, unsigned g)
{
    t->items = mitm_realloc(t->items, (t->n + 1) * sizeof(*t->items));
    t->items[t->n++] = (struct item){GROUP, 0, 0, g};
}

/* A code point as UTF-8 (text templates) or one byte (bytes templates). */
static void add_char(struct mitm_pytemplate *t, unsigned cp, bool text)
{
    unsigned char b[2];
    if (!text || cp < 0x80) {
        b[0] = (unsigned char)cp;
        add_lit(t, b, 1);
        return;
    }
    b[0] = (unsigned char)(0xc0 | (cp >> 6));
    b[1] = (unsigned char)(0x80 | (cp & 0x3f));
    add_lit(t, b, 2);
}

struct mitm_pytemplate *mitm_pytemplate_literal(const void *lit, size_t len)
{
    struct mitm_pytemplate *t = mitm_calloc(1, sizeof(*t));
    mitm_buf_init(&t->lit, 0);
    add_lit(t, lit, len);
    return t;
}

void mitm_pytemplate_free(struct mitm_pytemplate *t)
{
    if (!t)
        return;
    free(t->items);
    mitm_buf_free(&t->lit);
    free(t);
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_oct(char c)
{
    return c >= '0' && c <= '7';
}

static bool is_identifier(const char *s, size_t n)
{
    if (!n || is_digit(s[0]))
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!(c == '_' || c >= 0x80 || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit((char)c)))
            return false;
    }
    return true;
}

/* "\g<name>" starting at tpl[i] == 'g' (after the backslash). Returns the index after
 * '>' or 0 with err set. */
static size_t named_group(const char *tpl, size_t len, size_t i, const struct mitm_pyre *re,
                          struct mitm_pytemplate *t, char *err, size_t errlen)
{
    size_t at = i + 1;
    if (at >= len || tpl[at] != '<') {
        mitm_errf(err, errlen, "missing < at position %zu", at);
        return 0;
    }
    size_t start = at + 1;
    const char *gt = memchr(tpl + start, '>', len - start);
    if (!gt) {
        if (start == len)
            mitm_errf(err, errlen, "missing group name at position %zu", start);
        else
            mitm_errf(err, errlen, "missing >, unterminated name at position %zu", start);
        return 0;
    }
    size_t nlen = (size_t)(gt - (tpl + start));
    const char *name = tpl + start;
    if (!nlen) {
        mitm_errf(err, errlen, "missing group name at position %zu", start);
        return 0;
    }
    long idx;
    if (is_identifier(name, nlen)) {
        char *z = mitm_strndup(name, nlen);
        idx = pcre2_substring_number_from_name(re->code, (PCRE2_SPTR)z);
        free(z);
        if (idx < 0) {
            mitm_errf(err, errlen, "unknown group name '%.*s'", (int)nlen, name);
            return 0;
        }
    } else {
        bool digits = nlen <= 9;
        for (size_t k = 0; k < nlen && digits; k++)
            digits = is_digit(name[k]);
        if (!digits) {
            mitm_errf(err, errlen, "bad character in group name '%.*s' at position %zu", (int)nlen, name,
                      start);
            return 0;
        }
        idx = strtol(name, NULL, 10);
        if ((unsigned long)idx > re->groups) {
            mitm_errf(err, errlen, "invalid group reference %ld at position %zu", idx, start);
            return 0;
        }
    }
    add_group(t, (unsigned)idx);
    return (size_t)(gt - tpl) + 1;
}

/* "\N", "\NN" or a three-digit octal escape; tpl[i] is the first digit. Returns the index
 * after it or 0 with err set. */
static size_t numbered(const char *tpl, size_t len, size_t i, const struct mitm_pyre *re,
                       struct mitm_pytemplate *t, char *err, size_t errlen)
{
    if (tpl[i] == '0') {
        unsigned v = 0;
        size_t j = i + 1;
        for (int k = 0; k < 2 && j < len && is_oct(tpl[j]); k++, j++)
            v = v * 8 + (unsigned)(tpl[j] - '0');
        add_char(t, v & 0xff, re->text);
        return j;
    }
    if (i + 2 < len && is_oct(tpl[i]) && is_oct(tpl[i + 1]) && is_oct(tpl[i + 2])) {
        unsigned v =
            (unsigned)(tpl[i] - '0') * 64 + (unsigned)(tpl[i + 1] - '0') * 8 + (unsigned)(tpl[i + 2] - '0');
        if (v > 0377) {
            mitm_errf(err, errlen, "octal escape value \\%.3s outside of range 0-0o377 at position %zu",
                      tpl + i, i - 1);
            return 0;
        }
        add_char(t, v, re->text);
        return i + 3;
    }
    size_t j = i + 1 + (i + 1 < len && is_digit(tpl[i + 1]));
    unsigned g = 0;
    for (size_t k = i; k < j; k++)
        g = g * 10 + (unsigned)(tpl[k] - '0');
    if (g > re->groups || g > MAX_TEMPLATE_GROUP) {
        mitm_errf(err, errlen, "invalid group reference %u at position %zu", g, i);
        return 0;
    }
    add_group(t, g);
    return j;
}

static char template_escape(char c)
{
    switch (c) {
    case 'a':
        return '\a';
    case 'b':
        return '\b';
    case 'f':
        return '\f';
    case 'n':
        return '\n';
    case 'r':
        return '\r';
    case 't':
        return '\t';
    case 'v':
        return '\v';
    case '\\':
        return '\\';
    default:
        return 0;
    }
}

struct mitm_pytemplate *mitm_pytemplate_compile(const char *tpl, size_t len, const struct mitm_pyre *re,
                                                char *err, size_t errlen)
{
    struct mitm_pytemplate *t = mitm_pytemplate_literal("", 0);
    for (size_t i = 0; i < len;) {
        const char *bs = memchr(tpl + i, '\\', len - i);
        size_t upto = bs ? (size_t)(bs - tpl) : len;
        add_lit(t, tpl + i, upto - i);
        if (!bs)
            break;
        i = upto + 1;
        if (i >= len) {
            mitm_errf(err, errlen, "bad escape (end of pattern) at position %zu", upto);
            goto Fail;
        }
        char c = tpl[i];
        size_t next;
        if (c == 'g') {
            next = named_group(tpl, len, i, re, t, err, errlen);
        } else if (is_digit(c)) {
            next = numbered(tpl, len, i, re, t, err, errlen);
        } else if (template_escape(c)) {
            char e = template_escape(c);
            add_lit(t, &e, 1);
            next = i + 1;
        } else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
            mitm_errf(err, errlen, "bad escape \\%c at position %zu", c, upto);
            next = 0;
        } else {
            add_lit(t, tpl + upto, 2); /* other escapes stay as written */
            next = i + 1;
        }
        if (!next)
            goto Fail;
        i = next;
    }
    return t;
Fail:
    mitm_pytemplate_free(t);
    return NULL;
}

/* ---- substitution ---- */

static int expand(const struct mitm_pytemplate *t, const uint8_t *s, const PCRE2_SIZE *ov, uint32_t pairs,
                  int rc, struct mitm_buf *out)
{
    for (size_t k = 0; k < t->n; k++) {
        const struct item *it = &t->items[k];
        int r = 0;
        if (it->kind == LIT) {
            r = mitm_buf_append(out, mitm_buf_data(&t->lit) + it->off, it->len);
        } else if (it->group < pairs && (int)it->group < rc && ov[2 * it->group] != PCRE2_UNSET) {
            r = mitm_buf_append(out, s + ov[2 * it->group], ov[2 * it->group + 1] - ov[2 * it->group]);
        } /* a group that did not take part: "" (Python 3.5+) */
        if (r < 0)
            return -1;
    }
    return 0;
}

long mitm_pyre_sub(const struct mitm_pyre *re, const struct mitm_pytemplate *t, const void *sv, size_t n,
                   struct mitm_buf *out)
{
    const uint8_t *s = sv;
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re->code, NULL);
    size_t start = out->len, pos = 0, copied = 0;
    long count = 0;
    bool prev_empty = false;
    for (;;) {
        int rc = match_at(re, s, n, pos, prev_empty ? PCRE2_NOTEMPTY_ATSTART : 0, md);
        if (rc == PCRE2_ERROR_NOMATCH)
            break;
        if (rc < 0 && rc != PCRE2_ERROR_PARTIAL)
            goto Fail;
        const PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        uint32_t pairs = pcre2_get_ovector_count(md);
        if (rc == 0)
            rc = (int)pairs;
        if (mitm_buf_append(out, s + copied, ov[0] - copied) < 0 || expand(t, s, ov, pairs, rc, out) < 0)
            goto Fail;
        copied = pos = ov[1];
        prev_empty = ov[0] == ov[1];
        count++;
        if (pos > n)
            break;
    }
    if (mitm_buf_append(out, s + copied, n - copied) < 0)
        goto Fail;
    pcre2_match_data_free(md);
    return count;
Fail:
    out->len = start;
    pcre2_match_data_free(md);
    return -1;
}
