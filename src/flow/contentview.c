#include "flow/contentview.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/alloc.h"
#include "flow/encoding.h"
#include "flow/export.h"
#include "proto/http/http.h"

#define KEY_MAX 30 /* mitmproxy's base.KEY_MAX: widest key column of a key/value listing */

/* ------------------------------------------------------------------ result builder */

static bool full(const struct mitm_cv_result *r)
{
    return r->cut;
}

/* Append a segment to the current line. Text is made safe to print: invalid UTF-8 bytes
 * become U+FFFD, control characters other than tab become '.' (mitmproxy's safe_to_print). */
static void seg(struct mitm_cv_result *r, enum mitm_cv_style st, const char *p, size_t n)
{
    if (r->cut)
        return;
    if (!r->open) {
        if (r->nlines == r->max_lines) {
            r->cut = true;
            return;
        }
        if (r->nlines == r->linecap) {
            r->linecap = r->linecap ? r->linecap * 2 : 64;
            r->lines = mitm_realloc(r->lines, r->linecap * sizeof(*r->lines));
        }
        r->lines[r->nlines++] = (struct mitm_cv_line){r->nsegs, 0};
        r->open = true;
    }
    if (n == 0)
        return;
    if (r->nsegs == r->segcap) {
        r->segcap = r->segcap ? r->segcap * 2 : 128;
        r->segs = mitm_realloc(r->segs, r->segcap * sizeof(*r->segs));
    }
    size_t off = r->text.len;
    for (size_t i = 0; i < n;) {
        const uint8_t *u = (const uint8_t *)p + i;
        size_t l = mitm_utf8_seq(u, n - i);
        if (l == 0) {
            mitm_buf_append(&r->text, "\xef\xbf\xbd", 3);
            i++;
        } else if (l == 1 && ((*u < 0x20 && *u != '\t') || *u == 0x7f)) {
            mitm_buf_append(&r->text, ".", 1);
            i++;
        } else {
            mitm_buf_append(&r->text, u, l);
            i += l;
        }
    }
    r->segs[r->nsegs++] = (struct mitm_cv_seg){st, off, r->text.len - off};
    r->lines[r->nlines - 1].n++;
}

/* End the current line (an empty line if none is open). */
static void endline(struct mitm_cv_result *r)
{
    if (!r->open)
        seg(r, MITM_CV_TEXT, "", 0);
    r->open = false;
}

/* One text line per line of p (split at \n, \r\n and \r like Python's splitlines). */
static void text_lines(struct mitm_cv_result *r, const char *p, size_t n)
{
    size_t i = 0;
    while (i < n && !full(r)) {
        size_t j = i;
        while (j < n && p[j] != '\n' && p[j] != '\r')
            j++;
        seg(r, MITM_CV_TEXT, p + i, j - i);
        endline(r);
        if (j < n && p[j] == '\r' && j + 1 < n && p[j + 1] == '\n')
            j++;
        i = j + 1;
    }
}

void mitm_cv_result_free(struct mitm_cv_result *r)
{
    mitm_buf_free(&r->text);
    free(r->segs);
    free(r->lines);
    memset(r, 0, sizeof(*r));
}

static void reset(struct mitm_cv_result *r)
{
    size_t max = r->max_lines;
    mitm_cv_result_free(r);
    r->max_lines = max;
}

void mitm_cv_line_text(const struct mitm_cv_result *r, size_t i, struct mitm_buf *out)
{
    const struct mitm_cv_line *l = &r->lines[i];
    for (size_t k = l->first; k < l->first + l->n; k++)
        mitm_buf_append(out, mitm_buf_data(&r->text) + r->segs[k].off, r->segs[k].len);
}

/* ------------------------------------------------------------------ helpers */

bool mitm_cv_is_mostly_bin(const uint8_t *p, size_t n)
{
    if (n == 0)
        return false;
    size_t m = n < 100 ? n : 100, bin = 0;
    for (size_t i = 0; i < m; i++)
        bin += p[i] < 9 || (p[i] > 13 && p[i] < 32) || p[i] > 126;
    return (double)bin / (double)m > 0.3;
}

/* Bytes as text for display: valid UTF-8 kept, other bytes and controls (tab kept, CR/LF kept
 * when keep_newlines) as \xNN. */
static void escape_bytes2(const uint8_t *p, size_t n, struct mitm_buf *out, bool keep_newlines, bool bs)
{
    for (size_t i = 0; i < n;) {
        size_t l = mitm_utf8_seq(p + i, n - i);
        if (l > 1) {
            mitm_buf_append(out, p + i, l);
            i += l;
            continue;
        }
        uint8_t c = p[i++];
        if (bs && c == '\\')
            mitm_buf_append(out, "\\\\", 2);
        else if (l == 1 && (c >= 0x20 && c < 0x7f))
            mitm_buf_append(out, &c, 1);
        else if (c == '\t' || (keep_newlines && (c == '\n' || c == '\r')))
            mitm_buf_append(out, &c, 1);
        else
            mitm_buf_printf(out, "\\x%02x", c);
    }
}

static void escape_bytes(const uint8_t *p, size_t n, struct mitm_buf *out, bool keep_newlines)
{
    escape_bytes2(p, n, out, keep_newlines, false);
}

/* A beautifier's output as text lines, escaped (newlines kept); frees out. */
static void escaped_lines(struct mitm_cv_result *r, struct mitm_buf *out)
{
    struct mitm_buf esc;
    mitm_buf_init(&esc, 0);
    escape_bytes(mitm_buf_data(out), out->len, &esc, true);
    text_lines(r, (const char *)mitm_buf_data(&esc), esc.len);
    mitm_buf_free(&esc);
    mitm_buf_free(out);
}

static size_t ulen(const char *p, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += ((unsigned char)p[i] & 0xc0) != 0x80;
    return k;
}

/* base.format_pairs: "key:" padded to min(longest key, 30) + 2 columns, then the value. Keys
 * and values are shown as escaped text. */
static void format_pairs(struct mitm_cv_result *r, const struct mitm_kv *kv, size_t n, bool split)
{
    struct mitm_buf *ks = mitm_calloc(n + 1, sizeof(*ks)), *vs = mitm_calloc(n + 1, sizeof(*vs));
    size_t width = 0;
    for (size_t i = 0; i < n; i++) {
        escape_bytes((const uint8_t *)kv[i].k, kv[i].klen, &ks[i], false);
        const char *nl = split ? memchr(kv[i].v, '\n', kv[i].vlen) : NULL;
        escape_bytes((const uint8_t *)kv[i].v, nl ? (size_t)(nl - kv[i].v) : kv[i].vlen, &vs[i], false);
        size_t l = ulen((const char *)mitm_buf_data(&ks[i]), ks[i].len);
        if (l > width)
            width = l;
    }
    if (width > KEY_MAX)
        width = KEY_MAX;
    for (size_t i = 0; i < n && !full(r); i++) {
        mitm_buf_append(&ks[i], ":", 1);
        for (size_t l = ulen((const char *)mitm_buf_data(&ks[i]), ks[i].len); l < width + 2; l++)
            mitm_buf_append(&ks[i], " ", 1);
        seg(r, MITM_CV_KEY, (const char *)mitm_buf_data(&ks[i]), ks[i].len);
        seg(r, MITM_CV_TEXT, (const char *)mitm_buf_data(&vs[i]), vs[i].len);
        endline(r);
        /* a value spanning lines (the ico view's) continues on its own lines */
        const char *v = kv[i].v, *ve = v + kv[i].vlen, *nl = split ? memchr(v, '\n', kv[i].vlen) : NULL;
        while (nl && !full(r)) {
            const char *s = nl + 1, *e = memchr(s, '\n', (size_t)(ve - s));
            struct mitm_buf t;
            mitm_buf_init(&t, 0);
            escape_bytes((const uint8_t *)s, (size_t)((e ? e : ve) - s), &t, false);
            seg(r, MITM_CV_TEXT, (const char *)mitm_buf_data(&t), t.len);
            endline(r);
            mitm_buf_free(&t);
            nl = e;
        }
    }
    for (size_t i = 0; i < n; i++) {
        mitm_buf_free(&ks[i]);
        mitm_buf_free(&vs[i]);
    }
    free(ks);
    free(vs);
}

static void kv_add(struct mitm_kv **v, size_t *n, const char *k, size_t kl, const char *val, size_t vl)
{
    *v = mitm_realloc(*v, (*n + 1) * sizeof(**v));
    (*v)[*n] = (struct mitm_kv){mitm_memdup(k, kl), mitm_memdup(val, vl), kl, vl};
    (*n)++;
}

void mitm_kv_free(struct mitm_kv *kv, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(kv[i].k);
        free(kv[i].v);
    }
    free(kv);
}

static int hexval(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

static void unquote_plus(const char *s, size_t n, struct mitm_buf *out)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '+') {
            mitm_buf_append(out, " ", 1);
        } else if (s[i] == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
            uint8_t b = (uint8_t)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
            mitm_buf_append(out, &b, 1);
            i += 2;
        } else {
            mitm_buf_append(out, &s[i], 1);
        }
    }
}

size_t mitm_cv_parse_qsl(const char *s, size_t n, size_t max, struct mitm_kv **out)
{
    struct mitm_kv *v = NULL;
    size_t count = 0;
    const char *p = s, *end = s + n;
    while (p < end && count < max) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *pe = amp ? amp : end;
        if (pe > p) {
            const char *eq = memchr(p, '=', (size_t)(pe - p));
            struct mitm_buf k, val;
            mitm_buf_init(&k, 0);
            mitm_buf_init(&val, 0);
            unquote_plus(p, (size_t)((eq ? eq : pe) - p), &k);
            if (eq)
                unquote_plus(eq + 1, (size_t)(pe - eq - 1), &val);
            kv_add(&v, &count, (const char *)mitm_buf_data(&k), k.len, (const char *)mitm_buf_data(&val),
                   val.len);
            mitm_buf_free(&k);
            mitm_buf_free(&val);
        }
        p = amp ? amp + 1 : end;
    }
    *out = v;
    return count;
}

/* ------------------------------------------------------------------ raw, hex */

static int view_raw(struct mitm_cv_result *r, const uint8_t *d, size_t n, const struct mitm_cv_meta *m)
{
    (void)m;
    struct mitm_buf b;
    mitm_buf_init(&b, 0);
    /* like bytes_to_escaped_str(keep_spacing=True): a backslash is doubled so \xNN is unambiguous */
    escape_bytes2(d, n, &b, true, true);
    text_lines(r, (const char *)mitm_buf_data(&b), b.len);
    mitm_buf_free(&b);
    return 0;
}

/* strutils.hexdump: offset, 16 bytes in hex padded to 47 columns, the ASCII with '.' for the rest. */
static int view_hex(struct mitm_cv_result *r, const uint8_t *d, size_t n, const struct mitm_cv_meta *m)
{
    (void)m;
    for (size_t i = 0; i < n && !full(r); i += 16) {
        char off[24], hex[64], asc[17];
        snprintf(off, sizeof(off), "%010zx ", i);
        size_t k = n - i < 16 ? n - i : 16, hl = 0;
        for (size_t j = 0; j < k; j++) {
            hl += (size_t)snprintf(hex + hl, sizeof(hex) - hl, j ? " %02x" : "%02x", d[i + j]);
            asc[j] = d[i + j] >= 0x20 && d[i + j] < 0x7f ? (char)d[i + j] : '.';
        }
        while (hl < 47)
            hex[hl++] = ' ';
        memcpy(hex + hl, "   ", 4);
        seg(r, MITM_CV_OFFSET, off, strlen(off));
        seg(r, MITM_CV_TEXT, hex, hl + 3);
        seg(r, MITM_CV_TEXT, asc, k);
        endline(r);
    }
    return 0;
}

/* ------------------------------------------------------------------ json */

/* A pretty-printer that parses and re-emits in one pass, producing what Python's
 * json.dumps(json.loads(data), indent=4, ensure_ascii=False) prints (keys in document order). */
struct jp {
    const char *p, *end;
    struct mitm_cv_result *r;
    struct mitm_buf tok;
    int depth;
};

static void jws(struct jp *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
}

static void jindent(struct jp *j, int level)
{
    endline(j->r);
    for (int i = 0; i < level; i++)
        seg(j->r, MITM_CV_TEXT, "    ", 4);
}

static void put_utf8(struct mitm_buf *b, uint32_t cp)
{
    uint8_t u[4];
    size_t l;
    if (cp < 0x80) {
        u[0] = (uint8_t)cp, l = 1;
    } else if (cp < 0x800) {
        u[0] = (uint8_t)(0xc0 | (cp >> 6)), u[1] = (uint8_t)(0x80 | (cp & 0x3f)), l = 2;
    } else if (cp < 0x10000) {
        u[0] = (uint8_t)(0xe0 | (cp >> 12)), u[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
        u[2] = (uint8_t)(0x80 | (cp & 0x3f)), l = 3;
    } else {
        u[0] = (uint8_t)(0xf0 | (cp >> 18)), u[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3f));
        u[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f)), u[3] = (uint8_t)(0x80 | (cp & 0x3f)), l = 4;
    }
    mitm_buf_append(b, u, l);
}

static int hex4(const char *p, const char *end, uint32_t *v)
{
    if (end - p < 4)
        return -1;
    *v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(p[i]);
        if (h < 0)
            return -1;
        *v = *v * 16 + (uint32_t)h;
    }
    return 0;
}

/* Parse a string at j->p (on the quote) and emit it re-encoded as Python does. */
static int jstring(struct jp *j)
{
    struct mitm_buf *o = &j->tok;
    o->len = 0;
    mitm_buf_append(o, "\"", 1);
    j->p++;
    while (j->p < j->end) {
        unsigned char c = (unsigned char)*j->p;
        if (c == '"') {
            j->p++;
            mitm_buf_append(o, "\"", 1);
            seg(j->r, MITM_CV_STRING, (const char *)mitm_buf_data(o), o->len);
            return 0;
        }
        if (c < 0x20)
            return -1; /* strict: raw control characters are not allowed */
        if (c != '\\') {
            size_t l = mitm_utf8_seq((const uint8_t *)j->p, (size_t)(j->end - j->p));
            if (l == 0)
                return -1; /* not UTF-8: Python's decode("utf-8") fails */
            mitm_buf_append(o, j->p, l);
            j->p += l;
            continue;
        }
        if (j->end - j->p < 2)
            return -1;
        char e = j->p[1];
        j->p += 2;
        const char *simple = e == '"'    ? "\\\""
                             : e == '\\' ? "\\\\"
                             : e == 'n'  ? "\\n"
                             : e == 'r'  ? "\\r"
                             : e == 't'  ? "\\t"
                             : e == 'b'  ? "\\b"
                             : e == 'f'  ? "\\f"
                                         : NULL;
        if (simple) {
            mitm_buf_append(o, simple, 2);
        } else if (e == '/') {
            mitm_buf_append(o, "/", 1);
        } else if (e == 'u') {
            uint32_t cp, lo;
            if (hex4(j->p, j->end, &cp) != 0)
                return -1;
            j->p += 4;
            if (cp >= 0xd800 && cp < 0xdc00 && j->end - j->p >= 6 && j->p[0] == '\\' && j->p[1] == 'u' &&
                hex4(j->p + 2, j->end, &lo) == 0 && lo >= 0xdc00 && lo < 0xe000) {
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                j->p += 6;
            }
            if (cp == '"' || cp == '\\')
                mitm_buf_append(o, cp == '"' ? "\\\"" : "\\\\", 2);
            else if (cp == '\n' || cp == '\r' || cp == '\t' || cp == '\b' || cp == '\f')
                mitm_buf_append(o,
                                cp == '\n'   ? "\\n"
                                : cp == '\r' ? "\\r"
                                : cp == '\t' ? "\\t"
                                : cp == '\b' ? "\\b"
                                             : "\\f",
                                2);
            else if (cp < 0x20 || (cp >= 0xd800 && cp < 0xe000))
                mitm_buf_printf(o, "\\u%04x", cp); /* controls; lone surrogates cannot be printed */
            else
                put_utf8(o, cp);
        } else {
            return -1;
        }
    }
    return -1;
}

/* Python float repr: shortest round-trip digits; exponent form below 1e-4 or from 1e16. */
static void py_float(double v, struct mitm_buf *o)
{
    if (isinf(v)) {
        mitm_buf_printf(o, "%sInfinity", v < 0 ? "-" : "");
        return;
    }
    if (v == 0) {
        mitm_buf_printf(o, "%s0.0", signbit(v) ? "-" : "");
        return;
    }
    char buf[40];
    for (int prec = 0; prec < 17; prec++) {
        snprintf(buf, sizeof(buf), "%.*e", prec, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    /* buf = [-]d[.ddd]e[+-]XX */
    char digits[24];
    size_t nd = 0;
    const char *q = buf;
    bool neg = *q == '-';
    if (neg)
        q++;
    for (; *q && *q != 'e'; q++)
        if (*q != '.')
            digits[nd++] = *q;
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    int exp = atoi(q + 1), decpt = exp + 1;
    if (neg)
        mitm_buf_append(o, "-", 1);
    if (decpt > 16 || decpt <= -4) {
        mitm_buf_append(o, digits, 1);
        if (nd > 1) {
            mitm_buf_append(o, ".", 1);
            mitm_buf_append(o, digits + 1, nd - 1);
        }
        mitm_buf_printf(o, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
    } else if (decpt <= 0) {
        mitm_buf_append(o, "0.", 2);
        for (int i = decpt; i < 0; i++)
            mitm_buf_append(o, "0", 1);
        mitm_buf_append(o, digits, nd);
    } else {
        for (int i = 0; i < decpt; i++)
            mitm_buf_append(o, i < (int)nd ? &digits[i] : "0", 1);
        mitm_buf_append(o, ".", 1);
        if ((int)nd > decpt)
            mitm_buf_append(o, digits + decpt, nd - (size_t)decpt);
        else
            mitm_buf_append(o, "0", 1);
    }
}

static int jnumber(struct jp *j)
{
    const char *s = j->p, *q = s;
    if (q < j->end && *q == '-')
        q++;
    if ((size_t)(j->end - q) >= 8 && memcmp(q, "Infinity", 8) == 0) {
        j->p = q + 8;
        seg(j->r, MITM_CV_NUMBER, s, (size_t)(j->p - s));
        return 0;
    }
    if (q >= j->end || !isdigit((unsigned char)*q))
        return -1;
    if (*q == '0')
        q++;
    else
        while (q < j->end && isdigit((unsigned char)*q))
            q++;
    bool is_float = false;
    if (q < j->end && *q == '.') {
        q++;
        if (q >= j->end || !isdigit((unsigned char)*q))
            return -1;
        while (q < j->end && isdigit((unsigned char)*q))
            q++;
        is_float = true;
    }
    if (q < j->end && (*q == 'e' || *q == 'E')) {
        q++;
        if (q < j->end && (*q == '+' || *q == '-'))
            q++;
        if (q >= j->end || !isdigit((unsigned char)*q))
            return -1;
        while (q < j->end && isdigit((unsigned char)*q))
            q++;
        is_float = true;
    }
    j->p = q;
    struct mitm_buf *o = &j->tok;
    o->len = 0;
    if (is_float) {
        char *tmp = mitm_strndup(s, (size_t)(q - s));
        py_float(strtod(tmp, NULL), o);
        free(tmp);
    } else {
        const char *d = s[0] == '-' ? s + 1 : s;
        bool zero = (size_t)(q - d) == 1 && *d == '0';
        mitm_buf_append(o, zero ? d : s, (size_t)(q - (zero ? d : s)));
    }
    seg(j->r, MITM_CV_NUMBER, (const char *)mitm_buf_data(o), o->len);
    return 0;
}

static int jvalue(struct jp *j);

static int jcontainer(struct jp *j, char close)
{
    bool obj = close == '}';
    if (++j->depth > MITM_CV_MAX_DEPTH)
        return -1;
    j->p++;
    jws(j);
    if (j->p < j->end && *j->p == close) {
        j->p++;
        seg(j->r, MITM_CV_TEXT, obj ? "{}" : "[]", 2);
        j->depth--;
        return 0;
    }
    seg(j->r, MITM_CV_TEXT, obj ? "{" : "[", 1);
    for (;;) {
        jindent(j, j->depth);
        jws(j);
        if (obj) {
            if (j->p >= j->end || *j->p != '"' || jstring(j) != 0)
                return -1;
            jws(j);
            if (j->p >= j->end || *j->p != ':')
                return -1;
            j->p++;
            seg(j->r, MITM_CV_TEXT, ": ", 2);
        }
        if (jvalue(j) != 0)
            return -1;
        jws(j);
        if (j->p < j->end && *j->p == ',') {
            j->p++;
            seg(j->r, MITM_CV_TEXT, ",", 1);
            continue;
        }
        if (j->p < j->end && *j->p == close) {
            j->p++;
            break;
        }
        return -1;
    }
    j->depth--;
    jindent(j, j->depth);
    seg(j->r, MITM_CV_TEXT, obj ? "}" : "]", 1);
    return 0;
}

static int jliteral(struct jp *j, const char *lit, enum mitm_cv_style st)
{
    size_t l = strlen(lit);
    if ((size_t)(j->end - j->p) < l || memcmp(j->p, lit, l) != 0)
        return -1;
    j->p += l;
    seg(j->r, st, lit, l);
    return 0;
}

static int jvalue(struct jp *j)
{
    jws(j);
    if (j->p >= j->end)
        return -1;
    switch (*j->p) {
    case '{':
        return jcontainer(j, '}');
    case '[':
        return jcontainer(j, ']');
    case '"':
        return jstring(j);
    case 't':
        return jliteral(j, "true", MITM_CV_BOOLEAN);
    case 'f':
        return jliteral(j, "false", MITM_CV_BOOLEAN);
    case 'n':
        return jliteral(j, "null", MITM_CV_BOOLEAN);
    case 'N':
        return jliteral(j, "NaN", MITM_CV_NUMBER);
    case 'I':
        return jliteral(j, "Infinity", MITM_CV_NUMBER);
    default:
        return jnumber(j);
    }
}

static int view_json(struct mitm_cv_result *r, const uint8_t *d, size_t n, const struct mitm_cv_meta *m)
{
    (void)m;
    struct jp j = {(const char *)d, (const char *)d + n, r, {0}, 0};
    mitm_buf_init(&j.tok, 0);
    /* Python's json.loads(bytes) skips a UTF-8 BOM */
    if (n >= 3 && memcmp(d, "\xef\xbb\xbf", 3) == 0)
        j.p += 3;
    int rc = jvalue(&j);
    if (rc == 0 && !full(r)) {
        jws(&j);
        rc = j.p == j.end ? 0 : -1;
    }
    if (rc == 0)
        endline(r);
    mitm_buf_free(&j.tok);
    /* a cut rendering stops early; what was parsed so far is shown */
    return full(r) ? 0 : rc;
}

/* ------------------------------------------------------------------ forms */

static int view_urlencoded(struct mitm_cv_result *r, const uint8_t *d, size_t n, const struct mitm_cv_meta *m)
{
    (void)m;
    for (size_t i = 0; i < n; i++)
        if (d[i] >= 0x80)
            return -1; /* data.decode("ascii") fails */
    struct mitm_kv *kv = NULL;
    size_t k = mitm_cv_parse_qsl((const char *)d, n, SIZE_MAX, &kv);
    format_pairs(r, kv, k, false);
    mitm_kv_free(kv, k);
    return 0;
}

static const char *query_of(const struct mitm_http_request *q, size_t *len)
{
    const char *s = q && q->path ? strchr(q->path, '?') : NULL;
    if (!s)
        return NULL;
    s++;
    const char *h = strchr(s, '#');
    *len = h ? (size_t)(h - s) : strlen(s);
    return s;
}

static int view_query(struct mitm_cv_result *r, const uint8_t *d, size_t n, const struct mitm_cv_meta *m)
{
    (void)d;
    (void)n;
    size_t ql = 0;
    const char *q = query_of(m->request, &ql);
    struct mitm_kv *kv = NULL;
    size_t k = q ? mitm_cv_parse_qsl(q, ql, SIZE_MAX, &kv) : 0;
    if (k)
        format_pairs(r, kv, k, false);
    else
        endline(r);
    mitm_kv_free(kv, k);
    return 0;
}

/* bytes.splitlines(): lines split at \n, \r\n, \r. */
struct span {
    const uint8_t *p;
    size_t n;
};

static size_t splitlines(const uint8_t *p, size_t n, struct span **out)
{
    size_t cap = 16, k = 0;
    struct span *v = mitm_alloc(cap * sizeof(*v));
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && p[j] != '\n' && p[j] != '\r')
            j++;
        if (k == cap)
            v = mitm_realloc(v, (cap *= 2) * sizeof(*v));
        v[k++] = (struct span){p + i, j - i};
        if (j < n && p[j] == '\r' && j + 1 < n && p[j + 1] == '\n')
            j++;
        i = j + 1;
    }
    *out = v;
    return k;
}

/* mitmproxy's decode_multipart: split at "--boundary"; a part whose second line names the
 * field (name="...") has the lines after its first empty line (from the third on) joined as
 * the value. */
static int view_multipart(struct mitm_cv_result *r, const uint8_t *d, size_t n, const struct mitm_cv_meta *m)
{
    size_t bl = 0;
    const char *b = m->content_type
                        ? mitm_content_type_param(m->content_type, m->content_type_len, "boundary", &bl)
                        : NULL;
    if (!b || bl == 0 || bl > 200)
        return -1;
    char delim[210];
    snprintf(delim, sizeof(delim), "--%.*s", (int)bl, b);
    size_t dl = bl + 2;
    struct mitm_kv *kv = NULL;
    size_t k = 0;
    const uint8_t *p = d, *end = d + n;
    while (p <= end) {
        const uint8_t *next = memmem(p, (size_t)(end - p), delim, dl);
        const uint8_t *pe = next ? next : end;
        struct span *lines;
        size_t nl = splitlines(p, (size_t)(pe - p), &lines);
        if (nl > 1 && !(lines[0].n >= 2 && lines[0].p[0] == '-' && lines[0].p[1] == '-')) {
            const char *nm = memmem(lines[1].p, lines[1].n, "name=\"", 6);
            /* \bname=: the byte before "name" must not be a word character */
            if (nm && nm > (const char *)lines[1].p && (isalnum((unsigned char)nm[-1]) || nm[-1] == '_'))
                nm = NULL;
            const char *ne =
                nm ? memchr(nm + 6, '"', (size_t)((const char *)lines[1].p + lines[1].n - nm - 6)) : NULL;
            if (nm && ne && ne > nm + 6) {
                size_t blank = 2;
                while (blank < nl && lines[blank].n)
                    blank++;
                if (blank == nl) {
                    free(lines);
                    mitm_kv_free(kv, k);
                    return -1; /* list.index raises: no empty line */
                }
                struct mitm_buf val;
                mitm_buf_init(&val, 0);
                for (size_t i = blank + 1; i < nl; i++)
                    mitm_buf_append(&val, lines[i].p, lines[i].n);
                kv_add(&kv, &k, nm + 6, (size_t)(ne - nm - 6), (const char *)mitm_buf_data(&val), val.len);
                mitm_buf_free(&val);
            }
        }
        free(lines);
        if (!next)
            break;
        p = next + dl;
    }
    if (k == 0)
        return -1;
    seg(r, MITM_CV_HIGHLIGHT, "Form data:", 10);
    endline(r);
    format_pairs(r, kv, k, false);
    mitm_kv_free(kv, k);
    return 0;
}

/* ------------------------------------------------------------------ image */

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint16_t be16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static uint16_t le16(const uint8_t *p)
{
    return (uint16_t)(p[1] << 8 | p[0]);
}

/* Key/value list where a repeated key keeps its first value (format_dict(MultiDict(...))). */
static void meta_add(struct mitm_kv **kv, size_t *n, const char *k, size_t kl, const char *v, size_t vl)
{
    for (size_t i = 0; i < *n; i++)
        if ((*kv)[i].klen == kl && memcmp((*kv)[i].k, k, kl) == 0)
            return;
    kv_add(kv, n, k, kl, v, vl);
}

static void meta_addf(struct mitm_kv **kv, size_t *n, const char *k, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void meta_addf(struct mitm_kv **kv, size_t *n, const char *k, const char *fmt, ...)
{
    char v[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v, sizeof(v), fmt, ap);
    va_end(ap);
    meta_add(kv, n, k, strlen(k), v, strlen(v));
}

/* Python's repr() of bytes: b'...' (b"..." when it holds ' and no "). */
static void py_bytes_repr(const uint8_t *p, size_t n, struct mitm_buf *o)
{
    bool sq = memchr(p, '\'', n) != NULL, dq = memchr(p, '"', n) != NULL;
    char q = sq && !dq ? '"' : '\'';
    mitm_buf_printf(o, "b%c", q);
    for (size_t i = 0; i < n; i++) {
        uint8_t c = p[i];
        if (c == (uint8_t)q || c == '\\')
            mitm_buf_printf(o, "\\%c", c);
        else if (c == '\t' || c == '\n' || c == '\r')
            mitm_buf_printf(o, "\\%c", c == '\t' ? 't' : c == '\n' ? 'n' : 'r');
        else if (c < 0x20 || c >= 0x7f)
            mitm_buf_printf(o, "\\x%02x", c);
        else
            mitm_buf_append(o, &c, 1);
    }
    mitm_buf_append(o, &q, 1);
}

/* Python str() of a float: repr. */
static void meta_float(struct mitm_kv **kv, size_t *n, const char *k, double v)
{
    struct mitm_buf b;
    mitm_buf_init(&b, 0);
    py_float(v, &b);
    meta_add(kv, n, k, strlen(k), (const char *)mitm_buf_data(&b), b.len);
    mitm_buf_free(&b);
}

static int parse_png(const uint8_t *d, size_t n, struct mitm_kv **kv, size_t *k)
{
    if (n < 8 + 8 + 13 || memcmp(d + 12, "IHDR", 4) != 0)
        return -1;
    meta_addf(kv, k, "Format", "Portable network graphics");
    meta_addf(kv, k, "Size", "%u x %u px", be32(d + 16), be32(d + 20));
    size_t p = 8;
    bool iend = false;
    while (p < n && !iend) {
        if (n - p < 12)
            return -1; /* a chunk cut short (kaitai's parse fails) */
        uint32_t len = be32(d + p);
        const uint8_t *type = d + p + 4, *body = d + p + 8;
        if (len > n - p - 8 || n - p - 8 - len < 4)
            return -1; /* truncated chunk (kaitai fails) */
        if (memcmp(type, "gAMA", 4) == 0 && len >= 4) {
            meta_float(kv, k, "gamma", be32(body) / 100000.0);
        } else if (memcmp(type, "pHYs", 4) == 0 && len >= 9) {
            meta_addf(kv, k, "aspect", "%u x %u", be32(body), be32(body + 4));
        } else if (memcmp(type, "tEXt", 4) == 0 || memcmp(type, "zTXt", 4) == 0 ||
                   memcmp(type, "iTXt", 4) == 0) {
            const uint8_t *nul = memchr(body, 0, len);
            if (!nul)
                return -1;
            size_t kl = (size_t)(nul - body);
            const uint8_t *t = nul + 1, *te = body + len;
            struct mitm_buf text, raw;
            mitm_buf_init(&text, 0);
            mitm_buf_init(&raw, 0);
            int ok = 0;
            if (type[0] == 't') {
                mitm_charset_decode(MITM_CHARSET_LATIN1, t, (size_t)(te - t), &text);
            } else if (type[0] == 'z') {
                char why[64];
                ok = t < te &&
                     mitm_decode("deflate", t + 1, (size_t)(te - t - 1), 1 << 20, &raw, why, sizeof(why));
                mitm_charset_decode(MITM_CHARSET_LATIN1, mitm_buf_data(&raw), raw.len, &text);
            } else {
                /* compression flag, method, language tag NUL, translated keyword NUL, text */
                const uint8_t *q = t + 2 <= te ? t + 2 : te;
                for (int z = 0; z < 2 && q < te; z++) {
                    const uint8_t *nz = memchr(q, 0, (size_t)(te - q));
                    q = nz ? nz + 1 : te;
                }
                mitm_buf_append(&text, q, (size_t)(te - q));
            }
            struct mitm_buf key;
            mitm_buf_init(&key, 0);
            mitm_charset_decode(MITM_CHARSET_LATIN1, body, kl, &key);
            if (ok == 0)
                meta_add(kv, k, (const char *)mitm_buf_data(&key), key.len,
                         (const char *)mitm_buf_data(&text), text.len);
            mitm_buf_free(&key);
            mitm_buf_free(&text);
            mitm_buf_free(&raw);
            if (ok != 0)
                return -1;
        }
        p += 12 + (size_t)len;
        iend = memcmp(type, "IEND", 4) == 0;
    }
    return 0;
}

/* GIF (GIF89a spec): header, logical screen descriptor, then blocks; comment extensions
 * (0x21 0xfe) give "comment" entries (Python repr of each sub-block's bytes). */
static int parse_gif(const uint8_t *d, size_t n, struct mitm_kv **kv, size_t *k)
{
    if (n < 13)
        return -1;
    meta_addf(kv, k, "Format", "Compuserve GIF");
    meta_addf(kv, k, "Version", "GIF%.3s", (const char *)d + 3);
    meta_addf(kv, k, "Size", "%u x %u px", le16(d + 6), le16(d + 8));
    meta_addf(kv, k, "background", "%u", d[11]);
    size_t p = 13;
    if (d[10] & 0x80)
        p += (size_t)3 << ((d[10] & 7) + 1);
    for (int guard = 0; p < n && guard < 100000; guard++) {
        uint8_t kind = d[p++];
        if (kind == 0x3b)
            return 0;
        bool comment = false;
        if (kind == 0x21) {
            if (p >= n)
                return -1;
            comment = d[p++] == 0xfe;
        } else if (kind == 0x2c) {
            if (p + 9 > n)
                return -1;
            uint8_t flags = d[p + 8];
            p += 9;
            if (flags & 0x80)
                p += (size_t)3 << ((flags & 7) + 1);
            p++; /* LZW minimum code size */
        } else {
            return -1;
        }
        /* data sub-blocks */
        while (p < n) {
            uint8_t len = d[p++];
            if (len == 0)
                break;
            if (p + len > n)
                return -1;
            if (comment) {
                struct mitm_buf b;
                mitm_buf_init(&b, 0);
                py_bytes_repr(d + p, len, &b);
                meta_add(kv, k, "comment", 7, (const char *)mitm_buf_data(&b), b.len);
                mitm_buf_free(&b);
            }
            p += len;
        }
    }
    return p <= n ? 0 : -1;
}

/* JPEG (ISO 10918-1 Annex B): markers up to the start of scan. */
static int parse_jpeg(const uint8_t *d, size_t n, struct mitm_kv **kv, size_t *k)
{
    meta_addf(kv, k, "Format", "JPEG (ISO 10918)");
    size_t p = 2;
    while (p + 4 <= n) {
        if (d[p] != 0xff)
            return -1;
        uint8_t mk = d[p + 1];
        if (mk == 0xd9 || mk == 0xda)
            break;
        if (mk == 0x01 || (mk >= 0xd0 && mk <= 0xd7)) {
            p += 2;
            continue;
        }
        size_t len = be16(d + p + 2);
        if (len < 2 || p + 2 + len > n)
            return -1;
        const uint8_t *s = d + p + 4;
        size_t sl = len - 2;
        if (mk == 0xc0 && sl >= 5) {
            meta_addf(kv, k, "Size", "%u x %u px", be16(s + 3), be16(s + 1));
        } else if (mk == 0xe0 && sl >= 12 && memcmp(s, "JFIF\0", 5) == 0) {
            meta_addf(kv, k, "jfif_version", "(%u, %u)", s[5], s[6]);
            meta_addf(kv, k, "jfif_density", "(%u, %u)", be16(s + 8), be16(s + 10));
            meta_addf(kv, k, "jfif_unit", "%u", s[7]);
        } else if (mk == 0xfe) {
            struct mitm_buf b;
            mitm_buf_init(&b, 0);
            py_bytes_repr(s, sl, &b);
            meta_add(kv, k, "comment", 7, (const char *)mitm_buf_data(&b), b.len);
            mitm_buf_free(&b);
        }
        p += 2 + len;
    }
    return 0;
}

static int parse_ico(const uint8_t *d, size_t n, struct mitm_kv **kv, size_t *k, struct mitm_cv_result *r)
{
    if (n < 6)
        return -1;
    unsigned count = le16(d + 4);
    if (6 + (size_t)count * 16 > n)
        return -1;
    meta_addf(kv, k, "Format", "ICO");
    meta_addf(kv, k, "Number of images", "%u", count);
    (void)r;
    for (unsigned i = 0; i < count; i++) {
        const uint8_t *e = d + 6 + (size_t)i * 16;
        uint32_t size = (uint32_t)e[8] | (uint32_t)e[9] << 8 | (uint32_t)e[10] << 16 | (uint32_t)e[11] << 24;
        uint32_t off = (uint32_t)e[12] | (uint32_t)e[13] << 8 | (uint32_t)e[14] << 16 | (uint32_t)e[15] << 24;
        if (off > n || size > n - off)
            return -1;
        bool png = size >= 8 && memcmp(d + off, "\x89PNG\r\n\x1a\n", 8) == 0;
        char key[32];
        snprintf(key, sizeof(key), "Image %u", i + 1);
        /* mitmproxy's value spans three lines, continued with 18 spaces */
        meta_addf(kv, k, key, "Size: %u x %u\n%18sBits per pixel: %u\n%18sPNG: %s", e[0] ? e[0] : 256,
                  e[1] ? e[1] : 256, "", le16(e + 6), "", png ? "True" : "False");
    }
    return 0;
}

/* imghdr.what plus mitmproxy's ico test. */
static const char *image_type(const uint8_t *d, size_t n)
{
    if (n >= 8 && memcmp(d, "\x89PNG\r\n\x1a\n", 8) == 0)
        return "png";
    if (n >= 6 && (memcmp(d, "GIF87a", 6) == 0 || memcmp(d, "GIF89a", 6) == 0))
        return "gif";
    if ((n >= 10 && (memcmp(d + 6, "JFIF", 4) == 0 || memcmp(d + 6, "Exif", 4) == 0)) ||
        (n >= 4 && memcmp(d, "\xff\xd8\xff\xdb", 4) == 0))
        return "jpeg";
    if (n >= 4 && memcmp(d, "\0\0\1\0", 4) == 0)
        return "ico";
    if (n >= 12 && memcmp(d, "RIFF", 4) == 0 && memcmp(d + 8, "WEBP", 4) == 0)
        return "webp";
    if (n >= 2 && memcmp(d, "BM", 2) == 0)
        return "bmp";
    if (n >= 4 && (memcmp(d, "MM\0*", 4) == 0 || memcmp(d, "II*\0", 4) == 0))
        return "tiff";
    if (n >= 8 && memcmp(d, "\x76\x2f\x31\x01", 4) == 0)
        return "exr";
    return NULL;
}

static int view_image(struct mitm_cv_result *r, const uint8_t *d, size_t n, const struct mitm_cv_meta *m)
{
    (void)m;
    const char *t = image_type(d, n);
    struct mitm_kv *kv = NULL;
    size_t k = 0;
    int rc = 0;
    if (t && strcmp(t, "png") == 0)
        rc = parse_png(d, n, &kv, &k);
    else if (t && strcmp(t, "gif") == 0)
        rc = parse_gif(d, n, &kv, &k);
    else if (t && strcmp(t, "jpeg") == 0)
        rc = parse_jpeg(d, n, &kv, &k);
    else if (t && strcmp(t, "ico") == 0)
        rc = parse_ico(d, n, &kv, &k, r);
    else
        meta_addf(&kv, &k, "Image Format", "%s", t ? t : "unknown");
    if (rc == 0)
        format_pairs(r, kv, k, true);
    mitm_kv_free(kv, k);
    return rc;
}

/* ------------------------------------------------------------------ xml/html */

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

static int view_xml(struct mitm_cv_result *r, const uint8_t *d, size_t n, const struct mitm_cv_meta *m)
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
    escaped_lines(r, &out);
    return 0;
}

/* ------------------------------------------------------------------ css, javascript */

/* Both beautifiers follow mitmproxy's: the special characters inside strings and comments
 * are first hidden (here: marked in a parallel mask), then whitespace around the
 * delimiters is rewritten. */
struct mbuf {
    struct mitm_buf b;    /* text */
    struct mitm_buf mask; /* one byte per text byte: 1 = inside a string/comment */
};

static void mput(struct mbuf *m, const char *p, size_t n, uint8_t prot)
{
    mitm_buf_append(&m->b, p, n);
    for (size_t i = 0; i < n; i++)
        mitm_buf_append(&m->mask, &prot, 1);
}

static void mfree(struct mbuf *m)
{
    mitm_buf_free(&m->b);
    mitm_buf_free(&m->mask);
}

/* Mark strings ('...', "...", `...` for js), block comments and line comments. */
static void protect(const char *d, size_t n, bool js, struct mbuf *out)
{
    size_t i = 0;
    while (i < n) {
        char c = d[i];
        size_t e = i;
        if (c == '"' || c == '\'' || (js && c == '`')) {
            e = i + 1;
            while (e < n && d[e] != c && (js || c == '`' || d[e] != '\n')) {
                if (d[e] == '\\' && e + 1 < n)
                    e++;
                e++;
            }
            e = e < n ? e + 1 : n;
        } else if (c == '/' && i + 1 < n && d[i + 1] == '*') {
            const char *end = memmem(d + i + 2, n - i - 2, "*/", 2);
            e = end ? (size_t)(end - d) + 2 : n;
        } else if (c == '/' && i + 1 < n && d[i + 1] == '/') {
            const char *nl = memchr(d + i, '\n', n - i);
            e = nl ? (size_t)(nl - d) : n;
        }
        if (e > i) {
            mput(out, d + i, e - i, 1);
            i = e;
        } else {
            mput(out, &c, 1, 0);
            i++;
        }
    }
}

static bool sp(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* One rewriting pass: at each unprotected delimiter ch, whitespace around it (unprotected)
 * is replaced by before + ch + after. */
static void around(struct mbuf *m, char ch, const char *before, const char *after)
{
    struct mbuf o = {0};
    mitm_buf_init(&o.b, 0);
    mitm_buf_init(&o.mask, 0);
    const char *t = (const char *)mitm_buf_data(&m->b);
    const uint8_t *k = mitm_buf_data(&m->mask);
    size_t n = m->b.len;
    for (size_t i = 0; i < n;) {
        if (t[i] == ch && !k[i]) {
            /* drop the whitespace already written before it */
            while (o.b.len && sp(((const char *)mitm_buf_data(&o.b))[o.b.len - 1]) &&
                   !mitm_buf_data(&o.mask)[o.mask.len - 1]) {
                o.b.len--;
                o.mask.len--;
            }
            mput(&o, before, strlen(before), 0);
            mput(&o, &ch, 1, 0);
            mput(&o, after, strlen(after), 0);
            i++;
            while (i < n && sp(t[i]) && !k[i])
                i++;
            continue;
        }
        mput(&o, &t[i], 1, k[i]);
        i++;
    }
    mfree(m);
    *m = o;
}

static int view_css(struct mitm_cv_result *r, const uint8_t *d, size_t n, const struct mitm_cv_meta *m)
{
    (void)m;
    const char *s = (const char *)d, *e = s + n;
    while (s < e && sp(*s))
        s++;
    while (e > s && sp(e[-1]))
        e--;
    struct mbuf b = {0};
    mitm_buf_init(&b.b, 0);
    mitm_buf_init(&b.mask, 0);
    protect(s, (size_t)(e - s), false, &b);
    around(&b, ';', "", "\n");
    around(&b, '{', " ", "\n");
    around(&b, '}', "\n", "\n\n");
    around(&b, ',', "", " ");
    /* indent the lines inside a block: depth from the unprotected braces */
    struct mitm_buf out;
    mitm_buf_init(&out, 0);
    const char *t = (const char *)mitm_buf_data(&b.b);
    const uint8_t *k = mitm_buf_data(&b.mask);
    long depth = 0;
    bool bol = true;
    for (size_t i = 0; i < b.b.len; i++) {
        if (bol && !k[i] && (t[i] == ' ' || t[i] == '\t'))
            continue; /* re.sub("\n[ \t]+", "\n") */
        if (bol && t[i] != '\n') {
            long dd = depth - (t[i] == '}' && !k[i] ? 1 : 0);
            for (long x = 0; x < dd; x++)
                mitm_buf_append(&out, "    ", 4);
        }
        bol = false;
        if (!k[i] && t[i] == '{')
            depth++;
        if (!k[i] && t[i] == '}' && depth > 0)
            depth--;
        /* ":" in a declaration: "a : b" -> "a: b" */
        if (!k[i] && t[i] == ':' && depth > 0) {
            while (out.len &&
                   (mitm_buf_data(&out)[out.len - 1] == ' ' || mitm_buf_data(&out)[out.len - 1] == '\t'))
                out.len--;
            mitm_buf_append(&out, ": ", 2);
            while (i + 1 < b.b.len && !k[i + 1] && (t[i + 1] == ' ' || t[i + 1] == '\t'))
                i++;
            continue;
        }
        mitm_buf_append(&out, &t[i], 1);
        if (t[i] == '\n')
            bol = true;
    }
    while (out.len && mitm_buf_data(&out)[out.len - 1] == '\n')
        out.len--;
    escaped_lines(r, &out);
    mfree(&b);
    return 0;
}

static int view_js(struct mitm_cv_result *r, const uint8_t *d, size_t n, const struct mitm_cv_meta *m)
{
    (void)m;
    struct mbuf b = {0};
    mitm_buf_init(&b.b, 0);
    mitm_buf_init(&b.mask, 0);
    protect((const char *)d, n, true, &b);
    /* "for(...)" headers keep their semicolons */
    {
        char *t = (char *)(b.b.mem ? b.b.mem + b.b.off : NULL);
        uint8_t *k = b.mask.mem ? b.mask.mem + b.mask.off : NULL;
        for (size_t i = 0; t && i + 4 <= b.b.len; i++) {
            if (!k[i] && memcmp(t + i, "for(", 4) == 0 && (i == 0 || !isalnum((unsigned char)t[i - 1]))) {
                size_t j = i + 4;
                while (j < b.b.len && t[j] != ')' && t[j] != '\n')
                    k[j++] = 1;
            }
        }
    }
    around(&b, '{', " ", "\n");
    around(&b, ';', "", "\n");
    around(&b, '}', "\n", "\n");
    struct mitm_buf out;
    mitm_buf_init(&out, 0);
    const char *t = (const char *)mitm_buf_data(&b.b);
    long level = 0;
    /* line by line: "... {" opens, "}..." closes; 2 spaces per level */
    for (size_t i = 0; i < b.b.len;) {
        const char *nl = memchr(t + i, '\n', b.b.len - i);
        size_t e = nl ? (size_t)(nl - t) + 1 : b.b.len;
        const char *l = t + i;
        size_t ll = e - i;
        bool opens = ll >= 2 && l[ll - 1] == '\n' && l[ll - 2] == '{';
        if (!opens && ll && l[0] == '}')
            level--;
        for (long x = 0; x < level; x++)
            mitm_buf_append(&out, "  ", 2);
        mitm_buf_append(&out, l, ll);
        if (opens)
            level++;
        i = e;
    }
    escaped_lines(r, &out);
    mfree(&b);
    return 0;
}

/* ------------------------------------------------------------------ registry */

/* "type/subtype" lower-cased from a Content-Type (mitmproxy's parse_content_type), or "". */
static void mime_of(const struct mitm_cv_meta *m, char *out, size_t cap)
{
    out[0] = 0;
    if (!m || !m->content_type)
        return;
    const char *p = m->content_type, *end = p + m->content_type_len;
    const char *semi = memchr(p, ';', m->content_type_len);
    const char *e = semi ? semi : end;
    while (p < e && sp(*p))
        p++;
    while (e > p && sp(e[-1]))
        e--;
    const char *slash = memchr(p, '/', (size_t)(e - p));
    if (!slash || (size_t)(e - p) >= cap)
        return;
    for (const char *q = p; q < e; q++)
        out[q - p] = (char)tolower((unsigned char)*q);
    out[e - p] = 0;
    /* parse_content_type strips the parts around '/' */
    char *s = strchr(out, '/');
    char *a = out, *ae = s;
    while (ae > a && sp(ae[-1]))
        ae--;
    char *b = s + 1;
    while (*b && sp(*b))
        b++;
    memmove(ae + 1, b, strlen(b) + 1);
    *ae = '/';
}

typedef int (*view_fn)(struct mitm_cv_result *, const uint8_t *, size_t, const struct mitm_cv_meta *);
typedef double (*prio_fn)(const uint8_t *, size_t, const char *mime, const struct mitm_cv_meta *);

static double p_raw(const uint8_t *d, size_t n, const char *t, const struct mitm_cv_meta *m)
{
    (void)d, (void)t, (void)m;
    return n ? 0.1 : 0;
}

static double p_hex(const uint8_t *d, size_t n, const char *t, const struct mitm_cv_meta *m)
{
    (void)t, (void)m;
    return mitm_cv_is_mostly_bin(d, n) ? 0.5 : 0;
}

static double p_json(const uint8_t *d, size_t n, const char *t, const struct mitm_cv_meta *m)
{
    (void)d, (void)m;
    size_t l = strlen(t);
    if (!n)
        return 0;
    if (strcmp(t, "application/json") == 0 || strcmp(t, "application/json-rpc") == 0)
        return 1;
    return strncmp(t, "application/", 12) == 0 && l >= 4 && strcmp(t + l - 4, "json") == 0 ? 1 : 0;
}

static double p_xml(const uint8_t *d, size_t n, const char *t, const struct mitm_cv_meta *m)
{
    (void)m;
    if (!n)
        return 0;
    if (strcmp(t, "text/xml") == 0 || strcmp(t, "text/html") == 0)
        return 1;
    /* strutils.is_xml: first non-whitespace byte is '<' */
    size_t i = 0;
    while (i < n && sp((char)d[i]))
        i++;
    return i < n && d[i] == '<' ? 0.4 : 0;
}

static double p_js(const uint8_t *d, size_t n, const char *t, const struct mitm_cv_meta *m)
{
    (void)d, (void)m;
    return n && (strcmp(t, "application/x-javascript") == 0 || strcmp(t, "application/javascript") == 0 ||
                 strcmp(t, "text/javascript") == 0)
               ? 1
               : 0;
}

static double p_css(const uint8_t *d, size_t n, const char *t, const struct mitm_cv_meta *m)
{
    (void)d, (void)m;
    return n && strcmp(t, "text/css") == 0 ? 1 : 0;
}

static double p_urlencoded(const uint8_t *d, size_t n, const char *t, const struct mitm_cv_meta *m)
{
    (void)d, (void)m;
    return n && strcmp(t, "application/x-www-form-urlencoded") == 0 ? 1 : 0;
}

static double p_multipart(const uint8_t *d, size_t n, const char *t, const struct mitm_cv_meta *m)
{
    (void)d, (void)m;
    return n && strcmp(t, "multipart/form-data") == 0 ? 1 : 0;
}

static double p_image(const uint8_t *d, size_t n, const char *t, const struct mitm_cv_meta *m)
{
    (void)d, (void)n, (void)m;
    return strncmp(t, "image/", 6) == 0 && strcmp(t, "image/svg+xml") != 0 ? 1 : 0;
}

static double p_query(const uint8_t *d, size_t n, const char *t, const struct mitm_cv_meta *m)
{
    (void)d, (void)t;
    size_t ql = 0;
    return !n && m && query_of(m->request, &ql) && ql ? 0.3 : 0;
}

struct view {
    const char *name; /* registry key */
    const char *title;
    view_fn render;
    prio_fn prio;
};

/* Sorted by name (available_views order after "auto"). */
static const struct view views[] = {
    {"css", "CSS", view_css, p_css},
    {"hex dump", "Hex Dump", view_hex, p_hex},
    {"image", "Image", view_image, p_image},
    {"javascript", "JavaScript", view_js, p_js},
    {"json", "JSON", view_json, p_json},
    {"multipart form", "Multipart form", view_multipart, p_multipart},
    {"query", "Query", view_query, p_query},
    {"raw", "Raw", view_raw, p_raw},
    {"url-encoded", "URLEncoded form", view_urlencoded, p_urlencoded},
    {"xml/html", "XML/HTML", view_xml, p_xml},
};
#define NVIEWS (sizeof(views) / sizeof(views[0]))

static const char *const names[NVIEWS + 1] = {"auto",       "css",         "hex dump",       "image",
                                              "javascript", "json",        "multipart form", "query",
                                              "raw",        "url-encoded", "xml/html"};

const char *const *mitm_cv_names(size_t *n)
{
    *n = NVIEWS + 1;
    return names;
}

static const struct view *find_view(const char *name)
{
    if (!name)
        return NULL;
    if (strcasecmp(name, "hex") == 0)
        name = "hex dump";
    else if (strcasecmp(name, "viewcss") == 0)
        name = "css";
    for (size_t i = 0; i < NVIEWS; i++)
        if (strcasecmp(views[i].name, name) == 0)
            return &views[i];
    return NULL;
}

void mitm_cv_render(const char *name, const uint8_t *data, size_t len, const struct mitm_cv_meta *meta,
                    size_t max_lines, struct mitm_cv_result *out)
{
    static const struct mitm_cv_meta none = {0};
    if (!meta)
        meta = &none;
    out->max_lines = max_lines;
    char cut[48] = "";
    if (len > MITM_CV_MAX_INPUT) {
        snprintf(cut, sizeof(cut), " [cut at %zu bytes]", MITM_CV_MAX_INPUT);
        len = MITM_CV_MAX_INPUT;
    }
    char mime[128];
    mime_of(meta, mime, sizeof(mime));
    const struct view *v = find_view(name);
    bool chosen = v != NULL;
    if (!v) {
        double best = -1;
        for (size_t i = 0; i < NVIEWS; i++) {
            double p = views[i].prio(data, len, mime, meta);
            if (p > best) {
                best = p;
                v = &views[i];
            }
        }
        if (best <= 0 && len == 0) {
            out->view = "raw";
            snprintf(out->description, sizeof(out->description), "No content");
            return;
        }
    }
    out->view = v->name;
    if (v->render(out, data, len, meta) == 0) {
        snprintf(out->description, sizeof(out->description), "%s%s", v->title, cut);
        return;
    }
    /* mitmproxy: an auto-chosen view that fails falls back to raw; a chosen one too here
     * (mitmdump shows the data rather than a traceback) */
    (void)chosen;
    reset(out);
    out->view = "raw";
    view_raw(out, data, len, meta);
    snprintf(out->description, sizeof(out->description), "[failed to parse as %s] Raw%s", v->name, cut);
}

void mitm_cv_render_message(const char *name, const struct mitm_headers *headers,
                            const struct mitm_buf *content, bool missing,
                            const struct mitm_http_request *request, size_t max_lines,
                            struct mitm_cv_result *out)
{
    if (missing) {
        out->max_lines = max_lines;
        out->view = "raw";
        seg(out, MITM_CV_ERROR, "Content is missing.", 19);
        endline(out);
        snprintf(out->description, sizeof(out->description), "Content is missing.");
        return;
    }
    struct mitm_buf storage;
    struct mitm_slice body;
    mitm_buf_init(&storage, 0);
    mitm_encoding_message_content(headers, content, false, MITM_CV_MAX_INPUT, &storage, &body);
    size_t cel = 0;
    const char *ce = mitm_headers_get(headers, "content-encoding", &cel);
    /* like mitmproxy: "[decoded X]" when the decoded bytes differ from the raw ones, "[cannot
     * decode]" when a coding is named but the bytes did not decode */
    bool same = body.len == content->len &&
                (body.len == 0 || memcmp(body.base, mitm_buf_data(content), body.len) == 0);
    bool decoded = ce && !same;
    bool failed = ce && same && content->len && !(cel == 8 && strncasecmp(ce, "identity", 8) == 0) &&
                  !(cel == 4 && strncasecmp(ce, "none", 4) == 0) && cel > 0;
    size_t ctl = 0;
    const char *ct = mitm_headers_get(headers, "content-type", &ctl);
    struct mitm_cv_meta meta = {ct, ct ? ctl : 0, request};
    mitm_cv_render(name, body.base, body.len, &meta, max_lines, out);
    struct mitm_buf desc;
    mitm_buf_init(&desc, 0);
    if (decoded)
        mitm_buf_printf(&desc, "[decoded %.*s] ", (int)(cel < 40 ? cel : 40), ce);
    else if (failed)
        mitm_buf_printf(&desc, "[cannot decode] ");
    mitm_buf_printf(&desc, "%s", out->description);
    snprintf(out->description, sizeof(out->description), "%.*s", (int)desc.len,
             (const char *)mitm_buf_data(&desc));
    mitm_buf_free(&desc);
    mitm_buf_free(&storage);
}
