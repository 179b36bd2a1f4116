/* The JSON view (mitmproxy's json.py): the document pretty-printed as Python's json.dumps(indent=4)
 * prints it, keys in document order. */
#include "flow/contentview/contentview-int.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "flow/export.h"

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
    mitm_cv_endline(j->r);
    for (int i = 0; i < level; i++)
        mitm_cv_put(j->r, MITM_CV_TEXT, "    ", 4);
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
        int h = mitm_hexval((unsigned char)p[i]);
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
            mitm_cv_put(j->r, MITM_CV_STRING, (const char *)mitm_buf_data(o), o->len);
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

static int jnumber(struct jp *j)
{
    const char *s = j->p, *q = s;
    if (q < j->end && *q == '-')
        q++;
    if ((size_t)(j->end - q) >= 8 && memcmp(q, "Infinity", 8) == 0) {
        j->p = q + 8;
        mitm_cv_put(j->r, MITM_CV_NUMBER, s, (size_t)(j->p - s));
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
        mitm_cv_py_float(strtod(tmp, NULL), o);
        free(tmp);
    } else {
        const char *d = s[0] == '-' ? s + 1 : s;
        bool zero = (size_t)(q - d) == 1 && *d == '0';
        mitm_buf_append(o, zero ? d : s, (size_t)(q - (zero ? d : s)));
    }
    mitm_cv_put(j->r, MITM_CV_NUMBER, (const char *)mitm_buf_data(o), o->len);
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
        mitm_cv_put(j->r, MITM_CV_TEXT, obj ? "{}" : "[]", 2);
        j->depth--;
        return 0;
    }
    mitm_cv_put(j->r, MITM_CV_TEXT, obj ? "{" : "[", 1);
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
            mitm_cv_put(j->r, MITM_CV_TEXT, ": ", 2);
        }
        if (jvalue(j) != 0)
            return -1;
        jws(j);
        if (j->p < j->end && *j->p == ',') {
            j->p++;
            mitm_cv_put(j->r, MITM_CV_TEXT, ",", 1);
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
    mitm_cv_put(j->r, MITM_CV_TEXT, obj ? "}" : "]", 1);
    return 0;
}

static int jliteral(struct jp *j, const char *lit, enum mitm_cv_style st)
{
    size_t l = strlen(lit);
    if ((size_t)(j->end - j->p) < l || memcmp(j->p, lit, l) != 0)
        return -1;
    j->p += l;
    mitm_cv_put(j->r, st, lit, l);
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

static int render(struct mitm_cv_result *r, const uint8_t *d, size_t n, const struct mitm_cv_meta *m)
{
    (void)m;
    struct jp j = {(const char *)d, (const char *)d + n, r, {0}, 0};
    mitm_buf_init(&j.tok, 0);
    /* Python's json.loads(bytes) skips a UTF-8 BOM */
    if (n >= 3 && memcmp(d, "\xef\xbb\xbf", 3) == 0)
        j.p += 3;
    int rc = jvalue(&j);
    if (rc == 0 && !mitm_cv_full(r)) {
        jws(&j);
        rc = j.p == j.end ? 0 : -1;
    }
    if (rc == 0)
        mitm_cv_endline(r);
    mitm_buf_free(&j.tok);
    /* a cut rendering stops early; what was parsed so far is shown */
    return mitm_cv_full(r) ? 0 : rc;
}

static double priority(const uint8_t *d, size_t n, const char *t, const struct mitm_cv_meta *m)
{
    (void)d, (void)m;
    size_t l = strlen(t);
    if (!n)
        return 0;
    if (strcmp(t, "application/json") == 0 || strcmp(t, "application/json-rpc") == 0)
        return 1;
    return strncmp(t, "application/", 12) == 0 && l >= 4 && strcmp(t + l - 4, "json") == 0 ? 1 : 0;
}

const struct mitm_cv_view mitm_cv_view_json = {"json", "JSON", render, priority};
