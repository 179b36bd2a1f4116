/* HTTP/1.x heads: start lines, header fields, authorities (RFC 9112 §2-§5, RFC 9110 §5). */
#include "proto/http1/h1.h"
#include "base/alloc.h"
#include "proto/http/http.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

/* RFC 9110 §5.6.2: tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" /
 * "_" / "`" / "|" / "~" / DIGIT / ALPHA. */
static const uint8_t tchar[256] = {
    ['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1,         ['&'] = 1,         ['\''] = 1,
    ['*'] = 1, ['+'] = 1, ['-'] = 1, ['.'] = 1,         ['^'] = 1,         ['_'] = 1,
    ['`'] = 1, ['|'] = 1, ['~'] = 1, ['0' ... '9'] = 1, ['A' ... 'Z'] = 1, ['a' ... 'z'] = 1,
};

/* RFC 3986 §3.2.2 reg-name (and IPv4address) characters: unreserved / pct-encoded / sub-delims. */
static const uint8_t hostchar[256] = {
    ['0' ... '9'] = 1, ['A' ... 'Z'] = 1, ['a' ... 'z'] = 1, ['-'] = 1, ['.'] = 1,  ['_'] = 1, ['~'] = 1,
    ['%'] = 1,         ['!'] = 1,         ['$'] = 1,         ['&'] = 1, ['\''] = 1, ['('] = 1, [')'] = 1,
    ['*'] = 1,         ['+'] = 1,         [','] = 1,         [';'] = 1, ['='] = 1,
};

static bool is_token(const uint8_t *p, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!tchar[p[i]])
            return false;
    return true;
}

/* RFC 9110 §5.5: field-vchar / SP / HTAB; obs-text (>= 0x80) is allowed. */
static bool is_ctl(uint8_t c)
{
    return (c < 0x20 && c != '\t') || c == 0x7f;
}

static bool is_ows(uint8_t c)
{
    return c == ' ' || c == '\t';
}

int mitm_h1_parse_authority(const char *s, size_t len, uint16_t default_port, char **host, uint16_t *port)
{
    const char *h, *rest;
    size_t hlen;
    if (len == 0)
        return -1;
    if (s[0] == '[') {
        const char *rb = memchr(s, ']', len);
        if (!rb)
            return -1;
        h = s + 1;
        hlen = (size_t)(rb - h);
        char tmp[64];
        struct in6_addr a6;
        if (hlen == 0 || hlen >= sizeof(tmp))
            return -1;
        memcpy(tmp, h, hlen);
        tmp[hlen] = 0;
        if (inet_pton(AF_INET6, tmp, &a6) != 1)
            return -1;
        rest = rb + 1;
    } else {
        const char *colon = memchr(s, ':', len);
        h = s;
        hlen = colon ? (size_t)(colon - s) : len;
        if (hlen == 0 || hlen > 255)
            return -1;
        for (size_t i = 0; i < hlen; i++)
            if (!hostchar[(uint8_t)h[i]])
                return -1;
        rest = s + hlen;
    }
    size_t rlen = len - (size_t)(rest - s);
    uint32_t p = default_port;
    if (rlen > 0) {
        /* RFC 3986 allows an empty port; we do not (nothing sends it and it hides typos). */
        if (rest[0] != ':' || rlen < 2 || rlen > 6)
            return -1;
        p = 0;
        for (size_t i = 1; i < rlen; i++) {
            if (rest[i] < '0' || rest[i] > '9')
                return -1;
            p = p * 10 + (uint32_t)(rest[i] - '0');
        }
        if (p == 0 || p > 65535)
            return -1;
    }
    *host = mitm_strndup(h, hlen);
    *port = (uint16_t)p;
    return 0;
}

/* RFC 9110 §5.5: CTLs other than HTAB are not allowed in field values (nor DEL). */
static const uint8_t ctl[256] = {[0 ... 8] = 1, [10 ... 31] = 1, [127] = 1};

/* No CTL in p[0..n). Values are most of a head's bytes, so look at 8 bytes at a time: a word
 * with no byte below 0x20 and none equal to 0x7f is fine ("hasless"/"haszero" bit tricks, exact
 * for existence); otherwise, e.g. for an HTAB, finish byte by byte. */
static bool value_ok(const uint8_t *p, size_t n)
{
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t x, d;
        memcpy(&x, p + i, 8);
        d = x ^ (0x7f * ones);
        if (((x - 0x20 * ones) & ~x & highs) | ((d - ones) & ~d & highs))
            break;
    }
    for (; i < n; i++)
        if (ctl[p[i]])
            return false;
    return true;
}

/* The reason to refuse a line holding a bare CR (RFC 9112 §2.2: a CR must be followed by
 * LF) or a NUL (the model's strings never hold one), or NULL. */
static const char *bad_bytes(const uint8_t *p, size_t n)
{
    if (memchr(p, '\r', n))
        return "Bare CR in header field";
    if (memchr(p, 0, n))
        return "NUL in header field";
    return NULL;
}

/* A strict check failed: name the bare CR or NUL if that is what it was. Returns -1. */
static int refine(const uint8_t *p, size_t n, const char *fallback, const char **reason)
{
    const char *why = bad_bytes(p, n);
    *reason = why ? why : fallback;
    return -1;
}

/* Join an obs-fold continuation to the last field: RFC 9112 §5.2 lets a proxy replace each
 * obs-fold with one SP instead of rejecting the message (used only when not validating). */
static void unfold(struct mitm_headers *h, const uint8_t *v, size_t vlen)
{
    struct mitm_header *last = &h->v[h->n - 1];
    if (vlen == 0)
        return;
    size_t nlen = last->name_len, olen = last->value_len, sp = olen > 0;
    char *tmp = mitm_alloc(nlen + olen + sp + vlen);
    memcpy(tmp, last->name, nlen);
    memcpy(tmp + nlen, last->value, olen);
    if (sp)
        tmp[nlen + olen] = ' ';
    memcpy(tmp + nlen + olen + sp, v, vlen);
    free(last->name);
    h->n--;
    mitm_headers_add(h, tmp, nlen, tmp + nlen, olen + sp + vlen);
    free(tmp);
}

int mitm_h1_parse_fields(const uint8_t *p, size_t n, bool validate, bool request, struct mitm_headers *h,
                         const char **reason)
{
    const uint8_t *end = p + n;
    bool host_seen = false;
    while (p < end) {
        const uint8_t *lf = memchr(p, '\n', (size_t)(end - p));
        if (!lf)
            lf = end; /* defensive: callers pass whole lines */
        const uint8_t *le = (lf > p && lf[-1] == '\r') ? lf - 1 : lf;
        size_t ll = (size_t)(le - p);
        const uint8_t *next = lf < end ? lf + 1 : end;
        /* Strict mode checks every byte of the line below (name as token, value without CTL),
         * which also catches CR and NUL; lenient mode looks for just those two. */
        if (!validate && (*reason = bad_bytes(p, ll)) != NULL)
            return -1;
        if (ll == 0) {
            *reason = "Empty header line";
            return -1;
        }
        if (is_ows(p[0])) {
            /* RFC 9112 §5.2 obs-fold (and §2.2 whitespace before the first field). */
            if (validate) {
                *reason = "Obsolete line folding (obs-fold) in header";
                return -1;
            }
            if (h->n > 0) {
                const uint8_t *vs = p, *ve = le;
                while (vs < ve && is_ows(*vs))
                    vs++;
                while (ve > vs && is_ows(ve[-1]))
                    ve--;
                unfold(h, vs, (size_t)(ve - vs));
            }
            p = next;
            continue;
        }
        const uint8_t *colon = memchr(p, ':', ll);
        if (!colon) {
            *reason = "Header line without a colon";
            return -1;
        }
        const uint8_t *ne = colon;
        if (ne > p && is_ows(ne[-1])) {
            /* RFC 9112 §5.1: no whitespace between field name and colon; reject. */
            if (validate) {
                *reason = "Whitespace between header name and colon";
                return -1;
            }
            while (ne > p && is_ows(ne[-1]))
                ne--;
        }
        if (ne == p) {
            *reason = "Empty header name";
            return -1;
        }
        if (validate && !is_token(p, (size_t)(ne - p)))
            return refine(p, ll, "Invalid character in header name", reason);
        const uint8_t *vs = colon + 1, *ve = le;
        while (vs < ve && is_ows(*vs))
            vs++;
        while (ve > vs && is_ows(ve[-1]))
            ve--;
        if (validate && !value_ok(vs, (size_t)(ve - vs)))
            return refine(p, ll, "Invalid character in header value", reason);
        size_t nlen = (size_t)(ne - p);
        if (request && validate && nlen == 4 && mitm_slice_ieq(mitm_slice(p, 4), "host")) {
            /* RFC 9112 §3.2: more than one Host field -> 400. */
            if (host_seen) {
                *reason = "Multiple Host headers";
                return -1;
            }
            host_seen = true;
        }
        mitm_headers_add(h, (const char *)p, nlen, (const char *)vs, (size_t)(ve - vs));
        p = next;
    }
    return 0;
}

/* The shape of a head in buf: where the start line begins and ends and where the head ends. */
struct head_span {
    size_t start;      /* first byte of the start line (after skipped blank lines) */
    size_t line_end;   /* end of the start line content (before CR LF) */
    size_t fields;     /* first byte after the start line's LF */
    size_t end;        /* first byte after the blank line; 0 while incomplete */
    size_t fields_end; /* first byte of the blank line */
};

enum span_result { SPAN_OK, SPAN_INCOMPLETE, SPAN_LINE_TOO_LONG, SPAN_HEAD_TOO_LARGE };

/* Find the head boundaries in one pass of memchr over LFs (RFC 9112 §2.2: lines end in CRLF or
 * a bare LF; empty lines before the start line are skipped). Enforces the limits, also on an
 * incomplete head, so a peer cannot make us buffer past them. */
static enum span_result find_head(const uint8_t *buf, size_t len, size_t max_line, size_t max_head,
                                  struct head_span *sp)
{
    size_t i = 0;
    for (;;) {
        if (i < len && buf[i] == '\n') {
            i++;
        } else if (i + 1 < len && buf[i] == '\r' && buf[i + 1] == '\n') {
            i += 2;
        } else {
            break;
        }
        if (i > max_head)
            return SPAN_HEAD_TOO_LARGE;
    }
    sp->start = i;
    const uint8_t *lf = i < len ? memchr(buf + i, '\n', len - i) : NULL;
    if (!lf) {
        size_t partial = len - i;
        if (partial > 0 && buf[len - 1] == '\r')
            partial--;
        if (partial > max_line)
            return SPAN_LINE_TOO_LONG;
        return len > max_head ? SPAN_HEAD_TOO_LARGE : SPAN_INCOMPLETE;
    }
    size_t lfo = (size_t)(lf - buf);
    sp->line_end = (lfo > i && buf[lfo - 1] == '\r') ? lfo - 1 : lfo;
    if (sp->line_end - i > max_line)
        return SPAN_LINE_TOO_LONG;
    sp->fields = lfo + 1;
    size_t p = lfo;
    for (;;) {
        /* buf[p] is an LF: is the next line empty? */
        if (p + 1 < len && buf[p + 1] == '\n') {
            sp->fields_end = p + 1;
            sp->end = p + 2;
            break;
        }
        if (p + 2 < len && buf[p + 1] == '\r' && buf[p + 2] == '\n') {
            sp->fields_end = p + 1;
            sp->end = p + 3;
            break;
        }
        lf = p + 1 < len ? memchr(buf + p + 1, '\n', len - p - 1) : NULL;
        if (!lf)
            return len > max_head ? SPAN_HEAD_TOO_LARGE : SPAN_INCOMPLETE;
        p = (size_t)(lf - buf);
    }
    return sp->end > max_head ? SPAN_HEAD_TOO_LARGE : SPAN_OK;
}

static struct mitm_h1_limits effective(const struct mitm_h1_limits *lim)
{
    struct mitm_h1_limits l = lim ? *lim : MITM_H1_LIMITS_DEFAULT;
    if (l.max_line == 0)
        l.max_line = MITM_H1_DEFAULT_MAX_LINE;
    if (l.max_head == 0)
        l.max_head = MITM_H1_DEFAULT_MAX_HEAD;
    return l;
}

/* 0: HTTP/1.0 or HTTP/1.1; 1: well-formed "HTTP/d.d" we do not speak; -1: not a version.
 * RFC 9112 §2.3: the version is case-sensitive. */
static int check_version(struct mitm_slice v)
{
    if (v.len != 8 || memcmp(v.base, "HTTP/", 5) != 0 || v.base[5] < '0' || v.base[5] > '9' ||
        v.base[6] != '.' || v.base[7] < '0' || v.base[7] > '9')
        return -1;
    return (v.base[5] == '1' && (v.base[7] == '0' || v.base[7] == '1')) ? 0 : 1;
}

/* Split a request line into three parts: exactly one SP between them when strict (RFC 9112
 * §3), runs of SP/HTAB when lenient (§3 allows it). Returns the number of parts found (4 means
 * "too many"); an empty part is reported as 0 parts. */
static int split3(const uint8_t *p, size_t n, bool strict, struct mitm_slice part[3])
{
    size_t i = 0;
    int parts = 0;
    if (!strict)
        while (i < n && is_ows(p[i]))
            i++;
    while (i < n) {
        size_t s = i;
        while (i < n && p[i] != ' ' && (strict || p[i] != '\t'))
            i++;
        if (parts == 3)
            return 4;
        if (i == s)
            return 0;
        part[parts++] = mitm_slice(p + s, i - s);
        if (i == n)
            break;
        i++;
        if (strict && i == n)
            return 0; /* trailing SP: an empty part */
        if (!strict)
            while (i < n && is_ows(p[i]))
                i++;
    }
    return parts;
}

static bool slice_is(struct mitm_slice s, const char *lit)
{
    return mitm_slice_eq(s, mitm_slice_str(lit));
}

static int bad(int *status, const char **reason, int st, const char *why)
{
    *status = st;
    *reason = why;
    return -1;
}

/* Absolute form (RFC 9112 §3.2.2): scheme "://" authority [path-abempty] ["?" query]. */
static int parse_absolute(struct mitm_slice t, bool validate, struct mitm_http_request *req, int *status,
                          const char **reason)
{
    const uint8_t *sep = memmem(t.base, t.len, "://", 3);
    if (!sep || sep == t.base)
        return bad(status, reason, 400, "Invalid request target");
    size_t slen = (size_t)(sep - t.base);
    /* RFC 3986 §3.1: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) */
    char *scheme = mitm_strndup((const char *)t.base, slen);
    for (size_t i = 0; i < slen; i++) {
        uint8_t c = t.base[i];
        bool alpha = (c | 0x20) >= 'a' && (c | 0x20) <= 'z';
        bool ok = alpha || (i > 0 && ((c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.'));
        if (!ok) {
            free(scheme);
            return bad(status, reason, 400, "Invalid scheme in request target");
        }
        if (alpha)
            scheme[i] = (char)(c | 0x20);
    }
    free(req->scheme);
    req->scheme = scheme;
    const uint8_t *a = sep + 3, *end = t.base + t.len, *ae = a;
    while (ae < end && *ae != '/' && *ae != '?' && *ae != '#')
        ae++;
    size_t alen = (size_t)(ae - a);
    /* RFC 9110 §4.2.4: userinfo is deprecated in http(s) URIs; treat it as an error. */
    if (memchr(a, '@', alen) && validate)
        return bad(status, reason, 400, "Userinfo in request target");
    uint16_t defport = strcmp(scheme, "http") == 0 ? 80 : strcmp(scheme, "https") == 0 ? 443 : 0;
    if (mitm_h1_parse_authority((const char *)a, alen, defport, &req->host, &req->port) < 0 || req->port == 0)
        return bad(status, reason, 400, "Invalid authority in request target");
    mitm_str_set(&req->authority, (const char *)a, alen);
    size_t plen = (size_t)(end - ae);
    if (plen == 0 && req->method && strcmp(req->method, "OPTIONS") == 0) {
        /* RFC 9112 §3.2.4: an OPTIONS for the server as a whole ("http://h" without a path or
         * query) stays pathless; the last proxy sends it to the origin as "*" (the writer). */
        mitm_str_set(&req->path, "", 0);
    } else if (plen > 0 && *ae == '/') {
        mitm_str_set(&req->path, (const char *)ae, plen);
    } else {
        /* RFC 9112 §3.2.1: an empty path is sent as "/" in origin form. */
        char *path = mitm_alloc(plen + 2);
        path[0] = '/';
        memcpy(path + 1, ae, plen);
        path[plen + 1] = 0;
        free(req->path);
        req->path = path;
    }
    req->form = MITM_TARGET_ABSOLUTE;
    return 0;
}

static int parse_request_line(const uint8_t *p, size_t n, bool validate, struct mitm_http_request *req,
                              int *status, const char **reason)
{
    if (memchr(p, '\r', n))
        return bad(status, reason, 400, "Bare CR in request line");
    if (memchr(p, 0, n))
        return bad(status, reason, 400, "NUL in request line");
    struct mitm_slice part[3];
    if (split3(p, n, validate, part) != 3)
        return bad(status, reason, 400, "Request line must be: method SP target SP version");
    int v = check_version(part[2]);
    if (v < 0)
        return bad(status, reason, 400, "Invalid HTTP version in request line");
    if (v > 0)
        return bad(status, reason, 505, "HTTP version not supported");
    if (!is_token(part[0].base, part[0].len))
        return bad(status, reason, 400, "Invalid method token");
    struct mitm_slice t = part[1];
    for (size_t i = 0; i < t.len; i++)
        if (is_ctl(t.base[i]) || t.base[i] == '\t')
            return bad(status, reason, 400, "Invalid character in request target");
    mitm_str_set(&req->method, (const char *)part[0].base, part[0].len);
    mitm_str_set(&req->http_version, (const char *)part[2].base, part[2].len);
    mitm_str_set(&req->scheme, "http", 4);
    mitm_str_set(&req->authority, "", 0);
    bool connect = slice_is(part[0], "CONNECT");
    if (connect) {
        /* RFC 9110 §9.3.6: CONNECT takes authority-form, and the port is required. */
        if (mitm_h1_parse_authority((const char *)t.base, t.len, 0, &req->host, &req->port) < 0 ||
            req->port == 0)
            return bad(status, reason, 400, "CONNECT target must be host:port");
        mitm_str_set(&req->authority, (const char *)t.base, t.len);
        mitm_str_set(&req->path, "", 0);
        req->form = MITM_TARGET_AUTHORITY;
        return 0;
    }
    if (slice_is(t, "*")) {
        /* RFC 9112 §3.2.4: asterisk-form is only for a server-wide OPTIONS. */
        if (validate && !slice_is(part[0], "OPTIONS"))
            return bad(status, reason, 400, "Asterisk-form target is only allowed for OPTIONS");
        mitm_str_set(&req->path, "*", 1);
        req->form = MITM_TARGET_ASTERISK;
        return 0;
    }
    if (t.base[0] == '/') {
        mitm_str_set(&req->path, (const char *)t.base, t.len);
        req->form = MITM_TARGET_ORIGIN;
        return 0;
    }
    return parse_absolute(t, validate, req, status, reason);
}

ssize_t mitm_h1_parse_request_head(const uint8_t *buf, size_t len, const struct mitm_h1_limits *lim,
                                   struct mitm_http_request *req, int *status, const char **reason)
{
    struct mitm_h1_limits l = effective(lim);
    struct head_span sp;
    switch (find_head(buf, len, l.max_line, l.max_head, &sp)) {
    case SPAN_INCOMPLETE:
        return MITM_INCOMPLETE;
    case SPAN_LINE_TOO_LONG:
        bad(status, reason, 414, "Request line too long");
        return MITM_PARSE_ERROR;
    case SPAN_HEAD_TOO_LARGE:
        bad(status, reason, 431, "Request header fields too large");
        return MITM_PARSE_ERROR;
    case SPAN_OK:
        break;
    }
    if (parse_request_line(buf + sp.start, sp.line_end - sp.start, l.validate, req, status, reason) < 0)
        return MITM_PARSE_ERROR;
    if (mitm_h1_parse_fields(buf + sp.fields, sp.fields_end - sp.fields, l.validate, true, &req->headers,
                             reason) < 0) {
        *status = 400;
        return MITM_PARSE_ERROR;
    }
    return (ssize_t)sp.end;
}

/* RFC 9112 §4: status-line = HTTP-version SP status-code SP [ reason-phrase ]; a missing
 * final SP is tolerated (servers send "HTTP/1.1 200\r\n"). */
static int parse_status_line(const uint8_t *p, size_t n, bool validate, struct mitm_http_response *resp,
                             const char **reason)
{
    if (memchr(p, '\r', n)) {
        *reason = "Bare CR in status line";
        return -1;
    }
    if (memchr(p, 0, n)) {
        *reason = "NUL in status line";
        return -1;
    }
    if (n < 12 || p[8] != ' ' || (n > 12 && p[12] != ' ')) {
        *reason = "Invalid status line";
        return -1;
    }
    int v = check_version(mitm_slice(p, 8));
    if (v != 0) {
        *reason = v < 0 ? "Invalid HTTP version in status line" : "Unsupported HTTP version in status line";
        return -1;
    }
    int code = 0;
    for (size_t i = 9; i < 12; i++) {
        if (p[i] < '0' || p[i] > '9') {
            *reason = "Invalid status code";
            return -1;
        }
        code = code * 10 + (p[i] - '0');
    }
    if (code < 100) {
        *reason = "Invalid status code";
        return -1;
    }
    const uint8_t *r = p + (n > 12 ? 13 : 12);
    size_t rlen = n > 12 ? n - 13 : 0;
    if (validate)
        for (size_t i = 0; i < rlen; i++)
            if (is_ctl(r[i])) {
                *reason = "Invalid character in reason phrase";
                return -1;
            }
    mitm_str_set(&resp->http_version, (const char *)p, 8);
    resp->status_code = code;
    mitm_str_set(&resp->reason, (const char *)r, rlen);
    return 0;
}

ssize_t mitm_h1_parse_response_head(const uint8_t *buf, size_t len, const struct mitm_h1_limits *lim,
                                    struct mitm_http_response *resp, const char **reason)
{
    struct mitm_h1_limits l = effective(lim);
    struct head_span sp;
    switch (find_head(buf, len, l.max_line, l.max_head, &sp)) {
    case SPAN_INCOMPLETE:
        return MITM_INCOMPLETE;
    case SPAN_LINE_TOO_LONG:
        *reason = "Status line too long";
        return MITM_PARSE_ERROR;
    case SPAN_HEAD_TOO_LARGE:
        *reason = "Response head too large";
        return MITM_PARSE_ERROR;
    case SPAN_OK:
        break;
    }
    if (parse_status_line(buf + sp.start, sp.line_end - sp.start, l.validate, resp, reason) < 0)
        return MITM_PARSE_ERROR;
    if (mitm_h1_parse_fields(buf + sp.fields, sp.fields_end - sp.fields, l.validate, false, &resp->headers,
                             reason) < 0)
        return MITM_PARSE_ERROR;
    return (ssize_t)sp.end;
}

/* ---- serialisers ---- */

static void put(struct mitm_buf *out, const char *s)
{
    if (s)
        mitm_buf_append(out, s, strlen(s));
}

static void put_fields(struct mitm_buf *out, const struct mitm_headers *h)
{
    for (size_t i = 0; h && i < h->n; i++) {
        mitm_buf_append(out, h->v[i].name, h->v[i].name_len);
        mitm_buf_append(out, ": ", 2);
        mitm_buf_append(out, h->v[i].value, h->v[i].value_len);
        mitm_buf_append(out, "\r\n", 2);
    }
}

/* host[:port] from the parsed fields, IPv6 in brackets; the port is left out when it is
 * the scheme's default (and when it is 0, i.e. unknown). */
static void put_hostport(struct mitm_buf *out, const struct mitm_http_request *req, bool keep_default)
{
    const char *host = req->host ? req->host : "";
    bool v6 = strchr(host, ':') != NULL;
    mitm_buf_printf(out, "%s%s%s", v6 ? "[" : "", host, v6 ? "]" : "");
    const char *scheme = req->scheme ? req->scheme : "http";
    bool dflt = (req->port == 80 && strcmp(scheme, "http") == 0) ||
                (req->port == 443 && strcmp(scheme, "https") == 0);
    if (req->port != 0 && (keep_default || !dflt))
        mitm_buf_printf(out, ":%u", (unsigned)req->port);
}

/* An OPTIONS read from an absolute-form target without path or query (RFC 9112 §3.2.4). */
static bool server_wide_options(const struct mitm_http_request *req)
{
    return req->path && !req->path[0] && req->method && strcmp(req->method, "OPTIONS") == 0;
}

void mitm_h1_write_request_head(struct mitm_buf *out, const struct mitm_http_request *req,
                                enum mitm_target_form form)
{
    put(out, req->method ? req->method : "GET");
    mitm_buf_append(out, " ", 1);
    bool have_auth = req->authority && req->authority[0];
    switch (form) {
    case MITM_TARGET_ORIGIN:
        put(out, req->path && req->path[0] ? req->path : server_wide_options(req) ? "*" : "/");
        break;
    case MITM_TARGET_ASTERISK:
        put(out, "*");
        break;
    case MITM_TARGET_AUTHORITY:
        if (have_auth)
            put(out, req->authority);
        else
            put_hostport(out, req, true);
        break;
    case MITM_TARGET_ABSOLUTE:
        put(out, req->scheme ? req->scheme : "http");
        put(out, "://");
        if (have_auth)
            put(out, req->authority);
        else
            put_hostport(out, req, false);
        put(out, req->path && req->path[0] ? req->path : server_wide_options(req) ? "" : "/");
        break;
    }
    mitm_buf_append(out, " ", 1);
    put(out, req->http_version ? req->http_version : "HTTP/1.1");
    mitm_buf_append(out, "\r\n", 2);
    put_fields(out, &req->headers);
    mitm_buf_append(out, "\r\n", 2);
}

void mitm_h1_write_response_head(struct mitm_buf *out, const struct mitm_http_response *resp)
{
    mitm_buf_printf(out, "%s %03d %s\r\n", resp->http_version ? resp->http_version : "HTTP/1.1",
                    resp->status_code, resp->reason ? resp->reason : "");
    put_fields(out, &resp->headers);
    mitm_buf_append(out, "\r\n", 2);
}

void mitm_h1_write_chunk(struct mitm_buf *out, const uint8_t *data, size_t len)
{
    if (len == 0)
        return;
    mitm_buf_printf(out, "%zx\r\n", len);
    mitm_buf_append(out, data, len);
    mitm_buf_append(out, "\r\n", 2);
}

void mitm_h1_write_last_chunk(struct mitm_buf *out, const struct mitm_headers *trailers)
{
    mitm_buf_append(out, "0\r\n", 3);
    put_fields(out, trailers);
    mitm_buf_append(out, "\r\n", 2);
}
