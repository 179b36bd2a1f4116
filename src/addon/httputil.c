/* mitmproxy's Request/Response helpers for the built-in addons: see httputil.h. */
#include "addon/httputil.h"
#include "base/alloc.h"
#include "base/err.h"
#include "flow/flow.h"
#include "proto/http/http.h"

#include <arpa/inet.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* mitmproxy's status_codes.RESPONSES (its spellings, not always the RFC's). */
static const struct {
    int code;
    const char *reason;
} reasons[] = {
    {100, "Continue"},
    {101, "Switching Protocols"},
    {102, "Processing"},
    {103, "Early Hints"},
    {200, "OK"},
    {201, "Created"},
    {202, "Accepted"},
    {203, "Non-Authoritative Information"},
    {204, "No Content"},
    {205, "Reset Content"},
    {206, "Partial Content"},
    {207, "Multi-Status"},
    {208, "Already Reported"},
    {226, "IM Used"},
    {300, "Multiple Choices"},
    {301, "Moved Permanently"},
    {302, "Found"},
    {303, "See Other"},
    {304, "Not Modified"},
    {305, "Use Proxy"},
    {307, "Temporary Redirect"},
    {308, "Permanent Redirect"},
    {400, "Bad Request"},
    {401, "Unauthorized"},
    {402, "Payment Required"},
    {403, "Forbidden"},
    {404, "Not Found"},
    {405, "Method Not Allowed"},
    {406, "Not Acceptable"},
    {407, "Proxy Authentication Required"},
    {408, "Request Time-out"},
    {409, "Conflict"},
    {410, "Gone"},
    {411, "Length Required"},
    {412, "Precondition Failed"},
    {413, "Payload Too Large"},
    {414, "Request-URI Too Long"},
    {415, "Unsupported Media Type"},
    {416, "Requested Range not satisfiable"},
    {417, "Expectation Failed"},
    {418, "I'm a teapot"},
    {421, "Misdirected Request"},
    {422, "Unprocessable Content"},
    {423, "Locked"},
    {424, "Failed Dependency"},
    {425, "Too Early"},
    {426, "Upgrade Required"},
    {428, "Precondition Required"},
    {429, "Too Many Requests"},
    {431, "Request Header Fields Too Large"},
    {451, "Unavailable For Legal Reasons"},
    {444, "No Response"},
    {499, "Client Closed Request"},
    {500, "Internal Server Error"},
    {501, "Not Implemented"},
    {502, "Bad Gateway"},
    {503, "Service Unavailable"},
    {504, "Gateway Time-out"},
    {505, "HTTP Version not supported"},
    {506, "Variant Also Negotiates"},
    {507, "Insufficient Storage Space"},
    {508, "Loop Detected"},
    {510, "Not Extended"},
    {511, "Network Authentication Required"},
};

const char *mitm_addon_reason(int status)
{
    for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
        if (reasons[i].code == status)
            return reasons[i].reason;
    return "";
}

struct mitm_http_response *mitm_addon_make_response(int status, const char *const *hdrs, size_t nhdrs,
                                                    const void *body, size_t len, double now)
{
    struct mitm_http_response *r = mitm_http_response_new();
    r->http_version = mitm_strdup("HTTP/1.1");
    r->status_code = status;
    r->reason = mitm_strdup(mitm_addon_reason(status));
    for (size_t i = 0; i < nhdrs; i++)
        mitm_headers_add(&r->headers, hdrs[2 * i], strlen(hdrs[2 * i]), hdrs[2 * i + 1],
                         strlen(hdrs[2 * i + 1]));
    char cl[32];
    int k = snprintf(cl, sizeof(cl), "%zu", len);
    mitm_headers_add(&r->headers, "content-length", 14, cl, (size_t)k);
    mitm_buf_append(&r->content, body, len);
    r->timestamp_start = r->timestamp_end = now;
    return r;
}

static unsigned default_port(const char *scheme)
{
    if (strcmp(scheme, "http") == 0)
        return 80;
    if (strcmp(scheme, "https") == 0)
        return 443;
    return 0;
}

void mitm_addon_hostport(const char *scheme, const char *host, unsigned port, struct mitm_buf *out)
{
    bool v6 = strchr(host, ':') != NULL;
    mitm_buf_printf(out, "%s%s%s", v6 ? "[" : "", host, v6 ? "]" : "");
    if (default_port(scheme) != port)
        mitm_buf_printf(out, ":%u", port);
}

static bool is_h2(const struct mitm_http_request *r)
{
    return r->http_version &&
           (strcmp(r->http_version, "HTTP/2.0") == 0 || strcmp(r->http_version, "HTTP/3") == 0);
}

/* request.host_header: Host (HTTP/2: the authority, else Host). */
static const char *host_header(const struct mitm_http_request *r, size_t *len)
{
    if (is_h2(r) && r->authority && *r->authority) {
        *len = strlen(r->authority);
        return r->authority;
    }
    return mitm_headers_get(&r->headers, "host", len);
}

/* url.is_valid_host for an ASCII host: DNS labels of [A-Za-z0-9_-]{1,63} (a trailing dot
 * allowed), or an IPv4/IPv6 address. */
static bool valid_host(const char *h, size_t n)
{
    if (n == 0 || n > 255)
        return false;
    char tmp[256];
    memcpy(tmp, h, n);
    tmp[n] = 0;
    unsigned char a[16];
    if (inet_pton(AF_INET6, tmp, a) == 1 || inet_pton(AF_INET, tmp, a) == 1)
        return true;
    if (tmp[n - 1] == '.')
        tmp[--n] = 0;
    size_t label = 0;
    for (size_t i = 0; i <= n; i++) {
        char c = tmp[i];
        if (c == '.' || c == 0) {
            if (label == 0 || label > 63)
                return false;
            label = 0;
        } else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                   c == '_') {
            label++;
        } else {
            return false;
        }
    }
    return true;
}

/* url.parse_authority(a, check=False): host and port (0 = none); a value that does not
 * parse is all host. *host is a new string. */
static void parse_authority(const char *a, size_t n, char **host, unsigned *port)
{
    *port = 0;
    const char *colon = NULL;
    size_t hlen = n;
    if (n && a[0] == '[') {
        const char *rb = memchr(a, ']', n);
        if (rb && rb > a + 1) {
            hlen = (size_t)(rb - a) + 1;
            colon = hlen < n ? a + hlen : NULL;
        }
    } else {
        colon = memchr(a, ':', n);
        if (colon)
            hlen = (size_t)(colon - a);
    }
    bool ok = hlen > 0 && (!colon || (colon == a + hlen && *colon == ':'));
    unsigned long p = 0;
    if (ok && colon) {
        size_t dl = n - hlen - 1;
        ok = dl > 0;
        for (size_t i = 0; ok && i < dl; i++) {
            ok = colon[1 + i] >= '0' && colon[1 + i] <= '9';
            p = p * 10 + (unsigned long)(colon[1 + i] - '0');
            ok = ok && p <= 65535;
        }
    }
    const char *hs = a;
    size_t hn = hlen;
    if (ok && hn >= 2 && hs[0] == '[') {
        hs++;
        hn -= 2;
    }
    if (ok && !valid_host(hs, hn))
        ok = false;
    if (!ok) {
        *host = mitm_strndup(a, n);
        return;
    }
    *host = mitm_strndup(hs, hn);
    *port = (unsigned)p;
}

static void unparse(const char *scheme, const char *host, unsigned port, const char *path,
                    struct mitm_buf *out)
{
    mitm_buf_printf(out, "%s://", scheme);
    mitm_addon_hostport(scheme, host, port, out);
    if (strcmp(path, "*") != 0)
        mitm_buf_append(out, path, strlen(path));
}

void mitm_addon_pretty_url(const struct mitm_http_request *r, struct mitm_buf *out)
{
    const char *scheme = r->scheme ? r->scheme : "http";
    const char *path = r->path ? r->path : "";
    if (r->form == MITM_TARGET_AUTHORITY || (r->method && strcmp(r->method, "CONNECT") == 0)) {
        if (r->authority && *r->authority)
            mitm_buf_append(out, r->authority, strlen(r->authority));
        else
            mitm_buf_printf(out, "%s:%u", r->host ? r->host : "", r->port);
        return;
    }
    size_t hl = 0;
    const char *hh = host_header(r, &hl);
    if (!hh || !hl) {
        unparse(scheme, r->host ? r->host : "", r->port, path, out);
        return;
    }
    char *host;
    unsigned port;
    parse_authority(hh, hl, &host, &port);
    if (!port)
        port = default_port(scheme) ? default_port(scheme) : 443;
    unparse(scheme, host, port, path, out);
    free(host);
}

/* ---- url.parse (urllib.parse.urlparse) ---- */

struct parsed_url {
    char *scheme, *host, *path;
    unsigned port;
};

static bool scheme_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '-' || c == '.';
}

/* netloc -> lower-cased hostname and port text (urllib's _hostinfo). */
static int split_netloc(const char *nl, size_t n, struct parsed_url *u, char *err, size_t errlen)
{
    const char *at = NULL;
    for (size_t i = 0; i < n; i++)
        if (nl[i] == '@')
            at = nl + i;
    const char *hi = at ? at + 1 : nl, *end = nl + n;
    const char *hs, *he, *ps = NULL;
    const char *lb = memchr(nl, '[', n), *rb = memchr(nl, ']', n);
    if ((lb == NULL) != (rb == NULL)) {
        mitm_errf(err, errlen, "Invalid IPv6 URL");
        return -1;
    }
    const char *open = memchr(hi, '[', (size_t)(end - hi));
    if (open) {
        hs = open + 1;
        const char *close = memchr(hs, ']', (size_t)(end - hs));
        he = close ? close : end;
        const char *c = close ? memchr(close, ':', (size_t)(end - close)) : NULL;
        ps = c ? c + 1 : NULL;
    } else {
        hs = hi;
        const char *c = memchr(hi, ':', (size_t)(end - hi));
        he = c ? c : end;
        ps = c ? c + 1 : NULL;
    }
    if (he == hs) {
        mitm_errf(err, errlen, "No hostname given");
        return -1;
    }
    u->host = mitm_strndup(hs, (size_t)(he - hs));
    for (char *p = u->host; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    u->port = 0;
    size_t pl = ps ? (size_t)(end - ps) : 0;
    if (pl) {
        bool digits = true;
        for (size_t i = 0; i < pl && digits; i++)
            digits = ps[i] >= '0' && ps[i] <= '9';
        if (!digits) {
            mitm_errf(err, errlen, "Port could not be cast to integer value as '%.*s'", (int)pl, ps);
            return -1;
        }
        unsigned long p = 0;
        for (size_t i = 0; i < pl && p <= 65535; i++)
            p = p * 10 + (unsigned long)(ps[i] - '0');
        if (p > 65535) {
            mitm_errf(err, errlen, "Port out of range 0-65535");
            return -1;
        }
        u->port = (unsigned)p;
    }
    return 0;
}

/* The path part: path[;params][?query][#fragment] with empty ones dropped, "/"-prefixed. */
static char *build_path(const char *s, size_t n, const char *scheme)
{
    const char *hash = memchr(s, '#', n);
    size_t before_frag = hash ? (size_t)(hash - s) : n;
    const char *q = memchr(s, '?', before_frag);
    size_t plen = q ? (size_t)(q - s) : before_frag;
    struct mitm_buf b;
    mitm_buf_init(&b, 0);
    if (!(plen && s[0] == '/'))
        mitm_buf_append(&b, "/", 1);
    size_t keep = plen;
    if (!strcmp(scheme, "http") || !strcmp(scheme, "https") || !*scheme) {
        const char *slash = NULL;
        for (size_t i = 0; i < plen; i++)
            if (s[i] == '/')
                slash = s + i;
        const char *from = slash ? slash : s;
        const char *semi = memchr(from, ';', plen - (size_t)(from - s));
        if (semi && semi == s + plen - 1)
            keep = plen - 1; /* empty params */
    }
    mitm_buf_append(&b, s, keep);
    if (q && before_frag > plen + 1)
        mitm_buf_append(&b, q, before_frag - plen);
    if (hash && n > before_frag + 1)
        mitm_buf_append(&b, hash, n - before_frag);
    if (b.len == 0)
        mitm_buf_append(&b, "/", 1);
    size_t len;
    return (char *)mitm_buf_steal(&b, &len);
}

static int parse_url(const char *in, size_t n, struct parsed_url *u, char *err, size_t errlen)
{
    struct mitm_buf clean;
    mitm_buf_init(&clean, 0);
    size_t i = 0;
    while (i < n && (unsigned char)in[i] <= 0x20)
        i++;
    for (; i < n; i++)
        if (in[i] != '\t' && in[i] != '\r' && in[i] != '\n')
            mitm_buf_append(&clean, in + i, 1);
    const char *s = (const char *)mitm_buf_data(&clean);
    size_t len = clean.len;
    int rc = -1;
    for (size_t k = 0; k < len; k++)
        if ((unsigned char)s[k] < 0x21 || (unsigned char)s[k] > 0x7e) {
            mitm_errf(err, errlen, "the URL holds a byte that cannot be sent (0x%02x)", (unsigned char)s[k]);
            goto Exit;
        }
    const char *colon = memchr(s, ':', len);
    size_t off = 0;
    u->scheme = mitm_strdup("");
    if (colon && colon > s && ((s[0] | 0x20) >= 'a' && (s[0] | 0x20) <= 'z')) {
        bool ok = true;
        for (const char *p = s; p < colon && ok; p++)
            ok = scheme_char(*p);
        if (ok) {
            free(u->scheme);
            u->scheme = mitm_strndup(s, (size_t)(colon - s));
            for (char *p = u->scheme; *p; p++)
                if (*p >= 'A' && *p <= 'Z')
                    *p = (char)(*p - 'A' + 'a');
            off = (size_t)(colon - s) + 1;
        }
    }
    if (len - off < 2 || s[off] != '/' || s[off + 1] != '/') {
        mitm_errf(err, errlen, "No hostname given");
        goto Exit;
    }
    off += 2;
    size_t nl = 0;
    while (off + nl < len && s[off + nl] != '/' && s[off + nl] != '?' && s[off + nl] != '#')
        nl++;
    if (split_netloc(s + off, nl, u, err, errlen) < 0)
        goto Exit;
    if (!u->port)
        u->port = strcmp(u->scheme, "https") == 0 ? 443 : 80;
    if (!valid_host(u->host, strlen(u->host))) {
        mitm_errf(err, errlen, "Invalid Host");
        goto Exit;
    }
    u->path = build_path(s + off + nl, len - off - nl, u->scheme);
    rc = 0;
Exit:
    mitm_buf_free(&clean);
    return rc;
}

void mitm_addon_update_host_and_authority(struct mitm_http_request *r)
{
    struct mitm_buf hp;
    mitm_buf_init(&hp, 0);
    mitm_addon_hostport(r->scheme, r->host, r->port, &hp);
    if (mitm_headers_find(&r->headers, "host", 0) >= 0)
        mitm_headers_set(&r->headers, "Host", (const char *)mitm_buf_data(&hp), hp.len);
    if (r->authority && *r->authority)
        mitm_str_set(&r->authority, (const char *)mitm_buf_data(&hp), hp.len);
    mitm_buf_free(&hp);
}

int mitm_addon_set_url(struct mitm_http_request *r, const char *url, size_t n, char *err, size_t errlen)
{
    struct parsed_url u = {0};
    int rc = parse_url(url, n, &u, err, errlen);
    if (rc == 0) {
        mitm_str_set(&r->scheme, u.scheme, strlen(u.scheme));
        mitm_str_set(&r->host, u.host, strlen(u.host));
        r->port = (uint16_t)u.port;
        mitm_str_set(&r->path, u.path, strlen(u.path));
        mitm_addon_update_host_and_authority(r);
    }
    free(u.scheme);
    free(u.host);
    free(u.path);
    return rc;
}

bool mitm_addon_header_joined(const struct mitm_headers *h, const char *name, struct mitm_buf *out)
{
    out->len = 0;
    bool any = false;
    for (long i = mitm_headers_find(h, name, 0); i >= 0; i = mitm_headers_find(h, name, (size_t)i + 1)) {
        if (any)
            mitm_buf_append(out, ", ", 2);
        mitm_buf_append(out, h->v[i].value, h->v[i].value_len);
        any = true;
    }
    return any;
}

bool mitm_addon_mode_is(const struct mitm_flow *f, const char *name)
{
    const char *m = f->client_conn.proxy_mode ? f->client_conn.proxy_mode : "regular";
    size_t n = strcspn(m, ":@");
    return strlen(name) == n && strncmp(m, name, n) == 0;
}

void mitm_addon_meta_true(struct mitm_flow *f, const char *key)
{
    mitm_flow_meta_set(f, key, "4:true!", 7);
}

void mitm_addon_meta_pair(struct mitm_flow *f, const char *key, const char *a, size_t alen, const char *b,
                          size_t blen)
{
    struct mitm_buf items, v;
    mitm_buf_init(&items, 0);
    mitm_buf_init(&v, 0);
    mitm_buf_printf(&items, "%zu:", alen);
    mitm_buf_append(&items, a, alen);
    mitm_buf_printf(&items, ";%zu:", blen);
    mitm_buf_append(&items, b, blen);
    mitm_buf_append(&items, ";", 1);
    mitm_buf_printf(&v, "%zu:", items.len);
    mitm_buf_append(&v, mitm_buf_data(&items), items.len);
    mitm_buf_append(&v, "]", 1);
    mitm_flow_meta_set(f, key, mitm_buf_data(&v), v.len);
    mitm_buf_free(&items);
    mitm_buf_free(&v);
}

void mitm_addon_base64(const void *in, size_t n, struct mitm_buf *out)
{
    size_t cap = 4 * ((n + 2) / 3) + 1;
    unsigned char *tmp = mitm_alloc(cap);
    int k = EVP_EncodeBlock(tmp, in, (int)n);
    mitm_buf_append(out, tmp, (size_t)k);
    free(tmp);
}

static int b64val(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

int mitm_addon_unbase64(const char *in, size_t n, struct mitm_buf *out)
{
    /* CPython's binascii.a2b_base64, non-strict: bytes are written as each character
     * completes one */
    size_t start = out->len;
    unsigned left = 0, q = 0, pads = 0;
    for (size_t i = 0; i < n; i++) {
        if (in[i] == '=') {
            if (q >= 2 && q + ++pads >= 4)
                return 0; /* padding ends the data */
            continue;
        }
        int v = b64val(in[i]);
        if (v < 0)
            continue;
        pads = 0;
        unsigned char b;
        switch (q) {
        case 0:
            left = (unsigned)v;
            q = 1;
            break;
        case 1:
            b = (unsigned char)((left << 2) | ((unsigned)v >> 4));
            mitm_buf_append(out, &b, 1);
            left = (unsigned)v & 0x0f;
            q = 2;
            break;
        case 2:
            b = (unsigned char)((left << 4) | ((unsigned)v >> 2));
            mitm_buf_append(out, &b, 1);
            left = (unsigned)v & 0x03;
            q = 3;
            break;
        default:
            b = (unsigned char)((left << 6) | (unsigned)v);
            mitm_buf_append(out, &b, 1);
            q = 0;
            break;
        }
    }
    if (q == 0)
        return 0;
    out->len = start; /* "Incorrect padding" */
    return -1;
}

bool mitm_addon_parse_basic(const char *value, size_t n, struct mitm_buf *user, struct mitm_buf *pass)
{
    user->len = pass->len = 0;
    const char *w[3];
    size_t wl[3], k = 0;
    for (size_t i = 0; i < n;) {
        while (i < n && strchr(" \t\r\n\v\f", value[i]) && value[i])
            i++;
        if (i >= n)
            break;
        size_t j = i;
        while (j < n && !(strchr(" \t\r\n\v\f", value[j]) && value[j]))
            j++;
        if (k == 3)
            return false;
        w[k] = value + i;
        wl[k++] = j - i;
        i = j;
    }
    if (k != 2 || wl[0] != 5 || strncasecmp(w[0], "basic", 5) != 0)
        return false;
    struct mitm_buf dec;
    mitm_buf_init(&dec, 0);
    bool ok = false;
    if (mitm_addon_unbase64(w[1], wl[1], &dec) == 0) {
        const char *d = (const char *)mitm_buf_data(&dec);
        const char *colon = memchr(d, ':', dec.len);
        if (colon) {
            mitm_buf_append(user, d, (size_t)(colon - d));
            mitm_buf_append(pass, colon + 1, dec.len - (size_t)(colon - d) - 1);
            ok = true;
        }
    }
    mitm_buf_free(&dec);
    return ok;
}
