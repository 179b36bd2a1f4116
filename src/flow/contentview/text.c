/* Text helpers the views share: escaping bytes for display, key/value listings, Python's
 * float repr. See contentview-int.h. */
#include "flow/contentview/contentview-int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "flow/export.h"

#define KEY_MAX 30 /* mitmproxy's base.KEY_MAX: widest key column of a key/value listing */

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
void mitm_cv_escape(const uint8_t *p, size_t n, struct mitm_buf *out, bool keep_newlines, bool backslashes)
{
    for (size_t i = 0; i < n;) {
        size_t l = mitm_utf8_seq(p + i, n - i);
        if (l > 1) {
            mitm_buf_append(out, p + i, l);
            i += l;
            continue;
        }
        uint8_t c = p[i++];
        if (backslashes && c == '\\')
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
    mitm_cv_escape(p, n, out, keep_newlines, false);
}

/* A beautifier's output as text lines, escaped (newlines kept); frees out. */
void mitm_cv_escaped_lines(struct mitm_cv_result *r, struct mitm_buf *out)
{
    struct mitm_buf esc;
    mitm_buf_init(&esc, 0);
    escape_bytes(mitm_buf_data(out), out->len, &esc, true);
    mitm_cv_text_lines(r, (const char *)mitm_buf_data(&esc), esc.len);
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
void mitm_cv_format_pairs(struct mitm_cv_result *r, const struct mitm_kv *kv, size_t n, bool split)
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
    for (size_t i = 0; i < n && !mitm_cv_full(r); i++) {
        mitm_buf_append(&ks[i], ":", 1);
        for (size_t l = ulen((const char *)mitm_buf_data(&ks[i]), ks[i].len); l < width + 2; l++)
            mitm_buf_append(&ks[i], " ", 1);
        mitm_cv_put(r, MITM_CV_KEY, (const char *)mitm_buf_data(&ks[i]), ks[i].len);
        mitm_cv_put(r, MITM_CV_TEXT, (const char *)mitm_buf_data(&vs[i]), vs[i].len);
        mitm_cv_endline(r);
        /* a value spanning lines (the ico view's) continues on its own lines */
        const char *v = kv[i].v, *ve = v + kv[i].vlen, *nl = split ? memchr(v, '\n', kv[i].vlen) : NULL;
        while (nl && !mitm_cv_full(r)) {
            const char *s = nl + 1, *e = memchr(s, '\n', (size_t)(ve - s));
            struct mitm_buf t;
            mitm_buf_init(&t, 0);
            escape_bytes((const uint8_t *)s, (size_t)((e ? e : ve) - s), &t, false);
            mitm_cv_put(r, MITM_CV_TEXT, (const char *)mitm_buf_data(&t), t.len);
            mitm_cv_endline(r);
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

void mitm_cv_kv_add(struct mitm_kv **v, size_t *n, const char *k, size_t kl, const char *val, size_t vl)
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

/* Python float repr: shortest round-trip digits; exponent form below 1e-4 or from 1e16. */
void mitm_cv_py_float(double v, struct mitm_buf *o)
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

bool mitm_cv_is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}
