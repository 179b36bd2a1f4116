#include "flow/tnetstring.h"
#include "base/alloc.h"

#include <errno.h>
#include <inttypes.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* mitmproxy's load() refuses prefixes over 12 digits ("absurdly large length prefix"). */
#define MAX_PREFIX_DIGITS 12
/* Python's repr never needs more than ~25 characters; anything far longer is not a
 * float mitmproxy wrote. */
#define MAX_FLOAT_CHARS 64
#define MAX_WRITE_DEPTH (MITM_TNS_DEFAULT_MAX_DEPTH * 4)

/* ---- nodes ---- */

static struct mitm_tns *node(enum mitm_tns_type t)
{
    struct mitm_tns *v = mitm_calloc(1, sizeof(*v));
    v->type = t;
    return v;
}

void mitm_tns_free(struct mitm_tns *v)
{
    if (!v)
        return;
    size_t slots = v->type == MITM_TNS_DICT ? 2 * v->n : v->n;
    if (v->type == MITM_TNS_LIST || v->type == MITM_TNS_DICT)
        for (size_t i = 0; i < slots; i++)
            mitm_tns_free(v->items[i]);
    free(v->items);
    free(v->own);
    free(v);
}

static struct mitm_tns *new_text(enum mitm_tns_type t, const void *p, size_t n, bool copy)
{
    struct mitm_tns *v = node(t);
    if (copy) {
        v->own = mitm_memdup(p, n);
        p = v->own;
    }
    v->v.s = mitm_slice(n ? p : "", n);
    return v;
}

struct mitm_tns *mitm_tns_new_bytes(const void *p, size_t n)
{
    return new_text(MITM_TNS_BYTES, p, n, false);
}

struct mitm_tns *mitm_tns_new_str(const void *p, size_t n)
{
    return new_text(MITM_TNS_STR, p, n, false);
}

struct mitm_tns *mitm_tns_new_bytes_copy(const void *p, size_t n)
{
    return new_text(MITM_TNS_BYTES, p, n, true);
}

struct mitm_tns *mitm_tns_new_str_copy(const void *p, size_t n)
{
    return new_text(MITM_TNS_STR, p, n, true);
}

struct mitm_tns *mitm_tns_new_cstr(const char *s)
{
    return new_text(MITM_TNS_STR, s, strlen(s), false);
}

struct mitm_tns *mitm_tns_new_int(int64_t i)
{
    struct mitm_tns *v = node(MITM_TNS_INT);
    v->v.i = i;
    return v;
}

struct mitm_tns *mitm_tns_new_float(double f)
{
    struct mitm_tns *v = node(MITM_TNS_FLOAT);
    v->v.f = f;
    return v;
}

struct mitm_tns *mitm_tns_new_bool(bool b)
{
    struct mitm_tns *v = node(MITM_TNS_BOOL);
    v->v.b = b;
    return v;
}

struct mitm_tns *mitm_tns_new_null(void)
{
    return node(MITM_TNS_NULL);
}

struct mitm_tns *mitm_tns_new_list(void)
{
    return node(MITM_TNS_LIST);
}

struct mitm_tns *mitm_tns_new_dict(void)
{
    return node(MITM_TNS_DICT);
}

void mitm_tns_list_append(struct mitm_tns *list, struct mitm_tns *item)
{
    if (list->n == list->cap) {
        list->cap = list->cap ? list->cap * 2 : 8;
        list->items = mitm_realloc(list->items, list->cap * sizeof(*list->items));
    }
    list->items[list->n++] = item;
}

static void push_entry(struct mitm_tns *dict, struct mitm_tns *k, struct mitm_tns *val)
{
    if (2 * dict->n + 2 > dict->cap) {
        dict->cap = dict->cap ? dict->cap * 2 : 8;
        dict->items = mitm_realloc(dict->items, dict->cap * sizeof(*dict->items));
    }
    dict->items[2 * dict->n] = k;
    dict->items[2 * dict->n + 1] = val;
    dict->n++;
}

static bool key_is(const struct mitm_tns *k, const char *key, size_t klen)
{
    return mitm_tns_is_text(k) && k->v.s.len == klen && memcmp(k->v.s.base, key, klen) == 0;
}

static long find(const struct mitm_tns *dict, const char *key)
{
    if (!dict || dict->type != MITM_TNS_DICT)
        return -1;
    size_t klen = strlen(key);
    for (size_t i = dict->n; i-- > 0;)
        if (key_is(dict->items[2 * i], key, klen))
            return (long)i;
    return -1;
}

struct mitm_tns *mitm_tns_get(const struct mitm_tns *dict, const char *key)
{
    long i = find(dict, key);
    return i < 0 ? NULL : dict->items[2 * i + 1];
}

void mitm_tns_dict_set(struct mitm_tns *dict, const char *key, struct mitm_tns *value)
{
    long i = find(dict, key);
    if (i >= 0) {
        mitm_tns_free(dict->items[2 * i + 1]);
        dict->items[2 * i + 1] = value;
        return;
    }
    push_entry(dict, mitm_tns_new_cstr(key), value);
}

struct mitm_tns *mitm_tns_dict_pop(struct mitm_tns *dict, const char *key)
{
    struct mitm_tns *last = NULL;
    long i;
    while ((i = find(dict, key)) >= 0) {
        if (last)
            mitm_tns_free(dict->items[2 * i + 1]); /* an earlier duplicate: shadowed */
        else
            last = dict->items[2 * i + 1];
        mitm_tns_free(dict->items[2 * i]);
        memmove(&dict->items[2 * i], &dict->items[2 * i + 2],
                (2 * (dict->n - (size_t)i) - 2) * sizeof(void *));
        dict->n--;
    }
    return last;
}

void mitm_tns_dict_rename(struct mitm_tns *dict, const char *from, const char *to, struct mitm_tns *dflt)
{
    struct mitm_tns *v = mitm_tns_dict_pop(dict, from);
    if (!v) {
        v = dflt;
        dflt = NULL;
    }
    mitm_tns_free(dflt);
    if (!v)
        return;
    mitm_tns_free(mitm_tns_dict_pop(dict, to));
    mitm_tns_dict_set(dict, to, v);
}

struct mitm_tns *mitm_tns_copy(const struct mitm_tns *v)
{
    struct mitm_tns *c = node(v->type);
    c->v = v->v;
    if ((v->type == MITM_TNS_BYTES || v->type == MITM_TNS_STR) && v->own) {
        c->own = mitm_memdup(v->v.s.base, v->v.s.len);
        c->v.s.base = c->own;
    }
    if (v->type == MITM_TNS_LIST)
        for (size_t i = 0; i < v->n; i++)
            mitm_tns_list_append(c, mitm_tns_copy(v->items[i]));
    if (v->type == MITM_TNS_DICT)
        for (size_t i = 0; i < v->n; i++)
            push_entry(c, mitm_tns_copy(v->items[2 * i]), mitm_tns_copy(v->items[2 * i + 1]));
    return c;
}

bool mitm_tns_truthy(const struct mitm_tns *v)
{
    if (!v)
        return false;
    switch (v->type) {
    case MITM_TNS_BYTES:
    case MITM_TNS_STR:
        return v->v.s.len > 0;
    case MITM_TNS_INT:
        return v->v.i != 0;
    case MITM_TNS_FLOAT:
        return v->v.f != 0.0;
    case MITM_TNS_BOOL:
        return v->v.b;
    case MITM_TNS_NULL:
        return false;
    case MITM_TNS_LIST:
    case MITM_TNS_DICT:
        return v->n > 0;
    }
    return false;
}

/* ---- numbers in the C locale, whatever setlocale() the UI did (ncurses needs one) ---- */

static locale_t c_locale;
static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;

static void init_c_locale(void)
{
    c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
}

static locale_t numeric_locale(void)
{
    pthread_once(&c_locale_once, init_c_locale);
    return c_locale ? c_locale : LC_GLOBAL_LOCALE;
}

/* Python float() accepts more (underscores, spaces), but its writer only emits repr(). */
static bool float_syntax(const char *s)
{
    if (*s == '+' || *s == '-')
        s++;
    if (!strcasecmp(s, "inf") || !strcasecmp(s, "infinity") || !strcasecmp(s, "nan"))
        return true;
    size_t digits = 0;
    while (*s >= '0' && *s <= '9')
        s++, digits++;
    if (*s == '.')
        for (s++; *s >= '0' && *s <= '9'; s++)
            digits++;
    if (!digits)
        return false;
    if (*s == 'e' || *s == 'E') {
        s++;
        if (*s == '+' || *s == '-')
            s++;
        if (!(*s >= '0' && *s <= '9'))
            return false;
        while (*s >= '0' && *s <= '9')
            s++;
    }
    return *s == 0;
}

static bool parse_float(struct mitm_slice s, double *out)
{
    char tmp[MAX_FLOAT_CHARS + 1];
    if (s.len == 0 || s.len > MAX_FLOAT_CHARS)
        return false;
    memcpy(tmp, s.base, s.len);
    tmp[s.len] = 0;
    if (!float_syntax(tmp))
        return false;
    locale_t old = uselocale(numeric_locale());
    *out = strtod(tmp, NULL); /* overflow gives ±inf like Python's float() */
    uselocale(old);
    return true;
}

static bool parse_int(struct mitm_slice s, int64_t *out)
{
    size_t i = 0;
    bool neg = false;
    if (s.len && (s.base[0] == '-' || s.base[0] == '+'))
        neg = s.base[i++] == '-';
    if (i == s.len)
        return false;
    uint64_t v = 0, lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; i < s.len; i++) {
        if (s.base[i] < '0' || s.base[i] > '9')
            return false;
        unsigned d = s.base[i] - '0';
        if (v > (lim - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return true;
}

/* The repr of a double costs several printf/strtod pairs, and the same timestamps are
 * formatted again and again: a flow is encoded at each of its snapshots, then by the store,
 * -w, save.file. A small per-thread cache of recent results keeps that to once per thread. */
#define FLOAT_CACHE 256

struct float_memo {
    uint64_t bits;
    uint8_t len; /* 0: empty */
    char text[31];
};

static _Thread_local struct float_memo float_cache[FLOAT_CACHE];

static size_t format_float_uncached(double f, char *out, size_t cap);

size_t mitm_tns_format_float(double f, char *out, size_t cap)
{
    uint64_t bits;
    memcpy(&bits, &f, sizeof(bits));
    struct float_memo *m = &float_cache[(bits ^ (bits >> 29) ^ (bits >> 47)) % FLOAT_CACHE];
    if (m->len && m->bits == bits) {
        if (cap > m->len) {
            memcpy(out, m->text, m->len);
            out[m->len] = 0;
        }
        return m->len;
    }
    size_t n = format_float_uncached(f, out, cap);
    if (n < sizeof(m->text) && n < cap) {
        m->bits = bits;
        m->len = (uint8_t)n;
        memcpy(m->text, out, n);
    }
    return n;
}

/* The shortest decimal that reads back as f, exactly, for a normal double in [2^-12, 2^53):
 * f = m / 2^sh with a 53-bit m and 1 <= sh <= 64, so the nearest decimal with d fraction
 * digits is q = round(m * 10^d / 2^sh) (half to even, as printf), and it reads back as f iff
 * it lies inside f's rounding interval, |q * 2^sh - m * 10^d| < 10^d / 2 (the bound itself
 * included when m is even: strtod rounds a tie to the even mantissa). The smallest such d
 * gives the fewest significant digits and the nearest of them: Python repr's digits. All in
 * 128-bit integers (m * 10^22 * 2 < 2^128), no printf or strtod (which took 4 or 5 pairs
 * per timestamp). A power of two (whose interval is lopsided) and everything outside the
 * range return false: the caller uses printf and strtod. digits gets the digits of q
 * without trailing zeros, *decpt where the point goes (value = 0.DIGITS * 10^decpt). */
static bool shortest_digits_fast(double f, char *digits, size_t *nd, int *decpt)
{
    uint64_t bits;
    memcpy(&bits, &f, sizeof(bits));
    int be = (int)((bits >> 52) & 0x7ff);
    uint64_t frac = bits & (((uint64_t)1 << 52) - 1);
    int sh = 1075 - be;
    if (frac == 0 || sh < 1 || sh > 64)
        return false;
    typedef unsigned __int128 u128;
    u128 m = ((uint64_t)1 << 52) | frac, p10 = 1;
    for (int d = 0; d <= 22; d++, p10 *= 10) {
        u128 num = m * p10;
        u128 mask = ((u128)1 << sh) - 1, half = (u128)1 << (sh - 1);
        u128 q = num >> sh, rem = num & mask;
        if (rem > half || (rem == half && (q & 1)))
            q++;
        u128 qs = q << sh;
        u128 diff2 = 2 * (qs > num ? qs - num : num - qs);
        if (diff2 > p10 || (diff2 == p10 && (m & 1)) || q == 0)
            continue;
        char rev[40];
        size_t n = 0;
        for (; q; q /= 10)
            rev[n++] = (char)('0' + (int)(q % 10));
        *decpt = (int)n - d;
        size_t k = 0;
        while (k < n - 1 && rev[k] == '0') /* only d = 0 can end in zeros: 100.0 */
            k++;
        *nd = 0;
        for (size_t i = n; i > k; i--)
            digits[(*nd)++] = rev[i - 1];
        digits[*nd] = 0;
        return true;
    }
    return false;
}

/* The same digits by printf and strtod, for every other double. */
static void shortest_digits_slow(double f, char *digits, size_t *nd, int *decpt)
{
    char e[40];
    locale_t old = uselocale(numeric_locale());
    /* Shortest %e precision that reads back exactly: Python repr's digits. Reading back is
     * monotone in the precision (the nearest decimal with one more digit is at least as close
     * to f), and 16 always works for a double, so a binary search needs 4 or 5 tries where a
     * scan from 0 needed up to 17. */
    int lo = 0, hi = 16;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        snprintf(e, sizeof(e), "%.*e", mid, f);
        if (strtod(e, NULL) == f)
            hi = mid;
        else
            lo = mid + 1;
    }
    snprintf(e, sizeof(e), "%.*e", lo, f);
    uselocale(old);
    /* e is "[-]d[.ddd]e[+-]XX": collect the digits and the decimal exponent. */
    const char *s = e + (*e == '-');
    *nd = 0;
    for (; *s && *s != 'e'; s++)
        if (*s >= '0' && *s <= '9' && *nd < 23)
            digits[(*nd)++] = *s;
    int exp = atoi(s + 1);
    while (*nd > 1 && digits[*nd - 1] == '0')
        (*nd)--;
    digits[*nd] = 0;
    *decpt = exp + 1;
}

static size_t format_float_uncached(double f, char *out, size_t cap)
{
    if (isnan(f))
        return (size_t)snprintf(out, cap, "nan");
    if (isinf(f))
        return (size_t)snprintf(out, cap, f < 0 ? "-inf" : "inf");
    char digits[24];
    size_t nd;
    int decpt; /* value = 0.DIGITS * 10^decpt */
    bool neg = signbit(f);
    if (!shortest_digits_fast(fabs(f), digits, &nd, &decpt))
        shortest_digits_slow(f, digits, &nd, &decpt);
    int exp = decpt - 1;
    /* CPython's repr ('r' format, float_repr_style "short"): exponent form when the
     * decimal point lies outside (-4, 16], else positional with at least one digit
     * after the point. decpt is in [-3, 16] on the positional paths, so the zero
     * padding strings below are long enough. */
    char body[64];
    size_t n = 0;
    if (neg)
        body[n++] = '-';
    if (decpt <= -4 || decpt > 16) {
        body[n++] = digits[0];
        if (nd > 1) {
            body[n++] = '.';
            memcpy(body + n, digits + 1, nd - 1);
            n += nd - 1;
        }
        n += (size_t)snprintf(body + n, sizeof(body) - n, "e%c%02d", exp < 0 ? '-' : '+',
                              exp < 0 ? -exp : exp);
    } else if (decpt <= 0) {
        memcpy(body + n, "0.000", 2 + (size_t)-decpt);
        n += 2 + (size_t)-decpt;
        memcpy(body + n, digits, nd);
        n += nd;
    } else if ((size_t)decpt < nd) {
        memcpy(body + n, digits, (size_t)decpt);
        n += (size_t)decpt;
        body[n++] = '.';
        memcpy(body + n, digits + decpt, nd - (size_t)decpt);
        n += nd - (size_t)decpt;
    } else {
        memcpy(body + n, digits, nd);
        n += nd;
        memset(body + n, '0', (size_t)decpt - nd);
        n += (size_t)decpt - nd;
        memcpy(body + n, ".0", 2);
        n += 2;
    }
    if (cap > 0) {
        size_t c = n < cap ? n : cap - 1;
        memcpy(out, body, c);
        out[c] = 0;
    }
    return n;
}

/* ---- parser ---- */

struct pctx {
    const uint8_t *start;
    const struct mitm_tns_limits *lim;
    struct mitm_tns_error *err;
};

static ssize_t fail(struct pctx *c, const uint8_t *at, const char *reason)
{
    if (c->err) {
        c->err->reason = reason;
        c->err->offset = (size_t)(at - c->start);
    }
    return MITM_PARSE_ERROR;
}

/* Frame header: *plen = payload length, returns header length (digits + ':'). */
static ssize_t frame(struct pctx *c, const uint8_t *p, size_t len, size_t max_size, size_t *plen)
{
    size_t i = 0;
    uint64_t n = 0;
    while (i < len && p[i] >= '0' && p[i] <= '9') {
        if (i == 1 && p[0] == '0')
            return fail(c, p, "not a tnetstring: length prefix has a leading zero");
        if (i == MAX_PREFIX_DIGITS)
            return fail(c, p, "not a tnetstring: absurdly large length prefix");
        n = n * 10 + (uint64_t)(p[i] - '0');
        i++;
    }
    if (i == len)
        return MITM_INCOMPLETE;
    if (i == 0 || p[i] != ':')
        return fail(c, p + i, "not a tnetstring: missing or invalid length prefix");
    /* prefix + ':' + payload + tag; n < 10^12 so this does not overflow */
    if (max_size && (n > max_size || i + 2 + n > max_size))
        return fail(c, p, "tnetstring value larger than the size cap");
    *plen = (size_t)n;
    return (ssize_t)(i + 1);
}

ssize_t mitm_tns_frame_size(const uint8_t *p, size_t len, size_t max_size, struct mitm_tns_error *err)
{
    struct pctx c = {p, NULL, err};
    size_t plen;
    ssize_t h = frame(&c, p, len, max_size, &plen);
    if (h < 0)
        return h;
    return h + (ssize_t)plen + 1;
}

static ssize_t parse_value(struct pctx *c, const uint8_t *p, size_t len, unsigned depth, bool top,
                           struct mitm_tns **out);

static ssize_t parse_container(struct pctx *c, const uint8_t *p, size_t len, unsigned depth,
                               struct mitm_tns *v)
{
    size_t off = 0;
    while (off < len) {
        struct mitm_tns *item;
        ssize_t r = parse_value(c, p + off, len - off, depth + 1, false, &item);
        if (r < 0)
            return r;
        off += (size_t)r;
        if (v->type == MITM_TNS_LIST) {
            mitm_tns_list_append(v, item);
            continue;
        }
        if (item->type == MITM_TNS_LIST || item->type == MITM_TNS_DICT) {
            mitm_tns_free(item);
            return fail(c, p + off - r, "not a tnetstring: dict key is a list or dict");
        }
        if (off == len) {
            mitm_tns_free(item);
            return fail(c, p + off, "not a tnetstring: dict key without a value");
        }
        struct mitm_tns *val;
        r = parse_value(c, p + off, len - off, depth + 1, false, &val);
        if (r < 0) {
            mitm_tns_free(item);
            return r;
        }
        off += (size_t)r;
        push_entry(v, item, val);
    }
    return 0;
}

static ssize_t parse_payload(struct pctx *c, const uint8_t *p, size_t plen, uint8_t tag, unsigned depth,
                             struct mitm_tns *v)
{
    struct mitm_slice s = mitm_slice(p, plen);
    switch (tag) {
    case ',':
    case ';':
        v->type = tag == ',' ? MITM_TNS_BYTES : MITM_TNS_STR;
        v->v.s = s;
        return 0;
    case '#':
        v->type = MITM_TNS_INT;
        return parse_int(s, &v->v.i) ? 0 : fail(c, p, "not a tnetstring: invalid integer literal");
    case '^':
        v->type = MITM_TNS_FLOAT;
        return parse_float(s, &v->v.f) ? 0 : fail(c, p, "not a tnetstring: invalid float literal");
    case '!':
        v->type = MITM_TNS_BOOL;
        if (mitm_slice_eq(s, mitm_slice_str("true")) || mitm_slice_eq(s, mitm_slice_str("false"))) {
            v->v.b = plen == 4;
            return 0;
        }
        return fail(c, p, "not a tnetstring: invalid boolean literal");
    case '~':
        v->type = MITM_TNS_NULL;
        return plen == 0 ? 0 : fail(c, p, "not a tnetstring: invalid null literal");
    case ']':
    case '}':
        v->type = tag == ']' ? MITM_TNS_LIST : MITM_TNS_DICT;
        if (depth >= (c->lim->max_depth ? c->lim->max_depth : MITM_TNS_DEFAULT_MAX_DEPTH))
            return fail(c, p, "tnetstring nested deeper than the cap");
        return parse_container(c, p, plen, depth, v);
    default:
        return fail(c, p + plen, "not a tnetstring: unknown type tag");
    }
}

static ssize_t parse_value(struct pctx *c, const uint8_t *p, size_t len, unsigned depth, bool top,
                           struct mitm_tns **out)
{
    *out = NULL;
    if (len == 0)
        return top ? MITM_INCOMPLETE : fail(c, p, "not a tnetstring: empty value");
    size_t plen;
    ssize_t h = frame(c, p, len, top ? c->lim->max_size : 0, &plen);
    if (h == MITM_INCOMPLETE && !top)
        return fail(c, p + len, "not a tnetstring: length prefix runs past its container");
    if (h < 0)
        return h;
    if (plen + 1 > len - (size_t)h)
        return top ? MITM_INCOMPLETE : fail(c, p, "not a tnetstring: value runs past its container");
    struct mitm_tns *v = node(MITM_TNS_NULL);
    ssize_t r = parse_payload(c, p + h, plen, p[h + plen], depth, v);
    if (r < 0) {
        mitm_tns_free(v);
        return r;
    }
    *out = v;
    return h + (ssize_t)plen + 1;
}

ssize_t mitm_tns_parse(const uint8_t *p, size_t len, const struct mitm_tns_limits *lim, struct mitm_tns **out,
                       struct mitm_tns_error *err)
{
    static const struct mitm_tns_limits dflt = {0, MITM_TNS_DEFAULT_MAX_DEPTH};
    struct pctx c = {p, lim ? lim : &dflt, err};
    return parse_value(&c, p, len, 0, true, out);
}

/* ---- writer ---- */

static size_t i64_text(int64_t i, char *out)
{
    if (i >= 0)
        return mitm_tns_u64_text((uint64_t)i, out);
    out[0] = '-';
    return 1 + mitm_tns_u64_text(0 - (uint64_t)i, out + 1);
}

/* Payload bytes of a scalar, formatted into tmp when it is a number. */
static struct mitm_slice scalar(const struct mitm_tns *v, char *tmp, size_t cap)
{
    switch (v->type) {
    case MITM_TNS_BYTES:
    case MITM_TNS_STR:
        return v->v.s;
    case MITM_TNS_INT:
        return mitm_slice(tmp, i64_text(v->v.i, tmp));
    case MITM_TNS_FLOAT:
        return mitm_slice(tmp, mitm_tns_format_float(v->v.f, tmp, cap));
    case MITM_TNS_BOOL:
        return mitm_slice_str(v->v.b ? "true" : "false");
    default:
        return mitm_slice("", 0);
    }
}

static size_t payload_size(const struct mitm_tns *v)
{
    if (v->type == MITM_TNS_LIST || v->type == MITM_TNS_DICT) {
        size_t slots = v->type == MITM_TNS_DICT ? 2 * v->n : v->n, sum = 0;
        for (size_t i = 0; i < slots; i++)
            sum += mitm_tns_encoded_size(v->items[i]);
        return sum;
    }
    char tmp[64];
    return scalar(v, tmp, sizeof(tmp)).len;
}

size_t mitm_tns_encoded_size(const struct mitm_tns *v)
{
    size_t n = payload_size(v);
    return mitm_tns_digits(n) + n + 2;
}

static const char tags[] = {
    [MITM_TNS_BYTES] = ',', [MITM_TNS_STR] = ';',  [MITM_TNS_INT] = '#',  [MITM_TNS_FLOAT] = '^',
    [MITM_TNS_BOOL] = '!',  [MITM_TNS_NULL] = '~', [MITM_TNS_LIST] = ']', [MITM_TNS_DICT] = '}',
};

/* The sizes of every payload, bottom up, into the nodes' wsize (one pass: computing a
 * container's size at each level again would cost O(values x depth), formatting every number
 * each time). Returns v's whole encoded size, or SIZE_MAX past MAX_WRITE_DEPTH. */
static size_t measure(struct mitm_tns *v, unsigned depth)
{
    if (depth > MAX_WRITE_DEPTH)
        return SIZE_MAX;
    if (v->type == MITM_TNS_LIST || v->type == MITM_TNS_DICT) {
        size_t slots = v->type == MITM_TNS_DICT ? 2 * v->n : v->n, sum = 0;
        for (size_t i = 0; i < slots; i++) {
            size_t n = measure(v->items[i], depth + 1);
            if (n == SIZE_MAX)
                return SIZE_MAX;
            sum += n;
        }
        v->wsize = sum;
    } else {
        char tmp[64];
        v->wsize = scalar(v, tmp, sizeof(tmp)).len;
    }
    return mitm_tns_digits(v->wsize) + v->wsize + 2;
}

static int write_value(struct mitm_buf *b, const struct mitm_tns *v)
{
    char tmp[64], len[24];
    size_t n = mitm_tns_u64_text(v->wsize, len);
    len[n++] = ':';
    if (mitm_buf_append(b, len, n) < 0)
        return -1;
    if (v->type == MITM_TNS_LIST || v->type == MITM_TNS_DICT) {
        size_t slots = v->type == MITM_TNS_DICT ? 2 * v->n : v->n;
        for (size_t i = 0; i < slots; i++)
            if (write_value(b, v->items[i]) < 0)
                return -1;
    } else {
        struct mitm_slice s = scalar(v, tmp, sizeof(tmp));
        if (mitm_buf_append(b, s.base, s.len) < 0)
            return -1;
    }
    return mitm_buf_append(b, &tags[v->type], 1);
}

int mitm_tns_write(struct mitm_buf *b, const struct mitm_tns *v)
{
    /* wsize is scratch for this call: the tree is otherwise only read */
    size_t total = measure((struct mitm_tns *)v, 0);
    if (total == SIZE_MAX)
        return -1;
    return write_value(b, v);
}
