#include "proto/http/http.h"
#include "base/alloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void mitm_headers_init(struct mitm_headers *h)
{
    h->v = NULL;
    h->n = h->cap = 0;
}

void mitm_headers_free(struct mitm_headers *h)
{
    for (size_t i = 0; i < h->n; i++)
        free(h->v[i].name);
    free(h->v);
    mitm_headers_init(h);
}

void mitm_headers_copy(struct mitm_headers *dst, const struct mitm_headers *src)
{
    mitm_headers_init(dst);
    for (size_t i = 0; i < src->n; i++)
        mitm_headers_add(dst, src->v[i].name, src->v[i].name_len, src->v[i].value, src->v[i].value_len);
}

void mitm_headers_add(struct mitm_headers *h, const char *name, size_t nlen, const char *value, size_t vlen)
{
    if (h->n == h->cap) {
        h->cap = h->cap ? h->cap * 2 : 16;
        h->v = mitm_realloc(h->v, h->cap * sizeof(*h->v));
    }
    char *mem = mitm_alloc(nlen + vlen + 2);
    memcpy(mem, name, nlen);
    mem[nlen] = 0;
    memcpy(mem + nlen + 1, value, vlen);
    mem[nlen + 1 + vlen] = 0;
    h->v[h->n++] = (struct mitm_header){mem, nlen, mem + nlen + 1, vlen};
}

static int name_is(const struct mitm_header *hd, const char *name)
{
    size_t n = strlen(name);
    return hd->name_len == n && strncasecmp(hd->name, name, n) == 0;
}

long mitm_headers_find(const struct mitm_headers *h, const char *name, size_t start)
{
    for (size_t i = start; i < h->n; i++)
        if (name_is(&h->v[i], name))
            return (long)i;
    return -1;
}

const char *mitm_headers_get(const struct mitm_headers *h, const char *name, size_t *len)
{
    long i = mitm_headers_find(h, name, 0);
    if (i < 0)
        return NULL;
    if (len)
        *len = h->v[i].value_len;
    return h->v[i].value;
}

size_t mitm_headers_count(const struct mitm_headers *h, const char *name)
{
    size_t c = 0;
    for (size_t i = 0; i < h->n; i++)
        c += name_is(&h->v[i], name);
    return c;
}

size_t mitm_headers_remove(struct mitm_headers *h, const char *name)
{
    size_t w = 0, removed = 0;
    for (size_t i = 0; i < h->n; i++) {
        if (name_is(&h->v[i], name)) {
            free(h->v[i].name);
            removed++;
        } else {
            h->v[w++] = h->v[i];
        }
    }
    h->n = w;
    return removed;
}

void mitm_headers_set(struct mitm_headers *h, const char *name, const char *value, size_t vlen)
{
    long i = mitm_headers_find(h, name, 0);
    if (i < 0) {
        mitm_headers_add(h, name, strlen(name), value, vlen);
        return;
    }
    struct mitm_header old = h->v[i];
    char *mem = mitm_alloc(old.name_len + vlen + 2);
    memcpy(mem, old.name, old.name_len + 1);
    memcpy(mem + old.name_len + 1, value, vlen);
    mem[old.name_len + 1 + vlen] = 0;
    free(old.name);
    h->v[i] = (struct mitm_header){mem, old.name_len, mem + old.name_len + 1, vlen};
    /* drop later duplicates */
    size_t w = (size_t)i + 1;
    for (size_t j = (size_t)i + 1; j < h->n; j++) {
        if (name_is(&h->v[j], name))
            free(h->v[j].name);
        else
            h->v[w++] = h->v[j];
    }
    h->n = w;
}

void mitm_str_set(char **field, const char *s, size_t n)
{
    free(*field);
    *field = mitm_strndup(s, n);
}

static void free_trailers(struct mitm_headers *t)
{
    if (t) {
        mitm_headers_free(t);
        free(t);
    }
}

struct mitm_http_request *mitm_http_request_new(void)
{
    struct mitm_http_request *r = mitm_calloc(1, sizeof(*r));
    mitm_headers_init(&r->headers);
    mitm_buf_init(&r->content, 0);
    return r;
}

void mitm_http_request_free(struct mitm_http_request *r)
{
    if (!r)
        return;
    free(r->method);
    free(r->scheme);
    free(r->authority);
    free(r->host);
    free(r->path);
    free(r->http_version);
    mitm_headers_free(&r->headers);
    mitm_buf_free(&r->content);
    free_trailers(r->trailers);
    free(r);
}

struct mitm_http_response *mitm_http_response_new(void)
{
    struct mitm_http_response *r = mitm_calloc(1, sizeof(*r));
    mitm_headers_init(&r->headers);
    mitm_buf_init(&r->content, 0);
    return r;
}

void mitm_http_response_free(struct mitm_http_response *r)
{
    if (!r)
        return;
    free(r->http_version);
    free(r->reason);
    mitm_headers_free(&r->headers);
    mitm_buf_free(&r->content);
    free_trailers(r->trailers);
    free(r);
}

struct mitm_http_response *mitm_http_response_make(int status, const char *body, const char *content_type)
{
    struct mitm_http_response *r = mitm_http_response_new();
    r->http_version = mitm_strdup("HTTP/1.1");
    r->status_code = status;
    r->reason = mitm_strdup(mitm_http_reason(status));
    if (body) {
        if (content_type)
            mitm_headers_add(&r->headers, "Content-Type", 12, content_type, strlen(content_type));
        mitm_buf_append(&r->content, body, strlen(body));
    }
    char cl[32];
    int n = snprintf(cl, sizeof(cl), "%zu", r->content.len);
    mitm_headers_add(&r->headers, "Content-Length", 14, cl, (size_t)n);
    return r;
}

const char *mitm_http_reason(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 101:
        return "Switching Protocols";
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 206:
        return "Partial Content";
    case 301:
        return "Moved Permanently";
    case 302:
        return "Found";
    case 303:
        return "See Other";
    case 304:
        return "Not Modified";
    case 307:
        return "Temporary Redirect";
    case 308:
        return "Permanent Redirect";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 407:
        return "Proxy Authentication Required";
    case 408:
        return "Request Timeout";
    case 411:
        return "Length Required";
    case 413:
        return "Payload Too Large";
    case 414:
        return "URI Too Long";
    case 417:
        return "Expectation Failed";
    case 418:
        return "I'm a teapot";
    case 421:
        return "Misdirected Request";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "";
    }
}

static int default_port(const char *scheme, unsigned port)
{
    return (strcmp(scheme, "http") == 0 && port == 80) || (strcmp(scheme, "https") == 0 && port == 443);
}

const char *mitm_http_request_host_header(const struct mitm_http_request *r, size_t *len)
{
    const char *v = mitm_headers_get(&r->headers, "host", len);
    if (!v && r->http_version && strncmp(r->http_version, "HTTP/2", 6) == 0 && r->authority &&
        *r->authority) {
        *len = strlen(r->authority);
        v = r->authority;
    }
    return v;
}

void mitm_http_parse_authority(const char *v, size_t len, const char **host, size_t *hl, long *port)
{
    *host = v;
    *hl = len;
    *port = -1;
    const char *colon = memrchr(v, ':', len), *name = v;
    size_t nl = 0;
    if (len > 2 && v[0] == '[') { /* [v6] or [v6]:port */
        const char *close = memchr(v, ']', len);
        if (!close || (close + 1 != v + len && close + 1 != colon))
            return;
        name = v + 1;
        nl = (size_t)(close - v - 1);
        if (close + 1 == v + len)
            colon = NULL;
    } else if (colon && memchr(v, ':', len) == colon && colon > v) { /* host:port */
        nl = (size_t)(colon - v);
    } else { /* a plain host, or more than one colon or nothing before it: used whole */
        return;
    }
    long p = -1;
    if (colon) {
        size_t pl = len - (size_t)(colon - v) - 1;
        if (pl == 0 || pl > 5)
            return;
        p = 0;
        for (size_t i = 0; i < pl; i++) {
            if (colon[1 + i] < '0' || colon[1 + i] > '9')
                return;
            p = p * 10 + (colon[1 + i] - '0');
        }
        if (p > 65535)
            return;
    }
    *host = name;
    *hl = nl;
    *port = p;
}

static unsigned scheme_default_port(const char *scheme)
{
    return strcmp(scheme, "http") == 0 ? 80 : 443; /* mitmproxy: default_port(scheme) or 443 */
}

void mitm_http_request_url(const struct mitm_http_request *r, bool pretty, char *out, size_t cap)
{
    const char *scheme = r->scheme ? r->scheme : "http";
    const char *path = r->path ? r->path : "";
    if (r->form == MITM_TARGET_AUTHORITY) {
        snprintf(out, cap, "%s:%u", r->host ? r->host : "", r->port);
        return;
    }
    size_t hlen = 0;
    const char *hosthdr = pretty ? mitm_http_request_host_header(r, &hlen) : NULL;
    if (hosthdr) {
        /* mitmproxy's pretty_url: the Host header's host and port (the scheme's default port
         * when it has none), put back together as a URL */
        const char *h;
        size_t hl;
        long port;
        mitm_http_parse_authority(hosthdr, hlen, &h, &hl, &port);
        char *name = mitm_strndup(h, hl);
        mitm_http_url_format(scheme, name, port >= 0 ? (unsigned)port : scheme_default_port(scheme), path,
                             out, cap);
        free(name);
        return;
    }
    mitm_http_url_format(scheme, r->host, r->port, path, out, cap);
}

void mitm_http_url_format(const char *scheme, const char *host, unsigned port, const char *path, char *out,
                          size_t cap)
{
    if (!host)
        host = "";
    if (strcmp(path, "*") == 0) /* OPTIONS *: the URL has no path (mitmproxy's url) */
        path = "";
    int v6 = strchr(host, ':') != NULL;
    if (default_port(scheme, port))
        snprintf(out, cap, "%s://%s%s%s%s", scheme, v6 ? "[" : "", host, v6 ? "]" : "", path);
    else
        snprintf(out, cap, "%s://%s%s%s:%u%s", scheme, v6 ? "[" : "", host, v6 ? "]" : "", port, path);
}
